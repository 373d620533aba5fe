/* cfg.c: load DIR/config.json over built-in defaults.
 * SPDX-License-Identifier: MIT */
#include "cfg.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
core_cfg_defaults(core_cfg *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->max_initial_trust = 3;
	cfg->default_trust = 2;
	cfg->max_pending = 1000;
	cfg->max_sessions = 100000;
	cfg->max_sessions_per_delegation = 10000;
	cfg->recent_max = 20000;
	cfg->leeway_s = 30;
	cfg->max_wait_ms = 600000;
	cfg->default_wait_ms = 0;
	cfg->max_grant_ttl_ms = 86400000;
	cfg->max_depth = 32;
	cfg->max_token_len = 8192;
	cfg->max_args_len = 32768;
	cfg->recv_max = 65536;
	cfg->agent_contexts = 256;
	cfg->control_contexts = 16;
	cfg->socket_mode = 0600;
	cfg->mask_defaults = true;
	cfg->webhook_queue_max = 256;
}

/* The masked argument paths when config.json names none. */
static const char *const mask_default[] = {
	"args.password", "args.api_key", "args.secret", "args.token",
};

/* Fill mask_args with the defaults unless the file set them. */
static cs_err
cfg_mask_defaults(core_cfg *cfg)
{
	if (!cfg->mask_defaults)
		return CS_OK;
	if ((cfg->mask_args = calloc(CS_ARRAY_LEN(mask_default),
	    sizeof *cfg->mask_args)) == NULL)
		return CS_ENOMEM;
	for (size_t i = 0; i < CS_ARRAY_LEN(mask_default); i++) {
		if ((cfg->mask_args[i] = strdup(mask_default[i])) == NULL)
			return CS_ENOMEM;
		cfg->mask_count = i + 1;
	}
	cfg->mask_defaults = false;
	return CS_OK;
}

void
core_cfg_fini(core_cfg *cfg)
{
	for (size_t i = 0; i < cfg->operator_count; i++)
		free(cfg->operators[i]);
	free(cfg->operators);
	for (size_t i = 0; i < cfg->mask_count; i++)
		free(cfg->mask_args[i]);
	free(cfg->mask_args);
	free(cfg->issuer);
	free(cfg->audience);
	free(cfg->agent_url);
	free(cfg->control_url);
	free(cfg->events_url);
	free(cfg->http_listen);
	for (size_t i = 0; i < cfg->webhook_count; i++)
		free(cfg->webhooks[i].url);
	free(cfg->webhooks);
	memset(cfg, 0, sizeof *cfg);
}

bool
core_cfg_is_operator(const core_cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->operator_count; i++)
		if (strcmp(cfg->operators[i], name) == 0)
			return true;
	return false;
}

enum cfg_kind { CFG_INT, CFG_SIZE, CFG_MS, CFG_STR, CFG_MODE, CFG_BOOL };

struct cfg_field {
	const char *key;
	enum cfg_kind kind;
	size_t offset;
	long long min, max;
};

#define F(k, kind, member, lo, hi) \
	{ k, kind, offsetof(core_cfg, member), lo, hi }
static const struct cfg_field cfg_fields[] = {
	F("max_initial_trust", CFG_INT, max_initial_trust, 0, 4),
	F("default_trust", CFG_INT, default_trust, 0, 4),
	F("max_pending", CFG_SIZE, max_pending, 1, 1000000),
	F("max_sessions", CFG_SIZE, max_sessions, 1, 10000000),
	F("max_sessions_per_delegation", CFG_SIZE, max_sessions_per_delegation,
	    0, 10000000),
	F("recent_max", CFG_SIZE, recent_max, 16, 10000000),
	F("leeway_s", CFG_MS, leeway_s, 0, 3600),
	F("issuer", CFG_STR, issuer, 0, 0),
	F("audience", CFG_STR, audience, 0, 0),
	F("max_wait_ms", CFG_MS, max_wait_ms, 0, 86400000),
	F("default_wait_ms", CFG_MS, default_wait_ms, 0, 86400000),
	F("max_grant_ttl_ms", CFG_MS, max_grant_ttl_ms, 1000, 31536000000LL),
	F("max_depth", CFG_INT, max_depth, 2, 256),
	F("max_token_len", CFG_SIZE, max_token_len, 256, 65536),
	F("max_args_len", CFG_SIZE, max_args_len, 64, 16777216),
	F("recv_max", CFG_SIZE, recv_max, 1024, 16777216),
	F("agent_contexts", CFG_INT, agent_contexts, 1, 65536),
	F("control_contexts", CFG_INT, control_contexts, 1, 1024),
	F("socket_mode", CFG_MODE, socket_mode, 0, 0777),
	F("agent_url", CFG_STR, agent_url, 0, 0),
	F("control_url", CFG_STR, control_url, 0, 0),
	F("events_url", CFG_STR, events_url, 0, 0),
	F("jti_max_uses", CFG_SIZE, jti_max_uses, 0, 1000000000),
	F("http_allow_remote", CFG_BOOL, http_allow_remote, 0, 1),
	F("http_max_body", CFG_SIZE, http_max_body, 1024, 16777216),
	F("webhook_queue_max", CFG_SIZE, webhook_queue_max, 1, 1000000),
};
#undef F

/* Store one scalar field after checking its type and range. */
static cs_err
cfg_set(core_cfg *cfg, const struct cfg_field *f, json_t *v,
    const char *path, char **cause)
{
	char *base = (char *) cfg + f->offset;
	long long n;

	if (f->kind == CFG_STR) {
		char *s;

		if (!json_is_string(v)) {
			cs_set_cause(cause, "%s: \"%s\" must be a string", path,
			    f->key);
			return CS_EPARSE;
		}
		if ((s = strdup(json_string_value(v))) == NULL)
			return CS_ENOMEM;
		free(*(char **) (void *) base);
		*(char **) (void *) base = s;
		return CS_OK;
	}
	if (f->kind == CFG_BOOL) {
		if (!json_is_boolean(v)) {
			cs_set_cause(cause, "%s: \"%s\" must be true or false",
			    path, f->key);
			return CS_EPARSE;
		}
		*(bool *) (void *) base = json_is_true(v);
		return CS_OK;
	}
	if (f->kind == CFG_MODE && json_is_string(v)) {
		const char *text = json_string_value(v);
		char *end;

		n = strtoll(text, &end, 8);
		if (*end != '\0' || end == text) /* "" is no mode */
			n = -1;
	} else if (json_is_integer(v))
		n = json_integer_value(v);
	else
		n = -1;
	if (n < f->min || n > f->max) {
		cs_set_cause(cause, "%s: \"%s\" must be %s from %lld to %lld",
		    path, f->key, f->kind == CFG_MODE ? "an octal mode" :
		    "an integer", f->min, f->max);
		return CS_EPARSE;
	}
	switch (f->kind) {
	case CFG_INT:
	case CFG_MODE:
		*(int *) (void *) base = (int) n;
		break;
	case CFG_SIZE:
		*(size_t *) (void *) base = (size_t) n;
		break;
	case CFG_MS:
		*(int64_t *) (void *) base = (int64_t) n;
		break;
	case CFG_STR:
	case CFG_BOOL:
		break;
	}
	return CS_OK;
}

/* Read http_listen ("HOST:PORT" or "http://HOST:PORT") into its
 * normalized "http://HOST:PORT" form. */
static cs_err
cfg_http_listen(core_cfg *cfg, json_t *v, const char *path, char **cause)
{
	const char *text = json_string_value(v), *host, *colon, *p;
	size_t host_len, port_len;
	char *url;

	if (text == NULL)
		goto bad;
	host = strncmp(text, "http://", 7) == 0 ? text + 7 : text;
	if (*host == '[') {
		if ((colon = strchr(host, ']')) == NULL || colon[1] != ':')
			goto bad;
		colon++;
		for (p = host + 1; p < colon - 1; p++)
			if (strchr("0123456789abcdefABCDEF:.", *p) == NULL)
				goto bad;
	} else {
		if ((colon = strrchr(host, ':')) == NULL)
			goto bad;
		for (p = host; p < colon; p++)
			if (strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", *p) ==
			    NULL)
				goto bad;
	}
	host_len = (size_t) (colon - host);
	port_len = strspn(colon + 1, "0123456789");
	if (host_len == 0 || host_len > 255 || port_len == 0 ||
	    port_len > 5 || strtol(colon + 1, NULL, 10) > 65535 ||
	    (colon[1 + port_len] != '\0' && strcmp(colon + 1 + port_len,
	    "/") != 0))
		goto bad;
	if ((url = cs_asprintf("http://%.*s:%.*s", (int) host_len, host,
	    (int) port_len, colon + 1)) == NULL)
		return CS_ENOMEM;
	free(cfg->http_listen);
	cfg->http_listen = url;
	return CS_OK;
bad:
	cs_set_cause(cause, "%s: \"http_listen\" must look like "
	    "\"127.0.0.1:8787\" or \"http://127.0.0.1:8787\"", path);
	return CS_EPARSE;
}

bool
core_cfg_listen_is_loopback(const char *url)
{
	char host[256];
	const char *start, *end;
	unsigned char addr[16];

	if (url == NULL || strncmp(url, "http://", 7) != 0)
		return false;
	start = url + 7;
	if (*start == '[') {
		start++;
		end = strchr(start, ']');
	} else
		end = strrchr(start, ':');
	if (end == NULL || (size_t) (end - start) >= sizeof host)
		return false;
	memcpy(host, start, (size_t) (end - start));
	host[end - start] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, addr) == 1)
		return addr[0] == 127;
	if (inet_pton(AF_INET6, host, addr) == 1) {
		static const unsigned char one[16] = { [15] = 1 };

		return memcmp(addr, one, sizeof one) == 0;
	}
	return false;
}

/* Read one webhook object over its defaults. */
static cs_err
cfg_webhook(core_cfg_webhook *w, json_t *obj, size_t index,
    const char *path, char **cause)
{
	static const struct {
		const char *key;
		long long min, max;
	} nums[] = {
		{ "after_s", 0, 86400 }, { "before_deadline_s", 0, 86400 },
		{ "timeout_ms", 100, 120000 }, { "retries", 0, 10 },
	};
	const char *key, *url, *format;
	json_t *v;

	*w = (core_cfg_webhook) { .after_s = 30, .before_deadline_s = 20,
		.timeout_ms = 3000, .retries = 3 };
	if (!json_is_object(obj)) {
		cs_set_cause(cause, "%s: webhooks[%zu] must be an object", path,
		    index);
		return CS_EPARSE;
	}
	json_object_foreach(obj, key, v) {
		size_t i;
		long long n;

		if (strcmp(key, "url") == 0 || strcmp(key, "format") == 0)
			continue;
		for (i = 0; i < CS_ARRAY_LEN(nums); i++)
			if (strcmp(key, nums[i].key) == 0)
				break;
		if (i == CS_ARRAY_LEN(nums)) {
			cs_set_cause(cause, "%s: webhooks[%zu]: unknown "
			    "setting \"%s\"", path, index, key);
			return CS_EPARSE;
		}
		n = json_is_integer(v) ? json_integer_value(v) : -1;
		if (n < nums[i].min || n > nums[i].max) {
			cs_set_cause(cause, "%s: webhooks[%zu].%s must be an "
			    "integer from %lld to %lld", path, index, key,
			    nums[i].min, nums[i].max);
			return CS_EPARSE;
		}
		if (i == 0)
			w->after_s = n;
		else if (i == 1)
			w->before_deadline_s = n;
		else if (i == 2)
			w->timeout_ms = n;
		else
			w->retries = (int) n;
	}
	url = json_string_value(json_object_get(obj, "url"));
	if (url == NULL || (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) || strlen(url) > 2048 ||
	    strcspn(url, " \t\r\n\"\\") != strlen(url)) {
		cs_set_cause(cause, "%s: webhooks[%zu].url must be an http:// "
		    "or https:// URL", path, index);
		return CS_EPARSE;
	}
	v = json_object_get(obj, "format");
	format = v != NULL ? json_string_value(v) : "generic";
	if (format == NULL || (strcmp(format, "generic") != 0 &&
	    strcmp(format, "slack") != 0)) {
		cs_set_cause(cause, "%s: webhooks[%zu].format must be "
		    "\"generic\" or \"slack\"", path, index);
		return CS_EPARSE;
	}
	w->slack = strcmp(format, "slack") == 0;
	if ((w->url = strdup(url)) == NULL)
		return CS_ENOMEM;
	return CS_OK;
}

/* Read the webhooks array. */
static cs_err
cfg_webhooks(core_cfg *cfg, json_t *v, const char *path, char **cause)
{
	size_t i;
	json_t *item;
	cs_err rv;

	if (!json_is_array(v) ||
	    json_array_size(v) > CORE_CFG_WEBHOOKS_MAX) {
		cs_set_cause(cause, "%s: \"webhooks\" must be an array of at "
		    "most %d objects", path, CORE_CFG_WEBHOOKS_MAX);
		return CS_EPARSE;
	}
	if ((cfg->webhooks = calloc(json_array_size(v) + 1,
	    sizeof *cfg->webhooks)) == NULL)
		return CS_ENOMEM;
	json_array_foreach(v, i, item) {
		if ((rv = cfg_webhook(&cfg->webhooks[i], item, i, path,
		    cause)) != CS_OK)
			return rv;
		cfg->webhook_count = i + 1;
	}
	return CS_OK;
}

/* Read the mask_args array of "args.PATH" strings. */
static cs_err
cfg_mask(core_cfg *cfg, json_t *v, const char *path, char **cause)
{
	size_t i;
	json_t *item;

	if (!json_is_array(v) || json_array_size(v) > 64) {
		cs_set_cause(cause, "%s: \"mask_args\" must be an array of at "
		    "most 64 \"args.PATH\" strings", path);
		return CS_EPARSE;
	}
	if ((cfg->mask_args = calloc(json_array_size(v) + 1,
	    sizeof *cfg->mask_args)) == NULL)
		return CS_ENOMEM;
	cfg->mask_defaults = false;
	json_array_foreach(v, i, item) {
		const char *s = json_string_value(item);

		if (s == NULL || strncmp(s, "args.", 5) != 0 || s[5] == '\0') {
			cs_set_cause(cause, "%s: mask_args[%zu] must look like "
			    "\"args.password\"", path, i);
			return CS_EPARSE;
		}
		if ((cfg->mask_args[i] = strdup(s)) == NULL)
			return CS_ENOMEM;
		cfg->mask_count = i + 1;
	}
	return CS_OK;
}

/* Read the operators array. */
static cs_err
cfg_operators(core_cfg *cfg, json_t *v, const char *path, char **cause)
{
	size_t i;
	json_t *item;

	if (!json_is_array(v) || json_array_size(v) > 256) {
		cs_set_cause(cause, "%s: \"operators\" must be an array of at "
		    "most 256 user names", path);
		return CS_EPARSE;
	}
	if ((cfg->operators = calloc(json_array_size(v) + 1,
	    sizeof *cfg->operators)) == NULL)
		return CS_ENOMEM;
	json_array_foreach(v, i, item) {
		if (!json_is_string(item) || json_string_length(item) == 0) {
			cs_set_cause(cause, "%s: operators[%zu] must be a "
			    "non-empty string", path, i);
			return CS_EPARSE;
		}
		if ((cfg->operators[i] = strdup(json_string_value(item))) ==
		    NULL)
			return CS_ENOMEM;
		cfg->operator_count = i + 1;
	}
	return CS_OK;
}

cs_err
core_cfg_load(const char *path, core_cfg *cfg, char **cause)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	cs_err rv = CS_OK;
	char *text = NULL;
	size_t len;

	if ((rv = cs_read_file(path, 1 << 20, &text, &len, NULL)) != CS_OK) {
		if (rv == CS_ENOTFOUND)
			return cfg_mask_defaults(cfg);
		cs_set_cause(cause, "%s: cannot read: %s", path,
		    cs_strerror(rv));
		return rv;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (root == NULL) {
		cs_set_cause(cause, "%s:%d:%d: %s", path, jerr.line,
		    jerr.column, jerr.text);
		return CS_EPARSE;
	}
	if (!json_is_object(root)) {
		cs_set_cause(cause, "%s: must hold a JSON object", path);
		rv = CS_EPARSE;
		goto done;
	}
	json_object_foreach(root, key, v) {
		size_t i;

		if (strcmp(key, "operators") == 0) {
			if ((rv = cfg_operators(cfg, v, path, cause)) != CS_OK)
				goto done;
			continue;
		}
		if (strcmp(key, "mask_args") == 0) {
			if ((rv = cfg_mask(cfg, v, path, cause)) != CS_OK)
				goto done;
			continue;
		}
		if (strcmp(key, "http_listen") == 0) {
			if ((rv = cfg_http_listen(cfg, v, path, cause)) !=
			    CS_OK)
				goto done;
			continue;
		}
		if (strcmp(key, "webhooks") == 0) {
			if ((rv = cfg_webhooks(cfg, v, path, cause)) != CS_OK)
				goto done;
			continue;
		}
		for (i = 0; i < CS_ARRAY_LEN(cfg_fields); i++)
			if (strcmp(key, cfg_fields[i].key) == 0)
				break;
		if (i == CS_ARRAY_LEN(cfg_fields)) {
			cs_set_cause(cause, "%s: unknown setting \"%s\"", path,
			    key);
			rv = CS_EPARSE;
			goto done;
		}
		if ((rv = cfg_set(cfg, &cfg_fields[i], v, path, cause)) !=
		    CS_OK)
			goto done;
	}
	if (cfg->http_listen != NULL && !cfg->http_allow_remote &&
	    !core_cfg_listen_is_loopback(cfg->http_listen)) {
		cs_set_cause(cause, "%s: \"http_listen\" %s is not a loopback "
		    "address; set \"http_allow_remote\": true to serve other "
		    "hosts", path, cfg->http_listen);
		rv = CS_EPARSE;
	}
done:
	json_decref(root);
	if (rv == CS_OK)
		rv = cfg_mask_defaults(cfg);
	return rv;
}
