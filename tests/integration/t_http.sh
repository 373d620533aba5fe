#!/usr/bin/env bash
# t_http: the HTTP ingress (nng's HTTP server) with curl against a real
# daemon: 200 for every decision (allow, deny, pending), long-polls answered
# by an operator while curl waits, status for the token that made a call,
# /healthz, JSON errors 400/401/404/405/411/413/415, the same audit rows as
# the wire path, off by default, loopback only unless allowed, and the
# README's Python and JavaScript clients.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || fail "curl is not installed (tests/deps.sh)"

H=$(new_home '{"http_listen": "127.0.0.1:0", "http_max_body": 4096}')
start_daemon "$H"
URL=$(grep -o 'HTTP ingress on http://[^ ]*' "$H/daemon.log" | tail -n 1 |
    awk '{print $4}')
assert_match '^http://127\.0\.0\.1:[0-9]+$' "$URL" "HTTP ingress address"
TOK=$(mint "$H" --agent web-agent --user alice --scope 'tool:fs.* tool:email.*' \
    --session s-http)
OTHER=$(mint "$H" --agent web-agent --user alice --scope 'tool:fs.*' \
    --session s-http)
EXTERNAL='{"to":"someone@elsewhere.org","subject":"hi"}'

# http METHOD PATH [CURL_ARGS...]: one request; body in OUT, status in
# CODE, response headers in HDRS.
http() {
	local method=(-X "$1") path=$2
	[ "$1" = HEAD ] && method=(--head) # -X HEAD would wait for a body
	shift 2
	CODE=$(curl -sS -o "$TEST_TMP/body" -D "$TEST_TMP/hdrs" -w '%{http_code}' \
	    "${method[@]}" "$@" "$URL$path") || fail "curl ${method[*]} $path failed"
	OUT=$(cat "$TEST_TMP/body")
	HDRS=$(tr -d '\r' <"$TEST_TMP/hdrs")
}

# authorize BODY [CURL_ARGS...]: POST /v1/authorize with TOK.
authorize() {
	local body=$1
	shift
	http POST /v1/authorize -H "Authorization: Bearer $TOK" \
	    -H 'Content-Type: application/json' --data-binary "$body" "$@"
}

# expect_error CODE ERROR_CODE WHAT: the last answer was a JSON error.
expect_error() {
	assert_eq "$1" "$CODE" "$3: HTTP status"
	assert_eq "error|$2" "$(jf '[.type, .code] | join("|")')" "$3: error body"
	assert_contains "Content-Type: application/json" "$HDRS" "$3: content type"
}

# --- /healthz ---------------------------------------------------------
http GET /healthz
assert_eq 200 "$CODE" "/healthz status"
assert_eq "ok|ok|0" "$(jf '[.status, .audit, .pending] | join("|")')" "/healthz body"
# a GET with a body is refused and its connection closed: the body is
# never taken for a second request
http GET /healthz --data-binary $'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n'
expect_error 400 bad_request "GET with a body"
assert_contains "Connection: close" "$HDRS" "GET with a body: connection closed"

# --- decisions: 200 whatever the outcome, audited like the wire path ----
authorize '{"tool":"fs.read","args":{"path":"/workspace/a.txt"},"id":"h-1"}'
assert_eq 200 "$CODE" "allow status"
assert_eq "decision|allow|policy|low-risk|h-1" \
    "$(jf '[.type, .decision, .by, .rule, .id] | join("|")')" "allow body"
assert_contains "Content-Type: application/json" "$HDRS" "allow content type"
seq=$(jf .audit_seq)
R_ALLOW=$(jf .request)
assert_eq "$R_ALLOW|decision|allow|policy|fs.read|web-agent|alice" \
    "$(sql "$H" "SELECT request, kind, decision, by_, tool, agent, user FROM audit WHERE seq = $seq")" \
    "audit row of the HTTP allow"

authorize '{"v":1,"type":"authorize","tool":"fs.write","args":{"path":"/etc/passwd"}}'
assert_eq 200 "$CODE" "deny status"
assert_eq "deny|policy" "$(jf '[.decision, .by] | join("|")')" "deny body"

http POST /v1/authorize -H "Authorization: Bearer not.a.token" \
    -H 'Content-Type: application/json' --data-binary '{"tool":"fs.read"}'
assert_eq 200 "$CODE" "admission deny status"
assert_eq "deny|admission" "$(jf '[.decision, .by] | join("|")')" \
    "a bad token is a deny by admission"

# --- long poll: curl waits while an operator decides -------------------
(
	curl -sS -o "$TEST_TMP/lp.body" -w '%{http_code}' \
	    -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
	    --data-binary "{\"tool\":\"email.send\",\"args\":$EXTERNAL,\"wait_ms\":30000}" \
	    "$URL/v1/authorize" >"$TEST_TMP/lp.code"
) &
lp=$!
one_pending() { [ "$(pending_count "$H")" -eq 1 ]; }
wait_for 5 one_pending || fail "the long-polled call never became pending"
R_LP=$(ctl "$H" pending --json | jq -r .request)
sleep 0.3
not_running "$lp" && fail "curl returned before anyone decided"
start=$(date +%s%N)
assert_rc 0 ctl "$H" decide "$R_LP" approve --reason "fine"
wait_for 5 not_running "$lp" || fail "curl still waiting after approve"
wait "$lp"
[ "$(ms_since "$start")" -lt 3000 ] || fail "long poll answered late"
assert_eq 200 "$(cat "$TEST_TMP/lp.code")" "long poll status"
OUT=$(cat "$TEST_TMP/lp.body")
assert_eq "$R_LP|allow|operator|root" \
    "$(jf '[.request, .decision, .by, .operator] | join("|")')" "long poll answer"

# --- wait ends: pending, then GET /v1/requests/{id} ---------------------
start=$(date +%s%N)
authorize "{\"tool\":\"email.send\",\"args\":$EXTERNAL,\"wait_ms\":400}"
assert_eq 200 "$CODE" "expired wait status"
assert_eq "pending" "$(jf .decision)" "expired wait answer"
[ "$(ms_since "$start")" -ge 350 ] || fail "the wait ended before wait_ms"
R_P=$(jf .request)

http GET "/v1/requests/$R_P" -H "Authorization: Bearer $TOK"
assert_eq 200 "$CODE" "status of a pending call"
assert_eq "$R_P|pending" "$(jf '[.request, .decision] | join("|")')" "pending status body"
assert_rc 0 ctl "$H" decide "$R_P" deny --reason "not today"
http GET "/v1/requests/$R_P" -H "Authorization: Bearer $TOK"
assert_eq 200 "$CODE" "status after deny"
assert_eq "deny|operator|not today" "$(jf '[.decision, .by, .reason] | join("|")')" \
    "status body after deny"
http HEAD "/v1/requests/$R_P" -H "Authorization: Bearer $TOK"
assert_eq 200 "$CODE" "HEAD status"

# only the token that made the call may read it
http GET "/v1/requests/$R_P" -H "Authorization: Bearer $OTHER"
expect_error 404 not_found "status with another token"
http GET "/v1/requests/$R_P"
expect_error 401 unauthorized "status without a token"
http GET "/v1/requests/r-0000-999999" -H "Authorization: Bearer $TOK"
expect_error 404 not_found "status of an unknown request"
http GET "/v1/requests/$R_ALLOW" -H "Authorization: Bearer $TOK"
assert_eq "200|allow" "$CODE|$(jf .decision)" "status of the first allow"

# --- 400: the engine's refusals, audited --------------------------------
errors_before=$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'error'")
authorize '{"tool":'
expect_error 400 bad_json "malformed JSON"
assert_match '^r-' "$(jf .request)" "malformed JSON gets a request id"
authorize '{"tool":"fs.read","decision":"allow"}'
expect_error 400 unknown_field "smuggled decision"
authorize '{"tool":"fs.read","args":[1]}'
expect_error 400 wrong_type "args not an object"
authorize '{"tool":"fs.read","tool":"fs.write"}'
expect_error 400 duplicate_key "duplicate key"
assert_eq $((errors_before + 4)) \
    "$(sql "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'error'")" \
    "refused bodies are audited"
authorize '{"tool":"fs.read","token":"smuggled"}'
expect_error 400 token_in_body "token in the body"

# --- 401, 411, 413, 415 ------------------------------------------------
http POST /v1/authorize -H 'Content-Type: application/json' --data-binary '{"tool":"fs.read"}'
expect_error 401 unauthorized "no Authorization"
assert_contains "WWW-Authenticate: Bearer" "$HDRS" "401 challenge"
http POST /v1/authorize -H "Authorization: Basic YTpi" \
    -H 'Content-Type: application/json' --data-binary '{"tool":"fs.read"}'
expect_error 401 unauthorized "Basic auth"
http POST /v1/authorize -H "Authorization: Bearer" \
    -H 'Content-Type: application/json' --data-binary '{"tool":"fs.read"}'
expect_error 401 unauthorized "empty bearer"

big=$(printf '{"tool":"fs.read","args":{"pad":"%s"}}' "$(head -c 5000 /dev/zero | tr '\0' a)")
authorize "$big"
expect_error 413 too_large "body over http_max_body"
mid=$(printf '{"tool":"fs.read","args":{"path":"/workspace/%s"}}' "$(head -c 2000 /dev/zero | tr '\0' b)")
start=$(date +%s%N)
authorize "$mid" -H 'Expect: 100-continue'
assert_eq "200|allow" "$CODE|$(jf .decision)" "body with Expect: 100-continue"
[ "$(ms_since "$start")" -lt 900 ] || fail "100-continue was not answered"

http POST /v1/authorize -H "Authorization: Bearer $TOK" \
    -H 'Content-Type: text/plain' --data-binary '{"tool":"fs.read"}'
expect_error 415 unsupported_media_type "text/plain"
http POST /v1/authorize -H "Authorization: Bearer $TOK" \
    -H 'Content-Type:' --data-binary '{"tool":"fs.read"}'
expect_error 415 unsupported_media_type "no content type"
http POST /v1/authorize -H "Authorization: Bearer $TOK" \
    -H 'Content-Type: application/json; charset=utf-8' \
    --data-binary '{"tool":"fs.read","args":{"path":"/workspace/a"}}'
assert_eq 200 "$CODE" "charset parameter accepted"
http POST /v1/authorize -H "Authorization: Bearer $TOK" \
    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary '{"tool":"fs.read"}'
expect_error 411 length_required "chunked body"

# a framing header with whitespace before its colon, or a signed length,
# is refused and the connection closed (RFC 9112): read as nng reads it,
# the length would go unread and the body be taken for a next request
raw_post() { # HEADER: the status line and body of one raw POST
	python3 - "${URL#http://}" "$TOK" "$1" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
body = b'{"tool":"fs.read","args":{"path":"/workspace/a"}}'
hdr = sys.argv[3].replace("N", str(len(body)))
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(b"POST /v1/authorize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
          sys.argv[2].encode() + b"\r\nContent-Type: application/json\r\n" +
          hdr.encode() + b"\r\n\r\n" + body)
got = b""
while True:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    got += chunk
head, _, rest = got.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode(), rest.decode().strip().replace("\n", " "))
PY
}
for h in 'Content-Length : N' 'Transfer-Encoding : chunked\r\nContent-Length: N' 'Content-Length: +N'; do
	got=$(raw_post "$(printf "$h")")
	assert_match '^HTTP/1\.1 400 .*"code":"bad_request"' "$got" "refused framing: $h"
	[ "$(printf '%s' "$got" | grep -o 'HTTP/1.1' | wc -l)" -eq 1 ] ||
		fail "framing $h: more than one response: $got"
done
# nng's parser refuses a tab in a header line outright (no answer)
got=$(raw_post "$(printf 'Content-Length\t: N')")
case $got in *200*) fail "a tab before the colon was served: $got" ;; esac
got=$(raw_post 'Content-Length: N')
assert_match '^HTTP/1\.1 200 ' "$got" "plain Content-Length still served"

# --- 404, 405 ---------------------------------------------------------
http GET /v2/authorize
expect_error 404 not_found "unknown path"
http GET /
expect_error 404 not_found "root"
http GET /v1/authorize
expect_error 405 method_not_allowed "GET /v1/authorize"
assert_contains "Allow: POST" "$HDRS" "405 Allow header"
http DELETE /healthz
expect_error 405 method_not_allowed "DELETE /healthz"
http POST "/v1/requests/$R_P" -H 'Content-Type: application/json' --data-binary '{}'
expect_error 405 method_not_allowed "POST /v1/requests/ID"

# --- the README's clients ---------------------------------------------
cat >"$TEST_TMP/client.py" <<'EOF'
import json, os, urllib.request

def authorize(tool, args, wait_ms=120000):
    req = urllib.request.Request(
        os.environ["COUNTERSIGN_URL"] + "/v1/authorize",
        data=json.dumps({"tool": tool, "args": args, "wait_ms": wait_ms}).encode(),
        headers={"Authorization": "Bearer " + os.environ["COUNTERSIGN_TOKEN"],
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=wait_ms / 1000 + 30) as resp:
        return json.load(resp)  # 200 for allow, deny and pending alike

d = authorize("fs.read", {"path": "/workspace/report.txt"})
print(d["decision"], d["request"], d.get("reason", ""))
EOF
OUT=$(COUNTERSIGN_URL=$URL COUNTERSIGN_TOKEN=$TOK python3 "$TEST_TMP/client.py") ||
	fail "the README's Python client failed"
assert_match '^allow r-' "$OUT" "Python client"
if command -v node >/dev/null; then
	cat >"$TEST_TMP/client.mjs" <<'EOF'
async function authorize(tool, args, waitMs = 120000) {
  const res = await fetch(`${process.env.COUNTERSIGN_URL}/v1/authorize`, {
    method: "POST",
    headers: { Authorization: `Bearer ${process.env.COUNTERSIGN_TOKEN}`,
               "Content-Type": "application/json" },
    body: JSON.stringify({ tool, args, wait_ms: waitMs }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status} ${body.code}: ${body.message}`);
  return body; // {decision: "allow" | "deny" | "pending", request, reason, ...}
}
const d = await authorize("fs.write", { path: "/etc/shadow" });
console.log(d.decision, d.request);
EOF
	OUT=$(COUNTERSIGN_URL=$URL COUNTERSIGN_TOKEN=$TOK node "$TEST_TMP/client.mjs") ||
		fail "the README's fetch client failed"
	assert_match '^deny r-' "$OUT" "fetch client"
else
	echo "t_http: node not installed: fetch client not run" >&2
fi

# --- a parked HTTP call at shutdown gets its deny -----------------------
(
	curl -sS -o "$TEST_TMP/sd.body" -H "Authorization: Bearer $TOK" \
	    -H 'Content-Type: application/json' \
	    --data-binary "{\"tool\":\"email.send\",\"args\":$EXTERNAL,\"wait_ms\":30000}" \
	    "$URL/v1/authorize"
) &
sd=$!
wait_for 5 one_pending || fail "the last call never became pending"
stop_daemon "$H"
wait_for 5 not_running "$sd" || fail "curl still waiting after shutdown"
wait "$sd"
OUT=$(cat "$TEST_TMP/sd.body")
assert_eq "deny|error|shutdown" "$(jf '[.decision, .by, .reason] | join("|")')" \
    "parked HTTP call at shutdown"
assert_rc 0 ctl "$H" audit verify

# --- one token holds at most three quarters of the slots: calls parked
# by a client that hung up (nng does not tell the handler) leave room ---
H6=$(new_home '{"http_listen": "127.0.0.1:0", "agent_contexts": 4}')
start_daemon "$H6"
URL6=$(grep -o 'HTTP ingress on http://[^ ]*' "$H6/daemon.log" | tail -n 1 |
    awk '{print $4}')
TOKA=$(mint "$H6" --agent park-agent --user alice --scope 'tool:email.*')
TOKB=$(mint "$H6" --agent web-agent --user bob --scope 'tool:fs.*')
parked=()
for i in 1 2 3; do
	curl -sS -o /dev/null -H "Authorization: Bearer $TOKA" \
	    -H 'Content-Type: application/json' \
	    --data-binary "{\"tool\":\"email.send\",\"args\":$EXTERNAL,\"wait_ms\":60000,\"session\":\"s-park-$i\"}" \
	    "$URL6/v1/authorize" &
	parked+=($!)
done
three_pending() { [ "$(ctl "$H6" pending --json | grep -c .)" -eq 3 ]; }
wait_for 10 three_pending || fail "the three parked calls never became pending"
URL_SAVE=$URL
URL=$URL6
TOK_SAVE=$TOK
TOK=$TOKA
authorize "{\"tool\":\"email.send\",\"args\":$EXTERNAL,\"wait_ms\":60000,\"session\":\"s-park-4\"}"
expect_error 429 busy "a fourth call of the parking token"
assert_contains "Retry-After: 1" "$HDRS" "429 Retry-After"
kill "${parked[@]}" 2>/dev/null
wait "${parked[@]}" 2>/dev/null
TOK=$TOKB
authorize '{"tool":"fs.read","args":{"path":"/workspace/a"}}'
assert_eq 200 "$CODE" "another token after the parking client hung up"
assert_eq allow "$(jf .decision)" "another token's call decided"
URL=$URL_SAVE
TOK=$TOK_SAVE
stop_daemon "$H6"

# --- off by default; loopback only unless allowed ----------------------
H2=$(new_home)
start_daemon "$H2"
grep -q 'HTTP ingress' "$H2/daemon.log" && fail "HTTP ingress on without http_listen"
stop_daemon "$H2"
H3=$(new_home '{"http_listen": "0.0.0.0:0"}')
assert_rc 1 "$CSD" --home "$H3" --foreground
assert_contains "loopback" "$ERR" "non-loopback refusal"
H4=$(new_home '{"http_listen": "http://[::1]:0/", "http_allow_remote": false}')
start_daemon "$H4"
assert_match 'HTTP ingress on http://\[::1\]:[0-9]+' "$(cat "$H4/daemon.log")" "IPv6 loopback"
stop_daemon "$H4"

# --- connections that never finish a request: the ingress is stopped
# before they take the descriptors the agent socket needs ---------------
H5=$(new_home '{"http_listen": "127.0.0.1:0"}')
start_daemon "$H5"
URL5=$(grep -o 'HTTP ingress on http://[^ ]*' "$H5/daemon.log" | tail -n 1 |
    awk '{print $4}')
TOK5=$(mint "$H5" --agent web-agent --user alice --scope 'tool:fs.*')
prlimit --pid "$(daemon_pid "$H5")" --nofile=160:160 ||
	fail "prlimit on the daemon"
python3 - "${URL5#http://}" 200 >"$TEST_TMP/slow.out" 2>&1 <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
held = []
for _ in range(int(sys.argv[2])):
    try:
        s = socket.create_connection((host, int(port)), timeout=2)
        s.sendall(b"POST /v1/authorize HTTP/1.1\r\nHost: x\r\n")
        held.append(s)
    except OSError:
        pass
print(len(held), flush=True)
time.sleep(20)
PY
slow=$!
wait_for 15 grep -q 'HTTP ingress stopped' "$H5/daemon.log" ||
	fail "the ingress kept its connections: $(tail -n 3 "$H5/daemon.log")"
assert_rc 0 ctl "$H5" ask --token "$TOK5" --tool fs.read --session s-slow \
    --args '{"path":"/workspace/a"}'
wait_for 5 sh -c "[ \"\$(sqlite3 '$H5/audit.db' \"SELECT COUNT(*) FROM audit WHERE kind = 'ingress'\")\" = 1 ]" ||
	fail "no ingress audit row"
curl -sS -m 2 -o /dev/null "$URL5/healthz" 2>/dev/null &&
	fail "the stopped ingress still answers"
kill "$slow" 2>/dev/null
wait "$slow" 2>/dev/null
assert_rc 0 ctl "$H5" audit verify
stop_daemon "$H5"
exit 0
