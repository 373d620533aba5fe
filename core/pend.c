/* pend.c: the pending queue, indexed by request id.
 * SPDX-License-Identifier: MIT */
#include "pend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

struct core_pend_q {
	core_map *by_request;
	size_t max_count;
	uint64_t next_order;
};

core_pend_q *
core_pend_q_new(size_t max_count)
{
	core_pend_q *q;

	if ((q = calloc(1, sizeof *q)) == NULL)
		return NULL;
	if ((q->by_request = core_map_new()) == NULL) {
		free(q);
		return NULL;
	}
	q->max_count = max_count;
	return q;
}

void
core_pend_free(core_pend *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->approved_count; i++)
		free(p->approved_by[i]);
	json_decref(p->info);
	free(p->dedup_key);
	free(p->user);
	free(p->session);
	free(p->tool);
	free(p);
}

/* core_map_each callback freeing an item. */
static bool
pend_free_cb(void *ud, const char *key, void *value)
{
	(void) ud;
	(void) key;
	core_pend_free(value);
	return true;
}

void
core_pend_q_free(core_pend_q *q)
{
	if (q == NULL)
		return;
	core_map_each(q->by_request, pend_free_cb, NULL);
	core_map_free(q->by_request);
	free(q);
}

cs_err
core_pend_add(core_pend_q *q, const char *request, json_t *info,
    const char *user, const char *session, const char *tool,
    const char *args_digest, int approvers_needed, int on_timeout,
    int64_t now_mono_ms, int64_t now_ms, int64_t timeout_ms,
    core_pend **out)
{
	core_pend *p;

	if (strlen(request) >= sizeof p->request) {
		json_decref(info);
		return CS_EINVAL;
	}
	if (core_map_get(q->by_request, request) != NULL) {
		json_decref(info);
		return CS_EEXISTS;
	}
	if (core_map_count(q->by_request) >= q->max_count) {
		json_decref(info);
		return CS_EFULL;
	}
	if ((p = calloc(1, sizeof *p)) == NULL) {
		json_decref(info);
		return CS_ENOMEM;
	}
	memcpy(p->request, request, strlen(request) + 1);
	p->info = info;
	p->user = strdup(user != NULL ? user : "");
	p->session = strdup(session != NULL ? session : "");
	p->tool = strdup(tool != NULL ? tool : "");
	if (p->user == NULL || p->session == NULL || p->tool == NULL)
		goto fail;
	snprintf(p->args_digest, sizeof p->args_digest, "%s",
	    args_digest != NULL ? args_digest : "");
	p->approvers_needed = approvers_needed < 1 ? 1 :
	    approvers_needed > CORE_PEND_MAX_APPROVERS ?
	    CORE_PEND_MAX_APPROVERS : approvers_needed;
	p->on_timeout = on_timeout;
	p->created_mono_ms = now_mono_ms;
	p->deadline_mono_ms = now_mono_ms + timeout_ms;
	p->deadline_ms = now_ms + timeout_ms;
	p->order = q->next_order++;
	if (core_map_put(q->by_request, request, p, NULL) != CS_OK)
		goto fail;
	*out = p;
	return CS_OK;
fail:
	core_pend_free(p);
	return CS_ENOMEM;
}

core_pend *
core_pend_get(core_pend_q *q, const char *request)
{
	return core_map_get(q->by_request, request);
}

core_pend *
core_pend_take(core_pend_q *q, const char *request)
{
	return core_map_del(q->by_request, request);
}

size_t
core_pend_count(const core_pend_q *q)
{
	return core_map_count(q->by_request);
}

cs_err
core_pend_approve(core_pend *p, const char *operator_name, bool *met)
{
	if (strcmp(operator_name, p->user) == 0)
		return CS_EDENIED;
	for (int i = 0; i < p->approved_count; i++)
		if (strcmp(p->approved_by[i], operator_name) == 0)
			return CS_EEXISTS;
	if (p->approved_count >= CORE_PEND_MAX_APPROVERS)
		return CS_EFULL;
	if ((p->approved_by[p->approved_count] = strdup(operator_name)) ==
	    NULL)
		return CS_ENOMEM;
	p->approved_count++;
	*met = p->approved_count >= p->approvers_needed;
	return CS_OK;
}

void
core_pend_unapprove(core_pend *p, const char *operator_name)
{
	for (int i = 0; i < p->approved_count; i++) {
		if (strcmp(p->approved_by[i], operator_name) != 0)
			continue;
		free(p->approved_by[i]);
		memmove(&p->approved_by[i], &p->approved_by[i + 1],
		    (size_t) (p->approved_count - i - 1) *
		    sizeof p->approved_by[0]);
		p->approved_count--;
		p->approved_by[p->approved_count] = NULL;
		return;
	}
}

cs_err
core_pend_add_waiter(core_pend *p, uint64_t handle, int64_t until_mono_ms)
{
	if (p->waiter_count >= CORE_PEND_MAX_WAITERS)
		return CS_EFULL;
	p->waiters[p->waiter_count].handle = handle;
	p->waiters[p->waiter_count].until_mono_ms = until_mono_ms;
	p->waiter_count++;
	return CS_OK;
}

struct pend_scan {
	int64_t now;
	char (*out)[40];
	int64_t *deadlines;
	size_t max, n;
	int64_t next;
};

/* Collect expired items, keeping the max earliest by deadline. */
static bool
pend_expired_cb(void *ud, const char *key, void *value)
{
	struct pend_scan *sc = ud;
	core_pend *p = value;
	size_t i;

	(void) key;
	if (p->deadline_mono_ms > sc->now)
		return true;
	if (sc->n == sc->max &&
	    p->deadline_mono_ms >= sc->deadlines[sc->n - 1])
		return true;
	i = sc->n < sc->max ? sc->n++ : sc->n - 1;
	/* insertion into the sorted prefix */
	while (i > 0 && sc->deadlines[i - 1] > p->deadline_mono_ms) {
		sc->deadlines[i] = sc->deadlines[i - 1];
		memcpy(sc->out[i], sc->out[i - 1], 40);
		i--;
	}
	sc->deadlines[i] = p->deadline_mono_ms;
	memcpy(sc->out[i], p->request, 40);
	return true;
}

size_t
core_pend_expired(core_pend_q *q, int64_t now_mono_ms, char (*out)[40],
    size_t max)
{
	struct pend_scan sc = { .now = now_mono_ms, .out = out, .max = max };

	if (max == 0 || (sc.deadlines = calloc(max, sizeof *sc.deadlines)) ==
	    NULL)
		return 0;
	core_map_each(q->by_request, pend_expired_cb, &sc);
	free(sc.deadlines);
	return sc.n;
}

/* Track the earliest deadline or waiter time. */
static bool
pend_next_cb(void *ud, const char *key, void *value)
{
	struct pend_scan *sc = ud;
	core_pend *p = value;

	(void) key;
	if (p->deadline_mono_ms < sc->next)
		sc->next = p->deadline_mono_ms;
	for (int i = 0; i < p->waiter_count; i++)
		if (p->waiters[i].until_mono_ms < sc->next)
			sc->next = p->waiters[i].until_mono_ms;
	return true;
}

int64_t
core_pend_next_deadline(const core_pend_q *q)
{
	struct pend_scan sc = { .next = INT64_MAX };

	core_map_each(q->by_request, pend_next_cb, &sc);
	return sc.next;
}

struct pend_list {
	core_pend **items;
	size_t n;
};

/* Collect every item. */
static bool
pend_list_cb(void *ud, const char *key, void *value)
{
	struct pend_list *l = ud;

	(void) key;
	l->items[l->n++] = value;
	return true;
}

/* Oldest first. */
static int
pend_order_cmp(const void *a, const void *b)
{
	const core_pend *x = *(core_pend *const *) a;
	const core_pend *y = *(core_pend *const *) b;

	return x->order < y->order ? -1 : x->order > y->order;
}

core_pend **
core_pend_list(core_pend_q *q, size_t *count)
{
	struct pend_list l = { 0 };

	if ((l.items = calloc(core_map_count(q->by_request) + 1,
	    sizeof *l.items)) == NULL)
		return NULL;
	core_map_each(q->by_request, pend_list_cb, &l);
	qsort(l.items, l.n, sizeof *l.items, pend_order_cmp);
	*count = l.n;
	return l.items;
}

json_t *
core_pend_to_json(const core_pend *p)
{
	json_t *o, *approvals;

	if ((o = json_deep_copy(p->info)) == NULL)
		return NULL;
	if ((approvals = json_array()) == NULL) {
		json_decref(o);
		return NULL;
	}
	for (int i = 0; i < p->approved_count; i++)
		json_array_append_new(approvals, json_string(p->approved_by[i]));
	json_object_set_new(o, "request", json_string(p->request));
	json_object_set_new(o, "deadline", json_integer(p->deadline_ms));
	json_object_set_new(o, "approvals", approvals);
	json_object_set_new(o, "approvers", json_integer(p->approvers_needed));
	return o;
}
