#!/usr/bin/env bash
# ablate.sh: where countersignd's CPU per decision goes, stage by stage.
# Builds a scratch copy of the daemon with bench/ablate.patch applied (the
# environment variable CS_ABLATE then skips one stage), and drives fresh
# daemons with the 16-agent mix, the variants interleaved round by round:
#   full     every stage, as shipped
#   fsync    the audit store without fdatasync (synchronous=OFF)
#   store    no audit store at all (the writer still answers)
#   writer   decided and answered on the receiving thread: no writer, no
#            audit row, no log line
#   engine   a fixed answer on the receiving thread: nng alone
# Each variant skips what the ones above it skip, so the differences
# between neighbours are the cost of one stage. Never part of `make test`
# or `make bench`; the variants below "full" write no audit rows, so
# their countersign-bench lines report audit_ok=0, and the engine stub
# allows every call of the mix, so its line counts the denials it should
# have given as errors. ABLATE_KEEP=FILE keeps every line.
# Usage: bench/ablate.sh [AGENTS (16)] [SECONDS (3)] [ROUNDS (4)]
# SPDX-License-Identifier: MIT

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
agents=${1:-16}
secs=${2:-3}
rounds=${3:-4}
stages="full fsync store writer engine"

. "$here/lib.sh"
bench_scratch ablate

# the scratch build: the sources (tracked ones in a git checkout), then
# the patch
mkdir -p "$work/src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$root" && git ls-files -z | xargs -0 tar -cf -)
else
	tar -C "$root" --exclude=./build --exclude=./bin -cf - .
fi | tar -xf - -C "$work/src" || exit 1
(cd "$work/src" && patch -s -p1 <"$here/ablate.patch") ||
    { echo "ablate: bench/ablate.patch no longer applies" >&2; exit 1; }
make -s -C "$work/src" bin/countersignd bin/countersign-bench \
    >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; exit 1; }
bin=$work/src/bin

run() { # STAGE: one point against a fresh daemon; prints its line
	local home=$work/home
	daemon_start "$home" '{"agent_contexts": 512, "max_sessions": 10000000, "max_sessions_per_delegation": 0}' \
	    "$root/policies/default.json" env CS_ABLATE="$1" \
	    "$bin/countersignd" || exit 1
	"$bin/countersign-bench" --home "$home" --agents "$agents" \
	    --duration "$secs" --pid "$dpid" --label "$1"
	stop_daemon
}

echo "ablate: $agents agents over ipc, $rounds rounds of ${secs} s per" \
    "stage, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$rounds"); do
	for s in $stages; do
		run "$s" >>"$work/lines"
	done
done

# medians per stage, and what each stage costs over the one below it
awk -v order="$stages" -f "$here/lines.awk" -f /dev/fd/3 3<<'EOF' "$work/lines"
	{
		s = field($0, "label")
		dps[s] = dps[s] " " field($0, "decisions_per_s")
		p50[s] = p50[s] " " field($0, "p50_us")
		cpu[s] = cpu[s] " " field($0, "daemon_cpu_us")
		# the engine stub allows everything: its mismatches count
		# as errors, and are expected
		if (s != "engine" && field($0, "errors") != "0")
			bad = 1
	}
	END {
		n = split(order, st, " ")
		printf "| stage skipped | decisions/s | p50 µs | daemon CPU µs per decision | that stage costs |\n"
		printf "| --- | --- | --- | --- | --- |\n"
		for (i = 1; i <= n; i++) {
			c = median(cpu[st[i]])
			cost = i < n ? sprintf("%.1f µs", c - median(cpu[st[i + 1]])) : sprintf("%.1f µs (nng)", c)
			printf "| %s | %.0f | %.0f | %.1f | %s |\n", st[i] == "full" ? "none" : st[i],
			    median(dps[st[i]]), median(p50[st[i]]), c, cost
		}
		if (bad)
			print "ablate: some runs had errors" > "/dev/stderr"
		exit bad
	}
EOF
rv=$?
[ -n "${ABLATE_KEEP:-}" ] && cp "$work/lines" "$ABLATE_KEEP"
exit $rv
