// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-program verifier logs (bpf_log.h).  libbpf loads each program with
 * log level 0 and, when the kernel refuses it, loads it again with level 1
 * into the program's own buffer: only refused programs write there.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowsight/flowsight.h"
#include "util/bpf_log.h"
#include "util/log.h"

/* The kernel keeps the end of a longer level-1 log (5.x: the start). */
#define LOG_SLOT (64 * 1024)

int bpf_logs_attach(struct bpf_logs *l, struct bpf_object *obj)
{
	struct bpf_program *p;
	size_t i = 0;

	memset(l, 0, sizeof(*l));
	bpf_object__for_each_program(p, obj)
		l->n++;
	if (!l->n)
		return 0;
	l->per = LOG_SLOT;
	l->buf = calloc(l->n, l->per);
	if (!l->buf)
		return -ENOMEM;
	bpf_object__for_each_program(p, obj)
		bpf_program__set_log_buf(p, l->buf + i++ * l->per, l->per);
	return 0;
}

/* The verifier's last word in @log at @out: its last line that is not
 * one of the statistics it ends with ("processed N insns ...", "verification
 * time ..."). */
static void last_line(const char *log, size_t len, char *out, size_t n)
{
	const char *end = log + len, *start;

	for (;;) {
		while (end > log && (end[-1] == '\n' || end[-1] == ' '))
			end--;
		start = end;
		while (start > log && start[-1] != '\n')
			start--;
		if (start == log || (strncmp(start, "processed ", 10) &&
				     strncmp(start, "verification time", 17)))
			break;
		end = start;
	}
	snprintf(out, n, "%.*s", (int)(end - start), start);
}

const char *bpf_logs_refused(struct bpf_logs *l, struct bpf_object *obj, char *last, size_t n)
{
	struct bpf_program *p;
	size_t i = 0;

	if (!l->buf)
		return NULL;
	bpf_object__for_each_program(p, obj) {
		const char *log = l->buf + i++ * l->per;
		size_t len = strnlen(log, l->per);

		if (!len)
			continue;
		last_line(log, len, last, n);
		if (log_verbosity() >= 2)
			pr_info("verifier log of '%s':\n%.*s\n", bpf_program__name(p), (int)len, log);
		return bpf_program__name(p);
	}
	return NULL;
}

void bpf_logs_release(struct bpf_logs *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

int log_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int need = level == LIBBPF_DEBUG ? 3 : 2;
	char msg[4096];

	if (log_verbosity() < need)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_msg(LOG_INFO, "%s", msg);
	return 0;
}

void fs_route_libbpf_log(void)
{
	libbpf_set_print(log_libbpf_print);
}
