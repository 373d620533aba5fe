#!/usr/bin/env bash
# run.sh: the hostile harness: run its sections against the real daemon
# and print one scorecard line. `make hostile` and `make hostile-short`
# call it after building everything it needs.
#
#   tests/hostile/run.sh long|short [SECTION...]
#
# Sections: badinput kill9 faults console attacks races (all by default,
# or the SECTIONS environment variable). Loop sizes: KILL9 (kill -9
# iterations; long 200, short 12) and RACES (racing trials; long 1000,
# short 100). Environment: BIN HOOKS_BIN SAN_BIN HOSTILE_TOOLS RAWSEND
# (as set by hostile.mk), HOSTILE_KEEP=1 keeps every test folder.
# Exit status: 0 when every bad counter is zero and every section ran to
# its end, 1 otherwise, 2 when the harness itself cannot run.
# SPDX-License-Identifier: MIT

set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 2

mode=${1:-short}
shift
case $mode in
long)
	KILL9=${KILL9:-200} RACES=${RACES:-1000} limit=${HOSTILE_TIMEOUT:-7200}
	;;
short)
	KILL9=${KILL9:-12} RACES=${RACES:-100} limit=${HOSTILE_TIMEOUT:-600}
	;;
*)
	echo "usage: tests/hostile/run.sh long|short [SECTION...]" >&2
	exit 2
	;;
esac
export KILL9 RACES HOSTILE_MODE=$mode
export BIN=${BIN:-bin} HOOKS_BIN=${HOOKS_BIN:-bin/hooks} SAN_BIN=${SAN_BIN:-bin/san}
export HOSTILE_TOOLS=${HOSTILE_TOOLS:-build/tests/hostile}
export RAWSEND=${RAWSEND:-build/tests/cs_rawsend}

if [ $# -gt 0 ]; then
	sections=("$@")
elif [ -n "${SECTIONS:-}" ]; then
	read -r -a sections <<<"$SECTIONS"
else
	sections=(badinput kill9 faults console attacks races)
fi

for tool in jq sqlite3 openssl timeout setpriv prlimit chattr od; do
	command -v "$tool" >/dev/null ||
		{ echo "hostile: $tool is not installed" >&2; exit 2; }
done
for b in "$BIN/countersignd" "$BIN/countersignctl" "$HOOKS_BIN/countersignd" \
    "$RAWSEND" "$HOSTILE_TOOLS/hostile_load" "$HOSTILE_TOOLS/hostile_peer" \
    "$HOSTILE_TOOLS/hostile_race" "$HOSTILE_TOOLS/hostile_sub" \
    "$HOSTILE_TOOLS/hostile_shim.so"; do
	[ -e "$b" ] || { echo "hostile: $b is not built (make hostile builds it)" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || echo "hostile: not root: the second-operator, chown and chattr cases need root" >&2

HOSTILE_STATE=$(mktemp -d "${TMPDIR:-/tmp}/cs-hostile.XXXXXX")
export HOSTILE_STATE
trap 'rm -rf "$HOSTILE_STATE"' EXIT
chmod 711 "$HOSTILE_STATE"

# Run copies of the binaries: a rebuild in the checkout during a long run
# must not swap them under the harness.
snapshot() {
	local from=$1 to=$HOSTILE_STATE/$2 f
	mkdir -p "$to"
	for f in "$from"/*; do
		[ -f "$f" ] && [ -x "$f" ] && cp -p "$f" "$to/"
	done
	chmod 755 "$to"
	echo "$to"
}
BIN=$(snapshot "$BIN" bin)
HOOKS_BIN=$(snapshot "$HOOKS_BIN" hooks)
[ -x "$SAN_BIN/countersignd" ] && SAN_BIN=$(snapshot "$SAN_BIN" san)
mkdir -p "$HOSTILE_STATE/tools"
cp -p "$HOSTILE_TOOLS"/hostile_* "$HOSTILE_STATE/tools/"
cp -p "$RAWSEND" "$HOSTILE_STATE/tools/cs_rawsend"
HOSTILE_TOOLS=$HOSTILE_STATE/tools RAWSEND=$HOSTILE_STATE/tools/cs_rawsend
chmod 755 "$HOSTILE_STATE/tools"

# total NAME: the sum of a counter.
total() {
	if [ -f "$HOSTILE_STATE/$1" ]; then
		awk '{ s += $1 } END { print s + 0 }' "$HOSTILE_STATE/$1"
	else
		echo 0
	fi
}

echo "hostile ($mode): sections ${sections[*]}; KILL9=$KILL9 RACES=$RACES"
aborted=()
start_all=$(date +%s)
for s in "${sections[@]}"; do
	script=$here/s_$s.sh
	[ -f "$script" ] || { echo "hostile: no section $s" >&2; exit 2; }
	start=$(date +%s)
	echo "== $s"
	# (bash's notices about the daemons the loop kills on purpose are
	# left out)
	timeout -k 10 "$limit" bash "$script" 2>&1 |
	    grep --line-buffered -vE ': line [0-9]+: +[0-9]+ Killed +' |
	    tee "$HOSTILE_STATE/$s.log"
	rc=${PIPESTATUS[0]}
	secs=$(($(date +%s) - start))
	if [ "$rc" -eq 0 ]; then
		echo "== $s: done in ${secs}s"
	else
		[ "$rc" -eq 124 ] && echo "== $s: timed out after ${limit}s"
		echo "== $s: ABORTED (status $rc) after ${secs}s"
		aborted+=("$s")
	fi
done
secs=$(($(date +%s) - start_all))

if [ -s "$HOSTILE_STATE/findings" ]; then
	echo "findings:"
	sed 's/^/  /' "$HOSTILE_STATE/findings"
fi
[ ${#aborted[@]} -eq 0 ] || echo "sections that did not finish: ${aborted[*]}"
printf 'hostile (%s): %dm%02ds\n' "$mode" $((secs / 60)) $((secs % 60))

line="bad_inputs=$(total bad_inputs) allowed=$(total allowed)"
line+=" crashes=$(total crashes) hangs=$(total hangs)"
line+=" sanitizer_reports=$(total sanitizer_reports)"
line+=" | decisions=$(total decisions) without_audit=$(total without_audit)"
line+=" mismatches=$(total mismatches) dup_final=$(total dup_final)"
line+=" | kill9=$(total kill9) integrity_fail=$(total integrity_fail)"
line+=" lost=$(total lost)"
line+=" | audit_faults=$(total audit_faults)"
line+=" allows_during_fault=$(total allows_during_fault)"
line+=" | forged_accepted=$(total forged_accepted)/$(total forged_total)"
line+=" replays_executed=$(total replays_executed)/$(total replays_total)"
line+=" self_approvals=$(total self_approvals)/$(total self_total)"
line+=" races_two_outcomes=$(total races_two_outcomes)/$(total races_total)"
echo "$line"

status=0
for c in allowed crashes hangs sanitizer_reports without_audit mismatches \
    dup_final integrity_fail lost allows_during_fault forged_accepted \
    replays_executed self_approvals races_two_outcomes; do
	[ "$(total "$c")" -eq 0 ] || status=1
done
[ ${#aborted[@]} -eq 0 ] || status=1
exit "$status"
