/*
 * The scheduler's state file (scheduler.state_file): what a scheduler started again
 * after a crash needs to take the job over: the map, the node table and the counts.
 * It is one frame of the wire format, read back through the same validator as a
 * peer's frames, and replaced atomically (ps/file.h) whenever any of it changes:
 * registrations, the map, a node finishing or lost. A job that ends removes it, so
 * that the next job with the same file starts afresh.
 *
 * The nodes of a resumed job have net.heartbeat_timeout to come back (they
 * reconnect with backoff and REGISTER with the node id they had); one that does not
 * is declared lost, as if it had gone silent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/file.h"
#include "ps/log.h"
#include "ps/net.h"
#include "ps/sched.h"
#include "ps/xmalloc.h"

#define STATE_MAGIC	"ps-scheduler state"
/* Arguments: magic, next id, servers, workers, failed, the map, the nodes. */
#define STATE_FMT	"suuuu" PS_MAP_FMT "a"
#define STATE_NODE_FIELDS	8	/* id, role, rank, host, port, state, status,
					 * drained */
/* A state larger than this is not one this scheduler wrote. */
#define STATE_MAX	((size_t)256 << 20)

void
sched_state_save(struct sched *s)
{
	struct ps_hdr h = msg_hdr(0, 0, 0, s->map.epoch);
	struct ps_wbuf w;
	uint32_t i, n = 0;
	char *cause;

	if (s->conf->state_file[0] == '\0' || s->ending)
		return;
	for (i = 0; i < s->nnodes; i++)
		n += s->nodes[i]->role != PS_ROLE_CLIENT;
	wbuf_init(&w);
	msg_begin(&w, &h, 9);
	msg_put_str(&w, STATE_MAGIC);
	msg_put_uint(&w, s->next_id);
	msg_put_uint(&w, s->servers);
	msg_put_uint(&w, s->workers);
	msg_put_uint(&w, (uint64_t)s->failed);
	map_pack(&w, &s->map);
	/* Clients come and go with their connection: not kept. */
	msg_put_array(&w, n);
	for (i = 0; i < s->nnodes; i++) {
		const struct node *nd = s->nodes[i];

		if (nd->role == PS_ROLE_CLIENT)
			continue;
		msg_put_array(&w, STATE_NODE_FIELDS);
		msg_put_uint(&w, nd->id);
		msg_put_uint(&w, nd->role);
		msg_put_uint(&w, nd->rank);
		msg_put_str(&w, nd->host != NULL ? nd->host : "");
		msg_put_uint(&w, (uint64_t)nd->port);
		msg_put_uint(&w, nd->state);
		msg_put_uint(&w, (uint64_t)nd->status);
		msg_put_uint(&w, (uint64_t)nd->drained);
	}
	msg_end(&w);
	/* The frame without its length: the file's size says it. */
	if (file_replace(s->conf->state_file, w.data + 4, w.len - 4, &cause) != 0) {
		log_warnx("scheduler.state_file: %s: a crash now would lose the job", cause);
		free(cause);
	}
	wbuf_free(&w);
}

void
sched_state_remove(struct sched *s)
{
	if (s->conf->state_file[0] == '\0')
		return;
	if (unlink(s->conf->state_file) != 0 && errno != ENOENT)
		log_warnx("scheduler.state_file %s: cannot remove it: %s",
		    s->conf->state_file, strerror(errno));
}

/* Node i of the list, checked; NULL and cause if it is not one. */
static struct node *
state_node(const msgpack_object *o, uint32_t i, char **cause)
{
	const msgpack_object *f;
	struct node *n;
	uint32_t k;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != STATE_NODE_FIELDS) {
		xasprintf(cause, "node %u is not an array of %d fields", i,
		    STATE_NODE_FIELDS);
		return NULL;
	}
	f = o->via.array.ptr;
	for (k = 0; k < STATE_NODE_FIELDS; k++) {
		if (k == 3 ? f[k].type != MSGPACK_OBJECT_STR :
		    f[k].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			xasprintf(cause, "node %u: field %u has the wrong type", i, k + 1);
			return NULL;
		}
	}
	if (f[0].via.u64 == 0 || f[0].via.u64 > UINT32_MAX ||
	    f[1].via.u64 == PS_ROLE_SCHEDULER || f[1].via.u64 >= PS_NROLES ||
	    f[2].via.u64 > UINT32_MAX || f[4].via.u64 > 65535 ||
	    f[5].via.u64 > NODE_DEAD || f[6].via.u64 > 255 || f[7].via.u64 > 1 ||
	    f[3].via.str.size > 255) {
		xasprintf(cause, "node %u: a field is out of range", i);
		return NULL;
	}
	n = xcalloc(1, sizeof *n);
	n->id = (uint32_t)f[0].via.u64;
	n->role = (uint32_t)f[1].via.u64;
	n->rank = (uint32_t)f[2].via.u64;
	n->host = xstrndup(f[3].via.str.ptr, f[3].via.str.size);
	n->port = (int)f[4].via.u64;
	n->state = (enum node_state)f[5].via.u64;
	n->status = (int)f[6].via.u64;
	n->drained = (int)f[7].via.u64;
	snprintf(n->addr, sizeof n->addr, "(not back yet)");
	return n;
}

int
sched_state_load(struct sched *s, char **cause)
{
	const char *path = s->conf->state_file;
	const msgpack_object *list;
	struct ps_msg m;
	struct ps_map map;
	struct node **nodes = NULL;
	char *data, *why = NULL;
	size_t len;
	uint32_t i, n = 0, alive = 0, done = 0;
	double now = net_now();

	if (path[0] == '\0')
		return 0;
	if ((data = file_read(path, STATE_MAX, &len, &why)) == NULL) {
		if (errno == ENOENT) {
			free(why);
			log_info("scheduler.state_file %s: none yet, a new job", path);
			return 0;
		}
		xasprintf(cause, "scheduler.state_file %s", why);
		free(why);
		return -1;
	}
	map_init(&map);
	if (msg_decode(&m, data, len, &why) != 0) {
		xasprintf(cause, "scheduler.state_file %s: %s", path, why);
		free(why);
		free(data);
		return -1;
	}
	if (msg_check(&m, STATE_FMT, &why) != 0 || m.args[0].via.str.size !=
	    strlen(STATE_MAGIC) || memcmp(m.args[0].via.str.ptr, STATE_MAGIC,
	    strlen(STATE_MAGIC)) != 0) {
		xasprintf(cause, "scheduler.state_file %s: not a scheduler's state%s%s",
		    path, why != NULL ? ": " : "", why != NULL ? why : "");
		goto fail;
	}
	if (m.hdr.version != PS_PROTOCOL_VERSION) {
		xasprintf(cause, "scheduler.state_file %s: written by protocol version %u, "
		    "this scheduler speaks %d", path, m.hdr.version, PS_PROTOCOL_VERSION);
		goto fail;
	}
	if (map_unpack(&map, &m, 5, &why) != 0) {
		xasprintf(cause, "scheduler.state_file %s: %s", path, why);
		goto fail;
	}
	list = &m.args[8];
	nodes = xcalloc(list->via.array.size + 1, sizeof *nodes);
	for (n = 0; n < list->via.array.size; n++) {
		if ((nodes[n] = state_node(&list->via.array.ptr[n], n, &why)) == NULL) {
			xasprintf(cause, "scheduler.state_file %s: %s", path, why);
			goto fail;
		}
	}
	for (i = 0; i < n; i++) {
		nodes[i]->since = nodes[i]->last_seen = now;
		alive += nodes[i]->state == NODE_ALIVE;
		done += nodes[i]->role == PS_ROLE_WORKER && nodes[i]->state == NODE_DONE;
	}
	s->next_id = (uint32_t)msg_uint(&m, 1);
	s->servers = (uint32_t)msg_uint(&m, 2);
	s->workers = (uint32_t)msg_uint(&m, 3);
	s->failed = (int)msg_uint(&m, 4);
	map_free(&s->map);
	s->map = map;
	s->map_live = s->map.epoch > 0;
	s->resumed = 1;
	s->nodes = nodes;
	s->nnodes = n;
	log_info("resuming the job of %s: map epoch %llu, %u servers, %u nodes to "
	    "come back within %.0f s (net.heartbeat_timeout), %u workers done", path,
	    (unsigned long long)s->map.epoch, s->map.nservers, alive,
	    s->conf->heartbeat_timeout, done);
	msg_free(&m);
	free(data);
	return 0;
fail:
	free(why);
	for (i = 0; i < n; i++) {
		free(nodes[i]->host);
		free(nodes[i]);
	}
	free(nodes);
	map_free(&map);
	msg_free(&m);
	free(data);
	return -1;
}
