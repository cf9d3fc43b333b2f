// SPDX-License-Identifier: GPL-2.0-only
/*
 * The progress line of offline runs (progress.h): a thread redraws one
 * line on stderr every 250 ms from fs_session_progress() and
 * fs_session_stats(), with "\r" and erase-to-end-of-line, from 2 s into the
 * run (at once when forced); the library's log lines clear it first.  At
 * the end the final line is drawn, then cleared.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/clilog.h"
#include "cli/progress.h"

#define TICK_MS 250
#define SHOW_AFTER_MS 2000

struct progress {
	struct fs_session *s;
	bool forced, tty;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool stop, shown, ever;
	uint64_t start_ms;
	int verbosity;
};

static struct progress *active; /* for the log sink */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* @v with thousands separators. */
static const char *grouped(char *b, size_t n, uint64_t v)
{
	char raw[32];
	size_t len, o = 0;

	snprintf(raw, sizeof(raw), "%llu", (unsigned long long)v);
	len = strlen(raw);
	for (size_t i = 0; i < len && o + 2 < n; i++) {
		if (i && (len - i) % 3 == 0)
			b[o++] = ',';
		b[o++] = raw[i];
	}
	b[o] = '\0';
	return b;
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

/* The line's text for the state now (without "\r"). */
static void line_text(struct progress *p, char *b, size_t n)
{
	struct fs_progress pr;
	struct fs_stats st;
	char r[32], t[32], pk[32], ca[32], ex[32], left[32];
	uint64_t el = mono_ms() - p->start_ms, packets;
	double rate;

	fs_session_progress(p->s, &pr);
	fs_session_stats(p->s, &st);
	packets = st.packets_processed + st.packets_ignored;
	rate = el ? (double)packets * 1000.0 / (double)el : 0.0;
	if (pr.done)
		snprintf(left, sizeof(left), "0:00");
	else if (pr.bytes_total && pr.bytes_read) {
		uint64_t s = (uint64_t)((double)el / 1000.0 * (double)(pr.bytes_total - pr.bytes_read) /
					(double)pr.bytes_read);

		snprintf(left, sizeof(left), "%llu:%02llu", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	} else {
		snprintf(left, sizeof(left), "?");
	}
	if (pr.bytes_total)
		snprintf(b, n, "flowsight: %.1f%% %s/%s bytes | file %u/%u %.1f%% | %s packets, "
			 "%.0f/s | flows %s cached, %s exported | %s left",
			 pct(pr.bytes_read, pr.bytes_total), grouped(r, sizeof(r), pr.bytes_read),
			 grouped(t, sizeof(t), pr.bytes_total), pr.file + 1, pr.n_files,
			 pct(pr.file_bytes_read, pr.file_bytes_total), grouped(pk, sizeof(pk), packets),
			 rate, grouped(ca, sizeof(ca), st.flows_cached),
			 grouped(ex, sizeof(ex), st.flows_expired), left);
	else
		snprintf(b, n, "flowsight: %s bytes | file %u/%u | %s packets, %.0f/s | flows %s "
			 "cached, %s exported", grouped(r, sizeof(r), pr.bytes_read), pr.file + 1,
			 pr.n_files, grouped(pk, sizeof(pk), packets), rate,
			 grouped(ca, sizeof(ca), st.flows_cached),
			 grouped(ex, sizeof(ex), st.flows_expired));
}

/* Draw the line now (under the lock). */
static void draw(struct progress *p)
{
	char line[512];
	struct winsize ws;

	line_text(p, line, sizeof(line));
	if (p->tty && !ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 1 &&
	    strlen(line) >= ws.ws_col)
		line[ws.ws_col - 1] = '\0'; /* one line, never wrapped */
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	p->shown = p->ever = true;
}

static void clear(struct progress *p)
{
	if (!p->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->shown = false;
}

static void *progress_main(void *arg)
{
	struct progress *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct timespec dl;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += TICK_MS * 1000000L;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cv, &p->lock, &dl);
		if (!p->stop && (p->forced || mono_ms() - p->start_ms >= SHOW_AFTER_MS))
			draw(p);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* The library's log lines: the progress line is cleared first. */
static void log_sink(enum fs_log_level level, const char *msg, void *arg)
{
	struct progress *p = arg;

	if ((int)level > p->verbosity)
		return;
	pthread_mutex_lock(&p->lock);
	clear(p);
	/* as the default sink: NFStream's own warnings come without our prefix */
	fprintf(stderr, "%s%s\n", strncmp(msg, "WARNING", 7) && strncmp(msg, "[WARNING]", 9) ?
		"flowsight: " : "", msg);
	fflush(stderr);
	pthread_mutex_unlock(&p->lock);
}

struct progress *progress_start(struct fs_session *s, int mode, int verbosity)
{
	bool tty = isatty(STDERR_FILENO);
	struct progress *p;

	if (mode == 0 || (mode < 0 && !tty))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->s = s;
	p->forced = mode > 0;
	p->tty = tty;
	p->verbosity = verbosity;
	p->start_ms = mono_ms();
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (pthread_create(&p->thread, NULL, progress_main, p)) {
		free(p);
		return NULL;
	}
	active = p;
	fs_set_log(log_sink, p, verbosity);
	return p;
}

void progress_stop(struct progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_mutex_lock(&p->lock);
	if (p->forced || p->ever)
		draw(p); /* the final state: 100% when every file was read */
	clear(p);
	pthread_mutex_unlock(&p->lock);
	clilog_library(p->verbosity); /* the command's own sink again */
	active = NULL;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cv);
	free(p);
}
