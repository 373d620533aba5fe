/* sess.c: the session table: trust, sliding-minute rate, grants.
 * SPDX-License-Identifier: MIT */
#include "sess.h"

#include <stdlib.h>
#include <string.h>

#include "map.h"

#define SESS_MAX_TOOLS 64
#define SESS_EVICT_SCAN 64   /* oldest sessions looked at for one to forget */

/* The sessions of one delegation (user and agent), least recently used
 * first. */
struct sess_deleg {
	size_t count;
	core_sess *oldest, *newest;
};

struct core_sess_tab {
	core_map *by_id;
	core_map *by_deleg; /* "user\x1fagent" -> struct sess_deleg */
	size_t max_count;
	size_t max_per_deleg;
};

core_sess_tab *
core_sess_tab_new(size_t max_count)
{
	core_sess_tab *tab;

	if ((tab = calloc(1, sizeof *tab)) == NULL)
		return NULL;
	if ((tab->by_id = core_map_new()) == NULL ||
	    (tab->by_deleg = core_map_new()) == NULL) {
		core_map_free(tab->by_id);
		free(tab);
		return NULL;
	}
	tab->max_count = max_count;
	return tab;
}

void
core_sess_tab_set_delegation_max(core_sess_tab *tab, size_t max_count)
{
	tab->max_per_deleg = max_count;
}

/* Unlink s from its delegation's list. */
static void
deleg_unlink(core_sess *s)
{
	struct sess_deleg *d = s->deleg;

	if (s->older != NULL)
		s->older->newer = s->newer;
	else
		d->oldest = s->newer;
	if (s->newer != NULL)
		s->newer->older = s->older;
	else
		d->newest = s->older;
	s->older = s->newer = NULL;
}

/* Link s as its delegation's most recently used session. */
static void
deleg_link_newest(core_sess *s)
{
	struct sess_deleg *d = s->deleg;

	s->older = d->newest;
	s->newer = NULL;
	if (d->newest != NULL)
		d->newest->newer = s;
	else
		d->oldest = s;
	d->newest = s;
}

/* Whether s holds nothing an operator gave, took or still has to decide:
 * forgetting it then loses nothing a new session of the same delegation
 * would not also start without (counters, rate). */
static bool
sess_forgettable(const core_sess *s)
{
	return s->pending == 0 && s->held == 0 && s->grant_count == 0 &&
	    s->trust == s->initial_trust;
}

/* Free one session and everything it owns. */
static void
sess_free(core_sess *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->grant_count; i++) {
		free(s->grants[i].tool);
		free(s->grants[i].operator_name);
	}
	free(s->grants);
	json_decref(s->chain);
	json_decref(s->tools);
	free(s->purpose);
	free(s->agent);
	free(s->user);
	free(s->id);
	free(s);
}

/* core_map_each callback that frees a session. */
static bool
sess_free_cb(void *ud, const char *key, void *value)
{
	(void) ud;
	(void) key;
	sess_free(value);
	return true;
}

/* core_map_each callback that frees a delegation list head. */
static bool
deleg_free_cb(void *ud, const char *key, void *value)
{
	(void) ud;
	(void) key;
	free(value);
	return true;
}

void
core_sess_tab_free(core_sess_tab *tab)
{
	if (tab == NULL)
		return;
	core_map_each(tab->by_id, sess_free_cb, NULL);
	core_map_free(tab->by_id);
	core_map_each(tab->by_deleg, deleg_free_cb, NULL);
	core_map_free(tab->by_deleg);
	free(tab);
}

/* Forget the least recently used session of d that holds nothing to
 * lose; false when none of the oldest SESS_EVICT_SCAN may be forgotten.
 * Those that may not go to the newest end, so that the next look starts
 * past them. */
static bool
deleg_forget_one(core_sess_tab *tab, struct sess_deleg *d)
{
	for (int i = 0; d->oldest != NULL && i < SESS_EVICT_SCAN; i++) {
		core_sess *s = d->oldest;

		deleg_unlink(s);
		if (!sess_forgettable(s)) {
			deleg_link_newest(s);
			continue;
		}
		d->count--;
		(void) core_map_del(tab->by_id, s->id);
		sess_free(s);
		return true;
	}
	return false;
}

core_sess *
core_sess_get(core_sess_tab *tab, const char *id)
{
	return core_map_get(tab->by_id, id);
}

cs_err
core_sess_open(core_sess_tab *tab, const char *id, const char *user,
    const char *agent, const json_t *chain, const char *purpose, int trust,
    int trust_cap, int64_t now_ms, core_sess **out, bool *created)
{
	core_sess *s;
	struct sess_deleg *d;
	char *dkey;

	if ((s = core_map_get(tab->by_id, id)) != NULL) {
		if (s->deleg->newest != s) {
			deleg_unlink(s);
			deleg_link_newest(s);
		}
		*out = s;
		*created = false;
		return CS_OK;
	}
	if ((dkey = cs_asprintf("%s\x1f%s", user != NULL ? user : "",
	    agent != NULL ? agent : "")) == NULL)
		return CS_ENOMEM;
	if ((d = core_map_get(tab->by_deleg, dkey)) == NULL) {
		if ((d = calloc(1, sizeof *d)) == NULL ||
		    core_map_put(tab->by_deleg, dkey, d, NULL) != CS_OK) {
			free(d);
			free(dkey);
			return CS_ENOMEM;
		}
	}
	free(dkey);
	if (tab->max_per_deleg != 0 && d->count >= tab->max_per_deleg &&
	    !deleg_forget_one(tab, d))
		return CS_EDENIED;
	if (tab->max_count != 0 &&
	    core_map_count(tab->by_id) >= tab->max_count)
		return CS_EFULL;
	if ((s = calloc(1, sizeof *s)) == NULL)
		return CS_ENOMEM;
	s->id = strdup(id);
	s->user = strdup(user != NULL ? user : "");
	s->agent = strdup(agent != NULL ? agent : "");
	s->chain = chain != NULL ? json_deep_copy(chain) : json_array();
	s->purpose = purpose != NULL ? strdup(purpose) : NULL;
	s->tools = json_object();
	if (s->id == NULL || s->user == NULL || s->agent == NULL ||
	    s->chain == NULL || s->tools == NULL ||
	    (purpose != NULL && s->purpose == NULL))
		goto fail;
	if (trust > trust_cap)
		trust = trust_cap;
	if (trust < CORE_TRUST_MIN)
		trust = CORE_TRUST_MIN;
	s->trust = s->initial_trust = trust;
	s->created_ms = now_ms;
	s->last_ms = now_ms;
	if (core_map_put(tab->by_id, id, s, NULL) != CS_OK)
		goto fail;
	s->deleg = d;
	deleg_link_newest(s);
	d->count++;
	*out = s;
	*created = true;
	return CS_OK;
fail:
	sess_free(s);
	return CS_ENOMEM;
}

size_t
core_sess_count(const core_sess_tab *tab)
{
	return core_map_count(tab->by_id);
}

struct sess_each_ctx {
	bool (*fn)(void *ud, core_sess *s);
	void *ud;
};

/* Adapter from core_map_each to the session callback. */
static bool
sess_each_cb(void *ud, const char *key, void *value)
{
	struct sess_each_ctx *ctx = ud;

	(void) key;
	return ctx->fn(ctx->ud, value);
}

void
core_sess_each(core_sess_tab *tab, bool (*fn)(void *ud, core_sess *s),
    void *ud)
{
	struct sess_each_ctx ctx = { fn, ud };

	core_map_each(tab->by_id, sess_each_cb, &ctx);
}

int
core_sess_rate(const core_sess *s, int64_t now_ms)
{
	int64_t now_sec = now_ms / 1000;
	int total = 0;

	for (int i = 0; i < CORE_SESS_RATE_SLOTS; i++)
		if (s->rate_sec[i] > now_sec - CORE_SESS_RATE_SLOTS &&
		    s->rate_sec[i] <= now_sec)
			total += s->rate_cnt[i];
	return total;
}

int
core_sess_note_call(core_sess *s, int64_t now_ms, const char *tool)
{
	int64_t now_sec = now_ms / 1000;
	int slot = (int) (now_sec % CORE_SESS_RATE_SLOTS);
	json_t *count;

	if (slot < 0)
		slot += CORE_SESS_RATE_SLOTS;
	if (s->rate_sec[slot] != now_sec) {
		s->rate_sec[slot] = now_sec;
		s->rate_cnt[slot] = 0;
	}
	if (s->rate_cnt[slot] < INT32_MAX)
		s->rate_cnt[slot]++;
	s->last_ms = now_ms;
	if ((count = json_object_get(s->tools, tool)) != NULL)
		json_integer_set(count, json_integer_value(count) + 1);
	else if (json_object_size(s->tools) < SESS_MAX_TOOLS)
		json_object_set_new(s->tools, tool, json_integer(1));
	return core_sess_rate(s, now_ms);
}

bool
core_sess_knows_tool(const core_sess *s, const char *tool)
{
	return json_object_get(s->tools, tool) != NULL;
}

cs_err
core_sess_grant_add(core_sess *s, const char *tool, const char *operator_name,
    int64_t ttl_ms, int64_t now_mono_ms, int64_t now_ms, core_grant *out)
{
	core_grant *ng, *g;

	if ((ng = realloc(s->grants, (s->grant_count + 1) * sizeof *ng)) ==
	    NULL)
		return CS_ENOMEM;
	s->grants = ng;
	g = &s->grants[s->grant_count];
	memset(g, 0, sizeof *g);
	memcpy(g->id, "g-", 2);
	if (cs_random_hex(g->id + 2, 8) != CS_OK)
		return CS_EIO;
	g->tool = strdup(tool);
	g->operator_name = strdup(operator_name);
	if (g->tool == NULL || g->operator_name == NULL) {
		free(g->tool);
		free(g->operator_name);
		return CS_ENOMEM;
	}
	g->expires_mono_ms = now_mono_ms + ttl_ms;
	g->expires_ms = now_ms + ttl_ms;
	s->grant_count++;
	if (out != NULL)
		*out = *g;
	return CS_OK;
}

/* Remove grant i, keeping the others in order. */
static void
sess_grant_remove(core_sess *s, size_t i)
{
	free(s->grants[i].tool);
	free(s->grants[i].operator_name);
	memmove(&s->grants[i], &s->grants[i + 1],
	    (s->grant_count - i - 1) * sizeof *s->grants);
	s->grant_count--;
}

const core_grant *
core_sess_grant_find(core_sess *s, const char *tool, int64_t now_mono_ms)
{
	for (size_t i = 0; i < s->grant_count;) {
		if (s->grants[i].expires_mono_ms <= now_mono_ms) {
			sess_grant_remove(s, i);
			continue;
		}
		if (strcmp(s->grants[i].tool, tool) == 0)
			return &s->grants[i];
		i++;
	}
	return NULL;
}

cs_err
core_sess_grant_revoke(core_sess *s, const char *id)
{
	for (size_t i = 0; i < s->grant_count; i++) {
		if (strcmp(s->grants[i].id, id) == 0) {
			sess_grant_remove(s, i);
			return CS_OK;
		}
	}
	return CS_ENOTFOUND;
}

json_t *
core_sess_to_json(const core_sess *s, int64_t now_mono_ms)
{
	json_t *o, *grants;

	if ((grants = json_array()) == NULL)
		return NULL;
	for (size_t i = 0; i < s->grant_count; i++) {
		const core_grant *g = &s->grants[i];

		if (g->expires_mono_ms <= now_mono_ms)
			continue;
		json_array_append_new(grants, json_pack("{s:s, s:s, s:s, s:I}",
		    "id", g->id, "tool", g->tool, "operator",
		    g->operator_name, "expires", (json_int_t) g->expires_ms));
	}
	/* tools is copied: later calls update it in place while the object
	 * is published from the writer thread */
	o = json_pack("{s:s, s:s, s:s, s:O, s:s?, s:i, s:I, s:I, s:I, s:I, "
	    "s:o, s:o}",
	    "session", s->id, "user", s->user, "agent", s->agent,
	    "chain", s->chain, "purpose", s->purpose, "trust", s->trust,
	    "calls", (json_int_t) s->calls, "denials",
	    (json_int_t) s->denials, "created", (json_int_t) s->created_ms,
	    "last", (json_int_t) s->last_ms, "tools",
	    json_deep_copy(s->tools),
	    "grants", grants);
	return o;
}
