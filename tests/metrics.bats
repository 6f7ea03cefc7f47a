#!/usr/bin/env bats
# The scheduler's /metrics (scheduler.metrics_port): off by default; Prometheus text
# format 0.0.4 that a small parser accepts (names, labels, values, HELP and TYPE before
# the samples, counters named _total); the same figures as `ps-ctl status --json`,
# taken just before and just after; 404 for other paths, 405 for other methods; a port
# that cannot be bound is an error naming it. HTTP goes through bash's /dev/tcp (curl
# may not be installed).

load helper

bats_require_minimum_version 1.5.0

FAST=(-o net.heartbeat_interval=0.2)

# free_port: a port in 20000..31999 (below Linux's ephemeral range) where nothing
# answers now.
free_port() {
	local port i
	for ((i = 0; i < 50; i++)); do
		port=$((20000 + RANDOM % 12000))
		if ! (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# start_metrics S W [ARGS...]: start_scheduler with its metrics on a free port,
# METRICS_PORT; a port taken between the check and the bind is another try.
start_metrics() {
	local try
	for ((try = 0; try < 5; try++)); do
		METRICS_PORT=$(free_port) || return 1
		start_scheduler "$@" -o scheduler.metrics_port="$METRICS_PORT" && return 0
		ps_log_has "$PS_TMP/scheduler.log" "metrics_port $METRICS_PORT: .*in use" ||
		    return 1
		# forget the scheduler that could not listen
		unset 'PS_PIDS[-1]' 'PS_NAMES[-1]'
	done
	return 1
}

# http METHOD PATH: the response to an HTTP/1.0 request to METRICS_PORT, headers with
# their CRs, in $PS_TMP/http; its status code in $code and its body in $body.
http() {
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$METRICS_PORT" || return 1
	printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" "$2" >&"$fd"
	timeout 5 cat <&"$fd" >"$PS_TMP/http"
	exec {fd}<&-
	read -r _ code _ <"$PS_TMP/http"
	body=$(sed '1,/^\r$/d' "$PS_TMP/http")
}

# prom_check: stdin is Prometheus text format 0.0.4, with HELP and TYPE before the
# samples of each metric, a metric's samples together, no series twice, and counters
# named _total; the first fault on stdout, status 1.
prom_check() {
	awk '
	function fail(why) {
		printf "line %d: %s: %s\n", NR, why, $0
		bad = 1
		exit 1
	}
	BEGIN { name_re = "^[a-zA-Z_:][a-zA-Z0-9_:]*" }
	/\r/ { fail("a carriage return") }
	/^#/ {
		if ($2 != "HELP" && $2 != "TYPE")
			next
		if (NF < 3 || $3 !~ (name_re "$"))
			fail("no metric name")
		if (($2, $3) in seen)
			fail("a second " $2)
		if ($3 in done || $3 == last)
			fail($2 " after the samples")
		seen[$2, $3] = 1
		if ($2 == "TYPE") {
			if (NF != 4 || $4 !~ /^(counter|gauge|histogram|summary|untyped)$/)
				fail("bad TYPE")
			type[$3] = $4
		}
		next
	}
	/^$/ { next }
	{
		rest = $0
		if (!match(rest, name_re))
			fail("no metric name")
		name = substr(rest, 1, RLENGTH)
		rest = substr(rest, RLENGTH + 1)
		series = name
		if (substr(rest, 1, 1) == "{") {
			start = rest
			rest = substr(rest, 2)
			while (substr(rest, 1, 1) != "}") {
				if (!match(rest, /^[a-zA-Z_][a-zA-Z0-9_]*="/))
					fail("bad label name")
				rest = substr(rest, RLENGTH + 1)
				if (!match(rest, /^([^"\\\n]|\\[\\"n])*"/))
					fail("bad label value")
				rest = substr(rest, RLENGTH + 1)
				if (substr(rest, 1, 1) == ",")
					rest = substr(rest, 2)
				else if (substr(rest, 1, 1) != "}")
					fail("bad label list")
			}
			rest = substr(rest, 2)
			series = name substr(start, 1, length(start) - length(rest))
		}
		if (substr(rest, 1, 1) != " ")
			fail("no space before the value")
		n = split(substr(rest, 2), f, " ")
		if (n < 1 || n > 2)
			fail("want a value and at most a timestamp")
		if (f[1] !~ /^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$/ &&
		    f[1] !~ /^(NaN|[-+]Inf)$/)
			fail("bad value")
		if (n == 2 && f[2] !~ /^-?[0-9]+$/)
			fail("bad timestamp")
		if (!(("HELP", name) in seen) || !(("TYPE", name) in seen))
			fail("no HELP and TYPE before")
		if (type[name] == "counter" && name !~ /_total$/)
			fail("a counter not named _total")
		if (name in done)
			fail("samples apart")
		if (last != "" && last != name)
			done[last] = 1
		last = name
		if (series in have)
			fail("a series twice")
		have[series] = 1
		samples++
	}
	END {
		if (bad)
			exit 1
		if (samples == 0) {
			print "no samples"
			exit 1
		}
	}'
}

# prom_figures: stdin is /metrics; "NAME/KEY VALUE" a line, KEY the node id (the
# value of ps_node_state is the state), the role, the result or "-".
prom_figures() {
	awk '
	/^#/ || /^$/ { next }
	{
		name = $1
		sub(/\{.*/, "", name)
		key = "-"
		value = $NF
		if (match($0, /id="[0-9]+"/))
			key = substr($0, RSTART + 4, RLENGTH - 5)
		else if (match($0, /(role|result)="[a-z]+"/)) {
			key = substr($0, RSTART, RLENGTH)
			sub(/^[a-z]+="/, "", key)
			sub(/"$/, "", key)
		}
		if (name == "ps_node_state" && match($0, /state="[a-z]+"/))
			value = substr($0, RSTART + 7, RLENGTH - 8)
		print name "/" key, value
	}'
}

# status_figures: stdin is `ps-ctl status --json`; the same lines as prom_figures.
status_figures() {
	jq -r '
	def node: {pushes: "ps_node_pushes_total", pulls: "ps_node_pulls_total",
	    bytes_in: "ps_node_received_bytes_total", bytes_out: "ps_node_sent_bytes_total",
	    examples: "ps_node_examples_total", keys: "ps_node_keys",
	    memory: "ps_node_memory_bytes", slots: "ps_node_slots",
	    uptime: "ps_node_uptime_seconds", heartbeat_age: "ps_node_heartbeat_age_seconds",
	    state: "ps_node_state"};
	. as $st |
	(.nodes[] as $n | node | to_entries[] | "\(.value)/\($n.id) \($n[.key])"),
	(.nodes[] | "ps_node_up/\(.id) \(if .state | IN("done", "dead") then 0 else 1 end)"),
	"ps_map_epoch/- \(.epoch)",
	"ps_resharding/- \(if .resharding then 1 else 0 end)",
	"ps_examples_total/- \(.examples)",
	"ps_reshard_moves_total/completed \(.reshards.completed)",
	"ps_reshard_moves_total/failed \(.reshards.failed)",
	"ps_checkpoints_total/completed \(.checkpoints.completed)",
	"ps_checkpoints_total/failed \(.checkpoints.failed)",
	"ps_failovers_total/completed \(.failovers.completed)",
	"ps_failovers_total/failed \(.failovers.failed)",
	("scheduler", "server", "worker", "client") as $r |
	    "ps_nodes/\($r) \([$st.nodes[] | select(.role == $r)] | length)"'
}

# agree BEFORE METRICS AFTER: every figure of /metrics is in both status files, and
# agrees: a counter (or the uptime) between them, a gauge equal to one of them.
agree() {
	awk '
	FILENAME == ARGV[1] { before[$1] = $2; next }
	FILENAME == ARGV[2] { m[$1] = $2; next }
	{ after[$1] = $2 }
	END {
		for (k in m) {
			n++
			if (!(k in before) || !(k in after)) {
				print "not in status --json: " k
				bad = 1
				continue
			}
			name = k
			sub(/\/.*/, "", name)
			if (name ~ /_total$/ || name == "ps_node_uptime_seconds")
				ok = before[k] + 0 <= m[k] + 0 && m[k] + 0 <= after[k] + 0
			else if (name == "ps_node_heartbeat_age_seconds")
				ok = m[k] >= 0 && m[k] <= before[k] + after[k] + 1
			else
				ok = m[k] == before[k] || m[k] == after[k]
			if (!ok) {
				printf "%s: /metrics %s, status %s then %s\n", k, m[k],
				    before[k], after[k]
				bad = 1
			}
		}
		for (k in before)
			if (!(k in m)) {
				print "not in /metrics: " k
				bad = 1
			}
		if (n < 50) {
			print "only " n " figures"
			bad = 1
		}
		exit bad
	}' "$@"
}

@test "no metrics by default: the scheduler listens on its port alone" {
	start_scheduler 1 1
	local pid inodes ports
	pid=$(ps_pid scheduler)
	! ps_log_has "$PS_TMP/scheduler.log" 'metrics' || fail "metrics mentioned"
	# the ports of the listening sockets (state 0A) that are the scheduler's
	inodes=$(find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' | tr -dc '0-9\n')
	ports=$(awk -v inodes="$inodes" 'BEGIN { n = split(inodes, a, "\n")
		for (i = 1; i <= n; i++) mine[a[i]] = 1 }
	    $4 == "0A" && ($10 in mine) { split($2, p, ":"); print p[2] }' \
	    /proc/net/tcp /proc/net/tcp6 | sort -u)
	[ "$ports" = "$(printf '%04X' "$SCHED_PORT")" ] ||
	    fail "listening on $ports, want only $SCHED_PORT"
}

@test "/metrics: Prometheus text, the same figures as status --json" {
	ps_heart
	start_metrics 2 1 "${FAST[@]}" -o cluster.linger=true
	ps_log_has "$PS_TMP/scheduler.log" \
	    "info: metrics on http://127.0.0.1:$METRICS_PORT/metrics\$" ||
	    fail "no 'metrics on' line"
	start_server "${FAST[@]}"
	start_server "${FAST[@]}"
	run -0 worker "${FAST[@]}" <"$HEART"
	# a move and a checkpoint, for their counters
	local to
	to=$(ps_servers | tail -1)
	run -0 ps_ctl reshard --slots 0-99 --to "$to"
	run -0 timeout "$PS_EXIT_TIMEOUT" "$PS_BUILD/ps-ckpt" -c "$PS_CONF" \
	    --dir "$PS_TMP/ckpt" save
	# the servers' figures come with their heartbeats
	wait_until 5 eval 'ps_status | jq -e "[.nodes[] | select(.role == \"server\") |
	    .pushes] | add > 0" >/dev/null'

	ps_status >"$PS_TMP/before.json"
	http GET /metrics
	ps_status >"$PS_TMP/after.json"
	[ "$code" = 200 ] || fail "status $code"
	grep -q $'^Content-Type: text/plain; version=0.0.4; charset=utf-8\r$' "$PS_TMP/http" ||
	    fail "Content-Type: $(grep -i '^content-type' "$PS_TMP/http")"
	prom_check <<<"$body" || fail "not Prometheus text"
	prom_figures <<<"$body" >"$PS_TMP/metrics.txt"
	status_figures <"$PS_TMP/before.json" >"$PS_TMP/before.txt"
	status_figures <"$PS_TMP/after.json" >"$PS_TMP/after.txt"
	agree "$PS_TMP/before.txt" "$PS_TMP/metrics.txt" "$PS_TMP/after.txt" ||
	    fail "/metrics and status --json disagree"

	# and the figures are the job's
	local lines
	lines=$(wc -l <"$HEART")
	grep -qx "ps_examples_total/- $lines" "$PS_TMP/metrics.txt" ||
	    fail "examples: $(grep examples_total "$PS_TMP/metrics.txt")"
	grep -qx 'ps_reshard_moves_total/completed 1' "$PS_TMP/metrics.txt" ||
	    fail "moves: $(grep moves "$PS_TMP/metrics.txt")"
	grep -qx 'ps_checkpoints_total/completed 1' "$PS_TMP/metrics.txt" ||
	    fail "checkpoints: $(grep checkpoints "$PS_TMP/metrics.txt")"
	grep -qx 'ps_nodes/server 2' "$PS_TMP/metrics.txt" || fail "not 2 servers"
	jq -e '.epoch >= 2 and .reshards == {completed: 1, failed: 0} and
	    .checkpoints == {completed: 1, failed: 0} and
	    all(.nodes[] | select(.role != "client"); .bytes_in > 0 and .bytes_out > 0) and
	    ([.nodes[] | select(.role == "server") | .keys] | add) > 0' \
	    "$PS_TMP/after.json" >/dev/null || fail "status: $(cat "$PS_TMP/after.json")"
}

@test "/metrics: 404 elsewhere, 405 for POST, HEAD without a body" {
	start_metrics 1 1
	http GET /
	[ "$code" = 404 ] || fail "GET /: $code"
	http GET /metricsx
	[ "$code" = 404 ] || fail "GET /metricsx: $code"
	http POST /metrics
	[ "$code" = 405 ] || fail "POST: $code"
	grep -q $'^Allow: GET, HEAD\r$' "$PS_TMP/http" || fail "no Allow header"
	http HEAD /metrics
	[ "$code" = 200 ] && [ -z "$body" ] || fail "HEAD: $code, body '${body:0:80}'"
	grep -Eq $'^Content-Length: [1-9][0-9]*\r$' "$PS_TMP/http" ||
	    fail "HEAD: no Content-Length"
	http GET '/metrics?x=1'
	[ "$code" = 200 ] && prom_check <<<"$body" || fail "GET with a query: $code"
}

@test "a metrics port in use: exit 1 naming it, before the ready line" {
	start_metrics 1 1
	run -1 --separate-stderr timeout 10 "$PS_BUILD/ps-scheduler" -o scheduler.port=0 \
	    -o scheduler.metrics_port="$METRICS_PORT" </dev/null 3>&-
	[ -z "$output" ] || fail "stdout: $output"
	[[ "$stderr" == *"error: scheduler.metrics_port $METRICS_PORT: listen on 127.0.0.1:$METRICS_PORT: Address already in use"* ]] ||
	    fail "stderr: $stderr"
	# the scheduler's own port: a configuration error
	run -2 --separate-stderr "$PS_BUILD/ps-scheduler" -n -o scheduler.port=7070 \
	    -o scheduler.metrics_port=7070
	[[ "$stderr" == *"scheduler.metrics_port (7070) must differ from scheduler.port"* ]] ||
	    fail "stderr: $stderr"
}
