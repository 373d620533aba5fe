#!/usr/bin/env bash
# t_tamper: `audit verify` works on a copy of the store, as an auditor would
# use it, and names the first seq of any edited, deleted or reordered row.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

H=$(new_home)
start_daemon "$H"
TOK=$(mint "$H" --agent a1 --user alice --scope 'tool:fs.* tool:email.*' --session s-tam)
for i in 1 2 3; do
	ctl "$H" ask --token "$TOK" --tool fs.read --args '{"path":"/workspace/a"}' >/dev/null
	ctl "$H" ask --token "$TOK" --tool fs.write --args '{"path":"/etc/a"}' >/dev/null
done
assert_rc 2 ctl "$H" ask --token "$TOK" --tool email.send --args '{"to":"x@elsewhere.org"}' --wait 0
assert_rc 0 ctl "$H" decide "$(jf .request)" deny --reason "no"
assert_rc 0 ctl "$H" trust s-tam 1
stop_daemon "$H"
rows=$(sql "$H" "SELECT COUNT(*) FROM audit")
[ "$rows" -eq 9 ] || fail "$rows audit rows, want 9"
DENY_SEQ=$(sql "$H" "SELECT MIN(seq) FROM audit WHERE kind = 'decision' AND decision = 'deny'")

# the store refuses edits while its triggers stand
run sqlite3 "$H/audit.db" "UPDATE audit SET decision = 'allow' WHERE seq = $DENY_SEQ"
[ "$RC" -ne 0 ] || fail "the audit table accepted an UPDATE"
assert_contains "insert-only" "$ERR" "trigger message"
run sqlite3 "$H/audit.db" "DELETE FROM audit WHERE seq = 1"
[ "$RC" -ne 0 ] || fail "the audit table accepted a DELETE"

# copy_store NAME: a consistent copy of the store in a new home, with the
# insert-only triggers dropped; prints the new home.
copy_store() {
	local c=$TEST_TMP/$1 t
	mkdir -p "$c"
	sqlite3 "$H/audit.db" ".backup '$c/audit.db'" || fail "backup"
	for t in $(sql "$c" "SELECT name FROM sqlite_master WHERE type = 'trigger'"); do
		sqlite3 "$c/audit.db" "DROP TRIGGER $t" || fail "drop trigger $t"
	done
	[ "$(sql "$c" "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'")" -eq 0 ] ||
		fail "triggers left on the copy"
	echo "$c"
}
# tampered NAME SEQ SQL: apply SQL to a copy; verify must fail at SEQ.
tampered() {
	local c
	c=$(copy_store "$1")
	sqlite3 "$c/audit.db" "$3" || fail "tamper $1"
	assert_rc 1 ctl "$c" audit verify
	assert_contains "seq $2" "$OUT" "verify after $1"
	assert_match "BROKEN at seq $2[^0-9]" "$OUT" "verify after $1"
}

C=$(copy_store clean)
assert_rc 0 ctl "$C" audit verify
assert_contains "$rows events" "$OUT" "verify of an untouched copy"

tampered event-edit "$DENY_SEQ" \
    "UPDATE audit SET event = json_set(event, '\$.decision', 'allow') WHERE seq = $DENY_SEQ"
tampered column-edit "$DENY_SEQ" \
    "UPDATE audit SET decision = 'allow' WHERE seq = $DENY_SEQ"
tampered both-edit "$DENY_SEQ" \
    "UPDATE audit SET decision = 'allow', event = json_set(event, '\$.decision', 'allow') WHERE seq = $DENY_SEQ"
tampered reason-edit 7 \
    "UPDATE audit SET event = json_set(event, '\$.reason', 'fine') WHERE seq = 7"
tampered hash-edit 5 \
    "UPDATE audit SET hash = '0000' || substr(hash, 5) WHERE seq = 5"
tampered delete 4 "DELETE FROM audit WHERE seq = 4"
tampered delete-first 1 "DELETE FROM audit WHERE seq = 1"
tampered reorder 3 "UPDATE audit SET seq = -3 WHERE seq = 3;
    UPDATE audit SET seq = 3 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = -3"

# the original store is untouched and still verifies
assert_rc 0 ctl "$H" audit verify
assert_contains "$rows events" "$OUT" "verify of the original"
