#!/usr/bin/env bash
# s_console: consoles that die, freeze or fall behind while calls are
# pending change nothing: auto-decided calls keep flowing, approvals from
# another operator still land, escalated calls still time out to deny on
# schedule, and a healthy console still gets its events.
# Consoles: event subscribers (one healthy, one slow, one frozen with
# SIGSTOP, one killed), the real console bin/countersign in tmux (frozen),
# and 24 operator connections that ask for a snapshot and then freeze
# (more than control_contexts).
# Counters: decisions mismatches hangs crashes.
# SPDX-License-Identifier: MIT
SECTION=console
. "$(dirname "$0")/lib.sh"

H=$(hnew_home)
hstart "$H" --policy "$HPOLICY" || fail "countersignd did not start"
TOK=$(mint "$H" --agent busy --user alice --scope 'tool:fs.* tool:ops.* tool:race.*' --ttl 2h)
EV=$TEST_TMP/ev

# consumers
for c in healthy slow frozen killed; do
	: >"$EV.$c"
done
"$TOOLS/hostile_sub" -u "ipc://$H/events.ipc" -o "$EV.healthy" &
"$TOOLS/hostile_sub" -u "ipc://$H/events.ipc" -o "$EV.slow" -s 500 &
"$TOOLS/hostile_sub" -u "ipc://$H/events.ipc" -o "$EV.frozen" &
FROZEN=$!
"$TOOLS/hostile_sub" -u "ipc://$H/events.ipc" -o "$EV.killed" &
KILLED=$!
subscribed() { grep -q subscribed "$1"; }
for c in healthy slow frozen killed; do
	wait_for 5 subscribed "$EV.$c" || fail "subscriber $c did not start"
done
sleep 0.3
kill -STOP "$FROZEN"

# the real console, frozen
TMUX_SESSION=""
if command -v tmux >/dev/null && [ -x "$BIN/countersign" ]; then
	TMUX_SESSION=hostile-$$
	tmux new-session -d -s "$TMUX_SESSION" -x 120 -y 40 \
	    "$BIN/countersign --home $H" 2>/dev/null || TMUX_SESSION=""
fi
if [ -n "$TMUX_SESSION" ]; then
	sleep 1
	CONSOLE=$(tmux list-panes -t "$TMUX_SESSION" -F '#{pane_pid}' 2>/dev/null | head -n 1)
	[ -n "$CONSOLE" ] && kill -STOP "$CONSOLE"
	note "real console frozen (pid ${CONSOLE:-?})"
else
	note "no tmux or bin/countersign: only event subscribers stand in for consoles"
fi

# operator connections that ask for a snapshot, then freeze
printf '{"v":1,"type":"hello"}' >"$TEST_TMP/hello.json"
FROZEN_OPS=()
for k in $(seq 24); do
	"$TOOLS/hostile_peer" sp "$H/control.ipc" 0x30 -r -f "$TEST_TMP/hello.json" \
	    -t 60000 >/dev/null 2>&1 &
	FROZEN_OPS+=($!)
done
sleep 0.5
kill -STOP "${FROZEN_OPS[@]}" 2>/dev/null

# escalated calls with a 2 s deadline, parked
PARKED=12
t0=$(date +%s%N)
for k in $(seq "$PARKED"); do
	(
		s=$(date +%s%N)
		out=$("$CTL" --home "$H" ask --token "$TOK" --session "quick-$k" \
		    --tool ops.quick --args "{\"k\":$k}" --wait 30s 2>&1)
		printf '%s %s\n' "$(ms_since "$s")" "$out"
	) >"$TEST_TMP/parked.$k" &
done

# auto-decided calls keep flowing meanwhile
"$TOOLS/hostile_load" -u "ipc://$H/agent.ipc" -T "$TOK" -l "$TEST_TMP/ledger" \
    -c 4 -p cons -d 3000 -t 5000 -P 0 2>"$TEST_TMP/load.err" &
LOADER=$!

# another operator decides meanwhile
sleep 0.3
assert_rc 2 ctl "$H" ask --token "$TOK" --session other-op --tool race.op \
    --args '{"n":1}' --wait 0
OTHER=$(jf .request)
s=$(date +%s%N)
run timeout 10 "${NOBODY_RUN[@]}" "$CTL" --home "$H" decide "$OTHER" approve
ms=$(ms_since "$s")
[ "$RC" -eq 0 ] || bad mismatches "an operator could not decide while consoles were frozen: $ERR"
[ "$ms" -le 2000 ] || bad hangs "an operator's decision took $ms ms while consoles were frozen"
{ kill -9 "$KILLED"; wait "$KILLED"; } 2>/dev/null

wait "$LOADER"
n=$(grep -c . "$TEST_TMP/ledger")
note "auto-decided calls during the console faults: $n ($(cat "$TEST_TMP/load.err"))"
[ "$n" -ge 100 ] || bad hangs "only $n auto-decided calls in 3 s while consoles were frozen"
# they are all in the store, with the outcome the agents got
q "$H" "SELECT request || ' ' || decision FROM audit WHERE kind = 'decision'" | sort >"$TEST_TMP/stored"
awk '$3 == "allow" || $3 == "deny" { print $2, $3 }' "$TEST_TMP/ledger" | sort >"$TEST_TMP/seen"
count decisions "$(wc -l <"$TEST_TMP/seen")"
missing=$(comm -23 "$TEST_TMP/seen" "$TEST_TMP/stored" | head -3)
[ -z "$missing" ] || bad without_audit "decisions the agents got are not in the store: $(echo $missing)"

# the parked calls timed out to deny, on schedule
parked_done() { [ "$(cat "$TEST_TMP"/parked.* | grep -c .)" -ge "$PARKED" ]; }
wait_for 20 parked_done ||
	bad hangs "parked calls still waiting 20 s after their 2 s deadline"
for k in $(seq "$PARKED"); do
	read -r ms out <"$TEST_TMP/parked.$k"
	count decisions
	dec=$(printf '%s' "$out" | jq -r '[.decision, .by] | join("|")' 2>/dev/null)
	[ "$dec" = "deny|timeout" ] ||
		bad mismatches "parked call $k: expected deny by timeout, got: ${out:0:200}"
	[ "${ms:-0}" -ge 1500 ] && [ "${ms:-0}" -le 4500 ] ||
		bad mismatches "parked call $k: its 2 s deadline fired after ${ms} ms"
done
wait_for 5 grep -q '"by":"timeout"' "$EV.healthy" ||
	bad mismatches "the healthy console got no resolved event for the timed-out calls"
grep -q "$OTHER" "$EV.healthy" ||
	bad mismatches "the healthy console got no event for the call another operator decided"

# thaw everyone; the daemon is still well
kill -CONT "$FROZEN" "${FROZEN_OPS[@]}" 2>/dev/null
[ -n "${CONSOLE:-}" ] && kill -CONT "$CONSOLE" 2>/dev/null
serving "$H" "$TOK" || bad hangs "countersignd does not answer after the consoles thawed"
alive "$H" || bad crashes "countersignd died during the console faults"
[ -n "$TMUX_SESSION" ] && tmux kill-session -t "$TMUX_SESSION" 2>/dev/null
kill "${FROZEN_OPS[@]}" 2>/dev/null
hstop "$H" || bad crashes "countersignd did not stop cleanly"
store_check "$H" stopped
