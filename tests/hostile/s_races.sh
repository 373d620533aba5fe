#!/usr/bin/env bash
# s_races: approve racing deny racing the approval timeout (hostile_race):
# RACES trials, each an escalated call with a second copy of it parked on
# the agent socket, then decisions fired at the same moment or right at
# the deadline. Every trial must end with exactly one final outcome in the
# store, the one the parked agent received, made by at most one of the
# racing decisions (the other one is told "already decided").
# Counters: races_two_outcomes/races_total decisions mismatches lost.
# SPDX-License-Identifier: MIT
SECTION=races
. "$(dirname "$0")/lib.sh"

TRIALS=${RACES:-100}
H=$(hnew_home '{"max_pending":100000}')
hstart "$H" --policy "$HPOLICY" || fail "countersignd did not start"
TOK=$(mint "$H" --agent racer --user alice --scope 'tool:race.*' --ttl 4h)
OUTF=$TEST_TMP/races
t0=$(date +%s%N)
timeout 1800 "$TOOLS/hostile_race" -a "ipc://$H/agent.ipc" -c "ipc://$H/control.ipc" \
    -T "$TOK" -n "$TRIALS" -j 16 -o "$OUTF" -p "race$$" ||
	fail "hostile_race failed"
note "$TRIALS trials in $(($(ms_since "$t0") / 1000)) s"
[ "$(grep -c . "$OUTF")" -eq "$TRIALS" ] ||
	bad mismatches "only $(grep -c . "$OUTF") of $TRIALS trials reported"

# the store's word on every request: "decision by count"
q "$H" "SELECT request || ' ' || MIN(decision) || ' ' || MIN(by_) || ' ' || COUNT(*) FROM audit WHERE kind = 'decision' GROUP BY request" |
    sort >"$TEST_TMP/finals"

# verdict_of DECIDE: the outcome a successful decide stands for.
verdict_of() {
	case $1 in
	decided:approve) echo allow ;;
	decided:deny) echo deny ;;
	*) echo "" ;;
	esac
}

declare -A final_dec final_by final_n
while read -r r d b c; do
	final_dec[$r]=$d final_by[$r]=$b final_n[$r]=$c
done <"$TEST_TMP/finals"

while read -r kind req adec aby d1 d2; do
	count races_total
	case $adec in
	setup-*)
		bad mismatches "race $kind: the trial could not start ($adec $req)"
		continue
		;;
	esac
	count decisions
	n=${final_n[$req]:-0}
	if [ "$n" -ne 1 ]; then
		bad races_two_outcomes "race $kind $req: $n final outcomes in the store (agent got $adec by $aby; decides: $d1 $d2)"
		continue
	fi
	sdec=${final_dec[$req]} sby=${final_by[$req]}
	if [ "$adec" != "$sdec" ]; then
		bad races_two_outcomes "race $kind $req: the agent got $adec by $aby, the store says $sdec by $sby (decides: $d1 $d2)"
		continue
	fi
	won=0 verdict=""
	for d in "$d1" "$d2"; do
		case $d in
		decided:*)
			won=$((won + 1))
			verdict=$(verdict_of "$d")
			;;
		refused:already_decided | refused:not_found | none | awaiting_quorum) ;;
		*) bad mismatches "race $kind $req: a decide got '$d'" ;;
		esac
	done
	if [ "$won" -gt 1 ]; then
		bad races_two_outcomes "race $kind $req: both racing decisions were told 'decided' ($d1, $d2); the store says $sdec"
	elif [ "$won" -eq 1 ]; then
		[ "$sby|$sdec" = "operator|$verdict" ] ||
			bad races_two_outcomes "race $kind $req: a decide to $verdict was told 'decided', the store says $sdec by $sby"
	else
		case $kind in
		approve-deny | approve-approve)
			bad mismatches "race $kind $req: neither operator decision took effect ($d1, $d2)"
			;;
		*)
			[ "$sby|$sdec" = "timeout|deny" ] ||
				bad mismatches "race $kind $req: no decide won, yet the store says $sdec by $sby"
			;;
		esac
	fi
done <"$OUTF"

awk '{ k[$1]++ } END { for (x in k) printf "%s=%d ", x, k[x]; print "" }' "$OUTF" >"$TEST_TMP/kinds"
awk '{ if ($5 ~ /^decided/ || $6 ~ /^decided/) op++; else t++ } END { printf "operator won %d, timeout won %d\n", op, t }' "$OUTF" >>"$TEST_TMP/kinds"
note "trials: $(tr '\n' ' ' <"$TEST_TMP/kinds")"
[ "$(pending_count "$H")" -eq 0 ] ||
	bad lost "$(pending_count "$H") raced calls still pending after every trial ended"
hstop "$H" || bad crashes "countersignd did not stop cleanly"
store_check "$H" stopped
