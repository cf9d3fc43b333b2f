// SPDX-License-Identifier: GPL-2.0-only
/*
 * libflowsight's sessions (flowsight.h): the options become a schema, an
 * engine configuration and a capture; the capture feeds the core session,
 * whose consumer is either a queue the caller pulls from or the writer
 * thread; attribution is the step that fills each flow's process as it is
 * handed out.  Everything a session uses is its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/options.h"
#include "api/session.h"
#include "attr/attr.h"
#include "capture/capture.h"
#include "capture/privs.h"
#include "export/pcapng.h"
#include "export/sink.h"
#include "export/writer.h"
#include "util/log.h"

#ifndef FLOWSIGHT_VERSION
#define FLOWSIGHT_VERSION "0.1.0"
#endif

#define QUEUE_MAX 65536 /* flows waiting for a live puller: back-pressure beyond */

const char *fs_version(void)
{
	return FLOWSIGHT_VERSION;
}

size_t fs_abi_sizeof(const char *type)
{
	static const struct {
		const char *name;
		size_t size;
	} t[] = {
		{ "fs_options", sizeof(struct fs_options) },
		{ "fs_writer_options", sizeof(struct fs_writer_options) },
		{ "fs_stats", sizeof(struct fs_stats) },
		{ "fs_progress", sizeof(struct fs_progress) },
		{ "fs_open_flow", sizeof(struct fs_open_flow) },
		{ "fs_value", sizeof(struct fs_value) },
		{ "fs_counter", sizeof(struct fs_counter) },
	};

	for (size_t i = 0; type && i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(type, t[i].name))
			return t[i].size;
	return 0;
}

int api_error(struct fs_session *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return err;
}

static void column_opts_of(const struct fs_options *o, struct column_opts *co)
{
	*co = (struct column_opts){
		.decode_tunnels = o->decode_tunnels,
		.statistics = o->statistical_analysis,
		.splt = (uint16_t)o->splt_analysis,
		.l7 = o->n_dissections > 0,
		.ja4 = o->ja4,
		.dataset = o->dataset_mode,
		.system_visibility = (int)o->system_visibility_mode,
	};
}

#define VERDICT_NAME(name, text) [name] = #name,
static const char *const verdict_names[DECODE__MAX] = { DECODE_VERDICTS(VERDICT_NAME) };
#undef VERDICT_NAME

/* The decoder's verdicts as label values: DECODE_NOT_IP -> not_ip. */
static void verdict_keys(struct fs_session *s)
{
	for (int v = 0; v < DECODE__MAX; v++) {
		const char *p = verdict_names[v] + sizeof("DECODE_") - 1;
		size_t n = 0;

		for (; *p && n < sizeof(s->verdict_key[v]) - 1; p++)
			s->verdict_key[v][n++] = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
		s->verdict_key[v][n] = '\0';
	}
}

static char *join_ifaces(const struct fs_options *o)
{
	size_t len = 1;
	char *j;

	for (size_t i = 0; i < o->n_interfaces; i++)
		len += strlen(o->interfaces[i] ? o->interfaces[i] : "") + 1;
	j = calloc(1, len);
	for (size_t i = 0; j && i < o->n_interfaces; i++) {
		if (i)
			strcat(j, ",");
		strcat(j, o->interfaces[i] ? o->interfaces[i] : "");
	}
	return j;
}

int fs_session_new(const struct fs_options *o, struct fs_session **out, char *err, size_t n)
{
	struct fs_session *s;
	char why[512];
	int rc;

	*out = NULL;
	rc = fs_options_validate(o, why, sizeof(why));
	if (rc) {
		if (err && n)
			snprintf(err, n, "%s", why);
		return rc;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		if (err && n)
			snprintf(err, n, "out of memory");
		return -ENOMEM;
	}
	s->o = *o;
	s->live = o->n_interfaces > 0;
	verdict_keys(s);
	s->ifaces_joined = join_ifaces(o);
	if (!s->ifaces_joined) {
		free(s);
		if (err && n)
			snprintf(err, n, "out of memory");
		return -ENOMEM;
	}
	if (o->splt_analysis > 255)
		log_raw("[WARNING]: The specified splt_analysis parameter is higher than 255. "
			"High values can impact the performance of the tool.\n");
	if (s->o.system_visibility_mode && o->n_files == 1) {
		log_raw("WARNING: system_visibility_mode switched to 0 in offline capture "
			"(available only for live capture)\n");
		s->o.system_visibility_mode = 0;
	}
	/* NFStream quirk kept: a list of files keeps the columns (-1, "") */
	column_opts_of(&s->o, &s->co);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->qcv, NULL);
	pthread_mutex_init(&s->sink_lock, NULL);
	rc = plugins_init(s);
	if (!rc)
		rc = schema_init(&s->schema, &s->co);
	if (rc) {
		if (err && n)
			snprintf(err, n, "out of memory");
		fs_session_free(s);
		return rc;
	}
	s->schema_ready = true;
	*out = s;
	return 0;
}

/* Add the plugins' columns to the schema after the built-in ones. */
static int rebuild_schema(struct fs_session *s)
{
	schema_release(&s->schema);
	s->schema_ready = false;
	if (schema_init(&s->schema, &s->co))
		return -ENOMEM;
	s->schema_ready = true;
	return plugins_schema(s);
}

/* --split-on-owner: attribution's owner changes into an engine. */
static void apply_split(void *arg, const uint8_t *a, uint16_t pa, const uint8_t *b, uint16_t pb,
			uint8_t protocol, uint8_t ip_version, uint64_t at_ms)
{
	struct pkt k = { .src_port = pa, .dst_port = pb, .protocol = protocol,
			 .ip_version = ip_version };

	memcpy(k.src_ip, a, 16);
	memcpy(k.dst_ip, b, 16);
	engine_split_at(arg, &k, at_ms);
}

static void engine_splits(void *arg, struct engine *e, uint64_t *cursor)
{
	attr_splits(arg, cursor, apply_split, e);
}

/* Attribution's step for a flow handed out. */
static void proc_of(void *arg, const struct flow *f, struct proc_info *out)
{
	attr_lookup(arg, f, out);
}

static void attr_report(void *arg, FILE *f)
{
	fputc('{', f);
	attr_perf_json(arg, f);
	fputc('}', f);
}

static void capture_report(void *arg, FILE *f)
{
	struct fs_session *s = arg;

	s->cap_ops->report(s->cap, f);
}

/* Pull mode: the session's consumer is a queue. */
static int queue_push(void *arg, struct flow *f, uint64_t id, int expiration_id)
{
	struct fs_session *s = arg;
	/* the flow's handle is made here and queued itself: one allocation */
	struct fs_flow *q = calloc(1, sizeof(*q));

	if (!q) {
		engine_flow_free(f);
		return -ENOMEM;
	}
	q->s = s;
	q->f = f;
	q->id = id;
	q->expiration_id = expiration_id;
	pthread_mutex_lock(&s->qlock);
	/* a live capture waits for a slow puller rather than growing without
	 * bound (its kernel buffers absorb the wait, and count what they drop);
	 * offline the puller meters on its own thread and never waits here */
	while (s->live && s->qlen >= QUEUE_MAX && !s->closing)
		pthread_cond_wait(&s->qcv, &s->qlock);
	if (s->qtail)
		s->qtail->qnext = q;
	else
		s->qhead = q;
	s->qtail = q;
	s->qlen++;
	pthread_cond_broadcast(&s->qcv);
	pthread_mutex_unlock(&s->qlock);
	return 0;
}

/* --pcapng-out: the file is created once the capture is open (the
 * interfaces' link types are known), before any packet is metered. */
static int open_pcapng(struct fs_session *s)
{
	const struct fs_options *o = &s->o;
	struct pcapng_iface *ifs = calloc(o->n_interfaces, sizeof(*ifs));
	struct pcapng_opts po;
	int err;

	if (!ifs)
		return api_error(s, -ENOMEM, "out of memory");
	for (size_t i = 0; i < o->n_interfaces; i++)
		ifs[i] = (struct pcapng_iface){
			.name = o->interfaces[i],
			.dlt = s->cap_ops->iface_dlt ? s->cap_ops->iface_dlt(s->cap, (unsigned int)i) : 1,
			.snaplen = (uint32_t)o->snapshot_length,
		};
	po = (struct pcapng_opts){
		.path = o->pcapng_out,
		.ifaces = ifs,
		.n_ifaces = (unsigned int)o->n_interfaces,
		.n_producers = s->n_meters,
		.attr = s->attr,
		.visibility = (int)o->system_visibility_mode,
		/* with attribution, packets wait for their flow's owner: about the
		 * time its early copy is taken (attr.h) */
		.hold_ms = s->attr ? ATTR_EARLY_MS : 0,
	};
	err = pcapng_open(&po, &s->pcapng);
	free(ifs);
	if (err)
		return api_error(s, err, "cannot write packets to '%s': %s", o->pcapng_out,
				 strerror(-err));
	s->env.pcapng = s->pcapng;
	return 0;
}

/* Close the pcapng file once the capture is done: its write error, if any. */
static int close_pcapng(struct fs_session *s)
{
	int err;

	if (!s->pcapng || s->pcapng_closed)
		return 0;
	s->pcapng_closed = true;
	err = pcapng_close(s->pcapng);
	s->pcapng = NULL;
	return err;
}

int fs_session_start(struct fs_session *s)
{
	const struct fs_options *o = &s->o;
	struct session_opts so;
	bool privs_fallback = false;
	int err;

	if (s->started)
		return api_error(s, -EALREADY, "the session was started already");
	s->started = true;
	if (s->n_plugins && rebuild_schema(s))
		return api_error(s, -ENOMEM, "out of memory");
	s->n_meters = s->live ? options_meters(o->n_meters) : 1;
	s->dpi = (struct dpi_opts){ .n_dissections = (uint8_t)o->n_dissections, .ja4 = o->ja4 };
	s->engine = (struct engine_opts){
		.idle_timeout_ms = o->idle_timeout * 1000,
		.active_timeout_ms = o->active_timeout * 1000,
		.max_flows_in_memory = o->max_flows_in_memory,
		.flow = { .accounting_mode = (uint8_t)o->accounting_mode,
			  .statistics = o->statistical_analysis,
			  .splt = (uint16_t)o->splt_analysis,
			  .dataset = o->dataset_mode,
			  .activity_timeout_us = o->activity_timeout * 1000000 },
		.decode_tunnels = o->decode_tunnels,
		.live = s->live,
	};
	plugins_engine(s, &s->engine);
	so = (struct session_opts){
		.max_nflows = o->max_nflows,
		.perf_report_s = s->live ? o->performance_report : 0,
		.n_meters = s->n_meters,
		.n_ifaces = s->live ? (unsigned int)o->n_interfaces : 0,
	};
	err = session_new(&so, &s->core);
	if (err)
		return api_error(s, err, "out of memory");
	session_set_consumer(s->core, &(struct session_consumer){ queue_push, NULL, s });
	s->engine.serials = session_serials(s->core);
	s->env = (struct capture_env){
		.opts = &s->o,
		.n_meters = s->n_meters,
		.engine = s->engine,
		.dpi = o->n_dissections ? &s->dpi : NULL,
		.session = s->core,
		.ebpf_attach = s->ebpf_attach,
	};
	if (!s->live) {
		s->cap_ops = &capture_file_ops;
	} else {
		s->caps.capture = CAPS_PCAP;
		/* a plugin that reads every packet, a split at the owner's
		 * change, or dataset mode's per-packet state machines need the
		 * packets themselves: libpcap */
		s->cap_ops = capture_choose(&s->env, plugins_need_every_packet(s) ||
							     o->split_on_owner || o->dataset_mode,
					    &s->caps.auto_fallback);
		s->caps.capture = s->cap_ops == &capture_ebpf_ops ? CAPS_EBPF : CAPS_PCAP;
		s->caps.attr = o->system_visibility_mode != 0;
		(void)privs_fallback;
		err = caps_require(&s->caps, o->interfaces, (int)o->n_interfaces);
		if (err)
			return api_error(s, err, "missing capabilities");
		if (o->system_visibility_mode) {
			/* before the capture: sockets opened from now on are all seen */
			struct attr_opts ao = {
				.retain_ms = (o->idle_timeout + 60) * 1000,
				.all_netns = o->system_visibility_all_netns,
				.disable = s->attr_disable,
				.inert = s->attr_inert,
				.max_sockets = s->attr_max_sockets,
				.max_tuples = s->attr_max_tuples,
				.ringbuf_bytes = s->attr_ringbuf_bytes,
				.splits = o->split_on_owner,
				.refuse_sock_create = s->attr_refuse,
			};

			if (attr_open(&ao, &s->attr))
				pr_warn("process attribution is off: system_process_* columns stay "
					"-1 and empty\n");
		}
		s->caps.attr = s->attr != NULL;
		if (s->attr && o->split_on_owner) {
			s->env.engine.splits = engine_splits;
			s->env.engine.splits_arg = s->attr;
		}
		if (s->attr && !s->attr_no_early) {
			/* each flow's owner is copied a second in, while its socket is
			 * surely still in the tables (attr.h) */
			s->env.engine.early = attr_early;
			s->env.engine.early_arg = s->attr;
			s->env.engine.early_after_ms = ATTR_EARLY_MS;
		}
	}
	err = s->cap_ops->open(&s->env, &s->cap);
	if (err == CAPTURE_EFILTER) {
		s->cap = NULL;
		return api_error(s, -EINVAL, "Unable to compile BPF filter.");
	}
	if (err) {
		/* the source said why on the log; -EINVAL is kept for bad parameters */
		s->cap = NULL;
		return api_error(s, err == -EINVAL ? -EIO : err, "cannot open the capture: %s",
				 strerror(err == -EINVAL ? EIO : -err));
	}
	if (o->pcapng_out && (err = open_pcapng(s)))
		return err;
	if (s->cap_ops->report)
		session_add_report(s->core, s->cap_ops->name, capture_report, s);
	if (s->attr)
		session_add_report(s->core, "attribution", attr_report, s->attr);
	s->open_ok = true;
	return 0;
}

const char *fs_session_capture(const struct fs_session *s)
{
	return s->cap_ops && s->open_ok ? s->cap_ops->name : "";
}

bool fs_session_attribution(const struct fs_session *s)
{
	return s->attr != NULL;
}

/* run()'s result: a capture that ended for a reason of its own (an
 * interface went away) fails even when it stopped cleanly. */
static int run_result(struct fs_session *s, int err)
{
	return err ? err : session_failure(s->core, NULL, 0);
}

/* Live pull: the capture runs on its own thread until it stops. */
static void *runner(void *arg)
{
	struct fs_session *s = arg;
	int err = run_result(s, s->cap_ops->run(s->cap));

	pthread_mutex_lock(&s->qlock);
	s->run_err = err;
	s->qend = true;
	pthread_cond_broadcast(&s->qcv);
	pthread_mutex_unlock(&s->qlock);
	return NULL;
}

static struct fs_flow *wrap(struct fs_session *s, struct fs_flow *w)
{
	w->qnext = NULL;
	if (s->attr) {
		w->proc = malloc(sizeof(*w->proc));
		if (w->proc)
			attr_lookup(s->attr, w->f, w->proc);
	}
	return w;
}

/* Wait for a queued flow: true when one is there; false at the end or
 * after @timeout_ms (s->timed_out). */
static bool wait_flow(struct fs_session *s, int timeout_ms)
{
	struct timespec dl;

	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += timeout_ms / 1000;
		dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
	}
	while (!s->qhead && !s->qend) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&s->qcv, &s->qlock);
		} else if (pthread_cond_timedwait(&s->qcv, &s->qlock, &dl) == ETIMEDOUT) {
			s->timed_out = !s->qhead;
			break;
		}
	}
	return s->qhead != NULL;
}

static void end_error(struct fs_session *s, int err)
{
	char why[256];

	if (err && !s->err[0] && s->core && session_failure(s->core, why, sizeof(why)))
		api_error(s, err, "%s", why);
	if (err && !s->err[0])
		api_error(s, err, "%s", plugins_error(s) ? plugins_error(s) :
			  err == -EIO ? "capture file error (see the log)" : strerror(-err));
}

struct fs_flow *fs_session_next(struct fs_session *s, int timeout_ms)
{
	struct fs_flow *q;

	s->timed_out = false;
	if (!s->open_ok) {
		if (!s->err[0])
			api_error(s, -EINVAL, "the session is not started");
		return NULL;
	}
	if (s->exporting)
		return NULL;
	if (!s->live) {
		/* offline: meter on this thread until a flow is out */
		while (!s->qhead && !s->qend) {
			int r = s->cap_ops->step(s->cap);

			if (r <= 0) {
				s->qend = true;
				end_error(s, r);
				if (!s->summarized) {
					s->summarized = true;
					s->cap_ops->summary(s->cap, r);
				}
			}
		}
	} else if (!s->runner_started) {
		int err = pthread_create(&s->runner, NULL, runner, s);

		if (err) {
			api_error(s, -err, "cannot start the capture thread: %s", strerror(err));
			return NULL;
		}
		s->runner_started = true;
	}
	pthread_mutex_lock(&s->qlock);
	if (!wait_flow(s, timeout_ms)) {
		if (s->qend && s->live)
			end_error(s, s->run_err);
		pthread_mutex_unlock(&s->qlock);
		return NULL;
	}
	q = s->qhead;
	s->qhead = q->qnext;
	if (!s->qhead)
		s->qtail = NULL;
	s->qlen--;
	pthread_cond_broadcast(&s->qcv);
	pthread_mutex_unlock(&s->qlock);
	return wrap(s, q);
}

bool fs_session_timed_out(const struct fs_session *s)
{
	return s->timed_out;
}

void fs_flow_free(struct fs_flow *f)
{
	if (!f)
		return;
	engine_flow_free(f->f);
	free(f->proc);
	free(f->text);
	free(f->lists);
	free(f);
}

void fs_session_stop(struct fs_session *s)
{
	if (s->core)
		session_request_stop(s->core, SESSION_STOP_ASKED);
	else
		s->stop_early = 1;
}

const char *fs_session_error(const struct fs_session *s)
{
	return s->err;
}

/* Export mode: the writer thread is the consumer. */
static int writer_consume(void *arg, struct flow *f, uint64_t id, int expiration_id)
{
	return writer_push(arg, f, id, expiration_id);
}

static void writer_flush(void *arg)
{
	writer_sync(arg);
}

/* Close the output and report a write error. */
static int close_output(struct fs_session *s, struct exporter *exp, const char *path, int out_err,
			uint64_t *written)
{
	uint64_t failed = 0;
	int err = exporter_close(exp, written, &failed);

	if (!err)
		err = out_err;
	if (err && err != -EPIPE) {
		pr_warn("cannot write flow records to '%s': %s (%llu flows not written)\n",
			path ? path : "stdout", strerror(-err), (unsigned long long)failed);
		return api_error(s, err, "cannot write flow records to '%s': %s", path ? path :
				 "stdout", strerror(-err));
	}
	return 0;
}

/* Open the network sinks of @wo (none: 0).  A bad option or an output
 * that cannot be opened is the session's error. */
static int open_sinks(struct fs_session *s, const struct fs_writer_options *wo)
{
	char why[512];
	int err;

	if ((wo->ipfix || wo->clickhouse) && wo->n_columns_to_anonymize)
		return api_error(s, -EINVAL, "columns_to_anonymize applies to CSV and JSON only: "
				 "it cannot be combined with the ipfix or clickhouse sinks");
	if (wo->ipfix) {
		err = ipfix_sink_open(wo, &s->schema, &s->sinks[0], why, sizeof(why));
		if (err)
			return api_error(s, err, "%s", why);
	}
	if (wo->clickhouse) {
		err = clickhouse_sink_open(wo, &s->schema, &s->sinks[1], why, sizeof(why));
		if (err)
			return api_error(s, err, "%s", why);
	}
	return 0;
}

/* Drain and close the sinks; their final counters stay readable.  -EIO
 * when flows were lost (counted by reason in the summary line). */
static int close_sinks(struct fs_session *s, const struct fs_writer_options *wo)
{
	int failed = 0;
	uint64_t drain_ms = (wo->sink_drain_seconds ? wo->sink_drain_seconds : 10) * 1000;
	uint64_t deadline = sink_mono_ms() + drain_ms; /* one for all: they drain at once */

	for (int i = 0; i < 2; i++)
		if (s->sinks[i])
			sink_close_begin(s->sinks[i], deadline);
	for (int i = 0; i < 2; i++) {
		struct fs_sink_stats st;
		struct sink *sk = s->sinks[i];
		char label[160], line[768];
		uint64_t lost;

		if (!sk)
			continue;
		snprintf(label, sizeof(label), "%s", sk->label);
		/* stats readers see the live counters until the sink is unlisted */
		sink_close(sk, deadline, &st);
		pthread_mutex_lock(&s->sink_lock);
		s->sinks[i] = NULL;
		s->sink_final[i] = st;
		pthread_mutex_unlock(&s->sink_lock);
		sink_free(sk);
		sink_summary(label, &st, line, sizeof(line));
		pr_warn("%s\n", line);
		lost = st.dropped_queue_full + st.dropped_spool_full + st.dropped_too_big +
		       st.dropped_rejected + st.dropped_at_exit;
		if (lost && !s->err[0])
			api_error(s, -EIO, "%" PRIu64 " flows not delivered by %s", lost, label);
		if (lost)
			failed = -EIO;
	}
	return failed;
}

int fs_session_export(struct fs_session *s, const struct fs_writer_options *wo, uint64_t *written)
{
	bool anon[512] = { false }, any_anon = false;
	struct export_opts eo;
	struct exporter *exp = NULL;
	struct writer *w;
	uint64_t flows = 0;
	int err, run_err, status = 0;

	*written = 0;
	if (!s->open_ok)
		return api_error(s, -EINVAL, "the session is not started");
	if (wo->format == FS_FORMAT_NONE && !wo->ipfix && !wo->clickhouse)
		return api_error(s, -EINVAL, "format none needs a sink (ipfix or clickhouse)");
	for (size_t i = 0; i < wo->n_columns_to_anonymize; i++) {
		int idx = schema_find(&s->schema, wo->columns_to_anonymize[i]);

		if (idx < 0 || idx >= (int)(sizeof(anon) / sizeof(anon[0]))) {
			log_raw("WARNING: NFlow do not have %s attribute. Skipping anonymization.\n",
				wo->columns_to_anonymize[i]);
			continue;
		}
		anon[idx] = any_anon = true;
	}
	err = open_sinks(s, wo);
	if (err) {
		pr_warn("%s\n", s->err);
		close_sinks(s, wo);
		return err;
	}
	eo = (struct export_opts){
		.path = wo->path,
		.format = wo->format == FS_FORMAT_JSONL ? EXPORT_JSONL : EXPORT_CSV,
		.flows_per_file = wo->flows_per_file,
		.rotate_files = wo->rotate_files,
		.schema = &s->schema,
		.anonymize = any_anon ? anon : NULL,
	};
	if (wo->format != FS_FORMAT_NONE && exporter_open(&eo, &exp)) {
		close_sinks(s, wo);
		return api_error(s, -EIO, "cannot open the output");
	}
	err = writer_start(exp, &w);
	if (err) {
		pr_warn("cannot start the writer thread: %s\n", strerror(-err));
		if (exp)
			close_output(s, exp, wo->path, 0, written);
		close_sinks(s, wo);
		return api_error(s, err, "cannot start the writer thread");
	}
	for (int i = 0; i < 2; i++)
		if (s->sinks[i]) {
			/* offline, waiting for a sink that delivers loses no packet */
			sink_set_backpressure(s->sinks[i], !s->live);
			writer_add_sink(w, s->sinks[i]);
		}
	if (s->attr)
		writer_set_proc(w, proc_of, s->attr);
	writer_set_counters(w, &s->written, session_reopen_gen(s->core));
	s->exporting = true;
	session_set_consumer(s->core, &(struct session_consumer){ writer_consume, writer_flush, w });
	if (s->stop_early)
		session_request_stop(s->core, SESSION_STOP_ASKED);
	if (s->on_attached && (err = s->on_attached(s->on_attached_arg))) {
		session_request_stop(s->core, SESSION_STOP_ERROR);
		run_err = err;
	} else {
		run_err = run_result(s, s->cap_ops->run(s->cap));
	}
	if (!s->summarized) {
		s->summarized = true;
		s->cap_ops->summary(s->cap, run_err);
	}
	err = writer_stop(w, &flows);
	if (!err)
		err = session_output_error(s->core);
	if (close_sinks(s, wo))
		status = -EIO;
	if (exp) {
		if (close_output(s, exp, wo->path, err, written))
			status = -EIO;
	} else {
		*written = flows;
	}
	err = close_pcapng(s);
	if (err && !status) {
		/* said once on the log when it happened */
		api_error(s, err, "cannot write packets to '%s': %s", s->o.pcapng_out,
			  strerror(-err));
		status = err;
	}
	if (run_err) {
		end_error(s, run_err);
		status = run_err;
	}
	return status;
}

void fs_session_stats(const struct fs_session *s, struct fs_stats *st)
{
	struct session_meter_stats t;
	uint64_t written;

	memset(st, 0, sizeof(*st));
	if (!s->core)
		return;
	session_meter_sum(s->core, &t);
	st->flows_expired = session_flows(s->core);
	st->packets_processed = t.packets_processed;
	st->packets_ignored = t.packets_ignored;
	st->packets_dropped_filtered_by_kernel = t.kernel_drop;
	st->kernel_received = t.kernel_recv;
	st->interface_dropped = t.kernel_ifdrop;
	st->flows_cached = t.flows_cached;
	written = __atomic_load_n(&s->written, __ATOMIC_RELAXED);
	st->flows_written = written;
	st->output_reopened = *session_reopen_gen(s->core);
	if (s->exporting) {
		st->export_queue = st->flows_expired > written ? st->flows_expired - written : 0;
	} else {
		pthread_mutex_lock((pthread_mutex_t *)&s->qlock);
		st->export_queue = s->qlen;
		pthread_mutex_unlock((pthread_mutex_t *)&s->qlock);
	}
	if (s->attr) {
		struct attr_stats a;

		attr_get_stats(s->attr, &a);
		st->attr_events = a.events;
		st->attr_lost = a.lost;
		st->attr_evicted = a.evicted;
		st->attr_early_copies = a.copies;
		st->attr_early_copies_used = a.copies_used;
		st->attr_sockets = a.sockets;
		st->attr_tuples = a.tuples;
		st->attr_processes = a.processes;
	}
	pthread_mutex_lock((pthread_mutex_t *)&s->sink_lock);
	for (int i = 0; i < 2; i++) {
		struct fs_sink_stats *d = i ? &st->clickhouse : &st->ipfix;

		if (s->sinks[i])
			sink_stats(s->sinks[i], d);
		else
			*d = s->sink_final[i];
	}
	pthread_mutex_unlock((pthread_mutex_t *)&s->sink_lock);
}

/* fs_session_counters()' output, bounded by its array. */
struct counters_out {
	const struct fs_session *s;
	struct fs_counter *out;
	size_t max, n;
};

static void put(struct counters_out *o, const char *family, const char *help, const char *iface,
		const char *label, const char *key, uint64_t v)
{
	if (o->n < o->max)
		o->out[o->n] = (struct fs_counter){ family, help, iface, label, key, v };
	o->n++;
}

static const char HELP_RECEIVED[] = "Packets that reached the capture (libpcap: the kernel's "
	"ps_recv; eBPF: seen by the TC program; files: read).";
static const char HELP_DROPPED[] = "Packets lost before metering: ring (no room in the kernel "
	"ring or the eBPF ring buffer), interface (dropped by the interface).";
static const char HELP_KERNEL[] = "The eBPF capture's kernel counters (FC_COUNTERS).";

static void put_kernel(void *arg, const char *name, const char *help, uint64_t v)
{
	struct counters_out *o = arg;

	(void)help;
	put(o, "ebpf_kernel", HELP_KERNEL, o->s->ifaces_joined, "counter", name, v);
}

/* The eBPF kernel's reasons for ignoring a packet, by counter name. */
static const char *const kernel_ignored[] = { "not_ip", "trunc", "fragment", "ipv6_ext",
					      "dup_iface" };

struct kernel_ignored_sum {
	uint64_t v[sizeof(kernel_ignored) / sizeof(kernel_ignored[0])];
	uint64_t packets, ring_lost;
	bool any;
};

static void sum_kernel(void *arg, const char *name, const char *help, uint64_t v)
{
	struct kernel_ignored_sum *k = arg;

	(void)help;
	k->any = true;
	for (size_t i = 0; i < sizeof(kernel_ignored) / sizeof(kernel_ignored[0]); i++)
		if (!strcmp(name, kernel_ignored[i]))
			k->v[i] = v;
	if (!strcmp(name, "packets"))
		k->packets = v;
	if (!strcmp(name, "punt_lost"))
		k->ring_lost = v;
}

size_t fs_session_counters(const struct fs_session *s, struct fs_counter *out, size_t max)
{
	static const char help_metered[] = "Packets metered into flows.";
	static const char help_ignored[] = "Packets not metered, by reason (the decoder's "
		"verdicts; the eBPF kernel's own).";
	struct counters_out o = { s, out, max, 0 };
	struct kernel_ignored_sum k = { 0 };
	struct session_meter_stats t;
	const char *all;

	if (!s->core || !s->open_ok)
		return 0;
	all = s->ifaces_joined;
	session_meter_sum(s->core, &t);
	if (s->cap_ops->counters)
		s->cap_ops->counters(s->cap, sum_kernel, &k);
	/* received and dropped: per interface where the kernel counts so */
	if (!s->live) {
		put(&o, "packets_received", HELP_RECEIVED, all, NULL, NULL,
		    t.packets_processed + t.packets_ignored);
	} else if (k.any) {
		put(&o, "packets_received", HELP_RECEIVED, all, NULL, NULL, k.packets);
	} else {
		for (size_t i = 0; i < s->o.n_interfaces; i++) {
			struct session_kstats ks;

			session_iface_sum(s->core, (unsigned int)i, &ks);
			put(&o, "packets_received", HELP_RECEIVED, s->o.interfaces[i], NULL, NULL,
			    ks.recv);
		}
	}
	put(&o, "packets_metered", help_metered, all, NULL, NULL, t.packets_processed);
	for (int v = 1; v < DECODE__MAX; v++) {
		uint64_t n = t.ignored[v];

		for (size_t i = 0; i < sizeof(kernel_ignored) / sizeof(kernel_ignored[0]); i++)
			if (!strcmp(s->verdict_key[v], kernel_ignored[i]))
				n += k.v[i];
		put(&o, "packets_ignored", help_ignored, all, "reason", s->verdict_key[v], n);
	}
	for (size_t i = 0; k.any && i < sizeof(kernel_ignored) / sizeof(kernel_ignored[0]); i++) {
		bool shared = false;

		for (int v = 1; v < DECODE__MAX; v++)
			shared = shared || !strcmp(s->verdict_key[v], kernel_ignored[i]);
		if (!shared)
			put(&o, "packets_ignored", help_ignored, all, "reason", kernel_ignored[i],
			    k.v[i]);
	}
	if (s->live && k.any) {
		put(&o, "packets_dropped", HELP_DROPPED, all, "reason", "ring", k.ring_lost);
	} else if (s->live) {
		for (size_t i = 0; i < s->o.n_interfaces; i++) {
			struct session_kstats ks;

			session_iface_sum(s->core, (unsigned int)i, &ks);
			put(&o, "packets_dropped", HELP_DROPPED, s->o.interfaces[i], "reason", "ring",
			    ks.drop);
			put(&o, "packets_dropped", HELP_DROPPED, s->o.interfaces[i], "reason",
			    "interface", ks.ifdrop);
		}
	}
	if (s->cap_ops->counters)
		s->cap_ops->counters(s->cap, put_kernel, &o);
	return o.n;
}

void fs_session_reopen_output(struct fs_session *s)
{
	if (s->core)
		session_request_reopen(s->core);
}

void fs_session_progress(const struct fs_session *s, struct fs_progress *p)
{
	struct session_progress *sp;

	memset(p, 0, sizeof(*p));
	if (!s->core || s->live)
		return;
	sp = session_progress(s->core);
	p->bytes_read = __atomic_load_n(&sp->bytes_read, __ATOMIC_RELAXED);
	p->bytes_total = __atomic_load_n(&sp->bytes_total, __ATOMIC_RELAXED);
	p->file_bytes_read = __atomic_load_n(&sp->file_read, __ATOMIC_RELAXED);
	p->file_bytes_total = __atomic_load_n(&sp->file_total, __ATOMIC_RELAXED);
	p->file = __atomic_load_n(&sp->file, __ATOMIC_RELAXED);
	p->n_files = __atomic_load_n(&sp->n_files, __ATOMIC_RELAXED);
	p->done = __atomic_load_n(&sp->done, __ATOMIC_RELAXED) != 0;
}

void fs_session_free(struct fs_session *s)
{
	if (!s)
		return;
	if (s->core)
		session_request_stop(s->core, SESSION_STOP_ASKED);
	pthread_mutex_lock(&s->qlock);
	s->closing = true;
	pthread_cond_broadcast(&s->qcv);
	pthread_mutex_unlock(&s->qlock);
	if (s->runner_started)
		pthread_join(s->runner, NULL);
	if (s->cap && s->open_ok && !s->summarized && s->runner_started) {
		s->summarized = true;
		s->cap_ops->summary(s->cap, s->run_err);
	}
	close_pcapng(s);
	if (s->cap)
		s->cap_ops->close(s->cap);
	while (s->qhead) {
		struct fs_flow *q = s->qhead;

		s->qhead = q->qnext;
		engine_flow_free(q->f);
		free(q);
	}
	if (s->attr) {
		char line[512];

		attr_summary(s->attr, line, sizeof(line));
		pr_warn("%s\n", line);
		attr_close(s->attr);
	}
	plugins_free(s);
	session_free(s->core);
	if (s->schema_ready)
		schema_release(&s->schema);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->qcv);
	free(s->ifaces_joined);
	pthread_mutex_destroy(&s->sink_lock);
	free(s);
}
