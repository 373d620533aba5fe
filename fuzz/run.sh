#!/bin/sh
# run.sh: run the libFuzzer targets for `make fuzz` and `make fuzz-regress`
# and print one line per target; exit 1 when any target crashed, leaked,
# hung, ran out of memory or broke a property.
#   fuzz/run.sh fuzz|regress BUILD_DIR TARGET...
# fuzz: each target for FUZZ_SECONDS (default 60) from the seeds in
# fuzz/corpus/TARGET and the reproducers in fuzz/regressions/TARGET; what
# it finds goes to FUZZ_WORK/TARGET (default BUILD_DIR/work), never into
# the repository. regress: run every seed and reproducer once.
# FUZZ_FLAGS adds libFuzzer options, such as -fork=1, which goes on past
# out-of-memory and timeouts (counted in the summary) but not crashes.
# SPDX-License-Identifier: MIT
set -u

mode=$1
dir=$2
shift 2
seconds=${FUZZ_SECONDS:-60}
work=${FUZZ_WORK:-$dir/work}
# An input that takes 10 s or 2 GiB is a finding, not a slow machine.
limits="-timeout=10 -rss_limit_mb=2048"
# The first line of any report worth showing.
first_report='property violated|^==[0-9]+==ERROR|runtime error:|ALARM|'
first_report="${first_report}out-of-memory [(]|^SUMMARY"
fail=0

# max_len TARGET: longest input tried, past each input's own cap so that
# the caps are hit too.
max_len() {
	case $1 in
	fuzz_wire) echo 40000 ;;   # args cap 32768
	fuzz_policy) echo 24000 ;; # policy text and call fields
	fuzz_token) echo 9000 ;;   # token cap 8192
	*) echo 4096 ;;
	esac
}

# stat LOG NAME: a final libFuzzer statistic, or nothing.
stat() {
	sed -n "s/^stat::$2: *//p" "$1" | tail -n 1
}

# progress LOG FIELD: the last value of a progress field (cov, ft, corp,
# oom/timeout/crash) in plain or -fork output.
progress() {
	grep -E '^#[0-9]+' "$1" | grep -oE "$2:? [0-9/a-zA-Z]+" | tail -n 1 |
	    sed 's/.* //'
}

# summary LOG ELAPSED: runs, speed, coverage and memory of a fuzzing run
# (what the log has of them).
summary() {
	runs=$(stat "$1" number_of_executed_units)
	[ -n "$runs" ] ||
		runs=$(grep -oE '^#[0-9]+' "$1" | tail -n 1 | tr -d '#')
	speed=$(stat "$1" average_exec_per_sec)
	[ -n "$speed" ] || speed=$((${runs:-0} / ($2 > 0 ? $2 : 1)))
	printf '%s s, %s runs, %s exec/s' "$2" "${runs:-0}" "$speed"
	for field in cov ft corp; do
		v=$(progress "$1" $field)
		[ "$field" != corp ] || field=corpus
		[ -z "$v" ] || printf ', %s %s' "$field" "$v"
	done
	v=$(stat "$1" peak_rss_mb)
	[ -z "$v" ] || printf ', rss %s MB' "$v"
	v=$(progress "$1" oom/timeout/crash)
	[ -z "$v" ] || printf ', oom/timeout/crash %s (ignored by -fork)' "$v"
}

for t in "$@"; do
	bin=$dir/$t
	out=$work/$t
	log=$out/log
	mkdir -p "$out/corpus" "$out/crashes"
	# the loop list is already expanded: reuse "$@" for the input folders
	set -- "fuzz/corpus/$t"
	[ -d "fuzz/regressions/$t" ] && set -- "$@" "fuzz/regressions/$t"
	start=$(date +%s)
	case $mode in
	regress)
		# shellcheck disable=SC2046,SC2086 # names carry no spaces
		"$bin" $limits ${FUZZ_FLAGS:-} \
		    $(find "$@" -type f ! -name README.md | sort) >"$log" 2>&1
		rc=$?
		n=$(find "$@" -type f ! -name README.md | wc -l)
		line="$n inputs replayed"
		;;
	fuzz)
		dict=""
		[ -f "fuzz/dict/$t.dict" ] && dict="-dict=fuzz/dict/$t.dict"
		# shellcheck disable=SC2086 # $dict and FUZZ_FLAGS are options
		"$bin" -max_total_time="$seconds" $limits \
		    -max_len="$(max_len "$t")" $dict \
		    -artifact_prefix="$out/crashes/" -print_final_stats=1 \
		    ${FUZZ_FLAGS:-} "$out/corpus" "$@" >"$log" 2>&1
		rc=$?
		line=$(summary "$log" $(($(date +%s) - start)))
		;;
	*)
		echo "usage: fuzz/run.sh fuzz|regress BUILD_DIR TARGET..." >&2
		exit 64
		;;
	esac
	if [ "$rc" -eq 0 ]; then
		echo "$t: ok, $line"
		continue
	fi
	fail=1
	echo "$t: FAILED (exit $rc), $line; log $log"
	# The input that did it (replays) and what went wrong, from the first
	# report on; fuzzing runs end with where the input was saved.
	{
		grep 'Running: ' "$log" | tail -n 1
		awk -v start="$first_report" '$0 ~ start { on = 1 }
		    on && !/^(stat::|Executed |Running: )/' "$log" | head -n 40
	} | sed 's/^/    /'
done
exit $fail
