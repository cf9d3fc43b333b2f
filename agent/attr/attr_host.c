// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the host says beside the kernel's records: a process's exe and
 * arguments from /proc, the local addresses, a cgroup's container id, a
 * uid's user name.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr/attr_int.h"
#include "util/log.h"

/* Read exe and cmdline of a live process older than us (or whose exec we
 * did not see).  Only when /proc's start time is the same process. */
void attr_proc_fill_from_proc(struct proc_ent *p)
{
	char path[64], buf[1024];
	unsigned long long start_ticks = 0;
	long tck = sysconf(_SC_CLK_TCK);
	ssize_t n;
	char *s;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/stat", p->tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	s = strrchr(buf, ')');
	/* field 22 (starttime) is the 20th after the comm's closing paren */
	for (int i = 0; s && i < 20; i++)
		s = strchr(s + 1, ' ');
	if (!s || sscanf(s + 1, "%llu", &start_ticks) != 1 || tck <= 0)
		return;
	if (p->start_ns) {
		long long diff = (long long)(start_ticks * (1000000000ull / (unsigned long long)tck)) -
				 (long long)p->start_ns;

		if (diff < -50000000ll || diff > 50000000ll)
			return; /* the pid was reused */
	}
	snprintf(path, sizeof(path), "/proc/%u/exe", p->tgid);
	n = readlink(path, p->exe, sizeof(p->exe) - 1);
	p->exe[n > 0 ? n : 0] = 0;
	snprintf(path, sizeof(path), "/proc/%u/cmdline", p->tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, p->args, sizeof(p->args));
		p->args_len = n > 0 ? (uint32_t)n : 0;
		close(fd);
	}
	p->have_exe = true;
}

void attr_refresh_local(struct attr *a)
{
	struct ifaddrs *ifa, *i;
	int n = 0;

	if (a->local && attr_mono_ns() - a->local_ns < 1000000000ull)
		return;
	if (getifaddrs(&ifa))
		return;
	for (i = ifa; i; i = i->ifa_next)
		n++;
	free(a->local);
	a->local = calloc((size_t)n + 1, sizeof(*a->local));
	a->n_local = 0;
	for (i = ifa; i && a->local; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			memset(a->local[a->n_local], 0, 17);
			memcpy(a->local[a->n_local], &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
			a->local[a->n_local++][16] = 4;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			memcpy(a->local[a->n_local], &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
			a->local[a->n_local++][16] = 6;
		}
	}
	freeifaddrs(ifa);
	a->local_ns = attr_mono_ns();
}

bool attr_is_local(struct attr *a, const uint8_t *addr, uint8_t ipv)
{
	for (int i = 0; i < a->n_local; i++)
		if (a->local[i][16] == ipv && !memcmp(a->local[i], addr, ipv == 4 ? 4 : 16))
			return true;
	return false;
}

/* Container id from a cgroup path: docker, containerd, CRI-O and podman,
 * with the systemd driver (<runtime>-<id>.scope) or cgroupfs (/<id>). */
static void attr_container_of_path(const char *path, char *out, size_t n)
{
	const char *p = path;

	out[0] = 0;
	while (p && *p) {
		const char *seg = *p == '/' ? p + 1 : p;
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		const char *id = seg;
		size_t idlen = len;
		const char *dash = memrchr(seg, '-', len);

		if (len > 6 && !memcmp(seg + len - 6, ".scope", 6) && dash) {
			id = dash + 1;
			idlen = (size_t)(seg + len - 6 - id);
		}
		if (idlen == 64 && strspn(id, "0123456789abcdef") >= 64) {
			snprintf(out, n, "%.64s", id);
			/* keep going: the innermost id wins */
		}
		p = end;
	}
}

void attr_container_of(struct attr *a, uint64_t cgid, char *out, size_t n)
{
	struct cg_ent *c;
	uint32_t b = attr_hash64(cgid) & 255;
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	char path[PATH_MAX], link[64];
	int fd, mount_id;
	ssize_t len;

	(void)mount_id;
	out[0] = 0;
	if (!cgid || a->cgroot_fd < 0)
		return;
	for (c = a->cgs[b]; c; c = c->next)
		if (c->id == cgid) {
			snprintf(out, n, "%s", c->container);
			return;
		}
	/* cgroup2 file handles are the cgroup id (FILEID_KERNFS) */
	h.fh.handle_bytes = sizeof(uint64_t);
	h.fh.handle_type = 0xfe;
	h.id = cgid;
	fd = open_by_handle_at(a->cgroot_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return; /* the cgroup is gone: unknown, not cached */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, path, sizeof(path) - 1);
	close(fd);
	if (len < 0)
		return;
	path[len] = 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->id = cgid;
	attr_container_of_path(path, c->container, sizeof(c->container));
	c->next = a->cgs[b];
	a->cgs[b] = c;
	snprintf(out, n, "%s", c->container);
}

/* uid -> name, cached: NSS reads /etc/passwd on every call. */
void attr_user_name(struct attr *a, uint32_t uid, char *out, size_t n)
{
	unsigned int slot = uid & 63;
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (!a->users[slot].valid || a->users[slot].uid != uid) {
		if (!getpwuid_r(uid, &pw, buf, sizeof(buf), &res) && res)
			snprintf(a->users[slot].name, sizeof(a->users[slot].name), "%s", res->pw_name);
		else
			snprintf(a->users[slot].name, sizeof(a->users[slot].name), "%u", uid);
		a->users[slot].uid = uid;
		a->users[slot].valid = true;
	}
	snprintf(out, n, "%s", a->users[slot].name);
}
