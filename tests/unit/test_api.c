// SPDX-License-Identifier: GPL-2.0-only
/*
 * libflowsight's public API (include/flowsight/flowsight.h):
 *  - every accessor against the hand-derived golden expectations of
 *    tests/golden/ (captures written by build/mkpcap): each cell of each
 *    expected row equals fs_flow_get() of that column, rendered as
 *    NFStream's CSV does (Python str()), for every column type;
 *  - the schema calls (names, types, indexes) and bad column indexes;
 *  - columnar batches equal the flows one by one, across batch boundaries;
 *  - two sessions at once, alternately on one thread and on two threads,
 *    give what each gives alone;
 *  - parameters: NFStream's messages, a missing file, a bad filter, stop;
 *  - counters (fs_session_stats, fs_session_counters) after an export:
 *    the ignored reasons add up, the queue is empty, all flows written.
 * Needs $MKPCAP (run_tests.sh sets it); ../shared's mixed.pcap adds a
 * larger case when present.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export/columns.h"
#include "flowsight/flowsight.h"
#include "test.h"

#define MIXED "../shared/data/bench/mixed.pcap"

static char tmpdir[64];
static size_t cells_checked;

/* Capture @scenario written by mkpcap into tmpdir; NULL when it cannot be. */
static const char *capture(const char *scenario, char *path, size_t n)
{
	const char *mk = getenv("MKPCAP") ? getenv("MKPCAP") : "build/mkpcap";
	char cmd[512];

	snprintf(path, n, "%s/%s.pcap", tmpdir, scenario);
	snprintf(cmd, sizeof(cmd), "%s %s %s >/dev/null 2>&1", mk, scenario, path);
	return system(cmd) == 0 ? path : NULL;
}

/* A value as NFStream's CSV writes it, unquoted. */
static void render(const struct fs_value *v, char *out, size_t n)
{
	size_t len = 0;

	if (v->is_null) {
		out[0] = '\0';
		return;
	}
	switch (v->type) {
	case FS_INT:
		snprintf(out, n, "%lld", (long long)v->i);
		break;
	case FS_FLOAT:
		fmt_py_float(v->f, out);
		break;
	case FS_STR:
		snprintf(out, n, "%s", v->s);
		break;
	case FS_LIST:
		len += (size_t)snprintf(out, n, "[");
		for (size_t i = 0; i < v->n && len < n; i++)
			len += (size_t)snprintf(out + len, n - len, "%s%lld", i ? ", " : "",
						(long long)v->list[i]);
		if (len < n)
			snprintf(out + len, n - len, "]");
		break;
	}
}

/* Split a CSV line of NFStream's dialect (quotes, \" inside) into cells. */
static int csv_cells(char *line, char **cells, int max)
{
	int n = 0;
	char *p = line, *w;

	while (*p && n < max) {
		cells[n++] = w = p;
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1] == '"')
					p++;
				*w++ = *p++;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',' && *p != '\n')
				*w++ = *p++;
		}
		if (*p == ',')
			p++;
		else if (*p == '\n')
			*p = '\0';
		*w = '\0';
	}
	return n;
}

/* Options from a golden .args line (only --name value / --flag). */
static bool options_of(const char *args, struct fs_options *o, char *buf, size_t n)
{
	char *tok, *save = NULL, err[256];

	snprintf(buf, n, "%s", args);
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		char name[64], *val = NULL;

		if (strncmp(tok, "--", 2) || strstr(tok, "@"))
			return false;
		snprintf(name, sizeof(name), "%s", tok + 2);
		for (char *c = name; *c; c++)
			if (*c == '-')
				*c = '_';
		if (strcmp(name, "statistical_analysis") && strcmp(name, "ja4") &&
		    strcmp(name, "dataset_mode"))
			val = strtok_r(NULL, " \n", &save);
		if (fs_options_set(o, name, val, err, sizeof(err)))
			return false;
	}
	return true;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Every cell of golden @scenario's expected rows through fs_flow_get_by_name(). */
static void golden_case(const char *scenario)
{
	char path[256], cap[256], argbuf[512], *args, *expect, *line, *save = NULL;
	char *names[128], *cells[128];
	struct fs_options o;
	struct fs_session *s;
	const char *files[1];
	int n_names = 0, row = 0;
	char err[256];

	snprintf(path, sizeof(path), "tests/golden/%s.args", scenario);
	args = slurp(path);
	snprintf(path, sizeof(path), "tests/golden/%s.expect.csv", scenario);
	expect = slurp(path);
	if (!ASSERT_TRUE(args && expect, scenario) ||
	    !ASSERT_TRUE(capture(scenario, cap, sizeof(cap)) != NULL, "mkpcap")) {
		free(args);
		free(expect);
		return;
	}
	fs_options_init(&o);
	files[0] = cap;
	o.files = files;
	o.n_files = 1;
	if (!ASSERT_TRUE(options_of(args, &o, argbuf, sizeof(argbuf)), "args") ||
	    !ASSERT_EQ(fs_session_new(&o, &s, err, sizeof(err)), 0, err))
		goto out;
	ASSERT_EQ(fs_session_start(s), 0, fs_session_error(s));
	for (line = strtok_r(expect, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char copy[8192];
		struct fs_flow *f;
		int n;

		snprintf(copy, sizeof(copy), "%s\n", line);
		if (!n_names) {
			static char hdr[8192];

			snprintf(hdr, sizeof(hdr), "%s", copy);
			n_names = csv_cells(hdr, names, 128);
			continue;
		}
		n = csv_cells(copy, cells, 128);
		f = fs_session_next(s, -1);
		if (!ASSERT_TRUE(f != NULL, "a flow per expected row"))
			break;
		for (int c = 0; c < n && c < n_names; c++) {
			struct fs_value v;
			char got[4096], what[256];

			snprintf(what, sizeof(what), "%s row %d %s", scenario, row, names[c]);
			if (!ASSERT_EQ(fs_flow_get_by_name(f, names[c], &v), 0, what))
				continue;
			ASSERT_EQ(v.type, fs_column_type(s, (size_t)fs_column_index(s, names[c])), what);
			render(&v, got, sizeof(got));
			ASSERT_STREQ(got, cells[c], what);
			cells_checked++;
		}
		fs_flow_free(f);
		row++;
	}
	ASSERT_TRUE(fs_session_next(s, -1) == NULL, "no flow beyond the expected rows");
	ASSERT_STREQ(fs_session_error(s), "", "a clean end");
	fs_session_free(s);
out:
	free(args);
	free(expect);
}

static void test_accessors_against_goldens(void)
{
	static const char *const scenarios[] = {
		"eth_tcp_handshake_stats", "eth_udp", "ipv6_tcp", "eth_vlan", "gtp_u",
		"acct_mode3_payload", "idle_expiry_hol", "tls_ja4_spec_example",
		"dataset_features", "dataset_tcp_close",
	};

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		golden_case(scenarios[i]);
	/* the expected rows of those files hold this many cells */
	ASSERT_TRUE(cells_checked >= 300, "cells compared");
	printf("  %zu cells of %zu golden files compared\n", cells_checked,
	       sizeof(scenarios) / sizeof(scenarios[0]));
}

static void test_schema(void)
{
	struct fs_options o;
	struct fs_session *s;
	const char *files[] = { "/nonexistent.pcap" };
	struct fs_value v;
	char err[256];

	fs_options_init(&o);
	o.files = files;
	o.n_files = 1;
	o.statistical_analysis = true;
	o.splt_analysis = 4;
	if (!ASSERT_EQ(fs_session_new(&o, &s, err, sizeof(err)), 0, err))
		return;
	/* NFStream's 86 columns with statistics, + 3 SPLT lists */
	ASSERT_EQ(fs_session_columns(s), 89, "columns");
	ASSERT_STREQ(fs_column_name(s, 0), "id", "first column");
	ASSERT_STREQ(fs_column_name(s, 88), "content_type", "last column");
	ASSERT_EQ(fs_column_index(s, "src_ip"), 2, "src_ip index");
	ASSERT_EQ(fs_column_type(s, 2), FS_STR, "src_ip type");
	ASSERT_EQ(fs_column_type(s, (size_t)fs_column_index(s, "bidirectional_mean_ps")), FS_FLOAT,
		  "mean type");
	ASSERT_EQ(fs_column_type(s, (size_t)fs_column_index(s, "splt_ps")), FS_LIST, "list type");
	ASSERT_EQ(fs_column_type(s, 0), FS_INT, "id type");
	ASSERT_EQ(fs_column_index(s, "no_such_column"), -1, "unknown column");
	ASSERT_TRUE(fs_column_name(s, 89) == NULL, "past the end");
	/* a missing file is refused at start, with the cause */
	ASSERT_EQ(fs_session_start(s), -ENOENT, "missing file");
	ASSERT_TRUE(strstr(fs_session_error(s), "No such file") != NULL, fs_session_error(s));
	ASSERT_TRUE(fs_session_next(s, -1) == NULL, "no flow from a session that did not start");
	(void)v;
	fs_session_free(s);
}

static void test_parameters(void)
{
	struct fs_options o;
	struct fs_session *s;
	char err[512];
	const char *files[1];
	char cap[256];

	fs_options_init(&o);
	ASSERT_EQ(fs_options_set(&o, "idle_timeout", "-1", err, sizeof(err)), -EINVAL, "neg");
	ASSERT_STREQ(err, "Please specify a valid idle_timeout parameter (positive integer in "
			  "seconds).", "NFStream's message");
	ASSERT_EQ(fs_options_set(&o, "n_dissections", "256", err, sizeof(err)), -EINVAL, "256");
	ASSERT_STREQ(err, "Please specify a valid n_dissections parameter (possible values in : "
			  "[0,...,255]).", "n_dissections message");
	ASSERT_EQ(fs_options_set(&o, "decode_tunnels", "True", err, sizeof(err)), 0, "True");
	ASSERT_EQ(fs_options_set(&o, "nope", "1", err, sizeof(err)), -ENOENT, "unknown");
	ASSERT_EQ(fs_options_set(&o, "capture", "xdp", err, sizeof(err)), -EINVAL, "capture");
	for (size_t i = 0; fs_param_at(i); i++)
		ASSERT_TRUE(fs_param_at(i)->name && fs_param_at(i)->help && fs_param_at(i)->error,
			    "param table");
	/* no source */
	ASSERT_EQ(fs_session_new(&o, &s, err, sizeof(err)), -EINVAL, "no source");
	ASSERT_STREQ(err, "Please specify a pcap file path or a valid network interface name as "
			  "source.", "source message");
	/* out of range set directly */
	if (!capture("eth_udp", cap, sizeof(cap)))
		return;
	files[0] = cap;
	o.files = files;
	o.n_files = 1;
	o.accounting_mode = 7;
	ASSERT_EQ(fs_session_new(&o, &s, err, sizeof(err)), -EINVAL, "accounting 7");
	ASSERT_STREQ(err, "Please specify a valid accounting_mode parameter (possible values: 0, 1, "
			  "2, 3).", "accounting message");
	/* a filter that does not compile: at start */
	o.accounting_mode = 0;
	o.bpf_filter = "not a filter ((";
	if (ASSERT_EQ(fs_session_new(&o, &s, err, sizeof(err)), 0, err)) {
		ASSERT_EQ(fs_session_start(s), -EINVAL, "bad filter");
		ASSERT_STREQ(fs_session_error(s), "Unable to compile BPF filter.", "filter message");
		fs_session_free(s);
	}
}

/* Every value of session @s rendered, one line per flow, into @out. */
static size_t dump(struct fs_session *s, char **out)
{
	size_t len = 0, cap = 1 << 16, ncol = fs_session_columns(s), flows = 0;
	struct fs_flow *f;
	char cell[8192];

	*out = malloc(cap);
	while ((f = fs_session_next(s, -1))) {
		for (size_t c = 0; c < ncol; c++) {
			struct fs_value v;

			fs_flow_get(f, c, &v);
			render(&v, cell, sizeof(cell));
			while (len + strlen(cell) + 2 >= cap)
				*out = realloc(*out, cap *= 2);
			len += (size_t)sprintf(*out + len, "%s%c", cell, c + 1 < ncol ? '|' : '\n');
		}
		fs_flow_free(f);
		flows++;
	}
	(*out)[len] = '\0';
	return flows;
}

static struct fs_session *open_file(const char *path, bool stats)
{
	static const char *files[8];
	static int k;
	struct fs_options o;
	struct fs_session *s;
	char err[256];

	files[k % 8] = path;
	fs_options_init(&o);
	o.files = &files[k++ % 8];
	o.n_files = 1;
	o.statistical_analysis = stats;
	o.splt_analysis = stats ? 6 : 0;
	if (fs_session_new(&o, &s, err, sizeof(err)) || fs_session_start(s))
		return NULL;
	return s;
}

/* The same values through fs_session_next_batch() in batches of @max. */
static size_t dump_batches(struct fs_session *s, size_t max, char **out)
{
	size_t len = 0, cap = 1 << 16, ncol = fs_session_columns(s), flows = 0;
	struct fs_batch *b = fs_batch_new(s);
	char cell[8192];
	long n;

	*out = malloc(cap);
	while ((n = fs_session_next_batch(s, b, max, -1)) > 0) {
		for (long r = 0; r < n; r++) {
			for (size_t c = 0; c < ncol; c++) {
				const uint8_t *nulls = fs_batch_nulls(b, c);

				if (nulls && nulls[r])
					cell[0] = '\0';
				else if (fs_column_type(s, c) == FS_INT)
					snprintf(cell, sizeof(cell), "%lld",
						 (long long)fs_batch_ints(b, c)[r]);
				else if (fs_column_type(s, c) == FS_FLOAT)
					fmt_py_float(fs_batch_floats(b, c)[r], cell);
				else
					snprintf(cell, sizeof(cell), "%s", fs_batch_strs(b, c)[r]);
				while (len + strlen(cell) + 2 >= cap)
					*out = realloc(*out, cap *= 2);
				len += (size_t)sprintf(*out + len, "%s%c", cell, c + 1 < ncol ? '|' : '\n');
			}
			flows++;
		}
	}
	(*out)[len] = '\0';
	fs_batch_free(b);
	return flows;
}

static void test_batch_equals_one_by_one(void)
{
	char cap[256];
	const char *paths[2];
	int n_paths = 0;

	if (capture("multi_file", cap, sizeof(cap)))
		paths[n_paths++] = cap;
	if (access(MIXED, R_OK) == 0)
		paths[n_paths++] = MIXED;
	for (int i = 0; i < n_paths; i++) {
		for (size_t max = 1; max <= 1000; max *= 7) {
			struct fs_session *a = open_file(paths[i], true), *b = open_file(paths[i], true);
			char *one = NULL, *many = NULL;
			size_t n1, n2;

			if (!ASSERT_TRUE(a && b, paths[i]))
				return;
			n1 = dump(a, &one);
			n2 = dump_batches(b, max, &many);
			ASSERT_EQ(n2, n1, "batch rows");
			ASSERT_TRUE(n1 > 0, "flows");
			ASSERT_TRUE(!strcmp(one, many), "batch values = one by one");
			free(one);
			free(many);
			fs_session_free(a);
			fs_session_free(b);
		}
	}
}

struct run {
	const char *path;
	char *out;
	size_t flows;
};

static void *run_thread(void *arg)
{
	struct run *r = arg;
	struct fs_session *s = open_file(r->path, true);

	if (s) {
		r->flows = dump(s, &r->out);
		fs_session_free(s);
	}
	return NULL;
}

static void test_two_sessions_at_once(void)
{
	char cap1[256], cap2[256];
	const char *p1 = access(MIXED, R_OK) == 0 ? MIXED : capture("multi_file", cap1, sizeof(cap1));
	const char *p2 = capture("gtp_u", cap2, sizeof(cap2));
	struct run alone[2] = { { p1, NULL, 0 }, { p2, NULL, 0 } }, both[2] = { { p1, NULL, 0 }, { p2, NULL, 0 } };
	struct fs_session *s1, *s2;
	pthread_t th[2];
	char *o1 = NULL, *o2 = NULL;
	size_t l1 = 0, l2 = 0, c1 = 1 << 16, c2 = 1 << 16;

	if (!ASSERT_TRUE(p1 && p2, "captures"))
		return;
	run_thread(&alone[0]);
	run_thread(&alone[1]);
	/* on two threads at once */
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, run_thread, &both[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(both[i].flows, alone[i].flows, "flows on two threads");
		ASSERT_TRUE(both[i].out && !strcmp(both[i].out, alone[i].out),
			    "values on two threads");
	}
	/* alternately on one thread */
	s1 = open_file(p1, true);
	s2 = open_file(p2, true);
	o1 = calloc(1, c1);
	o2 = calloc(1, c2);
	for (bool more = true; more;) {
		more = false;
		for (int k = 0; k < 2; k++) {
			struct fs_session *s = k ? s2 : s1;
			char **o = k ? &o2 : &o1;
			size_t *l = k ? &l2 : &l1, *c = k ? &c2 : &c1;
			struct fs_flow *f = fs_session_next(s, -1);
			char cell[8192];

			if (!f)
				continue;
			more = true;
			for (size_t col = 0; col < fs_session_columns(s); col++) {
				struct fs_value v;

				fs_flow_get(f, col, &v);
				render(&v, cell, sizeof(cell));
				while (*l + strlen(cell) + 2 >= *c)
					*o = realloc(*o, *c *= 2);
				*l += (size_t)sprintf(*o + *l, "%s%c", cell,
						      col + 1 < fs_session_columns(s) ? '|' : '\n');
			}
			fs_flow_free(f);
		}
	}
	ASSERT_TRUE(!strcmp(o1, alone[0].out), "first, alternating");
	ASSERT_TRUE(!strcmp(o2, alone[1].out), "second, alternating");
	fs_session_free(s1);
	fs_session_free(s2);
	free(o1);
	free(o2);
	for (int i = 0; i < 2; i++) {
		free(alone[i].out);
		free(both[i].out);
	}
}

static void test_stop_flushes(void)
{
	struct fs_session *s = open_file(access(MIXED, R_OK) == 0 ? MIXED : "/nonexistent", false);
	struct fs_flow *f;
	uint64_t id = 0;
	bool consecutive = true;
	size_t n = 0;

	if (!s) {
		SKIP_TEST(test_stop_flushes, "no ../shared/data/bench/mixed.pcap");
		return;
	}
	f = fs_session_next(s, -1);
	ASSERT_TRUE(f != NULL, "a first flow");
	fs_flow_free(f);
	fs_session_stop(s);
	/* every flow cached at the stop is still handed out, in order */
	while ((f = fs_session_next(s, -1))) {
		struct fs_value v;

		fs_flow_get(f, 0, &v);
		consecutive = consecutive && (uint64_t)v.i == ++id;
		fs_flow_free(f);
		n++;
	}
	ASSERT_TRUE(consecutive, "ids consecutive after the stop");
	ASSERT_TRUE(n > 0 && n < 3583, "the cached flows, not the whole file");
	ASSERT_STREQ(fs_session_error(s), "", "a stop is a clean end");
	fs_session_free(s);
}

/* The value of @family{reason=@key} in @c (n entries), or -1. */
static long long counter(const struct fs_counter *c, size_t n, const char *family, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i].family, family) &&
		    ((!key && !c[i].key) || (key && c[i].key && !strcmp(c[i].key, key))))
			return (long long)c[i].value;
	return -1;
}

/*
 * fs_session_stats() and fs_session_counters() after an export of
 * eth_non_ip_ignored (8 packets: 2 metered, 6 ignored: 1 too short, 1 bad
 * link layer, 4 not IP; 2 flows), as the exit summary counts them.
 */
/* fs_abi_sizeof(): what a binding without the header checks its mirrors by. */
static void test_abi_sizes(void)
{
	ASSERT_EQ(fs_abi_sizeof("fs_options"), sizeof(struct fs_options), "fs_options");
	ASSERT_EQ(fs_abi_sizeof("fs_writer_options"), sizeof(struct fs_writer_options),
		  "fs_writer_options");
	ASSERT_EQ(fs_abi_sizeof("fs_stats"), sizeof(struct fs_stats), "fs_stats");
	ASSERT_EQ(fs_abi_sizeof("fs_progress"), sizeof(struct fs_progress), "fs_progress");
	ASSERT_EQ(fs_abi_sizeof("fs_open_flow"), sizeof(struct fs_open_flow), "fs_open_flow");
	ASSERT_EQ(fs_abi_sizeof("fs_value"), sizeof(struct fs_value), "fs_value");
	ASSERT_EQ(fs_abi_sizeof("fs_counter"), sizeof(struct fs_counter), "fs_counter");
	ASSERT_EQ(fs_abi_sizeof("fs_nothing"), 0, "an unknown name");
	ASSERT_EQ(fs_abi_sizeof(NULL), 0, "NULL");
}

static void test_counters(void)
{
	char cap[256], out[300];
	struct fs_counter c[64];
	struct fs_session *s;
	struct fs_writer_options w = { 0 };
	struct fs_stats st;
	uint64_t written = 0;
	size_t n;
	long long sum = 0;

	if (!capture("eth_non_ip_ignored", cap, sizeof(cap))) {
		ASSERT_TRUE(false, "mkpcap eth_non_ip_ignored");
		return;
	}
	s = open_file(cap, false);
	if (!ASSERT_TRUE(s != NULL, "session"))
		return;
	ASSERT_EQ(fs_session_counters(s, NULL, 0) > 0, 1, "counters before the run");
	snprintf(out, sizeof(out), "%s/counters.csv", tmpdir);
	w.path = out;
	ASSERT_EQ(fs_session_export(s, &w, &written), 0, "export");
	ASSERT_EQ(written, 2, "flows written");
	fs_session_stats(s, &st);
	ASSERT_EQ(st.flows_expired, 2, "flows_expired");
	ASSERT_EQ(st.flows_written, 2, "flows_written");
	ASSERT_EQ(st.export_queue, 0, "export_queue");
	ASSERT_EQ(st.flows_cached, 0, "flows_cached");
	ASSERT_EQ(st.packets_processed, 2, "packets_processed");
	ASSERT_EQ(st.packets_ignored, 6, "packets_ignored");
	n = fs_session_counters(s, c, sizeof(c) / sizeof(c[0]));
	ASSERT_TRUE(n > 0 && n <= sizeof(c) / sizeof(c[0]), "counters fit");
	ASSERT_EQ(counter(c, n, "packets_received", NULL), 8, "packets_received");
	ASSERT_EQ(counter(c, n, "packets_metered", NULL), 2, "packets_metered");
	ASSERT_EQ(counter(c, n, "packets_ignored", "too_short"), 1, "too_short");
	ASSERT_EQ(counter(c, n, "packets_ignored", "l2"), 1, "l2");
	ASSERT_EQ(counter(c, n, "packets_ignored", "not_ip"), 4, "not_ip");
	ASSERT_EQ(counter(c, n, "packets_ignored", "fragment"), 0, "fragment");
	ASSERT_EQ(counter(c, n, "packets_ignored", "ok"), -1, "no 'ok' reason");
	ASSERT_EQ(counter(c, n, "packets_dropped", "ring"), -1, "no drops offline");
	for (size_t i = 0; i < n; i++) {
		ASSERT_STREQ(c[i].interface, "", "files: no interface");
		if (!strcmp(c[i].family, "packets_ignored"))
			sum += (long long)c[i].value;
	}
	ASSERT_EQ(sum, 6, "reasons add up to packets_ignored");
	ASSERT_EQ(fs_session_counters(s, c, 2), n, "the count does not depend on max");
	fs_session_free(s);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/fs-api-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	fs_set_log(NULL, NULL, -1); /* the expected errors are not news */
	RUN_TEST(test_accessors_against_goldens);
	RUN_TEST(test_schema);
	RUN_TEST(test_parameters);
	RUN_TEST(test_batch_equals_one_by_one);
	RUN_TEST(test_two_sessions_at_once);
	RUN_TEST(test_stop_flushes);
	RUN_TEST(test_counters);
	RUN_TEST(test_abi_sizes);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd))
			return 1;
	}
	return TEST_SUMMARY();
}
