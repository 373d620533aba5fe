#!/usr/bin/env bash
# cerbos.sh: the side-by-side peer of `make bench`: install the Cerbos PDP
# from the npm registry into bench/.peers/ (once), start it on 127.0.0.1
# with policies/default.json translated in bench/peers/cerbos/, drive it
# with wrk at the same concurrency and mix as countersign-bench, and print
# one line: peer=cerbos version=... decisions_per_s=... p50_us=... ...
# Optional: when npm, the registry, wrk or the binary is unavailable it
# says why and exits 0 without a result line. Never part of `make test`.
# Environment: BIN (countersignctl, default bin), BENCH_SECONDS (5),
# BENCH_CONNECTIONS (16), CERBOS_LOG_LEVEL (error), CERBOS_DEBUG=1 (print
# the PDP log when the translated policy disagrees).
# SPDX-License-Identifier: MIT

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
BIN=${BIN:-bin}
secs=${BENCH_SECONDS:-5}
conns=${BENCH_CONNECTIONS:-16}
peers=$root/bench/.peers
pkg=@cerbos/cerbos-linux-x64
cerbos=$peers/node_modules/$pkg/cerbos-linux-x64

skip() {
	echo "cerbos: skipped: $*"
	exit 0
}

[ "$(uname -sm)" = "Linux x86_64" ] || skip "the npm package is for Linux x86_64"
[ -x "$BIN/countersignctl" ] || skip "$BIN/countersignctl is not built"
for tool in curl openssl base64; do
	command -v "$tool" >/dev/null || skip "$tool is not installed"
done
if ! command -v wrk >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "cerbos: installing wrk"
		apt-get install -y wrk >/dev/null 2>&1 ||
		    { apt-get update >/dev/null 2>&1 &&
		      apt-get install -y wrk >/dev/null 2>&1; }
	fi
	command -v wrk >/dev/null || skip "wrk is not installed (apt-get install wrk)"
fi
if [ ! -x "$cerbos" ]; then
	command -v npm >/dev/null || skip "npm is not installed"
	echo "cerbos: installing $pkg from the npm registry into bench/.peers/"
	mkdir -p "$peers"
	timeout 300 npm install --no-audit --no-fund --prefix "$peers" "$pkg" \
	    >"$peers/npm.log" 2>&1 ||
	    skip "npm install $pkg failed (registry unreachable?): $(tail -1 "$peers/npm.log")"
	[ -x "$cerbos" ] || skip "the package holds no cerbos-linux-x64 binary"
fi
version=$("$cerbos" --version 2>/dev/null | head -1)
[ -n "$version" ] || skip "$cerbos does not run"

work=$(mktemp -d "${TMPDIR:-/tmp}/cs-cerbos.XXXXXX") || exit 1
cpid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	[ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# Tokens: the claims of countersign-bench's tokens, minted by
# countersignctl, then signed again (HS256, same key) with a "kid" header,
# which Cerbos's JWT check requires; the bad one is signed with another key.
mkdir -m 700 "$work/home"
openssl rand -hex 32 >"$work/home/token.key"
chmod 600 "$work/home/token.key"
key=$(tr -d '\n' <"$work/home/token.key")
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
minted=$(COUNTERSIGN_HOME=$work/home "$BIN/countersignctl" token mint \
    --agent bench-agent --user alice \
    --scope 'tool:fs.* tool:http.* tool:db.* tool:payments.*' \
    --purpose 'benchmark traffic' --ttl 1h) ||
    skip "countersignctl token mint failed"
head=$(printf '{"alg":"HS256","typ":"JWT","kid":"bench"}' | b64url)
claims=$(printf '%s' "$minted" | cut -d. -f2)
sign() { printf '%s.%s' "$head" "$claims" | openssl dgst -sha256 -hmac "$1" -binary | b64url; }
good=$head.$claims.$(sign "$key")
bad=$head.$claims.$(sign "not-the-key-$key")
printf '{"keys":[{"kty":"oct","kid":"bench","alg":"HS256","use":"sig","k":"%s"}]}\n' \
    "$(printf '%s' "$key" | b64url)" >"$work/keys.jwks"

http=$((20000 + RANDOM % 20000))
grpc=$((http + 1))
cat >"$work/conf.yaml" <<EOF
server:
  httpListenAddr: "127.0.0.1:$http"
  grpcListenAddr: "127.0.0.1:$grpc"
storage:
  driver: disk
  disk:
    directory: "$here/cerbos/policies"
    watchForChanges: false
auxData:
  jwt:
    keySets:
      - id: bench
        local:
          file: "$work/keys.jwks"
audit:
  enabled: false
telemetry:
  disabled: true
EOF
CERBOS_NO_TELEMETRY=1 "$cerbos" server --config="$work/conf.yaml" \
    --log-level="${CERBOS_LOG_LEVEL:-error}" >"$work/cerbos.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$http/_cerbos/health" >/dev/null && break
	kill -0 "$cpid" 2>/dev/null || break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$http/_cerbos/health" >/dev/null ||
    { cat "$work/cerbos.log"; skip "the PDP did not start"; }

# body TOOL ARGS TOKEN: one check request
body() {
	printf '{"requestId":"bench","principal":{"id":"bench-agent","roles":["agent"],"attr":{"trust":2}},"resources":[{"actions":["invoke"],"resource":{"kind":"tool","id":"call","attr":{"tool":"%s","args":%s}}}],"auxData":{"jwt":{"token":"%s"}}}\n' \
	    "$1" "$2" "$3"
}
read_args='{"path":"/workspace/src/main.c"}'
get_args='{"url":"https://api.example.com/v1/items?page=2"}'
query_args='{"sql":"select id, name from users where id = 42"}'
drop_args='{"sql":"DROP TABLE users"}'
write_args='{"path":"/etc/passwd","content":"x"}'
shell_args='{"cmd":"ls -la"}'

# The translation must decide the mix as countersign does.
check() {
	local want=$1 got
	got=$(body "$2" "$3" "$4" | curl -s -o "$work/reply" -w '%{http_code}' \
	    -H 'Content-Type: application/json' --data-binary @- \
	    "http://127.0.0.1:$http/api/check/resources")
	if [ "$got" = 200 ]; then
		got=$(grep -o '"invoke":"EFFECT_[A-Z]*"' "$work/reply" | cut -d'"' -f4)
	else
		got="HTTP $got"
	fi
	case "$want:$got" in
	allow:EFFECT_ALLOW | deny:EFFECT_DENY | admission:"HTTP 4"*) return 0 ;;
	esac
	echo "cerbos: $2 $3: expected $want, got $got: $(cat "$work/reply")"
	return 1
}
ok=0
check allow fs.read "$read_args" "$good" &&
check allow http.get "$get_args" "$good" &&
check allow db.query "$query_args" "$good" &&
check deny db.execute "$drop_args" "$good" &&
check deny fs.write "$write_args" "$good" &&
check admission fs.read "$read_args" "$bad" &&
check deny shell.exec "$shell_args" "$good" && ok=1
if [ "$ok" != 1 ]; then
	[ -n "${CERBOS_DEBUG:-}" ] && cat "$work/cerbos.log"
	skip "the translated policy does not decide the mix as countersign does"
fi

# The mix of countersign-bench (weights 40/20/20/5/5/5/5), fixed order.
{
	for _ in $(seq 40); do body fs.read "$read_args" "$good"; done
	for _ in $(seq 20); do body http.get "$get_args" "$good"; done
	for _ in $(seq 20); do body db.query "$query_args" "$good"; done
	for _ in $(seq 5); do body db.execute "$drop_args" "$good"; done
	for _ in $(seq 5); do body fs.write "$write_args" "$good"; done
	for _ in $(seq 5); do body fs.read "$read_args" "$bad"; done
	for _ in $(seq 5); do body shell.exec "$shell_args" "$good"; done
} | awk 'BEGIN { srand(1) } { print rand() "\t" $0 }' | sort -k1,1 |
    cut -f2- >"$work/bodies"

threads=$(nproc)
[ "$threads" -gt "$conns" ] && threads=$conns
line=$(BODIES="$work/bodies" wrk -t"$threads" -c"$conns" -d"${secs}s" \
    -s "$here/cerbos/mix.lua" "http://127.0.0.1:$http" 2>&1 |
    grep '^decisions_per_s=')
[ -n "$line" ] || skip "wrk printed no result"
echo "peer=cerbos version=$version connections=$conns audit=off $line"
echo "cerbos: non_2xx are the bad-signature calls (5% of the mix), refused by the PDP's JWT check"
