// SPDX-License-Identifier: GPL-2.0-only
/*
 * Owner of build/capture.skel.h: load, attach, drain and detach the
 * kernel capture.  Filters are attached to clsact at a fixed handle and
 * priority, so a filter left behind by a crashed run is found and replaced
 * on the next start, and removed on every exit path.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "util/bpf_log.h"
#include "util/log.h"
#include "capture/ebpf_tc.h"
/* after fc_flow.h: the skeleton names its types */
#include "capture.skel.h"

#define FS_TC_HANDLE 0xf10f
#define FS_TC_PRIO 0xf10f
#define DRAIN_BATCH 4096

#define FC_COUNTER_NAME(name, text) [name] = text,
static const char *const counter_names[FC_CNT__MAX] = { FC_COUNTERS(FC_COUNTER_NAME) };
#undef FC_COUNTER_NAME

struct ebpf_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	bool loopback;
	bool created_qdisc; /* clsact was ours: destroy it at exit */
	bool attached[2];   /* [0] ingress, [1] egress */
};

struct ebpf_capture {
	struct capture_bpf *skel;
	struct ring_buffer *rb;
	struct ebpf_iface *ifs;
	int n_ifs;
	int fd_flows[2], fd_ctl, fd_counters, fd_sync_outer, fd_sync_inner;
	/* ring-buffer callback target, valid during poll/consume */
	ebpf_event_fn ev_fn;
	void *ev_arg;
	/* drain scratch */
	struct fc_flow_key *keys, *stale;
	struct fc_flow_val *vals;
	bool no_batch;
};

const char *ebpf_counter_name(enum fc_counter i)
{
	return (unsigned)i < FC_CNT__MAX ? counter_names[i] : "?";
}

static int read_sys_int(const char *ifname, const char *attr, long *out)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ok = fscanf(f, "%li", out) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

int ebpf_capture_probe(char *why, size_t n)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		snprintf(why, n, "kernel BTF /sys/kernel/btf/vmlinux is missing (CONFIG_DEBUG_INFO_BTF)");
		return -ENOENT;
	}
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL) <= 0) {
		snprintf(why, n, "cannot load a TC program (needs root or CAP_BPF+CAP_NET_ADMIN)");
		return -EPERM;
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) <= 0) {
		snprintf(why, n, "the kernel has no BPF ring buffer (needs Linux 5.8)");
		return -EOPNOTSUPP;
	}
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_spin_lock, NULL) <= 0) {
		snprintf(why, n, "TC programs cannot use bpf_spin_lock on this kernel");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* Remove our filter at @point if present (left by a crashed run). */
static void tc_remove_stale(struct ebpf_iface *ifc, enum bpf_tc_attach_point point)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex, .attach_point = point);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = FS_TC_HANDLE, .priority = FS_TC_PRIO);

	if (bpf_tc_query(&hook, &q))
		return;
	pr_info("removing a capture filter left on '%s' by an earlier run\n", ifc->name);
	q.prog_fd = q.prog_id = q.flags = 0;
	bpf_tc_detach(&hook, &q);
}

static int tc_attach(struct ebpf_iface *ifc, int egress, int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
			    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = FS_TC_HANDLE, .priority = FS_TC_PRIO,
			    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	tc_remove_stale(ifc, hook.attach_point);
	err = bpf_tc_attach(&hook, &o);
	if (err) {
		pr_warn("cannot attach the %s capture program to '%s': %s\n",
			egress ? "egress" : "ingress", ifc->name, strerror(-err));
		return err;
	}
	ifc->attached[egress] = true;
	return 0;
}

static void tc_detach_all(struct ebpf_iface *ifc)
{
	for (int e = 0; e < 2; e++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
				    .attach_point = e ? BPF_TC_EGRESS : BPF_TC_INGRESS);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = FS_TC_HANDLE,
				    .priority = FS_TC_PRIO);
		int err;

		if (!ifc->attached[e])
			continue;
		err = bpf_tc_detach(&hook, &o);
		if (err && err != -ENOENT && err != -ENODEV)
			pr_warn("cannot detach the capture program from '%s': %s\n", ifc->name,
				strerror(-err));
		ifc->attached[e] = false;
	}
	if (ifc->created_qdisc) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		bpf_tc_hook_destroy(&hook);
		ifc->created_qdisc = false;
	}
}

int ebpf_capture_check_iface(const char *name, char *why, size_t n)
{
	long type = 0;

	if (!if_nametoindex(name)) {
		snprintf(why, n, "no such interface");
		return -ENODEV;
	}
	if (read_sys_int(name, "type", &type) == 0 && type != 1 && type != 772) {
		snprintf(why, n, "link type %ld has no Ethernet header", type);
		return -EOPNOTSUPP;
	}
	return 0;
}

static int iface_setup(struct ebpf_iface *ifc, const char *name)
{
	char why[96];
	long flags = 0;
	int err = ebpf_capture_check_iface(name, why, sizeof(why));

	if (err) {
		pr_warn("cannot capture on '%s'%s: %s%s\n", name, err == -ENODEV ? "" : " with ebpf",
			why, err == -ENODEV ? "" : " (use --capture pcap)");
		return err;
	}
	snprintf(ifc->name, sizeof(ifc->name), "%s", name);
	ifc->ifindex = (int)if_nametoindex(name);
	if (read_sys_int(name, "flags", &flags) == 0)
		ifc->loopback = (flags & IFF_LOOPBACK) != 0;
	return 0;
}

static int iface_attach(struct ebpf_capture *c, struct ebpf_iface *ifc)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST) {
		pr_warn("cannot add a clsact qdisc to '%s': %s\n", ifc->name, strerror(-err));
		return err;
	}
	ifc->created_qdisc = !err;
	err = tc_attach(ifc, 0, bpf_program__fd(c->skel->progs.fs_tc_ingress));
	/* On loopback each packet passes egress and then ingress: count it once. */
	if (!err && !ifc->loopback)
		err = tc_attach(ifc, 1, bpf_program__fd(c->skel->progs.fs_tc_egress));
	return err;
}

void ebpf_capture_sync_clock(struct ebpf_capture *c)
{
	struct timespec rt, mono;
	int64_t off;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &rt);
	off = ((int64_t)rt.tv_sec - mono.tv_sec) * 1000000000LL + (rt.tv_nsec - mono.tv_nsec);
	__atomic_store_n(&c->skel->bss->mono_to_real_ns, (uint64_t)off, __ATOMIC_RELAXED);
}

static int configure(struct ebpf_capture *c, const struct ebpf_capture_opts *o)
{
	struct capture_bpf *s = c->skel;
	int err = 0;

	s->rodata->cfg.n_samples = o->n_samples;
	s->rodata->cfg.snaplen = o->snaplen > FC_SNAP_MAX ? FC_SNAP_MAX : o->snaplen;
	s->rodata->cfg.accounting_mode = o->accounting_mode;
	s->rodata->cfg.decode_tunnels = o->decode_tunnels;
	if (o->flow_map_entries) {
		err = bpf_map__set_max_entries(s->maps.flows_a, o->flow_map_entries);
		if (!err)
			err = bpf_map__set_max_entries(s->maps.flows_b, o->flow_map_entries);
	}
	if (!err && o->ringbuf_bytes)
		err = bpf_map__set_max_entries(s->maps.events, o->ringbuf_bytes);
	return err;
}

static int ringbuf_cb(void *ctx, void *data, size_t size)
{
	struct ebpf_capture *c = ctx;
	const struct fc_event *ev = data;

	if (size < sizeof(*ev) || size < sizeof(*ev) + ev->caplen)
		return 0;
	if (c->ev_fn)
		c->ev_fn(ev, (const uint8_t *)(ev + 1), c->ev_arg);
	return 0;
}

int ebpf_capture_open(const struct ebpf_capture_opts *o, struct ebpf_capture **out)
{
	struct bpf_logs logs;
	struct ebpf_capture *c;
	uint32_t zero = 0;
	int err, i;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ifs = calloc((size_t)o->n_ifaces, sizeof(*c->ifs));
	c->keys = calloc(DRAIN_BATCH, sizeof(*c->keys));
	c->vals = calloc(DRAIN_BATCH, sizeof(*c->vals));
	c->stale = calloc(DRAIN_BATCH, sizeof(*c->stale));
	if (!c->ifs || !c->keys || !c->vals || !c->stale) {
		err = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < o->n_ifaces; i++) {
		err = iface_setup(&c->ifs[i], o->ifaces[i]);
		if (err)
			goto out_free;
	}
	c->n_ifs = o->n_ifaces;

	c->skel = capture_bpf__open();
	if (!c->skel) {
		err = -errno;
		pr_warn("cannot open the capture BPF object: %s\n", strerror(-err));
		goto out_free;
	}
	err = configure(c, o);
	if (err) {
		pr_warn("cannot configure the capture BPF object: %s\n", strerror(-err));
		goto out_destroy;
	}
	err = bpf_logs_attach(&logs, c->skel->obj);
	if (!err)
		err = capture_bpf__load(c->skel);
	if (err) {
		char last[160];
		const char *refused = bpf_logs_refused(&logs, c->skel->obj, last, sizeof(last));

		if (refused)
			pr_warn("cannot load the capture BPF programs: the kernel refused '%s': %s\n",
				refused, last);
		else
			pr_warn("cannot load the capture BPF programs: %s%s\n", strerror(-err),
				err == -EPERM ? " (needs root or CAP_BPF, CAP_NET_ADMIN and "
						"CAP_PERFMON)" : "");
		bpf_logs_release(&logs);
		goto out_destroy;
	}
	bpf_logs_release(&logs);
	c->fd_flows[0] = bpf_map__fd(c->skel->maps.flows_a);
	c->fd_flows[1] = bpf_map__fd(c->skel->maps.flows_b);
	c->fd_ctl = bpf_map__fd(c->skel->maps.flow_ctl);
	c->fd_counters = bpf_map__fd(c->skel->maps.counters);
	c->fd_sync_outer = bpf_map__fd(c->skel->maps.sync_outer);
	c->fd_sync_inner = bpf_map__fd(c->skel->maps.sync_inner);
	/* The outer map must hold a map before updates of it mean anything. */
	err = bpf_map_update_elem(c->fd_sync_outer, &zero, &c->fd_sync_inner, BPF_ANY);
	if (err) {
		err = -errno;
		pr_warn("cannot set up the drain barrier map: %s\n", strerror(-err));
		goto out_destroy;
	}
	ebpf_capture_sync_clock(c);
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events), ringbuf_cb, c, NULL);
	if (!c->rb) {
		err = -errno;
		pr_warn("cannot open the capture ring buffer: %s\n", strerror(-err));
		goto out_destroy;
	}
	for (i = 0; i < c->n_ifs; i++) {
		err = iface_attach(c, &c->ifs[i]);
		if (err)
			goto out_detach;
	}
	*out = c;
	return 0;

out_detach:
	for (i = 0; i < c->n_ifs; i++)
		tc_detach_all(&c->ifs[i]);
	ring_buffer__free(c->rb);
out_destroy:
	capture_bpf__destroy(c->skel);
out_free:
	free(c->ifs);
	free(c->keys);
	free(c->vals);
	free(c->stale);
	free(c);
	return err;
}

void ebpf_capture_detach(struct ebpf_capture *c)
{
	for (int i = 0; i < c->n_ifs; i++)
		tc_detach_all(&c->ifs[i]);
}

void ebpf_capture_close(struct ebpf_capture *c)
{
	if (!c)
		return;
	ebpf_capture_detach(c);
	ring_buffer__free(c->rb);
	capture_bpf__destroy(c->skel);
	free(c->ifs);
	free(c->keys);
	free(c->vals);
	free(c->stale);
	free(c);
}

int ebpf_capture_poll(struct ebpf_capture *c, int timeout_ms, ebpf_event_fn fn, void *arg)
{
	int n;

	c->ev_fn = fn;
	c->ev_arg = arg;
	n = ring_buffer__poll(c->rb, timeout_ms);
	c->ev_fn = NULL;
	return n;
}

int ebpf_capture_consume(struct ebpf_capture *c, ebpf_event_fn fn, void *arg)
{
	int n;

	c->ev_fn = fn;
	c->ev_arg = arg;
	n = ring_buffer__consume(c->rb);
	c->ev_fn = NULL;
	return n;
}

/* Wait until no program still runs with the old value of active_map. */
static int wait_for_programs(struct ebpf_capture *c)
{
	uint32_t zero = 0;

	/* Updating a map-in-map waits for an RCU grace period (the kernel's
	 * maybe_wait_bpf_programs()): every TC program that started before
	 * has returned, and TC programs run under rcu_read_lock. */
	if (bpf_map_update_elem(c->fd_sync_outer, &zero, &c->fd_sync_inner, BPF_ANY))
		return -errno;
	return 0;
}

/* Delete the @n keys at @k from @fd (entries no program can write). */
static void delete_keys(struct ebpf_capture *c, int fd, struct fc_flow_key *k, __u32 n)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, bo);

	while (n && !c->no_batch) {
		__u32 count = n;

		if (!bpf_map_delete_batch(fd, k, &count, &bo))
			return;
		if (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP) {
			c->no_batch = true;
			break;
		}
		/* stopped at a key that is gone already: skip it */
		count++;
		if (count >= n)
			return;
		k += count;
		n -= count;
	}
	for (__u32 i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &k[i]);
}

/*
 * Hand the @n entries at c->keys/c->vals that hold interval @stamp to @fn
 * and delete the others: they stayed idle a whole interval of their map,
 * and their data was read at an earlier drain.  Returns the entries handed.
 */
static int sort_entries(struct ebpf_capture *c, int fd, __u32 n, __u32 stamp, ebpf_batch_fn fn,
			void *arg)
{
	__u32 cur = 0, stale = 0;

	for (__u32 i = 0; i < n; i++) {
		if (c->vals[i].interval == stamp) {
			if (cur != i) {
				c->keys[cur] = c->keys[i];
				c->vals[cur] = c->vals[i];
			}
			cur++;
		} else {
			c->stale[stale++] = c->keys[i];
		}
	}
	if (cur)
		fn(c->keys, c->vals, (int)cur, arg);
	delete_keys(c, fd, c->stale, stale);
	return (int)cur;
}

/* drain_map() for kernels without batch operations: every key first (a
 * walk must not delete), then lookups and deletes. */
static int drain_map_per_key(struct ebpf_capture *c, int fd, __u32 stamp, ebpf_batch_fn fn,
			     void *arg)
{
	struct fc_flow_key *all = NULL, *grown;
	size_t n = 0, cap = 0;
	int total = 0;

	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : DRAIN_BATCH;
			grown = realloc(all, cap * sizeof(*all));
			if (!grown) {
				free(all);
				return -ENOMEM;
			}
			all = grown;
		}
		if (bpf_map_get_next_key(fd, n ? &all[n - 1] : NULL, &all[n]))
			break;
		n++;
	}
	for (size_t b = 0; b < n; b += DRAIN_BATCH) {
		__u32 m = n - b < DRAIN_BATCH ? (__u32)(n - b) : DRAIN_BATCH, got = 0;

		for (__u32 i = 0; i < m; i++) {
			c->keys[got] = all[b + i];
			if (!bpf_map_lookup_elem(fd, &c->keys[got], &c->vals[got]))
				got++;
		}
		total += sort_entries(c, fd, got, stamp, fn, arg);
	}
	free(all);
	return total;
}

/* Read the entries of interval @stamp from @fd, which no program writes any
 * more, and delete those of older intervals. */
static int drain_map(struct ebpf_capture *c, int fd, __u32 stamp, ebpf_batch_fn fn, void *arg)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, bo);
	__u32 in_batch = 0, out_batch = 0;
	bool first = true;
	int total = 0, err;

	while (!c->no_batch) {
		__u32 count = DRAIN_BATCH;

		err = bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, c->keys,
					   c->vals, &count, &bo);
		if (err && errno != ENOENT) {
			if (first && (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP)) {
				c->no_batch = true; /* older kernel: per-key below */
				break;
			}
			return -errno;
		}
		total += sort_entries(c, fd, count, stamp, fn, arg);
		if (err) /* ENOENT: no more entries */
			return total;
		in_batch = out_batch;
		first = false;
	}
	return drain_map_per_key(c, fd, stamp, fn, arg);
}

int ebpf_capture_drain_batch(struct ebpf_capture *c, ebpf_batch_fn fn, void *arg)
{
	uint32_t old = __atomic_load_n(&c->skel->bss->interval, __ATOMIC_RELAXED);
	int err;

	__atomic_store_n(&c->skel->bss->interval, old + 1, __ATOMIC_SEQ_CST);
	err = wait_for_programs(c);
	if (err) {
		pr_warn("cannot wait for the capture programs: %s\n", strerror(-err));
		return err;
	}
	return drain_map(c, c->fd_flows[old & 1], old, fn, arg);
}

struct entry_fn {
	ebpf_entry_fn fn;
	void *arg;
};

static void each_entry(const struct fc_flow_key *k, const struct fc_flow_val *v, int n, void *arg)
{
	const struct entry_fn *e = arg;

	for (int i = 0; i < n; i++)
		e->fn(&k[i], &v[i], e->arg);
}

int ebpf_capture_drain(struct ebpf_capture *c, ebpf_entry_fn fn, void *arg)
{
	struct entry_fn e = { fn, arg };

	return ebpf_capture_drain_batch(c, each_entry, &e);
}

void ebpf_capture_samples_done(struct ebpf_capture *c, const struct fc_flow_key *k)
{
	struct fc_flow_ctl v = { .sampled = UINT32_MAX, .done = 1 };

	bpf_map_update_elem(c->fd_ctl, k, &v, BPF_EXIST);
}

void ebpf_capture_forget(struct ebpf_capture *c, const struct fc_flow_key *k)
{
	bpf_map_delete_elem(c->fd_ctl, k);
}

void ebpf_capture_forget_many(struct ebpf_capture *c, struct fc_flow_key *k, size_t n)
{
	while (n) {
		__u32 m = n > DRAIN_BATCH ? DRAIN_BATCH : (__u32)n;

		/* delete_keys() skips keys without sampling state (punted
		 * flows, a full ctl map) */
		delete_keys(c, c->fd_ctl, k, m);
		k += m;
		n -= m;
	}
}

void ebpf_capture_counters(struct ebpf_capture *c, uint64_t out[FC_CNT__MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	struct fc_counters *v;
	uint32_t zero = 0;

	memset(out, 0, sizeof(uint64_t) * FC_CNT__MAX);
	if (ncpu <= 0)
		return;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return;
	if (!bpf_map_lookup_elem(c->fd_counters, &zero, v))
		for (int i = 0; i < ncpu; i++)
			for (int k = 0; k < FC_CNT__MAX; k++)
				out[k] += v[i].c[k];
	free(v);
}

int ebpf_capture_prog_fd(const struct ebpf_capture *c, bool egress)
{
	return bpf_program__fd(egress ? c->skel->progs.fs_tc_egress : c->skel->progs.fs_tc_ingress);
}
