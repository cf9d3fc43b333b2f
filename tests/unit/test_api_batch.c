// SPDX-License-Identifier: GPL-2.0-only
/*
 * libflowsight's batch calls for DataFrame hosts (the Python package):
 * fs_session_pull() + fs_batch_fill() give fs_session_next_batch()'s
 * columns, fs_batch_handles() the rows' flows, fs_batch_text() every text
 * in row/column order, fs_batch_dict() each text column as codes and
 * distinct texts, fs_batch_release() drops flows never filled, fs_stats
 * counts the capture's bytes read, and fs_read_csv_floats() gives what
 * pandas.read_csv makes of Python's repr() of a double (values checked
 * against pandas 1.5 by hand), and a frame (fs_batch_set_frame) filled by
 * two threads while the pulls make it grow holds the batches' values.  The
 * capture is written here.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowsight/flowsight.h"
#include "test.h"

#define FLOWS 300

static char path[64];

/* FLOWS UDP flows of two packets, 10.0.<i/250>.<i%250> -> 10.1.0.<i%7>. */
static int write_capture(void)
{
	FILE *f;
	static const uint32_t hdr[6] = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 };

	snprintf(path, sizeof(path), "/tmp/fs-test-api-%d.pcap", (int)getpid());
	f = fopen(path, "wb");
	if (!f)
		return -1;
	fwrite(hdr, sizeof(hdr), 1, f);
	for (int i = 0; i < FLOWS * 2; i++) {
		int fl = i % FLOWS, dir = i / FLOWS;
		uint8_t frame[64] = { 2, 0, 0, 0, 0, (uint8_t)(2 + dir), 2, 0, 0, 0, 0,
				      (uint8_t)(1 - dir), 0x08, 0x00 };
		uint8_t *ip = frame + 14, *udp = ip + 20;
		uint8_t a[4] = { 10, 0, (uint8_t)(fl / 250), (uint8_t)(fl % 250) };
		uint8_t b[4] = { 10, 1, 0, (uint8_t)(fl % 7) };
		uint32_t rec[4] = { 1000 + (uint32_t)i / 10, (uint32_t)(i % 10) * 1000, 64, 64 };

		ip[0] = 0x45;
		ip[3] = 50;
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, dir ? b : a, 4);
		memcpy(ip + 16, dir ? a : b, 4);
		udp[0] = 0x30;
		udp[1] = (uint8_t)fl;
		udp[2] = 0x00;
		udp[3] = 53;
		if (dir) {
			uint8_t t0 = udp[0], t1 = udp[1];

			udp[0] = udp[2], udp[1] = udp[3], udp[2] = t0, udp[3] = t1;
		}
		udp[5] = 30;
		fwrite(rec, sizeof(rec), 1, f);
		fwrite(frame, sizeof(frame), 1, f);
	}
	return fclose(f);
}

static struct fs_session *open_session(void)
{
	static const char *files[1];
	struct fs_options o;
	struct fs_session *s = NULL;
	char err[256];

	files[0] = path;
	fs_options_init(&o);
	o.files = files;
	o.n_files = 1;
	o.statistical_analysis = true;
	o.splt_analysis = 3;
	if (fs_session_new(&o, &s, err, sizeof(err)) || fs_session_start(s)) {
		fprintf(stderr, "session: %s\n", s ? fs_session_error(s) : err);
		fs_session_free(s);
		return NULL;
	}
	return s;
}

static bool text_col(struct fs_session *s, size_t c)
{
	return fs_column_type(s, c) == FS_STR || fs_column_type(s, c) == FS_LIST;
}

static void test_pull_fill_equals_next_batch(void)
{
	struct fs_session *a = open_session(), *b = open_session();
	struct fs_batch *ba, *bb;
	long na, nb, total = 0;

	if (!ASSERT_TRUE(a && b, "sessions"))
		goto out;
	ba = fs_batch_new(a);
	bb = fs_batch_new(b);
	for (;;) {
		na = fs_session_next_batch(a, ba, 64, -1);
		nb = fs_session_pull(b, bb, 64, -1);
		if (!ASSERT_EQ(nb, na, "pulled rows"))
			break;
		if (na <= 0)
			break;
		ASSERT_EQ(fs_batch_fill(bb), na, "filled rows");
		for (size_t c = 0; c < fs_session_columns(a); c++) {
			for (long r = 0; r < na; r++) {
				if (fs_column_type(a, c) == FS_INT)
					ASSERT_EQ(fs_batch_ints(bb, c)[r], fs_batch_ints(ba, c)[r], "int");
				else if (fs_column_type(a, c) == FS_FLOAT)
					ASSERT_TRUE(fs_batch_floats(bb, c)[r] ==
						    fs_batch_floats(ba, c)[r], "float");
				else
					ASSERT_STREQ(fs_batch_strs(bb, c)[r], fs_batch_strs(ba, c)[r],
						     "text");
			}
		}
		total += na;
	}
	ASSERT_EQ(total, FLOWS, "every flow");
	fs_batch_free(ba);
	fs_batch_free(bb);
out:
	fs_session_free(a);
	fs_session_free(b);
}

/* fs_batch_want_csv_floats(): the filling thread's copy of each float
 * column equals fs_read_csv_floats() of it; none without the request. */
static void test_csv_floats_made_at_fill(void)
{
	struct fs_session *s = open_session();
	struct fs_batch *b, *plain;
	long n, checked = 0, mismatches = 0, floats = 0;

	if (!ASSERT_TRUE(s != NULL, "session"))
		return;
	b = fs_batch_new(s);
	plain = fs_batch_new(s);
	fs_batch_want_csv_floats(b, true);
	ASSERT_TRUE(fs_batch_csv_floats(plain, 0) == NULL, "no csv floats unless asked");
	while ((n = fs_session_next_batch(s, b, 50, -1)) > 0) {
		for (size_t c = 0; c < fs_session_columns(s); c++) {
			double want[64];

			if (fs_column_type(s, c) != FS_FLOAT)
				continue;
			floats++;
			if (!ASSERT_TRUE(fs_batch_csv_floats(b, c) != NULL, "csv floats made"))
				break;
			fs_read_csv_floats(fs_batch_floats(b, c), want, (size_t)n);
			for (long r = 0; r < n; r++, checked++)
				mismatches += memcmp(&want[r], &fs_batch_csv_floats(b, c)[r],
						     sizeof(double)) != 0;
		}
	}
	ASSERT_TRUE(floats > 0 && checked > 0, "float cells checked");
	ASSERT_EQ(mismatches, 0, "csv floats = fs_read_csv_floats(floats), bit for bit");
	fs_batch_free(b);
	fs_batch_free(plain);
	fs_session_free(s);
}

static void test_handles_texts_dict(void)
{
	struct fs_session *s = open_session();
	struct fs_batch *b;
	uint32_t codes[FLOWS];
	long n;

	if (!ASSERT_TRUE(s != NULL, "session"))
		return;
	b = fs_batch_new(s);
	n = fs_session_next_batch(s, b, FLOWS, -1);
	ASSERT_EQ(n, FLOWS, "one batch of every flow");
	/* handles: one per row, all different (every flow is alive) */
	for (long r = 1; r < n; r++)
		ASSERT_TRUE(fs_batch_handles(b)[r] != fs_batch_handles(b)[r - 1], "handles");
	/* the texts: row by row, text columns in order, NUL after each */
	{
		size_t len, at = 0;
		const char *t = fs_batch_text(b, &len);

		for (long r = 0; r < n; r++)
			for (size_t c = 0; c < fs_session_columns(s); c++) {
				if (!text_col(s, c))
					continue;
				ASSERT_TRUE(at < len && !strcmp(t + at, fs_batch_strs(b, c)[r]),
					    "fs_batch_text order");
				at += strlen(fs_batch_strs(b, c)[r]) + 1;
			}
		ASSERT_EQ(at, len, "fs_batch_text length");
	}
	for (size_t c = 0; c < fs_session_columns(s); c++) {
		const char *texts, *dist[FLOWS];
		size_t len, at = 0;
		long k;

		if (!text_col(s, c)) {
			ASSERT_EQ(fs_batch_dict(b, c, codes, &texts, &len), -22, "not a text column");
			continue;
		}
		k = fs_batch_dict(b, c, codes, &texts, &len);
		if (!ASSERT_TRUE(k > 0 && k <= n, "distinct texts"))
			continue;
		for (long i = 0; i < k; i++) {
			dist[i] = texts + at;
			at += strlen(texts + at) + 1;
		}
		ASSERT_EQ(at, len, "distinct texts' length");
		for (long r = 0; r < n; r++) {
			ASSERT_TRUE(codes[r] < (uint32_t)k, "code range");
			ASSERT_STREQ(dist[codes[r]], fs_batch_strs(b, c)[r], "code's text");
			/* numbered in order of first appearance */
			ASSERT_TRUE(r || codes[r] == 0, "first code 0");
		}
		if (!strcmp(fs_column_name(s, c), "dst_ip"))
			ASSERT_EQ(k, 7, "dst_ip takes 7 values");
		if (!strcmp(fs_column_name(s, c), "src_ip"))
			ASSERT_EQ(k, FLOWS, "src_ip all different");
	}
	fs_batch_free(b);
	fs_session_free(s);
}

static void test_release_and_progress(void)
{
	struct fs_session *s = open_session();
	struct fs_batch *b;
	struct fs_progress st;
	long n, total = 0;

	if (!ASSERT_TRUE(s != NULL, "session"))
		return;
	b = fs_batch_new(s);
	fs_session_progress(s, &st);
	ASSERT_EQ(st.bytes_total, 24 + FLOWS * 2 * (16 + 64), "bytes_total: the file's size");
	/* pulled flows never filled are released by the next pull and by free */
	while ((n = fs_session_pull(s, b, 50, -1)) > 0)
		total += n;
	ASSERT_EQ(total, FLOWS, "pulled every flow");
	ASSERT_EQ(fs_session_pull(s, b, 50, -1), 0, "the end");
	fs_session_progress(s, &st);
	ASSERT_EQ(st.bytes_read, st.bytes_total, "bytes_read at the end");
	ASSERT_TRUE(st.done, "done at the end");
	n = fs_session_pull(s, b, 50, -1);
	fs_batch_release(b);
	fs_batch_release(b);
	fs_batch_free(b);
	fs_session_free(s);
}

static void test_read_csv_floats(void)
{
	/* doubles, and what pandas 1.5's read_csv (float_precision None) reads
	 * from their repr(): one unit in the last place away for the first four */
	static const double in[] = { 950.4636963259353, 948.6494471372439, 423.32644897257563,
				     211.67474260751052, 310.57142857142856, 0.1, 1e-05, 60.0,
				     -2.5, 1e300, 5e-324, 0.0 };
	static const double want[] = { 950.4636963259352, 948.649447137244, 423.3264489725756,
				       211.67474260751047, 310.57142857142856, 0.1, 1e-05, 60.0,
				       -2.5, 1e300, 5e-324, 0.0 };
	double out[sizeof(in) / sizeof(in[0])], special[3] = { NAN, INFINITY, -INFINITY };
	size_t n = sizeof(in) / sizeof(in[0]);

	fs_read_csv_floats(in, out, n);
	for (size_t i = 0; i < n; i++)
		if (!ASSERT_TRUE(out[i] == want[i], "read_csv's value"))
			fprintf(stderr, "  %.17g -> %.17g, expected %.17g\n", in[i], out[i], want[i]);
	fs_read_csv_floats(special, special, 3);
	ASSERT_TRUE(isnan(special[0]) && special[1] == INFINITY && special[2] == -INFINITY,
		    "nan, inf, -inf in place");
}

struct filler {
	pthread_t t;
	struct fs_batch *b;
	long n;
	bool running;
};

static void *fill_thread(void *arg)
{
	struct filler *f = arg;

	f->n = fs_batch_fill(f->b);
	return NULL;
}

static void filler_join(struct filler *f)
{
	if (f->running)
		pthread_join(f->t, NULL);
	f->running = false;
}

/* A frame filled by two threads, each pull reserving rows (and making the
 * frame grow) while the other batch fills: every column equals what plain
 * batches give, floats as fs_read_csv_floats() reads them unless kept. */
static void test_frame_filled_by_two_threads(void)
{
	struct fs_session *a = open_session(), *s = open_session();
	struct fs_batch *ref = NULL, *bs[2] = { NULL, NULL };
	struct filler fl[2] = { { 0 }, { 0 } };
	struct fs_frame *fr = NULL;
	size_t ncol, kept = (size_t)-1;
	long n, total = 0, rows = 0, mismatches = 0;
	int64_t *ints[128] = { 0 };
	double *floats[128] = { 0 };
	char **texts[128] = { 0 };

	if (!ASSERT_TRUE(a && s, "sessions"))
		goto out;
	ncol = fs_session_columns(s);
	if (!ASSERT_TRUE(ncol <= 128, "columns"))
		goto out;
	/* the reference: plain batches */
	ref = fs_batch_new(a);
	for (size_t c = 0; c < ncol; c++) {
		ints[c] = calloc(FLOWS, sizeof(int64_t));
		floats[c] = calloc(FLOWS, sizeof(double));
		texts[c] = calloc(FLOWS, sizeof(char *));
		if (fs_column_type(s, c) == FS_FLOAT && kept == (size_t)-1)
			kept = c;
	}
	while ((n = fs_session_next_batch(a, ref, 64, -1)) > 0) {
		for (size_t c = 0; c < ncol; c++)
			for (long r = 0; r < n && rows + r < FLOWS; r++) {
				if (fs_column_type(a, c) == FS_INT)
					ints[c][rows + r] = fs_batch_ints(ref, c)[r];
				else if (fs_column_type(a, c) == FS_FLOAT)
					floats[c][rows + r] = fs_batch_floats(ref, c)[r];
				else
					texts[c][rows + r] = strdup(fs_batch_strs(ref, c)[r]);
			}
		rows += n;
	}
	if (!ASSERT_EQ(rows, FLOWS, "reference rows"))
		goto out;
	fr = fs_frame_new(s);
	bs[0] = fs_batch_new(s);
	bs[1] = fs_batch_new(s);
	if (!ASSERT_TRUE(fr && bs[0] && bs[1], "frame and batches"))
		goto out;
	/* sized for 16 rows: every pull past them makes the frame grow, while
	 * the other batch fills (and takes the text dictionaries) */
	fs_frame_expect(fr, 16);
	ASSERT_EQ(fs_frame_keep_doubles(fr, kept), 0, "keep a float column's doubles");
	ASSERT_EQ(fs_frame_keep_doubles(fr, 0), -22, "only a float column");
	fs_batch_set_frame(bs[0], fr);
	fs_batch_set_frame(bs[1], fr);
	for (int k = 0;; k ^= 1) {
		filler_join(&fl[k]);
		if (fl[k].n < 0)
			break;
		total += fl[k].n;
		fl[k].n = 0;
		n = fs_session_pull(s, bs[k], 13, -1);
		if (n <= 0)
			break;
		fl[k].b = bs[k];
		fl[k].running = !pthread_create(&fl[k].t, NULL, fill_thread, &fl[k]);
		if (!fl[k].running)
			fl[k].n = fs_batch_fill(bs[k]);
	}
	for (int k = 0; k < 2; k++) {
		filler_join(&fl[k]);
		total += fl[k].n > 0 ? fl[k].n : 0;
	}
	ASSERT_EQ(total, FLOWS, "filled rows");
	ASSERT_EQ((long)fs_frame_rows(fr), FLOWS, "frame rows");
	ASSERT_TRUE(fs_batch_ints(bs[0], 0) == NULL, "a frame's batch has no columns of its own");
	for (size_t c = 0; c < ncol; c++) {
		void *col = fs_frame_take(fr, c);
		const char *dict, *dist[FLOWS];
		size_t len, at = 0;
		long k;

		if (!ASSERT_TRUE(col != NULL, "column taken"))
			continue;
		if (fs_column_type(s, c) == FS_INT) {
			for (long r = 0; r < FLOWS; r++)
				mismatches += ((int64_t *)col)[r] != ints[c][r];
		} else if (fs_column_type(s, c) == FS_FLOAT) {
			double want[FLOWS];

			if (c == kept)
				memcpy(want, floats[c], sizeof(want));
			else
				fs_read_csv_floats(floats[c], want, FLOWS);
			mismatches += memcmp(col, want, sizeof(want)) != 0;
		} else {
			k = fs_frame_dict(fr, c, &dict, &len);
			if (!ASSERT_TRUE(k > 0 && k <= FLOWS, "distinct texts"))
				goto next;
			for (long i = 0; i < k; i++) {
				dist[i] = dict + at;
				at += strlen(dict + at) + 1;
			}
			ASSERT_EQ(at, len, "distinct texts' length");
			for (long r = 0; r < FLOWS; r++)
				mismatches += ((uint32_t *)col)[r] >= (uint32_t)k ||
					      strcmp(dist[((uint32_t *)col)[r]], texts[c][r]);
			if (!strcmp(fs_column_name(s, c), "dst_ip"))
				ASSERT_EQ(k, 7, "dst_ip takes 7 values");
		}
		ASSERT_TRUE(fs_frame_nulls(fr, c) == NULL, "no None");
next:
		fs_frame_column_free(col);
	}
	ASSERT_EQ(mismatches, 0, "frame = batches, cell for cell");
out:
	for (size_t c = 0; c < 128; c++) {
		free(ints[c]);
		free(floats[c]);
		for (long r = 0; texts[c] && r < FLOWS; r++)
			free(texts[c][r]);
		free(texts[c]);
	}
	fs_batch_free(ref);
	fs_batch_free(bs[0]);
	fs_batch_free(bs[1]);
	fs_frame_free(fr);
	fs_session_free(a);
	fs_session_free(s);
}

int main(void)
{
	if (write_capture()) {
		SKIP_TEST(test_pull_fill_equals_next_batch, "cannot write the capture in /tmp");
		return TEST_SUMMARY();
	}
	fs_set_log(NULL, NULL, 0);
	RUN_TEST(test_pull_fill_equals_next_batch);
	RUN_TEST(test_csv_floats_made_at_fill);
	RUN_TEST(test_handles_texts_dict);
	RUN_TEST(test_release_and_progress);
	RUN_TEST(test_read_csv_floats);
	RUN_TEST(test_frame_filled_by_two_threads);
	unlink(path);
	return TEST_SUMMARY();
}
