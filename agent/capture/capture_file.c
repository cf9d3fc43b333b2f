// SPDX-License-Identifier: GPL-2.0-only
/*
 * Capture files as a capture: the files are read in order as one stream
 * (NFStream's list of sources) by one engine on the caller's thread, in
 * NFStream's order.  Without L7 and plugins, nothing reads a packet's bytes
 * after decoding, so regular files are read and decoded a batch ahead on a
 * second thread (readahead.c).  A stop exports every cached flow, unless
 * the engine was stopped by max_nflows (NFStream drops the rest).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "capture/capture.h"
#include "capture/readahead.h"
#include "capture/source.h"
#include "util/log.h"

#define FRAMES 64

struct capture {
	const struct capture_env *env;
	struct source *src;
	struct dpi *dpi;
	struct engine *eng;
	struct readahead *ra; /* step(): started at the first step when used */
	bool use_readahead;
	bool started, finishing, finished;
	int end_rc; /* the step's result once the flush is done */
	struct snap_buf snap;
	struct frame fr[FRAMES];
};

static void snap_one(void *arg, struct flow *f)
{
	struct capture *c = arg;

	snap_buf_add_flow(&c->snap, f, c->dpi);
}

/* Counters for fs_session_stats() and the progress line, and a snapshot
 * when one is asked for: after every batch, relaxed stores only. */
static void step_publish(struct capture *c)
{
	struct session *s = c->env->session;

	session_meter_publish(s, 0, c->eng, NULL);
	if (session_snap_wanted(s, 0)) {
		c->snap.taken_ms = session_wall_ms();
		engine_visit(c->eng, snap_one, c);
		session_snap_publish(s, 0, &c->snap);
	}
}

/* Every input is a regular file (no idle hook, no waiting on a pipe). */
static bool all_regular(const char *const *files, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (stat(files[i], &st) || !S_ISREG(st.st_mode))
			return false;
	}
	return true;
}

/* The input may block: push out what has expired so far. */
static void flush_output(void *arg)
{
	struct capture *c = arg;

	session_sync(c->env->session);
}

static void file_close(struct capture *c)
{
	if (!c)
		return;
	if (c->ra)
		readahead_stop(c->ra);
	engine_free(c->eng);
	dpi_free(c->dpi);
	source_close(c->src);
	snap_buf_free(&c->snap);
	free(c);
}

static int file_open(const struct capture_env *env, struct capture **out)
{
	const struct fs_options *o = env->opts;
	struct capture *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	c->env = env;
	/* the input first: a bad path or filter fails before any output */
	err = source_pcap_open(o->files, (int)o->n_files, o->bpf_filter, &c->src);
	if (err) {
		c->src = NULL;
		goto fail;
	}
	if (env->dpi) {
		err = dpi_new(env->dpi, &c->dpi);
		if (err)
			goto fail;
	}
	c->eng = engine_new(&env->engine, c->dpi, session_emit, env->session);
	if (!c->eng) {
		pr_warn("out of memory\n");
		err = -ENOMEM;
		goto fail;
	}
	source_pcap_set_idle_hook(c->src, flush_output, c);
	source_pcap_set_progress(c->src, session_progress(env->session));
	/* Decoding ahead on another thread leaves the packets' bytes behind
	 * (the reader's buffer moves on, a file's mapping goes at its end):
	 * only when nothing reads them, neither nDPI nor a plugin (ip_packet). */
	c->use_readahead = !c->dpi && !(env->engine.plugins && env->engine.plugins->reads_bytes) &&
			   all_regular(o->files, o->n_files);
	*out = c;
	return 0;
fail:
	file_close(c);
	return err == SOURCE_EFILTER ? CAPTURE_EFILTER : err;
}

/* The end of input or of the engine: export what is cached, or drop it
 * after max_nflows.  FLUSH_STEP flows per call, so that a consumer that
 * pulls flows (the API) takes the first ones while the rest expire:
 * true while flows are left. */
#define FLUSH_STEP 4096
static bool finish(struct capture *c)
{
	int why = session_stop_reason(c->env->session);
	bool more = false;

	if (c->finished)
		return false;
	if (why > 0 && !c->finishing)
		pr_info("%s received: exporting %zu cached flows\n", strsignal(why),
			engine_flows_cached(c->eng));
	c->finishing = true;
	if (engine_stopped(c->eng))
		engine_discard(c->eng); /* max_nflows reached: NFStream drops the rest */
	else
		more = engine_flush_some(c->eng, FLUSH_STEP);
	c->finished = !more;
	step_publish(c);
	return more;
}

/*
 * Meter the next batch.  1 while there is more, 0 at the end, -errno when
 * the source failed (it said why; the flows formed so far are flushed).
 */
static int file_step(struct capture *c)
{
	struct session *s = c->env->session;
	int r;

	if (c->finished)
		return 0;
	if (c->finishing)
		return finish(c) ? 1 : c->end_rc;
	if (!c->started) {
		c->started = true;
		/* a thread that cannot start: read on this one */
		if (c->use_readahead &&
		    readahead_start(c->src, &c->env->engine, session_stop_flag(s), &c->ra))
			c->use_readahead = false;
	}
	if (session_stopping(s))
		return finish(c) ? 1 : 0;
	if (c->ra) {
		struct engine_decoded *d = readahead_next(c->ra, &r);

		if (d && !engine_meter_decoded(c->eng, d)) {
			step_publish(c);
			return 1;
		}
		if (!d && r < 0 && (r != -EINTR || !session_stopping(s)))
			c->end_rc = r;
		return finish(c) ? 1 : c->end_rc;
	}
	r = source_next(c->src, c->fr, FRAMES);
	if (r > 0 && !engine_frames(c->eng, c->fr, r)) {
		step_publish(c);
		return 1;
	}
	if (r < 0 && (r != -EINTR || !session_stopping(s)))
		c->end_rc = r; /* logged by the source */
	return finish(c) ? 1 : c->end_rc;
}

static int file_run(struct capture *c)
{
	int r;

	while ((r = file_step(c)) > 0)
		;
	return r;
}

static void file_summary(struct capture *c, int err)
{
	const struct engine_stats *st = engine_get_stats(c->eng);

	(void)err;
	pr_info("%llu packets: %llu processed, %llu ignored; %llu flows exported\n",
		(unsigned long long)st->packets_seen, (unsigned long long)st->packets_processed,
		(unsigned long long)st->packets_ignored,
		(unsigned long long)session_flows(c->env->session));
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
}

const struct capture_ops capture_file_ops = {
	.name = "file",
	.open = file_open,
	.run = file_run,
	.step = file_step,
	.summary = file_summary,
	.close = file_close,
};
