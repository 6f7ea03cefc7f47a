/*
 * The scheduler's figures for Prometheus: GET /metrics on scheduler.host and
 * scheduler.metrics_port, in the text exposition format 0.0.4, served by libevent's
 * evhttp from the scheduler's own loop. A scrape is answered at once from what the
 * scheduler knows, as STATUS is, through the same fields and helpers (ps/sched.h):
 * every figure here is in `ps-ctl status --json` too, so the two agree.
 *
 * A node's state is a label of ps_node_state alone: on the counters it would start
 * a new series at every change of state, and rate() would see a reset.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ps/log.h"
#include "ps/metrics.h"
#include "ps/net.h"
#include "ps/reshard.h"
#include "ps/sched.h"
#include "ps/xmalloc.h"

#define METRICS_TIMEOUT		10	/* seconds an idle or slow HTTP client is kept */
#define METRICS_MAX_HEADERS	8192
#define METRICS_MAX_BODY	1024	/* a GET has none */

struct metrics {
	struct sched	*s;
	struct evhttp	*http;
};

/* A figure of every node, labelled with its id, role and address. */
struct metrics_family {
	const char	*name;
	const char	*type;
	const char	*help;
	size_t		 field;		/* a uint64_t of struct node, when get is NULL */
	double		(*get)(struct sched *, const struct node *, double now);
};

static double
metrics_up(struct sched *s, const struct node *n, double now)
{
	(void)s;
	(void)now;
	return n->state == NODE_ALIVE;
}

static double
metrics_uptime(struct sched *s, const struct node *n, double now)
{
	(void)s;
	return now - n->since;
}

static double
metrics_heartbeat_age(struct sched *s, const struct node *n, double now)
{
	(void)s;
	return sched_heartbeat_age(n, now);
}

static double
metrics_slots(struct sched *s, const struct node *n, double now)
{
	(void)now;
	return sched_node_slots(s, n);
}

#define NODE(f) offsetof(struct node, f)
static const struct metrics_family metrics_nodes[] = {
	{ "ps_node_up", "gauge",
	  "1 while the node is alive (up, suspect, draining, spare), 0 once done or dead.",
	  0, metrics_up },
	{ "ps_node_uptime_seconds", "gauge", "Seconds since the node registered.",
	  0, metrics_uptime },
	{ "ps_node_heartbeat_age_seconds", "gauge",
	  "Seconds since the scheduler last heard from the node.", 0,
	  metrics_heartbeat_age },
	{ "ps_node_slots", "gauge", "Hash slots the cluster map gives the server.",
	  0, metrics_slots },
	{ "ps_node_keys", "gauge", "Keys the server holds, as of its last heartbeat.",
	  NODE(keys), NULL },
	{ "ps_node_memory_bytes", "gauge",
	  "Bytes of the server's tables, as of its last heartbeat.", NODE(memory), NULL },
	{ "ps_node_pushes_total", "counter", "Pushes the server has served.",
	  NODE(pushes), NULL },
	{ "ps_node_pulls_total", "counter", "Pulls the server has served.",
	  NODE(pulls), NULL },
	{ "ps_node_examples_total", "counter", "Examples the worker has trained on.",
	  NODE(examples), NULL },
	{ "ps_node_received_bytes_total", "counter",
	  "Bytes the node has read on its cluster connections.", NODE(bytes_in), NULL },
	{ "ps_node_sent_bytes_total", "counter",
	  "Bytes the node has written on its cluster connections.", NODE(bytes_out),
	  NULL },
};
#undef NODE
#define METRICS_NFAMILIES (sizeof metrics_nodes / sizeof metrics_nodes[0])

static void
metrics_head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name="value", the value escaped as the format wants: \\, \" and \n. */
static void
metrics_label(struct evbuffer *b, const char *name, const char *value, int first)
{
	const char *p;

	evbuffer_add_printf(b, "%s%s=\"", first ? "" : ",", name);
	for (p = value; *p != '\0'; p++) {
		if (*p == '\\')
			evbuffer_add(b, "\\\\", 2);
		else if (*p == '"')
			evbuffer_add(b, "\\\"", 2);
		else if (*p == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* `name{id="1",role="server",addr="127.0.0.1:4000"` and, if state, its state; the
 * caller closes the braces. */
static void
metrics_node_labels(struct evbuffer *b, const char *name, struct sched *s,
    const struct node *n, double now, int state)
{
	char id[16], addr[128];

	snprintf(id, sizeof id, "%u", n->id);
	sched_node_addr(n, addr, sizeof addr);
	evbuffer_add_printf(b, "%s{", name);
	metrics_label(b, "id", id, 1);
	metrics_label(b, "role", proto_role_name(n->role), 0);
	metrics_label(b, "addr", addr, 0);
	if (state)
		metrics_label(b, "state", sched_state(s, n, now), 0);
	evbuffer_add(b, "}", 1);
}

/* The scheduler's own row first, as in STATUS. */
static const struct node *
metrics_node(struct sched *s, uint32_t i)
{
	return i == 0 ? &s->self : s->nodes[i - 1];
}

static void
metrics_events(struct evbuffer *b, const char *name, const char *help, uint64_t done,
    uint64_t failed)
{
	metrics_head(b, name, "counter", help);
	evbuffer_add_printf(b, "%s{result=\"completed\"} %llu\n", name,
	    (unsigned long long)done);
	evbuffer_add_printf(b, "%s{result=\"failed\"} %llu\n", name,
	    (unsigned long long)failed);
}

void
metrics_write(struct sched *s, struct evbuffer *b)
{
	const struct metrics_family *f;
	const struct node *n;
	uint64_t v;
	uint32_t i, role, count;
	double now = net_now();

	sched_update_self(s);
	metrics_head(b, "ps_map_epoch", "gauge",
	    "Epoch of the cluster map; it rises with every change of the map.");
	evbuffer_add_printf(b, "ps_map_epoch %llu\n", (unsigned long long)s->map.epoch);
	metrics_head(b, "ps_resharding", "gauge", "1 while slots are being moved.");
	evbuffer_add_printf(b, "ps_resharding %d\n", reshard_busy(s) ? 1 : 0);
	metrics_head(b, "ps_examples_total", "counter",
	    "Examples the job's workers have trained on, finished workers included.");
	evbuffer_add_printf(b, "ps_examples_total %llu\n",
	    (unsigned long long)sched_examples(s));
	metrics_events(b, "ps_reshard_moves_total",
	    "Slot moves between two servers, by how they ended.", s->moves_done,
	    s->moves_failed);
	metrics_events(b, "ps_checkpoints_total",
	    "Checkpoints the servers were asked to write, by how they ended.",
	    s->ckpts_done, s->ckpts_failed);
	metrics_events(b, "ps_failovers_total",
	    "Servers lost, by whether their slots came back (from a backup or a "
	    "checkpoint) or the job ended.", s->failovers_done, s->failovers_failed);
	metrics_head(b, "ps_nodes", "gauge",
	    "Nodes the scheduler lists, in every state, by role.");
	for (role = 0; role < PS_NROLES; role++) {
		count = 0;
		for (i = 0; i < s->nnodes + 1; i++)
			count += metrics_node(s, i)->role == role;
		evbuffer_add_printf(b, "ps_nodes{role=\"%s\"} %u\n", proto_role_name(role),
		    count);
	}

	metrics_head(b, "ps_node_state", "gauge",
	    "1, labelled with the node's state as ps-ctl status shows it.");
	for (i = 0; i < s->nnodes + 1; i++) {
		metrics_node_labels(b, "ps_node_state", s, metrics_node(s, i), now, 1);
		evbuffer_add(b, " 1\n", 3);
	}
	for (f = metrics_nodes; f < metrics_nodes + METRICS_NFAMILIES; f++) {
		metrics_head(b, f->name, f->type, f->help);
		for (i = 0; i < s->nnodes + 1; i++) {
			n = metrics_node(s, i);
			metrics_node_labels(b, f->name, s, n, now, 0);
			if (f->get != NULL)
				evbuffer_add_printf(b, " %.9g\n", f->get(s, n, now));
			else {
				memcpy(&v, (const char *)n + f->field, sizeof v);
				evbuffer_add_printf(b, " %llu\n", (unsigned long long)v);
			}
		}
	}
}

/* A refusal in plain text. (evhttp_send_error would drop our headers: Allow.) */
static void
metrics_refuse(struct evhttp_request *req, int code, const char *reason)
{
	struct evbuffer *b;

	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	evbuffer_add_printf(b, "%d %s\n", code, reason);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; charset=utf-8");
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
metrics_request(struct evhttp_request *req, void *arg)
{
	struct metrics *mt = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b;
	char len[32];

	log_debug("metrics: request for %s", evhttp_request_get_uri(req));
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(h, "Allow", "GET, HEAD");
		metrics_refuse(req, 405, "Method Not Allowed");
		return;
	}
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		metrics_refuse(req, HTTP_NOTFOUND, "Not Found");
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	metrics_write(mt->s, b);
	evhttp_add_header(h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	if (cmd == EVHTTP_REQ_HEAD) {
		/* evhttp (2.1) would send the body too: only its length goes. */
		snprintf(len, sizeof len, "%zu", evbuffer_get_length(b));
		evhttp_add_header(h, "Content-Length", len);
		evbuffer_drain(b, evbuffer_get_length(b));
	}
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

struct metrics *
metrics_start(struct sched *s, char **cause)
{
	const struct ps_conf *conf = s->conf;
	struct metrics *mt;
	char *why;
	int fd, bound = 0, v6 = strchr(conf->scheduler_host, ':') != NULL;

	if ((fd = net_listen(conf->scheduler_host, conf->metrics_port, &bound,
	    &why)) == -1) {
		xasprintf(cause, "scheduler.metrics_port %d: %s", conf->metrics_port, why);
		free(why);
		return NULL;
	}
	evutil_make_socket_nonblocking(fd);
	mt = xcalloc(1, sizeof *mt);
	mt->s = s;
	if ((mt->http = evhttp_new(s->proc.base)) == NULL)
		fatalx("evhttp_new failed");
	/* Every method reaches metrics_request, which answers 405 to all but two;
	 * evhttp would answer 501, as if it did not know them. */
	evhttp_set_allowed_methods(mt->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	    EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(mt->http, METRICS_TIMEOUT);
	evhttp_set_max_headers_size(mt->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(mt->http, METRICS_MAX_BODY);
	evhttp_set_gencb(mt->http, metrics_request, mt);
	if (evhttp_accept_socket(mt->http, fd) != 0) {
		close(fd);
		evhttp_free(mt->http);
		free(mt);
		xasprintf(cause, "scheduler.metrics_port %d: cannot accept on it",
		    conf->metrics_port);
		return NULL;
	}
	log_info("metrics on http://%s%s%s:%d/metrics", v6 ? "[" : "",
	    conf->scheduler_host, v6 ? "]" : "", bound);
	return mt;
}

void
metrics_free(struct metrics *mt)
{
	if (mt == NULL)
		return;
	evhttp_free(mt->http);
	free(mt);
}
