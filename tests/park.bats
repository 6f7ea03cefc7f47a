#!/usr/bin/env bats
# The destination side of a slot move, driven by hand: a spare server is told to
# IMPORT a slot (as the scheduler would), and then requests for that slot must WAIT
# (held, the connection's input stopped so replies keep their order) until the
# slot's SLOT_DATA is in (as the source server would send it), and only then run, on
# top of the data. See HACKING.md, "Daemons that wait" and "Moving slots".
#
# Frames are written by hand, as in tests/server.bats: a 4-byte big-endian length,
# then one msgpack array [version 3, type, id, sender, epoch, clock, args...]; each
# connection starts with the handshake of version 3 (ps_handshake in tests/helper.bash:
# HELLO, HELLO_OK, AUTH, AUTH_OK, no secret).
# Messages are strings of hex bytes, split into words on purpose (also when they come
# from a function, as $(pull_msg 5)):
# shellcheck disable=SC2086,SC2046

load helper

bats_require_minimum_version 1.5.0

# --- this file's own helpers -----------------------------------------------------------

# Roles: 0 scheduler, 1 server, 2 worker, 3 client.
KEY1="01 00 00 00 00 00 00 00"	# key 1, uint64 LE
F25="00 00 20 40"		# 2.5f, float32 LE
F35="00 00 60 40"		# 3.5f
F10="00 00 80 3f"		# 1.0f

# open_as VAR ROLE: connect to the spare, do the handshake as ROLE (HELLO to AUTH_OK,
# the spare answering as a server); the fd into VAR.
open_as() {
	connect "$SPARE_PORT" || return 1
	ps_handshake "$2" || return 1
	[ "$PS_PEER_ID" = "$(mp_uint "$SPARE_ID")" ] ||
	    { echo "handshake: node $PS_PEER_ID answered, not the spare" >&2; return 1; }
	printf -v "$1" '%s' "$conn"
}

# reply_on FD FILE: one frame's body from connection FD into FILE.
reply_on() {
	conn=$1 read_frame "$2"
}

# silent_on FD SECONDS: nothing at all arrives on connection FD for SECONDS.
silent_on() {
	local got
	got=$(timeout "$2" dd bs=1 count=1 status=none <&"$1" | od -An -tx1)
	[ -z "$got" ] || { echo "a reply came within $2 s (first byte:$got)" >&2; return 1; }
}

# The messages. uint16 LE of the slot: $SLOT_LE, set by cluster_with_spare.
# pull_msg ID: [3, PULL, ID, 0, 0, 0, bin of key 1]
pull_msg() {
	echo "97 05 cd 02 00 $(mp_uint "$1") 00 00 00 c4 08 $KEY1"
}
# push_msg ID GRADIENT: [3, PUSH, ID, 0, 0, 0, bin of key 1, bin of one float]
push_msg() {
	echo "98 05 cd 02 02 $(mp_uint "$1") 00 00 00 c4 08 $KEY1 c4 04 $2"
}
# import_msg ID SOURCE SLOT_LE: [3, IMPORT, ID, 0, 0, 0, source id, bin of one slot]
import_msg() {
	echo "98 05 cd 04 00 $(mp_uint "$1") 00 00 00 $(mp_uint "$2") c4 02 $3"
}
# slot_data_msg ID SLOT_LE VALUE: [3, SLOT_DATA, ID, 0, 0, 0, width 1, slots [slot],
# counts [1], keys [key 1], state [VALUE], completed [slot]]
slot_data_msg() {
	echo "9c 05 cd 04 04 $(mp_uint "$1") 00 00 00 01 c4 02 $2 c4 04 01 00 00 00" \
	    "c4 08 $KEY1 c4 04 $3 c4 02 $2"
}

# cluster_with_spare: a scheduler and one server (optimizer sum), then a second server
# that joins as a spare. Sets SRC_ID (the first server's node id), SPARE_ID, SPARE_PORT,
# SPARE_EPOCH (as two hex digits), and SLOT / SLOT_LE: key 1's slot, read from the
# spare's MOVED reply to a PULL of key 1.
cluster_with_spare() {
	local body re w
	start_scheduler 1 1 -o optimizer.name=sum || return 1
	start_server -o optimizer.name=sum || return 1
	start_server -o optimizer.name=sum || return 1
	ps_log_match "$PS_TMP/server0.log" 'node ([0-9]+) serving on ' ||
	    { echo "server0: no node id" >&2; return 1; }
	SRC_ID=${BASH_REMATCH[1]}
	ps_log_match "$PS_TMP/server1.log" \
	    'node ([0-9]+) serving on [^ ]*:([0-9]+) .*joined a running job as a spare' ||
	    { echo "server1 did not join as a spare" >&2; return 1; }
	SPARE_ID=${BASH_REMATCH[1]}
	SPARE_PORT=${BASH_REMATCH[2]}
	# The spare owns no slot: a PULL of key 1 gets MOVED, naming the first server.
	# [3, MOVED, 5, spare id, spare epoch, 0, server epoch, [[src id, host, port]],
	#  bin of one (slot, owner index 0) pair, uint16 LE each]
	open_as w 2 || return 1
	frame $(pull_msg 5) >&"$w"
	reply_on "$w" "$PS_TMP/moved" || return 1
	exec {w}>&-
	body=$(hex "$PS_TMP/moved")
	re="^99 05 cd 02 04 05 $(mp_uint "$SPARE_ID") ([0-7][0-9a-f]) 00 ([0-7][0-9a-f])"
	re+=" 91 93 $(mp_uint "$SRC_ID") a9 31 32 37 2e 30 2e 30 2e 31 cd [0-9a-f ]{5}"
	re+=" c4 04 ([0-9a-f]{2}) ([0-3][0-9a-f]) 00 00$"
	[[ $body =~ $re ]] || { echo "not the MOVED expected: '$body'" >&2; return 1; }
	SPARE_EPOCH=${BASH_REMATCH[1]}
	[ "${BASH_REMATCH[2]}" = "$SPARE_EPOCH" ] ||
	    { echo "MOVED: header epoch $SPARE_EPOCH, map epoch ${BASH_REMATCH[2]}" >&2; return 1; }
	SLOT_LE="${BASH_REMATCH[3]} ${BASH_REMATCH[4]}"
	SLOT=$((16#${BASH_REMATCH[4]}${BASH_REMATCH[3]}))
	export SRC_ID SPARE_ID SPARE_PORT SPARE_EPOCH SLOT SLOT_LE
}

# import_slot: as the scheduler, tell the spare to IMPORT key 1's slot from the first
# server; expect IMPORT_OK ([3, IMPORT_OK, 7, spare id, epoch, 0]).
import_slot() {
	local s got
	open_as s 0 || return 1
	frame $(import_msg 7 "$SRC_ID" "$SLOT_LE") >&"$s"
	reply_on "$s" "$PS_TMP/import" || return 1
	exec {s}>&-
	got=$(hex "$PS_TMP/import")
	[ "$got" = "96 05 cd 04 01 07 $(mp_uint "$SPARE_ID") $SPARE_EPOCH 00" ] ||
	    { echo "no IMPORT_OK: '$got' ($(printable "$PS_TMP/import"))" >&2; return 1; }
	ps_log_has "$PS_TMP/server1.log" "importing 1 slots from node $SRC_ID\$"
}

# expect_reply FD HEX_BODY: the next frame on FD is exactly HEX_BODY.
expect_reply() {
	local got
	reply_on "$1" "$PS_TMP/reply" || fail "no reply (want '$2')"
	got=$(hex "$PS_TMP/reply")
	[ "$got" = "$2" ] || fail "want '$2', got '$got' ($(printable "$PS_TMP/reply"))"
}

# pull_ok ID VALUE: the PULL_OK body the spare sends for key 1 at VALUE.
# [3, PULL_OK, ID, spare id, epoch, 0, bin of one float]
pull_ok() {
	echo "97 05 cd 02 01 $(mp_uint "$1") $(mp_uint "$SPARE_ID") $SPARE_EPOCH 00 c4 04 $2"
}

# --- tests -----------------------------------------------------------------------------

@test "a PULL for an arriving slot waits for its SLOT_DATA, then both PULLs run in order" {
	cluster_with_spare
	import_slot
	# A worker pipelines two PULLs of key 1 and a STATUS, in one write, so that all
	# three land in the server's receive buffer at once. Nothing may be answered yet:
	# the first PULL waits, and the connection's input is held, so not even the
	# STATUS (which needs no slot) may overtake it.
	local w d
	open_as w 2
	{ frame $(pull_msg 5); frame $(pull_msg 6); frame 96 05 cd 03 00 07 00 00 00; } \
	    >"$PS_TMP/burst"
	cat "$PS_TMP/burst" >&"$w"
	silent_on "$w" 0.5
	# other connections go on meanwhile: STATUS from another peer shows the slot
	# arriving ("importing": 1; "slots": 0)
	open_as d 3
	frame 96 05 cd 03 00 0a 00 00 00 >&"$d"
	reply_on "$d" "$PS_TMP/status" || fail "no STATUS_OK while a PULL waits"
	run hex "$PS_TMP/status"
	assert_output --regexp '^97 05 cd 03 01 0a '
	assert_output --partial "a5 73 6c 6f 74 73 00 "		# "slots" 0
	assert_output --partial "a9 69 6d 70 6f 72 74 69 6e 67 01 "	# "importing" 1
	exec {d}>&-
	# still nothing for the worker
	silent_on "$w" 0.2
	# the source's SLOT_DATA, from a server-role peer: key 1 at 2.5
	local s
	open_as s 1
	frame $(slot_data_msg 9 "$SLOT_LE" "$F25") >&"$s"
	# [3, SLOT_DATA_OK, 9, spare id, epoch, 0, 1 key loaded]
	expect_reply "$s" "97 05 cd 04 05 09 $(mp_uint "$SPARE_ID") $SPARE_EPOCH 00 01"
	exec {s}>&-
	# now both PULLs are answered, 5 before 6, with the value that arrived, then the
	# STATUS ([3, STATUS_OK, 7, ...]), which shows the slot owned and its key
	expect_reply "$w" "$(pull_ok 5 "$F25")"
	expect_reply "$w" "$(pull_ok 6 "$F25")"
	reply_on "$w" "$PS_TMP/status" || fail "no STATUS_OK after the PULLs"
	run hex "$PS_TMP/status"
	assert_output --regexp '^97 05 cd 03 01 07 '
	assert_output --partial "a5 73 6c 6f 74 73 01 "		# "slots" 1
	assert_output --partial "a9 69 6d 70 6f 72 74 69 6e 67 00 "	# "importing" 0
	assert_output --partial "a4 6b 65 79 73 01 "		# "keys" 1
	# and nothing more
	silent_on "$w" 0.2
	exec {w}>&-
	run ! grep -q "still arriving" "$PS_TMP/server1.log"
}

@test "a PUSH for an arriving slot waits, then applies on top of the data that arrived" {
	cluster_with_spare
	import_slot
	# PUSH key 1 += 1.0, then PULL key 1 in a second write once the PUSH waits (so
	# the PULL stays in the kernel's socket buffer, unread): both wait
	local w s
	open_as w 2
	frame $(push_msg 7 "$F10") >&"$w"
	silent_on "$w" 0.3
	frame $(pull_msg 8) >&"$w"
	silent_on "$w" 0.3
	open_as s 1
	frame $(slot_data_msg 9 "$SLOT_LE" "$F25") >&"$s"
	expect_reply "$s" "97 05 cd 04 05 09 $(mp_uint "$SPARE_ID") $SPARE_EPOCH 00 01"
	exec {s}>&-
	# [3, PUSH_OK, 7, spare id, epoch, 0, 1 key applied], then 2.5 + 1.0 = 3.5: the
	# push was applied after the data came in, not overwritten by it
	expect_reply "$w" "97 05 cd 02 03 07 $(mp_uint "$SPARE_ID") $SPARE_EPOCH 00 01"
	expect_reply "$w" "$(pull_ok 8 "$F35")"
	# a request for the slot, now owned here, is answered at once
	frame $(pull_msg 10) >&"$w"
	expect_reply "$w" "$(pull_ok 10 "$F35")"
	exec {w}>&-
}

@test "a request held on one connection does not hold another connection's" {
	cluster_with_spare
	import_slot
	local w1 w2 s
	open_as w1 2
	open_as w2 2
	frame $(pull_msg 5) >&"$w1"
	frame $(pull_msg 6) >&"$w2"
	silent_on "$w1" 0.3
	silent_on "$w2" 0.1
	open_as s 1
	frame $(slot_data_msg 9 "$SLOT_LE" "$F25") >&"$s"
	expect_reply "$s" "97 05 cd 04 05 09 $(mp_uint "$SPARE_ID") $SPARE_EPOCH 00 01"
	exec {s}>&-
	expect_reply "$w2" "$(pull_ok 6 "$F25")"
	expect_reply "$w1" "$(pull_ok 5 "$F25")"
	exec {w1}>&- {w2}>&-
}

@test "SLOT_DATA for a slot not being imported is refused, naming the slot" {
	cluster_with_spare
	# nothing was imported: key 1's slot is absent on the spare
	local s w
	open_as s 1
	frame $(slot_data_msg 9 "$SLOT_LE" "$F25") >&"$s"
	reply_on "$s" "$PS_TMP/reply" || fail "no reply to the SLOT_DATA"
	# [3, ERROR, 9, spare id, 0, 0, PS_ERR_CLIENT (1), text]
	run hex "$PS_TMP/reply"
	assert_output --regexp "^98 05 03 09 $(mp_uint "$SPARE_ID") 00 00 01 "
	run printable "$PS_TMP/reply"
	assert_output --partial "slot data: slot $SLOT is not being imported here"
	# the connection stays open: a STATUS is answered
	frame 96 05 cd 03 00 0a 00 00 00 >&"$s"
	reply_on "$s" "$PS_TMP/status" || fail "no STATUS_OK after the ERROR"
	run hex "$PS_TMP/status"
	assert_output --regexp '^97 05 cd 03 01 0a '
	assert_output --partial "a4 6b 65 79 73 00 "	# "keys" 0: nothing was stored
	exec {s}>&-
	# and key 1 is still not served by the spare: MOVED, as before
	open_as w 2
	frame $(pull_msg 5) >&"$w"
	reply_on "$w" "$PS_TMP/reply" || fail "no reply to the PULL"
	run hex "$PS_TMP/reply"
	assert_output --regexp '^99 05 cd 02 04 05 '
	exec {w}>&-
}

@test "SLOT_DATA from a worker is refused by the protocol table, and nothing is stored" {
	cluster_with_spare
	import_slot
	local w s
	open_as w 2
	frame $(slot_data_msg 9 "$SLOT_LE" "$F25") >&"$w"
	reply_on "$w" "$PS_TMP/reply" || fail "no reply to the SLOT_DATA"
	# [3, ERROR, 9, spare id, 0, 0, PS_ERR_CLIENT (1), text]
	run hex "$PS_TMP/reply"
	assert_output --regexp "^98 05 03 09 $(mp_uint "$SPARE_ID") 00 00 01 "
	run printable "$PS_TMP/reply"
	assert_output --partial "SLOT_DATA is not accepted from a worker"
	# the slot is still arriving: a PULL on this connection waits
	frame $(pull_msg 5) >&"$w"
	silent_on "$w" 0.5
	# until the real data comes from a server-role peer
	open_as s 1
	frame $(slot_data_msg 11 "$SLOT_LE" "$F35") >&"$s"
	expect_reply "$s" "97 05 cd 04 05 0b $(mp_uint "$SPARE_ID") $SPARE_EPOCH 00 01"
	exec {s}>&-
	expect_reply "$w" "$(pull_ok 5 "$F35")"
	exec {w}>&-
}
