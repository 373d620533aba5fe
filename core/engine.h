/* engine.h: the decision path without sockets: admission, live context,
 * policy, the pending queue and operator commands. Every entry point
 * turns one input into effects (audit events, replies, published events)
 * that the caller carries out: audit first, then replies.
 * Entry points may be called from any thread: the engine serialises its
 * state with an internal lock, and parses frames and verifies tokens
 * outside it.
 * SPDX-License-Identifier: MIT */
#ifndef CORE_ENGINE_H
#define CORE_ENGINE_H

#include "cfg.h"
#include "cs.h"
#include "pol.h"

typedef struct core_engine core_engine;

/* One reply to send on a transport handle once the audit rows of the same
 * effects are durable. */
typedef struct core_reply {
	uint64_t handle;
	json_t *msg;   /* owned */
	char *text;    /* owned, may be NULL: msg rendered once (compact, no
	                * audit_seq) when it was made; whoever changes msg
	                * frees it and sets it NULL */
	json_t *event; /* borrowed from fx->events: its "seq" is copied into
	                * msg as "audit_seq" after the commit; may be NULL */
	bool durable;  /* a decision whose row was committed before (a resent
	                * call, a status read): a failed commit of the batch
	                * it rides in leaves it as it is */
	char past[40]; /* a resent call or status read answered from a
	                * decision whose row was not yet committed: its
	                * request, settled by core_engine_settle_past before
	                * the reply goes; "" otherwise */
} core_reply;

/* One event to publish to consoles after the commit. */
typedef struct core_pub {
	const char *topic; /* static: pending resolved session posture policy
	                    * health */
	json_t *msg;       /* owned */
} core_pub;

/* A change of live state that takes effect once its audit row is written
 * (core_engine_committed), and never if it is not. */
typedef struct core_change {
	enum { CORE_CHANGE_POSTURE, CORE_CHANGE_TRUST,
		CORE_CHANGE_POLICY } kind;
	char *session;    /* owned: the session whose trust changes */
	int trust;
	char posture[16];
	pol_set *pol;     /* owned until it is in force */
} core_change;

/* A request whose outcome rides on this commit. */
typedef struct core_fx_req {
	char request[40];
	json_t *event; /* borrowed from fx->events */
} core_fx_req;

/* Effects of one or more engine calls, carried out in order. */
typedef struct core_fx {
	json_t *events;   /* owned array of audit events (objects) */
	core_reply *replies;
	size_t reply_count, reply_cap;
	core_pub *pubs;
	size_t pub_count, pub_cap;
	core_fx_req *reqs;
	size_t req_count, req_cap;
	core_change *changes;
	size_t change_count, change_cap;
	bool fallback;    /* produced by core_engine_audit_failed: on a second
	                   * failure reply without auditing */
} core_fx;

/* core_fx_init prepares empty effects; core_fx_fini frees them. */
void core_fx_init(core_fx *fx);
void core_fx_fini(core_fx *fx);

/* core_fx_empty reports whether fx holds nothing to do. */
bool core_fx_empty(const core_fx *fx);

/* Looks up a past decision (for status after a restart or eviction):
 * returns a new reference to the stored decision event or NULL. */
typedef json_t *(*core_lookup_fn)(void *ud, const char *request);

/* Reloads the policy: returns a newly compiled policy or NULL with a new
 * *cause. */
typedef pol_set *(*core_reload_fn)(void *ud, char **cause);

/* core_engine_new creates an engine. cfg is borrowed and must outlive the
 * engine; pol is stolen; key is copied. Returns NULL on OOM. */
core_engine *core_engine_new(const core_cfg *cfg, pol_set *pol,
    const unsigned char *key, size_t key_len);

/* core_engine_free frees the engine; NULL is a no-op. */
void core_engine_free(core_engine *eng);

/* core_engine_set_hooks installs the store lookup and policy reload. */
void core_engine_set_hooks(core_engine *eng, core_lookup_fn lookup,
    core_reload_fn reload, void *ud);

/* core_engine_agent_msg handles one frame from an agent that arrived on
 * handle. It always produces exactly one reply for handle, now or later
 * (a parked call), unless the same handle is parked. */
void core_engine_agent_msg(core_engine *eng, const char *buf, size_t len,
    uint64_t handle, int64_t now_ms, int64_t now_mono_ms, core_fx *fx);

/* core_engine_control_msg handles one frame from an operator connection
 * whose identity is operator_name (from the peer's credentials). It always
 * produces exactly one reply for handle. */
void core_engine_control_msg(core_engine *eng, const char *operator_name,
    const char *buf, size_t len, uint64_t handle, int64_t now_ms,
    int64_t now_mono_ms, core_fx *fx);

/* core_engine_tick applies deadlines: timed-out approvals and agents whose
 * wait ran out. */
void core_engine_tick(core_engine *eng, int64_t now_ms, int64_t now_mono_ms,
    core_fx *fx);

/* core_engine_next_wake returns the monotonic time of the next deadline,
 * or INT64_MAX. */
int64_t core_engine_next_wake(core_engine *eng);

/* core_engine_policy_changed records a reload attempt by who: pol (stolen)
 * is the new policy, or NULL with error saying why the old one stays. */
void core_engine_policy_changed(core_engine *eng, pol_set *pol,
    const char *error, const char *who, int64_t now_ms, core_fx *fx);

/* core_engine_close_stale closes a call left pending by a previous run
 * (its "pending" audit event) as deny, by error, reason "restart". */
void core_engine_close_stale(core_engine *eng, const json_t *pending_event,
    int64_t now_ms, core_fx *fx);

/* core_engine_remember loads one past decision event from the audit
 * store at start-up: a resent call is answered with it, status finds it,
 * and its token id's use counts. Oldest first. */
void core_engine_remember(core_engine *eng, const json_t *ev, int64_t now_ms);

/* core_engine_shutdown closes every pending call as deny, by error,
 * reason "shutdown", answering the agents parked on them. */
void core_engine_shutdown(core_engine *eng, int64_t now_ms, core_fx *fx);

/* core_engine_committed is called after fx's events are durable: past
 * decisions remember their audit seq, and fx's changes (posture, trust,
 * policy) take effect, in order. */
void core_engine_committed(core_engine *eng, core_fx *fx);

/* core_engine_committed_many does the same for the n effects of one
 * commit, in order, under one hold of the engine's lock. */
void core_engine_committed_many(core_engine *eng, core_fx *const *fxs,
    size_t n);

/* core_engine_settle_past fixes, just before fx's replies are sent, each
 * one that answers from a decision not yet committed when it was made
 * (core_reply.past): as that decision now stands if its row is durable,
 * or it is a deny; else "pending", so that no allow goes out before its
 * row, and none whose row then failed. */
void core_engine_settle_past(core_engine *eng, core_fx *fx);

/* core_engine_audit_failed is called when fx's events could not be
 * written: every outcome in fx becomes a deny (by error, reason
 * audit_unavailable), the replies in fx are rewritten in place, and calls
 * that were escalated are closed; fx's changes are dropped, a session
 * grant or an approval it made is taken back (a revoke stays: it only
 * takes away); follow-up effects go to out. */
void core_engine_audit_failed(core_engine *eng, core_fx *fx,
    int64_t now_ms, core_fx *out);

/* core_engine_pending_count returns the number of waiting calls. */
size_t core_engine_pending_count(core_engine *eng);

/* core_engine_policy_version returns the version string in force. */
const char *core_engine_policy_version(core_engine *eng);

#endif
