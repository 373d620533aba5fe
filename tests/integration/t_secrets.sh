#!/usr/bin/env bash
# t_secrets: configured argument paths are masked in the audit store and
# the console feed, a token id cannot be used beyond jti_max_uses, and the
# recorded chain head catches rows cut off the end of the store.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

H=$(new_home)
cat >"$H/config.json" <<'JSON'
{"jti_max_uses": 2, "mask_args": ["args.password", "args.auth.key"]}
JSON
start_daemon "$H"
TOK=$(mint "$H" --agent a1 --user alice --scope 'tool:fs.*' --jti tok-1)

# masked in the store, while the policy still saw the real value
assert_rc 0 ctl "$H" ask --token "$TOK" --tool fs.read \
    --args '{"path":"/workspace/a","password":"hunter2","auth":{"key":"k-123"}}'
REQ=$(jf .request)
EV=$(sql "$H" "SELECT event FROM audit WHERE request = '$REQ' AND kind = 'decision'")
assert_eq '{"auth":{"key":"***"},"password":"***","path":"/workspace/a"}' \
    "$(jq -c .args <<<"$EV")" "masked args"
case $(sqlite3 "$H/audit.db" .dump) in
*hunter2* | *k-123*) fail "a masked value reached the audit store" ;;
esac
case $(sqlite3 "$H/audit.db" .dump) in
*"$TOK"*) fail "the raw token reached the audit store" ;;
esac

# the digest still binds the real arguments
REAL=$(printf '%s' '{"auth":{"key":"k-123"},"password":"hunter2","path":"/workspace/a"}' |
	sha256sum | cut -d' ' -f1)
assert_eq "sha256:$REAL" "$(jq -r .args_digest <<<"$EV")" "digest of the real args"

# the token id may be used twice, the third call is refused at admission
assert_rc 0 ctl "$H" ask --token "$TOK" --tool fs.read --args '{"path":"/workspace/b"}'
assert_rc 1 ctl "$H" ask --token "$TOK" --tool fs.read --args '{"path":"/workspace/c"}'
assert_eq admission "$(jf .by)" "third use refused by"
assert_contains "used more than 2 times" "$(jf .reason)" "third use refused because"

# the head file follows the store; deleting the last row is caught
wait_for 5 test -s "$H/audit.head" || fail "no audit.head"
stop_daemon "$H"
assert_rc 0 ctl "$H" audit verify
assert_contains "head matches" "$OUT" "verify"
sqlite3 "$H/audit.db" "DROP TRIGGER IF EXISTS audit_no_delete;
    DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit);"
assert_rc 1 ctl "$H" audit verify
assert_contains "rows deleted at the tail" "$OUT" "verify after deleting the last row"
