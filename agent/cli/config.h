/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the command line and the configuration file ask for: the library's
 * options (struct fs_options, NFStreamer's parameters) plus what only the
 * command runs: the sources' lists, the output, plugins, verbosity, the
 * metrics listener.  Filled by cli_parse().
 */
#ifndef FLOWSIGHT_CONFIG_H
#define FLOWSIGHT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "flowsight/flowsight.h"

#define FC_MAX_SOURCES 256
#define FC_MAX_ANON 64
#define FC_MAX_PLUGINS 32
#define FC_MAX_APPLIED 1024

struct fc_plugin_arg {
	const char *path;
	const char *config; /* "key=value,..." after the first ':' or "" */
};

struct cli_opt;

/* One option as applied, for --check-config. */
struct fc_applied {
	const struct cli_opt *o;
	char *value;      /* a copy; NULL for a flag */
	char *origin;     /* "FILE:LINE" or NULL for the command line */
	bool overridden;  /* by a later value, or the command line's list */
};

struct fc_config {
	struct fs_options o;
	const char *files[FC_MAX_SOURCES]; /* -r, read in order as one stream */
	int n_files;
	const char *ifaces[FC_MAX_SOURCES]; /* -i */
	int n_ifaces;
	struct fs_writer_options w;         /* -o, -F, --flows-per-file, credentials */
	const char *anon_cols[FC_MAX_ANON]; /* --columns-to-anonymize */
	int n_anon_cols;
	struct fc_plugin_arg plugins[FC_MAX_PLUGINS]; /* --plugin, in order */
	int n_plugins;
	int verbose;                        /* -v count */
	int log_level;                      /* --log-level, -1: not given */
	const char *config_path;            /* --config */
	const char *metrics_listen;         /* --metrics-listen ADDR:PORT */
	bool check_config;                  /* --check-config */
	/* bookkeeping of the file's values that the command line replaces */
	unsigned int file_lists;            /* FC_LIST_* holding the file's values */
	bool in_file;                       /* applying the configuration file */
	struct fc_applied applied[FC_MAX_APPLIED];
	int n_applied;
	bool top;     /* flowsight top, --top */
	int progress; /* --progress: -1 when stderr is a terminal, 0 off, 1 on */
	char default_iface[64]; /* top without -i */
};

void config_defaults(struct fc_config *c);

/* The verbosity of the library's log: --log-level plus each -v. */
int config_verbosity(const struct fc_config *c);

#endif
