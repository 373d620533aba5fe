#!/usr/bin/env bash
# s_faults: the audit store fails under a running daemon, then heals.
# Faults: a read-only store (chattr +i), a file size limit (prlimit
# --fsize, what `ulimit -f` sets), a full filesystem (a small tmpfs, when
# mounting is allowed), a locked store (another sqlite3 holds BEGIN
# EXCLUSIVE), fsync/fdatasync failing (LD_PRELOAD hostile_shim.so), and
# fsync failing followed by kill -9. PRAGMA max_page_count is not used:
# it is a setting of the daemon's own connection.
# During each fault: every call is denied with reason audit_unavailable,
# also when its agent resends it or polls it while the commit is failing
# (allows_during_fault counts any allow), operator commands are refused,
# and consoles get a health event; once the fault clears, calls are
# allowed again within seconds with a second health event; afterwards
# nothing the daemon answered "denied" shows up as allowed in the store,
# and no change refused during the fault is in force without its audit
# row. Then: the daemon refuses to start on a broken store, and the clock
# checks (deadlines and grant TTLs on CLOCK_MONOTONIC, token times on the
# wall clock with the configured leeway).
# Counters: audit_faults allows_during_fault crashes mismatches
# without_audit decisions.
# SPDX-License-Identifier: MIT
SECTION=faults
. "$(dirname "$0")/lib.sh"

SHIM=$TOOLS/hostile_shim.so
FLAG=$TEST_TMP/fsync.flag
CLOCK=$TEST_TMP/clock.offset
echo 0 >"$CLOCK"
SCOPE='tool:fs.* tool:email.* tool:ops.*'
MNT=""

# unmount the tmpfs on the way out, whatever happens
trap 'cleanup; [ -z "$MNT" ] || umount -l "$MNT" 2>/dev/null' EXIT

# event_seen FILE TEXT: an event line holding TEXT arrived.
event_seen() {
	grep -q -- "$2" "$1" 2>/dev/null
}

# fault_home NAME [DIR]: a home (under DIR if given) with a daemon
# preloading the shim, a subscriber on its events and a token.
fault_home() {
	local name=$1
	if [ -n "${2-}" ]; then
		H=$2/home
		mkdir -m 700 "$H"
		printf '{"socket_mode":"0666","operators":["root","nobody"]}\n' >"$H/config.json"
	else
		H=$(hnew_home)
	fi
	DENV=("LD_PRELOAD=$SHIM" "HOSTILE_FSYNC_FLAG=$FLAG" "HOSTILE_CLOCK_FILE=$CLOCK")
	hstart "$H" --policy "$HPOLICY" || fail "$name: countersignd did not start on $H"
	TOK=$(mint "$H" --agent faulty --user alice --scope "$SCOPE" --ttl 2h)
	EVENTS=$TEST_TMP/events.$name
	: >"$EVENTS"
	"$TOOLS/hostile_sub" -u "ipc://$H/events.ipc" -o "$EVENTS" &
	SUB_PID=$!
	wait_for 5 event_seen "$EVENTS" subscribed || fail "$name: no subscriber"
	sleep 0.2
}

# end_fault_home: stop the subscriber and the daemon, check the store.
end_fault_home() {
	kill "$SUB_PID" 2>/dev/null
	wait "$SUB_PID" 2>/dev/null
	if alive "$H"; then
		hstop "$H" || bad crashes "$1: countersignd did not stop cleanly"
	fi
	store_check "$H" stopped
}

# fault_calls TAG: calls made while the store is failing, all at once:
# reads that policy allows, mail that policy escalates, a parked ask, and
# operator commands (posture, trust, an approval for the session of a
# call escalated before the fault). Results in $TEST_TMP/fc.TAG.*.
fault_calls() {
	local tag=$1 k pids=()
	for k in 1 2 3 4 5 6 7 8; do
		timeout 30 "$CTL" --home "$H" ask --token "$TOK" --id "$tag-r$k" \
		    --session "$tag-s$k" --tool fs.read \
		    --args "{\"path\":\"/workspace/$tag/$k\"}" \
		    >"$TEST_TMP/fc.$tag.agent.r$k" 2>&1 &
		pids+=($!)
	done
	for k in 1 2; do
		timeout 30 "$CTL" --home "$H" ask --token "$TOK" --id "$tag-m$k" \
		    --session "$tag-m$k" --tool email.send \
		    --args "{\"to\":\"x$k@elsewhere.org\"}" --wait 0 \
		    >"$TEST_TMP/fc.$tag.agent.m$k" 2>&1 &
		pids+=($!)
	done
	timeout 30 "$CTL" --home "$H" ask --token "$TOK" --id "$tag-p" \
	    --session "$tag-p" --tool email.send \
	    --args '{"to":"parked@elsewhere.org"}' --wait 3s \
	    >"$TEST_TMP/fc.$tag.agent.p" 2>&1 &
	pids+=($!)
	# the agent resends a read while its commit is still failing, and
	# polls the escalated call an operator approves meanwhile
	(
		sleep 1
		timeout 30 "$CTL" --home "$H" ask --token "$TOK" --id "$tag-r1" \
		    --session "$tag-s1" --tool fs.read \
		    --args "{\"path\":\"/workspace/$tag/1\"}"
	) >"$TEST_TMP/fc.$tag.agent.r1-resent" 2>&1 &
	pids+=($!)
	(
		sleep 1.2
		timeout 30 "$CTL" --home "$H" status "$PRE_REQUEST"
	) >"$TEST_TMP/fc.$tag.poll.status" 2>&1 &
	pids+=($!)
	timeout 30 "$CTL" --home "$H" posture lockdown --reason "during $tag" \
	    >"$TEST_TMP/fc.$tag.op.posture" 2>&1 &
	pids+=($!)
	timeout 30 "$CTL" --home "$H" trust "$PRE_SESSION" 4 --reason "during $tag" \
	    >"$TEST_TMP/fc.$tag.op.trust" 2>&1 &
	pids+=($!)
	timeout 30 "$CTL" --home "$H" decide "$PRE_REQUEST" approve --for-session --ttl 1h \
	    >"$TEST_TMP/fc.$tag.op.decide" 2>&1 &
	pids+=($!)
	for k in "${pids[@]}"; do
		wait "$k"
		echo $? >>"$TEST_TMP/fc.$tag.rcs"
	done
}

# receipt WHAT REPLY: an audit_seq in a reply names that request's row;
# a denial whose row could not be written carries none.
receipt() {
	local seq req row
	seq=$(printf '%s' "$2" | jq -r '.audit_seq // empty')
	req=$(printf '%s' "$2" | jq -r '.request // empty')
	[ -n "$seq" ] || return 0
	RECEIPTS+=("$seq $req $1")
}

# check_receipts: after recovery, every audit_seq handed out names its
# own request's row, not another event's.
RECEIPTS=()
check_receipts() {
	local r seq req what row n=0 example=""
	for r in ${RECEIPTS[@]+"${RECEIPTS[@]}"}; do
		read -r seq req what <<<"$r"
		row=$(q "$H" "SELECT COALESCE(request, kind) FROM audit WHERE seq = $seq")
		if [ "$row" != "$req" ]; then
			n=$((n + 1))
			[ -n "$example" ] || example="$what ($req) was denied with audit_seq $seq, and seq $seq is ${row:-missing}"
		fi
	done
	bad_n mismatches "$n" "denials carrying the audit_seq of a row never written, later reused or missing: e.g. $example"
	RECEIPTS=()
}

# judge_fault_calls TAG: nothing allowed, everything denied for the
# right reason, operator commands refused; the denied requests go to
# $TEST_TMP/denied.TAG.
judge_fault_calls() {
	local tag=$1 f out dec reason r
	: >"$TEST_TMP/denied.$tag"
	for f in "$TEST_TMP"/fc."$tag".agent.*; do
		out=$(grep -m1 '^{' "$f")
		dec=$(printf '%s' "$out" | jq -r '.decision // .type // "none"' 2>/dev/null)
		reason=$(printf '%s' "$out" | jq -r '.reason // .code // ""' 2>/dev/null)
		case $dec in
		allow)
			# a commit can still succeed on a full disk (the WAL
			# reuses space it already holds): an allow whose row is
			# in the store, read now, was durable before it was
			# sent; one without its row is the finding
			r=$(printf '%s' "$out" | jq -r '.request // ""' 2>/dev/null)
			if [ -n "$r" ] && [ "$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND request = '$r' AND decision = 'allow'")" = 1 ]; then
				count decisions
				note "$tag: ${f##*.} allowed with its row committed (the store still took that commit)"
			else
				bad allows_during_fault "$tag: ${f##*.} allowed during the fault: ${out:0:200}"
			fi
			;;
		pending)
			# the same for an escalation: its pending row taken by
			# the store is a call rightly waiting for an operator
			r=$(printf '%s' "$out" | jq -r '.request // ""' 2>/dev/null)
			if [ -n "$r" ] && [ "$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'pending' AND request = '$r'")" = 1 ]; then
				count decisions
				note "$tag: ${f##*.} pending with its row committed (the store still took that commit)"
			else
				bad mismatches "$tag: ${f##*.} pending during the fault without its row: ${out:0:200}"
			fi
			;;
		deny)
			count decisions
			printf '%s\n' "$out" | jq -r .request >>"$TEST_TMP/denied.$tag"
			[ "$reason" = audit_unavailable ] ||
				bad mismatches "$tag: ${f##*.} denied with reason '$reason', want audit_unavailable"
			receipt "$tag: ${f##*.}" "$out"
			;;
		*)
			bad mismatches "$tag: ${f##*.} got no decision: $(head -c 200 "$f")"
			;;
		esac
	done
	if grep -q '"decision":"allow"' "$TEST_TMP/fc.$tag.poll.status"; then
		bad allows_during_fault "$tag: polling the call approved during the fault answered allow: $(head -c 200 "$TEST_TMP/fc.$tag.poll.status")"
	fi
	for f in "$TEST_TMP"/fc."$tag".op.*; do
		if grep -qE '^(approved|posture|trust|ok)|"ok":true' "$f" &&
		    ! grep -q audit_unavailable "$f"; then
			bad mismatches "$tag: operator command ${f##*.} acknowledged during the fault: $(head -c 200 "$f")"
		fi
	done
}

# recovered: a read is allowed again.
recovered() {
	serving "$H" "$TOK"
}

# episode NAME INJECT CLEAR: one fault, from injection to recovery.
episode() {
	local name=$1 inject=$2 clear=$3 t0 ms r
	count audit_faults
	note "fault: $name"
	serving "$H" "$TOK" || fail "$name: not serving before the fault"
	# a call escalated before the fault, for the approval during it
	PRE_SESSION="$name-pre"
	assert_rc 2 ctl "$H" ask --token "$TOK" --session "$PRE_SESSION" \
	    --tool email.send --args '{"to":"pre@elsewhere.org"}' --wait 0
	PRE_REQUEST=$(jf .request)
	pre_events=$(wc -l <"$EVENTS")
	$inject || fail "$name: could not inject the fault"
	fault_calls "$name"
	if ! alive "$H"; then
		# a dead daemon allows nothing; the crash is the finding
		wait "$(daemon_pid "$H")"
		bad crashes "$name: countersignd died during the fault (exit status $?): $(grep -v '^20..-' "$H/daemon.log" | tail -n 2 | tr '\n' ' ')"
		grep -l '"decision":"allow"' "$TEST_TMP"/fc."$name".agent.* 2>/dev/null |
		    while read -r f; do
			bad allows_during_fault "$name: ${f##*.} allowed during the fault"
		done
		$clear
		hstart "$H" --policy "$HPOLICY" || fail "$name: countersignd does not restart"
		return
	fi
	judge_fault_calls "$name"
	wait_for 10 event_seen "$EVENTS" '"audit":"unavailable"' ||
		bad mismatches "$name: no health event telling consoles the store is unavailable"
	t0=$(date +%s%N)
	$clear || fail "$name: could not clear the fault"
	if wait_for 15 recovered; then
		ms=$(ms_since "$t0")
		note "$name: recovered ${ms} ms after the fault cleared"
		[ "$ms" -le 10000 ] || bad mismatches "$name: recovery took $ms ms"
	else
		bad mismatches "$name: no recovery within 15 s of the fault clearing"
	fi
	wait_for 5 event_seen "$EVENTS" '"audit":"ok"' ||
		bad mismatches "$name: no health event telling consoles the store is back"
	# refused changes are not in force without their audit rows
	r=$(hello "$H" | jq -r '.posture // empty')
	if [ "$r" = lockdown ] && [ "$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'posture' AND json_extract(event, '$.to') = 'lockdown'")" = 0 ]; then
		bad without_audit "$name: posture lockdown, refused during the fault, is in force with no posture row"
		assert_rc 0 ctl "$H" posture normal --reason "hostile: undo"
	fi
	r=$(hello "$H" | jq -r --arg s "$PRE_SESSION" '.sessions[] | select(.session == $s or .id == $s) | .trust' | head -n 1)
	if [ "$r" = 4 ] && [ "$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'trust' AND session = '$PRE_SESSION'")" = 0 ]; then
		bad without_audit "$name: trust 4, refused during the fault, is in force for $PRE_SESSION with no trust row"
	fi
	run ctl "$H" ask --token "$TOK" --session "$PRE_SESSION" --tool email.send \
	    --args '{"to":"after@elsewhere.org"}' --wait 0
	if [ "$(jf '.decision // ""')" = allow ]; then
		if [ "$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'grant' AND session = '$PRE_SESSION'")" = 0 ]; then
			bad without_audit "$name: a session grant refused during the fault allows calls after it, with no grant row (${OUT:0:160})"
		fi
	fi
	# nothing answered "denied" is stored as allowed
	check_denied "$name"
	check_receipts
}

# check_denied TAG: the requests denied during fault TAG have no allow
# row in the store.
check_denied() {
	local r
	while read -r r; do
		[ -n "$r" ] && [ "$r" != null ] || continue
		[ "$(q "$H" "SELECT COUNT(*) FROM audit WHERE kind = 'decision' AND request = '$r' AND decision = 'allow'")" = 0 ] ||
			bad mismatches "$1: $r was answered deny (audit_unavailable) but the store says allow"
	done <"$TEST_TMP/denied.$1"
}

# ---- read-only store --------------------------------------------------
ro_on() { chattr +i "$H/audit.db" "$H/audit.db-wal"; }
ro_off() { chattr -i "$H/audit.db" "$H/audit.db-wal"; }
# ---- file size limit (ulimit -f) --------------------------------------
# only the soft limit: lowering the hard one could not be undone
fsize_on() { prlimit --pid "$(daemon_pid "$H")" --fsize=1024:; }
fsize_off() { alive "$H" || return 0; prlimit --pid "$(daemon_pid "$H")" --fsize=unlimited:; }
# ---- locked store -------------------------------------------------------
lock_on() {
	rm -f "$TEST_TMP/lock.in"
	mkfifo "$TEST_TMP/lock.in"
	sqlite3 "$H/audit.db" <"$TEST_TMP/lock.in" >"$TEST_TMP/lock.out" 2>&1 &
	LOCKER=$!
	exec {LOCK_FD}>"$TEST_TMP/lock.in"
	printf 'PRAGMA busy_timeout=10000;\nBEGIN EXCLUSIVE;\nSELECT %s;\n' "'locked'" >&"$LOCK_FD"
	wait_for 10 grep -q locked "$TEST_TMP/lock.out"
}
lock_off() {
	printf 'ROLLBACK;\n.quit\n' >&"$LOCK_FD"
	exec {LOCK_FD}>&-
	wait "$LOCKER"
}
# ---- fsync failing --------------------------------------------------------
fsync_on() { rm -f "$FLAG.hit"; touch "$FLAG"; }
fsync_off() { rm -f "$FLAG"; }
# ---- full filesystem -------------------------------------------------------
full_on() {
	dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null
	sync
	true
}
full_off() { rm -f "$MNT/filler"; }

fault_home store
episode readonly ro_on ro_off
episode fsize fsize_on fsize_off
episode locked lock_on lock_off
episode fsync fsync_on fsync_off
[ -e "$FLAG.hit" ] || bad mismatches "fsync: the shim never saw a sync call while the fault was on"
end_fault_home store

# ---- a full filesystem: the home on a small tmpfs --------------------------
MNT=$TEST_TMP/tmpfs
mkdir -m 700 "$MNT"
if mount -t tmpfs -o size=2m,mode=0700 tmpfs "$MNT" 2>/dev/null; then
	fault_home diskfull "$MNT"
	episode diskfull full_on full_off
	end_fault_home diskfull
	umount "$MNT" || umount -l "$MNT"
else
	note "fault: diskfull skipped (cannot mount a tmpfs here); the fsize episode stands in"
fi
MNT=""

# ---- fsync fails, then the daemon is killed before the store heals ---------
# The page cache still holds what the failed commit wrote: after kill -9
# and a restart, the store must not claim outcomes the agents were never
# given.
count audit_faults
note "fault: fsync then kill -9"
fault_home fsynccrash
serving "$H" "$TOK" || fail "fsync then kill: not serving"
fsync_on
: >"$TEST_TMP/denied.fsynccrash"
for k in 1 2 3 4; do
	run ctl "$H" ask --token "$TOK" --id "fc-$k" --session "fc-$k" --tool fs.read \
	    --args "{\"path\":\"/workspace/fc/$k\"}"
	case $(jf '.decision // "none"') in
	allow) bad allows_during_fault "fsync then kill: allowed during the fault: ${OUT:0:200}" ;;
	deny)
		count decisions
		jf .request >>"$TEST_TMP/denied.fsynccrash"
		receipt "fsync then kill: fc-$k" "$OUT"
		;;
	*) bad mismatches "fsync then kill: no decision: ${OUT:0:200} ${ERR:0:200}" ;;
	esac
done
kill -9 "$(daemon_pid "$H")"
wait "$(daemon_pid "$H")" 2>/dev/null
fsync_off
hstart "$H" --policy "$HPOLICY" || bad integrity_fail "fsync then kill: countersignd does not restart"
check_denied fsynccrash
check_receipts
end_fault_home fsynccrash

# ---- startup refuses a broken audit store ----------------------------------
# refuses NAME PREPARE: prepare a home's store, then the daemon must exit
# non-zero with a message about the audit store.
refuses() {
	local name=$1 h rc
	h=$(hnew_home)
	hstart "$h" --policy "$HPOLICY" || fail "startup/$name: countersignd did not start on a fresh home"
	hstop "$h" || bad crashes "startup/$name: countersignd did not stop cleanly"
	$2 "$h"
	timeout 20 "$CSD" --home "$h" --foreground --policy "$HPOLICY" \
	    >"$TEST_TMP/start.out" 2>&1
	rc=$?
	count bad_inputs
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
		bad mismatches "startup/$name: countersignd ran on a broken audit store (status $rc)"
		pkill -KILL -f "countersignd --home $h " 2>/dev/null
	elif ! grep -qi 'audit store' "$TEST_TMP/start.out"; then
		bad mismatches "startup/$name: refused without saying why: $(head -c 200 "$TEST_TMP/start.out")"
	fi
	chattr -R -i "$h" 2>/dev/null
}
store_dir() { rm -f "$1"/audit.db*; mkdir "$1/audit.db"; }
store_garbage() { rm -f "$1"/audit.db*; head -c 65536 /dev/urandom >"$1/audit.db"; }
store_truncated() { rm -f "$1"/audit.db-*; truncate -s 1500 "$1/audit.db"; }
store_corrupt() {
	# overwrite the b-tree page header of every page after the first
	local size pages p
	sqlite3 "$1/audit.db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
	size=$(stat -c %s "$1/audit.db")
	pages=$((size / 4096))
	for ((p = 1; p < pages; p++)); do
		printf '\x07\xff\xff\xff\xff\x00\x01' |
		    dd of="$1/audit.db" bs=1 seek=$((p * 4096)) conv=notrunc 2>/dev/null
	done
}
store_readonly() { chattr +i "$1/audit.db"; rm -f "$1/audit.db-wal" "$1/audit.db-shm"; }
store_newer() { sqlite3 "$1/audit.db" 'PRAGMA user_version = 99;'; }
store_wal_dir() { rm -f "$1/audit.db-wal"; mkdir "$1/audit.db-wal"; }
note "startup on a broken store"
refuses directory store_dir
refuses garbage store_garbage
refuses truncated store_truncated
refuses corrupt store_corrupt
refuses readonly store_readonly
refuses newer-schema store_newer
refuses wal-is-a-directory store_wal_dir

# ---- clocks ------------------------------------------------------------------
note "clock: deadlines and grants on the monotonic clock, tokens on the wall clock"
H=$(new_home '{"leeway_s":30}')
echo 0 >"$CLOCK"
DENV=("LD_PRELOAD=$SHIM" "HOSTILE_CLOCK_FILE=$CLOCK")
hstart "$H" --policy "$HPOLICY" || fail "clock: countersignd did not start"
TOK=$(mint "$H" --agent clock --user alice --scope "$SCOPE" --ttl 2h)
# an approval deadline (ops.quick: 2 s) while the wall clock jumps
for jump in 3600 -3600; do
	echo 0 >"$CLOCK"
	t0=$(date +%s%N)
	ctl "$H" ask --token "$TOK" --session "clock$jump" --tool ops.quick \
	    --args '{"n":1}' --wait 20s >"$TEST_TMP/clock.out" 2>&1 &
	job=$!
	sleep 0.5
	echo "$jump" >"$CLOCK"
	wait "$job"
	ms=$(ms_since "$t0")
	OUT=$(grep -m1 '^{' "$TEST_TMP/clock.out")
	count decisions
	[ "$(jf '[.decision, .by] | join("|")')" = "deny|timeout" ] ||
		bad mismatches "clock: wall clock jumped ${jump}s: expected a timeout deny, got ${OUT:0:200}"
	[ "$ms" -ge 1700 ] && [ "$ms" -le 4000 ] ||
		bad mismatches "clock: wall clock jumped ${jump}s: a 2 s approval deadline fired after $ms ms"
done
echo 0 >"$CLOCK"
# a session grant of 3 s while the wall clock jumps forward and back
assert_rc 2 ctl "$H" ask --token "$TOK" --session clock-grant --tool ops.change --args '{"n":1}' --wait 0
assert_rc 0 ctl "$H" decide "$(jf .request)" approve --for-session --ttl 3s
echo 7200 >"$CLOCK"
run ctl "$H" ask --token "$TOK" --session clock-grant --tool ops.change --args '{"n":2}' --wait 0
[ "$(jf '[.decision, .by] | join("|")')" = "allow|grant" ] ||
	bad mismatches "clock: a 3 s grant ended when the wall clock jumped 2 h: ${OUT:0:200}"
echo -7200 >"$CLOCK"
sleep 3.5
run ctl "$H" ask --token "$TOK" --session clock-grant --tool ops.change --args '{"n":3}' --wait 0
[ "$(jf '.by // ""')" != grant ] ||
	bad mismatches "clock: a 3 s grant still applied 3.5 s later with the wall clock set back: ${OUT:0:200}"
echo 0 >"$CLOCK"
# token times on the wall clock, with the 30 s leeway
SHORT=$(mint "$H" --agent clock --user alice --scope "$SCOPE" --ttl 20s)
echo 40 >"$CLOCK"
run ctl "$H" ask --token "$SHORT" --session clock-t1 --tool fs.read --args '{"path":"/workspace/t"}'
[ "$(jf .decision)" = allow ] ||
	bad mismatches "clock: a token 20 s from expiry, clock +40 s, leeway 30 s, was refused: ${OUT:0:200}"
echo 90 >"$CLOCK"
run ctl "$H" ask --token "$SHORT" --session clock-t2 --tool fs.read --args '{"path":"/workspace/t"}'
[ "$(jf '[.decision, .by] | join("|")')" = "deny|admission" ] ||
	bad forged_accepted "clock: a token expired beyond the leeway (clock +90 s) was admitted: ${OUT:0:200}"
count forged_total
echo 0 >"$CLOCK"
hstop "$H" || bad crashes "clock: countersignd did not stop cleanly"
store_check "$H" stopped
