// SPDX-License-Identifier: GPL-2.0-only
/* Test plugin: a shared object with a plugin's shape but no fs_plugin_descriptor. */
#include "flowsight/plugin.h"

const struct fs_plugin fs_plugin_desc = {
	.abi = FS_PLUGIN_ABI,
	.name = "no_descriptor",
};
