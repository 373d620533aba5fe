#!/usr/bin/env bash
# t_webhook: paging operators. A local receiver (tests/tools/
# webhook_receiver.py) gets the generic and Slack bodies when a call stays
# undecided and again before its deadline, never for a call decided in
# time and never after a decision; a receiver that fails is retried with
# backoff and one that hangs times out, every attempt logged, and neither
# delays a decision; a full queue drops the oldest pages and says so.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is not installed (tests/deps.sh)"

RECV_LOG=$TEST_TMP/recv.log
touch "$RECV_LOG"
python3 "$ROOT/tests/tools/webhook_receiver.py" --port-file "$TEST_TMP/port" \
    --log "$RECV_LOG" --hang 30 &
wait_for 5 test -s "$TEST_TMP/port" || fail "the receiver did not start"
PORT=$(cat "$TEST_TMP/port")
BASE=http://127.0.0.1:$PORT

cat >"$TEST_TMP/policy.json" <<'EOF'
{"policy": "pages", "version": "1",
 "defaults": {"decision": "deny", "approval_timeout_s": 60, "on_timeout": "deny"},
 "tools": {"fs.read": {"risk": "low"}, "payments.transfer": {"risk": "high"},
           "email.send": {"risk": "medium"}},
 "rules": [
  {"id": "transfer", "if": {"tool": "payments.transfer"}, "then": "ask",
   "timeout_s": 20, "reason": "transfers need an operator"},
  {"id": "mail", "if": {"tool": "email.send"}, "then": "ask"},
  {"id": "reads", "if": {"tool": "fs.read"}, "then": "allow"}]}
EOF

H=$(new_home "{\"webhooks\": [
  {\"url\": \"$BASE/generic/s3cr3t-token\", \"after_s\": 1, \"before_deadline_s\": 17,
   \"timeout_ms\": 2000, \"retries\": 1},
  {\"url\": \"$BASE/slack\", \"format\": \"slack\", \"after_s\": 1,
   \"before_deadline_s\": 0},
  {\"url\": \"$BASE/fail\", \"after_s\": 1, \"before_deadline_s\": 0,
   \"retries\": 4},
  {\"url\": \"$BASE/hang\", \"after_s\": 1, \"before_deadline_s\": 0,
   \"timeout_ms\": 1000, \"retries\": 1}]}")
start_daemon "$H" --policy "$TEST_TMP/policy.json"
LOG=$H/daemon.log
TOK=$(mint "$H" --agent pay-bot --user alice --scope 'tool:*' --session s-pages)

# pages [JQ_SELECT]: received bodies (one JSON object per line).
pages() {
	jq -c "select(${1:-true})" "$RECV_LOG"
}
# page_count JQ_SELECT: how many were received.
page_count() {
	pages "$1" | grep -c . || true
}
# has_pages N JQ_SELECT: at least N received.
has_pages() {
	[ "$(page_count "$2")" -ge "$1" ]
}
# logged N PATTERN: the daemon logged at least N lines matching PATTERN.
logged() {
	[ "$(grep -cE "$2" "$LOG")" -ge "$1" ]
}

# --- A waits; B is decided before anyone is paged ----------------------
t0=$(($(date +%s%N) / 1000000))
assert_rc 2 ctl "$H" ask --token "$TOK" --tool payments.transfer \
    --args '{"amount":250,"to":"DE89"}' --wait 0
A=$(jf .request)
assert_rc 2 ctl "$H" ask --token "$TOK" --tool email.send --args '{"to":"x@y.z"}' --wait 0
B=$(jf .request)
assert_rc 0 ctl "$H" decide "$B" deny --reason "no"

# the first pages come after after_s
wait_for 5 has_pages 1 ".path == \"/generic/s3cr3t-token\"" ||
	fail "no generic page for $A"
OUT=$(pages '.path == "/generic/s3cr3t-token"' | head -n 1)
[ "$(jf .ms)" -ge $((t0 + 1000)) ] || fail "paged before after_s"
assert_eq "application/json" "$(jf .content_type)" "page content type"
OUT=$(jf .body)
assert_eq "pending_escalation|undecided|$A|payments.transfer|pay-bot|alice|s-pages|high|transfer|transfers need an operator" \
    "$(jf '[.event, .stage, .request, .tool, .agent, .user, .session, .risk, .rule, .reason] | join("|")')" \
    "generic page fields"
assert_eq "countersignctl --home $(realpath "$H") decide $A approve|deny" \
    "$(jf .decide)" "decide command"
[ "$(jf .waited_s)" -ge 1 ] || fail "waited_s $(jf .waited_s)"
deadline=$(jf .deadline)
[ "$deadline" -ge $((t0 + 19000)) ] && [ "$deadline" -le $((t0 + 21000)) ] ||
	fail "deadline $deadline is not the rule's 20 s"
assert_match '^1[5-9]$' "$(jf .seconds_left)" "seconds_left"

wait_for 5 has_pages 1 '.path == "/slack"' || fail "no Slack page"
OUT=$(pages '.path == "/slack"' | head -n 1 | jq -c .body)
assert_contains "payments.transfer by agent pay-bot for alice" "$(jf .text)" "Slack text"
assert_contains "decide $A" "$(jf .text)" "Slack text names the command"
assert_eq "header" "$(jf '.blocks[0].type')" "Slack header block"
assert_contains "payments.transfer" "$(jf '.blocks[0].text.text')" "Slack header"
assert_contains "pay-bot" "$(jf '[.blocks[1].fields[].text] | join(" ")')" "Slack agent field"
assert_contains "*Human*" "$(jf '[.blocks[1].fields[].text] | join(" ")')" "Slack human field"
assert_contains "decide $A approve" "$(jf '[.blocks[].text.text? // empty] | join(" ")')" \
    "Slack decide command"

# --- failing and hanging receivers: retries logged, decisions unaffected
wait_for 5 logged 1 "webhook 4 .*undecided page for $A failed \(.*attempt 1 of 2.*retry in" ||
	fail "the hanging receiver's timeout was not logged"
for i in 1 2 3; do
	start=$(date +%s%N)
	assert_rc 0 ctl "$H" ask --token "$TOK" --tool fs.read --args '{"path":"/workspace/a"}'
	[ "$(ms_since "$start")" -lt 1000 ] || fail "a decision waited for a webhook"
done
wait_for 5 logged 1 "webhook 3 .*undecided page for $A failed \(HTTP 500, attempt 2 of 5.*retry in 2000 ms" ||
	fail "the second attempt was not retried with backoff"
wait_for 5 logged 1 "webhook 4 .*undecided page for $A failed \(.*attempt 2 of 2.*giving up" ||
	fail "the hanging receiver was not given up on"

# --- the second page, shortly before the deadline ----------------------
wait_for 5 has_pages 1 ".path == \"/generic/s3cr3t-token\" and .body.stage == \"deadline\"" ||
	fail "no page before the deadline"
OUT=$(pages '.body.stage == "deadline"' | head -n 1)
[ "$(jf .ms)" -ge $((t0 + 2900)) ] || fail "deadline page too early"
assert_eq "$A" "$(jf .body.request)" "deadline page request"

# --- decided: no page after the decision, pending retries dropped ------
wait_for 6 logged 1 "webhook 3 .*undecided page for $A failed \(HTTP 500, attempt 3 of 5" ||
	fail "third attempt missing"
assert_rc 0 ctl "$H" decide "$A" approve
decided=$(($(date +%s%N) / 1000000))
wait_for 8 logged 1 "webhook 3 .*undecided page for $A not sent: decided" ||
	fail "the retry after the decision was not dropped"
assert_eq 0 "$(page_count ".ms > $decided + 200")" "pages after the decision"
assert_eq 0 "$(page_count ".body.request == \"$B\"")" "pages for the call decided in time"
assert_eq 3 "$(page_count ".path == \"/fail\"")" "attempts at the failing receiver"
assert_eq 2 "$(page_count ".path == \"/hang\"")" "attempts at the hanging receiver"
# the webhook URL's path may be a secret: never logged
grep -q s3cr3t "$LOG" && fail "a webhook URL path was logged"
assert_match "webhook 1 \(http://127\.0\.0\.1:$PORT\): undecided page for $A delivered \(HTTP 200, attempt 1" \
    "$(cat "$LOG")" "delivery logged"
stop_daemon "$H"

# --- a full queue drops the oldest pages, and says so -------------------
H2=$(new_home "{\"webhook_queue_max\": 2, \"webhooks\": [
  {\"url\": \"$BASE/hang\", \"after_s\": 0, \"before_deadline_s\": 0,
   \"timeout_ms\": 3000, \"retries\": 0}]}")
start_daemon "$H2" --policy "$TEST_TMP/policy.json"
LOG=$H2/daemon.log
TOK2=$(mint "$H2" --agent pay-bot --user alice --scope 'tool:*')
for i in $(seq 1 12); do
	ctl "$H2" ask --token "$TOK2" --tool payments.transfer --args "{\"n\":$i}" \
	    --wait 0 >/dev/null
done
wait_for 5 logged 1 "webhooks: queue full \(2 pages\): dropped the [0-9]+ oldest" ||
	fail "dropped pages were not logged"
start=$(date +%s%N)
assert_rc 0 ctl "$H2" ask --token "$TOK2" --tool fs.read --args '{"path":"/workspace/b"}'
[ "$(ms_since "$start")" -lt 1000 ] || fail "a decision waited for the queue"
stop_daemon "$H2"

# a receiver that hangs holds up no other webhook's pages
H3=$(new_home "{\"webhooks\": [
  {\"url\": \"$BASE/hang/h3\", \"after_s\": 1, \"before_deadline_s\": 0,
   \"timeout_ms\": 20000, \"retries\": 0},
  {\"url\": \"$BASE/generic/h3\", \"after_s\": 1, \"before_deadline_s\": 0,
   \"timeout_ms\": 3000, \"retries\": 0}]}")
start_daemon "$H3" --policy "$TEST_TMP/policy.json"
LOG=$H3/daemon.log
TOK3=$(mint "$H3" --agent pay-bot --user alice --scope 'tool:*')
for i in $(seq 1 12); do
	ctl "$H3" ask --token "$TOK3" --tool payments.transfer --args "{\"n\":$i}" \
	    --wait 0 >/dev/null
done
wait_for 8 has_pages 12 '.path == "/generic/h3"' ||
	fail "pages to a healthy webhook waited behind a hanging one: $(page_count '.path == "/generic/h3"') of 12"
stop_daemon "$H3"
exit 0
