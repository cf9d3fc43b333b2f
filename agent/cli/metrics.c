// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prometheus metrics of a running session (metrics.h).  What is exported:
 *
 *  - every field of struct fs_stats listed in stat_metrics[] below, one
 *    line each: a counter struct fs_stats gains (a sink's errors, its
 *    spool) is exported by adding its line;
 *  - every family of fs_session_counters() as flowsight_<family>_total,
 *    labelled {interface} and, when it has one, its breakdown label
 *    (reason, counter): new families need no change here;
 *  - flowsight_build_info{version,kernel,capture,attribution} 1 and
 *    flowsight_start_time_seconds.
 *
 * The listening socket is bound before the capture is attached (so a bad
 * address fails before any output exists); libmicrohttpd starts serving
 * once privileges are dropped, on its one internal thread (epoll), with
 * at most METRICS_MAX_CONNECTIONS connections (more are closed at once),
 * a time limit per connection and a memory limit per request.  GET and
 * HEAD of /metrics only: 404 for another path, 405 for another method.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli/metrics.h"

#define CONNECTION_TIMEOUT_S 10
#define CONNECTION_MEMORY (32 * 1024)

struct metrics {
	int fd;
	bool v6;
	char where[96]; /* ADDR:PORT as given, for messages */
	struct MHD_Daemon *d;
	struct fs_session *s;
};

static double start_time;

#define STAT(f) offsetof(struct fs_stats, f)

/* struct fs_stats fields, one line each. */
static const struct stat_metric {
	const char *name, *type, *help;
	size_t off;
} stat_metrics[] = {
	{ "flowsight_flows_exported_total", "counter",
	  "Flows handed to the output so far (NFStream's flows_expired).", STAT(flows_expired) },
	{ "flowsight_flows_active", "gauge", "Flows cached in the meters now.", STAT(flows_cached) },
	{ "flowsight_flows_written_total", "counter", "Flows the writer has output.",
	  STAT(flows_written) },
	{ "flowsight_export_queue_flows", "gauge",
	  "Flows handed to the output and not written yet.", STAT(export_queue) },
	{ "flowsight_output_reopened_total", "counter",
	  "Requests to reopen the output file (SIGHUP).", STAT(output_reopened) },
	{ "flowsight_attribution_events_total", "counter",
	  "Process attribution: socket and process records read from the kernel.",
	  STAT(attr_events) },
	{ "flowsight_attribution_lost_total", "counter",
	  "Process attribution: records lost or unrecorded (their flows are marked lost).",
	  STAT(attr_lost) },
	{ "flowsight_attribution_evicted_total", "counter",
	  "Process attribution: closed sockets evicted at the table caps.", STAT(attr_evicted) },
	{ "flowsight_attribution_early_copies_total", "counter",
	  "Process attribution: owners copied onto flows a second after their first packet.",
	  STAT(attr_early_copies) },
	{ "flowsight_attribution_early_copies_used_total", "counter",
	  "Process attribution: early copies used when a flow was written.",
	  STAT(attr_early_copies_used) },
	{ "flowsight_attribution_sockets", "gauge", "Process attribution: sockets held.",
	  STAT(attr_sockets) },
	{ "flowsight_attribution_tuples", "gauge", "Process attribution: 5-tuples held.",
	  STAT(attr_tuples) },
	{ "flowsight_attribution_processes", "gauge", "Process attribution: processes held.",
	  STAT(attr_processes) },
};

/* A label value with Prometheus' escapes. */
static void label_value(FILE *f, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void render_counters(FILE *f, struct fs_session *s)
{
	size_t n = fs_session_counters(s, NULL, 0), m;
	struct fs_counter *c = calloc(n ? n : 1, sizeof(*c));
	bool *done = calloc(n ? n : 1, 1);

	if (!c || !done) {
		free(c);
		free(done);
		return;
	}
	m = fs_session_counters(s, c, n);
	if (m > n)
		m = n; /* an entry more since the first call: left for the next scrape */
	/* each family once, its values together, in the library's order */
	for (size_t i = 0; i < m; i++) {
		if (done[i])
			continue;
		fprintf(f, "# HELP flowsight_%s_total %s\n# TYPE flowsight_%s_total counter\n",
			c[i].family, c[i].help, c[i].family);
		for (size_t j = i; j < m; j++) {
			if (done[j] || strcmp(c[j].family, c[i].family))
				continue;
			done[j] = true;
			fprintf(f, "flowsight_%s_total{interface=\"", c[j].family);
			label_value(f, c[j].interface);
			fputc('"', f);
			if (c[j].label) {
				fprintf(f, ",%s=\"", c[j].label);
				label_value(f, c[j].key);
				fputc('"', f);
			}
			fprintf(f, "} %llu\n", (unsigned long long)c[j].value);
		}
	}
	free(c);
	free(done);
}

char *metrics_render(struct fs_session *s, size_t *len)
{
	struct fs_stats st;
	struct utsname u;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "unknown");
	fputs("# HELP flowsight_build_info The agent's version, the kernel it runs on, its "
	      "capture (file, pcap, ebpf) and whether process attribution runs.\n"
	      "# TYPE flowsight_build_info gauge\nflowsight_build_info{version=\"", f);
	label_value(f, fs_version());
	fputs("\",kernel=\"", f);
	label_value(f, u.release);
	fputs("\",capture=\"", f);
	label_value(f, fs_session_capture(s));
	fprintf(f, "\",attribution=\"%s\"} 1\n", fs_session_attribution(s) ? "true" : "false");
	fprintf(f, "# HELP flowsight_start_time_seconds When the agent started, in seconds since "
		"the epoch.\n# TYPE flowsight_start_time_seconds gauge\n"
		"flowsight_start_time_seconds %.3f\n", start_time);
	fs_session_stats(s, &st);
	for (size_t i = 0; i < sizeof(stat_metrics) / sizeof(stat_metrics[0]); i++) {
		const struct stat_metric *m = &stat_metrics[i];
		uint64_t v;

		memcpy(&v, (const char *)&st + m->off, sizeof(v));
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", m->name, m->help, m->name,
			m->type, m->name, (unsigned long long)v);
	}
	render_counters(f, s);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *text,
			     const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len = 0;
	char *body;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n", NULL);
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
	body = metrics_render(m->s, &len);
	if (!body)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* Split @spec into host and port: PORT, ADDR:PORT, [ADDR6]:PORT. */
static int split(const char *spec, char *host, size_t hn, char *port, size_t pn, char *err,
		 size_t n)
{
	const char *p;
	char *end;
	unsigned long v;

	if (!spec || !*spec)
		goto bad;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= hn)
			goto bad;
		snprintf(host, hn, "%.*s", (int)(close - spec - 1), spec + 1);
		p = close + 2;
	} else if ((p = strrchr(spec, ':'))) {
		if (strchr(spec, ':') != p || (size_t)(p - spec) >= hn || p == spec)
			goto bad; /* an IPv6 address needs brackets */
		snprintf(host, hn, "%.*s", (int)(p - spec), spec);
		p++;
	} else {
		snprintf(host, hn, "127.0.0.1");
		p = spec;
	}
	if (!*p || *p == '-' || *p == '+')
		goto bad;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		goto bad;
	snprintf(port, pn, "%lu", v);
	return 0;
bad:
	snprintf(err, n, "invalid value '%s' for --metrics-listen: expected PORT, ADDR:PORT or "
		 "[IPV6]:PORT (port 1-65535)", spec ? spec : "");
	return -EINVAL;
}

static int resolve(const char *spec, struct addrinfo **res, char *err, size_t n)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	char host[80], port[8];
	int rc = split(spec, host, sizeof(host), port, sizeof(port), err, n);

	if (rc)
		return rc;
	rc = getaddrinfo(host, port, &hints, res);
	if (rc) {
		snprintf(err, n, "invalid value '%s' for --metrics-listen: %s", spec,
			 gai_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

int metrics_parse(const char *spec, char *err, size_t n)
{
	struct addrinfo *res;
	int rc = resolve(spec, &res, err, n);

	if (!rc)
		freeaddrinfo(res);
	return rc;
}

int metrics_listen(const char *spec, struct metrics **out, char *err, size_t n)
{
	struct addrinfo *res;
	struct metrics *m;
	int one = 1, rc;

	rc = resolve(spec, &res, err, n);
	if (rc)
		return rc;
	m = calloc(1, sizeof(*m));
	if (!m) {
		freeaddrinfo(res);
		snprintf(err, n, "out of memory");
		return -ENOMEM;
	}
	m->v6 = res->ai_family == AF_INET6;
	{
		char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";

		getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(m->where, sizeof(m->where), m->v6 ? "[%s]:%s" : "%s:%s", host, port);
	}
	m->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m->fd < 0)
		goto fail;
	setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (m->v6)
		setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(m->fd, res->ai_addr, res->ai_addrlen) || listen(m->fd, 64))
		goto fail;
	freeaddrinfo(res);
	*out = m;
	return 0;
fail:
	rc = -errno;
	snprintf(err, n, "cannot listen on %s for --metrics-listen: %s", spec, strerror(errno));
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	freeaddrinfo(res);
	return rc;
}

int metrics_start(struct metrics *m, struct fs_session *s, char *err, size_t n)
{
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | (m->v6 ? MHD_USE_IPv6 : 0);

	m->s = s;
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, m,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)m->fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
				MHD_OPTION_END);
	if (!m->d) {
		snprintf(err, n, "cannot serve metrics on %s: libmicrohttpd did not start",
			 m->where);
		return -EIO;
	}
	return 0;
}

const char *metrics_where(const struct metrics *m)
{
	return m->where;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	if (m->d)
		MHD_stop_daemon(m->d); /* closes the listening socket it was given */
	else if (m->fd >= 0)
		close(m->fd);
	free(m);
}

__attribute__((constructor)) static void note_start(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
