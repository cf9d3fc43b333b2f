// SPDX-License-Identifier: GPL-2.0-only
/*
 * The drop of every capability the running capture no longer uses, once
 * everything is attached (caps.h).  Capabilities belong to threads, not
 * processes: the drop reaches threads started before it (attribution's
 * event reader, the writer) with a signal each, as glibc does for
 * setuid(), and then reads every thread's sets back from /proc to prove it.
 * Process-wide by nature: the command line's, never the library's.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cli/caps.h"
#include "util/log.h"

/* Signal that carries the drop to the other threads; nothing else uses
 * real-time signals here. */
#define DROP_SIG (SIGRTMIN + 3)
#define ACK_TIMEOUT_S 5

static uint64_t drop_keep;    /* the sets every thread ends with */
static int last_cap;          /* /proc/sys/kernel/cap_last_cap */
static int drop_err;          /* first error of a signalled thread */
static sem_t drop_acks;

static int read_last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int v = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &v) != 1 || v < 0 || v > 63)
			v = CAP_LAST_CAP;
		fclose(f);
	}
	return v;
}

/*
 * The calling thread's drop, async-signal-safe.  The bounding set goes
 * first: dropping from it needs CAP_SETPCAP, which capset() then removes.
 */
static int drop_self(void)
{
	struct capsets s;
	int err = caps_get(&s);

	if (err)
		return err;
	if (s.prm & CAPS_BIT(CAP_SETPCAP)) {
		s.eff |= CAPS_BIT(CAP_SETPCAP);
		err = caps_set(&s);
		if (err)
			return err;
		for (int c = 0; c <= last_cap; c++)
			if (!(drop_keep & CAPS_BIT(c)) &&
			    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL)
				return -errno;
	}
	/* EINVAL: a kernel without ambient capabilities has none to clear */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	s.eff = s.prm = drop_keep & s.prm;
	s.inh = 0;
	err = caps_set(&s);
	if (err)
		return err;
	/* no execve() can give the privileges back */
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ? -errno : 0;
}

static void on_drop_signal(int sig)
{
	int saved_errno = errno;
	int err = drop_self();

	(void)sig;
	if (err)
		__atomic_store_n(&drop_err, err, __ATOMIC_RELAXED);
	sem_post(&drop_acks);
	errno = saved_errno;
}

/* Run drop_self() on every other thread; the number signalled or -errno. */
static int drop_others(void)
{
	struct sigaction sa = { .sa_handler = on_drop_signal, .sa_flags = SA_RESTART };
	pid_t pid = getpid(), self = gettid();
	struct dirent *de;
	int sent = 0;
	DIR *d;

	d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	sigemptyset(&sa.sa_mask);
	/* left installed: a late signal must not kill the process */
	if (sigaction(DROP_SIG, &sa, NULL)) {
		closedir(d);
		return -errno;
	}
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid > 0 && tid != self && !syscall(SYS_tgkill, pid, tid, DROP_SIG))
			sent++;
	}
	closedir(d);
	for (int i = 0; i < sent; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ACK_TIMEOUT_S;
		while (sem_timedwait(&drop_acks, &ts))
			if (errno != EINTR)
				return -ETIMEDOUT;
	}
	return __atomic_load_n(&drop_err, __ATOMIC_RELAXED) ?: sent;
}

static int status_caps(const char *path, uint64_t *eff, uint64_t *prm)
{
	char line[128];
	int found = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "CapEff: %llx", &v) == 1) {
			*eff = v;
			found++;
		} else if (sscanf(line, "CapPrm: %llx", &v) == 1) {
			*prm = v;
			found++;
		}
	}
	fclose(f);
	return found == 2 ? 0 : -EINVAL;
}

/* Every thread holds drop_keep at most: proof that no thread was missed. */
static int verify_threads(int *n_threads)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int err = 0;

	*n_threads = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d)) && !err) {
		char path[64];
		uint64_t eff = ~0ull, prm = ~0ull;
		int tid = atoi(de->d_name);

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
		err = status_caps(path, &eff, &prm);
		if (err == -ENOENT) { /* the thread ended meanwhile */
			err = 0;
			continue;
		}
		if (!err && ((eff | prm) & ~drop_keep)) {
			pr_warn("thread %d kept capabilities %llx\n", tid,
				(unsigned long long)((eff | prm) & ~drop_keep));
			err = -EPERM;
		}
		(*n_threads)++;
	}
	closedir(d);
	return err;
}

/*
 * Before Linux 6.5, with kernel.unprivileged_bpf_disabled set, every bpf()
 * command needs CAP_BPF, reads of maps we already hold included; since
 * then only creating maps and loading programs do.  Ask the kernel: an
 * invalid fd gives EBADF where the command itself is allowed.  Effective
 * set emptied for the question (CAP_SYS_ADMIN would answer for CAP_BPF).
 */
static bool bpf_needs_cap_at_run(void)
{
	union bpf_attr attr;
	struct capsets s, none;
	bool needs;

	if (caps_get(&s))
		return true;
	none = s;
	none.eff = 0;
	if (caps_set(&none))
		return true;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)-1;
	needs = syscall(SYS_bpf, BPF_MAP_GET_NEXT_KEY, &attr, sizeof(attr)) && errno == EPERM;
	caps_set(&s);
	return needs;
}

/* What the running capture still uses, each with the reason. */
static uint64_t caps_to_keep(const struct caps_mode *m, uint64_t prm)
{
	uint64_t keep = 0;

	if (m->capture == CAPS_EBPF) {
		keep |= CAPS_BIT(CAP_NET_ADMIN);
		pr_info("capabilities: keeping CAP_NET_ADMIN: removes the TC filters at exit "
			"(they outlive the process; kernels without tcx) and puts back those "
			"removed meanwhile%s\n", m->reattach ? "; attaches to an interface that "
			"comes back (--wait-interface)" : "");
	}
	if (m->capture == CAPS_PCAP && m->reattach) {
		keep |= CAPS_BIT(CAP_NET_RAW);
		pr_info("capabilities: keeping CAP_NET_RAW: opens an interface that comes back "
			"(--wait-interface)\n");
	}
	if ((m->capture == CAPS_EBPF || m->attr) && bpf_needs_cap_at_run()) {
		keep |= CAPS_BIT(CAP_BPF);
		pr_info("capabilities: keeping CAP_BPF: this kernel wants it for every bpf() call "
			"(kernel.unprivileged_bpf_disabled, Linux < 6.5), map reads included\n");
	}
	if (m->attr && (prm & CAPS_BIT(CAP_SYS_PTRACE))) {
		keep |= CAPS_BIT(CAP_SYS_PTRACE);
		pr_info("capabilities: keeping CAP_SYS_PTRACE (granted): attribution reads "
			"/proc/<pid>/exe of other users' processes\n");
	}
	if (m->attr && (prm & CAPS_BIT(CAP_DAC_READ_SEARCH))) {
		keep |= CAPS_BIT(CAP_DAC_READ_SEARCH);
		pr_info("capabilities: keeping CAP_DAC_READ_SEARCH (granted): attribution resolves "
			"container ids with open_by_handle_at()\n");
	}
	return keep & prm;
}

int caps_drop(const struct caps_mode *m)
{
	struct capsets s;
	char kept[256], dropped[1024];
	int err, sent, n_threads;

	err = caps_get(&s);
	if (err)
		goto fail;
	last_cap = read_last_cap();
	drop_keep = caps_to_keep(m, s.prm);
	if (sem_init(&drop_acks, 0, 0)) {
		err = -errno;
		goto fail;
	}
	sent = drop_others();
	if (sent < 0) {
		err = sent;
		goto fail;
	}
	err = drop_self();
	if (err)
		goto fail;
	err = verify_threads(&n_threads);
	if (err)
		goto fail;
	caps_names(drop_keep, false, kept, sizeof(kept));
	caps_names(s.prm & ~drop_keep, false, dropped, sizeof(dropped));
	pr_info("capabilities dropped in %d threads: kept %s; dropped %s; bounding set %s; "
		"no_new_privs set\n", n_threads, drop_keep ? kept : "none",
		s.prm & ~drop_keep ? dropped : "none",
		s.prm & CAPS_BIT(CAP_SETPCAP) ? "reduced to the kept ones" :
						"unchanged (needs CAP_SETPCAP)");
	return 0;
fail:
	pr_warn("cannot drop capabilities: %s\n", strerror(-err));
	return err;
}
