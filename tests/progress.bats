#!/usr/bin/env bats
# The progress line of ps-worker and ps-local on a terminal (util-linux script(1)
# gives a pty), its absence elsewhere, --progress-file, and SIGTERM/SIGINT to a worker.

load helper

bats_require_minimum_version 1.5.0

setup() {
	ps_init
	ps_heart
	command -v script >/dev/null || skip "script(1) (util-linux) is missing"
	export TMPDIR=$PS_TMP	# ps-local's scratch directory goes here too
}

# on_tty COMMAND: run the shell COMMAND on a pseudo-terminal (stdin, stdout and stderr
# all on it, unless it redirects them) with a time limit; what the terminal got is
# in $output, with its carriage returns.
on_tty() {
	run timeout 60 script -qfec "$1" /dev/null </dev/null
}

# has_progress PROG STAGE [MORE]: $output holds a progress line of PROG, as
# "\rPROG: STAGE: N examples, R/s" and MORE (a regular expression), then the code that
# clears to the end of the line.
has_progress() {
	local re
	re=$(printf '\r%s: %s: [0-9]+ examples, [0-9]+/s%s\e\\[K' "$1" "$2" "${3:-}")
	[[ "$output" =~ $re ]] || fail "no progress line /$re/: $(cat -A <<<"$output")"
}

ps_worker_cmd() {
	echo "$PS_BUILD/ps-worker -c $PS_CONF $*"
}

# A job of one server that outlives its workers: workers may come one after another.
start_lingering() {
	start_scheduler 1 1 -o cluster.linger=true || return 1
	start_server
}

@test "ps-worker on a terminal: a progress line, erased before the results" {
	start_cluster 1 1
	on_tty "$(ps_worker_cmd -o worker.batch_size=10) <$HEART"
	assert_success
	has_progress ps-worker train ', logloss 0\.[0-9]{4}'
	[[ "$output" == *"ps-worker: train: 270 examples, "* ]] ||
	    fail "the last update is not the whole input: $(cat -A <<<"$output")"
	# erased ("\r", clear to the end of the line) before the result line
	[[ "$output" == *$'\r\e[Ktrain examples=270 '* ]] ||
	    fail "not erased before the results: $(cat -A <<<"$output")"
}

@test "ps-worker --test on a terminal: the test has its own line" {
	start_cluster 1 1
	on_tty "$(ps_worker_cmd --test "$HEART") <$HEART"
	assert_success
	has_progress ps-worker test ', logloss 0\.[0-9]{4}'
	[[ "$output" == *$'\r\e[Ktrain examples=270 '* ]] ||
	    fail "not erased before the results: $(cat -A <<<"$output")"
}

@test "ps-worker: no progress line when stderr is not a terminal, with -q, -v or --no-progress" {
	start_lingering
	# stderr to a file, stdout on the terminal
	on_tty "$(ps_worker_cmd) <$HEART 2>$PS_TMP/err"
	assert_success
	assert_output --partial "train examples=270 "
	[[ "$output$(cat "$PS_TMP/err")" != *$'\r'*examples,* ]] ||
	    fail "a progress line: $(cat -A "$PS_TMP/err")"
	on_tty "$(ps_worker_cmd -q) <$HEART"
	assert_success
	[[ "$output" != *"examples, "* ]] || fail "a progress line with -q: $output"
	on_tty "$(ps_worker_cmd -v) <$HEART"
	assert_success
	[[ "$output" != *"examples, "* ]] || fail "a progress line with -v: $output"
	on_tty "$(ps_worker_cmd --no-progress) <$HEART"
	assert_success
	[[ "$output" != *"examples, "* ]] || fail "a progress line with --no-progress: $output"
}

@test "ps-worker --predict: progress only when the predictions do not go to the terminal" {
	start_lingering
	on_tty "$(ps_worker_cmd --predict) <$HEART >$PS_TMP/p.out"
	assert_success
	has_progress ps-worker predict
	[ "$(wc -l <"$PS_TMP/p.out")" -eq 270 ]
	on_tty "$(ps_worker_cmd --predict) <$HEART"
	assert_success
	[[ "$output" != *"examples, "* ]] || fail "a progress line among predictions"
}

@test "ps-worker --progress-file: examples read, trained and their loss, at the end" {
	start_cluster 1 1
	run worker --progress-file "$PS_TMP/progress" <"$HEART"
	assert_success
	run cat "$PS_TMP/progress"
	assert_output --regexp '^examples=270 trained=270 loss_sum=[0-9]+\.[0-9]{6}$'
	[ ! -e "$PS_TMP/progress.tmp" ]
}

# A feed that sends heart_scale, then nothing for 30 s: the worker blocks on it.
slow_feed() {
	mkfifo "$PS_TMP/feed"
	(cat "$HEART"; exec sleep 30) >"$PS_TMP/feed" 3>&- &
	ps_track feed $!
}

@test "SIGTERM to a worker blocked on a slow stdin: it ends at once, exit 0, DONE sent" {
	start_cluster 1 1
	slow_feed
	start_worker w "$PS_TMP/feed" -o worker.batch_size=10
	ps_wait_line w "$PS_TMP/w.log" 'training from stdin'
	# it has read what there is (27 batches), and waits for more
	ps_sleep 0.5
	kill -TERM "$(ps_pid w)"
	wait_exit "$(ps_pid w)" 3 || fail "the worker did not end within 3 s"
	[ "$status" -eq 0 ] || fail "exit $status: $(cat "$PS_TMP/w.log")"
	ps_log_has "$PS_TMP/w.log" 'info: terminated \(SIGTERM\): 270 examples trained$' ||
	    fail "no log line: $(cat "$PS_TMP/w.log")"
	# it told the scheduler, which ends the job as a success
	wait_exit "$(ps_pid scheduler)" 10 || fail "the job did not end"
	[ "$status" -eq 0 ] || fail "scheduler exit $status"
	ps_log_has "$PS_TMP/scheduler.log" 'finished$' ||
	    fail "no DONE: $(cat "$PS_TMP/scheduler.log")"
}

@test "SIGINT to ps-worker --predict on a slow stdin: it ends at once, exit 0" {
	start_lingering
	slow_feed
	# A background job ignores SIGINT, and the worker keeps it so: restore the
	# default, as a terminal's Ctrl-C would find it.
	env --default-signal=INT "$PS_BUILD/ps-worker" -c "$PS_CONF" --predict \
	    <"$PS_TMP/feed" >"$PS_TMP/p.out" 2>"$PS_TMP/p.log" 3>&- &
	ps_track p $!
	wait_until 5 ps_log_has "$PS_TMP/p.out" '^0\.'
	kill -INT "$(ps_pid p)"
	wait_exit "$(ps_pid p)" 3 || fail "ps-worker --predict did not end within 3 s"
	[ "$status" -eq 0 ] || fail "exit $status: $(cat "$PS_TMP/p.log")"
	ps_log_has "$PS_TMP/p.log" 'terminated \(SIGINT\): [0-9]+ examples predicted$' ||
	    fail "no log line: $(cat "$PS_TMP/p.log")"
}

# ps-local through links in this test's directory, with a time limit.
ps_local_cmd() {
	echo "PS_BUILD=$PS_BUILD timeout 60 $PS_ROOT/scripts/ps-local $*"
}

@test "ps-local on a terminal: one line for the job, erased before the results" {
	# two seconds between parts, so that the job lasts past a few updates
	on_tty "(cat $HEART; sleep 2; cat $HEART; sleep 2; cat $HEART) |
	    $(ps_local_cmd -s 1 -w 2 -o worker.batch_size=10)"
	assert_success
	has_progress ps-local train ', logloss 0\.[0-9]{4}'
	[[ "$output" == *$'\r'"ps-local: train: "[1-9]* ]] ||
	    fail "no examples counted: $(cat -A <<<"$output")"
	[[ "$output" == *$'\r\e[Ktrain examples=810 '* ]] ||
	    fail "not erased before the results: $(cat -A <<<"$output")"
	! compgen -G "$PS_TMP/ps-local.*" >/dev/null || fail "scratch directory left"
}

@test "ps-local: no progress line with stderr to a file, with -q or -v" {
	on_tty "(cat $HEART; sleep 1.5; cat $HEART) | $(ps_local_cmd -w 2) 2>$PS_TMP/err"
	assert_success
	assert_output --partial "train examples=540 "
	[[ "$output$(cat "$PS_TMP/err")" != *"examples, "* ]] ||
	    fail "a progress line: $(cat -A "$PS_TMP/err")"
	on_tty "(cat $HEART; sleep 1.5; cat $HEART) | $(ps_local_cmd -q -w 2)"
	assert_success
	[[ "$output" != *"examples, "* ]] || fail "a progress line with -q: $output"
	on_tty "(cat $HEART; sleep 1.5; cat $HEART) | $(ps_local_cmd -v -w 2)"
	assert_success
	[[ "$output" != *"examples, "* ]] || fail "a progress line with -v: $output"
}
