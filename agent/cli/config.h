/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the command line asks for: the library's options (struct
 * fs_options, NFStreamer's parameters) plus what only the command runs:
 * the sources' lists, the output, plugins, verbosity.  Filled by
 * cli_parse().
 */
#ifndef FLOWSIGHT_CONFIG_H
#define FLOWSIGHT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "flowsight/flowsight.h"

#define FC_MAX_SOURCES 256
#define FC_MAX_ANON 64
#define FC_MAX_PLUGINS 32

struct fc_plugin_arg {
	const char *path;
	const char *config; /* "key=value,..." after the first ':' or "" */
};

struct fc_config {
	struct fs_options o;
	const char *files[FC_MAX_SOURCES]; /* -r, read in order as one stream */
	int n_files;
	const char *ifaces[FC_MAX_SOURCES]; /* -i */
	int n_ifaces;
	struct fs_writer_options w;         /* -o, -F, --flows-per-file, ... */
	const char *anon_cols[FC_MAX_ANON]; /* --columns-to-anonymize */
	int n_anon_cols;
	struct fc_plugin_arg plugins[FC_MAX_PLUGINS]; /* --plugin, in order */
	int n_plugins;
	int verbose;
	bool top;     /* flowsight top, --top */
	int progress; /* --progress: -1 when stderr is a terminal, 0 off, 1 on */
	char default_iface[64]; /* top without -i */
};

void config_defaults(struct fc_config *c);

#endif
