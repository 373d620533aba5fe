#!/usr/bin/env bash
# make.sh: `make screenshots`: PNGs of the real console. Starts countersignd
# on a scratch home with policies/default.json, feeds it simulated agents
# and a few calls that wait for an operator, runs bin/countersign in a
# private tmux server, visits each view with send-keys, captures the pane
# with its colours (capture-pane -e), turns that into HTML with aha and
# renders it with headless Chromium.
# Writes queue.png (queue + detail pane), sessions.png, history.png,
# help.png (120x40) and queue-80x24.png next to this script.
# Environment: BIN (binaries, default bin), OUT (output folder, default
# screenshots/), SCALE (device pixels per CSS pixel, default 2), KEEP=1
# keeps the scratch folder (ANSI and HTML files).
# SPDX-License-Identifier: MIT

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root" || exit 1
BIN=${BIN:-bin}
OUT=${OUT:-$here}
FONT_PX=15      # terminal font size
LINE_PX=18      # terminal line height
PAD_PX=14       # border around the terminal
SCALE=${SCALE:-2} # device pixels per CSS pixel (sharp when scaled down)

die() {
	echo "screenshots: $*" >&2
	exit 1
}

for b in countersignd countersignctl countersign; do
	[ -x "$BIN/$b" ] || die "$BIN/$b is not built (run make)"
done
missing=
for t in tmux aha jq chromium; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	echo "screenshots: installing$missing (tests/deps.sh --screenshots)" >&2
	tests/deps.sh --screenshots || die "missing:$missing"
fi
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] ||
	echo "screenshots: DejaVu Sans Mono is not installed; box drawing" \
	    "may look off (apt-get install fonts-dejavu-core)" >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/cs-shots.XXXXXX") || exit 1
home=$work/home
mkdir -m 700 "$home" || exit 1
sock=cs-shots-$$ # one private tmux server per console: $sock-NAME
dpid=
waiters=()

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	tmux -L "$sock-big" kill-server 2>/dev/null
	tmux -L "$sock-small" kill-server 2>/dev/null
	for p in ${waiters[@]+"${waiters[@]}"}; do
		kill -TERM "$p" 2>/dev/null
	done
	if [ -n "$dpid" ]; then
		kill -TERM "$dpid" 2>/dev/null
		wait "$dpid" 2>/dev/null
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "screenshots: scratch files kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$BIN/countersignctl" --home "$home" "$@"; }
# tm NAME ARGS...: tmux on the private server of console NAME, whose one
# session is also called NAME.
tm() {
	local name=$1
	shift
	tmux -L "$sock-$name" "$@"
}

# --- a daemon with believable traffic ------------------------------------
"$BIN/countersignd" --home "$home" --policy "$root/policies/default.json" \
    --foreground 2>"$work/countersignd.log" &
dpid=$!
for _ in $(seq 100); do
	ctl pending >/dev/null 2>&1 && break
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
ctl pending >/dev/null 2>&1 || {
	cat "$work/countersignd.log" >&2
	die "countersignd did not start"
}

# Mostly auto-allowed reads, some denials, a trickle of escalations (they
# do not wait: the queue keeps them until an operator or the deadline).
ctl simulate --agents 6 --rate 5 --duration 6s --seed 7 >"$work/sim.log" ||
	die "simulate failed: $(cat "$work/sim.log")"

# mint USER AGENT SESSION TRUST SCOPE PURPOSE [CHAIN]: a token for the
# simulated sessions (same sid, so the calls join them).
mint() {
	ctl token mint --user "$1" --agent "$2" --session "$3" --trust "$4" \
	    --scope "$5" --purpose "$6" --consent consent-2026-0113 \
	    --ttl 8h ${7:+--actor-chain "$7"}
}

# ask TOKEN TOOL ARGS: a call whose agent waits for an operator.
ask() {
	ctl ask --token "$1" --tool "$2" --args "$3" --wait 20m \
	    >>"$work/asks.log" 2>&1 &
	waiters+=("$!")
	sleep 0.3
}

# Tokens for the simulated sessions' agents (same sid: their calls join
# the sessions simulate opened).
tok_alice=$(mint alice code-assistant s-alice-7 3 \
    'tool:fs.* tool:shell.exec tool:http.get' \
    'refactor the billing service') || die "token mint"
tok_bob=$(mint bob support-bot s-bob-7 2 \
    'tool:email.* tool:db.query tool:http.get' 'answer customer tickets') ||
	die "token mint"
tok_carol=$(mint carol finance-agent s-carol-7 2 \
    'tool:payments.* tool:db.query tool:email.send' \
    'pay supplier invoices for March') || die "token mint"
tok_dave=$(mint dave research-agent s-dave-7 2 \
    'tool:http.* tool:fs.read tool:fs.write' \
    'summarise competitor pricing pages' planner) || die "token mint"

# A few calls refused outright: by policy, and by admission (the token's
# scope does not cover db.execute). ask exits 1 on deny.
ctl ask --token "$tok_alice" --tool shell.exec \
    --args '{"cmd":"rm -rf ~/ --no-preserve-root"}' >/dev/null
ctl ask --token "$tok_dave" --tool fs.write \
    --args '{"path":"/etc/cron.d/pricing-scraper","bytes":212}' >/dev/null
ctl ask --token "$tok_bob" --tool db.execute \
    --args '{"sql":"DROP TABLE customers"}' >/dev/null

# Operators work through the queue for a few seconds: approve what is
# routine, deny what is not, leave two calls of each tool waiting.
sleep 2
ctl pending --json >"$work/pending.json" || die "pending --json"
jq -r -s 'group_by(.tool)[] | .[2:][] | [.request, .tool, .approvers] | @tsv' \
    "$work/pending.json" | while IFS=$'\t' read -r req tool approvers; do
	case $tool in
	shell.exec | payments.transfer | http.get | fs.*)
		if [ "$approvers" = 1 ]; then
			ctl decide "$req" approve >/dev/null
		else
			ctl decide "$req" deny \
			    --reason "duplicate of a call already waiting" \
			    >/dev/null
		fi
		;;
	secrets.*)
		ctl decide "$req" deny \
		    --reason "rotation is scheduled for the maintenance window" \
		    >/dev/null
		;;
	*)
		ctl decide "$req" deny \
		    --reason "not part of the stated purpose" >/dev/null
		;;
	esac
	sleep 0.4
done
sleep 1

# A grant: every fs.read of alice's session, for an hour.
ctl ask --token "$tok_alice" --tool fs.read \
    --args '{"path":"/workspace/billing/.env"}' >/dev/null
env_read=$(ctl pending --json | jq -r 'select(.args.path == "/workspace/billing/.env") | .request')
[ -n "$env_read" ] || die "the .env read did not reach the queue"
ctl decide "$env_read" approve --for-session --ttl 1h >/dev/null

# Calls that wait for a human while the console looks at them.
ask "$tok_bob" email.send '{"to":"j.meyer@gmail.com","subject":"Re: refund for order 55120","body":"Hello Jana, the refund of 49.90 EUR is on its way."}'
ask "$tok_alice" shell.exec '{"cmd":"git push --force origin main","cwd":"/workspace/billing"}'
ask "$tok_dave" http.post '{"url":"https://pastebin.example.net/api/create","body":"competitor pricing summary (draft)"}'
# two operators needed, and an argument string that tries to take over
# the terminal (title, colours, clipboard, bidi): it must show inert
ask "$tok_carol" payments.transfer '{"amount":48200,"currency":"EUR","to":"GB29NWBK60161331926819","memo":"invoice 7781 \u001b]0;APPROVED\u0007\u001b[32mpre-approved by CFO\u001b[0m \u001b]52;c;cm0gLXJmIH4=\u0007\u202efdp.exe"}'
sleep 0.5
big=$(ctl pending --json | jq -r 'select(.args.amount == 48200) | .request')
[ -n "$big" ] || die "the transfer did not reach the queue"
ctl decide "$big" approve >/dev/null # one of two approvals
ctl trust s-frank-7 1 --reason "deletes outside its cleanup list" >/dev/null
ctl trust s-erin-7 2 --reason "credential rotation postponed" >/dev/null

# --- the console, one pane per size --------------------------------------

# pane NAME COLS ROWS: a console in its own tmux session.
pane() {
	tm "$1" -f /dev/null new-session -d -s "$1" -x "$2" -y "$3" \
	    "env LANG=C.UTF-8 LC_ALL=C.UTF-8 $BIN/countersign --home $home" ||
		die "tmux new-session"
	tm "$1" set-option -g status off >/dev/null
	wait_screen "$1" "op $(id -un)"
}

# wait_screen NAME TEXT: poll the pane until it shows TEXT.
wait_screen() {
	for _ in $(seq 100); do
		tm "$1" capture-pane -p -t "$1" | grep -qF -- "$2" && return 0
		sleep 0.1
	done
	tm "$1" capture-pane -p -t "$1" >&2
	die "the console never showed '$2'"
}

# keys NAME KEY...: send keys, then let the console draw.
keys() {
	local name=$1
	shift
	tm "$name" send-keys -t "$name" "$@"
	sleep 0.6
}

# select NAME TEXT: move the cursor (j) until the highlighted row (black
# on cyan) shows TEXT.
select_row() {
	for _ in $(seq 60); do
		tm "$1" capture-pane -e -p -t "$1" | grep -F $'\e[46m' |
		    grep -qF -- "$2" && return 0
		keys "$1" j
	done
	die "no row with '$2' to select"
}

# shot NAME FILE COLS ROWS: capture the pane and render FILE.png.
shot() {
	local ansi=$work/$2.ansi html=$work/$2.html
	local w=$(((($3 * FONT_PX * 1233 + 2047) / 2048) + 2 * PAD_PX))
	local h=$(($4 * LINE_PX + 2 * PAD_PX))

	tm "$1" capture-pane -e -p -N -t "$1" >"$ansi" || die "capture-pane"
	if tm "$1" capture-pane -p -t "$1" | grep -q $'[\x01-\x08\x0b-\x1f\x7f]'; then
		die "$2: a control character reached the screen"
	fi
	{
		cat <<EOF
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>countersign $2</title>
<style>
html, body { margin: 0; background: #14171c; }
body { padding: ${PAD_PX}px; }
pre { margin: 0; color: #d4d7dc; font: ${FONT_PX}px/${LINE_PX}px
  "DejaVu Sans Mono", "Liberation Mono", monospace;
  font-variant-ligatures: none; }
.reset { color: #d4d7dc; } .bg-reset { background: #14171c; }
.dimgray { color: #14171c; } .red { color: #f2645a; }
.green { color: #7bc96f; } .yellow { color: #e8c55a; }
.blue { color: #5c8fe6; } .purple { color: #c58af9; }
.cyan { color: #4cc4d4; } .white { color: #eef0f3; }
.bg-black { background: #14171c; } .bg-red { background: #c9413a; }
.bg-green { background: #4f9e46; } .bg-yellow { background: #d9ad2b; }
.bg-blue { background: #3563c9; } .bg-purple { background: #8b5cc4; }
.bg-cyan { background: #3aa8b8; } .bg-white { background: #c8ccd2; }
.inverted { color: #14171c; } .bg-inverted { background: #d4d7dc; }
.underline { text-decoration: underline; } .bold { font-weight: bold; }
.italic { font-style: italic; }
</style></head><body><pre>
EOF
		aha --no-header --stylesheet <"$ansi"
		echo '</pre></body></html>'
	} >"$html"
	chromium --headless --no-sandbox --disable-gpu --disable-quic \
	    --no-first-run --disable-background-networking \
	    --disable-component-update --disable-sync --hide-scrollbars \
	    --user-data-dir="$work/chromium" \
	    --force-device-scale-factor="$SCALE" \
	    --screenshot="$OUT/$2.png" --window-size="$w,$h" \
	    "file://$html" >"$work/chromium.log" 2>&1 ||
		{ cat "$work/chromium.log" >&2; die "chromium failed on $2"; }
	[ -s "$OUT/$2.png" ] || die "chromium wrote no $2.png"
	echo "screenshots: $OUT/$2.png"
}

mkdir -p "$OUT" || exit 1
pane big 120 40
sleep 5.5 # the "connected" notice fades, key hints show
select_row big 1/2 # the transfer that waits for a second operator
shot big queue 120 40
keys big s
select_row big s-alice-7 # the session with a grant
shot big sessions 120 40
keys big h
wait_screen big "audit store"
shot big history 120 40
keys big 1
keys big '?'
shot big help 120 40

pane small 80 24
sleep 5.5
select_row small 1/2
shot small queue-80x24 80 24
