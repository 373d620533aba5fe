#!/usr/bin/env bash
# t_trust_posture: operator trust and posture changes apply to the very
# next call and are audit events of their own.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

H=$(new_home)
start_daemon "$H"
TOK=$(mint "$H" --agent a1 --user alice --scope 'tool:fs.*' --session s-tp)
OTHER=$(mint "$H" --agent a2 --user bob --scope 'tool:fs.*' --session s-other)
READ='{"path":"/workspace/a.txt"}'
WRITE='{"path":"/workspace/b.txt","content":"x"}'

# --- the token's initial trust is capped by config (max_initial_trust 3) --
HIGH=$(mint "$H" --agent a3 --user carol --scope 'tool:fs.*' --session s-high --trust 4)
assert_rc 0 ctl "$H" ask --token "$HIGH" --tool fs.read --args '{"path":"/workspace/a.txt"}'
assert_eq 3 "$(sql "$H" "SELECT json_extract(event, '$.trust') FROM audit WHERE request = '$(jf .request)'")" \
    "initial trust of a --trust 4 token"

# --- trust 0 quarantines the session ------------------------------------
assert_rc 0 ctl "$H" ask --token "$TOK" --tool fs.read --args "$READ"
assert_eq 2 "$(sql "$H" "SELECT json_extract(event, '$.trust') FROM audit WHERE request = '$(jf .request)'")" \
    "trust before the change"
assert_rc 0 ctl "$H" ask --token "$OTHER" --tool fs.read --args "$READ"

assert_rc 1 ctl "$H" trust s-unknown 0
assert_contains "no such session" "$ERR" "trust of an unknown session"

assert_rc 0 ctl "$H" trust s-tp 0 --reason "looping on secrets"
assert_rc 1 ctl "$H" ask --token "$TOK" --tool fs.read --args "$READ"
assert_eq "deny|policy|quarantine" "$(jf '[.decision, .by, .rule] | join("|")')" \
    "call in a quarantined session"
# other sessions are untouched
assert_rc 0 ctl "$H" ask --token "$OTHER" --tool fs.read --args "$READ"

assert_rc 0 ctl "$H" trust s-tp 2
assert_rc 0 ctl "$H" ask --token "$TOK" --tool fs.read --args "$READ"
assert_eq low-risk "$(jf .rule)" "call after trust is restored"

# --- posture lockdown: only low-risk reads keep going --------------------
assert_rc 0 ctl "$H" ask --token "$TOK" --tool fs.write --args "$WRITE"
assert_eq workspace-write "$(jf .rule)" "write before lockdown"

assert_rc 64 ctl "$H" posture panic
assert_rc 0 ctl "$H" posture lockdown --reason "incident 12"
assert_rc 1 ctl "$H" ask --token "$TOK" --tool fs.write --args "$WRITE"
assert_eq "deny|policy|lockdown" "$(jf '[.decision, .by, .rule] | join("|")')" \
    "write under lockdown"
assert_eq lockdown "$(sql "$H" "SELECT json_extract(event, '$.posture') FROM audit WHERE request = '$(jf .request)'")" \
    "posture recorded on the decision"
assert_rc 0 ctl "$H" ask --token "$TOK" --tool fs.read --args "$READ"
assert_eq low-risk "$(jf .rule)" "read under lockdown"

assert_rc 0 ctl "$H" posture normal
assert_rc 0 ctl "$H" ask --token "$TOK" --tool fs.write --args "$WRITE"
assert_eq workspace-write "$(jf .rule)" "write after lockdown ends"

# --- both are audit events with the operator ----------------------------
trust=$(history_json "$H" --kind trust | jq -r '[.session, .from, .to, .operator, .reason // ""] | join("|")')
assert_eq "s-tp|2|0|root|looping on secrets
s-tp|0|2|root|" "$trust" "trust events"
posture=$(history_json "$H" --kind posture | jq -r '[.from, .to, .operator, .reason // ""] | join("|")')
assert_eq "normal|lockdown|root|incident 12
lockdown|normal|root|" "$posture" "posture events"
assert_eq 0 "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind IN ('trust', 'posture') AND request IS NOT NULL")" \
    "trust/posture events carry no request"
# the refused trust change was audited too
assert_eq "not_found" "$(sql "$H" "SELECT json_extract(event, '$.code') FROM audit WHERE kind = 'refused'")" \
    "refused trust change"
assert_rc 0 ctl "$H" audit verify
