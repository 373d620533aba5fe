#!/usr/bin/env bash
# t_basic: the policy allows and denies, admission refuses bad tokens, and
# every decision is one audit row in a chain that verifies.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

H=$(new_home)
start_daemon "$H"
SID=s-basic
TOK=$(mint "$H" --agent a1 --user alice --scope 'tool:fs.* tool:email.*' \
    --session "$SID")
want_policy="default@$(jq -r .version "$POLICY")#$(sha256sum "$POLICY" | cut -c1-8)"
requests=()

# ask_as WANT_RC TOKEN TOOL [ARGS_JSON]: one call; remembers its request.
ask_as() {
	local extra=()
	[ $# -gt 3 ] && extra=(--args "$4")
	assert_rc "$1" ctl "$H" ask --token "$2" --tool "$3" ${extra[@]+"${extra[@]}"}
	assert_eq decision "$(jf .type)" "reply type"
	requests+=("$(jf .request)")
}

# allow by policy
ask_as 0 "$TOK" fs.read '{"path":"/workspace/notes.txt"}'
assert_eq allow "$(jf .decision)" "fs.read decision"
assert_eq policy "$(jf .by)" "fs.read by"
assert_eq low-risk "$(jf .rule)" "fs.read rule"
assert_eq "$want_policy" "$(jf .policy)" "policy version"
assert_match '^[A-Za-z0-9._-]+@[^#]+#[0-9a-f]{8}$' "$(jf .policy)" \
    "policy version format"
assert_match '^r-' "$(jf .request)" "request id"
assert_match '^sha256:[0-9a-f]{64}$' "$(jf .args_digest)" "args digest"
seq=$(jf .audit_seq)
assert_match '^[1-9][0-9]*$' "$seq" "audit_seq"
assert_eq "$(jf .request)" "$(sql "$H" "SELECT request FROM audit WHERE seq = $seq")" \
    "row at audit_seq"
assert_eq "allow|policy|low-risk" \
    "$(sql "$H" "SELECT decision, by_, rule FROM audit WHERE seq = $seq")" \
    "audit row of the allow"

# deny by policy
ask_as 1 "$TOK" fs.write '{"path":"/etc/passwd","content":"x"}'
assert_eq deny "$(jf .decision)" "fs.write decision"
assert_eq policy "$(jf .by)" "fs.write by"
assert_eq write-outside-workspace "$(jf .rule)" "fs.write rule"

# admission: a token signed with another home's key
OTHER=$(new_home)
FOREIGN=$(mint "$OTHER" --agent a1 --user alice --scope 'tool:fs.*' \
    --session "$SID")
ask_as 1 "$FOREIGN" fs.read '{"path":"/workspace/a"}'
assert_eq deny "$(jf .decision)" "foreign key decision"
assert_eq admission "$(jf .by)" "foreign key by"
assert_contains "signature" "$(jf .reason)" "foreign key reason"

# admission: hand-built tokens (HS256 with this home's key)
now=$(date +%s)
claims() { # claims EXTRA_JQ: a valid claim set, then EXTRA_JQ applied
	jq -cn --argjson now "$now" --arg sid "$SID" \
	    '{sub: "alice", act: {sub: "a1"}, scope: "tool:fs.*", iat: $now,
	      exp: ($now + 600), jti: "j-crafted", sid: $sid} | '"$1"
}
HS='{"alg":"HS256","typ":"JWT"}'
ask_as 0 "$(craft_jwt "$H" "$HS" "$(claims .)")" fs.read '{"path":"/workspace/a"}'
assert_eq allow "$(jf .decision)" "crafted valid token"

ask_as 1 "$(craft_jwt "$H" "$HS" "$(claims '.iat = $now - 7200 | .exp = $now - 3600')")" fs.read
assert_eq admission "$(jf .by)" "expired by"
assert_contains "expired" "$(jf .reason)" "expired reason"

ask_as 1 "$(craft_jwt "$H" "$HS" "$(claims '.nbf = $now + 3600')")" fs.read
assert_eq admission "$(jf .by)" "not yet valid by"
assert_contains "not yet valid" "$(jf .reason)" "not yet valid reason"

ask_as 1 "$(craft_jwt "$H" "$HS" "$(claims 'del(.act)')")" fs.read
assert_eq admission "$(jf .by)" "missing act by"
assert_contains "missing claim act" "$(jf .reason)" "missing act reason"

ask_as 1 "$(craft_jwt "$H" '{"alg":"none","typ":"JWT"}' "$(claims .)" none)" fs.read
assert_eq deny "$(jf .decision)" "alg none decision"
assert_eq admission "$(jf .by)" "alg none by"
assert_contains "none" "$(jf .reason)" "alg none reason"

# admission: a tool outside the token's scope
ask_as 1 "$TOK" shell.exec '{"cmd":"ls"}'
assert_eq admission "$(jf .by)" "out of scope by"
assert_contains 'outside the token scope' "$(jf .reason)" "out of scope reason"
assert_contains 'shell.exec' "$(jf .reason)" "out of scope reason"

# history: one decision row per call, each naming its request
hist=$(history_json "$H" --kind decision)
assert_eq "${#requests[@]}" "$(printf '%s\n' "$hist" | grep -c .)" \
    "decision rows in history"
got=$(printf '%s\n' "$hist" | jq -r .request | sort)
want=$(printf '%s\n' "${requests[@]}" | sort)
assert_eq "$want" "$got" "requests in history"
assert_eq "${#requests[@]}" \
    "$(sql "$H" "SELECT COUNT(DISTINCT request) FROM audit WHERE kind = 'decision'")" \
    "distinct decision requests in the store"
assert_eq 6 "$(printf '%s\n' "$hist" | jq -r 'select(.by == "admission")' | jq -s length)" \
    "admission rows"

# the chain verifies, with the daemon running and after it stopped
assert_rc 0 ctl "$H" audit verify
assert_contains "audit chain ok: ${#requests[@]} events verified" "$OUT" "audit verify"

# one daemon per home: the pid file names it and a second one is refused
assert_eq "$(daemon_pid "$H")" "$(cat "$H/countersignd.pid")" "countersignd.pid"
assert_eq 600 "$(stat -c %a "$H/token.key")" "token.key mode"
run timeout 10 "$CSD" --home "$H" --foreground
[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] || fail "second daemon on one home: exit $RC"
assert_contains "already running" "$ERR" "second daemon refused"
kill -0 "$(daemon_pid "$H")" || fail "the first daemon died"
assert_rc 0 ctl "$H" ask --token "$TOK" --tool fs.read --args '{"path":"/workspace/b"}'

# a clean stop removes the pid file and the sockets; the store stays
stop_daemon "$H"
for f in countersignd.pid agent.ipc control.ipc events.ipc; do
	[ ! -e "$H/$f" ] || fail "$f left behind after a clean stop"
done
assert_rc 0 ctl "$H" audit verify
