#!/usr/bin/env bash
# s_attacks: an attacker with an agent's foothold, a stolen or forged
# token, a shell account on the host, or an operator's seat:
#   - tokens: forged, tampered, alg none, algorithm confusion, expired,
#     not yet valid, wrong issuer/audience (corpus/token, group attack);
#     an inner actor of a delegation chain acting as the outer one; a jti
#     used more often than jti_max_uses allows, also across a restart;
#   - replays: a resent call is answered with its first outcome and never
#     decided twice (also concurrently, while pending, after approval,
#     across a restart); an approval covers the exact arguments only;
#   - approvals: only over the control socket (not over the event feed,
#     the agent socket, or a foreign socket type), only by operators, never
#     by the delegating human, never two votes from one operator;
#   - sockets and home: sockets 0600 (or as configured); a socket path,
#     home or key owned or writable by someone else is refused;
#   - secrets: configured argument paths are masked everywhere the daemon
#     writes or shows them, and the raw token is never stored;
#   - policy: a file rewritten while reloads run only ever puts a whole,
#     compiled version in force, and every attempt is audited.
# Counters: forged_accepted/forged_total replays_executed/replays_total
# self_approvals/self_total decisions mismatches without_audit crashes
# sanitizer_reports.
# SPDX-License-Identifier: MIT
SECTION=attacks
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tokens.sh"

[ -n "$SAN_BIN" ] && [ -x "$SAN_BIN/countersignd" ] && CSD=$SAN_BIN/countersignd
note "daemon: $CSD"
FRAME=$TEST_TMP/frame

# attack_refused WHAT COND: one more attempt; COND (a command) true when
# the attack was refused, else it counts as accepted.
attack_refused() {
	local what=$1
	shift
	count forged_total
	"$@" || bad forged_accepted "$what"
}

# end_home HOME: stop, sanitizer reports, store checks.
end_home() {
	local r
	hstop "$1" || bad crashes "countersignd on $1 did not stop cleanly"
	r=$(san_reports "$1")
	if [ "${r:-0}" -gt 0 ]; then
		bad sanitizer_reports "$r report(s) in $1/daemon.log: $(grep -m1 -E 'ERROR: |runtime error:' "$1/daemon.log")"
		count sanitizer_reports $((r - 1))
	fi
	store_check "$1" stopped
}

# decision_of REQUEST HOME: "decision|by" of the request's decision row.
decision_of() {
	q "$2" "SELECT decision || '|' || by_ FROM audit WHERE kind = 'decision' AND request = '$1'"
}

# still_pending HOME REQUEST: the call has no outcome yet.
still_pending() {
	[ "$(q "$1" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND request = '$2'")" = 0 ] &&
		{ "$CTL" --home "$1" status "$2" >/dev/null 2>&1; [ $? -eq 2 ]; }
}

# ==== tokens (corpus) ========================================================
HT=$(hnew_home "$TOKEN_HOME_CONFIG")
hstart "$HT" --policy "$HPOLICY" || fail "countersignd did not start on $HT"
token_setup "$HT"
n=0
for c in $(grep -l -E '^# group: (attack|control)' "$CORPUS"/token/*.case); do
	n=$((n + 1))
	name=$(basename "$c" .case)
	expect=$(meta "$c" expect)
	tok=$(token_case "$c") || fail "cannot build the token of $c"
	token_frame "$tok" "atk-$n" >"$FRAME"
	run timeout 30 "$RAWSEND" -t 5000 -f "$FRAME" "ipc://$HT/agent.ipc"
	alive "$HT" || { bad crashes "countersignd died on token/$name"; hstart "$HT" --policy "$HPOLICY"; continue; }
	dec=$(jf '[.decision, .by] | join("|")' 2>/dev/null)
	req=$(jf '.request // ""' 2>/dev/null)
	count decisions
	case $expect in
	"deny admission")
		count forged_total
		case $dec in
		"deny|admission") ;;
		allow*) bad forged_accepted "token/$name ($(meta "$c" what)): admitted and allowed: ${OUT:0:200}" ;;
		*) bad mismatches "token/$name: expected deny by admission, got ${OUT:0:200}" ;;
		esac
		;;
	allow)
		[ "$dec" = "allow|policy" ] ||
			bad mismatches "token/$name: a valid token was not admitted: ${OUT:0:200}"
		;;
	esac
	[ "$(decision_of "$req" "$HT")" = "$dec" ] ||
		bad without_audit "token/$name: outcome $dec without its audit row"
done
note "token attacks: $n"
# the clock is the home's: a token expired beyond the leeway
end_home "$HT"

# ==== delegation chains, replays, approvals on one home ======================
H=$(hnew_home)
hstart "$H" --policy "$HPOLICY" || fail "countersignd did not start on $H"
SCOPE='tool:fs.* tool:ops.* tool:race.*'

# ---- an inner actor acting as the outer one ----
# alice > deployer > helper: helper is the current actor; ops.release
# runs only for the current actor deployer
DEP=$(mint "$H" --agent deployer --user alice --scope "$SCOPE")
HELPER=$(mint "$H" --agent helper --user alice --actor-chain deployer --scope "$SCOPE")
run ctl "$H" ask --token "$DEP" --session rel-dep --tool ops.release --args '{"v":"1.2"}'
[ "$(jf .decision)" = allow ] || bad mismatches "chain: deployer's own release was not allowed: ${OUT:0:200}"
run ctl "$H" ask --token "$HELPER" --session rel-helper --tool ops.release --args '{"v":"1.2"}'
attack_refused "chain: helper (current actor) was allowed a release meant for deployer (inner actor): ${OUT:0:200}" \
    test "$(jf .decision)" != allow
req=$(jf .request)
row=$(q "$H" "SELECT agent || '|' || json_extract(event, '$.chain') FROM audit WHERE kind = 'decision' AND request = '$req'")
[ "$row" = 'helper|["alice","deployer","helper"]' ] ||
	bad mismatches "chain: the audit row names '$row', want the current actor helper and the whole chain"
# helper cannot step into deployer's session either
run ctl "$H" ask --token "$HELPER" --session rel-dep --tool ops.release --args '{"v":"1.3"}'
attack_refused "chain: helper used deployer's session: ${OUT:0:200}" \
    test "$(jf '[.decision, .by] | join("|")')" = "deny|admission"
# nor name another actor in the frame
printf '{"v":1,"type":"authorize","token":"%s","tool":"ops.release","agent":"deployer","args":{}}' "$HELPER" >"$FRAME"
run timeout 30 "$RAWSEND" -f "$FRAME" "ipc://$H/agent.ipc"
attack_refused "chain: a frame naming its own agent was accepted: ${OUT:0:200}" \
    test "$(jf '.code // ""')" = unknown_field

# ---- replays ----
TOK=$(mint "$H" --agent replayer --user alice --scope "$SCOPE" --session s-replay)
# replay_same WHAT ID N ARGS...: N resends of call ID are answered with
# its first outcome, and the store has one decision for it.
replay_same() {
	local what=$1 id=$2 times=$3 first k rows
	shift 3
	run ctl "$H" ask --token "$TOK" --id "$id" "$@"
	first=$(jf '[.request, .decision, (.audit_seq // "-")] | join("|")')
	for k in $(seq "$times"); do
		run ctl "$H" ask --token "$TOK" --id "$id" "$@"
		count replays_total
		[ "$(jf '[.request, .decision, (.audit_seq // "-")] | join("|")')" = "$first" ] ||
			bad replays_executed "$what: resend $k answered ${OUT:0:160}, first answer $first"
	done
	rows=$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND json_extract(event, '$.id') = '$id'")
	case $first in
	*"|pending|"*) [ "$rows" -le 1 ] ;;
	*) [ "$rows" = 1 ] ;;
	esac || bad replays_executed "$what: $rows decision rows for one call"
	REPLAY_REQUEST=${first%%|*}
}
replay_same "allowed read" rp-1 4 --tool fs.read --args '{"path":"/workspace/rp"}'
replay_same "denied write" rp-2 3 --tool fs.write --args '{"path":"/etc/rp"}'
replay_same "escalated call" rp-3 3 --tool race.op --args '{"n":3}' --wait 0
RP3=$REPLAY_REQUEST
assert_rc 0 ctl "$H" decide "$RP3" approve
replay_same "approved call" rp-3 2 --tool race.op --args '{"n":3}' --wait 0
# the same frame, 30 times at once
printf '{"v":1,"type":"authorize","id":"rp-burst","token":"%s","tool":"fs.read","session":"s-replay","args":{"path":"/workspace/burst"}}' "$TOK" >"$FRAME"
pids=()
for k in $(seq 30); do
	timeout 30 "$RAWSEND" -t 10000 -f "$FRAME" "ipc://$H/agent.ipc" >"$TEST_TMP/burst.$k" 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
count replays_total 29
distinct=$(cat "$TEST_TMP"/burst.* | jq -r .request 2>/dev/null | sort -u | wc -l)
rows=$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND json_extract(event, '$.id') = 'rp-burst'")
[ "$distinct" = 1 ] && [ "$rows" = 1 ] ||
	bad replays_executed "30 concurrent copies of one frame: $distinct request ids, $rows decision rows"
# deciding twice
count replays_total
run ctl "$H" decide "$RP3" deny
[ "$RC" -ne 0 ] && [ "$(decision_of "$RP3" "$H")" = "allow|operator" ] ||
	bad replays_executed "a decided call was decided again: ${OUT:0:160} ${ERR:0:160}"
# an approval covers these arguments only
run ctl "$H" ask --token "$TOK" --id rp-bind --tool ops.change --args '{"amount":1}' --wait 0
BIND=$(jf .request)
assert_rc 0 ctl "$H" decide "$BIND" approve
count replays_total
run ctl "$H" ask --token "$TOK" --id rp-bind2 --tool ops.change --args '{"amount":1000000}' --wait 0
[ "$(jf .decision)" != allow ] ||
	bad replays_executed "an approval of amount 1 let amount 1000000 through: ${OUT:0:200}"
count replays_total
run ctl "$H" ask --token "$TOK" --id rp-bind --tool ops.change --args '{"amount":1000000}' --wait 0
[ "$(jf .decision)" != allow ] ||
	bad replays_executed "the approved call's id with other arguments got its allow: ${OUT:0:200}"
# across a restart: the resend gets the first outcome, not a second one
run ctl "$H" ask --token "$TOK" --id rp-restart --tool fs.read --args '{"path":"/workspace/restart"}'
first=$(jf '[.request, .decision] | join("|")')
hstop "$H" || bad crashes "countersignd did not stop cleanly"
hstart "$H" --policy "$HPOLICY" || fail "countersignd did not restart"
run ctl "$H" ask --token "$TOK" --id rp-restart --tool fs.read --args '{"path":"/workspace/restart"}'
count replays_total
rows=$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND json_extract(event, '$.id') = 'rp-restart'")
[ "$(jf '[.request, .decision] | join("|")')" = "$first" ] && [ "$rows" = 1 ] ||
	bad replays_executed "a call resent after a restart was decided again ($rows decision rows; first $first, then $(jf '[.request, .decision] | join("|")'))"

# ---- approvals travel over the control socket only ----
ALICE=$(mint "$H" --agent asker --user alice --scope "$SCOPE")
run ctl "$H" ask --token "$ALICE" --session s-appr --tool race.op --args '{"n":10}' --wait 0
P=$(jf .request)
printf '{"v":1,"type":"decide","request":"%s","verdict":"approve"}' "$P" >"$TEST_TMP/decide.json"
run timeout 30 "$RAWSEND" -f "$TEST_TMP/decide.json" "ipc://$H/agent.ipc"
attack_refused "decide on the agent socket decided $P" still_pending "$H" "$P"
timeout 20 "$TOOLS/hostile_peer" sp "$H/events.ipc" 0x21 -r -f "$TEST_TMP/decide.json" -t 500 >/dev/null 2>&1
attack_refused "decide sent up the event feed (as a subscriber) decided $P" still_pending "$H" "$P"
timeout 20 "$TOOLS/hostile_peer" nng req "ipc://$H/events.ipc" -f "$TEST_TMP/decide.json" -t 500 >/dev/null 2>&1
attack_refused "decide from a REQ socket on the event feed decided $P" still_pending "$H" "$P"
timeout 20 "$TOOLS/hostile_peer" nng pub "ipc://$H/events.ipc" -f "$TEST_TMP/decide.json" -t 500 >/dev/null 2>&1
attack_refused "decide published to the event feed decided $P" still_pending "$H" "$P"
timeout 20 "$TOOLS/hostile_peer" nng pub "ipc://$H/control.ipc" -f "$TEST_TMP/decide.json" -t 500 >/dev/null 2>&1
attack_refused "decide published to the control socket decided $P" still_pending "$H" "$P"
timeout 20 "$TOOLS/hostile_peer" nng bus "ipc://$H/control.ipc" -f "$TEST_TMP/decide.json" -t 500 >/dev/null 2>&1
attack_refused "decide from a BUS socket on the control socket decided $P" still_pending "$H" "$P"

# ---- only operators ----
# stranger CMD...: run countersignctl as a uid that is no operator.
stranger() {
	run timeout 10 "${STRANGER_RUN[@]}" "$CTL" --home "$H" "$@"
}
before=$(last_seq "$H")
stranger decide "$P" approve
attack_refused "a non-operator's approval was accepted: ${OUT:0:160}" \
    eval '[ "$RC" -ne 0 ] && still_pending "$H" "$P"'
[ "$(q "$H" "SELECT json_extract(event, '$.code') FROM audit WHERE seq > $before AND kind = 'refused'")" = not_operator ] ||
	bad without_audit "the refused non-operator approval has no refused row with code not_operator"
stranger posture lockdown
attack_refused "a non-operator changed the posture" test "$RC" -ne 0
stranger trust s-appr 4
attack_refused "a non-operator changed a session's trust" test "$RC" -ne 0
stranger reload
attack_refused "a non-operator reloaded the policy" test "$RC" -ne 0
stranger pending --json
attack_refused "a non-operator listed pending calls: ${OUT:0:120}" test "$RC" -ne 0
[ "$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind IN ('posture', 'trust', 'policy') AND seq > $before")" = 0 ] ||
	bad forged_accepted "a non-operator's command left a posture, trust or policy row"

# ---- no self-approval, no double vote ----
# as_nobody CMD...: countersignctl as the second operator, nobody.
as_nobody() {
	run timeout 10 "${NOBODY_RUN[@]}" "$CTL" --home "$H" "$@"
}
ROOTS=$(mint "$H" --agent self-a --user root --scope "$SCOPE")
run ctl "$H" ask --token "$ROOTS" --session s-self1 --tool race.op --args '{"n":1}' --wait 0
S1=$(jf .request)
run ctl "$H" decide "$S1" approve
count self_total
[ "$RC" -ne 0 ] && still_pending "$H" "$S1" ||
	bad self_approvals "root approved its own agent's call $S1: ${OUT:0:160}"
assert_contains self_approval "$ERR" "self-approval refusal"
NOBODYS=$(mint "$H" --agent self-b --user nobody --scope "$SCOPE")
run ctl "$H" ask --token "$NOBODYS" --session s-self2 --tool race.op --args '{"n":2}' --wait 0
S2=$(jf .request)
as_nobody decide "$S2" approve
count self_total
[ "$RC" -ne 0 ] && still_pending "$H" "$S2" ||
	bad self_approvals "nobody approved its own agent's call $S2: ${OUT:0:160}"
# the delegating human cannot complete a quorum either
run ctl "$H" ask --token "$NOBODYS" --session s-self3 --tool ops.deploy --args '{"n":3}' --wait 0
S3=$(jf .request)
assert_rc 0 ctl "$H" decide "$S3" approve
as_nobody decide "$S3" approve
count self_total
[ "$RC" -ne 0 ] && still_pending "$H" "$S3" ||
	bad self_approvals "nobody completed the quorum of its own agent's call $S3"
# one operator, two votes: in a row, and at the same moment
run ctl "$H" ask --token "$ALICE" --session s-q1 --tool ops.deploy --args '{"n":4}' --wait 0
Q1=$(jf .request)
assert_rc 0 ctl "$H" decide "$Q1" approve
run ctl "$H" decide "$Q1" approve
count self_total
[ "$RC" -ne 0 ] && still_pending "$H" "$Q1" ||
	bad self_approvals "root's second approval completed the quorum of $Q1"
as_nobody decide "$Q1" approve
[ "$RC" -eq 0 ] || bad mismatches "a second operator could not complete the quorum of $Q1: $ERR"
row=$(q "$H" "SELECT decision || '|' || json_extract(event, '$.operators') FROM audit WHERE kind = 'decision' AND request = '$Q1'")
[ "$row" = 'allow|["root","nobody"]' ] ||
	bad mismatches "quorum of $Q1 recorded as '$row', want allow by root and nobody"
run ctl "$H" ask --token "$ALICE" --session s-q2 --tool ops.deploy --args '{"n":5}' --wait 0
Q2=$(jf .request)
pids=()
for k in 1 2 3 4; do
	"$CTL" --home "$H" decide "$Q2" approve >/dev/null 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
count self_total
still_pending "$H" "$Q2" ||
	bad self_approvals "four simultaneous approvals by root completed the quorum of $Q2"
[ "$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'approval' AND request = '$Q2'")" = 1 ] ||
	bad self_approvals "simultaneous approvals by root were counted more than once for $Q2"
count decisions 8
end_home "$H"

# ==== jti_max_uses ============================================================
HJ=$(hnew_home '{"jti_max_uses":3}')
hstart "$HJ" --policy "$HPOLICY" || fail "countersignd did not start on $HJ"
JT=$(mint "$HJ" --agent jti-agent --user alice --scope 'tool:fs.*' --jti jti-fixed-1)
for k in 1 2 3; do
	run ctl "$HJ" ask --token "$JT" --session "jti-$k" --tool fs.read --args "{\"k\":$k}"
	[ "$(jf .decision)" = allow ] || bad mismatches "jti: use $k of 3 was not allowed: ${OUT:0:200}"
done
run ctl "$HJ" ask --token "$JT" --session jti-4 --tool fs.read --args '{"k":4}'
attack_refused "jti: a fourth use with jti_max_uses 3 was admitted: ${OUT:0:200}" \
    test "$(jf '[.decision, .by] | join("|")')" = "deny|admission"
JT2=$(mint "$HJ" --agent jti-other --user alice --scope 'tool:fs.*' --jti jti-fixed-1)
run ctl "$HJ" ask --token "$JT2" --session jti-5 --tool fs.read --args '{"k":5}'
attack_refused "jti: another token reusing a spent jti was admitted: ${OUT:0:200}" \
    test "$(jf .decision)" != allow
hstop "$HJ" || bad crashes "countersignd did not stop cleanly"
hstart "$HJ" --policy "$HPOLICY" || fail "countersignd did not restart on $HJ"
run ctl "$HJ" ask --token "$JT" --session jti-6 --tool fs.read --args '{"k":6}'
attack_refused "jti: a spent jti was admitted again after a restart: ${OUT:0:200}" \
    test "$(jf .decision)" != allow
end_home "$HJ"

# ==== sockets, home and key ===================================================
CSD=$PLAIN_CSD
HS=$(new_home)
hstart "$HS" || fail "countersignd did not start on $HS"
for s in agent control events; do
	mode=$(stat -c %a "$HS/$s.ipc")
	[ "$mode" = 600 ] || bad mismatches "$s.ipc has mode $mode, want 600"
done
hstop "$HS"
HS=$(new_home '{"socket_mode":"0660"}')
hstart "$HS" || fail "countersignd did not start on $HS"
for s in agent control events; do
	mode=$(stat -c %a "$HS/$s.ipc")
	[ "$mode" = 660 ] || bad mismatches "$s.ipc has mode $mode with socket_mode 0660"
done
hstop "$HS"
FRESH=$TEST_TMP/fresh/inner/home
"$CSD" --home "$FRESH" --foreground 2>"$TEST_TMP/fresh.log" &
fresh=$!
wait_for 10 test -S "$FRESH/agent.ipc" || fail "countersignd did not create $FRESH"
[ "$(stat -c %a "$FRESH")" = 700 ] || bad mismatches "a new home was created with mode $(stat -c %a "$FRESH")"
[ "$(stat -c %a "$FRESH/token.key")" = 600 ] || bad mismatches "token.key was created with mode $(stat -c %a "$FRESH/token.key")"
kill -TERM "$fresh"
wait "$fresh"

# must_refuse WHAT PREPARE: after PREPARE on a fresh home, the daemon must
# refuse to start (and not touch what it found).
must_refuse() {
	local what=$1 h rc
	h=$(new_home)
	hstart "$h" || fail "$what: countersignd did not start on a fresh home"
	hstop "$h"
	rm -f "$h"/*.ipc
	$2 "$h"
	timeout 10 "$CSD" --home "$h" --foreground >"$TEST_TMP/refuse.out" 2>&1
	rc=$?
	count forged_total
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
		bad forged_accepted "$what: countersignd started anyway (status $rc)"
	elif ! grep -q 'refus' "$TEST_TMP/refuse.out"; then
		note "$what: refused with: $(head -c 160 "$TEST_TMP/refuse.out")"
	fi
	chown -R root "$h" 2>/dev/null
	chmod 700 "$h"
}
foreign_socket() { "$TOOLS/hostile_peer" bind "$1/$2.ipc" && chown nobody "$1/$2.ipc"; }
foreign_agent() { foreign_socket "$1" agent; }
foreign_control() { foreign_socket "$1" control; }
foreign_events() { foreign_socket "$1" events; }
file_agent() { echo "not a socket" >"$1/agent.ipc"; }
link_agent() {
	[ -S "$TEST_TMP/elsewhere.ipc" ] || "$TOOLS/hostile_peer" bind "$TEST_TMP/elsewhere.ipc"
	ln -s "$TEST_TMP/elsewhere.ipc" "$1/agent.ipc"
}
home_nobody() { chown nobody "$1"; }
home_0777() { chmod 777 "$1"; }
home_0770() { chmod 770 "$1"; }
key_0644() { chmod 644 "$1/token.key"; }
key_nobody() { chown nobody "$1/token.key"; }
must_refuse "a socket file at agent.ipc owned by nobody" foreign_agent
must_refuse "a socket file at control.ipc owned by nobody" foreign_control
must_refuse "a socket file at events.ipc owned by nobody" foreign_events
must_refuse "a regular file at agent.ipc" file_agent
must_refuse "a symlink at agent.ipc" link_agent
must_refuse "a home owned by nobody" home_nobody
must_refuse "a home writable by everyone" home_0777
must_refuse "a home writable by its group" home_0770
must_refuse "token.key readable by everyone" key_0644
must_refuse "token.key owned by nobody" key_nobody

# ==== secrets =================================================================
# no_secret WHAT FILE...: none of the planted secrets is in the files.
no_secret() {
	local what=$1 hits
	shift
	hits=$(grep -a -o -h -E 'SECRET-[0-9]+' "$@" 2>/dev/null | sort -u | tr '\n' ' ')
	[ -z "$hits" ] || bad mismatches "secrets: $what holds $hits"
}
for cfg in '' '{"mask_args":["args.card.number","args.auth.header","args.password"]}'; do
	HM=$(hnew_home "$cfg")
	hstart "$HM" --policy "$HPOLICY" || fail "countersignd did not start on $HM"
	: >"$TEST_TMP/sec.events"
	"$TOOLS/hostile_sub" -u "ipc://$HM/events.ipc" -o "$TEST_TMP/sec.events" &
	sub=$!
	wait_for 5 grep -q subscribed "$TEST_TMP/sec.events"
	sleep 0.2
	MT=$(mint "$HM" --agent keeper --user alice --scope "$SCOPE")
	if [ -z "$cfg" ]; then
		ARGS='{"path":"/workspace/s","password":"pw-SECRET-1","api_key":"key-SECRET-2","secret":"sec-SECRET-3","token":"tok-SECRET-4"}'
		PARGS='{"to":"x@elsewhere.org","password":"pw-SECRET-5","api_key":"key-SECRET-6"}'
	else
		ARGS='{"path":"/workspace/s","card":{"number":"4111-SECRET-11","cvc":"1"},"auth":{"header":"Bearer SECRET-12"},"password":"pw-SECRET-13"}'
		PARGS='{"card":{"number":"4111-SECRET-14"},"auth":{"header":"Bearer SECRET-15"}}'
	fi
	run ctl "$HM" ask --token "$MT" --session sec-1 --tool fs.read --args "$ARGS"
	[ "$(jf .decision)" = allow ] || bad mismatches "secrets: the read was not allowed: ${OUT:0:200}"
	run ctl "$HM" ask --token "$MT" --session sec-2 --tool race.op --args "$PARGS" --wait 0
	PS=$(jf .request)
	ctl "$HM" pending --json >"$TEST_TMP/sec.pending" 2>&1
	hello "$HM" >"$TEST_TMP/sec.hello" 2>&1
	# a forged token with secrets: the admission denial is recorded too
	run ctl "$HM" ask --token "${MT%.*}.AAAA" --session sec-3 --tool fs.read --args "$ARGS"
	assert_rc 0 ctl "$HM" decide "$PS" deny
	ctl "$HM" history --json --limit 0 >"$TEST_TMP/sec.history" 2>&1
	sleep 0.3
	kill "$sub"
	wait "$sub" 2>/dev/null
	no_secret "pending --json" "$TEST_TMP/sec.pending"
	no_secret "the console snapshot (hello)" "$TEST_TMP/sec.hello"
	no_secret "the event feed" "$TEST_TMP/sec.events"
	no_secret "history --json" "$TEST_TMP/sec.history"
	no_secret "the audit store files" "$HM"/audit.db*
	no_secret "the daemon log" "$HM/daemon.log"
	# the raw token is not stored either
	sig=${MT##*.}
	if grep -a -q -F -- "$sig" "$HM"/audit.db* "$HM/daemon.log" 2>/dev/null; then
		bad mismatches "secrets: the raw token is stored (its signature is in the audit store or the log)"
	fi
	end_home "$HM"
done

# ==== a policy file rewritten while reloads run ===============================
HP=$(hnew_home)
LIVE=$HP/live.json
jq '.version = "a"' "$HPOLICY" >"$TEST_TMP/pa.json"
jq '.version = "b" | .description = (.description * 20)' "$HPOLICY" >"$TEST_TMP/pb.json"
cp "$TEST_TMP/pa.json" "$LIVE"
hstart "$HP" --policy "$LIVE" || fail "countersignd did not start on $HP"
VA=$("$CTL" policy lint "$TEST_TMP/pa.json" | sed -n 's/.*ok: \([^,]*\),.*/\1/p')
VB=$("$CTL" policy lint "$TEST_TMP/pb.json" | sed -n 's/.*ok: \([^,]*\),.*/\1/p')
before=$(last_seq "$HP")
(
	end=$(($(date +%s) + 4))
	while [ "$(date +%s)" -lt "$end" ]; do
		for f in pa pb; do
			# rewrite in place, in two halves with a pause between
			size=$(stat -c %s "$TEST_TMP/$f.json")
			head -c $((size / 2)) "$TEST_TMP/$f.json" >"$LIVE"
			sleep 0.00$((RANDOM % 5))
			tail -c +$((size / 2 + 1)) "$TEST_TMP/$f.json" >>"$LIVE"
			sleep 0.00$((RANDOM % 5))
		done
	done
) &
writer=$!
attempts=0 answered=0
while ! not_running "$writer"; do
	# answered: put in force (0) or rejected (1); anything else (no
	# answer in time, no connection) may or may not have reached it
	timeout 10 "$CTL" --home "$HP" reload >/dev/null 2>"$TEST_TMP/reload.err"
	rc=$?
	attempts=$((attempts + 1))
	if [ "$rc" -le 1 ]; then
		answered=$((answered + 1))
	else
		note "reload attempt $attempts: exit $rc: $(head -c 200 "$TEST_TMP/reload.err")"
	fi
done
wait "$writer"
sleep 0.5
count forged_total "$attempts"
ok=$(q "$HP" "SELECT COUNT(*) FROM audit WHERE kind = 'policy' AND seq > $before AND json_extract(event, '$.ok') = 1")
rejected=$(q "$HP" "SELECT COUNT(*) FROM audit WHERE kind = 'policy' AND seq > $before AND json_extract(event, '$.ok') = 0")
note "policy rewritten during $attempts reloads ($answered answered): $ok put in force, $rejected rejected (all audited: $((ok + rejected)))"
[ $((ok + rejected)) -ge "$answered" ] && [ $((ok + rejected)) -le "$attempts" ] ||
	bad without_audit "policy: $attempts reload attempts, $answered answered, $((ok + rejected)) policy rows"
q "$HP" "SELECT DISTINCT json_extract(event, '$.to') FROM audit WHERE kind = 'policy' AND seq > $before AND json_extract(event, '$.ok') = 1" |
    while read -r v; do
	[ "$v" = "$VA" ] || [ "$v" = "$VB" ] ||
		bad forged_accepted "policy: version $v, neither of the two whole files ($VA, $VB), was put in force"
done
cp "$TEST_TMP/pa.json" "$LIVE"
assert_rc 0 ctl "$HP" reload
end_home "$HP"
