// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel side of attribution: the hooks of bpf/sockets.bpf.c with what
 * each stands for and its fallback, the probes that say which this kernel
 * has, loading without the programs the verifier refuses (one line each),
 * attaching, and the start-up iterators over the sockets that exist.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockets.skel.h"
#include "util/bpf_log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr/attr_int.h"
#include "util/log.h"

/* ---- hooks, their probes and fallbacks ---------------------------------- */

enum hook_kind { HK_CGROUP, HK_TRACE, HK_ITER };

struct hook {
	const char *prog;
	const char *name;     /* what users know it as */
	enum hook_kind kind;
	const char *btf_tp;   /* tp_btf target, probed in vmlinux BTF */
	const char *fallback; /* what attribution does without it */
};

static const struct hook hooks[] = {
	{ "fs_sock_create", "cgroup/sock_create", HK_CGROUP, NULL,
	  "owners are named at the first connect, bind, send or receive" },
	{ "fs_connect4", "cgroup/connect4", HK_CGROUP, NULL,
	  "IPv4 clients are named at their first send (sock_send_length)" },
	{ "fs_connect6", "cgroup/connect6", HK_CGROUP, NULL,
	  "IPv6 clients are named at their first send (sock_send_length)" },
	{ "fs_sendmsg4", "cgroup/sendmsg4", HK_CGROUP, NULL,
	  "unconnected IPv4 UDP senders are named by sock_send_length" },
	{ "fs_sendmsg6", "cgroup/sendmsg6", HK_CGROUP, NULL,
	  "unconnected IPv6 UDP senders are named by sock_send_length" },
	{ "fs_recvmsg4", "cgroup/recvmsg4", HK_CGROUP, NULL,
	  "peers of unconnected IPv4 UDP servers match the bound port only" },
	{ "fs_recvmsg6", "cgroup/recvmsg6", HK_CGROUP, NULL,
	  "peers of unconnected IPv6 UDP servers match the bound port only" },
	{ "fs_post_bind4", "cgroup/post_bind4", HK_CGROUP, NULL,
	  "IPv4 listeners are not known before their first send or receive" },
	{ "fs_post_bind6", "cgroup/post_bind6", HK_CGROUP, NULL,
	  "IPv6 listeners are not known before their first send or receive" },
	{ "fs_sock_release", "cgroup/sock_release", HK_CGROUP, NULL,
	  "UDP sockets end at their last record plus the retention time" },
	{ "fs_egress", "cgroup_skb/egress", HK_CGROUP, NULL,
	  "tuples come from connected sockets (sock_send_length), recvmsg and bind" },
	{ "fs_egress_compat", "cgroup_skb/egress (without bpf_get_netns_cookie)", HK_CGROUP, NULL,
	  "tuples come from connected sockets (sock_send_length), recvmsg and bind" },
	{ "fs_send_length", "tp_btf/sock_send_length", HK_TRACE, "sock_send_length",
	  "senders are named by the cgroup hooks only (connect, sendmsg, bind)" },
	{ "fs_recv_length", "tp_btf/sock_recv_length", HK_TRACE, "sock_recv_length",
	  "accepted sockets are named at their first send, else by their listener" },
	{ "fs_exec", "tp_btf/sched_process_exec", HK_TRACE, "sched_process_exec",
	  "exe and cmdline are read from /proc while the process lives" },
	{ "fs_fork", "tp_btf/sched_process_fork", HK_TRACE, "sched_process_fork",
	  "exe and cmdline of forked children are read from /proc while they live" },
	{ "fs_exit", "tp_btf/sched_process_exit", HK_TRACE, "sched_process_exit",
	  "exited processes are kept for the retention time after their last record" },
	{ "fs_iter_task_file", "iter/task_file", HK_ITER, NULL,
	  "sockets older than flowsight are named at their next send or receive" },
	/* iter/tcp and iter/udp announce the sockets task_file found held */
	{ "fs_iter_tcp", "iter/tcp", HK_ITER, NULL,
	  "TCP sockets older than flowsight are named at their next send or receive, and "
	  "connections the kernel finishes after close() by their bound port" },
	{ "fs_iter_udp", "iter/udp", HK_ITER, NULL,
	  "UDP sockets older than flowsight are named at their next send or receive, and "
	  "in-kernel UDP sockets (tunnels) by nobody" },
};
#define N_HOOKS (sizeof(hooks) / sizeof(hooks[0]))
_Static_assert(N_HOOKS == ATTR_N_HOOKS, "attr_int.h's ATTR_N_HOOKS");

/* ---- set-up ------------------------------------------------------------ */

static bool attr_btf_has_tp(const struct btf *vmlinux, const char *tp)
{
	char name[128];

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	return vmlinux && btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) > 0;
}

#define CG_PRIVATE "/run/flowsight/cgroup2"

static int attr_cgroup2_root(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int fd = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], fstype[64];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	}
	fclose(f);
	if (fd >= 0)
		return fd;
	/* Not visible here (`ip netns exec` remounts /sys, for one): there
	 * is only one cgroup v2 hierarchy, so a private mount of it is the
	 * same hierarchy. */
	mkdir("/run/flowsight", 0700);
	mkdir(CG_PRIVATE, 0700);
	if (mount("cgroup2", CG_PRIVATE, "cgroup2", 0, NULL) && errno != EBUSY)
		return -1;
	return open(CG_PRIVATE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A hook that runs for sockets (all but the process events and the
 * start-up iterators). */
static bool attr_socket_hook(const struct hook *h)
{
	return h->kind != HK_ITER && !(h->btf_tp && !strncmp(h->btf_tp, "sched_process_", 14));
}

/* attr_opts.disable: hooks (program or user-facing names, or "sockets" for
 * every socket hook) left out, as on a kernel without them. */
static bool attr_disabled_by_opts(const struct attr *a, const struct hook *h)
{
	char list[512], *tok, *save;

	if (!a->o.disable)
		return false;
	snprintf(list, sizeof(list), "%s", a->o.disable);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, h->name) || !strcmp(tok, h->prog) ||
		    (!strcmp(tok, "sockets") && attr_socket_hook(h)))
			return true;
	return false;
}

static void attr_hook_missing(struct attr *a, size_t i, const char *why)
{
	a->disabled[i] = true;
	if (!strcmp(hooks[i].prog, "fs_egress_compat") || !strcmp(hooks[i].prog, "fs_egress"))
		if (!strcmp(why, "its variant is used"))
			return;
	pr_warn("attribution: hook %s unavailable (%s); fallback: %s\n", hooks[i].name, why,
		hooks[i].fallback);
}

/* Which hooks this kernel can take, before loading. */
static void attr_probe_hooks(struct attr *a)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool netns_helper = libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB,
						    BPF_FUNC_get_netns_cookie, NULL) > 0;

	for (size_t i = 0; i < N_HOOKS; i++) {
		const struct hook *h = &hooks[i];

		if (attr_disabled_by_opts(a, h))
			attr_hook_missing(a, i, "disabled by FLOWSIGHT_ATTR_DISABLE");
		else if (!strcmp(h->prog, "fs_egress") && !netns_helper)
			attr_hook_missing(a, i, "its variant is used");
		else if (!strcmp(h->prog, "fs_egress_compat") && netns_helper)
			attr_hook_missing(a, i, "its variant is used");
		else if (h->kind == HK_CGROUP && a->cg_fd < 0)
			attr_hook_missing(a, i, "no cgroup v2 hierarchy is mounted");
		else if (h->btf_tp && !attr_btf_has_tp(vmlinux, h->btf_tp))
			attr_hook_missing(a, i, vmlinux ? "the kernel has no such tracepoint"
						   : "no kernel BTF");
	}
	btf__free(vmlinux);
}

static size_t attr_hook_index(const char *prog)
{
	for (size_t i = 0; i < N_HOOKS; i++)
		if (!strcmp(hooks[i].prog, prog))
			return i;
	return 0;
}

static struct bpf_program *attr_prog_of(struct attr *a, size_t i)
{
	return bpf_object__find_program_by_name(a->skel->obj, hooks[i].prog);
}

/* Load what the kernel accepts: a program the verifier refuses is
 * reported on one line (its verifier's last line, the fallback) and the
 * object loads without it. */
static int attr_load(struct attr *a)
{
	for (int tries = 0; tries <= (int)N_HOOKS; tries++) {
		struct bpf_logs logs;
		const char *refused;
		char last[160];
		int err;

		a->skel = sockets_bpf__open();
		if (!a->skel)
			return -errno;
		for (size_t i = 0; i < N_HOOKS; i++)
			if (a->disabled[i])
				bpf_program__set_autoload(attr_prog_of(a, i), false);
		/* a test knob: a tiny ring buffer shows how losses are marked */
		if (a->o.ringbuf_bytes)
			bpf_map__set_max_entries(a->skel->maps.sock_events, a->o.ringbuf_bytes);
		/* a benchmark's instrument: hooks attached, doing nothing */
		a->skel->rodata->hooks_inert = a->o.inert;
		/* a test's: a program the verifier refuses */
		a->skel->rodata->refuse_sock_create = a->o.refuse_sock_create &&
						      !a->disabled[attr_hook_index("fs_sock_create")];
		if (bpf_logs_attach(&logs, a->skel->obj)) {
			sockets_bpf__destroy(a->skel);
			a->skel = NULL;
			return -ENOMEM;
		}
		err = sockets_bpf__load(a->skel);
		refused = err ? bpf_logs_refused(&logs, a->skel->obj, last, sizeof(last)) : NULL;
		/*
		 * libbpf's helper probe takes any refusal but "unknown func" for
		 * support, and 6.12 words it otherwise: the egress hook is then
		 * refused for bpf_get_netns_cookie, and its variant without it
		 * takes its place (unless that was left out on purpose).
		 */
		if (refused && !strcmp(refused, "fs_egress")) {
			size_t e = attr_hook_index("fs_egress"), c = attr_hook_index("fs_egress_compat");

			pr_info("attribution: %s: this kernel does not give cgroup_skb programs "
				"bpf_get_netns_cookie; its variant without it is used\n",
				hooks[e].name);
			attr_hook_missing(a, e, "its variant is used");
			if (!attr_disabled_by_opts(a, &hooks[c]) && a->cg_fd >= 0)
				a->disabled[c] = false;
			bpf_logs_release(&logs);
			sockets_bpf__destroy(a->skel);
			a->skel = NULL;
			continue;
		}
		for (size_t i = 0; refused && i < N_HOOKS; i++) {
			if (!a->disabled[i] && !strcmp(refused, hooks[i].prog)) {
				char why[256];

				snprintf(why, sizeof(why), "the kernel refused it: %s", last);
				attr_hook_missing(a, i, why);
				break;
			}
		}
		bpf_logs_release(&logs);
		if (!err)
			return 0;
		sockets_bpf__destroy(a->skel);
		a->skel = NULL;
		if (err == -EPERM || !refused)
			return err;
	}
	return -ENOENT;
}

/* Sockets that already exist, with the tasks that hold them. */
static void attr_list_preexisting(struct attr *a, size_t it)
{
	struct fc_sock_event e;
	struct bpf_link *link;
	int fd;
	ssize_t n;

	link = bpf_program__attach_iter(attr_prog_of(a, it), NULL);
	if (!link) {
		attr_hook_missing(a, it, strerror(errno));
		return;
	}
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		attr_hook_missing(a, it, strerror(errno));
		bpf_link__destroy(link);
		return;
	}
	pthread_mutex_lock(&a->lock);
	while ((n = read(fd, &e, sizeof(e))) == (ssize_t)sizeof(e)) {
		attr_queue_event(a, &e);
		a->preexisting++;
	}
	attr_flush_batch(a);
	pthread_mutex_unlock(&a->lock);
	close(fd);
	bpf_link__destroy(link);
}

/* The holders iter/task_file noted are only read by the socket tables at
 * start: give their memory back. */
/* Empty pre_owners once the iterators have run.  The keys are walked once
 * (asking for the first key again after each delete rescans the map's
 * buckets from the start: quadratic with many sockets at start), then
 * deleted in one batch where the kernel has it (5.6), else one by one. */
static void attr_forget_pre_owners(struct attr *a)
{
	int fd = bpf_map__fd(a->skel->maps.pre_owners);
	uint64_t *keys = NULL, key, *prev = NULL;
	size_t n = 0, cap = 0;
	uint32_t count;

	while (!bpf_map_get_next_key(fd, prev, &key)) {
		if (n == cap) {
			uint64_t *k = realloc(keys, (cap = cap ? 2 * cap : 1024) * sizeof(*keys));

			if (!k)
				break;
			keys = k;
		}
		keys[n] = key;
		prev = &keys[n++];
	}
	count = (uint32_t)n;
	if (n && bpf_map_delete_batch(fd, keys, &count, NULL))
		for (size_t i = count; i < n; i++)
			bpf_map_delete_elem(fd, &keys[i]);
	free(keys);
}

/* A table cap, lowered in tests (never raised). */
uint32_t attr_lowered_cap(uint32_t asked, uint32_t cap)
{
	return asked && asked < cap ? asked : cap;
}

uint64_t attr_our_netns(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	close(fd);
	return cookie;
}

int attr_bpf_start(struct attr *a)
{
	size_t attached = 0;
	int err;

	a->cg_fd = attr_cgroup2_root();
	a->cgroot_fd = a->cg_fd >= 0 ? dup(a->cg_fd) : -1;
	attr_probe_hooks(a);
	err = attr_load(a);
	if (err) {
		pr_warn("attribution: cannot load the socket hooks: %s%s\n", strerror(-err),
			err == -EPERM ? " (needs root, or CAP_BPF with CAP_PERFMON and CAP_NET_ADMIN)"
				      : "");
		return err;
	}
	a->rb = ring_buffer__new(bpf_map__fd(a->skel->maps.sock_events), attr_ringbuf_cb, a, NULL);
	if (!a->rb) {
		err = -errno;
		pr_warn("attribution: cannot open the socket event ring buffer: %s\n",
			strerror(-err));
		return err;
	}
	for (size_t i = 0; i < N_HOOKS; i++) {
		struct bpf_program *p = attr_prog_of(a, i);

		if (a->disabled[i])
			continue;
		if (hooks[i].kind == HK_ITER)
			continue; /* run once below, after the hooks are attached */
		a->links[i] = hooks[i].kind == HK_CGROUP ? bpf_program__attach_cgroup(p, a->cg_fd)
							  : bpf_program__attach(p);
		if (!a->links[i]) {
			char why[96];

			snprintf(why, sizeof(why), "attach failed: %s", strerror(errno));
			attr_hook_missing(a, i, why);
			continue;
		}
		attached++;
	}
	if (a->skel->rodata->hooks_inert)
		pr_warn("attribution: FLOWSIGHT_ATTR_INERT is set: the socket hooks record nothing "
			"(a benchmark's setting)\n");
	/* only the sockets of the captured namespace unless asked: the others'
	 * tuples may mirror ours (both ends of a veth are local somewhere) */
	a->skel->bss->target_netns = a->all_netns ? 0 : a->netns;
	if (!attached) {
		pr_warn("attribution: no socket hook could be attached: system_process_* stay empty\n");
		return -ENOTSUP;
	}
	/* task_file first: it names the holders the socket tables announce */
	for (size_t i = 0; i < N_HOOKS; i++)
		if (hooks[i].kind == HK_ITER && !a->disabled[i])
			attr_list_preexisting(a, i);
	attr_forget_pre_owners(a);
	pr_info("attribution: %zu hooks attached, %llu sockets found at start\n", attached,
		(unsigned long long)a->preexisting);
	return 0;
}

void attr_bpf_stop(struct attr *a)
{
	for (size_t i = 0; i < N_HOOKS; i++) {
		bpf_link__destroy(a->links[i]);
		a->links[i] = NULL;
	}
	ring_buffer__free(a->rb);
	a->rb = NULL;
	sockets_bpf__destroy(a->skel);
	a->skel = NULL;
}
