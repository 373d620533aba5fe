/* walvfs.h: the audit store's sqlite VFS: the default one, except that the
 * frames of one WAL commit reach the file in one write.
 * SPDX-License-Identifier: MIT */
#ifndef CORE_WALVFS_H
#define CORE_WALVFS_H

/* core_walvfs returns the name of the VFS to open audit stores with,
 * registering it on first use; NULL (use sqlite's default) if it could
 * not be registered. Thread-safe. */
const char *core_walvfs(void);

#endif
