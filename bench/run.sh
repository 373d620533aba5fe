#!/usr/bin/env bash
# run.sh: `make bench`: start a fresh countersignd per scenario on a scratch
# home, run countersign-bench against it and against its floors (raw nng
# echo, in-process policy evaluation) in the same run, and print a table.
# Builds nothing (make does). Exits non-zero only when a run had errors or
# the audit store missed a decision row; timings never fail it.
# Environment: BIN (folder with countersignd, countersign-bench and
# console-bench, default bin), BENCH_QUICK=1 (~1 s points instead of ~5 s,
# one run per point), BENCH_REPS (runs per transport point, default 3:
# countersign and its echo floor alternate, and the median run is kept),
# BENCH_PEERS=0 (skip the Cerbos side-by-side run), BENCH_OUT (also write
# the table there).
# SPDX-License-Identifier: MIT

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root" || exit 1
BIN=${BIN:-bin}
policy=$root/policies/default.json
dur=5
reps=${BENCH_REPS:-3}
[ "${BENCH_QUICK:-0}" = 1 ] && dur=1 && reps=${BENCH_REPS:-1}
peers=${BENCH_PEERS:-1}

for b in countersign-bench countersignd countersignctl; do
	[ -x "$BIN/$b" ] || { echo "bench: $BIN/$b is not built (run make bench)" >&2; exit 1; }
done

. "$(dirname "$0")/lib.sh"
bench_scratch bench
status=0
trap 'exit 130' INT TERM

# Snapshot the binaries: a rebuild during the run must not mix versions.
mkdir "$work/bin" && cp "$BIN/countersign-bench" "$BIN/countersignd" \
    "$BIN/countersignctl" "$work/bin/" || exit 1
bench=$work/bin/countersign-bench
daemon=$work/bin/countersignd

# A free-looking loopback port for tcp:// runs.
port() {
	echo $((20000 + (RANDOM % 20000)))
}

# start_daemon NAME CONFIG_JSON [POLICY]: the daemon on a fresh home,
# $work/NAME (in $home), ready.
start_daemon() {
	home=$work/$1
	daemon_start "$home" "$2" "${3:-$policy}" "$daemon"
}

# echo_run NAME URL AGENTS: the echo floor, its server in a process of its
# own as the daemon is, so that its CPU per round trip is reported apart
# from the load generator's.
echo_run() {
	local name=$1 url=$2 agents=$3 ready=$work/$1.server
	"$bench" --echo-server --url "$url" --agents "$agents" >"$ready" \
	    2>"$ready.err" &
	dpid=$!
	for _ in $(seq 100); do
		grep -qs 'echo server ready' "$ready" && break
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.05
	done
	if ! grep -qs 'echo server ready' "$ready"; then
		echo "bench: echo server did not start:" >&2
		cat "$ready.err" >&2
		stop_daemon
		status=1
		return
	fi
	run "$name" --echo --url "$url" --agents "$agents" --duration "$dur" \
	    --pid "$dpid"
	stop_daemon
}

# run NAME ARGS...: one countersign-bench run; its line goes to
# $work/NAME.out and to the screen.
run() {
	local name=$1
	shift
	printf '%-22s ' "$name"
	"$bench" --label "$name" "$@" >"$work/$name.out" 2>"$work/$name.err"
	local rc=$?
	if [ ! -s "$work/$name.out" ]; then
		echo "FAILED (exit $rc):"
		sed 's/^/    /' "$work/$name.err"
		status=1
		return
	fi
	cat "$work/$name.out"
	[ "$rc" -eq 0 ] || { echo "    ^ errors or missing audit rows"; status=1; }
}

# median NAME: of the runs NAME.1 .. NAME.$reps, keep the one with the
# median decisions/s as NAME (this machine is shared: single runs vary).
median() {
	local name=$1 picked
	picked=$(for r in $(seq "$reps"); do
		printf '%s %s\n' "$(get "$name.$r" decisions_per_s)" "$r"
	done | sort -g | awk -v n="$reps" 'NR == int((n + 1) / 2) { print $2 }')
	[ -n "$picked" ] && [ -s "$work/$name.$picked.out" ] || return
	cp "$work/$name.$picked.out" "$work/$name.out"
	[ "$reps" -gt 1 ] && printf '%-22s median of %s runs: %s decisions/s (%s)\n' \
	    "$name" "$reps" "$(get "$name" decisions_per_s)" \
	    "$(for r in $(seq "$reps"); do get "$name.$r" decisions_per_s; done | tr '\n' ' ' | sed 's/ $//')"
}

# get NAME KEY: a key=value field of a run's line ("-" when absent).
get() {
	local v
	v=$(tr ' ' '\n' <"$work/$1.out" 2>/dev/null | sed -n "s/^$2=//p" | head -1)
	echo "${v:--}"
}

# daemon_run NAME CONFIG AGENTS [bench args...]: fresh daemon, one run.
daemon_run() {
	local name=$1 cfg=$2 agents=$3
	shift 3
	if ! start_daemon "$name" "$cfg"; then
		status=1
		return
	fi
	run "$name" --home "$home" --agents "$agents" --duration "$dur" \
	    --pid "$dpid" "$@"
	stop_daemon
}

echo "countersign bench: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$root" status --porcelain -- core transport 2>/dev/null)" ] && rev="$rev+local changes in core/ or transport/"
echo "source $rev; points of ${dur} s; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# --- floors and countersign, side by side --------------------------------
run eval-default --eval --policy "$policy" --duration "$dur"
# the engine and the audit commit in-process, without sockets: one row per
# commit (one agent) and sixteen (a full group commit of 16 agents)
run engine-1 --engine --policy "$policy" --agents 1 --duration "$dur"
run engine-16 --engine --policy "$policy" --agents 16 --duration "$dur"
for c in 1 16 256; do
	for r in $(seq "$reps"); do
		echo_run "echo-ipc-$c.$r" "ipc://$work/echo-$c.$r.ipc" "$c"
		daemon_run "cs-ipc-$c.$r" '{"agent_contexts": 512, "max_sessions": 10000000, "max_sessions_per_delegation": 0}' "$c"
	done
	median "echo-ipc-$c"
	median "cs-ipc-$c"
done
for r in $(seq "$reps"); do
	p=$(port)
	echo_run "echo-tcp-16.$r" "tcp://127.0.0.1:$p" 16
	p=$(port)
	daemon_run "cs-tcp-16.$r" "{\"agent_contexts\": 512, \"max_sessions\": 10000000, \"max_sessions_per_delegation\": 0, \"agent_url\": \"tcp://127.0.0.1:$p\"}" 16 --url "tcp://127.0.0.1:$p"
done
median echo-tcp-16
median cs-tcp-16

# --- scale: sessions known, approvals waiting ------------------------------
# (each alternates with a fresh daemon of the same configuration)
for r in $(seq "$reps"); do
	daemon_run "cs-fresh.$r" '{"agent_contexts": 1536, "max_pending": 2000, "max_sessions": 10000000, "max_sessions_per_delegation": 0}' 16
	daemon_run "cs-sessions-10k.$r" '{"agent_contexts": 1536, "max_pending": 2000, "max_sessions": 10000000, "max_sessions_per_delegation": 0}' 16 --sessions 10000
	daemon_run "cs-pending-1k.$r" '{"agent_contexts": 1536, "max_pending": 2000, "max_sessions": 10000000, "max_sessions_per_delegation": 0}' 16 --pending 1000
done
median cs-fresh
median cs-sessions-10k
median cs-pending-1k

# --- the human loop: every call asks, one approver --------------------------
mkdir -p "$work/policies"
cat >"$work/policies/ask-all.json" <<'EOF'
{
  "policy": "bench-ask-all",
  "version": "1",
  "description": "Every call goes to one operator (human-loop benchmark).",
  "defaults": {"decision": "ask", "approval_timeout_s": 120, "on_timeout": "deny"},
  "rules": [
    {"id": "always-ask", "if": {"tool": "*"}, "then": "ask", "approvers": 1,
     "reason": "benchmark: every call is approved by the scripted operator"}
  ]
}
EOF
if start_daemon cs-human '{"agent_contexts": 64}' "$work/policies/ask-all.json"; then
	run cs-human --human --home "$home" --agents 1 --duration "$dur" --pid "$dpid"
	stop_daemon
else
	status=1
fi

# --- policy size ----------------------------------------------------------
for r in 10 100 1000; do
	run "eval-rules-$r" --eval --rules "$r" --duration "$dur"
done

# --- the console: its model and drawing code, headless --------------------------
# console-bench prints one line per measurement ("console=NAME ..."); each
# line also goes to $work/console-NAME.out for the table.
if [ -x "$BIN/console-bench" ] && cp "$BIN/console-bench" "$work/bin/"; then
	quick=
	[ "$dur" = 1 ] && quick=--quick
	"$work/bin/console-bench" $quick >"$work/console.all" \
	    2>"$work/console.err"
	rc=$?
	while read -r line; do
		name=${line%% *}
		name=console-${name#console=}
		printf '%-22s %s\n' "$name" "${line#* }"
		printf '%s\n' "$line" >"$work/$name.out"
	done <"$work/console.all"
	if [ "$rc" -ne 0 ]; then
		echo "console-bench FAILED (exit $rc):"
		sed 's/^/    /' "$work/console.err"
		status=1
	fi
else
	echo "bench: $BIN/console-bench is not built; no console figures" >&2
fi

# --- a peer: Cerbos over HTTP, same concurrency ------------------------------
peer_line=
if [ "$peers" != 0 ]; then
	echo
	BIN=$work/bin BENCH_SECONDS=$dur BENCH_CONNECTIONS=16 "$here/peers/cerbos.sh" \
	    >"$work/cerbos.log" 2>&1
	sed 's/^/    /' "$work/cerbos.log"
	peer_line=$(grep '^peer=cerbos ' "$work/cerbos.log" | tail -1)
fi

# --- the table --------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
diff_us() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%+.0f µs", a - b }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.1f MiB", k / 1024 }'; }
# rss NAME: daemon VmRSS when the measured run began → VmHWM at its end
rss() {
	local a b
	a=$(get "$1" rss_start_kib) b=$(get "$1" rss_peak_kib)
	[ "$b" = - ] && { echo -; return; }
	echo "$(mib "$a") → $(mib "$b")"
}
int() { awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.0f", a }'; }
ms() { awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.1f", a / 1000 }'; }
lat() { echo "$(int "$(get "$1" p50_us)") / $(int "$(get "$1" p99_us)")"; }
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }

table() {
	echo "| scenario | countersign | floor | ratio | target | daemon RSS: start → peak |"
	echo "| --- | --- | --- | --- | --- | --- |"
	for c in 1 16 256; do
		a="$c agents"
		[ "$c" = 1 ] && a="1 agent"
		row "ipc, $a: decisions/s" "$(int "$(get "cs-ipc-$c" decisions_per_s)")" \
		    "$(int "$(get "echo-ipc-$c" decisions_per_s)") (nng echo)" \
		    "$(ratio "$(get "cs-ipc-$c" decisions_per_s)" "$(get "echo-ipc-$c" decisions_per_s)")" \
		    "$([ "$c" = 16 ] && echo '≥ 0.60, > 50,000/s' || echo '')" \
		    "$(rss "cs-ipc-$c")"
		row "ipc, $a: p50 / p99 µs" "$(lat "cs-ipc-$c")" \
		    "$(lat "echo-ipc-$c") (nng echo)" \
		    "p50 $(diff_us "$(get "cs-ipc-$c" p50_us)" "$(get "echo-ipc-$c" p50_us)")" \
		    "$([ "$c" = 1 ] && echo 'p50 ≤ echo + 100 µs, p99 < 1000 µs' || echo '')" ""
		row "ipc, $a: CPU µs per call: daemon / load generator" \
		    "$(get "cs-ipc-$c" daemon_cpu_us) / $(get "cs-ipc-$c" self_cpu_us)" \
		    "$(get "echo-ipc-$c" daemon_cpu_us) / $(get "echo-ipc-$c" self_cpu_us) (nng echo server / load generator)" \
		    "$(ratio "$(get "cs-ipc-$c" daemon_cpu_us)" "$(get "echo-ipc-$c" daemon_cpu_us)") (daemon / echo server)" "" ""
		if [ "$c" = 16 ]; then
			# what 0.60 of the echo floor leaves the daemon: all
			# cores' time per decision at that rate, less the load
			# generator's; against the libraries' own floors
			budget_of() {
				awk -v n="$(nproc)" -v e="$(get echo-ipc-16 decisions_per_s)" -v g="$1" \
				    'BEGIN { if (e == "-" || g == "-") print "-"; else printf "%.1f", n * 1e6 / (0.60 * e) - g }'
			}
			# the load generator's cost as measured against the
			# daemon, and (kinder) against the echo server
			budget=$(budget_of "$(get cs-ipc-16 self_cpu_us)")
			budget_echo=$(budget_of "$(get echo-ipc-16 self_cpu_us)")
			libs=$(awk -v a="$(get echo-ipc-16 daemon_cpu_us)" -v b="$(get engine-16 parse_ns_per_frame)" \
			    -v c="$(get engine-16 render_ns_per_row)" -v d="$(get engine-16 append_cpu_us_per_row)" \
			    'BEGIN { if (a == "-" || b == "-" || c == "-" || d == "-") print "-"; else printf "%.1f", a + b / 1000 + c / 1000 + d }')
			row "ipc, 16 agents: daemon CPU µs per decision, against what 0.60 of the echo floor leaves it" \
			    "$(get cs-ipc-16 daemon_cpu_us)" \
			    "$budget (budget: $(nproc) cores ÷ (0.60 × echo/s), less the load generator's µs/call; $budget_echo with its echo-run cost)" \
			    "$(ratio "$(get cs-ipc-16 daemon_cpu_us)" "$budget") (daemon / budget)" "" ""
			row "ipc, 16 agents: the libraries' floors alone, CPU µs per decision" \
			    "$libs (nng echo server $(get echo-ipc-16 daemon_cpu_us) + strict parse $(ms "$(get engine-16 parse_ns_per_frame)") + row JSON $(ms "$(get engine-16 render_ns_per_row)") + sqlite append $(get engine-16 append_cpu_us_per_row))" \
			    "$budget / $budget_echo (budget)" "$(ratio "$libs" "$budget") / $(ratio "$libs" "$budget_echo") (floors / budget)" "" ""
		fi
		if [ "$c" = 1 ]; then
			floor=$(awk -v a="$(get echo-ipc-1 p50_us)" -v b="$(get engine-1 commit_us_p50)" \
			    'BEGIN { if (a == "-" || b == "-") print "-"; else print a + b }')
			row "ipc, 1 agent: p50 µs against echo + one audit commit" \
			    "$(int "$(get cs-ipc-1 p50_us)")" \
			    "$(int "$floor") (echo p50 $(int "$(get echo-ipc-1 p50_us)") + commit p50 $(int "$(get engine-1 commit_us_p50)"))" \
			    "p50 $(diff_us "$(get cs-ipc-1 p50_us)" "$floor")" "" ""
		fi
	done
	row "engine in-process (parse, admission, policy, audit event, reply): ns/decision" \
	    "$(int "$(get engine-16 engine_ns_per_decision)")" \
	    "$(int "$(get eval-default ns_per_decision)") (policy alone)" \
	    "$(ratio "$(get engine-16 engine_ns_per_decision)" "$(get eval-default ns_per_decision)")" "" ""
	row "JSON parse of the agent frame alone (strict: yajl into a jansson tree), in-process: ns/frame" \
	    "$(int "$(get engine-16 parse_ns_per_frame)")" \
	    "$(int "$(get engine-16 engine_ns_per_decision)") (whole engine)" \
	    "$(ratio "$(get engine-16 parse_ns_per_frame)" "$(get engine-16 engine_ns_per_decision)") (parse / engine)" "" ""
	row "audit row in-process: canonical JSON ns/row / append CPU µs/row (sqlite, SHA-256 chain; 1 / 16 rows per commit)" \
	    "$(int "$(get engine-16 render_ns_per_row)") / $(get engine-1 append_cpu_us_per_row) / $(get engine-16 append_cpu_us_per_row)" \
	    "" "" "" ""
	row "audit commit in-process, synchronous=FULL: 1 row / 16 rows, p50 µs" \
	    "$(int "$(get engine-1 commit_us_p50)") / $(int "$(get engine-16 commit_us_p50)")" \
	    "$(int "$(get engine-16 audit_rows_per_s)") rows/s (16 per commit, one thread)" \
	    "$(ratio "$(get cs-ipc-16 decisions_per_s)" "$(get engine-16 audit_rows_per_s)") (ipc 16 / this)" "" ""
	row "tcp, 16 agents: decisions/s" "$(int "$(get cs-tcp-16 decisions_per_s)")" \
	    "$(int "$(get echo-tcp-16 decisions_per_s)") (nng echo)" \
	    "$(ratio "$(get cs-tcp-16 decisions_per_s)" "$(get echo-tcp-16 decisions_per_s)")" "" \
	    "$(rss cs-tcp-16)"
	row "tcp, 16 agents: p50 / p99 µs" "$(lat cs-tcp-16)" "$(lat echo-tcp-16) (nng echo)" \
	    "p50 $(diff_us "$(get cs-tcp-16 p50_us)" "$(get echo-tcp-16 p50_us)")" "" ""
	row "ipc, 16 agents, 10,000 sessions known: decisions/s" \
	    "$(int "$(get cs-sessions-10k decisions_per_s)")" \
	    "$(int "$(get cs-fresh decisions_per_s)") (fresh daemon)" \
	    "$(ratio "$(get cs-sessions-10k decisions_per_s)" "$(get cs-fresh decisions_per_s)")" \
	    "flat (≈ 1.00); RSS < 64 MiB" "$(rss cs-sessions-10k)"
	row "ipc, 16 agents, 10,000 sessions known: p50 / p99 µs" "$(lat cs-sessions-10k)" \
	    "$(lat cs-fresh) (fresh daemon)" "" "" ""
	row "ipc, 16 agents, 1,000 approvals waiting: decisions/s" \
	    "$(int "$(get cs-pending-1k decisions_per_s)")" \
	    "$(int "$(get cs-fresh decisions_per_s)") (fresh daemon)" \
	    "$(ratio "$(get cs-pending-1k decisions_per_s)" "$(get cs-fresh decisions_per_s)")" \
	    "flat (≈ 1.00); RSS < 64 MiB" "$(rss cs-pending-1k)"
	row "ipc, 16 agents, 1,000 approvals waiting: p50 / p99 µs" "$(lat cs-pending-1k)" \
	    "$(lat cs-fresh) (fresh daemon)" "" "" ""
	row "human loop: call → pending event on the console, p50 / p99 µs" \
	    "$(int "$(get cs-human escalation_p50_us)") / $(int "$(get cs-human escalation_p99_us)")" \
	    "" "" "p99 < 1000 µs" "$(rss cs-human)"
	row "human loop: operator decide → agent has the answer, p50 / p99 µs" \
	    "$(int "$(get cs-human decide_p50_us)") / $(int "$(get cs-human decide_p99_us)")" \
	    "" "" "p99 < 1000 µs" ""
	row "policy in-process, default policy: ns/decision" \
	    "$(int "$(get eval-default ns_per_decision)")" "" "" "< 2000 ns" ""
	for r in 10 100 1000; do
		row "policy in-process, $r generated rules: ns/decision" \
		    "$(int "$(get "eval-rules-$r" ns_per_decision)")" \
		    "$(int "$(get eval-rules-10 ns_per_decision)") (10 rules)" \
		    "$(ratio "$(get "eval-rules-$r" ns_per_decision)" "$(get eval-rules-10 ns_per_decision)")" \
		    "sub-linear in rules" ""
	done
	if [ -n "$peer_line" ]; then
		echo "$peer_line" >"$work/cerbos.out"
		row "peer: Cerbos PDP $(get cerbos version), HTTP, 16 connections: decisions/s" \
		    "$(int "$(get cs-ipc-16 decisions_per_s)") (ipc) / $(int "$(get cs-tcp-16 decisions_per_s)") (tcp)" \
		    "$(int "$(get cerbos decisions_per_s)") (Cerbos, no audit wait)" \
		    "$(ratio "$(get cs-tcp-16 decisions_per_s)" "$(get cerbos decisions_per_s)") (tcp)" \
		    "faster than the peer" ""
		row "peer: Cerbos PDP, 16 connections: p50 / p99 µs" \
		    "$(lat cs-tcp-16) (tcp)" \
		    "$(int "$(get cerbos p50_us)") / $(int "$(get cerbos p99_us)") (Cerbos)" "" "" ""
	fi
	# the console (console-bench: medians; "→ screen" includes the
	# ncurses refresh, written to /dev/null)
	row "console: apply 1,000 events (pending/resolved), 10,000 pending: ms" \
	    "$(ms "$(get console-apply-10000 median_us)")" \
	    "$(ms "$(get console-apply-0 median_us)") (empty queue)" \
	    "$(ratio "$(get console-apply-10000 median_us)" "$(get console-apply-0 median_us)")" "" ""
	row "console: hello snapshot of 10,000 pending (late connect): ms" \
	    "$(ms "$(get console-hello median_us)")" "" "" "" ""
	row "console: full redraw 120x40, 10,000 pending: µs" \
	    "$(int "$(get console-redraw-queue median_us)")" \
	    "$(int "$(get console-redraw-history median_us)") (history view)" "" "" ""
	row "console: key j/k → screen, 10,000 pending: p50 / p99 µs" \
	    "$(int "$(get console-key-queue median_us)") / $(int "$(get console-key-queue p99_us)")" \
	    "" "" "" ""
	row "console: key j → screen, history of 100,000 audit rows: p50 / p99 µs" \
	    "$(int "$(get console-key-history median_us)") / $(int "$(get console-key-history p99_us)")" \
	    "" "" "" ""
	row "console: key h → history view (newest page of 100,000 rows): µs" \
	    "$(int "$(get console-key-history-open median_us)")" "" "" "" ""
	row "console: history filter tool:NAME / text search, Enter → screen: ms" \
	    "$(ms "$(get console-key-history-filter median_us)") / $(ms "$(get console-key-history-search median_us)")" \
	    "" "" "" ""
}

echo
table | tee "$work/table.md"
[ -n "${BENCH_OUT:-}" ] && cp "$work/table.md" "$BENCH_OUT"
echo
if [ "$status" -eq 0 ]; then
	echo "bench: every run had errors=0 and one audit row per decision"
else
	echo "bench: FAILED: a run had errors or missing audit rows (see above)"
fi
exit "$status"
