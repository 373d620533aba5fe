#!/usr/bin/env bash
# t_replay: a repeated client id (a resent request) gets the first outcome
# and is never decided twice; but an id reused for a different call must
# not inherit that outcome, since a decision is bound to its arguments.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

H=$(new_home)
start_daemon "$H"
TOK=$(mint "$H" --agent a1 --user alice --scope 'tool:fs.* tool:email.*' --session s-rp)

# the same call resent: same request, same audit row, one decision
assert_rc 0 ctl "$H" ask --token "$TOK" --id c-same --tool fs.read \
    --args '{"path":"/workspace/a"}'
R1=$(jf .request) S1=$(jf .audit_seq) D1=$(jf .args_digest)
assert_rc 0 ctl "$H" ask --token "$TOK" --id c-same --tool fs.read \
    --args '{"path":"/workspace/a"}'
assert_eq "$R1|$S1|allow" "$(jf '[.request, .audit_seq, .decision] | join("|")')" \
    "resent call"
assert_eq 1 "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND request = '$R1'")" \
    "decision rows of the resent call"

# a resent ask that is still pending joins the waiting call
assert_rc 2 ctl "$H" ask --token "$TOK" --id c-wait --tool email.send \
    --args '{"to":"x@elsewhere.org"}' --wait 0
RP=$(jf .request)
assert_rc 2 ctl "$H" ask --token "$TOK" --id c-wait --tool email.send \
    --args '{"to":"x@elsewhere.org"}' --wait 0
assert_eq "$RP" "$(jf .request)" "resent pending call"
assert_eq 1 "$(pending_count "$H")" "pending calls"

# the same id with other arguments is another call: it must not get the
# first call's allow (fs.write outside /workspace is denied by policy)
run ctl "$H" ask --token "$TOK" --id c-same --tool fs.write \
    --args '{"path":"/etc/passwd","content":"x"}'
[ "$(jf '.decision // "none"')" != allow ] && [ "$RC" -ne 0 ] ||
	fail "fs.write /etc/passwd got the allow of $R1 (id c-same reused: exit $RC, request $(jf .request), args_digest $(jf .args_digest), first call's digest $D1)"

# ... nor join a pending call it does not match
run ctl "$H" ask --token "$TOK" --id c-wait --tool email.send \
    --args '{"to":"y@elsewhere.org","subject":"other"}' --wait 0
[ "$(jf '.request // "none"')" != "$RP" ] ||
	fail "a call with other arguments was folded into pending $RP"
