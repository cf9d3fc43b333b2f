// SPDX-License-Identifier: GPL-2.0-only
/* Test plugin: a descriptor of the next plugin API version (refused). */
#include "flowsight/plugin.h"

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI + 1,
	.name = "bad_abi",
};
