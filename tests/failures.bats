#!/usr/bin/env bats
# Failures of peers: a frozen or lost server, a lost scheduler. No hang: the job ends,
# failed, with a message that names what was lost, and nothing is left running.

load helper

bats_require_minimum_version 1.5.0

setup() {
	ps_init
	ps_heart
}

teardown() {
	ps_teardown_job
}

@test "a server frozen (SIGSTOP) mid-job: declared dead, the job ends failed, naming it" {
	start_scheduler 1 1 -o net.heartbeat_timeout=2 -o net.heartbeat_interval=0.2
	start_server -o net.heartbeat_interval=0.2
	feed_worker trainer -o net.request_timeout=3
	kill -STOP "$(ps_pid server0)"
	wait_exit "$(ps_pid scheduler)" 10 || fail "the scheduler did not end the job"
	[ "$status" -eq 1 ] || fail "the scheduler: exit $status"
	ps_log_has "$PS_TMP/scheduler.log" \
	    'error: a server is lost: server node [0-9]+ at 127\.0\.0\.1:[0-9]+ held 16384 slots, which have no replica; ending the job' ||
	    fail "no clear message: $(cat "$PS_TMP/scheduler.log")"
	# the worker's next batch goes to the frozen server: it gives up after
	# net.request_timeout, naming it
	tail -n +101 "$HEART" >&"$PS_FEED"
	wait_exit "$(ps_pid trainer)" 15 || fail "the worker hangs on the frozen server"
	[ "$status" -eq 1 ] || fail "the worker: exit $status"
	ps_log_has "$PS_TMP/trainer.log" "error: .*127\.0\.0\.1:$SERVER_PORT" ||
	    fail "the worker does not name the server: $(cat "$PS_TMP/trainer.log")"
}

@test "a server killed (-9) mid-job: the job ends failed at once; the other server exits 0" {
	start_scheduler 2 1
	start_server
	start_server
	feed_worker trainer
	kill -KILL "$(ps_pid server0)"
	wait_exit "$(ps_pid scheduler)" 10 || fail "the scheduler did not end the job"
	[ "$status" -eq 1 ] || fail "the scheduler: exit $status"
	ps_log_has "$PS_TMP/scheduler.log" 'a server is lost: .* held 8192 slots' ||
	    fail "$(cat "$PS_TMP/scheduler.log")"
	ps_log_has "$PS_TMP/scheduler.log" 'stopping the servers \(a server was lost\)' ||
	    fail "$(cat "$PS_TMP/scheduler.log")"
	wait_exit "$(ps_pid server1)" 10 || fail "the other server is left running"
	[ "$status" -eq 0 ] || fail "the other server: exit $status"
	feed_close
	wait_exit "$(ps_pid trainer)" 15 || fail "the worker hangs"
	[ "$status" -ne 0 ] || fail "the worker succeeded in a failed job"
}

@test "ps-local with a frozen server: exit 1 within the timeouts, the scheduler's message shown, nothing left" {
	local lp srv kids=() p left=0
	mkfifo "$PS_TMP/in"
	"$PS_ROOT/scripts/ps-local" -s 2 -w 1 -o net.heartbeat_timeout=2 \
	    -o net.heartbeat_interval=0.2 <"$PS_TMP/in" >"$PS_TMP/local.out" \
	    2>"$PS_TMP/local.log" 3>&- &
	lp=$!
	ps_track ps-local "$lp"
	exec {PS_FEED}>"$PS_TMP/in"
	cat "$HEART" >&"$PS_FEED"
	wait_until "$PS_START_TIMEOUT" ps_children_have "$lp" ps-worker ||
	    fail "the job did not start"
	mapfile -t kids < <(ps -eo pid=,ppid= | awk -v p="$lp" '$2 == p { print $1 }')
	srv=$(ps -eo pid=,ppid=,comm= | awk -v p="$lp" '$2 == p && $3 == "ps-server" { print $1; exit }')
	[ -n "$srv" ] || fail "no server"
	ps_track frozen "$srv"
	kill -STOP "$srv"
	wait_exit "$lp" 20 || fail "ps-local still runs 20 s after a server froze"
	[ "$status" -eq 1 ] || fail "ps-local: exit $status"
	grep -q 'a server is lost' "$PS_TMP/local.log" || fail "$(cat "$PS_TMP/local.log")"
	for p in "${kids[@]}"; do
		alive "$p" && { left=$((left + 1)); ps -o pid=,args= -p "$p" >&2; }
	done
	[ "$left" -eq 0 ] || fail "$left processes of the job left"
}

ps_children_have() {
	ps -eo ppid=,comm= | awk -v p="$1" -v c="$2" '$1 == p && $2 == c { f = 1 } END { exit !f }'
}

@test "a server that loses its scheduler says so once, retries with backoff, gives up: exit 1" {
	start_scheduler 1 1 -o cluster.linger=true
	start_server -o net.connect_retries=3
	kill -KILL "$(ps_pid scheduler)"
	wait_exit "$(ps_pid server0)" 10 || fail "the server did not give up"
	[ "$status" -eq 1 ] || fail "the server: exit $status"
	[ "$(grep -c 'lost the scheduler' "$PS_TMP/server0.log")" -eq 1 ] ||
	    fail "not said once: $(cat "$PS_TMP/server0.log")"
	ps_log_has "$PS_TMP/server0.log" 'warn: lost the scheduler .* still serving .* reconnecting' ||
	    fail "$(cat "$PS_TMP/server0.log")"
	ps_log_has "$PS_TMP/server0.log" 'info: scheduler .*: connect: Connection refused; retry 3 of 3 in 0\.4 s' ||
	    fail "no backoff: $(cat "$PS_TMP/server0.log")"
	ps_log_has "$PS_TMP/server0.log" 'error: .* gave up after 3 retries \(net.connect_retries\)' ||
	    fail "$(cat "$PS_TMP/server0.log")"
}

@test "a server that reaches a restarted scheduler exits 1, saying it does not know the job" {
	local port
	start_scheduler 1 1 -o cluster.linger=true
	port=$SCHED_PORT
	start_server
	kill -KILL "$(ps_pid scheduler)"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/server0.log" 'lost the scheduler'
	"$PS_BUILD/ps-scheduler" -c "$PS_CONF" -o "scheduler.port=$port" \
	    >"$PS_TMP/again.out" 2>"$PS_TMP/again.log" </dev/null 3>&- &
	ps_track again $!
	wait_exit "$(ps_pid server0)" 15 || fail "the server goes on"
	[ "$status" -eq 1 ] || fail "the server: exit $status"
	ps_log_has "$PS_TMP/server0.log" 'restarted and does not know this job\): exiting' ||
	    fail "$(cat "$PS_TMP/server0.log")"
}

@test "a worker started before its scheduler retries, then trains" {
	local port
	port=$((20000 + RANDOM % 20000))
	PS_NSERVERS=1 PS_NWORKERS=1 PS_CONF=$PS_TMP/ps.yaml
	ps_write_conf "$port"
	"$PS_BUILD/ps-worker" -c "$PS_CONF" <"$HEART" >"$PS_TMP/early.out" \
	    2>"$PS_TMP/early.log" 3>&- &
	ps_track early $!
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/early.log" 'retry 2 of 10' ||
	    fail "no retries: $(cat "$PS_TMP/early.log")"
	"$PS_BUILD/ps-scheduler" -c "$PS_CONF" -o "scheduler.port=$port" \
	    >"$PS_TMP/scheduler.out" 2>"$PS_TMP/scheduler.log" </dev/null 3>&- &
	ps_track scheduler $!
	ps_wait_line scheduler "$PS_TMP/scheduler.out" '^ready ' || fail "no scheduler"
	start_server
	wait_exit "$(ps_pid early)" 20 || fail "the worker did not finish"
	[ "$status" -eq 0 ] || fail "the worker: exit $status: $(cat "$PS_TMP/early.log")"
	grep -q '^train examples=270 ' "$PS_TMP/early.out" || fail "$(cat "$PS_TMP/early.out")"
}

@test "huge but finite gradients pushed again and again: every weight stays finite" {
	local i
	# (9: from the 10th batch on, a worker stops a runaway loss, which labels that
	# alternate on the same huge feature soon make)
	for i in $(seq 9); do echo "$((i % 2)) 1:3e38 2:1"; done >"$PS_TMP/huge.svm"
	start_scheduler 1 1 -o cluster.linger=true	# workers one after the other
	start_server
	# one example a batch: each push is a finite 3e38 for FTRL's n and z
	worker -o worker.batch_size=1 <"$PS_TMP/huge.svm" >/dev/null 2>"$PS_TMP/w1.log" ||
	    fail "the worker failed: $(cat "$PS_TMP/w1.log")"
	run --separate-stderr worker --predict <"$PS_TMP/huge.svm"
	assert_success
	[ "${#lines[@]}" -eq 9 ] || fail "${#lines[@]} predictions"
	for i in "${lines[@]}"; do
		[[ $i =~ ^[01]\.[0-9]{6}$ ]] || fail "a prediction is not a probability: '$i'"
	done
}

@test "a batch whose summed gradient overflows a float: the worker names the line, pushes nothing" {
	# a new model: every weight 0, so each example's gradient is -0.5 x 3e38,
	# and the third one in the batch takes the sum past FLT_MAX
	printf '1 1:3e38\n1 1:3e38\n1 1:3e38\n' >"$PS_TMP/over.svm"
	start_cluster 1 1
	run --separate-stderr worker <"$PS_TMP/over.svm"
	[ "$status" -eq 1 ] || fail "exit $status"
	[[ "$stderr" == *"stdin:3: the gradient of its feature 1 (value 3e+38) overflows a float"* ]] ||
	    fail "$stderr"
}

@test "a worker declared dead (stopped past the timeout) is fenced: resumed, its pushes are refused" {
	start_scheduler 1 2 -o net.heartbeat_timeout=2 -o net.heartbeat_interval=0.2
	start_server -o net.heartbeat_interval=0.2
	feed_worker frozen
	kill -STOP "$(ps_pid frozen)"
	wait_until 10 ps_log_has "$PS_TMP/server0.log" \
	    'info: node [0-9]+ fenced: declared dead by the scheduler' ||
	    fail "not fenced: $(cat "$PS_TMP/scheduler.log")"
	ps_log_has "$PS_TMP/scheduler.log" 'warn: worker 0 \(node [0-9]+\) silent for .* declared dead' ||
	    fail "$(cat "$PS_TMP/scheduler.log")"
	kill -CONT "$(ps_pid frozen)"
	feed_rest
	wait_exit "$(ps_pid frozen)" 15 || fail "the fenced worker goes on"
	[ "$status" -eq 1 ] || fail "the fenced worker: exit $status"
	ps_log_has "$PS_TMP/frozen.log" 'declared dead by the scheduler: its requests are refused \(fenced\)' ||
	    fail "$(cat "$PS_TMP/frozen.log")"
}
