// SPDX-License-Identifier: GPL-2.0-only
/*
 * Offline pcap/pcapng reader on libpcap.  Files are opened one after the
 * other; each error names the file and its cause.  libpcap hands out
 * microsecond timestamps for every format (nanosecond files included),
 * which is what NFStream's millisecond truncation starts from.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "decode.h"
#include "log.h"
#include "source.h"

struct source_pcap {
	struct source base;
	const char *const *files;
	int n_files, cur;
	const char *filter;
	pcap_t *p;
	struct bpf_program prog;
	bool have_prog;
	int dlt;
	uint64_t packets_in_file;
};

static void close_file(struct source_pcap *s)
{
	if (s->have_prog) {
		pcap_freecode(&s->prog);
		s->have_prog = false;
	}
	if (s->p) {
		pcap_close(s->p);
		s->p = NULL;
	}
}

static int open_file(struct source_pcap *s, int idx)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	const char *path = s->files[idx];
	struct stat st;

	if (stat(path, &st)) {
		int err = -errno;

		pr_warn("cannot read '%s': %s\n", path, strerror(-err));
		return err;
	}
	if (S_ISDIR(st.st_mode)) {
		pr_warn("cannot read '%s': is a directory\n", path);
		return -EISDIR;
	}
	if (S_ISREG(st.st_mode) && st.st_size == 0) {
		pr_warn("cannot read '%s': empty file\n", path);
		return -EINVAL;
	}
	s->p = pcap_open_offline(path, errbuf);
	if (!s->p) {
		pr_warn("cannot read '%s': %s\n", path, errbuf);
		return -EINVAL;
	}
	s->dlt = pcap_datalink(s->p);
	if (!decode_dlt_supported(s->dlt)) {
		const char *name = pcap_datalink_val_to_name(s->dlt);

		pr_warn("cannot read '%s': unsupported link type %d (%s)\n", path, s->dlt,
			name ? name : "unknown");
		close_file(s);
		return -EPROTONOSUPPORT;
	}
	if (s->filter) {
		if (pcap_compile(s->p, &s->prog, s->filter, 1, 0xffffff00) < 0) {
			pr_warn("Unable to compile BPF filter.\n");
			pr_info("'%s': %s\n", s->filter, pcap_geterr(s->p));
			close_file(s);
			return SOURCE_EFILTER;
		}
		s->have_prog = true;
	}
	s->cur = idx;
	s->packets_in_file = 0;
	return 0;
}

static int pcap_src_next(struct source *base, struct frame *f)
{
	struct source_pcap *s = (struct source_pcap *)base;
	struct pcap_pkthdr *h;
	const u_char *data;

	for (;;) {
		int rc;

		if (!s->p) {
			if (s->cur + 1 >= s->n_files)
				return 0;
			rc = open_file(s, s->cur + 1);
			if (rc)
				return rc;
		}
		rc = pcap_next_ex(s->p, &h, &data);
		if (rc == 1) {
			s->packets_in_file++;
			if (s->have_prog && !pcap_offline_filter(&s->prog, h, data))
				continue;
			f->dlt = s->dlt;
			f->data = data;
			f->caplen = h->caplen;
			f->len = h->len;
			f->time_ms = (uint64_t)h->ts.tv_sec * 1000 + (uint64_t)h->ts.tv_usec / 1000;
			return 1;
		}
		if (rc == PCAP_ERROR_BREAK) {
			close_file(s);
			continue;
		}
		if (strstr(pcap_geterr(s->p), strerror(EINTR)))
			return -EINTR; /* a signal stopped the read: not a damaged file */
		pr_warn("cannot read '%s': %s (after %llu packets)\n", s->files[s->cur],
			pcap_geterr(s->p), (unsigned long long)s->packets_in_file);
		close_file(s);
		s->cur = s->n_files; /* nothing more after a damaged file */
		return -EIO;
	}
}

static void pcap_src_close(struct source *base)
{
	struct source_pcap *s = (struct source_pcap *)base;

	close_file(s);
	free(s);
}

static const struct source_ops pcap_file_ops = {
	.name = "pcap-file",
	.next = pcap_src_next,
	.close = pcap_src_close,
};

int source_pcap_open(const char *const *files, int n, const char *bpf_filter, struct source **out)
{
	struct source_pcap *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->base.ops = &pcap_file_ops;
	s->files = files;
	s->n_files = n;
	s->filter = bpf_filter;
	s->cur = -1;
	err = open_file(s, 0);
	if (err) {
		free(s);
		return err;
	}
	*out = &s->base;
	return 0;
}
