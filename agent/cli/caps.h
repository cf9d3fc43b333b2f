/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The command line's drop of privileges after attach (capture/privs.h says
 * what each mode needs).
 */
#ifndef FLOWSIGHT_CAPS_H
#define FLOWSIGHT_CAPS_H

#include "capture/privs.h"

/*
 * Once everything of @m is attached and opened: keep only what the running
 * capture still uses (logged at -v with the reason), drop the rest from
 * the effective, permitted, inheritable and ambient sets of every thread
 * of the process, from the bounding set when CAP_SETPCAP allows it, and
 * set no_new_privs.  Returns 0 or -errno (logged): a process that cannot
 * shed its privileges should not run.
 */
int caps_drop(const struct caps_mode *m);

#endif
