/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The verifier's logs of a BPF object's programs, kept per program: when a
 * load fails, which program the kernel refused and the last line of its
 * log, so the caller can say so on one line (the whole log only at -vv).
 * No libbpf print hook is touched: that is the application's
 * (log_libbpf_print()).
 */
#ifndef FLOWSIGHT_BPF_LOG_H
#define FLOWSIGHT_BPF_LOG_H

#include <stdarg.h>
#include <stddef.h>

struct bpf_object;

struct bpf_logs {
	char *buf;       /* one slot per program */
	size_t per;      /* bytes per slot */
	size_t n;
};

/* Give every program of @obj (opened, not loaded) its log slot.  0 or -ENOMEM. */
int bpf_logs_attach(struct bpf_logs *l, struct bpf_object *obj);

/*
 * After a failed load: the name of the program the kernel refused, with the
 * verifier's last line in @last (size @n); NULL when no program logged.  At
 * -vv the whole log is printed too.
 */
const char *bpf_logs_refused(struct bpf_logs *l, struct bpf_object *obj, char *last, size_t n);

void bpf_logs_release(struct bpf_logs *l);

/*
 * A libbpf print hook for applications (libbpf_set_print): libbpf's own
 * messages from -vv on, its debug messages from -vvv on; the library says
 * what failed on one line itself.
 */
enum libbpf_print_level;
int log_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap);

#endif
