// SPDX-License-Identifier: GPL-2.0-only
/*
 * struct fs_options: NFStreamer's parameters and ours in one table, the
 * single source of their names, defaults, ranges, NFStream's error messages
 * and help text.  The command line builds its options from it, the Python
 * package and configuration files set values through fs_options_set().
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/options.h"
#include "export/sink.h"
#include "util/log.h"

#define OFF(f) offsetof(struct fs_options, f)
#define U64_MAX_S (UINT64_MAX / 1000) /* NFStream: value * 1000 <= 2^64 - 1 */
#define U64_MAX_S_US (UINT64_MAX / 1000000) /* in µs, the same */

static const char *const capture_names[] = { "auto", "ebpf", "pcap", NULL };
static const char *const netns_names[] = { "own", "all", NULL };

/* In NFStreamer's validation order (spec §2), then ours. */
static const struct fs_param_def params[] = {
	{ { "decode_tunnels", "0|1", "decode GTP-U, CAPWAP and TZSP tunnels and add tunnel_id "
	    "(default 1)",
	    "Please specify a valid decode_tunnels parameter (possible values: True, False)." },
	  P_BOOL, OFF(decode_tunnels), 0, 1, NULL },
	{ { "bpf_filter", "EXPR", "only meter packets matching the libpcap filter EXPR "
	    "(offline too)", "Please specify a valid bpf_filter format." },
	  P_STR, OFF(bpf_filter), 0, 0, NULL },
	{ { "promiscuous_mode", "0|1", "live capture: put the interface in promiscuous mode "
	    "(default 1)",
	    "Please specify a valid promiscuous_mode parameter (possible values: True, False)." },
	  P_BOOL, OFF(promiscuous_mode), 0, 1, NULL },
	{ { "snapshot_length", "N", "live capture: bytes captured per packet (default 1536)",
	    "Please specify a valid snapshot_length parameter (positive integer)." },
	  P_U64, OFF(snapshot_length), 1, 262144, NULL },
	{ { "idle_timeout", "SEC", "expire a flow after SEC seconds without packets (default 120)",
	    "Please specify a valid idle_timeout parameter (positive integer in seconds)." },
	  P_U64, OFF(idle_timeout), 0, U64_MAX_S, NULL },
	{ { "active_timeout", "SEC", "expire a flow SEC seconds after its first packet "
	    "(default 1800)",
	    "Please specify a valid active_timeout parameter (positive integer in seconds)." },
	  P_U64, OFF(active_timeout), 0, U64_MAX_S, NULL },
	{ { "accounting_mode", "0..3", "sizes: 0 link layer, 1 IP, 2 transport, 3 payload "
	    "(default 0)",
	    "Please specify a valid accounting_mode parameter (possible values: 0, 1, 2, 3)." },
	  P_U64, OFF(accounting_mode), 0, 3, NULL },
	{ { "n_dissections", "0..255", "packets per flow given to nDPI; 0 removes the L7 columns "
	    "(default 20)",
	    "Please specify a valid n_dissections parameter (possible values in : [0,...,255])." },
	  P_U64, OFF(n_dissections), 0, 255, NULL },
	{ { "statistical_analysis", NULL, "add the 48 post-mortem statistics columns",
	    "Please specify a valid statistical_analysis parameter (possible values: True, "
	    "False)." },
	  P_FLAG, OFF(statistical_analysis), 0, 1, NULL },
	{ { "splt_analysis", "N", "add direction/size/PIAT sequences of the first N packets "
	    "(default 0)",
	    "Please specify a valid splt_analysis parameter (possible values in : [0,...,65535])" },
	  P_U64, OFF(splt_analysis), 0, 65535, NULL },
	{ { "n_meters", "N", "live capture: metering threads, at most CPUs - 1; 0: CPUs - 1 "
	    "(default 0)",
	    "Please specify a valid n_meters parameter (>=1 or 0 for auto scaling)." },
	  P_U64, OFF(n_meters), 0, UINT64_MAX, NULL },
	{ { "max_nflows", "N", "stop after exporting N flows; 0 means no limit (default 0)",
	    "Please specify a valid max_nflows parameter (>=0)." },
	  P_U64, OFF(max_nflows), 0, UINT64_MAX, NULL },
	{ { "performance_report", "SEC", "live capture: print a JSON line of counters on stderr "
	    "every SEC seconds (default 0)",
	    "Please specify a valid performance_report parameter (>=1 for reporting interval "
	    "(seconds) or 0 to disable). [Available only for Live capture]" },
	  P_U64, OFF(performance_report), 0, U64_MAX_S, NULL },
	{ { "system_visibility_mode", "0|1|2", "live capture: add the owning process of each flow "
	    "(1: pid and name as NFStream, 2: also ppid, uid, user, exe, cmdline, start, cgroup, "
	    "container, how found; default 0)",
	    "Please specify a valid system_visibility_mode parameter\n0: disable\n1: process "
	    "information\n2: process information, extended (flowsight)" },
	  P_U64, OFF(system_visibility_mode), 0, 2, NULL },
	{ { "system_visibility_poll_ms", "MS", "accepted for NFStream's API; attribution uses "
	    "kernel hooks, not polling (default 100)",
	    "Please specify a valid system_visibility_poll_ms parameter (positive integer in "
	    "milliseconds)" },
	  P_U64, OFF(system_visibility_poll_ms), 0, UINT64_MAX, NULL },
	{ { "socket_buffer_size", "N", "live capture: kernel ring buffer bytes per interface and "
	    "meter (default 0: libpcap's)",
	    "Please specify a valid socket_buffer_size parameter (positive integer <= 2^31-1)." },
	  P_U64, OFF(socket_buffer_size), 0, 2147483647, NULL },
	{ { "capture", "auto|ebpf|pcap", "live capture: eBPF, libpcap, or eBPF when usable else "
	    "libpcap (default auto)",
	    "Please specify a valid capture parameter (possible values: auto, ebpf, pcap)." },
	  P_ENUM, OFF(capture), 0, 0, capture_names },
	{ { "ebpf_map_entries", "N", "ebpf capture: flows per drain interval the kernel map "
	    "holds; beyond it packets go to userspace one by one (default 0: 262144)",
	    "Please specify a valid ebpf_map_entries parameter (0..16777216)." },
	  P_U64, OFF(ebpf_map_entries), 0, 1 << 24, NULL },
	{ { "max_flows_in_memory", "N", "cap the flow cache: the most idle flow is exported "
	    "early (expiration_id 2); 0: no cap",
	    "Please specify a valid max_flows_in_memory parameter (>=0)." },
	  P_U64, OFF(max_flows_in_memory), 0, UINT64_MAX, NULL },
	{ { "system_visibility_netns", "own|all", "live capture: name processes of this network "
	    "namespace only, or also of the others (containers seen on a bridge or veth, exact "
	    "5-tuples only; default own)",
	    "Please specify a valid system_visibility_netns parameter (possible values: own, "
	    "all)." },
	  P_ENUM, OFF(system_visibility_all_netns), 0, 0, netns_names },
	{ { "ja4", NULL, "add client_fingerprint_ja4 (JA4 of the TLS ClientHello) after the L7 "
	    "columns",
	    "Please specify a valid ja4 parameter (possible values: True, False)." },
	  P_FLAG, OFF(ja4), 0, 1, NULL },
	{ { "split_on_owner", "0|1", "live capture with --system-visibility-mode: end a flow where "
	    "another process's socket starts using its 5-tuple (expiration_id -1), so each flow "
	    "has one owner (default 0)",
	    "Please specify a valid split_on_owner parameter (possible values: True, False)." },
	  P_BOOL, OFF(split_on_owner), 0, 1, NULL },
	{ { "pcapng_out", "FILE", "live capture: write the packets metered to FILE as pcapng, each "
	    "labelled with its flow and owning process (libpcap: every packet; ebpf: the sampled "
	    "first packets of each flow)",
	    "Please specify a valid pcapng_out parameter (a file path; live capture only)." },
	  P_STR, OFF(pcapng_out), 0, 0, NULL },
	{ { "wait_interface", NULL, "live capture: when an interface goes away, export its flows "
	    "and capture it again once an interface of its name is back (default: the capture "
	    "ends, exit 1)",
	    "Please specify a valid wait_interface parameter (possible values: True, False)." },
	  P_FLAG, OFF(wait_interface), 0, 1, NULL },
	{ { "dataset_mode", NULL, "end TCP flows at their FIN handshake or RST (expiration_id 3) "
	    "and add microsecond times and CICFlowMeter-style features after NFStream's columns (README "
	    "\"Dataset mode\")",
	    "Please specify a valid dataset_mode parameter (possible values: True, False)." },
	  P_FLAG, OFF(dataset_mode), 0, 1, NULL },
	{ { "activity_timeout", "SEC", "dataset mode: a gap of more than SEC seconds between a "
	    "flow's packets is an idle period (default 5)",
	    "Please specify a valid activity_timeout parameter (positive integer in seconds)." },
	  P_U64, OFF(activity_timeout), 1, U64_MAX_S_US, NULL },
};

#define N_PARAMS (sizeof(params) / sizeof(params[0]))

void fs_options_init(struct fs_options *o)
{
	memset(o, 0, sizeof(*o));
	o->decode_tunnels = true;
	o->promiscuous_mode = true;
	o->snapshot_length = 1536;
	o->idle_timeout = 120;
	o->active_timeout = 1800;
	o->n_dissections = 20;
	o->system_visibility_poll_ms = 100;
	o->capture = FS_CAPTURE_AUTO;
	o->activity_timeout = 5;
}

const struct fs_param *fs_param_at(size_t i)
{
	return i < N_PARAMS ? &params[i].pub : NULL;
}

const struct fs_param_def *options_param(const char *name)
{
	for (size_t i = 0; i < N_PARAMS; i++)
		if (!strcmp(params[i].pub.name, name))
			return &params[i];
	return NULL;
}

static int fail(const struct fs_param_def *p, char *err, size_t n)
{
	if (err && n)
		snprintf(err, n, "%s", p->pub.error);
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "True")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "False")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

int fs_options_set(struct fs_options *o, const char *name, const char *value, char *err, size_t n)
{
	const struct fs_param_def *p = options_param(name);
	char *base = (char *)o;

	if (!p) {
		if (err && n)
			snprintf(err, n, "unknown parameter '%s'", name);
		return -ENOENT;
	}
	switch (p->type) {
	case P_BOOL:
		if (!value || parse_bool(value, (bool *)(base + p->off)))
			return fail(p, err, n);
		break;
	case P_FLAG:
		if (!value)
			*(bool *)(base + p->off) = true;
		else if (parse_bool(value, (bool *)(base + p->off)))
			return fail(p, err, n);
		break;
	case P_U64:
		if (parse_u64(value, p->min, p->max, (uint64_t *)(base + p->off)))
			return fail(p, err, n);
		break;
	case P_STR:
		if (!value)
			return fail(p, err, n);
		*(const char **)(base + p->off) = value;
		break;
	case P_ENUM:
		for (int i = 0; value && p->names[i]; i++) {
			if (strcmp(value, p->names[i]))
				continue;
			if (p->off == OFF(system_visibility_all_netns))
				*(bool *)(base + p->off) = i == 1;
			else
				*(enum fs_capture *)(base + p->off) = (enum fs_capture)i;
			return 0;
		}
		return fail(p, err, n);
	}
	return 0;
}

int fs_options_validate(const struct fs_options *o, char *err, size_t n)
{
	const char *bad = NULL;

	if ((!o->n_files && !o->n_interfaces) || (o->n_files && !o->files) ||
	    (o->n_interfaces && !o->interfaces)) {
		snprintf(err, n, "Please specify a pcap file path or a valid network interface "
				 "name as source.");
		return -EINVAL;
	}
	if (o->n_files && o->n_interfaces) {
		snprintf(err, n, "cannot read files and capture live interfaces at once");
		return -EINVAL;
	}
	for (size_t i = 0; i < o->n_files; i++)
		if (!o->files[i] || !*o->files[i]) {
			snprintf(err, n, "Invalid pcap file path at index: %zu.", i);
			return -EINVAL;
		}
	for (size_t i = 0; i < N_PARAMS && !bad; i++) {
		const struct fs_param_def *p = &params[i];
		const char *base = (const char *)o;

		if (p->type == P_U64) {
			uint64_t v = *(const uint64_t *)(base + p->off);

			if (v < p->min || v > p->max)
				bad = p->pub.error;
		} else if (p->type == P_ENUM && p->off == OFF(capture) &&
			   (unsigned int)o->capture > FS_CAPTURE_PCAP) {
			bad = p->pub.error;
		}
	}
	if (!bad && o->pcapng_out && (!*o->pcapng_out || !o->n_interfaces))
		bad = options_param("pcapng_out")->pub.error;
	if (bad) {
		snprintf(err, n, "%s", bad);
		return -EINVAL;
	}
	if (o->split_on_owner && (!o->n_interfaces || !o->system_visibility_mode)) {
		snprintf(err, n, "split_on_owner needs a live capture with system_visibility_mode 1 "
				 "or 2: the owner of a packet is known only then");
		return -EINVAL;
	}
	if (o->split_on_owner && o->capture == FS_CAPTURE_EBPF) {
		snprintf(err, n, "split_on_owner needs the libpcap capture: the eBPF capture counts "
				 "a flow's packets in the kernel before their owner is known");
		return -EINVAL;
	}
	if (o->dataset_mode && o->n_interfaces && o->capture == FS_CAPTURE_EBPF) {
		snprintf(err, n, "dataset_mode needs the libpcap capture: the eBPF capture sums a "
				 "flow's packets in the kernel in milliseconds, without the per-packet "
				 "µs times and order its features need");
		return -EINVAL;
	}
	return 0;
}

static uint64_t cpus_available(void)
{
	cpu_set_t set;
	long n;

	if (!sched_getaffinity(0, sizeof(set), &set))
		return (uint64_t)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN); /* more CPUs than a cpu_set_t holds */
	return n > 0 ? (uint64_t)n : 1;
}

unsigned int options_meters(uint64_t requested)
{
	uint64_t cpus = cpus_available(), n = requested;

	if (!n) {
		n = cpus - 1;
	} else if (n >= cpus) {
		n = cpus - 1;
		log_raw("WARNING: n_meters set to :%llu in order to avoid contention.\n",
			(unsigned long long)n);
	}
	return n ? (unsigned int)n : 1;
}

int fs_writer_options_set(struct fs_writer_options *w, const char *name, const char *value,
			  char *err, size_t n)
{
	static const struct {
		const char *name;
		size_t off;
		const char *error;
	} wp[] = {
		{ "flows_per_file", offsetof(struct fs_writer_options, flows_per_file),
		  "Please specify a valid flows_per_file parameter (>= 0)." },
		{ "rotate_files", offsetof(struct fs_writer_options, rotate_files),
		  "Please specify a valid rotate_files parameter (>= 0)." },
	};

	/* the sinks' options (export/sink.h checks URLs as they are set) */
	static const struct {
		const char *name;
		size_t off;
		char kind; /* 's' string, 'u' number >= min, 'b' flag */
		uint64_t min, max;
	} sp[] = {
		{ "ipfix", offsetof(struct fs_writer_options, ipfix), 's', 0, 0 },
		{ "ipfix_pen", offsetof(struct fs_writer_options, ipfix_pen), 'u', 1, UINT32_MAX },
		{ "ipfix_template_refresh", offsetof(struct fs_writer_options, ipfix_template_refresh),
		  'u', 1, 86400 },
		{ "ipfix_queue_mb", offsetof(struct fs_writer_options, ipfix_queue_mb), 'u', 1, 65536 },
		{ "clickhouse", offsetof(struct fs_writer_options, clickhouse), 's', 0, 0 },
		{ "clickhouse_table", offsetof(struct fs_writer_options, clickhouse_table), 's', 0, 0 },
		{ "clickhouse_create", offsetof(struct fs_writer_options, clickhouse_create), 'b', 0, 0 },
		{ "clickhouse_batch_rows", offsetof(struct fs_writer_options, clickhouse_batch_rows),
		  'u', 1, 10000000 },
		{ "clickhouse_batch_seconds",
		  offsetof(struct fs_writer_options, clickhouse_batch_seconds), 'u', 1, 3600 },
		{ "clickhouse_spool", offsetof(struct fs_writer_options, clickhouse_spool), 's', 0, 0 },
		{ "clickhouse_spool_mb", offsetof(struct fs_writer_options, clickhouse_spool_mb), 'u',
		  1, UINT32_MAX },
		{ "clickhouse_queue_mb", offsetof(struct fs_writer_options, clickhouse_queue_mb), 'u',
		  1, 65536 },
		{ "clickhouse_agent", offsetof(struct fs_writer_options, clickhouse_agent), 's', 0, 0 },
		{ "clickhouse_user", offsetof(struct fs_writer_options, clickhouse_user), 's', 0, 0 },
		{ "clickhouse_password", offsetof(struct fs_writer_options, clickhouse_password), 's',
		  0, 0 },
		{ "sink_drain_seconds", offsetof(struct fs_writer_options, sink_drain_seconds), 'u', 1,
		  86400 },
		{ "clickhouse_inserts", offsetof(struct fs_writer_options, clickhouse_inserts), 'u',
		  1, 16 },
	};

	for (size_t i = 0; i < sizeof(wp) / sizeof(wp[0]); i++) {
		if (strcmp(name, wp[i].name))
			continue;
		if (parse_u64(value, 0, UINT64_MAX, (uint64_t *)((char *)w + wp[i].off))) {
			if (err && n)
				snprintf(err, n, "%s", wp[i].error);
			return -EINVAL;
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]); i++) {
		void *field = (char *)w + sp[i].off;
		char why[256] = "";

		if (strcmp(name, sp[i].name))
			continue;
		switch (sp[i].kind) {
		case 's':
			if (!value || !*value)
				snprintf(why, sizeof(why), "an empty value");
			else if (!strcmp(name, "ipfix"))
				sink_check_ipfix_url(value, why, sizeof(why));
			else if (!strcmp(name, "clickhouse"))
				sink_check_http_url(value, why, sizeof(why));
			else if (!strcmp(name, "clickhouse_table"))
				sink_check_table(value, why, sizeof(why));
			if (!why[0])
				*(const char **)field = value;
			break;
		case 'b':
			if (!value || !strcmp(value, "1") || !strcasecmp(value, "true"))
				*(bool *)field = true;
			else if (!strcmp(value, "0") || !strcasecmp(value, "false"))
				*(bool *)field = false;
			else
				snprintf(why, sizeof(why), "expected 0 or 1");
			break;
		default:
			if (parse_u64(value, sp[i].min, sp[i].max, (uint64_t *)field))
				snprintf(why, sizeof(why), "expected a number from %llu to %llu",
					 (unsigned long long)sp[i].min, (unsigned long long)sp[i].max);
		}
		if (why[0]) {
			if (err && n)
				snprintf(err, n, "invalid %s '%s': %s", name, value ? value : "", why);
			return -EINVAL;
		}
		return 0;
	}
	if (err && n)
		snprintf(err, n, "unknown parameter '%s'", name);
	return -ENOENT;
}
