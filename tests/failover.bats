#!/usr/bin/env bats
# Replication (cluster.replicas): a lost server's slots are served by their backups
# under a new map epoch, the job goes on, no acknowledged update is lost and none is
# applied twice (ps-bench with the sum optimizer checks every value it pulls against
# the exact sums of what it pushed), and a server that joins takes the missing copies.

load helper

bats_require_minimum_version 1.5.0

setup() {
	ps_init
	ps_heart
}

teardown() {
	ps_teardown_job
}

# recovery_time: the scheduler's "served again" line, its seconds on stdout.
recovery_time() {
	ps_log_match "$PS_TMP/scheduler.log" \
	    "failover: the lost server's slots are served again, ([0-9.]+) s after it was lost" ||
	    return 1
	echo "${BASH_REMATCH[1]}"
}

@test "replicas 2: kill -9 a server while ps-bench pushes (sum): every value is the sum of the acknowledged pushes" {
	local t
	# (a client's registration expires after net.idle_timeout: ps-bench, silent
	# toward the scheduler meanwhile, registers again, under its id, to ask
	# for the map after the kill)
	start_scheduler 3 1 -o cluster.replicas=2 -o net.idle_timeout=1 \
	    -o optimizer.name=sum
	start_server -o optimizer.name=sum
	start_server -o optimizer.name=sum
	start_server -o optimizer.name=sum
	start_bench bench -o optimizer.name=sum -k 50000 -r 1500 --check-all
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/bench.log" 'creating them took'
	wait_until 5 ps_log_has "$PS_TMP/scheduler.log" \
	    'idle for [0-9]+ s \(net.idle_timeout\); closing the connection'
	alive "$(ps_pid bench)" || fail "ps-bench ended before the kill: $(cat "$PS_TMP/bench.out")"
	kill -KILL "$(ps_pid server1)"
	wait_exit "$(ps_pid bench)" 60 || fail "ps-bench hangs after the kill"
	[ "$status" -eq 0 ] || fail "ps-bench: exit $status: $(cat "$PS_TMP/bench.log")"
	run cat "$PS_TMP/bench.out"
	assert_output --partial "check keys=50000 dim=1 rounds=1500 checked=50000 values=50000"
	[ "$(grep -c 'client node 4 registered from' "$PS_TMP/scheduler.log")" -eq 2 ] ||
	    fail "ps-bench did not register again: $(cat "$PS_TMP/scheduler.log")"
	t=$(recovery_time) || fail "no recovery time: $(cat "$PS_TMP/scheduler.log")"
	echo "# recovered in $t s" >&3
	# the goal is well under a second; a loaded machine gets some slack
	awk -v t="$t" 'BEGIN { exit !(t < 2) }' || fail "recovery took $t s"
	ps_log_has "$PS_TMP/scheduler.log" \
	    'warn: server node [0-9]+ at 127\.0\.0\.1:[0-9]+ lost: its backups serve its 5461 slots from map epoch 2'
	# the replica count is restored: the two left have a copy of every slot
	ps_log_has "$PS_TMP/server0.log" 'backup node [0-9]+ has its copy of [0-9]+ slots'
	ps_status | jq -e '.failovers == {completed: 1, failed: 0}' >/dev/null ||
	    fail "status: $(ps_status | jq -c .failovers)"
}

@test "replicas 2: ps-local with a server killed mid-training finishes, exit 0, as accurate" {
	local lp srv json
	# a slow stdin: the kill lands while the worker trains
	(for i in $(seq 20); do cat "$HEART"; sleep 0.1; done) |
	    "$PS_ROOT/scripts/ps-local" -q -s 3 -w 1 -o cluster.replicas=2 --test "$HEART" \
	    --json >"$PS_TMP/local.out" 2>"$PS_TMP/local.log" 3>&- &
	lp=$!
	ps_track ps-local "$lp"
	wait_until "$PS_START_TIMEOUT" bash -c \
	    "ps -eo ppid=,comm= | awk -v p=$lp '\$1 == p && \$2 == \"ps-worker\"' | grep -q ."
	srv=$(ps -eo pid=,ppid=,comm= | awk -v p="$lp" '$2 == p && $3 == "ps-server" {print $1; exit}')
	[ -n "$srv" ] || fail "no server to kill"
	ps_sleep 0.5
	kill -KILL "$srv"
	wait_exit "$lp" 60 || fail "ps-local hangs"
	[ "$status" -eq 0 ] || fail "ps-local: exit $status: $(cat "$PS_TMP/local.log")"
	ps_log_has "$PS_TMP/local.log" 'server[0-9] died \(exit 137\); cluster.replicas is 2'
	json=$(tail -n 1 "$PS_TMP/local.out")
	jq -e '.accuracy >= 0.80 and .examples == 270' <<<"$json" >/dev/null ||
	    fail "after the failover: $json"
}

@test "replicas 2: a server frozen (SIGSTOP) past the heartbeat timeout: its backup serves, the job finishes" {
	start_scheduler 2 1 -o cluster.replicas=2 -o net.heartbeat_timeout=2 \
	    -o net.heartbeat_interval=0.2
	start_server -o net.heartbeat_interval=0.2
	start_server -o net.heartbeat_interval=0.2
	# (net.request_timeout stays 60 s: the worker asks the scheduler about a
	# server silent for net.heartbeat_timeout + 1 s)
	feed_worker trainer -o net.heartbeat_timeout=2
	kill -STOP "$(ps_pid server0)"
	wait_until 10 recovery_time || fail "no failover: $(cat "$PS_TMP/scheduler.log")"
	ps_log_has "$PS_TMP/scheduler.log" 'silent for [0-9.]+ s: declared dead'
	# the worker's requests to the frozen server get no answer; the map has
	# dropped it: they go again to its backup, the owner now
	feed_rest
	wait_exit "$(ps_pid trainer)" 20 || fail "the worker hangs"
	[ "$status" -eq 0 ] || fail "the worker: exit $status: $(cat "$PS_TMP/trainer.log")"
	wait_exit "$(ps_pid scheduler)" 10 || fail "the scheduler did not end the job"
	[ "$status" -eq 0 ] || fail "the scheduler: exit $status"
	ps_log_has "$PS_TMP/scheduler.log" 'job over: every worker succeeded'
}

@test "replicas 2: a server that joins after a failover takes the missing copies, and can take over" {
	start_scheduler 2 1 -o cluster.replicas=2 -o optimizer.name=sum
	start_server -o optimizer.name=sum
	start_server -o optimizer.name=sum
	start_bench bench -o optimizer.name=sum -k 20000 -r 3000 --check-all
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/bench.log" 'creating them took'
	kill -KILL "$(ps_pid server0)"
	wait_until 10 recovery_time
	ps_log_has "$PS_TMP/scheduler.log" \
	    'warn: 16384 copies of slots are missing: too few servers left for cluster.replicas 2'
	# the new server is given every copy, and its owner sends them while serving
	start_server -o optimizer.name=sum
	wait_until 10 ps_log_has "$PS_TMP/scheduler.log" \
	    'info: 16384 missing copies of slots given to the new server'
	wait_until 10 ps_log_has "$PS_TMP/server1.log" \
	    'backup node [0-9]+ has its copy of 16384 slots'
	# it keeps copies: up, not a spare
	[[ " $(ps_slots) " == *" 4:0:up "* ]] || fail "status: $(ps_slots)"
	alive "$(ps_pid bench)" || fail "ps-bench ended too soon: $(cat "$PS_TMP/bench.out")"
	# now the other original server goes: the new one serves everything, with
	# the copy it was sent and every update since
	kill -KILL "$(ps_pid server1)"
	wait_exit "$(ps_pid bench)" 60 || fail "ps-bench hangs"
	[ "$status" -eq 0 ] || fail "ps-bench: exit $status: $(cat "$PS_TMP/bench.log")"
	run cat "$PS_TMP/bench.out"
	assert_output --partial "checked=20000 values=20000"
	ps_log_has "$PS_TMP/server2.log" 'serving 16384 slots this server kept as a backup'
}

@test "with replicas, a lost server whose slots have no copy left still ends the job, naming it" {
	start_scheduler 2 1 -o cluster.replicas=2
	start_server
	start_server
	feed_worker trainer
	kill -KILL "$(ps_pid server0)"
	wait_until 10 recovery_time
	kill -KILL "$(ps_pid server1)"
	wait_exit "$(ps_pid scheduler)" 10 || fail "the scheduler did not end the job"
	[ "$status" -eq 1 ] || fail "the scheduler: exit $status"
	ps_log_has "$PS_TMP/scheduler.log" \
	    'error: a server is lost: server node [0-9]+ at 127\.0\.0\.1:[0-9]+ owned 16384 slots whose backups were lost too; ending the job'
}

@test "cluster.replicas above cluster.servers is refused, with -n too" {
	run -2 "$PS_BUILD/ps-scheduler" -o scheduler.port=0 -o cluster.servers=2 \
	    -o cluster.replicas=3
	assert_output --partial 'cluster.replicas (3) needs at least as many servers (cluster.servers is 2)'
	run -2 "$PS_BUILD/ps-scheduler" -n -o cluster.servers=2 -o cluster.replicas=3
	assert_output --partial 'cluster.replicas (3) needs at least as many servers (cluster.servers is 2)'
	run -2 "$PS_BUILD/ps-scheduler" -n -o cluster.replicas=4
	assert_output --partial 'cluster.replicas'
}

@test "with replicas, moving slots is refused, saying why" {
	start_scheduler 2 1 -o cluster.replicas=2
	start_server
	start_server
	feed_worker trainer
	run -1 ps_ctl reshard --slots 0-9 --to "$(ps_servers | tail -n 1)"
	assert_output --partial 'cluster.replicas is 2: slots with backups do not move between servers'
}

@test "replicas 2: a server cut off by a partition is declared dead; its backups serve, no update lost" {
	ns_setup
	local a=$NS_NET.1 b=$NS_NET.2 i t
	local fast=(-o net.heartbeat_interval=0.2 -o net.heartbeat_timeout=2)
	# scheduler, two servers and ps-bench in one namespace; the third server in the
	# other, across the veth pair the test then takes down
	ns_conf "$a" 0 3 1
	ns_start scheduler "$NS_A" ps-scheduler -c "$PS_CONF" -o cluster.replicas=2 \
	    -o optimizer.name=sum "${fast[@]}"
	ps_wait_line scheduler "$PS_TMP/scheduler.out" '^ready '
	ps_log_match "$PS_TMP/scheduler.out" "^ready ${a//./\\.}:([0-9]+)\$" ||
	    fail "not ready on $a: $(cat "$PS_TMP/scheduler.out")"
	SCHED_PORT=${BASH_REMATCH[1]}
	ns_conf "$a" "$SCHED_PORT" 3 1
	for i in 0 1 2; do
		if [ "$i" -lt 2 ]; then
			ns_start "server$i" "$NS_A" ps-server -c "$PS_CONF" -o server.host="$a" \
			    -o optimizer.name=sum "${fast[@]}"
		else
			ns_start "server$i" "$NS_B" ps-server -c "$PS_CONF" -o server.host="$b" \
			    -o optimizer.name=sum "${fast[@]}"
		fi
		ps_wait_line "server$i" "$PS_TMP/server$i.log" 'serving on '
	done
	wait_until 10 ps_log_has "$PS_TMP/scheduler.log" 'map epoch 1 in force: 3 servers'
	ns_start bench "$NS_A" ps-bench -c "$PS_CONF" -o optimizer.name=sum \
	    -o net.request_timeout=3 -k 20000 -r 4000 --check-all
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/bench.log" 'creating them took'
	ps_sleep 0.5
	# the partition: nothing crosses the link any more, and nobody is told
	ip -n "$NS_B" link set veth1 down || fail "cannot take the link down"
	wait_until 10 recovery_time || fail "no failover: $(cat "$PS_TMP/scheduler.log")"
	ps_log_has "$PS_TMP/scheduler.log" \
	    "server node 3 silent for [0-9.]+ s: declared dead"
	ps_log_has "$PS_TMP/scheduler.log" \
	    "server node 3 at ${b//./\\.}:[0-9]+ lost: its backups serve its 5461 slots"
	wait_exit "$(ps_pid bench)" 60 || fail "ps-bench hangs"
	[ "$status" -eq 0 ] || fail "ps-bench: exit $status: $(cat "$PS_TMP/bench.log")"
	run cat "$PS_TMP/bench.out"
	assert_output --partial "checked=20000 values=20000"
	t=$(recovery_time)
	echo "# partition: served again $t s after the server was declared dead" >&3
}

@test "no replicas: a lost server's slots come back from the job's last checkpoint; the job says what was lost" {
	local ck=$PS_TMP/ckpt
	mkdir "$ck"
	start_scheduler 2 1
	start_server
	start_server
	feed_worker trainer --test "$HEART"
	run -0 "$PS_BUILD/ps-ckpt" -c "$PS_CONF" -o "ckpt.dir=$ck" save
	kill -KILL "$(ps_pid server0)"
	wait_until 10 recovery_time || fail "no recovery: $(cat "$PS_TMP/scheduler.log")"
	ps_log_has "$PS_TMP/scheduler.log" \
	    "warn: a server is lost: server node 1 at 127\.0\.0\.1:[0-9]+ held 8192 slots, which have no replica: restoring them from checkpoint .* onto 1 servers"
	ps_log_has "$PS_TMP/scheduler.log" \
	    "warn: restored the 8192 slots of server node 1 \([0-9]+ keys\) from checkpoint .*: the updates it applied since are lost \(about [0-9]+ pushes, as of its last heartbeat\)"
	ps_log_has "$PS_TMP/server1.log" 'restored 8192 slots of a lost server'
	# the job goes on, and finishes well
	feed_rest
	wait_exit "$(ps_pid trainer)" 30 || fail "the worker did not finish"
	[ "$status" -eq 0 ] || fail "the worker: exit $status: $(cat "$PS_TMP/trainer.log")"
	grep -Eq '^test examples=270 .*accuracy=0\.[6-9]' "$PS_TMP/trainer.out" ||
	    fail "$(cat "$PS_TMP/trainer.out")"
	wait_exit "$(ps_pid scheduler)" 10 || fail "the job did not end"
	[ "$status" -eq 0 ] || fail "the scheduler: exit $status"
}
