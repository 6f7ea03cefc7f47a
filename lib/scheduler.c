/*
 * ps-scheduler: the control plane. It never carries parameters.
 *
 * Servers register first; once cluster.servers of them have, the slots are spread
 * over them (map epoch 1) and the map is sent to each; when every server has
 * acknowledged it, the map is in force and the workers and clients that were waiting
 * get their REGISTER_OK. Workers meet at named barriers; a worker that finishes (DONE)
 * or dies leaves the group, so nobody waits for it. When every worker has finished,
 * the servers are told to shut down and the scheduler exits.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ps/log.h"
#include "ps/map.h"
#include "ps/net.h"
#include "ps/peer.h"
#include "ps/scheduler.h"
#include "ps/xmalloc.h"

enum node_state { NODE_ALIVE, NODE_DONE, NODE_DEAD };

struct node {
	uint32_t	 id;
	uint32_t	 role;
	uint32_t	 rank;
	char		*host;
	int		 port;
	struct ps_peer	*peer;
	enum node_state	 state;
	double		 last_seen;
	int		 status;		/* exit status from DONE */
	uint64_t	 waiting;		/* request id of a REGISTER or GET_MAP held
						 * until the map is in force; 0: none */
	uint32_t	 waiting_type;
	uint64_t	 barrier_id;		/* request id of a pending BARRIER; 0: none */
};

struct sched {
	const struct ps_conf	*conf;
	struct event_base	*base;
	struct ps_listener	*listener;
	struct event		*tick;
	struct event		*sigterm;
	struct event		*sigint;
	struct event		*quit;
	struct node		**nodes;
	uint32_t		 nnodes;
	uint32_t		 next_id;
	uint32_t		 servers;	/* registered */
	uint32_t		 workers;
	struct ps_map		 map;
	int			 map_live;	/* every server acknowledged map.epoch */
	uint32_t		 acks;
	char			*barrier;	/* name of the open barrier, or NULL */
	int			 ending;
	int			 failed;
	struct ps_wbuf		 out;
};

typedef void (*handler_fn)(struct sched *, struct ps_peer *, struct node *,
    struct ps_msg *);

struct handler {
	uint32_t	 type;
	const char	*fmt;
	int		 registered;	/* 1: only from a registered node */
	handler_fn	 fn;
};

static void	sched_check_barrier(struct sched *);
static void	sched_check_end(struct sched *);

static const char *
node_name(const struct node *n)
{
	static char buf[64];

	if (n->role == PS_ROLE_WORKER)
		snprintf(buf, sizeof buf, "worker %u (node %u)", n->rank, n->id);
	else
		snprintf(buf, sizeof buf, "%s node %u", proto_role_name(n->role), n->id);
	return buf;
}

static struct ps_hdr
sched_hdr(struct sched *s, uint32_t type, uint64_t id)
{
	struct ps_hdr h = {
		.version = PS_PROTOCOL_VERSION,
		.type = type,
		.id = id,
		.sender = 0,
		.epoch = s->map.epoch,
	};
	return h;
}

static void
sched_send_map(struct sched *s, struct node *n, uint32_t type, uint64_t id)
{
	struct ps_hdr h = sched_hdr(s, type, id);

	if (type == PS_MSG_REGISTER_OK) {
		msg_begin(&s->out, &h, 5);
		msg_put_uint(&s->out, n->id);
		msg_put_uint(&s->out, n->rank);
	} else
		msg_begin(&s->out, &h, 3);
	map_pack(&s->out, &s->map);
	msg_end(&s->out);
	peer_send(n->peer, &s->out);
}

/* The map is in force: answer everyone who was waiting for it. */
static void
sched_map_live(struct sched *s)
{
	uint32_t i;

	s->map_live = 1;
	log_info("map epoch %llu in force: %u servers, %d slots",
	    (unsigned long long)s->map.epoch, s->map.nservers, PS_NSLOTS);
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->waiting == 0 || n->state != NODE_ALIVE)
			continue;
		sched_send_map(s, n, n->waiting_type, n->waiting);
		n->waiting = 0;
	}
}

static void
sched_publish_map(struct sched *s)
{
	uint32_t i;

	map_free(&s->map);
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->role == PS_ROLE_SERVER && n->state == NODE_ALIVE)
			map_add_server(&s->map, n->id, n->host, n->port);
	}
	map_spread(&s->map);
	s->map.epoch = 1;
	s->map_live = 0;
	s->acks = 0;
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->role == PS_ROLE_SERVER && n->state == NODE_ALIVE)
			sched_send_map(s, n, PS_MSG_MAP, 0);
	}
}

static void
sched_register(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	uint32_t role = msg_uint(m, 0);
	uint64_t port = msg_uint(m, 2);

	if (n != NULL) {
		peer_error(p, m, PS_ERR_STATE, "already registered as node %u", n->id);
		return;
	}
	if (role != PS_ROLE_SERVER && role != PS_ROLE_WORKER && role != PS_ROLE_CLIENT) {
		peer_error(p, m, PS_ERR_CLIENT, "cannot register role %u", role);
		return;
	}
	if (role == PS_ROLE_SERVER && (port == 0 || port > 65535)) {
		peer_error(p, m, PS_ERR_CLIENT, "a server must give its port (got %llu)",
		    (unsigned long long)port);
		return;
	}
	if (role == PS_ROLE_SERVER && s->servers == (uint32_t)s->conf->num_servers) {
		peer_error(p, m, PS_ERR_STATE, "the cluster already has its %d servers",
		    s->conf->num_servers);
		return;
	}
	if (role == PS_ROLE_WORKER && s->workers == (uint32_t)s->conf->num_workers) {
		peer_error(p, m, PS_ERR_STATE, "the cluster already has its %d workers",
		    s->conf->num_workers);
		return;
	}
	if (s->ending) {
		peer_error(p, m, PS_ERR_STATE, "the job is ending");
		return;
	}

	n = xcalloc(1, sizeof *n);
	n->id = ++s->next_id;
	n->role = role;
	n->peer = p;
	n->state = NODE_ALIVE;
	n->last_seen = net_now();
	n->host = msg_strdup(m, 1);
	n->port = (int)port;
	if (role == PS_ROLE_SERVER)
		n->rank = s->servers++;
	else if (role == PS_ROLE_WORKER)
		n->rank = s->workers++;
	s->nodes = xreallocarray(s->nodes, s->nnodes + 1, sizeof *s->nodes);
	s->nodes[s->nnodes++] = n;
	peer_set_data(p, n);
	log_info("%s registered from %s", node_name(n), peer_info(p)->name);

	if (role == PS_ROLE_SERVER) {
		/* A server gets its id now and the map when all servers are in. */
		sched_send_map(s, n, PS_MSG_REGISTER_OK, m->hdr.id);
		if (s->servers == (uint32_t)s->conf->num_servers)
			sched_publish_map(s);
	} else if (s->map_live)
		sched_send_map(s, n, PS_MSG_REGISTER_OK, m->hdr.id);
	else {
		n->waiting = m->hdr.id;
		n->waiting_type = PS_MSG_REGISTER_OK;
	}
	if (role == PS_ROLE_WORKER)
		sched_check_barrier(s);
}

static void
sched_map_ack(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	(void)p;
	if (n->role != PS_ROLE_SERVER || msg_uint(m, 0) != s->map.epoch || s->map_live)
		return;
	if (++s->acks == s->map.nservers)
		sched_map_live(s);
}

static void
sched_get_map(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	(void)p;
	if (s->map_live)
		sched_send_map(s, n, PS_MSG_MAP, m->hdr.id);
	else {
		n->waiting = m->hdr.id;
		n->waiting_type = PS_MSG_MAP;
	}
}

static void
sched_heartbeat(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	(void)s;
	(void)p;
	(void)n;
	(void)m;	/* last_seen is updated for every message */
}

/* Release the barrier once every worker has registered and every live one is in it. */
static void
sched_check_barrier(struct sched *s)
{
	uint32_t i, in = 0, alive = 0;
	struct ps_hdr h;

	if (s->barrier == NULL || s->workers < (uint32_t)s->conf->num_workers)
		return;
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->role != PS_ROLE_WORKER || n->state != NODE_ALIVE)
			continue;
		alive++;
		in += n->barrier_id != 0;
	}
	if (in < alive)
		return;
	log_info("barrier '%s': %u workers in; released", s->barrier, in);
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->barrier_id == 0)
			continue;
		h = sched_hdr(s, PS_MSG_BARRIER_OK, n->barrier_id);
		msg_begin(&s->out, &h, 1);
		msg_put_str(&s->out, s->barrier);
		msg_end(&s->out);
		peer_send(n->peer, &s->out);
		n->barrier_id = 0;
	}
	free(s->barrier);
	s->barrier = NULL;
}

static void
sched_barrier(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	char *name = msg_strdup(m, 0);

	if (n->role != PS_ROLE_WORKER) {
		peer_error(p, m, PS_ERR_CLIENT, "only workers take part in barriers");
		free(name);
		return;
	}
	if (n->barrier_id != 0) {
		peer_error(p, m, PS_ERR_CLIENT, "already waiting at barrier '%s'", s->barrier);
		free(name);
		return;
	}
	if (s->barrier != NULL && strcmp(s->barrier, name) != 0) {
		peer_error(p, m, PS_ERR_CLIENT, "barrier '%s' while others wait at '%s'",
		    name, s->barrier);
		free(name);
		return;
	}
	if (s->barrier == NULL)
		s->barrier = name;
	else
		free(name);
	n->barrier_id = m->hdr.id;
	log_debug("%s at barrier '%s'", node_name(n), s->barrier);
	sched_check_barrier(s);
}

static void
sched_done(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	(void)p;
	if (n->role != PS_ROLE_WORKER || n->state != NODE_ALIVE)
		return;
	n->state = NODE_DONE;
	n->status = (int)msg_uint(m, 0);
	if (n->status != 0)
		s->failed++;
	log_info("%s finished%s", node_name(n), n->status ? " with an error" : "");
	sched_check_barrier(s);
	sched_check_end(s);
}

static void
sched_status(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	struct ps_hdr h = sched_hdr(s, PS_MSG_STATUS_OK, m->hdr.id);
	static const char *states[] = { "alive", "done", "dead" };
	uint32_t i;

	(void)n;
	msg_begin(&s->out, &h, 1);
	msg_put_map(&s->out, 5);
	msg_put_str(&s->out, "epoch");
	msg_put_uint(&s->out, s->map.epoch);
	msg_put_str(&s->out, "servers");
	msg_put_uint(&s->out, (uint64_t)s->conf->num_servers);
	msg_put_str(&s->out, "workers");
	msg_put_uint(&s->out, (uint64_t)s->conf->num_workers);
	msg_put_str(&s->out, "barrier");
	msg_put_str(&s->out, s->barrier ? s->barrier : "");
	msg_put_str(&s->out, "nodes");
	msg_put_array(&s->out, s->nnodes);
	for (i = 0; i < s->nnodes; i++) {
		struct node *x = s->nodes[i];
		msg_put_map(&s->out, 5);
		msg_put_str(&s->out, "id");
		msg_put_uint(&s->out, x->id);
		msg_put_str(&s->out, "role");
		msg_put_str(&s->out, proto_role_name(x->role));
		msg_put_str(&s->out, "rank");
		msg_put_uint(&s->out, x->rank);
		msg_put_str(&s->out, "state");
		msg_put_str(&s->out, states[x->state]);
		msg_put_str(&s->out, "address");
		msg_put_str(&s->out, x->host);
	}
	msg_end(&s->out);
	peer_send(p, &s->out);
}

static const struct handler handlers[] = {
	{ PS_MSG_REGISTER, "usu", 0, sched_register },
	{ PS_MSG_MAP_ACK, "u", 1, sched_map_ack },
	{ PS_MSG_GET_MAP, "", 1, sched_get_map },
	{ PS_MSG_HEARTBEAT, "", 1, sched_heartbeat },
	{ PS_MSG_BARRIER, "s", 1, sched_barrier },
	{ PS_MSG_DONE, "u", 1, sched_done },
	{ PS_MSG_STATUS, "", 0, sched_status },
	{ 0, NULL, 0, NULL },
};

/* A node is gone: by disconnecting or by silence. */
static void
sched_node_lost(struct sched *s, struct node *n, const char *why)
{
	n->peer = NULL;
	if (n->state != NODE_ALIVE)
		return;
	n->state = NODE_DEAD;
	n->barrier_id = 0;
	n->waiting = 0;
	if (n->role == PS_ROLE_CLIENT) {
		log_debug("%s %s", node_name(n), why);
		return;
	}
	if (s->ending && n->role == PS_ROLE_SERVER) {
		log_debug("%s %s", node_name(n), why);
		sched_check_end(s);
		return;
	}
	log_warnx("%s %s", node_name(n), why);
	if (n->role == PS_ROLE_WORKER) {
		s->failed++;
		sched_check_barrier(s);
		sched_check_end(s);
	} else
		log_error("a server is lost: its slots have no replica, so the job "
		    "cannot finish correctly");
}

static void
sched_peer_cb(struct ps_peer *p, struct ps_msg *m, void *arg)
{
	struct sched *s = arg;
	struct node *n = peer_data(p);
	const struct handler *h;
	char *cause;

	if (m == NULL) {
		if (n != NULL)
			sched_node_lost(s, n, "disconnected");
		return;
	}
	if (n != NULL)
		n->last_seen = net_now();
	for (h = handlers; h->fn != NULL; h++) {
		if (h->type != m->hdr.type)
			continue;
		if (msg_check(m, h->fmt, &cause) != 0) {
			peer_error(p, m, PS_ERR_CLIENT, "%s", cause);
			free(cause);
			return;
		}
		if (h->registered && n == NULL) {
			peer_error(p, m, PS_ERR_CLIENT, "%s before REGISTER",
			    proto_type_name(m->hdr.type));
			return;
		}
		h->fn(s, p, n, m);
		return;
	}
	peer_error(p, m, PS_ERR_CLIENT, "unexpected message type %u (%s)", m->hdr.type,
	    proto_type_name(m->hdr.type));
}

static void
sched_quit(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;

	(void)fd;
	(void)what;
	event_base_loopexit(s->base, NULL);
}

/* When every worker is done or dead, stop the servers, then exit once they are gone. */
static void
sched_check_end(struct sched *s)
{
	uint32_t i, finished = 0, servers_alive = 0;
	struct ps_hdr h;
	struct timeval tv = { 5, 0 };

	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->role == PS_ROLE_WORKER && n->state != NODE_ALIVE)
			finished++;
		if (n->role == PS_ROLE_SERVER && n->state == NODE_ALIVE)
			servers_alive++;
	}
	if (!s->ending) {
		if (finished < (uint32_t)s->conf->num_workers)
			return;
		s->ending = 1;
		log_info("all %u workers finished (%d failed); stopping the servers",
		    finished, s->failed);
		for (i = 0; i < s->nnodes; i++) {
			struct node *n = s->nodes[i];
			if (n->role != PS_ROLE_SERVER || n->state != NODE_ALIVE)
				continue;
			h = sched_hdr(s, PS_MSG_SHUTDOWN, 0);
			msg_simple(&s->out, &h);
			peer_send(n->peer, &s->out);
		}
		/* Do not wait forever for a server that ignores SHUTDOWN. */
		event_add(s->quit, &tv);
	}
	if (servers_alive == 0)
		event_base_loopexit(s->base, NULL);
}

static void
sched_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	double now = net_now();
	uint32_t i;
	char why[96];

	(void)fd;
	(void)what;
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		/* A node held at a barrier or waiting for the map is waiting on us. */
		if (n->state != NODE_ALIVE || n->barrier_id != 0 || n->waiting != 0)
			continue;
		/* Clients (ps-worker --predict, ps-bench) are not part of the job. */
		if (n->role == PS_ROLE_CLIENT)
			continue;
		if (now - n->last_seen <= s->conf->heartbeat_timeout)
			continue;
		snprintf(why, sizeof why, "silent for %.1f s: declared dead",
		    now - n->last_seen);
		peer_close(n->peer);
		sched_node_lost(s, n, why);
	}
}

static void
sched_accept(int fd, void *arg)
{
	struct sched *s = arg;

	peer_accept(s->base, fd, s->conf->max_frame, PS_ROLE_SCHEDULER, 0, sched_peer_cb, s);
}

static void
sched_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sched *s = arg;

	(void)what;
	log_info("%s: exiting", strsignal(sig));
	s->failed++;
	event_base_loopexit(s->base, NULL);
}

int
scheduler_run(const struct ps_conf *conf)
{
	struct sched s;
	struct timeval tv;
	char *cause;
	int port = 0, status;
	uint32_t i;

	memset(&s, 0, sizeof s);
	s.conf = conf;
	map_init(&s.map);
	wbuf_init(&s.out);
	signal(SIGPIPE, SIG_IGN);
	if ((s.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	s.listener = peer_listen(s.base, conf->scheduler_host, conf->scheduler_port,
	    sched_accept, &s, &port, &cause);
	if (s.listener == NULL) {
		log_error("%s", cause);
		free(cause);
		event_base_free(s.base);
		return 1;
	}
	log_info("listening on %s:%d for %d servers and %d workers", conf->scheduler_host,
	    port, conf->num_servers, conf->num_workers);
	/* The address is a result: scripts read it to find a scheduler on port 0. */
	printf("ready %s:%d\n", conf->scheduler_host, port);
	fflush(stdout);

	s.tick = event_new(s.base, -1, EV_PERSIST, sched_tick, &s);
	tv.tv_sec = (time_t)conf->heartbeat_interval;
	tv.tv_usec = (suseconds_t)((conf->heartbeat_interval - tv.tv_sec) * 1e6);
	event_add(s.tick, &tv);
	s.quit = evtimer_new(s.base, sched_quit, &s);
	s.sigterm = evsignal_new(s.base, SIGTERM, sched_signal, &s);
	s.sigint = evsignal_new(s.base, SIGINT, sched_signal, &s);
	event_add(s.sigterm, NULL);
	event_add(s.sigint, NULL);

	event_base_dispatch(s.base);

	status = s.failed > 0 ? 1 : 0;
	if (s.ending)
		log_info("job over: %s", status ? "some workers failed" : "every worker succeeded");
	peer_close_all();
	for (i = 0; i < s.nnodes; i++) {
		free(s.nodes[i]->host);
		free(s.nodes[i]);
	}
	free(s.nodes);
	free(s.barrier);
	event_free(s.tick);
	event_free(s.quit);
	event_free(s.sigterm);
	event_free(s.sigint);
	peer_listen_free(s.listener);
	event_base_free(s.base);
	map_free(&s.map);
	wbuf_free(&s.out);
	return status;
}
