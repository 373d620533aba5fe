# lib.sh: what the bench scripts share (sourced by run.sh, ab.sh,
# ablate.sh and profile.sh): a scratch folder, and a daemon started in it
# and stopped.
# SPDX-License-Identifier: MIT

# bench_scratch NAME: a new scratch folder in $work, removed on exit
# together with the daemon in $dpid, if one is running.
bench_scratch() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/cs-$1.XXXXXX") || exit 1
	dpid=
	trap bench_cleanup EXIT
}

# shellcheck disable=SC2317 # called by the EXIT trap
bench_cleanup() {
	stop_daemon
	rm -rf "$work"
}

# daemon_start HOME CONFIG_JSON POLICY COMMAND...: a fresh HOME (with
# CONFIG_JSON as its config.json unless it is empty), COMMAND (a daemon
# binary, or env VAR=... and one) in the foreground of a background job,
# and a wait until it says it is ready; its pid in $dpid.
daemon_start() {
	local home=$1 config=$2 policy=$3
	shift 3
	rm -rf "$home"
	mkdir -m 700 "$home" || return 1
	[ -z "$config" ] || printf '%s\n' "$config" >"$home/config.json"
	"$@" --home "$home" --policy "$policy" --foreground \
	    2>"$home/countersignd.log" &
	dpid=$!
	for _ in $(seq 100); do
		grep -qs 'countersignd ready' "$home/countersignd.log" && return 0
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.1
	done
	echo "countersignd did not start:" >&2
	cat "$home/countersignd.log" >&2
	return 1
}

# stop_daemon: stop the daemon in $dpid, if one is running.
stop_daemon() {
	[ -n "$dpid" ] || return 0
	kill -TERM "$dpid" 2>/dev/null
	wait "$dpid" 2>/dev/null
	dpid=
}
