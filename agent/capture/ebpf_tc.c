// SPDX-License-Identifier: GPL-2.0-only
/*
 * Owner of build/capture.skel.h: load, attach, drain and detach the
 * kernel capture.  Several agents share an interface, each seeing every
 * packet (the programs always let the packet go on, TC_ACT_UNSPEC):
 *
 * - with tcx (Linux 6.6+, probed by trying it): one bpf_link per hook,
 *   appended after the programs already there; the kernel removes it when
 *   the agent exits, however it exits.
 * - else (Linux 6.1): a cls_bpf filter per hook on the clsact qdisc, all
 *   agents at priority FS_TC_PRIO, each with its own handle: the agent's
 *   pid, a sequence number (two sessions of one process) and whether the
 *   qdisc was made by an agent.  A filter whose agent is gone (no such
 *   process, or one that holds no fd of the filter's program) is removed
 *   by the next agent; at exit an agent removes exactly its own filters,
 *   and the qdisc only when an agent made it and nothing at all is left
 *   on it.  The steps that look and change run under a lock file
 *   (/run/lock/flowsight-tc-<netns>.lock), so two agents never race, and
 *   filters removed by someone else are put back (ebpf_capture_check()).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "util/bpf_log.h"
#include "util/log.h"
#include "capture/ebpf_tc.h"
/* after fc_flow.h: the skeleton names its types */
#include "capture.skel.h"
#include "util/grow.h"

#define FS_TC_PRIO 0xf10f
/* handle: bit 31 "an agent made the qdisc", 9 bits of sequence, 22 of pid */
#define H_QDISC_OURS 0x80000000u
#define H_SEQ_SHIFT 22
#define H_SEQ_MAX 0x1ffu
#define H_PID_MASK 0x3fffffu
#define DRAIN_BATCH 4096
/* BPF_TCX_INGRESS/EGRESS of Linux 6.6 (the build's headers may predate them) */
#define FS_BPF_TCX_INGRESS 46
#define FS_BPF_TCX_EGRESS 47
#define FS_ENOTSUPP 524
#define MAX_FILTERS 256

#define FC_COUNTER_NAME(name, text) [name] = text,
static const char *const counter_names[FC_CNT__MAX] = { FC_COUNTERS(FC_COUNTER_NAME) };
#undef FC_COUNTER_NAME

struct ebpf_iface {
	char name[IF_NAMESIZE];
	int ifindex;        /* attached to; 0 once it went away */
	int old_ifindex;    /* the one before: its last packets may still be drained */
	bool loopback;
	bool attached[2];   /* [0] ingress, [1] egress */
	int link_fd[2];     /* tcx links, -1 */
	uint32_t handle;    /* TC: our filters' handle on both hooks */
	bool qdisc_ours;    /* TC: an agent made the clsact qdisc */
};

struct ebpf_capture {
	struct capture_bpf *skel;
	struct ring_buffer *rb;
	struct ebpf_iface *ifs;
	int n_ifs;
	enum ebpf_attach want; /* what the caller asked for */
	enum ebpf_attach mode; /* AUTO until the first attach tells */
	int fd_flows[2], fd_ctl, fd_counters, fd_sync_outer, fd_sync_inner;
	/* ring-buffer callback target, valid during poll/consume */
	ebpf_event_fn ev_fn;
	void *ev_arg;
	/* drain scratch */
	struct fc_flow_key *keys, *stale;
	struct fc_flow_val *vals;
	bool no_batch;
};

/* Two sessions of one process on one interface get different handles. */
static unsigned int handle_seq;

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

static int prog_fd(const struct ebpf_capture *c, int egress)
{
	return bpf_program__fd(egress ? c->skel->progs.fs_tc_egress : c->skel->progs.fs_tc_ingress);
}

/* On loopback each packet passes egress and then ingress: count it once. */
static int n_hooks(const struct ebpf_iface *ifc)
{
	return ifc->loopback ? 1 : 2;
}

/* ---- tcx ------------------------------------------------------------------ */

static void tcx_detach(struct ebpf_iface *ifc)
{
	for (int e = 0; e < 2; e++) {
		if (ifc->link_fd[e] < 0)
			continue;
		bpf_link_detach(ifc->link_fd[e]); /* fails once the device is gone: fine */
		close(ifc->link_fd[e]);
		ifc->link_fd[e] = -1;
		ifc->attached[e] = false;
	}
}

/* 0, or -errno (not logged: -EINVAL is how a kernel without tcx answers). */
static int tcx_attach(struct ebpf_capture *c, struct ebpf_iface *ifc)
{
	for (int e = 0; e < n_hooks(ifc); e++) {
		/* no flags, no anchor: appended after the programs already there */
		int fd = bpf_link_create(prog_fd(c, e), ifc->ifindex,
					 (enum bpf_attach_type)(e ? FS_BPF_TCX_EGRESS :
								FS_BPF_TCX_INGRESS), NULL);

		if (fd < 0) {
			tcx_detach(ifc);
			return fd;
		}
		ifc->link_fd[e] = fd;
		ifc->attached[e] = true;
	}
	return 0;
}

/* ---- TC filters ----------------------------------------------------------- */

struct tc_filter {
	uint32_t handle;
	uint16_t prio;
	uint32_t prog_id;
	char kind[16];
	char name[64]; /* cls_bpf's name: "<program>:[<id>]" */
};

/* Every filter on @ifindex's clsact hook (@egress): their number, or -errno. */
static int tc_list(int ifindex, int egress, struct tc_filter *out, int max)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
	} req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)), .nlmsg_type = RTM_GETTFILTER,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.tc = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex,
			.tcm_parent = TC_H_MAKE(TC_H_CLSACT,
						egress ? TC_H_MIN_EGRESS : TC_H_MIN_INGRESS) },
	};
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), n = 0, err = 0;

	if (fd < 0)
		return -errno;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		unsigned int len = (unsigned int)r;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		     nh = NLMSG_NEXT(nh, len)) {
			struct tcmsg *tc = NLMSG_DATA(nh);
			struct tc_filter f = { 0 };
			int alen;

			if (nh->nlmsg_type == NLMSG_DONE)
				goto out;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nh);

				err = e->error;
				goto out;
			}
			if (nh->nlmsg_type != RTM_NEWTFILTER ||
			    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*tc)))
				continue;
			f.handle = tc->tcm_handle;
			f.prio = (uint16_t)(TC_H_MAJ(tc->tcm_info) >> 16);
			alen = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*tc)));
			for (struct rtattr *a = (struct rtattr *)((char *)tc + NLMSG_ALIGN(sizeof(*tc)));
			     RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				if (a->rta_type == TCA_KIND) {
					snprintf(f.kind, sizeof(f.kind), "%.*s", (int)RTA_PAYLOAD(a),
						 (char *)RTA_DATA(a));
				} else if (a->rta_type == TCA_OPTIONS) {
					int olen = (int)RTA_PAYLOAD(a);

					for (struct rtattr *o = RTA_DATA(a); RTA_OK(o, olen);
					     o = RTA_NEXT(o, olen)) {
						if (o->rta_type == TCA_BPF_NAME)
							snprintf(f.name, sizeof(f.name), "%.*s",
								 (int)RTA_PAYLOAD(o),
								 (char *)RTA_DATA(o));
						else if (o->rta_type == TCA_BPF_ID &&
							 RTA_PAYLOAD(o) >= 4)
							memcpy(&f.prog_id, RTA_DATA(o), 4);
					}
				}
			}
			if (n < max)
				out[n] = f;
			n++;
		}
	}
out:
	close(fd);
	return err ? err : n;
}

/*
 * Does process @pid hold an fd of program @prog_id?  1 yes, 0 no (or no
 * such process), -1 cannot tell (its /proc is not ours to read).
 */
static int pid_holds_prog(int pid, uint32_t prog_id)
{
	char path[64], line[128];
	bool unknown = false;
	struct dirent *de;
	int found = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	d = opendir(path);
	if (!d)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	while (!found && (de = readdir(d))) {
		char fpath[sizeof(path) + sizeof(de->d_name) + 1];
		unsigned int id;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fpath, sizeof(fpath), "%s/%s", path, de->d_name);
		f = fopen(fpath, "r");
		if (!f) {
			unknown |= errno != ENOENT;
			continue;
		}
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "prog_id: %u", &id) == 1 && id == prog_id) {
				found = 1;
				break;
			}
		fclose(f);
	}
	closedir(d);
	return found ? 1 : unknown ? -1 : 0;
}

/* The agents' lock for one network namespace; -1 when none can be had
 * (no /run/lock): the steps then run unlocked. */
static int tc_lock(void)
{
	char path[96];
	struct stat st;
	int fd;

	if (stat("/proc/self/ns/net", &st))
		st.st_ino = 0;
	snprintf(path, sizeof(path), "/run/lock/flowsight-tc-%lu.lock", (unsigned long)st.st_ino);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd >= 0)
		fchmod(fd, 0644); /* whatever the umask: agents of other users lock it too */
	else
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) && errno == EINTR)
		;
	return fd;
}

static void tc_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the lock */
}

static bool is_agent_filter(const struct tc_filter *f)
{
	return f->handle && f->prio == FS_TC_PRIO && !strcmp(f->kind, "bpf") &&
	       !strncmp(f->name, "fs_tc_", 6);
}

static int tc_detach_one(int ifindex, int egress, uint32_t handle)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = handle, .priority = FS_TC_PRIO);

	return bpf_tc_detach(&hook, &o);
}

/*
 * Under the lock: remove the filters of agents that are gone, name those
 * that share the interface (-v), and say whether an agent made the qdisc.
 */
static bool tc_scan(struct ebpf_iface *ifc)
{
	struct tc_filter *fl = calloc(MAX_FILTERS, sizeof(*fl));
	uint32_t said[16]; /* an agent's filters on both hooks: one line */
	int n_said = 0;
	bool ours = false;

	if (!fl)
		return false;
	for (int e = 0; e < 2; e++) {
		int n = tc_list(ifc->ifindex, e, fl, MAX_FILTERS);

		for (int i = 0; i < n && i < MAX_FILTERS; i++) {
			int pid = (int)(fl[i].handle & H_PID_MASK);
			bool new_one = true;
			int alive;

			if (!is_agent_filter(&fl[i]))
				continue;
			ours |= (fl[i].handle & H_QDISC_OURS) != 0;
			alive = pid_holds_prog(pid, fl[i].prog_id);
			for (int k = 0; k < n_said; k++)
				new_one &= said[k] != fl[i].handle;
			if (new_one && n_said < 16)
				said[n_said++] = fl[i].handle;
			if (alive && new_one)
				pr_info("'%s': shared with flowsight pid %d%s (TC filter handle %#x)\n",
					ifc->name, pid, alive < 0 ? " (as far as /proc tells)" : "",
					fl[i].handle);
			else if (!alive && new_one)
				pr_warn("removing the capture filters left on '%s' by flowsight pid "
					"%d, which is gone\n", ifc->name, pid);
			if (!alive)
				tc_detach_one(ifc->ifindex, e, fl[i].handle);
		}
	}
	free(fl);
	return ours;
}

/* Under the lock: nothing is left on either hook. */
static bool tc_hooks_empty(int ifindex)
{
	struct tc_filter f[1];

	return tc_list(ifindex, 0, f, 1) == 0 && tc_list(ifindex, 1, f, 1) == 0;
}

/* Under the lock: our filters on the hooks where they are missing. */
static int tc_put_filters(struct ebpf_capture *c, struct ebpf_iface *ifc)
{
	for (int e = 0; e < n_hooks(ifc); e++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
				    .attach_point = e ? BPF_TC_EGRESS : BPF_TC_INGRESS);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = ifc->handle, .priority = FS_TC_PRIO,
				    .prog_fd = prog_fd(c, e));
		int err;

		if (ifc->attached[e])
			continue;
		err = bpf_tc_attach(&hook, &o); /* exclusive: never replaces a filter */
		if (err)
			return err;
		ifc->attached[e] = true;
	}
	return 0;
}

static void tc_remove_filters(struct ebpf_iface *ifc)
{
	for (int e = 0; e < 2; e++) {
		int err;

		if (!ifc->attached[e])
			continue;
		err = tc_detach_one(ifc->ifindex, e, ifc->handle);
		if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
			pr_warn("cannot detach the capture program from '%s': %s\n", ifc->name,
				strerror(-err));
		ifc->attached[e] = false;
	}
}

/* Under the lock: the qdisc goes when an agent made it and nothing is left. */
static void tc_release_qdisc(struct ebpf_iface *ifc)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

	if (ifc->qdisc_ours && tc_hooks_empty(ifc->ifindex))
		bpf_tc_hook_destroy(&hook);
	ifc->qdisc_ours = false;
}

static int tc_attach(struct ebpf_capture *c, struct ebpf_iface *ifc)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int lock = tc_lock(), err, tries;
	bool created;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		tc_unlock(lock);
		pr_warn("cannot add a clsact qdisc to '%s': %s\n", ifc->name, strerror(-err));
		return err;
	}
	created = !err;
	ifc->qdisc_ours = tc_scan(ifc) || created;
	for (tries = 0; tries <= (int)H_SEQ_MAX; tries++) {
		unsigned int seq = __atomic_fetch_add(&handle_seq, 1, __ATOMIC_RELAXED) & H_SEQ_MAX;

		ifc->handle = (ifc->qdisc_ours ? H_QDISC_OURS : 0) | seq << H_SEQ_SHIFT |
			      ((uint32_t)getpid() & H_PID_MASK);
		err = tc_put_filters(c, ifc);
		if (err != -EEXIST)
			break;
		tc_remove_filters(ifc); /* a handle in use: take the next */
	}
	if (err) {
		tc_remove_filters(ifc);
		tc_release_qdisc(ifc);
		tc_unlock(lock);
		pr_warn("cannot attach the capture program to '%s': %s\n", ifc->name,
			strerror(-err));
		return err;
	}
	tc_unlock(lock);
	pr_info("'%s': TC filters at priority %#x, handle %#x%s\n", ifc->name, FS_TC_PRIO,
		ifc->handle, created ? " (clsact qdisc added)" : "");
	return 0;
}

static void tc_detach(struct ebpf_iface *ifc)
{
	int lock;

	if (!ifc->attached[0] && !ifc->attached[1] && !ifc->qdisc_ours)
		return;
	lock = tc_lock();
	tc_remove_filters(ifc);
	tc_release_qdisc(ifc);
	tc_unlock(lock);
}

/* ---- interfaces ----------------------------------------------------------- */

static void iface_detach(struct ebpf_capture *c, struct ebpf_iface *ifc)
{
	if (c->mode == EBPF_ATTACH_TCX)
		tcx_detach(ifc);
	else if (ifc->ifindex)
		tc_detach(ifc);
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
	ifc->loopback = read_sys_int(name, "flags", &flags) == 0 && (flags & IFF_LOOPBACK);
	return 0;
}

static int iface_attach(struct ebpf_capture *c, struct ebpf_iface *ifc)
{
	int err;

	if (c->mode != EBPF_ATTACH_TC) {
		err = tcx_attach(c, ifc);
		if (!err) {
			if (c->mode == EBPF_ATTACH_AUTO)
				pr_info("ebpf: attached with tcx links\n");
			c->mode = EBPF_ATTACH_TCX;
			return 0;
		}
		if (c->mode == EBPF_ATTACH_TCX || c->want == EBPF_ATTACH_TCX ||
		    (err != -EINVAL && err != -EOPNOTSUPP && err != -FS_ENOTSUPP)) {
			pr_warn("cannot attach the capture program to '%s' (tcx): %s\n", ifc->name,
				strerror(-err));
			return err;
		}
		pr_info("ebpf: no tcx links on this kernel (%s): TC filters\n", strerror(-err));
		c->mode = EBPF_ATTACH_TC;
	}
	return tc_attach(c, ifc);
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
	c->want = o->attach;
	c->mode = o->attach == EBPF_ATTACH_TC ? EBPF_ATTACH_TC : EBPF_ATTACH_AUTO;
	for (i = 0; i < o->n_ifaces; i++) {
		c->ifs[i].link_fd[0] = c->ifs[i].link_fd[1] = -1;
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
	ebpf_capture_detach(c);
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
		iface_detach(c, &c->ifs[i]);
}

int ebpf_capture_n_ifaces(const struct ebpf_capture *c)
{
	return c->n_ifs;
}

int ebpf_capture_ifindex(const struct ebpf_capture *c, int i)
{
	return c->ifs[i].ifindex;
}

int ebpf_capture_iface_of(const struct ebpf_capture *c, int ifindex)
{
	for (int i = 0; i < c->n_ifs; i++)
		if (c->ifs[i].ifindex == ifindex || c->ifs[i].old_ifindex == ifindex)
			return i;
	return -1;
}

void ebpf_capture_iface_gone(struct ebpf_capture *c, int i)
{
	struct ebpf_iface *ifc = &c->ifs[i];

	/* the kernel removed the filters and the qdisc with the device, and
	 * detached the links: what is left is ours to forget */
	tcx_detach(ifc);
	ifc->attached[0] = ifc->attached[1] = false;
	ifc->qdisc_ours = false;
	if (ifc->ifindex)
		ifc->old_ifindex = ifc->ifindex;
	ifc->ifindex = 0;
}

int ebpf_capture_iface_attach(struct ebpf_capture *c, int i, int ifindex)
{
	struct ebpf_iface *ifc = &c->ifs[i];
	char name[IF_NAMESIZE];
	int err;

	snprintf(name, sizeof(name), "%s", ifc->name);
	if (ifc->ifindex)
		ebpf_capture_iface_gone(c, i);
	err = iface_setup(ifc, name);
	if (err)
		return err;
	if (ifc->ifindex != ifindex) { /* replaced again meanwhile: the next change tells */
		ifc->ifindex = 0;
		return -ENODEV;
	}
	err = iface_attach(c, ifc);
	if (err)
		ifc->ifindex = 0;
	return err;
}

int ebpf_capture_check(struct ebpf_capture *c)
{
	int put = 0;

	if (c->mode != EBPF_ATTACH_TC)
		return 0; /* links are not removed by tc(8) */
	for (int i = 0; i < c->n_ifs; i++) {
		struct ebpf_iface *ifc = &c->ifs[i];
		bool missing = false;
		int lock, err;

		for (int e = 0; e < n_hooks(ifc) && ifc->ifindex; e++) {
			DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
					    .attach_point = e ? BPF_TC_EGRESS : BPF_TC_INGRESS);
			DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = ifc->handle,
					    .priority = FS_TC_PRIO);

			err = bpf_tc_query(&hook, &q);
			if (err == -ENOENT || err == -EINVAL) {
				ifc->attached[e] = false;
				missing = true;
			}
		}
		/* the interface itself going away is the watcher's to tell */
		if (!missing || (int)if_nametoindex(ifc->name) != ifc->ifindex)
			continue;
		lock = tc_lock();
		err = bpf_tc_hook_create(&(struct bpf_tc_hook){ .sz = sizeof(struct bpf_tc_hook),
			.ifindex = ifc->ifindex, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS });
		if (!err)
			ifc->qdisc_ours = true;
		err = err && err != -EEXIST ? err : tc_put_filters(c, ifc);
		tc_unlock(lock);
		if (err) {
			pr_warn("the capture filters on '%s' were removed by another program, and "
				"cannot be attached again: %s\n", ifc->name, strerror(-err));
			return err;
		}
		pr_warn("the capture filters on '%s' were removed by another program: attached "
			"again (packets in between were not seen)\n", ifc->name);
		put++;
	}
	return put;
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
	struct fc_flow_key *all = NULL;
	size_t n = 0, cap = 0;
	int total = 0;

	for (;;) {
		if (grow_one(&all, &cap, n, DRAIN_BATCH)) {
			free(all);
			return -ENOMEM;
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

int ebpf_capture_drain_batch(struct ebpf_capture *c, ebpf_settled_fn settled, ebpf_batch_fn fn,
			     void *arg)
{
	uint32_t old = __atomic_load_n(&c->skel->bss->interval, __ATOMIC_RELAXED);
	int err;

	__atomic_store_n(&c->skel->bss->interval, old + 1, __ATOMIC_SEQ_CST);
	err = wait_for_programs(c);
	if (err) {
		pr_warn("cannot wait for the capture programs: %s\n", strerror(-err));
		return err;
	}
	if (settled)
		settled(old, arg);
	return drain_map(c, c->fd_flows[old & 1], old, fn, arg);
}

struct entry_fn {
	ebpf_settled_fn settled;
	ebpf_entry_fn fn;
	void *arg;
};

static void each_settled(uint32_t closed, void *arg)
{
	const struct entry_fn *e = arg;

	if (e->settled)
		e->settled(closed, e->arg);
}

static void each_entry(const struct fc_flow_key *k, const struct fc_flow_val *v, int n, void *arg)
{
	const struct entry_fn *e = arg;

	for (int i = 0; i < n; i++)
		e->fn(&k[i], &v[i], e->arg);
}

int ebpf_capture_drain(struct ebpf_capture *c, ebpf_settled_fn settled, ebpf_entry_fn fn,
		       void *arg)
{
	struct entry_fn e = { settled, fn, arg };

	return ebpf_capture_drain_batch(c, each_settled, each_entry, &e);
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
	return prog_fd(c, egress);
}
