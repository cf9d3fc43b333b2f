/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Command line: one option table drives getopt_long, validation with
 * NFStream's error messages, and --help (pinned by tests/golden/help.txt).
 */
#ifndef FLOWSIGHT_CLI_H
#define FLOWSIGHT_CLI_H

#include <stdio.h>

#include "cli/config.h"

enum cli_result { CLI_OK = 0, CLI_EXIT_OK = 1, CLI_EXIT_USAGE = 2 };

/* Parse argv into @c (defaults applied first).  CLI_OK to run; otherwise
 * the process should exit (0 after --help/--version, 2 on a bad value). */
enum cli_result cli_parse(int argc, char **argv, struct fc_config *c);
void cli_usage(FILE *out);

#endif
