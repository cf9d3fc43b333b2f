// SPDX-License-Identifier: GPL-2.0-only
/*
 * Offline capture reader.  Classic pcap files (either byte order, micro-
 * or nanosecond) are mapped (regular files) or read in large chunks
 * (pipes) and walked in place, which saves stdio's and libpcap's copies
 * of every packet, and with the mapping the kernel's copy too; pcapng and
 * anything else goes through libpcap.  Timestamps are reduced to
 * microseconds first, as libpcap does, before NFStream's millisecond
 * truncation.  Files are read one after the other; each error names the
 * file and its cause, with libpcap's wording for damaged files.
 */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "packet/decode.h"
#include "flowsight/flowsight.h"
#include "util/log.h"
#include "capture/source.h"
#include "core/session.h"

/* libpcap's bound on a record's captured length (MAXIMUM_SNAPLEN). */
#define MAX_CAPLEN 262144
#define CHUNK_BYTES (4u << 20)
/* A mapped file is made present (page tables filled) this far ahead of the
 * reader, and released behind it, so the reader never takes a page fault
 * per page and the process never holds more than a few windows of it. */
#define MAP_WINDOW (4u << 20)
/* Every line of a mapped file is requested this far ahead of the reader:
 * the page cache is cold in the CPU caches, records are read at irregular
 * strides and hardware prefetchers stop at page boundaries, so without it
 * the reader waits for memory on each record header. */
#define PREFETCH_AHEAD 8192

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14; older kernels fault page by page */
#endif

struct source_pcap {
	struct source base;
	const char *const *files;
	int n_files, cur;
	const char *filter;
	pcap_t *p;           /* libpcap reader, or a dead handle for the filter */
	bool classic;        /* classic pcap read in chunks by us */
	int fd;
	uint8_t *buf;        /* CHUNK_BYTES + MAX_CAPLEN + 16, or the mapping */
	size_t len, off;     /* valid bytes in buf, next record */
	size_t map_len;      /* buf maps the file's first map_len bytes; 0: heap */
	size_t map_ready;    /* populated up to here */
	size_t map_dropped;  /* released below here */
	size_t map_fetched;  /* prefetched below here */
	bool eof;
	bool regular;        /* reads never wait */
	bool no_fill;        /* inside a batch: do not move the buffer */
	void (*idle_fn)(void *);
	void *idle_arg;
	bool swapped, nsec;
	struct pcap_pkthdr hdr;
	struct bpf_program prog;
	bool have_prog;
	int dlt;
	uint64_t packets_in_file;
	int guard;           /* slot of the mapping's SIGBUS guard, -1 */
	/* reading position (fs_session_progress) */
	struct session_progress *pos_out;
	uint64_t fpos;       /* classic: bytes taken from the file descriptor */
	uint64_t done_before; /* bytes of the files finished before this one */
	uint64_t cur_size;   /* this file's size; 0: unknown */
};

#define PSTORE(dst, v) __atomic_store_n(&(dst), (v), __ATOMIC_RELAXED)

/* Bytes of the current file consumed up to the next record. */
static uint64_t file_pos(struct source_pcap *s)
{
	if (!s->p)
		return 0;
	if (s->classic)
		return s->fpos - (s->len - s->off);
	if (pcap_file(s->p)) {
		long at = ftell(pcap_file(s->p));

		return at > 0 ? (uint64_t)at : 0;
	}
	return 0;
}

static void publish_pos(struct source_pcap *s)
{
	uint64_t at;

	if (!s->pos_out || !s->p)
		return;
	at = file_pos(s);
	PSTORE(s->pos_out->file, (uint32_t)s->cur);
	PSTORE(s->pos_out->file_total, s->cur_size);
	PSTORE(s->pos_out->file_read, at);
	PSTORE(s->pos_out->bytes_read, s->done_before + at);
}

/*
 * A mapped file cut short under the reader (truncated by another process)
 * makes the pages past its new end fault with SIGBUS.  The handler puts a
 * zero page there, so the access completes, and records it on the mapping's
 * slot; the reader stops at its next record with an error naming the cause,
 * and the flows read so far are exported as after any damaged file.  The
 * handler is process-wide, so files are mapped only once the application
 * asked for it (fs_enable_mapped_reads()); otherwise they are read in
 * chunks.  A fault outside our mappings goes to the handler before ours.
 */
#define GUARD_SLOTS 16

struct guard_slot {
	uint8_t *volatile base;
	volatile size_t len;
	volatile sig_atomic_t hit;
};

static struct guard_slot guard[GUARD_SLOTS];
static size_t guard_page;
static struct sigaction guard_prev;
static volatile int guard_on;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uint8_t *a = si->si_addr;

	for (int i = 0; i < GUARD_SLOTS; i++) {
		uint8_t *base = guard[i].base;

		if (base && a >= base && a < base + guard[i].len &&
		    mmap((void *)((uintptr_t)a & ~(uintptr_t)(guard_page - 1)), guard_page,
			 PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
			guard[i].hit = 1;
			return;
		}
	}
	/* not ours: as the process would have handled it without us */
	if (guard_prev.sa_flags & SA_SIGINFO)
		guard_prev.sa_sigaction(sig, si, uc);
	else if (guard_prev.sa_handler != SIG_IGN && guard_prev.sa_handler != SIG_DFL)
		guard_prev.sa_handler(sig);
	else
		signal(sig, SIG_DFL); /* returning re-raises it, fatal as usual */
}

void fs_enable_mapped_reads(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };

	if (__atomic_exchange_n(&guard_on, 1, __ATOMIC_SEQ_CST))
		return;
	guard_page = (size_t)sysconf(_SC_PAGESIZE);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &guard_prev);
}

/* A slot for mapping @base, or -1 (then the file is read in chunks). */
static int guard_map(uint8_t *base, size_t len)
{
	if (!__atomic_load_n(&guard_on, __ATOMIC_SEQ_CST))
		return -1;
	for (int i = 0; i < GUARD_SLOTS; i++) {
		uint8_t *none = NULL;

		guard[i].hit = 0;
		guard[i].len = len;
		if (__atomic_compare_exchange_n(&guard[i].base, &none, base, false,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return i;
	}
	return -1;
}

static void guard_unmap(int slot)
{
	if (slot < 0)
		return;
	__atomic_store_n(&guard[slot].base, NULL, __ATOMIC_SEQ_CST);
}

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
	if (s->classic)
		close(s->fd);
	if (s->map_len) {
		guard_unmap(s->guard);
		s->guard = -1;
		munmap(s->buf, s->map_len);
	} else
		free(s->buf);
	s->buf = NULL;
	s->map_len = 0;
	s->classic = false;
}

static inline uint32_t rd32(const uint8_t *p, bool swapped)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swapped ? __builtin_bswap32(v) : v;
}

/* The mapped file shrank under the reader: 0 if not; inside a batch
 * -EAGAIN (the batch so far is good, the next call says it); else say it,
 * -EIO. */
static int cut_short(struct source_pcap *s)
{
	if (!s->map_len || s->guard < 0 || !guard[s->guard].hit)
		return 0;
	if (s->no_fill)
		return -EAGAIN;
	pr_warn("cannot read '%s': the file was cut short while being read (after %llu packets)\n",
		s->files[s->cur], (unsigned long long)s->packets_in_file);
	return -EIO;
}

/*
 * Walk a regular file in a read-only mapping of its current size: the
 * records are read where the page cache holds them.  The mapping stands
 * for reads up to that size; what lies beyond (a file still being
 * written) is read by fill() once the mapping is used up.  A file cut
 * short under the reader would fault it (SIGBUS), as any mapping; capture
 * files are appended to, not rewritten.  False when the file cannot be
 * mapped: the chunked reads then do it all.
 */
static bool map_classic(struct source_pcap *s, int fd, const struct stat *st)
{
	void *m;

	if ((uint64_t)st->st_size > SIZE_MAX || st->st_size <= 24)
		return false;
	m = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return false;
	s->guard = guard_map(m, (size_t)st->st_size);
	if (s->guard < 0) {
		munmap(m, (size_t)st->st_size);
		return false;
	}
	madvise(m, (size_t)st->st_size, MADV_SEQUENTIAL);
	s->buf = m;
	s->map_len = s->len = (size_t)st->st_size;
	s->fpos = (uint64_t)st->st_size;
	s->map_ready = s->map_dropped = s->map_fetched = 0;
	s->off = 24; /* the file header, already read */
	s->eof = true;
	return true;
}

/*
 * Take a classic pcap file.  Returns 1 when it is ours, 0 when it is not
 * classic pcap (libpcap takes it), -errno on error.
 */
static int open_classic(struct source_pcap *s, const char *path, const struct stat *st)
{
	uint8_t h[24];
	uint32_t magic;
	int fd;

	if (S_ISREG(st->st_mode) && st->st_size < 24)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (!S_ISREG(st->st_mode)) {
		/* a pipe cannot be handed to libpcap after we read from it */
		size_t got = 0;

		while (got < sizeof(h)) {
			ssize_t n = read(fd, h + got, sizeof(h) - got);

			if (n <= 0) {
				close(fd);
				pr_warn("cannot read '%s': truncated dump file; tried to read 24 file "
					"header bytes, only got %zu\n", path, got);
				return -EIO;
			}
			got += (size_t)n;
		}
	} else if (read(fd, h, sizeof(h)) != (ssize_t)sizeof(h)) {
		close(fd);
		return 0;
	}
	memcpy(&magic, h, 4);
	switch (magic) {
	case 0xa1b2c3d4:
		s->swapped = false, s->nsec = false;
		break;
	case 0xd4c3b2a1:
		s->swapped = true, s->nsec = false;
		break;
	case 0xa1b23c4d:
		s->swapped = false, s->nsec = true;
		break;
	case 0x4d3cb2a1:
		s->swapped = true, s->nsec = true;
		break;
	default:
		close(fd);
		if (!S_ISREG(st->st_mode)) {
			pr_warn("cannot read '%s': streamed input must be classic pcap (pcapng: "
				"give a file)\n", path);
			return -EPROTONOSUPPORT;
		}
		return 0;
	}
	s->regular = S_ISREG(st->st_mode);
	s->fpos = sizeof(h);
	s->len = s->off = 0;
	s->eof = false;
	s->map_len = 0;
	if (!s->regular || !map_classic(s, fd, st)) {
		s->buf = malloc(CHUNK_BYTES + MAX_CAPLEN + 16);
		if (!s->buf) {
			close(fd);
			return -ENOMEM;
		}
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	s->fd = fd;
	s->classic = true;
	/* LT_LINKTYPE(): the low 16 bits; libpcap maps LINKTYPE_RAW to DLT_RAW */
	s->dlt = (int)(rd32(h + 20, s->swapped) & 0xffff);
	if (s->dlt == 101)
		s->dlt = DLT_RAW;
	s->p = pcap_open_dead(s->dlt, MAX_CAPLEN);
	if (!s->p) {
		close_file(s);
		return -ENOMEM;
	}
	return 1;
}

/*
 * Between batches (no frame refers to the mapping any more): populate the
 * windows ahead of the reader and drop the pages behind it.  Both are
 * hints; a kernel without MADV_POPULATE_READ just faults them in.
 */
static void map_slide(struct source_pcap *s)
{
	size_t behind = s->off & ~(size_t)(MAP_WINDOW - 1);

	while (s->map_ready < s->map_len && s->map_ready < s->off + 2 * (size_t)MAP_WINDOW) {
		size_t n = s->map_len - s->map_ready < MAP_WINDOW ? s->map_len - s->map_ready
								   : MAP_WINDOW;

		madvise(s->buf + s->map_ready, n, MADV_POPULATE_READ);
		s->map_ready += n;
	}
	if (behind > s->map_dropped) {
		madvise(s->buf + s->map_dropped, behind - s->map_dropped, MADV_DONTNEED);
		s->map_dropped = behind;
	}
}

/* Request every line up to PREFETCH_AHEAD bytes past the next record. */
static inline void map_prefetch(struct source_pcap *s)
{
	size_t end = s->off + PREFETCH_AHEAD;

	if (end > s->map_len)
		end = s->map_len;
	if (s->map_fetched < s->off)
		s->map_fetched = s->off & ~(size_t)63;
	for (; s->map_fetched < end; s->map_fetched += 64)
		__builtin_prefetch(s->buf + s->map_fetched);
}

/*
 * The mapping is used up: go on with chunked reads after it, in case the
 * file has grown since it was opened (a capture being written).  Keeps the
 * mapping's unread tail.  -EIO (logged) when that cannot be set up.
 */
static int unmap_classic(struct source_pcap *s)
{
	size_t tail = s->len - s->off;
	uint8_t *buf = malloc(CHUNK_BYTES + MAX_CAPLEN + 16);

	if (!buf) {
		pr_warn("cannot read '%s': %s (after %llu packets)\n", s->files[s->cur],
			strerror(ENOMEM), (unsigned long long)s->packets_in_file);
		return -EIO;
	}
	memcpy(buf, s->buf + s->off, tail);
	if (lseek(s->fd, (off_t)s->map_len, SEEK_SET) < 0) {
		pr_warn("cannot read '%s': %s (after %llu packets)\n", s->files[s->cur],
			strerror(errno), (unsigned long long)s->packets_in_file);
		free(buf);
		return -EIO;
	}
	guard_unmap(s->guard);
	s->guard = -1;
	munmap(s->buf, s->map_len);
	s->fpos = s->map_len;
	s->buf = buf;
	s->map_len = 0;
	s->len = tail;
	s->off = 0;
	s->eof = false;
	return 0;
}

/* Make at least @need bytes available at s->off unless the file ends. */
static int fill(struct source_pcap *s, size_t need)
{
	if (s->len - s->off >= need)
		return 0;
	/* Inside a batch the buffer must stay put, and the end of the data
	 * (EOF or damage) is left for the next call to report. */
	if (s->no_fill)
		return -EAGAIN;
	if (s->map_len) {
		int err = unmap_classic(s);

		if (err)
			return err;
	}
	if (s->eof)
		return 0;
	memmove(s->buf, s->buf + s->off, s->len - s->off);
	s->len -= s->off;
	s->off = 0;
	while (s->len < need && !s->eof) {
		ssize_t n;

		if (!s->regular && s->idle_fn)
			s->idle_fn(s->idle_arg);
		n = read(s->fd, s->buf + s->len, CHUNK_BYTES + MAX_CAPLEN + 16 - s->len);

		if (n < 0) {
			if (errno == EINTR)
				return -EINTR;
			pr_warn("cannot read '%s': %s (after %llu packets)\n", s->files[s->cur],
				strerror(errno), (unsigned long long)s->packets_in_file);
			return -EIO;
		}
		if (n == 0)
			s->eof = true;
		s->len += (size_t)n;
		s->fpos += (uint64_t)n;
	}
	return 0;
}

/* Next record of a classic file: 1, 0 at the end, -errno when damaged. */
static int classic_next(struct source_pcap *s, const uint8_t **data)
{
	const uint8_t *r;
	uint32_t caplen, frac;
	size_t left;
	int err = cut_short(s);

	if (err)
		return err;
	err = fill(s, 16);
	if (err)
		return err;
	left = s->len - s->off;
	if (left == 0)
		return 0;
	if (left < 16) {
		pr_warn("cannot read '%s': truncated dump file; tried to read 16 header bytes, "
			"only got %zu (after %llu packets)\n",
			s->files[s->cur], left, (unsigned long long)s->packets_in_file);
		return -EIO;
	}
	caplen = rd32(s->buf + s->off + 8, s->swapped);
	if (caplen > MAX_CAPLEN && s->no_fill)
		return -EAGAIN; /* reported by the next batch, after this one is used */
	if (caplen > MAX_CAPLEN) {
		pr_warn("cannot read '%s': invalid packet capture length %u, bigger than maximum "
			"of %u (after %llu packets)\n", s->files[s->cur], caplen, MAX_CAPLEN,
			(unsigned long long)s->packets_in_file);
		return -EIO;
	}
	err = fill(s, 16 + (size_t)caplen);
	if (err)
		return err;
	left = s->len - s->off;
	if (left - 16 < caplen) {
		pr_warn("cannot read '%s': truncated dump file; tried to read %u captured bytes, "
			"only got %zu (after %llu packets)\n", s->files[s->cur], caplen, left - 16,
			(unsigned long long)s->packets_in_file);
		return -EIO;
	}
	r = s->buf + s->off;
	frac = rd32(r + 4, s->swapped);
	s->hdr.ts.tv_sec = rd32(r, s->swapped);
	s->hdr.ts.tv_usec = s->nsec ? frac / 1000 : frac;
	s->hdr.caplen = caplen;
	s->hdr.len = rd32(r + 12, s->swapped);
	if (s->map_len && caplen)
		(void)*(volatile const uint8_t *)(r + 15 + caplen); /* its end is in the file */
	err = cut_short(s); /* zeros were read: not a whole record */
	if (err)
		return err;
	*data = r + 16;
	s->off += 16 + (size_t)caplen;
	if (s->map_len)
		map_prefetch(s);
	return 1;
}

static int open_file(struct source_pcap *s, int idx)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	const char *path = s->files[idx];
	struct stat st;
	int rc;

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
	rc = open_classic(s, path, &st);
	if (rc < 0)
		return rc;
	if (!rc) {
		s->p = pcap_open_offline(path, errbuf);
		if (!s->p) {
			pr_warn("cannot read '%s': %s\n", path, errbuf);
			return -EINVAL;
		}
		s->dlt = pcap_datalink(s->p);
	}
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
	s->cur_size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	publish_pos(s);
	return 0;
}

static int pcap_src_next1(struct source_pcap *s, struct frame *f)
{
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
		if (s->classic) {
			rc = classic_next(s, &data);
			h = &s->hdr;
			if (rc == 0)
				rc = PCAP_ERROR_BREAK;
			else if (rc < 0) {
				if (rc == -EINTR || rc == -EAGAIN)
					return rc; /* a signal, or the batch is full */
				close_file(s);
				s->cur = s->n_files;
				return rc;
			}
		} else {
			rc = pcap_next_ex(s->p, &h, &data);
		}
		if (rc == 1) {
			s->packets_in_file++;
			if (s->have_prog && !pcap_offline_filter(&s->prog, h, data))
				continue;
			f->dlt = s->dlt;
			f->data = data;
			f->caplen = h->caplen;
			f->len = h->len;
			f->time_ms = (uint64_t)h->ts.tv_sec * 1000 + (uint64_t)h->ts.tv_usec / 1000;
			f->time_us = (uint64_t)h->ts.tv_sec * 1000000 + (uint64_t)h->ts.tv_usec;
			f->iface = 0;
			return 1;
		}
		if (rc == PCAP_ERROR_BREAK) {
			uint64_t at = file_pos(s);

			if (s->pos_out) {
				/* the whole file: its size when it did not grow */
				PSTORE(s->pos_out->file_read, at);
				PSTORE(s->pos_out->bytes_read, s->done_before + at);
			}
			s->done_before += at;
			close_file(s);
			if (s->pos_out && s->cur + 1 >= s->n_files)
				PSTORE(s->pos_out->done, 1);
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

/*
 * Frames of a classic file stay valid until the buffer is refilled or the
 * mapping slides, which only happens on a batch's first record; libpcap
 * reuses its buffer, so a libpcap-read file gives batches of one.
 */
static int pcap_src_next(struct source *base, struct frame *f, int max)
{
	struct source_pcap *s = (struct source_pcap *)base;
	int n;

	if (s->map_len)
		map_slide(s); /* the previous batch's frames are dead now */
	n = pcap_src_next1(s, &f[0]);
	if (n <= 0)
		return n;
	s->no_fill = true;
	/* -EAGAIN ends the batch where the buffered records end */
	while (n < max && s->classic && pcap_src_next1(s, &f[n]) == 1)
		n++;
	s->no_fill = false;
	publish_pos(s);
	return n;
}

static void pcap_src_close(struct source *base)
{
	struct source_pcap *s = (struct source_pcap *)base;

	close_file(s);
	free(s);
}

void source_pcap_set_idle_hook(struct source *base, void (*fn)(void *), void *arg)
{
	struct source_pcap *s = (struct source_pcap *)base;

	s->idle_fn = fn;
	s->idle_arg = arg;
}

void source_pcap_set_progress(struct source *base, struct session_progress *p)
{
	struct source_pcap *s = (struct source_pcap *)base;
	uint64_t total = 0;

	s->pos_out = p;
	for (int i = 0; i < s->n_files; i++) {
		struct stat st;

		if (stat(s->files[i], &st) || !S_ISREG(st.st_mode)) {
			total = 0;
			break;
		}
		total += (uint64_t)st.st_size;
	}
	PSTORE(p->n_files, (uint32_t)s->n_files);
	PSTORE(p->bytes_total, total);
	publish_pos(s);
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
	s->guard = -1;
	err = open_file(s, 0);
	if (err) {
		free(s);
		return err;
	}
	*out = &s->base;
	return 0;
}
