#!/usr/bin/env bats
# ps-ckpt: checkpoints of a live job and what is done with them. The servers run
# optimizer.name=sum and ps-bench pushes known values, so a checkpoint's export can be
# compared with what the servers hold (`ps-ctl get`), key for key; an FTRL job checks
# the weights computed from a saved state. Then: a damaged file is named by verify,
# incomplete checkpoints are listed as such and never count as the newest complete one,
# prune keeps the newest N, saves exclude each other through the lock, a save works
# from cron (env -i) and prints only its path, and failures are one line and exit 1.

load helper

bats_require_minimum_version 1.5.0

SUM=(-o optimizer.name=sum)

# Nothing listens on port 1 (tcpmux, long obsolete): a connection is refused at once.
CLOSED=(-o scheduler.host=127.0.0.1 -o scheduler.port=1)

# runq CMD...: like `run --separate-stderr`: sets status, output (stdout), stderr, lines.
runq() {
	status=0
	output=$("$@" 2>"$PS_TMP/stderr") || status=$?
	stderr=$(<"$PS_TMP/stderr")
	mapfile -t lines <<<"$output"
}

# ckpt ARGS...: ps-ckpt against this test's cluster, its checkpoints in $PS_TMP/ckpt,
# with a time limit (status 124).
ckpt() {
	timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-ckpt" -c "$PS_CONF" --dir "$PS_TMP/ckpt" "$@"
}

# dead_ckpt ARGS...: ps-ckpt against the closed port.
dead_ckpt() {
	timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-ckpt" "${CLOSED[@]}" --dir "$PS_TMP/ckpt" \
	    "$@"
}

# sum_job S [ARGS...]: a scheduler for S servers (and a worker that never comes, so
# the job lasts), S servers with optimizer sum, and 10000 keys of known values pushed
# by ps-bench. ARGS go to every program.
sum_job() {
	local s=$1 i
	shift
	start_scheduler "$s" 1 "${SUM[@]}" "$@" || return 1
	for ((i = 0; i < s; i++)); do
		start_server "${SUM[@]}" "$@" || return 1
	done
	runq "$PS_BUILD/ps-bench" -c "$PS_CONF" "${SUM[@]}" "$@" -q -k 1e4 -r 1
	[ "$status" -eq 0 ] || fail "ps-bench: exit $status: $stderr"
}

# save: ps-ckpt save, which must succeed and print a path; sets SAVED to it.
save() {
	runq ckpt save "$@"
	[ "$status" -eq 0 ] || fail "save: exit $status: $stderr"
	[ "${#lines[@]}" -eq 1 ] && [[ "$output" == /* ]] || fail "save printed '$output'"
	[ -z "$stderr" ] || fail "save wrote on stderr: $stderr"
	SAVED=$output
}

# sample_matches EXPORT N [ARGS...]: N keys spread over the export file EXPORT read
# by `ps-ctl get` (with ARGS) print the same lines.
sample_matches() {
	local file=$1 n=$2 total step keys
	shift 2
	total=$(wc -l <"$file")
	step=$(((total + n - 1) / n))
	mapfile -t keys < <(awk -F'\t' -v s="$step" 'NR % s == 1 || s == 1 { print $1 }' \
	    "$file")
	[ "${#keys[@]}" -gt 0 ] || fail "no keys sampled"
	awk -F'\t' -v s="$step" 'NR % s == 1 || s == 1' "$file" >"$PS_TMP/want"
	timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-ctl" -c "$PS_CONF" "$@" get "${keys[@]}" \
	    >"$PS_TMP/got" || fail "ps-ctl get failed"
	diff "$PS_TMP/want" "$PS_TMP/got" >&2 ||
	    fail "export and ps-ctl get differ on ${#keys[@]} sampled keys"
}

# flip FILE OFFSET: invert the byte at OFFSET of FILE, in place.
flip() {
	local byte
	byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $((byte ^ 255)))" |
	    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# --- the command line --------------------------------------------------------------

@test "ps-ckpt --help: usage, the commands and the options on stdout, exit 0" {
	runq "$PS_BUILD/ps-ckpt" --help
	[ "$status" -eq 0 ] || fail "exit $status"
	[[ "${lines[0]}" == "usage: ps-ckpt "* ]] || fail "first line '${lines[0]}'"
	for word in save list verify prune export --keep --dir --wait --json -c -o; do
		[[ "$output" == *"$word"* ]] || fail "--help does not mention $word"
	done
	[ -z "$stderr" ] || fail "stderr: $stderr"
	run -0 "$PS_BUILD/ps-ckpt" --version
	assert_output --regexp '^ps-ckpt [0-9]+\.[0-9]+\.[0-9]+ \(protocol [0-9]+\)$'
}

@test "the usage in --help is the man page's SYNOPSIS" {
	local synopsis
	synopsis=$(sed -n '/^\.Sh SYNOPSIS/,/^\.Sh /p' "$PS_ROOT/man/ps-ckpt.1")
	for word in "Fl nqv" "Fl c Ar file" "Fl o Ar name" "Fl Fl dir Ar dir" "Fl Fl json" \
	    "Fl Fl wait Ar secs" "Ar command" "Ar argument"; do
		[[ "$synopsis" == *"$word"* ]] || fail "SYNOPSIS lacks '$word'"
	done
	run -0 "$PS_BUILD/ps-ckpt" --help
	assert_output --partial "[-nqv] [-c file] [-o name=value] [--dir dir] [--json] [--wait secs]"
	assert_output --partial "command [argument ...]"
}

@test "usage errors exit 2 with one line, before anything is touched" {
	local args
	for args in "" frobnicate "verify" "export" "prune" "prune --keep 0" \
	    "prune --keep -1" "prune --keep x" "prune --keep" "verify a b" "list extra" \
	    "save --keep 2" "list --bogus" "verify .hidden" "save --wait -1" \
	    "save --wait x" "--wait 1e9 save"; do
		# shellcheck disable=SC2086
		runq dead_ckpt $args
		[ "$status" -eq 2 ] || fail "'$args': exit $status ($stderr)"
		[ -z "$output" ] || fail "'$args': stdout '$output'"
		[[ "$stderr" == *"error: "* ]] || fail "'$args': stderr '$stderr'"
	done
	runq dead_ckpt prune --keep 0
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "two lines: $stderr"
	[[ "$stderr" == *"--keep"* ]] || fail "stderr: $stderr"
	runq "$PS_BUILD/ps-ckpt" --no-such-flag list
	[ "$status" -eq 2 ] || fail "--no-such-flag: exit $status"
	[ ! -e "$PS_TMP/ckpt" ] || fail "a usage error made the folder"
	run -0 "$PS_BUILD/ps-ckpt" -n -o ckpt.dir=/var/backups/ps
	assert_output "configuration OK"
	run -2 "$PS_BUILD/ps-ckpt" -n -o ckpt.dir=
	assert_output --partial "ckpt.dir"
}

@test "no scheduler: save fails in one line, exit 1, at once, and leaves no folder" {
	local t0 t1
	t0=${EPOCHREALTIME/./}
	runq dead_ckpt save
	t1=${EPOCHREALTIME/./}
	[ "$status" -eq 1 ] || fail "exit $status"
	[ -z "$output" ] || fail "stdout: $output"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "not one line: $stderr"
	[[ "$stderr" == *"error: scheduler 127.0.0.1:1: "*"refused"* ]] || fail "stderr: $stderr"
	[ $(((t1 - t0) / 1000)) -lt 5000 ] || fail "took $(((t1 - t0) / 1000)) ms"
	# the folder of checkpoints is made, and the lock; no checkpoint is left
	run -0 ls -A "$PS_TMP/ckpt"
	assert_output ".lock"
	runq dead_ckpt list
	[ "$status" -eq 0 ] && [ "${#lines[@]}" -eq 1 ] || fail "list: $output $stderr"
}

@test "a scheduler that accepts but never answers: save gives up within the handshake bound" {
	local t0 t1
	start_scheduler 1 1 || fail "no scheduler"
	kill -STOP "$(ps_pid scheduler)"
	t0=${EPOCHREALTIME/./}
	runq ckpt save
	t1=${EPOCHREALTIME/./}
	kill -CONT "$(ps_pid scheduler)"
	[ "$status" -eq 1 ] || fail "exit $status: $stderr"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "not one line: $stderr"
	[ $(((t1 - t0) / 1000)) -lt 9000 ] || fail "took $(((t1 - t0) / 1000)) ms"
	[ "$(find "$PS_TMP/ckpt" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 0 ] ||
	    fail "a folder was left: $(ls "$PS_TMP/ckpt")"
}

@test "a job whose servers have not all registered: the scheduler's reason, exit 1" {
	start_scheduler 2 1 || fail "no scheduler"
	start_server || fail "no server"
	runq ckpt save
	[ "$status" -eq 1 ] || fail "exit $status"
	[[ "$stderr" == *"error: save: the cluster has no map yet"* ]] || fail "stderr: $stderr"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "not one line: $stderr"
	[ "$(find "$PS_TMP/ckpt" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 0 ] ||
	    fail "a folder was left"
}

# --- a live job --------------------------------------------------------------------

@test "save, list, verify and export a live job; the export is what the servers hold" {
	local name keys
	sum_job 2
	save
	name=${SAVED##*/}
	[[ "$name" =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || fail "name '$name'"
	[ "$SAVED" = "$PS_TMP/ckpt/$name" ] || [ "$SAVED" = "$(realpath "$PS_TMP/ckpt/$name")" ] ||
	    fail "path $SAVED"
	# a MANIFEST and one file per server
	[ -f "$SAVED/MANIFEST" ] || fail "no MANIFEST"
	[ "$(find "$SAVED" -name 'server-*.slots' | wc -l)" -eq 2 ] ||
	    fail "files: $(ls "$SAVED")"
	[ ! -e "$SAVED/MANIFEST.tmp" ] || fail "MANIFEST.tmp left"
	grep -qx 'optimizer: sum' "$SAVED/MANIFEST" || fail "$(cat "$SAVED/MANIFEST")"
	grep -qx 'keys: 10000' "$SAVED/MANIFEST" || fail "$(cat "$SAVED/MANIFEST")"
	grep -qx 'files: 2' "$SAVED/MANIFEST" || fail "$(cat "$SAVED/MANIFEST")"
	grep -qx "name: $name" "$SAVED/MANIFEST" || fail "$(cat "$SAVED/MANIFEST")"

	runq ckpt list
	[ "$status" -eq 0 ] || fail "list: exit $status: $stderr"
	[ "${#lines[@]}" -eq 2 ] || fail "list: $output"
	[[ "${lines[0]}" == NAME*TIME*KEYS*SIZE*STATE ]] || fail "list header: ${lines[0]}"
	[[ "${lines[1]}" =~ ^$name\ +[0-9-]{10}T[0-9:]{8}Z\ +10000\ +[0-9.]+[KM]\ +complete$ ]] ||
	    fail "list: ${lines[1]}"
	runq ckpt list --json
	jq -e --arg n "$name" 'length == 1 and .[0].name == $n and .[0].complete and
	    .[0].keys == 10000 and .[0].files == 2 and .[0].bytes > 160000' \
	    <<<"$output" >/dev/null || fail "list --json: $output"

	runq ckpt verify "$name"
	[ "$status" -eq 0 ] || fail "verify: exit $status: $stderr"
	[ -z "$output$stderr" ] || fail "verify is not silent: $output $stderr"
	# the path save printed will do too
	run -0 ckpt verify "$SAVED"

	ckpt export "$name" >"$PS_TMP/export" || fail "export failed"
	[ "$(wc -l <"$PS_TMP/export")" -eq 10000 ] || fail "$(wc -l <"$PS_TMP/export") lines"
	grep -Evq $'^[0-9]+\t-?[0-9.]+(e[-+][0-9]+)?$' "$PS_TMP/export" &&
	    fail "a line not KEY<TAB>VALUE: $(grep -Ev $'^[0-9]+\t-?[0-9.]+$' "$PS_TMP/export" | head -n 3)"
	cut -f 1 "$PS_TMP/export" | sort -c -n || fail "not sorted by key"
	keys=$(cut -f 1 "$PS_TMP/export" | sort -u | wc -l)
	[ "$keys" -eq 10000 ] || fail "$keys distinct keys"
	# not all zero: ps-bench's values are there
	[ "$(cut -f 2 "$PS_TMP/export" | grep -cvx 0)" -gt 9000 ] || fail "mostly zeros"
	sample_matches "$PS_TMP/export" 300
}

@test "export with model.dim 3: three values a line, as ps-ctl get prints them" {
	sum_job 1 -o model.dim=3
	save
	ckpt export "${SAVED##*/}" >"$PS_TMP/export" || fail "export failed"
	[ "$(wc -l <"$PS_TMP/export")" -eq 10000 ] || fail "$(wc -l <"$PS_TMP/export") lines"
	grep -Eqv $'^[0-9]+\t[^ ]+ [^ ]+ [^ ]+$' "$PS_TMP/export" && fail "not 3 values a line"
	sample_matches "$PS_TMP/export" 100 -o model.dim=3
}

@test "FTRL: the exported weights are those the servers compute from the same state" {
	local n
	ps_heart
	# 2 workers: the job outlives the one started here
	start_scheduler 2 2 || fail "no scheduler"
	start_server || fail "server"
	start_server || fail "server"
	start_worker trainer "$HEART"
	n=$(wc -l <"$HEART")
	wait_until "$PS_EXIT_TIMEOUT" trained "$n" || fail "the worker did not train"
	save
	grep -qx 'optimizer: ftrl' "$SAVED/MANIFEST" || fail "$(cat "$SAVED/MANIFEST")"
	grep -qx 'layout: z n' "$SAVED/MANIFEST" || fail "$(cat "$SAVED/MANIFEST")"
	ckpt export "$SAVED" >"$PS_TMP/export" || fail "export failed"
	[ "$(wc -l <"$PS_TMP/export")" -gt 5 ] || fail "$(cat "$PS_TMP/export")"
	# both print the exact floats (%.9g): every key, the same text
	mapfile -t keys < <(cut -f 1 "$PS_TMP/export")
	ps_ctl get "${keys[@]}" >"$PS_TMP/got" || fail "get failed"
	diff "$PS_TMP/export" "$PS_TMP/got" >&2 || fail "export and get differ"
	# some weights are not zero (FTRL's L1 makes many exactly 0)
	cut -f 2 "$PS_TMP/export" | grep -qvx 0 || fail "every weight is 0"
}
# trained N: the job's one worker has trained on N examples (pushed, answered).
trained() {
	ps_status | jq -e --argjson n "$1" '.nodes[] | select(.role == "worker") |
	    .examples == $n' >/dev/null
}

@test "a flipped byte in a slot file: verify exits 1 naming that file" {
	local name file size
	sum_job 2
	save
	name=${SAVED##*/}
	# a byte of the trailer: only the checksum can tell
	file=$(find "$SAVED" -name 'server-*.slots' | sort | tail -n 1)
	size=$(stat -c %s "$file")
	flip "$file" $((size - 3))
	runq ckpt verify "$name"
	[ "$status" -eq 1 ] || fail "exit $status"
	[ -z "$output" ] || fail "stdout: $output"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "not one line: $stderr"
	[[ "$stderr" == *"${file##*/}: checksum"* ]] || fail "the file is not named: $stderr"
	runq ckpt export "$name"
	[ "$status" -eq 1 ] || fail "export of a damaged checkpoint: exit $status"
	[ -z "$output" ] || fail "export printed lines before finding the damage"
	[[ "$stderr" == *"${file##*/}"* ]] || fail "export: $stderr"
	# put it back: good again; then a byte of a key in the other file
	flip "$file" $((size - 3))
	run -0 ckpt verify "$name"
	file=$(find "$SAVED" -name 'server-*.slots' | sort | head -n 1)
	flip "$file" 5000
	runq ckpt verify "$name"
	[ "$status" -eq 1 ] || fail "exit $status"
	[[ "$stderr" == *"${file##*/}"* ]] || fail "the file is not named: $stderr"
	# a damaged MANIFEST is named too, and list says so
	flip "$file" 5000
	run -0 ckpt verify "$name"
	sed -i 's/^keys: 10000$/keys: 10001/' "$SAVED/MANIFEST"
	runq ckpt verify "$name"
	[ "$status" -eq 1 ] && [[ "$stderr" == *MANIFEST* ]] || fail "MANIFEST: $stderr"
	runq ckpt list
	[[ "${lines[1]}" == "$name "*damaged ]] || fail "list: $output"
}

@test "incomplete checkpoints: listed as such, never the newest complete one for prune" {
	local a b old new
	sum_job 1
	save
	a=${SAVED##*/}
	save
	b=${SAVED##*/}
	# an old failed save, and a newer one (say, cut off by a reboot): no MANIFEST
	old=20000101T000000Z
	new=29991231T235959Z
	cp -r "$PS_TMP/ckpt/$a" "$PS_TMP/ckpt/$old"
	rm "$PS_TMP/ckpt/$old/MANIFEST"
	mkdir "$PS_TMP/ckpt/$new"
	: >"$PS_TMP/ckpt/$new/server-1.slots"
	runq ckpt list
	[ "${#lines[@]}" -eq 5 ] || fail "list: $output"
	[[ "${lines[1]}" == "$old "*" - "*incomplete ]] || fail "list: ${lines[1]}"
	[[ "${lines[2]}" == "$a "*complete ]] || fail "list: ${lines[2]}"
	[[ "${lines[3]}" == "$b "*complete ]] || fail "list: ${lines[3]}"
	[[ "${lines[4]}" == "$new "*incomplete ]] || fail "list: ${lines[4]}"
	runq ckpt list --json
	jq -e '[.[].complete] == [false, true, true, false]' <<<"$output" >/dev/null ||
	    fail "list --json: $output"
	runq ckpt verify "$new"
	[ "$status" -eq 1 ] && [[ "$stderr" == *"incomplete"* ]] || fail "verify: $stderr"
	runq ckpt export "$new"
	[ "$status" -eq 1 ] && [ -z "$output" ] || fail "export: $status $output"
	# keep 1: the newest complete one is b, not new; a and the old failure go
	runq ckpt prune --keep 1
	[ "$status" -eq 0 ] || fail "prune: exit $status: $stderr"
	[ -z "$output$stderr" ] || fail "prune is not silent: $output $stderr"
	run -0 ls "$PS_TMP/ckpt"
	assert_output "$b
$new"
	run -0 ckpt verify "$b"
}

@test "prune --keep 2 keeps the newest two complete checkpoints" {
	local names=() i
	sum_job 1
	for i in 1 2 3 4; do
		save
		names+=("${SAVED##*/}")
	done
	# saves within a second are NAME, NAME-2, NAME-3...: still oldest first
	runq ckpt list
	for i in 0 1 2 3; do
		[[ "${lines[$((i + 1))]}" == "${names[$i]} "* ]] || fail "list order: $output"
	done
	run -0 ckpt prune --keep 2
	run -0 ls "$PS_TMP/ckpt"
	assert_output "${names[2]}
${names[3]}"
	run -0 ckpt prune --keep 2
	run -0 ls "$PS_TMP/ckpt"
	assert_output "${names[2]}
${names[3]}"
	run -0 ckpt verify "${names[3]}"
	# keep 1: the newest alone
	run -0 ckpt prune --keep 1
	run -0 ls "$PS_TMP/ckpt"
	assert_output "${names[3]}"
}

# --- the lock ----------------------------------------------------------------------

@test "the lock: a second ps-ckpt refuses at once, or waits with --wait" {
	local t0 t1 lockpid
	sum_job 1
	mkdir -p "$PS_TMP/ckpt"
	# another ps-ckpt, as flock(1) holds the same lock
	flock "$PS_TMP/ckpt/.lock" sleep 2 3>&- &
	lockpid=$!
	wait_until 5 lock_held "$PS_TMP/ckpt/.lock" || fail "flock(1) did not lock"
	runq ckpt save
	[ "$status" -eq 1 ] || fail "save: exit $status"
	[[ "$stderr" == *"another ps-ckpt is running"* ]] || fail "stderr: $stderr"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "not one line: $stderr"
	runq ckpt prune --keep 1
	[ "$status" -eq 1 ] && [[ "$stderr" == *"another ps-ckpt is running"* ]] ||
	    fail "prune: $status $stderr"
	# readers take no lock
	run -0 ckpt list
	t0=${EPOCHREALTIME/./}
	runq ckpt --wait 10 save
	t1=${EPOCHREALTIME/./}
	[ "$status" -eq 0 ] || fail "save --wait: exit $status: $stderr"
	[ $(((t1 - t0) / 1000)) -ge 500 ] || fail "did not wait: $(((t1 - t0) / 1000)) ms"
	run -0 ckpt verify "$output"
	wait "$lockpid" || true
	# nothing was left by the refused ones
	[ "$(find "$PS_TMP/ckpt" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 1 ] ||
	    fail "folders: $(ls "$PS_TMP/ckpt")"
}
# lock_held FILE: someone holds FILE's lock.
lock_held() {
	! flock -n "$1" true
}

@test "two overlapping saves: each succeeds or refuses, and every checkpoint is whole" {
	local i st out
	sum_job 2
	for i in 1 2 3 4; do
		ckpt save >"$PS_TMP/save$i.out" 2>"$PS_TMP/save$i.err" 3>&- &
		eval "pid$i=$!"
	done
	for i in 1 2 3 4; do
		st=0
		eval "wait \$pid$i" || st=$?
		out=$(<"$PS_TMP/save$i.out")
		if [ "$st" -eq 0 ]; then
			[[ "$out" == /* ]] || fail "save $i printed '$out'"
			run -0 ckpt verify "$out"
		else
			[ "$st" -eq 1 ] || fail "save $i: exit $st"
			grep -q "another ps-ckpt is running" "$PS_TMP/save$i.err" ||
			    fail "save $i: $(cat "$PS_TMP/save$i.err")"
		fi
	done
	# a refused save leaves no folder; every folder is complete
	runq ckpt list --json
	jq -e 'length >= 1 and all(.complete)' <<<"$output" >/dev/null || fail "list: $output"
	# two folders of checkpoints (two locks): the scheduler takes one save at a time
	for i in 1 2; do
		timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-ckpt" -c "$PS_CONF" \
		    --dir "$PS_TMP/other$i" save >"$PS_TMP/o$i.out" 2>"$PS_TMP/o$i.err" 3>&- &
		eval "pid$i=$!"
	done
	for i in 1 2; do
		st=0
		eval "wait \$pid$i" || st=$?
		if [ "$st" -eq 0 ]; then
			run -0 ckpt verify "$(<"$PS_TMP/o$i.out")"
		else
			grep -q "a checkpoint is already being written" "$PS_TMP/o$i.err" ||
			    fail "other save $i: exit $st: $(cat "$PS_TMP/o$i.err")"
			[ "$(find "$PS_TMP/other$i" -mindepth 1 -maxdepth 1 -type d |
			    wc -l)" -eq 0 ] || fail "the refused save left a folder"
		fi
	done
}

# --- cron ---------------------------------------------------------------------------

@test "from cron: env -i PATH=/usr/bin:/bin, ckpt.dir relative to the working folder" {
	local dir
	sum_job 1
	dir=$PS_TMP/cron
	mkdir "$dir"
	cd "$dir" || fail "cd"
	status=0
	output=$(env -i PATH=/usr/bin:/bin "$PS_BUILD/ps-ckpt" -c "$PS_CONF" save \
	    2>"$PS_TMP/stderr" </dev/null) || status=$?
	[ "$status" -eq 0 ] || fail "exit $status: $(cat "$PS_TMP/stderr")"
	[ ! -s "$PS_TMP/stderr" ] || fail "stderr: $(cat "$PS_TMP/stderr")"
	[ "$(wc -l <<<"$output")" -eq 1 ] || fail "stdout: $output"
	[[ "$output" == "$(realpath "$dir")/ckpt/"* ]] || fail "path $output"
	[ -f "$output/MANIFEST" ] || fail "no MANIFEST in $output"
	# and the prune line of the man page's crontab
	output=$(env -i PATH=/usr/bin:/bin "$PS_BUILD/ps-ckpt" -c "$PS_CONF" prune --keep 3 \
	    2>&1 </dev/null) || fail "prune: $output"
	[ -z "$output" ] || fail "prune: $output"
	env -i PATH=/usr/bin:/bin "$PS_BUILD/ps-ckpt" -c "$PS_CONF" \
	    -o ckpt.dir="$dir/ckpt" list >"$PS_TMP/list" || fail "list"
	[ "$(wc -l <"$PS_TMP/list")" -eq 2 ] || fail "$(cat "$PS_TMP/list")"
}
