/*
 * The client side of the data plane. A pull or push splits the sorted keys by owning
 * server in one pass (each server's run stays sorted), sends every server its share
 * (in chunks that fit net.max_frame) before reading any reply, so the servers work
 * at the same time, then reads the replies in order. Keys refused with MOVED are
 * retried, alone, after the map is fetched again: nothing is applied twice.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ps/client.h"
#include "ps/jobconf.h"
#include "ps/log.h"
#include "ps/net.h"
#include "ps/xmalloc.h"

#define CLIENT_RETRIES		50
/* Frames of a few megabytes, a few in flight per server: the client packs the next
 * while the wire and the server work on the last, and nobody buffers a whole call. */
#define CLIENT_CHUNK_BYTES	((size_t)4 << 20)
#define CLIENT_WINDOW		4
/* Retries of a connection to a server (0.1 s doubling: 6.3 s in all): one that is
 * gone for good (stopped after a drain) is not waited for long. */
#define SERVER_RETRIES	6

/* What client_rpc does: the op is passed as `push`, which is non-zero when values
 * go with the keys. */
#define OP_PULL		0
#define OP_PUSH		1	/* gradients, dim floats per key */
#define OP_LOAD		2	/* whole states, c->fpk floats per key */

static const uint32_t op_request[] = { PS_MSG_PULL, PS_MSG_PUSH, PS_MSG_LOAD };
static const uint32_t op_reply[] = { PS_MSG_PULL_OK, PS_MSG_PUSH_OK, PS_MSG_LOAD_OK };

static struct ps_hdr
client_hdr(struct ps_client *c, uint32_t type)
{
	return msg_hdr(type, ++c->next_id, c->id, c->map.epoch);
}

/* The time conn_open's retries take. */
static double
client_backoff_total(int retries)
{
	double total = 0;
	int i;

	for (i = 0; i < retries; i++)
		total += conn_retry_delay(i);
	return total;
}

/* REGISTER (as node id, if not 0: a scheduler resumed from its state file takes the
 * node back) on c->sched; the REGISTER_OK in m. */
static int
client_register(struct ps_client *c, struct ps_wbuf *w, uint32_t id, struct ps_msg *m,
    char **cause)
{
	struct ps_hdr h = msg_hdr(PS_MSG_REGISTER, 1, 0, 0);

	msg_begin(w, &h, 5);
	msg_put_uint(w, c->role);
	msg_put_str(w, "");
	msg_put_uint(w, 0);
	msg_put_uint(w, id);
	jobconf_put(w, c->conf, 1);	/* what this node was given, to be checked */
	msg_end(w);
	/* The scheduler answers once every server has joined. */
	return conn_call(&c->sched, w, m, PS_MSG_REGISTER_OK, cause);
}

/* Connect to the scheduler again (retries with backoff) and REGISTER as this node; its
 * REGISTER_OK in m. */
static int
client_sched_reopen(struct ps_client *c, struct ps_wbuf *w, int retries,
    struct ps_msg *m, char **cause)
{
	conn_close(&c->sched);
	if (conn_open(&c->sched, c->conf->scheduler_host, c->conf->scheduler_port,
	    c->role, c->id, c->progname, c->conf->max_frame, retries, cause) != 0)
		return -1;
	if (client_register(c, w, c->id, m, cause) != 0) {
		conn_close(&c->sched);
		return -1;
	}
	return 0;
}

/*
 * The scheduler's connection failed (sched_lock held). A scheduler that keeps a
 * state file (PS_REGISTER_RESUMABLE) may be started again and take the job over:
 * connect again, as this node, trying retries more times with backoff. Without one,
 * or once the main thread's tries failed, the loss is final: *cause is why.
 */
static int
client_sched_again(struct ps_client *c, struct ps_wbuf *w, const char *why,
    int retries, char **cause)
{
	struct ps_msg m;

	/* (the connection is left as it is: DONE may still go out on it) */
	if (!c->resumable || c->sched_gone || (c->stop != NULL && *c->stop)) {
		*cause = xstrdup(why);
		return -1;
	}
	if (client_sched_reopen(c, w, retries, &m, cause) != 0) {
		if (retries > 0)
			c->sched_gone = 1;
		return -1;
	}
	if (!(msg_uint(&m, 5) & PS_REGISTER_TAKEN_BACK)) {
		xasprintf(cause, "the scheduler did not take node %u back (it declared it "
		    "lost, or it does not know this job)", c->id);
		msg_free(&m);
		conn_close(&c->sched);
		c->sched_gone = 1;
		return -1;
	}
	msg_free(&m);
	log_info("the scheduler took node %u back", c->id);
	return 0;
}

/*
 * A client (not a worker: no heartbeats) says nothing to the scheduler between calls,
 * and the scheduler forgets it after net.idle_timeout: if the connection has
 * something to read (an ERROR, an end), register again, under the same id, first.
 */
static int
client_sched_fresh(struct ps_client *c, struct ps_wbuf *w, char **cause)
{
	struct pollfd pfd = { .fd = c->sched.fd, .events = POLLIN };
	struct ps_msg m;

	if (c->role != PS_ROLE_CLIENT || c->sched.fd == -1 || poll(&pfd, 1, 0) <= 0)
		return 0;
	log_debug("the scheduler closed this client's connection (idle): registering "
	    "again as node %u", c->id);
	if (client_sched_reopen(c, w, c->conf->connect_retries, &m, cause) != 0)
		return -1;
	if (!(msg_uint(&m, 5) & PS_REGISTER_TAKEN_BACK))
		log_warnx("the scheduler gave this client a new id, %u (it was node %u)",
		    (uint32_t)msg_uint(&m, 0), c->id);
	c->id = (uint32_t)msg_uint(&m, 0);
	msg_free(&m);
	return 0;
}

/*
 * A frame to the scheduler, and its answer (want) when want is not 0. The lock is
 * held throughout: the heartbeat thread writes too, and connects again if the
 * scheduler is lost; so does this, once, and sends the frame again.
 */
static int
client_sched_io(struct ps_client *c, struct ps_wbuf *w, struct ps_msg *m,
    uint32_t want, char **cause)
{
	char *frame = xmalloc(w->len ? w->len : 1), *why;
	size_t len = w->len;
	int r, again = 0;

	memcpy(frame, w->data, len);
	pthread_mutex_lock(&c->sched_lock);
	if (client_sched_fresh(c, &c->rw, cause) != 0) {
		pthread_mutex_unlock(&c->sched_lock);
		free(frame);
		return -1;
	}
	for (;;) {
		if ((r = conn_send(&c->sched, w, cause)) == 0 && want != 0)
			r = conn_recv(&c->sched, m, cause);
		if (r == 0 || again++)
			break;
		why = *cause;
		*cause = NULL;
		if (c->resumable && !c->sched_gone && (c->stop == NULL || !*c->stop))
			log_warnx("lost the scheduler (%s); connecting again", why);
		r = client_sched_again(c, w, why, c->conf->connect_retries, cause);
		free(why);
		if (r != 0)
			break;
		/* the frame again, as it was */
		wbuf_reset(w);
		wbuf_reserve(w, len);
		memcpy(w->data, frame, len);
		w->len = len;
	}
	pthread_mutex_unlock(&c->sched_lock);
	free(frame);
	if (r != 0 || want == 0)
		return r;
	return conn_check_reply(&c->sched, m, want, cause);
}

static int
client_sched_send(struct ps_client *c, struct ps_wbuf *w, char **cause)
{
	return client_sched_io(c, w, NULL, 0, cause);
}

static int
client_sched_call(struct ps_client *c, struct ps_wbuf *w, struct ps_msg *m,
    uint32_t want, char **cause)
{
	return client_sched_io(c, w, m, want, cause);
}

/* A heartbeat, with the figures ps-ctl status shows. */
static void
client_put_beat(struct ps_client *c, struct ps_wbuf *w)
{
	struct ps_hdr h = msg_hdr(PS_MSG_HEARTBEAT, 0, c->id, atomic_load(&c->epoch));
	uint64_t in, out;

	conn_bytes(&in, &out);
	msg_begin(w, &h, 1);
	msg_put_map(w, 3);
	msg_put_str(w, "examples");
	msg_put_uint(w, atomic_load(&c->examples));
	msg_put_str(w, "bytes_in");
	msg_put_uint(w, in);
	msg_put_str(w, "bytes_out");
	msg_put_uint(w, out);
	msg_end(w);
}

static void *
client_beat(void *arg)
{
	struct ps_client *c = arg;
	struct ps_wbuf w;
	struct timespec until;
	double secs = c->conf->heartbeat_interval;
	char *cause;
	double lost_at = 0;

	wbuf_init(&w);
	pthread_mutex_lock(&c->sched_lock);
	clock_gettime(CLOCK_MONOTONIC, &until);
	while (!c->beat_stop) {
		/* Beats every interval from the last deadline, on the monotonic clock:
		 * a change of the wall clock neither stops nor floods them. */
		until.tv_sec += (time_t)secs;
		until.tv_nsec += (long)((secs - floor(secs)) * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!c->beat_stop && pthread_cond_timedwait(&c->beat_cond,
		    &c->sched_lock, &until) != ETIMEDOUT)
			;
		if (c->beat_stop)
			break;
		/* Lost, with a scheduler that may come back: one try a beat, so
		 * that client_close never waits long for this thread. */
		if (c->sched.fd == -1) {
			if (client_sched_again(c, &w, "lost", 0, &cause) != 0) {
				/* as long as a server would try (conn_open) */
				if (c->sched_gone || net_now() - lost_at >
				    client_backoff_total(c->conf->connect_retries)) {
					log_warnx("heartbeat: the scheduler is gone: %s",
					    cause);
					free(cause);
					break;
				}
				free(cause);
				continue;
			}
		}
		client_put_beat(c, &w);
		if (conn_send(&c->sched, &w, &cause) != 0) {
			if (!c->resumable) {
				/* The main thread finds out on its next call. */
				log_debug("heartbeat: %s", cause);
				free(cause);
				break;
			}
			log_warnx("lost the scheduler (%s); connecting again", cause);
			free(cause);
			conn_close(&c->sched);
			lost_at = net_now();
		}
	}
	pthread_mutex_unlock(&c->sched_lock);
	wbuf_free(&w);
	return NULL;
}

void
client_add_examples(struct ps_client *c, uint64_t n)
{
	atomic_fetch_add(&c->examples, n);
}

static void
client_disconnect_servers(struct ps_client *c)
{
	uint32_t i;

	if (c->servers == NULL)
		return;
	for (i = 0; i < c->map.nservers; i++)
		conn_close(&c->servers[i]);
	free(c->servers);
	c->servers = NULL;
	free(c->count);
	free(c->first);
	free(c->acked);
	free(c->nsent);
	free(c->sent_id);
	free(c->down);
	c->count = c->first = c->acked = c->nsent = NULL;
	c->sent_id = NULL;
	c->down = NULL;
}

/* Room for one connection (and its bookkeeping) per server of the map; a new one is
 * not connected until it is first needed. */
static void
client_grow_servers(struct ps_client *c, uint32_t from)
{
	uint32_t i, n = c->map.nservers ? c->map.nservers : 1;

	c->servers = xreallocarray(c->servers, n, sizeof *c->servers);
	c->count = xreallocarray(c->count, n, sizeof *c->count);
	c->first = xreallocarray(c->first, n, sizeof *c->first);
	c->acked = xreallocarray(c->acked, n, sizeof *c->acked);
	c->nsent = xreallocarray(c->nsent, n, sizeof *c->nsent);
	c->sent_id = xreallocarray(c->sent_id, n, CLIENT_WINDOW * sizeof *c->sent_id);
	c->down = xreallocarray(c->down, n, sizeof *c->down);
	for (i = from; i < c->map.nservers; i++) {
		memset(&c->servers[i], 0, sizeof c->servers[i]);
		c->servers[i].fd = -1;
		c->count[i] = c->first[i] = c->acked[i] = c->nsent[i] = 0;
		c->down[i] = 0;
	}
}

/* How long a reply is waited for before the scheduler is asked whether its server is
 * still in the map: a frozen server is declared dead after net.heartbeat_timeout, and
 * with replicas its slots are served elsewhere long before net.request_timeout. */
static double
client_probe_secs(const struct ps_client *c)
{
	double t = c->conf->heartbeat_timeout + 1;

	return t < c->conf->request_timeout ? t : c->conf->request_timeout;
}

/* The connection to server i, opened now if it is not yet. */
static struct ps_conn *
client_server(struct ps_client *c, uint32_t i, char **cause)
{
	const struct ps_node *s = &c->map.servers[i];

	if (c->servers[i].fd == -1) {
		if (conn_open(&c->servers[i], s->host, s->port, c->role, c->id,
		    c->progname, c->conf->max_frame, SERVER_RETRIES, cause) != 0) {
			char *why = *cause;

			xasprintf(cause, "server node %u: %s", s->id, why);
			free(why);
			c->servers[i].fd = -1;
			return NULL;
		}
		/* A server that stops answering (frozen, cut off) must not hold
		 * the client for ever; and every error names it by id too. */
		conn_set_timeout(&c->servers[i], c->conf->request_timeout);
		conn_set_recv_timeout(&c->servers[i], client_probe_secs(c));
		snprintf(c->servers[i].name, sizeof c->servers[i].name,
		    "server node %u at %.48s:%d", s->id, s->host, s->port);
	}
	return &c->servers[i];
}

int
client_open(struct ps_client *c, const struct ps_conf *conf, uint32_t role,
    const char *progname, char **cause)
{
	struct ps_msg m;
	pthread_condattr_t cattr;

	memset(c, 0, sizeof *c);
	c->conf = conf;
	c->progname = progname;
	c->role = role;
	map_init(&c->map);
	wbuf_init(&c->w);
	wbuf_init(&c->rw);
	pthread_mutex_init(&c->sched_lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->beat_cond, &cattr);
	pthread_condattr_destroy(&cattr);
	if (conn_open(&c->sched, conf->scheduler_host, conf->scheduler_port, role, 0,
	    progname, conf->max_frame, conf->connect_retries, cause) != 0)
		return -1;

	if (client_register(c, &c->w, 0, &m, cause) != 0)
		goto fail;
	if (map_unpack(&c->map, &m, 2, cause) != 0) {
		msg_free(&m);
		goto fail;
	}
	c->id = msg_uint(&m, 0);
	log_set_node((uint32_t)c->id);
	c->rank = msg_uint(&m, 1);
	c->resumable = (msg_uint(&m, 5) & PS_REGISTER_RESUMABLE) != 0;
	/* From now on the job's settings are the scheduler's. */
	conf_copy(&c->job, conf);
	c->has_job = 1;
	if (jobconf_apply(&c->job, &m.args[6], cause) != 0) {
		msg_free(&m);
		goto fail;
	}
	c->conf = &c->job;
	msg_free(&m);
	log_debug("registered as node %u, rank %u; map epoch %llu, %u servers", c->id,
	    c->rank, (unsigned long long)c->map.epoch, c->map.nservers);
	atomic_store(&c->epoch, c->map.epoch);
	c->fpk = c->conf->optim.dim;
	client_grow_servers(c, 0);
	/* Clients (predictions, benchmarks) are not watched by the scheduler. */
	if (role == PS_ROLE_WORKER) {
		if (pthread_create(&c->beat_thread, NULL, client_beat, c) != 0)
			fatalx("cannot start the heartbeat thread");
		c->beat_running = 1;
	}
	return 0;
fail:
	conn_close(&c->sched);
	if (c->has_job)
		conf_free(&c->job);
	map_free(&c->map);
	wbuf_free(&c->w);
	wbuf_free(&c->rw);
	pthread_mutex_destroy(&c->sched_lock);
	pthread_cond_destroy(&c->beat_cond);
	return -1;
}

void
client_close(struct ps_client *c)
{
	if (c->beat_running) {
		pthread_mutex_lock(&c->sched_lock);
		c->beat_stop = 1;
		pthread_cond_signal(&c->beat_cond);
		pthread_mutex_unlock(&c->sched_lock);
		pthread_join(c->beat_thread, NULL);
	}
	pthread_mutex_destroy(&c->sched_lock);
	pthread_cond_destroy(&c->beat_cond);
	client_disconnect_servers(c);
	conn_close(&c->sched);
	free(c->lost_cause);
	c->lost_cause = NULL;
	map_free(&c->map);
	wbuf_free(&c->w);
	wbuf_free(&c->rw);
	free(c->order);
	free(c->todo);
	free(c->retry);
	free(c->ktag);
	free(c->tagged);
	if (c->has_job)
		conf_free(&c->job);
	memset(c, 0, sizeof *c);
}

static int
client_refresh_map(struct ps_client *c, char **cause)
{
	struct ps_hdr h = client_hdr(c, PS_MSG_GET_MAP);
	struct ps_msg m;
	struct ps_map map;

	msg_simple(&c->w, &h);
	if (client_sched_call(c, &c->w, &m, PS_MSG_MAP, cause) != 0)
		return -1;
	map_init(&map);
	if (map_unpack(&map, &m, 0, cause) != 0) {
		msg_free(&m);
		return -1;
	}
	msg_free(&m);
	log_debug("map refreshed: epoch %llu", (unsigned long long)map.epoch);
	client_disconnect_servers(c);
	map_free(&c->map);
	c->map = map;
	atomic_store(&c->epoch, c->map.epoch);
	client_grow_servers(c, 0);
	return 0;
}

/*
 * The map, fetched again. After a server was lost, the scheduler may not have noticed
 * yet (a killed server: a moment; a frozen one: net.heartbeat_timeout): while the map
 * still names it, ask again, for that long and 2 s more. A scheduler that ends the
 * job instead closes the connection, and that is the answer.
 */
static int
client_await_map(struct ps_client *c, char **cause)
{
	double until = net_now() + c->conf->heartbeat_timeout + 2;

	for (;;) {
		if (client_refresh_map(c, cause) != 0)
			return -1;
		if (c->lost == 0 || map_find_server(&c->map, c->lost) < 0 ||
		    net_now() >= until)
			return 0;
		usleep(50 * 1000);
	}
}

/*
 * MOVED names the new owner of each slot of the request that was refused: fix just
 * those slots in the map (adding a server the map did not have). *unknown is set if
 * a slot's owner was not known to the server either: the map must then be fetched.
 */
static int
client_moved(struct ps_client *c, const struct ps_msg *m, int *unknown, char **cause)
{
	const msgpack_object *list;
	const unsigned char *b;
	size_t len, i;
	uint32_t *index, n, before = c->map.nservers;

	list = &m->args[1];
	n = list->via.array.size;
	index = xcalloc(n ? n : 1, sizeof *index);
	for (i = 0; i < n; i++) {
		const msgpack_object *o = &list->via.array.ptr[i];
		char *host;
		int at;

		if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3 ||
		    o->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    o->via.array.ptr[1].type != MSGPACK_OBJECT_STR ||
		    o->via.array.ptr[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    o->via.array.ptr[2].via.u64 > 65535 ||
		    o->via.array.ptr[0].via.u64 > UINT32_MAX) {
			free(index);
			xasprintf(cause, "MOVED: owner %zu is not [id, host, port]", i);
			return -1;
		}
		at = map_find_server(&c->map, (uint32_t)o->via.array.ptr[0].via.u64);
		if (at == -1) {
			host = xstrndup(o->via.array.ptr[1].via.str.ptr,
			    o->via.array.ptr[1].via.str.size);
			map_add_server(&c->map, (uint32_t)o->via.array.ptr[0].via.u64, host,
			    (int)o->via.array.ptr[2].via.u64);
			free(host);
			at = (int)c->map.nservers - 1;
		}
		index[i] = (uint32_t)at;
	}
	if (c->map.nservers != before)
		client_grow_servers(c, before);
	b = (const unsigned char *)msg_bin(m, 2, &len);
	for (i = 0; i + 4 <= len; i += 4) {
		uint32_t slot = b[i] | b[i + 1] << 8, who = b[i + 2] | b[i + 3] << 8;

		if (slot >= PS_NSLOTS)
			continue;
		if (who < n)
			c->map.owner[slot] = (uint16_t)index[who];
		else
			*unknown = 1;
	}
	free(index);
	log_debug("MOVED: %zu slots have a new owner", len / 4);
	return 0;
}

static void
client_grow(struct ps_client *c, size_t n)
{
	if (n <= c->scratch_cap)
		return;
	c->order = xreallocarray(c->order, n, sizeof *c->order);
	c->todo = xreallocarray(c->todo, n, sizeof *c->todo);
	c->retry = xreallocarray(c->retry, n, sizeof *c->retry);
	c->ktag = xreallocarray(c->ktag, n, sizeof *c->ktag);
	c->tagged = xreallocarray(c->tagged, n, sizeof *c->tagged);
	c->scratch_cap = n;
}

/* Group todo[0..n) by owning server into order[], keeping key order in each group. */
static void
client_split(struct ps_client *c, const uint64_t *keys, size_t n)
{
	uint32_t s, ns = c->map.nservers;
	size_t i, at = 0;

	if (ns == 1) {
		memcpy(c->order, c->todo, n * sizeof *c->order);
		c->count[0] = n;
		c->first[0] = 0;
		return;
	}
	/* Owners are computed twice rather than stored: hashing is cheaper than
	 * the memory traffic of another n-sized array. */
	memset(c->count, 0, ns * sizeof *c->count);
	for (i = 0; i < n; i++)
		c->count[map_owner(&c->map, keys[c->todo[i]])]++;
	/* first[s] starts at the end of server s's run and steps back as the keys,
	 * taken from the last, are placed: each run keeps key order, and no scratch
	 * array is needed. */
	for (s = 0; s < ns; s++) {
		at += c->count[s];
		c->first[s] = at;
	}
	for (i = n; i-- > 0;) {
		uint32_t k = c->todo[i];
		c->order[--c->first[map_owner(&c->map, keys[k])]] = k;
	}
}

/* Keys per frame: a request or reply of this many keys stays under max_frame. */
static size_t
client_chunk(const struct ps_client *c)
{
	size_t per_key = 8 + 4 * (size_t)c->fpk;
	size_t limit = (size_t)c->conf->max_frame - 256, k;

	if (limit > CLIENT_CHUNK_BYTES)
		limit = CLIENT_CHUNK_BYTES;
	k = limit / per_key;
	return k > 0 ? k : 1;
}

/* Keys in chunk i of server s's run. */
static size_t
client_chunk_len(const struct ps_client *c, uint32_t s, size_t i, size_t chunk)
{
	size_t from = i * chunk;

	return c->count[s] - from < chunk ? c->count[s] - from : chunk;
}

static int
client_send_chunk(struct ps_client *c, uint32_t s, int push, const uint64_t *keys,
    const float *vals, size_t from, size_t nk, char **cause)
{
	struct ps_hdr h = client_hdr(c, op_request[push]);
	uint32_t dim = c->fpk;
	const uint32_t *idx = c->order + c->first[s] + from;
	struct ps_conn *conn;
	char *p;
	size_t j;

	msg_begin(&c->w, &h, push ? 2 : 1);
	p = msg_put_bin_space(&c->w, nk * 8);
	if (c->in_order)	/* idx[j] == idx[0] + j: the wire form is the array's */
		memcpy(p, keys + idx[0], nk * 8);
	else
		for (j = 0; j < nk; j++)
			store_u64(p + 8 * j, keys[idx[j]]);
	if (push) {
		p = msg_put_bin_space(&c->w, nk * dim * 4);
		if (c->in_order)
			memcpy(p, vals + (size_t)dim * idx[0], nk * dim * 4);
		else if (dim == 1)	/* a fixed-size copy the compiler inlines */
			for (j = 0; j < nk; j++)
				memcpy(p + 4 * j, vals + idx[j], 4);
		else
			for (j = 0; j < nk; j++)
				memcpy(p + (size_t)4 * dim * j, vals + (size_t)dim * idx[j],
				    4 * dim);
	}
	msg_end(&c->w);
	if ((conn = client_server(c, s, cause)) == NULL) {
		wbuf_reset(&c->w);
		return -2;
	}
	/* Counted as sent before it is: a frame half written may have arrived. */
	c->sent_id[s * CLIENT_WINDOW + c->nsent[s] % CLIENT_WINDOW] = h.id;
	c->nsent[s]++;
	return conn_send(conn, &c->w, cause) == 0 ? 0 : -2;
}

/* Keys idx[0..nk) go to retry[], tagged with the id of the push that carried them
 * if it may have been applied (0: it was not). */
static void
client_requeue(struct ps_client *c, const uint32_t *idx, size_t nk, uint64_t tag,
    size_t *nretry)
{
	size_t j;

	for (j = 0; j < nk; j++)
		c->ktag[idx[j]] = tag;
	memcpy(c->retry + *nretry, idx, nk * sizeof *idx);
	*nretry += nk;
}

/* Whether the scheduler's map still names server id: 1, 0, or -1 and cause. */
static int
client_map_names(struct ps_client *c, uint32_t id, char **cause)
{
	struct ps_hdr h = client_hdr(c, PS_MSG_GET_MAP);
	struct ps_msg m;
	struct ps_map map;
	int r;

	msg_simple(&c->w, &h);
	if (client_sched_call(c, &c->w, &m, PS_MSG_MAP, cause) != 0)
		return -1;
	map_init(&map);
	r = map_unpack(&map, &m, 0, cause) == 0 ? map_find_server(&map, id) >= 0 : -1;
	msg_free(&m);
	map_free(&map);
	return r;
}

/*
 * The next reply from server s. No answer for a while (client_probe_secs): while the
 * scheduler's map still names the server, wait on, up to net.request_timeout in
 * all; a server the map has dropped (declared dead, its slots served elsewhere) is
 * lost now. 0, or -1 and cause.
 */
static int
client_recv_waiting(struct ps_client *c, uint32_t s, struct ps_msg *m, char **cause)
{
	struct ps_conn *conn = &c->servers[s];
	double waited = 0, probe = client_probe_secs(c);
	char *why;
	int r;

	while (conn_recv(conn, m, cause) != 0) {
		if (!conn->timed_out || (waited += probe) >= c->conf->request_timeout)
			return -1;
		if ((r = client_map_names(c, c->map.servers[s].id, &why)) != 1) {
			free(*cause);
			xasprintf(cause, "%s: no answer for %.0f s, and %s", conn->name,
			    waited, r == 0 ? "the scheduler's map has dropped it" : why);
			if (r == -1)
				free(why);
			return -1;
		}
		log_debug("%s: no answer for %.0f s; still in the map: waiting on",
		    conn->name, waited);
		free(*cause);
		*cause = NULL;
	}
	return 0;
}

/* Read the reply to one chunk. Keys refused with MOVED go to retry[]. 0, -1, or
 * -2 if the connection failed. */
static int
client_recv_chunk(struct ps_client *c, uint32_t s, int push, float *vals, size_t from,
    size_t nk, size_t *nretry, char **cause)
{
	struct ps_conn *conn = &c->servers[s];
	uint32_t dim = c->fpk;
	const uint32_t *idx = c->order + c->first[s] + from;
	struct ps_msg m;
	const char *p;
	size_t len, j;
	char *why;

	if (client_recv_waiting(c, s, &m, cause) != 0)
		return -2;
	switch (m.hdr.type) {
	case PS_MSG_MOVED:
		/* The map may grow, and c->servers move: conn is not used after. */
		if (client_moved(c, &m, &c->stale, &why) != 0) {
			xasprintf(cause, "%s: %s", c->servers[s].name, why);
			free(why);
			msg_free(&m);
			return -1;
		}
		client_requeue(c, idx, nk, 0, nretry);
		msg_free(&m);
		return 0;
	case PS_MSG_PULL_OK:
		if (push)
			break;
		p = msg_bin(&m, 0, &len);
		if (len != nk * dim * 4) {
			xasprintf(cause, "%s: PULL_OK has %zu bytes of values, want %zu",
			    conn->name, len, nk * dim * 4);
			msg_free(&m);
			return -1;
		}
		if (c->in_order)
			memcpy(vals + (size_t)dim * idx[0], p, len);
		else if (dim == 1)
			for (j = 0; j < nk; j++)
				memcpy(vals + idx[j], p + 4 * j, 4);
		else
			for (j = 0; j < nk; j++)
				memcpy(vals + (size_t)dim * idx[j], p + (size_t)4 * dim * j,
				    4 * dim);
		msg_free(&m);
		return 0;
	case PS_MSG_PUSH_OK:
	case PS_MSG_LOAD_OK:
		if (m.hdr.type != op_reply[push])
			break;
		msg_free(&m);
		return 0;
	case PS_MSG_ERROR: {
		char *text = msg_strdup(&m, 1);

		if (msg_uint(&m, 0) == PS_ERR_RETRY && push != OP_PULL) {
			/* Applied by the owner, not by every copy: again, with this
			 * id, once the map has changed. */
			log_debug("%s: %s", conn->name, text);
			free(text);
			msg_free(&m);
			client_requeue(c, idx, nk, push == OP_PUSH ?
			    c->sent_id[s * CLIENT_WINDOW + c->acked[s] % CLIENT_WINDOW] : 0,
			    nretry);
			c->stale = 1;
			return 0;
		}
		xasprintf(cause, "%s: %s", conn->name, text);
		free(text);
		msg_free(&m);
		return -1;
	}
	}
	xasprintf(cause, "%s: unexpected %s reply to %s", conn->name,
	    proto_type_name(m.hdr.type), proto_type_name(op_request[push]));
	msg_free(&m);
	return -1;
}

static int
client_cmp_index(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort retry[0..n) (key indices): MOVED replies come server by server, and a
 * server wants its keys ascending. */
static void
client_sort_retry(struct ps_client *c, size_t n)
{
	qsort(c->retry, n, sizeof *c->retry, client_cmp_index);
}

/*
 * The connection to server s failed (it was stopped, say, after a drain). Its keys not
 * yet answered are tried again after the map is fetched: a server that answered
 * nothing for them applied nothing that was not answered... unless it died holding
 * slots, and then the map still names it and the next attempt fails for good.
 */
static int
client_lost(struct ps_client *c, uint32_t s, int push, size_t chunk, size_t *nretry,
    char **cause)
{
	size_t k;

	if (c->lost == c->map.servers[s].id) {
		log_debug("server %u failed again", c->lost);
		return -1;
	}
	log_debug("%s; asking the scheduler where its slots are", *cause);
	c->lost = c->map.servers[s].id;
	free(c->lost_cause);
	c->lost_cause = *cause;
	*cause = NULL;
	conn_close(&c->servers[s]);
	c->servers[s].fd = -1;
	/* The chunks sent and not answered may have been applied. */
	for (k = c->acked[s]; k * chunk < c->count[s]; k++)
		client_requeue(c, c->order + c->first[s] + k * chunk,
		    client_chunk_len(c, s, k, chunk), push == OP_PUSH && k < c->nsent[s] ?
		    c->sent_id[s * CLIENT_WINDOW + k % CLIENT_WINDOW] : 0, nretry);
	c->acked[s] = (c->count[s] + chunk - 1) / chunk;
	c->down[s] = 1;
	c->stale = 1;
	return 0;
}

/* Read server s's replies until at most left of the sent chunks are unanswered.
 * 0, -1, or -2 if the connection failed. */
static int
client_wait(struct ps_client *c, uint32_t s, int push, float *vals, size_t chunk,
    size_t sent, size_t left, size_t *nretry, char **cause)
{
	int r;

	while (sent - c->acked[s] > left) {
		r = client_recv_chunk(c, s, push, vals, c->acked[s] * chunk,
		    client_chunk_len(c, s, c->acked[s], chunk), nretry, cause);
		if (r != 0)
			return r;
		c->acked[s]++;
	}
	return 0;
}

/* A server failed while sending a retry (s: its index): said, and fatal, if it is the
 * one lost before; else remembered as lost, for the map to be fetched. */
static int
client_resend_lost(struct ps_client *c, uint32_t s, char **cause)
{
	if (c->lost == c->map.servers[s].id)
		return -1;
	log_debug("%s; asking the scheduler where its slots are", *cause);
	c->lost = c->map.servers[s].id;
	free(c->lost_cause);
	c->lost_cause = *cause;
	*cause = NULL;
	c->stale = 1;
	return 1;
}

/* Send keys idx[0..nk), all owned by server s, as push id with the retry flag, and
 * read the answer: 0 acknowledged, 1 not (to send again), -1 failed. */
static int
client_resend_one(struct ps_client *c, uint32_t s, uint64_t id, const uint64_t *keys,
    const float *vals, const uint32_t *idx, size_t nk, char **cause)
{
	struct ps_hdr h = msg_hdr(PS_MSG_PUSH, id, c->id, c->map.epoch);
	uint32_t dim = c->fpk;
	struct ps_conn *conn;
	struct ps_msg m;
	char *p, *why;
	size_t j;
	int r = -1;

	msg_begin(&c->w, &h, 3);
	p = msg_put_bin_space(&c->w, nk * 8);
	for (j = 0; j < nk; j++)
		store_u64(p + 8 * j, keys[idx[j]]);
	p = msg_put_bin_space(&c->w, nk * dim * 4);
	for (j = 0; j < nk; j++)
		memcpy(p + (size_t)4 * dim * j, vals + (size_t)dim * idx[j], 4 * dim);
	msg_put_bool(&c->w, 1);
	msg_end(&c->w);
	if ((conn = client_server(c, s, cause)) == NULL) {
		wbuf_reset(&c->w);
		return client_resend_lost(c, s, cause);
	}
	if (conn_send(conn, &c->w, cause) != 0 ||
	    client_recv_waiting(c, s, &m, cause) != 0) {
		conn_close(conn);
		conn->fd = -1;
		return client_resend_lost(c, s, cause);
	}
	switch (m.hdr.type) {
	case PS_MSG_PUSH_OK:
		r = 0;
		break;
	case PS_MSG_MOVED:
		/* c->servers may move: conn is not used after. */
		if (client_moved(c, &m, &c->stale, &why) != 0) {
			xasprintf(cause, "%s: %s", c->servers[s].name, why);
			free(why);
			break;
		}
		r = 1;
		break;
	case PS_MSG_ERROR:
		why = msg_strdup(&m, 1);
		if (msg_uint(&m, 0) == PS_ERR_RETRY) {
			log_debug("%s: %s", conn->name, why);
			c->stale = 1;
			r = 1;
		} else
			xasprintf(cause, "%s: %s", conn->name, why);
		free(why);
		break;
	default:
		xasprintf(cause, "%s: unexpected %s reply to PUSH", conn->name,
		    proto_type_name(m.hdr.type));
		break;
	}
	msg_free(&m);
	return r;
}

static int
client_cmp_tagged(const void *a, const void *b, void *arg)
{
	const struct ps_client *c = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (c->ktag[x] != c->ktag[y])
		return c->ktag[x] < c->ktag[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

/*
 * Keys of a push that may have been applied (its server was lost before it answered,
 * or a copy of it failed) go again with that push's id and the retry flag, so that a
 * server that applied it (the lost owner's backup, the owner now) does not apply it
 * twice. The rare path: each id's keys by owner, a frame at a time (they fitted in
 * one before). Keys not acknowledged stay in tagged[0..*ntagged). Uses order[] and
 * retry[] as scratch.
 */
static int
client_resend(struct ps_client *c, const uint64_t *keys, const float *vals,
    size_t *ntagged, char **cause)
{
	size_t i, j, k, m, nk, rest, left = 0, n = *ntagged;
	uint64_t id;
	uint32_t s;
	int r;

	qsort_r(c->tagged, n, sizeof *c->tagged, client_cmp_tagged, c);
	for (i = 0; i < n; i = j) {
		id = c->ktag[c->tagged[i]];
		for (j = i; j < n && c->ktag[c->tagged[j]] == id; j++)
			;
		m = j - i;
		memcpy(c->order, c->tagged + i, m * sizeof *c->order);
		while (m > 0) {
			/* The keys of the first one's owner to retry[], the rest kept
			 * in order[]. */
			s = map_owner(&c->map, keys[c->order[0]]);
			for (k = 0, nk = 0, rest = 0; k < m; k++) {
				if (map_owner(&c->map, keys[c->order[k]]) == s)
					c->retry[nk++] = c->order[k];
				else
					c->order[rest++] = c->order[k];
			}
			m = rest;
			if ((r = client_resend_one(c, s, id, keys, vals, c->retry, nk,
			    cause)) < 0)
				return -1;
			if (r > 0) {
				memcpy(c->tagged + left, c->retry, nk * sizeof *c->tagged);
				left += nk;
			}
		}
	}
	*ntagged = left;
	return 0;
}

/*
 * Between calls a server has nothing to say: a connection with something to read (an
 * ERROR, an end) was closed by it, for being idle (net.idle_timeout) most likely.
 * Close those here, so that the call opens them again instead of failing on them.
 */
static void
client_drop_closed(struct ps_client *c)
{
	struct pollfd pfd[64];
	uint32_t i, at, n;

	for (i = 0; i < c->map.nservers; i = at) {
		for (at = i, n = 0; at < c->map.nservers && n < 64; at++) {
			pfd[n].fd = c->servers[at].fd;	/* -1: ignored by poll */
			pfd[n].events = POLLIN;
			pfd[n++].revents = 0;
		}
		if (poll(pfd, n, 0) <= 0)
			continue;
		for (; n-- > 0;) {
			if (pfd[n].revents == 0)
				continue;
			log_debug("%s: closed while idle; connecting again",
			    c->servers[i + n].name);
			conn_close(&c->servers[i + n]);
		}
	}
}

static int
client_rpc(struct ps_client *c, int push, const uint64_t *keys, size_t n, float *vals,
    char **cause)
{
	size_t i, chunk = client_chunk(c), ntodo = n, nretry, rounds, ntagged = 0;
	uint32_t s, ns;
	int attempt, r;

	if (n == 0)
		return 0;
	if (n > UINT32_MAX) {
		xasprintf(cause, "%zu keys in one call: at most %u", n, UINT32_MAX);
		return -1;
	}
	client_grow(c, n);
	for (i = 0; i < n; i++)
		c->todo[i] = i;
	c->lost = 0;
	client_drop_closed(c);
	for (attempt = 0; attempt < CLIENT_RETRIES; attempt++) {
		if (ntagged > 0 && client_resend(c, keys, vals, &ntagged, cause) != 0)
			return -1;
		ns = c->map.nservers;
		client_split(c, keys, ntodo);
		/* One server and every key: each chunk is a run of the caller's arrays. */
		c->in_order = ns == 1 && attempt == 0;
		rounds = 0;
		for (s = 0; s < ns; s++) {
			if ((c->count[s] + chunk - 1) / chunk > rounds)
				rounds = (c->count[s] + chunk - 1) / chunk;
			c->acked[s] = 0;
			c->nsent[s] = 0;
			c->down[s] = 0;
		}
		nretry = 0;
		/* Chunk r to every server, then chunk r+1: all servers busy at once. */
		for (i = 0; i < rounds; i++) {
			for (s = 0; s < ns; s++) {
				if (i * chunk >= c->count[s] || c->down[s])
					continue;
				r = client_wait(c, s, push, vals, chunk, i, CLIENT_WINDOW - 1,
				    &nretry, cause);
				if (r == 0)
					r = client_send_chunk(c, s, push, keys, vals,
					    i * chunk, client_chunk_len(c, s, i, chunk), cause);
				if (r == -2)
					r = client_lost(c, s, push, chunk, &nretry, cause);
				if (r != 0)
					return -1;
			}
		}
		for (s = 0; s < ns; s++) {
			if (c->down[s])
				continue;
			r = client_wait(c, s, push, vals, chunk,
			    (c->count[s] + chunk - 1) / chunk, 0, &nretry, cause);
			if (r == -2)
				r = client_lost(c, s, push, chunk, &nretry, cause);
			if (r != 0)
				return -1;
		}
		if (nretry == 0 && ntagged == 0)
			return 0;
		/* The MOVED replies fixed the map; only if a slot's owner is unknown,
		 * or keys keep moving, is the scheduler asked. */
		log_debug("%zu keys moved, %zu to send again", nretry, ntagged);
		if (attempt > 0)
			usleep(attempt > 2 ? 20 * 1000 : 1000);
		if ((c->stale || attempt >= 3) && client_await_map(c, cause) != 0) {
			/* The server that failed is the news, not only the map. */
			if (c->lost_cause != NULL) {
				char *why = *cause;

				xasprintf(cause, "%s; then, asking the scheduler: %s",
				    c->lost_cause, why);
				free(why);
			}
			return -1;
		}
		c->stale = 0;
		client_sort_retry(c, nretry);
		/* Keys that may have been applied go again as they went; the others
		 * as new requests. */
		for (i = 0, ntodo = 0; i < nretry; i++) {
			if (c->ktag[c->retry[i]] != 0)
				c->tagged[ntagged++] = c->retry[i];
			else
				c->todo[ntodo++] = c->retry[i];
		}
	}
	xasprintf(cause, "keys still moved after %d map refreshes", CLIENT_RETRIES);
	return -1;
}

int
client_pull(struct ps_client *c, const uint64_t *keys, size_t n, float *vals,
    char **cause)
{
	return client_rpc(c, 0, keys, n, vals, cause);
}

int
client_load(struct ps_client *c, const uint64_t *keys, size_t n, const float *states,
    uint32_t width, char **cause)
{
	int r;

	c->fpk = width;
	r = client_rpc(c, OP_LOAD, keys, n, (float *)(uintptr_t)states, cause);
	c->fpk = c->conf->optim.dim;
	return r;
}

int
client_push(struct ps_client *c, const uint64_t *keys, size_t n, const float *grads,
    char **cause)
{
	/* vals is only read when pushing. */
	return client_rpc(c, 1, keys, n, (float *)(uintptr_t)grads, cause);
}

int
client_barrier(struct ps_client *c, const char *name, char **cause)
{
	struct ps_hdr h = client_hdr(c, PS_MSG_BARRIER);
	struct ps_msg m;

	/* The figures first: heartbeats wait while this waits (the lock is held for
	 * the whole call), and ps-ctl status should show what was done. */
	client_put_beat(c, &c->w);
	msg_begin(&c->w, &h, 1);
	msg_put_str(&c->w, name);
	msg_end(&c->w);
	if (client_sched_call(c, &c->w, &m, PS_MSG_BARRIER_OK, cause) != 0)
		return -1;
	msg_free(&m);
	return 0;
}

int
client_clock(struct ps_client *c, uint64_t clock, uint64_t *slowest, char **cause)
{
	struct ps_hdr h = client_hdr(c, PS_MSG_CLOCK);
	struct ps_msg m;

	*slowest = clock;
	if (c->conf->consistency == PS_ASP)
		return 0;
	/* As at a barrier: the lock is held while it waits, so the figures first. */
	client_put_beat(c, &c->w);
	msg_begin(&c->w, &h, 1);
	msg_put_uint(&c->w, clock);
	msg_end(&c->w);
	if (client_sched_call(c, &c->w, &m, PS_MSG_CLOCK_OK, cause) != 0)
		return -1;
	*slowest = msg_uint(&m, 0);
	msg_free(&m);
	return 0;
}

int
client_done(struct ps_client *c, int status, char **cause)
{
	struct ps_hdr h = client_hdr(c, PS_MSG_DONE);

	/* The last figures first: a worker may end before its first heartbeat. */
	client_put_beat(c, &c->w);
	msg_begin(&c->w, &h, 1);
	msg_put_uint(&c->w, (uint64_t)status);
	msg_end(&c->w);
	return client_sched_send(c, &c->w, cause);
}
