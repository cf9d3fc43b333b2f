// SPDX-License-Identifier: GPL-2.0-only
/*
 * flowsight top (top.h).  Every second: one snapshot of the open flows,
 * grouped by owning process (pid; flows without one by how they were
 * classified: kernel, lost, none), each process with its receive and send
 * rates, bytes and flows of its open flows and its top L7 applications.
 * Receive and send are from this host's side: a flow whose src address is
 * one of this namespace's addresses sends src2dst; else it receives it.
 *
 * Keys: r, b, f sort by rate, bytes, flows; up/down (k/j) select a
 * process, Home (g) follows the first row again (as at start); Enter shows
 * the selected process's flows, Enter/Esc/Left goes back; q quits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <ncurses.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/top.h"
#include "util/grow.h"

#define MAX_APPS 8
#define MAX_LOCAL 64

enum sort_key { SORT_RATE, SORT_BYTES, SORT_FLOWS };

struct app {
	const char *name;
	uint64_t bytes;
};

struct prow {
	int64_t pid;
	const char *how;       /* for pid -1 */
	char name[24];
	char user[32];
	char container[16];
	double rx_rate, tx_rate;
	uint64_t rx, tx;
	uint32_t flows;
	struct app apps[MAX_APPS];
	int n_apps;
	size_t first;          /* its flows: idx[first .. first + flows) */
};

struct top {
	struct fs_session *s;
	struct fs_snapshot *sn;
	const struct fs_open_flow *v;
	size_t n;
	size_t *idx;           /* flows grouped by process */
	struct prow *rows;
	size_t n_rows, cap;
	enum sort_key sort;
	int64_t sel_pid;       /* the selected process, kept across refreshes */
	char sel_how[16];
	size_t sel;
	bool follow_top;       /* nothing chosen yet (or Home): the first row */
	bool drill;
	struct in6_addr local[MAX_LOCAL];
	int n_local;
	uint64_t locals_ms;
	bool ended;
};

/* ---- data ---------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void refresh_locals(struct top *t)
{
	struct ifaddrs *ifa, *i;

	t->n_local = 0;
	if (getifaddrs(&ifa))
		return;
	for (i = ifa; i && t->n_local < MAX_LOCAL; i = i->ifa_next) {
		struct in6_addr *a = &t->local[t->n_local];

		if (!i->ifa_addr)
			continue;
		memset(a, 0, sizeof(*a));
		if (i->ifa_addr->sa_family == AF_INET)
			memcpy(a, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		else if (i->ifa_addr->sa_family == AF_INET6)
			memcpy(a, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
		else
			continue;
		t->n_local++;
	}
	freeifaddrs(ifa);
}

static bool is_local(const struct top *t, const uint8_t ip[16])
{
	for (int i = 0; i < t->n_local; i++)
		if (!memcmp(&t->local[i], ip, 16))
			return true;
	return false;
}

/* Bytes and rate this host sent (tx) and received (rx) on @o. */
static void sides(const struct top *t, const struct fs_open_flow *o, uint64_t *tx, uint64_t *rx,
		  double *txr, double *rxr)
{
	bool src_local = is_local(t, o->src_ip) || !is_local(t, o->dst_ip);

	*tx = src_local ? o->src2dst_bytes : o->dst2src_bytes;
	*rx = src_local ? o->dst2src_bytes : o->src2dst_bytes;
	*txr = src_local ? o->src2dst_rate : o->dst2src_rate;
	*rxr = src_local ? o->dst2src_rate : o->src2dst_rate;
}

static const struct top *cmp_top;

static int group_cmp(const void *x, const void *y)
{
	const struct fs_open_flow *a = &cmp_top->v[*(const size_t *)x];
	const struct fs_open_flow *b = &cmp_top->v[*(const size_t *)y];
	int c;

	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	c = strcmp(a->attribution ? a->attribution : "", b->attribution ? b->attribution : "");
	if (c)
		return c;
	return a->serial < b->serial ? -1 : a->serial > b->serial;
}

static double row_key(const struct prow *r, enum sort_key k)
{
	switch (k) {
	case SORT_BYTES:
		return (double)(r->rx + r->tx);
	case SORT_FLOWS:
		return r->flows;
	default:
		return r->rx_rate + r->tx_rate;
	}
}

static enum sort_key cmp_sort;

static int row_cmp(const void *x, const void *y)
{
	const struct prow *a = x, *b = y;
	double ka = row_key(a, cmp_sort), kb = row_key(b, cmp_sort);

	if (ka != kb)
		return ka > kb ? -1 : 1;
	if ((a->rx + a->tx) != (b->rx + b->tx))
		return (a->rx + a->tx) > (b->rx + b->tx) ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

static void add_app(struct prow *r, const char *name, uint64_t bytes)
{
	if (!*name)
		name = "?";
	for (int i = 0; i < r->n_apps; i++)
		if (!strcmp(r->apps[i].name, name)) {
			r->apps[i].bytes += bytes;
			return;
		}
	if (r->n_apps < MAX_APPS)
		r->apps[r->n_apps++] = (struct app){ name, bytes };
}

static int app_cmp(const void *x, const void *y)
{
	const struct app *a = x, *b = y;

	return a->bytes > b->bytes ? -1 : a->bytes < b->bytes;
}

static void group_name(struct prow *r, const struct fs_open_flow *o)
{
	if (o->pid >= 0) {
		snprintf(r->name, sizeof(r->name), "%s", o->process_name);
		snprintf(r->user, sizeof(r->user), "%s", o->user[0] ? o->user : "-");
		snprintf(r->container, sizeof(r->container), "%.12s",
			 o->container_id[0] ? o->container_id : "-");
	} else {
		snprintf(r->name, sizeof(r->name), "(%s)",
			 o->attribution && *o->attribution ? o->attribution : "no process");
		snprintf(r->user, sizeof(r->user), "-");
		snprintf(r->container, sizeof(r->container), "-");
	}
}

/* Take a snapshot and group its flows by process; false when the session
 * no longer answers. */
static bool take(struct top *t)
{
	int rc = fs_session_snapshot(t->s, t->sn, 900);

	if (rc && rc != -EAGAIN)
		return false;
	if (now_ms() - t->locals_ms > 5000 || !t->locals_ms) {
		refresh_locals(t);
		t->locals_ms = now_ms();
	}
	t->v = fs_snapshot_flows(t->sn);
	t->n = fs_snapshot_count(t->sn);
	free(t->idx);
	t->idx = malloc((t->n ? t->n : 1) * sizeof(*t->idx));
	if (!t->idx)
		return false;
	for (size_t i = 0; i < t->n; i++)
		t->idx[i] = i;
	cmp_top = t;
	qsort(t->idx, t->n, sizeof(*t->idx), group_cmp);
	t->n_rows = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct fs_open_flow *o = &t->v[t->idx[i]];
		struct prow *r = t->n_rows ? &t->rows[t->n_rows - 1] : NULL;
		uint64_t tx, rx;
		double txr, rxr;

		if (!r || r->pid != o->pid ||
		    (o->pid < 0 && strcmp(r->how, o->attribution ? o->attribution : ""))) {
			if (grow_one(&t->rows, &t->cap, t->n_rows, 64))
				return false;
			r = &t->rows[t->n_rows++];
			memset(r, 0, sizeof(*r));
			r->pid = o->pid;
			r->how = o->attribution ? o->attribution : "";
			r->first = i;
			group_name(r, o);
		}
		sides(t, o, &tx, &rx, &txr, &rxr);
		r->tx += tx;
		r->rx += rx;
		r->tx_rate += txr;
		r->rx_rate += rxr;
		r->flows++;
		add_app(r, o->application_name, tx + rx);
	}
	for (size_t i = 0; i < t->n_rows; i++)
		qsort(t->rows[i].apps, (size_t)t->rows[i].n_apps, sizeof(struct app), app_cmp);
	cmp_sort = t->sort;
	qsort(t->rows, t->n_rows, sizeof(*t->rows), row_cmp);
	/* keep the same process selected */
	t->sel = 0;
	for (size_t i = 0; i < t->n_rows && !t->follow_top; i++)
		if (t->rows[i].pid == t->sel_pid &&
		    (t->sel_pid >= 0 || !strcmp(t->rows[i].how, t->sel_how)))
			t->sel = i;
	return true;
}

static void select_row(struct top *t, size_t i)
{
	if (!t->n_rows)
		return;
	if (i >= t->n_rows)
		i = t->n_rows - 1;
	t->sel = i;
	t->sel_pid = t->rows[i].pid;
	snprintf(t->sel_how, sizeof(t->sel_how), "%s", t->rows[i].how);
}

/* ---- formatting ------------------------------------------------------------ */

static const char *human(char *b, size_t n, double v, const char *unit)
{
	static const char *const pfx[] = { "", "k", "M", "G", "T" };
	int i = 0;

	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	if (i == 0)
		snprintf(b, n, "%.0f %s", v, unit);
	else
		snprintf(b, n, "%.1f %s%s", v, pfx[i], unit);
	return b;
}

static void apps_text(const struct prow *r, char *b, size_t n)
{
	size_t o = 0;

	b[0] = '\0';
	for (int i = 0; i < r->n_apps && i < 3 && o + 2 < n; i++)
		o += (size_t)snprintf(b + o, n - o, "%s%s", i ? "," : "", r->apps[i].name);
}

static void flow_text(const struct fs_open_flow *o, char *b, size_t n)
{
	char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	int af = o->ip_version == 6 ? AF_INET6 : AF_INET;
	const char *proto = o->protocol == 6 ? "tcp" : o->protocol == 17 ? "udp" :
			    o->protocol == 1 ? "icmp" : o->protocol == 58 ? "icmp6" : "ip";

	inet_ntop(af, o->src_ip, sa, sizeof(sa));
	inet_ntop(af, o->dst_ip, da, sizeof(da));
	if (af == AF_INET6)
		snprintf(b, n, "%-5s [%s]:%u > [%s]:%u", proto, sa, o->src_port, da, o->dst_port);
	else
		snprintf(b, n, "%-5s %s:%u > %s:%u", proto, sa, o->src_port, da, o->dst_port);
}

static const char *sort_name(enum sort_key k)
{
	return k == SORT_BYTES ? "bytes" : k == SORT_FLOWS ? "flows" : "rate";
}

/* ---- plain table ------------------------------------------------------------ */

static void plain_table(struct top *t)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	printf("flowsight top %s: %zu processes, %zu open flows, sorted by %s\n", when, t->n_rows,
	       t->n, sort_name(t->sort));
	printf("%-8s %-16s %-10s %-12s %12s %12s %14s %14s %6s %s\n", "PID", "NAME", "USER",
	       "CONTAINER", "RX_B/S", "TX_B/S", "RX_BYTES", "TX_BYTES", "FLOWS", "APPS");
	for (size_t i = 0; i < t->n_rows; i++) {
		const struct prow *r = &t->rows[i];
		char apps[128], pid[24];

		apps_text(r, apps, sizeof(apps));
		snprintf(pid, sizeof(pid), "%lld", (long long)r->pid);
		printf("%-8s %-16s %-10s %-12s %12.0f %12.0f %14llu %14llu %6u %s\n", pid, r->name,
		       r->user, r->container, r->rx_rate, r->tx_rate, (unsigned long long)r->rx,
		       (unsigned long long)r->tx, r->flows, apps[0] ? apps : "-");
	}
	printf("\n");
	fflush(stdout);
}

/* ---- terminal view ------------------------------------------------------------ */

static void put_line(int y, const char *text, bool rev)
{
	if (y >= LINES)
		return;
	if (rev)
		attron(A_REVERSE);
	mvaddnstr(y, 0, text, COLS);
	if (rev) {
		for (int x = (int)strlen(text); x < COLS; x++)
			mvaddch(y, x, ' ');
		attroff(A_REVERSE);
	}
}

static void draw(struct top *t)
{
	char line[512], a[16], b[16], c[16], d[16];
	int y = 0, avail;
	bool narrow = COLS < 100;
	struct fs_stats st;

	erase();
	fs_session_stats(t->s, &st);
	snprintf(line, sizeof(line), "flowsight top (%s) - %zu processes, %zu open flows, %llu "
		 "exported - sort: %s [r]ate [b]ytes [f]lows, Enter: flows, q: quit",
		 fs_session_capture(t->s), t->n_rows, t->n, (unsigned long long)st.flows_expired,
		 sort_name(t->sort));
	put_line(y++, line, false);
	if (LINES < 4 || COLS < 40) {
		snprintf(line, sizeof(line), "too small (%dx%d): showing what fits", COLS, LINES);
		put_line(LINES - 1, line, true);
		if (LINES < 3) {
			refresh();
			return;
		}
	}
	if (!t->drill) {
		if (narrow)
			snprintf(line, sizeof(line), "%-7s %-15s %10s %10s %5s", "PID", "NAME", "RX/s",
				 "TX/s", "FLOWS");
		else
			snprintf(line, sizeof(line), "%-7s %-15s %-9s %-12s %10s %10s %10s %10s %5s  %s",
				 "PID", "NAME", "USER", "CONTAINER", "RX/s", "TX/s", "RX", "TX",
				 "FLOWS", "APPS");
		put_line(y++, line, true);
		avail = LINES - y - 1;
		for (size_t i = 0; i < t->n_rows && (int)i < avail; i++) {
			const struct prow *r = &t->rows[i];
			char apps[128], pid[24];

			apps_text(r, apps, sizeof(apps));
			snprintf(pid, sizeof(pid), "%lld", (long long)r->pid);
			if (narrow)
				snprintf(line, sizeof(line), "%-7s %-15.15s %10s %10s %5u", pid, r->name,
					 human(a, sizeof(a), r->rx_rate, "B/s"),
					 human(b, sizeof(b), r->tx_rate, "B/s"), r->flows);
			else
				snprintf(line, sizeof(line),
					 "%-7s %-15.15s %-9.9s %-12s %10s %10s %10s %10s %5u  %s", pid,
					 r->name, r->user, r->container,
					 human(a, sizeof(a), r->rx_rate, "B/s"),
					 human(b, sizeof(b), r->tx_rate, "B/s"),
					 human(c, sizeof(c), (double)r->rx, "B"),
					 human(d, sizeof(d), (double)r->tx, "B"), r->flows,
					 apps[0] ? apps : "-");
			put_line(y++, line, i == t->sel);
		}
		if ((int)t->n_rows > avail && avail >= 0) {
			snprintf(line, sizeof(line), "too small (%dx%d): %zu more processes", COLS,
				 LINES, t->n_rows - (size_t)(avail > 0 ? avail : 0));
			put_line(LINES - 1, line, true);
		} else if (narrow) {
			snprintf(line, sizeof(line), "narrow terminal (%d columns): user, container, "
				 "bytes and apps hidden", COLS);
			put_line(LINES - 1, line, false);
		}
	} else if (t->n_rows) {
		const struct prow *r = &t->rows[t->sel];

		snprintf(line, sizeof(line), "flows of %lld %s (%u) - Enter/Esc: back", (long long)r->pid,
			 r->name, r->flows);
		put_line(y++, line, false);
		snprintf(line, sizeof(line), "%-56s %-16s %10s %10s %10s %10s", "FLOW", "APP",
			 "RX/s", "TX/s", "RX", "TX");
		put_line(y++, line, true);
		avail = LINES - y - 1;
		for (uint32_t k = 0; k < r->flows && (int)k < avail; k++) {
			const struct fs_open_flow *o = &t->v[t->idx[r->first + k]];
			char ft[128];
			uint64_t tx, rx;
			double txr, rxr;

			sides(t, o, &tx, &rx, &txr, &rxr);
			flow_text(o, ft, sizeof(ft));
			snprintf(line, sizeof(line), "%-56.56s %-16.16s %10s %10s %10s %10s", ft,
				 o->application_name[0] ? o->application_name : "?",
				 human(a, sizeof(a), rxr, "B/s"), human(b, sizeof(b), txr, "B/s"),
				 human(c, sizeof(c), (double)rx, "B"), human(d, sizeof(d), (double)tx, "B"));
			put_line(y++, line, false);
		}
		if ((int)r->flows > avail) {
			snprintf(line, sizeof(line), "too small (%dx%d): %u more flows", COLS, LINES,
				 r->flows - (uint32_t)(avail > 0 ? avail : 0));
			put_line(LINES - 1, line, true);
		}
	}
	if (t->ended)
		put_line(LINES - 1, "the capture has ended: q to quit", true);
	refresh();
}

/* A key; false to quit. */
static bool key(struct top *t, int ch)
{
	switch (ch) {
	case 'q':
	case 'Q':
		return false;
	case 'r':
		t->sort = SORT_RATE;
		break;
	case 'b':
		t->sort = SORT_BYTES;
		break;
	case 'f':
		t->sort = SORT_FLOWS;
		break;
	case KEY_UP:
	case 'k':
		t->follow_top = false;
		if (t->sel)
			select_row(t, t->sel - 1);
		return true;
	case KEY_HOME:
	case 'g':
		select_row(t, 0);
		t->follow_top = true;
		return true;
	case KEY_DOWN:
	case 'j':
		t->follow_top = false;
		select_row(t, t->sel + 1);
		return true;
	case '\n':
	case KEY_ENTER:
	case KEY_RIGHT:
		t->drill = !t->drill && t->n_rows;
		return true;
	case 27:
	case KEY_LEFT:
	case KEY_BACKSPACE:
		t->drill = false;
		return true;
	default:
		return true;
	}
	cmp_sort = t->sort;
	qsort(t->rows, t->n_rows, sizeof(*t->rows), row_cmp);
	t->sel = 0;
	for (size_t i = 0; i < t->n_rows && !t->follow_top; i++)
		if (t->rows[i].pid == t->sel_pid)
			t->sel = i;
	return true;
}

void top_run(struct fs_session *s, volatile sig_atomic_t *stop, bool tty, volatile int *export_done)
{
	struct top t = { .s = s, .sel_pid = -2, .follow_top = true };
	uint64_t next = 0;

	t.sn = fs_snapshot_new();
	if (!t.sn)
		return;
	if (!tty) {
		while (!*stop && !*export_done) {
			uint64_t now = now_ms();

			if (now >= next) {
				next = now + 1000;
				if (!take(&t))
					break;
				plain_table(&t);
			}
			usleep(50000);
		}
		goto out;
	}
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(100); /* a slow or loaded terminal may split a key's sequence */
	timeout(100);
	while (!*stop) {
		uint64_t now = now_ms();
		int ch;

		if (now >= next && !t.ended) {
			next = now + 1000;
			if (*export_done || !take(&t))
				t.ended = true;
			draw(&t);
		}
		ch = getch();
		if (ch == ERR)
			continue;
		if (ch == KEY_RESIZE) {
			draw(&t);
			continue;
		}
		if (!key(&t, ch))
			break;
		draw(&t);
	}
	endwin();
out:
	fs_snapshot_free(t.sn);
	free(t.idx);
	free(t.rows);
}

const char *top_default_interface(char *buf, size_t n)
{
	FILE *f = fopen("/proc/net/route", "r");
	char line[256], name[IF_NAMESIZE + 1];
	unsigned long dst;
	struct ifaddrs *ifa;

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "%16s %lx", name, &dst) == 2 && dst == 0) {
				fclose(f);
				snprintf(buf, n, "%s", name);
				return buf;
			}
		fclose(f);
	}
	snprintf(buf, n, "lo");
	if (!getifaddrs(&ifa)) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
			if ((i->ifa_flags & IFF_UP) && !(i->ifa_flags & IFF_LOOPBACK)) {
				snprintf(buf, n, "%s", i->ifa_name);
				break;
			}
		freeifaddrs(ifa);
	}
	return buf;
}
