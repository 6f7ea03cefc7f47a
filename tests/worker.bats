#!/usr/bin/env bats
# ps-worker: libsvm input errors, --skip-bad, comments, --predict, --test, --json.

load helper

bats_require_minimum_version 1.5.0


setup() {
	ps_init
	ps_heart
}

# A few examples, and a comment line and a blank line in front of line 3.
good_lines() {
	printf '+1 1:0.5 2:-1\n# a comment\n\n'
}

@test "malformed lines: the error names stdin:LINE and what is wrong, exit 1" {
	local cases=(
		"2 1:1|bad label '2'"
		"yes 1:1|bad label 'yes'"
		"+1 1:0.5 abc|bad feature 'abc'"
		"+1 :1|bad feature ':1'"
		"+1 1:x|bad value in '1:x'"
		"-1 3:|bad value in '3:'"
		"+1 1:0.5 2:inf|feature '2:inf': value is not finite"
		"+1 7:nan|feature '7:nan': value is not finite"
		"-1 1:1e40|feature '1:1e40': value is not finite"
	)
	local c line want
	start_cluster 1 "${#cases[@]}"
	for c in "${cases[@]}"; do
		line=${c%%|*}
		want=${c#*|}
		{ good_lines; echo "$line"; echo "+1 1:1"; } >"$PS_TMP/bad.svm"
		run worker <"$PS_TMP/bad.svm"
		[ "$status" -eq 1 ] || fail "'$line': exit $status: $output"
		[[ "$output" == *"error: stdin:4: $want"* ]] ||
		    fail "'$line': want \"stdin:4: $want\" in: $output"
		[[ "$output" != *"train examples"* ]] || fail "'$line': reported results"
	done
}

@test "a malformed line in the --test file names that file and line, exit 1" {
	start_cluster 1 1
	printf '+1 1:1\n-1 1:-1\n+1 1:1 2\n' >"$PS_TMP/test.svm"
	run worker --test "$PS_TMP/test.svm" <"$HEART"
	assert_failure 1
	assert_output --partial "error: $PS_TMP/test.svm:3: bad feature '2'"
}

@test "a missing --test file is refused before connecting, exit 2" {
	# no cluster: the refusal must come first, not after training
	run timeout 5 "$PS_BUILD/ps-worker" -o scheduler.port=1 --test "$PS_TMP/nonexistent.svm" \
	    </dev/null
	assert_failure 2
	assert_output --partial "$PS_TMP/nonexistent.svm: No such file or directory"
}

@test "--skip-bad trains on the good lines and reports skipped=N" {
	start_cluster 1 1
	{
		head -n 100 "$HEART"
		echo "2 1:1"
		echo "+1 1:x"
		head -n 150 "$HEART" | tail -n 50
		echo "+1 5:inf"
	} >"$PS_TMP/mixed.svm"
	run --separate-stderr worker --skip-bad <"$PS_TMP/mixed.svm"
	assert_success
	assert_output --regexp '^train examples=150 logloss=[0-9.]+ accuracy=[0-9.]+ skipped=3$'
	[[ "$stderr" == *"stdin:101: bad label"* ]] || fail "no warning for line 101: $stderr"
	[[ "$stderr" == *"stdin:153: feature '5:inf'"* ]] || fail "no warning: $stderr"
	[[ "$stderr" == *"skipped 3 malformed lines"* ]] || fail "no summary: $stderr"
	# the job is over: a training worker finished, so the scheduler exits 0
	wait_exit "$(ps_pid scheduler)"
	[ "$status" -eq 0 ] || fail "scheduler exit $status"
}

@test "blank lines, comment lines, trailing comments and CRLF are not examples" {
	start_cluster 1 1
	printf '# header\n\n+1 1:1 2:1 # two features\r\n   \n\t\n-1 1:-1\r\n# end\n+1 3:0.25' \
	    >"$PS_TMP/commented.svm"
	run --separate-stderr worker --json <"$PS_TMP/commented.svm"
	assert_success
	echo "$output" | jq -e '.train_examples == 3 and .skipped == 0' ||
	    fail "want 3 examples: $output"
}

@test "--predict prints one probability in [0,1] per example line" {
	start_cluster 1 1
	# comments and blank lines between examples give no output line
	{ head -n 40 "$HEART"; echo; echo "# note"; head -n 60 "$HEART" | tail -n 20; } \
	    >"$PS_TMP/predict.svm"
	run --separate-stderr worker --predict <"$PS_TMP/predict.svm"
	assert_success
	[ "${#lines[@]}" -eq 60 ] || fail "${#lines[@]} lines for 60 examples"
	printf '%s\n' "${lines[@]}" | awk '
		!/^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ || $1 < 0 || $1 > 1 { bad++ }
		END { exit bad > 0 }' || fail "not a probability: $output"
	# a client does not count as a worker: the cluster is still up
	alive "$(ps_pid scheduler)" || fail "the scheduler exited after a --predict run"
}

@test "--predict with a trained model: probabilities follow the labels" {
	start_cluster 1 2 -v
	start_worker trainer "$HEART"
	# The trainer waits at the barrier for the second worker: the model is complete.
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/scheduler.log" "at barrier 'trained'"
	run --separate-stderr worker --predict <"$HEART"
	assert_success
	[ "${#lines[@]}" -eq 270 ] || fail "${#lines[@]} lines for 270 examples"
	# accuracy of p >= 0.5 against the labels, and not every p the same
	printf '%s\n' "${lines[@]}" | paste -d ' ' - <(cut -d ' ' -f 1 "$HEART") | awk '
		$1 < 0 || $1 > 1 { bad++ }
		{ ok += ($1 >= 0.5) == ($2 > 0); seen[$1] = 1 }
		END { n = 0; for (p in seen) n++
		      printf "accuracy %.3f, %d distinct values\n", ok / NR, n
		      exit bad > 0 || ok / NR < 0.75 || n < 100 }' || fail "poor predictions"
	# the second worker, with nothing to train on, lets the job end
	run worker </dev/null
	assert_success
	wait_exit "$(ps_pid trainer)"
	[ "$status" -eq 0 ] || fail "trainer exit $status"
	wait_exit "$(ps_pid scheduler)"
	[ "$status" -eq 0 ] || fail "scheduler exit $status"
}

@test "--test prints logloss, accuracy and AUC" {
	start_cluster 1 1
	run --separate-stderr worker --test "$HEART" <"$HEART"
	assert_success
	assert_line --index 0 --regexp '^train examples=270 logloss=[0-9.]+ accuracy=[0-9.]+ skipped=0$'
	assert_line --index 1 --regexp '^test examples=270 logloss=[0-9.]+ accuracy=[0-9.]+ auc=[0-9.]+$'
	echo "${lines[1]}" | tr ' ' '\n' | awk -F= '
		$1 == "logloss" && ($2 <= 0 || $2 >= 0.69) { bad++ }
		$1 == "accuracy" && $2 < 0.75 { bad++ }
		$1 == "auc" && ($2 < 0.8 || $2 > 1) { bad++ }
		END { exit bad > 0 }' || fail "poor test figures: ${lines[1]}"
}

@test "--json prints one JSON object that jq reads" {
	start_cluster 1 1
	run --separate-stderr worker --json --test "$HEART" <"$HEART"
	assert_success
	[ "${#lines[@]}" -eq 1 ] || fail "want one line: $output"
	echo "$output" | jq -e '
		.train_examples == 270 and .skipped == 0 and .examples == 270 and
		(.train_logloss | type) == "number" and (.train_accuracy | type) == "number" and
		.accuracy >= 0.75 and .accuracy <= 1 and .logloss > 0 and .auc > 0.8 and
		.auc <= 1' || fail "bad JSON: $output"
}

@test "--predict --json prints the predictions, then an object jq reads" {
	start_cluster 1 1
	run --separate-stderr worker --predict --json --test "$HEART" < <(head -n 5 "$HEART")
	assert_success
	[ "${#lines[@]}" -eq 6 ] || fail "want 5 predictions and the JSON: $output"
	echo "${lines[5]}" | jq -e '.examples == 270 and has("train_examples") == false' ||
	    fail "bad JSON: ${lines[5]}"
}

@test "ps-worker refuses model.dim other than 1 before connecting, exit 2" {
	run timeout 5 "$PS_BUILD/ps-worker" -o scheduler.port=1 -o model.dim=2 </dev/null
	assert_failure 2
	assert_output --partial "model.dim must be 1"
}

@test "--predict into a closed pipe (| head) stops quietly, exit 0" {
	start_cluster 1 1
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do cat "$HEART"; done >"$PS_TMP/many.svm"
	worker --predict <"$PS_TMP/many.svm" 2>"$PS_TMP/predict.log" | head -n 2 >"$PS_TMP/two"
	[ "${PIPESTATUS[0]}" -eq 0 ] || fail "exit ${PIPESTATUS[0]}: $(cat "$PS_TMP/predict.log")"
	[ "$(wc -l <"$PS_TMP/two")" -eq 2 ] || fail "$(cat "$PS_TMP/two")"
	! grep -q 'error' "$PS_TMP/predict.log" || fail "an error logged: $(cat "$PS_TMP/predict.log")"
}

@test "a server listening on 0.0.0.0 is given to workers at the address that reaches the scheduler" {
	start_scheduler 1 1
	start_server -o server.host=0.0.0.0
	local addr
	addr=$(ps_status | jq -r '.nodes[] | select(.role == "server") | .addr')
	[ "$addr" = "127.0.0.1:$SERVER_PORT" ] || fail "the map gives '$addr'"
	worker --test "$HEART" <"$HEART" >"$PS_TMP/w.out" 2>"$PS_TMP/w.log" ||
	    fail "the worker failed: $(cat "$PS_TMP/w.log")"
	grep -q '^test examples=270 ' "$PS_TMP/w.out" || fail "$(cat "$PS_TMP/w.out")"
}

@test "server.advertise names the address workers are given" {
	start_scheduler 1 1
	start_server -o server.advertise=localhost
	local addr
	addr=$(ps_status | jq -r '.nodes[] | select(.role == "server") | .addr')
	[ "$addr" = "localhost:$SERVER_PORT" ] || fail "the map gives '$addr'"
	worker --test "$HEART" <"$HEART" >"$PS_TMP/w.out" 2>"$PS_TMP/w.log" ||
	    fail "the worker failed: $(cat "$PS_TMP/w.log")"
}
