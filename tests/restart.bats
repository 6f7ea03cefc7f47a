#!/usr/bin/env bats
# A scheduler that crashes and is started again with its state file
# (scheduler.state_file) resumes the job: servers and workers reconnect with backoff,
# are taken back under the ids they had, and the job finishes. Without a state file,
# or for a node that does not come back in time, the job ends with a clear message.

load helper

bats_require_minimum_version 1.5.0

setup() {
	ps_init
	ps_heart
}

teardown() {
	ps_teardown_job
}

# kill_scheduler: kill -9 the scheduler, and wait until it is gone.
kill_scheduler() {
	kill -KILL "$(ps_pid scheduler)"
	wait "$(ps_pid scheduler)" 2>/dev/null || true
}

# start_again [ARGS...]: another scheduler on the same port, with the same
# configuration (and so the same state file); its log is again.log. It must not
# hold the worker's feed open.
start_again() {
	# (the subshell closes its copy of the feed, then becomes the scheduler)
	( feed_close; exec "$PS_BUILD/ps-scheduler" -c "$PS_CONF" \
	    -o "scheduler.port=$SCHED_PORT" "$@" ) \
	    >"$PS_TMP/again.out" 2>"$PS_TMP/again.log" </dev/null 3>&- &
	ps_track again $!
	ps_wait_line again "$PS_TMP/again.out" '^ready '
}

@test "kill -9 the scheduler mid-job, start it again with its state file: the job resumes and finishes" {
	local state=$PS_TMP/scheduler.state
	start_scheduler 2 1 -o "scheduler.state_file=$state"
	start_server
	start_server
	feed_worker trainer --test "$HEART"
	[ -s "$state" ] || fail "no state file written"
	kill_scheduler
	start_again -o "scheduler.state_file=$state"
	ps_log_has "$PS_TMP/again.log" \
	    "info: resuming the job of ${state//./\\.}: map epoch 1, 2 servers, 3 nodes to come back within 10 s"
	# every node comes back under its id; the servers keep their slots
	wait_until 15 ps_log_has "$PS_TMP/again.log" 'worker 0 \(node 3\) is back'
	wait_until 15 ps_log_has "$PS_TMP/again.log" 'server node 1 is back'
	wait_until 15 ps_log_has "$PS_TMP/again.log" 'server node 2 is back'
	ps_log_has "$PS_TMP/server0.log" 'the scheduler took this server back as node 1: serving on'
	ps_log_has "$PS_TMP/trainer.log" 'the scheduler took node 3 back'
	! ps_log_has "$PS_TMP/server0.log" 'stale now, dropped'
	feed_rest
	wait_exit "$(ps_pid trainer)" 20 || fail "the worker did not finish"
	[ "$status" -eq 0 ] || fail "the worker: exit $status: $(cat "$PS_TMP/trainer.log")"
	grep -Eq '^train examples=270 .* skipped=0$' "$PS_TMP/trainer.out" ||
	    fail "$(cat "$PS_TMP/trainer.out")"
	grep -Eq '^test examples=270 .*accuracy=0\.[6-9]' "$PS_TMP/trainer.out" ||
	    fail "$(cat "$PS_TMP/trainer.out")"
	wait_exit "$(ps_pid again)" 10 || fail "the resumed scheduler did not end the job"
	[ "$status" -eq 0 ] || fail "the resumed scheduler: exit $status"
	ps_log_has "$PS_TMP/again.log" 'job over: every worker succeeded'
	# a job that ended leaves no state behind: the next one starts afresh
	[ ! -e "$state" ] || fail "the state file is still there"
}

@test "a node that does not come back to a resumed job is declared dead: the job ends failed, naming it" {
	local state=$PS_TMP/scheduler.state
	start_scheduler 1 1 -o "scheduler.state_file=$state" -o net.heartbeat_timeout=2 \
	    -o net.heartbeat_interval=0.2
	start_server -o net.heartbeat_interval=0.2
	feed_worker trainer -o net.heartbeat_interval=0.2
	# the worker goes while the scheduler is away
	kill_scheduler
	kill -KILL "$(ps_pid trainer)"
	start_again -o "scheduler.state_file=$state" -o net.heartbeat_timeout=2 \
	    -o net.heartbeat_interval=0.2
	wait_exit "$(ps_pid again)" 15 || fail "the resumed scheduler waits for ever"
	[ "$status" -eq 1 ] || fail "the resumed scheduler: exit $status"
	ps_log_has "$PS_TMP/again.log" \
	    'warn: worker 0 \(node 2\) did not come back to the resumed job within [0-9.]+ s: declared dead'
	ps_log_has "$PS_TMP/again.log" 'server node 1 is back'
}

@test "a state file that is not one is refused at start, naming it; none yet is a new job" {
	printf 'not a state\n' >"$PS_TMP/bad.state"
	run -1 "$PS_BUILD/ps-scheduler" -o scheduler.port=0 \
	    -o "scheduler.state_file=$PS_TMP/bad.state"
	assert_output --partial "error: scheduler.state_file $PS_TMP/bad.state: "
	: >"$PS_TMP/empty.state"
	run -1 "$PS_BUILD/ps-scheduler" -o scheduler.port=0 \
	    -o "scheduler.state_file=$PS_TMP/empty.state"
	assert_output --partial "error: scheduler.state_file $PS_TMP/empty.state: "
	# no file yet: a new job, which writes it
	start_scheduler 1 1 -o "scheduler.state_file=$PS_TMP/new.state"
	ps_log_has "$PS_TMP/scheduler.log" \
	    "info: scheduler.state_file ${PS_TMP//./\\.}/new\.state: none yet, a new job"
}

@test "without a state file, a worker whose scheduler is killed fails at once, naming it" {
	start_scheduler 1 1
	start_server
	feed_worker trainer
	kill -KILL "$(ps_pid scheduler)"
	feed_close
	wait_exit "$(ps_pid trainer)" 10 || fail "the worker waits for a scheduler that is gone"
	[ "$status" -eq 1 ] || fail "the worker: exit $status"
	ps_log_has "$PS_TMP/trainer.log" "error: .*127\.0\.0\.1:$SCHED_PORT"
	! ps_log_has "$PS_TMP/trainer.log" 'connecting again'
}
