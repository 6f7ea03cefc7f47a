#!/usr/bin/env bats
# The shared secret (net.secret_file): every connection proves it both ways (HMAC over
# nonces from both sides, include/ps/auth.h); without one, daemons listen on loopback.

load helper

bats_require_minimum_version 1.5.0

setup() {
	ps_init
	ps_heart
	SECRET=$PS_TMP/secret
	make_secret "$SECRET"
}

# make_secret FILE: 32 random bytes as hex, readable by its owner alone.
make_secret() {
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"
	chmod 600 "$1"
}

# secret_job: a scheduler and a server with the secret; the scheduler's log is
# scheduler.log.
secret_job() {
	start_scheduler 1 1 -o "net.secret_file=$SECRET"
	start_server -o "net.secret_file=$SECRET"
}

@test "a secret file others may read is refused by every program, naming it: exit 2" {
	local p
	chmod 640 "$SECRET"
	for p in ps-scheduler ps-server ps-worker ps-ctl ps-ckpt; do
		run --separate-stderr "$PS_BUILD/$p" -o "net.secret_file=$SECRET" -n
		[ "$status" -eq 2 ] || fail "$p: exit $status"
		[[ "$stderr" == *"net.secret_file $SECRET: mode 0640 lets others read it: chmod 600 $SECRET"* ]] ||
		    fail "$p: $stderr"
	done
	printf 'short' >"$SECRET"
	chmod 600 "$SECRET"
	run --separate-stderr "$PS_BUILD/ps-scheduler" -o "net.secret_file=$SECRET" -n
	[ "$status" -eq 2 ] && [[ "$stderr" == *"5 bytes: want 16 to 4095"* ]] || fail "$stderr"
	run --separate-stderr "$PS_BUILD/ps-scheduler" -o "net.secret_file=$PS_TMP/none" -n
	[ "$status" -eq 2 ] && [[ "$stderr" == *"$PS_TMP/none: No such file or directory"* ]] ||
	    fail "$stderr"
}

@test "with a secret the job trains; no secret, a wrong one: refused (exit 1), logged with the address" {
	local wrong=$PS_TMP/wrong
	make_secret "$wrong"
	secret_job
	run --separate-stderr worker <"$HEART"
	[ "$status" -eq 1 ] || fail "no secret: exit $status"
	[[ "$stderr" == *"authentication: the peer has a secret and this side has none (set net.secret_file)"* ]] ||
	    fail "no secret: $stderr"
	run --separate-stderr worker -o "net.secret_file=$wrong" <"$HEART"
	[ "$status" -eq 1 ] || fail "wrong secret: exit $status"
	[[ "$stderr" == *"authentication failed: the peer's secret differs"* ]] ||
	    fail "wrong secret: $stderr"
	# the scheduler says who left during authentication, by address
	ps_log_has "$PS_TMP/scheduler.log" \
	    'warn: ps-worker@127\.0\.0\.1:[0-9]+: left during authentication' ||
	    fail "not logged: $(cat "$PS_TMP/scheduler.log")"
	# the job is unaffected: a worker with the secret trains it to the end
	run --separate-stderr worker -o "net.secret_file=$SECRET" --test "$HEART" <"$HEART"
	[ "$status" -eq 0 ] || fail "with the secret: exit $status: $stderr"
	assert_line --regexp '^test examples=270 '
	# the secret itself is in no log
	! grep -rqF "$(cat "$SECRET")" "$PS_TMP"/*.log || fail "the secret is in a log"
}

@test "a rogue server without the secret cannot register; one with a wrong secret neither" {
	local wrong=$PS_TMP/wrong
	make_secret "$wrong"
	start_scheduler 2 1 -o "net.secret_file=$SECRET"
	start_server -o "net.secret_file=$SECRET"
	run -1 --separate-stderr timeout 10 "$PS_BUILD/ps-server" -c "$PS_CONF" \
	    -o net.connect_retries=0
	[[ "$stderr" == *"authentication"* ]] || fail "no secret: $stderr"
	run -1 --separate-stderr timeout 10 "$PS_BUILD/ps-server" -c "$PS_CONF" \
	    -o net.connect_retries=0 -o "net.secret_file=$wrong"
	[[ "$stderr" == *"secret differs"* ]] || fail "wrong secret: $stderr"
	# neither took the second place: the scheduler still waits for one server
	run ps_ctl -o "net.secret_file=$SECRET" status --json
	jq -e '[.nodes[] | select(.role == "server")] | length == 1' <<<"$output" >/dev/null ||
	    fail "status: $output"
}

@test "a client that proves nothing is refused before any request is served" {
	secret_job
	# ps-ctl without the secret: refused at the handshake
	run --separate-stderr ps_ctl status
	[ "$status" -ne 0 ] || fail "ps-ctl without the secret got an answer: $output"
	[[ "$stderr" == *"authentication"* ]] || fail "$stderr"
	run --separate-stderr ps_ctl -o "net.secret_file=$SECRET" status --json
	[ "$status" -eq 0 ] || fail "ps-ctl with the secret: exit $status: $stderr"
}

@test "a secret written with echo (a final newline) is the same secret" {
	local echoed=$PS_TMP/echoed
	echo "$(cat "$SECRET")" >"$echoed"
	chmod 600 "$echoed"
	secret_job
	run --separate-stderr worker -o "net.secret_file=$echoed" <"$HEART"
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
}

@test "without a secret a daemon asked for 0.0.0.0 listens on loopback only, and says so" {
	start_scheduler 1 1
	start_server -o server.host=0.0.0.0
	ps_log_has "$PS_TMP/server0.log" \
	    'warn: no net.secret_file: listening on 127\.0\.0\.1 only, not 0\.0\.0\.0 \(server\.host\)' ||
	    fail "$(cat "$PS_TMP/server0.log")"
	ps_log_has "$PS_TMP/server0.log" 'serving on 127\.0\.0\.1:' ||
	    fail "$(cat "$PS_TMP/server0.log")"
	local addr
	addr=$(ps_status | jq -r '.nodes[] | select(.role == "server") | .addr')
	[ "$addr" = "127.0.0.1:$SERVER_PORT" ] || fail "advertised '$addr'"
	worker <"$HEART" >/dev/null 2>&1 || fail "the worker failed"
}
