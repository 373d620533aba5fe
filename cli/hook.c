/* hook.c: countersignctl hook claude-code: a Claude Code PreToolUse hook
 * that asks countersignd about each tool call and answers allow or deny,
 * failing closed.
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "enforce.h"
#include "req.h"

/* Largest hook event read from stdin (a Write carries the whole file). */
#define HOOK_EVENT_MAX (16u << 20)

/* Default wait for an operator: below the 60 s hook timeout older Claude
 * Code versions apply, since a hook that times out lets the call run. */
#define HOOK_WAIT_DEFAULT_MS 50000

/* How Claude Code's built-in tools map onto countersign's tool names, and
 * which input field becomes the argument the shipped policy reads. */
static const struct hook_map {
	const char *name;  /* Claude Code tool_name */
	const char *tool;  /* countersign tool */
	const char *from;  /* tool_input field copied ... */
	const char *to;    /* ... into this args field */
	bool cwd_path;     /* no such field: the path is the cwd */
} hook_maps[] = {
	{ "Bash", "shell.exec", "command", "cmd", false },
	{ "Write", "fs.write", "file_path", "path", false },
	{ "Edit", "fs.write", "file_path", "path", false },
	{ "MultiEdit", "fs.write", "file_path", "path", false },
	{ "NotebookEdit", "fs.write", "notebook_path", "path", false },
	{ "Read", "fs.read", "file_path", "path", false },
	{ "Grep", "fs.read", "path", "path", true },
	{ "Glob", "fs.list", "path", "path", true },
	{ "LS", "fs.list", "path", "path", false },
	{ "WebFetch", "http.get", "url", "url", false },
	{ "WebSearch", "web.search", "query", "query", false },
};

struct hook_opts {
	const char *token;
	const char *token_file;
	const char *session;
	const char *purpose;
	int64_t wait_ms;
	bool pending_ask; /* --on-pending ask: let Claude Code ask its user */
};

/* Print the hook's answer on stdout; Claude Code reads it when the hook
 * exits 0. Returns 0. */
static int
answer(const char *decision, const char *reason)
{
	json_t *out = json_pack("{s:{s:s, s:s, s:s}}", "hookSpecificOutput",
	    "hookEventName", "PreToolUse", "permissionDecision", decision,
	    "permissionDecisionReason", reason);
	char *text = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;

	json_decref(out);
	if (text == NULL) {
		/* out of memory: a fixed deny still blocks the call */
		puts("{\"hookSpecificOutput\":{\"hookEventName\":\"PreToolUse\","
		    "\"permissionDecision\":\"deny\",\"permissionDecisionReason\":"
		    "\"countersign denied: out of memory\"}}");
		return 0;
	}
	puts(text);
	free(text);
	fflush(stdout);
	return 0;
}

/* Deny with a formatted reason (also logged on stderr), exit status 0. */
static int
deny(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
deny(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	memcpy(buf, "countersign denied: ", 20);
	va_start(ap, fmt);
	vsnprintf(buf + 20, sizeof buf - 20, fmt, ap);
	va_end(ap);
	fprintf(stderr, "countersignctl hook: %s\n", buf + 20);
	return answer("deny", buf);
}

/* Read all of stdin (at most HOOK_EVENT_MAX bytes) into a new buffer. */
static char *
read_stdin(size_t *len, bool *too_big)
{
	size_t cap = 65536, n;
	char *buf = malloc(cap), *nb;

	*len = 0;
	*too_big = false;
	while (buf != NULL) {
		if (*len == cap) {
			if (cap >= HOOK_EVENT_MAX) {
				*too_big = true;
				free(buf);
				return NULL;
			}
			if ((nb = realloc(buf, cap * 2)) == NULL)
				break;
			buf = nb;
			cap *= 2;
		}
		n = fread(buf + *len, 1, cap - *len, stdin);
		*len += n;
		if (n == 0)
			return buf;
	}
	free(buf);
	return NULL;
}

/* The countersign tool name of a Claude Code tool (a new string): the
 * mapped name for built-in tools, mcp.SERVER.TOOL for mcp__SERVER__TOOL,
 * claude.NAME otherwise. *map is the built-in mapping or NULL. */
static char *
tool_name_of(const char *name, const struct hook_map **map)
{
	const char *sep;

	*map = NULL;
	for (size_t i = 0; i < CS_ARRAY_LEN(hook_maps); i++)
		if (strcmp(name, hook_maps[i].name) == 0) {
			*map = &hook_maps[i];
			return strdup(hook_maps[i].tool);
		}
	if (strncmp(name, "mcp__", 5) == 0 &&
	    (sep = strstr(name + 5, "__")) != NULL && sep > name + 5 &&
	    sep[2] != '\0')
		return cs_asprintf("mcp.%.*s.%s", (int) (sep - (name + 5)),
		    name + 5, sep + 2);
	return cs_asprintf("claude.%s", name);
}

/* The args countersign sees: tool_input, plus for built-in tools the
 * policy's field (cmd, path, url) and the working directory. New
 * reference. */
static json_t *
args_of(json_t *input, const struct hook_map *map, const char *cwd)
{
	json_t *args = json_deep_copy(input), *v;

	if (args == NULL || map == NULL)
		return args;
	if ((v = json_object_get(input, map->from)) != NULL)
		json_object_set(args, map->to, v);
	else if (map->cwd_path && cwd != NULL)
		json_object_set_new(args, map->to, json_string(cwd));
	if (cwd != NULL && json_object_get(args, "cwd") == NULL)
		json_object_set_new(args, "cwd", json_string(cwd));
	return args;
}

/* The session to name: --session, else none when the token carries its
 * own sid, else one per Claude Code session. New string or NULL. */
static char *
session_of(const struct hook_opts *o, const char *token,
    const char *session_id)
{
	char *sid, *s;

	if (o->session != NULL)
		return strdup(o->session);
	if ((sid = enforce_token_claim(token, "sid")) != NULL) {
		free(sid);
		return NULL;
	}
	if (session_id == NULL)
		return NULL;
	s = cs_asprintf("cc-%s", session_id);
	if (s != NULL && !core_name_ok(s)) {
		free(s);
		s = NULL;
	}
	return s;
}

/* Parse the options after "claude-code". False on a usage error, with a
 * message in err. */
static bool
parse_opts(int argc, char **argv, struct hook_opts *o, char *err,
    size_t err_size)
{
	o->wait_ms = HOOK_WAIT_DEFAULT_MS;
	/* every option takes a value */
	for (int i = 0; i < argc; i += 2) {
		const char *name = argv[i], *v = i + 1 < argc ? argv[i + 1] :
		    NULL;

		if (strcmp(name, "--on-pending") == 0 && v != NULL &&
		    (strcmp(v, "deny") == 0 || strcmp(v, "ask") == 0))
			o->pending_ask = strcmp(v, "ask") == 0;
		else if (strcmp(name, "--wait") == 0 && v != NULL) {
			if (cs_parse_duration_ms(v, &o->wait_ms) != CS_OK) {
				snprintf(err, err_size, "--wait: bad duration "
				    "\"%s\" (try 50s, 5m)", v);
				return false;
			}
		} else if (strcmp(name, "--token") == 0 && v != NULL)
			o->token = v;
		else if (strcmp(name, "--token-file") == 0 && v != NULL)
			o->token_file = v;
		else if (strcmp(name, "--session") == 0 && v != NULL)
			o->session = v;
		else if (strcmp(name, "--purpose") == 0 && v != NULL)
			o->purpose = v;
		else {
			snprintf(err, err_size, "hook claude-code: bad argument "
			    "%s (usage: hook claude-code [--token-file FILE | "
			    "--token JWT] [--session ID] [--wait 50s] "
			    "[--on-pending deny|ask] [--purpose TEXT])", name);
			return false;
		}
	}
	if (o->session != NULL && !core_name_ok(o->session)) {
		snprintf(err, err_size, "--session must be 1-128 characters of "
		    "[A-Za-z0-9._:@/+-]");
		return false;
	}
	return true;
}

/* The hook answer for a verdict. */
static int
answer_verdict(const enforce_verdict *v, const struct hook_opts *o)
{
	char *text;
	int code;

	switch (v->decision) {
	case ENFORCE_ALLOW:
		text = enforce_message("countersign allowed", v);
		code = answer("allow", text != NULL ? text :
		    "countersign allowed");
		break;
	case ENFORCE_PENDING:
		/* still pending is not allowed, unless Claude Code's user
		 * may decide instead */
		text = enforce_message(o->pending_ask ? "countersign: no "
		    "decision yet, the user decides" : "countersign denied",
		    v);
		code = answer(o->pending_ask ? "ask" : "deny", text != NULL ?
		    text : "countersign: no operator decided");
		break;
	case ENFORCE_DENY:
	default:
		text = enforce_message("countersign denied", v);
		code = answer("deny", text != NULL ? text :
		    "countersign denied");
		break;
	}
	free(text);
	return code;
}

/* hook claude-code: one PreToolUse event on stdin, one answer on stdout.
 * Every failure is a deny with exit status 0 (a hook that fails with
 * another status lets Claude Code run the tool). */
static int
hook_claude_code(int argc, char **argv)
{
	struct hook_opts o = { 0 };
	const struct hook_map *map;
	char err[512], *buf, *token = NULL, *cause = NULL, *tool = NULL;
	char *url = NULL, *session = NULL, idbuf[160];
	const char *event, *name, *cwd, *session_id, *use_id;
	json_t *root = NULL, *input, *args = NULL, *context = NULL;
	json_error_t jerr;
	enforce_verdict v = { 0 };
	enforce_call call = { 0 };
	size_t len;
	bool too_big;
	int code;

	if (!parse_opts(argc, argv, &o, err, sizeof err))
		return deny("%s", err);
	if ((buf = read_stdin(&len, &too_big)) == NULL)
		return deny(too_big ? "the hook event is larger than 16 MiB" :
		    "cannot read the hook event on stdin");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (root == NULL || !json_is_object(root)) {
		code = deny("malformed hook event: %s", root == NULL ?
		    jerr.text : "not a JSON object");
		json_decref(root);
		return code;
	}
	event = json_string_value(json_object_get(root, "hook_event_name"));
	name = json_string_value(json_object_get(root, "tool_name"));
	input = json_object_get(root, "tool_input");
	cwd = json_string_value(json_object_get(root, "cwd"));
	session_id = json_string_value(json_object_get(root, "session_id"));
	use_id = json_string_value(json_object_get(root, "tool_use_id"));
	if (json_object_get(root, "hook_event_name") != NULL &&
	    (event == NULL || strcmp(event, "PreToolUse") != 0)) {
		code = deny("malformed hook event: hook_event_name is not "
		    "PreToolUse (register this hook under PreToolUse)");
		goto done;
	}
	if (name == NULL || *name == '\0' || !json_is_object(input)) {
		code = deny("malformed hook event: needs a tool_name string "
		    "and a tool_input object");
		goto done;
	}
	if ((tool = tool_name_of(name, &map)) == NULL) {
		code = deny("out of memory");
		goto done;
	}
	if (!core_name_ok(tool)) {
		code = deny("tool \"%.80s\" has no valid countersign name "
		    "(1-128 characters of [A-Za-z0-9._:@/+-])", name);
		goto done;
	}
	if (o.token != NULL)
		token = strdup(o.token);
	else if (o.token_file != NULL)
		token = enforce_read_token(o.token_file, &cause);
	else if (getenv("COUNTERSIGN_TOKEN") != NULL)
		token = strdup(getenv("COUNTERSIGN_TOKEN"));
	else
		cause = strdup("no token: pass --token-file FILE or set "
		    "COUNTERSIGN_TOKEN");
	if (token == NULL) {
		code = deny("%s", cause != NULL ? cause : "out of memory");
		goto done;
	}
	if ((url = enforce_agent_url(ctl_home_arg(), &cause)) == NULL) {
		code = deny("%s", cause != NULL ? cause : "out of memory");
		goto done;
	}
	if (use_id == NULL || (size_t) snprintf(idbuf, sizeof idbuf, "cc-%s",
	    use_id) >= sizeof idbuf || !core_name_ok(idbuf)) {
		if (enforce_new_id("cc", idbuf, sizeof idbuf) != CS_OK) {
			code = deny("no randomness for a request id");
			goto done;
		}
	}
	session = session_of(&o, token, session_id);
	args = args_of(input, map, cwd);
	context = o.purpose != NULL ? json_pack("{s:s}", "purpose",
	    o.purpose) : NULL;
	call = (enforce_call) { .url = url, .token = token, .id = idbuf,
		.session = session, .tool = tool, .args = args,
		.context = context, .wait_ms = o.wait_ms };
	enforce_authorize(&call, &v);
	code = answer_verdict(&v, &o);
	enforce_verdict_fini(&v);
done:
	json_decref(root);
	json_decref(args);
	json_decref(context);
	free(tool);
	free(token);
	free(url);
	free(session);
	free(cause);
	return code;
}

int
ctl_hook(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "claude-code") == 0)
		return hook_claude_code(argc - 1, argv + 1);
	return ctl_fail(64, "usage: hook claude-code [--token-file FILE | "
	    "--token JWT] [--session ID] [--wait 50s] [--on-pending deny|ask] "
	    "[--purpose TEXT]");
}
