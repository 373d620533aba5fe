/* ctl.h: helpers shared by countersignctl's commands.
 * SPDX-License-Identifier: MIT */
#ifndef CTL_H
#define CTL_H

#include <stdarg.h>

#include "countersign.h"
#include "cs.h"

/* ctl_fail prints "countersignctl: MESSAGE" on stderr and returns code. */
int ctl_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ctl_opt returns the value of option name at argv[*i] (advancing *i), or
 * NULL when argv[*i] is another argument. */
const char *ctl_opt(int argc, char **argv, int *i, const char *name);

/* ctl_home returns the resolved home folder (new string) or exits 64. */
char *ctl_home(void);

/* ctl_connect connects to DIR/endpoint ("agent.ipc", "control.ipc") or
 * exits 69. */
cs_client *ctl_connect(const char *endpoint);

/* ctl_print_json prints v on one line. */
void ctl_print_json(const json_t *v);

/* ctl_simulate runs the traffic simulator (simulate.c). */
int ctl_simulate(int argc, char **argv);

/* ctl_home_arg returns the --home value given before the command
 * (borrowed), or NULL. */
const char *ctl_home_arg(void);

/* ctl_hook runs an agent-framework hook (hook.c): `hook claude-code`
 * answers one Claude Code PreToolUse event. */
int ctl_hook(int argc, char **argv);

#endif
