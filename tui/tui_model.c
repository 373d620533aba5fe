/* tui_model.c: the console's state, fed by hello snapshots and events.
 * SPDX-License-Identifier: MIT */
#include "tui_model.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Abort on OOM: only the console may (STYLE §4). */
static void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		abort();
	return q;
}

/* A new copy of s; abort on OOM. NULL stays NULL. */
static char *
xstrdup(const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		abort();
	return d;
}

/* Replace *dst with a copy of src. */
static void
set_str(char **dst, const char *src)
{
	char *n = xstrdup(src);

	free(*dst);
	*dst = n;
}

const char *
tui_json_str(const json_t *o, const char *key, const char *fallback)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : fallback;
}

/* An integer member (reals are truncated), or fallback. */
static int64_t
json_int(const json_t *o, const char *key, int64_t fallback)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return (int64_t) json_integer_value(v);
	if (json_is_real(v))
		return (int64_t) json_real_value(v);
	return fallback;
}

const char *
tui_trust_name(int level)
{
	static const char *const names[] = { "quarantined", "low", "standard",
		"elevated", "trusted" };

	return level >= 0 && level <= 4 ? names[level] : "?";
}

/* ---- lifecycle -------------------------------------------------------- */

tui_model *
tui_model_new(void)
{
	tui_model *m = calloc(1, sizeof *m);

	if (m == NULL)
		return NULL;
	if ((m->item_index = core_map_new()) == NULL) {
		free(m);
		return NULL;
	}
	m->conn = TUI_CONN_CONNECTING;
	return m;
}

/* Free one item. */
static void
item_free(tui_item *it)
{
	if (it == NULL)
		return;
	free(it->request);
	json_decref(it->raw);
	free(it);
}

/* Free one session. */
static void
sess_free(tui_sess *s)
{
	if (s == NULL)
		return;
	free(s->session);
	json_decref(s->raw);
	free(s);
}

/* Free one history row's strings. */
static void
hist_row_fini(tui_hist_row *r)
{
	free(r->kind);
	free(r->decision);
	free(r->by);
	free(r->tool);
	free(r->agent);
	free(r->session);
	free(r->what);
}

void
tui_model_free(tui_model *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->item_count; i++)
		item_free(m->items[i]);
	free(m->items);
	core_map_free(m->item_index);
	free(m->shown);
	free(m->queue_sel_id);
	tui_filter_fini(&m->queue_filter);
	free(m->queue_filter_text);
	for (size_t i = 0; i < m->sess_count; i++)
		sess_free(m->sessions[i]);
	free(m->sessions);
	free(m->sess_shown);
	free(m->sess_sel_id);
	tui_filter_fini(&m->sess_filter);
	free(m->sess_filter_text);
	tui_model_hist_clear(m);
	free(m->hist);
	tui_filter_fini(&m->hist_filter);
	free(m->hist_filter_text);
	free(m->operator_name);
	free(m->posture);
	free(m->policy);
	free(m->health);
	free(m);
}

/* ---- filters ---------------------------------------------------------- */

void
tui_filter_fini(tui_filter *f)
{
	free(f->tool);
	free(f->agent);
	free(f->user);
	free(f->session);
	free(f->decision);
	free(f->kind);
	free(f->request);
	free(f->text);
	memset(f, 0, sizeof *f);
}

cs_err
tui_filter_parse(const char *text, tui_filter *f)
{
	static const char *const keys[] = { "tool", "agent", "user", "session",
		"decision", "kind", "request" };
	char *copy, *save = NULL, *word;
	size_t text_len = 0;

	memset(f, 0, sizeof *f);
	if (text == NULL || (copy = strdup(text)) == NULL)
		return text == NULL ? CS_OK : CS_ENOMEM;
	for (word = strtok_r(copy, " \t", &save); word != NULL;
	    word = strtok_r(NULL, " \t", &save)) {
		char **fields[] = { &f->tool, &f->agent, &f->user, &f->session,
			&f->decision, &f->kind, &f->request };
		char *colon = strchr(word, ':');
		size_t i = CS_ARRAY_LEN(keys);

		if (colon != NULL && colon[1] != '\0')
			for (i = 0; i < CS_ARRAY_LEN(keys); i++)
				if ((size_t) (colon - word) ==
				    strlen(keys[i]) && strncasecmp(word,
				    keys[i], strlen(keys[i])) == 0)
					break;
		if (i < CS_ARRAY_LEN(keys)) {
			set_str(fields[i], colon + 1);
			continue;
		}
		f->text = xrealloc(f->text, text_len + strlen(word) + 2);
		if (text_len > 0)
			f->text[text_len++] = ' ';
		memcpy(f->text + text_len, word, strlen(word) + 1);
		text_len += strlen(word);
	}
	free(copy);
	return CS_OK;
}

/* Case-insensitive substring test (ASCII folding). */
static bool
contains_icase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (hay == NULL)
		return false;
	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return n == 0;
}

/* A key filter: NULL passes; otherwise a glob match. */
static bool
key_ok(const char *want, const char *have)
{
	return want == NULL || cs_glob_match(want, have != NULL ? have : "");
}

bool
tui_filter_match_item(const tui_filter *f, const tui_item *it)
{
	const char *fields[] = { it->request, it->tool, it->agent, it->user,
		it->session, it->rule, it->risk,
		tui_json_str(it->raw, "purpose", NULL),
		tui_json_str(it->raw, "reason", NULL) };
	char *args;
	bool hit = false;

	if (!key_ok(f->tool, it->tool) || !key_ok(f->agent, it->agent) ||
	    !key_ok(f->user, it->user) || !key_ok(f->session, it->session) ||
	    !key_ok(f->request, it->request))
		return false;
	if (f->text == NULL)
		return true;
	for (size_t i = 0; i < CS_ARRAY_LEN(fields); i++)
		if (contains_icase(fields[i], f->text))
			return true;
	args = json_dumps(json_object_get(it->raw, "args"),
	    JSON_COMPACT | JSON_ENCODE_ANY);
	hit = contains_icase(args, f->text);
	free(args);
	return hit;
}

bool
tui_filter_match_sess(const tui_filter *f, const tui_sess *s)
{
	const char *fields[] = { s->session, s->user, s->agent, s->purpose };

	if (!key_ok(f->agent, s->agent) || !key_ok(f->user, s->user) ||
	    !key_ok(f->session, s->session))
		return false;
	if (f->text == NULL)
		return true;
	for (size_t i = 0; i < CS_ARRAY_LEN(fields); i++)
		if (contains_icase(fields[i], f->text))
			return true;
	return false;
}

/* ---- the queue -------------------------------------------------------- */

/* Most urgent first: earliest deadline, then oldest, then by id (a total
 * order, since request ids are unique). */
static int
item_order(const tui_item *x, const tui_item *y)
{
	if (x->deadline_ms != y->deadline_ms)
		return x->deadline_ms < y->deadline_ms ? -1 : 1;
	if (x->received_ms != y->received_ms)
		return x->received_ms < y->received_ms ? -1 : 1;
	return strcmp(x->request, y->request);
}

/* qsort order for tui_item pointers. */
static int
item_cmp(const void *a, const void *b)
{
	return item_order(*(tui_item *const *) a, *(tui_item *const *) b);
}

/* The first index of list (count items in queue order) whose item does
 * not come before it: where it is, or would go. */
static size_t
item_lower_bound(tui_item *const *list, size_t count, const tui_item *it)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (item_order(list[mid], it) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Insert it into *list at its place in queue order, growing *cap. */
static void
list_insert(tui_item ***list, size_t *count, size_t *cap, tui_item *it)
{
	size_t at = item_lower_bound(*list, *count, it);

	if (*count == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*list = xrealloc(*list, *cap * sizeof **list);
	}
	memmove(&(*list)[at + 1], &(*list)[at], (*count - at) * sizeof **list);
	(*list)[at] = it;
	(*count)++;
}

/* Drop it from list when there (found by its sort keys, which must not
 * have changed since it was inserted). */
static void
list_remove(tui_item **list, size_t *count, const tui_item *it)
{
	size_t at = item_lower_bound(list, *count, it);

	if (at == *count || list[at] != it)
		return;
	memmove(&list[at], &list[at + 1], (*count - at - 1) * sizeof *list);
	(*count)--;
}

/* Add it to the queue in order, and to the rows shown when it passes the
 * filter (each item is tested once, as it arrives). */
static void
queue_place(tui_model *m, tui_item *it)
{
	list_insert(&m->items, &m->item_count, &m->item_cap, it);
	if (tui_filter_match_item(&m->queue_filter, it))
		list_insert(&m->shown, &m->shown_count, &m->shown_cap, it);
}

/* Take it out of the queue and the rows shown. */
static void
queue_unplace(tui_model *m, const tui_item *it)
{
	list_remove(m->items, &m->item_count, it);
	list_remove(m->shown, &m->shown_count, it);
}

/* Filter every item again (a new filter or a new snapshot). */
static void
queue_refilter(tui_model *m)
{
	if (m->shown_cap < m->item_count) {
		m->shown_cap = m->item_count;
		m->shown = xrealloc(m->shown, m->shown_cap * sizeof *m->shown);
	}
	m->shown_count = 0;
	for (size_t i = 0; i < m->item_count; i++)
		if (tui_filter_match_item(&m->queue_filter, m->items[i]))
			m->shown[m->shown_count++] = m->items[i];
}

/* Put the cursor back on the item it followed; when that one is gone or
 * filtered out, stay at row keep (the cursor's row before the change). */
static void
queue_follow(tui_model *m, size_t keep)
{
	const tui_item *it;
	size_t at;

	if (m->queue_sel_id != NULL && (it = core_map_get(m->item_index,
	    m->queue_sel_id)) != NULL) {
		at = item_lower_bound(m->shown, m->shown_count, it);
		if (at < m->shown_count && m->shown[at] == it) {
			m->queue_sel = at;
			return;
		}
	}
	m->queue_sel = m->shown_count == 0 ? 0 : keep < m->shown_count ? keep :
	    m->shown_count - 1;
	set_str(&m->queue_sel_id, m->shown_count == 0 ? NULL :
	    m->shown[m->queue_sel]->request);
}

/* Fill an item's fields from its JSON (raw must be set). */
static void
item_fields(tui_item *it)
{
	const json_t *r = it->raw;

	it->tool = tui_json_str(r, "tool", "");
	it->agent = tui_json_str(r, "agent", "");
	it->user = tui_json_str(r, "user", "");
	it->session = tui_json_str(r, "session", "");
	it->risk = tui_json_str(r, "risk", "");
	it->rule = tui_json_str(r, "rule", "");
	it->received_ms = json_int(r, "received", 0);
	it->deadline_ms = json_int(r, "deadline", INT64_MAX);
	it->token_exp_s = json_int(r, "token_exp", 0);
	it->trust = (int) json_int(r, "trust", -1);
	it->approvers = (int) json_int(r, "approvers", 1);
	it->approvals = (int) json_array_size(json_object_get(r, "approvals"));
	it->new_tool = json_is_true(json_object_get(r, "new_tool"));
}

tui_item *
tui_model_find_item(const tui_model *m, const char *request)
{
	return core_map_get(m->item_index, request);
}

/* Insert or replace an item. With in_order, it goes to its place in the
 * queue and the rows shown; without, it is appended to items and the
 * caller sorts and filters afterwards (a snapshot). */
static cs_err
put_item(tui_model *m, const json_t *item, bool in_order)
{
	const char *request = tui_json_str(item, "request", NULL);
	tui_item *it;
	json_t *raw;

	if (!json_is_object(item) || request == NULL || *request == '\0')
		return CS_EINVAL;
	if ((raw = json_deep_copy(item)) == NULL)
		abort();
	if ((it = tui_model_find_item(m, request)) != NULL) {
		/* out under the old sort keys, back in under the new */
		if (in_order)
			queue_unplace(m, it);
		json_decref(it->raw);
		it->raw = raw;
		item_fields(it);
		if (in_order)
			queue_place(m, it);
		return CS_OK;
	}
	if ((it = calloc(1, sizeof *it)) == NULL)
		abort();
	it->request = xstrdup(request);
	it->raw = raw;
	item_fields(it);
	if (core_map_put(m->item_index, it->request, it, NULL) != CS_OK)
		abort();
	if (in_order) {
		queue_place(m, it);
	} else {
		if (m->item_count == m->item_cap) {
			m->item_cap = m->item_cap ? m->item_cap * 2 : 16;
			m->items = xrealloc(m->items,
			    m->item_cap * sizeof *m->items);
		}
		m->items[m->item_count++] = it;
	}
	return CS_OK;
}

cs_err
tui_model_put_item(tui_model *m, const json_t *item)
{
	size_t keep = m->queue_sel;
	cs_err rv = put_item(m, item, true);

	if (rv == CS_OK)
		queue_follow(m, keep);
	return rv;
}

bool
tui_model_remove_item(tui_model *m, const char *request)
{
	size_t keep = m->queue_sel;
	tui_item *it = core_map_del(m->item_index, request);

	if (it == NULL)
		return false;
	queue_unplace(m, it);
	item_free(it);
	queue_follow(m, keep);
	return true;
}

tui_item *
tui_model_queue_selected(const tui_model *m)
{
	if (m->shown_count == 0 || m->queue_sel >= m->shown_count)
		return NULL;
	return m->shown[m->queue_sel];
}

/* Move an index within count rows by delta, with the ends as limits. */
static size_t
move_index(size_t at, size_t count, long delta)
{
	long long target;

	if (count == 0)
		return 0;
	if (delta == INT32_MIN)
		return 0;
	if (delta == INT32_MAX)
		return count - 1;
	target = (long long) at + delta;
	if (target < 0)
		target = 0;
	if (target >= (long long) count)
		target = (long long) count - 1;
	return (size_t) target;
}

void
tui_model_queue_move(tui_model *m, long delta)
{
	m->queue_sel = move_index(m->queue_sel, m->shown_count, delta);
	set_str(&m->queue_sel_id, m->shown_count == 0 ? NULL :
	    m->shown[m->queue_sel]->request);
}

/* ---- sessions --------------------------------------------------------- */

/* Oldest session first (a stable order under refreshes), then by id. */
static int
sess_cmp(const void *a, const void *b)
{
	const tui_sess *x = *(tui_sess *const *) a;
	const tui_sess *y = *(tui_sess *const *) b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return strcmp(x->session, y->session);
}

/* Sort, filter and keep the cursor on its session. */
static void
sess_rebuild(tui_model *m)
{
	size_t keep = m->sess_sel;

	if (m->sess_count > 1)
		qsort(m->sessions, m->sess_count, sizeof *m->sessions,
		    sess_cmp);
	m->sess_shown = xrealloc(m->sess_shown,
	    (m->sess_count + 1) * sizeof *m->sess_shown);
	m->sess_shown_count = 0;
	for (size_t i = 0; i < m->sess_count; i++)
		if (tui_filter_match_sess(&m->sess_filter, m->sessions[i]))
			m->sess_shown[m->sess_shown_count++] = i;
	if (m->sess_sel_id != NULL)
		for (size_t i = 0; i < m->sess_shown_count; i++)
			if (strcmp(m->sessions[m->sess_shown[i]]->session,
			    m->sess_sel_id) == 0) {
				m->sess_sel = i;
				return;
			}
	m->sess_sel = m->sess_shown_count == 0 ? 0 :
	    keep < m->sess_shown_count ? keep : m->sess_shown_count - 1;
	set_str(&m->sess_sel_id, m->sess_shown_count == 0 ? NULL :
	    m->sessions[m->sess_shown[m->sess_sel]]->session);
}

tui_sess *
tui_model_find_session(const tui_model *m, const char *session)
{
	for (size_t i = 0; i < m->sess_count; i++)
		if (strcmp(m->sessions[i]->session, session) == 0)
			return m->sessions[i];
	return NULL;
}

/* Fill a session's fields from raw. */
static void
sess_fields(tui_sess *s)
{
	const json_t *r = s->raw;

	s->user = tui_json_str(r, "user", "");
	s->agent = tui_json_str(r, "agent", "");
	s->purpose = tui_json_str(r, "purpose", "");
	s->trust = (int) json_int(r, "trust", -1);
	s->calls = json_int(r, "calls", 0);
	s->denials = json_int(r, "denials", 0);
	s->created_ms = json_int(r, "created", 0);
	s->last_ms = json_int(r, "last", 0);
}

/* Insert or replace a session without rebuilding. */
static cs_err
put_session(tui_model *m, const json_t *sess)
{
	const char *id = tui_json_str(sess, "session", NULL);
	tui_sess *s;
	json_t *raw;

	if (!json_is_object(sess) || id == NULL)
		return CS_EINVAL;
	if ((raw = json_deep_copy(sess)) == NULL)
		abort();
	if ((s = tui_model_find_session(m, id)) != NULL) {
		json_decref(s->raw);
		s->raw = raw;
		sess_fields(s);
		return CS_OK;
	}
	if ((s = calloc(1, sizeof *s)) == NULL)
		abort();
	s->session = xstrdup(id);
	s->raw = raw;
	sess_fields(s);
	if (m->sess_count == m->sess_cap) {
		m->sess_cap = m->sess_cap ? m->sess_cap * 2 : 16;
		m->sessions = xrealloc(m->sessions,
		    m->sess_cap * sizeof *m->sessions);
	}
	m->sessions[m->sess_count++] = s;
	return CS_OK;
}

cs_err
tui_model_put_session(tui_model *m, const json_t *sess)
{
	cs_err rv = put_session(m, sess);

	if (rv == CS_OK)
		sess_rebuild(m);
	return rv;
}

tui_sess *
tui_model_sess_selected(const tui_model *m)
{
	if (m->sess_shown_count == 0 || m->sess_sel >= m->sess_shown_count)
		return NULL;
	return m->sessions[m->sess_shown[m->sess_sel]];
}

void
tui_model_sess_move(tui_model *m, long delta)
{
	m->sess_sel = move_index(m->sess_sel, m->sess_shown_count, delta);
	set_str(&m->sess_sel_id, m->sess_shown_count == 0 ? NULL :
	    m->sessions[m->sess_shown[m->sess_sel]]->session);
}

/* ---- snapshot and events ---------------------------------------------- */

int
tui_model_apply_hello(tui_model *m, const json_t *reply, int64_t now_ms)
{
	const json_t *pending = json_object_get(reply, "pending");
	const json_t *sessions = json_object_get(reply, "sessions");
	const json_t *v;
	size_t i, keep = m->queue_sel;
	int chg = TUI_CHG_QUEUE | TUI_CHG_SESSIONS | TUI_CHG_STATUS;

	if (!json_is_object(reply) || !json_is_array(pending) ||
	    !json_is_array(sessions))
		return -1;
	for (i = 0; i < m->item_count; i++)
		item_free(m->items[i]);
	m->item_count = 0;
	core_map_free(m->item_index);
	if ((m->item_index = core_map_new()) == NULL)
		abort();
	json_array_foreach(pending, i, v)
		(void) put_item(m, v, false);
	if (m->item_count > 1)
		qsort(m->items, m->item_count, sizeof *m->items, item_cmp);
	queue_refilter(m);
	queue_follow(m, keep);
	for (i = 0; i < m->sess_count; i++)
		sess_free(m->sessions[i]);
	m->sess_count = 0;
	json_array_foreach(sessions, i, v)
		(void) put_session(m, v);
	v = json_object_get(reply, "sessions_total");
	m->sess_total = json_is_integer(v) && json_integer_value(v) >= 0 ?
	    (size_t) json_integer_value(v) : 0;
	sess_rebuild(m);
	if ((v = json_object_get(reply, "operator")) != NULL &&
	    json_is_string(v))
		set_str(&m->operator_name, json_string_value(v));
	if ((v = json_object_get(reply, "posture")) != NULL &&
	    json_is_string(v))
		set_str(&m->posture, json_string_value(v));
	if ((v = json_object_get(reply, "policy")) != NULL &&
	    json_is_string(v))
		set_str(&m->policy, json_string_value(v));
	if (json_is_integer(json_object_get(reply, "server_time")))
		m->clock_offset_ms = json_int(reply, "server_time", now_ms) -
		    now_ms;
	return chg;
}

int64_t
tui_model_server_now(const tui_model *m, int64_t now_ms)
{
	return now_ms + m->clock_offset_ms;
}

/* A resolved call leaves the queue, with a notice. */
static int
apply_resolved(tui_model *m, const json_t *ev, int64_t now_ms,
    int64_t now_mono_ms)
{
	const char *request = tui_json_str(ev, "request", NULL);
	const char *decision = tui_json_str(ev, "decision", "?");
	const char *by = tui_json_str(ev, "by", "?");
	const char *op = tui_json_str(ev, "operator", NULL);
	tui_item *it;
	bool allow = strcmp(decision, "allow") == 0;
	char tool[64];

	m->decided_count++;
	if (request == NULL || (it = tui_model_find_item(m, request)) == NULL)
		return TUI_CHG_HISTORY;
	if (strcmp(by, "operator") == 0 && it->received_ms > 0)
		tui_model_note_latency(m, tui_model_server_now(m, now_ms) -
		    it->received_ms);
	snprintf(tool, sizeof tool, "%s", it->tool);
	if (strcmp(by, "operator") == 0)
		tui_model_notice(m, allow ? TUI_GOOD : TUI_WARN, now_mono_ms, 5,
		    "%s %s: %s by %s", request, tool, allow ? "approved" :
		    "denied", op != NULL ? op : "an operator");
	else if (strcmp(by, "timeout") == 0)
		tui_model_notice(m, TUI_WARN, now_mono_ms, 5,
		    "%s %s: timed out, %s", request, tool, decision);
	else
		tui_model_notice(m, TUI_INFO, now_mono_ms, 5,
		    "%s %s: %s by %s", request, tool, decision, by);
	tui_model_remove_item(m, request);
	return TUI_CHG_QUEUE | TUI_CHG_HISTORY | TUI_CHG_STATUS |
	    TUI_CHG_NOTICE;
}

int
tui_model_apply_event(tui_model *m, const char *frame, size_t len,
    int64_t now_ms, int64_t now_mono_ms)
{
	const char *space = memchr(frame, ' ', len);
	char topic[16];
	size_t tlen;
	json_t *ev;
	json_error_t jerr;
	int chg = 0;

	if (space == NULL || (tlen = (size_t) (space - frame)) == 0 ||
	    tlen >= sizeof topic)
		return 0;
	memcpy(topic, frame, tlen);
	topic[tlen] = '\0';
	ev = json_loadb(space + 1, len - tlen - 1, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (ev == NULL || !json_is_object(ev)) {
		json_decref(ev);
		return 0;
	}
	if (strcmp(topic, "pending") == 0) {
		if (tui_model_put_item(m, ev) == CS_OK)
			chg = TUI_CHG_QUEUE | TUI_CHG_STATUS;
	} else if (strcmp(topic, "resolved") == 0) {
		chg = apply_resolved(m, ev, now_ms, now_mono_ms);
	} else if (strcmp(topic, "session") == 0) {
		if (tui_model_put_session(m, ev) == CS_OK)
			chg = TUI_CHG_SESSIONS | TUI_CHG_QUEUE;
	} else if (strcmp(topic, "posture") == 0) {
		const char *p = tui_json_str(ev, "posture", NULL);

		if (p != NULL) {
			set_str(&m->posture, p);
			tui_model_notice(m, strcmp(p, "normal") == 0 ?
			    TUI_INFO : TUI_WARN, now_mono_ms, 5,
			    "posture is now %s (set by %s)", p,
			    tui_json_str(ev, "operator", "?"));
			chg = TUI_CHG_STATUS | TUI_CHG_NOTICE;
		}
	} else if (strcmp(topic, "policy") == 0) {
		const char *p = tui_json_str(ev, "policy", NULL);

		if (json_is_true(json_object_get(ev, "ok")) && p != NULL) {
			set_str(&m->policy, p);
			tui_model_notice(m, TUI_INFO, now_mono_ms, 5,
			    "policy %s in force", p);
		} else {
			tui_model_notice(m, TUI_BAD, now_mono_ms, 10,
			    "policy reload rejected, the old one stays: %s",
			    tui_json_str(ev, "error", "unknown error"));
		}
		chg = TUI_CHG_STATUS | TUI_CHG_NOTICE;
	} else if (strcmp(topic, "health") == 0) {
		const char *audit = tui_json_str(ev, "audit", "ok");
		const char *msg = tui_json_str(ev, "message", audit);

		if (strcmp(audit, "ok") == 0) {
			set_str(&m->health, NULL);
			tui_model_notice(m, TUI_GOOD, now_mono_ms, 5, "%s", msg);
		} else {
			set_str(&m->health, msg);
			tui_model_notice(m, TUI_BAD, now_mono_ms, 10, "%s", msg);
		}
		chg = TUI_CHG_STATUS | TUI_CHG_NOTICE;
	}
	json_decref(ev);
	return chg;
}

int
tui_model_set_conn(tui_model *m, enum tui_conn conn, int64_t now_mono_ms)
{
	if (m->conn == conn)
		return 0;
	if (conn == TUI_CONN_DOWN)
		tui_model_notice(m, TUI_BAD, now_mono_ms, 3600,
		    "disconnected \xe2\x80\x94 retrying");
	else if (conn == TUI_CONN_UP && m->was_up)
		tui_model_notice(m, TUI_GOOD, now_mono_ms, 5, "reconnected");
	else if (conn == TUI_CONN_UP)
		tui_model_notice(m, TUI_GOOD, now_mono_ms, 3, "connected");
	if (conn == TUI_CONN_UP)
		m->was_up = true;
	m->conn = conn;
	return TUI_CHG_STATUS | TUI_CHG_NOTICE;
}

void
tui_model_notice(tui_model *m, enum tui_level level, int64_t now_mono_ms,
    int secs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->notice, sizeof m->notice, fmt, ap);
	va_end(ap);
	m->notice_level = level;
	m->notice_until_ms = now_mono_ms + (int64_t) secs * 1000;
}

/* ---- filters per list ------------------------------------------------- */

/* The first key set in f that list cannot filter on, or NULL: each list
 * filters on the fields its rows have (see tui_filter_match_item,
 * tui_filter_match_sess and the history's store filter). */
static const char *
filter_key_unused(const tui_filter *f, int list)
{
	const struct {
		const char *name;
		const char *value;
		unsigned lists; /* bit 0 queue, 1 sessions, 2 history */
	} keys[] = {
		{ "tool", f->tool, 1u | 4u }, { "agent", f->agent, 7u },
		{ "user", f->user, 1u | 2u }, { "session", f->session, 7u },
		{ "decision", f->decision, 4u }, { "kind", f->kind, 4u },
		{ "request", f->request, 1u | 4u },
	};

	for (size_t i = 0; i < CS_ARRAY_LEN(keys); i++)
		if (keys[i].value != NULL && !(keys[i].lists & (1u << list)))
			return keys[i].name;
	return NULL;
}

cs_err
tui_model_set_filter(tui_model *m, int list, const char *text,
    const char **unused)
{
	tui_filter *f = list == 0 ? &m->queue_filter : list == 1 ?
	    &m->sess_filter : &m->hist_filter;
	char **ftext = list == 0 ? &m->queue_filter_text : list == 1 ?
	    &m->sess_filter_text : &m->hist_filter_text;
	tui_filter nf;
	const char *key;
	cs_err rv;

	if (unused != NULL)
		*unused = NULL;
	if (text != NULL && *text == '\0')
		text = NULL;
	if ((rv = tui_filter_parse(text, &nf)) != CS_OK)
		return rv;
	if ((key = filter_key_unused(&nf, list)) != NULL) {
		/* a key this list has no field for would filter nothing:
		 * say so rather than look as if it applied */
		tui_filter_fini(&nf);
		if (unused != NULL)
			*unused = key;
		return CS_EINVAL;
	}
	tui_filter_fini(f);
	*f = nf;
	set_str(ftext, text);
	if (list == 0) {
		size_t keep = m->queue_sel;

		queue_refilter(m);
		queue_follow(m, keep);
	} else if (list == 1) {
		sess_rebuild(m);
	} else {
		tui_model_hist_clear(m);
	}
	return CS_OK;
}

/* ---- history cache ---------------------------------------------------- */

void
tui_model_hist_clear(tui_model *m)
{
	for (size_t i = 0; i < m->hist_count; i++)
		hist_row_fini(&m->hist[i]);
	m->hist_count = 0;
	m->hist_sel = 0;
	m->hist_done = false;
}

/* The one-line summary of an audit event, by kind. */
static char *
hist_what(const json_t *ev, const char *kind)
{
	const char *op = tui_json_str(ev, "operator", "?");
	const char *reason = tui_json_str(ev, "reason", "");

	if (strcmp(kind, "decision") == 0 || strcmp(kind, "error") == 0)
		return cs_asprintf("%s%s%s", tui_json_str(ev, "rule", ""),
		    json_object_get(ev, "rule") != NULL ? ": " : "", reason);
	if (strcmp(kind, "pending") == 0)
		return cs_asprintf("escalated by %s: %s",
		    tui_json_str(ev, "rule", "default"), reason);
	if (strcmp(kind, "trust") == 0)
		return cs_asprintf("trust %lld -> %lld by %s%s%s",
		    (long long) json_int(ev, "from", -1),
		    (long long) json_int(ev, "to", -1), op, *reason ? ": " : "",
		    reason);
	if (strcmp(kind, "posture") == 0)
		return cs_asprintf("posture %s -> %s by %s%s%s",
		    tui_json_str(ev, "from", "?"), tui_json_str(ev, "to", "?"),
		    op, *reason ? ": " : "", reason);
	if (strcmp(kind, "policy") == 0)
		return json_is_true(json_object_get(ev, "ok")) ?
		    cs_asprintf("policy %s in force (by %s)",
		    tui_json_str(ev, "to", "?"), op) :
		    cs_asprintf("policy rejected: %s",
		    tui_json_str(ev, "error", "?"));
	if (strcmp(kind, "approval") == 0)
		return cs_asprintf("approval %lld of %lld by %s",
		    (long long) json_int(ev, "count", 0),
		    (long long) json_int(ev, "needed", 0), op);
	if (strcmp(kind, "grant") == 0)
		return cs_asprintf("grant %s for %s, %llds, by %s",
		    tui_json_str(ev, "grant", "?"), tui_json_str(ev, "tool", "?"),
		    (long long) json_int(ev, "ttl_s", 0), op);
	if (strcmp(kind, "revoke") == 0)
		return cs_asprintf("revoked grant %s by %s",
		    tui_json_str(ev, "grant", "?"), op);
	if (strcmp(kind, "refused") == 0)
		return cs_asprintf("refused %s: %s", tui_json_str(ev, "code", "?"),
		    reason);
	return xstrdup(reason);
}

cs_err
tui_model_hist_add(tui_model *m, int64_t seq, const json_t *event)
{
	tui_hist_row *r;
	const char *kind = tui_json_str(event, "kind", "?");

	if (m->hist_count == m->hist_cap) {
		m->hist_cap = m->hist_cap ? m->hist_cap * 2 : 256;
		m->hist = xrealloc(m->hist, m->hist_cap * sizeof *m->hist);
	}
	r = &m->hist[m->hist_count];
	memset(r, 0, sizeof *r);
	r->seq = seq;
	r->ts_ms = json_int(event, "ts", 0);
	r->kind = xstrdup(kind);
	r->decision = xstrdup(tui_json_str(event, "decision", ""));
	r->by = xstrdup(tui_json_str(event, "by", ""));
	r->tool = xstrdup(tui_json_str(event, "tool", ""));
	r->agent = xstrdup(tui_json_str(event, "agent", ""));
	r->session = xstrdup(tui_json_str(event, "session", ""));
	if ((r->what = hist_what(event, kind)) == NULL)
		abort();
	m->hist_count++;
	return CS_OK;
}

int64_t
tui_model_hist_oldest_seq(const tui_model *m)
{
	return m->hist_count == 0 ? 0 : m->hist[m->hist_count - 1].seq;
}

bool
tui_model_hist_wants_more(const tui_model *m, size_t margin)
{
	return !m->hist_done && m->hist_sel + margin >= m->hist_count;
}

const tui_hist_row *
tui_model_hist_selected(const tui_model *m)
{
	return m->hist_sel < m->hist_count ? &m->hist[m->hist_sel] : NULL;
}

void
tui_model_hist_move(tui_model *m, long delta)
{
	m->hist_sel = move_index(m->hist_sel, m->hist_count, delta);
}

/* ---- latency ---------------------------------------------------------- */

void
tui_model_note_latency(tui_model *m, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	m->latency[m->latency_head] = ms;
	m->latency_head = (m->latency_head + 1) % TUI_LATENCY_RING;
	if (m->latency_count < TUI_LATENCY_RING)
		m->latency_count++;
}

/* qsort order for int64_t. */
static int
i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return x < y ? -1 : x > y;
}

int64_t
tui_model_latency_p50(const tui_model *m)
{
	int64_t v[TUI_LATENCY_RING];

	if (m->latency_count == 0)
		return -1;
	memcpy(v, m->latency, sizeof v);
	qsort(v, m->latency_count, sizeof v[0], i64_cmp);
	return v[(m->latency_count - 1) / 2];
}

/* ---- formatting ------------------------------------------------------- */

void
tui_fmt_countdown(int64_t ms_left, char *out, size_t size)
{
	int64_t s = ms_left <= 0 ? 0 : (ms_left + 999) / 1000;

	if (s >= 3600)
		snprintf(out, size, "%lld:%02lld:%02lld", (long long) (s / 3600),
		    (long long) (s / 60 % 60), (long long) (s % 60));
	else
		snprintf(out, size, "%lld:%02lld", (long long) (s / 60),
		    (long long) (s % 60));
}

void
tui_fmt_age(int64_t ms, char *out, size_t size)
{
	int64_t s = ms / 1000;

	if (s < 1)
		snprintf(out, size, "now");
	else if (s < 60)
		snprintf(out, size, "%llds", (long long) s);
	else if (s < 3600)
		snprintf(out, size, "%lldm", (long long) (s / 60));
	else if (s < 86400)
		snprintf(out, size, "%lldh", (long long) (s / 3600));
	else
		snprintf(out, size, "%lldd", (long long) (s / 86400));
}

void
tui_fmt_clock(int64_t unix_ms, bool long_form, char *out, size_t size)
{
	time_t t = (time_t) (unix_ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, size, long_form ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S",
	    &tm) == 0)
		snprintf(out, size, "?");
}
