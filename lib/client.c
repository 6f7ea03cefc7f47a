/*
 * The client side of the data plane. A pull or push splits the sorted keys by owning
 * server in one pass (each server's run stays sorted), sends every server its share
 * (in chunks that fit net.max_frame) before reading any reply, so the servers work
 * at the same time, then reads the replies in order. Keys refused with MOVED are
 * retried, alone, after the map is fetched again: nothing is applied twice.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ps/client.h"
#include "ps/log.h"
#include "ps/net.h"
#include "ps/xmalloc.h"

#define CLIENT_RETRIES		50
/* Frames of a few megabytes, a few in flight per server: the client packs the next
 * while the wire and the server work on the last, and nobody buffers a whole call. */
#define CLIENT_CHUNK_BYTES	((size_t)4 << 20)
#define CLIENT_WINDOW		4
#define CONNECT_RETRY_SECS	10.0

static struct ps_hdr
client_hdr(struct ps_client *c, uint32_t type)
{
	struct ps_hdr h = {
		.version = PS_PROTOCOL_VERSION,
		.type = type,
		.id = ++c->next_id,
		.sender = c->id,
		.epoch = c->map.epoch,
	};
	return h;
}

/* Frames to the scheduler go through here: the heartbeat thread writes too. */
static int
client_sched_send(struct ps_client *c, struct ps_wbuf *w, char **cause)
{
	int r;

	pthread_mutex_lock(&c->sched_lock);
	r = conn_send(&c->sched, w, cause);
	pthread_mutex_unlock(&c->sched_lock);
	return r;
}

static int
client_sched_call(struct ps_client *c, struct ps_wbuf *w, struct ps_msg *m,
    uint32_t want, char **cause)
{
	if (client_sched_send(c, w, cause) != 0)
		return -1;
	return conn_expect(&c->sched, m, want, cause);
}

static void *
client_beat(void *arg)
{
	struct ps_client *c = arg;
	struct ps_hdr h = { .version = PS_PROTOCOL_VERSION, .type = PS_MSG_HEARTBEAT };
	struct ps_wbuf w;
	struct timespec until;
	double secs = c->conf->heartbeat_interval;
	char *cause;

	wbuf_init(&w);
	pthread_mutex_lock(&c->sched_lock);
	while (!c->beat_stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)secs;
		until.tv_nsec += (long)((secs - floor(secs)) * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&c->beat_cond, &c->sched_lock, &until) !=
		    ETIMEDOUT || c->beat_stop)
			continue;
		h.sender = c->id;
		h.epoch = c->map.epoch;
		msg_simple(&w, &h);
		if (conn_send(&c->sched, &w, &cause) != 0) {
			/* The main thread finds out on its next call. */
			log_debug("heartbeat: %s", cause);
			free(cause);
			break;
		}
	}
	pthread_mutex_unlock(&c->sched_lock);
	wbuf_free(&w);
	return NULL;
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
	c->count = c->first = c->acked = NULL;
}

static int
client_connect_servers(struct ps_client *c, char **cause)
{
	uint32_t i;

	c->servers = xcalloc(c->map.nservers, sizeof *c->servers);
	c->count = xcalloc(c->map.nservers, sizeof *c->count);
	c->first = xcalloc(c->map.nservers, sizeof *c->first);
	c->acked = xcalloc(c->map.nservers, sizeof *c->acked);
	for (i = 0; i < c->map.nservers; i++) {
		const struct ps_node *s = &c->map.servers[i];
		if (conn_open(&c->servers[i], s->host, s->port, c->role, c->id,
		    c->progname, c->conf->max_frame, CONNECT_RETRY_SECS, cause) != 0) {
			while (i-- > 0)
				conn_close(&c->servers[i]);
			free(c->servers);
			free(c->count);
			free(c->first);
			free(c->acked);
			c->servers = NULL;
			c->count = c->first = c->acked = NULL;
			return -1;
		}
	}
	return 0;
}

int
client_open(struct ps_client *c, const struct ps_conf *conf, uint32_t role,
    const char *progname, char **cause)
{
	struct ps_hdr h;
	struct ps_msg m;

	memset(c, 0, sizeof *c);
	c->conf = conf;
	c->progname = progname;
	c->role = role;
	map_init(&c->map);
	wbuf_init(&c->w);
	pthread_mutex_init(&c->sched_lock, NULL);
	pthread_cond_init(&c->beat_cond, NULL);
	if (conn_open(&c->sched, conf->scheduler_host, conf->scheduler_port, role, 0,
	    progname, conf->max_frame, CONNECT_RETRY_SECS, cause) != 0)
		return -1;

	h = client_hdr(c, PS_MSG_REGISTER);
	msg_begin(&c->w, &h, 3);
	msg_put_uint(&c->w, role);
	msg_put_str(&c->w, "");
	msg_put_uint(&c->w, 0);
	msg_end(&c->w);
	/* The scheduler answers once every server has joined. */
	if (conn_call(&c->sched, &c->w, &m, PS_MSG_REGISTER_OK, cause) != 0)
		goto fail;
	if (msg_check(&m, "uu" PS_MAP_FMT, cause) != 0 ||
	    map_unpack(&c->map, &m, 2, cause) != 0) {
		msg_free(&m);
		goto fail;
	}
	c->id = msg_uint(&m, 0);
	c->rank = msg_uint(&m, 1);
	msg_free(&m);
	log_debug("registered as node %u, rank %u; map epoch %llu, %u servers", c->id,
	    c->rank, (unsigned long long)c->map.epoch, c->map.nservers);
	if (client_connect_servers(c, cause) != 0)
		goto fail;
	/* Clients (predictions, benchmarks) are not watched by the scheduler. */
	if (role == PS_ROLE_WORKER) {
		if (pthread_create(&c->beat_thread, NULL, client_beat, c) != 0)
			fatalx("cannot start the heartbeat thread");
		c->beat_running = 1;
	}
	return 0;
fail:
	conn_close(&c->sched);
	map_free(&c->map);
	wbuf_free(&c->w);
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
	map_free(&c->map);
	wbuf_free(&c->w);
	free(c->order);
	free(c->todo);
	free(c->retry);
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
	if (msg_check(&m, PS_MAP_FMT, cause) != 0 || map_unpack(&map, &m, 0, cause) != 0) {
		msg_free(&m);
		return -1;
	}
	msg_free(&m);
	log_debug("map refreshed: epoch %llu", (unsigned long long)map.epoch);
	client_disconnect_servers(c);
	map_free(&c->map);
	c->map = map;
	return client_connect_servers(c, cause);
}

static void
client_grow(struct ps_client *c, size_t n)
{
	if (n <= c->scratch_cap)
		return;
	c->order = xreallocarray(c->order, n, sizeof *c->order);
	c->todo = xreallocarray(c->todo, n, sizeof *c->todo);
	c->retry = xreallocarray(c->retry, n, sizeof *c->retry);
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
	size_t per_key = 8 + 4 * (size_t)c->conf->optim.dim;
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
	struct ps_hdr h = client_hdr(c, push ? PS_MSG_PUSH : PS_MSG_PULL);
	uint32_t dim = c->conf->optim.dim;
	const uint32_t *idx = c->order + c->first[s] + from;
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
	return conn_send(&c->servers[s], &c->w, cause);
}

/* Read the reply to one chunk. Keys refused with MOVED go to retry[]. */
static int
client_recv_chunk(struct ps_client *c, uint32_t s, int push, float *vals, size_t from,
    size_t nk, size_t *nretry, char **cause)
{
	struct ps_conn *conn = &c->servers[s];
	uint32_t dim = c->conf->optim.dim;
	const uint32_t *idx = c->order + c->first[s] + from;
	struct ps_msg m;
	const char *p;
	size_t len, j;
	char *why;

	if (conn_recv(conn, &m, cause) != 0)
		return -1;
	switch (m.hdr.type) {
	case PS_MSG_MOVED:
		memcpy(c->retry + *nretry, idx, nk * sizeof *idx);
		*nretry += nk;
		msg_free(&m);
		return 0;
	case PS_MSG_PULL_OK:
		if (push || msg_check(&m, "b", &why) != 0)
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
		if (!push)
			break;
		msg_free(&m);
		return 0;
	case PS_MSG_ERROR:
		if (msg_check(&m, "us", &why) == 0) {
			char *text = msg_strdup(&m, 1);
			xasprintf(cause, "%s: %s", conn->name, text);
			free(text);
			msg_free(&m);
			return -1;
		}
		free(why);
		break;
	}
	xasprintf(cause, "%s: unexpected %s reply to %s", conn->name,
	    proto_type_name(m.hdr.type), push ? "PUSH" : "PULL");
	msg_free(&m);
	return -1;
}

static int
client_rpc(struct ps_client *c, int push, const uint64_t *keys, size_t n, float *vals,
    char **cause)
{
	size_t i, chunk = client_chunk(c), ntodo = n, nretry, rounds;
	uint32_t s, ns;
	int attempt;

	if (n == 0)
		return 0;
	if (n > UINT32_MAX) {
		xasprintf(cause, "%zu keys in one call: at most %u", n, UINT32_MAX);
		return -1;
	}
	client_grow(c, n);
	for (i = 0; i < n; i++)
		c->todo[i] = i;
	for (attempt = 0; attempt < CLIENT_RETRIES; attempt++) {
		ns = c->map.nservers;
		client_split(c, keys, ntodo);
		/* One server and every key: each chunk is a run of the caller's arrays. */
		c->in_order = ns == 1 && attempt == 0;
		rounds = 0;
		for (s = 0; s < ns; s++) {
			if ((c->count[s] + chunk - 1) / chunk > rounds)
				rounds = (c->count[s] + chunk - 1) / chunk;
			c->acked[s] = 0;
		}
		nretry = 0;
		/* Chunk r to every server, then chunk r+1: all servers busy at once. */
		for (i = 0; i < rounds; i++) {
			for (s = 0; s < ns; s++) {
				if (i * chunk >= c->count[s])
					continue;
				for (; i - c->acked[s] >= CLIENT_WINDOW; c->acked[s]++)
					if (client_recv_chunk(c, s, push, vals,
					    c->acked[s] * chunk, client_chunk_len(c, s,
					    c->acked[s], chunk), &nretry, cause) != 0)
						return -1;
				if (client_send_chunk(c, s, push, keys, vals, i * chunk,
				    client_chunk_len(c, s, i, chunk), cause) != 0)
					return -1;
			}
		}
		for (s = 0; s < ns; s++) {
			for (; c->acked[s] * chunk < c->count[s]; c->acked[s]++)
				if (client_recv_chunk(c, s, push, vals, c->acked[s] * chunk,
				    client_chunk_len(c, s, c->acked[s], chunk), &nretry,
				    cause) != 0)
					return -1;
		}
		if (nretry == 0)
			return 0;
		log_debug("%zu keys moved; fetching the map again", nretry);
		if (attempt > 0)
			usleep(20 * 1000);
		if (client_refresh_map(c, cause) != 0)
			return -1;
		memcpy(c->todo, c->retry, nretry * sizeof *c->todo);
		ntodo = nretry;
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

	msg_begin(&c->w, &h, 1);
	msg_put_str(&c->w, name);
	msg_end(&c->w);
	if (client_sched_call(c, &c->w, &m, PS_MSG_BARRIER_OK, cause) != 0)
		return -1;
	msg_free(&m);
	return 0;
}

int
client_done(struct ps_client *c, int status, char **cause)
{
	struct ps_hdr h = client_hdr(c, PS_MSG_DONE);

	msg_begin(&c->w, &h, 1);
	msg_put_uint(&c->w, (uint64_t)status);
	msg_end(&c->w);
	return client_sched_send(c, &c->w, cause);
}
