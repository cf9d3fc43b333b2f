// SPDX-License-Identifier: GPL-2.0-only
/*
 * flowsight, the command: a client of libflowsight (flowsight.h).  It
 * parses the command line, opens a session, drops its privileges once the
 * capture is attached, and exports every flow to CSV or JSON lines.  What
 * is process-wide is done here only: signals (SIGINT/SIGTERM stop the
 * session, every cached flow is still exported), libbpf's log hook, the
 * allocator's tuning and the exit status: 0 success, 1 input or output
 * error, 2 invalid arguments.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/caps.h"
#include "cli/cli.h"
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

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Once the capture is attached: shed every capability it no longer uses. */
static int drop_privileges(void *arg)
{
	struct fs_session *s = arg;
	struct caps_mode m = {
		.capture = !strcmp(fs_session_capture(s), "ebpf") ? CAPS_EBPF :
			   !strcmp(fs_session_capture(s), "pcap") ? CAPS_PCAP : CAPS_NO_CAPTURE,
		.attr = fs_session_attribution(s),
		.reattach = wait_interface,
	};

	if (m.capture == CAPS_NO_CAPTURE)
		return 0;
	return caps_drop(&m);
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
		{ "FLOWSIGHT_EBPF_ATTACH", "ebpf_attach" },
	};

	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		const char *v = getenv(env[i][0]);

		if (v)
			fs_session_set_knob(s, env[i][1], v);
	}
}

int main(int argc, char **argv)
{
	struct fc_config cfg;
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

	switch (cli_parse(argc, argv, &cfg)) {
	case CLI_OK:
		break;
	case CLI_EXIT_OK:
		return 0;
	default:
		return 2;
	}
	fs_set_log(NULL, NULL, cfg.verbose);
	fs_route_libbpf_log();
	fs_enable_mapped_reads();
	if (fs_session_new(&cfg.o, &s, err, sizeof(err))) {
		fprintf(stderr, "flowsight: %s\n", err);
		return 2;
	}
	for (int i = 0; i < cfg.n_plugins; i++) {
		if (fs_session_add_plugin(s, cfg.plugins[i].path, cfg.plugins[i].config)) {
			fprintf(stderr, "flowsight: %s\n", fs_session_error(s));
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
	/* the sources first: a bad file, interface or filter leaves no output */
	rc = fs_session_start(s);
	if (rc) {
		running = NULL;
		fs_session_free(s);
		return rc == -EINVAL ? 2 : 1; /* a bad parameter, or a bad source */
	}
	fs_session_set_attached(s, drop_privileges, s);
	rc = fs_session_export(s, &cfg.w, &written);
	if (stop_signal && cfg.verbose)
		fprintf(stderr, "flowsight: %s received: cached flows exported\n",
			strsignal(stop_signal));
	running = NULL;
	fs_session_free(s);
	return rc ? 1 : 0;
}
