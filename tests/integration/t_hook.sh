#!/usr/bin/env bash
# t_hook: countersignctl hook claude-code with recorded Claude Code
# PreToolUse events (tests/data/hooks: Bash, Write, Edit, Read and an MCP
# tool) against a real daemon and the shipped policy: the answer's shape,
# the tool-name mapping, operators deciding while the hook waits, and
# failing closed (malformed input, no token, no daemon) with exit status 0
# and a deny, never a hook error that would let the call run.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

EV=$ROOT/tests/data/hooks
SID=8b0e5c52-4f0c-4b8e-9a51-3c2d7e1f6a90

H=$(new_home)
start_daemon "$H"
TOKF=$H/claude.jwt
mint "$H" --agent claude-code --user alice --scope 'tool:*' --purpose "fix the port bug" >"$TOKF"

# hook EVENT_FILE [OPTIONS...]: run the hook on a recorded event; it must
# exit 0 and print one PreToolUse answer. Sets OUT, ERR.
hook() {
	local ev=$1
	shift
	assert_rc 0 ctl "$H" hook claude-code --token-file "$TOKF" "$@" <"$ev"
	assert_eq 1 "$(printf '%s\n' "$OUT" | grep -c .)" "one line of output"
	assert_eq PreToolUse "$(jf .hookSpecificOutput.hookEventName)" "hookEventName"
	assert_eq 3 "$(jf '.hookSpecificOutput | keys | length')" "answer fields"
}
decision() { jf .hookSpecificOutput.permissionDecision; }
reason() { jf .hookSpecificOutput.permissionDecisionReason; }

# variant FILE JQ: a recorded event changed by a jq expression, as a file.
variant() {
	local f
	f=$(mktemp "$TEST_TMP/event.XXXXXX")
	jq "$2" "$1" >"$f" || fail "jq $2"
	printf '%s\n' "$f"
}

# decision_of TOOL_USE_ID: the audited decision event of that hook call.
decision_of() {
	history_json "$H" | jq -c --arg id "cc-$1" 'select(.kind == "decision" and .id == $id)'
}

# --- Read, Write, Edit: auto-allowed by the shipped policy ------------------
hook "$EV/read.json"
assert_eq allow "$(decision)" "Read"
assert_match '^countersign allowed: .* \(request r-[0-9a-f]+-[0-9]+\)$' "$(reason)" "Read reason"
ev=$(decision_of toolu_01K7wT3yU8iO2pA5sD9fG1hJ)
assert_eq "fs.read|/workspace/app/README.md|/workspace/app|cc-$SID|allow|policy" \
    "$(jf '[.tool, .args.path, .args.cwd, .session, .decision, .by] | join("|")' "$ev")" \
    "Read audited as fs.read"
assert_eq "/workspace/app/README.md" "$(jf .args.file_path "$ev")" "original input kept"
assert_eq "fix the port bug" "$(jf .purpose "$ev")" "purpose from the token"

hook "$EV/write.json"
assert_eq allow "$(decision)" "Write in the workspace"
assert_eq "fs.write|/workspace/app/src/config.ts" \
    "$(jf '[.tool, .args.path] | join("|")' "$(decision_of toolu_01Q9dF2sL5nA8eW3jT7uH4kV)")" \
    "Write audited as fs.write"

hook "$EV/edit.json"
assert_eq allow "$(decision)" "Edit in the workspace"
assert_eq "fs.write|/workspace/app/src/server.ts|app.listen(config.port);" \
    "$(jf '[.tool, .args.path, .args.new_string] | join("|")' "$(decision_of toolu_01B6mN1xC4vZ9gP2qS8rE5jL)")" \
    "Edit audited as fs.write"

# a write outside the workspace is denied by policy, with its reason
hook "$(variant "$EV/write.json" '.tool_input.file_path = "/etc/hosts" | .tool_use_id = "toolu_etc"')"
assert_eq deny "$(decision)" "Write outside the workspace"
assert_match '^countersign denied: files may only be written or deleted under /workspace/ \(request r-' \
    "$(reason)" "deny reason"

# a big Write (200 KiB) is authorized on a summary bound to its digest
big=$(variant "$EV/write.json" '.tool_input.content = ("x" * 204800) | .tool_use_id = "toolu_big"')
hook "$big"
assert_eq allow "$(decision)" "big Write"
assert_match '^x+\.\.\. \[204800 bytes, sha256:[0-9a-f]{64}\]$' \
    "$(jf .args.content "$(decision_of toolu_big)")" "big content summarized"
# only the longest strings are summarized: a 1,239-byte path that leaves
# the workspace, next to 30 KB of content, is still read whole
esc=$(python3 -c 'print("/workspace/" + "./" * 600 + "../root/.ssh/authorized_keys")')
hook "$(variant "$EV/write.json" ".tool_input.file_path = \"$esc\" | .tool_input.content = (\"#\" * 30000) | .tool_use_id = \"toolu_esc\"")"
assert_eq deny "$(decision)" "a long path that leaves the workspace, next to big content"
assert_eq "$esc" "$(jf .args.path "$(decision_of toolu_esc)")" "the path reached the policy whole"
# ... but the agent picks what is longest: a path just longer than each of
# 50 edits' strings is the first summarized, and a rule testing a summary
# cannot judge it, so the call is refused rather than judged on its head
esc=$(python3 -c 'print("/workspace/" + "a" * 200 + "/" + "b" * 200 + "/../../../root/.bashrc")')
hook "$(variant "$EV/edit.json" "del(.tool_input.old_string, .tool_input.new_string) | .tool_name = \"MultiEdit\" | .tool_input.file_path = \"$esc\" | .tool_input.edits = [range(50) | {old_string: (\"o\" * 280), new_string: (\"n\" * 280)}] | .tool_use_id = \"toolu_pad\"")"
assert_eq deny "$(decision)" "a summarized path that leaves the workspace"
assert_contains "sent summarized" "$(reason)" "summarized-args reason"
assert_eq "summarized-args" "$(jf .rule "$(decision_of toolu_pad)")" "summarized-args rule audited"
assert_match '^/workspace/a+\.\.\. \[[0-9]+ bytes, sha256:[0-9a-f]{64}\]$' \
    "$(jf .args.path "$(decision_of toolu_pad)")" "the path was the summarized string"

# --- Bash: the shipped policy refuses rm -rf ~, asks about the rest ----------
hook "$(variant "$EV/bash.json" '.tool_input.command = "rm -rf ~/" | .tool_use_id = "toolu_rm"')"
assert_eq deny "$(decision)" "rm -rf ~"
assert_contains "recursive removal" "$(reason)" "rm -rf reason"
assert_eq "shell.exec|rm -rf ~/|no-rm-rf" \
    "$(jf '[.tool, .args.cmd, .rule] | join("|")' "$(decision_of toolu_rm)")" "Bash audited as shell.exec"
# rm -rf hidden past the head of a 25 KB command is refused, not asked
hook "$(variant "$EV/bash.json" '.tool_input.command = ("true " + ("#" * 25000) + "\nrm -rf /") | .tool_use_id = "toolu_rmpad"')"
assert_eq deny "$(decision)" "rm -rf after 25 KB of padding"
assert_eq "summarized-args" "$(jf .rule "$(decision_of toolu_rmpad)")" "padded rm -rf refused as summarized"

# an operator approves while the hook waits
pending_tool() {
	ctl "$H" pending --json | jq -r --arg t "$1" 'select(.tool == $t) | .request'
}
one_pending() { [ "$(pending_tool "$1" | grep -c .)" -eq 1 ]; }
ctl "$H" hook claude-code --token-file "$TOKF" --wait 30s <"$EV/bash.json" \
    >"$TEST_TMP/bash.out" 2>&1 &
job=$!
wait_for 10 one_pending shell.exec || fail "Bash call never became pending"
RB=$(pending_tool shell.exec)
assert_rc 0 ctl "$H" decide "$RB" approve
wait_for 10 not_running "$job" || fail "hook still waiting after the approval"
wait "$job"
assert_eq 0 "$?" "hook exit after approval"
OUT=$(cat "$TEST_TMP/bash.out")
assert_eq allow "$(decision)" "approved Bash"
assert_eq "countersign allowed: approved by operator root (request $RB)" "$(reason)" "approval reason"
assert_eq "shell.exec|npm test -- --watch=false|operator" \
    "$(jf '[.tool, .args.cmd, .by] | join("|")' "$(decision_of toolu_01HZ3vK8mQ2pX7bN4cR9tY6w)")" \
    "approved Bash audited"

# --- an MCP tool: mcp__github__create_issue is mcp.github.create_issue -------
ctl "$H" hook claude-code --token-file "$TOKF" --wait 30s <"$EV/mcp.json" \
    >"$TEST_TMP/mcp.out" 2>&1 &
job=$!
wait_for 10 one_pending mcp.github.create_issue || fail "MCP tool call never became pending"
RM=$(pending_tool mcp.github.create_issue)
assert_rc 0 ctl "$H" decide "$RM" deny --reason "file it by hand"
wait_for 10 not_running "$job" || fail "hook still waiting after the denial"
wait "$job"
assert_eq 0 "$?" "hook exit after denial"
OUT=$(cat "$TEST_TMP/mcp.out")
assert_eq deny "$(decision)" "operator-denied MCP tool"
assert_eq "countersign denied: file it by hand (request $RM)" "$(reason)" "operator's reason"
assert_eq "mcp.github.create_issue|acme|operator" \
    "$(jf '[.tool, .args.owner, .by] | join("|")' "$(decision_of toolu_01R4tY7uI0oP3aS6dF9gH2jK)")" \
    "MCP tool audited"
[ "$(jf '.args.cwd' "$(decision_of toolu_01R4tY7uI0oP3aS6dF9gH2jK)")" = null ] ||
	fail "MCP tool arguments must be passed unchanged"

# nobody decides in time: deny, or hand the question to Claude Code's user
cred=$(variant "$EV/read.json" '.tool_input.file_path = "/home/dev/.ssh/id_ed25519" | .tool_use_id = "toolu_ssh"')
hook "$cred" --wait 300ms
assert_eq deny "$(decision)" "undecided credential read"
assert_match '^countersign denied: no operator decided within 300ms \(request r-' "$(reason)" \
    "undecided reason"
hook "$cred" --wait 0 --on-pending ask
assert_eq ask "$(decision)" "--on-pending ask"
assert_contains "the user decides" "$(reason)" "ask reason"

# other built-in tools map to claude.NAME
hook "$(variant "$EV/read.json" '.tool_name = "TodoWrite" | .tool_input = {"todos": []} | .tool_use_id = "toolu_todo"')" --wait 0
assert_eq deny "$(decision)" "undecided TodoWrite"
assert_eq claude.TodoWrite \
    "$(history_json "$H" --kind pending | jq -r 'select(.id == "cc-toolu_todo") | .tool')" \
    "TodoWrite mapped to claude.TodoWrite"

# a token with its own sid keeps that session
SIDTOK=$(mint "$H" --agent claude-code --user alice --scope 'tool:*' --session s-token)
assert_rc 0 ctl "$H" hook claude-code --token "$SIDTOK" \
    <"$(variant "$EV/read.json" '.tool_use_id = "toolu_sid"')"
assert_eq allow "$(decision)" "read with a session token"
assert_eq s-token "$(jf .session "$(decision_of toolu_sid)")" "token's session kept"

# --- fail closed: always exit 0 with a deny ---------------------------------
deny_case() { # WHAT NEEDLE COMMAND...: expect a deny mentioning NEEDLE
	local what=$1 needle=$2
	shift 2
	run "$@"
	[ "$RC" -eq 0 ] || fail "$what: exit status $RC, want 0"
	assert_eq deny "$(decision)" "$what"
	assert_contains "$needle" "$(reason)" "$what reason"
}
hook_in() { # INPUT ARGS...: the hook with INPUT on stdin
	local input=$1
	shift
	printf '%s' "$input" | ctl "$H" hook claude-code "$@"
}
deny_case "not JSON" "malformed hook event" hook_in 'not json' --token-file "$TOKF"
deny_case "empty input" "malformed hook event" hook_in '' --token-file "$TOKF"
deny_case "no tool_name" "malformed hook event" hook_in '{"tool_input":{}}' --token-file "$TOKF"
deny_case "tool_input not an object" "malformed hook event" \
    hook_in '{"tool_name":"Read","tool_input":"x"}' --token-file "$TOKF"
deny_case "duplicate keys" "malformed hook event" \
    hook_in '{"tool_name":"Read","tool_name":"Bash","tool_input":{}}' --token-file "$TOKF"
deny_case "another event" "PreToolUse" \
    hook_in '{"hook_event_name":"PostToolUse","tool_name":"Read","tool_input":{}}' --token-file "$TOKF"
deny_case "bad tool name" "no valid countersign name" \
    hook_in '{"tool_name":"Bad Tool","tool_input":{}}' --token-file "$TOKF"
deny_case "no token" "no token" env -u COUNTERSIGN_TOKEN "$CTL" --home "$H" hook claude-code \
    <"$EV/read.json"
deny_case "unreadable token file" "no-such.jwt" ctl "$H" hook claude-code \
    --token-file "$TEST_TMP/no-such.jwt" <"$EV/read.json"
deny_case "bad option" "bad argument" ctl "$H" hook claude-code --bogus <"$EV/read.json"
deny_case "forged token" "admission" ctl "$H" hook claude-code --token "x.y.z" <"$EV/read.json"
H0=$(new_home)
deny_case "no daemon" "cannot reach countersignd" ctl "$H0" hook claude-code \
    --token-file "$TOKF" <"$EV/read.json"
assert_contains "fail closed" "$(reason)" "no daemon reason"
assert_rc 64 ctl "$H" hook
assert_rc 64 ctl "$H" hook codex

# a stopped daemon still has its socket accept connections, but never
# answers the handshake: the hook gives up within --wait plus 3 s, denying
pid=$(daemon_pid "$H")
kill -STOP "$pid"
start=$(date +%s%N)
run ctl "$H" hook claude-code --token-file "$TOKF" --wait 2s <"$EV/read.json"
took=$(ms_since "$start")
kill -CONT "$pid" # before any assertion, so that cleanup can stop it
[ "$RC" -eq 0 ] || fail "stopped daemon: exit status $RC, want 0"
assert_eq deny "$(decision)" "stopped daemon"
assert_contains "did not take the connection" "$(reason)" "stopped daemon reason"
[ "$took" -lt 6500 ] || fail "the hook took $took ms to give up on a stopped daemon (--wait 2s)"

assert_rc 0 ctl "$H" audit verify
