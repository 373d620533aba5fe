#!/usr/bin/env bash
# s_kill9: the kill -9 loop. A load generator (hostile_load) keeps calling
# the crash-point build of the daemon and writes every decision it
# receives to a client ledger; the daemon is killed with SIGKILL at a
# random moment, or kills itself at a named crash point (after_commit:
# rows committed, replies not sent; mid_group_commit: half a batch
# inserted; mid_policy_reload: new policy compiled, not swapped in). It is
# restarted at once, the agents resend what went unanswered (same ids),
# and after every restart:
#   - PRAGMA integrity_check is ok and `audit verify` walks the chain
#     (integrity_fail);
#   - every decision in the ledger has its decision row, same outcome,
#     same args digest, and the audit_seq the agent was told (lost,
#     mismatches);
#   - no request, and no agent call (client id), has two final outcomes
#     (dup_final);
#   - every call the dead run left pending is closed as deny, by error,
#     reason restart (lost, mismatches).
# KILL9 iterations (a fresh home every 50).
# SPDX-License-Identifier: MIT
SECTION=kill9
. "$(dirname "$0")/lib.sh"

[ -n "$HOOKS_BIN" ] && [ -x "$HOOKS_BIN/countersignd" ] ||
	fail "no crash-point build (make HOOKS=1 all)"
CSD=$HOOKS_BIN/countersignd
ITER=${KILL9:-12}
PER_HOME=50
MODES=(random after_commit mid_group_commit mid_policy_reload)

# The default policy decides the loader's mix: reads allowed, writes to
# /etc denied, mail to outsiders escalated.
POLICY_A=$TEST_TMP/policy-a.json POLICY_B=$TEST_TMP/policy-b.json
jq '.version = "1"' "$POLICY" >"$POLICY_A"
jq '.version = "2"' "$POLICY" >"$POLICY_B"

H="" TOK="" iter_first_seq=0

# start_plain: start the daemon on $H without a crash point.
start_plain() {
	DENV=()
	hstart "$H" --policy "$H/policy.json"
}

# start_with CRASH_AT: start the daemon on $H armed with a crash point.
start_with() {
	DENV=("COUNTERSIGN_CRASH_AT=$1")
	hstart "$H" --policy "$H/policy.json"
}

# new_kill_home: a fresh home with a running daemon and a token.
new_kill_home() {
	[ -z "$H" ] || finish_home
	H=$(hnew_home '{"max_pending":100000,"max_sessions":1000000}')
	cp "$POLICY_A" "$H/policy.json"
	start_plain || fail "countersignd did not start on $H"
	TOK=$(mint "$H" --agent loader --user alice --scope 'tool:fs.* tool:email.*' --ttl 12h)
	note "home $H"
}

# finish_home: stop cleanly and check the store once more.
finish_home() {
	alive "$H" && { hstop "$H" || bad crashes "countersignd on $H did not stop cleanly"; }
	store_check "$H" stopped
}

# dead_seq: the newest committed seq, read like an auditor would (read
# only, so the reader does not checkpoint the dead daemon's WAL).
dead_seq() {
	sqlite3 -batch -noheader "file:$H/audit.db?mode=ro" \
	    "SELECT COALESCE(MAX(seq), 0) FROM audit" 2>/dev/null
}

# check_after_restart LEDGER DEAD_SEQ: the checks of one iteration.
check_after_restart() {
	local ledger=$1 dead=$2 r n_dec missing wrong
	r=$(q "$H" 'PRAGMA integrity_check')
	[ "$r" = ok ] || bad integrity_fail "iteration $i: integrity_check: ${r:-unreadable}"
	if ! "$CTL" --home "$H" audit verify >"$TEST_TMP/.verify" 2>&1; then
		bad integrity_fail "iteration $i: audit verify: $(head -c 300 "$TEST_TMP/.verify")"
	fi

	# the ledger against the store
	q "$H" "SELECT request || ' ' || decision || ' ' || COALESCE(json_extract(event, '$.args_digest'), '-') || ' ' || seq FROM audit WHERE kind = 'decision' AND seq > $iter_first_seq" |
	    sort >"$TEST_TMP/stored"
	awk '$3 == "allow" || $3 == "deny" { print $2, $3, $4, $5 }' "$ledger" |
	    sort >"$TEST_TMP/seen"
	n_dec=$(wc -l <"$TEST_TMP/seen")
	count decisions "$n_dec"
	comm -23 "$TEST_TMP/seen" "$TEST_TMP/stored" >"$TEST_TMP/unmatched"
	if [ -s "$TEST_TMP/unmatched" ]; then
		# missing entirely, or there with another outcome?
		cut -d' ' -f1 "$TEST_TMP/stored" | sort -u >"$TEST_TMP/stored.req"
		missing=$(cut -d' ' -f1 "$TEST_TMP/unmatched" | sort -u |
		    comm -23 - "$TEST_TMP/stored.req")
		wrong=$(cut -d' ' -f1 "$TEST_TMP/unmatched" | sort -u |
		    comm -12 - "$TEST_TMP/stored.req")
		for r in $missing; do
			bad lost "iteration $i: the agent got $(grep -m1 " $r " "$ledger") but the store has no decision row"
		done
		for r in $wrong; do
			bad mismatches "iteration $i: the agent got '$(grep -m1 " $r " "$ledger")', the store has '$(grep -m1 "^$r " "$TEST_TMP/stored")'"
		done
	fi
	awk '$3 ~ /^error:/' "$ledger" | head -3 | while read -r line; do
		bad mismatches "iteration $i: a well-formed call got an error: $line"
	done
	# calls the agents saw escalated have their pending row
	awk '$3 == "pending" { print $2 }' "$ledger" | sort -u >"$TEST_TMP/seen.pending"
	q "$H" "SELECT request FROM audit WHERE kind = 'pending' AND seq > $iter_first_seq" |
	    sort -u >"$TEST_TMP/stored.pending"
	comm -23 "$TEST_TMP/seen.pending" "$TEST_TMP/stored.pending" | head -3 |
	    while read -r r; do
		bad lost "iteration $i: the agent saw $r pending, the store has no pending row"
	done

	# no request and no agent call decided twice
	{
		q "$H" "SELECT 'request ' || request FROM audit WHERE kind = 'decision' GROUP BY request HAVING COUNT(*) > 1"
		q "$H" "SELECT 'call ' || json_extract(event, '$.id') || ' (' || group_concat(request || '=' || decision, ', ') || ')' FROM audit WHERE kind = 'decision' AND seq > $iter_first_seq AND json_extract(event, '$.id') IS NOT NULL GROUP BY json_extract(event, '$.id'), json_extract(event, '$.args_digest') HAVING COUNT(*) > 1"
	} | sort >"$TEST_TMP/dups"
	reported_dups=$H/.dups-reported
	touch "$reported_dups"
	comm -23 "$TEST_TMP/dups" "$reported_dups" >"$TEST_TMP/dups.new"
	bad_n dup_final "$(grep -c . "$TEST_TMP/dups.new")" \
	    "iteration $i (${MODES[$((i % ${#MODES[@]}))]}): two final outcomes for $(head -n 2 "$TEST_TMP/dups.new" | tr '\n' ';')"
	sort -u "$TEST_TMP/dups" "$reported_dups" -o "$reported_dups"

	# what the dead run left pending is closed: deny, by error, restart
	r=$(q "$H" "SELECT p.request FROM audit AS p WHERE p.kind = 'pending' AND p.seq <= $dead AND NOT EXISTS (SELECT 1 FROM audit AS d WHERE d.kind = 'decision' AND d.request = p.request) LIMIT 5")
	[ -z "$r" ] || bad lost "iteration $i: calls left pending by the killed run were not closed: $(echo $r)"
	r=$(q "$H" "SELECT d.request || ':' || d.decision || '/' || d.by_ || '/' || COALESCE(json_extract(d.event, '$.reason'), '') FROM audit AS p JOIN audit AS d ON d.request = p.request AND d.kind = 'decision' WHERE p.kind = 'pending' AND p.seq <= $dead AND d.seq > $dead AND NOT (d.decision = 'deny' AND d.by_ = 'error' AND json_extract(d.event, '$.reason') = 'restart') LIMIT 5")
	[ -z "$r" ] || bad mismatches "iteration $i: stale pending closed otherwise than deny/error/restart: $(echo $r)"
}

loader_pid=""
note "$ITER iterations, modes ${MODES[*]}"
for ((i = 0; i < ITER; i++)); do
	if [ $((i % PER_HOME)) -eq 0 ]; then
		new_kill_home
	fi
	mode=${MODES[$((i % ${#MODES[@]}))]}
	case $mode in
	after_commit | mid_group_commit)
		# crash on the N-th commit of this run
		hstop "$H" || bad crashes "iteration $i: countersignd did not stop cleanly"
		store_check "$H" stopped
		start_with "$mode:$((RANDOM % 150 + 1))" ||
			fail "iteration $i: countersignd did not start with $mode"
		;;
	mid_policy_reload)
		hstop "$H" || bad crashes "iteration $i: countersignd did not stop cleanly"
		store_check "$H" stopped
		start_with "$mode" || fail "iteration $i: countersignd did not start with $mode"
		;;
	esac
	iter_first_seq=$(last_seq "$H")
	ledger=$TEST_TMP/ledger.$i
	stop=$TEST_TMP/stop.$i
	: >"$ledger"
	"$TOOLS/hostile_load" -u "ipc://$H/agent.ipc" -T "$TOK" -l "$ledger" \
	    -c 8 -p "k$i" -s "$stop" -t 1500 -R -P 10 \
	    2>>"$TEST_TMP/loader.log" &
	loader_pid=$!
	pid=$(daemon_pid "$H")
	case $mode in
	random)
		sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
		kill -9 "$pid" 2>/dev/null
		;;
	after_commit | mid_group_commit)
		wait_for 15 not_running "$pid" || {
			note "iteration $i: crash point $mode not reached in 15 s; SIGKILL"
			kill -9 "$pid"
		}
		;;
	mid_policy_reload)
		sleep "0.$((RANDOM % 5 + 1))"
		# the next version of the policy file, then a reload
		if [ $((i % 8)) -eq 3 ]; then cp "$POLICY_B" "$H/policy.json"; else cp "$POLICY_A" "$H/policy.json"; fi
		if [ $((RANDOM % 2)) -eq 0 ]; then
			kill -HUP "$pid"
		else
			timeout 10 "$CTL" --home "$H" reload >/dev/null 2>&1 &
		fi
		wait_for 15 not_running "$pid" || {
			note "iteration $i: mid_policy_reload not reached in 15 s; SIGKILL"
			kill -9 "$pid"
		}
		;;
	esac
	wait "$pid" 2>/dev/null
	count kill9
	dead=$(dead_seq)
	if ! start_plain; then
		bad integrity_fail "iteration $i ($mode): countersignd does not restart after kill -9: $(tail -n 3 "$H/daemon.log" | tr '\n' ' ')"
		touch "$stop"
		kill -TERM "$loader_pid" 2>/dev/null
		wait "$loader_pid" 2>/dev/null
		H=""
		i=$(((i / PER_HOME + 1) * PER_HOME - 1)) # next home
		continue
	fi
	# the agents resend what went unanswered, then stop
	sleep 0.3
	touch "$stop"
	wait_for 30 not_running "$loader_pid" || {
		bad hangs "iteration $i: agents still waiting 30 s after the restart"
		kill -9 "$loader_pid"
	}
	wait "$loader_pid" 2>/dev/null
	check_after_restart "$ledger" "$dead"
	[ $((i % 10)) -eq 9 ] && note "iteration $((i + 1))/$ITER: $(wc -l <"$ledger") decisions in the last ledger, store at seq $(last_seq "$H")"
	rm -f "$ledger"
done
[ -z "$H" ] || finish_home
note "loader: $(grep -c . "$TEST_TMP/loader.log") runs; last: $(tail -n 1 "$TEST_TMP/loader.log")"
