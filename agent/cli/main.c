// SPDX-License-Identifier: GPL-2.0-only
/*
 * flowsight, the command: a client of libflowsight (flowsight.h).  It
 * parses the command line (and --config's file), opens a session, drops
 * its privileges once the capture is attached, serves its metrics
 * (--metrics-listen) and exports every flow to CSV or JSON lines.  What
 * is process-wide is done here only: signals (SIGINT/SIGTERM stop the
 * session, every cached flow is still exported; SIGHUP reopens the
 * output), libbpf's log hook, the allocator's tuning and the exit status:
 * 0 success, 1 input or output error, 2 invalid arguments.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/caps.h"
#include "cli/cli.h"
#include "cli/clilog.h"
#include "cli/metrics.h"
#include "cli/progress.h"
#include "cli/top.h"
#include "flowsight/flowsight.h"

static struct fs_session *running;
static volatile sig_atomic_t stop_signal;
static bool wait_interface; /* --wait-interface: keep what opens an interface again */

static void on_signal(int sig)
{
	int saved_errno = errno;

	stop_signal = sig;
	if (running)
		fs_session_stop(running); /* async-signal-safe */
	errno = saved_errno;
}

/* logrotate: the output file is opened anew at its path */
static void on_hangup(int sig)
{
	int saved_errno = errno;

	(void)sig;
	if (running)
		fs_session_reopen_output(running); /* async-signal-safe */
	errno = saved_errno;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hangup;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

struct attached {
	struct fs_session *s;
	struct metrics *metrics; /* bound, not serving yet; NULL without --metrics-listen */
	int verbosity;
};

/* Once the capture is attached: shed every capability it no longer uses,
 * then serve the metrics (their thread gets only what is kept). */
static int on_attached(void *arg)
{
	struct attached *a = arg;
	struct fs_session *s = a->s;
	struct caps_mode m = {
		.capture = !strcmp(fs_session_capture(s), "ebpf") ? CAPS_EBPF :
			   !strcmp(fs_session_capture(s), "pcap") ? CAPS_PCAP : CAPS_NO_CAPTURE,
		.attr = fs_session_attribution(s),
		.reattach = wait_interface,
	};
	char err[256];
	int rc;

	if (m.capture != CAPS_NO_CAPTURE && (rc = caps_drop(&m)))
		return rc;
	if (a->metrics && (rc = metrics_start(a->metrics, s, err, sizeof(err)))) {
		cli_err("%s", err);
		return rc;
	}
	if (a->metrics)
		cli_info(a->verbosity, "metrics on http://%s/metrics", metrics_where(a->metrics));
	return 0;
}

/* Test and benchmark instruments, from the environment (never the library's). */
static void set_knobs(struct fs_session *s)
{
	static const char *const env[][2] = {
		{ "FLOWSIGHT_ATTR_DISABLE", "attr_disable" },
		{ "FLOWSIGHT_ATTR_INERT", "attr_inert" },
		{ "FLOWSIGHT_ATTR_RINGBUF", "attr_ringbuf_bytes" },
		{ "FLOWSIGHT_ATTR_MAX_SOCKETS", "attr_max_sockets" },
		{ "FLOWSIGHT_ATTR_MAX_TUPLES", "attr_max_tuples" },
		{ "FLOWSIGHT_ATTR_NO_EARLY", "attr_no_early" },
		{ "FLOWSIGHT_ATTR_REFUSE", "attr_refuse" },
		{ "FLOWSIGHT_EBPF_ATTACH", "ebpf_attach" },
	};

	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		const char *v = getenv(env[i][0]);

		if (v)
			fs_session_set_knob(s, env[i][1], v);
	}
}

/* top: the flows are exported on this thread while the view runs. */
struct export_job {
	struct fs_session *s;
	const struct fs_writer_options *w;
	uint64_t written;
	int rc;
	volatile int done;
};

static void *export_main(void *arg)
{
	struct export_job *j = arg;

	j->rc = fs_session_export(j->s, j->w, &j->written);
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int run_top(struct fs_session *s, const struct fs_writer_options *w)
{
	struct export_job j = { .s = s, .w = w };
	pthread_t th;
	int err = pthread_create(&th, NULL, export_main, &j);

	if (err) {
		fprintf(stderr, "flowsight: cannot start the export thread: %s\n", strerror(err));
		return -err;
	}
	top_run(s, &stop_signal, isatty(STDOUT_FILENO), &j.done);
	fs_session_stop(s);
	pthread_join(th, NULL);
	return j.rc;
}

int main(int argc, char **argv)
{
	static struct fc_config cfg;
	struct attached att = { 0 };
	struct fs_session *s;
	uint64_t written = 0;
	char err[512];
	int rc;

	/*
	 * Flows, samples and sockets are allocated and freed at the connection
	 * rate in the worker threads' arenas; with glibc's default trimming each
	 * arena shrinks and regrows its heap continuously, one mprotect() per
	 * page (thousands a second under a connect loop).  Keep freed tops,
	 * and grow the main heap 16 MiB at a time: a capture's flows took
	 * 1,300 brk() calls in 128 KiB steps.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 16 << 20);

	clilog_detect();
	switch (cli_parse(argc, argv, &cfg)) {
	case CLI_OK:
		break;
	case CLI_EXIT_OK:
		return 0;
	default:
		return 2;
	}
	if (cfg.top) {
		/* top is about processes; its records go to -o only */
		if (!cfg.o.system_visibility_mode)
			cfg.o.system_visibility_mode = 2;
		if (!cfg.w.path)
			cfg.w.path = "/dev/null";
	}
	clilog_library(config_verbosity(&cfg));
	fs_route_libbpf_log();
	fs_enable_mapped_reads();
	if (fs_session_new(&cfg.o, &s, err, sizeof(err))) {
		cli_err("%s", err);
		return 2;
	}
	for (int i = 0; i < cfg.n_plugins; i++) {
		if (fs_session_add_plugin(s, cfg.plugins[i].path, cfg.plugins[i].config)) {
			cli_err("%s", fs_session_error(s));
			fs_session_free(s);
			return 2;
		}
	}
	set_knobs(s);
	wait_interface = cfg.o.wait_interface;
	install_signals();
	running = s;
	if (stop_signal)
		fs_session_stop(s);
	/* the listener before the capture: a port in use leaves no output */
	if (cfg.metrics_listen && metrics_listen(cfg.metrics_listen, &att.metrics, err, sizeof(err))) {
		cli_err("%s", err);
		running = NULL;
		fs_session_free(s);
		return 1;
	}
	/* the sources first: a bad file, interface or filter leaves no output */
	rc = fs_session_start(s);
	if (rc) {
		running = NULL;
		metrics_stop(att.metrics);
		fs_session_free(s);
		return rc == -EINVAL ? 2 : 1; /* a bad parameter, or a bad source */
	}
	att.s = s;
	att.verbosity = config_verbosity(&cfg);
	fs_session_set_attached(s, on_attached, &att);
	if (cfg.top) {
		rc = run_top(s, &cfg.w);
	} else {
		struct progress *p = cfg.n_files ? progress_start(s, cfg.progress, att.verbosity)
						 : NULL;

		rc = fs_session_export(s, &cfg.w, &written);
		progress_stop(p);
	}
	if (stop_signal && config_verbosity(&cfg))
		cli_info(1, "%s received: cached flows exported", strsignal(stop_signal));
	running = NULL;
	metrics_stop(att.metrics); /* before the session it reads */
	fs_session_free(s);
	return rc ? 1 : 0;
}
