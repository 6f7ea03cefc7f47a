/*
 * ps-scheduler: the control plane. It never carries parameters.
 *
 * Servers register first; once cluster.servers of them have, the slots are spread
 * over them (map epoch 1) and the map is sent to each; when every server has
 * acknowledged it, the map is in force and the workers and clients that were waiting
 * get their REGISTER_OK. A server that registers later joins as a spare (no slots).
 * Workers meet at named barriers; a worker that finishes (DONE) or dies leaves the
 * group, so nobody waits for it. When every worker has finished, the servers are told
 * to shut down and the scheduler exits.
 *
 * ps-ctl asks for STATUS and for slot moves (lib/reshard.c carries those out).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/auth.h"
#include "ps/jobconf.h"
#include "ps/log.h"
#include "ps/metrics.h"
#include "ps/net.h"
#include "ps/reshard.h"
#include "ps/sched.h"
#include "ps/snapshot.h"
#include "ps/scheduler.h"
#include "ps/xmalloc.h"

typedef void (*handler_fn)(struct sched *, struct ps_peer *, struct node *,
    struct ps_msg *);

struct handler {
	uint32_t	 type;
	int		 registered;	/* 1: only from a registered node */
	handler_fn	 fn;
};

static void	sched_check_barrier(struct sched *);

/* The longest host name (REGISTER) or barrier name the scheduler keeps: a DNS name
 * is 253 bytes at most. */
#define SCHED_NAME_MAX		255
/*
 * STATUS must fit in net.max_frame, so the node table is bounded by it. A node's row
 * (sched_put_node) is at most 421 bytes: 18 keys (135 bytes), 15 numbers (9 bytes
 * each), role and state (10 bytes each), the address (127 + 2: sched_node_addr cuts
 * it), the map header (3). The rest, the frame's header, the 9 other fields and
 * the barrier's name (SCHED_NAME_MAX), is under 620 bytes.
 */
#define STATUS_ROW_MAX		512
#define STATUS_HEAD_MAX		1024

/* How many nodes STATUS has room for, besides the scheduler's own row. */
static uint32_t
sched_max_nodes(const struct sched *s)
{
	return (uint32_t)(((size_t)s->conf->max_frame - STATUS_HEAD_MAX) /
	    STATUS_ROW_MAX - 1);
}

/* Clients registered now (each has a connection: they are forgotten with it). */
static uint32_t
sched_clients(const struct sched *s)
{
	uint32_t i, n = 0;

	for (i = 0; i < s->nnodes; i++)
		n += s->nodes[i]->role == PS_ROLE_CLIENT;
	return n;
}
static void	sched_fence(struct sched *, struct node *);

const char *
sched_node_name(const struct node *n)
{
	static char buf[64];

	if (n->role == PS_ROLE_WORKER)
		snprintf(buf, sizeof buf, "worker %u (node %u)", n->rank, n->id);
	else
		snprintf(buf, sizeof buf, "%s node %u", proto_role_name(n->role), n->id);
	return buf;
}

struct node *
sched_find(struct sched *s, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < s->nnodes; i++)
		if (s->nodes[i]->id == id)
			return s->nodes[i];
	return NULL;
}

static struct ps_hdr
sched_hdr(struct sched *s, uint32_t type, uint64_t id)
{
	return msg_hdr(type, id, 0, s->map.epoch);
}

static void
sched_put_map(struct sched *s, struct node *n, uint32_t type, uint64_t id)
{
	struct ps_hdr h = sched_hdr(s, type, id);

	if (type == PS_MSG_REGISTER_OK) {
		msg_begin(&s->out, &h, 7);
		msg_put_uint(&s->out, n->id);
		msg_put_uint(&s->out, n->rank);
	} else
		msg_begin(&s->out, &h, 3);
	map_pack(&s->out, &s->map);
	if (type == PS_MSG_REGISTER_OK)
		msg_put_uint(&s->out, (s->conf->state_file[0] != '\0' ?
		    PS_REGISTER_RESUMABLE : 0) | (n->taken_back ? PS_REGISTER_TAKEN_BACK : 0));
	if (type == PS_MSG_REGISTER_OK)
		jobconf_put(&s->out, s->conf, 0);	/* the job's settings, all */
	msg_end(&s->out);
}

static void
sched_send_map(struct sched *s, struct node *n, uint32_t type, uint64_t id)
{
	sched_put_map(s, n, type, id);
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
	if (s->failover_at > 0) {
		s->failovers_done++;
		log_info("failover: the lost server's slots are served again, %.3f s "
		    "after it was lost", net_now() - s->failover_at);
		s->failover_at = 0;
	}
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->waiting == 0 || n->state != NODE_ALIVE)
			continue;
		sched_send_map(s, n, n->waiting_type, n->waiting);
		n->waiting = 0;
		n->last_seen = net_now();
	}
}

static void
sched_map_acked(struct ps_peer *p, struct ps_msg *m, const char *why, void *arg)
{
	struct sched *s = arg;

	if (m == NULL || why != NULL) {
		log_warnx("%s: map not acknowledged: %s", peer_info(p)->name,
		    why ? why : "no reply");
		return;
	}
	if (msg_uint(m, 0) != s->map.epoch || s->map_live)
		return;
	if (++s->acks == s->map.nservers)
		sched_map_live(s);
}

void
sched_publish_map(struct sched *s)
{
	uint32_t i;

	s->acks = 0;
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->role != PS_ROLE_SERVER || n->state != NODE_ALIVE || n->peer == NULL)
			continue;
		sched_put_map(s, n, PS_MSG_MAP, peer_next_id(n->peer));
		peer_call(n->peer, &s->out, 30.0, sched_map_acked, s);
	}
	sched_state_save(s);
}

/* The first map: the slots spread over the servers that registered. */
static void
sched_first_map(struct sched *s)
{
	uint32_t i;

	map_free(&s->map);
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->role == PS_ROLE_SERVER && n->state == NODE_ALIVE)
			map_add_server(&s->map, n->id, n->host, n->port);
	}
	map_spread(&s->map);
	map_chain_backups(&s->map, (uint32_t)s->conf->replicas - 1);
	s->map.epoch = 1;
	s->map_live = 0;
	sched_publish_map(s);
}

/* Workers training now. */
static uint32_t
sched_training(struct sched *s)
{
	uint32_t i, n = 0;

	for (i = 0; i < s->nnodes; i++)
		n += s->nodes[i]->role == PS_ROLE_WORKER && s->nodes[i]->state == NODE_ALIVE;
	return n;
}

/*
 * A node of a resumed job (scheduler.state_file) is back: it asked for the id it had.
 * It keeps its id, rank and place in the map.
 */
static int
sched_take_back(struct sched *s, struct ps_peer *p, struct ps_msg *m, uint32_t role,
    uint32_t *client_id)
{
	const msgpack_object *claim = m->nargs > 3 ? &m->args[3] : NULL;
	struct node *n;

	if (claim == NULL || claim->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    claim->via.u64 == 0 || claim->via.u64 > UINT32_MAX)
		return 0;
	/* Clients are forgotten with their connection (and not kept in the state):
	 * one of the job (its id was given out before) registers again under its
	 * id, which servers know it by. */
	if (role == PS_ROLE_CLIENT && claim->via.u64 <= s->next_id &&
	    sched_find(s, (uint32_t)claim->via.u64) == NULL) {
		*client_id = (uint32_t)claim->via.u64;
		return 0;
	}
	if ((n = sched_find(s, (uint32_t)claim->via.u64)) == NULL ||
	    n->peer != NULL || n->state != NODE_ALIVE || n->role != role)
		return 0;
	n->peer = p;
	if (role != PS_ROLE_CLIENT)
		peer_keep(p);
	n->taken_back = 1;
	n->last_seen = net_now();
	snprintf(n->addr, sizeof n->addr, "%s", strchr(peer_info(p)->name, '@') ?
	    strchr(peer_info(p)->name, '@') + 1 : peer_info(p)->name);
	peer_set_data(p, n);
	log_info("%s is back, from %s", sched_node_name(n), peer_info(p)->name);
	if (s->map_live || role == PS_ROLE_SERVER)
		sched_send_map(s, n, PS_MSG_REGISTER_OK, m->hdr.id);
	else {
		n->waiting = m->hdr.id;
		n->waiting_type = PS_MSG_REGISTER_OK;
	}
	return 1;
}

static void
sched_register(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	uint32_t role = msg_uint(m, 0), client_id = 0;
	uint64_t port = msg_uint(m, 2);
	int spare = 0;
	char *cause;

	if (n != NULL) {
		peer_error(p, m, PS_ERR_STATE, "already registered as node %u", n->id);
		return;
	}
	if (role != peer_info(p)->role) {
		peer_error(p, m, PS_ERR_CLIENT, "cannot register as a %s after HELLO as a %s",
		    proto_role_name(role), proto_role_name(peer_info(p)->role));
		return;
	}
	if (role == PS_ROLE_SERVER && (port == 0 || port > 65535)) {
		peer_error(p, m, PS_ERR_CLIENT, "a server must give its port (got %llu)",
		    (unsigned long long)port);
		return;
	}
	if (m->args[1].via.str.size > SCHED_NAME_MAX) {
		peer_error(p, m, PS_ERR_CLIENT, "a host name of %u bytes: at most %d",
		    m->args[1].via.str.size, SCHED_NAME_MAX);
		return;
	}
	/* The node's own model and optimizer settings, if any, must be the job's. */
	if (m->nargs > 4 && jobconf_check(s->conf, &m->args[4], proto_role_name(role),
	    &cause) != 0) {
		log_warnx("refused a %s from %s: %s", proto_role_name(role),
		    peer_info(p)->name, cause);
		peer_error(p, m, PS_ERR_CLIENT, "%s", cause);
		free(cause);
		return;
	}
	if (sched_take_back(s, p, m, role, &client_id))
		return;
	if (s->nnodes >= sched_max_nodes(s)) {
		peer_error(p, m, PS_ERR_STATE, "the scheduler has %u nodes, as many as "
		    "net.max_frame (STATUS must fit in one frame) allows", s->nnodes);
		return;
	}
	if (role == PS_ROLE_CLIENT &&
	    sched_clients(s) >= (uint32_t)s->conf->max_connections) {
		peer_error(p, m, PS_ERR_STATE, "%u clients are registered, as many as "
		    "net.max_connections allows", sched_clients(s));
		return;
	}
	if (role == PS_ROLE_WORKER && s->workers >= (uint32_t)s->conf->num_workers &&
	    !(s->conf->linger && sched_training(s) < (uint32_t)s->conf->num_workers)) {
		peer_error(p, m, PS_ERR_STATE, "the cluster already has its %d workers",
		    s->conf->num_workers);
		return;
	}
	if (s->ending) {
		peer_error(p, m, PS_ERR_STATE, "the job is ending");
		return;
	}
	/* Past the first cluster.servers, a server joins the running job as a spare. */
	if (role == PS_ROLE_SERVER && s->servers >= (uint32_t)s->conf->num_servers) {
		if (s->map.epoch == 0) {
			peer_error(p, m, PS_ERR_STATE, "the cluster already has its %d "
			    "servers", s->conf->num_servers);
			return;
		}
		spare = 1;
	}

	n = xcalloc(1, sizeof *n);
	n->id = client_id != 0 ? client_id : ++s->next_id;
	n->taken_back = client_id != 0;
	n->role = role;
	n->peer = p;
	n->state = NODE_ALIVE;
	n->since = n->last_seen = net_now();
	n->host = msg_strdup(m, 1);
	n->port = (int)port;
	snprintf(n->addr, sizeof n->addr, "%s", strchr(peer_info(p)->name, '@') ?
	    strchr(peer_info(p)->name, '@') + 1 : peer_info(p)->name);
	if (role == PS_ROLE_SERVER)
		n->rank = s->servers++;
	else if (role == PS_ROLE_WORKER)
		n->rank = s->workers++;
	s->nodes = xreallocarray(s->nodes, s->nnodes + 1, sizeof *s->nodes);
	s->nodes[s->nnodes++] = n;
	peer_set_data(p, n);
	/* Servers and workers beat; a client's registration expires with its
	 * connection after net.idle_timeout of silence (it registers again, under
	 * its id, when it next needs the scheduler). */
	if (role != PS_ROLE_CLIENT)
		peer_keep(p);
	log_info("%s registered from %s%s", sched_node_name(n), peer_info(p)->name,
	    spare ? " as a spare" : "");

	if (spare) {
		map_add_server(&s->map, n->id, n->host, n->port);
		failover_spare(s);
		s->map.epoch++;
		sched_send_map(s, n, PS_MSG_REGISTER_OK, m->hdr.id);
		sched_publish_map(s);
	} else if (role == PS_ROLE_SERVER) {
		/* A server gets its id now and the map when all servers are in. */
		sched_send_map(s, n, PS_MSG_REGISTER_OK, m->hdr.id);
		if (s->servers == (uint32_t)s->conf->num_servers)
			sched_first_map(s);
	} else if (s->map_live)
		sched_send_map(s, n, PS_MSG_REGISTER_OK, m->hdr.id);
	else {
		n->waiting = m->hdr.id;
		n->waiting_type = PS_MSG_REGISTER_OK;
	}
	if (role == PS_ROLE_WORKER)
		sched_check_barrier(s);
	/* (a client's too: the next id must not be given out again after a resume) */
	sched_state_save(s);
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

/* A heartbeat carries the node's figures for ps-ctl status; rates are taken
 * between two heartbeats. */
static void
sched_heartbeat(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	const msgpack_object_map *map = &m->args[0].via.map;
	uint64_t pushes = n->pushes, pulls = n->pulls;
	double now = net_now();
	uint32_t i;

	(void)s;
	(void)p;
	for (i = 0; i < map->size; i++) {
		const msgpack_object *k = &map->ptr[i].key, *v = &map->ptr[i].val;
		uint64_t x;

		if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			continue;
		x = v->via.u64;
#define IS(name) (k->via.str.size == sizeof(name) - 1 && \
	    memcmp(k->via.str.ptr, name, sizeof(name) - 1) == 0)
		if (IS("keys"))
			n->keys = x;
		else if (IS("memory"))
			n->memory = x;
		else if (IS("pushes"))
			pushes = x;
		else if (IS("pulls"))
			pulls = x;
		else if (IS("examples"))
			n->examples = x;
		else if (IS("bytes_in"))
			n->bytes_in = x;
		else if (IS("bytes_out"))
			n->bytes_out = x;
#undef IS
	}
	if (n->beat_at > 0 && now > n->beat_at) {
		n->push_rate = (double)(pushes - n->pushes) / (now - n->beat_at);
		n->pull_rate = (double)(pulls - n->pulls) / (now - n->beat_at);
	}
	n->pushes = pushes;
	n->pulls = pulls;
	n->beat_at = now;
}

/* Release the barrier once every worker has registered and every live one is in it. */
static void
sched_check_barrier(struct sched *s)
{
	uint32_t i, in = 0, alive = 0;
	struct ps_hdr h;

	/* Whatever changed the barrier's group changed the clocks' too. */
	sched_check_clocks(s);
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
		/* Its heartbeats waited with it: its silence starts now. */
		n->last_seen = net_now();
	}
	free(s->barrier);
	s->barrier = NULL;
}

static void
sched_barrier(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	char *name;

	if (m->args[0].via.str.size > SCHED_NAME_MAX) {
		peer_error(p, m, PS_ERR_CLIENT, "a barrier name of %u bytes: at most %d",
		    m->args[0].via.str.size, SCHED_NAME_MAX);
		return;
	}
	name = msg_strdup(m, 0);
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
	log_debug("%s at barrier '%s'", sched_node_name(n), s->barrier);
	sched_check_barrier(s);
}

static void
sched_done(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	(void)p;
	if (n->state != NODE_ALIVE)
		return;
	n->state = NODE_DONE;
	n->barrier_id = 0;	/* it waits for nothing any more */
	n->clock_id = 0;
	n->status = (int)msg_uint(m, 0);
	if (n->status != 0)
		s->failed++;
	log_info("%s finished%s", sched_node_name(n), n->status ? " with an error" : "");
	sched_state_save(s);
	sched_check_barrier(s);
	sched_check_end(s);
}

/* The state ps-ctl shows for a node. */
const char *
sched_state(struct sched *s, const struct node *n, double now)
{
	int i;

	switch (n->state) {
	case NODE_DONE:
		return "done";
	case NODE_DEAD:
		return "dead";
	case NODE_ALIVE:
		break;
	}
	if (n->role == PS_ROLE_SERVER) {
		if (reshard_draining(s, n->id))
			return "draining";
		i = map_find_server(&s->map, n->id);
		/* (one that keeps copies works: it is up) */
		if (s->map.epoch > 0 && (i == -1 || (map_count_slots(&s->map, i) == 0 &&
		    map_count_backups(&s->map, i) == 0)))
			return "spare";
	}
	/* Two heartbeats missed: not dead yet, but worth a look. */
	if (n->role != PS_ROLE_CLIENT && n->role != PS_ROLE_SCHEDULER &&
	    n->waiting == 0 && n->barrier_id == 0 && n->clock_id == 0 &&
	    now - n->last_seen > 2.5 * s->conf->heartbeat_interval)
		return "suspect";
	return "up";
}

void
sched_node_addr(const struct node *n, char *buf, size_t len)
{
	if (n->role == PS_ROLE_SERVER || n->role == PS_ROLE_SCHEDULER)
		snprintf(buf, len, "%s:%d", n->host, n->port);
	else
		snprintf(buf, len, "%s", n->addr);
}

double
sched_heartbeat_age(const struct node *n, double now)
{
	return n->role == PS_ROLE_SCHEDULER ? 0 : now - n->last_seen;
}

uint32_t
sched_node_slots(const struct sched *s, const struct node *n)
{
	int i = n->role == PS_ROLE_SERVER ? map_find_server(&s->map, n->id) : -1;

	return i >= 0 ? map_count_slots(&s->map, (uint32_t)i) : 0;
}

/* Examples trained on by every worker of the job, finished ones included. */
uint64_t
sched_examples(const struct sched *s)
{
	uint64_t sum = 0;
	uint32_t i;

	for (i = 0; i < s->nnodes; i++)
		sum += s->nodes[i]->examples;
	return sum;
}

void
sched_update_self(struct sched *s)
{
	peer_bytes(&s->self.bytes_in, &s->self.bytes_out);
}

static void
sched_put_node(struct sched *s, const struct node *n, double now)
{
	char addr[128];

	sched_node_addr(n, addr, sizeof addr);
	msg_put_map(&s->out, 18);
	msg_put_str(&s->out, "id");		msg_put_uint(&s->out, n->id);
	msg_put_str(&s->out, "role");		msg_put_str(&s->out, proto_role_name(n->role));
	msg_put_str(&s->out, "addr");		msg_put_str(&s->out, addr);
	msg_put_str(&s->out, "state");		msg_put_str(&s->out, sched_state(s, n, now));
	msg_put_str(&s->out, "rank");		msg_put_uint(&s->out, n->rank);
	msg_put_str(&s->out, "uptime");		msg_put_float(&s->out, now - n->since);
	msg_put_str(&s->out, "heartbeat_age");
	msg_put_float(&s->out, sched_heartbeat_age(n, now));
	msg_put_str(&s->out, "slots");		msg_put_uint(&s->out, sched_node_slots(s, n));
	msg_put_str(&s->out, "keys");		msg_put_uint(&s->out, n->keys);
	msg_put_str(&s->out, "memory");		msg_put_uint(&s->out, n->memory);
	msg_put_str(&s->out, "pushes_per_s");	msg_put_float(&s->out, n->push_rate);
	msg_put_str(&s->out, "pulls_per_s");	msg_put_float(&s->out, n->pull_rate);
	msg_put_str(&s->out, "examples");	msg_put_uint(&s->out, n->examples);
	msg_put_str(&s->out, "pushes");		msg_put_uint(&s->out, n->pushes);
	msg_put_str(&s->out, "pulls");		msg_put_uint(&s->out, n->pulls);
	msg_put_str(&s->out, "bytes_in");	msg_put_uint(&s->out, n->bytes_in);
	msg_put_str(&s->out, "bytes_out");	msg_put_uint(&s->out, n->bytes_out);
	msg_put_str(&s->out, "clock");		msg_put_uint(&s->out, n->clock);
}

/* {"completed": N, "failed": M} */
static void
sched_put_events(struct sched *s, const char *name, uint64_t done, uint64_t failed)
{
	msg_put_str(&s->out, name);
	msg_put_map(&s->out, 2);
	msg_put_str(&s->out, "completed");	msg_put_uint(&s->out, done);
	msg_put_str(&s->out, "failed");		msg_put_uint(&s->out, failed);
}

static void
sched_status(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	struct ps_hdr h = sched_hdr(s, PS_MSG_STATUS_OK, m->hdr.id);
	double now = net_now();
	uint32_t i;

	(void)n;
	sched_update_self(s);
	msg_begin(&s->out, &h, 1);
	msg_put_map(&s->out, 11);
	msg_put_str(&s->out, "epoch");
	msg_put_uint(&s->out, s->map.epoch);
	msg_put_str(&s->out, "servers");
	msg_put_uint(&s->out, (uint64_t)s->conf->num_servers);
	msg_put_str(&s->out, "workers");
	msg_put_uint(&s->out, (uint64_t)s->conf->num_workers);
	msg_put_str(&s->out, "barrier");
	msg_put_str(&s->out, s->barrier ? s->barrier : "");
	msg_put_str(&s->out, "resharding");
	msg_put_bool(&s->out, reshard_busy(s));
	msg_put_str(&s->out, "examples");
	msg_put_uint(&s->out, sched_examples(s));
	msg_put_str(&s->out, "consistency");
	msg_put_str(&s->out, s->conf->consistency == PS_BSP ? "bsp" :
	    s->conf->consistency == PS_SSP ? "ssp" : "asp");
	sched_put_events(s, "reshards", s->moves_done, s->moves_failed);
	sched_put_events(s, "checkpoints", s->ckpts_done, s->ckpts_failed);
	sched_put_events(s, "failovers", s->failovers_done, s->failovers_failed);
	msg_put_str(&s->out, "nodes");
	msg_put_array(&s->out, s->nnodes + 1);
	sched_put_node(s, &s->self, now);
	for (i = 0; i < s->nnodes; i++)
		sched_put_node(s, s->nodes[i], now);
	msg_end(&s->out);
	/* Bounded (STATUS_ROW_MAX, sched_max_nodes): this cannot happen. */
	if (s->out.len > (size_t)s->conf->max_frame) {
		wbuf_reset(&s->out);
		peer_error(p, m, PS_ERR_SERVER, "STATUS of %u nodes is over net.max_frame",
		    s->nnodes);
		return;
	}
	peer_send(p, &s->out);
}

/* ps-ctl shutdown: end the job as if every worker had finished. */
static void
sched_stop(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	struct ps_hdr h = sched_hdr(s, PS_MSG_CTL_OK, m->hdr.id);

	(void)n;
	msg_begin(&s->out, &h, 1);
	msg_put_map(&s->out, 1);
	msg_put_str(&s->out, "epoch");
	msg_put_uint(&s->out, s->map.epoch);
	msg_end(&s->out);
	peer_send(p, &s->out);
	log_info("%s: shutdown requested", peer_info(p)->name);
	s->stopping = 1;
	sched_check_end(s);
}

static void
sched_reshard(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	(void)n;
	reshard_request(s, p, m);
}

static void
sched_ckpt_save(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	(void)n;
	snapshot_request(s, p, m);
}

static const struct handler handlers[] = {
	{ PS_MSG_REGISTER, 0, sched_register },
	{ PS_MSG_GET_MAP, 1, sched_get_map },
	{ PS_MSG_HEARTBEAT, 1, sched_heartbeat },
	{ PS_MSG_BARRIER, 1, sched_barrier },
	{ PS_MSG_CLOCK, 1, sched_clock },
	{ PS_MSG_DONE, 1, sched_done },
	{ PS_MSG_STATUS, 0, sched_status },
	{ PS_MSG_STOP, 0, sched_stop },
	{ PS_MSG_RESHARD, 0, sched_reshard },
	{ PS_MSG_REBALANCE, 0, sched_reshard },
	{ PS_MSG_DRAIN, 0, sched_reshard },
	{ PS_MSG_CKPT_SAVE, 0, sched_ckpt_save },
	{ 0, 0, NULL },
};

static void
sched_forget(struct sched *s, struct node *n)
{
	uint32_t i;

	for (i = 0; i < s->nnodes; i++) {
		if (s->nodes[i] == n) {
			memmove(&s->nodes[i], &s->nodes[i + 1],
			    (s->nnodes - i - 1) * sizeof *s->nodes);
			s->nnodes--;
			break;
		}
	}
	free(n->host);
	free(n);
}

/* A node is gone: by disconnecting or by silence. */
static void
sched_node_lost(struct sched *s, struct node *n, const char *why)
{
	int i, r = -1;

	n->peer = NULL;
	if (n->state != NODE_ALIVE) {
		if (n->role == PS_ROLE_CLIENT)
			sched_forget(s, n);
		return;
	}
	n->barrier_id = 0;
	n->waiting = 0;
	n->clock_id = 0;
	if (n->role == PS_ROLE_CLIENT) {
		log_debug("%s %s", sched_node_name(n), why);
		sched_forget(s, n);
		return;
	}
	if (n->role == PS_ROLE_SERVER && s->ending) {
		log_debug("%s %s", sched_node_name(n), why);
		n->state = NODE_DEAD;
		sched_check_end(s);
		return;
	}
	i = n->role == PS_ROLE_SERVER ? map_find_server(&s->map, n->id) : -1;
	if (n->role == PS_ROLE_SERVER && s->map.epoch > 0 && !reshard_involves(s, n->id) &&
	    (i == -1 || (map_count_slots(&s->map, i) == 0 &&
	    map_count_backups(&s->map, i) == 0))) {
		/* A spare or drained server held nothing: nothing is lost. */
		log_info("%s left (it held no slots)", sched_node_name(n));
		sched_forget(s, n);
		if (i >= 0) {
			map_remove_server(&s->map, i);
			s->map.epoch++;
			sched_publish_map(s);
		}
		return;
	}
	n->state = NODE_DEAD;
	log_warnx("%s %s", sched_node_name(n), why);
	if (n->role == PS_ROLE_WORKER) {
		s->failed++;
		sched_state_save(s);
		sched_fence(s, n);
		sched_check_barrier(s);
		sched_check_end(s);
		return;
	}
	if (s->map.epoch > 0 && (r = failover_server(s, n, i)) == 0) {
		sched_check_end(s);
		return;
	}
	if (r == -1 && s->map.epoch > 0 && !s->ending && !s->stopping &&
	    failover_restore(s, n, i) == 0)
		return;
	/*
	 * Its slots have no replica: the workers that need them would wait for it
	 * forever, and the model is not whole any more. End the job, failed, and say
	 * why once; the other servers are told to stop.
	 */
	if (r == -2)
		;	/* said by failover_server */
	else if (i >= 0)
		log_error("a server is lost: %s at %s:%d held %u slots, which have no "
		    "replica; ending the job", sched_node_name(n),
		    n->host != NULL ? n->host : "?", n->port, map_count_slots(&s->map, i));
	else
		log_error("a server is lost: %s, before the map was made; ending the job",
		    sched_node_name(n));
	s->failed++;
	s->failovers_failed++;
	s->lost_server = 1;
	s->stopping = 1;
	sched_check_end(s);
}

/*
 * A worker declared dead may be alive (stopped, cut off) and push again later,
 * after its updates were counted as lost: every server refuses it from now on.
 */
static void
sched_fence(struct sched *s, struct node *n)
{
	struct ps_hdr h;
	uint32_t i;

	for (i = 0; i < s->nnodes; i++) {
		if (s->nodes[i]->role != PS_ROLE_SERVER || s->nodes[i]->state != NODE_ALIVE ||
		    s->nodes[i]->peer == NULL)
			continue;
		h = sched_hdr(s, PS_MSG_FENCE, 0);
		msg_begin(&s->out, &h, 1);
		msg_put_uint(&s->out, n->id);
		msg_end(&s->out);
		peer_send(s->nodes[i]->peer, &s->out);
	}
	log_info("%s fenced: the servers refuse its requests", sched_node_name(n));
}

static void
sched_peer_cb(struct ps_peer *p, struct ps_msg *m, void *arg)
{
	struct sched *s = arg;
	struct node *n = peer_data(p);
	const struct handler *h;

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
		if (h->registered && n == NULL) {
			peer_error(p, m, PS_ERR_CLIENT, "%s before REGISTER",
			    proto_type_name(m->hdr.type));
			return;
		}
		h->fn(s, p, n, m);
		return;
	}
	peer_error(p, m, PS_ERR_CLIENT, "the scheduler does not take %s",
	    proto_type_name(m->hdr.type));
}

static void
sched_quit(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;

	(void)fd;
	(void)what;
	proc_exit(&s->proc);
}

/* When every worker is done or dead (or ps-ctl said so), stop the servers, then
 * exit once they are gone. */
void
sched_check_end(struct sched *s)
{
	uint32_t i, finished = 0, servers_alive = 0;
	struct ps_hdr h;

	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->role == PS_ROLE_WORKER && n->state != NODE_ALIVE)
			finished++;
		if (n->role == PS_ROLE_SERVER && n->state == NODE_ALIVE)
			servers_alive++;
	}
	if (!s->ending) {
		if (finished < (uint32_t)s->conf->num_workers && !s->stopping)
			return;
		/* cluster.linger: the model stays up for clients and new workers. */
		if (s->conf->linger && !s->stopping) {
			if (sched_training(s) == 0 && !s->lingering)
				log_info("all workers finished (%d failed); serving on "
				    "(cluster.linger): ps-ctl shutdown ends the job",
				    s->failed);
			s->lingering = sched_training(s) == 0;
			return;
		}
		s->ending = 1;
		if (s->stopping)
			log_info("stopping the servers (%s)", s->lost_server ?
			    "a server was lost" : "shutdown requested");
		else
			log_info("all %u workers finished (%d failed); stopping the servers",
			    finished, s->failed);
		for (i = 0; i < s->nnodes; i++) {
			struct node *n = s->nodes[i];
			if (n->role != PS_ROLE_SERVER || n->state != NODE_ALIVE ||
			    n->peer == NULL)
				continue;
			h = sched_hdr(s, PS_MSG_SHUTDOWN, 0);
			msg_simple(&s->out, &h);
			peer_send(n->peer, &s->out);
		}
		/* Do not wait forever for a server that ignores SHUTDOWN. */
		proc_timer_start(s->quit, 5.0);
	}
	if (servers_alive == 0)
		proc_exit(&s->proc);
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
		/* A node held at a barrier or a clock, or waiting for the map, is
		 * waiting on us. */
		if (n->state != NODE_ALIVE || n->barrier_id != 0 || n->clock_id != 0 ||
		    n->waiting != 0)
			continue;
		/* Clients (ps-worker --predict, ps-bench) are not part of the job. */
		if (n->role == PS_ROLE_CLIENT)
			continue;
		if (now - n->last_seen <= s->conf->heartbeat_timeout)
			continue;
		if (n->peer == NULL)
			snprintf(why, sizeof why, "did not come back to the resumed job "
			    "within %.1f s: declared dead", now - n->last_seen);
		else
			snprintf(why, sizeof why, "silent for %.1f s: declared dead",
			    now - n->last_seen);
		if (n->peer != NULL)
			peer_close(n->peer);
		sched_node_lost(s, n, why);
		i = (uint32_t)-1;	/* the list may have changed */
	}
}

static void
sched_accept(int fd, void *arg)
{
	struct sched *s = arg;

	peer_accept(s->proc.base, fd, s->conf->max_frame, sched_peer_cb, s);
}

static void
sched_signal(int sig, void *arg)
{
	struct sched *s = arg;

	if (sig == SIGCHLD)
		return;
	if (sig == SIGHUP) {
		log_info("SIGHUP: ignored (a daemon outlives its terminal)");
		return;
	}
	/* The first TERM or INT ends the job as ps-ctl shutdown does: the servers are
	 * told, so none is left serving that nobody can reach; a second one exits now.
	 * Workers still training lose the scheduler and fail. */
	if (s->ending) {
		log_info("%s: exiting now", proc_signame(sig));
		proc_exit(&s->proc);
		return;
	}
	log_info("%s: ending the job", proc_signame(sig));
	s->stopping = 1;
	sched_check_end(s);
}

/* The job's last line: what became of its workers. */
static void
sched_summary(struct sched *s)
{
	uint32_t i, done = 0, training = 0;

	for (i = 0; i < s->nnodes; i++) {
		if (s->nodes[i]->role != PS_ROLE_WORKER)
			continue;
		if (s->nodes[i]->state == NODE_DONE && s->nodes[i]->status == 0)
			done++;
		else if (s->nodes[i]->state == NODE_ALIVE)
			training++;
	}
	if (s->failed == 0 && training == 0 && done >= (uint32_t)s->conf->num_workers)
		log_info("job over: every worker succeeded");
	else
		log_info("job over: %u of %d workers finished, %d failed, %u still training",
		    done, s->conf->num_workers, s->failed, training);
}

int
scheduler_run(const struct ps_conf *conf)
{
	struct sched s;
	const char *host;
	char *cause;
	int port = 0, status = 1;
	uint32_t i;

	memset(&s, 0, sizeof s);
	s.conf = conf;
	map_init(&s.map);
	wbuf_init(&s.out);
	proc_init(&s.proc, sched_signal, &s);
	if (sched_state_load(&s, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		goto out;
	}
	peer_set_self(PS_ROLE_SCHEDULER, 0, "ps-scheduler");
	peer_set_limits(conf->max_connections, conf->handshake_timeout,
	    conf->frame_timeout, conf->idle_timeout);
	host = auth_listen_host(conf->scheduler_host, "scheduler.host");
	s.listener = peer_listen(s.proc.base, host, conf->scheduler_port,
	    sched_accept, &s, &port, &cause);
	if (s.listener == NULL) {
		log_error("%s", cause);
		free(cause);
		goto out;
	}
	s.self.role = PS_ROLE_SCHEDULER;
	s.self.state = NODE_ALIVE;
	s.self.host = xstrdup(host);
	s.self.port = port;
	s.self.since = s.self.last_seen = net_now();
	log_info("listening on %s:%d for %d servers and %d workers%s", host,
	    port, conf->num_servers, conf->num_workers,
	    auth_enabled() ? "; every connection proves net.secret_file" : "");
	if ((uint64_t)conf->num_servers + (uint64_t)conf->num_workers > sched_max_nodes(&s))
		log_warnx("net.max_frame (%lld bytes) leaves room for %u nodes in STATUS, "
		    "fewer than cluster.servers and cluster.workers: raise it",
		    (long long)conf->max_frame, sched_max_nodes(&s));
	if (conf->metrics_port != 0 &&
	    (s.metrics = metrics_start(&s, &cause)) == NULL) {
		log_error("%s", cause);
		free(cause);
		goto out;
	}
	/* The address is a result: scripts read it to find a scheduler on port 0. */
	printf("ready %s:%d\n", host, port);
	fflush(stdout);

	s.tick = proc_timer(&s.proc, conf->heartbeat_interval, 1, sched_tick, &s);
	s.quit = proc_timer(&s.proc, 0, 0, sched_quit, &s);

	proc_loop(&s.proc);

	status = s.failed > 0 ? 1 : 0;
	if (s.ending) {
		sched_summary(&s);
		sched_state_remove(&s);
	}
out:
	metrics_free(s.metrics);
	reshard_free(&s);
	snapshot_free(&s);
	peer_close_all();
	for (i = 0; i < s.nnodes; i++) {
		free(s.nodes[i]->host);
		free(s.nodes[i]);
	}
	free(s.nodes);
	free(s.self.host);
	free(s.barrier);
	free(s.last_ckpt);
	failover_free(&s);
	if (s.tick != NULL)
		event_free(s.tick);
	if (s.quit != NULL)
		event_free(s.quit);
	if (s.listener != NULL)
		peer_listen_free(s.listener);
	proc_free(&s.proc);
	map_free(&s.map);
	wbuf_free(&s.out);
	return status;
}
