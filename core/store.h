/* store.h: the audit store: insert-only, hash-chained events in sqlite
 * (WAL, synchronous=FULL), group-committed by one writer.
 * SPDX-License-Identifier: MIT */
#ifndef CORE_STORE_H
#define CORE_STORE_H

#include "cs.h"

typedef struct core_store core_store;

enum {
	CORE_STORE_RDONLY = 1, /* open read-only (history, verify, console) */
	CORE_STORE_CREATE = 2, /* create the file and schema when missing */
};

/* core_store_open opens (and with CORE_STORE_CREATE creates) the audit
 * store at path. A writable store is put in WAL mode with
 * synchronous=FULL, passes PRAGMA quick_check, migrates the schema
 * (PRAGMA user_version) and loads the chain head. Failure returns CS_EDB
 * with a new *cause that says what is wrong ("audit store
 * /x/audit.db: unable to open database file"). */
cs_err core_store_open(const char *path, int flags, core_store **out,
    char **cause);

/* core_store_close finalizes statements and closes; NULL is a no-op. */
void core_store_close(core_store *st);

/* core_store_append writes count events in one IMMEDIATE transaction. Each
 * event is a JSON object with at least "kind" (string) and "ts" (integer
 * Unix ms). The store sets "seq" in each object (it modifies the objects),
 * then computes hash = sha256_hex(prev_hash || canonical JSON of the event)
 * and inserts the row. Indexed columns are copied from the event's
 * "kind", "request", "session", "agent", "user", "tool", "decision", "by",
 * "rule" and "ts" members. On any failure the transaction is rolled back,
 * the chain head is unchanged, nothing is written, and CS_EDB is
 * returned. On success *first_seq (if not NULL) is the seq of events[0]. */
cs_err core_store_append(core_store *st, json_t *const *events, size_t count,
    int64_t *first_seq);

/* core_store_prerender renders the canonical JSON of an event that has no
 * "seq" member yet, in two halves around the place where "seq" goes, so
 * that another thread than the writer does the costly part: a NULL
 * result (no memory, not an object, or "seq" already set) only means
 * that the writer renders it itself. Free it with free(). */
char *core_store_prerender(const json_t *event);

/* core_store_append_pre is core_store_append with pre[i], when pre is not
 * NULL and pre[i] is not NULL, the prerender of events[i] as it is now:
 * the row text is then exactly what core_store_append would write. */
cs_err core_store_append_pre(core_store *st, json_t *const *events,
    char *const *pre, size_t count, int64_t *first_seq);

/* core_store_last_seq returns the seq of the newest row (0 when empty). */
int64_t core_store_last_seq(const core_store *st);

/* Result of walking the chain. */
typedef struct core_store_verify_report {
	int64_t rows;       /* rows checked */
	int64_t bad_seq;    /* first seq that failed, 0 when all good */
	char problem[256];  /* what failed at bad_seq, "" when all good */
} core_store_verify_report;

/* core_store_verify walks every row in seq order and checks: seq is
 * 1, 2, 3, ... with no gap; prev_hash equals the previous row's hash
 * (64 zeros for the first); hash equals sha256(prev_hash || event); the
 * event JSON's seq and every indexed column agree with the event text;
 * the session index holds exactly the rows with a session up to its mark.
 * Returns CS_OK with bad_seq == 0 when the chain is intact, CS_OK with
 * bad_seq set when it is not, and CS_EDB when the store cannot be read. */
cs_err core_store_verify(core_store *st, core_store_verify_report *report,
    char **cause);

/* History filters; NULL/0 fields do not filter. */
typedef struct core_store_filter {
	const char *session;
	const char *tool;
	const char *agent;
	const char *decision; /* "allow" | "deny" */
	const char *kind;
	const char *request;
	const char *text;     /* substring anywhere in the event JSON */
	int64_t before_seq;   /* only rows with seq < before_seq */
	int64_t limit;        /* 0: no limit */
} core_store_filter;

/* Called once per row, newest first. event is borrowed for the call.
 * Return false to stop. */
typedef bool (*core_store_row_cb)(void *ud, int64_t seq, const char *hash,
    json_t *event);

/* core_store_history lists events newest first, filtered. */
cs_err core_store_history(core_store *st, const core_store_filter *filter,
    core_store_row_cb cb, void *ud);

/* core_store_open_requests calls cb (oldest first) for every "pending"
 * event whose request has no later event with kind "decision" for the same
 * request: calls that were waiting when the daemon stopped. */
cs_err core_store_open_requests(core_store *st, core_store_row_cb cb,
    void *ud);

/* core_store_find_decision returns (new reference) the "decision" event of
 * request, or CS_ENOTFOUND. */
cs_err core_store_find_decision(core_store *st, const char *request,
    json_t **out);

/* core_store_last_hash copies the newest row's hash (64 zeros when empty)
 * as of the last append or open. */
void core_store_last_hash(const core_store *st, char out[65]);

/* core_store_hash_at copies the stored hash of row seq; CS_ENOTFOUND when
 * there is no such row. */
cs_err core_store_hash_at(core_store *st, int64_t seq, char out[65]);

/* core_store_checkpoint copies committed WAL frames into the database
 * without blocking the writer (PRAGMA wal_checkpoint(PASSIVE)): a second
 * writable handle calls it from another thread, so that the bulk of the
 * copying happens off the commit path. The writer itself checkpoints
 * (passively) after a commit that leaves more than STORE_WAL_FRAMES frames
 * in the WAL; that copies only the few frames the other handle has not,
 * and lets the next commit start the WAL over from its beginning. Commits
 * then overwrite blocks the file already has, and their fsync has no file
 * size to record: an appending WAL costs about twice as much per commit.
 * *wal_frames (if not NULL) gets the WAL's size in frames. */
cs_err core_store_checkpoint(core_store *st, int64_t *wal_frames);

/* core_store_set_busy_ms sets how long a write waits for a lock held by
 * another process (5000 by default). */
void core_store_set_busy_ms(core_store *st, int ms);

/* core_store_fault_set is a test hook: when armed, the next append fails
 * as if the disk were full. */
void core_store_fault_set(core_store *st, bool fail_appends);

#endif
