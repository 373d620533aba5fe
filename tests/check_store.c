/* check_store.c: Check suite for the audit store (core/store.c).
 * SPDX-License-Identifier: MIT */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <sqlite3.h>

#include "scratch_dir.h"
#include "thread_io.h"

#define ck_assert_cs_ok(expr)                                                \
	do {                                                                 \
		cs_err ck_rv_ = (expr);                                      \
		ck_assert_msg(ck_rv_ == CS_OK, "%s: %s", #expr,              \
		    cs_strerror(ck_rv_));                                    \
	} while (0)

#define TS0 INT64_C(1700000000000)
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HASH_1 "1111111111111111111111111111111111111111111111111111111111111111"

static char tmpdir[64];
static char dbpath[128];

/* Make a private directory for this test's files. */
static void
setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_store.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof dbpath, "%s/audit.db", tmpdir);
}

/* Remove the test's directory and everything in it. */
static void
teardown(void)
{
	scratch_dir_remove(tmpdir);
}

/* One audit event; NULL members are left out. */
struct ev_spec {
	const char *kind, *request, *session, *agent, *user, *tool;
	const char *decision, *by, *rule, *q;
};

/* The fixture: ten events, seq = index + 1, ts = TS0 + seq. */
static const struct ev_spec fixture[] = {
	{ "pending", "r1", "s1", "a1", "alice", "fs.read", NULL, NULL, NULL,
	    "/etc/passwd" },
	{ "decision", "r1", "s1", "a1", "alice", "fs.read", "deny", "policy",
	    "no-etc", NULL },
	{ "pending", "r2", "s2", "a2", "bob", "http.get", NULL, NULL, NULL,
	    "100% sure" },
	{ "pending", "r3", "s1", "a1", "alice", "fs.write", NULL, NULL, NULL,
	    "say \"100x\" back\\slash\ttab" },
	{ "decision", "r3", "s1", "a1", "alice", "fs.write", "allow",
	    "operator", NULL, NULL },
	{ "trust", NULL, "s2", NULL, NULL, NULL, NULL, "operator", NULL,
	    NULL },
	{ "pending", "r4", "s2", "a2", "bob", "shell.exec", NULL, NULL, NULL,
	    "a_b" },
	{ "pending", "r2", "s2", "a2", "bob", "http.get", NULL, NULL, NULL,
	    "100% sure" },
	{ "decision", "r5", "s1", "a1", "alice", "fs.read", "allow", "policy",
	    "read-tmp", NULL },
	{ "pending", "r6", "s1", "a1", "alice", "fs.read", NULL, NULL, NULL,
	    "axb" },
};
#define FIXTURE_LEN ((int64_t) CS_ARRAY_LEN(fixture))

/* Set member to a string when value is not NULL. */
static void
ev_set(json_t *ev, const char *member, const char *value)
{
	if (value != NULL)
		ck_assert_int_eq(json_object_set_new(ev, member,
		    json_string(value)), 0);
}

/* Build a new event from spec with the given ts. */
static json_t *
ev_new(const struct ev_spec *spec, int64_t ts)
{
	json_t *ev = json_object();

	ck_assert_ptr_nonnull(ev);
	ev_set(ev, "kind", spec->kind);
	ev_set(ev, "request", spec->request);
	ev_set(ev, "session", spec->session);
	ev_set(ev, "agent", spec->agent);
	ev_set(ev, "user", spec->user);
	ev_set(ev, "tool", spec->tool);
	ev_set(ev, "decision", spec->decision);
	ev_set(ev, "by", spec->by);
	ev_set(ev, "rule", spec->rule);
	ck_assert_int_eq(json_object_set_new(ev, "ts", json_integer(ts)), 0);
	if (spec->q != NULL)
		ck_assert_int_eq(json_object_set_new(ev, "args",
		    json_pack("{s:s}", "q", spec->q)), 0);
	return ev;
}

/* Build a plain pending event. */
static json_t *
ev_simple(int64_t ts)
{
	static const struct ev_spec spec = { "pending", "rx", "sx", "ax",
		"carol", "fs.read", NULL, NULL, NULL, NULL };

	return ev_new(&spec, ts);
}

/* Open the test's store, creating it. */
static core_store *
store_create(void)
{
	core_store *st = NULL;
	char *cause = NULL;

	ck_assert_cs_ok(core_store_open(dbpath, CORE_STORE_CREATE, &st,
	    &cause));
	ck_assert_ptr_null(cause);
	return st;
}

/* Open path read-only. */
static core_store *
store_open_rdonly(const char *path)
{
	core_store *st = NULL;
	char *cause = NULL;
	cs_err rv = core_store_open(path, CORE_STORE_RDONLY, &st, &cause);

	ck_assert_msg(rv == CS_OK, "%s", cause != NULL ? cause : "?");
	return st;
}

/* Append count simple events in one batch; returns the first seq. */
static int64_t
append_simple(core_store *st, size_t count)
{
	json_t **evs = calloc(count, sizeof *evs);
	int64_t first = -1;

	ck_assert_ptr_nonnull(evs);
	for (size_t i = 0; i < count; i++)
		evs[i] = ev_simple(TS0 + (int64_t) i);
	ck_assert_cs_ok(core_store_append(st, evs, count, &first));
	for (size_t i = 0; i < count; i++)
		json_decref(evs[i]);
	free(evs);
	return first;
}

/* Append the fixture (one batch per event, like separate commits). */
static void
append_fixture(core_store *st)
{
	for (size_t i = 0; i < CS_ARRAY_LEN(fixture); i++) {
		int64_t seq = core_store_last_seq(st) + 1;
		json_t *ev = ev_new(&fixture[i], TS0 + seq);
		int64_t first = 0;

		ck_assert_cs_ok(core_store_append(st, &ev, 1, &first));
		ck_assert_int_eq(first, seq);
		json_decref(ev);
	}
}

/* Create the store with the fixture and close it. */
static void
make_fixture_db(void)
{
	core_store *st = store_create();

	append_fixture(st);
	core_store_close(st);
}

/* Open a raw sqlite connection to the test's store. */
static sqlite3 *
raw_open(void)
{
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* Run SQL on a raw connection and require success. */
static void
raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
}

/* Run a query that returns one integer. */
static int64_t
raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Run a query that returns one text (or NULL) into buf; false for NULL. */
static bool
raw_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *s = NULL;
	bool has;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	has = sqlite3_column_type(s, 0) != SQLITE_NULL;
	snprintf(buf, size, "%s",
	    has ? (const char *) sqlite3_column_text(s, 0) : "");
	sqlite3_finalize(s);
	return has;
}

/* Count the rows in the test's store. */
static int64_t
row_count(void)
{
	sqlite3 *db = raw_open();
	int64_t n = raw_int(db, "SELECT count(*) FROM audit");

	sqlite3_close(db);
	return n;
}

/* Require an intact chain of rows rows. */
static void
assert_verify_ok(core_store *st, int64_t rows)
{
	core_store_verify_report r;
	char *cause = NULL;

	memset(&r, 0x5a, sizeof r);
	ck_assert_cs_ok(core_store_verify(st, &r, &cause));
	ck_assert_ptr_null(cause);
	ck_assert_msg(r.bad_seq == 0, "seq %lld: %s", (long long) r.bad_seq,
	    r.problem);
	ck_assert_str_eq(r.problem, "");
	ck_assert_int_eq(r.rows, rows);
}

/* Rows seen by a row callback. */
struct collect {
	int64_t seqs[64];
	size_t count;
	size_t stop_after; /* 0: never stop */
	char hash[65];     /* hash of the last row seen */
	char request[16];  /* "request" of the last row seen */
};

/* Row callback: record seq, check event.seq, stop when told. */
static bool
collect_cb(void *ud, int64_t seq, const char *hash, json_t *event)
{
	struct collect *c = ud;
	const char *req = json_string_value(json_object_get(event, "request"));

	ck_assert_int_eq(json_integer_value(json_object_get(event, "seq")),
	    seq);
	ck_assert_uint_eq(strlen(hash), 64);
	ck_assert_uint_lt(c->count, CS_ARRAY_LEN(c->seqs));
	c->seqs[c->count++] = seq;
	snprintf(c->hash, sizeof c->hash, "%s", hash);
	snprintf(c->request, sizeof c->request, "%s", req ? req : "");
	return c->stop_after == 0 || c->count < c->stop_after;
}

/* Count rows through history. */
static int64_t
history_count(core_store *st)
{
	struct collect c = { 0 };

	ck_assert_cs_ok(core_store_history(st, NULL, collect_cb, &c));
	return (int64_t) c.count;
}

/* Copy file from to file to. */
static void
copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[8192];
	size_t n;

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

/* ---- core_store_open ---- */

START_TEST(test_open_create_reopen)
{
	core_store *st = store_create();

	ck_assert_int_eq(core_store_last_seq(st), 0);
	ck_assert_int_eq(append_simple(st, 3), 1);
	core_store_close(st);

	st = store_create();
	ck_assert_int_eq(core_store_last_seq(st), 3);
	ck_assert_int_eq(append_simple(st, 2), 4);
	assert_verify_ok(st, 5);
	core_store_close(st);

	/* Without CORE_STORE_CREATE an existing store opens too. */
	st = NULL;
	ck_assert_cs_ok(core_store_open(dbpath, 0, &st, NULL));
	ck_assert_int_eq(core_store_last_seq(st), 5);
	ck_assert_int_eq(append_simple(st, 1), 6);
	assert_verify_ok(st, 6);
	core_store_close(st);
}
END_TEST

START_TEST(test_open_wal_and_mode)
{
	core_store *st = store_create();
	sqlite3 *db;
	char buf[64], wal[160];
	struct stat sb;

	append_simple(st, 2);
	/* Ask a second connection: the mode is persistent in the file. */
	db = raw_open();
	ck_assert(raw_text(db, "PRAGMA journal_mode", buf, sizeof buf));
	ck_assert_str_eq(buf, "wal");
	ck_assert_int_eq(raw_int(db, "PRAGMA user_version"), 2);
	sqlite3_close(db);

	ck_assert_int_eq(stat(dbpath, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	snprintf(wal, sizeof wal, "%s-wal", dbpath);
	ck_assert_int_eq(stat(wal, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	core_store_close(st);
}
END_TEST

START_TEST(test_open_missing_rdonly)
{
	core_store *st = (core_store *) &st; /* must stay untouched */
	char *cause = NULL;
	struct stat sb;

	ck_assert_int_eq(core_store_open(dbpath, CORE_STORE_RDONLY, &st,
	    &cause), CS_EDB);
	ck_assert_ptr_eq(st, (core_store *) &st);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, dbpath) != NULL, "cause: %s", cause);
	ck_assert_msg(strstr(cause, "unable to open") != NULL, "cause: %s",
	    cause);
	free(cause);
	ck_assert_int_ne(stat(dbpath, &sb), 0); /* nothing created */

	/* CREATE means nothing for a read-only open. */
	cause = NULL;
	ck_assert_int_eq(core_store_open(dbpath,
	    CORE_STORE_RDONLY | CORE_STORE_CREATE, &st, &cause), CS_EDB);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ck_assert_int_ne(stat(dbpath, &sb), 0);
}
END_TEST

START_TEST(test_open_missing_no_create)
{
	core_store *st = NULL;
	char *cause = NULL;

	ck_assert_int_eq(core_store_open(dbpath, 0, &st, &cause), CS_EDB);
	ck_assert_ptr_null(st);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, dbpath) != NULL, "cause: %s", cause);
	free(cause);

	/* A missing directory: cause names the path. */
	snprintf(dbpath, sizeof dbpath, "%s/no/such/dir/audit.db", tmpdir);
	cause = NULL;
	ck_assert_int_eq(core_store_open(dbpath, CORE_STORE_CREATE, &st,
	    &cause), CS_EDB);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, dbpath) != NULL, "cause: %s", cause);
	free(cause);
}
END_TEST

/* Files that are not audit stores, opened writable and read-only. */
static const struct {
	const char *name;
	const char *setup_sql; /* run on a fresh sqlite db; NULL: garbage */
	int flags;
	const char *cause_has;
} bad_files[] = {
	{ "garbage", NULL, CORE_STORE_CREATE, "not a database" },
	{ "garbage rdonly", NULL, CORE_STORE_RDONLY, "not a database" },
	{ "newer schema", "PRAGMA user_version = 99", CORE_STORE_CREATE,
	    "schema version 99" },
	{ "newer schema rdonly", "PRAGMA user_version = 99",
	    CORE_STORE_RDONLY, "schema version 99" },
	{ "other sqlite db rdonly", "CREATE TABLE t (x)", CORE_STORE_RDONLY,
	    "schema version 0" },
};

START_TEST(test_open_rejects)
{
	core_store *st = NULL;
	char *cause = NULL;

	if (bad_files[_i].setup_sql == NULL) {
		FILE *f = fopen(dbpath, "wb");

		ck_assert_ptr_nonnull(f);
		for (int i = 0; i < 64; i++)
			fputs("this is not an sqlite database file\n", f);
		fclose(f);
	} else {
		sqlite3 *db = NULL;

		ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
		raw_exec(db, bad_files[_i].setup_sql);
		sqlite3_close(db);
	}
	ck_assert_int_eq(core_store_open(dbpath, bad_files[_i].flags, &st,
	    &cause), CS_EDB);
	ck_assert_ptr_null(st);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, bad_files[_i].cause_has) != NULL,
	    "%s: cause: %s", bad_files[_i].name, cause);
	free(cause);
}
END_TEST

START_TEST(test_open_rdonly_while_writer)
{
	core_store *w, *r;
	sqlite3 *db;

	make_fixture_db();
	w = store_create();
	/* Another connection holds the write lock with uncommitted rows. */
	db = raw_open();
	raw_exec(db, "BEGIN IMMEDIATE");
	raw_exec(db, "INSERT INTO audit (seq, ts, kind, event, prev_hash, hash)"
	    " VALUES (11, 1, 'pending', '{}', '" HASH_A "', '" HASH_B "')");

	r = store_open_rdonly(dbpath);
	ck_assert_int_eq(core_store_last_seq(r), FIXTURE_LEN);
	assert_verify_ok(r, FIXTURE_LEN);
	ck_assert_int_eq(history_count(r), FIXTURE_LEN);
	raw_exec(db, "ROLLBACK");
	sqlite3_close(db);

	/* The writer appends; the reader's next read sees the rows. */
	append_simple(w, 3);
	ck_assert_int_eq(history_count(r), FIXTURE_LEN + 3);
	assert_verify_ok(r, FIXTURE_LEN + 3);
	core_store_close(r);
	core_store_close(w);
}
END_TEST

START_TEST(test_open_rdonly_other_process)
{
	int ready[2], go[2], status = 0;
	char byte = 0;
	core_store *r;
	pid_t pid;

	make_fixture_db();
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		/* Writer process: append, wait, append again. */
		core_store *w = NULL;
		json_t *ev;
		int ok = 1;

		close(ready[0]);
		close(go[1]);
		if (core_store_open(dbpath, 0, &w, NULL) != CS_OK)
			_exit(2);
		for (int i = 0; i < 5 && ok; i++) {
			ev = ev_simple(TS0 + i);
			ok = core_store_append(w, &ev, 1, NULL) == CS_OK;
			json_decref(ev);
		}
		if (write(ready[1], "r", 1) != 1 || read(go[0], &byte, 1) != 1)
			ok = 0;
		for (int i = 0; i < 5 && ok; i++) {
			ev = ev_simple(TS0 + 100 + i);
			ok = core_store_append(w, &ev, 1, NULL) == CS_OK;
			json_decref(ev);
		}
		core_store_close(w);
		_exit(ok ? 0 : 1);
	}
	close(ready[1]);
	close(go[0]);
	ck_assert_int_eq(read(ready[0], &byte, 1), 1);
	r = store_open_rdonly(dbpath);
	ck_assert_int_eq(core_store_last_seq(r), FIXTURE_LEN + 5);
	assert_verify_ok(r, FIXTURE_LEN + 5);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_eq(history_count(r), FIXTURE_LEN + 10);
	assert_verify_ok(r, FIXTURE_LEN + 10);
	core_store_close(r);
	close(ready[0]);
	close(go[1]);
}
END_TEST

START_TEST(test_open_rdonly_copy)
{
	char copy[160], side[192];
	core_store *r;
	struct stat sb;

	make_fixture_db();
	snprintf(side, sizeof side, "%s-wal", dbpath);
	ck_assert_int_ne(stat(side, &sb), 0); /* checkpointed at close */
	snprintf(copy, sizeof copy, "%s/copy.db", tmpdir);
	copy_file(dbpath, copy);

	r = store_open_rdonly(copy);
	ck_assert_int_eq(core_store_last_seq(r), FIXTURE_LEN);
	assert_verify_ok(r, FIXTURE_LEN);
	ck_assert_int_eq(history_count(r), FIXTURE_LEN);
	core_store_close(r);
}
END_TEST

/* ---- core_store_close ---- */

START_TEST(test_close_null)
{
	core_store_close(NULL);
}
END_TEST

START_TEST(test_close_checkpoints)
{
	core_store *st = store_create();
	char wal[160];
	struct stat sb;

	append_simple(st, 4);
	snprintf(wal, sizeof wal, "%s-wal", dbpath);
	ck_assert_int_eq(stat(wal, &sb), 0);
	core_store_close(st);
	/* The last connection checkpoints and removes the WAL. */
	ck_assert_int_ne(stat(wal, &sb), 0);
	ck_assert_int_eq(row_count(), 4);
}
END_TEST

/* ---- core_store_append ---- */

START_TEST(test_append_seq_and_hash)
{
	core_store *st = store_create();
	json_t *evs[3];
	char *canon, buf[64 + 4096], want[65], got[128];
	int64_t first = 0;
	sqlite3 *db;

	for (size_t i = 0; i < 3; i++)
		evs[i] = ev_new(&fixture[i], TS0 + (int64_t) i);
	ck_assert_cs_ok(core_store_append(st, evs, 3, &first));
	ck_assert_int_eq(first, 1);
	ck_assert_int_eq(core_store_last_seq(st), 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(json_integer_value(json_object_get(evs[i],
		    "seq")), (json_int_t) i + 1);

	/* hash = sha256(prev_hash || canonical event), chained. */
	db = raw_open();
	snprintf(buf, sizeof buf, "%064d", 0);
	for (size_t i = 0; i < 3; i++) {
		char sql[128];

		canon = cs_json_canon(evs[i]);
		ck_assert_ptr_nonnull(canon);
		snprintf(sql, sizeof sql,
		    "SELECT prev_hash FROM audit WHERE seq = %zu", i + 1);
		ck_assert(raw_text(db, sql, got, sizeof got));
		ck_assert_str_eq(got, buf);
		ck_assert_uint_lt(64 + strlen(canon), sizeof buf);
		memcpy(buf + 64, canon, strlen(canon) + 1);
		cs_sha256_hex(buf, strlen(buf), want);
		snprintf(sql, sizeof sql,
		    "SELECT hash FROM audit WHERE seq = %zu", i + 1);
		ck_assert(raw_text(db, sql, got, sizeof got));
		ck_assert_str_eq(got, want);
		memcpy(buf, want, 65);
		free(canon);
		json_decref(evs[i]);
	}
	/* The event column holds the canonical text. */
	{
		sqlite3_stmt *s = NULL;
		json_t *ev = ev_new(&fixture[0], TS0);

		ck_assert_int_eq(json_object_set_new(ev, "seq",
		    json_integer(1)), 0);
		canon = cs_json_canon(ev);
		ck_assert_int_eq(sqlite3_prepare_v2(db,
		    "SELECT event FROM audit WHERE seq = 1", -1, &s, NULL),
		    SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
		ck_assert_str_eq((const char *) sqlite3_column_text(s, 0),
		    canon);
		sqlite3_finalize(s);
		free(canon);
		json_decref(ev);
	}
	sqlite3_close(db);
	assert_verify_ok(st, 3);
	core_store_close(st);
}
END_TEST

/* Rows written from prerenders are byte for byte the rows written
 * without: events whose keys sort around "seq" in every way, nested
 * "seq" members, escapes and "seq" text in values, numbers; a prerender of an event that has "seq" is refused. */
START_TEST(test_append_prerendered)
{
	static const char *const extra[] = {
		"{}",
		"{\"se\":1, \"seq0\":2, \"sep\":3, \"ser\":4}",
		"{\"args\":{\"seq\":7, \"z\":[{\"seq\":\"x\"}]}}",
		"{\"s\":\"\\\"seq\\\":1,\", \"zz\":\"\u00e9\\\"}\"}",
		"{\"se q\":1, \"seqa\":2, \"sequence\":[1], \"a\":0.1}",
		"{\"\":true, \"~\":null, \"SEQ\":1}",
	};
	const size_t n = CS_ARRAY_LEN(extra);
	json_t *plain[CS_ARRAY_LEN(extra)], *pre_ev[CS_ARRAY_LEN(extra)];
	char *pre[CS_ARRAY_LEN(extra)];
	core_store *st = store_create();
	sqlite3 *db;
	json_t *with_seq;

	for (size_t i = 0; i < n; i++) {
		json_t *x = json_loads(extra[i], JSON_ALLOW_NUL, NULL);

		ck_assert_msg(x != NULL, "fixture %zu", i);
		plain[i] = ev_new(&fixture[i % 3], TS0 + (int64_t) i);
		ck_assert_int_eq(json_object_update(plain[i], x), 0);
		pre_ev[i] = json_deep_copy(plain[i]);
		pre[i] = core_store_prerender(pre_ev[i]);
		ck_assert_ptr_nonnull(pre[i]);
		json_decref(x);
	}
	/* n plain rows, then the same n prerendered (one NULL among them:
	 * rendered by the writer) */
	ck_assert_cs_ok(core_store_append(st, plain, n, NULL));
	free(pre[2]);
	pre[2] = NULL;
	ck_assert_cs_ok(core_store_append_pre(st, pre_ev, pre, n, NULL));
	db = raw_open();
	for (size_t i = 0; i < n; i++) {
		/* row i + 1 written plain, row n + i + 1 from the prerender:
		 * each is the canonical JSON of the event with its seq */
		for (size_t k = 0; k < 2; k++) {
			size_t seq = k * n + i + 1;
			char sql[160], row[4096], *canon;

			ck_assert_int_eq(json_object_set_new(plain[i], "seq",
			    json_integer((json_int_t) seq)), 0);
			canon = cs_json_canon(plain[i]);
			snprintf(sql, sizeof sql,
			    "SELECT event FROM audit WHERE seq = %zu", seq);
			ck_assert(raw_text(db, sql, row, sizeof row));
			ck_assert_str_eq(row, canon);
			free(canon);
		}
		free(pre[i]);
		json_decref(plain[i]);
		json_decref(pre_ev[i]);
	}
	sqlite3_close(db);
	assert_verify_ok(st, (int64_t) (2 * n));

	with_seq = ev_new(&fixture[0], TS0);
	ck_assert_int_eq(json_object_set_new(with_seq, "seq",
	    json_integer(1)), 0);
	ck_assert_ptr_null(core_store_prerender(with_seq));
	ck_assert_ptr_null(core_store_prerender(json_object_get(with_seq,
	    "seq")));
	json_decref(with_seq);
	core_store_close(st);
}
END_TEST

START_TEST(test_append_columns)
{
	core_store *st = store_create();
	sqlite3 *db;
	json_t *ev;
	char buf[64];
	static const struct {
		const char *sql;
		const char *want; /* NULL: column is NULL */
	} cols[] = {
		{ "SELECT kind FROM audit WHERE seq = 2", "decision" },
		{ "SELECT request FROM audit WHERE seq = 2", "r1" },
		{ "SELECT session FROM audit WHERE seq = 2", "s1" },
		{ "SELECT agent FROM audit WHERE seq = 2", "a1" },
		{ "SELECT user FROM audit WHERE seq = 2", "alice" },
		{ "SELECT tool FROM audit WHERE seq = 2", "fs.read" },
		{ "SELECT decision FROM audit WHERE seq = 2", "deny" },
		{ "SELECT by_ FROM audit WHERE seq = 2", "policy" },
		{ "SELECT rule FROM audit WHERE seq = 2", "no-etc" },
		{ "SELECT ts FROM audit WHERE seq = 2", "1700000000002" },
		{ "SELECT kind FROM audit WHERE seq = 6", "trust" },
		{ "SELECT request FROM audit WHERE seq = 6", NULL },
		{ "SELECT agent FROM audit WHERE seq = 6", NULL },
		{ "SELECT user FROM audit WHERE seq = 6", NULL },
		{ "SELECT tool FROM audit WHERE seq = 6", NULL },
		{ "SELECT decision FROM audit WHERE seq = 6", NULL },
		{ "SELECT rule FROM audit WHERE seq = 6", NULL },
		{ "SELECT by_ FROM audit WHERE seq = 6", "operator" },
		{ "SELECT request FROM audit WHERE seq = 11", NULL },
		{ "SELECT session FROM audit WHERE seq = 11", "s\xc3\xa9" },
	};

	append_fixture(st);
	/* A null member is stored as NULL; UTF-8 is kept as is. */
	ev = json_pack("{s:s, s:I, s:n, s:s}", "kind", "pending", "ts",
	    (json_int_t) 5, "request", "session", "s\xc3\xa9");
	ck_assert_ptr_nonnull(ev);
	ck_assert_cs_ok(core_store_append(st, &ev, 1, NULL));
	json_decref(ev);
	db = raw_open();
	for (size_t i = 0; i < CS_ARRAY_LEN(cols); i++) {
		bool has = raw_text(db, cols[i].sql, buf, sizeof buf);

		if (cols[i].want == NULL)
			ck_assert_msg(!has, "%s: %s", cols[i].sql, buf);
		else {
			ck_assert_msg(has, "%s: NULL", cols[i].sql);
			ck_assert_str_eq(buf, cols[i].want);
		}
	}
	sqlite3_close(db);
	assert_verify_ok(st, FIXTURE_LEN + 1);
	core_store_close(st);
}
END_TEST

/* Events the store refuses (JSON text). */
static const char *const bad_events[] = {
	"[]",
	"\"pending\"",
	"{\"ts\": 1}",
	"{\"kind\": 1, \"ts\": 1}",
	"{\"kind\": \"pending\"}",
	"{\"kind\": \"pending\", \"ts\": 1.5}",
	"{\"kind\": \"pending\", \"ts\": \"1\"}",
	"{\"kind\": \"pending\", \"ts\": 1, \"request\": 7}",
	"{\"kind\": \"pending\", \"ts\": 1, \"by\": {\"op\": \"x\"}}",
	"{\"kind\": \"pending\", \"ts\": 1, \"decision\": true}",
};

START_TEST(test_append_rejects)
{
	core_store *st = store_create();
	json_t *evs[3];
	int64_t first = -7;

	append_simple(st, 2);
	evs[0] = ev_simple(TS0);
	evs[1] = json_loads(bad_events[_i], JSON_DECODE_ANY, NULL);
	evs[2] = ev_simple(TS0);
	ck_assert_ptr_nonnull(evs[1]);
	ck_assert_int_eq(core_store_append(st, evs, 3, &first), CS_EINVAL);
	ck_assert_int_eq(first, -7);
	ck_assert_int_eq(core_store_last_seq(st), 2);
	ck_assert_ptr_null(json_object_get(evs[0], "seq"));
	ck_assert_int_eq(row_count(), 2);
	for (size_t i = 0; i < 3; i++)
		json_decref(evs[i]);
	ck_assert_int_eq(append_simple(st, 1), 3);
	assert_verify_ok(st, 3);
	core_store_close(st);
}
END_TEST

START_TEST(test_append_empty_and_rdonly)
{
	core_store *st = store_create(), *r;
	int64_t first = -7;
	json_t *ev;

	ck_assert_cs_ok(core_store_append(st, NULL, 0, &first));
	ck_assert_int_eq(first, 0);
	ck_assert_int_eq(core_store_last_seq(st), 0);
	append_simple(st, 1);

	r = store_open_rdonly(dbpath);
	ev = ev_simple(TS0);
	first = -7;
	ck_assert_int_eq(core_store_append(r, &ev, 1, &first), CS_EDB);
	ck_assert_int_eq(first, -7);
	ck_assert_int_eq(core_store_last_seq(r), 1);
	json_decref(ev);
	core_store_close(r);
	ck_assert_int_eq(row_count(), 1);
	core_store_close(st);
}
END_TEST

START_TEST(test_append_rollback)
{
	core_store *st = store_create();
	json_t *evs[4];
	int64_t first = -7;
	sqlite3 *db;

	append_simple(st, 2);
	/* A stray row at seq 5 makes the third insert of the batch fail. */
	db = raw_open();
	raw_exec(db, "INSERT INTO audit (seq, ts, kind, event, prev_hash, hash)"
	    " VALUES (5, 1, 'stray', '{}', '" HASH_A "', '" HASH_B "')");
	for (size_t i = 0; i < 4; i++)
		evs[i] = ev_simple(TS0 + (int64_t) i);
	ck_assert_int_eq(core_store_append(st, evs, 4, &first), CS_EDB);
	ck_assert_int_eq(first, -7);
	ck_assert_int_eq(core_store_last_seq(st), 2);
	ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM audit"), 3);
	ck_assert_int_eq(raw_int(db,
	    "SELECT count(*) FROM audit WHERE seq IN (3, 4)"), 0);
	/* The events are otherwise the caller's as before. */
	for (size_t i = 0; i < 4; i++) {
		ck_assert_str_eq(json_string_value(json_object_get(evs[i],
		    "kind")), "pending");
		ck_assert_uint_eq(json_object_size(evs[i]), i < 3 ? 8 : 7);
	}

	/* Remove the stray row; the same events then go in. */
	raw_exec(db, "DROP TRIGGER audit_no_delete");
	raw_exec(db, "DELETE FROM audit WHERE seq = 5");
	sqlite3_close(db);
	ck_assert_cs_ok(core_store_append(st, evs, 4, &first));
	ck_assert_int_eq(first, 3);
	ck_assert_int_eq(json_integer_value(json_object_get(evs[3], "seq")),
	    6);
	for (size_t i = 0; i < 4; i++)
		json_decref(evs[i]);
	assert_verify_ok(st, 6);
	core_store_close(st);
}
END_TEST

/* Changes the insert-only triggers refuse. */
static const char *const blocked_sql[] = {
	"UPDATE audit SET decision = 'allow' WHERE seq = 2",
	"UPDATE audit SET event = '{}'",
	"DELETE FROM audit WHERE seq = 3",
	"DELETE FROM audit",
};

START_TEST(test_append_triggers_block)
{
	sqlite3 *db;
	char *msg = NULL;

	make_fixture_db();
	db = raw_open();
	ck_assert_int_eq(sqlite3_exec(db, blocked_sql[_i], NULL, NULL, &msg),
	    SQLITE_CONSTRAINT);
	ck_assert_ptr_nonnull(msg);
	ck_assert_str_eq(msg, "audit is insert-only");
	sqlite3_free(msg);
	sqlite3_close(db);
	{
		core_store *r = store_open_rdonly(dbpath);

		assert_verify_ok(r, FIXTURE_LEN);
		core_store_close(r);
	}
}
END_TEST

/* A commit's WAL frames (a 24-byte header and a page each, two writes
 * each in sqlite) reach the file in one write; and a connection of
 * sqlite's own default VFS reads every commit whole. */
START_TEST(test_append_one_wal_write)
{
	enum { ROUNDS = 20, BATCH = 16 };
	core_store *st = store_create();
	json_t *evs[BATCH];
	sqlite3 *db;
	long long before, after;
	int64_t first;
	cs_err rv;

	if (thread_writes() < 0)
		fprintf(stderr, "check_store: write system calls not counted"
		    " here (no /proc/thread-self/io, or valgrind)\n");
	append_simple(st, 1);
	db = raw_open();
	for (int round = 0; round < ROUNDS; round++) {
		for (size_t i = 0; i < BATCH; i++)
			evs[i] = ev_simple(TS0 + (int64_t) i);
		/* no check between the counts: Check writes its own */
		before = thread_writes();
		rv = core_store_append(st, evs, BATCH, &first);
		after = thread_writes();
		ck_assert_cs_ok(rv);
		ck_assert_int_eq(first, 2 + BATCH * round);
		if (before >= 0)
			ck_assert_int_eq(after - before, 1);
		for (size_t i = 0; i < BATCH; i++)
			json_decref(evs[i]);
		ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM audit"),
		    1 + BATCH * (round + 1));
	}
	sqlite3_close(db);
	assert_verify_ok(st, 1 + BATCH * ROUNDS);
	core_store_close(st);
	ck_assert_int_eq(row_count(), 1 + BATCH * ROUNDS);
}
END_TEST

START_TEST(test_append_large_batch)
{
	enum { BATCH = 10000 };
	core_store *st = store_create();
	int64_t t0;

	append_simple(st, 1);
	t0 = cs_mono_ms();
	ck_assert_int_eq(append_simple(st, BATCH), 2);
	fprintf(stderr, "check_store: %d events in one append: %lld ms\n",
	    BATCH, (long long) (cs_mono_ms() - t0));
	ck_assert_int_eq(core_store_last_seq(st), BATCH + 1);
	ck_assert_int_eq(append_simple(st, 1), BATCH + 2);
	assert_verify_ok(st, BATCH + 2);
	core_store_close(st);
	ck_assert_int_eq(row_count(), BATCH + 2);
}
END_TEST

/* ---- core_store_last_seq ---- */

START_TEST(test_last_seq)
{
	core_store *st;

	ck_assert_int_eq(core_store_last_seq(NULL), 0);
	st = store_create();
	ck_assert_int_eq(core_store_last_seq(st), 0);
	append_simple(st, 7);
	ck_assert_int_eq(core_store_last_seq(st), 7);
	append_fixture(st);
	ck_assert_int_eq(core_store_last_seq(st), 7 + FIXTURE_LEN);
	core_store_close(st);
}
END_TEST

/* ---- core_store_verify ---- */

/* Tampering (triggers dropped first) and what verify must say. */
struct tamper {
	const char *sql;
	int64_t bad_seq;
	const char *problem;
};

static const struct tamper tampers[] = {
	{ "UPDATE audit SET decision = 'allow' WHERE seq = 2", 2,
	    "seq 2: column decision 'allow' differs from event 'deny'" },
	{ "UPDATE audit SET tool = NULL WHERE seq = 4", 4,
	    "seq 4: column tool NULL differs from event 'fs.write'" },
	{ "UPDATE audit SET by_ = 'operator' WHERE seq = 1", 1,
	    "seq 1: column by_ 'operator' differs from event (absent)" },
	{ "UPDATE audit SET ts = ts + 1 WHERE seq = 6", 6,
	    "seq 6: column ts 1700000000007 differs from event 1700000000006" },
	{ "UPDATE audit SET kind = 'pending' WHERE seq = 9", 9,
	    "seq 9: column kind 'pending' differs from event 'decision'" },
	{ "UPDATE audit SET event = replace(event, 'deny', 'allow')"
	    " WHERE seq = 2", 2, "seq 2: hash mismatch (row edited)" },
	{ "UPDATE audit SET hash = '" HASH_B "' WHERE seq = 10", 10,
	    "seq 10: hash mismatch (row edited)" },
	{ "UPDATE audit SET prev_hash = '" HASH_1 "' WHERE seq = 1", 1,
	    "seq 1: prev_hash is not 64 zeros (chain broken)" },
	{ "DELETE FROM audit WHERE seq = 6", 6,
	    "seq 6: expected seq 6, found 7 (rows deleted)" },
	{ "DELETE FROM audit WHERE seq = 1", 1,
	    "seq 1: expected seq 1, found 2 (rows deleted)" },
	{ "DELETE FROM audit WHERE seq IN (4, 5)", 4,
	    "seq 4: expected seq 4, found 6 (rows deleted)" },
	{ "UPDATE audit SET seq = -1 WHERE seq = 3;"
	    "UPDATE audit SET seq = 3 WHERE seq = 4;"
	    "UPDATE audit SET seq = 4 WHERE seq = -1", 3,
	    "seq 3: prev_hash does not match the hash of seq 2 "
	    "(chain broken)" },
	/* Truncate, then chain a fake row on with a made-up prev_hash. */
	{ "DELETE FROM audit WHERE seq >= 8;"
	    "INSERT INTO audit (seq, ts, kind, event, prev_hash, hash) VALUES"
	    " (8, 1700000000008, 'pending',"
	    " '{\"kind\":\"pending\",\"seq\":8,\"ts\":1700000000008}',"
	    " '" HASH_A "', '" HASH_B "')", 8,
	    "seq 8: prev_hash does not match the hash of seq 7 "
	    "(chain broken)" },
	/* The same with the right prev_hash: the hash gives it away. */
	{ "DELETE FROM audit WHERE seq >= 8;"
	    "INSERT INTO audit (seq, ts, kind, event, prev_hash, hash) VALUES"
	    " (8, 1700000000008, 'pending',"
	    " '{\"kind\":\"pending\",\"seq\":8,\"ts\":1700000000008}',"
	    " (SELECT hash FROM audit WHERE seq = 7), '" HASH_B "')", 8,
	    "seq 8: hash mismatch (row edited)" },
};

START_TEST(test_verify_tamper)
{
	core_store_verify_report r;
	core_store *st;
	sqlite3 *db;

	make_fixture_db();
	db = raw_open();
	raw_exec(db, "DROP TRIGGER audit_no_update;"
	    "DROP TRIGGER audit_no_delete");
	raw_exec(db, tampers[_i].sql);
	sqlite3_close(db);

	/* Read-only, as countersignctl audit verify opens it. */
	st = store_open_rdonly(dbpath);
	ck_assert_cs_ok(core_store_verify(st, &r, NULL));
	ck_assert_int_eq(r.bad_seq, tampers[_i].bad_seq);
	ck_assert_str_eq(r.problem, tampers[_i].problem);
	ck_assert_int_eq(r.rows, tampers[_i].bad_seq);
	core_store_close(st);
}
END_TEST

START_TEST(test_verify_intact)
{
	core_store *st = store_create();

	assert_verify_ok(st, 0);
	append_fixture(st);
	assert_verify_ok(st, FIXTURE_LEN);
	core_store_close(st);
	st = store_open_rdonly(dbpath);
	assert_verify_ok(st, FIXTURE_LEN);
	core_store_close(st);
}
END_TEST

START_TEST(test_verify_event_seq)
{
	core_store_verify_report r;
	char prev[80], buf[4096], hash[65], *canon;
	sqlite3_stmt *s = NULL;
	core_store *st;
	sqlite3 *db;
	json_t *ev;

	/* Rewrite the last row's event with a wrong seq and a correct
	 * hash: only the seq check can catch it. */
	make_fixture_db();
	db = raw_open();
	raw_exec(db, "DROP TRIGGER audit_no_update");
	ck_assert(raw_text(db, "SELECT prev_hash FROM audit WHERE seq = 10",
	    prev, sizeof prev));
	ev = ev_new(&fixture[9], TS0 + 10);
	ck_assert_int_eq(json_object_set_new(ev, "seq", json_integer(11)), 0);
	canon = cs_json_canon(ev);
	snprintf(buf, sizeof buf, "%s%s", prev, canon);
	cs_sha256_hex(buf, strlen(buf), hash);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
	    "UPDATE audit SET event = ?1, hash = ?2 WHERE seq = 10", -1, &s,
	    NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, hash, -1, SQLITE_TRANSIENT);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(canon);
	json_decref(ev);

	st = store_open_rdonly(dbpath);
	ck_assert_cs_ok(core_store_verify(st, &r, NULL));
	ck_assert_int_eq(r.bad_seq, 10);
	ck_assert_str_eq(r.problem, "seq 10: event seq 11 differs from row seq");
	core_store_close(st);
}
END_TEST

START_TEST(test_verify_truncated_tail)
{
	core_store_verify_report r;
	core_store *st = store_create();
	sqlite3 *db;

	append_fixture(st);
	db = raw_open();
	raw_exec(db, "DROP TRIGGER audit_no_delete;"
	    "DELETE FROM audit WHERE seq >= 9");
	sqlite3_close(db);
	/* The writer knows its head, so a cut tail shows. */
	ck_assert_cs_ok(core_store_verify(st, &r, NULL));
	ck_assert_int_eq(r.bad_seq, 9);
	ck_assert_int_eq(r.rows, 8);
	ck_assert_str_eq(r.problem,
	    "seq 9: expected seq 9, found end of table (rows deleted)");
	core_store_close(st);
}
END_TEST

/* ---- core_store_history ---- */

/* Filters over the fixture and the seqs they return, newest first. */
static const struct {
	core_store_filter filter;
	int64_t want[12];
	size_t want_count;
} history_cases[] = {
	{ { 0 }, { 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 }, 10 },
	{ { .session = "s2" }, { 8, 7, 6, 3 }, 4 },
	{ { .tool = "fs.read" }, { 10, 9, 2, 1 }, 4 },
	{ { .agent = "a2" }, { 8, 7, 3 }, 3 },
	{ { .decision = "allow" }, { 9, 5 }, 2 },
	{ { .decision = "deny" }, { 2 }, 1 },
	{ { .kind = "pending" }, { 10, 8, 7, 4, 3, 1 }, 6 },
	{ { .request = "r2" }, { 8, 3 }, 2 },
	{ { .kind = "pending", .session = "s1" }, { 10, 4, 1 }, 3 },
	{ { .kind = "decision", .tool = "fs.read", .agent = "a1" }, { 9, 2 },
	    2 },
	{ { .text = "100%" }, { 8, 3 }, 2 },
	{ { .text = "%" }, { 8, 3 }, 2 },
	{ { .text = "a_b" }, { 7 }, 1 },
	{ { .text = "_" }, { 7 }, 1 },
	{ { .text = "/etc/" }, { 1 }, 1 },
	/* found as the operator reads it, not as the row's JSON spells it */
	{ { .text = "say \"100x\"" }, { 4 }, 1 },
	{ { .text = "back\\slash" }, { 4 }, 1 },
	{ { .text = "\ttab" }, { 4 }, 1 },
	{ { .text = "\"" }, { 4 }, 1 },
	{ { .text = "operator", .kind = "trust" }, { 6 }, 1 },
	{ { .text = "100%", .kind = "decision" }, { 0 }, 0 },
	{ { .limit = 3 }, { 10, 9, 8 }, 3 },
	{ { .before_seq = 5 }, { 4, 3, 2, 1 }, 4 },
	{ { .before_seq = 5, .limit = 2 }, { 4, 3 }, 2 },
	{ { .kind = "pending", .before_seq = 8, .limit = 2 }, { 7, 4 }, 2 },
	{ { .before_seq = 1 }, { 0 }, 0 },
	{ { .session = "nope" }, { 0 }, 0 },
	{ { .session = "s1' OR '1'='1" }, { 0 }, 0 },
};

START_TEST(test_history_filters)
{
	struct collect c = { 0 };
	core_store *st;

	make_fixture_db();
	st = store_open_rdonly(dbpath);
	ck_assert_cs_ok(core_store_history(st, &history_cases[_i].filter,
	    collect_cb, &c));
	ck_assert_uint_eq(c.count, history_cases[_i].want_count);
	for (size_t i = 0; i < c.count; i++)
		ck_assert_int_eq(c.seqs[i], history_cases[_i].want[i]);
	core_store_close(st);
}
END_TEST

START_TEST(test_history_stop_and_hash)
{
	struct collect c = { .stop_after = 2 };
	core_store *st = store_create();
	sqlite3 *db;
	char want[80];

	append_fixture(st);
	ck_assert_cs_ok(core_store_history(st, NULL, collect_cb, &c));
	ck_assert_uint_eq(c.count, 2);
	ck_assert_int_eq(c.seqs[0], 10);
	ck_assert_int_eq(c.seqs[1], 9);
	db = raw_open();
	ck_assert(raw_text(db, "SELECT hash FROM audit WHERE seq = 9", want,
	    sizeof want));
	sqlite3_close(db);
	ck_assert_str_eq(c.hash, want);
	ck_assert_str_eq(c.request, "r5");
	ck_assert_int_eq(core_store_history(st, NULL, NULL, NULL), CS_EINVAL);
	core_store_close(st);
}
END_TEST

/* ---- the session index ---- */

/* Sessions of the index tests: row seq is in session s(seq % 6), or in
 * none when seq % 6 == 5. */
#define IDX_SESSIONS 5

/* A growing list of seqs. */
struct seqs {
	int64_t *v;
	size_t n, cap;
};

static void
seqs_add(struct seqs *s, int64_t seq)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		ck_assert_ptr_nonnull(s->v);
	}
	s->v[s->n++] = seq;
}

static bool
seqs_cb(void *ud, int64_t seq, const char *hash, json_t *event)
{
	(void) hash;
	(void) event;
	seqs_add(ud, seq);
	return true;
}

/* Append rows up to seq last in batches of 7, sessions as above. */
static void
append_sessions(core_store *st, int64_t last)
{
	while (core_store_last_seq(st) < last) {
		json_t *evs[7];
		size_t n = 0;

		for (; n < 7 && core_store_last_seq(st) + (int64_t) n < last;
		    n++) {
			int64_t seq = core_store_last_seq(st) + (int64_t) n + 1;
			char session[16];

			evs[n] = ev_simple(TS0 + seq);
			snprintf(session, sizeof session, "s%d",
			    (int) (seq % 6));
			if (seq % 6 == 5)
				json_object_del(evs[n], "session");
			else
				json_object_set_new(evs[n], "session",
				    json_string(session));
		}
		ck_assert_cs_ok(core_store_append(st, evs, n, NULL));
		for (size_t i = 0; i < n; i++)
			json_decref(evs[i]);
	}
}

/* History of each session, whole and in pages either side of the index
 * mark, equals what the table holds, newest first. */
static void
assert_session_history(core_store *st, sqlite3 *db, int64_t mark)
{
	const int64_t befores[] = { 0, 1, 2, mark, mark + 1, mark + 2,
		mark + 7 };

	for (int k = 0; k < IDX_SESSIONS; k++) {
		for (size_t b = 0; b < CS_ARRAY_LEN(befores); b++) {
			core_store_filter f = { .before_seq = befores[b] };
			struct seqs got = { 0 }, want = { 0 };
			char session[16], sql[160];
			sqlite3_stmt *q = NULL;

			snprintf(session, sizeof session, "s%d", k);
			f.session = session;
			f.limit = b % 2 ? 5 : 0;
			snprintf(sql, sizeof sql, "SELECT seq FROM audit WHERE "
			    "session = '%s' AND (%lld = 0 OR seq < %lld) "
			    "ORDER BY seq DESC LIMIT %d", session,
			    (long long) f.before_seq,
			    (long long) f.before_seq, f.limit ? 5 : -1);
			ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &q,
			    NULL), SQLITE_OK);
			while (sqlite3_step(q) == SQLITE_ROW)
				seqs_add(&want, sqlite3_column_int64(q, 0));
			sqlite3_finalize(q);
			ck_assert_cs_ok(core_store_history(st, &f, seqs_cb,
			    &got));
			ck_assert_msg(got.n == want.n, "%s before %lld: %zu "
			    "rows, want %zu", session,
			    (long long) f.before_seq, got.n, want.n);
			for (size_t i = 0; i < got.n; i++)
				ck_assert_int_eq(got.v[i], want.v[i]);
			free(got.v);
			free(want.v);
		}
	}
}

START_TEST(test_history_session_index)
{
	core_store *st = store_create();
	core_store *r;
	sqlite3 *db;
	int64_t mark;
	char *msg = NULL;

	append_sessions(st, 2600);
	db = raw_open();
	/* the index lags the head by fewer than 1024 rows, and holds
	 * exactly the rows with a session up to its mark */
	mark = raw_int(db, "SELECT upto FROM audit_indexed");
	ck_assert_int_ge(mark, 2048);
	ck_assert_int_le(mark, 2600);
	ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM audit_by_session"),
	    raw_int(db, "SELECT count(*) FROM audit WHERE session IS NOT "
	    "NULL AND seq <= (SELECT upto FROM audit_indexed)"));
	ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM audit_by_session "
	    "AS b JOIN audit AS a ON a.seq = b.seq AND a.session = "
	    "b.session"), raw_int(db, "SELECT count(*) FROM "
	    "audit_by_session"));
	assert_session_history(st, db, mark);
	r = store_open_rdonly(dbpath);
	assert_session_history(r, db, mark);
	core_store_close(r);
	/* its entries are insert-only like the rows */
	ck_assert_int_eq(sqlite3_exec(db, "DELETE FROM audit_by_session "
	    "WHERE session = 's1'", NULL, NULL, &msg), SQLITE_CONSTRAINT);
	ck_assert_str_eq(msg, "audit is insert-only");
	sqlite3_free(msg);
	sqlite3_close(db);
	assert_verify_ok(st, 2600);
	core_store_close(st);
}
END_TEST

/* Session index tampering and what verify must say. */
static const struct tamper index_tamper[] = {
	{ "DELETE FROM audit_by_session WHERE seq = 700", 700,
	    "seq 700: has no session index entry" },
	{ "UPDATE audit_by_session SET session = 's9' WHERE seq = 702", 702,
	    "seq 702: has no session index entry" },
	{ "INSERT INTO audit_by_session VALUES ('s1', 2599)", 2599,
	    "seq 2599: has a session index entry for another row" },
	{ "INSERT INTO audit_by_session VALUES ('s9', 1500)", 1500,
	    "seq 1500: has a session index entry for another row" },
	{ "UPDATE audit_indexed SET upto = upto + 6", 2059,
	    "seq 2059: has no session index entry" },
	{ "DELETE FROM audit_indexed", 1,
	    "seq 1: session index mark (audit_indexed) is not one row" },
	{ "INSERT INTO audit_indexed VALUES (2058)", 1,
	    "seq 1: session index mark (audit_indexed) is not one row" },
	{ "UPDATE audit_indexed SET upto = 1000", 1002,
	    "seq 1002: has a session index entry for another row" },
};

START_TEST(test_verify_session_index)
{
	core_store_verify_report r;
	core_store *st = store_create();
	sqlite3 *db;

	append_sessions(st, 2600);
	db = raw_open();
	ck_assert_int_eq(raw_int(db, "SELECT upto FROM audit_indexed"), 2058);
	raw_exec(db, "DROP TRIGGER audit_by_session_no_update;"
	    "DROP TRIGGER audit_by_session_no_delete");
	raw_exec(db, index_tamper[_i].sql);
	sqlite3_close(db);
	ck_assert_cs_ok(core_store_verify(st, &r, NULL));
	ck_assert_int_eq(r.rows, 2600);
	ck_assert_int_eq(r.bad_seq, index_tamper[_i].bad_seq);
	ck_assert_str_eq(r.problem, index_tamper[_i].problem);
	core_store_close(st);
}
END_TEST

/* An entry already present (a copy restored over a live store, say) does
 * not stop the writer: the bulk insert skips it. */
START_TEST(test_index_entry_present)
{
	core_store *st = store_create();
	sqlite3 *db;
	int64_t mark;

	append_sessions(st, 1000);
	db = raw_open();
	raw_exec(db, "INSERT INTO audit_by_session VALUES ('s1', 1003)");
	append_sessions(st, 1100);
	mark = raw_int(db, "SELECT upto FROM audit_indexed");
	ck_assert_int_ge(mark, 1024);
	assert_session_history(st, db, mark);
	sqlite3_close(db);
	assert_verify_ok(st, 1100);
	core_store_close(st);
}
END_TEST

START_TEST(test_open_migrates_v1)
{
	core_store *st = store_create();
	core_store *r = NULL;
	char *cause = NULL;
	sqlite3 *db;

	append_sessions(st, 1500);
	core_store_close(st);
	/* back to the first schema: an index on audit(session) */
	db = raw_open();
	raw_exec(db, "DROP TABLE audit_by_session; DROP TABLE audit_indexed;"
	    "CREATE INDEX audit_session ON audit(session);"
	    "PRAGMA user_version = 1");
	sqlite3_close(db);
	/* a reader waits for the daemon to migrate it */
	ck_assert_int_eq(core_store_open(dbpath, CORE_STORE_RDONLY, &r,
	    &cause), CS_EDB);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	st = store_create();
	db = raw_open();
	ck_assert_int_eq(raw_int(db, "PRAGMA user_version"), 2);
	ck_assert_int_eq(raw_int(db, "SELECT upto FROM audit_indexed"), 1500);
	ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM audit_by_session"),
	    raw_int(db, "SELECT count(*) FROM audit WHERE session IS NOT "
	    "NULL"));
	ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM sqlite_schema "
	    "WHERE name = 'audit_session'"), 0);
	append_sessions(st, 1600);
	assert_session_history(st, db, 1500);
	sqlite3_close(db);
	assert_verify_ok(st, 1600);
	core_store_close(st);
}
END_TEST

/* ---- core_store_open_requests ---- */

START_TEST(test_open_requests)
{
	struct collect c = { 0 };
	core_store *st = store_create();
	static const struct ev_spec decide_r4 = { "decision", "r4", "s2",
		"a2", "bob", "shell.exec", "deny", "operator", NULL, NULL };
	json_t *ev;

	ck_assert_cs_ok(core_store_open_requests(st, collect_cb, &c));
	ck_assert_uint_eq(c.count, 0);
	append_fixture(st);
	/* r1 and r3 were decided; r2 was resent (seq 8) and shows once;
	 * r5 has a decision without a pending. */
	ck_assert_cs_ok(core_store_open_requests(st, collect_cb, &c));
	ck_assert_uint_eq(c.count, 3);
	ck_assert_int_eq(c.seqs[0], 3);
	ck_assert_int_eq(c.seqs[1], 7);
	ck_assert_int_eq(c.seqs[2], 10);
	ck_assert_str_eq(c.request, "r6");

	ev = ev_new(&decide_r4, TS0 + 11);
	ck_assert_cs_ok(core_store_append(st, &ev, 1, NULL));
	json_decref(ev);
	memset(&c, 0, sizeof c);
	c.stop_after = 1;
	ck_assert_cs_ok(core_store_open_requests(st, collect_cb, &c));
	ck_assert_uint_eq(c.count, 1);
	ck_assert_int_eq(c.seqs[0], 3);
	memset(&c, 0, sizeof c);
	ck_assert_cs_ok(core_store_open_requests(st, collect_cb, &c));
	ck_assert_uint_eq(c.count, 2);
	ck_assert_int_eq(c.seqs[0], 3);
	ck_assert_int_eq(c.seqs[1], 10);
	core_store_close(st);
}
END_TEST

/* ---- core_store_find_decision ---- */

START_TEST(test_find_decision)
{
	core_store *st = store_create();
	static const struct ev_spec again_r1 = { "decision", "r1", "s1",
		"a1", "alice", "fs.read", "allow", "operator", NULL, NULL };
	json_t *out = NULL, *ev;

	append_fixture(st);
	ck_assert_cs_ok(core_store_find_decision(st, "r1", &out));
	ck_assert_int_eq(json_integer_value(json_object_get(out, "seq")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(out, "decision")),
	    "deny");
	ck_assert_str_eq(json_string_value(json_object_get(out, "by")),
	    "policy");
	ck_assert_int_eq(out->refcount, 1);
	json_decref(out);

	ck_assert_cs_ok(core_store_find_decision(st, "r5", &out));
	ck_assert_int_eq(json_integer_value(json_object_get(out, "seq")), 9);
	json_decref(out);

	/* Pending only, unknown, and a lookalike: not found, out untouched. */
	out = NULL;
	ck_assert_int_eq(core_store_find_decision(st, "r2", &out),
	    CS_ENOTFOUND);
	ck_assert_int_eq(core_store_find_decision(st, "r9", &out),
	    CS_ENOTFOUND);
	ck_assert_int_eq(core_store_find_decision(st, "r%", &out),
	    CS_ENOTFOUND);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(core_store_find_decision(st, NULL, &out), CS_EINVAL);

	/* A later decision for the same request: the first one stands. */
	ev = ev_new(&again_r1, TS0 + 11);
	ck_assert_cs_ok(core_store_append(st, &ev, 1, NULL));
	json_decref(ev);
	ck_assert_cs_ok(core_store_find_decision(st, "r1", &out));
	ck_assert_int_eq(json_integer_value(json_object_get(out, "seq")), 2);
	json_decref(out);
	core_store_close(st);
}
END_TEST

/* ---- core_store_fault_set ---- */

START_TEST(test_fault_append)
{
	core_store *st = store_create();
	json_t *evs[2];
	int64_t first = -7;

	append_simple(st, 3);
	core_store_fault_set(st, true);
	evs[0] = ev_simple(TS0);
	evs[1] = ev_simple(TS0 + 1);
	ck_assert_int_eq(core_store_append(st, evs, 2, &first), CS_EDB);
	ck_assert_int_eq(first, -7);
	ck_assert_int_eq(core_store_last_seq(st), 3);
	ck_assert_int_eq(row_count(), 3);
	/* One shot: the next append goes through and the chain holds. */
	ck_assert_cs_ok(core_store_append(st, evs, 2, &first));
	ck_assert_int_eq(first, 4);
	json_decref(evs[0]);
	json_decref(evs[1]);
	assert_verify_ok(st, 5);
	core_store_close(st);
	core_store_fault_set(NULL, true);
}
END_TEST

START_TEST(test_fault_disarm)
{
	core_store *st = store_create();

	core_store_fault_set(st, true);
	core_store_fault_set(st, false);
	ck_assert_int_eq(append_simple(st, 2), 1);
	assert_verify_ok(st, 2);
	core_store_close(st);
}
END_TEST

/* One TCase per public function. */
static Suite *
store_suite(void)
{
	Suite *s = suite_create("core_store");
	TCase *tc;

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_create_reopen);
	tcase_add_test(tc, test_open_wal_and_mode);
	tcase_add_test(tc, test_open_missing_rdonly);
	tcase_add_test(tc, test_open_missing_no_create);
	tcase_add_loop_test(tc, test_open_rejects, 0,
	    (int) CS_ARRAY_LEN(bad_files));
	tcase_add_test(tc, test_open_rdonly_while_writer);
	tcase_add_test(tc, test_open_rdonly_other_process);
	tcase_add_test(tc, test_open_rdonly_copy);
	suite_add_tcase(s, tc);

	tc = tcase_create("close");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_close_null);
	tcase_add_test(tc, test_close_checkpoints);
	suite_add_tcase(s, tc);

	tc = tcase_create("append");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_append_seq_and_hash);
	tcase_add_test(tc, test_append_prerendered);
	tcase_add_test(tc, test_append_columns);
	tcase_add_loop_test(tc, test_append_rejects, 0,
	    (int) CS_ARRAY_LEN(bad_events));
	tcase_add_test(tc, test_append_empty_and_rdonly);
	tcase_add_test(tc, test_append_rollback);
	tcase_add_loop_test(tc, test_append_triggers_block, 0,
	    (int) CS_ARRAY_LEN(blocked_sql));
	tcase_add_test(tc, test_append_large_batch);
	tcase_add_test(tc, test_append_one_wal_write);
	suite_add_tcase(s, tc);

	tc = tcase_create("last_seq");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_last_seq);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_verify_intact);
	tcase_add_loop_test(tc, test_verify_tamper, 0,
	    (int) CS_ARRAY_LEN(tampers));
	tcase_add_test(tc, test_verify_event_seq);
	tcase_add_test(tc, test_verify_truncated_tail);
	suite_add_tcase(s, tc);

	tc = tcase_create("history");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_history_filters, 0,
	    (int) CS_ARRAY_LEN(history_cases));
	tcase_add_test(tc, test_history_stop_and_hash);
	tcase_add_test(tc, test_history_session_index);
	tcase_add_test(tc, test_open_migrates_v1);
	tcase_add_test(tc, test_index_entry_present);
	tcase_add_loop_test(tc, test_verify_session_index, 0,
	    (int) CS_ARRAY_LEN(index_tamper));
	suite_add_tcase(s, tc);

	tc = tcase_create("open_requests");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_requests);
	suite_add_tcase(s, tc);

	tc = tcase_create("find_decision");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_find_decision);
	suite_add_tcase(s, tc);

	tc = tcase_create("fault_set");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fault_append);
	tcase_add_test(tc, test_fault_disarm);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
