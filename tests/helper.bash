# Shared helpers for the bats tests, after redis' tests/support/server.tcl and
# memcached's new_memcached(): start a role on a free port, wait for its "ready" line,
# kill everything in teardown, and show the logs only when the test failed.
#
#   load helper
#   start_scheduler S W [-o name=value ...]	exports SCHED_PORT
#   start_server [-o name=value ...]		exports SERVER_PORT (of the last server)
#   start_worker NAME INPUT [ps-worker args]	in the background; NAME.out, NAME.log
#   worker [args]				ps-worker against this cluster, in the foreground
#
# Each test gets its own directory, PS_TMP (bats' BATS_TEST_TMPDIR), for logs (NAME.log),
# outputs and its configuration, PS_CONF, which every role reads with -c: ports are 0
# (any free one) and the scheduler's is written in once it is known. Programs come
# from PS_BUILD (default: build).

# bats-support and bats-assert. Their load.bash files run dirname once per source file,
# and a fork costs about 10 ms on a small VM: 200 ms a test. Source the files directly.
if [ -d /usr/lib/bats/bats-assert/src ] && [ -d /usr/lib/bats/bats-support/src ]; then
	for ps_lib in /usr/lib/bats/bats-support/src/{output,error,lang}.bash \
	    /usr/lib/bats/bats-assert/src/*.bash; do
		# shellcheck disable=SC1090
		source "$ps_lib"
	done
	unset ps_lib
else
	load '/usr/lib/bats/bats-support/load'
	load '/usr/lib/bats/bats-assert/load'
fi

PS_ROOT=${BATS_TEST_DIRNAME%/*}		# bats makes BATS_TEST_DIRNAME absolute
PS_BUILD=${PS_BUILD:-build}
case $PS_BUILD in
/*) ;;
*) PS_BUILD=$PS_ROOT/$PS_BUILD ;;
esac
export PS_BUILD PS_ROOT

# How long anything may take to come up, and the longest a test waits for an exit.
PS_START_TIMEOUT=${PS_START_TIMEOUT:-10}
PS_EXIT_TIMEOUT=${PS_EXIT_TIMEOUT:-20}

PS_PIDS=()	# every process started, in order
PS_NAMES=()	# and its name: its log is $PS_TMP/NAME.log
PS_NSERVERS=0

ps_init() {
	if [ -z "${PS_TMP:-}" ]; then
		PS_TMP=${BATS_TEST_TMPDIR:-$(mktemp -d "$BATS_TMPDIR/ps.XXXXXX")}
		export PS_TMP
	fi
}

# ps_heart: set HEART to liblinear's heart_scale, as `make data` copies it (or copy it
# here from Debian's liblinear-tools); skip the test if neither is there.
ps_heart() {
	HEART=$PS_ROOT/data/heart_scale
	if [ ! -r "$HEART" ]; then
		cp /usr/share/doc/liblinear-tools/examples/heart_scale "$PS_TMP/heart_scale" ||
		    skip "data/heart_scale is missing: run make data"
		HEART=$PS_TMP/heart_scale
	fi
}

# ps_track NAME PID: remember a process for teardown.
ps_track() {
	PS_PIDS+=("$2")
	PS_NAMES+=("$1")
}

# ps_pid NAME: the pid of a tracked process.
ps_pid() {
	local i
	for i in "${!PS_NAMES[@]}"; do
		if [ "${PS_NAMES[$i]}" = "$1" ]; then
			echo "${PS_PIDS[$i]}"
			return 0
		fi
	done
	return 1
}

# alive PID: the process exists and is not a zombie (builtins only: this is polled).
alive() {
	local stat
	kill -0 "$1" 2>/dev/null || return 1
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	# the state follows the command name, which is in parentheses
	stat=${stat##*) }
	[ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

# wait_until SECONDS COMMAND...: poll COMMAND every 20 ms until it succeeds.
wait_until() {
	local timeout=$1 deadline
	shift
	deadline=$(( ${EPOCHREALTIME/./} + timeout * 1000000 ))
	until "$@"; do
		if [ "${EPOCHREALTIME/./}" -ge "$deadline" ]; then
			echo "timed out after ${timeout}s waiting for: $*" >&2
			return 1
		fi
		ps_sleep 0.02
	done
}

# ps_sleep SECONDS: sleep without a process (forks are slow on small VMs): a read that
# times out on a pipe nobody writes to.
ps_sleep() {
	[ -n "${PS_SLEEP_FD:-}" ] || exec {PS_SLEEP_FD}<> <(:)
	read -r -t "$1" -u "$PS_SLEEP_FD" _ || true
}

# wait_exit PID [SECONDS]: wait for a child to end; its exit status is in $status, as
# bats' run leaves it.
# shellcheck disable=SC2034
wait_exit() {
	local pid=$1 timeout=${2:-$PS_EXIT_TIMEOUT}
	status=
	wait_until "$timeout" ps_not_alive "$pid" || return 1
	status=0
	wait "$pid" 2>/dev/null || status=$?
	return 0
}
ps_not_alive() { ! alive "$1"; }

# ps_log_has FILE PATTERN: FILE has a line matching the extended regular expression
# (in bash, not grep: this is polled).
ps_log_has() {
	local line
	[ -r "$1" ] || return 1
	while IFS= read -r line || [ -n "$line" ]; do
		[[ $line =~ $2 ]] && return 0
	done <"$1"
	return 1
}

# ps_log_match FILE PATTERN: BASH_REMATCH of the first line of FILE matching PATTERN.
ps_log_match() {
	local line
	while IFS= read -r line || [ -n "$line" ]; do
		[[ $line =~ $2 ]] && return 0
	done <"$1"
	return 1
}

# ps_wait_line NAME FILE PATTERN: wait for a line in FILE, failing early if the
# process NAME died first.
ps_wait_line() {
	local name=$1 file=$2 pattern=$3 pid
	pid=$(ps_pid "$name")
	if ! wait_until "$PS_START_TIMEOUT" ps_line_or_dead "$pid" "$file" "$pattern"; then
		echo "$name did not print /$pattern/ in ${PS_START_TIMEOUT}s" >&2
		return 1
	fi
	if ! ps_log_has "$file" "$pattern"; then
		# (its exit status tells a crash, 128 + signal, from an exit)
		wait "$pid" 2>/dev/null
		echo "$name exited (status $?) before printing /$pattern/" >&2
		return 1
	fi
}
ps_line_or_dead() {
	ps_log_has "$2" "$3" || ! alive "$1"
}

# ps_write_conf PORT: the test's configuration, $PS_CONF, for every role.
ps_write_conf() {
	printf '%s\n' "# written by tests/helper.bash for one test" \
	    "scheduler:" "  host: 127.0.0.1" "  port: $1" \
	    "server:" "  host: 127.0.0.1" "  port: 0" \
	    "cluster:" "  servers: $PS_NSERVERS" "  workers: $PS_NWORKERS" >"$PS_CONF"
}

# start_scheduler S W [ARGS...]: a scheduler for S servers and W workers on a free port.
# ARGS go to the scheduler only.
start_scheduler() {
	PS_NSERVERS=$1
	PS_NWORKERS=$2
	shift 2
	ps_init
	PS_CONF=$PS_TMP/ps.yaml
	ps_write_conf 0
	# Background jobs must close bats' fd 3, or bats waits for them to end.
	"$PS_BUILD/ps-scheduler" -c "$PS_CONF" "$@" \
	    >"$PS_TMP/scheduler.out" 2>"$PS_TMP/scheduler.log" </dev/null 3>&- &
	ps_track scheduler $!
	ps_wait_line scheduler "$PS_TMP/scheduler.out" '^ready ' || return 1
	ps_log_match "$PS_TMP/scheduler.out" '^ready .*:([0-9]+)$' ||
	    { echo "no port in the ready line" >&2; return 1; }
	SCHED_PORT=${BASH_REMATCH[1]}
	# everyone else finds the scheduler through the same file
	ps_write_conf "$SCHED_PORT"
	export SCHED_PORT PS_NSERVERS PS_NWORKERS PS_CONF
}

# The options that point a program at this test's scheduler.
ps_cluster_opts() {
	echo "-c $PS_CONF"
}

# start_server [ARGS...]: one more server; waits until it serves.
# shellcheck disable=SC2120
start_server() {
	local n=0 name log
	while ps_pid "server$n" >/dev/null; do n=$((n + 1)); done
	name=server$n
	log=$PS_TMP/$name.log
	# shellcheck disable=SC2046
	"$PS_BUILD/ps-server" $(ps_cluster_opts) "$@" >"$PS_TMP/$name.out" 2>"$log" \
	    </dev/null 3>&- &
	ps_track "$name" $!
	ps_wait_line "$name" "$log" 'serving on ' || return 1
	ps_log_match "$log" 'serving on [^ ]*:([0-9]+) ' ||
	    { echo "no port in the serving line" >&2; return 1; }
	SERVER_PORT=${BASH_REMATCH[1]}
	export SERVER_PORT
}

# start_cluster S W: a scheduler and its S servers.
start_cluster() {
	local i
	start_scheduler "$@" || return 1
	for ((i = 0; i < $1; i++)); do
		# shellcheck disable=SC2119
		start_server || return 1
	done
}

# worker [ARGS...]: ps-worker against this cluster, in the foreground, with a time limit
# so a hang fails the test instead of the suite (status 124).
worker() {
	# shellcheck disable=SC2046
	timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-worker" $(ps_cluster_opts) "$@"
}

# start_worker NAME INPUT [ARGS...]: ps-worker in the background reading INPUT.
start_worker() {
	local name=$1 input=$2
	shift 2
	# shellcheck disable=SC2046
	"$PS_BUILD/ps-worker" $(ps_cluster_opts) "$@" <"$input" \
	    >"$PS_TMP/$name.out" 2>"$PS_TMP/$name.log" 3>&- &
	ps_track "$name" $!
}

# ps_stop: stop every process started, TERM first, KILL after a grace period.
ps_stop() {
	local p i
	# (a process may end between the check and the kill: that is no failure, and
	# under bats' errexit a failed kill would end a subshell with status 1)
	for p in "${PS_PIDS[@]}"; do
		alive "$p" && { kill -TERM "$p" 2>/dev/null || true; }
	done
	for p in "${PS_PIDS[@]}"; do
		for ((i = 0; i < 100; i++)); do
			alive "$p" || break
			ps_sleep 0.02
		done
		if alive "$p"; then
			echo "pid $p ignored SIGTERM; killed" >&2
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	# (with no pids, wait would wait for every child, tracked or not)
	[ ${#PS_PIDS[@]} -eq 0 ] || wait "${PS_PIDS[@]}" 2>/dev/null || true
}

# ps_show_logs: every log and output of this test, for a failed test.
ps_show_logs() {
	local f
	[ -n "${PS_TMP:-}" ] && [ -d "$PS_TMP" ] || return 0
	for f in "$PS_TMP"/*.log "$PS_TMP"/*.out; do
		[ -s "$f" ] || continue
		echo "--- ${f##*/}"
		tail -n 40 "$f"
	done
}

ps_teardown() {
	ps_stop
	[ -n "${BATS_TEST_COMPLETED:-}" ] || ps_show_logs >&2
}

setup() {
	ps_init
}

teardown() {
	ps_teardown
}

# --- added for tests/reshard.bats ----------------------------------------------------

# ps_ctl [ARGS...]: ps-ctl against this cluster, in the foreground, with a time limit
# (status 124).
ps_ctl() {
	# shellcheck disable=SC2046
	timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-ctl" $(ps_cluster_opts) "$@"
}

# start_bench NAME [ARGS...]: ps-bench against this cluster in the background; its
# results in NAME.out, its log in NAME.log.
start_bench() {
	local name=$1
	shift
	# shellcheck disable=SC2046
	"$PS_BUILD/ps-bench" $(ps_cluster_opts) "$@" >"$PS_TMP/$name.out" \
	    2>"$PS_TMP/$name.log" </dev/null 3>&- &
	ps_track "$name" $!
}

# ps_status: `ps-ctl status --json` of this cluster on stdout; fails if ps-ctl does.
ps_status() {
	ps_ctl status --json
}

# ps_servers: the ids of the servers, one a line, in the order of their rank.
ps_servers() {
	ps_status | jq -r '[.nodes[] | select(.role == "server")] | sort_by(.rank) |
	    .[].id'
}

# ps_slots: "ID:SLOTS:STATE" of every server, space-separated, in the order of their
# rank, as in "1:8192:up 2:0:spare".
ps_slots() {
	ps_status | jq -r '[.nodes[] | select(.role == "server")] | sort_by(.rank) |
	    map("\(.id):\(.slots):\(.state)") | join(" ")'
}

# feed_close: the end of feed_worker's input (its worker sees EOF); nothing if closed.
feed_close() {
	if [ -n "${PS_FEED:-}" ]; then
		exec {PS_FEED}>&-
		PS_FEED=
	fi
}

# feed_rest: the rest of heart_scale (after feed_worker's 100 lines), then the end.
feed_rest() {
	tail -n +101 "$HEART" >&"$PS_FEED"
	feed_close
}

# ps_teardown_job: the teardown of tests that run whole jobs: the feed closed, stopped
# processes continued (one acts on the SIGTERM only once continued), every process
# stopped, the network namespaces removed.
ps_teardown_job() {
	local p rc=0
	feed_close
	for p in "${PS_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
	ps_teardown || rc=$?
	ns_teardown
	return "$rc"
}

# feed_worker NAME [ARGS...]: ps-worker NAME training from a FIFO this test holds open
# (a slow stdin, as `(cat data; sleep 60) | ps-worker`), fed the first 100 lines of
# heart_scale; returns once it has registered. PS_FEED writes to it (close it in
# teardown: exec {PS_FEED}>&-).
feed_worker() {
	local name=$1
	shift
	mkfifo "$PS_TMP/$name.feed"
	start_worker "$name" "$PS_TMP/$name.feed" "$@"
	exec {PS_FEED}>"$PS_TMP/$name.feed"
	head -n 100 "$HEART" >&"$PS_FEED"
	wait_until "$PS_START_TIMEOUT" ps_log_has "$PS_TMP/$name.log" 'training from'
}

# --- hand-made frames ---------------------------------------------------------------

# The handshake of protocol 3 (include/ps/auth.h), written by hand, for tests that
# send their own frames (tests/server.bats, park.bats, hostile.bats), with frame HEX...
# and read_bytes N below, on the connection in $conn. Without a secret:
#   -> HELLO    [3, HELLO (1), 0, 0, 0, 0, role, node id 0, "x", nonce (bin 16)]
#   <- HELLO_OK [3, HELLO_OK (2), 0, id, 0, 0, its role, id, its nonce (bin 16),
#               its proof (bin 0)]
#   -> AUTH     [3, AUTH (4), 1, 0, 0, 0, proof (bin 0)]
#   <- AUTH_OK  [3, AUTH_OK (5), 1, id, 0, 0]
# Roles: 0 scheduler, 1 server, 2 worker, 3 client.
PS_NONCE="00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"	# a fixed nonce
PS_AUTH="97 05 04 01 00 00 00 c4 00"	# an AUTH with an empty proof

# ps_hello_msg ROLE: the HELLO above, as ROLE, with the nonce $PS_NONCE.
ps_hello_msg() {
	echo "9a 05 01 00 00 00 00 0$1 00 a1 78 c4 10 $PS_NONCE"
}

# ps_hello ROLE [PEER_ROLE]: on $conn, the first half of the handshake: the HELLO as
# ROLE, then its HELLO_OK (4 + 29 bytes) from a peer of PEER_ROLE (1, server, unless
# told), whose nonce is its own and whose proof is empty. The peer's node id, as two hex
# digits, into PS_PEER_ID.
ps_hello() {
	local ok re
	# shellcheck disable=SC2046,SC2154  # $conn: the calling file's
	frame $(ps_hello_msg "$1") >&"$conn"
	ok=$(read_bytes 33)
	re="^00 00 00 1d 9a 05 02 00 ([0-7][0-9a-f]) 00 00 0${2:-1} ([0-7][0-9a-f])"
	re+=" c4 10 ((([0-9a-f]{2}) ){16})c4 00$"
	[[ $ok =~ $re ]] || { echo "role $1: no HELLO_OK: '$ok'" >&2; return 1; }
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] ||
	    { echo "HELLO_OK: sender ${BASH_REMATCH[1]}, node id ${BASH_REMATCH[2]}" >&2
	      return 1; }
	[ "${BASH_REMATCH[3]}" != "$PS_NONCE " ] ||
	    { echo "HELLO_OK: the peer sent our nonce back" >&2; return 1; }
	PS_PEER_ID=${BASH_REMATCH[1]}
}

# ps_handshake ROLE [PEER_ROLE]: on $conn, the whole handshake, as ROLE: ps_hello,
# then an AUTH with an empty proof, and its AUTH_OK (4 + 7 bytes).
ps_handshake() {
	local ok
	ps_hello "$@" || return 1
	# shellcheck disable=SC2086,SC2154
	frame $PS_AUTH >&"$conn"
	ok=$(read_bytes 11)
	[ "$ok" = "00 00 00 07 96 05 05 01 $PS_PEER_ID 00 00" ] ||
	    { echo "role $1: no AUTH_OK: '$ok'" >&2; return 1; }
}

# The connection of a test that writes its own frames (tests/server.bats, park.bats,
# hostile.bats): the fd in $conn.

# frame HEX...: the bytes of one frame whose msgpack payload is HEX, length prefixed.
frame() {
	local n=$#
	# shellcheck disable=SC2059
	printf "$(printf '\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) \
	    $((n & 255)))$(printf '\\x%s' "$@")"
}

# connect [PORT]: open a connection to the server (or PORT) as fd $conn.
connect() {
	exec {conn}<>"/dev/tcp/127.0.0.1/${1:-$SERVER_PORT}"
}

disconnect() {
	exec {conn}>&-
}

# read_bytes N: N bytes from $conn as hex, one line; fails after 5 s.
read_bytes() {
	timeout 5 dd bs=1 count="$1" status=none <&"$conn" | od -An -v -tx1 | tr -s ' \n' ' ' |
	    sed 's/^ //; s/ $//'
}

# read_frame FILE: one frame from $conn, its body (without the length) into FILE; fails
# after 5 s.
read_frame() {
	local len
	len=$(read_bytes 4) || return 1
	[[ $len =~ ^[0-9a-f]{2}\ [0-9a-f]{2}\ [0-9a-f]{2}\ [0-9a-f]{2}$ ]] ||
	    { echo "no frame length: '$len'" >&2; return 1; }
	timeout 5 dd bs=1 count="$((16#${len// /}))" status=none <&"$conn" >"$1"
}

# read_to_close FILE: everything the peer sends until it closes; fails (124) if it does
# not close within 5 s.
read_to_close() {
	timeout 5 cat <&"$conn" >"$1"
}

# hex FILE: the bytes of FILE as hex, one line.
hex() {
	od -An -v -tx1 "$1" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}

# printable FILE: the text in a binary reply.
printable() {
	tr -c '[:print:]' '.' <"$1"
}

# mp_uint N: the msgpack bytes of the unsigned integer N (below 2^32), as hex.
mp_uint() {
	if (($1 < 128)); then
		printf '%02x' "$1"
	elif (($1 < 256)); then
		printf 'cc %02x' "$1"
	elif (($1 < 65536)); then
		printf 'cd %02x %02x' $(($1 >> 8)) $(($1 & 255))
	else
		printf 'ce %02x %02x %02x %02x' $(($1 >> 24)) $(($1 >> 16 & 255)) \
		    $(($1 >> 8 & 255)) $(($1 & 255))
	fi
}

# open_fds PID: how many file descriptors the process holds; fds_at_most PID N and
# fds_at_least PID N compare it.
open_fds() {
	local fds=("/proc/$1/fd/"*)
	echo "${#fds[@]}"
}
fds_at_most() {
	[ "$(open_fds "$1")" -le "$2" ]
}
fds_at_least() {
	[ "$(open_fds "$1")" -ge "$2" ]
}

# --- added for tests/daemon.bats and tests/failover.bats: network namespaces -------

PS_NETNS=()	# the network namespaces this test made, removed by ns_teardown

# ns_setup: two network namespaces, NS_A and NS_B, joined by a veth pair: NS_A has
# NS_NET.1/24, NS_B NS_NET.2/24, NS_NET a random 10.213.X; lo is up in both. The names
# carry the shell's pid and the test's number, so parallel runs do not collide; the
# veth ends are made inside the namespaces, so their names cannot either. Skips the
# test when namespaces cannot be made here.
ns_setup() {
	local err=$PS_TMP/ip.err why
	command -v ip >/dev/null ||
	    skip "network namespaces not permitted here: ip is missing (install iproute2)"
	[ "$(id -u)" -eq 0 ] ||
	    skip "network namespaces not permitted here: not root (uid $(id -u))"
	NS_A=ps-a-$$-$BATS_TEST_NUMBER
	NS_B=ps-b-$$-$BATS_TEST_NUMBER
	NS_NET=10.213.$((RANDOM % 256))
	if ! ip netns add "$NS_A" 2>"$err"; then
		why=$(<"$err")
		skip "network namespaces not permitted here: ip netns add: ${why:-failed}"
	fi
	PS_NETNS+=("$NS_A")
	if ! { ip netns add "$NS_B" && PS_NETNS+=("$NS_B") &&
	    ip -n "$NS_A" link add veth0 type veth peer name veth1 netns "$NS_B" &&
	    ip -n "$NS_A" addr add "$NS_NET.1/24" dev veth0 &&
	    ip -n "$NS_B" addr add "$NS_NET.2/24" dev veth1 &&
	    ip -n "$NS_A" link set lo up && ip -n "$NS_B" link set lo up &&
	    ip -n "$NS_A" link set veth0 up && ip -n "$NS_B" link set veth1 up; } \
	    2>"$err"; then
		why=$(<"$err")
		skip "network namespaces not permitted here: ${why:-ip failed}"
	fi
}

# ns_teardown: end whatever still runs in this test's namespaces (by pid: only this
# test's processes can be in them), then remove them; the veth pair goes with them.
ns_teardown() {
	local ns p
	for ns in "${PS_NETNS[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			echo "pid $p was left running in $ns; killed" >&2
			kill -KILL "$p" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || echo "could not remove namespace $ns" >&2
	done
	PS_NETNS=()
}

# ns_start NAME NS PROGRAM [ARGS...]: a ps program in the background in namespace NS;
# its stdout in NAME.out, its log in NAME.log. `ip netns exec` execs the program in
# its own place, so the pid tracked (and killed in teardown) is the program's.
ns_start() {
	local name=$1 ns=$2 prog=$3
	shift 3
	ip netns exec "$ns" "$PS_BUILD/$prog" "$@" >"$PS_TMP/$name.out" \
	    2>"$PS_TMP/$name.log" </dev/null 3>&- &
	ps_track "$name" $!
}

# ns_run NS PROGRAM [ARGS...]: a ps program in the foreground in namespace NS, with a
# time limit (status 124).
ns_run() {
	local ns=$1 prog=$2
	shift 2
	timeout "$PS_EXIT_TIMEOUT" ip netns exec "$ns" "$PS_BUILD/$prog" "$@"
}

# ns_conf HOST PORT [SERVERS WORKERS]: the test's configuration, for every role in
# every namespace (1 server and 1 worker unless given).
ns_conf() {
	PS_CONF=$PS_TMP/ps.yaml
	printf '%s\n' "# written by tests/helper.bash for one test" \
	    "scheduler:" "  host: $1" "  port: $2" \
	    "server:" "  port: 0" \
	    "cluster:" "  servers: ${3:-1}" "  workers: ${4:-1}" \
	    "net:" "  secret_file: $PS_TMP/secret" >"$PS_CONF"
	# beyond loopback, daemons listen only with a shared secret
	[ -f "$PS_TMP/secret" ] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' \
	    >"$PS_TMP/secret" && chmod 600 "$PS_TMP/secret"; }
}
