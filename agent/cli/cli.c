// SPDX-License-Identifier: GPL-2.0-only
/*
 * The option table is the single source for getopt_long's long options,
 * the short option string and --help.  Options that are NFStreamer
 * parameters name the library's parameter (fs_param_at): its metavar,
 * help, validation and NFStream's message come from there; the rest are
 * the command's own.  A bad value prints its message and exits 2 before
 * any capture starts.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum opt_type {
	OT_PARAM,   /* a library parameter, by name */
	OT_FILE,    /* append to files[] */
	OT_IFACE,   /* append to ifaces[] */
	OT_OUTPUT,  /* -o */
	OT_FORMAT,  /* csv|jsonl */
	OT_WRITER,  /* a writer option, by the library's name */
	OT_COLUMNS, /* comma-separated list into anon_cols[] */
	OT_PLUGIN,  /* PATH[:key=value,...] */
	OT_VERBOSE,
	OT_HELP,
	OT_VERSION,
};

struct cli_opt {
	const char *name;
	int short_opt;   /* 0: long only */
	enum opt_type type;
	const char *param; /* OT_PARAM: the library's name; else the metavar */
	const char *err;   /* NFStream's message for a bad value (own options) */
	const char *help;  /* own options */
};

#define SRC_ERR "Please specify a pcap file path or a valid network interface name as source."

static const struct cli_opt cli_opts[] = {
	{ "read", 'r', OT_FILE, "FILE", SRC_ERR,
	  "read packets from a pcap/pcapng FILE; repeat to read several files as one stream" },
	{ "interface", 'i', OT_IFACE, "IFACE", SRC_ERR,
	  "capture live on IFACE; repeat to capture on several interfaces at once" },
	{ "capture", 0, OT_PARAM, "capture", NULL, NULL },
	{ "n-meters", 0, OT_PARAM, "n_meters", NULL, NULL },
	{ "performance-report", 0, OT_PARAM, "performance_report", NULL, NULL },
	{ "ebpf-map-entries", 0, OT_PARAM, "ebpf_map_entries", NULL, NULL },
	{ "output", 'o', OT_OUTPUT, "PATH", NULL,
	  "write flow records to PATH (default: standard output)" },
	{ "format", 'F', OT_FORMAT, "csv|jsonl",
	  "Please specify a valid format parameter (possible values: csv, jsonl).",
	  "output format: NFStream CSV (default) or JSON lines" },
	{ "decode-tunnels", 0, OT_PARAM, "decode_tunnels", NULL, NULL },
	{ "bpf-filter", 0, OT_PARAM, "bpf_filter", NULL, NULL },
	{ "snapshot-length", 0, OT_PARAM, "snapshot_length", NULL, NULL },
	{ "promiscuous-mode", 0, OT_PARAM, "promiscuous_mode", NULL, NULL },
	{ "socket-buffer-size", 0, OT_PARAM, "socket_buffer_size", NULL, NULL },
	{ "idle-timeout", 0, OT_PARAM, "idle_timeout", NULL, NULL },
	{ "active-timeout", 0, OT_PARAM, "active_timeout", NULL, NULL },
	{ "accounting-mode", 0, OT_PARAM, "accounting_mode", NULL, NULL },
	{ "n-dissections", 0, OT_PARAM, "n_dissections", NULL, NULL },
	{ "statistical-analysis", 0, OT_PARAM, "statistical_analysis", NULL, NULL },
	{ "splt-analysis", 0, OT_PARAM, "splt_analysis", NULL, NULL },
	{ "max-nflows", 0, OT_PARAM, "max_nflows", NULL, NULL },
	{ "max-flows-in-memory", 0, OT_PARAM, "max_flows_in_memory", NULL, NULL },
	{ "system-visibility-mode", 0, OT_PARAM, "system_visibility_mode", NULL, NULL },
	{ "system-visibility-netns", 0, OT_PARAM, "system_visibility_netns", NULL, NULL },
	{ "split-on-owner", 0, OT_PARAM, "split_on_owner", NULL, NULL },
	{ "dataset-mode", 0, OT_PARAM, "dataset_mode", NULL, NULL },
	{ "activity-timeout", 0, OT_PARAM, "activity_timeout", NULL, NULL },
	{ "flows-per-file", 0, OT_WRITER, "N", NULL,
	  "split the output into files of N flows: PATH.0.csv, PATH.1.csv ... (default 0)" },
	{ "rotate-files", 0, OT_WRITER, "N", NULL,
	  "with --flows-per-file, reuse file indexes modulo N (default 0)" },
	{ "columns-to-anonymize", 0, OT_COLUMNS, "COL,...", NULL,
	  "replace these columns by keyed BLAKE2b-512 digests (fresh key per run)" },
	{ "ja4", 0, OT_PARAM, "ja4", NULL, NULL },
	{ "plugin", 0, OT_PLUGIN, "PATH.so[:key=value,...]", NULL,
	  "run the NFPlugin in PATH.so (udps.* columns); repeat for several, run in order" },
	{ "verbose", 'v', OT_VERBOSE, NULL, NULL,
	  "more diagnostics on stderr (repeatable; -vv adds libbpf's logs)" },
	{ "help", 'h', OT_HELP, NULL, NULL, "show this help and exit" },
	{ "version", 'V', OT_VERSION, NULL, NULL, "show the version and exit" },
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
}

void cli_usage(FILE *out)
{
	fprintf(out, "Usage: flowsight -r FILE [-r FILE ...] [OPTION]...\n"
		     "       flowsight -i IFACE [-i IFACE ...] [OPTION]...\n"
		     "NFStream-compatible flow records from captures, with process attribution.\n\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct cli_opt *o = &cli_opts[i];
		const struct fs_param *p = param_of(o);
		const char *mv = metavar_of(o);
		char lhs[64];

		if (o->short_opt)
			snprintf(lhs, sizeof(lhs), "-%c, --%s%s%s", o->short_opt, o->name,
				 mv ? " " : "", mv ? mv : "");
		else
			snprintf(lhs, sizeof(lhs), "    --%s%s%s", o->name, mv ? " " : "",
				 mv ? mv : "");
		fprintf(out, "  %-34s %s\n", lhs, p ? p->help : o->help);
	}
	fprintf(out, "\nExit status: 0 success, 1 input or output error, 2 invalid arguments.\n");
}

static int bad_value(const struct cli_opt *o, const char *val)
{
	if (o->err)
		fprintf(stderr, "flowsight: %s\n", o->err);
	else
		fprintf(stderr, "flowsight: invalid value '%s' for --%s\n", val ? val : "",
			o->name);
	return CLI_EXIT_USAGE;
}

static int apply(const struct cli_opt *o, const char *val, struct fc_config *c)
{
	char err[512];

	switch (o->type) {
	case OT_PARAM:
		if (fs_options_set(&c->o, o->param, val, err, sizeof(err))) {
			fprintf(stderr, "flowsight: %s\n", err);
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
			fprintf(stderr, "flowsight: %s\n", err);
			return CLI_EXIT_USAGE;
		}
		break;
	}
	case OT_FORMAT:
		if (val && !strcmp(val, "csv"))
			c->w.format = FS_FORMAT_CSV;
		else if (val && (!strcmp(val, "jsonl") || !strcmp(val, "json")))
			c->w.format = FS_FORMAT_JSONL;
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
	case OT_VERBOSE:
		c->verbose++;
		break;
	case OT_HELP:
		cli_usage(stdout);
		return CLI_EXIT_OK;
	case OT_VERSION:
		printf("flowsight %s\n", fs_version());
		return CLI_EXIT_OK;
	}
	return CLI_OK;
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

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		const struct cli_opt *o = NULL;
		int r;

		if (ch == '?' || ch == ':') {
			if (ch == ':')
				fprintf(stderr, "flowsight: option '%s' needs a value\n",
					argv[optind - 1]);
			else
				fprintf(stderr, "flowsight: unknown option '%s'\n", argv[optind - 1]);
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
		fprintf(stderr, "flowsight: unexpected argument '%s'\n", argv[optind]);
		fprintf(stderr, "Try 'flowsight --help' for more information.\n");
		return CLI_EXIT_USAGE;
	}
	if (!c->n_files && !c->n_ifaces) {
		fprintf(stderr, "flowsight: %s\n", SRC_ERR);
		return CLI_EXIT_USAGE;
	}
	if (c->n_files && c->n_ifaces) {
		fprintf(stderr, "flowsight: cannot read files (-r) and capture live (-i) at once\n");
		return CLI_EXIT_USAGE;
	}
	if (c->w.flows_per_file && (!c->w.path || !strcmp(c->w.path, "-"))) {
		fprintf(stderr, "flowsight: --flows-per-file needs an output path (-o PATH)\n");
		return CLI_EXIT_USAGE;
	}
	c->o.files = c->files;
	c->o.n_files = (size_t)c->n_files;
	c->o.interfaces = c->ifaces;
	c->o.n_interfaces = (size_t)c->n_ifaces;
	c->w.columns_to_anonymize = c->anon_cols;
	c->w.n_columns_to_anonymize = (size_t)c->n_anon_cols;
	return CLI_OK;
}
