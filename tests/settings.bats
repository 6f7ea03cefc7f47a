#!/usr/bin/env bats
# One source of truth for a job: the scheduler's model, optimizer and consistency
# settings are every node's; a node given a different one is refused, by name.

load helper

bats_require_minimum_version 1.5.0

setup() {
	ps_init
}

teardown() {
	ps_teardown_job
}

@test "a server given another optimizer than the job's is refused by name, exit 1" {
	start_scheduler 1 1 -o optimizer.name=adagrad
	run timeout 10 "$PS_BUILD/ps-server" -c "$PS_CONF" -o optimizer.name=sgd
	[ "$status" -eq 1 ] || fail "exit $status: $output"
	assert_output --partial "optimizer.name: this server has 'sgd', the job 'adagrad'"
	ps_log_has "$PS_TMP/scheduler.log" "refused a server from" ||
	    fail "$(cat "$PS_TMP/scheduler.log")"
	# the job is still waiting for a server that agrees
	start_server -o optimizer.name=adagrad
	ps_log_has "$PS_TMP/server0.log" "(adagrad, dim 1)" ||
	    fail "$(cat "$PS_TMP/server0.log")"
}

@test "a worker given another L2 than the job's is refused, exit 1" {
	start_cluster 1 1
	run worker -o optimizer.l2=0.5 </dev/null
	[ "$status" -eq 1 ] || fail "exit $status: $output"
	assert_output --partial "optimizer.l2: this worker has '0.5', the job '1'"
}

@test "nodes given nothing take the job's settings from the scheduler" {
	start_scheduler 1 1 -o optimizer.name=sum -o model.dim=3
	start_server
	ps_log_has "$PS_TMP/server0.log" "(sum, dim 3)" ||
	    fail "$(cat "$PS_TMP/server0.log")"
	# a client too: ps-bench checks sums only with the job's optimizer, sum
	run timeout 20 "$PS_BUILD/ps-bench" -c "$PS_CONF" -k 1000 -r 20 --check-all
	[ "$status" -eq 0 ] || fail "exit $status: $output"
}

@test "the same value spelled another way is the same setting" {
	start_scheduler 1 1 -o optimizer.learning_rate=0.1 -o model.bias=true
	start_server -o optimizer.learning_rate=0.10 -o model.bias=yes
	ps_log_has "$PS_TMP/server0.log" "serving on" || fail
}

@test "ps-ctl get prints the job's model.dim values a key, given none itself" {
	start_scheduler 1 1 -o optimizer.name=sum -o model.dim=3
	start_server
	run timeout 20 "$PS_BUILD/ps-bench" -c "$PS_CONF" -k 10 -r 1
	[ "$status" -eq 0 ] || fail "ps-bench: exit $status: $output"
	run ps_ctl get 0
	[ "$status" -eq 0 ] || fail "exit $status: $output"
	# the key, a tab, then 3 values
	[[ "$output" =~ ^0$'\t'[^\ ]+\ [^\ ]+\ [^\ ]+$ ]] || fail "$output"
}
