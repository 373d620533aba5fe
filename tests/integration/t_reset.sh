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

# the agent socket: the call is answered and decided once
"$HANGUP" hangup "$H/agent.ipc" 20 >/dev/null || fail "hang-up tool failed"
assert_rc 0 ctl "$H" ask --token "$TOK" --id c-reset --tool fs.read \
    --args '{"path":"/workspace/a"}'
assert_eq allow "$(jf .decision)" "call after the hang-ups"
assert_eq 1 "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND json_extract(event, '$.id') = 'c-reset'")" \
    "decisions of the call"
assert_eq 1 "$(grep -c 'agent socket stopped taking new connections' "$H/daemon.log")" \
    "agent listener replaced"

# the control socket: an operator's command is answered
"$HANGUP" hangup "$H/control.ipc" 20 >/dev/null || fail "hang-up tool failed"
assert_rc 0 ctl "$H" pending --json
assert_eq 1 "$(grep -c 'control socket stopped taking new connections' "$H/daemon.log")" \
    "control listener replaced"
