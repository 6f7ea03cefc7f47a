#!/usr/bin/env bats
# Daemons that behave, from one host to many: a server listening on 0.0.0.0 in a
# network namespace of its own is given to workers at the address that reaches the
# scheduler; SIGHUP leaves the scheduler and the servers serving; SIGTERM ends the
# scheduler, a server and a worker, each with exit 0 and a line saying why; output
# into a pipe whose reader has gone (| head, | jq) ends quietly.

load helper

bats_require_minimum_version 1.5.0

setup() {
	ps_init
	ps_heart
}

teardown() {
	ps_teardown_job
}

# is_prog PID PROGRAM: the process PID is PROGRAM itself (not a wrapper around it).
is_prog() {
	local comm
	read -r comm <"/proc/$1/comm" || return 1
	[ "$comm" = "$2" ] || { echo "pid $1 is $comm, not $2" >&2; return 1; }
}

@test "a server on 0.0.0.0 in its own network namespace is reached at its advertised address" {
	ns_setup
	local sched=$NS_NET.1 here=$NS_NET.2 addr name
	ns_conf "$sched" 0
	ns_start scheduler "$NS_A" ps-scheduler -c "$PS_CONF"
	ps_wait_line scheduler "$PS_TMP/scheduler.out" '^ready '
	ps_log_match "$PS_TMP/scheduler.out" "^ready ${sched//./\\.}:([0-9]+)\$" ||
	    fail "not ready on $sched: $(cat "$PS_TMP/scheduler.out")"
	ns_conf "$sched" "${BASH_REMATCH[1]}"
	ns_start server0 "$NS_B" ps-server -c "$PS_CONF" -o server.host=0.0.0.0
	ps_wait_line server0 "$PS_TMP/server0.log" 'serving on '
	ps_log_match "$PS_TMP/server0.log" 'serving on 0\.0\.0\.0:([0-9]+) ' ||
	    fail "not serving on 0.0.0.0: $(cat "$PS_TMP/server0.log")"
	SERVER_PORT=${BASH_REMATCH[1]}
	# what teardown kills is the programs themselves, not ip
	is_prog "$(ps_pid scheduler)" ps-scheduler
	is_prog "$(ps_pid server0)" ps-server

	# the map gives the address that reached the scheduler, not 0.0.0.0
	addr=$(ns_run "$NS_A" ps-ctl -c "$PS_CONF" status --json |
	    jq -r '.nodes[] | select(.role == "server") | .addr') ||
	    fail "ps-ctl status failed"
	[ "$addr" = "$here:$SERVER_PORT" ] || fail "the map gives '$addr', want $here:$SERVER_PORT"
	# and a worker in the scheduler's namespace reaches the server there
	ns_run "$NS_A" ps-worker -c "$PS_CONF" --test "$HEART" <"$HEART" \
	    >"$PS_TMP/w.out" 2>"$PS_TMP/w.log" || fail "the worker failed (exit $?)"
	grep -Eq '^train examples=270 .* skipped=0$' "$PS_TMP/w.out" ||
	    fail "no training: $(cat "$PS_TMP/w.out")"
	grep -q '^test examples=270 ' "$PS_TMP/w.out" || fail "no test: $(cat "$PS_TMP/w.out")"
	# its only worker done, the job ends cleanly on both sides of the link
	for name in scheduler server0; do
		wait_exit "$(ps_pid "$name")" || fail "$name still running"
		[ "$status" -eq 0 ] || fail "$name: exit $status"
	done
}

# --- signals ---------------------------------------------------------------------------

@test "SIGHUP to the scheduler and a server while a worker trains: ignored, said so, the job ends well" {
	start_cluster 1 1
	feed_worker trainer --test "$HEART"
	local name
	for name in scheduler server0; do
		kill -HUP "$(ps_pid "$name")"
	done
	for name in scheduler server0; do
		wait_until 5 ps_log_has "$PS_TMP/$name.log" 'SIGHUP: ignored' ||
		    fail "$name: no log line"
	done
	# a second one is no different
	kill -HUP "$(ps_pid scheduler)" "$(ps_pid server0)"
	feed_rest
	wait_exit "$(ps_pid trainer)" || fail "the worker did not finish"
	[ "$status" -eq 0 ] || fail "the worker: exit $status"
	grep -Eq '^train examples=270 .* skipped=0$' "$PS_TMP/trainer.out" ||
	    fail "$(cat "$PS_TMP/trainer.out")"
	grep -q '^test examples=270 ' "$PS_TMP/trainer.out" || fail "$(cat "$PS_TMP/trainer.out")"
	for name in scheduler server0; do
		wait_exit "$(ps_pid "$name")" || fail "$name still running"
		[ "$status" -eq 0 ] || fail "$name: exit $status"
	done
	ps_log_has "$PS_TMP/scheduler.log" 'job over: every worker succeeded' ||
	    fail "the job did not end well"
}

@test "SIGHUP to an idle scheduler and server: they go on serving; a worker then trains" {
	start_cluster 1 1
	kill -HUP "$(ps_pid scheduler)" "$(ps_pid server0)"
	local name
	for name in scheduler server0; do
		wait_until 5 ps_log_has "$PS_TMP/$name.log" 'SIGHUP: ignored' ||
		    fail "$name: no log line"
		alive "$(ps_pid "$name")" || fail "$name ended"
	done
	ps_status >/dev/null || fail "the scheduler does not answer"
	worker --test "$HEART" <"$HEART" >"$PS_TMP/w.out" 2>"$PS_TMP/w.log" ||
	    fail "the worker failed: $(cat "$PS_TMP/w.log")"
	grep -q '^test examples=270 ' "$PS_TMP/w.out" || fail "$(cat "$PS_TMP/w.out")"
}

@test "SIGTERM to a lone server, its scheduler still running: exit 0 and a log line" {
	start_cluster 1 1
	kill -TERM "$(ps_pid server0)"
	wait_exit "$(ps_pid server0)" 5 || fail "the server did not exit within 5 s"
	[ "$status" -eq 0 ] || fail "the server: exit $status"
	ps_log_has "$PS_TMP/server0.log" 'SIGTERM: exiting' || fail "no log line"
	# the scheduler is told (the server's connection closed): the job's slots
	# went with it, so the job ends, failed, saying so
	wait_exit "$(ps_pid scheduler)" 5 || fail "the scheduler did not end the job"
	[ "$status" -eq 1 ] || fail "the scheduler: exit $status"
	ps_log_has "$PS_TMP/scheduler.log" 'a server is lost: .* held 16384 slots' ||
	    fail "$(cat "$PS_TMP/scheduler.log")"
}

@test "SIGTERM to a server of a job under way: exit 0 and a log line; the worker fails, no hang" {
	start_cluster 1 1
	feed_worker trainer
	kill -TERM "$(ps_pid server0)"
	wait_exit "$(ps_pid server0)" 5 || fail "the server did not exit within 5 s"
	[ "$status" -eq 0 ] || fail "the server: exit $status"
	ps_log_has "$PS_TMP/server0.log" 'SIGTERM: exiting' || fail "no log line"
	# the worker's next batch finds no server: an error, not a wait
	feed_rest
	wait_exit "$(ps_pid trainer)" || fail "the worker hangs"
	[ "$status" -eq 1 ] || fail "the worker: exit $status"
}

@test "SIGTERM to a worker reading a slow stdin: exit 0 within 5 s and a log line; the job goes on" {
	start_cluster 1 2
	feed_worker quitter
	# worker 0 trains, waiting for more input
	kill -TERM "$(ps_pid quitter)"
	wait_exit "$(ps_pid quitter)" 5 || fail "the worker did not exit within 5 s"
	[ "$status" -eq 0 ] || fail "the worker: exit $status (143: killed by the signal)"
	ps_log_has "$PS_TMP/quitter.log" '(Terminated|SIGTERM)' ||
	    fail "no log line: $(cat "$PS_TMP/quitter.log")"
	! ps_log_has "$PS_TMP/quitter.log" 'error' || fail "$(cat "$PS_TMP/quitter.log")"
	# the job goes on: worker 1 trains and tests to the end, and the job ends
	worker --test "$HEART" <"$HEART" >"$PS_TMP/w.out" 2>"$PS_TMP/w.log" ||
	    fail "the other worker failed: $(cat "$PS_TMP/w.log")"
	grep -q '^test examples=270 ' "$PS_TMP/w.out" || fail "$(cat "$PS_TMP/w.out")"
	local name
	for name in scheduler server0; do
		wait_exit "$(ps_pid "$name")" || fail "$name still running"
		[ "$status" -eq 0 ] || fail "$name: exit $status"
	done
}

@test "SIGTERM to a worker waiting at the barrier for the others: exit 0 within 5 s; the job goes on" {
	start_scheduler 1 2 -v
	start_server
	feed_worker slow
	# worker 1 reads all its input, then waits for worker 0 at the barrier
	start_worker early "$HEART" --test "$HEART"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/scheduler.log" \
	    "worker 1 .* at barrier 'trained'" || fail "worker 1 not at the barrier"
	kill -TERM "$(ps_pid early)"
	wait_exit "$(ps_pid early)" 5 || fail "the worker did not exit within 5 s"
	[ "$status" -eq 0 ] || fail "the worker: exit $status"
	ps_log_has "$PS_TMP/early.log" '(Terminated|SIGTERM)' ||
	    fail "no log line: $(cat "$PS_TMP/early.log")"
	# worker 0 ends its training, passes the barrier alone, and the job ends
	feed_rest
	wait_exit "$(ps_pid slow)" || fail "worker 0 did not finish"
	[ "$status" -eq 0 ] || fail "worker 0: exit $status"
	local name
	for name in scheduler server0; do
		wait_exit "$(ps_pid "$name")" || fail "$name still running"
		[ "$status" -eq 0 ] || fail "$name: exit $status"
	done
}

@test "SIGTERM to the scheduler while a worker trains: scheduler and server exit 0; the worker fails" {
	start_cluster 1 1
	feed_worker trainer
	kill -TERM "$(ps_pid scheduler)"
	local name
	for name in scheduler server0; do
		wait_exit "$(ps_pid "$name")" 5 || fail "$name did not exit within 5 s"
		[ "$status" -eq 0 ] || fail "$name: exit $status"
	done
	ps_log_has "$PS_TMP/scheduler.log" 'SIGTERM: ending the job' || fail "no log line"
	ps_log_has "$PS_TMP/server0.log" 'exiting' || fail "the server does not say it ends"
	# the worker, once its input goes on, finds the job gone: an error, not a wait
	feed_rest
	wait_exit "$(ps_pid trainer)" 10 || fail "the worker hangs with the job gone"
	[ "$status" -eq 1 ] || fail "the worker: exit $status for a job that did not finish"
}

# --- pipes that close early --------------------------------------------------------

@test "ps-local -v --json --save: stdout is the JSON alone, through | jq ." {
	local json
	json=$(PS_BUILD=$PS_BUILD TMPDIR=$PS_TMP timeout 60 "$PS_ROOT/scripts/ps-local" -v \
	    -s 2 -w 2 --json --save "$PS_TMP/ckpt" --test "$HEART" "$HEART" \
	    2>"$PS_TMP/local.log" | jq -c .) || fail "ps-local | jq: ${PIPESTATUS[*]}"
	[ "$(wc -l <<<"$json")" -eq 1 ] || fail "not one object: $json"
	jq -e --arg dir "$PS_TMP/ckpt/" '.train_examples == 270 and .examples == 270 and
	    (.checkpoint | startswith($dir))' <<<"$json" >/dev/null || fail "bad JSON: $json"
	# the logs (-v) and the checkpoint line went to stderr
	grep -q ' ps-scheduler\[[0-9]*\]: ' "$PS_TMP/local.log" || fail "no logs on stderr"
	grep -q '^checkpoint ' "$PS_TMP/local.log" || fail "no checkpoint line on stderr"
}

# closed_pipe: PS_CLOSED, the write end of a pipe (a FIFO) whose reader has gone, as
# once `| head -1` has exited: every write to it fails (EPIPE, or SIGPIPE).
closed_pipe() {
	local fifo=$PS_TMP/closed r
	mkfifo "$fifo"
	exec {r}<>"$fifo"		# a reader, so that opening for writing does not block
	exec {PS_CLOSED}>"$fifo"
	exec {r}<&-			# and the reader is gone
}

@test "ps-ctl status, status --json and get into a closed pipe (| head -1): quiet, exit 0" {
	start_cluster 1 1
	closed_pipe
	local cmd
	for cmd in "status" "status --json" "get $(seq -s ' ' 1 5000)"; do
		# shellcheck disable=SC2086
		status=0
		ps_ctl $cmd 1>&"$PS_CLOSED" 2>"$PS_TMP/ctl.log" || status=$?
		[ "$status" -eq 0 ] || fail "${cmd:0:20}: exit $status: $(cat "$PS_TMP/ctl.log")"
		[ ! -s "$PS_TMP/ctl.log" ] || fail "${cmd:0:20}: $(cat "$PS_TMP/ctl.log")"
	done
	# and as typed
	ps_ctl status 2>"$PS_TMP/ctl.log" | head -n 1 >"$PS_TMP/one"
	[ "${PIPESTATUS[0]}" -eq 0 ] || fail "exit ${PIPESTATUS[0]}: $(cat "$PS_TMP/ctl.log")"
	grep -q '^epoch [0-9]*: 1 server' "$PS_TMP/one" || fail "first line: $(cat "$PS_TMP/one")"
	[ ! -s "$PS_TMP/ctl.log" ] || fail "$(cat "$PS_TMP/ctl.log")"
}

@test "ps-ckpt list and export into a closed pipe (| head -1): quiet, exit 0" {
	# a job that lasts (its worker never comes) with 10000 keys, and a checkpoint of it
	local sum=(-o optimizer.name=sum) ck=(--dir "$PS_TMP/ckpt") name cmd
	start_scheduler 1 1 "${sum[@]}"
	start_server "${sum[@]}"
	timeout 20 "$PS_BUILD/ps-bench" -c "$PS_CONF" "${sum[@]}" -q -k 1e4 -r 1 \
	    >/dev/null 2>"$PS_TMP/bench.log" || fail "ps-bench: $(cat "$PS_TMP/bench.log")"
	name=$(timeout 20 "$PS_BUILD/ps-ckpt" -c "$PS_CONF" "${ck[@]}" save) || fail "save failed"
	name=${name##*/}
	closed_pipe
	for cmd in "list" "list --json" "export $name"; do
		# shellcheck disable=SC2086
		status=0
		timeout 20 "$PS_BUILD/ps-ckpt" -c "$PS_CONF" "${ck[@]}" $cmd 1>&"$PS_CLOSED" \
		    2>"$PS_TMP/ckpt.log" || status=$?
		[ "$status" -ne 141 ] || fail "$cmd: killed by SIGPIPE (exit 141)"
		[ "$status" -eq 0 ] || fail "$cmd: exit $status: $(cat "$PS_TMP/ckpt.log")"
		[ ! -s "$PS_TMP/ckpt.log" ] || fail "$cmd: $(cat "$PS_TMP/ckpt.log")"
	done
	# and as typed: 10000 lines, far more than a pipe holds
	timeout 20 "$PS_BUILD/ps-ckpt" -c "$PS_CONF" "${ck[@]}" export "$name" \
	    2>"$PS_TMP/ckpt.log" | head -n 1 >"$PS_TMP/one"
	[ "${PIPESTATUS[0]}" -eq 0 ] || fail "export | head: exit ${PIPESTATUS[0]}"
	grep -Eq $'^[0-9]+\t' "$PS_TMP/one" || fail "first line: $(cat "$PS_TMP/one")"
	[ ! -s "$PS_TMP/ckpt.log" ] || fail "$(cat "$PS_TMP/ckpt.log")"
}

# --- output that cannot be written -------------------------------------------------

@test "ps-ctl and ps-ckpt into a full disk (/dev/full): one line on stderr, exit 1" {
	local sum=(-o optimizer.name=sum) ck=(--dir "$PS_TMP/ckpt") name cmd err full
	start_scheduler 1 1 "${sum[@]}"
	start_server "${sum[@]}"
	timeout 20 "$PS_BUILD/ps-bench" -c "$PS_CONF" "${sum[@]}" -q -k 1e4 -r 1 \
	    >/dev/null 2>"$PS_TMP/bench.log" || fail "ps-bench: $(cat "$PS_TMP/bench.log")"
	name=$(timeout 20 "$PS_BUILD/ps-ckpt" -c "$PS_CONF" "${ck[@]}" save) || fail "save failed"
	name=${name##*/}
	ps_ctl status >/dev/null || fail "status: exit $? with a good stdout"
	# ps-ctl: "ps-ctl: stdout: ...", as its other errors
	for cmd in "status" "status --json" "get $(seq -s ' ' 1 5000)"; do
		# shellcheck disable=SC2086
		status=0
		ps_ctl $cmd >/dev/full 2>"$PS_TMP/ctl.log" || status=$?
		err=$(cat "$PS_TMP/ctl.log")
		[ "$status" -eq 1 ] || fail "${cmd:0:20}: exit $status: $err"
		[ "$(wc -l <<<"$err")" -eq 1 ] &&
		    [ "$err" = "ps-ctl: stdout: No space left on device" ] ||
		    fail "${cmd:0:20}: stderr '$err'"
	done
	# ps-ckpt: its log_error line, naming the command
	for cmd in "list" "list --json" "export $name"; do
		# shellcheck disable=SC2086
		status=0
		timeout 20 "$PS_BUILD/ps-ckpt" -c "$PS_CONF" "${ck[@]}" $cmd >/dev/full \
		    2>"$PS_TMP/ckpt.log" || status=$?
		err=$(cat "$PS_TMP/ckpt.log")
		[ "$status" -eq 1 ] || fail "$cmd: exit $status: $err"
		full="${cmd%% *}: standard output: No space left on device"
		[ "$(wc -l <<<"$err")" -eq 1 ] && [[ "$err" == *"ps-ckpt["*"]: error: $full" ]] ||
		    fail "$cmd: stderr '$err'"
	done
	# save: the checkpoint is whole and stays, but its path could not be told
	status=0
	timeout 20 "$PS_BUILD/ps-ckpt" -c "$PS_CONF" "${ck[@]}" save >/dev/full \
	    2>"$PS_TMP/ckpt.log" || status=$?
	err=$(cat "$PS_TMP/ckpt.log")
	[ "$status" -eq 1 ] || fail "save: exit $status: $err"
	[[ "$err" == *" saved, but standard output: No space left on device" ]] ||
	    fail "save: stderr '$err'"
	timeout 20 "$PS_BUILD/ps-ckpt" -c "$PS_CONF" "${ck[@]}" list --json >"$PS_TMP/list" ||
	    fail "list: exit $?"
	jq -e 'length == 2 and all(.[]; .complete)' "$PS_TMP/list" >/dev/null ||
	    fail "not two complete checkpoints: $(cat "$PS_TMP/list")"
}
