/* walvfs.c: sqlite's default VFS, except for WAL files: their writes are
 * gathered while they are adjacent and reach the file in one pwrite(2)
 * when the commit frame is complete, or before anything else is done
 * with the file (read, sync, size, truncate, control, close).
 *
 * SQLite writes each WAL frame as two writes, a 24-byte header and the
 * page, so a commit of five pages cost ten system calls on the writer
 * thread that every decision waits for; now it costs one. Durability is
 * unchanged: nothing is acknowledged before xSync, and xSync writes what
 * is gathered first. Other connections read a frame only once the
 * wal-index names it, which sqlite updates after the commit frame is
 * written, so they never see a gathered, unwritten byte. A failed write
 * is reported by the call that made it (the commit frame's xWrite, or
 * xSync), so the commit fails and is rolled back as before.
 *
 * Only appends are gathered, and only while the database file reports
 * powersafe overwrite (SQLite's default on Debian). Without it sqlite
 * pads a commit to a sector boundary, splitting a frame around a sync,
 * and a gathered tail would be named by the wal-index yet not written.
 * A write below what this handle has appended since the log's header is
 * a rewrite of a frame of the same transaction (a spilled page written
 * again, or the checksums sqlite rewrites at commit): it goes straight
 * out after what is gathered, so nothing of a finished commit stays
 * gathered whatever the sync mode. Gathered bytes that never reach a
 * commit frame belong to a transaction that was rolled back; they reach
 * the file later, past the log's end, where sqlite would have put them
 * anyway, which is harmless while one connection writes (the daemon's
 * writer; its checkpointer writes no frames).
 * SPDX-License-Identifier: MIT */
#include "walvfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WALVFS_NAME "countersign-wal"
#define FRAME_HDR 24               /* WAL frame header bytes */
#define GATHER_MAX (1 << 16)       /* past this, writes go straight out:
                                    * the unix VFS writes less than 128 KiB
                                    * per call (a longer one comes out
                                    * short, as SQLITE_FULL) */

/* A WAL file: our header, then the default VFS's file at REAL_OFF. */
struct wal_file {
	sqlite3_file base;   /* base.pMethods = &wal_methods */
	sqlite3_file *real;
	unsigned char *buf;  /* gathered bytes, for [off, off + len) */
	size_t len, cap;
	sqlite3_int64 off;
	sqlite3_int64 end;   /* end of what this handle appended since the
	                      * log's header was written */
	bool gather;         /* the database file is powersafe-overwrite */
	bool commit;         /* the header gathered last ends a commit */
};
#define REAL_OFF ((sizeof(struct wal_file) + 15) & ~(size_t) 15)

static sqlite3_vfs *real_vfs;
static sqlite3_vfs wal_vfs;
static bool wal_vfs_ok;
static pthread_once_t wal_vfs_once = PTHREAD_ONCE_INIT;

/* Write what is gathered. */
static int
wal_flush(struct wal_file *w)
{
	int rc;

	if (w->len == 0)
		return SQLITE_OK;
	rc = w->real->pMethods->xWrite(w->real, w->buf, (int) w->len,
	    w->off);
	w->len = 0;
	w->commit = false;
	return rc;
}

static int
wal_close(sqlite3_file *f)
{
	struct wal_file *w = (struct wal_file *) f;
	int rc = wal_flush(w), rc2 = w->real->pMethods->xClose(w->real);

	free(w->buf);
	w->buf = NULL;
	w->cap = 0;
	return rc != SQLITE_OK ? rc : rc2;
}

static int
wal_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 off)
{
	struct wal_file *w = (struct wal_file *) f;
	int rc = wal_flush(w);

	return rc != SQLITE_OK ? rc :
	    w->real->pMethods->xRead(w->real, p, amt, off);
}

/* Whether a 24-byte write is a frame header that ends a commit: its
 * second big-endian word, the database size after the commit, is set. */
static bool
ends_commit(const unsigned char *p, int amt)
{
	return amt == FRAME_HDR && (p[4] | p[5] | p[6] | p[7]) != 0;
}

/* Write straight out, after what is gathered. */
static int
wal_through(struct wal_file *w, const void *p, int amt, sqlite3_int64 off)
{
	int rc = wal_flush(w);

	return rc != SQLITE_OK ? rc :
	    w->real->pMethods->xWrite(w->real, p, amt, off);
}

static int
wal_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
	struct wal_file *w = (struct wal_file *) f;
	size_t need;
	int rc;

	if (off == 0) /* the log's header: the log starts again */
		w->end = 0;
	if (!w->gather || amt <= 0 || off < w->end)
		return wal_through(w, p, amt, off); /* see the top */
	w->end = off + amt;
	if (w->len > 0 && off != w->off + (sqlite3_int64) w->len &&
	    (rc = wal_flush(w)) != SQLITE_OK)
		return rc;
	need = w->len + (size_t) amt;
	if (need > w->cap) {
		size_t cap = w->cap > 0 ? w->cap : 32768;
		unsigned char *nb;

		while (cap < need)
			cap *= 2;
		if (cap > GATHER_MAX || (nb = realloc(w->buf, cap)) == NULL)
			/* a big transaction, or no memory: no gathering */
			return wal_through(w, p, amt, off);
		w->buf = nb;
		w->cap = cap;
	}
	if (w->len == 0)
		w->off = off;
	memcpy(w->buf + w->len, p, (size_t) amt);
	w->len = need;
	if (w->commit) /* the commit frame's page: the commit is whole */
		return wal_flush(w);
	w->commit = ends_commit(p, amt);
	return SQLITE_OK;
}

static int
wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct wal_file *w = (struct wal_file *) f;
	int rc = wal_flush(w);

	if (size < w->end)
		w->end = size;
	return rc != SQLITE_OK ? rc :
	    w->real->pMethods->xTruncate(w->real, size);
}

static int
wal_sync(sqlite3_file *f, int flags)
{
	struct wal_file *w = (struct wal_file *) f;
	int rc = wal_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int
wal_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct wal_file *w = (struct wal_file *) f;
	int rc = wal_flush(w);

	return rc != SQLITE_OK ? rc :
	    w->real->pMethods->xFileSize(w->real, size);
}

static int
wal_lock(sqlite3_file *f, int level)
{
	struct wal_file *w = (struct wal_file *) f;

	return w->real->pMethods->xLock(w->real, level);
}

static int
wal_unlock(sqlite3_file *f, int level)
{
	struct wal_file *w = (struct wal_file *) f;

	return w->real->pMethods->xUnlock(w->real, level);
}

static int
wal_reserved(sqlite3_file *f, int *out)
{
	struct wal_file *w = (struct wal_file *) f;

	return w->real->pMethods->xCheckReservedLock(w->real, out);
}

static int
wal_control(sqlite3_file *f, int op, void *arg)
{
	struct wal_file *w = (struct wal_file *) f;
	int rc = wal_flush(w);

	return rc != SQLITE_OK ? rc :
	    w->real->pMethods->xFileControl(w->real, op, arg);
}

static int
wal_sector(sqlite3_file *f)
{
	struct wal_file *w = (struct wal_file *) f;

	return w->real->pMethods->xSectorSize(w->real);
}

static int
wal_device(sqlite3_file *f)
{
	struct wal_file *w = (struct wal_file *) f;

	return w->real->pMethods->xDeviceCharacteristics(w->real);
}

/* Version 1: sqlite maps and locks shared memory through the database
 * file, never the WAL, and maps only the database file. */
static const sqlite3_io_methods wal_methods = {
	.iVersion = 1,
	.xClose = wal_close,
	.xRead = wal_read,
	.xWrite = wal_write,
	.xTruncate = wal_truncate,
	.xSync = wal_sync,
	.xFileSize = wal_size,
	.xLock = wal_lock,
	.xUnlock = wal_unlock,
	.xCheckReservedLock = wal_reserved,
	.xFileControl = wal_control,
	.xSectorSize = wal_sector,
	.xDeviceCharacteristics = wal_device,
};

/* Whether the database file whose WAL is name reports powersafe
 * overwrite, as sqlite's WAL code asks when it opens the log. */
static bool
db_psow(const char *name)
{
	sqlite3_file *db = sqlite3_database_file_object(name);

	return db != NULL && db->pMethods != NULL &&
	    (db->pMethods->xDeviceCharacteristics(db) &
	    SQLITE_IOCAP_POWERSAFE_OVERWRITE) != 0;
}

/* Open a file: a WAL file gets the gathering methods, any other file is
 * the default VFS's own, opened in place. */
static int
wal_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
    int *out_flags)
{
	struct wal_file *w = (struct wal_file *) f;
	int rc;

	(void) vfs;
	if (!(flags & SQLITE_OPEN_WAL))
		return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
	memset(w, 0, sizeof *w);
	w->real = (sqlite3_file *) (void *) ((char *) f + REAL_OFF);
	w->real->pMethods = NULL;
	rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		if (w->real->pMethods != NULL)
			w->real->pMethods->xClose(w->real);
		w->base.pMethods = NULL;
		return rc;
	}
	w->gather = db_psow(name);
	w->base.pMethods = &wal_methods;
	return SQLITE_OK;
}

/* Register the VFS: a copy of the default one (its pAppData and
 * mxPathname too, so that every method but xOpen behaves as its own). */
static void
wal_vfs_register(void)
{
	int sz;

	if ((real_vfs = sqlite3_vfs_find(NULL)) == NULL)
		return;
	wal_vfs = *real_vfs;
	wal_vfs.pNext = NULL;
	wal_vfs.zName = WALVFS_NAME;
	sz = (int) REAL_OFF + real_vfs->szOsFile;
	wal_vfs.szOsFile = sz > real_vfs->szOsFile ? sz : real_vfs->szOsFile;
	wal_vfs.xOpen = wal_open;
	wal_vfs_ok = sqlite3_vfs_register(&wal_vfs, 0) == SQLITE_OK;
}

const char *
core_walvfs(void)
{
	pthread_once(&wal_vfs_once, wal_vfs_register);
	return wal_vfs_ok ? WALVFS_NAME : NULL;
}
