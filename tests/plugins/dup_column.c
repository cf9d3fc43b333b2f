// SPDX-License-Identifier: GPL-2.0-only
/* Test plugin: lists its own column twice (refused). */
#include "flowsight/plugin.h"

static const struct fs_plugin_column columns[] = {
	{ "twice", FS_INT },
	{ "twice", FS_STR },
};

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.name = "dup_column",
	.columns = columns,
	.n_columns = 2,
};
