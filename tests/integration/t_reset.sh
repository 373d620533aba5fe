#!/usr/bin/env bash
# t_reset: nng 1.5 listeners stop handing connections over once a peer
# hangs up in the middle of the SP handshake. The daemon replaces such a
# listener within seconds and resets the connections caught on it, and
# countersignctl then tries again on a new connection: a command run right
# after the hang-ups is answered, once, instead of failing.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

[ -x "$HANGUP" ] || fail "no hang-up tool at $HANGUP (make check builds it)"
H=$(new_home)
start_daemon "$H"
TOK=$(mint "$H" --agent a1 --user alice --scope 'tool:fs.*' --session s-rs)

# replaced NAME: the guard has replaced NAME's listener (once).
replaced() {
	[ "$(grep -c "$1 socket stopped taking new connections" \
	    "$H/daemon.log")" -ge 1 ]
}

# break_and_call NAME COMMAND...: hang up on NAME's socket during the
# handshake, then run COMMAND right away, which must be answered. The
# hang-ups break nng 1.5.2's listener only when one lands at the wrong
# moment, so a burst that did not is followed by another (at most 5),
# until the guard has replaced the listener.
break_and_call() {
	local name=$1 burst
	shift
	for burst in 1 2 3 4 5; do
		"$HANGUP" hangup "$H/$name.ipc" 20 >/dev/null ||
			fail "hang-up tool failed"
		assert_rc 0 "$@"
		wait_for 5 replaced "$name" && return 0
	done
	fail "$name listener not replaced after 5 bursts of hang-ups"
}

# the agent socket: the call is answered and decided once
break_and_call agent ctl "$H" ask --token "$TOK" --id c-reset --tool fs.read \
    --args '{"path":"/workspace/a"}'
assert_eq allow "$(jf .decision)" "call after the hang-ups"
assert_eq 1 "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND json_extract(event, '$.id') = 'c-reset'")" \
    "decisions of the call"
assert_eq 1 "$(grep -c 'agent socket stopped taking new connections' "$H/daemon.log")" \
    "agent listener replaced"

# the control socket: an operator's command is answered
break_and_call control ctl "$H" pending --json
assert_eq 1 "$(grep -c 'control socket stopped taking new connections' "$H/daemon.log")" \
    "control listener replaced"
