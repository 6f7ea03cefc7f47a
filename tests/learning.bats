#!/usr/bin/env bats
# Learning: several passes over the data (the cache), logistic and linear regression
# and factorization machines, next to liblinear; the guard rails (a diverged model,
# optimizer sum), per-pass figures and --early-stop. Data: data/heart_scale, the
# SpamAssassin split of `make data`, and tests/gen-interactions and tests/gen-linear
# (awk, seeded). Each job is one server and one worker unless told: with one worker
# training is deterministic, so the figures below are the same at every run.

load helper

bats_require_minimum_version 1.5.0

setup() {
	ps_init
	ps_heart
	SPAM=$PS_ROOT/data/spam
}

teardown() {
	ps_teardown_job
}

# now: the wall clock, in seconds with nanoseconds.
now() {
	date +%s.%N
}

# is AWK-EXPRESSION: true when the expression (numbers substituted in) holds.
is() {
	awk "BEGIN { exit !($1) }"
}

# elapsed T0 T1: T1 - T0, in seconds, 3 decimals.
elapsed() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'
}

# note TEXT: a line in bats' output (the figures each run measured).
note() {
	echo "# $*" >&3
}

# liblinear TRAIN TEST: liblinear-train -s 0 (L2 logistic regression) on TRAIN,
# liblinear-predict on TEST: LL_ACC (percent) and LL_SECS, the wall time of both.
liblinear() {
	local t0 t1 out
	command -v liblinear-train >/dev/null ||
	    skip "liblinear-train is missing (Debian's liblinear-tools)"
	t0=$(now)
	liblinear-train -s 0 -q "$1" "$PS_TMP/ll.model" || fail "liblinear-train failed"
	out=$(liblinear-predict "$2" "$PS_TMP/ll.model" "$PS_TMP/ll.out") ||
	    fail "liblinear-predict failed"
	t1=$(now)
	LL_ACC=$(echo "$out" | sed -n 's/^Accuracy = \([0-9.]*\)%.*/\1/p')
	[ -n "$LL_ACC" ] || fail "liblinear-predict printed: $out"
	LL_SECS=$(elapsed "$t0" "$t1")
}

# fresh: the processes of the job before stopped and forgotten (its scheduler has
# exited), so that the helpers wait for the next job's, not its.
fresh() {
	ps_stop
	PS_PIDS=()
	PS_NAMES=()
}

# sanitized: the programs are built with AddressSanitizer (make sanitize), which
# slows them several times: no time is compared then.
sanitized() {
	grep -q __asan_init "$PS_BUILD/ps-worker"
}

# job NAME TRAIN TEST [WORKER ARGS...]: a whole job, timed from its scheduler's start
# to its worker's results: a scheduler given JOB (the job's settings, which the server
# and the worker take from it), one server, one worker that trains on TRAIN and tests
# TEST with --json. Its JSON in NAME.json, its log in NAME.err; PS_SECS.
job() {
	local name=$1 train=$2 test=$3 t0 t1
	shift 3
	fresh
	t0=$(now)
	start_cluster 1 1 "${JOB[@]}" || fail "$name: no cluster"
	worker --json --test "$test" "$@" <"$train" >"$PS_TMP/$name.json" \
	    2>"$PS_TMP/$name.err" || fail "$name: exit $?: $(tail -n 5 "$PS_TMP/$name.err")"
	t1=$(now)
	PS_SECS=$(elapsed "$t0" "$t1")
}

# field NAME KEY: a number of NAME.json.
field() {
	jq -r ".$2" "$PS_TMP/$1.json"
}

need_spam() {
	[ -r "$SPAM/train.svm" ] && [ -r "$SPAM/test.svm" ] ||
	    skip "data/spam is missing: run make data"
}

# --- next to liblinear ---------------------------------------------------------------

@test "heart_scale, 3 passes: within 0.5 points of liblinear's accuracy, in less time" {
	local acc i t0 t1 ps_secs="" ll_secs=""
	# every 5th line to the test set
	awk 'NR % 5 == 0' "$HEART" >"$PS_TMP/test.svm"
	awk 'NR % 5 != 0' "$HEART" >"$PS_TMP/train.svm"
	# A parameter server is a service: the job's time is its worker's, from start to
	# results, against liblinear-train and liblinear-predict's. On 270 examples both
	# take a few hundredths of a second, mostly starting processes: the best of 5
	# runs of each is compared. The first run, on a fresh model, gives the accuracy
	# (the others train on: cluster.linger keeps the job up).
	start_cluster 1 1 -o cluster.linger=true
	for i in 1 2 3 4 5; do
		t0=$(now)
		# (no timeout(1) around it: that would be one more process to start)
		"$PS_BUILD/ps-worker" -c "$PS_CONF" --json --test "$PS_TMP/test.svm" \
		    --passes 3 -o worker.batch_size=30 <"$PS_TMP/train.svm" \
		    >"$PS_TMP/heart$i.json" 2>"$PS_TMP/heart$i.err" ||
		    fail "run $i: exit $?: $(tail -n 5 "$PS_TMP/heart$i.err")"
		t1=$(now)
		ps_secs=$(awk -v a="$ps_secs" -v b="$(elapsed "$t0" "$t1")" \
		    'BEGIN { print (a == "" || b < a) ? b : a }')
		liblinear "$PS_TMP/train.svm" "$PS_TMP/test.svm"
		ll_secs=$(awk -v a="$ll_secs" -v b="$LL_SECS" \
		    'BEGIN { print (a == "" || b < a) ? b : a }')
	done
	acc=$(jq -r .accuracy "$PS_TMP/heart1.json")
	note "heart_scale (216 train, 54 test): ps $(awk -v a="$acc" \
	    'BEGIN { printf "%.2f", 100 * a }')%, best of 5 ${ps_secs} s (the worker);" \
	    "liblinear-train -s 0 ${LL_ACC}%, best of 5 ${ll_secs} s"
	is "100 * $acc >= $LL_ACC - 0.5" ||
	    fail "ps: accuracy $acc; liblinear: $LL_ACC%: $(cat "$PS_TMP/heart1.json")"
	if sanitized; then
		note "(not compared: the programs are built with sanitizers)"
		return 0
	fi
	is "$ps_secs < $ll_secs" || fail "ps took $ps_secs s, liblinear $ll_secs s"
}

@test "SpamAssassin, 3 passes: as accurate as liblinear (0.5 points) in less wall time" {
	need_spam
	liblinear "$SPAM/train.svm" "$SPAM/test.svm"
	JOB=()
	job spam "$SPAM/train.svm" "$SPAM/test.svm" --passes 3
	local acc
	acc=$(field spam accuracy)
	note "SpamAssassin (4837 train, 1209 test): ps $(awk -v a="$acc" \
	    'BEGIN { printf "%.2f", 100 * a }')% in ${PS_SECS} s (scheduler, server and" \
	    "worker started); liblinear-train -s 0 ${LL_ACC}% in ${LL_SECS} s"
	is "100 * $acc >= $LL_ACC - 0.5" ||
	    fail "ps: accuracy $acc; liblinear: $LL_ACC%: $(cat "$PS_TMP/spam.json")"
	if sanitized; then
		note "(not compared: the programs are built with sanitizers)"
		return 0
	fi
	is "$PS_SECS < $LL_SECS" || fail "ps took $PS_SECS s, liblinear $LL_SECS s"
}

# --- factorization machines ----------------------------------------------------------

@test "a factorization machine learns pairwise interactions that logistic regression cannot" {
	"$PS_ROOT/tests/gen-interactions" 4000 1 >"$PS_TMP/train.svm"
	"$PS_ROOT/tests/gen-interactions" 1000 2 >"$PS_TMP/test.svm"
	# the same optimizer for both; only model.factors differs
	JOB=(-o optimizer.name=adam -o optimizer.learning_rate=0.01)
	job lr "$PS_TMP/train.svm" "$PS_TMP/test.svm" --passes 5
	JOB=(-o optimizer.name=adam -o optimizer.learning_rate=0.01 -o model.factors=8)
	job fm "$PS_TMP/train.svm" "$PS_TMP/test.svm" --passes 5
	local lr fm
	lr=$(field lr logloss)
	fm=$(field fm logloss)
	note "interactions: test logloss LR $lr (accuracy $(field lr accuracy)), FM k=8" \
	    "$fm (accuracy $(field fm accuracy))"
	# LR stays at chance (ln 2 = 0.693); the best model's accuracy is about 0.81
	is "$lr > 0.65" || fail "LR learned what it cannot: $lr"
	is "$fm < $lr - 0.2" || fail "FM $fm, LR $lr"
	is "$(field fm accuracy) > 0.7" || fail "FM: $(cat "$PS_TMP/fm.json")"
	# the worker says what it trains
	ps_log_has "$PS_TMP/fm.err" "training from stdin: a factorization machine of 8 factors, 5 passes$" ||
	    fail "$(cat "$PS_TMP/fm.err")"
}

# Text has few useful interactions: an FM should do as well as LR, no better, no worse.
# "As well" is within the test set's noise: 1209 examples, where one more mistake is
# 0.08 points of accuracy and the standard error of an accuracy near 99.5% is 0.2
# points; so 0.5 points (6 examples). A confident mistake (p = 0.01 for the wrong
# class) adds 4.6 / 1209 = 0.004 to the mean logloss; so 0.015 (4 of them).
@test "on SpamAssassin a factorization machine is within noise of logistic regression" {
	need_spam
	JOB=()
	job lr "$SPAM/train.svm" "$SPAM/test.svm" --passes 3
	# adam with a small step: the factors of 300 features an example interact in
	# 45000 pairs, and larger steps make the scores overconfident
	JOB=(-o optimizer.name=adam -o optimizer.learning_rate=0.001 -o model.factors=8)
	job fm "$SPAM/train.svm" "$SPAM/test.svm" --passes 3
	local lra lrl fma fml
	lra=$(field lr accuracy) lrl=$(field lr logloss)
	fma=$(field fm accuracy) fml=$(field fm logloss)
	note "SpamAssassin: LR (ftrl) accuracy $lra logloss $lrl; FM k=8 (adam 0.001)" \
	    "accuracy $fma logloss $fml"
	is "$fma >= $lra - 0.005" || fail "FM accuracy $fma, LR $lra"
	is "$fml <= $lrl + 0.015" || fail "FM logloss $fml, LR $lrl"
}

# --- linear regression ---------------------------------------------------------------

@test "linear regression (model.loss squared): test RMSE within 5% of the noise's sigma" {
	local sigma=0.5 rmse
	"$PS_ROOT/tests/gen-linear" 5000 1 "$sigma" >"$PS_TMP/train.svm"
	"$PS_ROOT/tests/gen-linear" 2000 2 "$sigma" >"$PS_TMP/test.svm"
	JOB=(-o model.loss=squared -o optimizer.name=sgd -o optimizer.schedule=constant
	    -o optimizer.learning_rate=0.002)
	job lin "$PS_TMP/train.svm" "$PS_TMP/test.svm" --passes 3
	rmse=$(field lin rmse)
	note "linear regression: test RMSE $rmse, sigma $sigma"
	is "$rmse >= 0.95 * $sigma && $rmse <= 1.05 * $sigma" ||
	    fail "RMSE $rmse: $(cat "$PS_TMP/lin.json")"
	# RMSE in place of logloss, accuracy and AUC, per pass too
	jq -e 'has("train_rmse") and has("logloss") == false and
	    has("accuracy") == false and has("train_logloss") == false and
	    (.passes | length) == 3 and (.passes[2].rmse == .rmse) and
	    (.passes | all(has("train_rmse") and has("rmse")))' "$PS_TMP/lin.json" ||
	    fail "$(cat "$PS_TMP/lin.json")"
	ps_log_has "$PS_TMP/lin.err" 'pass 2/3: train rmse=[0-9.]+ test rmse=[0-9.]+$' ||
	    fail "$(cat "$PS_TMP/lin.err")"
}

@test "a factorization machine with squared loss, saved, tested and predicted with no cluster" {
	local dir live
	"$PS_ROOT/tests/gen-linear" 2000 3 >"$PS_TMP/train.svm"
	"$PS_ROOT/tests/gen-linear" 500 4 >"$PS_TMP/test.svm"
	start_cluster 1 1 -o cluster.linger=true -o model.loss=squared -o model.factors=4 \
	    -o optimizer.name=sgd -o optimizer.schedule=constant \
	    -o optimizer.learning_rate=0.002
	worker --test "$PS_TMP/test.svm" --passes 3 <"$PS_TMP/train.svm" \
	    >"$PS_TMP/live.out" 2>"$PS_TMP/live.err" ||
	    fail "exit $?: $(cat "$PS_TMP/live.err")"
	assert_equal "$(head -n 1 "$PS_TMP/live.out" | sed 's/=[0-9.]*/=N/g')" \
	    "train examples=N rmse=N skipped=N"
	live=$(grep '^test ' "$PS_TMP/live.out")
	[[ $live =~ ^test\ examples=500\ rmse=([0-9.]+)$ ]] || fail "$live"
	# the factors do not get in the way of a linear target (sigma 0.5)
	is "${BASH_REMATCH[1]} < 0.55" || fail "$live"
	dir=$(timeout 20 "$PS_BUILD/ps-ckpt" -c "$PS_CONF" --dir "$PS_TMP/ckpt" save) ||
	    fail "ps-ckpt save failed"
	ps_ctl shutdown >/dev/null || fail "shutdown"
	# the checkpoint's dim (5) says it is a machine of 4 factors; the loss is told
	run --separate-stderr timeout 20 "$PS_BUILD/ps-worker" --model "$dir" \
	    -o model.loss=squared --test "$PS_TMP/test.svm"
	assert_success
	assert_output "$live"
	[[ $stderr == *"a factorization machine of 4 factors"* ]] || fail "$stderr"
	run --separate-stderr timeout 20 "$PS_BUILD/ps-worker" --model "$dir" \
	    -o model.loss=squared --predict < <(head -n 50 "$PS_TMP/test.svm")
	assert_success
	[ "${#lines[@]}" -eq 50 ] || fail "${#lines[@]} predictions"
	# real numbers near the labels, not probabilities
	printf '%s\n' "${lines[@]}" | paste -d ' ' - <(head -n 50 "$PS_TMP/test.svm" |
	    cut -d ' ' -f 1) | awk '$1 < 0 { lo++ } $1 > 1 { hi++ } { se += ($1 - $2)^2 }
	    END { exit !(lo > 0 && hi > 0 && sqrt(se / NR) < 1) }' || fail "$output"
}

# --- guard rails ---------------------------------------------------------------------

@test "a diverging model stops the worker with one line, exit 1; ps-local fails too" {
	# sgd at a constant 10 with weight decay 1 multiplies a weight by -9 at each
	# update: within two passes of mini-batches of 10 it passes FLT_MAX, where the
	# servers saturate it. (Linear regression: with logistic loss the runaway loss
	# stops it first, as the next test shows.)
	local diverge=(-o optimizer.name=sgd -o optimizer.learning_rate=10 -o optimizer.l2=1
	    -o optimizer.schedule=constant -o worker.batch_size=10 -o model.loss=squared)
	start_cluster 1 1 "${diverge[@]}"
	run --separate-stderr worker "${diverge[@]}" --passes 3 <"$HEART"
	[ "$status" -eq 1 ] || fail "exit $status: $stderr"
	local re='error: stdin:[0-9]+-[0-9]+ \(batch [0-9]+, pass [0-9]\): key [0-9]+ has '
	re+='weight -?[0-9.]+e\+38 \(not finite\): training diverged: lower '
	re+='optimizer\.learning_rate \(10 now\)$'
	[[ $stderr =~ $re ]] || fail "$stderr"
	[ "$(grep -c 'error:' <<<"$stderr")" -eq 1 ] || fail "more than one line: $stderr"
	[ -z "$output" ] || fail "results printed: $output"

	run --separate-stderr timeout 30 "$PS_ROOT/scripts/ps-local" -q "${diverge[@]}" \
	    -o worker.passes=3 "$HEART"
	[ "$status" -ne 0 ] || fail "ps-local: exit 0: $output"
	[[ $stderr == *"training diverged"* ]] || fail "ps-local: $stderr"
}

@test "sgd at learning rate 10 on its default schedule: a runaway loss stops the job" {
	# inv_sqrt slows the weights' growth: none reaches FLT_MAX, but the mean logloss
	# of 10 batches passes ten times ln 2, which only a runaway model reaches
	local diverge=(-o optimizer.name=sgd -o optimizer.learning_rate=10 -o optimizer.l2=1)
	need_spam
	start_cluster 1 1 "${diverge[@]}"
	run --separate-stderr worker <"$SPAM/train.svm"
	[ "$status" -eq 1 ] || fail "exit $status: $stderr"
	local re='error: stdin:[0-9]+-[0-9]+ \(batch [0-9]+, pass 1\): the mean logloss '
	re+='of its last 10 batches is [0-9.]+, ten times a constant 0\.5.s \(0\.693\) '
	re+='and more: training diverged: lower optimizer\.learning_rate \(10 now\)$'
	[[ $stderr =~ $re ]] || fail "$stderr"
	[ -z "$output" ] || fail "results printed: $output"
	# the scheduler's job ends failed (its only worker failed)
	wait_exit "$(ps_pid scheduler)"
	[ "$status" -ne 0 ] || fail "the scheduler: exit 0"
}

@test "optimizer.name sum: refused without --allow-sum (exit 2), trained with it" {
	local msg="optimizer.name is sum: servers add the gradients up, which does not train"
	msg+=" a model: give --allow-sum (worker.allow_sum) to do it anyway"
	# given to the worker: refused before it connects (no cluster here)
	run timeout 5 "$PS_BUILD/ps-worker" -o scheduler.port=1 -o optimizer.name=sum \
	    <"$HEART"
	assert_failure 2
	assert_output --partial "$msg"
	# the job's: refused once the scheduler has said so, before reading anything
	start_cluster 1 1 -o optimizer.name=sum
	run --separate-stderr worker <"$HEART"
	[ "$status" -eq 2 ] || fail "exit $status: $stderr"
	[[ $stderr == *"$msg"* ]] || fail "$stderr"
	[ -z "$output" ] || fail "$output"
	# --allow-sum, or worker.allow_sum: trained (a new job: the first one is over)
	fresh
	start_cluster 1 1 -o optimizer.name=sum
	run --separate-stderr worker --allow-sum <"$HEART"
	assert_success
	assert_output --regexp '^train examples=270 logloss=[0-9.]+ accuracy=[0-9.]+ skipped=0$'
	fresh
	start_cluster 1 1 -o optimizer.name=sum
	run --separate-stderr worker -o worker.allow_sum=true <"$HEART"
	assert_success
	# predictions only read the model: no --allow-sum needed
	fresh
	start_cluster 1 1 -o optimizer.name=sum
	run --separate-stderr worker --predict < <(head -n 3 "$HEART")
	assert_success
	[ "${#lines[@]}" -eq 3 ] || fail "$output"
}

# --- passes and the cache ------------------------------------------------------------

@test "--cache: written by one run, read by the next (stdin not read), same model" {
	local cache=$PS_TMP/heart.cache
	JOB=()
	job first "$HEART" "$HEART" --passes 3 --cache "$cache"
	[ -s "$cache" ] || fail "no cache"
	ps_log_has "$PS_TMP/first.err" "cache $cache: 270 examples in 1 blocks" ||
	    fail "$(cat "$PS_TMP/first.err")"
	# the second job reads the cache alone; its first pass is the file's order,
	# as the first job's input was, and its later passes the same shuffles
	job second /dev/null "$HEART" --passes 3 --cache "$cache"
	ps_log_has "$PS_TMP/second.err" "cache $cache: 270 examples in 1 blocks; stdin is not read" ||
	    fail "$(cat "$PS_TMP/second.err")"
	diff "$PS_TMP/first.json" "$PS_TMP/second.json" >&2 || fail "not the same model"
	is "$(field second accuracy) > 0.8" || fail "$(cat "$PS_TMP/second.json")"
}

@test "--cache: a truncated cache and a file that is no cache are refused by name, exit 2" {
	local cache=$PS_TMP/heart.cache
	JOB=()
	job first "$HEART" "$HEART" --cache "$cache"
	head -c 2000 "$cache" >"$PS_TMP/cut.cache"
	# refused before connecting: no cluster at port 1
	run timeout 5 "$PS_BUILD/ps-worker" -o scheduler.port=1 --cache "$PS_TMP/cut.cache" \
	    </dev/null
	assert_failure 2
	assert_output --partial "error: $PS_TMP/cut.cache: truncated ps-worker cache"
	run timeout 5 "$PS_BUILD/ps-worker" -o scheduler.port=1 --cache "$HEART" </dev/null
	assert_failure 2
	assert_output --partial "error: $HEART: not a ps-worker cache"
	# a first pass that fails leaves no cache behind to be taken for a whole one
	fresh
	start_cluster 1 1
	{ head -n 50 "$HEART"; echo "x 1:1"; } >"$PS_TMP/bad.svm"
	run worker --cache "$PS_TMP/new.cache" --passes 2 <"$PS_TMP/bad.svm"
	assert_failure 1
	assert_output --partial "stdin:51: bad label 'x'"
	[ ! -e "$PS_TMP/new.cache" ] || fail "the unfinished cache is still there"
}

@test "--passes: a line per pass on stderr, \"passes\" in the JSON; 2 workers meet between passes" {
	JOB=()
	job heart "$HEART" "$HEART" --passes 3
	local i
	for i in 1 2 3; do
		ps_log_has "$PS_TMP/heart.err" "info: pass $i/3: train logloss=[0-9.]+ test logloss=[0-9.]+ accuracy=[0-9.]+ auc=[0-9.]+$" ||
		    fail "no line for pass $i: $(cat "$PS_TMP/heart.err")"
	done
	# the keys of one pass before, in their order, then the passes; each pass better
	jq -e '(keys_unsorted | .[:8]) == ["train_examples", "train_logloss",
	    "train_accuracy", "skipped", "examples", "logloss", "accuracy", "auc"] and
	    .train_examples == 270 and (.passes | length) == 3 and
	    ([.passes[].pass] == [1, 2, 3]) and .passes[2].logloss == .logloss and
	    .passes[2].accuracy == .accuracy and
	    .passes[0].logloss > .passes[1].logloss and
	    .passes[1].logloss > .passes[2].logloss and
	    .passes[0].train_logloss > .passes[2].train_logloss' "$PS_TMP/heart.json" ||
	    fail "$(cat "$PS_TMP/heart.json")"
	# two workers, one with --test (ps-local's way): both meet at the barriers
	run --separate-stderr timeout 30 "$PS_ROOT/scripts/ps-local" -q -w 2 \
	    -o worker.passes=3 --json --test "$HEART" "$HEART"
	assert_success
	echo "$output" | jq -e '.train_examples == 270 and .accuracy > 0.8' ||
	    fail "$output"
}

@test "--early-stop K: stops after K passes with no better test logloss; needs --test" {
	# a test set with every label flipped: each pass makes its logloss worse
	awk '{ $1 = ($1 > 0) ? "-1" : "+1"; print }' "$HEART" >"$PS_TMP/flipped.svm"
	JOB=()
	job stop "$HEART" "$PS_TMP/flipped.svm" --passes 10 --early-stop 2
	ps_log_has "$PS_TMP/stop.err" 'early stop after pass 3: test logloss has not improved for 2 passes \(best [0-9.]+ at pass 1\)$' ||
	    fail "$(cat "$PS_TMP/stop.err")"
	ps_log_has "$PS_TMP/stop.err" 'pass 4/10' && fail "a fourth pass"
	jq -e '(.passes | length) == 3 and .early_stop.after_pass == 3 and
	    .early_stop.best_pass == 1 and .train_examples == 270' "$PS_TMP/stop.json" ||
	    fail "$(cat "$PS_TMP/stop.json")"
	run timeout 5 "$PS_BUILD/ps-worker" -o scheduler.port=1 --passes 3 --early-stop 2 \
	    </dev/null
	assert_failure 2
	assert_output --partial "--early-stop needs --test"
}

@test "flags: --passes 0, --cache or --early-stop with --predict, --early-stop x: exit 2" {
	run timeout 5 "$PS_BUILD/ps-worker" -o scheduler.port=1 --passes 0 </dev/null
	assert_failure 2
	assert_output --partial "worker.passes"
	run timeout 5 "$PS_BUILD/ps-worker" -o scheduler.port=1 --predict --cache x </dev/null
	assert_failure 2
	assert_output --partial "not with --predict or --model"
	run timeout 5 "$PS_BUILD/ps-worker" -o scheduler.port=1 --early-stop x --test "$HEART"
	assert_failure 2
	assert_output --partial "--early-stop 'x'"
	run "$PS_BUILD/ps-worker" --help
	assert_success
	for f in --passes --cache --early-stop --allow-sum --test-delay; do
		assert_output --partial "$f"
	done
}

@test "clocks: a debug line per clock; under ssp the worker asks the scheduler" {
	start_cluster 1 1
	worker -v -o worker.batch_size=50 --passes 2 <"$HEART" >/dev/null \
	    2>"$PS_TMP/asp.err" || fail "$(cat "$PS_TMP/asp.err")"
	# 6 batches a pass, 12 in all: clocks 1 to 11 (clock 0 asks nothing)
	ps_log_has "$PS_TMP/asp.err" 'debug: clock 11$' || fail "$(cat "$PS_TMP/asp.err")"
	ps_log_has "$PS_TMP/asp.err" 'debug: clock 12' && fail "clock 12"
	fresh
	start_cluster 1 1 -o cluster.consistency=ssp -o cluster.clock=2
	worker -v -o worker.batch_size=50 --test-delay 1 <"$HEART" >/dev/null \
	    2>"$PS_TMP/ssp.err" || fail "$(cat "$PS_TMP/ssp.err")"
	ps_log_has "$PS_TMP/ssp.err" 'debug: clock 2: slowest worker at clock [0-9]+$' ||
	    fail "$(cat "$PS_TMP/ssp.err")"
	ps_log_has "$PS_TMP/ssp.err" 'debug: clock 3' && fail "clock 3 of 6 batches"
	true
}
