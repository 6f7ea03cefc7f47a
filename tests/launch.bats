#!/usr/bin/env bats
# ps-launch: a whole job over ssh, through a throwaway sshd on 127.0.0.1 started for
# each test (its own port, host key, user key and authorized_keys in the test's
# directory, as ../shared/contracts/launch-ssh does). A 1+2+2 job ends 0 with every
# node's lines under its name; SIGTERM and SIGKILL to ps-launch mid-job leave nothing
# of the job behind (the lifeline); a failed data command fails the job; -n starts
# nothing; a bad hosts file is refused with FILE:LINE; {rank} in a data command.
#
# Which processes are this test's job, when other tests run in parallel: the test's
# sshd sets TMPDIR for its sessions to a folder of the test's own, so every program
# ps-launch starts names it in its arguments (-c .../ps-launch.XXXXXX/job.yaml); and
# every session of the test's sshd is the job's, so the job is every process in
# those sessions (the script, its watcher, the program, a data command), which a
# process keeps even when its parent dies.

load helper

bats_require_minimum_version 1.5.0

# The head of a log line (see lib/log.c): an optional time stamp, then PROG[PID],
# then for a registered node an optional " node N".
TS='([0-9][-0-9T:.Z]* )?'
NODE='( node [0-9]+)?'

SSHD_PID=	# the test's sshd (its listener)
JOB_SIDS=" "	# the sessions of the job seen so far, space-separated
LAUNCH_PID=	# ps-launch, when run in the background

setup() {
	ps_init
	RTMP=$PS_TMP/rtmp	# TMPDIR of the job's sessions
	HOSTS=$PS_TMP/hosts.yaml
	ps_heart
	sshd_start
	JOB_PORT=$(free_port) || fail "no free port for the scheduler"
}

teardown() {
	local rc=0 pid
	ps_teardown || rc=$?	# ps-launch if still there, TERM then KILL
	# Anything of the job still there (the test has failed already): by pid.
	for pid in $(job_left_pids); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	sshd_stop
	return "$rc"
}

# --- a throwaway sshd -----------------------------------------------------------------

# free_port: a TCP port of 127.0.0.1 nothing listens on, below the ephemeral range.
free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 12000))
		[ "$p" != "${SSH_PORT:-}" ] || continue
		if ! (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# sshd_start: the test's sshd on 127.0.0.1:SSH_PORT, logging to sshd.log, its
# sessions' TMPDIR set to $PS_TMP/rtmp; skips the test when there is no sshd, it
# cannot start, or no one can log in through it.
sshd_start() {
	local d=$PS_TMP/ssh i err
	[ -x /usr/sbin/sshd ] || skip "/usr/sbin/sshd is missing (Debian: openssh-server)"
	if ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
		skip "ssh or ssh-keygen is missing (Debian: openssh-client)"
	fi
	mkdir -p "$d" "$PS_TMP/rtmp"
	chmod 700 "$d"
	if ! ssh-keygen -q -t ed25519 -N '' -f "$d/host" </dev/null >/dev/null 2>&1 ||
	    ! ssh-keygen -q -t ed25519 -N '' -f "$d/id" </dev/null >/dev/null 2>&1; then
		skip "ssh-keygen cannot make the test's keys"
	fi
	cp "$d/id.pub" "$d/authorized_keys"
	chmod 600 "$d/authorized_keys"
	# as root, sshd needs its privilege separation folder
	if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
		mkdir -p /run/sshd 2>/dev/null || true
	fi
	for ((i = 0; i < 5; i++)); do
		SSH_PORT=$(free_port) || skip "sshd cannot start: no free port"
		printf '%s\n' "Port $SSH_PORT" "ListenAddress 127.0.0.1" "HostKey $d/host" \
		    "AuthorizedKeysFile $d/authorized_keys" "PasswordAuthentication no" \
		    "KbdInteractiveAuthentication no" "PermitRootLogin prohibit-password" \
		    "StrictModes no" "UsePAM no" "PidFile $d/sshd.pid" \
		    "SetEnv TMPDIR=$PS_TMP/rtmp" >"$d/sshd_config"
		if ! err=$(/usr/sbin/sshd -t -f "$d/sshd_config" 2>&1); then
			skip "sshd cannot start: sshd -t: ${err:-failed}"
		fi
		/usr/sbin/sshd -D -f "$d/sshd_config" -E "$PS_TMP/sshd.log" \
		    </dev/null >/dev/null 2>&1 3>&- &
		SSHD_PID=$!
		wait_until 5 sshd_up_or_dead 2>/dev/null || true
		ps_log_has "$PS_TMP/sshd.log" "^Server listening on 127\.0\.0\.1 port $SSH_PORT" &&
		    break
		sshd_stop	# lost a race for the port, or worse: once more
	done
	[ -n "$SSHD_PID" ] ||
	    skip "sshd cannot start: $(tail -n 1 "$PS_TMP/sshd.log" 2>/dev/null)"
	if ! err=$(timeout 20 ssh -p "$SSH_PORT" -i "$d/id" -o StrictHostKeyChecking=no \
	    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -T \
	    127.0.0.1 true 2>&1 </dev/null); then
		skip "cannot log in through the test's sshd: ${err:-ssh failed}"
	fi
}
sshd_up_or_dead() {
	ps_log_has "$PS_TMP/sshd.log" "^Server listening on 127\.0\.0\.1 port $SSH_PORT" ||
	    ! alive "$SSHD_PID"
}

sshd_stop() {
	[ -n "$SSHD_PID" ] || return 0
	kill -TERM "$SSHD_PID" 2>/dev/null || true
	wait "$SSHD_PID" 2>/dev/null || true
	SSHD_PID=
}

# --- the hosts file and ps-launch -----------------------------------------------------

# yaml_quote STRING: STRING as a single-quoted YAML scalar.
yaml_quote() {
	local q="'"
	printf "'%s'" "${1//$q/$q$q}"
}

# write_hosts DATA0 DATA1 ...: $HOSTS for 1 scheduler, 2 servers and a worker per
# data command, every node on 127.0.0.1 through the test's sshd.
write_hosts() {
	local data
	{
		printf '%s\n' "# written by tests/launch.bats" "ssh:" "  port: $SSH_PORT" \
		    "  identity: $PS_TMP/ssh/id" \
		    '  options: ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"]' \
		    "  bin: $PS_BUILD" \
		    "scheduler: {host: 127.0.0.1}" \
		    "servers:" "  - {host: 127.0.0.1}" "  - {host: 127.0.0.1}" "workers:"
		for data; do
			printf '  - host: 127.0.0.1\n    data: %s\n' "$(yaml_quote "$data")"
		done
	} >"$HOSTS"
}

# launch_bg [ARGS...]: ps-launch -H $HOSTS on the test's scheduler port, in the
# background; stdout in launch.out, stderr in launch.log.
launch_bg() {
	"$PS_BUILD/ps-launch" -H "$HOSTS" -o scheduler.port="$JOB_PORT" "$@" \
	    >"$PS_TMP/launch.out" 2>"$PS_TMP/launch.log" </dev/null 3>&- &
	LAUNCH_PID=$!
	ps_track ps-launch "$LAUNCH_PID"
}

# watch_launch SECONDS: note the job's sessions (job_sessions) while ps-launch runs,
# at most SECONDS; its exit status is then in $status. Fails if it did not end.
watch_launch() {
	local deadline=$(( ${EPOCHREALTIME/./} + $1 * 1000000 ))
	while alive "$LAUNCH_PID"; do
		if [ "${EPOCHREALTIME/./}" -ge "$deadline" ]; then
			echo "ps-launch still running after $1 s" >&2
			return 1
		fi
		job_sessions
		ps_sleep 0.1
	done
	status=0
	wait "$LAUNCH_PID" 2>/dev/null || status=$?
}

# job_sessions: add to JOB_SIDS the sessions of every process below the test's sshd
# but itself (one per node: sshd gives each session its own), and of every process
# whose arguments name this test's TMPDIR on the far side.
job_sessions() {
	local pid ppid sid args own
	local -A parent=() session=()
	own=$(ps -o sid= -p "$SSHD_PID" 2>/dev/null) || return 0
	own=${own// /}
	while read -r pid ppid sid args; do
		parent[$pid]=$ppid
		session[$pid]=$sid
		[[ $args == *"$RTMP/ps-launch."* ]] && [[ $JOB_SIDS != *" $sid "* ]] &&
		    JOB_SIDS+="$sid "
	done < <(ps -eo pid=,ppid=,sid=,args=)
	for pid in "${!parent[@]}"; do
		ppid=${parent[$pid]}
		while [ -n "$ppid" ] && [ "$ppid" -gt 1 ] && [ "$ppid" != "$SSHD_PID" ]; do
			ppid=${parent[$ppid]:-}
		done
		sid=${session[$pid]}
		[ "$ppid" = "$SSHD_PID" ] && [ "$sid" != "$own" ] &&
		    [[ $JOB_SIDS != *" $sid "* ]] && JOB_SIDS+="$sid "
	done
	return 0
}

# job_procs: "PID SID ARGS" of every live process of the job: in one of its sessions,
# or naming this test's TMPDIR on the far side.
job_procs() {
	local pid sid stat args
	[ -n "${RTMP:-}" ] || return 0
	while read -r pid sid stat args; do
		[[ $stat == Z* ]] && continue
		if [[ $JOB_SIDS == *" $sid "* ]] || [[ $args == *"$RTMP/ps-launch."* ]]; then
			echo "$pid $sid $args"
		fi
	done < <(ps -eo pid=,sid=,stat=,args=)
}
job_left_pids() {
	job_procs | while read -r pid _; do echo "$pid"; done
}
nothing_left() {
	[ -z "$(job_procs)" ]
}

# assert_nothing_left [SECONDS]: within SECONDS (default 10: under the sanitizers a
# session's shell took more than 5 to end), no process of the job is left, and the
# sessions' temporary folders are gone.
assert_nothing_left() {
	local left
	if ! wait_until "${1:-10}" nothing_left 2>/dev/null; then
		left=$(job_procs)
		fail "processes of the job left:
$left"
	fi
	# (the session's shell removes its folder as it ends: give it the same time)
	wait_until "${1:-10}" no_folders_left 2>/dev/null ||
	    fail "temporary folders left on the far side: $(ls -A "$RTMP")"
}
no_folders_left() {
	[ -z "$(ls -A "$RTMP")" ]
}

# job_running: the job's five programs are running, each in a session.
job_running() {
	local n
	job_sessions
	n=$(job_procs | grep -cE '^[0-9]+ [0-9]+ [^ ]*/ps-(scheduler|server|worker) -c ') || true
	[ "$n" -eq 5 ]
}

# workers_training: both workers said so, and both sleeps of their data commands run.
workers_training() {
	ps_log_has "$PS_TMP/launch.log" "^worker0: ${TS}ps-worker\[[0-9]+\]${NODE}: info: worker [01] of 2 training" &&
	    ps_log_has "$PS_TMP/launch.log" "^worker1: ${TS}ps-worker\[[0-9]+\]${NODE}: info: worker [01] of 2 training" &&
	    job_running && [ "$(job_procs | grep -cE '^[0-9]+ [0-9]+ sleep 60$')" -eq 2 ]
}

# --- the tests ------------------------------------------------------------------------

@test "a 1+2+2 job over ssh ends 0, its lines under each node's name, and nothing is left" {
	write_hosts "head -135 $HEART" "tail -135 $HEART"
	launch_bg
	watch_launch 90
	[ "$status" -eq 0 ] || fail "ps-launch exited $status"
	run -0 cat "$PS_TMP/launch.out"
	assert_line "scheduler: ready 127.0.0.1:$JOB_PORT"
	assert_line --regexp '^worker0: train examples=135 logloss=[0-9.]+ accuracy=[0-9.]+ skipped=0$'
	assert_line --regexp '^worker1: train examples=135 logloss=[0-9.]+ accuracy=[0-9.]+ skipped=0$'
	run -0 cat "$PS_TMP/launch.log"
	assert_line --regexp "^scheduler: ${TS}ps-scheduler\[[0-9]+\]${NODE}: info: listening on 127\.0\.0\.1:"
	assert_line --regexp "^server0: ${TS}ps-server\[[0-9]+\]${NODE}: info: node [0-9]+ serving on 127\.0\.0\.1:"
	assert_line --regexp "^server1: ${TS}ps-server\[[0-9]+\]${NODE}: info: node [0-9]+ serving on 127\.0\.0\.1:"
	assert_line --regexp "^worker0: ${TS}ps-worker\[[0-9]+\]${NODE}: info: worker [01] of 2 training from stdin$"
	assert_line --regexp "^worker1: ${TS}ps-worker\[[0-9]+\]${NODE}: info: worker [01] of 2 training from stdin$"
	assert_line --regexp "^${TS}ps-launch\[[0-9]+\]: info: job done: 2 workers succeeded$"
	# every session was seen, and ended
	[ "$(wc -w <<<"$JOB_SIDS")" -ge 5 ] || fail "sessions seen: $JOB_SIDS"
	assert_nothing_left
}

@test "SIGTERM to ps-launch mid-job: exit 143 within 15 s, nothing of the job left" {
	write_hosts "cat $HEART; sleep 60" "cat $HEART; sleep 60"
	launch_bg
	wait_until 30 workers_training || fail "the job did not get going; its processes:
$(job_procs)"
	kill -TERM "$LAUNCH_PID"
	watch_launch 15
	[ "$status" -eq 143 ] || fail "ps-launch exited $status, not 143"
	run -0 cat "$PS_TMP/launch.log"
	assert_line --regexp "^${TS}ps-launch\[[0-9]+\]: info: SIGTERM: stopping every process on every host$"
	assert_nothing_left
	if job_procs | grep -qE '^[0-9]+ [0-9]+ sleep 60$'; then
		fail "a sleep 60 of a data command is left"
	fi
}

@test "SIGKILL to ps-launch mid-job: the lifeline ends everything within 15 s" {
	local ssh_pids pid
	write_hosts "cat $HEART; sleep 60" "cat $HEART; sleep 60"
	launch_bg
	wait_until 30 workers_training || fail "the job did not get going; its processes:
$(job_procs)"
	ssh_pids=$(ps -o pid= --ppid "$LAUNCH_PID")
	[ "$(wc -w <<<"$ssh_pids")" -eq 5 ] || fail "ssh clients: $ssh_pids"
	kill -KILL "$LAUNCH_PID"
	wait_exit "$LAUNCH_PID" 5
	[ "$status" -eq 137 ]
	assert_nothing_left 15
	for pid in $ssh_pids; do
		alive "$pid" && fail "ssh (pid $pid) still running: $(ps -o args= -p "$pid")"
	done
	true
}

@test "a worker's failed data command fails the job (exit 1), naming it, and stops the rest" {
	# cluster.linger: the scheduler and the servers would serve on until
	# ps-ctl shutdown, so only ps-launch's stop can end them
	write_hosts "head -135 $HEART" "cat /nonexistent"
	launch_bg -o cluster.linger=true
	watch_launch 60
	[ "$status" -eq 1 ] || fail "ps-launch exited $status, not 1"
	run -0 cat "$PS_TMP/launch.log"
	# (cat's message may be cut in two by a line of the worker's log: they share
	# the session's stderr)
	assert_line --regexp '^worker1: (.*: )?/nonexistent: No such file or directory$'
	assert_line --regexp '^worker1: ps-launch: the data command failed \(exit 1\)$'
	assert_line --regexp "^${TS}ps-launch\[[0-9]+\]: error: worker1: exited 1$"
	assert_line --regexp "^${TS}ps-launch\[[0-9]+\]: info: worker1 failed \(exit 1\): stopping every process on every host$"
	# (the other worker may be stopped before it is done)
	assert_line --regexp "^${TS}ps-launch\[[0-9]+\]: error: job failed: [01] of 2 workers succeeded$"
	assert_nothing_left
}

@test "-n prints one ssh command per node and starts nothing" {
	local before
	write_hosts "head -135 $HEART" "tail -135 $HEART"
	before=$(grep -c 'Accepted publickey' "$PS_TMP/sshd.log" || true)
	# through the in-tree wrapper, which runs PS_BUILD's ps-launch
	run -0 timeout 20 "$PS_ROOT/scripts/ps-launch" -n -H "$HOSTS" -o scheduler.port="$JOB_PORT"
	assert_equal "$(grep -cE '^# (scheduler|server[01]|worker[01])$' <<<"$output")" 5
	assert_equal "$(grep -c '^# ' <<<"$output")" 5
	assert_equal "$(grep -cE "^ssh -p $SSH_PORT -i [^ ]+ -o StrictHostKeyChecking=no .* -o BatchMode=yes .* -T -- 127\.0\.0\.1 'umask 077\$" <<<"$output")" 5
	# the YAML travels inside the command: the port, the counts, each server's address
	assert_equal "$(grep -c "^  port: $JOB_PORT\$" <<<"$output")" 5
	assert_equal "$(grep -c '^  servers: 2$' <<<"$output")" 5
	assert_equal "$(grep -c -- '-o server.host=127.0.0.1' <<<"$output")" 2
	assert_output --partial "tail -135 $HEART"
	# nothing ran: no login, no process, no folder
	ps_sleep 0.5
	assert_equal "$(grep -c 'Accepted publickey' "$PS_TMP/sshd.log" || true)" "$before"
	job_sessions
	assert_equal "$(job_procs)" ""
	assert_equal "$(ls -A "$RTMP")" ""
}

@test "bad hosts files: exit 2 with FILE:LINE: and what is wrong" {
	local good head
	head=$(printf '%s\n' "ssh:" "  port: $SSH_PORT" "scheduler: {host: 127.0.0.1}" \
	    "servers:" "  - {host: 127.0.0.1}")
	good="workers:
  - {host: 127.0.0.1, data: \"cat $HEART\"}"

	# an unknown key, in an entry and at the top
	printf '%s\n' "$head" "  - {hots: 127.0.0.1}" "$good" >"$HOSTS"
	run -2 timeout 20 "$PS_BUILD/ps-launch" -n -H "$HOSTS"
	assert_output --regexp "$HOSTS:6: servers\[1\]: unknown key 'hots' \(host, address, user, port, identity, options, bin\)"
	printf '%s\n' "$head" "$good" "worker: {host: 127.0.0.1}" >"$HOSTS"
	run -2 timeout 20 "$PS_BUILD/ps-launch" -n -H "$HOSTS"
	assert_output --regexp "$HOSTS:8: unknown key 'worker' \(ssh, scheduler, servers, workers\)"
	# data in a server's entry
	printf '%s\n' "${head%  - *}  - host: 127.0.0.1" "    data: cat" "$good" >"$HOSTS"
	run -2 timeout 20 "$PS_BUILD/ps-launch" -n -H "$HOSTS"
	assert_output --regexp "$HOSTS:6: servers\[0\]: unknown key 'data'"

	# no workers, no data command
	printf '%s\n' "$head" >"$HOSTS"
	run -2 timeout 20 "$PS_BUILD/ps-launch" -n -H "$HOSTS"
	assert_output --regexp "$HOSTS:1: no workers:"
	printf '%s\n' "$head" "workers:" "  - {host: 127.0.0.1}" >"$HOSTS"
	run -2 timeout 20 "$PS_BUILD/ps-launch" -n -H "$HOSTS"
	assert_output --regexp "$HOSTS:7: workers\[0\]: no data command"

	# bad ports: at the top, in an entry
	printf '%s\n' "${head/port: $SSH_PORT/port: 70000}" "$good" >"$HOSTS"
	run -2 timeout 20 "$PS_BUILD/ps-launch" -n -H "$HOSTS"
	assert_output --regexp "$HOSTS:2: port: '70000' is not a port \(1\.\.65535\)"
	printf '%s\n' "$head" "  - {host: 127.0.0.1, port: ssh}" "$good" >"$HOSTS"
	run -2 timeout 20 "$PS_BUILD/ps-launch" -n -H "$HOSTS"
	assert_output --regexp "$HOSTS:6: port: 'ssh' is not a port \(1\.\.65535\)"

	# and the job's configuration: a port the other hosts cannot know
	printf '%s\n' "$head" "$good" >"$HOSTS"
	run -0 timeout 20 "$PS_BUILD/ps-launch" -n -H "$HOSTS"
	run -2 timeout 20 "$PS_BUILD/ps-launch" -n -H "$HOSTS" -o scheduler.port=0
	assert_output --partial "scheduler.port is 0"
	assert_equal "$(ls -A "$RTMP")" ""
}

@test "{rank} in a data command: each worker reads its own half, and says its rank" {
	write_hosts "echo rank={rank} >&2; sed -n '{rank}~2p' $HEART" \
	    "echo rank={rank} >&2; sed -n '{rank}~2p' $HEART"
	launch_bg
	watch_launch 90
	[ "$status" -eq 0 ] || fail "ps-launch exited $status"
	run -0 cat "$PS_TMP/launch.log"
	assert_line 'worker0: rank=0'
	assert_line 'worker1: rank=1'
	# 0~2: lines 2, 4, ...; 1~2: lines 1, 3, ...: 135 of the 270 each
	run -0 cat "$PS_TMP/launch.out"
	assert_line --regexp '^worker0: train examples=135 '
	assert_line --regexp '^worker1: train examples=135 '
	assert_nothing_left
}
