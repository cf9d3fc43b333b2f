/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The parameter table behind fs_options_set(), fs_param_at() and the
 * command line's options.
 */
#ifndef FLOWSIGHT_API_OPTIONS_H
#define FLOWSIGHT_API_OPTIONS_H

#include "flowsight/flowsight.h"

enum param_type {
	P_BOOL, /* 0|1|true|false|True|False */
	P_FLAG, /* a bool that a command-line flag sets without a value */
	P_U64,  /* within [min, max] */
	P_STR,
	P_ENUM, /* one of names[] */
};

struct fs_param_def {
	struct fs_param pub;
	enum param_type type;
	size_t off; /* in struct fs_options */
	uint64_t min, max;
	const char *const *names;
};

const struct fs_param_def *options_param(const char *name);

/* NFStream's n_meters rule for Linux live capture (spec §2): one CPU is
 * left to the consumer, so 0 means CPUs - 1 and a larger value is clamped
 * there with NFStream's warning; 0 meters becomes 1. */
unsigned int options_meters(uint64_t requested);

#endif
