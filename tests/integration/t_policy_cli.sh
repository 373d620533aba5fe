#!/usr/bin/env bash
# t_policy_cli: `policy lint` accepts the shipped policy and locates errors
# in broken ones; `policy test` runs the shipped cases and fails on any
# wrong expectation. Neither needs a daemon.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

D=$TEST_TMP

# lint: the shipped policy is fine
assert_rc 0 "$CTL" policy lint "$POLICY"
assert_match "ok: default@[^#]+#[0-9a-f]{8}, [0-9]+ rules" "$OUT" "lint of the shipped policy"
assert_eq "$(jq '.rules | length' "$POLICY")" "$(echo "$OUT" | sed -E 's/.*, ([0-9]+) rules$/\1/')" \
    "rules counted by lint"

# lint: a syntax error names file, line and column
printf '{"policy": "p",\n "version": "1",\n "rules": [\n' >"$D/syntax.json"
assert_rc 1 "$CTL" policy lint "$D/syntax.json"
assert_match "^$D/syntax.json:[0-9]+:[0-9]+: " "$ERR" "syntax error location"

# lint: a bad rule names the rule and the member
jq '.rules[3].then = "perhaps"' "$POLICY" >"$D/then.json"
id=$(jq -r '.rules[3].id' "$POLICY")
assert_rc 1 "$CTL" policy lint "$D/then.json"
assert_contains "$D/then.json" "$ERR" "bad then: file"
assert_contains "rules[3]" "$ERR" "bad then: rule index"
assert_contains "\"$id\"" "$ERR" "bad then: rule id"
assert_contains "then" "$ERR" "bad then: member"
assert_eq 1 "$(echo "$ERR" | grep -c .)" "one-line lint error"
assert_eq "" "$OUT" "no ok line for a broken policy"

# lint: a bad regex and an unknown field are errors too
jq '.rules[2].if["args.sql"].matches = "(["' "$POLICY" >"$D/regex.json"
assert_rc 1 "$CTL" policy lint "$D/regex.json"
assert_contains "regex" "$ERR" "bad regex"
jq '.rules[0].if = {"colour": "red"}' "$POLICY" >"$D/field.json"
assert_rc 1 "$CTL" policy lint "$D/field.json"
assert_contains "colour" "$ERR" "unknown field"
assert_rc 1 "$CTL" policy lint "$D/missing.json"

# test: the shipped cases pass
assert_rc 0 "$CTL" policy test "$POLICY" "$POLICY_CASES"
n=$(jq '.cases | length' "$POLICY_CASES")
[ "$n" -ge 40 ] || fail "only $n shipped policy cases"
assert_contains "$n passed, 0 failed" "$OUT" "policy test summary"

# test: one wrong expectation fails the run and is named
jq '.cases[5].expect.decision = (if .cases[5].expect.decision == "allow" then "deny" else "allow" end)' \
    "$POLICY_CASES" >"$D/wrong.json"
name=$(jq -r '.cases[5].name' "$POLICY_CASES")
run "$CTL" policy test "$POLICY" "$D/wrong.json"
[ "$RC" -ne 0 ] || fail "policy test passed with a wrong expectation"
assert_contains "FAIL $name" "$OUT" "failing case named"
assert_contains "$((n - 1)) passed, 1 failed" "$OUT" "summary with a failure"

# test: a wrong rule id is a mismatch as well
jq '.cases[0].expect.rule = "no-such-rule"' "$POLICY_CASES" >"$D/rule.json"
run "$CTL" policy test "$POLICY" "$D/rule.json"
[ "$RC" -ne 0 ] || fail "policy test passed with a wrong rule"

# test: a broken policy or cases file is an error, not a pass
run "$CTL" policy test "$D/then.json" "$POLICY_CASES"
[ "$RC" -ne 0 ] || fail "policy test passed with a broken policy"
printf '{"cases": [' >"$D/cases-broken.json"
run "$CTL" policy test "$POLICY" "$D/cases-broken.json"
[ "$RC" -ne 0 ] || fail "policy test passed with a broken cases file"

# usage
assert_rc 64 "$CTL" policy
assert_rc 64 "$CTL" policy lint
assert_rc 64 "$CTL" policy test "$POLICY"
