#!/usr/bin/env bash
# s_badinput: every case of tests/hostile/corpus/ against the real daemon,
# built with ASan+UBSan when bin/san exists: malformed agent frames,
# malformed operator frames, tokens with mistyped or absurd claims,
# peers that do not speak countersign, and policy files that must not
# compile. Each gets its stable error (or is dropped by nng before any
# large allocation), each refused frame is one audit row, nothing is ever
# allowed, and the daemon neither crashes nor stops answering.
# Counters: bad_inputs allowed crashes hangs sanitizer_reports
# decisions without_audit mismatches.
# SPDX-License-Identifier: MIT
SECTION=badinput
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tokens.sh"

[ -n "$SAN_BIN" ] && [ -x "$SAN_BIN/countersignd" ] && CSD=$SAN_BIN/countersignd
note "daemon: $CSD"
H=$(hnew_home "$TOKEN_HOME_CONFIG")
cp "$HPOLICY" "$H/live-policy.json"
LIVE=$H/live-policy.json
AGENT=$H/agent.ipc CONTROL=$H/control.ipc EVENTS=$H/events.ipc
hstart "$H" --policy "$LIVE" || fail "countersignd did not start on $H"
token_setup "$H"
TOK=$(token_good 'tool:fs.* tool:ops.* tool:race.*')
FRAME=$TEST_TMP/frame
n=0

# restart_if_dead WHAT: count a crash and bring the daemon back.
restart_if_dead() {
	alive "$H" && return 0
	bad crashes "countersignd died on $1"
	wait "$(daemon_pid "$H")" 2>/dev/null
	hstart "$H" --policy "$LIVE" || fail "countersignd does not restart after $1"
}

# stuck_check WHAT: when the daemon no longer answers, count the hang with
# what it is doing (CPU, connections), and start it again so the corpus
# goes on.
stuck_check() {
	local pid cpu conns
	serving "$H" "$TOK" && return 0
	pid=$(daemon_pid "$H")
	cpu=$(ps -o pcpu= -p "$pid" 2>/dev/null | tr -d ' ')
	conns=$(ss -x 2>/dev/null | grep -c "$H/agent.ipc")
	bad hangs "countersignd stopped answering after $1 (cpu ${cpu:-?}%, $conns connections on agent.ipc)"
	# where each of the daemon's own threads is, for the report
	if command -v gdb >/dev/null; then
		timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt' 2>/dev/null |
			grep -E '^Thread|(core|transport)/[a-z_]+\.c:' | head -40 >&2
	fi
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	hstart "$H" --policy "$LIVE" || fail "countersignd does not restart after $1"
}

# recovers EP: the EP socket (agent, control, events) serves a new client
# within 20 s: a listener that hang-ups broke is replaced by the daemon
# within seconds, and a client caught on the broken one sees its
# connection reset and tries again, as agents do.
recovers() {
	local ep=$1 sub end=$((SECONDS + 20))
	while [ "$SECONDS" -lt "$end" ]; do
		case $ep in
		agent) serving "$H" "$TOK" && return 0 ;;
		control)
			timeout 10 "$CTL" --home "$H" pending --json >/dev/null 2>&1 &&
				return 0
			;;
		events)
			: >"$TEST_TMP/sub.out"
			"$TOOLS/hostile_sub" -u "ipc://$H/events.ipc" \
			    -o "$TEST_TMP/sub.out" &
			sub=$!
			sleep 0.5
			serving "$H" "$TOK" # a new session: a "session" event
			sleep 0.5
			kill "$sub" 2>/dev/null
			wait "$sub" 2>/dev/null
			[ -s "$TEST_TMP/sub.out" ] && return 0
			;;
		esac
		sleep 0.5
	done
	return 1
}

# hwm HOME: the daemon's peak resident memory in KiB.
hwm() {
	awk '/^VmHWM:/ {print $2}' "/proc/$(daemon_pid "$1")/status" 2>/dev/null || echo 0
}

# rows_moved SEQ: the store has rows after SEQ.
rows_moved() {
	[ "$(last_seq "$H")" != "$1" ]
}

# check_reply CASE EXPECT RC ROWS_BEFORE: judge one reply ($OUT) against
# its expectation; the audit rows written since ROWS_BEFORE tell whether
# the outcome was recorded.
check_reply() {
	local c=$1 expect=$2 rc=$3 before=$4 type code dec by req row
	type=$(jf '.type // ""' 2>/dev/null)
	dec=$(jf '.decision // ""' 2>/dev/null)
	by=$(jf '.by // ""' 2>/dev/null)
	code=$(jf '.code // ""' 2>/dev/null)
	req=$(jf '.request // ""' 2>/dev/null)
	[ "$dec" = allow ] && [ "$expect" != allow ] && [ "$expect" != decided ] &&
		bad allowed "$c: allowed: ${OUT:0:300}"
	case $expect in
	dropped)
		# 3: no reply; 124: the sender itself hung tearing down a frame
		# the daemon never read (the serving check that follows tells)
		if [ "$rc" -ne 3 ] && [ "$rc" -ne 124 ]; then
			bad mismatches "$c: expected no reply (frame dropped by nng), got: ${OUT:0:200}"
		elif [ "$(last_seq "$H")" != "$before" ]; then
			bad mismatches "$c: a dropped frame left audit rows"
		fi
		return
		;;
	esac
	if [ "$rc" -ne 0 ]; then
		bad hangs "$c: no reply within 10 s (expected $expect)"
		return
	fi
	case $expect in
	error\ *)
		[ "$type|$code" = "error|${expect#error }" ] ||
			bad mismatches "$c: expected error ${expect#error }, got ${OUT:0:200}"
		[ -n "$dec" ] && bad mismatches "$c: an error reply carrying a decision"
		row=$(q "$H" "SELECT kind || '|' || decision || '|' || by_ || '|' || json_extract(event, '$.code') FROM audit WHERE request = '$req' AND seq > $before")
		[ "$row" = "error|deny|error|$code" ] ||
			bad without_audit "$c: refused frame ($code) not audited as one error row (got '$row')"
		;;
	deny\ *)
		count decisions
		[ "$dec|$by" = "deny|${expect#deny }" ] ||
			bad mismatches "$c: expected deny by ${expect#deny }, got ${OUT:0:200}"
		row=$(q "$H" "SELECT decision || '|' || by_ FROM audit WHERE kind = 'decision' AND request = '$req'")
		[ "$row" = "$dec|$by" ] ||
			bad without_audit "$c: decision $dec by $by without its audit row (got '$row')"
		;;
	allow | decided)
		count decisions
		[ "$expect" = allow ] && [ "$dec" != allow ] &&
			bad mismatches "$c: a valid control case was not allowed: ${OUT:0:200}"
		[ "$type" = decision ] ||
			bad mismatches "$c: expected a decision, got ${OUT:0:200}"
		row=$(q "$H" "SELECT decision FROM audit WHERE kind = 'decision' AND request = '$req'")
		[ -n "$dec" ] && [ "$row" = "$dec" ] ||
			bad without_audit "$c: decision '$dec' without its audit row"
		;;
	*)
		fail "$c: unknown expectation '$expect'"
		;;
	esac
}

# ---- agent frames --------------------------------------------------------
note "agent frames: $(ls "$CORPUS"/agent/*.case | wc -l) cases"
for c in "$CORPUS"/agent/*.case; do
	n=$((n + 1))
	name=$(basename "$c" .case)
	expect=$(meta "$c" expect)
	"$TOOLS/hostile_peer" render "$c" "$FRAME" ID="bad-$n" TOKEN="$TOK" \
	    SESSION="bad-s-$n" || fail "cannot render $c"
	before=$(last_seq "$H")
	mem_before=$(hwm "$H")
	run timeout 30 "$RAWSEND" -t 10000 -f "$FRAME" "ipc://$AGENT"
	count bad_inputs
	restart_if_dead "agent/$name" || continue
	check_reply "agent/$name" "$expect" "$RC" "$before"
	if [ "$expect" = dropped ]; then
		grown=$(($(hwm "$H") - mem_before))
		[ "$grown" -lt 8192 ] ||
			bad mismatches "agent/$name: peak memory grew by $grown KiB on a dropped frame"
	fi
	if [ "$expect" = dropped ] || [ "$RC" -ne 0 ] || [ $((n % 20)) -eq 0 ]; then
		stuck_check "agent/$name"
	fi
done

# ---- tokens: claims of the wrong type, absurd values ----------------------
note "token claims: $(grep -l '^# group: bad-input' "$CORPUS"/token/*.case | wc -l) cases"
for c in $(grep -l '^# group: bad-input' "$CORPUS"/token/*.case); do
	name=$(basename "$c" .case)
	expect=$(meta "$c" expect)
	repeat=$(meta "$c" repeat)
	tok=$(token_case "$c") || fail "cannot build the token of $c"
	for i in $(seq "${repeat:-1}"); do
		n=$((n + 1))
		token_frame "$tok" "bad-$n" >"$FRAME"
		before=$(last_seq "$H")
		run timeout 30 "$RAWSEND" -t 10000 -f "$FRAME" "ipc://$AGENT"
		count bad_inputs
		restart_if_dead "token/$name" || continue
		check_reply "token/$name" "$expect" "$RC" "$before"
		[ "$RC" -eq 0 ] || stuck_check "token/$name"
	done
done

# ---- operator frames ------------------------------------------------------
# One call waits for an operator; no malformed decide may touch it.
assert_rc 2 ctl "$H" ask --token "$TOK" --tool race.op --session bad-ctl \
    --args '{"n":1}' --wait 0
PENDING=$(jf .request)
note "operator frames: $(ls "$CORPUS"/control/*.case | wc -l) cases (pending $PENDING)"
for c in "$CORPUS"/control/*.case; do
	n=$((n + 1))
	name=$(basename "$c" .case)
	expect=$(meta "$c" expect)
	"$TOOLS/hostile_peer" render "$c" "$FRAME" PENDING="$PENDING" ||
		fail "cannot render $c"
	before=$(last_seq "$H")
	mem_before=$(hwm "$H")
	run timeout 30 "$RAWSEND" -t 10000 -f "$FRAME" "ipc://$CONTROL"
	count bad_inputs
	restart_if_dead "control/$name" || continue
	case $expect in
	dropped)
		check_reply "control/$name" dropped "$RC" "$before"
		grown=$(($(hwm "$H") - mem_before))
		[ "$grown" -lt 8192 ] ||
			bad mismatches "control/$name: peak memory grew by $grown KiB on a dropped frame"
		timeout 20 "$CTL" --home "$H" pending --json >/dev/null 2>&1 ||
			bad hangs "control/$name: operators get no answer after a dropped frame"
		;;
	error\ *)
		if [ "$RC" -ne 0 ]; then
			bad hangs "control/$name: no reply within 10 s"
			continue
		fi
		[ "$(jf '[.type, .code] | join("|")')" = "error|${expect#error }" ] ||
			bad mismatches "control/$name: expected error ${expect#error }, got ${OUT:0:200}"
		row=$(q "$H" "SELECT group_concat(kind || '|' || json_extract(event, '$.code'), ',') FROM audit WHERE seq > $before")
		[ "$row" = "refused|${expect#error }" ] ||
			bad without_audit "control/$name: refused command not audited as one refused row (got '$row')"
		;;
	esac
done
row=$(q "$H" "SELECT COUNT(*) FROM audit WHERE request = '$PENDING' AND kind IN ('decision', 'approval')")
[ "$row" = 0 ] || bad allowed "a malformed operator frame decided or approved $PENDING"
run ctl "$H" status "$PENDING"
[ "$RC" -eq 2 ] || bad allowed "$PENDING is no longer pending after the malformed operator frames: ${OUT:0:200}"

# ---- peers that do not speak countersign ----------------------------------
note "foreign peers: $(ls "$CORPUS"/peer/*.case | wc -l) cases"
for c in "$CORPUS"/peer/*.case; do
	n=$((n + 1))
	name=$(basename "$c" .case)
	expect=$(meta "$c" expect)
	read -r mode ep rest <<<"$(meta "$c" peer)"
	"$TOOLS/hostile_peer" render "$c" "$FRAME" ID="bad-$n" TOKEN="$TOK" \
	    SESSION="bad-s-$n" PENDING="$PENDING" || fail "cannot render $c"
	path=$H/$ep.ipc
	before=$(last_seq "$H")
	mem_before=$(hwm "$H")
	count bad_inputs
	case $mode in
	nng)
		run timeout 20 "$TOOLS/hostile_peer" nng "$rest" "ipc://$path" -f "$FRAME" -t 1500
		[[ $OUT == *"received=0"* ]] ||
			bad mismatches "peer/$name: a foreign $rest socket got an answer: ${OUT:0:200}"
		;;
	raw)
		run timeout 20 "$TOOLS/hostile_peer" raw "$path" -f "$FRAME" -t 1500
		# nng greets with its 8-byte SP header, nothing more
		[[ $OUT =~ received=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -le 8 ] ||
			bad mismatches "peer/$name: raw bytes got an answer: ${OUT:0:200}"
		;;
	sp)
		# shellcheck disable=SC2086
		run timeout 20 "$TOOLS/hostile_peer" sp "$path" $rest -f "$FRAME" -t 1500
		[[ $OUT == *"reply=0"* ]] || [[ $OUT == *"handshake=refused"* ]] ||
			bad mismatches "peer/$name: a hand-made SP frame got an answer: ${OUT:0:200}"
		;;
	hold)
		read -r held_count <<<"$rest"
		"$TOOLS/hostile_peer" hold "$path" "$held_count" -t 4000 \
		    >"$TEST_TMP/hold.out" 2>&1 &
		holder=$!
		sleep 0.5
		if [ "$ep" = control ]; then
			timeout 20 "$CTL" --home "$H" pending --json >/dev/null 2>&1 ||
				bad hangs "peer/$name: operators locked out by stalled connections"
		else
			serving "$H" "$TOK" ||
				bad hangs "peer/$name: agents locked out by stalled connections"
		fi
		wait "$holder"
		;;
	hangup)
		read -r hung <<<"$rest"
		run timeout 120 "$TOOLS/hostile_peer" hangup "$path" "$hung"
		recovers "$ep" ||
			bad hangs "peer/$name: the $ep socket takes no new connections after $hung hang-ups"
		;;
	*)
		fail "$c: unknown peer mode $mode"
		;;
	esac
	restart_if_dead "peer/$name" || continue
	# rows other than the probes of a serving check
	rows=$(q "$H" "SELECT group_concat(kind || ':' || COALESCE(decision, ''), ',') FROM audit WHERE seq > $before AND COALESCE(session, '') NOT LIKE 'probe-%'")
	if [ -n "$rows" ]; then
		case $rows in
		*allow*) bad allowed "peer/$name: a foreign peer got a call allowed ($rows)" ;;
		*) bad mismatches "peer/$name: a foreign peer reached the engine ($rows)" ;;
		esac
	fi
	grown=$(($(hwm "$H") - mem_before))
	[ "$grown" -lt 8192 ] ||
		bad mismatches "peer/$name: peak memory grew by $grown KiB"
done
row=$(q "$H" "SELECT COUNT(*) FROM audit WHERE request = '$PENDING' AND kind IN ('decision', 'approval')")
[ "$row" = 0 ] || bad allowed "a foreign peer decided or approved $PENDING"
serving "$H" "$TOK" || bad hangs "countersignd stopped answering after the foreign peers"
note "listeners replaced after hang-ups: $(grep -c 'stopped taking new connections' "$H/daemon.log")"

# ---- policy files that must not compile ----------------------------------
version_now() {
	ctl "$H" ask --token "$TOK" --tool fs.read --session "bad-pv-$RANDOM" \
	    --args '{"path":"/workspace/v"}' 2>/dev/null | jq -r .policy
}
GOOD_VERSION=$(version_now)
note "policy files: $(ls "$CORPUS"/policy/*.json | wc -l) cases (in force: $GOOD_VERSION)"
i=0
for c in "$CORPUS"/policy/*.json; do
	i=$((i + 1))
	name=$(basename "$c" .json)
	before=$(last_seq "$H")
	cp "$c" "$LIVE"
	count bad_inputs
	if [ $((i % 5)) -eq 0 ]; then
		# the SIGHUP path
		kill -HUP "$(daemon_pid "$H")"
		wait_for 10 rows_moved "$before" ||
			bad without_audit "policy/$name: SIGHUP reload not audited"
	else
		run timeout 20 "$CTL" --home "$H" reload
		if [ "$RC" -eq 0 ]; then
			bad allowed "policy/$name: a policy that must not compile was accepted"
		elif [ "$RC" -eq 124 ]; then
			bad hangs "policy/$name: reload did not answer"
		fi
	fi
	restart_if_dead "policy/$name" || continue
	row=$(q "$H" "SELECT kind || '|' || json_extract(event, '$.ok') FROM audit WHERE seq > $before AND kind = 'policy'")
	[ "$row" = "policy|0" ] ||
		bad without_audit "policy/$name: rejected reload not audited as one policy row with ok false (got '$row')"
	cp "$HPOLICY" "$LIVE"
	v=$(version_now)
	[ "$v" = "$GOOD_VERSION" ] ||
		bad allowed "policy/$name: policy in force changed from $GOOD_VERSION to '$v'"
done

# ---- the end: the daemon survived, no sanitizer report, a sound store ----
serving "$H" "$TOK" || bad hangs "countersignd stopped answering at the end"
hstop "$H" || bad crashes "countersignd did not stop cleanly"
r=$(san_reports "$H")
if [ "${r:-0}" -gt 0 ]; then
	bad sanitizer_reports "$r sanitizer report(s) in $H/daemon.log: $(grep -m1 -E 'ERROR: |runtime error:' "$H/daemon.log")"
	count sanitizer_reports $((r - 1))
	grep -B2 -A30 -m3 -E 'ERROR: |runtime error:' "$H/daemon.log" >&2
fi
store_check "$H" stopped
note "bad inputs sent: $n"
