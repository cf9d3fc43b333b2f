// SPDX-License-Identifier: GPL-2.0-only
/*
 * The address columns' text (col_addr_text(), written straight into rows by
 * the export plan) against what it replaces: inet_ntop() for IPv4 and IPv6
 * (every pattern of zero words, where "::" placement and the embedded IPv4
 * forms are decided, with random, small and 0xffff words), and the
 * "aa:bb:cc:dd:ee:ff" MAC and "aa:bb:cc" OUI layout.  Seeded, so a failure
 * repeats.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>

#include "export/columns.h"
#include "test.h"


static int mismatches;

/* col_addr_text() of @c on @f against @want; prints the first few differences. */
static void check(enum col_field field, const struct flow *f, const char *want)
{
	struct column c = { .field = field };
	char got[COL_ADDR_TEXT_MAX + 1];
	size_t n = col_addr_text(&c, f, got);

	got[n] = '\0';
	if (n == strlen(want) && !strcmp(got, want))
		return;
	if (++mismatches <= 10)
		fprintf(stderr, "col_addr_text: \"%s\", expected \"%s\"\n", got, want);
}

static void check_ip(struct flow *f, int af)
{
	char want[INET6_ADDRSTRLEN];

	f->ip_version = af == AF_INET ? 4 : 6;
	inet_ntop(af, f->src_ip, want, sizeof(want));
	check(CF_SRC_IP, f, want);
	inet_ntop(af, f->dst_ip, want, sizeof(want));
	check(CF_DST_IP, f, want);
}

static void test_ipv4(void)
{
	struct flow f = { 0 };

	mismatches = 0;
	for (int i = 0; i < 200000; i++) {
		/* first every width in every byte: 0, 9, 10, 99, 100, 255 */
		static const uint8_t edge[] = { 0, 9, 10, 99, 100, 255 };
		int pos = 1;

		for (int j = 0; j < 4; j++, pos *= 6) {
			f.src_ip[j] = i < 6 * 6 * 6 * 6 ? edge[i / pos % 6] : (uint8_t)test_rng();
			f.dst_ip[j] = (uint8_t)test_rng();
		}
		check_ip(&f, AF_INET);
	}
	ASSERT_EQ(mismatches, 0, "ipv4 == inet_ntop");
}

static void test_ipv6(void)
{
	struct flow f = { 0 };

	mismatches = 0;
	for (int i = 0; i < 400000; i++) {
		unsigned int zeros = (unsigned int)i & 255; /* which words are zero */

		for (int w = 0; w < 8; w++) {
			uint64_t r = test_rng();
			unsigned int v;

			switch (r % 4) {
			case 0:
				v = 0xffff;
				break;
			case 1:
				v = (unsigned int)(r >> 8) % 16 + (r & 4 ? 1 : 0); /* 0, 1, small */
				break;
			default:
				v = (unsigned int)(r >> 16) & 0xffff >> (r >> 40) % 16;
				break;
			}
			if (zeros >> w & 1)
				v = 0;
			else if (!v)
				v = 1;
			f.src_ip[2 * w] = (uint8_t)(v >> 8);
			f.src_ip[2 * w + 1] = (uint8_t)v;
			v = (unsigned int)test_rng();
			f.dst_ip[2 * w] = (uint8_t)(r & 1 ? 0 : v >> 8);
			f.dst_ip[2 * w + 1] = (uint8_t)(r & 2 ? 0 : v);
		}
		check_ip(&f, AF_INET6);
	}
	ASSERT_EQ(mismatches, 0, "ipv6 == inet_ntop");
}

static void test_mac(void)
{
	struct flow f = { 0 };
	static const uint8_t m[6] = { 0x00, 0x0f, 0xa0, 0xff, 0x9b, 0x10 };

	mismatches = 0;
	memcpy(f.src_mac, m, sizeof(m));
	memset(f.dst_mac, 0xee, sizeof(f.dst_mac));
	check(CF_SRC_MAC, &f, "00:0f:a0:ff:9b:10");
	check(CF_SRC_OUI, &f, "00:0f:a0");
	check(CF_DST_MAC, &f, "ee:ee:ee:ee:ee:ee");
	check(CF_DST_OUI, &f, "ee:ee:ee");
	ASSERT_EQ(mismatches, 0, "mac and oui");
}

int main(void)
{
	RUN_TEST(test_ipv4);
	RUN_TEST(test_ipv6);
	RUN_TEST(test_mac);
	return TEST_SUMMARY();
}
