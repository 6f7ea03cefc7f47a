#!/usr/bin/env bats
# Consistency models (cluster.consistency): with one worker slowed down by
# --test-delay, the clocks the workers log (-v: "clock C: slowest worker at clock M")
# show the bound of each model: under ssp no worker computes clock C before the
# slowest reached C - staleness; under bsp all move in lock-step; under asp nobody
# waits. A worker that finishes or dies leaves the clock group.

load helper

bats_require_minimum_version 1.5.0

setup() {
	ps_init
	ps_heart
}

teardown() {
	ps_teardown_job
}

# job MODEL [ARGS...]: a scheduler and a server for 2 workers.
job() {
	local model=$1
	shift
	start_cluster 1 2 -o "cluster.consistency=$model" "$@"
}

# the workers' options: their clock lines, and 10 examples a batch
W=(-v -o worker.batch_size=10)

# clocks NAME: "C M" for each clock NAME's worker waited at, in order.
clocks() {
	sed -n 's/.*clock \([0-9]*\): slowest worker at clock \([0-9]*\)$/\1 \2/p' \
	    "$PS_TMP/$1.log"
}

# both_succeed: wait for the two workers, which must exit 0.
both_succeed() {
	local w
	for w in fast slow; do
		wait_exit "$(ps_pid "$w")" || fail "$w did not end"
		[ "$status" -eq 0 ] || fail "$w: exit $status: $(tail -5 "$PS_TMP/$w.log")"
	done
}

@test "ssp, staleness 2: no worker computes clock C before the slowest reached C - 2" {
	job ssp -o cluster.staleness=2
	start_worker fast "$HEART" "${W[@]}"
	start_worker slow "$HEART" "${W[@]}" --test-delay 40
	both_succeed
	run clocks fast
	[ "${#lines[@]}" -eq 26 ] || fail "fast: ${#lines[@]} clocks: $output"
	# the bound holds for both, and the fast one runs as far ahead as it may
	clocks fast >"$PS_TMP/c"
	clocks slow >>"$PS_TMP/c"
	run awk '$1 - $2 > 2 { print "clock " $1 " with the slowest at " $2 }' "$PS_TMP/c"
	[ -z "$output" ] || fail "staler than 2: $output"
	run awk '$1 - $2 == 2 { n++ } END { print n + 0 }' <(clocks fast)
	[ "$output" -ge 20 ] || fail "the fast worker was 2 ahead at only $output clocks"
}

@test "bsp: every worker waits at each clock until all reached it (lock-step)" {
	job bsp
	start_worker fast "$HEART" "${W[@]}"
	start_worker slow "$HEART" "${W[@]}" --test-delay 20
	both_succeed
	clocks fast >"$PS_TMP/c"
	clocks slow >>"$PS_TMP/c"
	run wc -l <"$PS_TMP/c"
	[ "$output" -eq 52 ] || fail "$output clocks"
	run awk '$1 != $2 { print "clock " $1 " with the slowest at " $2 }' "$PS_TMP/c"
	[ -z "$output" ] || fail "not in lock-step: $output"
}

@test "asp: nobody waits: the fast worker is done before the slow one is at clock 5" {
	local fast_end slow_5
	job asp
	start_worker fast "$HEART" "${W[@]}"
	start_worker slow "$HEART" "${W[@]}" --test-delay 50
	both_succeed
	run clocks fast
	[ -z "$output" ] || fail "a worker waited under asp: $output"
	fast_end=$(grep -m1 ' clock 26$' "$PS_TMP/fast.log" | cut -d' ' -f1)
	slow_5=$(grep -m1 ' clock 5$' "$PS_TMP/slow.log" | cut -d' ' -f1)
	[ -n "$fast_end" ] && [ -n "$slow_5" ] || fail "clock lines missing"
	[[ "$fast_end" < "$slow_5" ]] ||
	    fail "the fast worker's clock 26 at $fast_end, the slow one's clock 5 at $slow_5"
	ps_log_has "$PS_TMP/scheduler.log" "job over: every worker succeeded" || fail
}

@test "bsp: a worker that finishes leaves the clock group; nobody waits for it" {
	job bsp
	head -n 30 "$HEART" >"$PS_TMP/short"
	start_worker fast "$HEART" "${W[@]}"
	start_worker slow "$PS_TMP/short" "${W[@]}" --test-delay 20
	both_succeed
	# the short one's 3 batches are clocks 0..2; the other goes on to 26 alone
	run clocks fast
	[ "${#lines[@]}" -eq 26 ] || fail "${#lines[@]} clocks: $output"
	assert_line "26 26"
}

@test "bsp: a worker that dies leaves the clock group; the other one finishes" {
	job bsp
	start_worker fast "$HEART" "${W[@]}"
	start_worker slow "$HEART" "${W[@]}" --test-delay 100
	wait_until 10 ps_log_has "$PS_TMP/slow.log" "clock 3: slowest"
	kill -KILL "$(ps_pid slow)"
	wait_exit "$(ps_pid fast)" || fail "the fast worker waits for a dead one"
	run clocks fast
	assert_line "26 26"
}

@test "a worker given another consistency model than the job's is refused" {
	job asp
	run worker -o cluster.consistency=bsp </dev/null
	[ "$status" -eq 1 ] || fail "exit $status: $output"
	assert_output --partial "cluster.consistency: this worker has 'bsp', the job 'asp'"
}

@test "ps-ctl status --json: the job's consistency model and each worker's clock" {
	job bsp -o cluster.linger=true
	start_worker fast "$HEART" "${W[@]}"
	start_worker slow "$HEART" "${W[@]}"
	both_succeed
	run ps_ctl status --json
	[ "$status" -eq 0 ] || fail "exit $status: $output"
	jq -e '.consistency == "bsp" and
	    ([.nodes[] | select(.role == "worker") | .clock] == [26, 26])' \
	    <<<"$output" >/dev/null || fail "$output"
}
