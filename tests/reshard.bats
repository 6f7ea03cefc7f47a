#!/usr/bin/env bats
# Live resharding, the acceptance tests: ps-ctl reshard, rebalance and drain move hash
# slots between servers while clients push, a server started against a running job
# joins as a spare, and a drained server can be stopped without loss.
#
# The servers run optimizer.name=sum, so a value is the exact sum of what was pushed
# to it: ps-bench --check-all pushes known gradients all the while the slots move, then
# pulls every key and compares it with that sum, and fails naming the key if an update
# was lost or applied twice. Training jobs run FTRL, whose state moves with the slots,
# and must end with the model of the same job on a cluster where nothing moved.

# (Each @test, and the reference job, run in subshells: that is the point.)
# shellcheck disable=SC2030,SC2031

load helper

bats_require_minimum_version 1.5.0

SUM=(-o optimizer.name=sum)

# Keys in one frame of the data plane and of a slot transfer: both cut frames at 4 MB
# (lib/client.c, lib/migrate.c), at 8 + 4 * dim bytes a key.
FRAME_BYTES=$((4 << 20))

# runq CMD...: like `run --separate-stderr`: sets status, output (stdout), stderr, lines.
runq() {
	status=0
	output=$("$@" 2>"$PS_TMP/stderr") || status=$?
	stderr=$(<"$PS_TMP/stderr")
	mapfile -t lines <<<"$output"
}

teardown() {
	feed_close
	ps_teardown
}

# sum_cluster S W [ARGS...]: a scheduler for S servers and W workers, and S servers,
# all with optimizer.name=sum and ARGS.
sum_cluster() {
	local s=$1 w=$2 i
	shift 2
	start_scheduler "$s" "$w" "${SUM[@]}" "$@" || return 1
	for ((i = 0; i < s; i++)); do
		start_server "${SUM[@]}" "$@" || return 1
	done
}

# server_id NAME: the node id of server NAME (server0, server1...), from its log.
server_id() {
	ps_log_match "$PS_TMP/$1.log" 'node ([0-9]+) serving on ' || return 1
	echo "${BASH_REMATCH[1]}"
}

# json_has JQ-FILTER TEXT: the JSON TEXT passes the filter.
json_has() {
	jq -e "$1" <<<"$2" >/dev/null
}

# bench_started NAME: ps-bench NAME has made its keys on the servers and is in its
# timed rounds of push and pull.
bench_started() {
	ps_wait_line "$1" "$PS_TMP/$1.log" 'keys: creating them took '
}

# bench_passed NAME KEYS DIM ROUNDS: ps-bench NAME, started with --check-all, was
# still running (the moves of the test happened while it pushed); it then exits 0
# having checked every one of its KEYS keys.
bench_passed() {
	local name=$1 n=$2 dim=$3 rounds=$4 pid
	pid=$(ps_pid "$name")
	alive "$pid" || fail "$name had finished before the moves were over: give it more rounds"
	wait_exit "$pid" || fail "$name did not finish"
	[ "$status" -eq 0 ] ||
	    fail "$name exit $status: $(grep -v ' debug: ' "$PS_TMP/$name.log" | tail -n 3)"
	grep -Eq "^check keys=$n dim=$dim rounds=$rounds checked=$n values=$((n * dim))\$" \
	    "$PS_TMP/$name.out" || fail "no check line: $(cat "$PS_TMP/$name.out")"
	# the client met the moves: requests answered MOVED, retried at the new owner
	grep -q ' debug: MOVED: ' "$PS_TMP/$name.log" || fail "$name never got MOVED"
}

# --- moves while ps-bench pushes ---------------------------------------------------

# round_trip KEYS DIM ROUNDS [ARGS...]: on a cluster of 2 servers, ps-bench
# --check-all pushes KEYS keys of DIM floats for ROUNDS rounds while slots 0-8191 move
# to the server that does not own them, then 8192 slots back by a rebalance. Sets
# MOVED_KEYS: keys moved there. ARGS go to every program.
round_trip() {
	local n=$1 dim=$2 rounds=$3 opts from to e0 back
	shift 3
	opts=("${SUM[@]}" -o "model.dim=$dim" "$@")
	sum_cluster 2 1 -o "model.dim=$dim" "$@"
	# servers are ranked in the map in order: rank 0 owns slots 0-8191
	read -r from to <<<"$(ps_servers | tr '\n' ' ')"
	[ -n "$to" ] || fail "no server ids"
	e0=$(ps_status | jq .epoch)
	start_bench bench -v "${opts[@]}" -k "$n" -r "$rounds" --check-all
	bench_started bench
	runq ps_ctl --json reshard --slots 0-8191 --to "$to"
	[ "$status" -eq 0 ] || fail "reshard: exit $status: $stderr"
	json_has ".epoch == $((e0 + 1)) and .moves == 1 and .slots == 8192 and
	    .keys > $((n * 2 / 5)) and .keys < $((n * 3 / 5))" "$output" ||
	    fail "reshard: $output"
	MOVED_KEYS=$(jq .keys <<<"$output")
	runq ps_ctl --json rebalance
	[ "$status" -eq 0 ] || fail "rebalance: exit $status: $stderr"
	json_has ".epoch == $((e0 + 2)) and .moves == 1 and .slots == 8192" "$output" ||
	    fail "rebalance: $output"
	back=$(jq .keys <<<"$output")
	bench_passed bench "$n" "$dim" "$rounds"
	# The rebalance may move either half: the other half, that had never moved, holds
	# the rest of the keys (ps-bench makes none after its warm-up).
	[ "$back" -eq "$MOVED_KEYS" ] || [ "$((back + MOVED_KEYS))" -eq "$n" ] ||
	    fail "$MOVED_KEYS keys moved there, $back back, of $n"
	runq ps_status
	[ "$status" -eq 0 ] || fail "status: exit $status"
	json_has ".epoch == $((e0 + 2)) and ([.nodes[] | select(.role == \"server\") |
	    .slots] | add == 16384 and all(. == 8192) and length == 2)" "$output" ||
	    fail "status after the moves: $output"
	ps_log_has "$PS_TMP/scheduler.log" \
	    "moved 8192 slots \\(0-8191\\) from node $from to node $to: $MOVED_KEYS keys " ||
	    fail "no log of the move there"
	ps_log_has "$PS_TMP/scheduler.log" \
	    "moved 8192 slots \\([0-9-]+\\) from node $to to node $from: $back keys " ||
	    fail "no log of the move back"
}

@test "half the slots move away and back while ps-bench pushes: every value is the exact sum" {
	round_trip 100000 1 150
}

@test "model.dim=4 and more keys than a frame holds: a move and each push span frames" {
	# 4e5 keys over 2 servers: about 2e5 a server, each push and the move of half the
	# slots more than one 4 MB frame of 24-byte keys (174762) holds
	round_trip 400000 4 40
	[ "$MOVED_KEYS" -gt $((FRAME_BYTES / (8 + 4 * 4))) ] ||
	    fail "$MOVED_KEYS keys moved: one frame"
}

@test "frames of 64K: a move in many frames, each push in many, a window of them in flight" {
	# 2730 keys of 4 floats a frame: the move of half the slots takes about 18 frames,
	# sent two at a time, and the destination holds requests for slots whose frames
	# are still on their way
	round_trip 100000 4 60 -o net.max_frame=64K
	[ "$MOVED_KEYS" -gt $((10 * (64 * 1024 - 1024) / (8 + 4 * 4))) ] ||
	    fail "$MOVED_KEYS keys moved: fewer than 10 frames"
}

@test "a server joins a running job as a spare, takes a third of the slots, then one is drained and stopped" {
	local s0 s1 s2 slots
	sum_cluster 2 1
	s0=$(server_id server0)
	s1=$(server_id server1)
	start_bench bench -v "${SUM[@]}" -k 100000 -r 400 --check-all
	bench_started bench
	# a third server, more than cluster.servers
	start_server "${SUM[@]}"
	s2=$(server_id server2)
	grep -q 'joined a running job as a spare' "$PS_TMP/server2.log" ||
	    fail "server2: $(cat "$PS_TMP/server2.log")"
	runq ps_status
	json_has "[.nodes[] | select(.role == \"server\")] | length == 3" "$output" ||
	    fail "not 3 servers: $output"
	json_has ".nodes[] | select(.id == $s2) | .slots == 0 and .state == \"spare\"" \
	    "$output" || fail "server $s2 is not a spare: $output"
	ps_log_has "$PS_TMP/scheduler.log" "server node $s2 registered from .* as a spare" ||
	    fail "the scheduler did not log the spare"

	runq ps_ctl rebalance
	[ "$status" -eq 0 ] || fail "rebalance: exit $status: $stderr"
	[[ "$output" =~ ^moved\ 546[12]\ slots\ \([0-9]+\ keys\)\ in\ 2\ moves ]] ||
	    fail "rebalance: $output"
	slots=$(ps_slots)
	[[ "$slots" =~ ^$s0:546[12]:up\ $s1:546[12]:up\ $s2:546[12]:up$ ]] ||
	    fail "after the rebalance: $slots"

	runq ps_ctl drain "$s0"
	[ "$status" -eq 0 ] || fail "drain: exit $status: $stderr"
	slots=$(ps_slots)
	[ "$slots" = "$s0:0:spare $s1:8192:up $s2:8192:up" ] || fail "after the drain: $slots"
	ps_log_has "$PS_TMP/scheduler.log" "node $s0 drained: it holds no slots" ||
	    fail "no log of the drain"

	kill -TERM "$(ps_pid server0)"
	wait_exit "$(ps_pid server0)" || fail "server0 did not exit on SIGTERM"
	[ "$status" -eq 0 ] || fail "server0 exit $status"
	! grep ': error: ' "$PS_TMP/server0.log" || fail "server0 logged an error"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/scheduler.log" \
	    "server node $s0 left \\(it held no slots\\)"
	! grep -E ': (error|warn): ' "$PS_TMP/scheduler.log" || fail "the scheduler complained"
	slots=$(ps_slots)
	[ "$slots" = "$s1:8192:up $s2:8192:up" ] || fail "after the stop: $slots"

	bench_passed bench 100000 1 400
}

# --- a training job through the moves ----------------------------------------------

# The training job of these tests: FTRL, mini-batches of 10, so that heart_scale's 270
# lines make 27 pushes; the model is evaluated on heart_scale at the end.
JOB=(-o worker.batch_size=10 -o net.heartbeat_interval=0.2)

# heart_reference: the same job on 2 servers where nothing moves; its worker's output
# in $PS_TMP/ref/trainer.out. With one worker, training is deterministic.
# shellcheck disable=SC2034,SC2094
heart_reference() {
	(
		PS_TMP=$PS_TMP/ref
		PS_PIDS=()
		PS_NAMES=()
		mkdir "$PS_TMP"
		trap ps_stop EXIT
		start_cluster 2 1 || exit 1
		worker "${JOB[@]}" --test "$HEART" <"$HEART" >"$PS_TMP/trainer.out" \
		    2>"$PS_TMP/trainer.log"
	) || fail "the reference job failed (status $?): $(tail -n 5 "$PS_TMP"/ref/*.log \
	    "$PS_TMP"/ref/*.out)"
	grep -q '^test examples=270 ' "$PS_TMP/ref/trainer.out" ||
	    fail "reference: $(cat "$PS_TMP/ref/trainer.out")"
}

# start_trainer: a worker of JOB reading $PS_TMP/feed, held open as PS_FEED.
start_trainer() {
	mkfifo "$PS_TMP/feed"
	start_worker trainer "$PS_TMP/feed" "${JOB[@]}" --test "$HEART"
	exec {PS_FEED}>"$PS_TMP/feed"
}

# examples_read N: the scheduler has heard from the worker that it trained N examples.
examples_read() {
	ps_status | jq -e --argjson n "$1" \
	    '.nodes[] | select(.role == "worker") | .examples == $n' >/dev/null
}

# trainer_finished: the input ends; the worker exits 0 with the reference's results,
# and the job ends well.
trainer_finished() {
	feed_close
	wait_exit "$(ps_pid trainer)" || fail "the worker did not finish"
	[ "$status" -eq 0 ] || fail "the worker exit $status: $(tail -n 3 "$PS_TMP/trainer.log")"
	diff "$PS_TMP/ref/trainer.out" "$PS_TMP/trainer.out" ||
	    fail "not the model of the job where nothing moved"
	wait_exit "$(ps_pid scheduler)" || fail "the scheduler did not end the job"
	[ "$status" -eq 0 ] || fail "the scheduler exit $status"
}

@test "a worker on a slow stdin: a server joins, rebalance and drain mid-stream, same model" {
	local s0
	ps_heart
	heart_reference
	start_cluster 2 1
	s0=$(server_id server0)
	start_trainer
	head -n 90 "$HEART" >&"$PS_FEED"
	# once it has trained on the first lines, and waits for more: a spare, and a
	# rebalance that gives it slots of both servers
	wait_until "$PS_EXIT_TIMEOUT" examples_read 90
	# (not holding the worker's input open: it would never end)
	start_server {PS_FEED}>&-
	runq ps_ctl rebalance
	[ "$status" -eq 0 ] || fail "rebalance: exit $status: $stderr"
	[[ "$output" == "moved "*" in 2 moves"* ]] || fail "rebalance: $output"
	sed -n 91,180p "$HEART" >&"$PS_FEED"
	# while it trains on the next ones
	runq ps_ctl drain "$s0"
	[ "$status" -eq 0 ] || fail "drain: exit $status: $stderr"
	tail -n +181 "$HEART" >&"$PS_FEED"
	wait_until "$PS_EXIT_TIMEOUT" examples_read 270 ||
	    fail "the worker stopped: $(tail -n 3 "$PS_TMP/trainer.log")"
	trainer_finished
}

@test "a worker idle while a server is drained and stopped goes on training: same model" {
	local s0 keys
	ps_heart
	heart_reference
	start_cluster 3 1
	s0=$(server_id server0)
	start_trainer
	head -n 90 "$HEART" >&"$PS_FEED"
	# the worker has pushed the first lines and waits for more
	wait_until "$PS_EXIT_TIMEOUT" examples_read 90
	runq ps_ctl --json drain "$s0"
	[ "$status" -eq 0 ] || fail "drain: exit $status: $stderr"
	keys=$(jq .keys <<<"$output")
	[ "$keys" -gt 0 ] || fail "server $s0 held no keys of the model: $output"
	kill -TERM "$(ps_pid server0)"
	wait_exit "$(ps_pid server0)" || fail "server0 did not exit on SIGTERM"
	[ "$status" -eq 0 ] || fail "server0 exit $status"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/scheduler.log" \
	    "server node $s0 left \\(it held no slots\\)"
	# the worker's map still names server0 for the slots it held
	tail -n +91 "$HEART" >&"$PS_FEED"
	trainer_finished
}

# --- errors ------------------------------------------------------------------------

@test "reshard to a node that is not a server, drain of the only server: exit 1, one line" {
	local s0 e0
	start_cluster 1 1
	s0=$(server_id server0)
	e0=$(ps_status | jq .epoch)
	runq ps_ctl reshard --slots 0-10 --to 999
	[ "$status" -eq 1 ] || fail "--to 999: exit $status"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] && [[ "$stderr" == "ps-ctl: "*"node 999"* ]] ||
	    fail "--to 999: stderr '$stderr'"
	[ -z "$output" ] || fail "--to 999: stdout '$output'"
	# the scheduler is node 0
	runq ps_ctl reshard --slots 0-10 --to 0
	[ "$status" -eq 1 ] || fail "--to 0: exit $status"
	[[ "$stderr" == "ps-ctl: "*"node 0"* ]] || fail "--to 0: stderr '$stderr'"
	runq ps_ctl drain "$s0"
	[ "$status" -eq 1 ] || fail "drain: exit $status"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] && [[ "$stderr" == "ps-ctl: "*"no other server"* ]] ||
	    fail "drain: stderr '$stderr'"
	runq ps_ctl drain 999
	[ "$status" -eq 1 ] || fail "drain 999: exit $status"
	[[ "$stderr" == *"node 999"* ]] || fail "drain 999: stderr '$stderr'"
	# slots the server owns, to itself
	runq ps_ctl reshard --slots 0-10 --to "$s0"
	[ "$status" -eq 0 ] || fail "to itself: exit $status: $stderr"
	[[ "$output" == "nothing to move"* ]] || fail "to itself: '$output'"
	runq ps_status
	json_has ".epoch == $e0 and .resharding == false and
	    (.nodes[] | select(.id == $s0) | .slots == 16384 and .state == \"up\")" \
	    "$output" || fail "status changed: $output"
}

# --- the log ------------------------------------------------------------------------

@test "every move is logged: its slots, source, destination, keys, time and map epoch" {
	local from to e0 k1 k2 k3 num='[0-9]+\.[0-9]+'
	sum_cluster 2 1
	read -r from to <<<"$(ps_servers | tr '\n' ' ')"
	e0=$(ps_status | jq .epoch)
	# keys on both servers
	runq "$PS_BUILD/ps-bench" -c "$PS_CONF" "${SUM[@]}" -q -k 20000 -r 1
	[ "$status" -eq 0 ] || fail "ps-bench: exit $status: $stderr"
	runq ps_ctl --json reshard --slots 100-199 --to "$to"
	[ "$status" -eq 0 ] || fail "reshard: exit $status: $stderr"
	k1=$(jq .keys <<<"$output")
	[ "$k1" -gt 0 ] || fail "no keys moved: $output"
	# slots that are already there: nothing to move, nothing logged
	runq ps_ctl reshard --slots 200-8191 --to "$from"
	[ "$status" -eq 0 ] && [[ "$output" == "nothing to move"* ]] ||
	    fail "reshard to the owner: exit $status: $output $stderr"
	# two ranges in one move
	runq ps_ctl drain "$to"
	[ "$status" -eq 0 ] || fail "drain: exit $status: $stderr"
	[[ "$output" =~ ^moved\ 8292\ slots\ \(([0-9]+)\ keys\)\ in\ 1\ move,\ $num\ s\;\ map\ epoch\ $((e0 + 2))$ ]] ||
	    fail "drain: '$output'"
	k2=${BASH_REMATCH[1]}
	# a drained server is left out of a rebalance; a reshard to it takes it back
	runq ps_ctl rebalance
	[ "$status" -eq 0 ] && [[ "$output" == "nothing to move"* ]] ||
	    fail "rebalance after the drain: exit $status: $output $stderr"
	runq ps_ctl --json reshard --slots 8192-16383 --to "$to"
	[ "$status" -eq 0 ] || fail "reshard back: exit $status: $stderr"
	k3=$(jq .keys <<<"$output")
	json_has ".epoch == $((e0 + 3)) and .moves == 1 and .slots == 8192" "$output" ||
	    fail "reshard back: $output"

	run -0 grep -E 'info: moved [0-9]+ slots' "$PS_TMP/scheduler.log"
	[ "${#lines[@]}" -eq 3 ] || fail "want 3 moves logged: $output"
	assert_line --index 0 --regexp \
	    "^[-0-9T:.Z]+ ps-scheduler\[[0-9]+\]: info: moved 100 slots \(100-199\) from node $from to node $to: $k1 keys in $num s; map epoch $((e0 + 1))\$"
	assert_line --index 1 --regexp \
	    "^[-0-9T:.Z]+ ps-scheduler\[[0-9]+\]: info: moved 8292 slots \(100-199,8192-16383\) from node $to to node $from: $k2 keys in $num s; map epoch $((e0 + 2))\$"
	assert_line --index 2 --regexp \
	    "^[-0-9T:.Z]+ ps-scheduler\[[0-9]+\]: info: moved 8192 slots \(8192-16383\) from node $from to node $to: $k3 keys in $num s; map epoch $((e0 + 3))\$"
	# the keys of slots 100-199 went there, then back with the others
	[ "$k3" -eq "$((k2 - k1))" ] || fail "keys moved: $k1, $k2, $k3"
	# and each server logs its side
	grep -Eq "info: moved 100 slots \($k1 keys\) to node $to in $num s" \
	    "$PS_TMP/server0.log" "$PS_TMP/server1.log" || fail "no source's log"
	grep -Eq "info: importing 100 slots from node $from" \
	    "$PS_TMP/server0.log" "$PS_TMP/server1.log" || fail "no destination's log"
}

# --- the check itself ---------------------------------------------------------------

@test "ps-bench --check-all fails naming a key when another client pushes the same keys" {
	sum_cluster 2 1
	# one run after another: the second starts from the values the first left
	run -0 "$PS_BUILD/ps-bench" -c "$PS_CONF" "${SUM[@]}" -q -k 20000 -r 5 --check-all
	run -0 "$PS_BUILD/ps-bench" -c "$PS_CONF" "${SUM[@]}" -q -k 20000 -r 5 --check-all
	assert_output --partial "check keys=20000 dim=1 rounds=5 checked=20000 values=20000"
	# at the same time: each one's values hold the other's pushes too, as if doubled
	start_bench long "${SUM[@]}" -k 20000 -r 300 --check-all
	bench_started long
	runq "$PS_BUILD/ps-bench" -c "$PS_CONF" "${SUM[@]}" -k 20000 -r 20 --check-all
	[ "$status" -eq 1 ] || fail "the short run: exit $status"
	[[ "$stderr" =~ error:\ 20000\ keys:\ key\ [0-9]+\ value\ 0:\ pulled\ [-0-9.e+]+,\ want\ [-0-9.e+]+\ .*\;\ ([0-9]+)\ of\ 20000\ keys\ checked\ differ ]] ||
	    fail "the short run: $stderr"
	[ "${BASH_REMATCH[1]}" -gt 10000 ] || fail "only ${BASH_REMATCH[1]} keys differ"
	[[ "$output" != *"check keys="* ]] || fail "a check line for a failed check: $output"
	alive "$(ps_pid long)" || fail "the long run ended first: give it more rounds"
	wait_exit "$(ps_pid long)"
	[ "$status" -eq 1 ] || fail "the long run: exit $status"
	grep -Eq 'error: 20000 keys: key [0-9]+ value 0: pulled .* keys checked differ' \
	    "$PS_TMP/long.log" || fail "the long run: $(cat "$PS_TMP/long.log")"
}

# bench_key1 N: the second smallest key of ps-bench -k N: lib/bench.c's keys are N
# draws of splitmix64 from 0x5053424e43480001 + N * 2^32, sorted (no repeats are
# expected in a few thousand 64-bit draws). In bash's 64-bit arithmetic: products
# wrap as in C; a right shift is arithmetic, so masked to be logical; unsigned order
# is signed order with the top bit flipped.
bench_key1() {
	local n=$1 s z i m1=-1 m2=-1 top=$((1 << 63))
	s=$((0x5053424e43480001 + 0x100000000 * n))
	for ((i = 0; i < n; i++)); do
		s=$((s + 0x9e3779b97f4a7c15))
		z=$(((s ^ ((s >> 30) & 0x3ffffffff)) * 0xbf58476d1ce4e5b9))
		z=$(((z ^ ((z >> 27) & 0x1fffffffff)) * 0x94d049bb133111eb))
		z=$((z ^ ((z >> 31) & 0x1ffffffff)))
		if (((z ^ top) < (m1 ^ top))); then
			m2=$m1
			m1=$z
		elif (((z ^ top) < (m2 ^ top))); then
			m2=$z
		fi
	done
	printf '%u\n' "$m2"
}

# push_to KEY...: a worker trains on one example whose features are the KEYs, each
# with the value -1 or 1 against the sign of the key's value, and the label 1: z is
# then at most 0, the gradient of the log loss p - 1 at most -0.5, and each key gets
# at least 0.5 in size added. The worker then waits at the end-of-training barrier.
push_to() {
	local key v line=+1
	for key in "$@"; do
		v=$(ps_ctl get "$key" | cut -f 2)
		[ -n "$v" ] || fail "get $key"
		if awk -v v="$v" 'BEGIN { exit !(v > 0) }'; then
			line+=" $key:-1"
		else
			line+=" $key:1"
		fi
	done
	echo "$line" >"$PS_TMP/extra.svm"
	start_worker extra "$PS_TMP/extra.svm" -o model.bias=false --allow-sum \
	    -o net.heartbeat_interval=0.1
	wait_until "$PS_EXIT_TIMEOUT" pushed "$(ps_pid extra)" ||
	    fail "the extra push failed: $(cat "$PS_TMP/extra.log")"
}
# pushed PID: the worker has trained its example, or died.
pushed() {
	alive "$1" || return 0
	ps_status | jq -e '.nodes[] | select(.role == "worker") | .examples == 1' \
	    >/dev/null
}

@test "--check-all checks every key: one push to a key that the default sample skips" {
	local k1 k2
	# The default sample is every 3rd key of 8193 (or 8195) and the last: the second
	# key is not in it. (In a bash of its own: bats' DEBUG trap would make the loop
	# take seconds.)
	k1=$(bash -c "$(declare -f bench_key1); bench_key1 8193")
	k2=$(bash -c "$(declare -f bench_key1); bench_key1 8195")
	# 2 workers: the job outlives the one started here
	start_scheduler 1 2 "${SUM[@]}" -o model.bias=false	# push_to's worker
	start_server "${SUM[@]}"
	# two key sets: one checked the default way, one with --check-all
	start_bench sampled "${SUM[@]}" -k 8193 -r 2500
	start_bench all "${SUM[@]}" -k 8195 -r 2500 --check-all
	bench_started sampled
	bench_started all
	push_to "$k1" "$k2"
	alive "$(ps_pid sampled)" && alive "$(ps_pid all)" ||
	    fail "ps-bench ended before the push: give it more rounds"
	wait_exit "$(ps_pid sampled)"
	[ "$status" -eq 0 ] || fail "without --check-all: exit $status: $(cat "$PS_TMP/sampled.log")"
	wait_exit "$(ps_pid all)"
	[ "$status" -eq 1 ] || fail "--check-all: exit $status"
	# (the same push added to k1, which the sample does not see)
	grep -Eq "error: 8195 keys: key $k2 value 0: pulled [-0-9.e+]+, want [-0-9.e+]+ .*; 1 of 8195 keys checked differ" \
	    "$PS_TMP/all.log" || fail "--check-all: $(cat "$PS_TMP/all.log")"
}

@test "ps-bench --check-all: in --help; without optimizer.name=sum or with --parse, exit 2" {
	runq "$PS_BUILD/ps-bench" --help
	[ "$status" -eq 0 ] && [[ "$output" == *"--check-all"* ]] || fail "--help: $output"
	# refused before any connection: nothing listens on port 1
	runq "$PS_BUILD/ps-bench" -o scheduler.port=1 -o optimizer.name=adagrad --check-all
	[ "$status" -eq 2 ] || fail "adagrad: exit $status: $stderr"
	[[ "$stderr" == *"--check-all needs optimizer.name=sum, not adagrad"* ]] ||
	    fail "adagrad: $stderr"
	runq "$PS_BUILD/ps-bench" --parse "$PS_ROOT/README.md" --check-all
	[ "$status" -eq 2 ] || fail "--parse: exit $status: $stderr"
	[[ "$stderr" == *"--parse takes no cluster options"*"--check-all"* ]] ||
	    fail "--parse: $stderr"
}
