/* home.h: the home folder a running instance owns: resolution, creation
 * with safe permissions, the token key and the pid file.
 * SPDX-License-Identifier: MIT */
#ifndef CORE_HOME_H
#define CORE_HOME_H

#include "cs.h"

/* cs_home_resolve returns a new path: arg, else $COUNTERSIGN_HOME, else
 * $XDG_STATE_HOME/countersign, else ~/.local/state/countersign. */
char *cs_home_resolve(const char *arg, char **cause);

/* cs_home_prepare creates the folder (0700) when missing and refuses one
 * owned by another user or writable by group or others. */
cs_err cs_home_prepare(const char *home, char **cause);

/* cs_home_key reads DIR/token.key into a new buffer. With create, a
 * missing key is generated (32 random bytes, hex, mode 0600). A key file
 * readable by group or others is refused. */
cs_err cs_home_key(const char *home, bool create, unsigned char **key,
    size_t *key_len, char **cause);

/* cs_home_default_policy returns a new path: DIR/policy.json when it
 * exists, else fallback. */
char *cs_home_default_policy(const char *home, const char *fallback);

/* cs_home_check_pid refuses to start when DIR/countersignd.pid names a
 * live process. */
cs_err cs_home_check_pid(const char *home, char **cause);

/* cs_home_write_pid writes this process's pid to DIR/countersignd.pid. */
cs_err cs_home_write_pid(const char *home, char **cause);

/* cs_home_unlock_pid removes the pid file if it names this process. */
void cs_home_unlock_pid(const char *home);

/* cs_home_check_socket refuses an existing path where an ipc socket is
 * to be created unless it is a socket owned by this user (a stale one from
 * an earlier run, which the listener replaces). */
cs_err cs_home_check_socket(const char *path, char **cause);

/* cs_home_url returns a new "ipc://DIR/NAME" url. */
char *cs_home_url(const char *home, const char *name);

#endif
