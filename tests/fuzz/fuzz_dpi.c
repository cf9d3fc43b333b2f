// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the nDPI feed path (agent/l7/dpi.c) without the engine in
 * front of it: packets of up to four interleaved flows go straight into
 * dpi_flow_packet() as the engine would hand them (decoded by decode.c,
 * numbered per flow), then every flow ends through dpi_flow_finish() (the
 * give-up-and-guess path when nothing was detected) and
 * dpi_flow_release().
 *
 * Input: [n_dissections][flags][4 x flow: proto, sport:2, dport:2], then
 * packets: [ctl][dt_ms][len:2][len bytes].  ctl bits 0-1 pick the flow,
 * bit 2 the direction, bits 4-6 the TCP flags; the bytes are the transport
 * payload and the harness writes IPv4/IPv6 and TCP/UDP headers around them
 * with consistent sequence numbers (so nDPI does not discard the segments
 * as retransmissions).  ctl bit 3 instead makes the bytes a whole IP packet
 * of its own (the seeds use this for the project's captures), which joins
 * whichever flow its 5-tuple names.  flags bit 0: JA4 on.
 *
 * Checked after each flow ends: nDPI state freed, and the nine L7 strings
 * valid UTF-8 within NFStream's buffer sizes, the JA4 either empty or a
 * full fingerprint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packet/decode.h"
#include "l7/dpi.h"
#include "fc_flow.h"
#include "l7/ja4.h"
#include "util/log.h"

#define N_FLOWS 4
#define HDR_ROOM 60

#define CHECK(cond, ...)                                          \
	do {                                                      \
		if (!(cond)) {                                    \
			fprintf(stderr, "fuzz_dpi: " __VA_ARGS__); \
			fputc('\n', stderr);                      \
			abort();                                  \
		}                                                 \
	} while (0)

struct slot {
	uint8_t proto, v6;
	uint16_t sport, dport;
	uint32_t seq[2];
};

struct tracked {
	struct fc_flow_key key;
	struct dpi_flow d;
	uint64_t packets;
	bool used;
};

static const uint8_t tcp_flag_sets[8] = { 0x18, 0x02, 0x12, 0x10, 0x11, 0x04, 0x19, 0x00 };

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* IP + TCP/UDP headers around @len payload bytes at buf + HDR_ROOM;
 * returns the packet's start (inside buf) and its length. */
static uint8_t *build(struct slot *s, int idx, int dir, uint8_t flags, uint8_t *buf, size_t len,
		      size_t *out_len)
{
	uint8_t *pl = buf + HDR_ROOM, *l4, *ip;
	size_t l4len = s->proto == 6 ? 20 : 8, iplen = s->v6 ? 40 : 20;
	uint16_t sp = dir ? s->dport : s->sport, dp = dir ? s->sport : s->dport;

	l4 = pl - l4len;
	ip = l4 - iplen;
	memset(ip, 0, iplen + l4len);
	put16(l4, sp);
	put16(l4 + 2, dp);
	if (s->proto == 6) {
		put32(l4 + 4, s->seq[dir]);
		put32(l4 + 8, (flags & 0x10) ? s->seq[!dir] : 0);
		l4[12] = 5 << 4;
		l4[13] = flags;
		put16(l4 + 14, 65535);
		s->seq[dir] += (uint32_t)len + !!(flags & 0x03); /* SYN, FIN: one each */
	} else {
		put16(l4 + 4, (uint16_t)(8 + len));
	}
	if (s->v6) {
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(l4len + len));
		ip[6] = s->proto;
		ip[7] = 64;
		ip[8] = ip[24] = 0xfd;
		ip[22] = ip[38] = (uint8_t)idx;
		ip[23 + 16 * dir] = 1;
		ip[39 - 16 * dir] = 2;
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(iplen + l4len + len));
		ip[8] = 64;
		ip[9] = s->proto;
		ip[12] = ip[16] = 10;
		ip[14] = ip[18] = (uint8_t)idx;
		ip[15 + 4 * dir] = 1;
		ip[19 - 4 * dir] = 2;
	}
	*out_len = iplen + l4len + len;
	return ip;
}

static void check_str(const char *s, size_t max, const char *what)
{
	char clean[300];
	size_t n = strlen(s);

	CHECK(n <= max, "%s: %zu bytes, more than %zu", what, n, max);
	CHECK(dpi_utf8_clean(clean, s, n) == n, "%s: not valid UTF-8", what);
}

static void finish(struct dpi *d, struct tracked *t)
{
	const struct dpi_result *r;

	dpi_flow_finish(d, &t->d);
	CHECK(!t->d.nf && !t->d.hello && !t->d.ja4, "nDPI state left after the flow ended");
	r = t->d.res;
	if (r) {
		CHECK(r->is_guessed <= 1, "is_guessed %u", r->is_guessed);
		check_str(r->application_name, 39, "application_name");
		check_str(r->category_name, 24, "category_name");
		check_str(r->requested_server_name, 79, "requested_server_name");
		check_str(r->client_fingerprint, 47, "client_fingerprint");
		check_str(r->server_fingerprint, 47, "server_fingerprint");
		check_str(r->user_agent, 255, "user_agent");
		check_str(r->content_type, 63, "content_type");
		CHECK(!r->ja4[0] || strlen(r->ja4) == JA4_STR_LEN - 1, "JA4 '%s'", r->ja4);
	}
	dpi_flow_release(&t->d);
	memset(t, 0, sizeof(*t));
}

/* The flow @p belongs to (a new one if there is room), or NULL. */
static struct tracked *lookup(struct tracked *tab, const struct pkt *p)
{
	struct fc_flow_key k;
	struct tracked *free_slot = NULL;

	memset(&k, 0, sizeof(k));
	fc_key_make(&k, p->src_ip, p->dst_ip, p->src_port, p->dst_port, p->vlan_id, p->protocol,
		    p->ip_version);
	for (int i = 0; i < N_FLOWS; i++) {
		if (tab[i].used && !memcmp(&tab[i].key, &k, sizeof(k)))
			return &tab[i];
		if (!tab[i].used && !free_slot)
			free_slot = &tab[i];
	}
	if (free_slot) {
		free_slot->used = true;
		free_slot->key = k;
	}
	return free_slot;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_verbosity(-1);
	return 0;
}

/* One detection module per JA4 setting and n_dissections (1, 2, 4, 8 or
 * NFStream's default 20), made on first use: nDPI's module setup costs far
 * more than a run, and each module holds megabytes. */
static struct dpi *module(uint8_t pick, bool ja4)
{
	static const uint8_t nds[] = { 1, 2, 4, 8, 20 };
	static struct dpi *mods[2][sizeof(nds)];
	struct dpi_opts o = { .n_dissections = nds[pick % sizeof(nds)], .ja4 = ja4 };

	pick %= sizeof(nds);
	if (!mods[ja4][pick] && dpi_new(&o, &mods[ja4][pick]))
		abort();
	return mods[ja4][pick];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[HDR_ROOM + 65536];
	struct tracked tab[N_FLOWS];
	struct slot slots[N_FLOWS];
	struct dpi *d;
	uint64_t now = 1700000000000ull;
	size_t off = 2 + 5 * N_FLOWS;

	if (size < off)
		return 0;
	d = module(data[0], data[1] & 1);
	memset(tab, 0, sizeof(tab));
	for (int i = 0; i < N_FLOWS; i++) {
		const uint8_t *f = data + 2 + 5 * i;

		slots[i] = (struct slot){ .proto = f[0] & 1 ? 17 : 6, .v6 = !!(f[0] & 2),
					  .sport = (uint16_t)(f[1] << 8 | f[2]),
					  .dport = (uint16_t)(f[3] << 8 | f[4]),
					  .seq = { 1000u * (i + 1), 9000u * (i + 1) } };
	}
	while (off + 4 <= size) {
		uint8_t ctl = data[off];
		size_t len = (size_t)(data[off + 2] << 8 | data[off + 3]), plen;
		uint8_t *pkt_bytes, *copy;
		struct tracked *t;
		struct pkt p;
		int dlt;

		now += data[off + 1];
		off += 4;
		if (len > size - off)
			len = size - off;
		if (ctl & 8) {
			pkt_bytes = (uint8_t *)data + off;
			plen = len;
			dlt = FC_DLT_RAW_LINKTYPE;
		} else {
			struct slot *s = &slots[ctl & 3];

			if (len > 1400)
				len = 1400;
			memcpy(buf + HDR_ROOM, data + off, len);
			pkt_bytes = build(s, ctl & 3, (ctl >> 2) & 1, tcp_flag_sets[(ctl >> 4) & 7],
					  buf, len, &plen);
			dlt = s->v6 ? FC_DLT_IPV6 : FC_DLT_IPV4;
		}
		off += len;
		/* exact-size copy: nDPI reading past the packet is an ASan report */
		copy = malloc(plen ? plen : 1);
		if (!copy)
			abort();
		memcpy(copy, pkt_bytes, plen);
		if (decode_frame(dlt, copy, (uint32_t)plen, (uint32_t)plen, false, &p) == DECODE_OK &&
		    (t = lookup(tab, &p))) {
			p.time_ms = now;
			dpi_flow_packet(d, &t->d, &p, ++t->packets);
		}
		free(copy);
	}
	for (int i = 0; i < N_FLOWS; i++)
		if (tab[i].used)
			finish(d, &tab[i]);
	return 0;
}
