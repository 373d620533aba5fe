#!/usr/bin/env bash
# ab.sh: two countersignd binaries side by side, interleaved run by run.
# Each run starts a fresh daemon (default config, policies/default.json)
# and drives it with the bench mix; A and B alternate, so the machine's
# drift falls on both. Prints the medians and B / A. This is how a change
# made for speed is judged here: full `make bench` runs on different
# hours differ by more than most changes gain.
# Usage: bench/ab.sh A_DAEMON B_DAEMON [AGENTS (16)] [SECONDS (3)] [RUNS (5)]
# Exits non-zero when a run had errors or a missing audit row.
# SPDX-License-Identifier: MIT

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -ge 2 ] || { sed -n 's/^# Usage: //p' "$0" >&2; exit 2; }
a=$1 b=$2 agents=${3:-16} secs=${4:-3} runs=${5:-5}
bench=${BIN:-$root/bin}/countersign-bench
for f in "$a" "$b" "$bench"; do
	[ -x "$f" ] || { echo "ab: $f is not an executable" >&2; exit 2; }
done

. "$here/lib.sh"
bench_scratch ab
# copies, so that a rebuild during the runs cannot change either side
cp "$a" "$work/A" && cp "$b" "$work/B" && cp "$bench" "$work/bench" || exit 1

writer_ticks() { # PID: clock ticks its cs-writer thread has run
	local t
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = cs-writer ] &&
		    awk '{ print $14 + $15 }' "$t/stat" && return
	done
	echo 0
}

run() { # LABEL: one point against a fresh daemon; prints its line
	local home=$work/home w0 w1 line
	daemon_start "$home" "" "$root/policies/default.json" "$work/$1" ||
	    exit 1
	w0=$(writer_ticks "$dpid")
	line=$("$work/bench" --home "$home" --agents "$agents" \
	    --duration "$secs" --pid "$dpid" --label "$1")
	w1=$(writer_ticks "$dpid")
	# the writer thread's CPU (user + system) per decision: the stage
	# every decision waits for, whatever the rest of the machine does
	awk -v l="$line" -v w=$((w1 - w0)) -v hz="$(getconf CLK_TCK)" \
	    -f "$here/lines.awk" -f /dev/fd/3 3<<'EOF'
	BEGIN {
		n = field(l, "calls")
		printf "%s writer_cpu_us=%.1f\n", l, (n > 0 ? w * 1e6 / hz / n : 0)
	}
EOF
	stop_daemon
}

echo "ab: $agents agents over ipc, $runs runs of ${secs} s each," \
    "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$runs"); do
	run A >>"$work/lines"
	run B >>"$work/lines"
done

awk -f "$here/lines.awk" -f /dev/fd/3 3<<'EOF' "$work/lines"
	{
		s = field($0, "label")
		dps[s] = dps[s] " " field($0, "decisions_per_s")
		p50[s] = p50[s] " " field($0, "p50_us")
		p99[s] = p99[s] " " field($0, "p99_us")
		cpu[s] = cpu[s] " " field($0, "daemon_cpu_us")
		wcpu[s] = wcpu[s] " " field($0, "writer_cpu_us")
		if (field($0, "errors") != "0" || field($0, "audit_ok") != "1")
			bad = 1
	}
	END {
		printf "| | A | B | B / A |\n| --- | --- | --- | --- |\n"
		printf "| decisions/s (runs:%s /%s) | %.0f | %.0f | %.2f |\n", \
		    dps["A"], dps["B"], median(dps["A"]), median(dps["B"]), \
		    median(dps["B"]) / median(dps["A"])
		printf "| p50 µs | %.0f | %.0f | %.2f |\n", median(p50["A"]), \
		    median(p50["B"]), median(p50["B"]) / median(p50["A"])
		printf "| p99 µs | %.0f | %.0f | %.2f |\n", median(p99["A"]), \
		    median(p99["B"]), median(p99["B"]) / median(p99["A"])
		printf "| daemon CPU µs per decision | %.1f | %.1f | %.2f |\n", \
		    median(cpu["A"]), median(cpu["B"]), \
		    median(cpu["B"]) / median(cpu["A"])
		printf "| writer thread CPU µs per decision | %.1f | %.1f | " \
		    "%.2f |\n", median(wcpu["A"]), median(wcpu["B"]), \
		    median(wcpu["B"]) / median(wcpu["A"])
		if (bad)
			print "ab: some runs had errors or a missing audit row" \
			    > "/dev/stderr"
		exit bad
	}
EOF
