#!/usr/bin/env bash
# profile.sh: where countersignd spends its time under the bench load.
# Starts a fresh daemon, drives it with countersign-bench twice: once under
# `perf stat` (syscalls, context switches and CPU per decision, and so the
# group-commit batch size), once under `perf record --call-graph dwarf`;
# then prints the daemon's top functions by inclusive and by self share of
# its CPU samples. Needs perf; not part of `make bench` or `make test`.
# Usage: bench/profile.sh [AGENTS (16)] [SECONDS (5)]
# Environment: BIN (default bin), PROFILE_TOP (rows per list, 30).
# SPDX-License-Identifier: MIT

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root" || exit 1
BIN=${BIN:-bin}
agents=${1:-16}
secs=${2:-5}
top=${PROFILE_TOP:-30}

command -v perf >/dev/null || { echo "profile: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
for b in "$BIN/countersignd" "$BIN/countersign-bench"; do
	[ -x "$b" ] || { echo "profile: $b is not built (make bench)" >&2; exit 1; }
done

. "$here/lib.sh"
bench_scratch profile
home=$work/home
daemon_start "$home" '{"agent_contexts": 512, "max_sessions": 10000000, "max_sessions_per_delegation": 0}' \
    policies/default.json "$BIN/countersignd" || exit 1

load() {
	"$BIN/countersign-bench" --home "$home" --agents "$agents" \
	    --duration "$secs" --pid "$dpid" --label "$1"
}
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -1; }

echo "profile: countersignd, $agents agents over ipc, ${secs} s per run," \
    "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. counters per decision
events=task-clock,context-switches,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_write,syscalls:sys_enter_futex,syscalls:sys_enter_sendmsg
perf stat -x, -e "$events" -p "$dpid" -o "$work/stat.csv" &
spid=$!
sleep 0.2
line=$(load stat)
kill -INT "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
echo "$line"
calls=$(field "$line" calls)
awk -F, -v n="$calls" '
	/^#/ || NF < 3 { next }
	{ v[$3] = $1 }
	END {
		if (n == "" || n == 0) exit
		printf "per decision: daemon CPU %.1f µs, context switches %.1f, futex %.1f, pwrite64 %.1f, write %.1f, sendmsg %.1f, fdatasync %.3f (group commit: %.1f decisions per fdatasync)\n",
		    v["task-clock"] * 1000 / n, v["context-switches"] / n,
		    v["syscalls:sys_enter_futex"] / n,
		    v["syscalls:sys_enter_pwrite64"] / n,
		    v["syscalls:sys_enter_write"] / n,
		    v["syscalls:sys_enter_sendmsg"] / n,
		    (v["syscalls:sys_enter_fdatasync"] + v["syscalls:sys_enter_fsync"]) / n,
		    n / (v["syscalls:sys_enter_fdatasync"] + v["syscalls:sys_enter_fsync"] + 1e-9)
	}' "$work/stat.csv"

# 2. call graphs
perf record -q -F 499 --call-graph dwarf,16384 -p "$dpid" \
    -o "$work/perf.data" >/dev/null 2>&1 &
rpid=$!
sleep 0.3
load record
kill -INT "$rpid" 2>/dev/null
wait "$rpid" 2>/dev/null

report() {
	perf report -i "$work/perf.data" "$@" --sort symbol --stdio -g none \
	    --percent-limit 0.3 2>/dev/null | grep '%' | grep -v ' 0x0000'
}
echo
echo "threads (share of the daemon's CPU samples):"
perf report -i "$work/perf.data" --no-children --sort comm --stdio -g none \
    2>/dev/null | grep '%' | sed 's/^/  /'
echo
echo "top $top user-space functions, inclusive (children) share:"
report --children | grep -F '[.]' | grep -vE '\] (clone3|start_thread) ' |
    head -"$top" | awk '{ printf "  %7s  %s\n", $1, $4 }'
echo
echo "kernel, inclusive share: scheduling, futex, fdatasync, socket send:"
report --children | grep -F '[k]' |
    grep -E '\] (__schedule|do_futex|do_fsync|__sys_sendmsg|ksys_write|__x64_sys_pwrite64) ' |
    awk '{ printf "  %7s  %s\n", $1, $4 }'
echo
echo "top $top functions, self share:"
report --no-children | head -"$top" | awk '{ printf "  %7s  %s %s\n", $1, $2, $3 }'
