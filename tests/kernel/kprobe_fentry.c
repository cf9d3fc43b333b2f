// SPDX-License-Identifier: GPL-2.0-only
/*
 * What this kernel offers an optional accelerator, for the tests/kernel
 * guest: whether a BPF kprobe, a multi-kprobe (fprobe) and an fentry
 * program can be loaded and attached to a kernel function, and whether
 * cgroup_skb programs have bpf_get_netns_cookie (which decides which of
 * flowsight's two egress programs this kernel must load).  Each program is the smallest one ("return 0"), attached
 * and detached at once.  Prints "KEY RESULT" lines, RESULT "ok" or what
 * failed ("load: Invalid argument").
 *
 *   kprobe_fentry [FUNCTION]     (default tcp_sendmsg)
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct bpf_insn ret0[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

static int no_print(enum libbpf_print_level l, const char *f, va_list ap)
{
	(void)l, (void)f, (void)ap;
	return 0;
}

static void result(const char *key, const char *step, int err)
{
	if (!err)
		printf("%s ok\n", key);
	else
		printf("%s %s: %s\n", key, step, strerror(err));
}

/* The kprobe PMU's type (perf_event_open with a function name). */
static int kprobe_pmu(void)
{
	FILE *f = fopen("/sys/bus/event_source/devices/kprobe/type", "re");
	int type = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &type) != 1)
		type = -1;
	fclose(f);
	return type;
}

static void kprobe(const char *fn)
{
	struct perf_event_attr attr;
	int prog, pfd, type = kprobe_pmu();

	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "probe_kprobe", "GPL", ret0, 2, NULL);
	if (prog < 0)
		return result("kprobe", "load", errno);
	if (type < 0) {
		close(prog);
		return result("kprobe", "no kprobe PMU", ENOENT);
	}
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = (unsigned int)type;
	attr.config1 = (unsigned long)fn; /* kprobe_func */
	attr.config2 = 0;                 /* offset */
	pfd = (int)syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0) {
		result("kprobe", "perf_event_open", errno);
	} else {
		result("kprobe", "attach", ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog) ? errno : 0);
		close(pfd);
	}
	close(prog);
}

static void kprobe_multi(const char *fn)
{
	LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = BPF_TRACE_KPROBE_MULTI);
	LIBBPF_OPTS(bpf_link_create_opts, co);
	const char *syms[] = { fn };
	int prog, link;

	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "probe_kmulti", "GPL", ret0, 2, &lo);
	if (prog < 0)
		return result("kprobe_multi", "load", errno);
	co.kprobe_multi.syms = syms;
	co.kprobe_multi.cnt = 1;
	link = bpf_link_create(prog, 0, BPF_TRACE_KPROBE_MULTI, &co);
	result("kprobe_multi", "attach", link < 0 ? errno : 0);
	if (link >= 0)
		close(link);
	close(prog);
}

static void fentry(const char *fn)
{
	LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = BPF_TRACE_FENTRY);
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int id, prog, link;

	if (!vmlinux)
		return result("fentry", "no kernel BTF", errno);
	id = btf__find_by_name_kind(vmlinux, fn, BTF_KIND_FUNC);
	btf__free(vmlinux);
	if (id <= 0)
		return result("fentry", "function not in BTF", ENOENT);
	lo.attach_btf_id = (unsigned int)id;
	prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "probe_fentry", "GPL", ret0, 2, &lo);
	if (prog < 0)
		return result("fentry", "load", errno);
	link = bpf_link_create(prog, 0, BPF_TRACE_FENTRY, NULL);
	result("fentry", "attach", link < 0 ? errno : 0);
	if (link >= 0)
		close(link);
	close(prog);
}

/*
 * Whether a cgroup_skb program may call bpf_get_netns_cookie: loads one
 * that does.  libbpf_probe_bpf_helper() (libbpf 1.1) takes any refusal but
 * "invalid func" and "unknown func" for a yes, and newer verifiers say
 * "program of this type cannot use helper": the load is the reference.
 */
static int netns_cookie_cgroup_skb(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_get_netns_cookie },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int prog = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SKB, "probe_netns", "GPL", insns, 3, NULL);

	if (prog < 0)
		return 0;
	close(prog);
	return 1;
}

int main(int argc, char **argv)
{
	const char *fn = argc > 1 ? argv[1] : "tcp_sendmsg";

	libbpf_set_print(no_print);
	printf("function %s\n", fn);
	kprobe(fn);
	kprobe_multi(fn);
	fentry(fn);
	printf("netns_cookie_cgroup_skb %d\n", netns_cookie_cgroup_skb());
	/* what flowsight's own probe (agent/attr.c) is told */
	printf("netns_cookie_cgroup_skb_libbpf_probe %d\n",
	       libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_get_netns_cookie,
				       NULL) > 0);
	return 0;
}
