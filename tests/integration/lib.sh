# lib.sh: shared helpers for the integration tests: each test runs the real
# countersignd on a fresh home and drives it with the real countersignctl.
# Source it from a t_*.sh file; any failed assertion ends the test with the
# daemon logs on stderr, and every daemon and background job it started is
# stopped on exit.
# SPDX-License-Identifier: MIT

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$(cd "$ROOT" && cd "${BIN:-bin}" && pwd) ||
	{ echo "lib.sh: no binaries folder ${BIN:-bin}" >&2; exit 1; }
CTL=$BIN/countersignctl
CSD=$BIN/countersignd
RAWSEND=${RAWSEND:-build/tests/cs_rawsend}
case $RAWSEND in /*) ;; *) RAWSEND=$ROOT/$RAWSEND ;; esac
HANGUP=${HANGUP:-build/tests/hostile/hostile_peer}
case $HANGUP in /*) ;; *) HANGUP=$ROOT/$HANGUP ;; esac
POLICY=$ROOT/policies/default.json
POLICY_CASES=$ROOT/policies/default.cases.json

# Everything a test creates lives under one folder, removed on exit.
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cs-it.XXXXXX")
HOMES=()          # homes that had a daemon, for log dumps
OUT="" ERR="" RC=""  # results of the last run/assert_rc

cleanup() {
	local pid
	{
		for pid in $(jobs -p); do
			kill -TERM "$pid"
		done
		for pid in $(jobs -p); do
			wait_for 3 not_running "$pid" || kill -9 "$pid"
			wait "$pid"
		done
	} 2>/dev/null
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# dump_logs: print the tail of every daemon log of this test on stderr.
dump_logs() {
	local h
	for h in ${HOMES[@]+"${HOMES[@]}"}; do
		[ -f "$h/daemon.log" ] || continue
		echo "---- countersignd log ($h), last 40 lines ----" >&2
		tail -n 40 "$h/daemon.log" >&2
	done
}

# fail MESSAGE: end the test, also when called in a $(...) or a pipeline
# (a subshell: it signals the test's own shell, whose trap then exits).
fail() {
	echo "FAIL: $*" >&2
	if [ -n "$OUT$ERR" ]; then
		echo "  last stdout: ${OUT:0:2000}" >&2
		echo "  last stderr: ${ERR:0:2000}" >&2
	fi
	dump_logs
	[ "$BASH_SUBSHELL" -eq 0 ] || kill -TERM $$
	exit 1
}

# new_home [CONFIG_JSON]: make a fresh home folder and print its path.
new_home() {
	local h
	h=$(mktemp -d "$TEST_TMP/home.XXXXXX") || fail "mktemp"
	chmod 700 "$h"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$1" >"$h/config.json"
	fi
	printf '%s\n' "$h"
}

# wait_for TIMEOUT_S COMMAND...: poll until COMMAND succeeds; false on
# timeout.
wait_for() {
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.02
	done
}

# daemon_ready HOME: the agent socket exists and this start logged "ready".
daemon_ready() {
	[ -S "$1/agent.ipc" ] &&
		[ "$(grep -c 'countersignd ready' "$1/daemon.log" 2>/dev/null)" \
		    -gt "$(cat "$1/.ready_before")" ]
}

# start_daemon HOME [ARGS...]: start countersignd in the foreground (as a
# background job) and wait until it serves; sets DAEMON_PID.
start_daemon() {
	local h=$1
	shift
	grep -c 'countersignd ready' "$h/daemon.log" 2>/dev/null \
	    >"$h/.ready_before" || echo 0 >"$h/.ready_before"
	"$CSD" --home "$h" --foreground "$@" 2>>"$h/daemon.log" &
	DAEMON_PID=$!
	echo "$DAEMON_PID" >"$h/.daemon_pid"
	case " ${HOMES[*]-} " in *" $h "*) ;; *) HOMES+=("$h") ;; esac
	wait_for 10 ready_or_gone "$h" "$DAEMON_PID" ||
		fail "countersignd on $h did not become ready"
	not_running "$DAEMON_PID" && fail "countersignd exited at start"
	true
}

# ready_or_gone HOME PID: stop waiting once the daemon serves or died.
ready_or_gone() {
	daemon_ready "$1" || not_running "$2"
}

# daemon_pid HOME: the pid of the daemon this test started on HOME.
daemon_pid() {
	cat "$1/.daemon_pid"
}

# not_running PID: the process is gone (or a zombie of ours).
not_running() {
	! kill -0 "$1" 2>/dev/null ||
		[ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]
}

# stop_daemon HOME: SIGTERM and wait for a clean exit (status 0).
stop_daemon() {
	local pid rc
	pid=$(daemon_pid "$1")
	kill -TERM "$pid" 2>/dev/null || fail "daemon $pid already gone"
	wait_for 10 not_running "$pid" || fail "countersignd did not stop"
	wait "$pid"
	rc=$?
	[ "$rc" -eq 0 ] || fail "countersignd exited with status $rc"
}

# kill9_daemon HOME: kill -9, no chance to clean up.
kill9_daemon() {
	local pid
	pid=$(daemon_pid "$1")
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	true
}

# ctl HOME ARGS...: countersignctl on HOME.
ctl() {
	local h=$1
	shift
	"$CTL" --home "$h" "$@"
}

# mint HOME ARGS...: print a token signed with HOME's key.
mint() {
	local h=$1 tok
	shift
	tok=$("$CTL" --home "$h" token mint "$@") || fail "token mint $*"
	printf '%s\n' "$tok"
}

# run COMMAND...: run it, keeping stdout in OUT, stderr in ERR, status in
# RC.
run() {
	"$@" >"$TEST_TMP/.out" 2>"$TEST_TMP/.err"
	RC=$?
	OUT=$(cat "$TEST_TMP/.out")
	ERR=$(cat "$TEST_TMP/.err")
	return 0
}

# assert_rc WANT COMMAND...: run it and check its exit status.
assert_rc() {
	local want=$1
	shift
	run "$@"
	[ "$RC" -eq "$want" ] ||
		fail "exit status $RC, want $want: $(printf '%q ' "$@" | cut -c1-300)"
}

# assert_eq WANT GOT WHAT
assert_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$2', want '$1'"
}

# assert_match ERE GOT WHAT
assert_match() {
	[[ $2 =~ $1 ]] || fail "$3: '$2' does not match /$1/"
}

# assert_contains NEEDLE HAYSTACK WHAT
assert_contains() {
	case $2 in *"$1"*) ;; *) fail "$3: '$2' lacks '$1'" ;; esac
}

# jf FILTER [JSON]: a jq -r filter over JSON (default $OUT).
jf() {
	printf '%s\n' "${2-$OUT}" | jq -r "$1" ||
		fail "jq '$1' on: ${2-$OUT}"
}

# sql HOME QUERY: run a read query on HOME's audit store.
sql() {
	sqlite3 -batch -noheader "$1/audit.db" "$2" ||
		fail "sqlite3: $2"
}

# history_json HOME [ARGS...]: every audit event as JSON lines, oldest
# first.
history_json() {
	local h=$1
	shift
	"$CTL" --home "$h" history --json --limit 0 "$@" | jq -c -s 'sort_by(.seq) | .[]' ||
		fail "history --json"
}

# pending_count HOME: how many calls wait for an operator.
pending_count() {
	"$CTL" --home "$1" pending --json | wc -l
}

# b64url: base64url without padding, from stdin.
b64url() {
	base64 -w0 | tr '+/' '-_' | tr -d '='
}

# craft_jwt HOME HEADER_JSON PAYLOAD_JSON [none]: build a JWT by hand,
# HS256-signed with HOME's key, or with an empty signature when the 4th
# argument is "none".
craft_jwt() {
	local h=$1 head body sig=
	head=$(printf '%s' "$2" | b64url)
	body=$(printf '%s' "$3" | b64url)
	if [ "${4-}" != none ]; then
		sig=$(printf '%s' "$head.$body" | openssl dgst -sha256 \
		    -hmac "$(tr -d '\n' <"$h/token.key")" -binary | b64url)
	fi
	printf '%s.%s.%s\n' "$head" "$body" "$sig"
}

# ms_since START_NS: milliseconds since a `date +%s%N` value.
ms_since() {
	echo $((($(date +%s%N) - $1) / 1000000))
}
