#!/usr/bin/env bash
# t_reload: SIGHUP and `countersignctl reload` swap the policy; a policy
# that does not compile is rejected whole, the old one stays in force, and
# every attempt is a policy audit event.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

H=$(new_home)
PF=$H/live-policy.json
# write_policy VERSION: the shipped policy under another version
write_policy() {
	jq --arg v "$1" '.version = $v' "$POLICY" >"$PF.tmp" && mv "$PF.tmp" "$PF"
}
version_of() { echo "default@$1#$(sha256sum "$PF" | cut -c1-8)"; }
policy_events() { sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'policy'"; }
policy_events_are() { [ "$(policy_events)" -eq "$1" ]; }

write_policy 1
V1=$(version_of 1)
start_daemon "$H" --policy "$PF"
TOK=$(mint "$H" --agent a1 --user alice --scope 'tool:fs.*' --session s-rl)
# call WANT_POLICY: one call, decided under WANT_POLICY
call() {
	assert_rc 0 ctl "$H" ask --token "$TOK" --tool fs.read \
	    --args '{"path":"/workspace/a"}'
	assert_eq "$1" "$(jf .policy)" "policy of the decision"
	assert_eq "$1" "$(sql "$H" "SELECT json_extract(event, '$.policy') FROM audit WHERE request = '$(jf .request)'")" \
	    "policy in the audit row"
}
call "$V1"

# SIGHUP with a broken file: rejected, the old policy stays
printf '{"policy": "default", "version": "2", "rules": [\n  {"id": "x", "then": "perhaps"}\n' >"$PF"
kill -HUP "$(daemon_pid "$H")"
wait_for 5 policy_events_are 1 || fail "no policy event after SIGHUP"
call "$V1"
ev=$(history_json "$H" --kind policy | tail -n 1)
assert_eq "false|$V1|SIGHUP" "$(jf '[.ok, .from, .operator] | join("|")' "$ev")" \
    "rejected policy event"
[ -n "$(jf '.error // empty' "$ev")" ] || fail "rejected policy event without an error"
grep -q 'policy reload rejected' "$H/daemon.log" || fail "rejection not logged"

# a policy that parses but does not compile is rejected just the same
jq '.rules[0].if = {"no_such_field": 1}' "$POLICY" >"$PF"
kill -HUP "$(daemon_pid "$H")"
wait_for 5 policy_events_are 2 || fail "no policy event after the second SIGHUP"
call "$V1"

# SIGHUP with a good, changed policy: the new version decides
write_policy 2
V2=$(version_of 2)
[ "$V1" != "$V2" ] || fail "test policies do not differ"
kill -HUP "$(daemon_pid "$H")"
wait_for 5 policy_events_are 3 || fail "no policy event after the good SIGHUP"
call "$V2"
ev=$(history_json "$H" --kind policy | tail -n 1)
assert_eq "true|$V1|$V2" "$(jf '[.ok, .from, .to] | join("|")' "$ev")" \
    "accepted policy event"

# countersignctl reload: the same, answered on the command line
write_policy 3
V3=$(version_of 3)
assert_rc 0 ctl "$H" reload
assert_contains "reloaded" "$OUT" "reload output"
call "$V3"
printf 'not json' >"$PF"
assert_rc 1 ctl "$H" reload
assert_contains "policy_rejected" "$ERR" "reload of a broken policy"
assert_eq 1 "$(echo "$ERR" | grep -c .)" "one-line error"
call "$V3"
ev=$(history_json "$H" --kind policy | tail -n 1)
assert_eq "false|$V3|root" "$(jf '[.ok, .from, .operator] | join("|")' "$ev")" \
    "rejected reload event"
assert_eq 5 "$(policy_events)" "policy events"
assert_eq 3 "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'policy' AND json_extract(event, '$.ok') = 0")" \
    "rejected policy events"
assert_rc 0 ctl "$H" audit verify
