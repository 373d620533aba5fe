/* engine.c: the decision path: admission, context, policy, escalation,
 * operator commands; every outcome becomes one audit event.
 * SPDX-License-Identifier: MIT */
#include "engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "map.h"
#include "pend.h"
#include "req.h"
#include "sess.h"
#include "tok.h"

#define EXPIRED_BATCH 256
#define TOK_CACHE_MAX 4096 /* verified tokens remembered */
#define BAD_SIG_MAX 256    /* tokens refused for their signature */

/* A decision remembered for status queries and replays, kept compact
 * (serialized) since there may be many thousands. */
struct recent {
	char request[40];
	char *dedup_key;   /* owned, may be NULL */
	char *reply_text;  /* owned: the decision reply, compact JSON */
	int64_t audit_seq; /* 0 until committed */
};

/* A new reply object from a remembered decision. */
static json_t *
recent_reply(const struct recent *r)
{
	json_t *reply = json_loads(r->reply_text, 0, NULL);

	if (reply != NULL && r->audit_seq > 0)
		json_object_set_new(reply, "audit_seq",
		    json_integer(r->audit_seq));
	return reply;
}

/* Replace a remembered reply (reply is borrowed). */
static void
recent_set(struct recent *r, const json_t *reply)
{
	char *text = cs_json_dump(reply, 0, NULL);

	if (text == NULL)
		return;
	free(r->reply_text);
	r->reply_text = text;
}

struct core_engine {
	pthread_mutex_t mtx;  /* guards everything below */
	bool has_mtx;
	const core_cfg *cfg;
	pol_set *pol;
	core_sess_tab *sessions;
	core_pend_q *pending;
	core_map *recent;   /* request -> struct recent */
	core_map *dedup;    /* client key -> request id (owned copy) */
	struct recent **ring; /* eviction order of recent */
	size_t ring_len, ring_head;
	unsigned char *key;
	size_t key_len;
	char posture[16];
	char boot[16];          /* 6 random bytes in hex, new at each start:
	                         * request ids do not repeat across restarts */
	uint64_t counter;
	core_map *tok_cache;  /* token text -> struct tok_entry, verified */
	core_map *bad_sig;    /* token text -> the engine: refused for its
	                       * signature (the key never changes), so an
	                       * agent repeating a bad token costs no HMAC */
	core_map *jti_uses;   /* jti -> struct jti_use */
	core_lookup_fn lookup;
	core_reload_fn reload;
	void *hook_ud;
	int64_t clock_sec; /* cached local time */
	int hour, weekday;
};

static bool dedup_free_cb(void *ud, const char *key, void *value);
static bool tok_free_cb(void *ud, const char *key, void *value);
static void policy_changed(core_engine *eng, pol_set *pol, const char *error,
    const char *who, int64_t now_ms, core_fx *fx);

static const char *const postures[] = { "normal", "elevated", "lockdown" };

/* ---- effects ---------------------------------------------------------- */

void
core_fx_init(core_fx *fx)
{
	memset(fx, 0, sizeof *fx);
	fx->events = json_array();
}

void
core_fx_fini(core_fx *fx)
{
	for (size_t i = 0; i < fx->reply_count; i++) {
		json_decref(fx->replies[i].msg);
		free(fx->replies[i].text);
	}
	for (size_t i = 0; i < fx->pub_count; i++)
		json_decref(fx->pubs[i].msg);
	for (size_t i = 0; i < fx->change_count; i++) {
		free(fx->changes[i].session);
		pol_set_free(fx->changes[i].pol);
	}
	free(fx->replies);
	free(fx->pubs);
	free(fx->reqs);
	free(fx->changes);
	json_decref(fx->events);
	memset(fx, 0, sizeof *fx);
}

bool
core_fx_empty(const core_fx *fx)
{
	return fx->reply_count == 0 && fx->pub_count == 0 &&
	    fx->change_count == 0 && json_array_size(fx->events) == 0;
}

/* Grow an effects array by one slot; false on OOM. */
static bool
fx_grow(void **items, size_t *cap, size_t count, size_t size)
{
	void *n;
	size_t ncap;

	if (count < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 4;
	if ((n = realloc(*items, ncap * size)) == NULL)
		return false;
	*items = n;
	*cap = ncap;
	return true;
}

/* Append an audit event (stolen); returns it borrowed, or NULL on OOM. */
static json_t *
fx_event(core_fx *fx, json_t *ev)
{
	if (ev == NULL || json_array_append_new(fx->events, ev) != 0)
		return NULL;
	return ev;
}

/* Queue a reply (msg stolen). */
static void
fx_reply(core_fx *fx, uint64_t handle, json_t *msg, json_t *event)
{
	if (msg == NULL)
		msg = json_pack("{s:i, s:s, s:s, s:s}", "v", 1, "type",
		    "error", "code", "internal", "message", "out of memory");
	if (!fx_grow((void **) &fx->replies, &fx->reply_cap, fx->reply_count,
	    sizeof *fx->replies)) {
		json_decref(msg);
		return;
	}
	fx->replies[fx->reply_count++] =
	    (core_reply) { .handle = handle, .msg = msg, .event = event };
}

/* Queue a reply (msg stolen) that answers from a decision whose row is
 * committed when durable (see core_reply). */
static void
fx_reply_past(core_fx *fx, uint64_t handle, json_t *msg, bool durable,
    const char *request)
{
	size_t n = fx->reply_count;

	fx_reply(fx, handle, msg, NULL);
	if (fx->reply_count > n) {
		fx->replies[n].durable = durable;
		if (!durable && request != NULL)
			snprintf(fx->replies[n].past,
			    sizeof fx->replies[n].past, "%s", request);
	}
}

/* The same with msg's rendering (both stolen; text may be NULL). */
static void
fx_reply_text(core_fx *fx, uint64_t handle, json_t *msg, char *text,
    json_t *event)
{
	size_t n = fx->reply_count;

	fx_reply(fx, handle, msg, event);
	if (fx->reply_count > n && msg != NULL)
		fx->replies[n].text = text;
	else
		free(text);
}

/* Queue a published event (msg stolen). */
static void
fx_pub(core_fx *fx, const char *topic, json_t *msg)
{
	if (msg == NULL)
		return;
	if (!fx_grow((void **) &fx->pubs, &fx->pub_cap, fx->pub_count,
	    sizeof *fx->pubs)) {
		json_decref(msg);
		return;
	}
	fx->pubs[fx->pub_count++] = (core_pub) { .topic = topic, .msg = msg };
}

/* Note that request's outcome rides on this commit. */
static void
fx_req(core_fx *fx, const char *request, json_t *event)
{
	if (!fx_grow((void **) &fx->reqs, &fx->req_cap, fx->req_count,
	    sizeof *fx->reqs))
		return;
	snprintf(fx->reqs[fx->req_count].request, 40, "%s", request);
	fx->reqs[fx->req_count].event = event;
	fx->req_count++;
}

/* Queue a change to take effect with its audit row; takes c's session
 * and pol. False (and both freed) when memory runs out: the change is
 * then dropped, as if its row had not been written. */
static bool
fx_change(core_fx *fx, core_change c)
{
	if (!fx_grow((void **) &fx->changes, &fx->change_cap,
	    fx->change_count, sizeof *fx->changes)) {
		free(c.session);
		pol_set_free(c.pol);
		return false;
	}
	fx->changes[fx->change_count++] = c;
	return true;
}

/* An error reply: {"type":"error","code":..,"message":..}. */
static json_t *
error_reply(const char *code, const char *message, const char *request)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:o}", "v", 1, "type", "error",
	    "code", code, "message",
	    cs_json_text(message != NULL ? message : code));

	if (o != NULL && request != NULL)
		json_object_set_new(o, "request", json_string(request));
	return o;
}

/* ---- lifecycle ------------------------------------------------------- */

core_engine *
core_engine_new(const core_cfg *cfg, pol_set *pol, const unsigned char *key,
    size_t key_len)
{
	core_engine *eng;

	if ((eng = calloc(1, sizeof *eng)) == NULL)
		goto fail;
	eng->cfg = cfg;
	eng->pol = pol;
	pol = NULL;
	eng->sessions = core_sess_tab_new(cfg->max_sessions);
	if (eng->sessions != NULL)
		core_sess_tab_set_delegation_max(eng->sessions,
		    cfg->max_sessions_per_delegation);
	eng->pending = core_pend_q_new(cfg->max_pending);
	eng->recent = core_map_new();
	eng->dedup = core_map_new();
	eng->tok_cache = core_map_new();
	eng->bad_sig = core_map_new();
	eng->jti_uses = core_map_new();
	eng->ring_len = cfg->recent_max;
	eng->ring = calloc(eng->ring_len, sizeof *eng->ring);
	eng->key = malloc(key_len ? key_len : 1);
	if (eng->sessions == NULL || eng->pending == NULL ||
	    eng->recent == NULL || eng->dedup == NULL || eng->ring == NULL ||
	    eng->tok_cache == NULL || eng->bad_sig == NULL ||
	    eng->jti_uses == NULL || eng->key == NULL)
		goto fail;
	memcpy(eng->key, key, key_len);
	eng->key_len = key_len;
	snprintf(eng->posture, sizeof eng->posture, "normal");
	if (cs_random_hex(eng->boot, 6) != CS_OK)
		goto fail;
	pthread_mutex_init(&eng->mtx, NULL);
	eng->has_mtx = true;
	return eng;
fail:
	pol_set_free(pol);
	core_engine_free(eng);
	return NULL;
}

/* Free one remembered decision. */
static void
recent_free(struct recent *r)
{
	if (r == NULL)
		return;
	free(r->reply_text);
	free(r->dedup_key);
	free(r);
}

void
core_engine_free(core_engine *eng)
{
	if (eng == NULL)
		return;
	if (eng->ring != NULL)
		for (size_t i = 0; i < eng->ring_len; i++)
			recent_free(eng->ring[i]);
	free(eng->ring);
	core_map_free(eng->recent);
	if (eng->tok_cache != NULL)
		core_map_each(eng->tok_cache, tok_free_cb, NULL);
	core_map_free(eng->tok_cache);
	core_map_free(eng->bad_sig);
	if (eng->jti_uses != NULL)
		core_map_each(eng->jti_uses, dedup_free_cb, NULL);
	core_map_free(eng->jti_uses);
	if (eng->has_mtx)
		pthread_mutex_destroy(&eng->mtx);
	if (eng->dedup != NULL)
		core_map_each(eng->dedup, dedup_free_cb, NULL);
	core_map_free(eng->dedup);
	core_pend_q_free(eng->pending);
	core_sess_tab_free(eng->sessions);
	pol_set_free(eng->pol);
	free(eng->key);
	free(eng);
}

void
core_engine_set_hooks(core_engine *eng, core_lookup_fn lookup,
    core_reload_fn reload, void *ud)
{
	eng->lookup = lookup;
	eng->reload = reload;
	eng->hook_ud = ud;
}

size_t
core_engine_pending_count(core_engine *eng)
{
	size_t n;

	pthread_mutex_lock(&eng->mtx);
	n = core_pend_count(eng->pending);
	pthread_mutex_unlock(&eng->mtx);
	return n;
}

const char *
core_engine_policy_version(core_engine *eng)
{
	const char *v;

	pthread_mutex_lock(&eng->mtx);
	v = pol_set_version(eng->pol);
	pthread_mutex_unlock(&eng->mtx);
	return v;
}

int64_t
core_engine_next_wake(core_engine *eng)
{
	int64_t t;

	pthread_mutex_lock(&eng->mtx);
	t = core_pend_next_deadline(eng->pending);
	pthread_mutex_unlock(&eng->mtx);
	return t;
}

/* Set a string member when value is not NULL. */
static void
set_str(json_t *o, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(o, key, json_string(value));
}

/* A verified token in the cache: its claims, and the members every
 * call's audit event takes from them, made once and shared by reference
 * (jansson's counts are atomic; nothing sets a value in place). */
struct tok_entry {
	core_tok *tok;
	json_t *members;
};

static void
tok_entry_free(struct tok_entry *e)
{
	if (e == NULL)
		return;
	core_tok_free(e->tok);
	json_decref(e->members);
	free(e);
}

/* The event members of a token: chain (human first), user, agent, jti,
 * consent, scope, token_exp, and its purpose (the one the human
 * delegated; a call's own is kept apart, see call_info). */
static json_t *
tok_members(const core_tok *tok)
{
	json_t *o = json_object(), *chain = json_array();

	if (o == NULL || chain == NULL) {
		json_decref(o);
		json_decref(chain);
		return NULL;
	}
	for (size_t i = 0; i < tok->chain_len; i++)
		json_array_append_new(chain, json_string(tok->chain[i]));
	json_object_set_new(o, "chain", chain);
	set_str(o, "user", tok->user);
	set_str(o, "agent", tok->agent);
	set_str(o, "jti", tok->jti);
	set_str(o, "consent", tok->consent);
	set_str(o, "scope", tok->scope_text);
	json_object_set_new(o, "token_exp", json_integer(tok->exp));
	set_str(o, "purpose", tok->purpose);
	return o;
}

/* core_map_each callback freeing a cached token. */
static bool
tok_free_cb(void *ud, const char *key, void *value)
{
	(void) ud;
	(void) key;
	tok_entry_free(value);
	return true;
}

/* One token id's use count. */
struct jti_use {
	int64_t uses;
	int64_t exp; /* forget the count once the token has expired */
};

struct jti_prune {
	int64_t now_s;
	char **keys;
	size_t n, cap;
};

/* Collect the jti counts of expired tokens. */
static bool
jti_collect_cb(void *ud, const char *key, void *value)
{
	struct jti_prune *pr = ud;
	const struct jti_use *u = value;

	if (u->exp < pr->now_s && pr->n < pr->cap &&
	    (pr->keys[pr->n] = strdup(key)) != NULL)
		pr->n++;
	return true;
}

/* Drop the counts of expired tokens (collected first: a walk cannot
 * delete). */
static void
jti_prune(core_engine *eng, int64_t now_s)
{
	struct jti_prune pr = { now_s, NULL, 0,
		core_map_count(eng->jti_uses) };

	if ((pr.keys = calloc(pr.cap + 1, sizeof *pr.keys)) == NULL)
		return;
	core_map_each(eng->jti_uses, jti_collect_cb, &pr);
	for (size_t i = 0; i < pr.n; i++) {
		free(core_map_del(eng->jti_uses, pr.keys[i]));
		free(pr.keys[i]);
	}
	free(pr.keys);
}

/* Count one use of tok's jti; false when over the configured limit. */
static bool
jti_use(core_engine *eng, const core_tok *tok, int64_t now_s)
{
	struct jti_use *u = core_map_get(eng->jti_uses, tok->jti);

	if (u == NULL) {
		if (core_map_count(eng->jti_uses) >= 100000)
			jti_prune(eng, now_s);
		if ((u = calloc(1, sizeof *u)) == NULL ||
		    core_map_put(eng->jti_uses, tok->jti, u, NULL) != CS_OK) {
			free(u);
			return false; /* cannot count: fail closed */
		}
		u->exp = tok->exp;
	}
	return ++u->uses <= (int64_t) eng->cfg->jti_max_uses;
}

/* Verified claims of a token, from the cache or by verifying it with the
 * lock released (HMAC and JSON work in parallel; *released says so: what
 * was looked up before may have changed). Called and returns with
 * eng->mtx held. The claims stay owned by the cache; NULL with *cause on
 * refusal. */
static const core_tok *
tok_get(core_engine *eng, const char *jwt, int64_t now_s, char **cause,
    bool *released, const json_t **members)
{
	core_tok_verifier v = {
		.key = eng->key, .key_len = eng->key_len,
		.leeway_s = eng->cfg->leeway_s, .issuer = eng->cfg->issuer,
		.audience = eng->cfg->audience,
		.max_len = eng->cfg->max_token_len,
	};
	struct tok_entry *e = core_map_get(eng->tok_cache, jwt), *old;
	core_tok *tok = NULL;

	if (e != NULL && now_s - eng->cfg->leeway_s < e->tok->exp) {
		*members = e->members;
		return e->tok;
	}
	if (e != NULL) /* expired since: verify again for the reason */
		tok_entry_free(core_map_del(eng->tok_cache, jwt));
	if (core_map_get(eng->bad_sig, jwt) != NULL) {
		cs_set_cause(cause, "%s", CORE_TOK_BAD_SIGNATURE);
		return NULL;
	}
	*released = true;
	pthread_mutex_unlock(&eng->mtx);
	if (core_tok_verify(&v, jwt, now_s, &tok, cause) != CS_OK)
		tok = NULL;
	else if ((e = calloc(1, sizeof *e)) == NULL ||
	    (e->members = tok_members(tok)) == NULL) {
		free(e);
		core_tok_free(tok);
		tok = NULL;
		cs_set_cause(cause, "out of memory");
	} else {
		e->tok = tok;
	}
	pthread_mutex_lock(&eng->mtx);
	if (tok == NULL) {
		if (cause != NULL && *cause != NULL &&
		    strcmp(*cause, CORE_TOK_BAD_SIGNATURE) == 0) {
			if (core_map_count(eng->bad_sig) >= BAD_SIG_MAX) {
				core_map_free(eng->bad_sig);
				if ((eng->bad_sig = core_map_new()) == NULL)
					abort(); /* cannot go on without it */
			}
			(void) core_map_put(eng->bad_sig, jwt, eng, NULL);
		}
		return NULL;
	}
	if ((old = core_map_get(eng->tok_cache, jwt)) != NULL) {
		tok_entry_free(e); /* another thread was quicker */
		*members = old->members;
		return old->tok;
	}
	if (core_map_count(eng->tok_cache) >= TOK_CACHE_MAX) {
		core_map_each(eng->tok_cache, tok_free_cb, NULL);
		core_map_free(eng->tok_cache);
		if ((eng->tok_cache = core_map_new()) == NULL)
			abort(); /* cannot keep going without the map */
	}
	if (core_map_put(eng->tok_cache, jwt, e, NULL) != CS_OK) {
		tok_entry_free(e);
		cs_set_cause(cause, "out of memory");
		return NULL;
	}
	*members = e->members;
	return tok;
}

/* Take a pending call out of the queue; its session has one call less
 * waiting. */
static core_pend *
pend_take(core_engine *eng, const char *request)
{
	core_pend *p = core_pend_take(eng->pending, request);
	core_sess *s;

	if (p != NULL && (s = core_sess_get(eng->sessions, p->session)) !=
	    NULL && s->pending > 0)
		s->pending--;
	return p;
}

/* ---- remembered decisions -------------------------------------------- */

/* Remember a decision reply (copied) for status and replays; the oldest
 * is forgotten when the ring is full (the audit store still has it). */
/* Point a replay key at a request id. */
static void
dedup_put(core_engine *eng, const char *key, const char *request)
{
	char *copy = strdup(request);
	void *old = NULL;

	if (copy == NULL)
		return;
	if (core_map_put(eng->dedup, key, copy, &old) != CS_OK)
		free(copy);
	free(old);
}

/* core_map_each callback freeing a dedup value. */
static bool
dedup_free_cb(void *ud, const char *key, void *value)
{
	(void) ud;
	(void) key;
	free(value);
	return true;
}

static void
recent_put(core_engine *eng, const char *request, const char *dedup_key,
    const char *reply_text)
{
	struct recent *r, *old;

	if (reply_text == NULL || (r = calloc(1, sizeof *r)) == NULL)
		return;
	snprintf(r->request, sizeof r->request, "%s", request);
	r->reply_text = strdup(reply_text);
	r->dedup_key = dedup_key != NULL ? strdup(dedup_key) : NULL;
	if (r->reply_text == NULL || (dedup_key != NULL && r->dedup_key == NULL) ||
	    core_map_put(eng->recent, request, r, NULL) != CS_OK) {
		recent_free(r);
		return;
	}
	if (r->dedup_key != NULL)
		dedup_put(eng, r->dedup_key, request);
	old = eng->ring[eng->ring_head];
	if (old != NULL) {
		char *req;

		if (core_map_get(eng->recent, old->request) == old)
			core_map_del(eng->recent, old->request);
		if (old->dedup_key != NULL &&
		    (req = core_map_get(eng->dedup, old->dedup_key)) != NULL &&
		    strcmp(req, old->request) == 0)
			free(core_map_del(eng->dedup, old->dedup_key));
		recent_free(old);
	}
	eng->ring[eng->ring_head] = r;
	eng->ring_head = (eng->ring_head + 1) % eng->ring_len;
}

/* ---- building events -------------------------------------------------- */

/* Make a new request id, unique per daemon run. */
static void
new_request_id(core_engine *eng, char out[40])
{
	snprintf(out, 40, "r-%s-%06llu", eng->boot,
	    (unsigned long long) ++eng->counter);
}

/* A new decision reply from a decision event. */
static json_t *
decision_reply(const json_t *ev, const char *client_id)
{
	json_t *o = json_pack("{s:i, s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, "
	    "s:O?, s:O?}",
	    "v", 1, "type", "decision",
	    "request", json_object_get(ev, "request"),
	    "decision", json_object_get(ev, "decision"),
	    "by", json_object_get(ev, "by"),
	    "rule", json_object_get(ev, "rule"),
	    "reason", json_object_get(ev, "reason"),
	    "policy", json_object_get(ev, "policy"),
	    "args_digest", json_object_get(ev, "args_digest"),
	    "operator", json_object_get(ev, "operator"));

	if (o == NULL)
		return NULL;
	if (json_object_get(o, "operator") == NULL)
		json_object_set_new(o, "operator", json_null());
	if (json_object_get(ev, "operators") != NULL)
		json_object_set(o, "operators", json_object_get(ev, "operators"));
	if (json_object_get(ev, "deadline") != NULL)
		json_object_set(o, "deadline", json_object_get(ev, "deadline"));
	if (json_object_get(ev, "seq") != NULL)
		json_object_set(o, "audit_seq", json_object_get(ev, "seq"));
	if (client_id != NULL)
		json_object_set_new(o, "id", json_string(client_id));
	else if (json_object_get(ev, "id") != NULL)
		json_object_set(o, "id", json_object_get(ev, "id"));
	return o;
}

/* Final outcome of a call: one audit event, the replies to every waiter,
 * a remembered reply and, for a call that waited for operators, a
 * "resolved" event. ev (the call's context) is stolen and becomes the
 * audit event. */
static void
finalize_ev(core_engine *eng, json_t *ev, const char *decision,
    const char *by, json_t *operators, const char *reason,
    const core_waiter *waiters, int waiter_count, uint64_t handle,
    const char *dedup_key, int64_t now_ms, core_fx *fx)
{
	json_t *reply;
	char *text;
	const char *request, *session;
	json_t *received;
	core_sess *s;

	if (ev == NULL) {
		/* OOM: still answer everyone, fail closed */
		if (handle != 0)
			fx_reply(fx, handle, error_reply("internal",
			    "out of memory", NULL), NULL);
		for (int i = 0; i < waiter_count; i++)
			fx_reply(fx, waiters[i].handle, NULL, NULL);
		json_decref(operators);
		return;
	}
	json_object_set_new(ev, "kind", json_string("decision"));
	json_object_set_new(ev, "ts", json_integer(now_ms));
	if (dedup_key != NULL) /* a hash and the client id: lets a restart
				* still answer a resent call the first way */
		json_object_set_new(ev, "replay", json_string(dedup_key));
	json_object_set_new(ev, "decision", json_string(decision));
	json_object_set_new(ev, "by", json_string(by));
	if (operators != NULL && json_array_size(operators) > 0) {
		json_object_set(ev, "operator", json_array_get(operators, 0));
		if (json_array_size(operators) > 1)
			json_object_set(ev, "operators", operators);
	}
	json_decref(operators);
	set_str(ev, "reason", reason);
	if ((received = json_object_get(ev, "received")) != NULL &&
	    json_is_integer(received))
		json_object_set_new(ev, "latency_ms",
		    json_integer(now_ms - json_integer_value(received)));
	json_object_del(ev, "deadline");
	request = json_string_value(json_object_get(ev, "request"));
	session = json_string_value(json_object_get(ev, "session"));
	if (fx_event(fx, ev) == NULL) {
		/* no row, so no decision: every handle still gets an
		 * answer (a static error when even this fails), so no slot
		 * waits for good */
		if (handle != 0)
			fx_reply(fx, handle, error_reply("internal",
			    "out of memory", request), NULL);
		for (int i = 0; i < waiter_count; i++)
			fx_reply(fx, waiters[i].handle, NULL, NULL);
		return;
	}
	if ((reply = decision_reply(ev, NULL)) == NULL) {
		/* OOM: no decision reaches anyone, but every handle is
		 * answered (a static error when even this fails), so no
		 * slot waits for good */
		if (handle != 0)
			fx_reply(fx, handle, NULL, NULL);
		for (int i = 0; i < waiter_count; i++)
			fx_reply(fx, waiters[i].handle, NULL, NULL);
		return;
	}
	/* rendered once: remembered, and sent as is (audit_seq appended) */
	text = cs_json_dump(reply, 0, NULL);
	if (handle != 0)
		fx_reply_text(fx, handle, json_incref(reply),
		    text != NULL ? strdup(text) : NULL, ev);
	for (int i = 0; i < waiter_count; i++)
		fx_reply_text(fx, waiters[i].handle, json_deep_copy(reply),
		    text != NULL ? strdup(text) : NULL, ev);
	if (request != NULL) {
		recent_put(eng, request, dedup_key, text);
		fx_req(fx, request, ev);
	}
	free(text);
	if (handle == 0) {
		/* consoles only track calls that were pending */
		fx_pub(fx, "resolved", json_pack("{s:s?, s:s, s:s, s:O?, s:s?, "
		    "s:O?, s:O?, s:O?}", "request", request, "decision",
		    decision, "by", by, "operator",
		    json_object_get(ev, "operator"), "reason", reason, "tool",
		    json_object_get(ev, "tool"), "session",
		    json_object_get(ev, "session"), "latency_ms",
		    json_object_get(ev, "latency_ms")));
	}
	/* an admission denial never proved it belongs to the session it
	 * names: it must not count there (session.denials rules) */
	if (session != NULL && strcmp(by, "admission") != 0 &&
	    (s = core_sess_get(eng->sessions, session)) != NULL) {
		s->calls++;
		if (strcmp(decision, "deny") == 0)
			s->denials++;
	}
	json_decref(reply);
}

/* The same for a call still referenced elsewhere (a pending item): info
 * is borrowed and copied. */
static void
finalize(core_engine *eng, const json_t *info, const char *decision,
    const char *by, json_t *operators, const char *reason,
    const core_waiter *waiters, int waiter_count, uint64_t handle,
    const char *dedup_key, int64_t now_ms, core_fx *fx)
{
	finalize_ev(eng, info != NULL ? json_deep_copy(info) : NULL, decision,
	    by, operators, reason, waiters, waiter_count, handle, dedup_key,
	    now_ms, fx);
}

/* Audit a frame that could not be parsed, and answer with an error. */
static void
reject_frame(core_engine *eng, const char *code, const char *cause,
    size_t len, const char *buf, uint64_t handle, int64_t now_ms,
    core_fx *fx)
{
	char request[40], digest[65];
	json_t *ev;

	new_request_id(eng, request);
	cs_sha256_hex(buf, len, digest);
	ev = json_pack("{s:s, s:I, s:s, s:s, s:o, s:s, s:s, s:I, s:s}",
	    "kind", "error", "ts", (json_int_t) now_ms, "request", request,
	    "code", code, "reason", cs_json_text(cause), "decision", "deny",
	    "by", "error",
	    "size", (json_int_t) len, "frame_sha256", digest);
	ev = fx_event(fx, ev);
	fx_reply(fx, handle, error_reply(code, cause, request), ev);
}

/* Refresh the cached local hour and weekday once a second. */
static void
engine_clock(core_engine *eng, int64_t now_ms)
{
	time_t t = (time_t) (now_ms / 1000);
	struct tm tm;

	if (t == eng->clock_sec)
		return;
	eng->clock_sec = t;
	localtime_r(&t, &tm);
	eng->hour = tm.tm_hour;
	eng->weekday = tm.tm_wday;
}

/* The replay key of an authorize: the client id bound to its token and
 * to the call itself (tool, action, resource, session, args digest), so a
 * reused id on another call is decided afresh instead of being answered
 * with the first call's outcome. */
static char *
dedup_key_of(const core_msg *m, const char *args_digest)
{
	const char *parts[] = { m->token, m->tool, m->action, m->resource,
		m->session, args_digest };
	size_t len = 0, off = 0;
	char hash[65], *buf, *key;

	if (m->id == NULL)
		return NULL;
	/* each part NUL-terminated, absent ones as a lone 0x01: unambiguous */
	for (size_t i = 0; i < CS_ARRAY_LEN(parts); i++)
		len += (parts[i] != NULL ? strlen(parts[i]) : 1) + 1;
	if ((buf = malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < CS_ARRAY_LEN(parts); i++) {
		const char *p = parts[i] != NULL ? parts[i] : "\x01";
		size_t n = strlen(p) + 1;

		memcpy(buf + off, p, n);
		off += n;
	}
	cs_sha256_hex(buf, len, hash);
	free(buf);
	key = cs_asprintf("%s/%s", hash, m->id);
	return key;
}

/* Whether one more agent connection may wait on a call of p's delegation
 * (user and agent): a delegation may hold at most three quarters of the
 * agent contexts in waits, so that one token parking calls cannot leave
 * every other agent without a context until the waits end. Past that the
 * call is answered "pending" at once and asked again later. Lock held. */
static bool
may_park(core_engine *eng, const core_pend *p)
{
	int contexts = eng->cfg->agent_contexts, share, held = 0;
	const char *agent = json_string_value(json_object_get(p->info,
	    "agent"));
	core_pend **all;
	size_t n;

	share = contexts - contexts / 4;
	if (share >= contexts)
		share = contexts - 1;
	if (contexts <= 1 || p->user == NULL || agent == NULL)
		return true;
	if ((all = core_pend_list(eng->pending, &n)) == NULL)
		return false; /* no memory: answer at once */
	for (size_t i = 0; i < n && held < share; i++) {
		const char *a = json_string_value(json_object_get(all[i]->info,
		    "agent"));

		if (all[i]->waiter_count > 0 && all[i]->user != NULL &&
		    a != NULL && strcmp(all[i]->user, p->user) == 0 &&
		    strcmp(a, agent) == 0)
			held += all[i]->waiter_count;
	}
	free(all);
	return held < share;
}

/* Answer a repeated request id with the first outcome, or park it on the
 * still-pending call. True when handled. */
static bool
replay(core_engine *eng, const core_msg *m, const char *key,
    uint64_t handle, int64_t now_mono_ms, core_fx *fx)
{
	const char *request = core_map_get(eng->dedup, key);
	struct recent *r;
	core_pend *p;
	json_t *reply;
	int64_t wait;

	if (request == NULL)
		return false;
	if ((p = core_pend_get(eng->pending, request)) != NULL) {
		wait = m->wait_ms >= 0 ? m->wait_ms : eng->cfg->default_wait_ms;
		if (wait > eng->cfg->max_wait_ms)
			wait = eng->cfg->max_wait_ms;
		if (wait > 0 && may_park(eng, p) &&
		    core_pend_add_waiter(p, handle, now_mono_ms + wait) ==
		    CS_OK)
			return true;
		reply = decision_reply(p->info, m->id);
		if (reply != NULL) {
			json_object_set_new(reply, "decision",
			    json_string("pending"));
			json_object_set_new(reply, "by", json_string("policy"));
		}
		fx_reply(fx, handle, reply, NULL);
		return true;
	}
	if ((r = core_map_get(eng->recent, request)) != NULL) {
		fx_reply_past(fx, handle, recent_reply(r), r->audit_seq > 0,
		    r->request);
		return true;
	}
	free(core_map_del(eng->dedup, key)); /* forgotten: decide afresh */
	return false;
}

/* The member of obj at a dot path ("a.b"), or NULL; *parent and *last get
 * the containing object and the final key. */
static json_t *
path_get(json_t *obj, const char *path, json_t **parent, char *last,
    size_t last_size)
{
	const char *seg = path, *dot;

	for (;;) {
		size_t len;

		dot = strchr(seg, '.');
		len = dot != NULL ? (size_t) (dot - seg) : strlen(seg);
		if (!json_is_object(obj) || len == 0 || len >= last_size)
			return NULL;
		memcpy(last, seg, len);
		last[len] = '\0';
		*parent = obj;
		obj = json_object_get(obj, last);
		if (obj == NULL || dot == NULL)
			return obj;
		seg = dot + 1;
	}
}

/* The args to record: a copy with configured paths masked, or args
 * itself (a new reference either way). */
static json_t *
masked_args(const core_cfg *cfg, json_t *args)
{
	json_t *copy = NULL, *parent;
	char last[256];

	if (args == NULL)
		return json_null();
	for (size_t i = 0; i < cfg->mask_count; i++) {
		const char *path = cfg->mask_args[i] + 5; /* after "args." */

		if (path_get(args, path, &parent, last, sizeof last) == NULL)
			continue;
		if (copy == NULL && (copy = json_deep_copy(args)) == NULL)
			return json_string("*** (masked)");
		if (path_get(copy, path, &parent, last, sizeof last) != NULL)
			json_object_set_new(parent, last, json_string("***"));
	}
	return copy != NULL ? copy : json_incref(args);
}

/* The frame's own string member key, shared into o under the same key. */
static void
share_member(json_t *o, const core_msg *m, const char *key)
{
	json_t *v = json_object_get(m->root, key);

	if (json_is_string(v))
		json_object_set(o, key, v);
}

/* Build the context object of a call: everything an operator and the
 * audit event need. What comes from the frame and the token is shared,
 * not copied: the values are immutable and their counts atomic. */
static json_t *
call_info(const core_engine *eng, const char *request, const core_msg *m,
    const json_t *tok_members, const char *session, int trust,
    const char *posture, const char *digest, int64_t now_ms)
{
	json_t *info;
	const char *key;
	json_t *v;

	if ((info = json_object()) == NULL)
		return NULL;
	set_str(info, "request", request);
	share_member(info, m, "id");
	if (session != NULL && session == m->session)
		share_member(info, m, "session");
	else
		set_str(info, "session", session);
	share_member(info, m, "tool");
	share_member(info, m, "action");
	share_member(info, m, "resource");
	json_object_set_new(info, "args", masked_args(eng->cfg, m->args));
	set_str(info, "args_digest", digest);
	json_object_set_new(info, "received", json_integer(now_ms));
	set_str(info, "posture", posture);
	if (tok_members == NULL)
		return info;
	json_object_foreach((json_t *) tok_members, key, v)
		json_object_set(info, key, v);
	/* the token's purpose is the human's word; the agent's own, when it
	 * says another, is recorded beside it and decides nothing */
	if (m->purpose != NULL) {
		const char *delegated = json_string_value(json_object_get(info,
		    "purpose"));

		if (delegated == NULL)
			set_str(info, "purpose", m->purpose);
		else if (strcmp(delegated, m->purpose) != 0)
			set_str(info, "stated_purpose", m->purpose);
	}
	json_object_set_new(info, "trust", json_integer(trust));
	return info;
}

/* Why a token may not join an existing session s of its user and agent,
 * or NULL: a session's trust and grants belong to the delegation that
 * opened it, so the chain must be the same (an approval given for one
 * chain is not one for another) and so must the trust the token carries
 * (a token re-issued with less trust does not inherit more). A new
 * string. */
static char *
session_mismatch(const core_engine *eng, const core_sess *s,
    const core_tok *tok, const json_t *chain)
{
	int claim = tok->trust >= 0 ? tok->trust : eng->cfg->default_trust;

	if (claim > eng->cfg->max_initial_trust)
		claim = eng->cfg->max_initial_trust;
	if (claim < CORE_TRUST_MIN)
		claim = CORE_TRUST_MIN;
	if (chain == NULL ? json_array_size(s->chain) > 0 :
	    !json_equal((json_t *) chain, s->chain))
		return cs_asprintf("admission: session \"%s\" belongs to "
		    "another delegation chain", s->id);
	if (claim != s->initial_trust)
		return cs_asprintf("admission: session \"%s\" was opened by "
		    "a token of trust %d and this token carries %d: use a "
		    "session of its own", s->id, s->initial_trust, claim);
	return NULL;
}

/* Deny a call before its policy is asked (by: admission or error): one
 * audit event with the call's context and why. */
static void
refuse_call(core_engine *eng, const char *request, const core_msg *m,
    const json_t *members, const char *session, const char *digest,
    const char *by, const char *reason, uint64_t handle, const char *key,
    int64_t now_ms, core_fx *fx)
{
	json_t *info = call_info(eng, request, m, members, session, -1,
	    eng->posture, digest, now_ms);

	set_str(info, "policy", pol_set_version(eng->pol));
	finalize_ev(eng, info, "deny", by, NULL, reason, NULL, 0, handle, key,
	    now_ms, fx);
}

/* Handle an authorize message. */
static void
authorize(core_engine *eng, const core_msg *m, uint64_t handle,
    int64_t now_ms, int64_t now_mono_ms, core_fx *fx)
{
	char request[40], digest[72];
	char *key = NULL, *cause = NULL, *reason = NULL;
	const core_tok *tok = NULL;
	const json_t *members = NULL;
	json_t *info = NULL;
	const char *session;
	core_sess *s;
	bool created;
	pol_input in;
	pol_result res;
	const core_grant *grant;
	core_pend *p;
	int64_t wait, timeout_ms;
	bool released = false;
	cs_err rv;

	memcpy(digest, m->args_digest, sizeof digest);
	key = dedup_key_of(m, digest);
	pthread_mutex_lock(&eng->mtx);
	if (key != NULL && replay(eng, m, key, handle, now_mono_ms, fx))
		goto done;
	new_request_id(eng, request);

	/* 1. admission */
	tok = tok_get(eng, m->token, now_ms / 1000, &cause, &released,
	    &members);
	if (released && key != NULL &&
	    replay(eng, m, key, handle, now_mono_ms, fx))
		goto done; /* the same call, decided while the token was
		            * being verified */
	if (tok == NULL) {
		reason = cs_asprintf("admission: %s",
		    cause != NULL ? cause : "invalid token");
		refuse_call(eng, request, m, NULL, m->session, digest,
		    "admission", reason, handle, key, now_ms, fx);
		goto done;
	}
	if (eng->cfg->jti_max_uses > 0 && tok->jti != NULL &&
	    !jti_use(eng, tok, now_ms / 1000))
		reason = cs_asprintf("admission: token %s was used more than "
		    "%zu times", tok->jti, eng->cfg->jti_max_uses);
	session = tok->sid != NULL ? tok->sid : m->session != NULL ?
	    m->session : tok->jti != NULL ? tok->jti : tok->agent;
	if (reason != NULL)
		; /* already refused */
	else if (tok->sid != NULL && m->session != NULL &&
	    strcmp(tok->sid, m->session) != 0)
		reason = cs_asprintf("admission: session \"%s\" is not the "
		    "token's session", m->session);
	else if (!core_tok_covers(tok, m->tool))
		reason = cs_asprintf("admission: tool \"%s\" is outside the "
		    "token scope \"%s\"", m->tool,
		    tok->scope_text != NULL ? tok->scope_text : "");
	if (reason != NULL) {
		refuse_call(eng, request, m, members, session, digest,
		    "admission", reason, handle, key, now_ms, fx);
		goto done;
	}

	/* 2. live context */
	info = NULL;
	if ((rv = core_sess_open(eng->sessions, session, tok->user,
	    tok->agent, NULL, tok->purpose != NULL ? tok->purpose : m->purpose,
	    tok->trust >= 0 ? tok->trust : eng->cfg->default_trust,
	    eng->cfg->max_initial_trust, now_ms, &s, &created)) != CS_OK) {
		if (rv == CS_EDENIED)
			reason = cs_asprintf("%s/%s holds %zu sessions, the most "
			    "one delegation may (max_sessions_per_delegation), "
			    "and each of its oldest has a call waiting, a grant "
			    "or a trust an operator set", tok->user,
			    tok->agent, eng->cfg->max_sessions_per_delegation);
		refuse_call(eng, request, m, members, session, digest,
		    "error", reason != NULL ? reason : rv == CS_EFULL ?
		    "session table full" : "out of memory", handle, key,
		    now_ms, fx);
		goto done;
	}
	if (!created && (strcmp(s->user, tok->user) != 0 ||
	    strcmp(s->agent, tok->agent) != 0)) {
		/* another delegation's session: its trust and grants are
		 * not this token's to use */
		reason = cs_asprintf("admission: session \"%s\" belongs to "
		    "another delegation", session);
		refuse_call(eng, request, m, members, session, digest,
		    "admission", reason, handle, key, now_ms, fx);
		goto done;
	}
	if (created) { /* the token's chain, shared like the event's */
		json_t *chain = json_object_get(members, "chain");

		if (chain != NULL) {
			json_decref(s->chain);
			s->chain = json_incref(chain);
		}
	} else if ((reason = session_mismatch(eng, s, tok,
	    json_object_get(members, "chain"))) != NULL) {
		refuse_call(eng, request, m, members, session, digest,
		    "admission", reason, handle, key, now_ms, fx);
		goto done;
	}
	engine_clock(eng, now_ms);
	in = (pol_input) {
		.tool = m->tool, .action = m->action, .resource = m->resource,
		.agent = tok->agent, .user = tok->user,
		.purpose = tok->purpose != NULL ? tok->purpose : m->purpose,
		.posture = eng->posture,
		.scopes = (const char *const *) tok->scopes,
		.scope_count = tok->scope_count,
		.chain_depth = (int) tok->chain_len - 1, .trust = s->trust,
		.hour = eng->hour, .weekday = eng->weekday,
		.rate_per_min = core_sess_note_call(s, now_ms, m->tool),
		.denials = (int) s->denials, .args = m->args,
	};

	/* 3. policy */
	pol_eval(eng->pol, &in, &res);
	info = call_info(eng, request, m, members, session, s->trust,
	    eng->posture, digest, now_ms);
	if (info == NULL) {
		fx_reply(fx, handle, error_reply("internal", "out of memory",
		    request), NULL);
		goto done;
	}
	set_str(info, "policy", pol_set_version(eng->pol));
	set_str(info, "rule", res.rule);
	set_str(info, "risk", res.risk);
	json_object_set_new(info, "rate", json_integer(in.rate_per_min));
	if (!core_sess_knows_tool(s, m->tool) ||
	    json_integer_value(json_object_get(s->tools, m->tool)) <= 1)
		json_object_set_new(info, "new_tool", json_true());

	/* a grant is one operator's word: it never stands in for a rule
	 * that needs a quorum */
	if (res.decision == POL_ASK && res.approvers <= 1 &&
	    (grant = core_sess_grant_find(s, m->tool, now_mono_ms)) != NULL) {
		json_t *ops = json_array();

		json_array_append_new(ops, json_string(grant->operator_name));
		set_str(info, "grant", grant->id);
		reason = cs_asprintf("session grant %s by %s", grant->id,
		    grant->operator_name);
		finalize_ev(eng, info, "allow", "grant", ops, reason, NULL, 0,
		    handle, key, now_ms, fx);
		info = NULL;
		goto done;
	}
	if (res.decision != POL_ASK) {
		finalize_ev(eng, info, pol_decision_name(res.decision), "policy",
		    NULL, res.reason != NULL ? res.reason :
		    res.decision == POL_ALLOW ? "allowed by policy" :
		    "denied by policy", NULL, 0, handle, key, now_ms, fx);
		info = NULL;
		goto done;
	}

	/* 4. escalate to operators */
	timeout_ms = (int64_t) res.timeout_s * 1000;
	if (res.reason != NULL)
		set_str(info, "reason", res.reason);
	json_object_set_new(info, "approvers", json_integer(res.approvers));
	json_object_set_new(info, "deadline",
	    json_integer(now_ms + timeout_ms));
	rv = core_pend_add(eng->pending, request, json_incref(info),
	    tok->user, session, m->tool, digest, res.approvers,
	    res.on_timeout, now_mono_ms, now_ms, timeout_ms, &p);
	if (rv == CS_OK)
		s->pending++;
	if (rv != CS_OK) {
		reason = rv == CS_EFULL ? cs_asprintf("pending queue full "
		    "(%zu calls waiting for an operator)",
		    core_pend_count(eng->pending)) :
		    cs_asprintf("could not queue for approval: %s",
		    cs_strerror(rv));
		finalize_ev(eng, info, "deny", "error", NULL, reason, NULL, 0,
		    handle, key, now_ms, fx);
		info = NULL;
		goto done;
	}
	if (key != NULL)
		set_str(info, "replay", key);
	{
		json_t *ev = json_deep_copy(info);

		json_object_set_new(ev, "kind", json_string("pending"));
		json_object_set_new(ev, "ts", json_integer(now_ms));
		ev = fx_event(fx, ev);
		fx_req(fx, request, ev);
		fx_pub(fx, "pending", core_pend_to_json(p));
	}
	if (key != NULL) {
		dedup_put(eng, key, request);
		p->dedup_key = strdup(key);
	}
	wait = m->wait_ms >= 0 ? m->wait_ms : eng->cfg->default_wait_ms;
	if (wait > eng->cfg->max_wait_ms)
		wait = eng->cfg->max_wait_ms;
	if (wait > 0 && may_park(eng, p) &&
	    core_pend_add_waiter(p, handle, now_mono_ms + wait) == CS_OK)
		goto done; /* parked: answered when decided or wait ends */
	{
		json_t *reply = decision_reply(info, NULL);

		json_object_set_new(reply, "decision", json_string("pending"));
		json_object_set_new(reply, "by", json_string("policy"));
		fx_reply(fx, handle, reply, NULL);
	}
done:
	pthread_mutex_unlock(&eng->mtx);
	json_decref(info);
	free(reason);
	free(cause);
	free(key);
}

/* Handle a status query. */
static void
status(core_engine *eng, const core_msg *m, uint64_t handle, core_fx *fx)
{
	core_pend *p;
	struct recent *r;
	json_t *ev, *reply;

	if ((p = core_pend_get(eng->pending, m->request)) != NULL) {
		reply = decision_reply(p->info, m->id);
		json_object_set_new(reply, "decision", json_string("pending"));
		json_object_set_new(reply, "by", json_string("policy"));
		json_object_set_new(reply, "approvals",
		    json_integer(p->approved_count));
		json_object_set_new(reply, "approvers",
		    json_integer(p->approvers_needed));
		fx_reply(fx, handle, reply, NULL);
		return;
	}
	if ((r = core_map_get(eng->recent, m->request)) != NULL) {
		reply = recent_reply(r);
		if (reply != NULL && m->id != NULL)
			json_object_set_new(reply, "id", json_string(m->id));
		fx_reply_past(fx, handle, reply, r->audit_seq > 0, r->request);
		return;
	}
	if (eng->lookup != NULL &&
	    (ev = eng->lookup(eng->hook_ud, m->request)) != NULL) {
		/* read from the store */
		fx_reply_past(fx, handle, decision_reply(ev, m->id), true,
		    NULL);
		json_decref(ev);
		return;
	}
	fx_reply(fx, handle, error_reply("not_found", "no such request",
	    m->request), NULL);
}

void
core_engine_agent_msg(core_engine *eng, const char *buf, size_t len,
    uint64_t handle, int64_t now_ms, int64_t now_mono_ms, core_fx *fx)
{
	core_msg m;
	const char *code = "bad_json";
	char *cause = NULL;

	if (core_msg_parse(buf, len, eng->cfg->max_depth,
	    eng->cfg->max_args_len, &m, &code, &cause) != CS_OK) {
		pthread_mutex_lock(&eng->mtx);
		reject_frame(eng, code, cause != NULL ? cause : code, len, buf,
		    handle, now_ms, fx);
		pthread_mutex_unlock(&eng->mtx);
		free(cause);
		return;
	}
	if (m.type == CORE_MSG_AUTHORIZE)
		authorize(eng, &m, handle, now_ms, now_mono_ms, fx);
	else {
		pthread_mutex_lock(&eng->mtx);
		status(eng, &m, handle, fx);
		pthread_mutex_unlock(&eng->mtx);
	}
	core_msg_fini(&m);
}

/* ---- timers ----------------------------------------------------------- */

/* Apply deadlines (lock held). */
static void
tick(core_engine *eng, int64_t now_ms, int64_t now_mono_ms, core_fx *fx)
{
	char (*expired)[40];
	size_t n;
	core_pend **items;
	size_t count;

	if ((expired = malloc(EXPIRED_BATCH * sizeof *expired)) == NULL)
		return;
	while ((n = core_pend_expired(eng->pending, now_mono_ms, expired,
	    EXPIRED_BATCH)) > 0) {
		for (size_t i = 0; i < n; i++) {
			core_pend *p = pend_take(eng, expired[i]);
			char *reason;

			if (p == NULL)
				continue;
			reason = cs_asprintf("no operator decision within %llds",
			    (long long) ((p->deadline_mono_ms -
			    p->created_mono_ms) / 1000));
			finalize(eng, p->info,
			    pol_decision_name((pol_decision) p->on_timeout),
			    "timeout", NULL, reason, p->waiters,
			    p->waiter_count, 0, p->dedup_key, now_ms, fx);
			free(reason);
			core_pend_free(p);
		}
		if (n < EXPIRED_BATCH)
			break;
	}
	free(expired);

	/* agents whose wait ran out get "pending" and may poll status */
	if (core_pend_next_deadline(eng->pending) > now_mono_ms)
		return;
	if ((items = core_pend_list(eng->pending, &count)) == NULL)
		return;
	for (size_t i = 0; i < count; i++) {
		core_pend *p = items[i];

		for (int w = 0; w < p->waiter_count;) {
			json_t *reply;

			if (p->waiters[w].until_mono_ms > now_mono_ms) {
				w++;
				continue;
			}
			reply = decision_reply(p->info, NULL);
			json_object_set_new(reply, "decision",
			    json_string("pending"));
			json_object_set_new(reply, "by", json_string("policy"));
			fx_reply(fx, p->waiters[w].handle, reply, NULL);
			p->waiters[w] = p->waiters[--p->waiter_count];
		}
	}
	free(items);
}

void
core_engine_tick(core_engine *eng, int64_t now_ms, int64_t now_mono_ms,
    core_fx *fx)
{
	pthread_mutex_lock(&eng->mtx);
	tick(eng, now_ms, now_mono_ms, fx);
	pthread_mutex_unlock(&eng->mtx);
}

/* ---- operator commands ----------------------------------------------- */

/* Audit and refuse an operator command. */
static void
refuse(core_fx *fx, uint64_t handle, const char *operator_name,
    const char *code, const char *message, const char *request,
    int64_t now_ms)
{
	json_t *ev = json_pack("{s:s, s:I, s:s, s:s, s:o}", "kind", "refused",
	    "ts", (json_int_t) now_ms, "operator", operator_name, "code", code,
	    "reason", cs_json_text(message));

	if (ev != NULL && request != NULL)
		json_object_set_new(ev, "request", json_string(request));
	ev = fx_event(fx, ev);
	fx_reply(fx, handle, error_reply(code, message, request), ev);
}

/* A new "ok" reply with extra members from more (stolen, may be NULL). */
static json_t *
ok_reply(const char *type, json_t *more)
{
	json_t *o = json_pack("{s:i, s:s, s:b}", "v", 1, "type", type, "ok",
	    1);

	if (o != NULL && more != NULL)
		json_object_update(o, more);
	json_decref(more);
	return o;
}

/* Sessions a snapshot lists at most (the most recently active): a
 * snapshot must fit a client's message bound (16 MiB) whatever the table
 * holds. */
#define SNAPSHOT_SESSIONS 10000

/* Bytes of pending calls' arguments a snapshot carries in full (about
 * 6 MiB of the 16); past it a call's arguments are replaced by their size
 * (args_elided), so 1,000 calls of 32 KB each still fit. */
#define SNAPSHOT_ARGS_BUDGET (6u << 20)
#define SNAPSHOT_ARGS_SMALL 1024 /* always carried in full */

struct sess_list {
	core_sess **v;
	size_t n, cap;
};

/* Collect sessions. */
static bool
sess_collect_cb(void *ud, core_sess *s)
{
	struct sess_list *l = ud;

	if (l->n == l->cap) {
		size_t cap = l->cap != 0 ? l->cap * 2 : 256;
		core_sess **v = realloc(l->v, cap * sizeof *v);

		if (v == NULL)
			return false;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return true;
}

/* Most recently active first. */
static int
sess_recent_first(const void *a, const void *b)
{
	const core_sess *x = *(core_sess *const *) a;
	const core_sess *y = *(core_sess *const *) b;

	return x->last_ms != y->last_ms ? (x->last_ms < y->last_ms ? 1 : -1) :
	    strcmp(x->id, y->id);
}

/* The snapshot a console starts from. */
static json_t *
snapshot(core_engine *eng, const char *operator_name, int64_t now_ms,
    int64_t now_mono_ms)
{
	json_t *pending = json_array(), *sessions = json_array();
	struct sess_list all = { NULL, 0, 0 };
	core_pend **items;
	size_t count = 0;

	if ((items = core_pend_list(eng->pending, &count)) != NULL) {
		size_t budget = SNAPSHOT_ARGS_BUDGET;

		for (size_t i = 0; i < count; i++) {
			json_t *o = core_pend_to_json(items[i]);
			char *args = o != NULL ? json_dumps(json_object_get(o,
			    "args"), JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
			size_t len = args != NULL ? strlen(args) : 0;

			free(args);
			if (o != NULL && len > SNAPSHOT_ARGS_SMALL &&
			    len > budget) {
				/* the arguments come with the call's own
				 * pending event, and are in the audit store */
				json_object_set_new(o, "args", json_null());
				json_object_set_new(o, "args_elided",
				    json_integer((json_int_t) len));
			} else if (len > SNAPSHOT_ARGS_SMALL) {
				budget -= len;
			}
			json_array_append_new(pending, o);
		}
		free(items);
	}
	core_sess_each(eng->sessions, sess_collect_cb, &all);
	if (all.n > SNAPSHOT_SESSIONS)
		qsort(all.v, all.n, sizeof *all.v, sess_recent_first);
	for (size_t i = 0; i < all.n && i < SNAPSHOT_SESSIONS; i++)
		json_array_append_new(sessions,
		    core_sess_to_json(all.v[i], now_mono_ms));
	free(all.v);
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:I}", "operator",
	    operator_name, "posture", eng->posture, "policy",
	    pol_set_version(eng->pol), "pending", pending, "sessions",
	    sessions, "sessions_total",
	    (json_int_t) core_sess_count(eng->sessions), "server_time",
	    (json_int_t) now_ms);
}

/* Change a session's trust level and audit it. */
static bool
set_trust(core_engine *eng, core_sess *s, int level,
    const char *operator_name, const char *reason, int64_t now_ms,
    int64_t now_mono_ms, core_fx *fx)
{
	json_t *ev, *pub;
	char *session;

	(void) eng;
	/* in force once the row is written (core_engine_committed) */
	if ((session = strdup(s->id)) == NULL ||
	    !fx_change(fx, (core_change) { .kind = CORE_CHANGE_TRUST,
	    .session = session, .trust = level }))
		return false;
	s->held++; /* not forgotten before the change is in force */
	ev = json_pack("{s:s, s:I, s:s, s:s, s:s, s:i, s:i, s:s, s:s?}",
	    "kind", "trust", "ts", (json_int_t) now_ms, "session", s->id,
	    "user", s->user, "agent", s->agent, "from", s->trust, "to", level,
	    "operator", operator_name, "reason", reason);
	fx_event(fx, ev);
	if ((pub = core_sess_to_json(s, now_mono_ms)) != NULL)
		json_object_set_new(pub, "trust", json_integer(level));
	fx_pub(fx, "session", pub);
	return true;
}

/* decide: approve or deny a pending call. */
static void
decide(core_engine *eng, const char *op, json_t *root, uint64_t handle,
    int64_t now_ms, int64_t now_mono_ms, core_fx *fx)
{
	const char *request = NULL, *verdict = NULL, *scope = "once";
	const char *reason = NULL;
	json_int_t ttl_s = 900;
	int quarantine = 0;
	json_error_t jerr;
	core_pend *p;
	struct recent *r;
	bool met = false;
	cs_err rv;

	if (json_unpack_ex(root, &jerr, 0, "{s:i, s:s, s:s, s:s, s?:s, "
	    "s?:I, s?:s, s?:b !}", "v", &(int) { 0 }, "type", &(const char *)
	    { NULL }, "request", &request, "verdict", &verdict, "scope",
	    &scope, "ttl_s", &ttl_s, "reason", &reason, "quarantine",
	    &quarantine) != 0) {
		refuse(fx, handle, op, "bad_request", jerr.text, NULL, now_ms);
		return;
	}
	if ((strcmp(verdict, "approve") != 0 && strcmp(verdict, "deny") != 0) ||
	    (strcmp(scope, "once") != 0 && strcmp(scope, "session") != 0) ||
	    ttl_s <= 0 || ttl_s > eng->cfg->max_grant_ttl_ms / 1000) {
		refuse(fx, handle, op, "bad_request", "verdict must be "
		    "approve|deny, scope once|session, ttl_s within the "
		    "configured maximum", request, now_ms);
		return;
	}
	if ((p = core_pend_get(eng->pending, request)) == NULL) {
		json_t *reply;

		if ((r = core_map_get(eng->recent, request)) == NULL) {
			refuse(fx, handle, op, "not_found", "no such pending "
			    "request", request, now_ms);
			return;
		}
		reply = error_reply("already_decided", "already decided",
		    request);
		json_object_set_new(reply, "decision", recent_reply(r));
		fx_reply(fx, handle, reply, NULL);
		return;
	}
	if (strcmp(verdict, "approve") == 0) {
		rv = core_pend_approve(p, op, &met);
		if (rv == CS_EDENIED) {
			refuse(fx, handle, op, "self_approval", "the delegating "
			    "human may not approve their own agent's call",
			    request, now_ms);
			return;
		}
		if (rv == CS_EEXISTS) {
			refuse(fx, handle, op, "already_approved", "this "
			    "operator already approved; a quorum needs "
			    "distinct operators", request, now_ms);
			return;
		}
		if (rv != CS_OK) {
			refuse(fx, handle, op, "internal", cs_strerror(rv),
			    request, now_ms);
			return;
		}
		if (!met) {
			json_t *ev = json_pack("{s:s, s:I, s:s, s:s, s:s, s:i, "
			    "s:i}", "kind", "approval", "ts",
			    (json_int_t) now_ms, "request", request,
			    "session", p->session, "operator", op, "count",
			    p->approved_count, "needed", p->approvers_needed);

			ev = fx_event(fx, ev);
			fx_reply(fx, handle, ok_reply("decide", json_pack(
			    "{s:s, s:s, s:i, s:i}", "request", request,
			    "state", "awaiting_quorum", "approvals",
			    p->approved_count, "approvers",
			    p->approvers_needed)), ev);
			fx_pub(fx, "pending", core_pend_to_json(p));
			return;
		}
	}
	p = pend_take(eng, request);
	{
		json_t *ops = json_array(), *ev;
		core_sess *s = core_sess_get(eng->sessions, p->session);
		char *why = NULL;
		size_t first_event = json_array_size(fx->events);

		if (strcmp(verdict, "approve") == 0)
			for (int i = 0; i < p->approved_count; i++)
				json_array_append_new(ops,
				    json_string(p->approved_by[i]));
		else
			json_array_append_new(ops, json_string(op));
		if (reason == NULL)
			why = cs_asprintf("%s by operator %s",
			    strcmp(verdict, "approve") == 0 ? "approved" :
			    "denied", op);
		finalize(eng, p->info,
		    strcmp(verdict, "approve") == 0 ? "allow" : "deny",
		    "operator", ops, reason != NULL ? reason : why,
		    p->waiters, p->waiter_count, 0, p->dedup_key, now_ms, fx);
		free(why);
		ev = json_array_get(fx->events, first_event);
		if (strcmp(verdict, "approve") == 0 &&
		    strcmp(scope, "session") == 0 && s != NULL) {
			core_grant g;

			if (core_sess_grant_add(s, p->tool, op, ttl_s * 1000,
			    now_mono_ms, now_ms, &g) == CS_OK) {
				fx_event(fx, json_pack("{s:s, s:I, s:s, s:s, "
				    "s:s, s:s, s:s, s:I, s:I}", "kind",
				    "grant", "ts", (json_int_t) now_ms,
				    "grant", g.id, "session", s->id, "tool",
				    p->tool, "operator", op, "request",
				    request, "ttl_s", ttl_s, "expires",
				    (json_int_t) g.expires_ms));
				fx_pub(fx, "session",
				    core_sess_to_json(s, now_mono_ms));
			}
		}
		if (quarantine && s != NULL && s->trust != 0 &&
		    !set_trust(eng, s, 0, op, reason != NULL ? reason :
		    "quarantined by operator", now_ms, now_mono_ms, fx))
			cs_log("error: out of memory: session %s was not "
			    "quarantined", s->id);
		fx_reply(fx, handle, ok_reply("decide", json_pack("{s:s, "
		    "s:s}", "request", request, "state", "decided")), ev);
		core_pend_free(p);
	}
}

/* Parse and apply one control command (lock held). */
static void
control_msg(core_engine *eng, const char *op, const char *buf, size_t len,
    uint64_t handle, int64_t now_ms, int64_t now_mono_ms, core_fx *fx)
{
	const char *code = "bad_json", *type;
	char *cause = NULL;
	json_t *root;
	json_error_t jerr;

	if ((root = core_json_parse_strict(buf, len, eng->cfg->max_depth,
	    &code, &cause)) == NULL) {
		refuse(fx, handle, op, code, cause != NULL ? cause : code, NULL,
		    now_ms);
		free(cause);
		return;
	}
	if (!json_is_object(root) ||
	    json_integer_value(json_object_get(root, "v")) != 1 ||
	    !json_is_integer(json_object_get(root, "v")) ||
	    (type = json_string_value(json_object_get(root, "type"))) ==
	    NULL) {
		refuse(fx, handle, op, "bad_version", "need {\"v\":1, "
		    "\"type\":...}", NULL, now_ms);
		goto done;
	}
	if (!core_cfg_is_operator(eng->cfg, op)) {
		char *msg = cs_asprintf("user \"%s\" is not an operator", op);

		refuse(fx, handle, op, "not_operator", msg, NULL, now_ms);
		free(msg);
		goto done;
	}
	if (strcmp(type, "hello") == 0 || strcmp(type, "pending") == 0 ||
	    strcmp(type, "sessions") == 0) {
		fx_reply(fx, handle, ok_reply(type, snapshot(eng, op, now_ms,
		    now_mono_ms)), NULL);
	} else if (strcmp(type, "decide") == 0) {
		decide(eng, op, root, handle, now_ms, now_mono_ms, fx);
	} else if (strcmp(type, "trust") == 0) {
		const char *session, *reason = NULL;
		json_int_t level; /* not "i": that would truncate 2^32+2 */
		core_sess *s;

		if (json_unpack_ex(root, &jerr, 0, "{s:i, s:s, s:s, s:I, "
		    "s?:s !}", "v", &(int) { 0 }, "type", &type, "session",
		    &session, "level", &level, "reason", &reason) != 0 ||
		    level < CORE_TRUST_MIN || level > CORE_TRUST_MAX) {
			refuse(fx, handle, op, "bad_request", "trust needs "
			    "session and level 0-4", NULL, now_ms);
			goto done;
		}
		if ((s = core_sess_get(eng->sessions, session)) == NULL) {
			refuse(fx, handle, op, "not_found", "no such session",
			    NULL, now_ms);
			goto done;
		}
		{
			int from = s->trust;
			size_t first = json_array_size(fx->events);

			if (!set_trust(eng, s, (int) level, op, reason, now_ms,
			    now_mono_ms, fx)) {
				refuse(fx, handle, op, "internal",
				    "out of memory", NULL, now_ms);
				goto done;
			}
			fx_reply(fx, handle, ok_reply("trust", json_pack(
			    "{s:s, s:i, s:i}", "session", session, "from",
			    from, "to", (int) level)),
			    json_array_get(fx->events, first));
		}
	} else if (strcmp(type, "posture") == 0) {
		const char *level, *reason = NULL;
		size_t i;
		json_t *ev;

		if (json_unpack_ex(root, &jerr, 0, "{s:i, s:s, s:s, s?:s !}",
		    "v", &(int) { 0 }, "type", &type, "level", &level,
		    "reason", &reason) != 0)
			level = "";
		for (i = 0; i < CS_ARRAY_LEN(postures); i++)
			if (strcmp(level, postures[i]) == 0)
				break;
		if (i == CS_ARRAY_LEN(postures)) {
			refuse(fx, handle, op, "bad_request", "posture must be "
			    "normal, elevated or lockdown", NULL, now_ms);
			goto done;
		}
		{
			core_change c = { .kind = CORE_CHANGE_POSTURE };

			/* in force once the row is written */
			snprintf(c.posture, sizeof c.posture, "%s",
			    postures[i]);
			if (!fx_change(fx, c)) {
				refuse(fx, handle, op, "internal",
				    "out of memory", NULL, now_ms);
				goto done;
			}
		}
		ev = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s?}", "kind",
		    "posture", "ts", (json_int_t) now_ms, "from",
		    eng->posture, "to", postures[i], "operator", op,
		    "reason", reason);
		ev = fx_event(fx, ev);
		fx_reply(fx, handle, ok_reply("posture", json_pack("{s:s, "
		    "s:s}", "from", eng->posture, "to", postures[i])), ev);
		fx_pub(fx, "posture", json_pack("{s:s, s:s}", "posture",
		    postures[i], "operator", op));
	} else if (strcmp(type, "revoke") == 0) {
		const char *session, *grant;
		core_sess *s;
		json_t *ev;

		if (json_unpack_ex(root, &jerr, 0, "{s:i, s:s, s:s, s:s !}",
		    "v", &(int) { 0 }, "type", &type, "session", &session,
		    "grant", &grant) != 0 ||
		    (s = core_sess_get(eng->sessions, session)) == NULL ||
		    core_sess_grant_revoke(s, grant) != CS_OK) {
			refuse(fx, handle, op, "not_found", "no such grant in "
			    "that session", NULL, now_ms);
			goto done;
		}
		ev = fx_event(fx, json_pack("{s:s, s:I, s:s, s:s, s:s}", "kind",
		    "revoke", "ts", (json_int_t) now_ms, "session", session,
		    "grant", grant, "operator", op));
		fx_reply(fx, handle, ok_reply("revoke", NULL), ev);
		fx_pub(fx, "session", core_sess_to_json(s, now_mono_ms));
	} else if (strcmp(type, "reload") == 0) {
		pol_set *pol = NULL;
		char *why = NULL;
		size_t first = json_array_size(fx->events);
		size_t reply = fx->reply_count;

		if (eng->reload != NULL)
			pol = eng->reload(eng->hook_ud, &why);
		else
			why = strdup("reload is not available");
		/* the reply first: pol is the fx's once it is queued */
		fx_reply(fx, handle, pol != NULL ? ok_reply("reload",
		    json_pack("{s:s}", "policy", pol_set_version(pol))) :
		    error_reply("policy_rejected", why, NULL), NULL);
		policy_changed(eng, pol, why, op, now_ms, fx);
		if (fx->reply_count > reply) /* not lost to OOM */
			fx->replies[reply].event =
			    json_array_get(fx->events, first);
		free(why);
	} else {
		refuse(fx, handle, op, "unknown_type", "unknown control "
		    "command", NULL, now_ms);
	}
done:
	json_decref(root);
}

void
core_engine_control_msg(core_engine *eng, const char *op, const char *buf,
    size_t len, uint64_t handle, int64_t now_ms, int64_t now_mono_ms,
    core_fx *fx)
{
	pthread_mutex_lock(&eng->mtx);
	control_msg(eng, op, buf, len, handle, now_ms, now_mono_ms, fx);
	pthread_mutex_unlock(&eng->mtx);
}

void
core_engine_policy_changed(core_engine *eng, pol_set *pol,
    const char *error, const char *who, int64_t now_ms, core_fx *fx)
{
	pthread_mutex_lock(&eng->mtx);
	policy_changed(eng, pol, error, who, now_ms, fx);
	pthread_mutex_unlock(&eng->mtx);
}

/* Record a reload attempt (lock held). */
static void
policy_changed(core_engine *eng, pol_set *pol, const char *error,
    const char *who, int64_t now_ms, core_fx *fx)
{
	const char *from = pol_set_version(eng->pol);
	json_t *ev;

	ev = json_pack("{s:s, s:I, s:s, s:s?, s:b, s:s?, s:s}", "kind",
	    "policy", "ts", (json_int_t) now_ms, "from", from, "to",
	    pol != NULL ? pol_set_version(pol) : NULL, "ok", pol != NULL,
	    "error", error, "operator", who);
	fx_event(fx, ev);
	fx_pub(fx, "policy", json_pack("{s:s, s:b, s:s?}", "policy",
	    pol != NULL ? pol_set_version(pol) : from, "ok", pol != NULL,
	    "error", error));
	/* in force once the row is written */
	if (pol != NULL)
		(void) fx_change(fx, (core_change) {
		    .kind = CORE_CHANGE_POLICY, .pol = pol });
}

void
core_engine_close_stale(core_engine *eng, const json_t *pending_event,
    int64_t now_ms, core_fx *fx)
{
	json_t *info = json_deep_copy(pending_event);

	if (info == NULL)
		return;
	json_object_del(info, "seq");
	json_object_del(info, "kind");
	json_object_del(info, "ts");
	pthread_mutex_lock(&eng->mtx);
	finalize(eng, info, "deny", "error", NULL, "restart", NULL, 0, 0,
	    json_string_value(json_object_get(info, "replay")), now_ms, fx);
	pthread_mutex_unlock(&eng->mtx);
	json_decref(info);
}

void
core_engine_remember(core_engine *eng, const json_t *ev, int64_t now_ms)
{
	const char *request = json_string_value(json_object_get(ev,
	    "request"));
	const char *replay = json_string_value(json_object_get(ev, "replay"));
	const char *jti = json_string_value(json_object_get(ev, "jti"));
	json_t *reply;
	struct recent *r;

	if (request == NULL)
		return;
	pthread_mutex_lock(&eng->mtx);
	if (core_map_get(eng->recent, request) == NULL &&
	    (reply = decision_reply(ev, NULL)) != NULL) {
		char *text = cs_json_dump(reply, 0, NULL);

		recent_put(eng, request, replay, text);
		if ((r = core_map_get(eng->recent, request)) != NULL)
			r->audit_seq = json_integer_value(json_object_get(ev,
			    "seq"));
		free(text);
		json_decref(reply);
	}
	/* uses of a token id still valid count against jti_max_uses */
	if (eng->cfg->jti_max_uses > 0 && jti != NULL &&
	    strcmp(json_string_value(json_object_get(ev, "by")) != NULL ?
	    json_string_value(json_object_get(ev, "by")) : "", "admission") !=
	    0 && json_integer_value(json_object_get(ev, "token_exp")) >
	    now_ms / 1000) {
		core_tok t = { .jti = (char *) (uintptr_t) jti,
			.exp = json_integer_value(json_object_get(ev,
			    "token_exp")) };

		(void) jti_use(eng, &t, now_ms / 1000);
	}
	pthread_mutex_unlock(&eng->mtx);
}

void
core_engine_shutdown(core_engine *eng, int64_t now_ms, core_fx *fx)
{
	core_pend **items;
	size_t count;

	pthread_mutex_lock(&eng->mtx);
	if ((items = core_pend_list(eng->pending, &count)) == NULL)
		goto out;
	for (size_t i = 0; i < count; i++) {
		core_pend *p = pend_take(eng, items[i]->request);

		finalize(eng, p->info, "deny", "error", NULL, "shutdown",
		    p->waiters, p->waiter_count, 0, p->dedup_key, now_ms, fx);
		core_pend_free(p);
	}
	free(items);
out:
	pthread_mutex_unlock(&eng->mtx);
}

/* Put a committed change in force (lock held). */
static void
apply_change(core_engine *eng, core_change *c)
{
	core_sess *s;

	switch (c->kind) {
	case CORE_CHANGE_POSTURE:
		snprintf(eng->posture, sizeof eng->posture, "%s", c->posture);
		break;
	case CORE_CHANGE_TRUST:
		if ((s = core_sess_get(eng->sessions, c->session)) != NULL) {
			s->trust = c->trust;
			if (s->held > 0)
				s->held--;
		}
		break;
	case CORE_CHANGE_POLICY:
		pol_set_free(eng->pol);
		eng->pol = c->pol;
		c->pol = NULL;
		break;
	}
}

/* Put fx's committed effects in force (lock held). */
static void
committed(core_engine *eng, core_fx *fx)
{
	for (size_t i = 0; i < fx->change_count; i++)
		apply_change(eng, &fx->changes[i]);
	for (size_t i = 0; i < fx->req_count; i++) {
		struct recent *r = core_map_get(eng->recent,
		    fx->reqs[i].request);
		json_t *seq;

		if (r == NULL || fx->reqs[i].event == NULL ||
		    (seq = json_object_get(fx->reqs[i].event, "seq")) == NULL)
			continue;
		if (json_is_string(json_object_get(fx->reqs[i].event,
		    "kind")) && strcmp(json_string_value(json_object_get(
		    fx->reqs[i].event, "kind")), "decision") == 0)
			r->audit_seq = json_integer_value(seq);
	}
}

void
core_engine_committed(core_engine *eng, core_fx *fx)
{
	core_engine_committed_many(eng, &fx, 1);
}

void
core_engine_committed_many(core_engine *eng, core_fx *const *fxs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fxs[i]->req_count > 0 || fxs[i]->change_count > 0)
			break;
	if (i == n)
		return;
	pthread_mutex_lock(&eng->mtx);
	for (; i < n; i++)
		committed(eng, fxs[i]);
	pthread_mutex_unlock(&eng->mtx);
}

/* Take back what fx did at once and whose audit rows could not be
 * written: a session grant and an approval toward a quorum (each by its
 * id, so the order of failures does not matter). Posture, trust and
 * policy changes were never in force (they wait for their rows); a revoke
 * stays, since it only takes away. */
static void
undo_changes(core_engine *eng, core_fx *fx)
{
	size_t i;
	json_t *ev;

	json_array_foreach(fx->events, i, ev) {
		const char *kind = json_string_value(json_object_get(ev, "kind"));
		const char *sid = json_string_value(json_object_get(ev,
		    "session"));
		core_sess *s = sid != NULL ? core_sess_get(eng->sessions, sid) :
		    NULL;
		core_pend *p;

		if (kind == NULL)
			continue;
		if (strcmp(kind, "grant") == 0 && s != NULL &&
		    json_is_string(json_object_get(ev, "grant")))
			(void) core_sess_grant_revoke(s, json_string_value(
			    json_object_get(ev, "grant")));
		else if (strcmp(kind, "approval") == 0 &&
		    json_is_string(json_object_get(ev, "request")) &&
		    json_is_string(json_object_get(ev, "operator")) &&
		    (p = core_pend_get(eng->pending, json_string_value(
		    json_object_get(ev, "request")))) != NULL)
			core_pend_unapprove(p, json_string_value(
			    json_object_get(ev, "operator")));
	}
	for (i = 0; i < fx->change_count; i++) {
		core_sess *s;

		if (fx->changes[i].kind == CORE_CHANGE_TRUST &&
		    (s = core_sess_get(eng->sessions,
		    fx->changes[i].session)) != NULL && s->held > 0)
			s->held--;
		free(fx->changes[i].session);
		pol_set_free(fx->changes[i].pol);
	}
	fx->change_count = 0;
}

/* A decision reply or row, made a deny for want of the audit store. */
static void
deny_unaudited(json_t *o)
{
	json_object_set_new(o, "decision", json_string("deny"));
	json_object_set_new(o, "by", json_string("error"));
	json_object_set_new(o, "reason", json_string("audit_unavailable"));
}

void
core_engine_settle_past(core_engine *eng, core_fx *fx)
{
	size_t i;

	for (i = 0; i < fx->reply_count; i++)
		if (fx->replies[i].past[0] != '\0')
			break;
	if (i == fx->reply_count)
		return;
	pthread_mutex_lock(&eng->mtx);
	for (; i < fx->reply_count; i++) {
		core_reply *rp = &fx->replies[i];
		const struct recent *r;
		json_t *now, *id;
		const char *d;

		if (rp->past[0] == '\0')
			continue;
		r = core_map_get(eng->recent, rp->past);
		now = r != NULL ? recent_reply(r) : NULL;
		d = now != NULL ? json_string_value(json_object_get(now,
		    "decision")) : NULL;
		if (now == NULL || (r->audit_seq <= 0 &&
		    (d == NULL || strcmp(d, "deny") != 0))) {
			/* decided, but its row is not written (or it was
			 * forgotten): not an answer yet */
			json_decref(now);
			now = json_deep_copy(rp->msg);
			if (now == NULL || json_object_set_new(now, "decision",
			    json_string("pending")) != 0 ||
			    json_object_set_new(now, "reason", json_string(
			    "decided, and being recorded: ask again")) != 0) {
				/* no memory: send_reply answers an error */
				json_decref(now);
				now = NULL;
			} else
				json_object_del(now, "audit_seq");
		}
		if (now != NULL && (id = json_object_get(rp->msg, "id")) != NULL)
			json_object_set(now, "id", id);
		json_decref(rp->msg);
		rp->msg = now;
		free(rp->text);
		rp->text = NULL;
		rp->durable = r != NULL && r->audit_seq > 0;
		rp->past[0] = '\0';
	}
	pthread_mutex_unlock(&eng->mtx);
}

void
core_engine_audit_failed(core_engine *eng, core_fx *fx, int64_t now_ms,
    core_fx *out)
{
	static const char reason[] = "audit_unavailable";

	pthread_mutex_lock(&eng->mtx);
	out->fallback = true;
	undo_changes(eng, fx);
	/* a refused frame or command is answered as it was, and a revoke
	 * stays in force (it only takes away): their rows are still true,
	 * so they are written (or owed) with the fallback's */
	for (size_t i = 0; i < json_array_size(fx->events); i++) {
		json_t *ev = json_array_get(fx->events, i), *copy;
		const char *kind = json_string_value(json_object_get(ev,
		    "kind"));

		if (kind != NULL && (strcmp(kind, "error") == 0 ||
		    strcmp(kind, "refused") == 0 ||
		    strcmp(kind, "revoke") == 0) &&
		    (copy = json_deep_copy(ev)) != NULL) {
			json_object_del(copy, "seq");
			fx_event(out, copy);
		}
	}
	for (size_t i = 0; i < fx->reply_count; i++) {
		json_t *msg = fx->replies[i].msg;

		/* a decision committed before stands: answering a resent
		 * allowed call "deny" would contradict its own row; one
		 * not committed yet is settled by core_engine_settle_past */
		if (fx->replies[i].durable || fx->replies[i].past[0] != '\0')
			continue;
		/* the row it would name was never written */
		fx->replies[i].event = NULL;
		free(fx->replies[i].text); /* msg changes below */
		fx->replies[i].text = NULL;
		json_object_del(msg, "audit_seq");
		const char *d = json_string_value(json_object_get(msg,
		    "decision"));

		if (d != NULL && strcmp(d, "deny") != 0) {
			deny_unaudited(msg);
		} else if (json_object_get(msg, "ok") != NULL) {
			json_t *err = error_reply(reason, "the audit store "
			    "is unavailable", NULL);

			json_decref(msg);
			fx->replies[i].msg = err;
		}
	}
	for (size_t i = 0; i < fx->req_count; i++) {
		core_pend *p = pend_take(eng,
		    fx->reqs[i].request);
		struct recent *r;

		if (p != NULL) {
			finalize(eng, p->info, "deny", "error",
			    NULL, reason, p->waiters, p->waiter_count, 0,
			    p->dedup_key, now_ms, out);
			core_pend_free(p);
		} else if ((r = core_map_get(eng->recent,
		    fx->reqs[i].request)) != NULL) {
			json_t *reply = recent_reply(r), *ev;
			const json_t *failed = fx->reqs[i].event;

			const char *was = json_string_value(json_object_get(
			    reply, "decision"));
			/* a deny is answered as it was decided (see above),
			 * anything else as a deny for want of the store */
			bool rewrite = was == NULL || strcmp(was, "deny") != 0;

			/* the outcome the agent got, to be written when the
			 * store takes rows again */
			if (failed != NULL && json_is_string(json_object_get(
			    failed, "kind")) && strcmp(json_string_value(
			    json_object_get(failed, "kind")), "decision") == 0 &&
			    (ev = json_deep_copy(failed)) != NULL) {
				json_object_del(ev, "seq");
				if (rewrite)
					deny_unaudited(ev);
				fx_event(out, ev);
			}

			if (rewrite)
				deny_unaudited(reply);
			json_object_del(reply, "audit_seq");
			recent_set(r, reply);
			r->audit_seq = 0;
			json_decref(reply);
		}
	}
	pthread_mutex_unlock(&eng->mtx);
}
