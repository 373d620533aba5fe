#!/usr/bin/env bash
# demo.sh: what `make demo` runs: countersignd with the shipped policy,
# simulated agents and the operator console in one terminal. Quitting the
# console (q) stops the simulator and the daemon.
# SPDX-License-Identifier: MIT
set -u
cd "$(dirname "$0")/.." || exit 1

if ! make -s all; then
	echo "demo: the build failed; installing missing packages (make deps)"
	make -s deps && make -s all || exit 1
fi
BIN=${BIN:-bin}
DEMO_HOME=${COUNTERSIGN_HOME:-/tmp/countersign-demo}
RATE=${DEMO_RATE:-2}
mkdir -p "$DEMO_HOME" && chmod 700 "$DEMO_HOME" || exit 1
LOG=$DEMO_HOME/demo.log
: >"$LOG"

daemon_pid= sim_pid=
cleanup() {
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
	[ -n "$sim_pid" ] && wait "$sim_pid" 2>/dev/null
	[ -n "$daemon_pid" ] && wait "$daemon_pid" 2>/dev/null
	sim_pid= daemon_pid=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$BIN/countersignctl" --home "$DEMO_HOME" "$@"; }

if ctl pending >/dev/null 2>&1; then
	echo "demo: using the countersignd already running on $DEMO_HOME"
else
	"$BIN/countersignd" --home "$DEMO_HOME" --policy policies/default.json \
	    --foreground 2>>"$LOG" &
	daemon_pid=$!
	for _ in $(seq 50); do
		ctl pending >/dev/null 2>&1 && break
		if ! kill -0 "$daemon_pid" 2>/dev/null; then
			echo "demo: countersignd did not start:" >&2
			tail -n 5 "$LOG" >&2
			exit 1
		fi
		sleep 0.1
	done
fi
ctl simulate --rate "$RATE" >>"$LOG" 2>&1 &
sim_pid=$!
"$BIN/countersign" --home "$DEMO_HOME"
status=$?
cleanup
echo "demo: stopped (log: $LOG)"
exit $status
