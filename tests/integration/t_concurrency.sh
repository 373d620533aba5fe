#!/usr/bin/env bash
# t_concurrency: 200 agents parked on approvals do not hold up 100
# auto-decided calls; approvals wake their agents; a clean stop answers the
# rest with deny (by error, reason shutdown).
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

PARKED=200 QUICK=100 APPROVE=100
H=$(new_home '{"agent_contexts": 512}')
start_daemon "$H"
TOK=$(mint "$H" --agent crowd --user alice --scope 'tool:fs.* tool:email.*')
mkdir -p "$TEST_TMP/park" "$TEST_TMP/quick"

# park N: one call that waits up to 60 s for an operator, in session p-N.
park() {
	ctl "$H" ask --token "$TOK" --session "p-$1" --tool email.send \
	    --args '{"to":"someone@elsewhere.org"}' --wait 60s \
	    >"$TEST_TMP/park/$1.out" 2>&1
	echo $? >"$TEST_TMP/park/$1.rc"
}
# quick N: one auto-decided call; records its exit status and duration.
quick() {
	local t0 rc
	t0=$(date +%s%N)
	ctl "$H" ask --token "$TOK" --session "q-$1" --tool fs.read \
	    --args '{"path":"/workspace/q"}' >"$TEST_TMP/quick/$1.out" 2>&1
	rc=$?
	echo "$rc $(ms_since "$t0")" >"$TEST_TMP/quick/$1.rc"
}
# outcomes FIRST LAST: "count status decision|by[|reason]" lines over the
# parked calls FIRST..LAST, one per distinct outcome.
outcomes() {
	local i outs=() rcs=()
	for i in $(seq "$1" "$2"); do
		outs+=("$TEST_TMP/park/$i.out")
		rcs+=("$TEST_TMP/park/$i.rc")
	done
	paste -d' ' <(cat "${rcs[@]}") \
	    <(jq -r '[.decision, .by] + (if .by == "error" then [.reason] else [] end) | join("|")' "${outs[@]}") |
	    sort | uniq -c | sed -E 's/^ +//'
}
files_are() { [ "$(ls "$1" | grep -c '\.rc$')" -eq "$2" ]; }
pending_is() { [ "$(pending_count "$H")" -eq "$1" ]; }

for i in $(seq "$PARKED"); do park "$i" & done
wait_for 30 pending_is "$PARKED" ||
	fail "only $(pending_count "$H") of $PARKED calls are pending"

# all parked: auto-decided calls still go straight through
t0=$(date +%s%N)
for i in $(seq "$QUICK"); do quick "$i" & done
wait_for 30 files_are "$TEST_TMP/quick" "$QUICK" || fail "quick calls did not finish"
echo "$QUICK quick calls beside $PARKED parked ones: $(ms_since "$t0") ms," \
    "slowest $(cat "$TEST_TMP"/quick/*.rc | sort -k2n | tail -n 1 | cut -d' ' -f2) ms"
# a call stuck behind the parked ones would take 60 s (the parked calls'
# wait); anything well under that proves they do not block, even on a busy
# host or under sanitizers
bad=$(cat "$TEST_TMP"/quick/*.rc | awk '$1 != 0 || $2 >= 30000' | head -3)
[ -z "$bad" ] || fail "slow or refused quick calls (status ms): $bad"
assert_eq 0 "$(ls "$TEST_TMP/park" | grep -c '\.rc$')" "parked calls answered early"

# approve the first APPROVE parked calls: exactly those agents get allow
ctl "$H" pending --json | jq -r '[.session, .request] | join(" ")' >"$TEST_TMP/parked"
for i in $(seq "$APPROVE"); do
	r=$(awk -v s="p-$i" '$1 == s { print $2 }' "$TEST_TMP/parked")
	[ -n "$r" ] || fail "no pending call for session p-$i"
	assert_rc 0 ctl "$H" decide "$r" approve
done
wait_for 20 files_are "$TEST_TMP/park" "$APPROVE" || fail "approved agents still waiting"
assert_eq "$APPROVE 0 allow|operator" "$(outcomes 1 "$APPROVE")" \
    "approved agents (count, status, reply)"
assert_eq $((PARKED - APPROVE)) "$(pending_count "$H")" "still pending"

# a clean stop answers everyone still waiting
stop_daemon "$H"
wait_for 20 files_are "$TEST_TMP/park" "$PARKED" || fail "agents left waiting after the stop"
assert_eq "$((PARKED - APPROVE)) 1 deny|error|shutdown" \
    "$(outcomes $((APPROVE + 1)) "$PARKED")" \
    "agents still waiting at the stop (count, status, reply)"
assert_eq "$APPROVE" "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND by_ = 'operator' AND decision = 'allow'")" \
    "approved rows"
assert_eq $((PARKED - APPROVE)) "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND by_ = 'error' AND json_extract(event, '$.reason') = 'shutdown'")" \
    "shutdown rows"
assert_eq "$QUICK" "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND by_ = 'policy'")" \
    "auto-decided rows"
assert_rc 0 ctl "$H" audit verify
# 400 clients came and went while the guard probed the listeners every
# 500 ms: none was taken for broken (a probe closed in its own handshake
# would have broken one, and its clients would have seen resets)
assert_eq 0 "$(grep -c 'stopped taking new connections' "$H/daemon.log")" \
    "listeners replaced"
