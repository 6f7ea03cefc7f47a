#!/usr/bin/env bats
# Models that outlive their job: a job that lingers after its last worker
# (cluster.linger), a checkpoint of it (ps-ckpt save), the checkpoint read back with no
# cluster at all (ps-worker --model CKPT --predict / --test), and restored into a new
# job of any number of servers (ps-server --restore NAME|latest).
#
# The claims are exact: the offline model prints the very probabilities and test line
# of the live job; a restored job answers `ps-ctl get` with the export of the
# checkpoint, line for line, and evaluates as the job that saved it; a job restored
# and trained on more data ends with the model of one job trained on all of it; and,
# with optimizer.name=sum, a checkpoint holds exactly what ps-bench pushed.

load helper

bats_require_minimum_version 1.5.0

SUM=(-o optimizer.name=sum)
LINGER=(-o cluster.linger=true)

setup() {
	ps_init
	# the folder of checkpoints of the test, for every program that reads ckpt.dir
	CKDIR=$PS_TMP/ck
	CK=(-o "ckpt.dir=$CKDIR")
}

# A failed test shows the logs of its finished jobs too (see end_job).
teardown() {
	local d
	feed_close
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

# offline ARGS...: ps-worker with no cluster options, with a time limit (status 124).
offline() {
	timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-worker" "$@"
}

# linger_job S [ARGS...]: a scheduler for S servers and 1 worker that serves on after
# its last worker (cluster.linger), and S servers started with ckpt.dir and ARGS
# (such as --restore latest, or -o optimizer.name=sum).
linger_job() {
	local s=$1 i job=()
	shift
	# the job's optimizer is the scheduler's: give it the servers' sum
	[[ " $* " == *" optimizer.name=sum "* ]] && job=("${SUM[@]}")
	start_scheduler "$s" 1 "${LINGER[@]}" "${job[@]}" || return 1
	for ((i = 0; i < s; i++)); do
		start_server "${CK[@]}" "$@" || return 1
	done
}

# end_job TAG: ps-ctl shutdown ends the job: the scheduler and every server exit 0.
# Their logs move to $PS_TMP/TAG, and the next job starts with fresh names.
end_job() {
	local tag=$1 i
	runq ps_ctl shutdown
	[ "$status" -eq 0 ] || fail "shutdown: exit $status: $stderr"
	for i in "${!PS_NAMES[@]}"; do
		[[ "${PS_NAMES[$i]}" == scheduler || "${PS_NAMES[$i]}" == server* ]] || continue
		wait_exit "${PS_PIDS[$i]}" ||
		    fail "${PS_NAMES[$i]} did not exit after ps-ctl shutdown"
		[ "$status" -eq 0 ] || fail "${PS_NAMES[$i]}: exit $status after ps-ctl shutdown"
	done
	mkdir "$PS_TMP/$tag"
	mv "$PS_TMP"/*.log "$PS_TMP"/*.out "$PS_TMP/$tag/"
	PS_PIDS=()
	PS_NAMES=()
}

# lingering: the scheduler has logged that the job serves on after its last worker.
lingering() {
	ps_log_has "$PS_TMP/scheduler.log" 'all workers finished .*serving on \(cluster\.linger\)'
}

# save: ps-ckpt save succeeds and prints one absolute path; sets SAVED and NAME.
save() {
	runq ckpt save
	[ "$status" -eq 0 ] || fail "save: exit $status: $stderr"
	if [ "${#lines[@]}" -ne 1 ] || [[ "$output" != /* ]]; then
		fail "save printed '$output'"
	fi
	[ -f "$output/MANIFEST" ] || fail "no MANIFEST in $output"
	SAVED=$output
	NAME=${SAVED##*/}
}

# train OUT [ARGS...]: a worker of this job trains on HEART with ARGS and tests on it;
# exit 0, its output in $PS_TMP/OUT; TEST is its test line.
# shellcheck disable=SC2094
train() {
	local out=$1
	shift
	worker "$@" --test "$HEART" <"$HEART" >"$PS_TMP/$out" 2>"$PS_TMP/$out.log" ||
	    fail "$out: exit $?: $(tail -n 3 "$PS_TMP/$out.log")"
	test_line "$PS_TMP/$out"
}

# test_line FILE: TEST is FILE's one line 'test examples=270 ...'.
test_line() {
	TEST=$(grep '^test ' "$1") || fail "no test line: $(cat "$1")"
	[[ "$TEST" =~ ^test\ examples=270\ logloss=[0-9.]+\ accuracy=[0-9.]+\ auc=[0-9.]+$ ]] ||
	    fail "test line '$TEST'"
}

# logloss LINE: the logloss of a test line.
logloss() {
	[[ "$1" =~ logloss=([0-9.]+) ]] || fail "no logloss in '$1'"
	echo "${BASH_REMATCH[1]}"
}

# status_keys N: the servers' keys in `ps-ctl status` (heartbeat figures) add up to N.
status_keys() {
	ps_status | jq -e --argjson n "$1" \
	    '[.nodes[] | select(.role == "server") | .keys] | add == $n' >/dev/null
}

# flip FILE OFFSET: invert the byte at OFFSET of FILE, in place.
flip() {
	local byte
	byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $((byte ^ 255)))" |
	    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# --- offline --------------------------------------------------------------------------

@test "ps-worker --model CKPT: the live job's probabilities and test line, with no cluster" {
	local live file size
	ps_heart
	linger_job 2
	train trainer
	# the worker is done, the job serves on
	wait_until "$PS_START_TIMEOUT" lingering || fail "the job did not linger"
	save
	worker --predict <"$HEART" >"$PS_TMP/live.predict" 2>"$PS_TMP/live.predict.log" ||
	    fail "live --predict: exit $?: $(cat "$PS_TMP/live.predict.log")"
	[ "$(wc -l <"$PS_TMP/live.predict")" -eq 270 ] || fail "live --predict: $(wc -l <"$PS_TMP/live.predict") lines"
	# a worker with no training data joins the lingering job and evaluates it
	worker --test "$HEART" </dev/null >"$PS_TMP/live.test" 2>"$PS_TMP/live.test.log" ||
	    fail "live --test: exit $?: $(cat "$PS_TMP/live.test.log")"
	test_line "$PS_TMP/live.test"
	live=$TEST
	[ "$live" = "$(grep '^test ' "$PS_TMP/trainer")" ] ||
	    fail "the trainer's test line and a later worker's differ: $live"
	end_job job-a

	# The job is over: the checkpoint alone. Its path as save printed it...
	offline --model "$SAVED" --predict <"$HEART" >"$PS_TMP/off.predict" \
	    2>"$PS_TMP/off.predict.log" ||
	    fail "--model --predict: exit $?: $(cat "$PS_TMP/off.predict.log")"
	diff "$PS_TMP/live.predict" "$PS_TMP/off.predict" >&2 ||
	    fail "the offline probabilities are not the live job's"
	# ...its name in ckpt.dir, with the dead cluster's options (harmless)...
	runq offline -c "$PS_CONF" "${CK[@]}" --model "$NAME" --predict <"$HEART"
	[ "$status" -eq 0 ] || fail "--model NAME: exit $status: $stderr"
	[ "$output" = "$(<"$PS_TMP/live.predict")" ] || fail "--model NAME: other probabilities"
	# ...and latest: the test line and nothing else (no train line, stdin unread)
	runq offline "${CK[@]}" --model latest --test "$HEART" </dev/null
	[ "$status" -eq 0 ] || fail "--model latest --test: exit $status: $stderr"
	[ "$output" = "$live" ] || fail "--model latest --test: '$output', live: '$live'"
	[[ "$stderr" != *"error"* && "$stderr" != *"warn"* ]] || fail "--model latest: $stderr"
	runq offline "${CK[@]}" --model latest --test "$HEART" --json </dev/null
	jq -e '.examples == 270 and (has("train_examples") | not)' <<<"$output" >/dev/null ||
	    fail "--json: $output"

	# a damaged copy: nothing printed, one line naming the file, exit 1
	cp -r "$SAVED" "$PS_TMP/broken"
	file=$(find "$PS_TMP/broken" -name 'server-*.slots' | sort | tail -n 1)
	size=$(stat -c %s "$file")
	flip "$file" $((size - 3))
	runq offline --model "$PS_TMP/broken" --predict <"$HEART"
	[ "$status" -eq 1 ] || fail "a damaged checkpoint: exit $status: $stderr"
	[ -z "$output" ] || fail "a damaged checkpoint printed $(wc -l <<<"$output") lines"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] && [[ "$stderr" == *"${file##*/}"* ]] ||
	    fail "a damaged checkpoint: '$stderr'"
}

# --- restore --------------------------------------------------------------------------

@test "ps-server --restore latest onto 3 servers of a save by 2: every key, the same test" {
	local keys n restored live f sum=0
	ps_heart
	linger_job 2
	train trainer
	live=$TEST
	save
	ckpt export "$NAME" >"$PS_TMP/export" || fail "export failed"
	n=$(wc -l <"$PS_TMP/export")
	[ "$n" -eq 14 ] || fail "heart_scale has 13 features and the bias: $n keys exported"
	end_job job-a

	linger_job 3 --restore latest
	# each server restored the keys of its slots, whichever server saved them
	for f in "$PS_TMP"/server{0,1,2}.log; do
		ps_log_match "$f" "restored ([0-9]+) keys of [0-9]+ slots from $SAVED in " ||
		    fail "${f##*/}: no restore logged"
		restored=${BASH_REMATCH[1]}
		[ "$restored" -gt 0 ] || fail "${f##*/} restored no key"
		sum=$((sum + restored))
	done
	[ "$sum" -eq "$n" ] || fail "$sum keys restored, $n exported"
	# (Text against text: export and ps-ctl get both print %.9g, the digits that give
	# back the exact float.)
	mapfile -t keys < <(cut -f 1 "$PS_TMP/export")
	ps_ctl get "${keys[@]}" >"$PS_TMP/got" || fail "ps-ctl get failed"
	diff "$PS_TMP/export" "$PS_TMP/got" >&2 || fail "ps-ctl get differs from the export"
	wait_until "$PS_START_TIMEOUT" status_keys "$n" ||
	    fail "status: $(ps_status | jq -c '[.nodes[] | select(.role == "server") | .keys]')"
	worker --test "$HEART" </dev/null >"$PS_TMP/restored.test" 2>"$PS_TMP/restored.log" ||
	    fail "--test on the restored job: exit $?: $(cat "$PS_TMP/restored.log")"
	test_line "$PS_TMP/restored.test"
	[ "$TEST" = "$live" ] || fail "restored: '$TEST', the job that saved: '$live'"
	# a save of the restored job is the same model
	save
	ckpt export "$NAME" >"$PS_TMP/export2" || fail "export of the restored job failed"
	diff "$PS_TMP/export" "$PS_TMP/export2" >&2 || fail "a save of the restored job differs"
	end_job job-b
}

@test "ps-ckpt restore: a save by 2 servers loaded into a running job of 3, any key's server" {
	local keys n live
	ps_heart
	linger_job 2
	train trainer
	live=$TEST
	save
	ckpt export "$NAME" >"$PS_TMP/export" || fail "export failed"
	n=$(wc -l <"$PS_TMP/export")
	end_job job-a

	linger_job 3
	runq ckpt restore latest
	[ "$status" -eq 0 ] || fail "restore: exit $status: $stderr"
	[ "$output" = "restored $n keys from $SAVED" ] || fail "restore printed '$output'"
	mapfile -t keys < <(cut -f 1 "$PS_TMP/export")
	ps_ctl get "${keys[@]}" >"$PS_TMP/got" || fail "ps-ctl get failed"
	diff "$PS_TMP/export" "$PS_TMP/got" >&2 || fail "ps-ctl get differs from the export"
	worker --test "$HEART" </dev/null >"$PS_TMP/restored.test" 2>"$PS_TMP/restored.log" ||
	    fail "--test on the restored job: exit $?: $(cat "$PS_TMP/restored.log")"
	test_line "$PS_TMP/restored.test"
	[ "$TEST" = "$live" ] || fail "restored: '$TEST', the job that saved: '$live'"
	# a damaged checkpoint loads nothing
	cp -r "$SAVED" "$PS_TMP/ck/broken"
	rm "$PS_TMP/ck/broken/MANIFEST"
	runq ckpt restore broken
	[ "$status" -eq 1 ] && [[ "$stderr" == *"no MANIFEST"* ]] ||
	    fail "restore of a checkpoint with no MANIFEST: exit $status: $stderr"
	end_job job-b
}

# Job A trains on heart_scale and saves; job B, restored from A's checkpoint, trains
# on it again; job C trains on it twice in one stream. The servers' FTRL state (z, n
# per key) is the whole model and is restored exactly, and a worker keeps nothing
# between mini-batches, so B ends with C's model provided B's mini-batches are C's
# second half: batches of 10 (or any divisor of 270) cut the doubled stream at line
# 270 as they cut A's and B's. (With the default 100, C's batch 201-300 straddles the
# seam, and B and C differ a little.)
@test "warm start: trained, saved, restored and trained again = trained on both at once" {
	local a b c
	ps_heart
	BATCH=(-o worker.batch_size=10)
	linger_job 2
	train a.out "${BATCH[@]}"
	a=$TEST
	save
	end_job job-a

	linger_job 1 --restore "$NAME"
	train b.out "${BATCH[@]}"
	b=$TEST
	save
	ckpt export "$NAME" >"$PS_TMP/b.export" || fail "export B"
	end_job job-b

	cat "$HEART" "$HEART" >"$PS_TMP/twice"
	linger_job 2
	worker "${BATCH[@]}" --test "$HEART" <"$PS_TMP/twice" >"$PS_TMP/c.out" \
	    2>"$PS_TMP/c.log" || fail "C: exit $?: $(tail -n 3 "$PS_TMP/c.log")"
	grep -q '^train examples=540 ' "$PS_TMP/c.out" || fail "C: $(cat "$PS_TMP/c.out")"
	test_line "$PS_TMP/c.out"
	c=$TEST
	save
	ckpt export "$NAME" >"$PS_TMP/c.export" || fail "export C"
	end_job job-c

	# more training helped, and B is C
	awk -v a="$(logloss "$a")" -v b="$(logloss "$b")" 'BEGIN { exit !(b < a) }' ||
	    fail "B's logloss is not below A's: A '$a', B '$b'"
	[ "$b" = "$c" ] || fail "B '$b', C '$c' (A '$a')"
	diff "$PS_TMP/b.export" "$PS_TMP/c.export" >&2 || fail "B's model is not C's"
}

# --- exact values ---------------------------------------------------------------------

@test "optimizer sum: a checkpoint holds what ps-bench pushed; a restored job adds to it" {
	local n step keys
	linger_job 2 "${SUM[@]}"
	runq "$PS_BUILD/ps-bench" -c "$PS_CONF" "${SUM[@]}" -k 1e4 -r 2
	[ "$status" -eq 0 ] || fail "ps-bench: exit $status: $stderr"
	# every push was acknowledged before ps-bench pulled and checked
	save
	ckpt export "$NAME" >"$PS_TMP/export" || fail "export failed"
	n=$(wc -l <"$PS_TMP/export")
	[ "$n" -eq 10000 ] || fail "$n keys exported"
	wait_until "$PS_START_TIMEOUT" status_keys 10000 ||
	    fail "status: $(ps_status | jq -c '[.nodes[] | select(.role == "server") | .keys]')"
	# every 25th key
	step=25
	awk -F'\t' -v s=$step 'NR % s == 1' "$PS_TMP/export" >"$PS_TMP/want"
	mapfile -t keys < <(cut -f 1 "$PS_TMP/want")
	ps_ctl get "${keys[@]}" >"$PS_TMP/got" || fail "ps-ctl get failed"
	diff "$PS_TMP/want" "$PS_TMP/got" >&2 || fail "export and ps-ctl get differ"
	[ "$(cut -f 2 "$PS_TMP/want" | grep -cvx 0)" -gt 350 ] || fail "mostly zeros"
	end_job job-a

	# One server restores all of it; the same ps-bench run pushes the same sums on top
	# (it reads the values it starts from), so each value doubles, exactly: the sums
	# are multiples of 1/8.
	start_scheduler 1 1 "${LINGER[@]}" "${SUM[@]}"
	start_server "${CK[@]}" "${SUM[@]}" --restore latest
	ps_ctl get "${keys[@]}" >"$PS_TMP/got" || fail "ps-ctl get failed"
	diff "$PS_TMP/want" "$PS_TMP/got" >&2 || fail "the restored values differ"
	runq "$PS_BUILD/ps-bench" -c "$PS_CONF" "${SUM[@]}" -k 1e4 -r 2
	[ "$status" -eq 0 ] || fail "ps-bench on the restored job: exit $status: $stderr"
	ps_ctl get "${keys[@]}" >"$PS_TMP/got" || fail "ps-ctl get failed"
	paste "$PS_TMP/want" "$PS_TMP/got" | awk -F'\t' '
	    $1 != $3 || $4 != 2 * $2 { print; bad = 1 } END { exit bad }' >&2 ||
	    fail "not twice the saved values"
	wait_until "$PS_START_TIMEOUT" status_keys 10000 ||
	    fail "status: $(ps_status | jq -c '[.nodes[] | select(.role == "server") | .keys]')"
	end_job job-b
}

# --- errors ---------------------------------------------------------------------------

@test "ps-worker --model: no MANIFEST, no such name, no --predict or --test: one line, exit" {
	local out arg
	ps_heart
	mkdir -p "$CKDIR/20260101T000000Z" "$PS_TMP/empty"
	: >"$CKDIR/20260101T000000Z/server-1.slots"
	# a folder without a MANIFEST, by path and by name
	for arg in "$CKDIR/20260101T000000Z" 20260101T000000Z "$PS_TMP/empty"; do
		runq offline "${CK[@]}" --model "$arg" --predict <"$HEART"
		[ "$status" -eq 1 ] || fail "--model $arg: exit $status: $stderr"
		[ -z "$output" ] || fail "--model $arg: stdout '$output'"
		[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "--model $arg: not one line: $stderr"
		[[ "$stderr" == *" ps-worker["*"]: error: "*"$arg"*MANIFEST* ]] ||
		    fail "--model $arg: '$stderr'"
	done
	# a name that does not exist
	runq offline "${CK[@]}" --model nosuch --test "$HEART" </dev/null
	[ "$status" -eq 1 ] && [ -z "$output" ] || fail "nosuch: exit $status: $output"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] && [[ "$stderr" == *"error: nosuch: "* ]] ||
	    fail "nosuch: '$stderr'"
	# latest, with no complete checkpoint, or no folder of checkpoints at all
	runq offline "${CK[@]}" --model latest --predict <"$HEART"
	[ "$status" -eq 1 ] && [ -z "$output" ] || fail "latest: exit $status: $output"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] &&
	    [[ "$stderr" == *"error: $CKDIR: no complete checkpoint"* ]] || fail "latest: '$stderr'"
	runq offline -o "ckpt.dir=$PS_TMP/none" --model latest --predict <"$HEART"
	[ "$status" -eq 1 ] && [[ "$stderr" == *"$PS_TMP/none"* ]] ||
	    fail "latest, no folder: exit $status: '$stderr'"
	# a model is read-only: without --predict or --test there is nothing to do, a
	# usage error (exit 2: the message, then the usage, as for any usage error)
	runq offline "${CK[@]}" --model latest <"$HEART"
	[ "$status" -eq 2 ] || fail "no --predict: exit $status"
	[ -z "$output" ] || fail "no --predict: stdout '$output'"
	[[ "$(head -n 1 <<<"$stderr")" == *"--predict or --test"* ]] ||
	    fail "no --predict: '$stderr'"
	# nothing listens: none of these tried a scheduler (no 10 s of retries)
	out=$(offline -o scheduler.port=1 "${CK[@]}" --model nosuch --predict 2>&1 </dev/null) &&
	    fail "nosuch with a closed port: exit 0"
	[[ "$out" != *scheduler* ]] || fail "it went for the scheduler: $out"
}

@test "ps-server --restore nosuch: exit 1, one line naming it, before registering" {
	local t0 t1
	start_scheduler 1 1
	t0=${EPOCHREALTIME/./}
	runq timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-server" -c "$PS_CONF" "${CK[@]}" \
	    --restore nosuch
	t1=${EPOCHREALTIME/./}
	[ "$status" -eq 1 ] || fail "exit $status: $stderr"
	[ -z "$output" ] || fail "stdout: $output"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "not one line: $stderr"
	[[ "$stderr" == *" ps-server["*"]: error: "*nosuch* ]] || fail "stderr: '$stderr'"
	[ $(((t1 - t0) / 1000)) -lt 2000 ] || fail "took $(((t1 - t0) / 1000)) ms"
	# latest in a folder of checkpoints that does not exist
	runq timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-server" -c "$PS_CONF" \
	    -o "ckpt.dir=$PS_TMP/none" --restore latest
	[ "$status" -eq 1 ] && [ "$(wc -l <<<"$stderr")" -eq 1 ] &&
	    [[ "$stderr" == *"error: "*"$PS_TMP/none"* ]] || fail "latest: exit $status: $stderr"
	# the scheduler never heard of them: no server registered, no map
	! grep -q 'registered' "$PS_TMP/scheduler.log" ||
	    fail "a server registered: $(cat "$PS_TMP/scheduler.log")"
	runq ps_status
	jq -e '([.nodes[] | select(.role == "server")] | length == 0) and .epoch == 0' \
	    <<<"$output" >/dev/null || fail "status: $output"
}

# --- linger ---------------------------------------------------------------------------

# shellcheck disable=SC2094
@test "cluster.linger: the job serves on after its worker; another joins; shutdown ends it" {
	local sid
	ps_heart
	start_scheduler 1 1 "${LINGER[@]}" -o net.heartbeat_interval=0.2
	start_server -o net.heartbeat_interval=0.2	# the scheduler's: not "suspect"
	sid=$(ps_status | jq '.nodes[] | select(.role == "server") | .id')
	# a first worker, held open: while it trains the job has its 1 worker
	mkfifo "$PS_TMP/feed"
	start_worker first "$PS_TMP/feed" -o net.heartbeat_interval=0.2
	exec {PS_FEED}>"$PS_TMP/feed"
	head -n 100 "$HEART" >&"$PS_FEED"
	wait_until "$PS_EXIT_TIMEOUT" examples 100 || fail "the first worker did not train"
	runq worker <"$HEART"
	[ "$status" -eq 1 ] || fail "a second worker while the first trains: exit $status"
	[[ "$stderr" == *"already has its 1 workers"* ]] || fail "refused how: $stderr"
	feed_rest
	wait_exit "$(ps_pid first)" || fail "the first worker did not finish"
	[ "$status" -eq 0 ] || fail "the first worker: exit $status: $(tail -n 3 "$PS_TMP/first.log")"
	grep -q '^train examples=270 ' "$PS_TMP/first.out" || fail "first: $(cat "$PS_TMP/first.out")"

	# the job is still up: the scheduler answers, the server is up and keeps the model
	wait_until "$PS_START_TIMEOUT" lingering || fail "no linger in the log"
	wait_until "$PS_START_TIMEOUT" status_keys 14 ||
	    fail "status: $(ps_status | jq -c '[.nodes[] | select(.role == "server") | .keys]')"
	alive "$(ps_pid scheduler)" || fail "the scheduler ended the job"
	runq ps_status
	[ "$status" -eq 0 ] || fail "status: exit $status: $stderr"
	jq -e --argjson s "$sid" '.nodes[] | select(.id == $s) |
	    .state == "up" and .slots == 16384' <<<"$output" >/dev/null ||
	    fail "status: $output"
	jq -e '[.nodes[] | select(.role == "worker")] | length == 1 and .[0].state == "done"' \
	    <<<"$output" >/dev/null || fail "status: $output"

	# a second worker joins, trains on, and ends; the job lingers again
	runq worker --test "$HEART" <"$HEART"
	[ "$status" -eq 0 ] || fail "the second worker: exit $status: $stderr"
	[[ "${lines[0]}" == "train examples=270 "* ]] || fail "second: $output"
	ps_sleep 0.3
	alive "$(ps_pid scheduler)" || fail "the scheduler ended after the second worker"
	ps_servers >/dev/null || fail "no status after the second worker"

	runq ps_ctl shutdown
	[ "$status" -eq 0 ] || fail "shutdown: exit $status: $stderr"
	wait_exit "$(ps_pid scheduler)" || fail "the scheduler did not exit"
	[ "$status" -eq 0 ] || fail "the scheduler: exit $status"
	wait_exit "$(ps_pid server0)" || fail "the server did not exit"
	[ "$status" -eq 0 ] || fail "the server: exit $status"
	# (but for the refused registration)
	! grep -E ': (error|warn): ' "$PS_TMP/scheduler.log" "$PS_TMP/server0.log" |
	    grep -v 'REGISTER: the cluster already has its 1 workers$' ||
	    fail "a warning or an error was logged"
}
# examples N: the workers' examples in `ps-ctl status` add up to N.
examples() {
	ps_status | jq -e --argjson n "$1" \
	    '[.nodes[] | select(.role == "worker") | .examples] | add == $n' >/dev/null
}
