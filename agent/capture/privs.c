// SPDX-License-Identifier: GPL-2.0-only
/*
 * Capabilities of live capture, checked before anything is opened
 * (privs.h).  What each step needs was measured on Linux 6.18 as a
 * non-root uid holding exactly the capabilities under test (README
 * "Privileges").  Only reads them (and raises permitted ones into the
 * effective set); the drop after attach is the application's (cli/caps.c).
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "capture/privs.h"
#include "util/log.h"

#define NEED_PCAP CAPS_BIT(CAP_NET_RAW)
/* SCHED_CLS programs and tc netlink: CAP_BPF + CAP_NET_ADMIN; without
 * CAP_PERFMON the verifier refuses the capture programs (EACCES, measured) */
#define NEED_EBPF (CAPS_BIT(CAP_BPF) | CAPS_BIT(CAP_NET_ADMIN) | CAPS_BIT(CAP_PERFMON))
/* tp_btf/tracepoint/iter programs need CAP_PERFMON, cgroup ones CAP_NET_ADMIN */
#define NEED_ATTR (CAPS_BIT(CAP_BPF) | CAPS_BIT(CAP_NET_ADMIN) | CAPS_BIT(CAP_PERFMON))

static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};
#define N_NAMES ((int)(sizeof(cap_names) / sizeof(cap_names[0])))

int caps_get(struct capsets *s)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	s->eff = d[0].effective | (uint64_t)d[1].effective << 32;
	s->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	s->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

int caps_set(const struct capsets *s)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)s->eff, (uint32_t)s->prm, (uint32_t)s->inh },
		{ (uint32_t)(s->eff >> 32), (uint32_t)(s->prm >> 32), (uint32_t)(s->inh >> 32) },
	};

	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

static const char *cap_name(int c, char *tmp, size_t n)
{
	if (c < N_NAMES)
		return cap_names[c];
	snprintf(tmp, n, "capability %d", c);
	return tmp;
}

/* In alphabetical order, as the README lists them. */
void caps_names(uint64_t mask, bool and, char *buf, size_t n)
{
	int left = __builtin_popcountll(mask);
	size_t len = 0;

	buf[0] = 0;
	for (; left && len < n; left--) {
		char a[32], b[32];
		int first = -1;

		for (int c = 0; c < 64; c++)
			if ((mask & CAPS_BIT(c)) &&
			    (first < 0 || strcmp(cap_name(c, a, sizeof(a)),
						 cap_name(first, b, sizeof(b))) < 0))
				first = c;
		mask &= ~CAPS_BIT(first);
		len += (size_t)snprintf(buf + len, n - len, "%s%s", cap_name(first, a, sizeof(a)),
					left == 1 ? "" : and && left == 2 ? " and " : ", ");
	}
}

uint64_t caps_required(const struct caps_mode *m)
{
	uint64_t need = 0;

	if (m->capture == CAPS_PCAP)
		need |= NEED_PCAP;
	else if (m->capture == CAPS_EBPF)
		need |= NEED_EBPF;
	if (m->attr)
		need |= NEED_ATTR;
	return need;
}

uint64_t caps_missing(uint64_t mask)
{
	struct capsets s;

	if (caps_get(&s))
		return mask;
	if ((mask & s.prm & ~s.eff) != 0) {
		s.eff |= mask & s.prm;
		if (caps_set(&s) || caps_get(&s))
			return mask & ~s.eff;
	}
	return mask & ~s.eff;
}

bool caps_ebpf_allowed(char *why, size_t n)
{
	uint64_t miss = caps_missing(NEED_EBPF);
	char need[96], lack[96];

	if (!miss)
		return true;
	caps_names(NEED_EBPF, true, need, sizeof(need));
	caps_names(miss, false, lack, sizeof(lack));
	snprintf(why, n, "ebpf needs %s; missing: %s", need, lack);
	return false;
}

/* Append "WHAT needs CAPS" to @buf when one of @need is in @miss. */
static size_t say_need(char *buf, size_t len, size_t n, const char *what, uint64_t need,
		       uint64_t miss)
{
	char names[128];

	if (!(need & miss) || len >= n)
		return len;
	caps_names(need, true, names, sizeof(names));
	return len + (size_t)snprintf(buf + len, n - len, "%s%s needs %s", len ? "; " : "", what,
				      names);
}

/* What attribution does without its optional capabilities, at -v. */
static void attr_optional(void)
{
	static const struct {
		int cap;
		const char *without;
	} opt[] = {
		{ CAP_SYS_ADMIN, "cgroup2 must already be mounted (flowsight mounts it only "
				 "with it)" },
		{ CAP_SYS_PTRACE, "the exe of other users' processes started before flowsight "
				  "stays empty" },
		{ CAP_DAC_READ_SEARCH, "container ids cannot be resolved from cgroup ids "
				       "(open_by_handle_at)" },
	};

	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (caps_missing(CAPS_BIT(opt[i].cap)))
			pr_info("attribution without %s: %s\n", cap_names[opt[i].cap],
				opt[i].without);
}

int caps_require(const struct caps_mode *m, const char *const *ifaces, int n_ifaces)
{
	uint64_t miss = caps_missing(caps_required(m));
	char line[512] = "", lack[256];
	size_t len = 0;

	if (m->attr)
		attr_optional();
	if (!miss)
		return 0;
	if (m->auto_fallback && (miss & NEED_PCAP)) {
		/* neither capture can run: say what each one needs */
		char ebpf[96];

		miss |= caps_missing(NEED_EBPF);
		caps_names(NEED_EBPF, true, ebpf, sizeof(ebpf));
		len = (size_t)snprintf(line, sizeof(line),
				       "--capture auto needs CAP_NET_RAW for libpcap or %s for eBPF",
				       ebpf);
	} else if (m->capture == CAPS_PCAP) {
		len = say_need(line, len, sizeof(line), "--capture pcap", NEED_PCAP, miss);
	} else if (m->capture == CAPS_EBPF) {
		len = say_need(line, len, sizeof(line), "--capture ebpf", NEED_EBPF, miss);
	}
	if (m->attr)
		len = say_need(line, len, sizeof(line), "--system-visibility-mode", NEED_ATTR,
			       miss);
	caps_names(miss, false, lack, sizeof(lack));
	flockfile(stderr);
	fputs("flowsight: cannot capture on ", stderr);
	for (int i = 0; i < n_ifaces; i++)
		fprintf(stderr, "%s'%s'", i ? ", " : "", ifaces[i]);
	fprintf(stderr, ": %s (missing: %s)\n", line, lack);
	funlockfile(stderr);
	return -EPERM;
}


