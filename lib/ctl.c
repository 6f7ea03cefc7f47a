/*
 * ps-ctl's commands, their output and the interactive shell: see include/ps/ctl.h and
 * ps-ctl(1).
 *
 * Each command is one request on its own connection to the scheduler, as role client
 * and without registering: ps-ctl is not a node of the job. The replies are msgpack
 * maps that the scheduler may grow; they are walked field by field, and a field that
 * is missing or of another type prints as '-' rather than failing.
 */
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <readline/readline.h>
#include <readline/history.h>

#include "ps/cli.h"
#include "ps/client.h"
#include "ps/conn.h"
#include "ps/ctl.h"
#include "ps/json.h"
#include "ps/log.h"
#include "ps/map.h"
#include "ps/msg.h"
#include "ps/proto.h"
#include "ps/sort.h"
#include "ps/xmalloc.h"

#define CTL_PROGNAME		"ps-ctl"
#define CTL_HISTORY_FILE	".ps_ctl_history"
#define CTL_HISTORY_LINES	1000
#define CTL_CELL		64	/* bytes of one table cell, NUL included */
#define CTL_SEPARATORS		" \t\r\n"

struct ctl_cmd {
	const char	*name;
	const char	*args;		/* for help and usage errors */
	const char	*help;
	int		(*run)(struct ps_ctl *, int, char **);
	const char	*options;	/* completed after a '-' */
	int		 node_arg;	/* its first argument is a server id: completed */
};

static int	ctl_status(struct ps_ctl *, int, char **);
static int	ctl_get(struct ps_ctl *, int, char **);
static int	ctl_reshard(struct ps_ctl *, int, char **);
static int	ctl_rebalance(struct ps_ctl *, int, char **);
static int	ctl_drain(struct ps_ctl *, int, char **);
static int	ctl_shutdown(struct ps_ctl *, int, char **);
static int	ctl_cmd_help(struct ps_ctl *, int, char **);
static int	ctl_quit(struct ps_ctl *, int, char **);

/* The token table (relayctl's parser.c): commands, their help and completion. */
static const struct ctl_cmd ctl_cmds[] = {
	{ "status", "", "show every node of the job, as the scheduler sees it",
	  ctl_status, "--json", 0 },
	{ "get", "KEY ...", "print the values of keys (decimal, 64 bits)",
	  ctl_get, "--json", 0 },
	{ "reshard", "--slots A-B --to ID", "move slots A to B to server ID",
	  ctl_reshard, "--slots --to --json", 0 },
	{ "rebalance", "", "spread the slots evenly over the servers",
	  ctl_rebalance, "--json", 0 },
	{ "drain", "ID", "move every slot of server ID to the others",
	  ctl_drain, "--json", 1 },
	{ "shutdown", "", "end the job cleanly", ctl_shutdown, "--json", 0 },
	{ "help", "", "list the commands", ctl_cmd_help, "", 0 },
	{ "quit", "", "leave the shell (also exit, or end of file)", ctl_quit, "", 0 },
	{ "exit", NULL, NULL, ctl_quit, "", 0 },
};
#define CTL_NCMDS	(sizeof ctl_cmds / sizeof ctl_cmds[0])

static void ctl_err(const char *, ...) PS_PRINTF(1, 2);

/* An error line: "ps-ctl: ..." on stderr. */
static void
ctl_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);		/* keep a script's output in order */
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", CTL_PROGNAME);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

/* Print a failure's cause, free it: a runtime error. */
static int
ctl_fail(char *cause)
{
	ctl_err("%s", cause);
	free(cause);
	return PS_EXIT_ERROR;
}

static int
ctl_usage(const char *name)
{
	size_t i;

	for (i = 0; i < CTL_NCMDS; i++)
		if (strcmp(ctl_cmds[i].name, name) == 0 && ctl_cmds[i].args != NULL)
			ctl_err("usage: %s%s%s", name, *ctl_cmds[i].args ? " " : "",
			    ctl_cmds[i].args);
	return PS_EXIT_USAGE;
}

/*
 * The watchdog. conn_open's handshake and client_open have no timeout of their own,
 * and a stopped scheduler still accepts connections (the kernel does), so without one
 * ps-ctl would hang where it must fail within seconds. The blocking reads retry on
 * EINTR, so the alarm ends the process: its message is formatted beforehand, and the
 * handler uses only async-signal-safe calls. In the shell, the terminal is put back
 * first, in case readline had it in raw mode (during completion).
 */
static char		ctl_alarm_text[256];
static size_t		ctl_alarm_len;
static struct termios	ctl_tty;
static volatile sig_atomic_t ctl_tty_saved;

static void
ctl_alarm(int sig)
{
	ssize_t n;

	(void)sig;
	if (ctl_tty_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &ctl_tty);
	n = write(STDERR_FILENO, ctl_alarm_text, ctl_alarm_len);
	(void)n;
	_exit(PS_EXIT_ERROR);
}

static void ctl_watch(const char *, ...) PS_PRINTF(1, 2);

static void
ctl_watch(const char *fmt, ...)
{
	struct sigaction sa;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = snprintf(ctl_alarm_text, sizeof ctl_alarm_text, "%s: ", CTL_PROGNAME);
	vsnprintf(ctl_alarm_text + n, sizeof ctl_alarm_text - n - 1, fmt, ap);
	va_end(ap);
	strcat(ctl_alarm_text, "\n");
	ctl_alarm_len = strlen(ctl_alarm_text);
	/* installed here, not once: readline may have put its own in meanwhile */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ctl_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(CTL_TIMEOUT);
}

static void
ctl_unwatch(void)
{
	alarm(0);
}

void
ctl_init(struct ps_ctl *ctl, const struct ps_conf *conf, int json)
{
	memset(ctl, 0, sizeof *ctl);
	ctl->conf = conf;
	ctl->json = json;
	/* a scheduler that closes first must give an error, not kill ps-ctl */
	signal(SIGPIPE, SIG_IGN);
}

/* Connect and shake hands with the scheduler, within NET_CONNECT_SECS. */
static int
ctl_connect(struct ps_ctl *ctl, struct ps_conn *c, char **cause)
{
	const struct ps_conf *conf = ctl->conf;
	char *why, name[128];
	size_t len;
	int r;

	len = (size_t)snprintf(name, sizeof name, "%s:%d", conf->scheduler_host,
	    conf->scheduler_port);
	/* conn_open bounds the connect and the handshake (NET_CONNECT_SECS). */
	r = conn_open(c, conf->scheduler_host, conf->scheduler_port, PS_ROLE_CLIENT, 0,
	    CTL_PROGNAME, conf->max_frame, 0, &why);
	if (r != 0) {
		/* a refused handshake's cause names the address already */
		if (strncmp(why, name, len) == 0 && why[len] == ':')
			xasprintf(cause, "scheduler %s", why);
		else
			xasprintf(cause, "scheduler %s: %s", name, why);
		free(why);
		return -1;
	}
	log_debug("connected to the scheduler at %s", c->name);
	return 0;
}

/* A received reply: want, whose one argument is a map; or ERROR, whose text is the
 * cause as it is, so the scheduler's words reach the operator unchanged. */
static int
ctl_reply(struct ps_conn *c, struct ps_msg *m, uint32_t want, char **cause)
{
	char *why;

	if (m->hdr.type == PS_MSG_ERROR) {
		if (msg_check(m, "us.", NULL) == 0)
			*cause = msg_strdup(m, 1);
		else
			xasprintf(cause, "scheduler %s: malformed ERROR", c->name);
	} else if (m->hdr.type != want) {
		xasprintf(cause, "scheduler %s: expected %s, got %s", c->name,
		    proto_type_name(want), proto_type_name(m->hdr.type));
	} else if (msg_check(m, "m", &why) != 0) {
		xasprintf(cause, "scheduler %s: %s", c->name, why);
		free(why);
	} else
		return 0;
	msg_free(m);
	return -1;
}

/*
 * Send the scheduler one request of type with nargs uint arguments, and wait for
 * want, at most timeout seconds without progress (0: for ever, as a move of many
 * slots may take long). On success c is open and m holds the reply: the caller
 * msg_free's m and closes c. On failure, cause is ready to print.
 */
static int
ctl_request(struct ps_ctl *ctl, uint32_t type, const uint64_t *args, uint32_t nargs,
    uint32_t want, double timeout, struct ps_conn *c, struct ps_msg *m, char **cause)
{
	struct ps_wbuf w;
	struct ps_hdr h = msg_hdr(type, ++ctl->next_id, 0, 0);
	char *why;
	uint32_t i;

	if (ctl_connect(ctl, c, cause) != 0)
		return -1;
	conn_set_timeout(c, timeout);
	wbuf_init(&w);
	msg_begin(&w, &h, nargs);
	for (i = 0; i < nargs; i++)
		msg_put_uint(&w, args[i]);
	msg_end(&w);
	log_debug("%s to %s", proto_type_name(type), c->name);
	if (conn_send(c, &w, &why) != 0 || conn_recv(c, m, &why) != 0) {
		/* conn's causes begin with "host:port: " */
		xasprintf(cause, "scheduler %s", why);
		free(why);
		wbuf_free(&w);
		conn_close(c);
		return -1;
	}
	wbuf_free(&w);
	if (ctl_reply(c, m, want, cause) != 0) {
		conn_close(c);
		return -1;
	}
	return 0;
}

/* Reading the reply maps. */

static int
obj_str_is(const msgpack_object *o, const char *s)
{
	return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	    memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static int
obj_uint_is(const msgpack_object *o, uint64_t v)
{
	return o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == v;
}

/* Formatting fields into cells: a missing field or one of another type is '-'. */

static void
cell_uint(const msgpack_object *o, char *buf, size_t len)
{
	double v;

	if (o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		snprintf(buf, len, "%" PRIu64, o->via.u64);
	else if (o != NULL && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		snprintf(buf, len, "%" PRId64, o->via.i64);
	else if (msg_obj_number(o, &v) && isfinite(v))
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "-");
}

/* A string, its control characters shown as '?' so a row stays one line. */
static void
cell_text(const msgpack_object *o, char *buf, size_t len)
{
	size_t i, n;

	if (o == NULL || o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0) {
		cell_uint(o, buf, len);
		return;
	}
	n = o->via.str.size < len - 1 ? o->via.str.size : len - 1;
	for (i = 0; i < n; i++) {
		buf[i] = o->via.str.ptr[i];
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	}
	buf[n] = '\0';
}

/* Seconds as people read them: 0.4s, 12s, 3m04s, 2h05m, 3d04h. */
static void
cell_duration(const msgpack_object *o, char *buf, size_t len)
{
	double v;
	uint64_t s;

	if (!msg_obj_number(o, &v) || !isfinite(v) || v < 0) {
		snprintf(buf, len, "-");
		return;
	}
	s = (uint64_t)v;
	if (v < 10)
		snprintf(buf, len, "%.1fs", v);
	else if (s < 60)
		snprintf(buf, len, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

/* Bytes in powers of 1024: 512B, 1.5K, 12M, 3.0G. */
static void
cell_bytes(const msgpack_object *o, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	double v;
	int u = 0;

	if (!msg_obj_number(o, &v) || !isfinite(v) || v < 0) {
		snprintf(buf, len, "-");
		return;
	}
	while (v >= 1024 && units[u + 1] != '\0') {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0fB", v);
	else
		snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

static void
cell_rate(const msgpack_object *o, char *buf, size_t len)
{
	double v;

	if (!msg_obj_number(o, &v) || !isfinite(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, v < 100 ? "%.1f" : "%.0f", v);
}

/* The status table, one row of this per column (tmux's format tables). */
static const struct ctl_column {
	const char	*title;
	const char	*field;
	void		(*cell)(const msgpack_object *, char *, size_t);
	int		 right;		/* numbers are right-aligned */
} ctl_columns[] = {
	{ "ID", "id", cell_uint, 0 },
	{ "ROLE", "role", cell_text, 0 },
	{ "ADDR", "addr", cell_text, 0 },
	{ "STATE", "state", cell_text, 0 },
	{ "UPTIME", "uptime", cell_duration, 1 },
	{ "HEARTBEAT", "heartbeat_age", cell_duration, 1 },
	{ "SLOTS", "slots", cell_uint, 1 },
	{ "KEYS", "keys", cell_uint, 1 },
	{ "MEMORY", "memory", cell_bytes, 1 },
	{ "PUSH/S", "pushes_per_s", cell_rate, 1 },
	{ "PULL/S", "pulls_per_s", cell_rate, 1 },
	{ "EXAMPLES", "examples", cell_uint, 1 },
};
#define CTL_NCOLUMNS	(sizeof ctl_columns / sizeof ctl_columns[0])

typedef char ctl_row[CTL_NCOLUMNS][CTL_CELL];

static void
status_print_row(ctl_row row, const size_t *width)
{
	size_t j;

	for (j = 0; j < CTL_NCOLUMNS; j++) {
		if (j > 0)
			fputs("  ", stdout);
		if (ctl_columns[j].right)
			printf("%*s", (int)width[j], row[j]);
		else if (j + 1 < CTL_NCOLUMNS)
			printf("%-*s", (int)width[j], row[j]);
		else
			fputs(row[j], stdout);
	}
	putchar('\n');
}

static void
status_print_table(const msgpack_object *nodes)
{
	ctl_row *rows;
	size_t width[CTL_NCOLUMNS], n = 0, i, j, w;

	if (nodes != NULL && nodes->type == MSGPACK_OBJECT_ARRAY)
		n = nodes->via.array.size;
	/* row 0 holds the titles: every width is known before the first line */
	rows = xcalloc(n + 1, sizeof *rows);
	for (j = 0; j < CTL_NCOLUMNS; j++) {
		snprintf(rows[0][j], CTL_CELL, "%s", ctl_columns[j].title);
		width[j] = strlen(rows[0][j]);
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < CTL_NCOLUMNS; j++) {
			ctl_columns[j].cell(msg_map_get(&nodes->via.array.ptr[i],
			    ctl_columns[j].field), rows[i + 1][j], CTL_CELL);
			if ((w = strlen(rows[i + 1][j])) > width[j])
				width[j] = w;
		}
	}
	for (i = 0; i < n + 1; i++)
		status_print_row(rows[i], width);
	free(rows);
}

/* "" or "s": a count of one is singular. */
static const char *
plural(const msgpack_object *o)
{
	return obj_uint_is(o, 1) ? "" : "s";
}

static void
status_print(const msgpack_object *st)
{
	const msgpack_object *servers = msg_map_get(st, "servers");
	const msgpack_object *workers = msg_map_get(st, "workers");
	char epoch[CTL_CELL], ns[CTL_CELL], nw[CTL_CELL];

	cell_uint(msg_map_get(st, "epoch"), epoch, sizeof epoch);
	cell_uint(servers, ns, sizeof ns);
	cell_uint(workers, nw, sizeof nw);
	printf("epoch %s: %s server%s, %s worker%s\n", epoch, ns, plural(servers), nw,
	    plural(workers));
	status_print_table(msg_map_get(st, "nodes"));
}

/* Is some node dead? Unknown states are not failures: a newer scheduler may add some. */
static int
status_dead(const msgpack_object *st)
{
	const msgpack_object *nodes = msg_map_get(st, "nodes");
	uint32_t i;

	if (nodes == NULL || nodes->type != MSGPACK_OBJECT_ARRAY)
		return 0;
	for (i = 0; i < nodes->via.array.size; i++)
		if (obj_str_is(msg_map_get(&nodes->via.array.ptr[i], "state"), "dead"))
			return 1;
	return 0;
}

static void
ctl_print_json(const msgpack_object *o)
{
	char *text = json_text(o);

	puts(text);
	free(text);
}

static int
ctl_status(struct ps_ctl *ctl, int argc, char **argv)
{
	struct ps_conn c;
	struct ps_msg m;
	char *cause;
	int status;

	if (argc != 1)
		return ctl_usage(argv[0]);
	if (ctl_request(ctl, PS_MSG_STATUS, NULL, 0, PS_MSG_STATUS_OK, CTL_TIMEOUT, &c, &m,
	    &cause) != 0)
		return ctl_fail(cause);
	status = status_dead(&m.args[0]) ? PS_EXIT_ERROR : PS_EXIT_OK;
	if (ctl->json)
		ctl_print_json(&m.args[0]);
	else
		status_print(&m.args[0]);
	msg_free(&m);
	conn_close(&c);
	return status;
}

/* A decimal number no greater than max: digits only, no sign, no spaces. */
static int
ctl_parse_uint(const char *s, uint64_t max, uint64_t *v)
{
	unsigned int d;

	*v = 0;
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned int)(*s - '0');
		if (*v > (max - d) / 10)
			return -1;
		*v = *v * 10 + d;
	}
	return 0;
}

/* "A-B" or "A": a range of slots, A <= B < PS_NSLOTS. */
static int
ctl_parse_slots(const char *s, uint64_t *a, uint64_t *b)
{
	const char *dash = strchr(s, '-');
	char *first;
	int r;

	if (dash == NULL) {
		r = ctl_parse_uint(s, PS_NSLOTS - 1, a);
		*b = *a;
		return r;
	}
	first = xstrndup(s, (size_t)(dash - s));
	r = ctl_parse_uint(first, PS_NSLOTS - 1, a);
	free(first);
	if (r != 0 || ctl_parse_uint(dash + 1, PS_NSLOTS - 1, b) != 0 || *a > *b)
		return -1;
	return 0;
}

/* Where key is in the sorted unique keys (it is there). */
static size_t
get_index(const uint64_t *keys, size_t n, uint64_t key)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (keys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Text: a line per key given, repeats included. */
static void
get_print_text(const uint64_t *keys, size_t n, const uint64_t *uniq, size_t nu,
    const float *vals, uint32_t dim)
{
	size_t i, at;
	uint32_t d;

	/* stop at the first failed write: ctl_flush tells why */
	for (i = 0; i < n && !ferror(stdout); i++) {
		at = get_index(uniq, nu, keys[i]) * dim;
		printf("%" PRIu64 "\t", keys[i]);
		for (d = 0; d < dim; d++)
			printf("%s%.9g", d > 0 ? " " : "", (double)vals[at + d]);
		putchar('\n');
	}
}

/* JSON: one object, each key once (JSON objects should not repeat names), in the
 * order first given. */
static void
get_print_json(const uint64_t *keys, size_t n, const uint64_t *uniq, size_t nu,
    const float *vals, uint32_t dim)
{
	struct json_buf b;
	char *seen = xcalloc(nu, 1), name[32];
	size_t i, at, k;
	uint32_t d;
	int first = 1;

	json_init(&b);
	json_put_raw(&b, "{");
	for (i = 0; i < n; i++) {
		k = get_index(uniq, nu, keys[i]);
		if (seen[k]++)
			continue;
		if (!first)
			json_put_raw(&b, ",");
		first = 0;
		snprintf(name, sizeof name, "%" PRIu64, keys[i]);
		json_put_str(&b, name, strlen(name));
		json_put_raw(&b, ":[");
		at = k * dim;
		for (d = 0; d < dim; d++) {
			if (d > 0)
				json_put_raw(&b, ",");
			json_put_float(&b, vals[at + d]);
		}
		json_put_raw(&b, "]");
	}
	json_put_raw(&b, "}");
	puts(b.data);
	json_free(&b);
	free(seen);
}

/* Pull sorted unique keys through a client of the cluster: *vals (xmalloc'd) has the
 * job's model.dim floats a key, *dim, which the scheduler says. */
static int
get_pull(struct ps_ctl *ctl, const uint64_t *keys, size_t n, float **vals,
    uint32_t *dim)
{
	struct ps_client cl;
	struct ps_conn probe;
	char *cause;
	int r;

	/* client_open retries a refused connection for seconds: a handshake of our own
	 * first says at once, in one line, that the scheduler is not there */
	if (ctl_connect(ctl, &probe, &cause) != 0)
		return ctl_fail(cause);
	conn_close(&probe);
	/* registering waits for every server; then the pull itself */
	ctl_watch("get: no answer from the cluster in %d s", CTL_TIMEOUT);
	if (client_open(&cl, ctl->conf, PS_ROLE_CLIENT, CTL_PROGNAME, &cause) != 0) {
		ctl_unwatch();
		ctl_err("get: %s", cause);
		free(cause);
		return PS_EXIT_ERROR;
	}
	*dim = cl.conf->optim.dim;
	*vals = xcalloc(n * *dim, sizeof **vals);
	r = client_pull(&cl, keys, n, *vals, &cause);
	client_close(&cl);
	ctl_unwatch();
	if (r != 0) {
		ctl_err("get: %s", cause);
		free(cause);
		return PS_EXIT_ERROR;
	}
	return PS_EXIT_OK;
}

static int
ctl_get(struct ps_ctl *ctl, int argc, char **argv)
{
	uint32_t dim = 0;
	uint64_t *keys, *uniq, *tmp;
	size_t n = (size_t)argc - 1, nu, i;
	float *vals = NULL;
	int status;

	if (n == 0)
		return ctl_usage(argv[0]);
	keys = xreallocarray(NULL, n, sizeof *keys);
	for (i = 0; i < n; i++) {
		if (ctl_parse_uint(argv[i + 1], UINT64_MAX, &keys[i]) != 0) {
			ctl_err("get: '%s' is not a key (want a decimal number below 2^64)",
			    argv[i + 1]);
			free(keys);
			return PS_EXIT_USAGE;
		}
	}
	/* the client wants keys sorted and unique; they print in the order given */
	uniq = xreallocarray(NULL, n, sizeof *uniq);
	tmp = xreallocarray(NULL, n, sizeof *tmp);
	memcpy(uniq, keys, n * sizeof *keys);
	nu = sort_u64_unique(uniq, tmp, n);
	free(tmp);
	if ((status = get_pull(ctl, uniq, nu, &vals, &dim)) == PS_EXIT_OK) {
		if (ctl->json)
			get_print_json(keys, n, uniq, nu, vals, dim);
		else
			get_print_text(keys, n, uniq, nu, vals, dim);
	}
	free(vals);
	free(uniq);
	free(keys);
	return status;
}

/* What a control command did, from its CTL_OK map. */
static void
ctl_print_done(uint32_t type, const msgpack_object *o)
{
	const msgpack_object *moves = msg_map_get(o, "moves");
	const msgpack_object *slots = msg_map_get(o, "slots"), *keys = msg_map_get(o, "keys");
	char epoch[CTL_CELL], nm[CTL_CELL], ns[CTL_CELL], nk[CTL_CELL], secs[CTL_CELL];
	double v;

	if (type == PS_MSG_STOP) {
		printf("shutting down the job\n");
		return;
	}
	cell_uint(msg_map_get(o, "epoch"), epoch, sizeof epoch);
	if (obj_uint_is(moves, 0)) {
		printf("nothing to move; map epoch %s\n", epoch);
		return;
	}
	cell_uint(moves, nm, sizeof nm);
	cell_uint(slots, ns, sizeof ns);
	cell_uint(keys, nk, sizeof nk);
	if (msg_obj_number(msg_map_get(o, "seconds"), &v) && isfinite(v))
		snprintf(secs, sizeof secs, "%.2f", v);
	else
		snprintf(secs, sizeof secs, "-");
	printf("moved %s slot%s (%s key%s) in %s move%s, %s s; map epoch %s\n", ns,
	    plural(slots), nk, plural(keys), nm, plural(moves), secs, epoch);
}

/* A control request: no timeout, since moving slots takes as long as it takes. */
static int
ctl_control(struct ps_ctl *ctl, uint32_t type, const uint64_t *args, uint32_t nargs)
{
	struct ps_conn c;
	struct ps_msg m;
	char *cause;

	if (ctl_request(ctl, type, args, nargs, PS_MSG_CTL_OK, 0, &c, &m, &cause) != 0)
		return ctl_fail(cause);
	if (ctl->json)
		ctl_print_json(&m.args[0]);
	else
		ctl_print_done(type, &m.args[0]);
	msg_free(&m);
	conn_close(&c);
	return PS_EXIT_OK;
}

/* The value of option name at argv[*i]: "--name value" or "--name=value". */
static const char *
ctl_option(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);

	if (strcmp(argv[*i], name) == 0)
		return *i + 1 < argc ? argv[++*i] : NULL;
	if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=')
		return argv[*i] + len + 1;
	return NULL;
}

static int
ctl_reshard(struct ps_ctl *ctl, int argc, char **argv)
{
	const char *slots = NULL, *to = NULL, *v;
	uint64_t args[3];
	int i;

	for (i = 1; i < argc; i++) {
		if ((v = ctl_option(argc, argv, &i, "--slots")) != NULL)
			slots = v;
		else if ((v = ctl_option(argc, argv, &i, "--to")) != NULL)
			to = v;
		else {
			ctl_err("reshard: unexpected argument '%s'", argv[i]);
			return ctl_usage(argv[0]);
		}
	}
	if (slots == NULL || to == NULL)
		return ctl_usage(argv[0]);
	if (ctl_parse_slots(slots, &args[0], &args[1]) != 0) {
		ctl_err("reshard: bad slots '%s' (want A-B with A <= B < %d)", slots,
		    PS_NSLOTS);
		return PS_EXIT_USAGE;
	}
	if (ctl_parse_uint(to, UINT32_MAX, &args[2]) != 0) {
		ctl_err("reshard: bad node id '%s'", to);
		return PS_EXIT_USAGE;
	}
	return ctl_control(ctl, PS_MSG_RESHARD, args, 3);
}

static int
ctl_rebalance(struct ps_ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		return ctl_usage(argv[0]);
	return ctl_control(ctl, PS_MSG_REBALANCE, NULL, 0);
}

static int
ctl_drain(struct ps_ctl *ctl, int argc, char **argv)
{
	uint64_t id;

	if (argc != 2)
		return ctl_usage(argv[0]);
	if (ctl_parse_uint(argv[1], UINT32_MAX, &id) != 0) {
		ctl_err("drain: bad node id '%s'", argv[1]);
		return PS_EXIT_USAGE;
	}
	return ctl_control(ctl, PS_MSG_DRAIN, &id, 1);
}

static int
ctl_shutdown(struct ps_ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		return ctl_usage(argv[0]);
	return ctl_control(ctl, PS_MSG_STOP, NULL, 0);
}

void
ctl_help(FILE *f)
{
	char syntax[64];
	size_t i;

	fprintf(f, "commands (a unique prefix will do):\n");
	for (i = 0; i < CTL_NCMDS; i++) {
		if (ctl_cmds[i].help == NULL)
			continue;
		snprintf(syntax, sizeof syntax, "%s%s%s", ctl_cmds[i].name,
		    *ctl_cmds[i].args ? " " : "", ctl_cmds[i].args);
		fprintf(f, "  %-28s %s\n", syntax, ctl_cmds[i].help);
	}
}

static int
ctl_cmd_help(struct ps_ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argc;
	(void)argv;
	ctl_help(stdout);
	return PS_EXIT_OK;
}

/* quit and exit: handled by the shell and scripts; on the command line, nothing. */
static int
ctl_quit(struct ps_ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argc;
	(void)argv;
	return PS_EXIT_OK;
}

/* The command named word: exactly, or the one command it is a prefix of. */
static const struct ctl_cmd *
ctl_lookup(const char *word, int quiet)
{
	const struct ctl_cmd *found = NULL;
	char names[256] = "";
	size_t i, len = strlen(word), n = 0, at = 0;

	for (i = 0; i < CTL_NCMDS; i++) {
		if (strcmp(ctl_cmds[i].name, word) == 0)
			return &ctl_cmds[i];
		if (len == 0 || strncmp(ctl_cmds[i].name, word, len) != 0)
			continue;
		found = &ctl_cmds[i];
		at += snprintf(names + at, sizeof names - at, "%s%s", n++ > 0 ? ", " : "",
		    ctl_cmds[i].name);
	}
	if (n == 1)
		return found;
	if (!quiet && n == 0)
		ctl_err("unknown command '%s' (try help)", word);
	else if (!quiet)
		ctl_err("ambiguous command '%s': %s", word, names);
	return NULL;
}

/*
 * Standard output after a command. A closed pipe (EPIPE: | head has had enough)
 * ends the output quietly and the status stays the command's; any other failure (a
 * full disk) is an error. glibc drops what it could not write and a later fflush
 * succeeds, so errno is still the failed write's here (get stops at the first one).
 * The error is cleared, so that the next command of a script is judged on its own.
 */
static int
ctl_flush(int status)
{
	int err;

	if (fflush(stdout) == 0 && !ferror(stdout))
		return status;
	err = errno != 0 ? errno : EIO;
	clearerr(stdout);
	if (err == EPIPE)
		return status;
	ctl_err("stdout: %s", strerror(err));
	return status == PS_EXIT_OK ? PS_EXIT_ERROR : status;
}

int
ctl_run(struct ps_ctl *ctl, int argc, char **argv)
{
	const struct ctl_cmd *cmd;
	char **args;
	int i, n = 0, json = ctl->json, saved = ctl->json, status;

	if (argc < 1)
		return PS_EXIT_USAGE;
	/* --json may come after the command too: "status --json" */
	args = xreallocarray(NULL, (size_t)argc + 1, sizeof *args);
	for (i = 0; i < argc; i++) {
		if (i > 0 && strcmp(argv[i], "--json") == 0)
			json = 1;
		else
			args[n++] = argv[i];
	}
	args[n] = NULL;
	if ((cmd = ctl_lookup(args[0], 0)) == NULL)
		status = PS_EXIT_USAGE;
	else {
		ctl->json = json;
		args[0] = (char *)cmd->name;	/* usage errors name it in full */
		status = cmd->run(ctl, n, args);
		ctl->json = saved;
	}
	free(args);
	return ctl_flush(status);
}

/* Split line into words, in place; the words are argv[0..return). */
static int
ctl_split(char *line, char ***argv)
{
	char *word, *last;
	int argc = 0;

	*argv = NULL;
	for (word = strtok_r(line, CTL_SEPARATORS, &last); word != NULL;
	    word = strtok_r(NULL, CTL_SEPARATORS, &last)) {
		*argv = xreallocarray(*argv, (size_t)argc + 1, sizeof **argv);
		(*argv)[argc++] = word;
	}
	return argc;
}

/* One line of the shell or of a script; *done is set by quit or exit. */
static int
ctl_line(struct ps_ctl *ctl, char *line, int *done)
{
	const struct ctl_cmd *cmd;
	char **argv;
	int argc, status = PS_EXIT_OK;

	argc = ctl_split(line, &argv);
	if (argc == 0 || argv[0][0] == '#') {
		free(argv);
		return PS_EXIT_OK;
	}
	cmd = ctl_lookup(argv[0], 1);
	if (cmd != NULL && cmd->run == ctl_quit)
		*done = 1;
	else
		status = ctl_run(ctl, argc, argv);
	free(argv);
	return status;
}

int
ctl_script(struct ps_ctl *ctl, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	int worst = PS_EXIT_OK, done = 0, status;

	while (!done && getline(&line, &cap, f) != -1) {
		if ((status = ctl_line(ctl, line, &done)) > worst)
			worst = status;
	}
	free(line);
	return worst;
}

/*
 * Completion. readline's callbacks take no argument, so the shell's state is here:
 * the ctl in use and the candidate words of the current completion.
 */
static struct ps_ctl	 *ctl_shell_ctl;
static char		**ctl_words;
static size_t		  ctl_nwords;

static void
ctl_words_clear(void)
{
	size_t i;

	for (i = 0; i < ctl_nwords; i++)
		free(ctl_words[i]);
	free(ctl_words);
	ctl_words = NULL;
	ctl_nwords = 0;
}

static void
ctl_words_add(const char *word)
{
	ctl_words = xreallocarray(ctl_words, ctl_nwords + 1, sizeof *ctl_words);
	ctl_words[ctl_nwords++] = xstrdup(word);
}

static void
ctl_words_commands(void)
{
	size_t i;

	for (i = 0; i < CTL_NCMDS; i++)
		ctl_words_add(ctl_cmds[i].name);
}

static void
ctl_words_options(const struct ctl_cmd *cmd)
{
	char *copy = xstrdup(cmd->options), *word, *last;

	for (word = strtok_r(copy, " ", &last); word != NULL;
	    word = strtok_r(NULL, " ", &last))
		ctl_words_add(word);
	free(copy);
}

/* The ids of the servers, asked of the scheduler now: nothing if it does not answer
 * (a completion must not print errors over the line being edited). */
static void
ctl_words_servers(void)
{
	const msgpack_object *nodes, *node, *id;
	struct ps_conn c;
	struct ps_msg m;
	char *cause, num[32];
	uint32_t i;

	if (ctl_request(ctl_shell_ctl, PS_MSG_STATUS, NULL, 0, PS_MSG_STATUS_OK,
	    CTL_TIMEOUT, &c, &m, &cause) != 0) {
		log_debug("completion: %s", cause);
		free(cause);
		return;
	}
	nodes = msg_map_get(&m.args[0], "nodes");
	for (i = 0; nodes != NULL && nodes->type == MSGPACK_OBJECT_ARRAY &&
	    i < nodes->via.array.size; i++) {
		node = &nodes->via.array.ptr[i];
		id = msg_map_get(node, "id");
		if (!obj_str_is(msg_map_get(node, "role"), "server") || id == NULL ||
		    id->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			continue;
		snprintf(num, sizeof num, "%" PRIu64, id->via.u64);
		ctl_words_add(num);
	}
	msg_free(&m);
	conn_close(&c);
}

static char *
ctl_complete_word(const char *text, int state)
{
	static size_t next;
	size_t len = strlen(text);

	if (state == 0)
		next = 0;
	while (next < ctl_nwords) {
		if (strncmp(ctl_words[next++], text, len) == 0)
			return xstrdup(ctl_words[next - 1]);
	}
	return NULL;
}

/* Commands first; then a server id after drain and after --to; options after '-'. */
static char **
ctl_complete(const char *text, int start, int end)
{
	const struct ctl_cmd *cmd;
	char *before, **argv;
	int argc;

	(void)end;
	rl_attempted_completion_over = 1;	/* never fall back to file names */
	ctl_words_clear();
	before = xstrndup(rl_line_buffer, (size_t)start);
	argc = ctl_split(before, &argv);
	if (argc == 0)
		ctl_words_commands();
	else if ((cmd = ctl_lookup(argv[0], 1)) != NULL) {
		if (strcmp(argv[argc - 1], "--to") == 0 || (cmd->node_arg && argc == 1))
			ctl_words_servers();
		else if (text[0] == '-')
			ctl_words_options(cmd);
	}
	free(argv);
	free(before);
	return rl_completion_matches(text, ctl_complete_word);
}

/* $HOME/.ps_ctl_history, or NULL without a HOME. */
static char *
ctl_history_path(void)
{
	const char *home = getenv("HOME");
	char *path;

	if (home == NULL || *home == '\0')
		return NULL;
	xasprintf(&path, "%s/%s", home, CTL_HISTORY_FILE);
	return path;
}

/* Add this session's lines to the file, which keeps the last CTL_HISTORY_LINES. */
static void
ctl_history_save(const char *path, int added)
{
	int r;

	if (added > history_length)
		added = history_length;
	if (access(path, F_OK) == 0)
		r = append_history(added, path);
	else
		r = write_history(path);
	if (r != 0) {
		log_warnx("%s: %s", path, strerror(r));
		return;
	}
	history_truncate_file(path, CTL_HISTORY_LINES);
}

/* A line worth keeping in the history: not blank. */
static int
ctl_blank(const char *line)
{
	return line[strspn(line, CTL_SEPARATORS)] == '\0';
}

int
ctl_shell(struct ps_ctl *ctl)
{
	char *line, *path = ctl_history_path();
	int done = 0, added = 0;

	ctl_shell_ctl = ctl;
	if (tcgetattr(STDIN_FILENO, &ctl_tty) == 0)
		ctl_tty_saved = 1;
	rl_readline_name = CTL_PROGNAME;
	rl_attempted_completion_function = ctl_complete;
	using_history();
	stifle_history(CTL_HISTORY_LINES);
	if (path != NULL)
		read_history(path);	/* none yet is fine */
	while (!done) {
		if ((line = readline("ps> ")) == NULL) {
			putchar('\n');	/* end of file: leave the prompt's line */
			break;
		}
		if (!ctl_blank(line)) {
			add_history(line);
			added++;
		}
		/* the person saw each command's error: they do not fail the session */
		ctl_line(ctl, line, &done);
		free(line);
	}
	if (path != NULL)
		ctl_history_save(path, added);
	free(path);
	ctl_words_clear();
	ctl_tty_saved = 0;
	return PS_EXIT_OK;
}
