/* pend.h: the pending queue: calls waiting for operators, with deadlines,
 * quorum approvals and the agents parked on them. Bounded.
 * SPDX-License-Identifier: MIT */
#ifndef CORE_PEND_H
#define CORE_PEND_H

#include "cs.h"

#define CORE_PEND_MAX_APPROVERS 8
#define CORE_PEND_MAX_WAITERS 8

/* An agent connection parked on a pending call. */
typedef struct core_waiter {
	uint64_t handle;       /* opaque transport handle */
	int64_t until_mono_ms; /* reply "pending" at this time */
} core_waiter;

typedef struct core_pend {
	char request[40];          /* request id */
	json_t *info;              /* owned: the call's full context */
	char *user;                /* owned: delegating human (no self-approve) */
	char *session;             /* owned */
	char *tool;                /* owned */
	char args_digest[72];
	int approvers_needed;      /* >= 1 */
	char *approved_by[CORE_PEND_MAX_APPROVERS]; /* owned names */
	int approved_count;
	int on_timeout;            /* pol_decision to apply at the deadline */
	int64_t created_mono_ms;
	int64_t deadline_mono_ms;
	int64_t deadline_ms;       /* wall time, for display */
	core_waiter waiters[CORE_PEND_MAX_WAITERS];
	int waiter_count;
	uint64_t order;            /* insertion order, for oldest-first */
	char *dedup_key;           /* owned, may be NULL: the replay key */
} core_pend;

typedef struct core_pend_q core_pend_q;

/* core_pend_q_new returns a queue bounded at max_count items. */
core_pend_q *core_pend_q_new(size_t max_count);

/* core_pend_q_free frees the queue and any items still in it. */
void core_pend_q_free(core_pend_q *q);

/* core_pend_add creates an item for request (info is stolen, also on
 * failure). CS_EFULL when the queue is at its bound, CS_EEXISTS when the
 * request id is already pending. */
cs_err core_pend_add(core_pend_q *q, const char *request, json_t *info,
    const char *user, const char *session, const char *tool,
    const char *args_digest, int approvers_needed, int on_timeout,
    int64_t now_mono_ms, int64_t now_ms, int64_t timeout_ms,
    core_pend **out);

/* core_pend_get returns the pending item for request, or NULL. */
core_pend *core_pend_get(core_pend_q *q, const char *request);

/* core_pend_take removes the item for request from the queue and returns
 * it (the caller frees it with core_pend_free), or NULL. */
core_pend *core_pend_take(core_pend_q *q, const char *request);

/* core_pend_free frees an item taken from the queue; NULL is a no-op. */
void core_pend_free(core_pend *p);

/* core_pend_count returns the number of pending items. */
size_t core_pend_count(const core_pend_q *q);

/* core_pend_approve records one operator's approval. CS_EEXISTS when that
 * operator already approved (one operator counts once), CS_EDENIED when the
 * operator is the delegating human. *met says whether the quorum is now
 * reached. */
cs_err core_pend_approve(core_pend *p, const char *operator_name,
    bool *met);

/* core_pend_unapprove takes back operator_name's approval, if recorded
 * (its audit row could not be written). */
void core_pend_unapprove(core_pend *p, const char *operator_name);

/* core_pend_add_waiter parks one more agent connection on p. CS_EFULL when
 * CORE_PEND_MAX_WAITERS are already parked. */
cs_err core_pend_add_waiter(core_pend *p, uint64_t handle,
    int64_t until_mono_ms);

/* core_pend_expired fills out with up to max request ids (copied) of items
 * whose deadline is <= now_mono_ms, oldest deadline first; returns how many. */
size_t core_pend_expired(core_pend_q *q, int64_t now_mono_ms,
    char (*out)[40], size_t max);

/* core_pend_next_deadline returns the earliest deadline or waiter time in
 * the queue, or INT64_MAX when empty. */
int64_t core_pend_next_deadline(const core_pend_q *q);

/* core_pend_list returns a new array of items, oldest first (borrowed
 * pointers, valid until the queue changes); *count is the length. */
core_pend **core_pend_list(core_pend_q *q, size_t *count);

/* core_pend_to_json returns a new object for consoles: info plus request,
 * deadline, approvals and quorum. */
json_t *core_pend_to_json(const core_pend *p);

#endif
