#!/usr/bin/env bats
# ps-ctl: usage errors, a scheduler that is not there, and a live job: status in text
# and JSON, get, a dead node, commands on a non-terminal stdin, and the interactive
# shell driven through a pseudo-terminal with expect.

load helper

bats_require_minimum_version 1.5.0

# runq CMD...: like `run --separate-stderr`: sets status, output (stdout), stderr, lines.
runq() {
	status=0
	output=$("$@" 2>"$PS_TMP/stderr") || status=$?
	stderr=$(<"$PS_TMP/stderr")
	mapfile -t lines <<<"$output"
}

# ctl ARGS...: ps-ctl against this test's cluster, with a time limit (status 124).
ctl() {
	# shellcheck disable=SC2046
	timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-ctl" $(ps_cluster_opts) "$@"
}

# ctl_stdin LINE...: ps-ctl reading the lines as commands from a pipe.
ctl_stdin() {
	printf '%s\n' "$@" | ctl
}

# Nothing listens on port 1 (tcpmux, long obsolete): a connection is refused at once.
CLOSED=(-o scheduler.host=127.0.0.1 -o scheduler.port=1)

# dead_ctl ARGS...: ps-ctl against that closed port.
dead_ctl() {
	timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-ctl" "${CLOSED[@]}" "$@"
}

# now_ms: wall-clock milliseconds, without a fork.
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# live_job: a scheduler for 2 servers and 1 worker, both servers, and the worker
# training from a pipe held open, so the job runs until the test ends.
live_job() {
	ps_heart
	start_scheduler 2 1 || return 1
	start_server || return 1
	start_server || return 1
	mkfifo "$PS_TMP/feed"
	start_worker trainer "$PS_TMP/feed"
	exec {PS_FEED}>"$PS_TMP/feed"
	head -n 50 "$HEART" >&"$PS_FEED"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/scheduler.log" \
	    'worker 0 .* registered'
}

teardown() {
	feed_close
	ps_teardown
}

# --- the command line --------------------------------------------------------------

@test "ps-ctl --help: usage, the commands and the shared options on stdout, exit 0" {
	runq "$PS_BUILD/ps-ctl" --help
	[ "$status" -eq 0 ] || fail "exit $status"
	[[ "${lines[0]}" == "usage: ps-ctl "* ]] || fail "first line '${lines[0]}'"
	for word in status get reshard rebalance drain shutdown help quit -c -o --json; do
		[[ "$output" == *"$word"* ]] || fail "--help does not mention $word"
	done
	[ -z "$stderr" ] || fail "stderr: $stderr"
}

@test "ps-ctl --version: one line with the protocol, exit 0" {
	run -0 "$PS_BUILD/ps-ctl" --version
	assert_output --regexp '^ps-ctl [0-9]+\.[0-9]+\.[0-9]+ \(protocol [0-9]+\)$'
}

@test "ps-ctl -n checks the configuration" {
	run -0 "$PS_BUILD/ps-ctl" -n -o scheduler.port=7071
	assert_output "configuration OK"
	run -2 "$PS_BUILD/ps-ctl" -n -o scheduler.port=nope
	assert_output --partial "scheduler.port"
}

@test "an unknown or ambiguous command is a usage error, exit 2" {
	runq dead_ctl frobnicate
	[ "$status" -eq 2 ] || fail "exit $status"
	[[ "$stderr" == *"unknown command 'frobnicate'"* ]] || fail "stderr: $stderr"
	[ -z "$output" ] || fail "stdout: $output"
	# s: status or shutdown
	runq dead_ctl s
	[ "$status" -eq 2 ] || fail "exit $status"
	[[ "$stderr" == *"ambiguous"*"status"*"shutdown"* ]] || fail "stderr: $stderr"
	runq "$PS_BUILD/ps-ctl" --no-such-flag status
	[ "$status" -eq 2 ] || fail "--no-such-flag: exit $status"
	[[ "$stderr" == *"usage: ps-ctl"* ]] || fail "stderr: $stderr"
}

@test "bad --slots, a missing --to or a bad node id: exit 2 before connecting" {
	local args
	# against a closed port: a try to connect would exit 1, not 2
	for args in "--slots 5-3 --to 1" "--slots 0-16384 --to 1" "--slots 16384 --to 1" \
	    "--slots a-b --to 1" "--slots 1- --to 1" "--slots -1 --to 1" "--slots 0-10" \
	    "--to 1" "--slots 0-10 --to x" "--slots 0-10 --to -1" "--slots 0-10 --to 1 x" \
	    ""; do
		# shellcheck disable=SC2086
		runq dead_ctl reshard $args
		[ "$status" -eq 2 ] || fail "reshard $args: exit $status ($stderr)"
		[ "$(wc -l <<<"$stderr")" -le 2 ] || fail "reshard $args: '$stderr'"
	done
	runq dead_ctl reshard --slots 5-3 --to 1
	[[ "$stderr" == *"'5-3'"* ]] || fail "the error does not name the range: $stderr"
	runq dead_ctl drain
	[ "$status" -eq 2 ] || fail "drain: exit $status"
	runq dead_ctl drain two
	[ "$status" -eq 2 ] || fail "drain two: exit $status"
	[[ "$stderr" == *"'two'"* ]] || fail "stderr: $stderr"
	runq dead_ctl status extra
	[ "$status" -eq 2 ] || fail "status extra: exit $status"
}

@test "get: a KEY that is not a decimal uint64 is refused naming it, exit 2" {
	local key
	for key in abc -1 1.5 0x10 "" 18446744073709551616 " 7"; do
		runq dead_ctl get 1 "$key" 3
		[ "$status" -eq 2 ] || fail "get '$key': exit $status"
		[[ "$stderr" == *"'$key'"* ]] || fail "get '$key': stderr '$stderr'"
		[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "get '$key': '$stderr'"
		[ -z "$output" ] || fail "get '$key' wrote to stdout: $output"
	done
	runq dead_ctl get
	[ "$status" -eq 2 ] || fail "get without keys: exit $status"
}

# --- no scheduler ------------------------------------------------------------------

@test "no scheduler: one line on stderr naming it, exit 1, at once" {
	local cmd start elapsed
	for cmd in status "status --json" "get 1 2" rebalance "drain 1" \
	    "reshard --slots 0-1 --to 1" shutdown; do
		start=$(now_ms)
		# shellcheck disable=SC2086
		runq dead_ctl $cmd
		elapsed=$(($(now_ms) - start))
		[ "$status" -eq 1 ] || fail "$cmd: exit $status"
		[ "$elapsed" -lt 5000 ] || fail "$cmd: took $elapsed ms"
		[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "$cmd: stderr '$stderr'"
		[[ "$stderr" == "ps-ctl: scheduler 127.0.0.1:1: "* ]] ||
		    fail "$cmd: stderr '$stderr'"
		[ -z "$output" ] || fail "$cmd wrote to stdout: $output"
	done
}

@test "no scheduler, commands on stdin: each fails, exit 1" {
	runq bash -c "printf 'status\n\n# a comment\nrebalance\n' |
	    timeout $PS_EXIT_TIMEOUT '$PS_BUILD/ps-ctl' ${CLOSED[*]}"
	[ "$status" -eq 1 ] || fail "exit $status"
	[ "$(grep -c '^ps-ctl: scheduler 127.0.0.1:1: ' <<<"$stderr")" -eq 2 ] ||
	    fail "stderr: $stderr"
}

@test "a scheduler that accepts but never answers: exit 1 within seconds" {
	command -v python3 >/dev/null || skip "python3 is missing"
	# a listening socket nobody accepts from: the kernel completes the handshake
	python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$PS_TMP/mute.port" 3>&- &
	ps_track mute $!
	wait_until "$PS_START_TIMEOUT" test -s "$PS_TMP/mute.port"
	local port start elapsed
	port=$(<"$PS_TMP/mute.port")
	start=$(now_ms)
	runq timeout 20 "$PS_BUILD/ps-ctl" -o scheduler.port="$port" status
	elapsed=$(($(now_ms) - start))
	[ "$status" -eq 1 ] || fail "exit $status"
	[ "$elapsed" -lt 8000 ] || fail "took $elapsed ms"
	[[ "$stderr" == "ps-ctl: scheduler 127.0.0.1:$port: "* ]] || fail "stderr: $stderr"
}

# --- a live job --------------------------------------------------------------------

@test "status: a summary line, a header and one row per node" {
	live_job
	runq ctl status
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
	[[ "${lines[0]}" =~ ^epoch\ [0-9]+:\ 2\ servers,\ 1\ worker$ ]] ||
	    fail "summary '${lines[0]}'"
	[[ "${lines[1]}" =~ ^ID\ +ROLE\ +ADDR\ +STATE\ +UPTIME\ +HEARTBEAT\ +SLOTS\ +KEYS\ +MEMORY\ +PUSH/S\ +PULL/S\ +EXAMPLES$ ]] ||
	    fail "header '${lines[1]}'"
	[[ "${lines[2]}" =~ ^0\ +scheduler\ +127\.0\.0\.1:$SCHED_PORT\  ]] ||
	    fail "first row '${lines[2]}'"
	[ "$(grep -Ec '^[0-9]+ +server +127\.0\.0\.1:[0-9]+ +(up|suspect) ' <<<"$output")" -eq 2 ] ||
	    fail "want 2 server rows: $output"
	[ "$(grep -Ec '^[0-9]+ +worker ' <<<"$output")" -eq 1 ] || fail "no worker row: $output"
	[ -z "$stderr" ] || fail "stderr: $stderr"
}

@test "status --json: one line; servers' slots add up to 16384; every field" {
	live_job
	runq ctl status --json
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
	[ "${#lines[@]}" -eq 1 ] || fail "${#lines[@]} lines: $output"
	jq -e '
	    (.epoch | type) == "number" and .servers == 2 and .workers == 1 and
	    ([.nodes[] | select(.role == "server") | .slots] | add) == 16384 and
	    ([.nodes[] | select(.role == "server")] | length) == 2 and
	    ([.nodes[] | select(.role == "scheduler") | .id] == [0]) and
	    ([.nodes[] | select(.role == "worker")] | length) == 1 and
	    all(.nodes[]; .state | IN("up", "suspect", "draining", "spare", "done")) and
	    all(.nodes[]; has("id") and has("role") and has("addr") and has("state") and
	        has("uptime") and has("heartbeat_age") and has("slots") and has("keys") and
	        has("memory") and has("pushes_per_s") and has("pulls_per_s") and
	        has("examples"))' <<<"$output" >/dev/null || fail "bad status: $output"
	# --json before the command: the same object
	runq ctl --json status
	[ "$status" -eq 0 ] || fail "exit $status"
	jq -e '.servers == 2 and (.nodes | length) >= 4' <<<"$output" >/dev/null ||
	    fail "bad status: $output"
	# the jq line of the man page
	ctl status --json | jq -e '[.nodes[] | select(.role=="server") | .slots] | add == 16384'
}

@test "get KEY...: a line per key in the order given, repeats included; --json" {
	live_job
	runq ctl get 1 2 3
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
	[ "${#lines[@]}" -eq 3 ] || fail "${#lines[@]} lines: $output"
	local i key
	for i in 0 1 2; do
		key=$((i + 1))
		[[ "${lines[$i]}" =~ ^$key$'\t'-?[0-9][0-9.e+-]*$ ]] || fail "line '${lines[$i]}'"
	done
	runq ctl get 3 1 3 18446744073709551615
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
	[ "${#lines[@]}" -eq 4 ] || fail "$output"
	[[ "${lines[0]}" == 3$'\t'* && "${lines[1]}" == 1$'\t'* && "${lines[2]}" == 3$'\t'* ]] ||
	    fail "order: $output"
	[ "${lines[0]}" = "${lines[2]}" ] || fail "the same key read twice differs: $output"
	# a key never pushed reads as zero
	[ "${lines[3]}" = $'18446744073709551615\t0' ] || fail "unknown key: ${lines[3]}"
	runq ctl get --json 3 1 3
	[ "$status" -eq 0 ] || fail "exit $status"
	jq -e 'keys == ["1", "3"] and (.["1"] | length) == 1 and
	    (.["3"][0] | type) == "number"' <<<"$output" >/dev/null || fail "JSON: $output"
}

@test "commands on a non-terminal stdin: no prompts, comments skipped, worst status" {
	live_job
	runq ctl_stdin "# check the job" "" "status" "get 1" "st --json"
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
	[[ "$output" != *"ps>"* ]] || fail "a prompt: $output"
	[[ "${lines[0]}" =~ ^epoch\ [0-9]+: ]] || fail "first line '${lines[0]}'"
	grep -q $'^1\t' <<<"$output" || fail "no get output: $output"
	jq -e '.servers == 2' <<<"${lines[-1]}" >/dev/null || fail "last line: ${lines[-1]}"
	# one bad line among good ones: the others still run, the exit is the worst
	runq ctl_stdin "nonsense" "status" "quit" "status"
	[ "$status" -eq 2 ] || fail "exit $status"
	[ "$(grep -c '^epoch ' <<<"$output")" -eq 1 ] || fail "quit did not end: $output"
	[[ "$stderr" == *"unknown command 'nonsense'"* ]] || fail "stderr: $stderr"
}

@test "status exits 1 when a node is dead" {
	ps_heart
	local hb=(-o net.heartbeat_interval=0.2 -o net.heartbeat_timeout=1)
	start_scheduler 1 2 "${hb[@]}"
	start_server "${hb[@]}"
	mkfifo "$PS_TMP/feed" "$PS_TMP/feed2"
	start_worker frozen "$PS_TMP/feed" "${hb[@]}"
	start_worker alive "$PS_TMP/feed2" "${hb[@]}"
	exec {PS_FEED}>"$PS_TMP/feed"
	exec {feed2}>"$PS_TMP/feed2"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/scheduler.log" 'worker 1 .* registered'
	kill -STOP "$(ps_pid frozen)"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/scheduler.log" 'declared dead'
	runq ctl status
	[ "$status" -eq 1 ] || fail "exit $status: $output"
	grep -Eq '^[0-9]+ +worker .* dead ' <<<"$output" || fail "no dead row: $output"
	runq ctl status --json
	[ "$status" -eq 1 ] || fail "--json: exit $status"
	jq -e '[.nodes[] | select(.state == "dead")] | length == 1' <<<"$output" >/dev/null ||
	    fail "JSON: $output"
	kill -CONT "$(ps_pid frozen)"
	exec {feed2}>&-
}

# --- the interactive shell ---------------------------------------------------------

# shell_expect SCRIPT ARGS...: run an expect script (on stdin) against ps-ctl on a
# pseudo-terminal; the script gets the ps-ctl command and ARGS in argv.
shell_expect() {
	command -v expect >/dev/null || skip "expect is missing (make deps)"
	cat >"$PS_TMP/shell.exp"
	TERM=dumb timeout 60 expect -f "$PS_TMP/shell.exp" "$PS_BUILD/ps-ctl" "$PS_CONF" "$@"
}

# The expect helpers: want PATTERN WHAT fails the script if PATTERN does not come.
EXPECT_PROLOGUE='
set timeout 10
log_user 0
proc want {pattern what} {
	expect {
		-re $pattern {}
		timeout { puts stderr "timed out waiting for $what"; exit 1 }
		eof { puts stderr "ps-ctl ended while waiting for $what"; exit 1 }
	}
}
proc ends {} {
	expect {
		eof {}
		timeout { puts stderr "ps-ctl did not end"; exit 1 }
	}
	lassign [wait] pid spawnid oserr status
	if {$status != 0} { puts stderr "ps-ctl exited $status"; exit 1 }
}
'

@test "the shell: status, completion of commands and node ids, history, quit" {
	live_job
	local ids id0 id1
	ids=$(ctl status --json | jq -r '[.nodes[] | select(.role == "server") | .id] | join(" ")')
	read -r id0 id1 <<<"$ids"
	[ -n "$id1" ] || fail "no server ids: '$ids'"
	mkdir "$PS_TMP/home"
	HOME=$PS_TMP/home shell_expect "$id0" "$id1" <<-EOF || fail "the shell failed"
	$EXPECT_PROLOGUE
	lassign \$argv ps_ctl conf id0 id1
	spawn -noecho \$ps_ctl -c \$conf
	want {ps> } "the prompt"
	send "status\r"
	want {ID +ROLE +ADDR +STATE} "the table header"
	want "\n\$id0 +server " "the row of server \$id0"
	want {ps> } "the prompt after status"
	# a command name: he<TAB> becomes "help "
	send "he\t\r"
	want {commands} "the help"
	want {ps> } "the prompt after help"
	# the server ids, asked of the scheduler, listed by a double TAB
	send "drain \t\t"
	want "\$id0 +\$id1|\$id1 +\$id0" "the server ids listed"
	# after --to too; then drop the line (C-u)
	send "\025reshard --slots 0-0 --to \t\t"
	want "\$id0 +\$id1|\$id1 +\$id0" "the server ids after --to"
	send "\025quit\r"
	ends
	EOF
	local hist=$PS_TMP/home/.ps_ctl_history
	[ -r "$hist" ] || fail "no history file"
	grep -qx status "$hist" || fail "no 'status' in the history: $(cat "$hist")"
	# the completed form was run and kept
	grep -qx "help " "$hist" || fail "no completed 'help ' in the history: $(cat "$hist")"
	# nothing was drained
	ctl status --json | jq -e '[.nodes[] | select(.role == "server") | .slots] |
	    all(. > 0)' >/dev/null || fail "a server lost its slots"
}

@test "the shell: history is appended across sessions; end of file ends it" {
	live_job
	mkdir "$PS_TMP/home"
	printf 'get 1\n' >"$PS_TMP/home/.ps_ctl_history"
	HOME=$PS_TMP/home shell_expect <<-EOF || fail "the shell failed"
	$EXPECT_PROLOGUE
	lassign \$argv ps_ctl conf
	spawn -noecho \$ps_ctl -c \$conf
	want {ps> } "the prompt"
	# the previous session's line is there: up arrow (C-p) brings it back
	send "\020\r"
	want "\n1\t" "the value of key 1"
	want {ps> } "the prompt"
	send "nonsense\r"
	want {unknown command} "the error"
	want {ps> } "the shell to go on"
	send "\004"
	ends
	EOF
	run -0 cat "$PS_TMP/home/.ps_ctl_history"
	assert_line --index 0 "get 1"
	assert_line "nonsense"
}

@test "the shell without HOME: works, writes no history" {
	live_job
	mkdir "$PS_TMP/cwd"
	cd "$PS_TMP/cwd"
	HOME= shell_expect <<-EOF || fail "the shell failed"
	$EXPECT_PROLOGUE
	lassign \$argv ps_ctl conf
	spawn -noecho \$ps_ctl -c \$conf
	want {ps> } "the prompt"
	send "exit\r"
	ends
	EOF
	[ -z "$(ls -A "$PS_TMP/cwd")" ] || fail "files written: $(ls -A "$PS_TMP/cwd")"
}
