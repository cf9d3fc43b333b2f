// SPDX-License-Identifier: GPL-2.0-only
/*
 * The option table is the single source for getopt_long's long options,
 * the short option string and --help.  Options that are NFStreamer
 * parameters name the library's parameter (fs_param_at): its metavar,
 * help, validation and NFStream's message come from there; the rest are
 * the command's own.  A bad value prints its message and exits 2 before
 * any capture starts.  --config reads the same options from a file first
 * (one per line, "name value"); the command line overrides it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/clilog.h"
#include "cli/metrics.h"
#include "cli/top.h"

enum opt_type {
	OT_PARAM,   /* a library parameter, by name */
	OT_FILE,    /* append to files[] */
	OT_IFACE,   /* append to ifaces[] */
	OT_OUTPUT,  /* -o */
	OT_FORMAT,  /* csv|jsonl */
	OT_WRITER,  /* a writer option, by the library's name */
	OT_COLUMNS, /* comma-separated list into anon_cols[] */
	OT_PLUGIN,  /* PATH[:key=value,...] */
	OT_METRICS, /* --metrics-listen ADDR:PORT */
	OT_LOGLEVEL,
	OT_SECRET,  /* a credential: configuration file only */
	OT_CONFIG,  /* --config PATH: command line only */
	OT_CHECK,   /* --check-config */
	OT_TOP,
	OT_PROGRESS,
	OT_VERBOSE,
	OT_MAN,
	OT_HELP,
	OT_VERSION,
};

/* Where an option may be given. */
#define ONLY_CMDLINE 1 /* not in a configuration file */
#define ONLY_FILE 2    /* not on the command line (secrets) */

struct cli_opt {
	const char *name;
	int short_opt;   /* 0: long only */
	enum opt_type type;
	const char *param; /* OT_PARAM: the library's name; else the metavar */
	const char *err;   /* NFStream's message for a bad value (own options) */
	const char *help;  /* own options */
	unsigned int where;
};

#define SRC_ERR "Please specify a pcap file path or a valid network interface name as source."
#define ENV_CH_USER "FLOWSIGHT_CLICKHOUSE_USER"
#define ENV_CH_PASSWORD "FLOWSIGHT_CLICKHOUSE_PASSWORD"

static const struct cli_opt cli_opts[] = {
	{ "read", 'r', OT_FILE, "FILE", SRC_ERR,
	  "read packets from a pcap/pcapng FILE; repeat to read several files as one stream", 0 },
	{ "interface", 'i', OT_IFACE, "IFACE", SRC_ERR,
	  "capture live on IFACE; repeat to capture on several interfaces at once", 0 },
	{ "capture", 0, OT_PARAM, "capture", NULL, NULL, 0 },
	{ "n-meters", 0, OT_PARAM, "n_meters", NULL, NULL, 0 },
	{ "performance-report", 0, OT_PARAM, "performance_report", NULL, NULL, 0 },
	{ "ebpf-map-entries", 0, OT_PARAM, "ebpf_map_entries", NULL, NULL, 0 },
	{ "wait-interface", 0, OT_PARAM, "wait_interface", NULL, NULL, 0 },
	{ "output", 'o', OT_OUTPUT, "PATH", NULL,
	  "write flow records to PATH (default: standard output); SIGHUP reopens it", 0 },
	{ "format", 'F', OT_FORMAT, "csv|jsonl|none",
	  "Please specify a valid format parameter (possible values: csv, jsonl, none).",
	  "output format: NFStream CSV (default), JSON lines, or none (sinks only)", 0 },
	{ "decode-tunnels", 0, OT_PARAM, "decode_tunnels", NULL, NULL, 0 },
	{ "bpf-filter", 0, OT_PARAM, "bpf_filter", NULL, NULL, 0 },
	{ "snapshot-length", 0, OT_PARAM, "snapshot_length", NULL, NULL, 0 },
	{ "promiscuous-mode", 0, OT_PARAM, "promiscuous_mode", NULL, NULL, 0 },
	{ "socket-buffer-size", 0, OT_PARAM, "socket_buffer_size", NULL, NULL, 0 },
	{ "idle-timeout", 0, OT_PARAM, "idle_timeout", NULL, NULL, 0 },
	{ "active-timeout", 0, OT_PARAM, "active_timeout", NULL, NULL, 0 },
	{ "accounting-mode", 0, OT_PARAM, "accounting_mode", NULL, NULL, 0 },
	{ "n-dissections", 0, OT_PARAM, "n_dissections", NULL, NULL, 0 },
	{ "statistical-analysis", 0, OT_PARAM, "statistical_analysis", NULL, NULL, 0 },
	{ "splt-analysis", 0, OT_PARAM, "splt_analysis", NULL, NULL, 0 },
	{ "max-nflows", 0, OT_PARAM, "max_nflows", NULL, NULL, 0 },
	{ "max-flows-in-memory", 0, OT_PARAM, "max_flows_in_memory", NULL, NULL, 0 },
	{ "system-visibility-mode", 0, OT_PARAM, "system_visibility_mode", NULL, NULL, 0 },
	{ "system-visibility-netns", 0, OT_PARAM, "system_visibility_netns", NULL, NULL, 0 },
	{ "split-on-owner", 0, OT_PARAM, "split_on_owner", NULL, NULL, 0 },
	{ "dataset-mode", 0, OT_PARAM, "dataset_mode", NULL, NULL, 0 },
	{ "activity-timeout", 0, OT_PARAM, "activity_timeout", NULL, NULL, 0 },
	{ "flows-per-file", 0, OT_WRITER, "N", NULL,
	  "split the output into files of N flows: PATH.0.csv, PATH.1.csv ... (default 0)", 0 },
	{ "rotate-files", 0, OT_WRITER, "N", NULL,
	  "with --flows-per-file, reuse file indexes modulo N (default 0)", 0 },
	{ "columns-to-anonymize", 0, OT_COLUMNS, "COL,...", NULL,
	  "replace these columns by keyed BLAKE2b-512 digests (fresh key per run)", 0 },
	{ "ja4", 0, OT_PARAM, "ja4", NULL, NULL, 0 },
	{ "pcapng-out", 0, OT_PARAM, "pcapng_out", NULL, NULL, 0 },
	{ "top", 0, OT_TOP, NULL, NULL,
	  "live view of traffic per process, refreshed every second (as 'flowsight top'); "
	  "flow records go to -o only", ONLY_CMDLINE },
	{ "progress", 0, OT_PROGRESS, "0|1",
	  "Please specify a valid progress parameter (possible values: 0, 1).",
	  "offline: one self-updating progress line on stderr (default: when stderr is a "
	  "terminal and the run takes over 2 s)", 0 },
	{ "ipfix", 0, OT_WRITER, "URL", NULL,
	  "also export IPFIX biflows to tcp://HOST:PORT, udp://HOST:PORT or file:PATH", 0 },
	{ "ipfix-pen", 0, OT_WRITER, "N", NULL,
	  "enterprise number of the non-IANA elements (default 32473)", 0 },
	{ "ipfix-template-refresh", 0, OT_WRITER, "SEC", NULL,
	  "UDP: resend the templates every SEC seconds (default 60)", 0 },
	{ "ipfix-queue-mb", 0, OT_WRITER, "MB", NULL,
	  "IPFIX messages kept in memory while the collector lags (default 64)", 0 },
	{ "clickhouse", 0, OT_WRITER, "URL", NULL,
	  "also insert flows into ClickHouse at http://HOST:PORT/ (credentials: "
	  "clickhouse-user and clickhouse-password in a configuration file)", 0 },
	{ "clickhouse-table", 0, OT_WRITER, "NAME", NULL,
	  "table to insert into, NAME or DB.NAME (default flows)", 0 },
	{ "clickhouse-create", 0, OT_WRITER, NULL, NULL,
	  "create the table (MergeTree ordered by time) when it does not exist", 0 },
	{ "clickhouse-batch-rows", 0, OT_WRITER, "N", NULL,
	  "insert once N rows wait (default 50000)", 0 },
	{ "clickhouse-batch-seconds", 0, OT_WRITER, "SEC", NULL,
	  "... or once the oldest row waited SEC seconds (default 1)", 0 },
	{ "clickhouse-spool", 0, OT_WRITER, "DIR", NULL,
	  "keep batches in DIR while ClickHouse is unreachable, replayed in order", 0 },
	{ "clickhouse-spool-mb", 0, OT_WRITER, "MB", NULL,
	  "size cap of the spool (default 1024)", 0 },
	{ "clickhouse-queue-mb", 0, OT_WRITER, "MB", NULL,
	  "rows kept in memory while ClickHouse lags (default 64)", 0 },
	{ "clickhouse-agent", 0, OT_WRITER, "NAME", NULL,
	  "the rows' agent column (default: the host name)", 0 },
	{ "clickhouse-inserts", 0, OT_WRITER, "N", NULL,
	  "inserts in flight at once, a connection each (default 2, at most 16)", 0 },
	{ "sink-drain-seconds", 0, OT_WRITER, "SEC", NULL,
	  "at the end, how long the sinks keep trying to deliver (default 10)", 0 },
	{ "plugin", 0, OT_PLUGIN, "PATH.so[:key=value,...]", NULL,
	  "run the NFPlugin in PATH.so (udps.* columns); repeat for several, run in order", 0 },
	{ "metrics-listen", 0, OT_METRICS, "[ADDR:]PORT", NULL,
	  "serve Prometheus metrics on http://ADDR:PORT/metrics (ADDR default 127.0.0.1; "
	  "[::1]:PORT for IPv6)", 0 },
	{ "config", 0, OT_CONFIG, "PATH", NULL,
	  "read options from PATH first, one per line: 'name value' with these long names "
	  "(the command line overrides them)", ONLY_CMDLINE },
	{ "check-config", 0, OT_CHECK, NULL, NULL,
	  "check the options and the configuration file, print them as a configuration file "
	  "and exit", ONLY_CMDLINE },
	{ "clickhouse-user", 0, OT_SECRET, "USER", NULL,
	  "ClickHouse user (configuration file or $" ENV_CH_USER " only)", ONLY_FILE },
	{ "clickhouse-password", 0, OT_SECRET, "PASSWORD", NULL,
	  "ClickHouse password (configuration file, not readable by others, or $"
	  ENV_CH_PASSWORD " only)", ONLY_FILE },
	{ "log-level", 0, OT_LOGLEVEL, "warning|info|debug", NULL,
	  "diagnostics shown on stderr (default warning; each -v one level more)", 0 },
	{ "verbose", 'v', OT_VERBOSE, NULL, NULL,
	  "more diagnostics on stderr (repeatable; -vv adds libbpf's logs)", 0 },
	{ "man", 0, OT_MAN, NULL, NULL, "print this help as a man page (groff) and exit",
	  ONLY_CMDLINE },
	{ "help", 'h', OT_HELP, NULL, NULL, "show this help and exit", ONLY_CMDLINE },
	{ "version", 'V', OT_VERSION, NULL, NULL, "show the version and exit", ONLY_CMDLINE },
};

#define N_OPTS (sizeof(cli_opts) / sizeof(cli_opts[0]))

/* The library's parameter behind @o (NULL for the command's own). */
static const struct fs_param *param_of(const struct cli_opt *o)
{
	const struct fs_param *p;

	if (o->type != OT_PARAM)
		return NULL;
	for (size_t i = 0; (p = fs_param_at(i)); i++)
		if (!strcmp(p->name, o->param))
			return p;
	return NULL;
}

static const char *metavar_of(const struct cli_opt *o)
{
	const struct fs_param *p = param_of(o);

	if (o->type == OT_PARAM)
		return p ? p->metavar : NULL;
	return o->param;
}

void config_defaults(struct fc_config *c)
{
	memset(c, 0, sizeof(*c));
	fs_options_init(&c->o);
	c->w.format = FS_FORMAT_CSV;
	c->log_level = -1;
	c->progress = -1;
}

int config_verbosity(const struct fc_config *c)
{
	return (c->log_level < 0 ? 0 : c->log_level) + c->verbose;
}

static const char *help_of(const struct cli_opt *o)
{
	const struct fs_param *p = param_of(o);

	return p ? p->help : o->help;
}

void cli_usage(FILE *out)
{
	fprintf(out, "Usage: flowsight -r FILE [-r FILE ...] [OPTION]...\n"
		     "       flowsight -i IFACE [-i IFACE ...] [OPTION]...\n"
		     "       flowsight top [-i IFACE ...] [OPTION]...   (default: the interface of "
		     "the default route)\n"
		     "NFStream-compatible flow records from captures, with process attribution.\n\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct cli_opt *o = &cli_opts[i];
		const char *mv = metavar_of(o);
		char lhs[64];

		if (o->short_opt)
			snprintf(lhs, sizeof(lhs), "-%c, --%s%s%s", o->short_opt, o->name,
				 mv ? " " : "", mv ? mv : "");
		else
			snprintf(lhs, sizeof(lhs), "    --%s%s%s", o->name, mv ? " " : "",
				 mv ? mv : "");
		fprintf(out, "  %-34s %s\n", lhs, help_of(o));
	}
	fprintf(out, "\nExit status: 0 success, 1 input or output error, 2 invalid arguments.\n");
}

/* @s for groff: backslashes doubled, '-' as a minus, a leading '.' or '\''
 * protected. */
static void man_text(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

/* The man page, from the same table as --help. */
static void cli_man(FILE *out)
{
	fprintf(out, ".TH FLOWSIGHT 8 \"\" \"flowsight %s\" \"System Administration\"\n", fs_version());
	fputs(".SH NAME\nflowsight \\- NFStream flow records from captures and live interfaces, "
	      "with process attribution\n"
	      ".SH SYNOPSIS\n.B flowsight\n\\fB\\-r\\fR \\fIFILE\\fR [\\fB\\-r\\fR \\fIFILE\\fR ...] "
	      "[\\fIOPTION\\fR]...\n.br\n.B flowsight\n\\fB\\-i\\fR \\fIIFACE\\fR [\\fB\\-i\\fR "
	      "\\fIIFACE\\fR ...] [\\fIOPTION\\fR]...\n.br\n.B flowsight\n\\fB\\-\\-config\\fR "
	      "\\fIPATH\\fR [\\fIOPTION\\fR]...\n"
	      ".SH DESCRIPTION\nflowsight turns packets into flow records with NFStream's fields, "
	      "order, expiry and statistics, from pcap/pcapng files or live interfaces (eBPF or "
	      "libpcap), each flow with the process that owns it.\n"
	      ".SH OPTIONS\n", out);
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct cli_opt *o = &cli_opts[i];
		const char *mv = metavar_of(o);

		fputs(".TP\n", out);
		if (o->short_opt)
			fprintf(out, "\\fB\\-%c\\fR, ", o->short_opt);
		fputs("\\fB\\-\\-", out);
		man_text(out, o->name);
		fputs("\\fR", out);
		if (mv) {
			fputs(" \\fI", out);
			man_text(out, mv);
			fputs("\\fR", out);
		}
		fputc('\n', out);
		man_text(out, help_of(o));
		fputc('\n', out);
	}
	fputs(".SH CONFIGURATION FILE\n"
	      "\\fB\\-\\-config\\fR \\fIPATH\\fR reads options from \\fIPATH\\fR before the command "
	      "line, one per line: \\fIname value\\fR or \\fIname\\fR=\\fIvalue\\fR, with the long "
	      "names above (no dashes), a flag alone or with 0|1; blank lines and lines starting "
	      "with # are ignored, and # after a blank starts a comment unless the value is "
	      "quoted (\"...\" with \\e\" and \\e\\e). "
	      "Options that can be repeated (read, interface, plugin, columns\\-to\\-anonymize) add "
	      "up; the command line overrides the file, and its sources, plugins or columns replace "
	      "the file's. clickhouse\\-user and clickhouse\\-password are accepted only here (or "
	      "in the environment); a file holding a password must not be readable by others "
	      "(mode 0600, or group root). The service reads /etc/flowsight/flowsight.conf.\n"
	      ".SH SIGNALS\nSIGINT and SIGTERM stop the capture and export every cached flow. "
	      "SIGHUP reopens the output file (\\fB\\-o\\fR) at its path, for logrotate: no flow is "
	      "lost or written twice.\n"
	      ".SH ENVIRONMENT\n.TP\n" ENV_CH_USER ", " ENV_CH_PASSWORD "\nClickHouse credentials "
	      "when the configuration file has none.\n.TP\nJOURNAL_STREAM\nset by systemd: "
	      "diagnostics then carry their syslog priority (<3>, <4>, <6>, <7>).\n"
	      ".SH EXIT STATUS\n0 success, 1 input or output error, 2 invalid arguments or "
	      "configuration.\n"
	      ".SH FILES\n/etc/flowsight/flowsight.conf, /lib/systemd/system/flowsight.service\n",
	      out);
}

static int bad_value(const struct cli_opt *o, const char *val)
{
	if (o->err)
		cli_err("%s", o->err);
	else
		cli_err("invalid value '%s' for --%s", val ? val : "", o->name);
	return CLI_EXIT_USAGE;
}

/* The lists a source of options replaces as a whole (FC_LIST_*). */
#define FC_LIST_SOURCES 1
#define FC_LIST_COLUMNS 2
#define FC_LIST_PLUGINS 4

static unsigned int list_of(const struct cli_opt *o)
{
	switch (o->type) {
	case OT_FILE:
	case OT_IFACE:
		return FC_LIST_SOURCES;
	case OT_COLUMNS:
		return FC_LIST_COLUMNS;
	case OT_PLUGIN:
		return FC_LIST_PLUGINS;
	default:
		return 0;
	}
}

/* Note @o=@val for --check-config: a later value overrides an earlier one,
 * a list from the command line the file's whole list. */
static void record(const struct cli_opt *o, const char *val, const char *origin,
		   struct fc_config *c, bool clear_list)
{
	unsigned int list = list_of(o);

	for (int i = 0; i < c->n_applied; i++) {
		const struct cli_opt *p = c->applied[i].o;

		if ((!list && p == o) || (list && clear_list && list_of(p) == list))
			c->applied[i].overridden = true;
	}
	if (c->n_applied >= FC_MAX_APPLIED || o->type == OT_CONFIG || o->type == OT_CHECK)
		return;
	c->applied[c->n_applied++] = (struct fc_applied){
		o, val ? strdup(val) : NULL, origin ? strdup(origin) : NULL, false
	};
}

static int apply(const struct cli_opt *o, const char *val, struct fc_config *c)
{
	char err[512];

	switch (o->type) {
	case OT_PARAM:
		if (fs_options_set(&c->o, o->param, val, err, sizeof(err))) {
			cli_err("%s", err);
			return CLI_EXIT_USAGE;
		}
		break;
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
	case OT_OUTPUT:
		if (!val)
			return bad_value(o, val);
		c->w.path = val;
		break;
	case OT_WRITER: {
		char name[32];

		snprintf(name, sizeof(name), "%s", o->name);
		for (char *p = name; *p; p++)
			if (*p == '-')
				*p = '_';
		if (fs_writer_options_set(&c->w, name, val, err, sizeof(err))) {
			cli_err("%s", err);
			return CLI_EXIT_USAGE;
		}
		break;
	}
	case OT_FORMAT:
		if (val && !strcmp(val, "csv"))
			c->w.format = FS_FORMAT_CSV;
		else if (val && (!strcmp(val, "jsonl") || !strcmp(val, "json")))
			c->w.format = FS_FORMAT_JSONL;
		else if (val && !strcmp(val, "none"))
			c->w.format = FS_FORMAT_NONE;
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
	case OT_PLUGIN: {
		char *colon;

		if (!val || !*val || c->n_plugins >= FC_MAX_PLUGINS)
			return bad_value(o, val);
		colon = strchr(val, ':');
		if (colon)
			*colon = '\0';
		c->plugins[c->n_plugins].path = val;
		c->plugins[c->n_plugins++].config = colon ? colon + 1 : "";
		break;
	}
	case OT_METRICS:
		if (metrics_parse(val, err, sizeof(err))) {
			cli_err("%s", err);
			return CLI_EXIT_USAGE;
		}
		c->metrics_listen = val;
		break;
	case OT_TOP:
		c->top = true;
		break;
	case OT_PROGRESS:
		if (val && !strcmp(val, "0"))
			c->progress = 0;
		else if (val && !strcmp(val, "1"))
			c->progress = 1;
		else
			return bad_value(o, val);
		break;
	case OT_LOGLEVEL:
		if (val && !strcmp(val, "warning"))
			c->log_level = 0;
		else if (val && !strcmp(val, "info"))
			c->log_level = 1;
		else if (val && !strcmp(val, "debug"))
			c->log_level = 2;
		else
			return bad_value(o, val);
		break;
	case OT_SECRET:
		if (!c->in_file) {
			cli_err("--%s is accepted only in a configuration file (--config) or $%s: a "
				"command line is visible to every user in /proc/PID/cmdline", o->name,
				!strcmp(o->name, "clickhouse-user") ? ENV_CH_USER : ENV_CH_PASSWORD);
			return CLI_EXIT_USAGE;
		}
		if (!val)
			return bad_value(o, val);
		if (!strcmp(o->name, "clickhouse-user"))
			c->w.clickhouse_user = val;
		else
			c->w.clickhouse_password = val;
		break;
	case OT_CONFIG:
		c->config_path = val;
		break;
	case OT_CHECK:
		c->check_config = true;
		break;
	case OT_VERBOSE:
		if (val) { /* "verbose N" in a configuration file */
			char *end;
			long v = strtol(val, &end, 10);

			if (!*val || *end || v < 0 || v > 3)
				return bad_value(o, val);
			c->verbose = (int)v;
		} else {
			c->verbose++;
		}
		break;
	case OT_MAN:
		cli_man(stdout);
		return CLI_EXIT_OK;
	case OT_HELP:
		cli_usage(stdout);
		return CLI_EXIT_OK;
	case OT_VERSION:
		printf("flowsight %s\n", fs_version());
		return CLI_EXIT_OK;
	}
	return CLI_OK;
}

/* Apply one option from the command line (@origin NULL) or the file. */
static int apply_from(const struct cli_opt *o, char *val, const char *origin, struct fc_config *c)
{
	unsigned int list = list_of(o);
	bool clear = false;

	if (!origin && list && (c->file_lists & list)) {
		/* the command line's sources, plugins or columns replace the file's */
		if (list == FC_LIST_SOURCES)
			c->n_files = c->n_ifaces = 0;
		else if (list == FC_LIST_COLUMNS)
			c->n_anon_cols = 0;
		else
			c->n_plugins = 0;
		c->file_lists &= ~list;
		clear = true;
	}
	if (origin && list)
		c->file_lists |= list;
	record(o, val, origin, c, clear);
	return apply(o, val, c);
}

static const struct cli_opt *opt_by_name(const char *name)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (!strcmp(cli_opts[i].name, name))
			return &cli_opts[i];
	return NULL;
}

/*
 * The value after the name on a configuration line (@p at its first
 * character, NUL-terminated line): "quoted" with \" and \\, or bare up to
 * a '#' that follows a blank, trailing blanks removed.  NULL on an
 * unterminated quote.
 */
static char *line_value(char *p)
{
	char *q, *end;

	if (*p == '"') {
		for (q = end = p + 1; *q && *q != '"'; q++) {
			if (*q == '\\' && (q[1] == '"' || q[1] == '\\'))
				q++;
			*end++ = *q;
		}
		if (*q != '"')
			return NULL;
		for (q++; *q == ' ' || *q == '\t'; q++)
			;
		if (*q && *q != '#')
			return NULL;
		*end = '\0';
		return p + 1;
	}
	for (q = p; *q; q++)
		if (*q == '#' && q > p && (q[-1] == ' ' || q[-1] == '\t'))
			break;
	*q = '\0';
	while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r'))
		*--q = '\0';
	return p;
}

/* A configuration file holding a password must be the owner's (and root's). */
static bool readable_by_others(const struct stat *st)
{
	return (st->st_mode & S_IROTH) || ((st->st_mode & S_IRGRP) && st->st_gid != 0);
}

/* Read @path's options into @c.  CLI_OK, or CLI_EXIT_USAGE after one line
 * naming the file (and the line). */
static int load_config(const char *path, struct fc_config *c)
{
	static char where[4096 + 32];
	struct stat st = { 0 };
	char *buf, *line;
	ssize_t got;
	size_t len = 0;
	int fd, lineno = 0, rc = CLI_OK;
	bool password = false;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_err("cannot read configuration file '%s': %s", path, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		cli_err("cannot read configuration file '%s': %s", path,
			S_ISDIR(st.st_mode) ? "Is a directory" : "not a regular file");
		close(fd);
		return CLI_EXIT_USAGE;
	}
	buf = malloc((size_t)st.st_size + 1); /* kept: options point into it */
	while (buf && (got = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)got;
	if (!buf || got < 0) {
		cli_err("cannot read configuration file '%s': %s", path,
			buf ? strerror(errno) : "out of memory");
		close(fd);
		free(buf);
		return CLI_EXIT_USAGE;
	}
	close(fd);
	buf[len] = '\0';
	c->in_file = true;
	for (char *next = buf; rc == CLI_OK && next && *next; ) {
		const struct cli_opt *o;
		char *name, *p, *val;
		bool takes;

		line = next;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		for (p = line; *p == ' ' || *p == '\t' || *p == '\r'; p++)
			;
		if (!*p || *p == '#')
			continue;
		name = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '=' && *p != '\r')
			p++;
		if (*p) {
			bool eq = *p == '=';

			*p++ = '\0';
			/* "name value", "name=value", "name = value" */
			for (; *p == ' ' || *p == '\t' || (*p == '=' && !eq); p++)
				eq = eq || *p == '=';
		}
		cli_set_where(where);
		if (name[0] == '-' && name[1] == '-')
			name += 2; /* "--idle-timeout 60" is taken too */
		o = opt_by_name(name);
		if (!o) {
			cli_err("unknown option '%s'", name);
			rc = CLI_EXIT_USAGE;
			break;
		}
		if (o->where & ONLY_CMDLINE) {
			cli_err("'%s' is a command-line option: not allowed in a configuration file",
				name);
			rc = CLI_EXIT_USAGE;
			break;
		}
		val = line_value(p);
		if (!val) {
			cli_err("unterminated quote in the value of '%s'", name);
			rc = CLI_EXIT_USAGE;
			break;
		}
		takes = metavar_of(o) != NULL;
		if (!*val && takes) {
			cli_err("option '%s' needs a value", name);
			rc = CLI_EXIT_USAGE;
			break;
		}
		if (o->type == OT_SECRET && !strcmp(o->name, "clickhouse-password"))
			password = true;
		rc = apply_from(o, *val ? val : NULL, where, c);
	}
	cli_set_where(NULL);
	c->in_file = false;
	if (rc == CLI_OK && password && readable_by_others(&st)) {
		cli_err("%s: holds clickhouse-password but others can read it (mode %04o, group %u): "
			"chmod 600 it, or leave it to group root", path,
			(unsigned int)(st.st_mode & 07777), (unsigned int)st.st_gid);
		rc = CLI_EXIT_USAGE;
	}
	return rc;
}

/* --check-config: the options in effect, as a configuration file. */
static void print_config(const struct fc_config *c)
{
	printf("# flowsight %s: options in effect%s%s\n", fs_version(),
	       c->config_path ? ", configuration file " : "", c->config_path ? c->config_path : "");
	for (int i = 0; i < c->n_applied; i++) {
		const struct fc_applied *a = &c->applied[i];

		if (a->overridden || a->o->type == OT_VERBOSE)
			continue;
		if (a->o->type == OT_SECRET && !strcmp(a->o->name, "clickhouse-password"))
			printf("%s \"********\"", a->o->name);
		else if (!a->value)
			printf("%s", a->o->name);
		else if (strpbrk(a->value, "#\"\\ \t") || !*a->value) {
			printf("%s \"", a->o->name);
			for (const char *p = a->value; *p; p++)
				printf("%s%c", *p == '"' || *p == '\\' ? "\\" : "", *p);
			putchar('"');
		} else {
			printf("%s %s", a->o->name, a->value);
		}
		printf("  # %s\n", a->origin ? a->origin : "command line");
	}
	if (c->verbose)
		printf("verbose %d\n", c->verbose);
	if (c->w.clickhouse_user && c->w.clickhouse_user == getenv(ENV_CH_USER))
		printf("# clickhouse-user from $%s\n", ENV_CH_USER);
	if (c->w.clickhouse_password && c->w.clickhouse_password == getenv(ENV_CH_PASSWORD))
		printf("# clickhouse-password from $%s\n", ENV_CH_PASSWORD);
}

enum cli_result cli_parse(int argc, char **argv, struct fc_config *c)
{
	struct option longopts[N_OPTS + 1];
	char shortopts[2 * N_OPTS + 2];
	const struct cli_opt **seen;
	char **vals;
	size_t ns = 0;
	int ch, idx, n_seen = 0, r;

	config_defaults(c);
	if (argc > 1 && !strcmp(argv[1], "top")) {
		/* flowsight top ...: the same options after the word */
		c->top = true;
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	shortopts[ns++] = ':';
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct cli_opt *o = &cli_opts[i];
		const struct fs_param *p = param_of(o);
		bool flag = p && !p->metavar;
		bool arg = metavar_of(o) != NULL;

		longopts[i].name = o->name;
		longopts[i].has_arg = flag ? optional_argument : arg ? required_argument : no_argument;
		longopts[i].flag = NULL;
		longopts[i].val = o->short_opt ? o->short_opt : 256 + (int)i;
		if (o->short_opt) {
			shortopts[ns++] = (char)o->short_opt;
			if (arg)
				shortopts[ns++] = ':';
		}
	}
	memset(&longopts[N_OPTS], 0, sizeof(longopts[0]));
	shortopts[ns] = '\0';

	/* every option first (--help at once), then the file, then them */
	seen = calloc((size_t)argc + 1, sizeof(*seen));
	vals = calloc((size_t)argc + 1, sizeof(*vals));
	if (!seen || !vals) {
		free(seen);
		free(vals);
		cli_err("out of memory");
		return CLI_EXIT_USAGE;
	}
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		const struct cli_opt *o = NULL;

		if (ch == '?' || ch == ':') {
			if (ch == ':')
				cli_err("option '%s' needs a value", argv[optind - 1]);
			else
				cli_err("unknown option '%s'", argv[optind - 1]);
			cli_hint("Try 'flowsight --help' for more information.");
			r = CLI_EXIT_USAGE;
			goto out;
		}
		for (size_t i = 0; i < N_OPTS; i++) {
			if ((cli_opts[i].short_opt && cli_opts[i].short_opt == ch) ||
			    ch == 256 + (int)i) {
				o = &cli_opts[i];
				break;
			}
		}
		if (!o) {
			r = CLI_EXIT_USAGE;
			goto out;
		}
		if (o->type == OT_HELP || o->type == OT_VERSION || o->type == OT_MAN) {
			r = apply(o, optarg, c);
			goto out;
		}
		if (o->type == OT_CONFIG)
			c->config_path = optarg;
		seen[n_seen] = o;
		vals[n_seen++] = optarg;
	}
	if (optind < argc) {
		cli_err("unexpected argument '%s'", argv[optind]);
		cli_hint("Try 'flowsight --help' for more information.");
		r = CLI_EXIT_USAGE;
		goto out;
	}
	r = CLI_OK;
	if (c->config_path && (r = load_config(c->config_path, c)) != CLI_OK)
		goto out;
	for (int i = 0; i < n_seen; i++)
		if ((r = apply_from(seen[i], vals[i], NULL, c)) != CLI_OK)
			goto out;
out:
	free(seen); /* every way out of the parsing loop */
	free(vals);
	if (r != CLI_OK)
		return r;
	/* credentials the file did not give: the environment's */
	if (!c->w.clickhouse_user)
		c->w.clickhouse_user = getenv(ENV_CH_USER);
	if (!c->w.clickhouse_password)
		c->w.clickhouse_password = getenv(ENV_CH_PASSWORD);
	if (c->top && c->n_files) {
		cli_err("top needs a live capture (-i IFACE), not files (-r)");
		return CLI_EXIT_USAGE;
	}
	if (c->top && !c->n_ifaces)
		c->ifaces[c->n_ifaces++] = top_default_interface(c->default_iface,
							      sizeof(c->default_iface));
	if (!c->n_files && !c->n_ifaces) {
		cli_err("%s", SRC_ERR);
		return CLI_EXIT_USAGE;
	}
	if (c->n_files && c->n_ifaces) {
		cli_err("cannot read files (-r) and capture live (-i) at once");
		return CLI_EXIT_USAGE;
	}
	if (c->w.format == FS_FORMAT_NONE && !c->w.ipfix && !c->w.clickhouse) {
		fprintf(stderr, "flowsight: --format none needs --ipfix or --clickhouse\n");
		return CLI_EXIT_USAGE;
	}
	if ((c->w.ipfix || c->w.clickhouse) && c->n_anon_cols) {
		fprintf(stderr, "flowsight: --columns-to-anonymize applies to CSV and JSON only: "
				"it cannot be combined with --ipfix or --clickhouse\n");
		return CLI_EXIT_USAGE;
	}
	if (c->w.flows_per_file && (!c->w.path || !strcmp(c->w.path, "-"))) {
		cli_err("--flows-per-file needs an output path (-o PATH)");
		return CLI_EXIT_USAGE;
	}
	c->o.files = c->files;
	c->o.n_files = (size_t)c->n_files;
	c->o.interfaces = c->ifaces;
	c->o.n_interfaces = (size_t)c->n_ifaces;
	c->w.columns_to_anonymize = c->anon_cols;
	c->w.n_columns_to_anonymize = (size_t)c->n_anon_cols;
	if (c->check_config) {
		char err[512];

		if (fs_options_validate(&c->o, err, sizeof(err))) {
			cli_err("%s", err);
			return CLI_EXIT_USAGE;
		}
		print_config(c);
		return CLI_EXIT_OK;
	}
	return CLI_OK;
}
