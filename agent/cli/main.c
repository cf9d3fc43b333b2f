// SPDX-License-Identifier: GPL-2.0-only
/*
 * flowsight entry point: parse the command line, build the pipeline
 * (source -> engine [decode, flow table, nDPI] -> exporter), run it, and
 * tear it down.  Capture files are metered here on one thread; live
 * capture (-i) is live.c's, with the same output.  The exit status is
 * decided here only: 0 success, 1 input or output error, 2 invalid
 * arguments.  SIGINT/SIGTERM stop the capture and every cached flow is
 * still exported.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "export/columns.h"
#include "l7/dpi.h"
#include "core/engine.h"
#include "export/export.h"
#include "capture/live.h"
#include "util/log.h"
#include "capture/readahead.h"
#include "capture/source.h"
#include "export/writer.h"

static volatile sig_atomic_t stop_signal;

/* Every input is a regular file (no idle hook, no waiting on a pipe). */
static bool all_regular(const char *const *files, int n)
{
	for (int i = 0; i < n; i++) {
		struct stat st;

		if (stat(files[i], &st) || !S_ISREG(st.st_mode))
			return false;
	}
	return true;
}

/*
 * Meter @src on @eng with reading and decoding on a second thread.  0 at
 * the end of input or when the engine stopped, -errno when the source
 * failed (it has said why), 1 when the thread could not start (nothing
 * was read: the caller reads on its own).
 */
static int read_ahead(struct source *src, const struct engine_opts *o, struct engine *eng)
{
	struct engine_decoded *d;
	struct readahead *ra;
	int err;

	if (readahead_start(src, o, &stop_signal, &ra))
		return 1;
	while ((d = readahead_next(ra, &err)))
		if (engine_meter_decoded(eng, d))
			break;
	readahead_stop(ra);
	return d ? 0 : err;
}

static void on_signal(int sig)
{
	int saved_errno = errno;

	/* atomic: live meter threads poll the flag (a lock-free int store is
	 * async-signal-safe) */
	__atomic_store_n(&stop_signal, sig, __ATOMIC_RELAXED);
	errno = saved_errno;
}

struct run_ctx {
	struct exporter *exp;
	struct writer *writer;   /* formats and writes on a second thread */
	uint64_t next_id;
	uint64_t max_nflows;
	int out_err;
	bool sysvis_columns;
};

static int emit_flow(struct flow *f, int expiration_id, void *arg)
{
	struct run_ctx *rc = arg;
	int err = writer_push(rc->writer, f, rc->next_id++, expiration_id);

	if (err && !rc->out_err)
		rc->out_err = err;
	if (err == -EPIPE)
		return 1; /* reader went away: stop quietly */
	if (rc->max_nflows && rc->next_id >= rc->max_nflows)
		return 1;
	return 0;
}

/* The input may block: push out what has expired so far. */
static void flush_output(void *arg)
{
	struct run_ctx *rc = arg;

	writer_sync(rc->writer);
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

static struct engine_opts engine_opts_of(const struct fc_config *cfg)
{
	return (struct engine_opts){
		.idle_timeout_ms = cfg->idle_timeout_s * 1000,
		.active_timeout_ms = cfg->active_timeout_s * 1000,
		.max_flows_in_memory = cfg->max_flows_in_memory,
		.flow = { .accounting_mode = (uint8_t)cfg->accounting_mode,
			  .statistics = cfg->statistical_analysis,
			  .splt = (uint16_t)cfg->splt_analysis },
		.decode_tunnels = cfg->decode_tunnels,
	};
}

/* Close the output and report a write error; the exit status it implies. */
static int close_output(struct exporter *exp, const char *path, int out_err,
			uint64_t *written, uint64_t *failed)
{
	int err = exporter_close(exp, written, failed);

	if (!err)
		err = out_err;
	if (err && err != -EPIPE) {
		pr_warn("cannot write flow records to '%s': %s (%llu flows not written)\n",
			path ? path : "stdout", strerror(-err), (unsigned long long)*failed);
		return 1;
	}
	return 0;
}

/*
 * Live capture: the capture is set up before the output is created, so a
 * bad interface or filter leaves no output behind (as a bad file offline).
 */
static int run_live(const struct fc_config *cfg, const struct export_opts *eo)
{
	struct engine_opts engo = engine_opts_of(cfg);
	struct dpi_opts dopts = { .n_dissections = (uint8_t)cfg->n_dissections, .ja4 = cfg->ja4 };
	struct exporter *exp;
	struct writer *w;
	struct live *lv;
	uint64_t written = 0, failed = 0;
	int err, out_err = 0, status = 0;

	install_signals();
	err = live_open(cfg, &engo, cfg->n_dissections ? &dopts : NULL, &stop_signal, &lv);
	if (err)
		return err == SOURCE_EFILTER ? 2 : 1;
	if (exporter_open(eo, &exp)) {
		status = 1;
		goto out_live;
	}
	err = writer_start(exp, &w);
	if (err) {
		pr_warn("cannot start the writer thread: %s\n", strerror(-err));
		close_output(exp, cfg->output, 0, &written, &failed);
		status = 1;
		goto out_live;
	}
	if (live_run(lv, w, &out_err))
		status = 1;
	err = writer_stop(w);
	if (err && !out_err)
		out_err = err;
	if (close_output(exp, cfg->output, out_err, &written, &failed))
		status = 1;
out_live:
	live_close(lv);
	return status;
}

static void report(const struct engine *e, uint64_t written, uint64_t failed)
{
	const struct engine_stats *st = engine_get_stats(e);

	pr_info("%llu packets: %llu processed, %llu ignored; %llu flows exported\n",
		(unsigned long long)st->packets_seen, (unsigned long long)st->packets_processed,
		(unsigned long long)st->packets_ignored, (unsigned long long)written);
	for (int v = 1; v < DECODE__MAX; v++)
		if (st->ignored[v])
			pr_debug("  ignored, %s: %llu\n", decode_verdict_str(v),
				 (unsigned long long)st->ignored[v]);
	if (st->flows_evicted)
		pr_info("%llu flows exported early by --max-flows-in-memory (expiration_id 2)\n",
			(unsigned long long)st->flows_evicted);
	if (st->flows_lost_nomem)
		pr_warn("%llu packets lost: no memory for their flow\n",
			(unsigned long long)st->flows_lost_nomem);
	(void)failed;
}

int main(int argc, char **argv)
{
	struct fc_config cfg;
	struct schema schema;
	struct column_opts co;
	bool anon[512] = { false };
	bool any_anon = false;
	struct export_opts eo;
	struct engine_opts engo;
	struct dpi *dpi = NULL;
	struct source *src = NULL;
	struct engine *eng = NULL;
	struct run_ctx rc = { 0 };
	struct frame fr[64];
	uint64_t written = 0, failed = 0;
	int status = 0, err;

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
	if (cfg.system_visibility_mode && cfg.n_files == 1) {
		fprintf(stderr, "WARNING: system_visibility_mode switched to 0 in offline capture "
				"(available only for live capture)\n");
		cfg.system_visibility_mode = 0;
	}

	co = (struct column_opts){
		.decode_tunnels = cfg.decode_tunnels,
		.statistics = cfg.statistical_analysis,
		.splt = (uint16_t)cfg.splt_analysis,
		.l7 = cfg.n_dissections > 0,
		.ja4 = cfg.ja4,
		/* NFStream quirk kept: a list of files keeps the columns (-1, "") */
		.system_visibility = (int)cfg.system_visibility_mode,
	};
	if (schema_init(&schema, &co)) {
		pr_warn("out of memory\n");
		return 1;
	}
	for (int i = 0; i < cfg.n_anon_cols; i++) {
		int idx = schema_find(&schema, cfg.anon_cols[i]);

		if (idx < 0 || idx >= (int)(sizeof(anon) / sizeof(anon[0]))) {
			fprintf(stderr, "WARNING: NFlow do not have %s attribute. Skipping anonymization.\n",
				cfg.anon_cols[i]);
			continue;
		}
		anon[idx] = any_anon = true;
	}
	eo = (struct export_opts){
		.path = cfg.output,
		.format = cfg.format,
		.flows_per_file = cfg.flows_per_file,
		.rotate_files = cfg.rotate_files,
		.schema = &schema,
		.anonymize = any_anon ? anon : NULL,
	};
	if (cfg.n_ifaces) {
		status = run_live(&cfg, &eo);
		goto out_schema;
	}

	/* Open the input first: a bad path or filter fails before any output. */
	err = source_pcap_open(cfg.files, cfg.n_files, cfg.bpf_filter, &src);
	if (err) {
		status = err == SOURCE_EFILTER ? 2 : 1;
		goto out_schema;
	}
	if (cfg.n_dissections) {
		struct dpi_opts dopts = { .n_dissections = (uint8_t)cfg.n_dissections,
					  .ja4 = cfg.ja4 };

		if (dpi_new(&dopts, &dpi)) {
			status = 1;
			goto out_source;
		}
	}
	if (exporter_open(&eo, &rc.exp)) {
		status = 1;
		goto out_dpi;
	}
	engo = engine_opts_of(&cfg);
	rc.max_nflows = cfg.max_nflows;
	err = writer_start(rc.exp, &rc.writer);
	if (err) {
		pr_warn("cannot start the writer thread: %s\n", strerror(-err));
		status = 1;
		goto out_export;
	}
	eng = engine_new(&engo, dpi, emit_flow, &rc);
	if (!eng) {
		pr_warn("out of memory\n");
		status = 1;
		goto out_writer;
	}

	source_pcap_set_idle_hook(src, flush_output, &rc);
	install_signals();
	/* nothing reads packet bytes after decoding without L7: read ahead */
	err = !dpi && all_regular(cfg.files, cfg.n_files) ? read_ahead(src, &engo, eng) : 1;
	if (err < 0 && (err != -EINTR || !stop_signal))
		status = 1; /* logged; flows formed so far are flushed */
	while (err == 1 && !stop_signal) {
		int r = source_next(src, fr, (int)(sizeof(fr) / sizeof(fr[0])));

		if (r == 0)
			break;
		if (r < 0) {
			if (r != -EINTR || !stop_signal)
				status = 1; /* logged; flows formed so far are flushed */
			break;
		}
		if (engine_frames(eng, fr, r))
			break;
	}
	if (stop_signal)
		pr_info("%s received: exporting %zu cached flows\n", strsignal(stop_signal),
			engine_flows_cached(eng));
	if (engine_stopped(eng))
		engine_discard(eng); /* max_nflows reached: NFStream drops the rest */
	else
		engine_flush(eng);

out_writer:
	err = writer_stop(rc.writer);
	if (err && !rc.out_err)
		rc.out_err = err;
out_export:
	if (close_output(rc.exp, cfg.output, rc.out_err, &written, &failed))
		status = 1;
	if (eng) {
		report(eng, written, failed);
		engine_free(eng);
	}
out_dpi:
	dpi_free(dpi);
out_source:
	source_close(src);
out_schema:
	schema_release(&schema);
	return status;
}
