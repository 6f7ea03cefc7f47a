#!/usr/bin/env bats
# Checkpoints and crashes, the acceptance tests: what a checkpoint is worth when
# things die around it.
#
# - A job saved while its worker is still training, then killed whole with SIGKILL,
#   restarts from the checkpoint onto another number of servers with the very model
#   the live job had: the same weights (`ps-ctl get`, `ps-ckpt export`), the same
#   probabilities and the same test line.
# - A save whose writer (a server's fork()ed child) is killed half-way fails in one
#   line, leaves no checkpoint, and leaves the server serving and able to save again.
# - A ps-ckpt killed after the servers wrote their files but before the MANIFEST
#   leaves an incomplete folder that never counts as a checkpoint: not for list,
#   verify, latest (ps-worker --model, export) or prune; the next save works, and a
#   truncated slot file is named by verify.
#
# Processes are stopped (SIGSTOP) to hold a save at a chosen moment, never timed.

# (Each @test runs in a subshell, and a worker reads heart_scale into files named
# after it: both on purpose.)
# shellcheck disable=SC2030,SC2031,SC2094

load helper

bats_require_minimum_version 1.5.0

SUM=(-o optimizer.name=sum)
LINGER=(-o cluster.linger=true)
BATCH=(-o worker.batch_size=10)

setup() {
	ps_init
	# the folder of checkpoints of the test, for every program that reads ckpt.dir
	CKDIR=$PS_TMP/ck
	CK=(-o "ckpt.dir=$CKDIR")
}

# A stopped process would sit out ps_stop's SIGTERM: continue them all first. A
# failed test shows the logs of its killed job too (see kill_job).
teardown() {
	local p d
	feed_close
	for p in "${PS_PIDS[@]}"; do
		kill -CONT "$p" 2>/dev/null || true
	done
	ps_stop
	[ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
	for d in "$PS_TMP"/job-*/; do
		[ -d "$d" ] || continue
		echo "=== ${d%/}" >&2
		(PS_TMP=${d%/} ps_show_logs) >&2
	done
	echo "=== the last job" >&2
	ps_show_logs >&2
}

# runq CMD...: like `run --separate-stderr`: sets status, output (stdout), stderr, lines.
runq() {
	status=0
	output=$("$@" 2>"$PS_TMP/stderr") || status=$?
	stderr=$(<"$PS_TMP/stderr")
	mapfile -t lines <<<"$output"
}

# ckpt ARGS...: ps-ckpt against this test's cluster and folder of checkpoints.
ckpt() {
	timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-ckpt" -c "$PS_CONF" "${CK[@]}" "$@"
}

# offline ARGS...: ps-worker with no cluster, its checkpoints in CKDIR.
offline() {
	timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-worker" "${CK[@]}" "$@"
}

# save: ps-ckpt save succeeds and prints one absolute path; sets SAVED and NAME.
save() {
	runq ckpt save
	[ "$status" -eq 0 ] || fail "save: exit $status: $stderr"
	if [ "${#lines[@]}" -ne 1 ] || [[ "$output" != /* ]]; then
		fail "save printed '$output'"
	fi
	[ -z "$stderr" ] || fail "save wrote on stderr: $stderr"
	[ -f "$output/MANIFEST" ] || fail "no MANIFEST in $output"
	SAVED=$output
	NAME=${SAVED##*/}
}

# bg_save PREFIX: ps-ckpt save in the background, its pid tracked as ckpt-save (the
# program's own: no function or timeout in between, to stop or kill it), its output
# in PREFIX.out and PREFIX.err.
bg_save() {
	"$PS_BUILD/ps-ckpt" -c "$PS_CONF" "${CK[@]}" save >"$1.out" 2>"$1.err" \
	    </dev/null 3>&- &
	ps_track ckpt-save $!
}

# one_line TEXT: TEXT is one line.
one_line() {
	[ -n "$1" ] && [ "$(wc -l <<<"$1")" -eq 1 ]
}

# test_line FILE: TEST is FILE's one line 'test examples=270 ...'.
test_line() {
	TEST=$(grep '^test ' "$1") || fail "no test line: $(cat "$1")"
	[[ "$TEST" =~ ^test\ examples=270\ logloss=[0-9.]+\ accuracy=[0-9.]+\ auc=[0-9.]+$ ]] ||
	    fail "test line '$TEST'"
}

# examples_read N: the scheduler has heard from the worker that it trained N examples
# (counted once their push is answered).
examples_read() {
	ps_status | jq -e --argjson n "$1" \
	    '.nodes[] | select(.role == "worker") | .examples == $n' >/dev/null
}

# server_id NAME: the node id of server NAME (server0, server1...), from its log.
server_id() {
	ps_log_match "$PS_TMP/$1.log" 'node ([0-9]+) serving on ' || return 1
	echo "${BASH_REMATCH[1]}"
}

# folders: the names of the folders in CKDIR, one a line, sorted.
folders() {
	find "$CKDIR" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort
}

# new_folder OLD...: a folder of CKDIR other than the OLD names; in NEW. Polled.
new_folder() {
	local d o
	for d in "$CKDIR"/*/; do
		[ -d "$d" ] || continue
		d=${d%/}
		d=${d##*/}
		for o in "$@"; do
			[ "$d" = "$o" ] && continue 2
		done
		NEW=$d
		return 0
	done
	return 1
}

# catch_writer PID: stop PID's child as soon as it is there, within 10 s; its pid in
# KID. A server's only child is its save's writer. A busy loop of builtins: the writer
# may live for a tenth of a second. (The children file has no newline: read fails at
# its end, having read it.)
catch_writer() {
	local kids deadline=$((${EPOCHREALTIME/./} + 10000000))
	while [ "${EPOCHREALTIME/./}" -lt "$deadline" ]; do
		kids=
		read -r kids 2>/dev/null <"/proc/$1/task/$1/children" || true
		if [ -n "$kids" ]; then
			KID=${kids%% *}
			kill -STOP "$KID"
			return 0
		fi
	done
	return 1
}

# no_child PID: PID has no child left, not even a zombie: it reaped its writer.
no_child() {
	local kids=
	read -r kids 2>/dev/null <"/proc/$1/task/$1/children" || true
	[ -z "$kids" ]
}

# scheduler_answered N: the scheduler has logged N checkpoints written.
scheduler_answered() {
	[ "$(grep -c ': checkpoint: 2 files' "$PS_TMP/scheduler.log")" -eq "$1" ]
}

# kill_job TAG: SIGKILL every process of the job, no warning, no clean-up; their logs
# move to $PS_TMP/TAG, and the next job starts with fresh names.
kill_job() {
	local tag=$1 i
	for i in "${!PS_PIDS[@]}"; do
		kill -KILL "${PS_PIDS[$i]}" 2>/dev/null || true
	done
	for i in "${!PS_PIDS[@]}"; do
		wait_exit "${PS_PIDS[$i]}" || fail "${PS_NAMES[$i]} outlived SIGKILL"
		[ "$status" -eq 137 ] || fail "${PS_NAMES[$i]} had exited (status $status)"
	done
	feed_close
	mkdir "$PS_TMP/$tag"
	mv "$PS_TMP"/*.log "$PS_TMP"/*.out "$PS_TMP/$tag/"
	PS_PIDS=()
	PS_NAMES=()
}

# --- 1. a crash after a save, during training ---------------------------------------

@test "saved while the worker trains, the job killed -9, restored onto 3 servers: same model" {
	local n live_test i keys
	ps_heart
	n=$(wc -l <"$HEART")
	# 2 servers, default FTRL, one worker reading heart_scale from a fifo held open:
	# it trains on every line, then waits for more, its training not over
	start_scheduler 2 1 || fail "no scheduler"
	start_server "${CK[@]}" || fail "server0"
	start_server "${CK[@]}" || fail "server1"
	mkfifo "$PS_TMP/feed"
	start_worker trainer "$PS_TMP/feed" "${BATCH[@]}"
	exec {PS_FEED}>"$PS_TMP/feed"
	cat "$HEART" >&"$PS_FEED"
	wait_until "$PS_EXIT_TIMEOUT" examples_read "$n" ||
	    fail "the worker did not train: $(tail -n 3 "$PS_TMP/trainer.log")"

	save
	grep -qx 'optimizer: ftrl' "$SAVED/MANIFEST" || fail "$(cat "$SAVED/MANIFEST")"
	grep -qx 'files: 2' "$SAVED/MANIFEST" || fail "$(cat "$SAVED/MANIFEST")"
	# the sample of keys: the model's 14 (13 features and the bias), all of them
	ckpt export latest >"$PS_TMP/export" || fail "export failed"
	[ "$(wc -l <"$PS_TMP/export")" -eq 14 ] || fail "export: $(cat "$PS_TMP/export")"
	mapfile -t keys < <(cut -f 1 "$PS_TMP/export")
	ps_ctl get "${keys[@]}" >"$PS_TMP/live.get" || fail "ps-ctl get failed"
	diff "$PS_TMP/export" "$PS_TMP/live.get" >&2 ||
	    fail "the live job's weights are not the checkpoint's"
	cut -f 2 "$PS_TMP/live.get" | grep -qvx 0 || fail "every weight is 0"
	# A worker that would test the live job is refused while the trainer trains (the
	# job has its 1 worker; with more, its test would wait in the 'trained' barrier
	# for the trainer): the live job's test line comes from a client instead, which
	# predicts (nothing, from /dev/null) and then tests, on the same model.
	runq worker --test "$HEART" </dev/null
	[ "$status" -eq 1 ] && [[ "$stderr" == *"already has its 1 workers"* ]] ||
	    fail "a second worker: exit $status: $stderr"
	worker --predict --test "$HEART" </dev/null >"$PS_TMP/live.test" \
	    2>"$PS_TMP/live.test.log" || fail "live --predict --test: exit $?"
	test_line "$PS_TMP/live.test"
	live_test=$TEST
	worker --predict <"$HEART" >"$PS_TMP/live.predict" 2>"$PS_TMP/live.predict.log" ||
	    fail "live --predict: exit $?"
	[ "$(wc -l <"$PS_TMP/live.predict")" -eq "$n" ] || fail "live --predict: not $n lines"
	# the trainer is still at it: alive, its report not written
	alive "$(ps_pid trainer)" || fail "the trainer has exited"
	[ ! -s "$PS_TMP/trainer.out" ] || fail "the trainer reported: $(cat "$PS_TMP/trainer.out")"

	kill_job job-a

	# a new job of 3 servers, each restoring the slots the new map gives it
	start_scheduler 3 1 || fail "no scheduler for the restore"
	for i in 0 1 2; do
		start_server "${CK[@]}" --restore latest || fail "server$i --restore latest"
	done
	# (each restores at the first map, once the three have registered)
	for i in 0 1 2; do
		wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/server$i.log" \
		    "restored [0-9]+ keys of [0-9]+ slots from $SAVED " ||
		    fail "server$i: no restore from $SAVED logged"
	done
	ps_ctl get "${keys[@]}" >"$PS_TMP/restored.get" || fail "ps-ctl get failed"
	diff "$PS_TMP/export" "$PS_TMP/restored.get" >&2 ||
	    fail "the restored weights are not the export"
	diff "$PS_TMP/live.get" "$PS_TMP/restored.get" >&2 ||
	    fail "the restored weights are not the live job's"
	worker --predict <"$HEART" >"$PS_TMP/restored.predict" 2>/dev/null ||
	    fail "restored --predict: exit $?"
	diff "$PS_TMP/live.predict" "$PS_TMP/restored.predict" >/dev/null ||
	    fail "the restored probabilities are not the live job's"
	worker --predict --test "$HEART" </dev/null >"$PS_TMP/restored.ptest" 2>/dev/null ||
	    fail "restored --predict --test: exit $?"
	test_line "$PS_TMP/restored.ptest"
	[ "$TEST" = "$live_test" ] || fail "restored --predict --test '$TEST', live '$live_test'"
	# and the job's own worker, which trains on nothing and tests
	worker --test "$HEART" </dev/null >"$PS_TMP/restored.test" 2>"$PS_TMP/restored.log" ||
	    fail "restored --test: exit $?: $(cat "$PS_TMP/restored.log")"
	[ "$(grep -c . "$PS_TMP/restored.test")" -eq 2 ] &&
	    grep -q '^train examples=0 ' "$PS_TMP/restored.test" ||
	    fail "restored --test printed: $(cat "$PS_TMP/restored.test")"
	test_line "$PS_TMP/restored.test"
	[ "$TEST" = "$live_test" ] || fail "restored --test '$TEST', live '$live_test'"
	[[ "${TEST#*accuracy=}" == "${live_test#*accuracy=}" ]] || fail "accuracy differs"
	# the job ends with its one worker, well
	wait_exit "$(ps_pid scheduler)" || fail "the restored job did not end"
	[ "$status" -eq 0 ] || fail "the restored job's scheduler: exit $status"
}

# --- 2. a save killed half-way ------------------------------------------------------

@test "the writer child killed half-way: save fails in one line, the server serves and saves again" {
	local first s0 s1 kid size full t0 ms sid keys
	# two servers holding 2e6 keys between them: each writer takes a tenth of a second
	# or more (12 MB), long enough to be caught and stopped half-way
	start_scheduler 2 1 "${SUM[@]}" || fail "no scheduler"
	start_server "${SUM[@]}" || fail "server0"
	start_server "${SUM[@]}" || fail "server1"
	s0=$(server_id server0)
	s1=$(server_id server1)
	runq "$PS_BUILD/ps-bench" -c "$PS_CONF" "${SUM[@]}" -q -k 2e6 -r 1
	[ "$status" -eq 0 ] || fail "ps-bench: exit $status: $stderr"
	t0=${EPOCHREALTIME/./}
	save
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	first=$NAME
	grep -qx 'keys: 2000000' "$SAVED/MANIFEST" || fail "$(cat "$SAVED/MANIFEST")"
	full=$(stat -c %s "$SAVED/server-$s0.slots")
	echo "# the first save took $ms ms; server-$s0.slots is $full bytes" >&3
	ckpt export "$first" >"$PS_TMP/first.export" || fail "export failed"

	# the second save: server0's writer is caught as soon as it is forked, and let
	# run in steps of 5 ms until it has written part of its file
	bg_save "$PS_TMP/save2"
	catch_writer "$(ps_pid server0)" || fail "server0 forked no writer"
	kid=$KID
	ps_track writer "$kid"
	wait_until 5 new_folder "$first" || fail "no new folder"
	until [ -s "$CKDIR/$NEW/server-$s0.slots" ]; do
		alive "$kid" || fail "the writer ended before writing"
		kill -CONT "$kid"
		ps_sleep 0.005
		kill -STOP "$kid"
	done
	size=$(stat -c %s "$CKDIR/$NEW/server-$s0.slots")
	echo "# writer $kid stopped at $size of $full bytes" >&3
	[ "$size" -lt "$full" ] || fail "the writer had written its whole file"
	# server1's writer finishes; then server0's is killed
	wait_until 10 ps_log_has "$PS_TMP/server1.log" \
	    "saved [0-9]+ keys to $CKDIR/$NEW/server-$s1.slots " || fail "server1 did not save"
	alive "$(ps_pid ckpt-save)" || fail "ps-ckpt save ended with a writer stopped"
	kill -KILL "$kid"

	wait_exit "$(ps_pid ckpt-save)" || fail "ps-ckpt save did not end"
	[ "$status" -eq 1 ] || fail "ps-ckpt save: exit $status: $(cat "$PS_TMP/save2.err")"
	[ ! -s "$PS_TMP/save2.out" ] || fail "save printed $(cat "$PS_TMP/save2.out")"
	stderr=$(<"$PS_TMP/save2.err")
	one_line "$stderr" || fail "not one line: $stderr"
	[[ "$stderr" == *" ps-ckpt["*"]: error: save: "*"server-$s0.slots failed: the writer was killed by signal 9"* ]] ||
	    fail "stderr: $stderr"
	ps_log_has "$PS_TMP/scheduler.log" "warn.*checkpoint failed: .*signal 9" ||
	    fail "the scheduler logged no failure"
	# the server reaped its writer and serves on, both servers up with their slots
	wait_until 5 no_child "$(ps_pid server0)" || fail "server0 did not reap its writer"
	[ ! -e "/proc/$kid" ] || fail "the writer $kid is still there"
	alive "$(ps_pid server0)" && alive "$(ps_pid server1)" || fail "a server died"
	[ "$(ps_slots)" = "$s0:8192:up $s1:8192:up" ] || fail "status: $(ps_slots)"
	# and answers: 300 keys, as they were saved
	awk -F'\t' 'NR % 6667 == 1' "$PS_TMP/first.export" >"$PS_TMP/want"
	mapfile -t keys < <(cut -f 1 "$PS_TMP/want")
	ps_ctl get "${keys[@]}" >"$PS_TMP/got" || fail "ps-ctl get after the failure"
	diff "$PS_TMP/want" "$PS_TMP/got" >&2 || fail "the values changed"

	# the failed save's folder is gone; the first checkpoint is the only one, and latest
	[ "$(folders)" = "$first" ] || fail "folders: $(folders)"
	runq ckpt list
	[ "$status" -eq 0 ] && [ "${#lines[@]}" -eq 2 ] || fail "list: $output $stderr"
	[[ "${lines[1]}" =~ ^$first\ .*\ 2000000\ .*\ complete$ ]] || fail "list: ${lines[1]}"
	cmp -s "$PS_TMP/first.export" <(ckpt export latest) || fail "export latest is not $first"

	# 3. the server's save state was cleaned up: a second save works, and holds the
	# same model (nothing was pushed since), file for file
	save
	[ "$NAME" != "$first" ] || fail "the same name twice"
	run -0 ckpt verify "$NAME"
	for sid in "$s0" "$s1"; do
		cmp "$CKDIR/$first/server-$sid.slots" "$SAVED/server-$sid.slots" >&2 ||
		    fail "server-$sid.slots differs from the first checkpoint's"
	done
	# and the servers still take pushes
	runq "$PS_BUILD/ps-bench" -c "$PS_CONF" "${SUM[@]}" -q -k 1e4 -r 1
	[ "$status" -eq 0 ] || fail "ps-bench after the saves: exit $status: $stderr"
	! grep -E ': error: ' "$PS_TMP/server0.log" "$PS_TMP/server1.log" >&2 ||
	    fail "a server logged an error"
}

@test "ps-ckpt killed -9 between the files and the MANIFEST: an incomplete folder that counts for nothing" {
	local a0 a test_a test_b path s0 s1 file size keys arg
	ps_heart
	start_scheduler 2 1 "${LINGER[@]}" || fail "no scheduler"
	start_server "${CK[@]}" || fail "server0"
	start_server "${CK[@]}" || fail "server1"
	s0=$(server_id server0)
	s1=$(server_id server1)
	worker --test "$HEART" <"$HEART" >"$PS_TMP/a.out" 2>"$PS_TMP/a.log" ||
	    fail "worker a: exit $?"
	test_line "$PS_TMP/a.out"
	test_a=$TEST
	# two good checkpoints of model A
	save
	a0=$NAME
	save
	a=$NAME
	ckpt export "$a" >"$PS_TMP/a.export" || fail "export $a"
	# model B: a second worker joins the lingering job and trains more
	worker --test "$HEART" <"$HEART" >"$PS_TMP/b.out" 2>"$PS_TMP/b.log" ||
	    fail "worker b: exit $?"
	test_line "$PS_TMP/b.out"
	test_b=$TEST
	[ "$test_a" != "$test_b" ] || fail "training again changed nothing: $test_a"

	# The save of B, its ps-ckpt stopped once it has asked and killed once the
	# servers have written: the servers are stopped until ps-ckpt is.
	kill -STOP "$(ps_pid server0)" "$(ps_pid server1)"
	bg_save "$PS_TMP/save"
	wait_until 10 new_folder "$a0" "$a" || fail "no new folder"
	path=$CKDIR/$NEW
	wait_until 10 ps_log_has "$PS_TMP/scheduler.log" \
	    "ps-ckpt@.*: checkpoint into $path: 2 servers$" || fail "no CKPT_SAVE"
	kill -STOP "$(ps_pid ckpt-save)"
	kill -CONT "$(ps_pid server0)" "$(ps_pid server1)"
	wait_until 10 ps_log_has "$PS_TMP/server0.log" "saved [0-9]+ keys to $path/" &&
	    wait_until 10 ps_log_has "$PS_TMP/server1.log" "saved [0-9]+ keys to $path/" ||
	    fail "the servers did not save"
	wait_until 10 scheduler_answered 3 || fail "the scheduler did not answer"
	[ -f "$path/server-$s0.slots" ] && [ -f "$path/server-$s1.slots" ] ||
	    fail "files: $(ls "$path")"
	kill -KILL "$(ps_pid ckpt-save)"
	wait_exit "$(ps_pid ckpt-save)" || fail "ps-ckpt outlived SIGKILL"
	[ "$status" -eq 137 ] || fail "ps-ckpt had exited: $status $(cat "$PS_TMP/save.err")"

	# the folder stays, without MANIFEST
	[ "$(find "$path" -mindepth 1 -printf '%f\n' | sort | tr '\n' ' ')" = \
	    "server-$s0.slots server-$s1.slots " ] || fail "in $path: $(ls -A "$path")"
	runq ckpt list
	[ "$status" -eq 0 ] && [ "${#lines[@]}" -eq 4 ] || fail "list: $output $stderr"
	[[ "${lines[1]}" == "$a0 "*" complete" ]] || fail "list: $output"
	[[ "${lines[2]}" == "$a "*" complete" ]] || fail "list: $output"
	[[ "${lines[3]}" =~ ^${path##*/}\ .*\ -\ .*\ incomplete$ ]] || fail "list: $output"
	runq ckpt list --json
	jq -e '[.[].complete] == [true, true, false] and .[2].keys == null' \
	    <<<"$output" >/dev/null || fail "list --json: $output"
	# verify: no MANIFEST, by name and by path
	for arg in "${path##*/}" "$path"; do
		runq ckpt verify "$arg"
		[ "$status" -eq 1 ] || fail "verify $arg: exit $status"
		[ -z "$output" ] && one_line "$stderr" || fail "verify $arg: $output $stderr"
		[[ "$stderr" == *"error: $path: incomplete checkpoint: it has no MANIFEST" ]] ||
		    fail "verify $arg: $stderr"
	done
	# latest is A: the export, and the model evaluated with no cluster
	ckpt export latest >"$PS_TMP/latest.export" || fail "export latest"
	diff "$PS_TMP/a.export" "$PS_TMP/latest.export" >&2 || fail "export latest is not $a"
	mapfile -t keys < <(cut -f 1 "$PS_TMP/a.export")
	ps_ctl get "${keys[@]}" >"$PS_TMP/b.get" || fail "ps-ctl get"
	! cmp -s "$PS_TMP/a.export" "$PS_TMP/b.get" || fail "the live model is still A"
	runq offline --model latest --test "$HEART" </dev/null
	[ "$status" -eq 0 ] || fail "--model latest: exit $status: $stderr"
	[ "$output" = "$test_a" ] || fail "--model latest: '$output', A: '$test_a', B: '$test_b'"
	# prune --keep 1: the older A goes; the newest complete one and the newer
	# incomplete folder stay
	runq ckpt prune --keep 1
	[ "$status" -eq 0 ] && [ -z "$output$stderr" ] || fail "prune: $status $output $stderr"
	[ "$(folders | tr '\n' ' ')" = "$a ${path##*/} " ] || fail "after prune: $(folders)"
	run -0 ckpt verify "$a"
	runq ckpt prune --keep 1
	[ "$(folders | tr '\n' ' ')" = "$a ${path##*/} " ] || fail "after prune: $(folders)"

	# 3. the next save works (the scheduler's save ended with the dead ps-ckpt's), and
	# it is B, now the latest
	save
	run -0 ckpt verify "$NAME"
	ckpt export "$NAME" >"$PS_TMP/c.export" || fail "export $NAME"
	diff "$PS_TMP/b.get" "$PS_TMP/c.export" >&2 || fail "$NAME is not the live model"
	runq offline --model latest --test "$HEART" </dev/null
	[ "$output" = "$test_b" ] || fail "--model latest: '$output', B: '$test_b'"

	# a truncated slot file in this complete checkpoint: verify names it, export
	# prints nothing
	file=$SAVED/server-$s1.slots
	size=$(stat -c %s "$file")
	truncate -s $((size / 2)) "$file"
	runq ckpt verify "$NAME"
	[ "$status" -eq 1 ] || fail "verify of a truncated file: exit $status"
	[ -z "$output" ] && one_line "$stderr" || fail "verify: $output $stderr"
	[[ "$stderr" == *"error: $file: "* ]] || fail "verify does not name $file: $stderr"
	runq ckpt export "$NAME"
	[ "$status" -eq 1 ] && [ -z "$output" ] && [[ "$stderr" == *"$file"* ]] ||
	    fail "export of a truncated checkpoint: exit $status: $stderr"
}
