#!/usr/bin/env bats
# Hostile peers and bounded resources (ps-intro(7), "Limits"): frames before the
# handshake are small; a slowloris is cut by net.handshake_timeout or
# net.frame_timeout; net.max_connections closes the oldest connection still in its
# handshake for a new one; accept() out of descriptors pauses instead of spinning; the
# scheduler keeps no long names and no leftover clients. Each test measures the daemon
# (VmRSS and VmHWM in /proc/PID/status, utime + stime in /proc/PID/stat, its open
# descriptors) and checks that a real client is still served.
# Frames are written by hand, as in tests/server.bats (see the "hand-made frames" in
# tests/helper.bash); messages are strings of hex bytes, split into words on purpose,
# and the connections a test opens are its own (bats runs each test in a subshell):
# shellcheck disable=SC2086,SC2046,SC2030,SC2031

load helper

bats_require_minimum_version 1.5.0

setup() {
	ps_init
	ps_heart
}

teardown() {
	local c
	for c in "${PS_OPEN[@]}"; do
		exec {c}>&- 2>/dev/null || true
	done
	[ -z "${PS_DRIP:-}" ] || kill "$PS_DRIP" 2>/dev/null || true
	feed_close
	ps_teardown
}

PS_OPEN=()	# connections a test holds, closed in teardown

# kb PID FIELD: a field of /proc/PID/status in kB (VmRSS, VmHWM).
kb() {
	local line
	while read -r line; do
		if [[ $line =~ ^$2:[[:space:]]*([0-9]+)[[:space:]]kB ]]; then
			echo "${BASH_REMATCH[1]}"
			return 0
		fi
	done <"/proc/$1/status"
	return 1
}

# cpu_ticks PID: utime + stime of the process, in clock ticks (1/100 s).
cpu_ticks() {
	local stat f
	read -r stat <"/proc/$1/stat"
	# the fields after the command name, which is in parentheses: state is the 1st,
	# utime the 12th, stime the 13th
	read -r -a f <<<"${stat##*) }"
	echo $((f[11] + f[12]))
}

# no_quarantine: under AddressSanitizer (make sanitize), freed memory waits in a
# quarantine before it is reused or given back, which would hide what the daemon gives
# back: for the daemons started after this, none.
no_quarantine() {
	if grep -qa __asan_init "$PS_BUILD/ps-server"; then
		export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0
	fi
}

# count_lines FILE PATTERN: lines of FILE matching the extended regular expression.
count_lines() {
	grep -cE -- "$2" "$1" || true
}

# serves: the server is alive, and a real client gets predictions through the cluster.
serves() {
	alive "$(ps_pid server0)" || fail "the server died"
	alive "$(ps_pid scheduler)" || fail "the scheduler died"
	run --separate-stderr worker --predict < <(head -n 20 "$HEART")
	assert_success
	[ "${#lines[@]}" -eq 20 ] || fail "${#lines[@]} predictions for 20 examples"
}

# The handshake (no secret: empty proofs), sent at once without waiting for the
# replies, as a byte string for printf.
hello_auth() {
	printf '\\x%s' 00 00 00 1d $(ps_hello_msg "$1") 00 00 00 09 $PS_AUTH
}

@test "8 length headers of 63 MB before HELLO: refused at once, no memory taken, the server serves" {
	start_cluster 1 1
	local pid i c
	pid=$(ps_pid server0)
	for ((i = 0; i < 8; i++)); do
		exec {c}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
		PS_OPEN+=("$c")
		# 63 MB announced, 4 MB of it sent: the server drops what follows its ERROR
		# (lingering) and closes; the writes may then fail, which is no failure
		( trap '' PIPE
		  { printf '\x03\xf0\x00\x00'; head -c 4M /dev/zero; } >&"$c" ) 2>/dev/null || true
	done
	for c in "${PS_OPEN[@]}"; do
		conn=$c
		read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
		run printable "$PS_TMP/reply"
		assert_output --partial "frame of 66060288 bytes refused (limit 4096) before the handshake"
	done
	# nothing near 63 MB was ever allocated: the peak, not only what is left
	local rss hwm
	rss=$(kb "$pid" VmRSS)
	hwm=$(kb "$pid" VmHWM)
	echo "server: VmRSS $rss kB, VmHWM $hwm kB" >&3
	[ "$hwm" -lt 32768 ] || fail "peak RSS of the server: $hwm kB"
	ps_log_has "$PS_TMP/server0.log" \
	    '127\.0\.0\.1:[0-9]+: frame of 66060288 bytes refused \(limit 4096\) before the handshake; closing' ||
	    fail "no log line naming the peer"
	serves
}

@test "8 frames of 63 MB from authenticated peers: the memory is given back after each" {
	no_quarantine
	start_cluster 1 1
	local pid i c before rss hwm
	pid=$(ps_pid server0)
	before=$(kb "$pid" VmRSS)
	# a PULL whose keys (a bin32 of 66060287 bytes, not whole keys) fill 63 MB: an
	# ERROR, and the connection stays open
	# [3, PULL, 5, 0, 0, 0, bin32]: 14 bytes of header and the bin's 66060287
	for ((i = 0; i < 8; i++)); do
		connect "$SERVER_PORT"
		PS_OPEN+=("$conn")
		ps_handshake 2
		{ printf '\x03\xf0\x00\x0d\x97\x03\xcd\x02\x00\x05\x00\x00\x00\xc6\x03\xef\xff\xff'
		  head -c 66060287 /dev/zero; } >&"$conn"
		read_frame "$PS_TMP/reply" || fail "no reply to frame $i"
		run printable "$PS_TMP/reply"
		assert_output --partial "66060287 bytes is not a whole number of 8-byte keys"
	done
	# every connection still open, each buffer given back after its frame
	rss=$(kb "$pid" VmRSS)
	hwm=$(kb "$pid" VmHWM)
	echo "server: VmRSS $before kB before, $rss kB after (connections open), VmHWM $hwm kB" >&3
	[ "$rss" -lt $((before + 32768)) ] ||
	    fail "VmRSS $rss kB with the connections open, $before kB before"
	# one frame's buffer at a time (64 MB), not eight
	[ "$hwm" -lt 200000 ] || fail "peak RSS of the server: $hwm kB"
	for c in "${PS_OPEN[@]}"; do
		exec {c}>&-
	done
	PS_OPEN=()
	serves
	rss=$(kb "$pid" VmRSS)
	[ "$rss" -lt $((before + 32768)) ] || fail "VmRSS $rss kB after, $before kB before"
}

@test "slowloris: 300 half frames, before and after the handshake, cut by the timeouts" {
	start_scheduler 1 1
	start_server -o net.handshake_timeout=2 -o net.frame_timeout=2
	local pid fds i c t0 hs
	pid=$(ps_pid server0)
	fds=$(open_fds "$pid")
	hs=$(hello_auth 2)
	t0=$EPOCHREALTIME
	for ((i = 0; i < 300; i++)); do
		exec {c}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
		PS_OPEN+=("$c")
		# shellcheck disable=SC2059
		case $((i % 3)) in
		0) printf '\x00\x00' >&"$c" ;;				# half a length
		1) printf '\x00\x00\x00\x1d\x9a\x05' >&"$c" ;;		# half a HELLO
		2) printf "$hs\\x00\\x00\\x01\\x00\\x97\\x05\\xcd" >&"$c" ;;	# half a PULL
		esac
	done
	wait_until 5 fds_at_least "$pid" $((fds + 300)) ||
	    fail "the server holds $(open_fds "$pid") descriptors, $fds before"
	# served meanwhile
	serves
	# the handshake or the frame timed out after 2 s; the ERROR, then 2 s of
	# lingering for the peer's FIN, which never comes
	wait_until 8 fds_at_most "$pid" "$fds" ||
	    fail "$(open_fds "$pid") descriptors open, $fds before"
	echo "all 300 closed after $(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 )) ms" >&3
	ps_log_has "$PS_TMP/server0.log" \
	    'warn: 127\.0\.0\.1:[0-9]+: no handshake within 2 s \(net\.handshake_timeout\); closing the connection' ||
	    fail "no handshake timeout logged"
	ps_log_has "$PS_TMP/server0.log" \
	    'warn: x@127\.0\.0\.1:[0-9]+: a frame of 256 bytes not finished within 2 s \(net\.frame_timeout; 7 bytes came\)' ||
	    fail "no frame timeout logged"
	# rate-limited: a line a second and a count, not 300 lines
	[ "$(count_lines "$PS_TMP/server0.log" 'within 2 s')" -le 8 ] ||
	    fail "$(count_lines "$PS_TMP/server0.log" 'within 2 s') lines for the timeouts"
	# and the peers got the ERROR that says why
	conn=${PS_OPEN[0]}
	read_to_close "$PS_TMP/reply" || true
	run printable "$PS_TMP/reply"
	assert_output --regexp "no handshake within 2 s|not finished within 2 s"
	serves
}

@test "a slowloris dripping a byte every 0.2 s into a frame is cut by net.frame_timeout" {
	start_scheduler 1 1
	start_server -o net.frame_timeout=1.5
	local pid fds t0 ms
	pid=$(ps_pid server0)
	fds=$(open_fds "$pid")
	connect "$SERVER_PORT"
	PS_OPEN+=("$conn")
	ps_handshake 2
	# a PULL of 256 bytes, a byte at a time: the peer is never silent for long
	t0=$EPOCHREALTIME
	( trap '' PIPE
	  printf '\x00\x00\x01\x00'
	  for ((i = 0; i < 50; i++)); do printf '\x00' || exit 0; sleep 0.2; done
	) 1>&"$conn" 2>/dev/null &
	PS_DRIP=$!
	read_frame "$PS_TMP/reply" || fail "no ERROR"
	ms=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))
	echo "cut after $ms ms" >&3
	[ "$ms" -lt 4000 ] || fail "cut after $ms ms"
	run printable "$PS_TMP/reply"
	assert_output --partial "a frame of 256 bytes not finished within 1.5 s (net.frame_timeout)"
	wait_until 5 fds_at_most "$pid" "$fds" ||
	    fail "$(open_fds "$pid") descriptors open, $fds before"
	serves
}

@test "1000 connections at once: the cap closes the oldest unproven ones, clients are served, no spinning" {
	local need=1200
	if [ "$(ulimit -n)" -lt $need ]; then
		ulimit -S -n $need 2>/dev/null ||
		    skip "1000 connections need $need descriptors; ulimit -n is $(ulimit -n) (hard $(ulimit -H -n))"
	fi
	start_scheduler 1 1 -o net.max_connections=200
	start_server
	local pid fds i c a b t0
	pid=$(ps_pid scheduler)
	fds=$(open_fds "$pid")
	t0=$EPOCHREALTIME
	for ((i = 0; i < 1000; i++)); do
		exec {c}<>"/dev/tcp/127.0.0.1/$SCHED_PORT"
		PS_OPEN+=("$c")
	done
	# the scheduler holds 200 of them (and its own), no more
	wait_until 5 ps_log_has "$PS_TMP/scheduler.log" 'more like it in the last second' ||
	    fail "no summary of the connections closed"
	[ "$(open_fds "$pid")" -le $((fds + 200)) ] ||
	    fail "$(open_fds "$pid") descriptors open, $fds before, at most 200 more"
	# not spinning: at most 0.2 s of CPU in 2 s
	a=$(cpu_ticks "$pid")
	ps_sleep 2
	b=$(cpu_ticks "$pid")
	echo "scheduler: $((b - a)) ticks of CPU in 2 s, $(open_fds "$pid") descriptors" >&3
	[ $((b - a)) -le 20 ] || fail "the scheduler used $((b - a)) ticks of CPU in 2 s"
	# a client comes in: the oldest unproven connection makes room
	run ps_ctl status
	assert_success
	serves
	# a line a second at most
	local secs lines
	secs=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000000 + 1 ))
	lines=$(count_lines "$PS_TMP/scheduler.log" 'net\.max_connections \(200\) reached')
	echo "$lines lines about the cap in $secs s" >&3
	[ "$lines" -ge 1 ] && [ "$lines" -le $((secs + 1)) ] ||
	    fail "$lines lines about the cap in $secs s"
	ps_log_has "$PS_TMP/scheduler.log" \
	    'net\.max_connections \(200\) reached: closed 127\.0\.0\.1:[0-9]+, the oldest connection still in its handshake' ||
	    fail "the cap's line does not name the peer"
}

@test "out of descriptors with every connection authenticated: accept pauses, logged once, no spinning" {
	command -v prlimit >/dev/null || skip "prlimit (util-linux) is missing"
	start_cluster 1 1
	local pid i c a b hs
	pid=$(ps_pid server0)
	prlimit --pid "$pid" --nofile=48:48 ||
	    skip "prlimit cannot lower the server's open files limit here"
	hs=$(hello_auth 2)
	# authenticated connections up to the limit (more than it holds), then more
	for ((i = 0; i < 60; i++)); do
		exec {c}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
		PS_OPEN+=("$c")
		# shellcheck disable=SC2059
		printf "$hs" >&"$c"
	done
	wait_until 5 ps_log_has "$PS_TMP/server0.log" 'accept: Too many open files' ||
	    fail "accept never ran out of descriptors"
	a=$(cpu_ticks "$pid")
	ps_sleep 2
	b=$(cpu_ticks "$pid")
	echo "server: $((b - a)) ticks of CPU in 2 s at the limit" >&3
	[ $((b - a)) -le 20 ] || fail "the server used $((b - a)) ticks of CPU in 2 s"
	[ "$(count_lines "$PS_TMP/server0.log" 'accept: ')" -eq 1 ] ||
	    fail "$(count_lines "$PS_TMP/server0.log" 'accept: ') lines about accept"
	ps_log_has "$PS_TMP/server0.log" \
	    'accept: Too many open files \([0-9]+ connections, open files limit 48\): not accepting for 1 s' ||
	    fail "the line does not say why"
	for c in "${PS_OPEN[@]}"; do
		exec {c}>&-
	done
	PS_OPEN=()
	wait_until 5 ps_log_has "$PS_TMP/server0.log" 'accepting connections again' ||
	    fail "the server did not take connections again"
	serves
}

@test "a REGISTER with a 20 MB host name is refused and not kept; clients leave no rows" {
	no_quarantine
	start_cluster 1 1
	local pid before rss
	pid=$(ps_pid scheduler)
	before=$(kb "$pid" VmRSS)
	connect "$SCHED_PORT"
	PS_OPEN+=("$conn")
	ps_handshake 3 0
	# [3, REGISTER, 7, 0, 0, 0, client, str32 of 20 MB, 0]
	{ printf '\x01\x40\x00\x10\x99\x03\xcd\x01\x00\x07\x00\x00\x00\x03\xdb\x01\x40\x00\x00'
	  head -c 20971520 /dev/zero | tr '\0' h
	  printf '\x00'; } >&"$conn"
	read_frame "$PS_TMP/reply" || fail "no reply to the REGISTER"
	run printable "$PS_TMP/reply"
	assert_output --partial "a host name of 20971520 bytes: at most 255"
	rss=$(kb "$pid" VmRSS)
	echo "scheduler: VmRSS $before kB before, $rss kB after" >&3
	[ "$rss" -lt $((before + 16384)) ] || fail "VmRSS $rss kB, $before kB before"
	disconnect
	PS_OPEN=()

	# clients (ps-ctl get registers as one) are forgotten when they leave
	local n0 n1 i
	n0=$(ps_status | jq '.nodes | length')
	for ((i = 0; i < 5; i++)); do
		run ps_ctl get 1
		assert_success
	done
	for ((i = 0; i < 100; i++)); do
		ps_ctl status >/dev/null || fail "ps-ctl status $i failed"
	done
	n1=$(ps_status | jq '.nodes | length')
	[ "$n1" -eq "$n0" ] || fail "$n0 nodes before, $n1 after"
	[ "$(ps_status | jq '[.nodes[] | select(.role == "client")] | length')" -eq 0 ] ||
	    fail "clients left in the table: $(ps_status)"
	rss=$(kb "$pid" VmRSS)
	[ "$rss" -lt $((before + 16384)) ] || fail "VmRSS $rss kB, $before kB before"
}

@test "the node table is bounded so that STATUS fits in net.max_frame" {
	# (65536 - 1024) / 512 - 1 = 125 nodes of at most 512 bytes each
	start_scheduler 1 1 -o net.max_frame=64K
	local i c hs reg
	hs=$(hello_auth 3)
	# [3, REGISTER, 7, 0, 0, 0, client, "", 0]
	reg=$(printf '\\x%s' 00 00 00 0c 99 05 cd 01 00 07 00 00 00 03 a0 00)
	for ((i = 0; i < 130; i++)); do
		exec {c}<>"/dev/tcp/127.0.0.1/$SCHED_PORT"
		PS_OPEN+=("$c")
		# shellcheck disable=SC2059
		printf "$hs$reg" >&"$c"
	done
	wait_until 5 ps_log_has "$PS_TMP/scheduler.log" \
	    'REGISTER: the scheduler has 125 nodes, as many as net\.max_frame \(STATUS must fit in one frame\) allows' ||
	    fail "no refusal at 125 nodes"
	run --separate-stderr ps_ctl status --json
	assert_success
	[ "$(jq '.nodes | length' <<<"$output")" -eq 126 ] ||
	    fail "$(jq '.nodes | length' <<<"$output") rows"
	# the 5 past it were refused
	[ "$(count_lines "$PS_TMP/scheduler.log" 'REGISTER: the scheduler has 125 nodes')" -eq 5 ] ||
	    fail "$(count_lines "$PS_TMP/scheduler.log" 'REGISTER: the scheduler has 125 nodes') refusals, 5 expected"
}

@test "net.idle_timeout: a connection silent that long is closed, said once; a worker idle that long trains on" {
	start_scheduler 1 1 -o net.idle_timeout=1
	start_server -o net.idle_timeout=1
	# a peer that shakes hands, then says nothing
	connect
	ps_handshake 2
	read_to_close "$PS_TMP/reply" || fail "the server kept a silent connection"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial 'idle for'
	ps_log_has "$PS_TMP/server0.log" \
	    'warn: .*: idle for [0-9]+ s \(net.idle_timeout\); closing the connection'
	# a worker whose input pauses past it: its server connection is closed, and
	# opened again when it needs it; the scheduler keeps a registered node's
	feed_worker trainer
	ps_sleep 2.5
	feed_rest
	wait_exit "$(ps_pid trainer)" 20 || fail "the worker did not finish"
	[ "$status" -eq 0 ] || fail "the worker: exit $status: $(cat "$PS_TMP/trainer.log")"
	grep -Eq '^train examples=270 .* skipped=0$' "$PS_TMP/trainer.out" ||
	    fail "$(cat "$PS_TMP/trainer.out")"
	! ps_log_has "$PS_TMP/scheduler.log" 'idle for'
}
