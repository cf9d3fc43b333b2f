// SPDX-License-Identifier: GPL-2.0-only
/*
 * The option table is the single source for getopt_long's long options,
 * the short option string, value validation and --help.  Numbers go
 * through one strtoull+range helper; a bad value prints NFStream's message
 * for that parameter and exits 2 before any capture starts.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/log.h"

#ifndef FLOWSIGHT_VERSION
#define FLOWSIGHT_VERSION "0.1.0"
#endif

enum opt_type {
	OT_FILE,    /* append to files[] */
	OT_IFACE,   /* append to ifaces[] */
	OT_STR,     /* const char * field */
	OT_BOOL,    /* bool field, value 0|1|true|false */
	OT_FLAG,    /* bool field set to true, optional =0|1 */
	OT_U64,     /* uint64_t field within [min, max] */
	OT_FORMAT,  /* csv|jsonl */
	OT_CAPTURE, /* auto|ebpf|pcap */
	OT_NETNS,   /* own|all */
	OT_COLUMNS, /* comma-separated list into anon_cols[] */
	OT_VERBOSE,
	OT_HELP,
	OT_VERSION,
};

struct cli_opt {
	const char *name;
	int short_opt; /* 0: long only */
	const char *arg; /* metavar, NULL: no argument */
	enum opt_type type;
	size_t off;
	uint64_t min, max;
	const char *err; /* NFStream's message for a bad value */
	const char *help;
};

#define OFF(f) offsetof(struct fc_config, f)
#define U64_MAX_S (UINT64_MAX / 1000) /* NFStream: value * 1000 <= 2^64 - 1 */

static const struct cli_opt cli_opts[] = {
	{ "read", 'r', "FILE", OT_FILE, 0, 0, 0,
	  "Please specify a pcap file path or a valid network interface name as source.",
	  "read packets from a pcap/pcapng FILE; repeat to read several files as one stream" },
	{ "interface", 'i', "IFACE", OT_IFACE, 0, 0, 0,
	  "Please specify a pcap file path or a valid network interface name as source.",
	  "capture live on IFACE; repeat to capture on several interfaces at once" },
	{ "capture", 0, "auto|ebpf|pcap", OT_CAPTURE, OFF(capture), 0, 0,
	  "Please specify a valid capture parameter (possible values: auto, ebpf, pcap).",
	  "live capture: eBPF, libpcap, or eBPF when usable else libpcap (default auto)" },
	{ "n-meters", 0, "N", OT_U64, OFF(n_meters), 0, UINT64_MAX,
	  "Please specify a valid n_meters parameter (>=1 or 0 for auto scaling).",
	  "live capture: metering threads, at most CPUs - 1; 0: CPUs - 1 (default 0)" },
	{ "performance-report", 0, "SEC", OT_U64, OFF(performance_report_s), 0, U64_MAX_S,
	  "Please specify a valid performance_report parameter (>=1 for reporting interval (seconds) "
	  "or 0 to disable). [Available only for Live capture]",
	  "live capture: print a JSON line of counters on stderr every SEC seconds (default 0)" },
	{ "ebpf-map-entries", 0, "N", OT_U64, OFF(ebpf_map_entries), 0, 1 << 24,
	  "Please specify a valid ebpf_map_entries parameter (0..16777216).",
	  "ebpf capture: flows per drain interval the kernel map holds; beyond it packets "
	  "go to userspace one by one (default 0: 262144)" },
	{ "output", 'o', "PATH", OT_STR, OFF(output), 0, 0, NULL,
	  "write flow records to PATH (default: standard output)" },
	{ "format", 'F', "csv|jsonl", OT_FORMAT, OFF(format), 0, 0,
	  "Please specify a valid format parameter (possible values: csv, jsonl).",
	  "output format: NFStream CSV (default) or JSON lines" },
	{ "decode-tunnels", 0, "0|1", OT_BOOL, OFF(decode_tunnels), 0, 1,
	  "Please specify a valid decode_tunnels parameter (possible values: True, False).",
	  "decode GTP-U, CAPWAP and TZSP tunnels and add tunnel_id (default 1)" },
	{ "bpf-filter", 0, "EXPR", OT_STR, OFF(bpf_filter), 0, 0,
	  "Please specify a valid bpf_filter format.",
	  "only meter packets matching the libpcap filter EXPR (offline too)" },
	{ "snapshot-length", 0, "N", OT_U64, OFF(snapshot_length), 1, 262144,
	  "Please specify a valid snapshot_length parameter (positive integer).",
	  "live capture: bytes captured per packet (default 1536)" },
	{ "promiscuous-mode", 0, "0|1", OT_BOOL, OFF(promiscuous_mode), 0, 1,
	  "Please specify a valid promiscuous_mode parameter (possible values: True, False).",
	  "live capture: put the interface in promiscuous mode (default 1)" },
	{ "socket-buffer-size", 0, "N", OT_U64, OFF(socket_buffer_size), 0, 2147483647,
	  "Please specify a valid socket_buffer_size parameter (positive integer <= 2^31-1).",
	  "live capture: kernel ring buffer bytes per interface and meter (default 0: libpcap's)" },
	{ "idle-timeout", 0, "SEC", OT_U64, OFF(idle_timeout_s), 0, U64_MAX_S,
	  "Please specify a valid idle_timeout parameter (positive integer in seconds).",
	  "expire a flow after SEC seconds without packets (default 120)" },
	{ "active-timeout", 0, "SEC", OT_U64, OFF(active_timeout_s), 0, U64_MAX_S,
	  "Please specify a valid active_timeout parameter (positive integer in seconds).",
	  "expire a flow SEC seconds after its first packet (default 1800)" },
	{ "accounting-mode", 0, "0..3", OT_U64, OFF(accounting_mode), 0, 3,
	  "Please specify a valid accounting_mode parameter (possible values: 0, 1, 2, 3).",
	  "sizes: 0 link layer, 1 IP, 2 transport, 3 payload (default 0)" },
	{ "n-dissections", 0, "0..255", OT_U64, OFF(n_dissections), 0, 255,
	  "Please specify a valid n_dissections parameter (possible values in : [0,...,255]).",
	  "packets per flow given to nDPI; 0 removes the L7 columns (default 20)" },
	{ "statistical-analysis", 0, NULL, OT_FLAG, OFF(statistical_analysis), 0, 1,
	  "Please specify a valid statistical_analysis parameter (possible values: True, False).",
	  "add the 48 post-mortem statistics columns" },
	{ "splt-analysis", 0, "N", OT_U64, OFF(splt_analysis), 0, 65535,
	  "Please specify a valid splt_analysis parameter (possible values in : [0,...,65535])",
	  "add direction/size/PIAT sequences of the first N packets (default 0)" },
	{ "max-nflows", 0, "N", OT_U64, OFF(max_nflows), 0, UINT64_MAX,
	  "Please specify a valid max_nflows parameter (>=0).",
	  "stop after exporting N flows; 0 means no limit (default 0)" },
	{ "max-flows-in-memory", 0, "N", OT_U64, OFF(max_flows_in_memory), 0, UINT64_MAX,
	  "Please specify a valid max_flows_in_memory parameter (>=0).",
	  "cap the flow cache: the most idle flow is exported early (expiration_id 2); 0: no cap" },
	{ "system-visibility-mode", 0, "0|1|2", OT_U64, OFF(system_visibility_mode), 0, 2,
	  "Please specify a valid system_visibility_mode parameter\n0: disable\n1: process information"
	  "\n2: process information, extended (flowsight)",
	  "live capture: add the owning process of each flow (1: pid and name as NFStream, "
	  "2: also ppid, uid, user, exe, cmdline, start, cgroup, container, how found; default 0)" },
	{ "system-visibility-netns", 0, "own|all", OT_NETNS, 0, 0, 0,
	  "Please specify a valid system_visibility_netns parameter (possible values: own, all).",
	  "live capture: name processes of this network namespace only, or also of the "
	  "others (containers seen on a bridge or veth, exact 5-tuples only; default own)" },
	{ "flows-per-file", 0, "N", OT_U64, OFF(flows_per_file), 0, UINT64_MAX,
	  "Please specify a valid flows_per_file parameter (>= 0).",
	  "split the output into files of N flows: PATH.0.csv, PATH.1.csv ... (default 0)" },
	{ "rotate-files", 0, "N", OT_U64, OFF(rotate_files), 0, UINT64_MAX,
	  "Please specify a valid rotate_files parameter (>= 0).",
	  "with --flows-per-file, reuse file indexes modulo N (default 0)" },
	{ "columns-to-anonymize", 0, "COL,...", OT_COLUMNS, 0, 0, 0, NULL,
	  "replace these columns by keyed BLAKE2b-512 digests (fresh key per run)" },
	{ "ja4", 0, NULL, OT_FLAG, OFF(ja4), 0, 1,
	  "Please specify a valid ja4 parameter (possible values: True, False).",
	  "add client_fingerprint_ja4 (JA4 of the TLS ClientHello) after the L7 columns" },
	{ "verbose", 'v', NULL, OT_VERBOSE, 0, 0, 0, NULL, "more diagnostics on stderr (repeatable)" },
	{ "help", 'h', NULL, OT_HELP, 0, 0, 0, NULL, "show this help and exit" },
	{ "version", 'V', NULL, OT_VERSION, 0, 0, 0, NULL, "show the version and exit" },
};

#define N_OPTS (sizeof(cli_opts) / sizeof(cli_opts[0]))

void config_defaults(struct fc_config *c)
{
	memset(c, 0, sizeof(*c));
	c->format = EXPORT_CSV;
	c->decode_tunnels = true;
	c->snapshot_length = 1536;
	c->promiscuous_mode = true;
	c->idle_timeout_s = 120;
	c->active_timeout_s = 1800;
	c->n_dissections = 20;
}

void cli_usage(FILE *out)
{
	fprintf(out, "Usage: flowsight -r FILE [-r FILE ...] [OPTION]...\n"
		     "       flowsight -i IFACE [-i IFACE ...] [OPTION]...\n"
		     "NFStream-compatible flow records from captures, with process attribution.\n\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct cli_opt *o = &cli_opts[i];
		char lhs[64];

		if (o->short_opt)
			snprintf(lhs, sizeof(lhs), "-%c, --%s%s%s", o->short_opt, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(lhs, sizeof(lhs), "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		fprintf(out, "  %-34s %s\n", lhs, o->help);
	}
	fprintf(out, "\nExit status: 0 success, 1 input or output error, 2 invalid arguments.\n");
}

static int bad_value(const struct cli_opt *o, const char *val)
{
	if (o->err)
		pr_warn("%s\n", o->err);
	else
		pr_warn("invalid value '%s' for --%s\n", val ? val : "", o->name);
	return CLI_EXIT_USAGE;
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

static int apply(const struct cli_opt *o, const char *val, struct fc_config *c)
{
	char *base = (char *)c;

	switch (o->type) {
	case OT_FILE:
		if (!val || !*val || c->n_files >= FC_MAX_SOURCES)
			return bad_value(o, val);
		c->files[c->n_files++] = val;
		break;
	case OT_IFACE:
		if (!val || !*val || c->n_ifaces >= FC_MAX_SOURCES)
			return bad_value(o, val);
		c->ifaces[c->n_ifaces++] = val;
		break;
	case OT_STR:
		if (!val)
			return bad_value(o, val);
		*(const char **)(base + o->off) = val;
		break;
	case OT_BOOL:
		if (!val || parse_bool(val, (bool *)(base + o->off)))
			return bad_value(o, val);
		break;
	case OT_FLAG:
		if (!val)
			*(bool *)(base + o->off) = true;
		else if (parse_bool(val, (bool *)(base + o->off)))
			return bad_value(o, val);
		break;
	case OT_U64:
		if (parse_u64(val, o->min, o->max, (uint64_t *)(base + o->off)))
			return bad_value(o, val);
		break;
	case OT_FORMAT:
		if (val && !strcmp(val, "csv"))
			c->format = EXPORT_CSV;
		else if (val && (!strcmp(val, "jsonl") || !strcmp(val, "json")))
			c->format = EXPORT_JSONL;
		else
			return bad_value(o, val);
		break;
	case OT_CAPTURE:
		if (val && !strcmp(val, "auto"))
			c->capture = CAPTURE_AUTO;
		else if (val && !strcmp(val, "ebpf"))
			c->capture = CAPTURE_EBPF;
		else if (val && !strcmp(val, "pcap"))
			c->capture = CAPTURE_PCAP;
		else
			return bad_value(o, val);
		break;
	case OT_NETNS:
		if (val && !strcmp(val, "own"))
			c->system_visibility_all_netns = false;
		else if (val && !strcmp(val, "all"))
			c->system_visibility_all_netns = true;
		else
			return bad_value(o, val);
		break;
	case OT_COLUMNS: {
		char *s = (char *)val, *tok, *save = NULL;

		for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (c->n_anon_cols >= FC_MAX_ANON)
				return bad_value(o, val);
			c->anon_cols[c->n_anon_cols++] = tok;
		}
		break;
	}
	case OT_VERBOSE:
		c->verbose++;
		break;
	case OT_HELP:
		cli_usage(stdout);
		return CLI_EXIT_OK;
	case OT_VERSION:
		printf("flowsight %s\n", FLOWSIGHT_VERSION);
		return CLI_EXIT_OK;
	}
	return CLI_OK;
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

/*
 * NFStream's n_meters rule for Linux live capture (spec §2): one CPU is
 * left to the consumer, so 0 means CPUs - 1 and a larger explicit value is
 * clamped there with NFStream's warning; 0 meters becomes 1.
 */
static uint64_t resolve_meters(uint64_t requested)
{
	uint64_t cpus = cpus_available(), n = requested;

	if (!n) {
		n = cpus - 1;
	} else if (n >= cpus) {
		n = cpus - 1;
		fprintf(stderr, "WARNING: n_meters set to :%llu in order to avoid contention.\n",
			(unsigned long long)n);
	}
	return n ? n : 1;
}

enum cli_result cli_parse(int argc, char **argv, struct fc_config *c)
{
	struct option longopts[N_OPTS + 1];
	char shortopts[2 * N_OPTS + 2];
	size_t ns = 0;
	int ch, idx;

	config_defaults(c);
	shortopts[ns++] = ':';
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct cli_opt *o = &cli_opts[i];

		longopts[i].name = o->name;
		longopts[i].has_arg = o->type == OT_FLAG ? optional_argument :
				      o->arg ? required_argument : no_argument;
		longopts[i].flag = NULL;
		longopts[i].val = o->short_opt ? o->short_opt : 256 + (int)i;
		if (o->short_opt) {
			shortopts[ns++] = (char)o->short_opt;
			if (o->arg)
				shortopts[ns++] = ':';
		}
	}
	memset(&longopts[N_OPTS], 0, sizeof(longopts[0]));
	shortopts[ns] = '\0';

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		const struct cli_opt *o = NULL;
		int r;

		if (ch == '?' || ch == ':') {
			if (ch == ':')
				pr_warn("option '%s' needs a value\n", argv[optind - 1]);
			else
				pr_warn("unknown option '%s'\n", argv[optind - 1]);
			fprintf(stderr, "Try 'flowsight --help' for more information.\n");
			return CLI_EXIT_USAGE;
		}
		for (size_t i = 0; i < N_OPTS; i++) {
			if ((cli_opts[i].short_opt && cli_opts[i].short_opt == ch) ||
			    ch == 256 + (int)i) {
				o = &cli_opts[i];
				break;
			}
		}
		if (!o)
			return CLI_EXIT_USAGE;
		r = apply(o, optarg, c);
		if (r != CLI_OK)
			return r;
	}
	if (optind < argc) {
		pr_warn("unexpected argument '%s'\n", argv[optind]);
		fprintf(stderr, "Try 'flowsight --help' for more information.\n");
		return CLI_EXIT_USAGE;
	}
	if (!c->n_files && !c->n_ifaces) {
		pr_warn("%s\n", cli_opts[0].err);
		return CLI_EXIT_USAGE;
	}
	if (c->n_files && c->n_ifaces) {
		pr_warn("cannot read files (-r) and capture live (-i) at once\n");
		return CLI_EXIT_USAGE;
	}
	if (c->flows_per_file && (!c->output || !strcmp(c->output, "-"))) {
		pr_warn("--flows-per-file needs an output path (-o PATH)\n");
		return CLI_EXIT_USAGE;
	}
	if (c->n_ifaces)
		c->n_meters = resolve_meters(c->n_meters);
	if (c->splt_analysis > 255)
		fprintf(stderr, "[WARNING]: The specified splt_analysis parameter is higher than 255. "
				"High values can impact the performance of the tool.\n");
	log_set_verbosity(c->verbose);
	return CLI_OK;
}
