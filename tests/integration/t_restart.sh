#!/usr/bin/env bash
# t_restart: kill -9 under load, then restart: every decision an agent
# received is in the store, the chain and the database are intact, no
# request is decided twice, and the call left pending is closed as deny
# (by error, reason restart).
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

WORKERS=50
H=$(new_home)
start_daemon "$H"
# no --session in the token: each call names its own session, so no
# session reaches the burst or repeated-denials rules
TOK=$(mint "$H" --agent loader --user alice --scope 'tool:fs.* tool:email.*')
LEDGER=$TEST_TMP/ledger
STOP=$TEST_TMP/stop
: >"$LEDGER"

# one call left waiting for an operator
assert_rc 2 ctl "$H" ask --token "$TOK" --session s-pending --tool email.send \
    --args '{"to":"someone@elsewhere.org"}' --wait 0
P=$(jf .request)

# worker N: ask until told to stop; log every decision received.
worker() {
	local n=0 out
	while [ ! -e "$STOP" ]; do
		n=$((n + 1))
		if [ $((n % 2)) -eq 0 ]; then
			out=$(ctl "$H" ask --token "$TOK" --session "w$1-$n" \
			    --tool fs.read --args '{"path":"/workspace/r"}' 2>/dev/null)
		else
			out=$(ctl "$H" ask --token "$TOK" --session "w$1-$n" \
			    --tool fs.write --args '{"path":"/etc/w"}' 2>/dev/null)
		fi
		if [[ $out =~ \"request\":\"([^\"]+)\",\"decision\":\"(allow|deny)\" ]]; then
			echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" >>"$LEDGER"
		fi
	done
}
pids=()
for i in $(seq "$WORKERS"); do
	worker "$i" &
	pids+=($!)
done
enough() { [ "$(wc -l <"$LEDGER")" -ge 150 ]; }
wait_for 20 enough || fail "the load never got going"

kill9_daemon "$H"
touch "$STOP"
# calls in flight are resent by their clients once the daemon is back
start_daemon "$H"
workers_done() {
	local p
	for p in "${pids[@]}"; do not_running "$p" || return 1; done
}
wait_for 30 workers_done || fail "workers still running after the restart"
wait "${pids[@]}" 2>/dev/null

received=$(wc -l <"$LEDGER")
[ "$received" -ge 150 ] || fail "only $received decisions received"
echo "decisions received by agents: $received"

# the store is intact
assert_rc 0 ctl "$H" audit verify
assert_contains "audit chain ok" "$OUT" "audit verify after kill -9"
assert_eq ok "$(sql "$H" "PRAGMA integrity_check")" "integrity_check"

# every decision an agent received is in the store, with the same outcome
sql "$H" "SELECT request || ' ' || decision FROM audit WHERE kind = 'decision'" |
    sort >"$TEST_TMP/stored"
sort "$LEDGER" >"$TEST_TMP/ledger.sorted"
missing=$(comm -23 "$TEST_TMP/ledger.sorted" "$TEST_TMP/stored")
[ -z "$missing" ] || fail "received but not in the store: $(echo "$missing" | head -5)"
assert_eq "$received" "$(sort -u "$LEDGER" | wc -l)" "distinct requests in the ledger"

# no request has two decision rows
assert_eq "" "$(sql "$H" "SELECT request FROM audit WHERE kind = 'decision' GROUP BY request HAVING COUNT(*) > 1")" \
    "requests decided twice"

# the pending call was closed by the restart, and status still finds it
assert_eq "deny|error|restart" \
    "$(sql "$H" "SELECT decision, by_, json_extract(event, '$.reason') FROM audit WHERE kind = 'decision' AND request = '$P'")" \
    "pending call after the restart"
assert_rc 1 ctl "$H" status "$P"
assert_eq "deny|error|restart" "$(jf '[.decision, .by, .reason] | join("|")')" \
    "status of the closed call"
assert_eq "" "$(ctl "$H" pending --json)" "pending after the restart"

# the daemon serves again, and a clean restart closes nothing twice
assert_rc 0 ctl "$H" ask --token "$TOK" --session s-after --tool fs.read \
    --args '{"path":"/workspace/after"}'
stop_daemon "$H"
start_daemon "$H"
assert_eq 1 "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND request = '$P'")" \
    "decision rows of the pending call after a second restart"
assert_rc 0 ctl "$H" audit verify
