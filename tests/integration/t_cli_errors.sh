#!/usr/bin/env bash
# t_cli_errors: countersignctl's error exits: 64 for usage errors, 65 for
# bad input, 69 when the daemon cannot be reached; each with one line on
# stderr and nothing sent to the daemon.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

H=$(new_home)
start_daemon "$H"
TOK=$(mint "$H" --agent a1 --user alice --scope 'tool:fs.*' --session s-cli)

# fails_with CODE ARGS...: countersignctl on H exits CODE with exactly one
# line on stderr and nothing on stdout.
fails_with() {
	local code=$1
	shift
	assert_rc "$code" ctl "$H" "$@"
	assert_eq 1 "$(printf '%s\n' "$ERR" | grep -c .)" "stderr lines of: $*"
	assert_match '^countersignctl: ' "$ERR" "stderr of: $*"
	assert_eq "" "$OUT" "stdout of: $*"
}

rows_before=$(sql "$H" "SELECT COUNT(*) FROM audit")

# usage errors
assert_rc 64 "$CTL"
assert_contains "usage:" "$ERR" "no command"
assert_rc 64 "$CTL" --home
assert_eq 1 "$(printf '%s\n' "$ERR" | grep -c .)" "--home without a value"
assert_rc 64 "$CTL" --frobnicate
assert_eq 1 "$(printf '%s\n' "$ERR" | grep -c .)" "unknown option"
fails_with 64 frobnicate
assert_contains frobnicate "$ERR" "unknown command named"
fails_with 64 ask --tool fs.read
assert_contains -- "--token" "$ERR" "ask without a token"
fails_with 64 ask --token "$TOK"
fails_with 64 ask --token
fails_with 64 ask --token "$TOK" --tool fs.read --colour red
fails_with 64 ask --token "$TOK" --tool fs.read --wait forever
fails_with 64 status
fails_with 64 decide r-1
fails_with 64 decide r-1 maybe
fails_with 64 decide r-1 approve --ttl soon
fails_with 64 trust s-cli 9
fails_with 64 trust s-cli
fails_with 64 posture
fails_with 64 posture panic
fails_with 64 pending --yaml
fails_with 64 history --decision maybe
fails_with 64 history --limit many
fails_with 64 audit
fails_with 64 audit check
fails_with 64 token mint --agent a1
fails_with 64 token mint --agent a1 --user alice --scope tool:x --trust 7
fails_with 64 token mint --agent a1 --user alice --scope tool:x --ttl 0s
fails_with 64 reload now
fails_with 64 policy lint

# bad input
fails_with 65 ask --token "$TOK" --tool fs.read --args '{"path": '
assert_contains -- "--args" "$ERR" "bad --args named"
fails_with 65 ask --token "$TOK" --tool fs.read --args '["/workspace/a"]'
fails_with 65 ask --token "$TOK" --tool fs.read --args '{"a":1,"a":2}'
assert_eq "$rows_before" "$(sql "$H" "SELECT COUNT(*) FROM audit")" \
    "audit rows after refused invocations"
# input the daemon itself refuses: the error reply on stdout, one line on
# stderr, and an audit event
assert_rc 65 ctl "$H" ask --token "$TOK" --tool 'fs read; rm'
assert_eq "error|bad_value" "$(jf '[.type, .code] | join("|")')" "reply to a bad tool name"
assert_eq "countersignctl: bad_value: $(jf .message)" "$ERR" "stderr for a bad tool name"
assert_eq "error|deny" "$(sql "$H" "SELECT kind, decision FROM audit ORDER BY seq DESC LIMIT 1")" \
    "audit row of the refused tool name"
# decide on an unknown request: refused (1), not a usage error
fails_with 1 decide r-nope approve
assert_contains "not_found" "$ERR" "decide of an unknown request"

# daemon not running
stop_daemon "$H"
for args in "ask --token $TOK --tool fs.read" "status r-1" "pending" \
    "decide r-1 approve" "trust s-cli 1" "posture lockdown" "reload"; do
	# shellcheck disable=SC2086
	fails_with 69 $args
	assert_contains "cannot reach countersignd" "$ERR" "$args without a daemon"
	assert_contains "$H" "$ERR" "$args names the home"
done
# reading the audit store needs no daemon
assert_rc 0 ctl "$H" audit verify
assert_rc 0 ctl "$H" history --json
# ... but a home without a store has nothing to read
E=$(new_home)
for args in history "audit verify"; do
	# shellcheck disable=SC2086
	assert_rc 69 "$CTL" --home "$E" $args
	assert_eq 1 "$(printf '%s\n' "$ERR" | grep -c .)" "$args without a store"
	assert_contains "audit.db" "$ERR" "$args names the store"
done
