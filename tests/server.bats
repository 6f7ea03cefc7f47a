#!/usr/bin/env bats
# Robustness of the servers (and the scheduler) against bad peers: garbage, oversized
# and lying frames, a wrong protocol version, dropped connections, a killed worker.
# Frames are written by hand: a 4-byte big-endian length, then one msgpack array
# [version 3, type, id, sender, epoch, clock, args...]. A connection starts with the
# handshake of version 3, HELLO, HELLO_OK, AUTH, AUTH_OK (ps_handshake in
# tests/helper.bash; no secret here, so the proofs are empty). Messages are kept as
# strings of hex bytes, split into words on purpose:
# shellcheck disable=SC2086

load helper

bats_require_minimum_version 1.5.0


setup() {
	ps_init
	ps_heart
}

# Well-formed messages, to show that the hand-made bytes are right. The first field is
# the protocol version, 5 (PS_PROTOCOL_VERSION); roles: 0 scheduler, 1 server,
# 2 worker, 3 client.
# [5, HELLO, 0, 0, 0, 0, worker, 0, "x", nonce (bin 16)]: 29 bytes
HELLO=$(ps_hello_msg 2)
# a HELLO of version 2, as a peer of that version sends it (no nonce):
# [2, HELLO, 0, 0, 0, 0, worker, 0, "x"]
HELLO_V2="99 02 01 00 00 00 00 02 00 a1 78"
HELLO_V6="9a 06 01 00 00 00 00 02 00 a1 78 c4 10 $PS_NONCE"	# $HELLO, version 6
PULL_KEY1="97 05 cd 02 00 05 00 00 00 c4 08 01 00 00 00 00 00 00 00"	# PULL id 5, key 1
# [5, PULL_OK, 5, server id, epoch 1, 0, bin of one float 0]
PULL_OK_ZERO_RE='^00 00 00 0f 97 05 cd 02 01 05 [0-7][0-9a-f] 01 00 c4 04 00 00 00 00$'

# send CMD...: write CMD's output to $conn. The peer may close (or reset) the connection
# before reading it all, and that is not an error here: a subshell takes the SIGPIPE.
send() {
	("$@" >&"$conn") 2>/dev/null || true
}

# one_frame FILE: FILE holds one whole frame (its length, then its body), no more.
one_frame() {
	local len size
	len=$(od -An -tx1 -N4 "$1" | tr -d ' \n')
	size=$(stat -c %s "$1")
	if [ "${#len}" -ne 8 ] || [ $((16#$len + 4)) -ne "$size" ]; then
		fail "not one frame: $size bytes, length '$len'"
	fi
}

# serves: the server is alive, and a real client gets predictions from it.
serves() {
	alive "$(ps_pid server0)" || fail "the server died"
	run --separate-stderr worker --predict < <(head -n 20 "$HEART")
	assert_success
	[ "${#lines[@]}" -eq 20 ] || fail "${#lines[@]} predictions for 20 examples"
}

@test "hand-made frames: the handshake, HELLO to AUTH_OK, and a PULL gets its value" {
	start_cluster 1 1
	connect
	# HELLO_OK [3, HELLO_OK, 0, server id, 0, 0, role server, server id, nonce, proof],
	# then AUTH_OK [3, AUTH_OK, 1, server id, 0, 0]
	ps_handshake 2
	frame $PULL_KEY1 >&"$conn"
	# [5, PULL_OK, 5, server id, epoch 1, 0, bin of one float 0]
	run read_bytes 19
	assert_output --regexp "$PULL_OK_ZERO_RE"
	disconnect
}

@test "garbage on a server's port: refused, closed, and the server still serves" {
	start_cluster 1 1
	local pid fds
	pid=$(ps_pid server0)
	fds=$(open_fds "$pid")
	# a frame of 8 bytes that are not msgpack
	connect
	send printf '\x00\x00\x00\x08\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1'
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial "bad frame: invalid msgpack byte 0xc1"
	# an empty frame
	connect
	send printf '\x00\x00\x00\x00'
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial "frame of 0 bytes refused"
	# text, as a person or a web browser would send it
	connect
	send printf 'GET / HTTP/1.0\r\nHost: x\r\n\r\n'
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial "refused"
	# frames of 296 random bytes (fixed seeds)
	local i k bytes
	for i in 1 2 3 4 5; do
		RANDOM=$i
		bytes=()
		for ((k = 0; k < 296; k++)); do
			bytes+=($((RANDOM & 255)))
		done
		connect
		# shellcheck disable=SC2059
		send printf "\\x00\\x00\\x01\\x28$(printf '\\x%02x' "${bytes[@]}")"
		read_to_close "$PS_TMP/reply" || fail "random bytes $i: not closed"
		disconnect
		run printable "$PS_TMP/reply"
		assert_output --regexp "bad frame|refused"
	done
	serves
	grep -q "closing the connection" "$PS_TMP/server0.log"
	# every refused connection is freed
	wait_until 5 fds_at_most "$pid" "$fds" ||
	    fail "$(open_fds "$pid") descriptors open, $fds before"
}

@test "a length header of 0x7fffffff is refused at once, naming the limit" {
	start_cluster 1 1
	connect
	printf '\x7f\xff\xff\xff' >&"$conn"
	# only 4 bytes were sent: the answer cannot wait for the frame
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	run printable "$PS_TMP/reply"
	# (before the handshake the limit is 4096 bytes: PEER_HANDSHAKE_FRAME)
	assert_output --partial "frame of 2147483647 bytes refused (limit 4096) before the handshake"
	# and nothing near that size was allocated
	local hwm
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$(ps_pid server0)/status")
	[ "$hwm" -lt 65536 ] || fail "peak RSS of the server: $hwm kB"
	serves
}

@test "a frame one byte over net.max_frame is refused; one at the limit is read" {
	start_scheduler 1 1
	start_server -o net.max_frame=64K
	connect
	ps_handshake 2
	# 65536 bytes: a PULL whose bin16 holds 65524 bytes (not whole keys: an ERROR reply
	# on a connection that stays open)
	# [5, PULL, 6, 0, 0, 0, bin16 of 65524 bytes]
	{ printf '\x00\x01\x00\x00\x97\x03\xcd\x02\x00\x06\x00\x00\x00\xc5\xff\xf4'
	  head -c 65524 /dev/zero; } >&"$conn"
	run read_bytes 4
	assert_output --regexp '^00 00 00 [0-9a-f]{2}$'
	frame $PULL_KEY1 >&"$conn"
	# the ERROR's body, then the PULL_OK
	local n=$((16#${output// /}))
	timeout 5 dd bs=1 count="$n" status=none <&"$conn" >"$PS_TMP/reply"
	run printable "$PS_TMP/reply"
	assert_output --partial "65524 bytes is not a whole number of 8-byte keys"
	run read_bytes 19
	assert_output --regexp "$PULL_OK_ZERO_RE"
	# one more byte is one too many
	printf '\x00\x01\x00\x01' >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial "frame of 65537 bytes refused (limit 65536)"
	alive "$(ps_pid server0)"
}

@test "a lying msgpack length inside a frame is refused, and the server serves on" {
	start_cluster 1 1
	# after the handshake: a PULL of 15 bytes whose bin32 claims 2 GiB
	connect
	ps_handshake 2
	frame 97 05 cd 02 00 05 00 00 00 c6 7f ff ff ff 00 >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial "bad frame: declared length 2147483647"
	# before HELLO: an array32 claiming 2^32-1 elements in an 8-byte frame
	connect
	frame dd ff ff ff ff c0 c0 c0 >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial "declared 4294967295 elements"
	# a str32 and a map32 that lie, nested in the HELLO (where the program name goes)
	connect
	frame 9a 05 01 00 00 00 00 02 00 db ff ff ff f0 78 >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "str32: not closed"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial "declared length 4294967280"
	connect
	frame 9a 05 01 00 00 00 00 02 00 df 7f ff ff ff 00 >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "map32: not closed"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial "elements"
	serves
}

@test "a HELLO with another protocol version gets an ERROR naming the versions" {
	start_cluster 1 1
	local v hello
	# an older and a newer version than 5
	for v in 2 6; do
		case $v in
		2) hello=$HELLO_V2 ;;
		6) hello=$HELLO_V6 ;;
		esac
		connect
		frame $hello >&"$conn"
		read_to_close "$PS_TMP/reply" ||
		    fail "version $v: the server did not close the connection"
		disconnect
		run printable "$PS_TMP/reply"
		assert_output --partial "protocol version $v is not supported"
		assert_output --partial "this side speaks version 5"
		# the ERROR is a version-5 frame:
		# [5, ERROR, 0, id, 0, 0, PS_ERR_VERSION (3), text (str8)]
		run od -An -tx1 -N 13 "$PS_TMP/reply"
		assert_output --regexp '^ 00 00 00 [0-9a-f]{2} 98 05 03 00 [0-7][0-9a-f] 00 00 03 d9'
	done
	serves
}

@test "a data request before HELLO is refused" {
	start_cluster 1 1
	connect
	frame $PULL_KEY1 >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial "expected HELLO first, got PULL"
	serves
}

@test "a data request after HELLO but before AUTH is refused and closed" {
	start_cluster 1 1
	connect
	ps_hello 2
	frame $PULL_KEY1 >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	# [5, ERROR, 0, server id, 0, 0, PS_ERR_CLIENT (1), text (str8)], and nothing else:
	# no PULL_OK
	one_frame "$PS_TMP/reply"
	run hex "$PS_TMP/reply"
	assert_output --regexp "^00 00 00 [0-9a-f]{2} 98 05 03 00 $PS_PEER_ID 00 00 01 d9 "
	run printable "$PS_TMP/reply"
	assert_output --partial "expected AUTH after HELLO, got PULL"
	grep -q "expected AUTH after HELLO, got PULL; closing the connection" \
	    "$PS_TMP/server0.log"
	serves
}

@test "an AUTH with a proof, to a server without a secret, is refused and closed" {
	start_cluster 1 1
	connect
	ps_hello 2
	# [5, AUTH, 1, 0, 0, 0, proof: 32 random bytes (bin8)]
	# shellcheck disable=SC2046
	frame 97 05 04 01 00 00 00 c4 20 $(od -An -v -tx1 -N32 /dev/urandom) >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	# [5, ERROR, 0, server id, 0, 0, PS_ERR_AUTH (6), text (str8)], and no AUTH_OK
	one_frame "$PS_TMP/reply"
	run hex "$PS_TMP/reply"
	assert_output --regexp "^00 00 00 [0-9a-f]{2} 98 05 03 00 $PS_PEER_ID 00 00 06 d9 "
	run printable "$PS_TMP/reply"
	assert_output --partial "authentication: the peer has a secret and this side has none"
	grep -q "the peer has a secret and this side has none" "$PS_TMP/server0.log"
	serves
}

@test "a HELLO whose nonce is not 16 bytes is refused, naming the size" {
	start_cluster 1 1
	connect
	# $HELLO with a nonce of 3 bytes: [3, HELLO, 0, 0, 0, 0, worker, 0, "x", bin 3]
	frame 9a 05 01 00 00 00 00 02 00 a1 78 c4 03 00 01 02 >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "the server did not close the connection"
	disconnect
	# [5, ERROR, 0, server id, 0, 0, PS_ERR_CLIENT (1), text], and no HELLO_OK
	one_frame "$PS_TMP/reply"
	run hex "$PS_TMP/reply"
	assert_output --regexp '^00 00 00 [0-9a-f]{2} 98 05 03 00 [0-7][0-9a-f] 00 00 01 '
	run printable "$PS_TMP/reply"
	assert_output --partial "HELLO: a nonce of 3 bytes, want 16"
	serves
}

@test "bad requests after the handshake get an ERROR and the connection stays open" {
	start_cluster 1 1
	connect
	ps_handshake 2
	# keys not sorted: [2, 1]
	frame 97 05 cd 02 00 06 00 00 00 c4 10 02 00 00 00 00 00 00 00 \
	    01 00 00 00 00 00 00 00 >&"$conn"
	run read_bytes 4
	local n=$((16#${output// /}))
	timeout 5 dd bs=1 count="$n" status=none <&"$conn" >"$PS_TMP/reply"
	run printable "$PS_TMP/reply"
	assert_output --partial "keys must be sorted and unique"
	# a PUSH with a gradient that is not finite (NaN: 00 00 c0 7f)
	frame 98 05 cd 02 02 07 00 00 00 c4 08 01 00 00 00 00 00 00 00 c4 04 00 00 c0 7f \
	    >&"$conn"
	run read_bytes 4
	n=$((16#${output// /}))
	timeout 5 dd bs=1 count="$n" status=none <&"$conn" >"$PS_TMP/reply"
	run printable "$PS_TMP/reply"
	assert_output --partial "not finite"
	# a PULL with a string where the keys go
	frame 97 05 cd 02 00 08 00 00 00 a1 78 >&"$conn"
	run read_bytes 4
	n=$((16#${output// /}))
	timeout 5 dd bs=1 count="$n" status=none <&"$conn" >"$PS_TMP/reply"
	run printable "$PS_TMP/reply"
	assert_output --partial "PULL argument 1 is not a bin"
	# still open: a good PULL is answered, and key 1 is still zero (nothing applied)
	frame $PULL_KEY1 >&"$conn"
	run read_bytes 19
	assert_output --regexp "$PULL_OK_ZERO_RE"
	disconnect
}

# The protocol table (lib/proto.c) says which roles may send each message and in what
# format; the peer layer answers anything else with an ERROR, the connection kept open.

@test "a PUSH from a peer whose HELLO said server is refused, and nothing is applied" {
	start_cluster 1 1
	connect
	ps_handshake 1
	# [5, PUSH, 9, 0, 0, 0, key 1, gradient 1000.0 (00 00 7a 44)]
	frame 98 05 cd 02 02 09 00 00 00 c4 08 01 00 00 00 00 00 00 00 c4 04 00 00 7a 44 \
	    >&"$conn"
	read_frame "$PS_TMP/reply" || fail "no reply to the PUSH"
	# [5, ERROR, 9, server id, 0, 0, PS_ERR_CLIENT (1), text]
	run hex "$PS_TMP/reply"
	assert_output --regexp '^98 05 03 09 [0-7][0-9a-f] 00 00 01 '
	run printable "$PS_TMP/reply"
	assert_output --partial "PUSH is not accepted from a server"
	# still open: a STATUS, which any role may send, gets its STATUS_OK
	# [5, STATUS (cd 03 00), 10, 0, 0, 0] -> [3, STATUS_OK (cd 03 01), 10, id, epoch 1, 0, map]
	frame 96 05 cd 03 00 0a 00 00 00 >&"$conn"
	read_frame "$PS_TMP/reply" || fail "no reply to the STATUS"
	run hex "$PS_TMP/reply"
	assert_output --regexp '^97 05 cd 03 01 0a [0-7][0-9a-f] 01 00 8[0-9a-f] '
	disconnect
	# the refused PUSH changed nothing: key 1 still reads 0 to a worker
	connect
	ps_handshake 2
	frame $PULL_KEY1 >&"$conn"
	run read_bytes 19
	assert_output --regexp "$PULL_OK_ZERO_RE"
	disconnect
	grep -q "PUSH is not accepted from a server" "$PS_TMP/server0.log"
	serves
}

@test "a message of an unknown type gets an ERROR and the connection stays open" {
	start_cluster 1 1
	connect
	ps_handshake 2
	# [5, 0x0999 (cd 09 99), 10, 0, 0, 0]
	frame 96 05 cd 09 99 0a 00 00 00 >&"$conn"
	read_frame "$PS_TMP/reply" || fail "no reply to the unknown message"
	# [5, ERROR, 10, server id, 0, 0, PS_ERR_CLIENT (1), text]
	run hex "$PS_TMP/reply"
	assert_output --regexp '^98 05 03 0a [0-7][0-9a-f] 00 00 01 '
	run printable "$PS_TMP/reply"
	assert_output --partial "unknown message type 2457"
	# still open: a good PULL is answered
	frame $PULL_KEY1 >&"$conn"
	run read_bytes 19
	assert_output --regexp "$PULL_OK_ZERO_RE"
	disconnect
	serves
}

@test "a MAP from a worker is refused, and the server keeps its map" {
	start_cluster 1 1
	connect
	ps_handshake 2
	# a map of the right format that would take every slot away:
	# [5, MAP (cd 01 02), 11, 0, 0, 0, epoch 99, no servers, empty owners bin]
	frame 99 05 cd 01 02 0b 00 00 00 63 90 c4 00 >&"$conn"
	read_frame "$PS_TMP/reply" || fail "no reply to the MAP"
	# [5, ERROR, 11, server id, 0, 0, PS_ERR_CLIENT (1), text]
	run hex "$PS_TMP/reply"
	assert_output --regexp '^98 05 03 0b [0-7][0-9a-f] 00 00 01 '
	run printable "$PS_TMP/reply"
	assert_output --partial "MAP is not accepted from a worker"
	# still open, and still at epoch 1 serving key 1's slot
	frame $PULL_KEY1 >&"$conn"
	run read_bytes 19
	assert_output --regexp "$PULL_OK_ZERO_RE"
	disconnect
	run ! grep -q "map epoch 99" "$PS_TMP/server0.log"
	serves
}

@test "a HEARTBEAT in the wrong format gets an ERROR and the scheduler serves on" {
	start_cluster 1 1
	connect "$SCHED_PORT"
	# the scheduler's HELLO_OK says role scheduler (0)
	ps_handshake 2 0
	# no argument, as in version 1: [3, HEARTBEAT (cd 01 05), 12, 0, 0, 0]
	frame 96 05 cd 01 05 0c 00 00 00 >&"$conn"
	read_frame "$PS_TMP/reply" || fail "no reply to the HEARTBEAT"
	# [5, ERROR, 12, scheduler id, 0, 0, PS_ERR_CLIENT (1), text]
	run hex "$PS_TMP/reply"
	assert_output --regexp '^98 05 03 0c [0-7][0-9a-f] 00 00 01 '
	run printable "$PS_TMP/reply"
	assert_output --partial "HEARTBEAT has 0 arguments, want 1"
	# a number where the stats map goes: [3, HEARTBEAT, 13, 0, 0, 0, 7]
	frame 97 05 cd 01 05 0d 00 00 00 07 >&"$conn"
	read_frame "$PS_TMP/reply" || fail "no reply to the second HEARTBEAT"
	run hex "$PS_TMP/reply"
	assert_output --regexp '^98 05 03 0d [0-7][0-9a-f] 00 00 01 '
	run printable "$PS_TMP/reply"
	assert_output --partial "HEARTBEAT argument 1 is not a map"
	# still open: [3, STATUS, 14, 0, 0, 0] gets [3, STATUS_OK, 14, ...]
	frame 96 05 cd 03 00 0e 00 00 00 >&"$conn"
	read_frame "$PS_TMP/reply" || fail "no reply to the STATUS"
	run hex "$PS_TMP/reply"
	assert_output --regexp '^9[0-9a-f] 05 cd 03 01 0e '
	disconnect
	# and the job still runs to its end
	run --separate-stderr worker <"$HEART"
	assert_success
	assert_output --partial "train examples=270"
	wait_exit "$(ps_pid scheduler)"
	[ "$status" -eq 0 ] || fail "scheduler exit $status"
}

@test "many connections dropped mid-frame do not hurt the server" {
	start_cluster 1 1
	local pid fds i
	pid=$(ps_pid server0)
	fds=$(open_fds "$pid")
	# half a length, a length and half a body, after the HELLO (the AUTH awaited) and
	# after the whole handshake, or nothing at all; 64 at once, 4 times
	local hello auth
	hello=$(printf '\\x%s' 00 00 00 1d $HELLO)
	auth=$(printf '\\x%s' 00 00 00 09 $PS_AUTH)
	for _ in 1 2 3 4; do
		local open=()
		for ((i = 0; i < 64; i++)); do
			exec {c}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
			# shellcheck disable=SC2059
			case $((i % 5)) in
			0) printf '\x00\x00' >&"$c" ;;
			1) printf '\x00\x00\x00\x40\x9a\x03' >&"$c" ;;
			2) printf "$hello\\x00\\x00\\x00\\x09\\x97\\x05" >&"$c" ;;
			3) printf "$hello$auth\\x00\\x00\\x01\\x00\\x97\\x05\\xcd" >&"$c" ;;
			4) ;;
			esac
			open+=("$c")
		done
		# the server holds them all (so counting its descriptors means something)
		wait_until 5 fds_at_least "$pid" $((fds + 64)) ||
		    fail "the server holds $(open_fds "$pid") descriptors, $fds before"
		for c in "${open[@]}"; do
			exec {c}>&-
		done
	done
	serves
	# every dropped connection was freed
	wait_until 5 fds_at_most "$pid" "$fds" ||
	    fail "$(open_fds "$pid") descriptors open, $fds before"
}

@test "the scheduler survives garbage and a wrong version, and the job still runs" {
	start_cluster 1 1
	connect "$SCHED_PORT"
	printf '\x00\x00\x00\x04\xc1\xc1\xc1\xc1' >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "the scheduler did not close the connection"
	disconnect
	connect "$SCHED_PORT"
	frame $HELLO_V2 >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "the scheduler did not close the connection"
	disconnect
	run printable "$PS_TMP/reply"
	assert_output --partial "protocol version 2 is not supported"
	assert_output --partial "this side speaks version 5"
	connect "$SCHED_PORT"
	printf '\x7f\xff\xff\xff' >&"$conn"
	read_to_close "$PS_TMP/reply" || fail "the scheduler did not close the connection"
	disconnect
	run --separate-stderr worker <"$HEART"
	assert_success
	assert_output --partial "train examples=270"
	wait_exit "$(ps_pid scheduler)"
	[ "$status" -eq 0 ] || fail "scheduler exit $status"
}

@test "a worker killed mid-job: the other finishes, the job fails, the servers exit" {
	start_scheduler 2 2 -v
	start_server
	start_server
	# worker 0 trains from a pipe kept open: it is mid-job until killed
	mkfifo "$PS_TMP/feed"
	start_worker victim "$PS_TMP/feed"
	exec {feed}>"$PS_TMP/feed"
	head -n 150 "$HEART" >&"$feed"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/scheduler.log" 'worker 0 .* registered'
	start_worker survivor "$HEART" --test "$HEART"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/scheduler.log" \
	    "worker 1 .* at barrier 'trained'"
	kill -KILL "$(ps_pid victim)"
	exec {feed}>&-
	wait_exit "$(ps_pid survivor)"
	[ "$status" -eq 0 ] || fail "the surviving worker exited $status"
	grep -q '^test examples=270 ' "$PS_TMP/survivor.out" ||
	    fail "no test figures from the surviving worker"
	wait_exit "$(ps_pid scheduler)"
	[ "$status" -ne 0 ] || fail "the scheduler exited 0 after losing a worker"
	grep -q "worker 0 .* disconnected" "$PS_TMP/scheduler.log"
	wait_exit "$(ps_pid server0)" 10 || fail "server0 is still running"
	wait_exit "$(ps_pid server1)" 10 || fail "server1 is still running"
}

# pull_key1 PORT FILE: as a worker, PULL key 1 from the server on PORT; the reply's body
# (without its length) into FILE.
pull_key1() {
	connect "$1"
	ps_handshake 2 || return 1
	frame $PULL_KEY1 >&"$conn"
	read_frame "$2" || { echo "no reply to the PULL" >&2; return 1; }
	disconnect
}

# mp_str S: the msgpack bytes of the (short) string S, as hex.
mp_str() {
	printf 'a%x' "${#1}"
	# shellcheck disable=SC2046
	printf ' %02x' $(printf '%s' "$1" | od -An -v -tu1)
}

@test "a key's slot is served by one server; the other answers MOVED" {
	start_cluster 2 1
	local i id=() host=() port=() reply=() body
	for i in 0 1; do
		ps_log_match "$PS_TMP/server$i.log" \
		    'node ([0-9]+) serving on ([^ ]*):([0-9]+) ' || fail "server$i: no port"
		id[i]=${BASH_REMATCH[1]}
		host[i]=${BASH_REMATCH[2]}
		port[i]=${BASH_REMATCH[3]}
		pull_key1 "${port[i]}" "$PS_TMP/reply$i" || fail "server$i: bad reply"
		reply[i]=$(hex "$PS_TMP/reply$i")
	done
	# Each server serves half the slots: one answers PULL_OK, the other MOVED.
	# [5, PULL_OK, 5, server id, epoch 1, 0, bin of one float 0]
	local ok='^97 05 cd 02 01 05 [0-7][0-9a-f] 01 00 c4 04 00 00 00 00$'
	local owner moved
	if [[ ${reply[0]} =~ $ok ]]; then
		owner=0 moved=1
	elif [[ ${reply[1]} =~ $ok ]]; then
		owner=1 moved=0
	else
		fail "no PULL_OK: replies '${reply[0]}' and '${reply[1]}'"
	fi
	# [5, MOVED (cd 02 04), 5, the moved server's id, epoch 1, 0, server epoch 1,
	#  owners: one, [owner id, owner host, owner port],
	#  bin of one (slot of key 1, owner index 0) pair, uint16 LE each]
	body="99 05 cd 02 04 05 $(mp_uint "${id[moved]}") 01 00 01"
	body+=" 91 93 $(mp_uint "${id[owner]}") $(mp_str "${host[owner]}")"
	body+=" $(mp_uint "${port[owner]}")"
	body+=" c4 04 [0-9a-f]{2} [0-3][0-9a-f] 00 00"
	[[ ${reply[moved]} =~ ^$body$ ]] ||
	    fail "server$moved: want a MOVED to server$owner /$body/, got '${reply[moved]}'"
	serves
}

# Heartbeats every 0.2 s, dead after 1 s of silence: for the two tests below.
HB=(-o net.heartbeat_interval=0.2 -o net.heartbeat_timeout=1)

@test "a worker waiting on a slow stdin keeps beating and is not declared dead" {
	start_scheduler 1 1 "${HB[@]}"
	start_server "${HB[@]}"
	# nothing for 3 timeouts, then the data
	start_worker slow <(sleep 3; cat "$HEART") "${HB[@]}"
	wait_exit "$(ps_pid slow)" 15 || fail "the worker did not finish"
	[ "$status" -eq 0 ] || fail "the slow worker exited $status"
	grep -q '^train examples=270 ' "$PS_TMP/slow.out" || fail "no training figures"
	wait_exit "$(ps_pid scheduler)"
	[ "$status" -eq 0 ] || fail "the scheduler exited $status"
	! grep -q "declared dead" "$PS_TMP/scheduler.log"
}

@test "a frozen worker is declared dead after the timeout, and the job ends" {
	start_scheduler 1 2 -v "${HB[@]}"
	start_server "${HB[@]}"
	mkfifo "$PS_TMP/feed"
	start_worker frozen "$PS_TMP/feed" "${HB[@]}"
	exec {feed}>"$PS_TMP/feed"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/scheduler.log" 'worker 0 .* registered'
	kill -STOP "$(ps_pid frozen)"
	start_worker healthy "$HEART" "${HB[@]}"
	wait_exit "$(ps_pid healthy)"
	[ "$status" -eq 0 ] || fail "the healthy worker exited $status"
	wait_exit "$(ps_pid scheduler)"
	[ "$status" -ne 0 ] || fail "the scheduler exited 0 after losing a worker"
	grep -q "worker 0 .* silent for .* declared dead" "$PS_TMP/scheduler.log"
	kill -CONT "$(ps_pid frozen)"
	exec {feed}>&-
}

@test "after its ERROR the server half-closes and drains, so the ERROR is not lost to a RST" {
	start_cluster 1 1
	connect
	send printf '\xff\xff\xff\xff'
	read_to_close "$PS_TMP/reply" || fail "no ERROR and FIN from the server"
	run printable "$PS_TMP/reply"
	assert_output --partial "refused (limit"
	# The peer goes on writing, as a client with a request in flight would. A server
	# that closed outright answers RST, and the writes fail (EPIPE); one that lingers
	# reads and drops them, until the peer closes too.
	( trap '' PIPE
	  for i in 1 2 3 4 5; do head -c 20000 /dev/zero || exit 1; sleep 0.1; done
	) >&"$conn" 2>/dev/null || fail "writes after the ERROR failed: the server reset"
	disconnect
	serves
}
