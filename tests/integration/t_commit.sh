#!/usr/bin/env bash
# t_commit: no answer before its audit row is durable, whichever thread
# commits it: calls one at a time (committed on the thread that decided
# them), a burst (group-committed by the writer), then one at a time
# again. Every answer names a row that another connection can already
# read, no row is named twice, and the chain verifies.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

ONE=15 BURST=64
H=$(new_home)
start_daemon "$H"
TOK=$(mint "$H" --agent a1 --user alice --scope 'tool:fs.*')
mkdir -p "$TEST_TMP/burst"

# one call; on allow, its row must already be readable by another
# connection (sqlite's own CLI) the moment the answer is in
one() {
	local seq
	assert_rc 0 ctl "$H" ask --token "$TOK" --session "one-$1" \
	    --tool fs.read --args '{"path":"/workspace/one"}'
	seq=$(jf .audit_seq)
	[[ $seq =~ ^[0-9]+$ ]] || fail "call $1: answer names no audit row: $OUT"
	assert_eq 1 "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE seq = $seq AND kind = 'decision' AND request = '$(jf .request)'")" \
	    "row $seq of call $1 when its answer arrived"
	echo "$seq"
}

prev=0
for i in $(seq "$ONE"); do
	s=$(one "a$i") || exit 1
	[ "$s" -gt "$prev" ] || fail "call a$i: row $s after row $prev"
	prev=$s
done

pids=()
for i in $(seq "$BURST"); do
	(ctl "$H" ask --token "$TOK" --session "burst-$((i % 8))" \
	    --tool fs.read --args '{"path":"/workspace/burst"}' \
	    >"$TEST_TMP/burst/$i.out" 2>&1
	 echo $? >"$TEST_TMP/burst/$i.rc") &
	pids+=($!)
done
wait "${pids[@]}" # not the daemon, also a child of this shell
assert_eq "$BURST" "$(cat "$TEST_TMP"/burst/*.rc | grep -c '^0$')" \
    "burst calls allowed"
jq -r .audit_seq "$TEST_TMP"/burst/*.out | sort -n >"$TEST_TMP/seqs"
assert_eq "$BURST" "$(sort -u "$TEST_TMP/seqs" | grep -cE '^[0-9]+$')" \
    "distinct audit rows named by the burst"
assert_eq "$BURST" "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND seq IN ($(paste -sd, "$TEST_TMP/seqs"))")" \
    "rows of the burst in the store"

for i in $(seq "$ONE"); do
	s=$(one "b$i") || exit 1
	[ "$s" -gt "$prev" ] || fail "call b$i: row $s after row $prev"
	prev=$s
done

assert_eq $((2 * ONE + BURST)) \
    "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision'")" \
    "decision rows"

# an answer read from a decision whose row is not written yet: an
# operator approves while another connection holds the store's write
# lock; a status read or a resent call during that commit must not say
# allow, and once the commit has failed both say what the row says
TOK1=$(mint "$H" --agent a1 --user alice --scope 'tool:fs.*' --trust 1)
run ctl "$H" ask --token "$TOK1" --session lockrace --id lr-1 --tool fs.read \
    --args '{"path":"/workspace/r"}' --wait 0
assert_eq pending "$(jf .decision)" "a trust-1 read waits for an operator"
R=$(jf .request)
python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(8)' "$H/audit.db" >"$TEST_TMP/lock.out" &
locker=$!
wait_for 5 grep -q locked "$TEST_TMP/lock.out" || fail "could not lock the store"
ctl "$H" decide "$R" approve >"$TEST_TMP/decide.out" 2>&1 &
decider=$!
sleep 1 # the approval's commit waits on the lock
run ctl "$H" status "$R"
[ "$(jf .decision)" != allow ] || fail "status said allow before the approval's row was written: $OUT"
run ctl "$H" ask --token "$TOK1" --session lockrace --id lr-1 --tool fs.read \
    --args '{"path":"/workspace/r"}' --wait 0
[ "$(jf .decision)" != allow ] || fail "a resent call got allow before the approval's row was written: $OUT"
wait "$decider"
wait "$locker"
row_of_r() { sql "$H" "SELECT json_extract(event, '$.decision') FROM audit WHERE kind = 'decision' AND request = '$R'"; }
wait_for 10 sh -c "[ -n \"\$(sqlite3 -batch -noheader '$H/audit.db' \"SELECT 1 FROM audit WHERE kind = 'decision' AND request = '$R'\")\" ]" ||
	fail "no decision row for $R after the store came back"
run ctl "$H" status "$R"
assert_eq "$(row_of_r)" "$(jf .decision)" "status of $R against its row"
run ctl "$H" ask --token "$TOK1" --session lockrace --id lr-1 --tool fs.read \
    --args '{"path":"/workspace/r"}' --wait 0
assert_eq "$(row_of_r)" "$(jf .decision)" "resent call of $R against its row"
stop_daemon "$H"
assert_rc 0 ctl "$H" audit verify
echo "t_commit: $((2 * ONE)) single calls and a burst of $BURST, every" \
    "answer after its row"
