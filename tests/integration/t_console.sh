#!/usr/bin/env bash
# t_console: the real console (bin/countersign) in a private tmux server
# against a real countersignd: an escalated call shows up, `a` approves the
# waiting agent, `d` + reason denies it, a trust change from the sessions
# view changes the next decision, hostile strings show inert, a resize to
# 80x24 and back keeps the screen whole, the console reconnects after a
# daemon restart, and q or SIGTERM give the terminal back.
# Standalone: BIN=bin bash tests/integration/t_console.sh
# SPDX-License-Identifier: MIT

here=$(cd "$(dirname "$0")" && pwd)
if [ -f "$here/lib.sh" ]; then
	. "$here/lib.sh"
else
	# minimal stand-ins for the shared helpers
	set -u
	ROOT=$(cd "$here/../.." && pwd)
	BIN=$(cd "$ROOT" && cd "${BIN:-bin}" && pwd) || exit 1
	TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cs-it.XXXXXX")
	cleanup() {
		local pid
		for pid in $(jobs -p); do kill -TERM "$pid" 2>/dev/null; done
		wait 2>/dev/null
		rm -rf "$TEST_TMP"
	}
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	fail() { echo "FAIL: $*" >&2; [ "$BASH_SUBSHELL" -eq 0 ] || kill -TERM $$; exit 1; }
	wait_for() {
		local end=$(($(date +%s%N) + $1 * 1000000000))
		shift
		until "$@"; do
			[ "$(date +%s%N)" -lt "$end" ] || return 1
			sleep 0.02
		done
	}
	not_running() { ! kill -0 "$1" 2>/dev/null; }
	new_home() {
		local h
		h=$(mktemp -d "$TEST_TMP/home.XXXXXX") || fail mktemp
		chmod 700 "$h"
		echo "$h"
	}
	start_daemon() {
		"$BIN/countersignd" --home "$1" --foreground 2>>"$1/daemon.log" &
		echo $! >"$1/.daemon_pid"
		wait_for 10 test -S "$1/agent.ipc" || fail "countersignd did not start"
	}
	stop_daemon() {
		local pid
		pid=$(cat "$1/.daemon_pid")
		kill -TERM "$pid"
		wait "$pid" || fail "countersignd exited with status $?"
		rm -f "$1/agent.ipc"
	}
	ctl() { local h=$1; shift; "$BIN/countersignctl" --home "$h" "$@"; }
	mint() { local h=$1; shift; "$BIN/countersignctl" --home "$h" token mint "$@" || fail "mint"; }
	assert_eq() { [ "$1" = "$2" ] || fail "$3: got '$2', want '$1'"; }
	assert_contains() { case $2 in *"$1"*) ;; *) fail "$3: '$2' lacks '$1'" ;; esac; }
fi

CONSOLE=$BIN/countersign
[ -x "$CONSOLE" ] || fail "$CONSOLE is not built"
command -v tmux >/dev/null || fail "tmux is not installed (make deps)"
command -v jq >/dev/null || fail "jq is not installed (make deps)"

# A private tmux server, killed on exit along with what lib.sh cleans up.
TMUX_SOCK=cs-test-$$
tm() { tmux -L "$TMUX_SOCK" "$@"; }
console_cleanup() {
	tm kill-server 2>/dev/null
	cleanup
}
trap console_cleanup EXIT

# screen: the pane's text (no attributes, so no escape sequences).
screen() { tm capture-pane -p -t cs; }

# on_screen TEXT: the pane shows TEXT (fixed string).
on_screen() { screen | grep -qF -- "$1"; }

# wait_screen TEXT [SECONDS]: poll the pane until it shows TEXT.
wait_screen() {
	wait_for "${2:-10}" on_screen "$1" ||
		fail "the console never showed '$1'; screen was:
$(screen)"
}

# last_line: the pane's bottom row (the status bar).
last_line() { screen | tail -n 1; }

# terminal_sane: the stty words printed before STTY-DONE show echo and
# canonical mode back on.
terminal_sane() {
	local words
	words=$(screen | grep -F STTY-DONE | grep -v stty)
	case " $words " in *" -echo "* | *" -icanon "*) return 1 ;; esac
	case " $words " in *" echo "*) ;; *) return 1 ;; esac
	case " $words " in *" icanon "*) ;; *) return 1 ;; esac
}

# start_console: run the console in the pane's shell; its exit status
# is printed as CONSOLE-EXIT=N when it ends.
start_console() {
	tm send-keys -t cs "clear; bash -c 'echo \$\$ >$TEST_TMP/console.pid; \
exec $CONSOLE --home $H'; echo CONSOLE-EXIT=\$?" Enter
	wait_screen "connected"
}

H=$(new_home)
start_daemon "$H"
OPERATOR=$(id -un)
TOK=$(mint "$H" --agent mailer --user alice --scope 'tool:email.*' \
    --trust 2 --session s-con --purpose "notify customers")
TOK_EVIL=$(mint "$H" --agent evil-bot --user mallory --scope 'tool:email.*' \
    --trust 2 --session s-evil --purpose $'buy\e[5mnow\e]0;PWNED\a')
EXTERNAL='{"to":"someone@elsewhere.org","subject":"quarterly numbers"}'

tm -f /dev/null new-session -d -s cs -x 120 -y 40 \
    "env PS1='$ ' LANG=C.UTF-8 LC_ALL=C.UTF-8 bash --norc --noprofile" ||
	fail "tmux new-session"
tm set-option -t cs -g allow-rename on >/dev/null
tm set-option -g window-size manual 2>/dev/null
wait_for 5 on_screen '$' || fail "no shell prompt in the pane"
start_console
wait_screen "op $OPERATOR"
wait_screen "no calls are waiting"

# --- an escalated call appears; a approves the waiting agent ------------
t0=$(date +%s%N)
ctl "$H" ask --token "$TOK" --tool email.send --args "$EXTERNAL" --wait 30s \
    >"$TEST_TMP/ask1.out" 2>&1 &
ask1=$!
wait_screen "quarterly numbers"
echo "escalation on screen after $((($(date +%s%N) - t0) / 1000000)) ms (tmux polling included)"
on_screen "external-email" || fail "the rule is not shown"
on_screen "alice (human)" || fail "the delegation chain is not shown"
tm send-keys -t cs a
wait_for 10 not_running "$ask1" || fail "the ask did not finish after a"
wait "$ask1"
assert_eq 0 "$?" "ask exit status after a"
assert_eq "allow|operator|$OPERATOR" \
    "$(jq -r '[.decision, .by, .operator] | join("|")' "$TEST_TMP/ask1.out")" \
    "decision after a"
wait_screen "no calls are waiting"

# --- d asks a reason, which goes back to the agent ----------------------
ctl "$H" ask --token "$TOK" --tool email.send --args "$EXTERNAL" --wait 30s \
    >"$TEST_TMP/ask2.out" 2>&1 &
ask2=$!
wait_screen "quarterly numbers"
tm send-keys -t cs d
wait_screen "reason for the agent"
tm send-keys -t cs -l "looks like data exfiltration"
tm send-keys -t cs Enter
wait_for 10 not_running "$ask2" || fail "the ask did not finish after d"
wait "$ask2"
assert_eq 1 "$?" "ask exit status after d"
assert_eq "deny|operator|looks like data exfiltration" \
    "$(jq -r '[.decision, .by, .reason] | join("|")' "$TEST_TMP/ask2.out")" \
    "decision after d"
# Enter alone never approves: an escalated call stays pending after Enter
ctl "$H" ask --token "$TOK" --tool email.send --args "$EXTERNAL" --wait 0 \
    >"$TEST_TMP/ask3.out" 2>&1
wait_screen "quarterly numbers"
tm send-keys -t cs Enter Enter Enter
sleep 0.3
assert_eq 1 "$(ctl "$H" pending --json | wc -l)" "pending after Enter"
tm send-keys -t cs Escape

# --- a trust change from the sessions view changes the next decision ----
tm send-keys -t cs s
wait_screen "SESSION"
wait_screen "s-con"
tm send-keys -t cs t
wait_screen "trust for s-con"
tm send-keys -t cs 0
wait_screen "reason for trust 0"
tm send-keys -t cs -l "sending mail to strangers"
tm send-keys -t cs Enter
wait_screen "0 quarantined"
ctl "$H" ask --token "$TOK" --tool email.send --args "$EXTERNAL" --wait 5s \
    >"$TEST_TMP/ask4.out" 2>&1
assert_eq 1 "$?" "ask exit status after quarantine"
assert_eq "deny|policy|quarantine" \
    "$(jq -r '[.decision, .by, .rule] | join("|")' "$TEST_TMP/ask4.out")" \
    "decision after trust 0"
ctl "$H" history --json --kind trust >"$TEST_TMP/trust.json" ||
	fail "history --kind trust"
assert_eq "s-con|2|0|$OPERATOR|sending mail to strangers" \
    "$(jq -r 'select(.session == "s-con") | [.session, .from, .to, .operator, .reason] | join("|")' \
    "$TEST_TMP/trust.json" | head -n 1)" "trust audit event"
# + steps it back up
tm send-keys -t cs +
wait_screen "1 low"
tm send-keys -t cs 1
wait_screen "LEFT"

# --- hostile strings show inert ----------------------------------------
HOSTILE='{"to":"x@evil.example","subject":"\u001b]0;PWNED\u0007\u001b[31mRED\u001b[0m \u202eexe.txt \u001b]52;c;cm0gLXJm\u0007"}'
ctl "$H" ask --token "$TOK_EVIL" --tool email.send --args "$HOSTILE" \
    --wait 0 >/dev/null 2>&1
tm send-keys -t cs /
tm send-keys -t cs -l "session:s-evil"
tm send-keys -t cs Enter
wait_screen "evil-bot"
wait_screen "mallory"
shot=$(screen)
case $shot in *$'\e'*) fail "raw ESC reached the screen" ;; esac
case $shot in *$'\a'*) fail "raw BEL reached the screen" ;; esac
case $shot in *$'\u202e'*) fail "a bidi override reached the screen" ;; esac
assert_contains $'buy\u241bnow\u241b' "$shot" "the hostile purpose, sanitized"
assert_contains 'x@evil.example' "$shot" "the hostile call's arguments"
title=$(tm display-message -p -t cs '#{pane_title}')
case $title in *PWNED*) fail "an agent string retitled the terminal: $title" ;; esac
# a key the queue has no field for is refused, the filter kept
tm send-keys -t cs /
tm send-keys -t cs C-u
tm send-keys -t cs -l "decision:deny"
tm send-keys -t cs Enter
wait_screen "decision: is not a field of the queue"
on_screen "evil-bot" || fail "the refused filter dropped the kept one:
$(screen)"
tm send-keys -t cs Escape

# --- resize to 80x24 and back keeps the screen whole --------------------
for size in 80x24 120x40 80x24 120x40; do
	tm resize-window -t cs -x "${size%x*}" -y "${size#*x}" ||
		fail "tmux resize-window $size"
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t cs | tail -n 1 | grep -q 'connected'" ||
		fail "no status bar after resizing to $size:
$(screen)"
	assert_eq "${size#*x}" "$(screen | wc -l)" "rows after resizing to $size"
	on_screen "countersign" || fail "no top bar after resizing to $size"
	on_screen "terminal too small" && fail "too small at $size"
done
tm resize-window -t cs -x 60 -y 20
wait_screen "terminal too small"
tm resize-window -t cs -x 120 -y 40
wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t cs | tail -n 1 | grep -q 'connected'" ||
	fail "no status bar after growing back"

# --- the help overlay lists the keys ------------------------------------
tm send-keys -t cs '?'
wait_screen "approve for the session"
on_screen "deny and quarantine" || fail "help lacks D"
tm send-keys -t cs Escape

# --- history view reads the audit store ---------------------------------
tm send-keys -t cs h
wait_screen "audit store"
wait_screen "sending mail to strangers"
tm send-keys -t cs 1

# --- the daemon restarts: disconnected, then reconnected ----------------
stop_daemon "$H"
wait_screen "disconnected"
start_daemon "$H"
wait_screen "reconnected" 15

# --- q quits and gives the terminal back --------------------------------
tm send-keys -t cs q
wait_screen "CONSOLE-EXIT=0"
tm send-keys -t cs "clear; stty -a | tr ' ;' '\n\n' | grep -E '^-?(echo|icanon)$' | tr '\n' ' '; echo STTY-DONE" Enter
wait_screen "STTY-DONE"
terminal_sane || fail "the terminal was not restored after q:
$(screen)"

# --- SIGTERM restores it too --------------------------------------------
start_console
kill -TERM "$(cat "$TEST_TMP/console.pid")"
wait_screen "CONSOLE-EXIT=0"
tm send-keys -t cs "clear; stty -a | tr ' ;' '\n\n' | grep -E '^-?(echo|icanon)$' | tr '\n' ' '; echo STTY-DONE" Enter
wait_screen "STTY-DONE"
terminal_sane || fail "the terminal was not restored after SIGTERM:
$(screen)"
echo "t_console: ok"
