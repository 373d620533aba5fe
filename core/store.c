/* store.c: the audit store: insert-only, hash-chained events in sqlite,
 * written in group-committed IMMEDIATE transactions by one writer.
 * SPDX-License-Identifier: MIT */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "json.h"
#include "walvfs.h"

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_HASH_LEN 64

/* Rows the session index may lag the chain head by (see store_index). */
#define STORE_INDEX_LAG 1024

/* The writer's own checkpoint threshold (see core_store_checkpoint). */
#define STORE_WAL_FRAMES "1000"

/* Schema migrations; migration i brings user_version from i to i + 1, and
 * each one sets user_version itself so no SQL is ever formatted. */
static const char *const store_migrations[] = {
	"CREATE TABLE audit ("
	" seq INTEGER PRIMARY KEY,"
	" ts INTEGER NOT NULL,"
	" kind TEXT NOT NULL,"
	" request TEXT,"
	" session TEXT,"
	" agent TEXT,"
	" user TEXT,"
	" tool TEXT,"
	" decision TEXT,"
	" by_ TEXT,"
	" rule TEXT,"
	" event TEXT NOT NULL,"
	" prev_hash TEXT NOT NULL,"
	" hash TEXT NOT NULL);"
	"CREATE INDEX audit_request ON audit(request);"
	"CREATE INDEX audit_session ON audit(session);"
	/* few indexes: each one costs every insert on the commit path;
	 * history walks seq newest first and stops at its page */
	"CREATE INDEX audit_pending ON audit(request) WHERE kind = 'pending';"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit is insert-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit is insert-only'); END;"
	"PRAGMA user_version = 1;",
	/* A session's rows, indexed in bulk rather than row by row: an
	 * index on audit(session) made every commit write one page per
	 * session in it, as sessions interleave. The writer adds the rows
	 * up to audit_indexed.upto once STORE_INDEX_LAG have gathered (see
	 * store_index); history reads the rows after upto by seq. */
	"DROP INDEX audit_session;"
	"CREATE TABLE audit_by_session ("
	" session TEXT NOT NULL,"
	" seq INTEGER NOT NULL,"
	" PRIMARY KEY (session, seq)) WITHOUT ROWID;"
	"CREATE TABLE audit_indexed (upto INTEGER NOT NULL);"
	"INSERT INTO audit_by_session (session, seq)"
	" SELECT session, seq FROM audit WHERE session IS NOT NULL;"
	"INSERT INTO audit_indexed (upto) SELECT COALESCE(MAX(seq), 0) FROM audit;"
	"CREATE TRIGGER audit_by_session_no_update BEFORE UPDATE ON"
	" audit_by_session"
	" BEGIN SELECT RAISE(ABORT, 'audit is insert-only'); END;"
	"CREATE TRIGGER audit_by_session_no_delete BEFORE DELETE ON"
	" audit_by_session"
	" BEGIN SELECT RAISE(ABORT, 'audit is insert-only'); END;"
	"PRAGMA user_version = 2;",
};
#define STORE_SCHEMA_VERSION ((int) CS_ARRAY_LEN(store_migrations))

/* Text columns copied from event members; the order is the order of the
 * insert parameters ?3.. and of the verify walk's result columns 2... */
static const struct store_col {
	const char *member; /* event member */
	const char *column; /* audit column */
} store_cols[] = {
	{ "kind", "kind" },
	{ "request", "request" },
	{ "session", "session" },
	{ "agent", "agent" },
	{ "user", "user" },
	{ "tool", "tool" },
	{ "decision", "decision" },
	{ "by", "by_" },
	{ "rule", "rule" },
};
#define STORE_NCOLS ((int) CS_ARRAY_LEN(store_cols))

static const char store_sql_insert[] =
    "INSERT INTO audit (seq, ts, kind, request, session, agent, user, tool,"
    " decision, by_, rule, event, prev_hash, hash)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
static const char store_sql_walk[] =
    "SELECT seq, ts, kind, request, session, agent, user, tool, decision,"
    " by_, rule, event, prev_hash, hash FROM audit ORDER BY seq";
static const char store_sql_open_requests[] =
    "SELECT p.seq, p.hash, p.event FROM audit AS p"
    " WHERE p.kind = 'pending' AND p.request IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM audit AS d"
    "  WHERE d.request = p.request AND d.kind = 'decision')"
    " AND NOT EXISTS (SELECT 1 FROM audit AS q"
    "  WHERE q.request = p.request AND q.kind = 'pending'"
    "  AND q.seq < p.seq)"
    " ORDER BY p.seq";
static const char store_sql_find_decision[] =
    "SELECT event FROM audit WHERE kind = 'decision' AND request = ?1"
    " ORDER BY seq LIMIT 1";
static const char store_sql_head[] =
    "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
static const char store_sql_indexed[] = "SELECT upto FROM audit_indexed";
static const char store_sql_index_add[] =
    "INSERT OR IGNORE INTO audit_by_session (session, seq)"
    " SELECT session, seq FROM audit WHERE seq > ?1 AND session IS NOT NULL";
static const char store_sql_index_mark[] = "UPDATE audit_indexed SET upto = ?1";

/* Result columns of the walk statement. */
enum {
	WALK_SEQ = 0,
	WALK_TS = 1,
	WALK_COLS = 2, /* store_cols[0] */
	WALK_EVENT = 11,
	WALK_PREV = 12,
	WALK_HASH = 13,
};

/* Insert parameters (1-based). */
enum {
	INS_SEQ = 1,
	INS_TS = 2,
	INS_COLS = 3, /* store_cols[0] */
	INS_EVENT = 12,
	INS_PREV = 13,
	INS_HASH = 14,
};

struct core_store {
	sqlite3 *db;
	char *path;                     /* owned; for messages */
	bool is_rdonly;
	bool fail_next_append;          /* test hook, one shot */
	int64_t last_seq;               /* chain head: seq of the newest row */
	char last_hash[STORE_HASH_LEN + 1]; /* chain head: its hash */
	EVP_MD_CTX *md;                 /* SHA-256 context, reused */
	sqlite3_stmt *begin;            /* writer only */
	sqlite3_stmt *commit;           /* writer only */
	sqlite3_stmt *rollback;         /* writer only */
	sqlite3_stmt *insert;           /* writer only */
	sqlite3_stmt *index_add;        /* writer only */
	sqlite3_stmt *index_mark;       /* writer only */
	int64_t indexed;                /* writer only: audit_indexed.upto */
	sqlite3_stmt *walk;
	sqlite3_stmt *open_requests;
	sqlite3_stmt *find_decision;
};

static const char store_zero_hash[STORE_HASH_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* Hash prev (64 hex chars) followed by text into out (hex, NUL). */
static bool
store_hash(EVP_MD_CTX *md, const char *prev, const char *text, size_t len,
    char out[STORE_HASH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;

	/* A NULL type reuses the digest set at open: no fetch per row. */
	if (EVP_DigestInit_ex(md, NULL, NULL) != 1 ||
	    EVP_DigestUpdate(md, prev, STORE_HASH_LEN) != 1 ||
	    EVP_DigestUpdate(md, text, len) != 1 ||
	    EVP_DigestFinal_ex(md, digest, &digest_len) != 1 ||
	    digest_len != STORE_HASH_LEN / 2)
		return false;
	for (unsigned int i = 0; i < digest_len; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 15];
	}
	out[STORE_HASH_LEN] = '\0';
	return true;
}

/* Run one statement to completion, log any error, and always reset it. */
static cs_err
store_step_done(core_store *st, sqlite3_stmt *stmt, const char *what)
{
	cs_err rv = CS_OK;

	if (sqlite3_step(stmt) != SQLITE_DONE) {
		cs_log("audit store %s: %s: %s", st->path, what,
		    sqlite3_errmsg(st->db));
		rv = CS_EDB;
	}
	sqlite3_reset(stmt);
	return rv;
}

/* Run literal SQL (setup only); the error goes to the log and *cause. */
static cs_err
store_exec(core_store *st, const char *sql, char **cause)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		const char *text = msg != NULL ? msg : sqlite3_errmsg(st->db);

		cs_log("audit store %s: %s", st->path, text);
		cs_set_cause(cause, "audit store %s: %s", st->path, text);
		sqlite3_free(msg);
		return CS_EDB;
	}
	return CS_OK;
}

/* Prepare sql into *stmt; the error goes to the log and *cause. */
static cs_err
store_prepare(core_store *st, const char *sql, sqlite3_stmt **stmt,
    char **cause)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK) {
		cs_log("audit store %s: prepare: %s", st->path,
		    sqlite3_errmsg(st->db));
		cs_set_cause(cause, "audit store %s: %s", st->path,
		    sqlite3_errmsg(st->db));
		return CS_EDB;
	}
	return CS_OK;
}

/* Run a PRAGMA that returns one text row and check it equals want. */
static cs_err
store_pragma_expect(core_store *st, const char *sql, const char *want,
    char **cause)
{
	sqlite3_stmt *stmt = NULL;
	const char *got;
	cs_err rv;

	if ((rv = store_prepare(st, sql, &stmt, cause)) != CS_OK)
		return rv;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		cs_log("audit store %s: %s: %s", st->path, sql,
		    sqlite3_errmsg(st->db));
		cs_set_cause(cause, "audit store %s: %s: %s", st->path, sql,
		    sqlite3_errmsg(st->db));
		rv = CS_EDB;
		goto out;
	}
	got = (const char *) sqlite3_column_text(stmt, 0);
	if (got == NULL || strcasecmp(got, want) != 0) {
		cs_log("audit store %s: %s returned \"%s\", want \"%s\"",
		    st->path, sql, got != NULL ? got : "", want);
		cs_set_cause(cause, "audit store %s: %s returned \"%s\"",
		    st->path, sql, got != NULL ? got : "");
		rv = CS_EDB;
	}
out:
	sqlite3_finalize(stmt);
	return rv;
}

/* Read PRAGMA user_version into *version. */
static cs_err
store_user_version(core_store *st, int *version, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	cs_err rv;

	if ((rv = store_prepare(st, "PRAGMA user_version", &stmt, cause)) !=
	    CS_OK)
		return rv;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		cs_set_cause(cause, "audit store %s: %s", st->path,
		    sqlite3_errmsg(st->db));
		rv = CS_EDB;
	} else
		*version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return rv;
}

/* Check the schema version of a store this build cannot migrate. */
static cs_err
store_check_version(core_store *st, int version, char **cause)
{
	if (version > STORE_SCHEMA_VERSION) {
		cs_set_cause(cause, "audit store %s: schema version %d is "
		    "newer than this build's %d", st->path, version,
		    STORE_SCHEMA_VERSION);
		return CS_EDB;
	}
	if (st->is_rdonly && version < STORE_SCHEMA_VERSION) {
		cs_set_cause(cause, "audit store %s: schema version %d, want "
		    "%d (not an audit store, or not yet migrated)", st->path,
		    version, STORE_SCHEMA_VERSION);
		return CS_EDB;
	}
	return CS_OK;
}

/* Apply pending migrations in one IMMEDIATE transaction, so two writers
 * starting at once cannot both migrate. */
static cs_err
store_migrate(core_store *st, char **cause)
{
	int version = 0;
	cs_err rv;

	if ((rv = store_exec(st, "BEGIN IMMEDIATE", cause)) != CS_OK)
		return rv;
	if ((rv = store_user_version(st, &version, cause)) != CS_OK ||
	    (rv = store_check_version(st, version, cause)) != CS_OK)
		goto fail;
	if (version > 0 && version < STORE_SCHEMA_VERSION)
		cs_log("audit store %s: migrating schema %d to %d", st->path,
		    version, STORE_SCHEMA_VERSION);
	for (int i = version; i < STORE_SCHEMA_VERSION; i++)
		if ((rv = store_exec(st, store_migrations[i], cause)) != CS_OK)
			goto fail;
	if ((rv = store_exec(st, "COMMIT", cause)) != CS_OK)
		goto fail;
	return CS_OK;
fail:
	if (!sqlite3_get_autocommit(st->db))
		(void) store_exec(st, "ROLLBACK", NULL);
	return rv;
}

/* Create path with mode 0600 when it does not exist yet; sqlite gives its
 * -wal and -shm files the mode of the database file. */
static cs_err
store_create_file(const char *path, char **cause)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		int saved = errno;

		if (saved == EEXIST)
			return CS_OK;
		cs_set_cause(cause, "audit store %s: %s", path,
		    strerror(saved));
		return CS_EDB;
	}
	if (fchmod(fd, 0600) != 0) {
		int saved = errno;

		cs_set_cause(cause, "audit store %s: chmod: %s", path,
		    strerror(saved));
		close(fd);
		return CS_EDB;
	}
	close(fd);
	return CS_OK;
}

/* Writer setup: WAL, synchronous=FULL, integrity, schema. */
static cs_err
store_setup_writer(core_store *st, char **cause)
{
	cs_err rv;

	if ((rv = store_pragma_expect(st, "PRAGMA journal_mode=WAL", "wal",
	    cause)) != CS_OK ||
	    (rv = store_exec(st, "PRAGMA synchronous=FULL", cause)) != CS_OK ||
	    /* see core_store_checkpoint */
	    (rv = store_exec(st, "PRAGMA wal_autocheckpoint=" STORE_WAL_FRAMES,
	    cause)) !=
	    CS_OK ||
	    (rv = store_exec(st, "PRAGMA foreign_keys=ON", cause)) != CS_OK ||
	    (rv = store_pragma_expect(st, "PRAGMA quick_check", "ok",
	    cause)) != CS_OK)
		return rv;
	return store_migrate(st, cause);
}

/* Load the chain head: seq and hash of the newest row. */
static cs_err
store_load_head(core_store *st, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	const char *hash;
	cs_err rv;
	int rc;

	st->last_seq = 0;
	memcpy(st->last_hash, store_zero_hash, sizeof st->last_hash);
	if ((rv = store_prepare(st, store_sql_head, &stmt, cause)) != CS_OK)
		return rv;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		st->last_seq = sqlite3_column_int64(stmt, 0);
		hash = (const char *) sqlite3_column_text(stmt, 1);
		if (hash == NULL ||
		    sqlite3_column_bytes(stmt, 1) != STORE_HASH_LEN) {
			cs_set_cause(cause, "audit store %s: seq %lld has a "
			    "malformed hash", st->path,
			    (long long) st->last_seq);
			rv = CS_EDB;
		} else
			memcpy(st->last_hash, hash, sizeof st->last_hash);
	} else if (rc != SQLITE_DONE) {
		cs_set_cause(cause, "audit store %s: %s", st->path,
		    sqlite3_errmsg(st->db));
		rv = CS_EDB;
	}
	sqlite3_finalize(stmt);
	return rv;
}

/* Load how far the session index reaches (writer only). */
static cs_err
store_load_indexed(core_store *st, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	cs_err rv;

	if ((rv = store_prepare(st, store_sql_indexed, &stmt, cause)) !=
	    CS_OK)
		return rv;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		st->indexed = sqlite3_column_int64(stmt, 0);
	else {
		cs_set_cause(cause, "audit store %s: no session index mark: "
		    "%s", st->path, sqlite3_errmsg(st->db));
		rv = CS_EDB;
	}
	sqlite3_finalize(stmt);
	return rv;
}

/* Inside the writer's transaction, once head is STORE_INDEX_LAG rows
 * past the session index, add those rows to it in one go: the pages of
 * the sessions in them are written once per STORE_INDEX_LAG rows, not
 * once per commit. Returns the new mark, or -1 on an error. */
static int64_t
store_index(core_store *st, int64_t head)
{
	if (head - st->indexed < STORE_INDEX_LAG)
		return st->indexed;
	if (sqlite3_bind_int64(st->index_add, 1, st->indexed) != SQLITE_OK ||
	    store_step_done(st, st->index_add, "session index") != CS_OK ||
	    sqlite3_bind_int64(st->index_mark, 1, head) != SQLITE_OK ||
	    store_step_done(st, st->index_mark, "session index mark") !=
	    CS_OK)
		return -1;
	return head;
}

/* Prepare the statements a handle keeps for its lifetime. */
static cs_err
store_prepare_all(core_store *st, char **cause)
{
	cs_err rv;

	if (!st->is_rdonly &&
	    ((rv = store_prepare(st, "BEGIN IMMEDIATE", &st->begin,
	    cause)) != CS_OK ||
	    (rv = store_prepare(st, "COMMIT", &st->commit, cause)) != CS_OK ||
	    (rv = store_prepare(st, "ROLLBACK", &st->rollback, cause)) !=
	    CS_OK ||
	    (rv = store_prepare(st, store_sql_insert, &st->insert, cause)) !=
	    CS_OK ||
	    (rv = store_prepare(st, store_sql_index_add, &st->index_add,
	    cause)) != CS_OK ||
	    (rv = store_prepare(st, store_sql_index_mark, &st->index_mark,
	    cause)) != CS_OK))
		return rv;
	if ((rv = store_prepare(st, store_sql_walk, &st->walk, cause)) !=
	    CS_OK ||
	    (rv = store_prepare(st, store_sql_open_requests,
	    &st->open_requests, cause)) != CS_OK ||
	    (rv = store_prepare(st, store_sql_find_decision,
	    &st->find_decision, cause)) != CS_OK)
		return rv;
	return CS_OK;
}

cs_err
core_store_open(const char *path, int flags, core_store **out, char **cause)
{
	core_store *st = NULL;
	int oflags, version = 0;

	if (path == NULL || out == NULL) {
		cs_set_cause(cause, "audit store: no path");
		return CS_EINVAL;
	}
	if ((st = calloc(1, sizeof *st)) == NULL ||
	    (st->path = strdup(path)) == NULL ||
	    (st->md = EVP_MD_CTX_new()) == NULL) {
		cs_set_cause(cause, "audit store %s: out of memory", path);
		goto fail;
	}
	if (EVP_DigestInit_ex(st->md, EVP_sha256(), NULL) != 1) {
		cs_set_cause(cause, "audit store %s: SHA-256 unavailable",
		    path);
		goto fail;
	}
	st->is_rdonly = (flags & CORE_STORE_RDONLY) != 0;
	if (st->is_rdonly)
		oflags = SQLITE_OPEN_READONLY;
	else {
		oflags = SQLITE_OPEN_READWRITE;
		if (flags & CORE_STORE_CREATE) {
			oflags |= SQLITE_OPEN_CREATE;
			if (store_create_file(path, cause) != CS_OK)
				goto fail;
		}
	}
	/* One thread per handle; the writer and readers use their own. */
	oflags |= SQLITE_OPEN_NOMUTEX;
	/* a commit's WAL frames go out in one write (walvfs.c) */
	if (sqlite3_open_v2(path, &st->db, oflags, core_walvfs()) !=
	    SQLITE_OK) {
		cs_set_cause(cause, "audit store %s: %s", path,
		    st->db != NULL ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	if (!st->is_rdonly && sqlite3_db_readonly(st->db, "main") != 0) {
		/* sqlite falls back to read-only on a file it cannot write */
		cs_set_cause(cause, "audit store %s: the file is read-only",
		    path);
		goto fail;
	}
	if (st->is_rdonly) {
		if (store_user_version(st, &version, cause) != CS_OK ||
		    store_check_version(st, version, cause) != CS_OK)
			goto fail;
	} else if (store_setup_writer(st, cause) != CS_OK)
		goto fail;
	if (store_prepare_all(st, cause) != CS_OK ||
	    store_load_head(st, cause) != CS_OK ||
	    (!st->is_rdonly && store_load_indexed(st, cause) != CS_OK))
		goto fail;
	*out = st;
	return CS_OK;
fail:
	cs_set_cause(cause, "audit store %s: cannot open", path);
	core_store_close(st);
	return CS_EDB;
}

void
core_store_close(core_store *st)
{
	if (st == NULL)
		return;
	sqlite3_finalize(st->begin);
	sqlite3_finalize(st->commit);
	sqlite3_finalize(st->rollback);
	sqlite3_finalize(st->insert);
	sqlite3_finalize(st->index_add);
	sqlite3_finalize(st->index_mark);
	sqlite3_finalize(st->walk);
	sqlite3_finalize(st->open_requests);
	sqlite3_finalize(st->find_decision);
	if (sqlite3_close(st->db) != SQLITE_OK)
		cs_log("audit store %s: close: %s", st->path,
		    sqlite3_errmsg(st->db));
	EVP_MD_CTX_free(st->md);
	free(st->path);
	free(st);
}

/* An event the store accepts: an object with string "kind", integer "ts",
 * and each other indexed member absent, null or a string. */
static bool
store_event_ok(const json_t *event)
{
	if (!json_is_object(event) ||
	    !json_is_string(json_object_get(event, "kind")) ||
	    !json_is_integer(json_object_get(event, "ts")))
		return false;
	for (int i = 0; i < STORE_NCOLS; i++) {
		const json_t *v = json_object_get(event, store_cols[i].member);

		if (v != NULL && !json_is_null(v) && !json_is_string(v))
			return false;
	}
	return true;
}

/* Set event.seq, reusing an integer already there. */
static bool
store_set_seq(json_t *event, int64_t seq)
{
	json_t *v = json_object_get(event, "seq");

	if (json_is_integer(v))
		return json_integer_set(v, seq) == 0;
	return json_object_set_new(event, "seq", json_integer(seq)) == 0;
}

/* Bind the columns of one row. Values are bound SQLITE_STATIC: event
 * strings, canon and the hashes all outlive the step, and the statement
 * is reset and its bindings cleared before any of them is freed. */
static bool
store_bind_row(sqlite3_stmt *s, int64_t seq, const json_t *event,
    const char *canon, size_t canon_len, const char *prev, const char *hash)
{
	if (sqlite3_bind_int64(s, INS_SEQ, seq) != SQLITE_OK ||
	    sqlite3_bind_int64(s, INS_TS,
	    json_integer_value(json_object_get(event, "ts"))) != SQLITE_OK ||
	    sqlite3_bind_text64(s, INS_EVENT, canon, canon_len, SQLITE_STATIC,
	    SQLITE_UTF8) != SQLITE_OK ||
	    sqlite3_bind_text(s, INS_PREV, prev, STORE_HASH_LEN,
	    SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, INS_HASH, hash, STORE_HASH_LEN,
	    SQLITE_STATIC) != SQLITE_OK)
		return false;
	for (int i = 0; i < STORE_NCOLS; i++) {
		const json_t *v = json_object_get(event, store_cols[i].member);
		int rc;

		if (json_is_string(v))
			rc = sqlite3_bind_text64(s, INS_COLS + i,
			    json_string_value(v), json_string_length(v),
			    SQLITE_STATIC, SQLITE_UTF8);
		else
			rc = sqlite3_bind_null(s, INS_COLS + i);
		if (rc != SQLITE_OK)
			return false;
	}
	return true;
}

/* Key order of canonical JSON: jansson sorts object keys by their bytes,
 * a shorter key first when one is a prefix of the other. */
static int
store_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c != 0 ? c : alen < blen ? -1 : alen > blen;
}

char *
core_store_prerender(const json_t *event)
{
	json_t *ev = (json_t *) event; /* the iterators take no const */
	size_t before = 0, commas = 0, len, split;
	char *text, *out;
	bool in_str = false;
	int depth = 0;

	if (!json_is_object(ev) || json_object_get(ev, "seq") != NULL)
		return NULL;
	/* how many members come before "seq" */
	for (void *it = json_object_iter(ev); it != NULL;
	    it = json_object_iter_next(ev, it))
		if (store_key_cmp(json_object_iter_key(it),
		    json_object_iter_key_len(it), "seq", 3) < 0)
			before++;
	if ((text = cs_json_dump(ev, CS_JSON_SORT, &len)) == NULL)
		return NULL;
	/* split after "{", at the comma that ends the last of them, or
	 * before the final "}" */
	split = before == 0 ? 1 : len - 1;
	for (size_t i = 0; before > 0 && i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 1 && ++commas == before) {
			split = i;
			break;
		}
	}
	/* head NUL tail, joined by store_join */
	if ((out = malloc(len + 2)) != NULL) {
		memcpy(out, text, split);
		out[split] = '\0';
		memcpy(out + split + 1, text + split, len - split + 1);
	}
	free(text);
	return out;
}

/* The canonical JSON of an event from its prerender and its seq: the
 * members before "seq", "seq" itself, then the members after it. The
 * tail starts with the comma after the head's last member, or with "}",
 * or (no member before "seq") with the first member. */
static char *
store_join(const char *pre, int64_t seq)
{
	const char *head = pre, *tail = pre + strlen(pre) + 1;
	size_t hlen = strlen(head), tlen = strlen(tail);
	char num[32], *out, *p;
	int nlen = snprintf(num, sizeof num, "\"seq\":%lld", (long long) seq);

	if (hlen < 1 || tlen < 1 || nlen < 0 ||
	    (out = malloc(hlen + tlen + (size_t) nlen + 3)) == NULL)
		return NULL;
	p = out;
	memcpy(p, head, hlen);
	p += hlen;
	if (hlen > 1)
		*p++ = ',';
	memcpy(p, num, (size_t) nlen);
	p += nlen;
	if (tail[0] != ',' && tail[0] != '}')
		*p++ = ',';
	memcpy(p, tail, tlen + 1);
	return out;
}

cs_err
core_store_append(core_store *st, json_t *const *events, size_t count,
    int64_t *first_seq)
{
	return core_store_append_pre(st, events, NULL, count, first_seq);
}

cs_err
core_store_append_pre(core_store *st, json_t *const *events,
    char *const *pre, size_t count, int64_t *first_seq)
{
	char prev[STORE_HASH_LEN + 1], hash[STORE_HASH_LEN + 1];
	char *canon = NULL;
	int64_t seq, indexed;

	if (st == NULL || (events == NULL && count > 0))
		return CS_EINVAL;
	if (st->is_rdonly) {
		cs_log("audit store %s: append on a read-only handle",
		    st->path);
		return CS_EDB;
	}
	for (size_t i = 0; i < count; i++) {
		if (!store_event_ok(events[i])) {
			cs_log("audit store %s: append: event %zu lacks "
			    "string kind or integer ts, or has a non-string "
			    "indexed member", st->path, i);
			return CS_EINVAL;
		}
	}
	if (st->fail_next_append) {
		st->fail_next_append = false;
		cs_log("audit store %s: append: injected fault (disk full)",
		    st->path);
		return CS_EDB;
	}
	if (count == 0) {
		if (first_seq != NULL)
			*first_seq = 0;
		return CS_OK;
	}
	if (store_step_done(st, st->begin, "BEGIN IMMEDIATE") != CS_OK)
		return CS_EDB;
	seq = st->last_seq;
	memcpy(prev, st->last_hash, sizeof prev);
	for (size_t i = 0; i < count; i++) {
		size_t canon_len;

		seq++;
		if (!store_set_seq(events[i], seq) ||
		    (canon = pre != NULL && pre[i] != NULL ?
		    store_join(pre[i], seq) : cs_json_canon(events[i])) ==
		    NULL) {
			cs_log("audit store %s: append: out of memory",
			    st->path);
			goto fail;
		}
		canon_len = strlen(canon);
		if (!store_hash(st->md, prev, canon, canon_len, hash)) {
			cs_log("audit store %s: append: SHA-256 failed",
			    st->path);
			goto fail;
		}
		if (!store_bind_row(st->insert, seq, events[i], canon,
		    canon_len, prev, hash)) {
			cs_log("audit store %s: append: bind: %s", st->path,
			    sqlite3_errmsg(st->db));
			goto fail;
		}
		if (store_step_done(st, st->insert, "insert") != CS_OK)
			goto fail;
		sqlite3_clear_bindings(st->insert);
		free(canon);
		canon = NULL;
		memcpy(prev, hash, sizeof prev);
		if (i == count / 2)
			cs_crash_point("mid_group_commit");
	}
	if ((indexed = store_index(st, seq)) < 0 ||
	    store_step_done(st, st->commit, "COMMIT") != CS_OK)
		goto fail;
	st->indexed = indexed;
	st->last_seq = seq;
	memcpy(st->last_hash, prev, sizeof st->last_hash);
	if (first_seq != NULL)
		*first_seq = seq - (int64_t) count + 1;
	return CS_OK;
fail:
	sqlite3_reset(st->insert);
	sqlite3_clear_bindings(st->insert);
	free(canon);
	/* A failed COMMIT may already have rolled back. */
	if (!sqlite3_get_autocommit(st->db))
		(void) store_step_done(st, st->rollback, "ROLLBACK");
	return CS_EDB;
}

int64_t
core_store_last_seq(const core_store *st)
{
	return st != NULL ? st->last_seq : 0;
}

/* Describe a text column's value for a problem text. */
static void
verify_describe_column(sqlite3_stmt *s, int col, char *buf, size_t size)
{
	const char *text;

	if (sqlite3_column_type(s, col) == SQLITE_NULL) {
		snprintf(buf, size, "NULL");
		return;
	}
	text = (const char *) sqlite3_column_text(s, col);
	snprintf(buf, size, "'%.60s'", text != NULL ? text : "");
}

/* Describe an event member for a problem text. */
static void
verify_describe_member(const json_t *v, char *buf, size_t size)
{
	if (v == NULL)
		snprintf(buf, size, "(absent)");
	else if (json_is_null(v))
		snprintf(buf, size, "null");
	else if (json_is_string(v))
		snprintf(buf, size, "'%.60s'", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, size, "%lld",
		    (long long) json_integer_value(v));
	else
		snprintf(buf, size, "(a %s)", json_is_object(v) ? "object" :
		    json_is_array(v) ? "array" : "non-string value");
}

/* Check that the row's text column col equals member of event (NULL when
 * the member is absent or null). */
static bool
verify_text_column(sqlite3_stmt *s, int col, const json_t *event,
    const struct store_col *c, int64_t seq, core_store_verify_report *r)
{
	const json_t *v = json_object_get(event, c->member);
	int type = sqlite3_column_type(s, col);
	char col_desc[80], ev_desc[80];

	if (type == SQLITE_NULL && (v == NULL || json_is_null(v)))
		return true;
	if (type == SQLITE_TEXT && json_is_string(v)) {
		const void *text = sqlite3_column_text(s, col);
		size_t len = (size_t) sqlite3_column_bytes(s, col);

		if (text != NULL && len == json_string_length(v) &&
		    memcmp(text, json_string_value(v), len) == 0)
			return true;
	}
	verify_describe_column(s, col, col_desc, sizeof col_desc);
	verify_describe_member(v, ev_desc, sizeof ev_desc);
	snprintf(r->problem, sizeof r->problem,
	    "seq %lld: column %s %s differs from event %s", (long long) seq,
	    c->column, col_desc, ev_desc);
	return false;
}

/* Check the row's ts column against the event's "ts". */
static bool
verify_ts_column(sqlite3_stmt *s, const json_t *event, int64_t seq,
    core_store_verify_report *r)
{
	const json_t *v = json_object_get(event, "ts");
	char col_desc[80], ev_desc[80];

	if (sqlite3_column_type(s, WALK_TS) == SQLITE_INTEGER &&
	    json_is_integer(v) &&
	    sqlite3_column_int64(s, WALK_TS) == json_integer_value(v))
		return true;
	if (sqlite3_column_type(s, WALK_TS) == SQLITE_INTEGER)
		snprintf(col_desc, sizeof col_desc, "%lld",
		    (long long) sqlite3_column_int64(s, WALK_TS));
	else
		verify_describe_column(s, WALK_TS, col_desc, sizeof col_desc);
	verify_describe_member(v, ev_desc, sizeof ev_desc);
	snprintf(r->problem, sizeof r->problem,
	    "seq %lld: column ts %s differs from event %s", (long long) seq,
	    col_desc, ev_desc);
	return false;
}

/* Check one row of the walk against the expected seq and prev hash;
 * writes r->problem and returns false at the first failure. */
static bool
verify_row(core_store *st, sqlite3_stmt *s, int64_t want_seq,
    const char *prev, core_store_verify_report *r)
{
	int64_t seq = sqlite3_column_int64(s, WALK_SEQ);
	const char *event_text, *row_prev, *row_hash;
	size_t event_len;
	char hash[STORE_HASH_LEN + 1];
	json_t *event, *ev_seq;
	json_error_t jerr;
	bool ok = false;

	if (seq != want_seq) {
		snprintf(r->problem, sizeof r->problem,
		    "seq %lld: expected seq %lld, found %lld (%s)",
		    (long long) want_seq, (long long) want_seq,
		    (long long) seq,
		    seq > want_seq ? "rows deleted" : "rows out of order");
		return false;
	}
	row_prev = (const char *) sqlite3_column_text(s, WALK_PREV);
	if (row_prev == NULL || strcmp(row_prev, prev) != 0) {
		if (seq == 1)
			snprintf(r->problem, sizeof r->problem,
			    "seq 1: prev_hash is not 64 zeros (chain broken)");
		else
			snprintf(r->problem, sizeof r->problem,
			    "seq %lld: prev_hash does not match the hash of "
			    "seq %lld (chain broken)", (long long) seq,
			    (long long) seq - 1);
		return false;
	}
	event_text = (const char *) sqlite3_column_text(s, WALK_EVENT);
	event_len = (size_t) sqlite3_column_bytes(s, WALK_EVENT);
	row_hash = (const char *) sqlite3_column_text(s, WALK_HASH);
	if (event_text == NULL ||
	    !store_hash(st->md, prev, event_text, event_len, hash)) {
		snprintf(r->problem, sizeof r->problem,
		    "seq %lld: cannot hash the event", (long long) seq);
		return false;
	}
	if (row_hash == NULL || strcmp(row_hash, hash) != 0) {
		snprintf(r->problem, sizeof r->problem,
		    "seq %lld: hash mismatch (row edited)", (long long) seq);
		return false;
	}
	event = json_loadb(event_text, event_len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (!json_is_object(event)) {
		snprintf(r->problem, sizeof r->problem,
		    "seq %lld: event is not a JSON object (%.120s)",
		    (long long) seq, event == NULL ? jerr.text : "");
		goto out;
	}
	ev_seq = json_object_get(event, "seq");
	if (!json_is_integer(ev_seq) || json_integer_value(ev_seq) != seq) {
		char desc[80];

		verify_describe_member(ev_seq, desc, sizeof desc);
		snprintf(r->problem, sizeof r->problem,
		    "seq %lld: event seq %s differs from row seq",
		    (long long) seq, desc);
		goto out;
	}
	if (!verify_ts_column(s, event, seq, r))
		goto out;
	for (int i = 0; i < STORE_NCOLS; i++)
		if (!verify_text_column(s, WALK_COLS + i, event, &store_cols[i],
		    seq, r))
			goto out;
	r->problem[0] = '\0';
	ok = true;
out:
	json_decref(event);
	return ok;
}

/* A mark that is not one row, the first row with a session the session
 * index leaves out (up to its mark), and the first entry with no such
 * row or past the mark. */
static const char store_sql_verify_index[] =
    "SELECT 1, 'session index mark (audit_indexed) is not one row'"
    " WHERE (SELECT count(*) FROM audit_indexed) != 1"
    " UNION ALL"
    " SELECT min(seq), 'has no session index entry' FROM audit AS a"
    " WHERE session IS NOT NULL"
    " AND seq <= (SELECT upto FROM audit_indexed)"
    " AND NOT EXISTS (SELECT 1 FROM audit_by_session AS b"
    "  WHERE b.session = a.session AND b.seq = a.seq)"
    " UNION ALL"
    " SELECT min(seq), 'has a session index entry for another row'"
    " FROM audit_by_session AS b"
    " WHERE seq > (SELECT upto FROM audit_indexed)"
    " OR NOT EXISTS (SELECT 1 FROM audit AS a"
    "  WHERE a.seq = b.seq AND a.session = b.session)";

/* Check that the session index holds exactly the rows with a session up
 * to its mark: history by session must not hide or invent a row. */
static cs_err
verify_index(core_store *st, core_store_verify_report *r, char **cause)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, store_sql_verify_index, -1, &s,
	    NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *what = (const char *) sqlite3_column_text(s, 1);
		int64_t seq;

		if (sqlite3_column_type(s, 0) == SQLITE_NULL)
			continue;
		seq = sqlite3_column_int64(s, 0);
		if (r->bad_seq == 0 || seq < r->bad_seq) {
			r->bad_seq = seq;
			snprintf(r->problem, sizeof r->problem, "seq %lld: %s",
			    (long long) seq, what != NULL ? what :
			    "session index disagrees");
		}
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(s);
	return CS_OK;
fail:
	cs_log("audit store %s: verify: session index: %s", st->path,
	    sqlite3_errmsg(st->db));
	cs_set_cause(cause, "audit store %s: %s", st->path,
	    sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	return CS_EDB;
}

cs_err
core_store_verify(core_store *st, core_store_verify_report *report,
    char **cause)
{
	core_store_verify_report r = { 0 };
	char prev[STORE_HASH_LEN + 1];
	int64_t want_seq = 1;
	cs_err rv = CS_OK;
	int rc;

	if (st == NULL || report == NULL)
		return CS_EINVAL;
	memcpy(prev, store_zero_hash, sizeof prev);
	while ((rc = sqlite3_step(st->walk)) == SQLITE_ROW) {
		const char *hash;

		r.rows++;
		if (!verify_row(st, st->walk, want_seq, prev, &r)) {
			r.bad_seq = want_seq;
			break;
		}
		hash = (const char *) sqlite3_column_text(st->walk, WALK_HASH);
		memcpy(prev, hash, sizeof prev);
		want_seq++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		cs_log("audit store %s: verify: %s", st->path,
		    sqlite3_errmsg(st->db));
		cs_set_cause(cause, "audit store %s: %s", st->path,
		    sqlite3_errmsg(st->db));
		rv = CS_EDB;
	} else if (r.bad_seq == 0 && !st->is_rdonly &&
	    want_seq <= st->last_seq) {
		/* The writer knows its head: rows cut off the tail show. */
		r.bad_seq = want_seq;
		snprintf(r.problem, sizeof r.problem,
		    "seq %lld: expected seq %lld, found end of table "
		    "(rows deleted)", (long long) want_seq,
		    (long long) want_seq);
	}
	sqlite3_reset(st->walk);
	if (rv == CS_OK && r.bad_seq == 0)
		rv = verify_index(st, &r, cause);
	if (rv == CS_OK)
		*report = r;
	return rv;
}

/* Call cb for each row of stmt (columns seq, hash, event), stop when cb
 * returns false; resets stmt. */
static cs_err
store_rows(core_store *st, sqlite3_stmt *stmt, core_store_row_cb cb,
    void *ud)
{
	cs_err rv = CS_OK;
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(stmt, 0);
		const char *hash = (const char *) sqlite3_column_text(stmt, 1);
		const char *text = (const char *) sqlite3_column_text(stmt, 2);
		json_error_t jerr;
		json_t *event;
		bool more;

		event = text == NULL ? NULL : json_loadb(text,
		    (size_t) sqlite3_column_bytes(stmt, 2),
		    JSON_REJECT_DUPLICATES, &jerr);
		if (event == NULL) {
			cs_log("audit store %s: seq %lld: unreadable event",
			    st->path, (long long) seq);
			rv = CS_EDB;
			break;
		}
		more = cb(ud, seq, hash != NULL ? hash : "", event);
		json_decref(event);
		if (!more)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		cs_log("audit store %s: read: %s", st->path,
		    sqlite3_errmsg(st->db));
		rv = CS_EDB;
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return rv;
}

/* Append s to buf (size bytes, *used in use); false when it won't fit. */
static bool
sql_append(char *buf, size_t size, size_t *used, const char *s)
{
	size_t len = strlen(s);

	if (*used + len + 1 > size)
		return false;
	memcpy(buf + *used, s, len + 1);
	*used += len;
	return true;
}

/* Wrap needle in % for LIKE, escaping \, % and _ with \ (new string).
 * The search runs on the rows' JSON text, so the needle is first written
 * the way that text writes it (a quote as \", a backslash as \\, a tab
 * as \t): a value is found as the operator reads it. */
static char *
like_pattern(const char *text)
{
	json_t *str = json_string(text);
	char *enc = str != NULL ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
	const char *needle = enc != NULL ? enc + 1 : text; /* past the " */
	size_t len = enc != NULL ? strlen(enc) - 2 : strlen(text), j = 0;
	char *p = malloc(2 * len + 3);

	json_decref(str);
	if (p == NULL) {
		free(enc);
		return NULL;
	}
	p[j++] = '%';
	for (size_t i = 0; i < len; i++) {
		if (needle[i] == '\\' || needle[i] == '%' || needle[i] == '_')
			p[j++] = '\\';
		p[j++] = needle[i];
	}
	p[j++] = '%';
	p[j] = '\0';
	free(enc);
	return p;
}

/* History filter parameters; each filter has a fixed number. */
enum {
	HIST_SESSION = 1,
	HIST_TOOL,
	HIST_AGENT,
	HIST_DECISION,
	HIST_KIND,
	HIST_REQUEST,
	HIST_TEXT,
	HIST_BEFORE,
	HIST_LIMIT,
};

/* Equality filters: clause and parameter, in hist_values order. */
static const struct hist_eq {
	const char *clause; /* uses ?param */
	int param;
} hist_eqs[] = {
	{ " AND session = ?1", HIST_SESSION },
	{ " AND tool = ?2", HIST_TOOL },
	{ " AND agent = ?3", HIST_AGENT },
	{ " AND decision = ?4", HIST_DECISION },
	{ " AND kind = ?5", HIST_KIND },
	{ " AND request = ?6", HIST_REQUEST },
};
#define HIST_NEQ CS_ARRAY_LEN(hist_eqs)

/* The values of the equality filters of f, in hist_eqs order. */
static void
hist_values(const core_store_filter *f, const char *v[HIST_NEQ])
{
	v[0] = f->session;
	v[1] = f->tool;
	v[2] = f->agent;
	v[3] = f->decision;
	v[4] = f->kind;
	v[5] = f->request;
}

/* Build the history query from fixed clauses only: values are never part
 * of the SQL, every one is a bound parameter. */
static bool
hist_sql(const core_store_filter *f, char *sql, size_t size)
{
	const char *v[HIST_NEQ];
	size_t used = 0;
	bool fits;

	hist_values(f, v);
	fits = sql_append(sql, size, &used,
	    "SELECT seq, hash, event FROM audit WHERE 1");
	/* a session's rows: those in its index, and those past the index
	 * mark, which are few (STORE_INDEX_LAG at most); the equality
	 * below still holds each row to the session, whatever the index
	 * says */
	if (f->session != NULL)
		fits = fits && sql_append(sql, size, &used, " AND seq IN"
		    " (SELECT seq FROM audit_by_session WHERE session = ?1"
		    " UNION ALL SELECT seq FROM audit WHERE seq >"
		    " (SELECT upto FROM audit_indexed) AND session = ?1)");
	for (size_t i = 0; i < HIST_NEQ; i++)
		if (v[i] != NULL)
			fits = fits && sql_append(sql, size, &used,
			    hist_eqs[i].clause);
	if (f->text != NULL)
		fits = fits && sql_append(sql, size, &used,
		    " AND event LIKE ?7 ESCAPE '\\'");
	if (f->before_seq > 0)
		fits = fits && sql_append(sql, size, &used, " AND seq < ?8");
	return fits && sql_append(sql, size, &used,
	    " ORDER BY seq DESC LIMIT ?9");
}

/* Bind the filter's values to the history query. */
static cs_err
hist_bind(sqlite3_stmt *stmt, const core_store_filter *f)
{
	const char *v[HIST_NEQ];
	char *pattern;
	int rc;

	hist_values(f, v);
	for (size_t i = 0; i < HIST_NEQ; i++)
		if (v[i] != NULL && sqlite3_bind_text(stmt, hist_eqs[i].param,
		    v[i], -1, SQLITE_TRANSIENT) != SQLITE_OK)
			return CS_EDB;
	if (f->text != NULL) {
		if ((pattern = like_pattern(f->text)) == NULL)
			return CS_ENOMEM;
		rc = sqlite3_bind_text(stmt, HIST_TEXT, pattern, -1,
		    SQLITE_TRANSIENT);
		free(pattern);
		if (rc != SQLITE_OK)
			return CS_EDB;
	}
	if (f->before_seq > 0 && sqlite3_bind_int64(stmt, HIST_BEFORE,
	    f->before_seq) != SQLITE_OK)
		return CS_EDB;
	/* A negative LIMIT is no limit. */
	if (sqlite3_bind_int64(stmt, HIST_LIMIT, f->limit > 0 ? f->limit :
	    -1) != SQLITE_OK)
		return CS_EDB;
	return CS_OK;
}

cs_err
core_store_history(core_store *st, const core_store_filter *filter,
    core_store_row_cb cb, void *ud)
{
	static const core_store_filter no_filter = { 0 };
	const core_store_filter *f = filter != NULL ? filter : &no_filter;
	sqlite3_stmt *stmt = NULL;
	char sql[768];
	cs_err rv;

	if (st == NULL || cb == NULL)
		return CS_EINVAL;
	if (!hist_sql(f, sql, sizeof sql)) {
		cs_log("audit store %s: history query too long", st->path);
		return CS_EDB;
	}
	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		cs_log("audit store %s: history: %s", st->path,
		    sqlite3_errmsg(st->db));
		rv = CS_EDB;
		goto fail;
	}
	if ((rv = hist_bind(stmt, f)) != CS_OK) {
		cs_log("audit store %s: history: bind: %s", st->path,
		    rv == CS_ENOMEM ? "out of memory" : sqlite3_errmsg(st->db));
		goto fail;
	}
	rv = store_rows(st, stmt, cb, ud);
fail:
	sqlite3_finalize(stmt);
	return rv;
}

cs_err
core_store_open_requests(core_store *st, core_store_row_cb cb, void *ud)
{
	if (st == NULL || cb == NULL)
		return CS_EINVAL;
	return store_rows(st, st->open_requests, cb, ud);
}

cs_err
core_store_find_decision(core_store *st, const char *request, json_t **out)
{
	sqlite3_stmt *s;
	const char *text;
	json_error_t jerr;
	json_t *event;
	cs_err rv;
	int rc;

	if (st == NULL || request == NULL || out == NULL)
		return CS_EINVAL;
	s = st->find_decision;
	if (sqlite3_bind_text(s, 1, request, -1, SQLITE_TRANSIENT) !=
	    SQLITE_OK) {
		cs_log("audit store %s: find decision: bind: %s", st->path,
		    sqlite3_errmsg(st->db));
		rv = CS_EDB;
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		rv = CS_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		cs_log("audit store %s: find decision: %s", st->path,
		    sqlite3_errmsg(st->db));
		rv = CS_EDB;
		goto out;
	}
	text = (const char *) sqlite3_column_text(s, 0);
	event = text == NULL ? NULL : json_loadb(text,
	    (size_t) sqlite3_column_bytes(s, 0), JSON_REJECT_DUPLICATES,
	    &jerr);
	if (event == NULL) {
		cs_log("audit store %s: find decision: unreadable event",
		    st->path);
		rv = CS_EDB;
		goto out;
	}
	*out = event;
	rv = CS_OK;
out:
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rv;
}

void
core_store_fault_set(core_store *st, bool fail_appends)
{
	if (st != NULL)
		st->fail_next_append = fail_appends;
}

void
core_store_last_hash(const core_store *st, char out[65])
{
	memcpy(out, st->last_hash, 65);
}

cs_err
core_store_hash_at(core_store *st, int64_t seq, char out[65])
{
	sqlite3_stmt *s = NULL;
	const unsigned char *text;
	cs_err rv = CS_EDB;
	int rc;

	if (sqlite3_prepare_v2(st->db, "SELECT hash FROM audit WHERE seq = ?1",
	    -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 1, seq) != SQLITE_OK)
		goto out;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		rv = CS_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW || (text = sqlite3_column_text(s, 0)) == NULL ||
	    sqlite3_column_bytes(s, 0) != 64)
		goto out;
	memcpy(out, text, 64);
	out[64] = '\0';
	rv = CS_OK;
out:
	if (rv == CS_EDB)
		cs_log("audit store %s: hash at %lld: %s", st->path,
		    (long long) seq, sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	return rv;
}

cs_err
core_store_checkpoint(core_store *st, int64_t *wal_frames)
{
	sqlite3_stmt *s = NULL;
	cs_err rv = CS_EDB;

	if (sqlite3_prepare_v2(st->db, "PRAGMA wal_checkpoint(PASSIVE)", -1,
	    &s, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(s) != SQLITE_ROW)
		goto out;
	if (wal_frames != NULL)
		*wal_frames = sqlite3_column_int64(s, 1);
	rv = CS_OK;
out:
	if (rv != CS_OK)
		cs_log("audit store %s: checkpoint: %s", st->path,
		    sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	return rv;
}

void
core_store_set_busy_ms(core_store *st, int ms)
{
	sqlite3_busy_timeout(st->db, ms);
}
