#!/usr/bin/env bash
# t_mcp: countersign-mcp, the MCP stdio gateway. First against `cat` as the
# "server" (what reaches the server is echoed back): framing, unchanged
# relay, denials, batches, parse errors, oversize messages, fail closed,
# and the child's lifecycle (exit status, stderr, signals, stdin close).
# Then end to end with real MCP software from the npm registry: the
# official TypeScript SDK client (tests/mcp/client.mjs) driving
# @modelcontextprotocol/server-filesystem through the gateway, with an
# operator approving and denying escalated calls.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"

MCP=$BIN/countersign-mcp
[ -x "$MCP" ] || fail "$MCP is not built"

H=$(new_home)
cat >"$H/mcp.json" <<'EOF'
{"policy": "mcp-test", "version": "1",
 "defaults": {"decision": "ask", "approval_timeout_s": 60, "on_timeout": "deny",
              "reason": "an operator decides"},
 "tools": {"mcp.*.read_file": {"risk": "low"}, "mcp.*.write_file": {"risk": "medium"}},
 "rules": [
  {"id": "mcp-read", "then": "allow", "reason": "reads run unattended",
   "if": {"tool": {"in": ["mcp.fs.read_file", "mcp.fs.list_directory",
                          "mcp.filesystem.read_file"]}}},
  {"id": "mcp-no-write", "if": {"tool": "mcp.fs.write_file"}, "then": "deny",
   "reason": "this agent may not overwrite files"}
 ]}
EOF
start_daemon "$H" --policy "$H/mcp.json"
TOKF=$H/agent.jwt
mint "$H" --agent fs-agent --user alice --scope 'tool:mcp.*' >"$TOKF"
chmod 600 "$TOKF"

# gw ARGS...: the gateway on H with the agent's token, stdin from $IN.
gw() {
	"$MCP" --home "$H" --token-file "$TOKF" "$@" <"$IN"
}

# reply ID [FILE]: the line of FILE (default $OUT as a file) with that id.
reply() {
	jq -c --argjson id "$1" 'select(type == "object" and .id == $id)' "$2"
}

# --- relay through `cat`: what the server receives comes back ---------------
IN=$TEST_TMP/in.jsonl
PING='{"jsonrpc":"2.0","id":1,"method":"ping"}'
READ='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/srv/a.txt"}}}'
WRITE='{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/srv/a.txt","content":"x"}}}'
SMUGGLE='{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"write_file","arguments":{}},"method":"ping"}'
{
	printf '%s\n' "$PING" "$READ" "$WRITE" 'this is not json' "$SMUGGLE"
	printf '%s\n' '[{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/srv/b"}}},{"jsonrpc":"2.0","id":5,"method":"ping"}]'
	# a batch inside a batch is refused whole, not passed on unasked
	printf '%s\n' '[[{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/srv/c"}}}],{"jsonrpc":"2.0","id":11,"method":"ping"}]'
	printf '%s\n' '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{}}}'
	printf '%s\n' '{"jsonrpc":"2.0","method":"tools/call","params":{"name":"write_file","arguments":{}}}'
	printf '%s\n' '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"edit_file","arguments":{"path":"/srv/a.txt"}}}'
	# a message over the 16 MiB cap is refused whole; the next one flows
	printf '{"jsonrpc":"2.0","id":99,"method":"ping","params":{"pad":"'
	head -c $((17 << 20)) /dev/zero | tr '\0' a
	printf '"}}\n'
	printf '%s\n' '{"jsonrpc":"2.0","id":9,"method":"ping"}'
} >"$IN"
assert_rc 0 gw --server fs --wait 1s --grace 10s -- cat
GOT=$TEST_TMP/got.jsonl
printf '%s\n' "$OUT" >"$GOT"

grep -qxF "$PING" "$GOT" || fail "ping not relayed unchanged"
grep -qxF "$READ" "$GOT" || fail "allowed tools/call not forwarded unchanged"
grep -qxF '{"jsonrpc":"2.0","id":9,"method":"ping"}' "$GOT" ||
	fail "message after an oversize one not relayed"
assert_eq 0 "$(jq -c 'select(type == "object" and .method == "tools/call" and .id != 2)' "$GOT" | grep -c .)" \
    "tools/call other than the allowed one reaching the server"

r=$(reply 3 "$GOT")
assert_eq true "$(jf .result.isError "$r")" "denied call is an error result"
assert_match '^countersign denied: this agent may not overwrite files \(request r-[0-9a-f]+-[0-9]+\)$' \
    "$(jf '.result.content[0].text' "$r")" "denial text"
assert_eq 2 "$(jq -c 'select(type == "object" and .error.code == -32700 and .id == null)' "$GOT" | grep -c .)" \
    "parse errors (not JSON, duplicate key)"
grep -q 'this is not json' "$GOT" && fail "an unparsable line reached the server"
r=$(jq -c 'select(type == "object" and .id == 7)' "$GOT")
assert_eq -32602 "$(jf .error.code "$r")" "tools/call without a name"
r=$(jq -c 'select(type == "object" and .id == null and .error.code == -32600)' "$GOT")
assert_contains "larger than 16 MiB" "$(jf .error.message "$r")" "oversize message"
# batch: the allowed part is forwarded as a batch, the denial answered
assert_eq '[{"jsonrpc":"2.0","id":5,"method":"ping"}]' \
    "$(jq -c 'select(type == "array" and .[0].method == "ping")' "$GOT")" "forwarded part of the batch"
r=$(jq -c 'select(type == "array" and .[0].id == 4) | .[0]' "$GOT")
assert_eq true "$(jf .result.isError "$r")" "denied call of the batch"
grep -q '"id":1[01]' "$GOT" && fail "a batch nested in a batch reached the server"
r=$(jq -c 'select(type == "object" and .id == null and .error.code == -32600 and (.error.message | contains("batch inside a batch")))' "$GOT")
assert_eq -32600 "$(jf .error.code "$r")" "nested batch refused"
# an escalated call nobody decides within --wait is denied
r=$(reply 8 "$GOT")
assert_eq true "$(jf .result.isError "$r")" "undecided escalation"
assert_contains "no operator decided within 1s" "$(jf '.result.content[0].text' "$r")" \
    "undecided escalation text"
assert_contains "authorizing tools/call of cat as mcp.fs.TOOL" "$ERR" "start-up line"

# what the daemon audited
assert_eq "allow|policy|mcp-read|/srv/a.txt" \
    "$(history_json "$H" --tool mcp.fs.read_file | jq -r 'select(.kind == "decision") | [.decision, .by, .rule, .args.path] | join("|")')" \
    "audit of the allowed call"
assert_eq "deny|policy|mcp-no-write" \
    "$(history_json "$H" --tool mcp.fs.write_file | jq -r 'select(.kind == "decision") | [.decision, .by, .rule] | join("|")' | sort -u)" \
    "audit of the denied calls"
assert_eq 3 "$(history_json "$H" --tool mcp.fs.write_file | jq -r 'select(.kind == "decision")' | jq -s length)" \
    "denied write calls audited (single, batch, notification)"

# a tools/call between two CRs of one message (a server that ends lines
# at CR would read it alone) reaches the server as one line, CRs as
# spaces; a message nested deeper than 64 levels is refused
{
	printf '{"x":\r{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/etc/passwd"}}}\r}\n'
	python3 -c 'print("{\"jsonrpc\":\"2.0\",\"id\":22,\"method\":\"ping\",\"params\":{\"a\":" + "[" * 1000 + "]" * 1000 + "}}")'
	printf '%s\n' '{"jsonrpc":"2.0","id":23,"method":"ping"}'
} >"$IN"
assert_rc 0 gw --server fs -- cat
printf '%s\n' "$OUT" >"$GOT"
grep -q $'\r' "$GOT" && fail "a CR reached the server"
assert_eq '{"x": {"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/etc/passwd"}}} }' \
    "$(grep -F '"x":' "$GOT")" "the CR-wrapped message, as one line"
r=$(jq -c 'select(type == "object" and .error.code == -32600)' "$GOT")
assert_contains "nested deeper than 64 levels" "$(jf .error.message "$r")" "deep message refused"
grep -qxF '{"jsonrpc":"2.0","id":23,"method":"ping"}' "$GOT" || fail "message after a deep one not relayed"

# a call cancelled on the very next line is not run, even when allowed
printf '%s\n' '{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/srv/c"}}}' \
    '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":31}}' >"$IN"
assert_rc 0 gw --server fs -- cat
printf '%s\n' "$OUT" >"$GOT"
assert_eq 0 "$(jq -c 'select(type == "object" and .id == 31)' "$GOT" | grep -c .)" \
    "a call cancelled right after it was sent reached the server"

# a server that stalls in the middle of a line holds up neither the
# gateway's own answers nor its shutdown when the client leaves
printf '%s\n' '{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/srv/x","content":"x"}}}' \
    'not json' >"$IN"
start=$(date +%s%N)
assert_rc 143 timeout 20 "$MCP" --home "$H" --token-file "$TOKF" --server fs --grace 1s \
    -- python3 -c 'import sys, time
sys.stdout.write("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"")
sys.stdout.flush()
time.sleep(60)' < <(sleep 1; cat "$IN")
[ "$(ms_since "$start")" -lt 10000 ] || fail "the gateway took $(ms_since "$start") ms to stop a stalled server"
printf '%s\n' "$OUT" >"$GOT"
assert_eq true "$(jf .result.isError "$(reply 41 "$GOT")")" "denial sent while the server stalled mid-line"

# a configured name replaces mcp.<server>.<tool> (outside this token's
# scope: denied at admission)
printf '%s\n' '{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/srv/m"}}}' \
    '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"move_file","arguments":{"source":"/srv/m"}}}' >"$IN"
printf '{"move_file": "fs.move"}\n' >"$TEST_TMP/map.json"
assert_rc 0 gw --server fs --map read_file=fs.read --map-file "$TEST_TMP/map.json" -- cat
printf '%s\n' "$OUT" >"$GOT"
assert_contains 'countersign denied: admission: tool "fs.read" is outside the token scope' \
    "$(jf '.result.content[0].text' "$(reply 11 "$GOT")")" "mapped call checked against the scope"
assert_eq "fs.read|admission|/srv/m" \
    "$(history_json "$H" --tool fs.read | jq -r 'select(.kind == "decision") | [.tool, .by, .args.path] | join("|")')" \
    "--map name audited"
assert_eq "fs.move|admission" \
    "$(history_json "$H" --tool fs.move | jq -r 'select(.kind == "decision") | [.tool, .by] | join("|")')" \
    "--map-file name audited"

# --- fail closed: no daemon, no token ----------------------------------------
printf '%s\n' "$PING" "$READ" >"$IN"
H0=$(new_home)
assert_rc 0 "$MCP" --home "$H0" --token-file "$TOKF" --server fs -- cat <"$IN"
printf '%s\n' "$OUT" >"$GOT"
grep -qxF "$PING" "$GOT" || fail "ping not relayed without a daemon"
r=$(reply 2 "$GOT")
assert_eq true "$(jf .result.isError "$r")" "call without a daemon"
assert_contains "cannot reach countersignd" "$(jf '.result.content[0].text' "$r")" "unreachable text"
assert_contains "fail closed" "$(jf '.result.content[0].text' "$r")" "unreachable text"

assert_rc 0 "$MCP" --home "$H" --token-file "$TEST_TMP/no-such.jwt" --server fs -- cat <"$IN"
printf '%s\n' "$OUT" >"$GOT"
assert_contains "every tool call is denied" "$ERR" "warning about the token file"
assert_contains "no token" "$(jf '.result.content[0].text' "$(reply 2 "$GOT")")" "call without a token"

assert_rc 64 "$MCP" --home "$H" -- cat
assert_rc 64 "$MCP" --home "$H" --token-file "$TOKF" --map 'read_file=bad name' -- cat

# --- child lifecycle ------------------------------------------------------------
IN=/dev/null
assert_rc 7 gw --server t -- sh -c 'exit 7'
assert_rc 3 gw --server t -- sh -c 'echo server-says-hi >&2; exit 3'
assert_contains server-says-hi "$ERR" "server stderr passed through"
assert_rc 127 gw --server t -- "$TEST_TMP/no-such-server"
assert_contains "cannot run" "$ERR" "exec failure"

# stdin closed: a server that ignores EOF gets SIGTERM after the grace time
t0=$(date +%s%N)
assert_rc 143 gw --server t --grace 300ms -- sh -c "echo \$\$ >'$TEST_TMP/child.pid'; exec sleep 30"
[ "$(ms_since "$t0")" -lt 5000 ] || fail "the server outlived a closed stdin"
not_running "$(cat "$TEST_TMP/child.pid")" || fail "the server still runs"

# SIGTERM to the gateway is forwarded; the gateway exits with the server
"$MCP" --home "$H" --token-file "$TOKF" --server t -- sh -c \
    "echo \$\$ >'$TEST_TMP/trap.pid'; trap 'exit 42' TERM; while :; do sleep 0.05; done" \
    < <(sleep 30) &
gpid=$!
wait_for 5 test -s "$TEST_TMP/trap.pid" || fail "server did not start"
sleep 0.2
kill -TERM "$gpid"
wait_for 5 not_running "$gpid" || fail "gateway still runs after SIGTERM"
wait "$gpid"
assert_eq 42 "$?" "exit status after a forwarded SIGTERM"

# kill -9 of the gateway takes the server with it
"$MCP" --home "$H" --token-file "$TOKF" --server t -- sh -c \
    "echo \$\$ >'$TEST_TMP/orphan.pid'; exec sleep 30" < <(sleep 30) &
gpid=$!
wait_for 5 test -s "$TEST_TMP/orphan.pid" || fail "server did not start"
{ kill -9 "$gpid"; wait "$gpid"; } 2>/dev/null
wait_for 5 not_running "$(cat "$TEST_TMP/orphan.pid")" ||
	fail "the server outlived a killed gateway"

# --- end to end with the official SDK and the filesystem server -------------
MCPDIR=$ROOT/tests/mcp
SERVER=$MCPDIR/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js
SDK=$MCPDIR/node_modules/@modelcontextprotocol/sdk/package.json

# skip_loudly WHY: the npm registry cannot be reached; say so where nobody
# can miss it, and pass.
skip_loudly() {
	local msg
	msg=$(printf '%s\n' \
	    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!' \
	    "!!! t_mcp: SKIPPED the end-to-end MCP test: $1" \
	    '!!! (the gateway checks against cat above did run)' \
	    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!')
	echo "$msg"
	echo "$msg" >&2
	{ echo "$msg" >/dev/tty; } 2>/dev/null
	exit 0
}

command -v node >/dev/null && command -v npm >/dev/null ||
	fail "node and npm are not installed (tests/deps.sh installs them)"
if [ ! -f "$SERVER" ] || [ ! -f "$SDK" ]; then
	echo "t_mcp: installing the MCP SDK and filesystem server into tests/mcp/node_modules"
	if ! (cd "$MCPDIR" && timeout 300 npm install --no-package-lock --no-audit \
	    --no-fund --loglevel=error) >"$TEST_TMP/npm.log" 2>&1; then
		if ! timeout 60 npm ping >>"$TEST_TMP/npm.log" 2>&1; then
			cat "$TEST_TMP/npm.log"
			skip_loudly "the npm registry cannot be reached (npm install and npm ping failed)"
		fi
		cat "$TEST_TMP/npm.log" >&2
		fail "npm install failed although the registry answers"
	fi
	[ -f "$SERVER" ] && [ -f "$SDK" ] || fail "npm install did not provide $SERVER"
fi

D=$TEST_TMP/files
mkdir -p "$D"
D=$(cd "$D" && pwd -P)
printf 'hello world\n' >"$D/hello.txt"
head -c $((3 << 20)) /dev/zero | tr '\0' b >"$D/big.txt"

# client SCENARIO OUTFILE [GATEWAY OPTIONS...]: the SDK client through the
# gateway to the filesystem server, in the background; sets CLIENT_PID.
client() {
	local scenario=$1 outf=$2
	shift 2
	(cd "$MCPDIR" && exec node client.mjs "$scenario" "$D" -- "$MCP" \
	    --home "$H" --token-file "$TOKF" "$@" -- node "$SERVER" "$D") \
	    >"$outf" 2>"$outf.err" &
	CLIENT_PID=$!
}

# step NAME FILE: the client's output line for that step.
step() {
	jq -c --arg s "$1" 'select(.step == $s)' "$2"
}
has_step() {
	[ -n "$(step "$1" "$2" 2>/dev/null)" ]
}
# pending_of TOOL: the pending request ids for TOOL in session s-mcp.
pending_of() {
	ctl "$H" pending --json |
	    jq -r --arg t "$1" 'select(.tool == $t and .session == "s-mcp") | .request'
}
one_pending() {
	[ "$(pending_of "$1" | grep -c .)" -eq 1 ]
}
# client_step NAME: wait for the step, or fail with the client's output.
client_step() {
	wait_for 30 has_step "$1" "$C" ||
		fail "client never reached step $1: $(cat "$C" "$C.err")"
}

C=$TEST_TMP/client.out
client main "$C" --server fs --session s-mcp --progress 200ms
client_step cancelled
assert_eq true "$(jf .timedOut "$(step cancelled "$C")")" "client gave up on create_directory"
wait_for 10 one_pending mcp.fs.create_directory || fail "create_directory not pending"
sleep 0.3
assert_rc 0 ctl "$H" decide "$(pending_of mcp.fs.create_directory)" approve

client_step during
s=$(step during "$C")
assert_eq "false|true|false" "$(jf '[.editDone, .pinged, .list.isError] | join("|")' "$s")" \
    "ping and another call completed while the edit waited"
assert_contains "hello.txt" "$(jf .list.text "$s")" "listing during the wait"
wait_for 10 one_pending mcp.fs.edit_file || fail "edit_file not pending"
RE=$(pending_of mcp.fs.edit_file)
# let it report progress once before the operator decides
wait_for 10 grep -q "mcp.fs.edit_file waits for an operator (request $RE)" "$C.err" ||
	fail "no progress while edit_file waited: $(cat "$C.err")"
assert_rc 0 ctl "$H" decide "$RE" approve

client_step move-sent
wait_for 10 one_pending mcp.fs.move_file || fail "move_file not pending"
RM=$(pending_of mcp.fs.move_file)
assert_rc 0 ctl "$H" decide "$RM" deny --reason "keep the file where it is"

wait_for 30 not_running "$CLIENT_PID" || fail "client did not finish"
wait "$CLIENT_PID"
rc=$?
[ "$rc" -eq 0 ] || fail "client exit $rc: $(cat "$C" "$C.err")"
has_step closed "$C" || fail "client did not close cleanly: $(cat "$C.err")"

s=$(step tools "$C")
for t in read_file write_file edit_file move_file list_directory create_directory; do
	jf '.names[]' "$s" | grep -qx "$t" || fail "tools/list lacks $t: $s"
done
assert_eq "false|hello world" "$(jf '[.isError, (.text | rtrimstr("\n"))] | join("|")' "$(step read "$C")")" \
    "allowed read_file"
s=$(step write "$C")
assert_eq true "$(jf .isError "$s")" "denied write_file is an error result"
assert_contains "countersign denied: this agent may not overwrite files" "$(jf .text "$s")" \
    "denied write_file reason"
[ ! -e "$D/blocked.txt" ] || fail "the denied write_file wrote the file"
assert_eq "false|$((3 << 20))" "$(jf '[.isError, .length] | join("|")' "$(step big "$C")")" \
    "4 MiB request and a 3 MiB file (a 6 MiB reply)"
[ ! -e "$D/cancelled" ] || fail "a call the client cancelled ran after its approval"
s=$(step edit "$C")
assert_eq false "$(jf .isError "$s")" "approved edit_file"
assert_contains "+goodbye world" "$(jf .text "$s")" "edit_file diff"
assert_contains "countersign: mcp.fs.edit_file waits for an operator (request $RE)" \
    "$(jf '.progress[0]' "$s")" "progress notification while waiting"
s=$(step move "$C")
assert_eq true "$(jf .isError "$s")" "operator-denied move_file"
assert_eq "countersign denied: keep the file where it is (request $RM)" "$(jf .text "$s")" \
    "operator-denied move_file text"
[ -e "$D/hello.txt" ] && [ ! -e "$D/moved.txt" ] || fail "the denied move_file moved the file"
assert_eq "goodbye world" "$(jf '.text | rtrimstr("\n")' "$(step reread "$C")")" \
    "file after the approved edit"

# every call is in the audit store, bound to session s-mcp
dec() {
	history_json "$H" --session s-mcp --tool "$1" |
	    jq -r 'select(.kind == "decision") | [.decision, .by] | join("|")' | sort | uniq -c |
	    awk '{print $2 "x" $1}' | paste -sd' '
}
assert_eq "allow|policyx3" "$(dec mcp.fs.read_file)" "audited reads"
assert_eq "deny|policyx1" "$(dec mcp.fs.write_file)" "audited write"
assert_eq "allow|operatorx1" "$(dec mcp.fs.edit_file)" "audited edit"
assert_eq "deny|operatorx1" "$(dec mcp.fs.move_file)" "audited move"
assert_eq "allow|operatorx1" "$(dec mcp.fs.create_directory)" "audited cancelled call"
assert_eq "allow|policyx1" "$(dec mcp.fs.list_directory)" "audited listing"
assert_eq "$D/blocked.txt" \
    "$(history_json "$H" --tool mcp.fs.write_file --session s-mcp | jq -r 'select(.kind == "decision") | .args.path')" \
    "audited write arguments"
assert_match 'sha256:[0-9a-f]{64}\]$' \
    "$(history_json "$H" --tool mcp.fs.read_file --session s-mcp | jq -r 'select(.args.padding != null) | .args.padding')" \
    "oversize argument summarized with its digest"
assert_eq "hello" "$(history_json "$H" --tool mcp.fs.edit_file | jq -r 'select(.kind == "decision") | .args.edits[0].oldText')" \
    "audited edit arguments"

# the server name is derived from the command when --server is absent
C2=$TEST_TMP/client2.out
client read "$C2"
wait_for 30 not_running "$CLIENT_PID" || fail "second client did not finish"
wait "$CLIENT_PID" || fail "second client failed: $(cat "$C2.err")"
assert_contains "as mcp.filesystem.TOOL" "$(cat "$C2.err")" "derived server name"
assert_eq false "$(jf .isError "$(step read "$C2")")" "read under the derived name"
assert_eq "allow" "$(history_json "$H" --tool mcp.filesystem.read_file | jq -r 'select(.kind == "decision") | .decision')" \
    "audited under mcp.filesystem.read_file"

assert_rc 0 ctl "$H" audit verify

# more calls waiting for authorization than the gateway runs at once:
# the rest are denied at once, and every call is answered exactly once
IN=$TEST_TMP/flood.jsonl
for i in $(seq 1000 1269); do
	printf '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"edit_file","arguments":{"path":"/srv/f%d"}}}\n' "$i" "$i"
done >"$IN"
assert_rc 0 gw --server fs --wait 2s --grace 10s -- cat
GOT=$TEST_TMP/flood.out
printf '%s\n' "$OUT" >"$GOT"
assert_eq 270 "$(jq -r 'select(type == "object" and .id >= 1000) | .id' "$GOT" | sort -u | grep -c .)" \
    "every flooded call answered"
assert_eq 270 "$(jq -c 'select(type == "object" and .id >= 1000)' "$GOT" | grep -c .)" \
    "every flooded call answered once"
assert_eq 0 "$(jq -c 'select(type == "object" and .method == "tools/call")' "$GOT" | grep -c .)" \
    "no flooded call reached the server"
refused=$(grep -c 'too many calls are waiting for authorization' "$GOT")
[ "$refused" -ge 14 ] || fail "the gateway refused $refused of 270 calls past its cap of 256"

# daemon gone: the listing still works, the call is denied (fail closed)
stop_daemon "$H"
C3=$TEST_TMP/client3.out
client read "$C3" --server fs
wait_for 30 not_running "$CLIENT_PID" || fail "third client did not finish"
wait "$CLIENT_PID" || fail "third client failed: $(cat "$C3.err")"
[ "$(jf '.names | length' "$(step tools "$C3")")" -gt 5 ] || fail "tools/list without a daemon"
s=$(step read "$C3")
assert_eq true "$(jf .isError "$s")" "read without a daemon"
assert_contains "cannot reach countersignd" "$(jf .text "$s")" "read without a daemon: reason"
