/* sess.h: live sessions: delegation context, trust level, call rate,
 * denials and session grants, read on every call.
 * SPDX-License-Identifier: MIT */
#ifndef CORE_SESS_H
#define CORE_SESS_H

#include "cs.h"

#define CORE_TRUST_MIN 0
#define CORE_TRUST_MAX 4
#define CORE_SESS_RATE_SLOTS 60 /* one-second buckets: a sliding minute */

/* A session grant: an operator approved this tool for this session until
 * expires_mono_ms. */
typedef struct core_grant {
	char id[24];             /* "g-<hex>" */
	char *tool;              /* owned */
	char *operator_name;     /* owned */
	int64_t expires_mono_ms; /* CLOCK_MONOTONIC deadline */
	int64_t expires_ms;      /* the same deadline in wall ms, for display */
} core_grant;

typedef struct core_sess {
	char *id;          /* owned */
	char *user;        /* owned: the delegating human */
	char *agent;       /* owned: the current actor */
	json_t *chain;     /* owned: array of names, human first */
	char *purpose;     /* owned, may be NULL */
	int trust;         /* 0..4 */
	int64_t calls;     /* calls decided in this session */
	int64_t denials;   /* calls denied in this session */
	int64_t created_ms;
	int64_t last_ms;   /* wall ms of the last call */
	int64_t rate_sec[CORE_SESS_RATE_SLOTS]; /* second of each bucket */
	int32_t rate_cnt[CORE_SESS_RATE_SLOTS];
	json_t *tools;     /* owned: {"tool": count}, at most 64 tools */
	core_grant *grants;
	size_t grant_count;
	int initial_trust; /* trust when opened: a change is an operator's */
	int pending;       /* calls of this session waiting for an operator
	                    * (kept by the engine) */
	int held;          /* changes to it waiting for their audit rows
	                    * (kept by the engine) */
	struct sess_deleg *deleg;           /* its delegation's list */
	struct core_sess *older, *newer;    /* in that list, by last use */
} core_sess;

typedef struct core_sess_tab core_sess_tab;

/* core_sess_tab_new returns a new empty table holding at most max_count
 * sessions (0: unbounded). */
core_sess_tab *core_sess_tab_new(size_t max_count);

/* core_sess_tab_set_delegation_max bounds the sessions one delegation
 * (user and agent) may hold (0: only the table's bound). A delegation at
 * its bound that opens another session forgets its least recently used
 * one that holds nothing an operator gave or has to decide: no call
 * waiting, no change waiting for its row, no grant, its trust as it was
 * opened. */
void core_sess_tab_set_delegation_max(core_sess_tab *tab, size_t max_count);

/* core_sess_tab_free frees the table and every session. */
void core_sess_tab_free(core_sess_tab *tab);

/* core_sess_get returns the session with id, or NULL. Borrowed. */
core_sess *core_sess_get(core_sess_tab *tab, const char *id);

/* core_sess_open returns the session with id, creating it (with trust
 * capped at trust_cap, the delegation chain copied) when it is new.
 * *created says which. CS_EFULL when the table is at its bound,
 * CS_EDENIED when the delegation is at its bound and none of its sessions
 * may be forgotten (see core_sess_tab_set_delegation_max). */
cs_err core_sess_open(core_sess_tab *tab, const char *id, const char *user,
    const char *agent, const json_t *chain, const char *purpose, int trust,
    int trust_cap, int64_t now_ms, core_sess **out, bool *created);

/* core_sess_count returns the number of sessions. */
size_t core_sess_count(const core_sess_tab *tab);

/* core_sess_each calls fn for every session. */
void core_sess_each(core_sess_tab *tab, bool (*fn)(void *ud, core_sess *s),
    void *ud);

/* core_sess_note_call counts one call at now_ms for the rate and returns
 * the calls in the last 60 s, including this one. */
int core_sess_note_call(core_sess *s, int64_t now_ms, const char *tool);

/* core_sess_rate returns calls in the 60 s before now_ms. */
int core_sess_rate(const core_sess *s, int64_t now_ms);

/* core_sess_knows_tool reports whether tool was called before. */
bool core_sess_knows_tool(const core_sess *s, const char *tool);

/* core_sess_grant_add records a grant for tool until ttl_ms from now; the
 * new grant is copied to *out when out is not NULL. */
cs_err core_sess_grant_add(core_sess *s, const char *tool,
    const char *operator_name, int64_t ttl_ms, int64_t now_mono_ms,
    int64_t now_ms, core_grant *out);

/* core_sess_grant_find returns a live grant covering tool, or NULL; expired
 * grants are dropped on the way. */
const core_grant *core_sess_grant_find(core_sess *s, const char *tool,
    int64_t now_mono_ms);

/* core_sess_grant_revoke removes the grant with id; CS_ENOTFOUND when the
 * session has none. */
cs_err core_sess_grant_revoke(core_sess *s, const char *id);

/* core_sess_to_json returns a new object describing the session (for the
 * console and CLI). */
json_t *core_sess_to_json(const core_sess *s, int64_t now_mono_ms);

#endif
