/* sess.c: the session table: trust, sliding-minute rate, grants.
 * SPDX-License-Identifier: MIT */
#include "sess.h"

#include <stdlib.h>
#include <string.h>

#include "map.h"

#define SESS_MAX_TOOLS 64

struct core_sess_tab {
	core_map *by_id;
	size_t max_count;
};

core_sess_tab *
core_sess_tab_new(size_t max_count)
{
	core_sess_tab *tab;

	if ((tab = calloc(1, sizeof *tab)) == NULL)
		return NULL;
	if ((tab->by_id = core_map_new()) == NULL) {
		free(tab);
		return NULL;
	}
	tab->max_count = max_count;
	return tab;
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

void
core_sess_tab_free(core_sess_tab *tab)
{
	if (tab == NULL)
		return;
	core_map_each(tab->by_id, sess_free_cb, NULL);
	core_map_free(tab->by_id);
	free(tab);
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

	if ((s = core_map_get(tab->by_id, id)) != NULL) {
		*out = s;
		*created = false;
		return CS_OK;
	}
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
	s->trust = trust;
	s->created_ms = now_ms;
	s->last_ms = now_ms;
	if (core_map_put(tab->by_id, id, s, NULL) != CS_OK)
		goto fail;
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
