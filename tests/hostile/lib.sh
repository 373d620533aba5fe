# tests/hostile/lib.sh: helpers of the hostile harness, on top of the
# integration tests' lib.sh (real daemon, real sockets, fresh homes).
#
# A section script (s_*.sh) sources this file, runs its cases and records
# what it saw in counters: `count NAME [N]` adds to a counter, `bad NAME
# TEXT` adds one to a bad counter and records the finding. run.sh sums the
# counters of every section into the scorecard. Unlike the integration
# tests, a broken expectation does not end the section: it is counted,
# and the section goes on, so one run shows every problem at once.
# SPDX-License-Identifier: MIT

# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

HOSTILE_DIR=$ROOT/tests/hostile
CORPUS=$HOSTILE_DIR/corpus
HPOLICY=$HOSTILE_DIR/policies/hostile.json
TOOLS=$(cd "$ROOT" && cd "${HOSTILE_TOOLS:-build/tests/hostile}" && pwd) ||
	{ echo "hostile: no tools folder" >&2; exit 1; }
HOOKS_BIN=$(cd "$ROOT" && cd "${HOOKS_BIN:-bin/hooks}" 2>/dev/null && pwd) ||
	HOOKS_BIN=""
SAN_BIN=$(cd "$ROOT" && cd "${SAN_BIN:-bin/san}" 2>/dev/null && pwd) ||
	SAN_BIN=""
PLAIN_CSD=$CSD
STATE=${HOSTILE_STATE:?run the sections through tests/hostile/run.sh}
NOBODY_RUN=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
STRANGER_UID=54321   # a uid with no account: not an operator
STRANGER_RUN=(setpriv --reuid=$STRANGER_UID --regid=$STRANGER_UID --clear-groups)

# Sanitizer settings for the bin/san daemon: every report ends in the log.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Operators other than root reach the sockets through the test folder.
chmod 711 "$TEST_TMP"

# cleanup: the integration cleanup, after clearing immutable flags the
# fault cases may have left; HOSTILE_KEEP=1 keeps the folder.
cleanup() {
	local pid
	{
		for pid in $(jobs -p); do
			kill -CONT "$pid"
			kill -TERM "$pid"
		done
		for pid in $(jobs -p); do
			wait_for 3 not_running "$pid" || kill -9 "$pid"
			wait "$pid"
		done
		chattr -R -i "$TEST_TMP"
	} 2>/dev/null
	if [ -n "${HOSTILE_KEEP:-}" ]; then
		echo "hostile: kept $TEST_TMP" >&2
	else
		rm -rf "$TEST_TMP"
	fi
}

# count NAME [N]: add N (default 1) to counter NAME.
count() {
	printf '%s\n' "${2:-1}" >>"$STATE/$1"
}

# bad NAME TEXT...: one more for bad counter NAME, with the finding.
bad() {
	local name=$1
	shift
	count "$name"
	printf '[%s] %s: %s\n' "$SECTION" "$name" "$*" >>"$STATE/findings"
	printf 'BAD %s: %s\n' "$name" "$*" >&2
}

# bad_n NAME N TEXT...: N more for bad counter NAME, one finding line.
bad_n() {
	local name=$1 n=$2
	shift 2
	[ "$n" -gt 0 ] || return 0
	count "$name" "$n"
	printf '[%s] %s (x%d): %s\n' "$SECTION" "$name" "$n" "$*" >>"$STATE/findings"
	printf 'BAD %s x%d: %s\n' "$name" "$n" "$*" >&2
}

# note TEXT...: a progress line on stderr.
note() {
	printf '  %s\n' "$*" >&2
}

# hnew_home [CONFIG_JSON]: a fresh home operators other than root can
# reach (0711, sockets 0666 unless the config says otherwise).
hnew_home() {
	local h cfg=${1-}
	[ -n "$cfg" ] ||
		cfg='{"socket_mode":"0666","operators":["root","nobody"]}'
	h=$(new_home "$cfg")
	chmod 711 "$h"
	printf '%s\n' "$h"
}

# hstart HOME [ARGS...]: start $CSD on HOME in the foreground with the
# extra environment in the array DENV; true once it serves, false when
# it did not come up (no test failure: the caller counts it).
DENV=()
hstart() {
	local h=$1
	shift
	grep -c 'countersignd ready' "$h/daemon.log" 2>/dev/null \
	    >"$h/.ready_before" || echo 0 >"$h/.ready_before"
	env ${DENV[@]+"${DENV[@]}"} "$CSD" --home "$h" --foreground "$@" \
	    2>>"$h/daemon.log" &
	DAEMON_PID=$!
	echo "$DAEMON_PID" >"$h/.daemon_pid"
	case " ${HOMES[*]-} " in *" $h "*) ;; *) HOMES+=("$h") ;; esac
	wait_for 20 ready_or_gone "$h" "$DAEMON_PID" || return 1
	! not_running "$DAEMON_PID"
}

# hstop HOME: SIGTERM and wait; false when it did not stop cleanly.
hstop() {
	local pid rc
	pid=$(daemon_pid "$1")
	not_running "$pid" && return 1
	kill -TERM "$pid" 2>/dev/null
	wait_for 15 not_running "$pid" || { kill -9 "$pid"; wait "$pid"; return 1; }
	wait "$pid"
	rc=$?
	[ "$rc" -eq 0 ]
}

# alive HOME: the daemon this section started on HOME still runs.
alive() {
	! not_running "$(daemon_pid "$1")"
}

# q HOME SQL: one query on HOME's audit store (empty output on error).
q() {
	sqlite3 -batch -noheader "$1/audit.db" "$2" 2>/dev/null
}

# last_seq HOME: the newest audit seq.
last_seq() {
	q "$1" "SELECT COALESCE(MAX(seq), 0) FROM audit"
}

# serving HOME TOKEN: a low-risk read is allowed within 20 s. A call
# whose connection fails before any answer is made again, as agents do
# (a listener broken by a peer that hung up mid-handshake is replaced
# within seconds); any answer other than allow is final.
serving() {
	local out end=$((SECONDS + 20))
	while :; do
		out=$(timeout 20 "$CTL" --home "$1" ask --token "$2" \
		    --tool fs.read --session "probe-$RANDOM" \
		    --args '{"path":"/workspace/probe"}' 2>/dev/null)
		[ -n "$out" ] && break
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.5
	done
	[ "$(printf '%s' "$out" | jq -r .decision 2>/dev/null)" = allow ]
}

# san_reports HOME: sanitizer reports in HOME's daemon log.
san_reports() {
	grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' \
	    "$1/daemon.log" 2>/dev/null || true
}

# store_check HOME [stopped]: the audit store is sound: integrity_check,
# the hash chain, no request with two final outcomes; with "stopped" (the
# daemon was stopped cleanly) also no escalated call without an outcome.
store_check() {
	local h=$1 r
	r=$(q "$h" 'PRAGMA integrity_check')
	[ "$r" = ok ] || bad integrity_fail "$h: integrity_check: ${r:-unreadable}"
	if ! "$CTL" --home "$h" audit verify >"$TEST_TMP/.verify" 2>&1; then
		bad integrity_fail "$h: audit verify: $(head -c 300 "$TEST_TMP/.verify")"
	fi
	# duplicates already reported for this home are not counted again
	q "$h" "SELECT 'request ' || request FROM audit WHERE kind = 'decision' GROUP BY request HAVING COUNT(*) > 1" |
	    sort >"$TEST_TMP/.dups"
	touch "$h/.dups-reported"
	comm -23 "$TEST_TMP/.dups" "$h/.dups-reported" >"$TEST_TMP/.dups.new"
	bad_n dup_final "$(grep -c . "$TEST_TMP/.dups.new")" \
	    "$h: more than one final outcome for $(head -n 3 "$TEST_TMP/.dups.new" | tr '\n' ' ')"
	sort -u "$TEST_TMP/.dups" "$h/.dups-reported" -o "$h/.dups-reported"
	if [ "${2-}" = stopped ]; then
		r=$(q "$h" "SELECT p.request FROM audit AS p WHERE p.kind = 'pending' AND NOT EXISTS (SELECT 1 FROM audit AS d WHERE d.kind = 'decision' AND d.request = p.request) LIMIT 5")
		[ -z "$r" ] || bad lost "$h: escalated calls without an outcome after a clean stop: $(echo $r)"
	fi
}

# b64file FILE: base64url of a file's bytes, no padding.
b64file() {
	b64url <"$1"
}

# sign_hs ALG KEYFILE: HMAC-SHA(256|384|512) of stdin with the bytes of
# KEYFILE, base64url.
sign_hs() {
	local hex
	hex=$(od -An -v -tx1 <"$2" | tr -d ' \n')
	if [ -z "$hex" ]; then
		# an empty key: openssl wants at least one byte, so use HMAC's
		# definition directly (a zero key is padded with zeros anyway)
		hex=00
	fi
	openssl dgst "-$1" -mac HMAC -macopt "hexkey:$hex" -binary | b64url
}

# home_key HOME FILE: HOME's HMAC key bytes as the daemon reads them.
home_key() {
	tr -d '\r\n' <"$1/token.key" >"$2"
}

# meta FILE KEY: the value of "# KEY: value" in a corpus case's header.
meta() {
	sed -n "/^--\$/q; s/^# $2: //p" "$1" | head -n 1
}

# hello HOME: the operator snapshot (posture, pending, sessions) as root.
hello() {
	printf '{"v":1,"type":"hello"}' >"$TEST_TMP/.hello"
	timeout 30 "$RAWSEND" -t 5000 -f "$TEST_TMP/.hello" "ipc://$1/control.ipc" 2>/dev/null
}
