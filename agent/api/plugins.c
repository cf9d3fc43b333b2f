// SPDX-License-Identifier: GPL-2.0-only
/*
 * The plugin host: loads plugins (shared objects exporting
 * fs_plugin_descriptor, or descriptors of this process), gives each its
 * udps.* columns after NFStream's and its private bytes in every flow, and
 * runs their callbacks for the engine (engine_plugins).  Every refusal
 * names the file and the cause and happens before any packet is read.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/session.h"
#include "util/log.h"

struct plugin_host {
	void *dl;                 /* dlopen() handle, NULL for a descriptor */
	const struct fs_plugin *p;
	char *path, *config;
	void *state;              /* init()'s */
	bool inited;
	uint32_t col_base;        /* its first value in flow_udps.v */
	size_t state_off;         /* its private bytes in flow_udps.state */
	size_t state_bytes;       /* flow_state_bytes, or what init() set */
};

/* The plugin whose init() runs on this thread (fs_plugin_set_flow_state_bytes). */
static __thread struct plugin_host *initialising;

struct plugins {
	struct engine_plugins ep;
	struct fs_session *s;
};

int plugins_init(struct fs_session *s)
{
	(void)s;
	return 0;
}

static int refuse(struct fs_session *s, const char *path, const char *fmt, const char *what)
{
	char why[256];

	snprintf(why, sizeof(why), fmt, what);
	return api_error(s, -EINVAL, "cannot load plugin '%s': %s", path, why);
}

/* The descriptor's shape, and its columns against every column so far. */
static int check_desc(struct fs_session *s, const char *path, const struct fs_plugin *p)
{
	char abi[32];

	if (p->abi != FS_PLUGIN_ABI) {
		snprintf(abi, sizeof(abi), "%u", p->abi);
		return api_error(s, -EINVAL, "cannot load plugin '%s': API version %s, this "
				 "flowsight runs version %d", path, abi, FS_PLUGIN_ABI);
	}
	if (!p->name || !*p->name)
		return refuse(s, path, "%s", "its descriptor has no name");
	if (p->n_columns && !p->columns)
		return refuse(s, path, "%s", "its descriptor lists columns without a table");
	for (size_t i = 0; i < p->n_columns; i++) {
		const char *name = p->columns[i].name;
		char full[80];

		if (!name || !*name || strlen(name) > 34 || strchr(name, ','))
			return refuse(s, path, "column '%s': a name of 1 to 34 characters without "
				      "commas", name ? name : "");
		if ((unsigned int)p->columns[i].type > FS_LIST)
			return refuse(s, path, "column '%s' has an unknown type", name);
		snprintf(full, sizeof(full), "udps.%s", name);
		if (schema_find(&s->schema, full) >= 0)
			return refuse(s, path, "column 'udps.%s' repeats another column's name",
				      name);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(p->columns[j].name, name))
				return refuse(s, path, "column 'udps.%s' is listed twice", name);
		for (size_t k = 0; k < s->n_plugins; k++) {
			const struct fs_plugin *q = s->plugins[k].p;

			for (size_t j = 0; j < q->n_columns; j++)
				if (!strcmp(q->columns[j].name, name))
					return refuse(s, path, "column 'udps.%s' repeats another "
						      "plugin's column", name);
		}
	}
	return 0;
}

static int add(struct fs_session *s, void *dl, const char *path, const struct fs_plugin *p,
	       const char *config)
{
	struct plugin_host *h, *n;
	int err;

	if (s->started)
		return api_error(s, -EBUSY, "cannot load plugin '%s': the session has started",
				 path);
	err = check_desc(s, path, p);
	if (err)
		return err;
	n = realloc(s->plugins, (s->n_plugins + 1) * sizeof(*n));
	if (!n)
		return api_error(s, -ENOMEM, "out of memory");
	s->plugins = n;
	h = &s->plugins[s->n_plugins];
	memset(h, 0, sizeof(*h));
	h->dl = dl;
	h->p = p;
	h->path = strdup(path);
	h->config = strdup(config ? config : "");
	if (!h->path || !h->config) {
		free(h->path);
		free(h->config);
		return api_error(s, -ENOMEM, "out of memory");
	}
	h->state_bytes = p->flow_state_bytes;
	if (p->init) {
		char why[256] = "";
		int err;

		initialising = h;
		err = p->init(h->config, &h->state, why, sizeof(why));
		initialising = NULL;
		if (err) {
			why[sizeof(why) - 1] = '\0';
			for (char *c = why; *c; c++) /* one line, whatever it wrote */
				if (*c == '\n' || *c == '\r')
					*c = ' ';
			free(h->path);
			free(h->config);
			return api_error(s, -EINVAL, "cannot load plugin '%s': %s", path,
					 why[0] ? why : "its init() failed");
		}
	}
	h->inited = true;
	s->n_plugins++;
	return 0;
}

int fs_session_add_plugin(struct fs_session *s, const char *path, const char *config)
{
	const struct fs_plugin *p;
	struct stat st;
	void *dl;
	int err;

	if (stat(path, &st))
		return api_error(s, -ENOENT, "cannot load plugin '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return refuse(s, path, "%s", "not a regular file");
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *e = dlerror();

		/* dlerror() repeats the path: keep its cause */
		if (e && strstr(e, ": "))
			e = strstr(e, ": ") + 2;
		return refuse(s, path, "not a shared object it can load (%s)", e ? e : "?");
	}
	p = dlsym(dl, "fs_plugin_descriptor");
	if (!p) {
		dlclose(dl);
		return refuse(s, path, "%s", "it exports no fs_plugin_descriptor");
	}
	err = add(s, dl, path, p, config);
	if (err)
		dlclose(dl);
	return err;
}

int fs_session_add_plugin_desc(struct fs_session *s, const struct fs_plugin *p,
			       const char *config)
{
	return add(s, NULL, p && p->name ? p->name : "(descriptor)", p, config);
}

int plugins_schema(struct fs_session *s)
{
	uint32_t base = 0;
	size_t off = 0;

	/* NFStream: udps.* after every built-in column but the system ones */
	size_t sys = s->schema.n;

	for (size_t i = 0; i < s->schema.n; i++)
		if (s->schema.cols[i].field >= CF_PROC_PID && s->schema.cols[i].field < CF_UDP) {
			sys = i;
			break;
		}
	for (size_t k = 0; k < s->n_plugins; k++) {
		struct plugin_host *h = &s->plugins[k];

		h->col_base = base;
		h->state_off = off;
		for (size_t i = 0; i < h->p->n_columns; i++) {
			static const enum col_kind kinds[] = { COL_INT, COL_FLOAT, COL_STR, COL_LIST };
			int err = schema_add_udp(&s->schema, h->p->columns[i].name,
						 kinds[h->p->columns[i].type], (uint16_t)(base + i));

			if (err)
				return err;
		}
		base += (uint32_t)h->p->n_columns;
		off += (h->state_bytes + 15) & ~(size_t)15;
	}
	/* move the system_* columns (if any) behind the plugins' */
	if (sys < s->schema.n && base) {
		size_t n_sys = s->schema.n - base - sys;
		struct column *tmp = malloc(n_sys * sizeof(*tmp));

		if (!tmp)
			return -ENOMEM;
		memcpy(tmp, &s->schema.cols[sys], n_sys * sizeof(*tmp));
		memmove(&s->schema.cols[sys], &s->schema.cols[sys + n_sys], base * sizeof(*tmp));
		memcpy(&s->schema.cols[sys + base], tmp, n_sys * sizeof(*tmp));
		free(tmp);
	}
	return 0;
}

bool plugins_need_every_packet(const struct fs_session *s)
{
	for (size_t k = 0; k < s->n_plugins; k++)
		if (!(s->plugins[k].p->flags & FS_PLUGIN_SAMPLES_OK))
			return true;
	return false;
}

const char *plugins_error(const struct fs_session *s)
{
	(void)s;
	return NULL;
}

/*
 * fs_packet's eight flag bools (syn, cwr, ece, urg, ack, psh, rst, fin, in
 * that order in memory) for each TCP flags byte: one 8-byte copy per packet
 * instead of eight tests.
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FLAG_SHIFT(k) (8 * (k))
#else
#define FLAG_SHIFT(k) (56 - 8 * (k))
#endif
#define FLAG(f, m, k) ((uint64_t)!!((f) & (m)) << FLAG_SHIFT(k))
#define FLAGS8(f)                                                                           \
	(FLAG(f, FC_TCP_SYN, 0) | FLAG(f, FC_TCP_CWR, 1) | FLAG(f, FC_TCP_ECE, 2) |         \
	 FLAG(f, FC_TCP_URG, 3) | FLAG(f, FC_TCP_ACK, 4) | FLAG(f, FC_TCP_PSH, 5) |         \
	 FLAG(f, FC_TCP_RST, 6) | FLAG(f, FC_TCP_FIN, 7))
#define FLAGS4(n) FLAGS8(n), FLAGS8((n) + 1), FLAGS8((n) + 2), FLAGS8((n) + 3)
#define FLAGS16(n) FLAGS4(n), FLAGS4((n) + 4), FLAGS4((n) + 8), FLAGS4((n) + 12)
#define FLAGS64(n) FLAGS16(n), FLAGS16((n) + 16), FLAGS16((n) + 32), FLAGS16((n) + 48)
static const uint64_t tcp_flag_bools[256] = { FLAGS64(0), FLAGS64(64), FLAGS64(128), FLAGS64(192) };
_Static_assert(offsetof(struct fs_packet, fin) == offsetof(struct fs_packet, syn) + 7 &&
	       sizeof(bool) == 1, "fs_packet's flags are eight consecutive bytes");

/* NFPacket from the engine's packet (its bytes when a plugin reads them),
 * field by field: the struct's padding is never read. */
static void packet_of(struct fs_packet *pk, const struct pkt *p, int dir, uint64_t delta,
		      bool bytes)
{
	pk->time = p->time_ms;
	pk->delta_time = delta;
	pk->direction = (uint8_t)dir;
	pk->ip_version = p->ip_version;
	pk->protocol = p->protocol;
	pk->tunnel_id = p->tunnel_id;
	pk->vlan_id = p->vlan_id;
	pk->src_port = p->src_port;
	pk->dst_port = p->dst_port;
	pk->raw_size = p->raw_size;
	pk->ip_size = p->ip_size;
	pk->transport_size = p->transport_size;
	pk->payload_size = p->payload_size;
	memcpy(&pk->syn, &tcp_flag_bools[p->tcp_flags], 8);
	pk->src_ip = p->src_ip;
	pk->dst_ip = p->dst_ip;
	pk->src_mac = p->src_mac;
	pk->dst_mac = p->dst_mac;
	if (bytes) {
		pk->ip_packet = p->ip;
		pk->ip_packet_len = p->ip_caplen;
		pk->payload = p->payload;
		pk->payload_len = p->payload_caplen;
	} else {
		pk->ip_packet = pk->payload = NULL;
		pk->ip_packet_len = pk->payload_len = 0;
	}
}

/*
 * A callback round's view of live flow @f: one for every plugin of the
 * round (each gets its own host and index); texts or lists that one
 * fs_flow_get() made are freed at the end of the round (the flow does not
 * change within it).
 */
static void view_of(struct fs_flow *w, struct fs_session *s, struct flow *f, int expiration_id)
{
	*w = (struct fs_flow){
		.s = s,
		.f = f,
		.id = (uint64_t)-1,
		.expiration_id = expiration_id,
	};
}

static inline void view_for(struct fs_flow *w, struct fs_session *s, size_t k)
{
	w->host = &s->plugins[k];
	w->plugin = k;
}

static void view_done(struct fs_flow *w)
{
	if (w->text || w->lists) {
		free(w->text);
		free(w->lists);
	}
}

static bool on_init(void *arg, struct flow *f, const struct pkt *p)
{
	struct fs_session *s = arg;
	struct fs_packet pk;
	struct fs_flow w;

	packet_of(&pk, p, 0, 0, s->plugin_engine->ep.reads_bytes);
	view_of(&w, s, f, 0);
	for (size_t k = 0; k < s->n_plugins; k++) {
		const struct fs_plugin *pl = s->plugins[k].p;

		if (pl->on_init) {
			view_for(&w, s, k);
			pl->on_init(&pk, &w, s->plugins[k].state);
		}
	}
	view_done(&w);
	return f->custom_expiry;
}

static bool on_update(void *arg, struct flow *f, const struct pkt *p, int dir, uint64_t delta)
{
	struct fs_session *s = arg;
	struct fs_packet pk;
	struct fs_flow w;

	packet_of(&pk, p, dir, delta, s->plugin_engine->ep.reads_bytes);
	view_of(&w, s, f, 0);
	for (size_t k = 0; k < s->n_plugins; k++) {
		const struct fs_plugin *pl = s->plugins[k].p;

		if (pl->on_update) {
			view_for(&w, s, k);
			pl->on_update(&pk, &w, s->plugins[k].state);
		}
	}
	view_done(&w);
	return f->custom_expiry;
}

static void on_expire(void *arg, struct flow *f, int expiration_id)
{
	struct fs_session *s = arg;
	struct fs_flow w;

	view_of(&w, s, f, expiration_id);
	for (size_t k = 0; k < s->n_plugins; k++) {
		const struct fs_plugin *pl = s->plugins[k].p;

		if (pl->on_expire) {
			view_for(&w, s, k);
			pl->on_expire(&w, s->plugins[k].state);
		}
	}
	view_done(&w);
}

void plugins_engine(struct fs_session *s, struct engine_opts *eo)
{
	struct plugins *ps;
	uint32_t n = 0;
	size_t bytes = 0;
	bool reads = false;

	if (!s->n_plugins)
		return;
	for (size_t k = 0; k < s->n_plugins; k++) {
		n += (uint32_t)s->plugins[k].p->n_columns;
		bytes += (s->plugins[k].state_bytes + 15) & ~(size_t)15;
		if (!(s->plugins[k].p->flags & FS_PLUGIN_NO_BYTES))
			reads = true;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return;
	ps->s = s;
	ps->ep = (struct engine_plugins){
		.n_values = n,
		.state_bytes = bytes,
		.reads_bytes = reads,
		.on_init = on_init,
		.on_update = on_update,
		.on_expire = on_expire,
		.arg = s,
	};
	s->plugin_engine = ps;
	eo->plugins = &ps->ep;
}

void plugins_free(struct fs_session *s)
{
	for (size_t k = 0; k < s->n_plugins; k++) {
		struct plugin_host *h = &s->plugins[k];

		if (h->inited && h->p->cleanup)
			h->p->cleanup(h->state);
		if (h->dl)
			dlclose(h->dl);
		free(h->path);
		free(h->config);
	}
	free(s->plugins);
	free(s->plugin_engine);
}

/* ---- the flow in a callback (plugin.h) ---------------------------------- */

static struct udp_value *udp_of(struct fs_flow *w, size_t col, enum fs_type want)
{
	const struct plugin_host *h = w->host;

	if (!h || col >= h->p->n_columns || h->p->columns[col].type != want || !w->f->udps)
		return NULL;
	return &w->f->udps->v[h->col_base + col];
}

static void udp_clear(struct udp_value *u)
{
	if (u->type == UDP_STR || u->type == UDP_LIST)
		free(u->v.s);
	u->type = UDP_NONE;
}

int fs_flow_set_int(struct fs_flow *w, size_t col, int64_t v)
{
	struct udp_value *u = udp_of(w, col, FS_INT);

	if (!u)
		return -EINVAL;
	u->type = UDP_INT;
	u->v.i = v;
	return 0;
}

int fs_flow_set_float(struct fs_flow *w, size_t col, double v)
{
	struct udp_value *u = udp_of(w, col, FS_FLOAT);

	if (!u)
		return -EINVAL;
	u->type = UDP_FLOAT;
	u->v.f = v;
	return 0;
}

int fs_flow_set_str(struct fs_flow *w, size_t col, const char *s)
{
	struct udp_value *u = udp_of(w, col, FS_STR);
	char *c;

	if (!u || !s)
		return -EINVAL;
	c = strdup(s);
	if (!c)
		return -ENOMEM;
	udp_clear(u);
	u->type = UDP_STR;
	u->v.s = c;
	u->n = (uint32_t)strlen(c);
	return 0;
}

int fs_flow_set_list(struct fs_flow *w, size_t col, const int64_t *v, size_t n)
{
	struct udp_value *u = udp_of(w, col, FS_LIST);
	int64_t *c;

	if (!u || (n && !v))
		return -EINVAL;
	c = malloc((n ? n : 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (n)
		memcpy(c, v, n * sizeof(*c));
	udp_clear(u);
	u->type = UDP_LIST;
	u->v.list = c;
	u->n = (uint32_t)n;
	return 0;
}

int fs_flow_set_none(struct fs_flow *w, size_t col)
{
	const struct plugin_host *h = w->host;

	if (!h || col >= h->p->n_columns || !w->f->udps)
		return -EINVAL;
	udp_clear(&w->f->udps->v[h->col_base + col]);
	return 0;
}

int fs_flow_get_udp(const struct fs_flow *cw, size_t col, struct fs_value *v)
{
	const struct plugin_host *h = cw->host;
	struct col_value cv;

	if (!h || col >= h->p->n_columns || !cw->f->udps)
		return -EINVAL;
	col_udp_value(&cw->f->udps->v[h->col_base + col], &cv);
	*v = (struct fs_value){
		.type = h->p->columns[col].type,
		.is_null = cv.is_null,
		.i = cv.i,
		.f = cv.f,
		.s = cv.s,
		.len = strlen(cv.s),
		.list = cv.list,
		.n = cv.n,
	};
	return 0;
}

void *fs_flow_state(struct fs_flow *w)
{
	if (!w->host || !w->f->udps || !w->host->state_bytes)
		return NULL;
	return w->f->udps->state + w->host->state_off;
}

int fs_plugin_set_flow_state_bytes(size_t n)
{
	if (!initialising || n > (1u << 30))
		return -EINVAL;
	initialising->state_bytes = n;
	return 0;
}

void fs_flow_expire(struct fs_flow *w)
{
	w->f->custom_expiry = 1;
}

uint64_t fs_flow_packets(const struct fs_flow *w)
{
	return w->f->dir_packets[0] + w->f->dir_packets[1];
}

uint64_t fs_flow_src2dst_packets(const struct fs_flow *w)
{
	return w->f->dir_packets[0];
}

uint64_t fs_flow_dst2src_packets(const struct fs_flow *w)
{
	return w->f->dir_packets[1];
}
