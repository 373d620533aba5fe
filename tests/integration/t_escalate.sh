#!/usr/bin/env bash
# t_escalate: asks wait for operators: pending listing, decide once or for
# the session, parked agents woken by a decision, two-operator quorum,
# no self-approval, and the approval timeout.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

H=$(new_home)
start_daemon "$H"
SCOPE='tool:email.* tool:payments.* tool:fs.*'
TOK=$(mint "$H" --agent a1 --user alice --scope "$SCOPE" --session s-esc)
EXTERNAL='{"to":"someone@elsewhere.org","subject":"hi"}'

# pending_item REQUEST: that call's line of `pending --json`, or nothing.
pending_item() {
	ctl "$H" pending --json | jq -c --arg r "$1" 'select(.request == $r)'
}

# parked_request SESSION: the request id of the one call pending in SESSION.
parked_request() {
	ctl "$H" pending --json | jq -r --arg s "$1" 'select(.session == $s) | .request'
}
one_parked() { [ "$(parked_request "$1" | grep -c .)" -eq 1 ]; }

# --- ask with --wait 0: pending, listed, decided once -------------------
assert_rc 2 ctl "$H" ask --token "$TOK" --tool email.send --args "$EXTERNAL" --wait 0
assert_eq pending "$(jf .decision)" "decision"
assert_eq external-email "$(jf .rule)" "rule"
R1=$(jf .request)
assert_match '^r-' "$R1" "request id"

item=$(pending_item "$R1")
[ -n "$item" ] || fail "$R1 not in pending --json"
assert_eq "$R1|email.send|a1|alice|s-esc|external-email" \
    "$(jf '[.request, .tool, .agent, .user, .session, .rule] | join("|")' "$item")" \
    "pending --json fields"
deadline=$(jf .deadline "$item")
now_ms=$(($(date +%s%N) / 1000000))
[ "$deadline" -gt "$now_ms" ] && [ "$deadline" -le $((now_ms + 121000)) ] ||
	fail "deadline $deadline is not within the rule's 120 s from $now_ms"
assert_eq 1 "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'pending' AND request = '$R1'")" \
    "pending audit event"

assert_rc 2 ctl "$H" status "$R1"
assert_rc 0 ctl "$H" decide "$R1" approve
assert_rc 0 ctl "$H" status "$R1"
assert_eq "allow|operator|root" "$(jf '[.decision, .by, .operator] | join("|")')" \
    "status after approve"
[ -z "$(pending_item "$R1")" ] || fail "$R1 still pending after approve"

# deciding again is refused
assert_rc 1 ctl "$H" decide "$R1" deny
assert_contains "already decided" "$ERR" "second decide"
assert_eq 1 "$(echo "$ERR" | grep -c .)" "one-line error"
assert_eq 1 "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND request = '$R1'")" \
    "decision rows of $R1"

# --- a parked ask wakes up on approve, and on deny with the reason ------
ctl "$H" ask --token "$TOK" --tool email.send --args "$EXTERNAL" --wait 30s \
    >"$TEST_TMP/parked1.out" 2>&1 &
job=$!
wait_for 5 one_parked s-esc || fail "parked ask never showed up as pending"
R2=$(parked_request s-esc)
assert_rc 0 ctl "$H" decide "$R2" approve
wait_for 5 not_running "$job" || fail "parked ask still waiting after approve"
wait "$job"
assert_eq 0 "$?" "parked ask exit after approve"
OUT=$(cat "$TEST_TMP/parked1.out")
assert_eq "$R2|allow|operator" "$(jf '[.request, .decision, .by] | join("|")')" \
    "parked ask reply after approve"

ctl "$H" ask --token "$TOK" --tool email.send --args "$EXTERNAL" --wait 30s \
    >"$TEST_TMP/parked2.out" 2>&1 &
job=$!
wait_for 5 one_parked s-esc || fail "second parked ask never showed up"
R3=$(parked_request s-esc)
assert_rc 0 ctl "$H" decide "$R3" deny --reason "not to outsiders"
wait_for 5 not_running "$job" || fail "parked ask still waiting after deny"
wait "$job"
assert_eq 1 "$?" "parked ask exit after deny"
OUT=$(cat "$TEST_TMP/parked2.out")
assert_eq "$R3|deny|operator|not to outsiders" \
    "$(jf '[.request, .decision, .by, .reason] | join("|")')" \
    "parked ask reply after deny"

# --- a decision's log line stays one line, whatever its reason says ------
ctl "$H" ask --token "$TOK" --tool email.send --args "$EXTERNAL" --wait 30s \
    >"$TEST_TMP/parked3.out" 2>&1 &
job=$!
wait_for 5 one_parked s-esc || fail "third parked ask never showed up"
R4=$(parked_request s-esc)
FORGED='1999-01-01T00:00:00.000Z decision r-x allow by=policy "q"'
assert_rc 0 ctl "$H" decide "$R4" deny --reason "$(printf 'no\n%s\\' "$FORGED")"
wait_for 5 not_running "$job" || fail "third parked ask still waiting"
wait "$job"
logged() { grep -q " decision $R4 " "$H/daemon.log"; }
wait_for 5 logged || fail "no log line for $R4"
assert_eq 1 "$(grep -c " decision $R4 " "$H/daemon.log")" "log lines of $R4"
assert_contains 'reason="no\x0a1999-01-01T00:00:00.000Z decision r-x allow by=policy \x22q\x22\x5c"' \
    "$(grep " decision $R4 " "$H/daemon.log")" "escaped reason in the log"
assert_eq 0 "$(grep -c '^1999-01-01' "$H/daemon.log")" "forged log lines"

# --- quorum: approvers 2 needs two distinct operators ---------------------
assert_rc 2 ctl "$H" ask --token "$TOK" --tool payments.transfer \
    --args '{"amount":500,"currency":"EUR","to":"DE89"}' --purpose "invoice 7781" --wait 0
assert_eq big-transfer "$(jf .rule)" "big transfer rule"
RQ=$(jf .request)
assert_eq 2 "$(jf .approvers "$(pending_item "$RQ")")" "approvers needed"
assert_rc 0 ctl "$H" decide "$RQ" approve
assert_contains "1 of 2" "$OUT" "first approval"
assert_rc 1 ctl "$H" decide "$RQ" approve
assert_contains "distinct operators" "$ERR" "same operator twice"
assert_rc 2 ctl "$H" status "$RQ"
assert_eq 1 "$(jf '.approvals | length' "$(pending_item "$RQ")")" "approvals recorded"
assert_eq "approval|root" \
    "$(sql "$H" "SELECT kind, json_extract(event, '$.operator') FROM audit WHERE request = '$RQ' AND kind = 'approval'")" \
    "approval audit event"
assert_eq "already_approved" \
    "$(sql "$H" "SELECT json_extract(event, '$.code') FROM audit WHERE request = '$RQ' AND kind = 'refused'")" \
    "refused audit event"
assert_eq 0 "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND request = '$RQ'")" \
    "no decision while the quorum is incomplete"

# --- the delegating human may not approve their own agent's call --------
SELF=$(mint "$H" --agent a2 --user root --scope "$SCOPE" --session s-self)
assert_rc 2 ctl "$H" ask --token "$SELF" --tool email.send --args "$EXTERNAL" --wait 0
RS=$(jf .request)
assert_rc 1 ctl "$H" decide "$RS" approve
assert_contains "self_approval" "$ERR" "self-approval refused"
assert_rc 2 ctl "$H" status "$RS"

# --- approve for the session: a grant for the same tool and session ------
GT=$(mint "$H" --agent a3 --user bob --scope "$SCOPE" --session s-grant)
assert_rc 2 ctl "$H" ask --token "$GT" --tool email.send --args "$EXTERNAL" --wait 0
RG=$(jf .request)
assert_rc 0 ctl "$H" decide "$RG" approve --for-session --ttl 10m
assert_rc 0 ctl "$H" ask --token "$GT" --tool email.send \
    --args '{"to":"another@elsewhere.org"}' --wait 0
assert_eq "allow|grant" "$(jf '[.decision, .by] | join("|")')" "call under a grant"
grant=$(history_json "$H" --kind grant | jq -r 'select(.session == "s-grant") | [.tool, .operator, .ttl_s] | join("|")')
assert_eq "email.send|root|600" "$grant" "grant audit event"
# the grant covers neither another tool nor another session
assert_rc 2 ctl "$H" ask --token "$GT" --tool payments.transfer \
    --args '{"amount":5,"to":"DE89"}' --purpose "coffee" --wait 0
OT=$(mint "$H" --agent a3 --user bob --scope "$SCOPE" --session s-nogrant)
assert_rc 2 ctl "$H" ask --token "$OT" --tool email.send --args "$EXTERNAL" --wait 0
# revoked, the grant no longer applies
G=$(history_json "$H" --kind grant | jq -r 'select(.session == "s-grant") | .grant')
assert_rc 0 ctl "$H" revoke s-grant "$G"
assert_rc 2 ctl "$H" ask --token "$GT" --tool email.send --args "$EXTERNAL" --wait 0
assert_eq "s-grant|$G|root" \
    "$(history_json "$H" --kind revoke | jq -r '[.session, .grant, .operator] | join("|")')" \
    "revoke audit event"
assert_rc 1 ctl "$H" revoke s-grant "$G"

assert_rc 0 ctl "$H" audit verify

# --- approval timeout: on_timeout deny, by timeout ----------------------
H2=$(new_home)
cat >"$H2/short.json" <<'EOF'
{"policy": "short", "version": "1",
 "defaults": {"decision": "ask", "approval_timeout_s": 1, "on_timeout": "deny"},
 "tools": {}, "rules": []}
EOF
start_daemon "$H2" --policy "$H2/short.json"
T2=$(mint "$H2" --agent a1 --user alice --scope 'tool:*' --session s-t)
t0=$(date +%s%N)
assert_rc 1 ctl "$H2" ask --token "$T2" --tool fs.read --wait 20s
took=$(ms_since "$t0")
assert_eq "deny|timeout|default" "$(jf '[.decision, .by, .rule] | join("|")')" \
    "timed-out call"
[ "$took" -ge 900 ] && [ "$took" -lt 5000 ] ||
	fail "timeout after ${took} ms, want about 1000"
assert_match '^short@1#' "$(jf .policy)" "policy of the timed-out call"
assert_eq "deny|timeout" \
    "$(sql "$H2" "SELECT decision, by_ FROM audit WHERE kind = 'decision'")" \
    "timeout audit row"

# --- a full pending queue denies new asks with a clear reason ------------
H3=$(new_home '{"max_pending": 2}')
start_daemon "$H3"
T3=$(mint "$H3" --agent a1 --user alice --scope "$SCOPE" --session s-full)
assert_rc 2 ctl "$H3" ask --token "$T3" --tool email.send --args "$EXTERNAL" --wait 0
assert_rc 2 ctl "$H3" ask --token "$T3" --tool email.send --args "$EXTERNAL" --wait 0
assert_rc 1 ctl "$H3" ask --token "$T3" --tool email.send --args "$EXTERNAL" --wait 0
assert_eq "deny|error" "$(jf '[.decision, .by] | join("|")')" "ask on a full queue"
assert_contains "pending queue full" "$(jf .reason)" "reason on a full queue"
assert_eq "deny|error" "$(sql "$H3" "SELECT decision, by_ FROM audit WHERE request = '$(jf .request)' AND kind = 'decision'")" \
    "audit row of the refused ask"
