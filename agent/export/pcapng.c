// SPDX-License-Identifier: GPL-2.0-only
/*
 * Process-labelled pcapng writer (pcapng.h).  Block layouts follow the
 * pcapng specification: Section Header (0x0A0D0D0A), Interface Description
 * (1) with if_name and if_tsresol (microseconds), Enhanced Packet (6) with
 * opt_comment (1).  Everything is written in host byte order, which the
 * section header's byte-order magic declares.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attr/attr.h"
#include "export/pcapng.h"
#include "util/log.h"

#define CHUNK_BYTES (256u << 10)
#define COMMIT_MS 50             /* a producer's chunk waits at most this long */
#define MAX_QUEUED (64ull << 20) /* beyond this, packets are written without waiting */
#define OUT_BYTES (1u << 20)
#define RETRY_MS 1000            /* a flow without owner is looked up again after this */

/* A flow's label, shared by the flow (f->tag) and its packets in the queue. */
struct ptag {
	struct flow_tag base;
	uint32_t refs;
	uint8_t reply;            /* a packet of the other direction was seen */
	uint64_t serial;
	uint8_t src_ip[16], dst_ip[16];
	uint16_t src_port, dst_port, vlan_id;
	uint8_t protocol, ip_version, tunnel_id;
	uint64_t first_seen_ms;
	/* the writer's only */
	bool resolved, named;
	uint64_t next_try_ms;
	char *text;               /* the comment, rebuilt when the owner is found */
	uint32_t text_len;
};

struct rec {
	struct ptag *tag;
	uint64_t ts_us;
	uint32_t caplen, len;
	uint16_t iface;
	uint8_t data[];
};

struct chunk {
	struct chunk *next;
	size_t size, used;
	uint64_t since_ms;        /* first record added (monotonic) */
	uint8_t data[];
};

struct pcapng_producer {
	struct pcapng *w;
	struct chunk *cur;
};

struct pcapng {
	struct pcapng_opts o;
	char *path;
	int fd;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct chunk *head, *tail, *free_list;
	size_t n_free;
	uint64_t queued;          /* bytes in the queue */
	bool closing;
	int err;                  /* the first write error */
	struct pcapng_producer *prod;
	uint8_t *out;
	size_t out_len;
	uint64_t written, labelled, dropped;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void tag_put(struct flow_tag *t)
{
	struct ptag *p = (struct ptag *)t;

	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(p->text);
		free(p);
	}
}

/* ---- output ---------------------------------------------------------- */

static void out_flush(struct pcapng *w)
{
	size_t off = 0;

	while (off < w->out_len && !w->err) {
		ssize_t n = write(w->fd, w->out + off, w->out_len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->err = n < 0 ? -errno : -EIO;
			pr_warn("cannot write packets to '%s': %s; no more packets are written "
				"(%llu written), metering goes on\n", w->path, strerror(-w->err),
				(unsigned long long)w->written);
			break;
		}
		off += (size_t)n;
	}
	w->out_len = 0;
}

static void out_put(struct pcapng *w, const void *p, size_t n)
{
	if (w->out_len + n > OUT_BYTES)
		out_flush(w);
	if (n > OUT_BYTES) {
		/* larger than the buffer (never with these sizes): write through */
		while (n && !w->err) {
			ssize_t k = write(w->fd, p, n);

			if (k <= 0) {
				w->err = k < 0 ? -errno : -EIO;
				break;
			}
			p = (const uint8_t *)p + k;
			n -= (size_t)k;
		}
		return;
	}
	memcpy(w->out + w->out_len, p, n);
	w->out_len += n;
}

static void out_u32(struct pcapng *w, uint32_t v)
{
	out_put(w, &v, 4);
}

static void out_pad(struct pcapng *w, size_t n)
{
	static const uint8_t zero[4];

	if (n & 3)
		out_put(w, zero, 4 - (n & 3));
}

#define PAD4(n) (((n) + 3) & ~(size_t)3)

/* An option: code, length, value padded to 4. */
static void out_opt(struct pcapng *w, uint16_t code, const void *v, uint16_t len)
{
	uint16_t h[2] = { code, len };

	out_put(w, h, 4);
	out_put(w, v, len);
	out_pad(w, len);
}

static void write_headers(struct pcapng *w)
{
	static const char app[] = "flowsight";
	uint32_t shb_len = 28 + 4 + (uint32_t)PAD4(sizeof(app) - 1) + 4;
	uint16_t ver[2] = { 1, 0 };
	int64_t section = -1;

	out_u32(w, 0x0A0D0D0A);
	out_u32(w, shb_len);
	out_u32(w, 0x1A2B3C4D);
	out_put(w, ver, 4);
	out_put(w, &section, 8);
	out_opt(w, 4, app, sizeof(app) - 1); /* shb_userappl */
	out_u32(w, 0);                       /* opt_endofopt */
	out_u32(w, shb_len);
	for (unsigned int i = 0; i < w->o.n_ifaces; i++) {
		const struct pcapng_iface *f = &w->o.ifaces[i];
		size_t nl = strlen(f->name);
		uint32_t len = (uint32_t)(20 + 4 + PAD4(nl) + 8 + 4);
		uint16_t lt[2] = { (uint16_t)f->dlt, 0 };
		uint8_t tsresol = 6;

		out_u32(w, 1);
		out_u32(w, len);
		out_put(w, lt, 4);
		out_u32(w, f->snaplen);
		out_opt(w, 2, f->name, (uint16_t)nl); /* if_name */
		out_opt(w, 9, &tsresol, 1);          /* if_tsresol: 10^-6 */
		out_u32(w, 0);
		out_u32(w, len);
	}
}

/* ---- labels ---------------------------------------------------------- */

static size_t json_str(char *b, size_t n, const char *s)
{
	size_t o = 0;

	if (o < n)
		b[o++] = '"';
	for (; *s && o + 7 < n; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			b[o++] = '\\';
			b[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(b + o, n - o, "\\u%04x", c);
		} else {
			b[o++] = (char)c;
		}
	}
	if (o < n)
		b[o++] = '"';
	return o;
}

static void tag_text(struct pcapng *w, struct ptag *t, const struct proc_info *r)
{
	char b[1024], sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	int af = t->ip_version == 6 ? AF_INET6 : AF_INET;
	size_t o;

	inet_ntop(af, t->src_ip, sa, sizeof(sa));
	inet_ntop(af, t->dst_ip, da, sizeof(da));
	o = (size_t)snprintf(b, sizeof(b), "{\"flow_serial\": %llu, \"src_ip\": \"%s\", "
			     "\"src_port\": %u, \"dst_ip\": \"%s\", \"dst_port\": %u, "
			     "\"protocol\": %u, \"vlan_id\": %u, \"tunnel_id\": %u, "
			     "\"bidirectional_first_seen_ms\": %llu",
			     (unsigned long long)t->serial, sa, t->src_port, da, t->dst_port,
			     t->protocol, t->vlan_id, t->tunnel_id,
			     (unsigned long long)t->first_seen_ms);
	if (w->o.attr && r) {
		o += (size_t)snprintf(b + o, sizeof(b) - o, ", \"system_process_pid\": %lld, "
				      "\"system_process_name\": ", (long long)r->pid);
		o += json_str(b + o, sizeof(b) - o, r->name);
		if (w->o.visibility >= 2 && o < sizeof(b)) {
			o += (size_t)snprintf(b + o, sizeof(b) - o, ", \"system_process_ppid\": %lld, "
					      "\"system_process_uid\": %lld, \"system_process_user\": ",
					      (long long)r->ppid, (long long)r->uid);
			o += json_str(b + o, sizeof(b) - o, r->user);
			if (o < sizeof(b))
				o += (size_t)snprintf(b + o, sizeof(b) - o,
						      ", \"system_container_id\": ");
			o += json_str(b + o, sizeof(b) - o, r->container_id);
			if (o < sizeof(b))
				o += (size_t)snprintf(b + o, sizeof(b) - o,
						      ", \"system_attribution\": ");
			o += json_str(b + o, sizeof(b) - o, r->how ? r->how : "");
		}
	}
	if (o + 2 > sizeof(b))
		o = sizeof(b) - 2;
	b[o++] = '}';
	b[o] = '\0';
	free(t->text);
	t->text = strdup(b);
	t->text_len = t->text ? (uint32_t)o : 0;
}

/* The owner of @t's flow as attribution knows it now (writer thread). */
static void tag_resolve(struct pcapng *w, struct ptag *t, const struct rec *r)
{
	struct proc_info pi;
	struct flow f;
	uint64_t now;

	if (t->resolved)
		return;
	if (!w->o.attr) {
		t->resolved = true;
		tag_text(w, t, NULL);
		return;
	}
	now = mono_ms();
	if (t->text && now < t->next_try_ms)
		return;
	memset(&f, 0, sizeof(f));
	memcpy(f.src_ip, t->src_ip, 16);
	memcpy(f.dst_ip, t->dst_ip, 16);
	f.src_port = t->src_port;
	f.dst_port = t->dst_port;
	f.vlan_id = t->vlan_id;
	f.protocol = t->protocol;
	f.ip_version = t->ip_version;
	f.tunnel_id = t->tunnel_id;
	f.first_seen_ms = t->first_seen_ms;
	f.last_seen_ms = r->ts_us / 1000 > t->first_seen_ms ? r->ts_us / 1000 : t->first_seen_ms;
	f.dir_packets[0] = 1;
	f.dir_packets[1] = __atomic_load_n(&t->reply, __ATOMIC_RELAXED);
	attr_lookup(w->o.attr, &f, &pi);
	t->resolved = pi.pid >= 0 || (pi.how && *pi.how);
	t->named = pi.pid >= 0;
	t->next_try_ms = now + RETRY_MS;
	tag_text(w, t, &pi);
}

/* ---- producers ------------------------------------------------------- */

static struct chunk *chunk_get(struct pcapng *w, size_t need)
{
	struct chunk *c = NULL;
	size_t size = need > CHUNK_BYTES ? need : CHUNK_BYTES;

	if (size == CHUNK_BYTES) {
		pthread_mutex_lock(&w->lock);
		c = w->free_list;
		if (c) {
			w->free_list = c->next;
			w->n_free--;
		}
		pthread_mutex_unlock(&w->lock);
	}
	if (!c) {
		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
	}
	c->next = NULL;
	c->used = 0;
	c->since_ms = 0;
	return c;
}

struct pcapng_producer *pcapng_producer(struct pcapng *w, unsigned int i)
{
	return w && i < w->o.n_producers ? &w->prod[i] : NULL;
}

static struct ptag *tag_of(struct flow *f)
{
	struct ptag *t;

	if (f->tag)
		return (struct ptag *)f->tag;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->base.put = tag_put;
	t->refs = 1; /* the flow's */
	t->serial = f->serial;
	memcpy(t->src_ip, f->src_ip, 16);
	memcpy(t->dst_ip, f->dst_ip, 16);
	t->src_port = f->src_port;
	t->dst_port = f->dst_port;
	t->vlan_id = f->vlan_id;
	t->protocol = f->protocol;
	t->ip_version = f->ip_version;
	t->tunnel_id = f->tunnel_id;
	t->first_seen_ms = f->first_seen_ms;
	f->tag = &t->base;
	return t;
}

void pcapng_add(struct pcapng_producer *p, uint16_t iface, uint64_t ts_us, const uint8_t *data,
		uint32_t caplen, uint32_t len, struct flow *f)
{
	size_t need = (sizeof(struct rec) + caplen + 7) & ~(size_t)7;
	struct chunk *c = p->cur;
	struct rec *r;

	if (c && c->size - c->used < need) {
		pcapng_commit(p, true);
		c = NULL;
	}
	if (!c) {
		c = p->cur = chunk_get(p->w, need);
		if (!c) {
			__atomic_add_fetch(&p->w->dropped, 1, __ATOMIC_RELAXED);
			return;
		}
	}
	if (!c->used)
		c->since_ms = mono_ms();
	r = (struct rec *)(c->data + c->used);
	r->tag = NULL;
	if (f) {
		struct ptag *t = tag_of(f);

		if (t) {
			__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
			if (f->dir_packets[1] && !t->reply)
				__atomic_store_n(&t->reply, 1, __ATOMIC_RELAXED);
		}
		r->tag = t;
	}
	r->ts_us = ts_us;
	r->caplen = caplen;
	r->len = len;
	r->iface = iface;
	memcpy(r->data, data, caplen);
	c->used += need;
}

void pcapng_commit(struct pcapng_producer *p, bool force)
{
	struct pcapng *w = p->w;
	struct chunk *c = p->cur;

	if (!c || !c->used)
		return;
	if (!force && c->size - c->used > 4096 && mono_ms() - c->since_ms < COMMIT_MS)
		return;
	p->cur = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = c;
	else
		w->head = c;
	w->tail = c;
	w->queued += c->used;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->lock);
}

/* ---- the writer thread ----------------------------------------------- */

static void write_chunk(struct pcapng *w, struct chunk *c)
{
	for (size_t off = 0; off < c->used;) {
		struct rec *r = (struct rec *)(c->data + off);
		size_t need = (sizeof(*r) + r->caplen + 7) & ~(size_t)7;

		if (!w->err) {
			const char *text = NULL;
			uint32_t tl = 0, len;
			uint32_t hdr[7];

			if (r->tag) {
				tag_resolve(w, r->tag, r);
				text = r->tag->text;
				tl = text ? r->tag->text_len : 0;
				if (tl > 65535)
					tl = 65535;
			}
			len = (uint32_t)(28 + PAD4(r->caplen) + (tl ? 4 + PAD4(tl) + 4 : 0) + 4);
			hdr[0] = 6;
			hdr[1] = len;
			hdr[2] = r->iface;
			hdr[3] = (uint32_t)(r->ts_us >> 32);
			hdr[4] = (uint32_t)r->ts_us;
			hdr[5] = r->caplen;
			hdr[6] = r->len;
			out_put(w, hdr, sizeof(hdr));
			out_put(w, r->data, r->caplen);
			out_pad(w, r->caplen);
			if (tl) {
				out_opt(w, 1, text, (uint16_t)tl);
				out_u32(w, 0);
				w->labelled += r->tag->named;
			}
			out_u32(w, len);
			w->written++;
		}
		if (r->tag)
			tag_put(&r->tag->base);
		off += need;
	}
}

static void *writer_main(void *arg)
{
	struct pcapng *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct chunk *c = w->head;
		uint64_t now = mono_ms();

		if (c && (w->closing || w->queued > MAX_QUEUED || now - c->since_ms >= w->o.hold_ms)) {
			w->head = c->next;
			if (!w->head)
				w->tail = NULL;
			w->queued -= c->used;
			pthread_mutex_unlock(&w->lock);
			write_chunk(w, c);
			pthread_mutex_lock(&w->lock);
			if (c->size == CHUNK_BYTES && w->n_free < 64) {
				c->next = w->free_list;
				w->free_list = c;
				w->n_free++;
			} else {
				free(c);
			}
			continue;
		}
		if (!c && w->closing)
			break;
		if (!c && w->out_len) {
			/* idle: make what was written visible */
			pthread_mutex_unlock(&w->lock);
			out_flush(w);
			pthread_mutex_lock(&w->lock);
			continue;
		}
		{
			struct timespec dl;
			uint64_t wait = c ? c->since_ms + w->o.hold_ms - now : 100;

			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += (long)(wait % 1000) * 1000000;
			dl.tv_sec += (time_t)(wait / 1000) + dl.tv_nsec / 1000000000;
			dl.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&w->cv, &w->lock, &dl);
		}
	}
	pthread_mutex_unlock(&w->lock);
	out_flush(w);
	return NULL;
}

int pcapng_open(const struct pcapng_opts *o, struct pcapng **out)
{
	struct pcapng *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->o = *o;
	w->fd = -1;
	w->path = strdup(o->path);
	w->out = malloc(OUT_BYTES);
	w->prod = calloc(o->n_producers ? o->n_producers : 1, sizeof(*w->prod));
	if (!w->path || !w->out || !w->prod) {
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned int i = 0; i < o->n_producers; i++)
		w->prod[i].w = w;
	w->fd = open(o->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		err = -errno;
		pr_warn("cannot write packets to '%s': %s\n", o->path, strerror(-err));
		goto fail;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cv, NULL);
	write_headers(w);
	out_flush(w);
	if (w->err) {
		err = w->err;
		goto fail_sync;
	}
	err = -pthread_create(&w->thread, NULL, writer_main, w);
	if (err) {
		pr_warn("cannot start the pcapng writer: %s\n", strerror(-err));
		goto fail_sync;
	}
	w->running = true;
	*out = w;
	return 0;

fail_sync:
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cv);
fail:
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w->out);
	free(w->prod);
	free(w);
	return err;
}

int pcapng_error(struct pcapng *w)
{
	return w ? __atomic_load_n(&w->err, __ATOMIC_RELAXED) : 0;
}

int pcapng_close(struct pcapng *w)
{
	int err;

	if (!w)
		return 0;
	for (unsigned int i = 0; i < w->o.n_producers; i++)
		pcapng_commit(&w->prod[i], true);
	pthread_mutex_lock(&w->lock);
	w->closing = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->lock);
	if (w->running)
		pthread_join(w->thread, NULL);
	if (close(w->fd) && !w->err)
		w->err = -errno;
	if (!w->err)
		pr_info("pcapng: %llu packets written to '%s' (%llu labelled with a process)\n",
			(unsigned long long)w->written, w->path, (unsigned long long)w->labelled);
	if (w->dropped)
		pr_warn("pcapng: %llu packets not written (no memory)\n",
			(unsigned long long)w->dropped);
	while (w->free_list) {
		struct chunk *c = w->free_list;

		w->free_list = c->next;
		free(c);
	}
	for (unsigned int i = 0; i < w->o.n_producers; i++)
		free(w->prod[i].cur);
	err = w->err;
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cv);
	free(w->path);
	free(w->out);
	free(w->prod);
	free(w);
	return err;
}
