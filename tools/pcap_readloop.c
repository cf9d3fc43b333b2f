// SPDX-License-Identifier: GPL-2.0-only
/*
 * Benchmark baseline: the cheapest possible pass over pcap files with libpcap,
 * reading every packet and nothing more; tools/bench.sh compares flowsight to it.
 */
#include <pcap/pcap.h>
#include <stdio.h>

/* The per-packet first-byte sum ends here so the compiler must load each byte. */
static volatile unsigned long long sink;

static int read_file(const char *path, unsigned long long *packets,
		     unsigned long long *bytes, unsigned long long *touch)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *hdr;
	const unsigned char *data;
	pcap_t *p;
	int ret;

	p = pcap_open_offline(path, errbuf);
	if (!p) {
		fprintf(stderr, "pcap_readloop: %s: %s\n", path, errbuf);
		return -1;
	}
	while ((ret = pcap_next_ex(p, &hdr, &data)) == 1) {
		(*packets)++;
		*bytes += hdr->caplen;
		if (hdr->caplen)
			*touch += data[0];
	}
	if (ret == PCAP_ERROR)
		fprintf(stderr, "pcap_readloop: %s: %s\n", path, pcap_geterr(p));
	pcap_close(p);
	return ret == PCAP_ERROR_BREAK ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned long long packets = 0, bytes = 0, touch = 0;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: pcap_readloop FILE...\n");
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (read_file(argv[i], &packets, &bytes, &touch))
			return 1;
	sink = touch;
	printf("packets=%llu bytes=%llu\n", packets, bytes);
	return 0;
}
