#!/usr/bin/env bats
# Command lines: --help, --version, bad flags, configuration errors, -n.
# Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error.

load helper

bats_require_minimum_version 1.5.0

# runq CMD...: like `run --separate-stderr`, without its cost in loops: sets status,
# output (stdout), stderr and lines.
runq() {
	status=0
	output=$("$@" 2>"$PS_TMP/stderr") || status=$?
	stderr=$(<"$PS_TMP/stderr")
	mapfile -t lines <<<"$output"
}

# Every program built; ps-bench and ps-ctl only when present.
programs() {
	local p
	for p in ps-scheduler ps-server ps-worker ps-tokenize ps-bench ps-ctl ps-ckpt; do
		[ -x "$PS_BUILD/$p" ] && echo "$p"
	done
}

# The programs that read the configuration (-c, -o, -n).
conf_programs() {
	local p
	for p in ps-scheduler ps-server ps-worker ps-bench; do
		[ -x "$PS_BUILD/$p" ] && echo "$p"
	done
}

@test "the four core programs are built" {
	for p in ps-scheduler ps-server ps-worker ps-tokenize; do
		[ -x "$PS_BUILD/$p" ] || fail "$PS_BUILD/$p is missing"
	done
}

@test "every program answers --help with its usage on stdout, exit 0" {
	for p in $(programs); do
		runq "$PS_BUILD/$p" --help
		[ "$status" -eq 0 ] || fail "$p --help: exit $status"
		[[ "${lines[0]}" == "usage: $p "* ]] || fail "$p --help: first line '${lines[0]}'"
		[ -z "$stderr" ] || fail "$p --help wrote to stderr: $stderr"
	done
}

@test "every program answers --version on stdout, exit 0" {
	for p in $(programs); do
		runq "$PS_BUILD/$p" --version
		[ "$status" -eq 0 ] || fail "$p --version: exit $status"
		[[ "$output" =~ ^$p\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "$p --version: '$output'"
		[ "${#lines[@]}" -eq 1 ] || fail "$p --version: ${#lines[@]} lines"
	done
}

@test "the daemons' --version names the protocol version" {
	for p in ps-scheduler ps-server ps-worker; do
		run -0 "$PS_BUILD/$p" --version
		assert_output --regexp "\(protocol [0-9]+\)$"
	done
}

@test "an unknown long flag: usage on stderr, nothing on stdout, exit 2" {
	for p in $(programs); do
		runq "$PS_BUILD/$p" --no-such-flag
		[ "$status" -eq 2 ] || fail "$p --no-such-flag: exit $status"
		[ -z "$output" ] || fail "$p --no-such-flag wrote to stdout: $output"
		[[ "$stderr" == *"usage: $p"* ]] || fail "$p --no-such-flag: stderr '$stderr'"
	done
}

@test "an unknown short flag exits 2" {
	for p in $(programs); do
		runq "$PS_BUILD/$p" -Z
		[ "$status" -eq 2 ] || fail "$p -Z: exit $status"
		[[ "$stderr" == *"usage: $p"* ]] || fail "$p -Z: stderr '$stderr'"
	done
}

@test "a flag missing its argument exits 2" {
	for p in $(conf_programs); do
		runq "$PS_BUILD/$p" -o
		[ "$status" -eq 2 ] || fail "$p -o: exit $status"
		runq "$PS_BUILD/$p" -c
		[ "$status" -eq 2 ] || fail "$p -c: exit $status"
	done
	run "$PS_BUILD/ps-worker" --test
	[ "$status" -eq 2 ] || fail "ps-worker --test: exit $status"
}

@test "the daemons refuse stray arguments, exit 2" {
	for p in ps-scheduler ps-server ps-worker; do
		runq "$PS_BUILD/$p" -n stray.svm
		[ "$status" -eq 2 ] || fail "$p stray.svm: exit $status"
		[[ "$stderr" == *"unexpected argument 'stray.svm'"* ]] || fail "$p: '$stderr'"
	done
}

@test "a configuration with an unknown key is refused naming the key and file:line" {
	cat >"$PS_TMP/job.yaml" <<-'EOF'
	# a job
	cluster:
	  servers: 1
	  sevrers: 2
	EOF
	for p in $(conf_programs); do
		runq "$PS_BUILD/$p" -n -c "$PS_TMP/job.yaml"
		[ "$status" -eq 2 ] || fail "$p: exit $status"
		[[ "$stderr" == *"$PS_TMP/job.yaml:4:"*"cluster.sevrers"* ]] ||
		    fail "$p: '$stderr'"
		[ -z "$output" ] || fail "$p wrote to stdout: $output"
	done
}

@test "an unknown section is refused naming it and its line" {
	printf 'cluster:\n  servers: 1\nworkers:\n  count: 2\n' >"$PS_TMP/job.yaml"
	run -2 "$PS_BUILD/ps-scheduler" -n -c "$PS_TMP/job.yaml"
	assert_output --partial "$PS_TMP/job.yaml:3:"
	assert_output --partial "workers"
	printf 'cluster:\n  servers: 1\n  extra:\n    deep: 1\n' >"$PS_TMP/deep.yaml"
	run -2 "$PS_BUILD/ps-server" -n -c "$PS_TMP/deep.yaml"
	assert_output --partial "$PS_TMP/deep.yaml:3:"
	assert_output --partial "cluster.extra"
}

@test "a bad value in the file is refused naming the option and file:line" {
	printf 'optimizer:\n  name: ftrl\n  l1: abc\n' >"$PS_TMP/l1.yaml"
	printf 'cluster:\n  servers: 0\n' >"$PS_TMP/servers.yaml"
	printf 'net:\n  max_frame: 12Q\n' >"$PS_TMP/frame.yaml"
	for p in $(conf_programs); do
		runq "$PS_BUILD/$p" -n -c "$PS_TMP/l1.yaml"
		[ "$status" -eq 2 ] || fail "$p l1: exit $status"
		[[ "$stderr" == *"l1.yaml:3:"*"optimizer.l1"*"abc"* ]] || fail "$p: '$stderr'"
		runq "$PS_BUILD/$p" -n -c "$PS_TMP/servers.yaml"
		[ "$status" -eq 2 ] || fail "$p servers: exit $status"
		[[ "$stderr" == *"servers.yaml:2:"*"cluster.servers"* ]] || fail "$p: '$stderr'"
		runq "$PS_BUILD/$p" -n -c "$PS_TMP/frame.yaml"
		[ "$status" -eq 2 ] || fail "$p max_frame: exit $status"
		[[ "$stderr" == *"frame.yaml:2:"*"net.max_frame"* ]] || fail "$p: '$stderr'"
	done
}

@test "a bad value given with -o is refused naming the option, exit 2" {
	local bad
	for bad in optimizer.l1=abc cluster.servers=0 cluster.workers=-1 net.max_frame=1 \
	    model.bias=maybe optimizer.name=lion optimizer.alpha=0 scheduler.port=65536 \
	    model.dim=0 optimizer.l2=nan; do
		for p in $(conf_programs); do
			runq "$PS_BUILD/$p" -n -o "$bad"
			[ "$status" -eq 2 ] || fail "$p -o $bad: exit $status"
			[[ "$stderr" == *"${bad%%=*}"* ]] || fail "$p -o $bad: '$stderr'"
			[ -z "$output" ] || fail "$p -o $bad wrote to stdout: $output"
		done
	done
}

@test "-o with an unknown option or without a value is refused, exit 2" {
	for p in $(conf_programs); do
		runq "$PS_BUILD/$p" -n -o nosuch=1
		[ "$status" -eq 2 ] || fail "$p -o nosuch=1: exit $status"
		[[ "$stderr" == *"nosuch"*"unknown"* ]] || fail "$p: '$stderr'"
		runq "$PS_BUILD/$p" -n -o cluster.servers
		[ "$status" -eq 2 ] || fail "$p -o cluster.servers: exit $status"
		[[ "$stderr" == *"name=value"* ]] || fail "$p: '$stderr'"
	done
}

@test "a heartbeat timeout not above the interval is refused" {
	run -2 "$PS_BUILD/ps-scheduler" -n -o net.heartbeat_interval=2 \
	    -o net.heartbeat_timeout=2
	assert_output --partial "net.heartbeat_timeout"
	run -0 "$PS_BUILD/ps-scheduler" -n -o net.heartbeat_interval=2 \
	    -o net.heartbeat_timeout=2.5
}

@test "a missing configuration file is refused naming it, exit 2" {
	run -2 "$PS_BUILD/ps-server" -n -c "$PS_TMP/nonexistent.yaml"
	assert_output --partial "$PS_TMP/nonexistent.yaml"
}

@test "-n prints 'configuration OK' for conf/local.yaml and conf/spam.yaml" {
	for p in $(conf_programs); do
		for c in local spam; do
			runq "$PS_BUILD/$p" -n -c "$PS_ROOT/conf/$c.yaml"
			[ "$status" -eq 0 ] || fail "$p -n $c.yaml: exit $status: $stderr"
			[ "$output" = "configuration OK" ] || fail "$p -n $c.yaml: '$output'"
		done
	done
}

@test "-n -v prints the settings: flags override the file" {
	run -0 "$PS_BUILD/ps-scheduler" -n -v -c "$PS_ROOT/conf/spam.yaml" \
	    -o cluster.workers=5 -o optimizer.alpha=0.25
	assert_line "  servers: 2"		# from the file
	assert_line "  workers: 5"		# from -o
	assert_line "  alpha: 0.25"
	refute_line "configuration OK"	# stdout is YAML alone
}

@test "ps-tokenize refuses bad -b and -l values, exit 2" {
	run -2 "$PS_BUILD/ps-tokenize" -b 0
	assert_output --partial "bits"
	run -2 "$PS_BUILD/ps-tokenize" -b 32
	run -2 "$PS_BUILD/ps-tokenize" -l abc
	assert_output --partial "label"
}

@test "ps-local --help and --version: stdout, exit 0" {
	run -0 --separate-stderr "$PS_ROOT/scripts/ps-local" --help
	[[ "${lines[0]}" == "usage: ps-local "* ]] || fail "first line '${lines[0]}'"
	[ -z "$stderr" ]
	assert_output --partial "--json"
	run -0 "$PS_ROOT/scripts/ps-local" --version
	assert_output --regexp '^ps-local [0-9]+\.[0-9]+'
}

@test "ps-local refuses bad flags with its usage, exit 2" {
	local args
	for args in "--no-such-flag" "-Z" "-s 0" "-s abc" "-w -3" "-w" "-s" "-c" \
	    "--test" "-o"; do
		# shellcheck disable=SC2086
		runq "$PS_ROOT/scripts/ps-local" $args
		[ "$status" -eq 2 ] || fail "ps-local $args: exit $status"
		[[ "$stderr" == *"usage: ps-local"* ]] || fail "ps-local $args: '$stderr'"
		[ -z "$output" ] || fail "ps-local $args wrote to stdout: '$output'"
	done
}

@test "ps-local refuses a bad option value before starting anything, exit 2" {
	run -2 "$PS_ROOT/scripts/ps-local" -o nosuch=1 "$PS_ROOT/tests/unit/unit.h"
	assert_output --partial "nosuch"
	run -2 "$PS_ROOT/scripts/ps-local" -o optimizer.l1=abc "$PS_ROOT/tests/unit/unit.h"
	assert_output --partial "optimizer.l1"
}
