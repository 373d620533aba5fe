#!/usr/bin/env bash
# run.sh: run every integration test (tests/integration/t_*.sh, or the ones
# named on the command line), one PASS/FAIL line each, then a summary.
# Environment: BIN (folder with countersignd and countersignctl, default
# bin), RAWSEND (the cs_rawsend test tool, default build/tests/cs_rawsend),
# IT_TIMEOUT (seconds one test may take, default 120).
# SPDX-License-Identifier: MIT

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
export BIN=${BIN:-bin}
export RAWSEND=${RAWSEND:-build/tests/cs_rawsend}
limit=${IT_TIMEOUT:-120}

for tool in jq sqlite3 openssl timeout; do
	command -v "$tool" >/dev/null ||
		{ echo "integration: $tool is not installed" >&2; exit 1; }
done
for b in "$BIN/countersignd" "$BIN/countersignctl" "$RAWSEND"; do
	[ -x "$b" ] || { echo "integration: $b is not built" >&2; exit 1; }
done

if [ $# -gt 0 ]; then
	tests=()
	for name in "$@"; do
		name=${name##*/}
		tests+=("$here/${name%.sh}.sh")
	done
else
	tests=("$here"/t_*.sh)
fi

passed=0 failed=0
logs=$(mktemp -d "${TMPDIR:-/tmp}/cs-it-logs.XXXXXX")
start_all=$(date +%s%N)
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	start=$(date +%s%N)
	timeout -k 5 "$limit" bash "$t" >"$logs/$name.log" 2>&1
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	secs=$(printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10)))
	if [ "$rc" -eq 0 ]; then
		printf 'PASS %-18s %6ss\n' "$name" "$secs"
		passed=$((passed + 1))
	else
		[ "$rc" -eq 124 ] && echo "FAIL: timed out after ${limit}s" \
		    >>"$logs/$name.log"
		printf 'FAIL %-18s %6ss\n' "$name" "$secs"
		sed 's/^/    /' "$logs/$name.log"
		failed=$((failed + 1))
	fi
done
rm -rf "$logs"
ms=$((($(date +%s%N) - start_all) / 1000000))
printf 'integration: %d.%02ds in all\n' $((ms / 1000)) $((ms % 1000 / 10))
printf 'integration: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
