/* check_walvfs.c: Check suite for the audit store's VFS (core/walvfs.c),
 * through sqlite itself: whatever the sync mode and the database's
 * powersafe-overwrite setting, a commit that returned is whole on disk,
 * both for a reader of sqlite's own VFS while the writer is still open
 * and in a copy of the files taken at that moment (what a crash would
 * leave), and the frames of an ordinary commit reach the file in one
 * write.
 * SPDX-License-Identifier: MIT */
#include "walvfs.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sqlite3.h>

#include "scratch_dir.h"
#include "thread_io.h"

static char tmpdir[64];

static void
setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_walvfs.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	scratch_dir_remove(tmpdir);
}

static void
exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK,
	    "%s: %s", sql, err != NULL ? err : "?");
}

/* Open name in tmpdir with the store's VFS and the given settings. */
static sqlite3 *
open_wal(const char *name, const char *uri_params, const char *sync)
{
	char uri[256], sql[64];
	sqlite3 *db = NULL;
	const char *vfs = core_walvfs();

	ck_assert_ptr_nonnull(vfs);
	snprintf(uri, sizeof uri, "file:%s/%s%s", tmpdir, name, uri_params);
	ck_assert_int_eq(sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, vfs), SQLITE_OK);
	exec_ok(db, "PRAGMA journal_mode=WAL");
	snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", sync);
	exec_ok(db, sql);
	return db;
}

/* One integer from sql on db. */
static long long
one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Check name in tmpdir with sqlite's default VFS: intact, with rows
 * rows in t. */
static void
assert_whole(const char *name, long long rows)
{
	char path[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1,
	    &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	ck_assert_str_eq((const char *) sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
	ck_assert_int_eq(one_int(db, "SELECT count(*) FROM t"), rows);
	ck_assert_int_eq(one_int(db, "SELECT count(*) FROM t"
	    " WHERE length(y) != 700 + x % 3000"), 0);
	sqlite3_close(db);
}

/* Copy a file of tmpdir byte for byte (no file: an empty copy). */
static void
copy_file(const char *from, const char *to)
{
	char src[256], dst[256], buf[65536];
	FILE *in, *out;
	size_t n;

	snprintf(src, sizeof src, "%s/%s", tmpdir, from);
	snprintf(dst, sizeof dst, "%s/%s", tmpdir, to);
	ck_assert_ptr_nonnull(out = fopen(dst, "wb"));
	if ((in = fopen(src, "rb")) != NULL) {
		while ((n = fread(buf, 1, sizeof buf, in)) > 0)
			ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
		fclose(in);
	}
	ck_assert_int_eq(fclose(out), 0);
}

/* What a crash now would leave of a.db: a copy of its files, opened
 * afresh (sqlite recovers the WAL from the file alone). */
static void
assert_crash_image_whole(long long rows)
{
	char shm[256];

	snprintf(shm, sizeof shm, "%s/crash.db-shm", tmpdir);
	unlink(shm);
	copy_file("a.db", "crash.db");
	copy_file("a.db-wal", "crash.db-wal");
	assert_whole("crash.db", rows);
}

/* Insert rows [from, to) in one transaction; false if any step failed.
 * It asserts nothing itself, so that the write counts below count only
 * sqlite's writes (each Check assertion writes to its runner). */
static bool
try_insert_rows(sqlite3 *db, long long from, long long to)
{
	sqlite3_stmt *s = NULL;
	bool ok = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "INSERT INTO t (x, y)"
	    " VALUES (?1, randomblob(700 + ?1 % 3000))", -1, &s, NULL) ==
	    SQLITE_OK;

	for (long long x = from; ok && x < to; x++) {
		ok = sqlite3_bind_int64(s, 1, x) == SQLITE_OK &&
		    sqlite3_step(s) == SQLITE_DONE;
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	return sqlite3_exec(db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL,
	    NULL) == SQLITE_OK && ok;
}

static void
insert_rows(sqlite3 *db, long long from, long long to)
{
	ck_assert_msg(try_insert_rows(db, from, to), "insert: %s",
	    sqlite3_errmsg(db));
}

/* Commits of a few rows, read back after each one, for the settings of
 * each case: the store's own (synchronous=FULL, powersafe overwrite on),
 * without powersafe overwrite (sqlite pads each commit to a sector,
 * splitting a frame around a sync), and synchronous=NORMAL. */
static const struct {
	const char *params, *sync;
} small_cases[] = {
	{ "", "FULL" },
	{ "?psow=0", "FULL" },
	{ "?psow=0", "NORMAL" },
	{ "", "NORMAL" },
};

START_TEST(test_small_commits_whole)
{
	sqlite3 *db = open_wal("a.db", small_cases[_i].params,
	    small_cases[_i].sync);
	long long rows = 0;

	exec_ok(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, y BLOB)");
	for (int round = 0; round < 12; round++) {
		insert_rows(db, rows, rows + 1 + round % 4);
		rows += 1 + round % 4;
		assert_whole("a.db", rows);
		assert_crash_image_whole(rows);
	}
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	assert_whole("a.db", rows);
}
END_TEST

/* A transaction bigger than the page cache spills pages to the WAL
 * before its commit and writes some of them again; sqlite then rewrites
 * those frames in place and, at commit, their checksums. A copy taken
 * after the commit returned must recover every row. */
static const char *const spill_syncs[] = { "FULL", "NORMAL" };

START_TEST(test_spilled_transaction_whole)
{
	sqlite3 *db = open_wal("a.db", "", spill_syncs[_i]);

	exec_ok(db, "PRAGMA cache_size=8");
	exec_ok(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, y BLOB)");
	insert_rows(db, 0, 10);
	exec_ok(db, "BEGIN");
	exec_ok(db, "WITH RECURSIVE n(x) AS (SELECT 10 UNION ALL"
	    " SELECT x + 1 FROM n WHERE x < 400)"
	    " INSERT INTO t (x, y) SELECT x, randomblob(700 + x % 3000) FROM n");
	/* the same pages again, after they spilled */
	exec_ok(db, "UPDATE t SET y = randomblob(700 + x % 3000)"
	    " WHERE x % 2 = 0");
	exec_ok(db, "COMMIT");
	assert_whole("a.db", 401);
	assert_crash_image_whole(401);
	/* and a rolled-back spill leaves the next commit whole */
	exec_ok(db, "BEGIN");
	exec_ok(db, "UPDATE t SET y = randomblob(700 + x % 3000)");
	exec_ok(db, "ROLLBACK");
	insert_rows(db, 401, 405);
	assert_whole("a.db", 405);
	assert_crash_image_whole(405);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	assert_whole("a.db", 405);
}
END_TEST

/* Writes of one 4-row commit at synchronous=FULL: one with powersafe
 * overwrite (the frames gathered), one per header and page without it
 * (written as they come, as sqlite's own VFS would). */
START_TEST(test_gathers_only_with_psow)
{
	sqlite3 *on = open_wal("a.db", "", "FULL");
	sqlite3 *off = open_wal("b.db", "?psow=0", "FULL");
	long long w0, w1, w2;
	bool ok_on, ok_off;

	exec_ok(on, "CREATE TABLE t (x INTEGER PRIMARY KEY, y BLOB)");
	exec_ok(off, "CREATE TABLE t (x INTEGER PRIMARY KEY, y BLOB)");
	insert_rows(on, 0, 4);
	insert_rows(off, 0, 4);
	w0 = thread_writes();
	ok_on = try_insert_rows(on, 4, 8);
	w1 = thread_writes();
	ok_off = try_insert_rows(off, 4, 8);
	w2 = thread_writes();
	ck_assert(ok_on && ok_off);
	if (w0 < 0)
		fprintf(stderr, "check_walvfs: write system calls not counted"
		    " here\n");
	else {
		ck_assert_int_eq(w1 - w0, 1);
		ck_assert_int_ge(w2 - w1, 4);
	}
	ck_assert_int_eq(sqlite3_close(on), SQLITE_OK);
	ck_assert_int_eq(sqlite3_close(off), SQLITE_OK);
	assert_whole("a.db", 8);
	assert_whole("b.db", 8);
}
END_TEST

static Suite *
walvfs_suite(void)
{
	Suite *s = suite_create("walvfs");
	TCase *tc = tcase_create("whole");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_small_commits_whole, 0,
	    (int) (sizeof small_cases / sizeof small_cases[0]));
	tcase_add_loop_test(tc, test_spilled_transaction_whole, 0, 2);
	tcase_add_test(tc, test_gathers_only_with_psow);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(walvfs_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
