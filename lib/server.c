/*
 * ps-server. One event loop, one table per owned hash slot. A request is checked
 * whole before anything is applied (sizes, key order, slot ownership, finite
 * gradients), so a bad or misrouted request changes nothing: it gets ERROR or MOVED.
 */
#include <sys/types.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ps/conn.h"
#include "ps/log.h"
#include "ps/map.h"
#include "ps/net.h"
#include "ps/optim.h"
#include "ps/peer.h"
#include "ps/server.h"
#include "ps/table.h"
#include "ps/xmalloc.h"

struct server {
	const struct ps_conf	*conf;
	struct event_base	*base;
	struct ps_listener	*listener;
	struct ps_peer		*sched;
	struct event		*beat;
	struct event		*sigterm;
	struct event		*sigint;
	uint32_t		 id;
	int			 port;
	struct ps_map		 map;
	uint8_t			 owned[PS_NSLOTS];
	struct ps_table		*slots;		/* PS_NSLOTS tables, held inline: a lookup
						 * reads one header, not a pointer then a header */
	uint32_t		 dim;
	uint32_t		 width;
	struct ps_wbuf		 out;
	/* scratch, reused by every request */
	uint16_t		*slot_of;
	float			*fbuf;
	size_t			 slot_cap;
	size_t			 fbuf_cap;
	/* counters for STATUS */
	uint64_t		 pulls, pushes, keys_pulled, keys_pushed;
};

/* A batch's keys are random, so each lookup would be a cache miss, twice: the
 * slot's table header, then the entry. Fetch headers 2*AHEAD keys ahead and entries
 * AHEAD keys ahead, when their header is already in cache. */
#define PREFETCH_AHEAD	16

typedef void (*handler_fn)(struct server *, struct ps_peer *, struct ps_msg *);

struct handler {
	uint32_t	 type;
	const char	*fmt;
	handler_fn	 fn;
};

static void
server_grow(struct server *s, size_t nkeys)
{
	size_t nf = nkeys * s->dim;

	if (nkeys > s->slot_cap) {
		s->slot_of = xreallocarray(s->slot_of, nkeys, sizeof *s->slot_of);
		s->slot_cap = nkeys;
	}
	if (nf > s->fbuf_cap) {
		s->fbuf = xreallocarray(s->fbuf, nf, sizeof *s->fbuf);
		s->fbuf_cap = nf;
	}
}

/*
 * Check a key array: a whole number of keys, strictly ascending, every slot owned.
 * Fills s->slot_of. Returns the key count, -1 after an ERROR reply, -2 if a slot
 * is not ours (the caller answers MOVED).
 */
static ssize_t
server_check_keys(struct server *s, struct ps_peer *p, struct ps_msg *m,
    const char *keys, size_t len)
{
	size_t n = len / 8, i;
	uint64_t prev = 0, k;

	if (len % 8 != 0) {
		peer_error(p, m, PS_ERR_CLIENT, "keys: %zu bytes is not a whole number "
		    "of 8-byte keys", len);
		return -1;
	}
	server_grow(s, n);
	for (i = 0; i < n; i++) {
		k = load_u64(keys + 8 * i);
		if (i > 0 && k <= prev) {
			peer_error(p, m, PS_ERR_CLIENT, "keys: key %zu (%llu) is not above "
			    "the one before: keys must be sorted and unique", i,
			    (unsigned long long)k);
			return -1;
		}
		prev = k;
		s->slot_of[i] = map_slot(k);
		if (!s->owned[s->slot_of[i]])
			return -2;
	}
	return (ssize_t)n;
}

static void
server_moved(struct server *s, struct ps_peer *p, struct ps_msg *m)
{
	struct ps_hdr h = msg_reply_hdr(m, PS_MSG_MOVED, s->id, s->map.epoch);

	msg_begin(&s->out, &h, 1);
	msg_put_uint(&s->out, s->map.epoch);
	msg_end(&s->out);
	peer_send(p, &s->out);
}

static inline void
server_prefetch(const struct server *s, const char *keys, size_t i, size_t n)
{
	if (i + PREFETCH_AHEAD < n)
		__builtin_prefetch(&s->slots[s->slot_of[i + PREFETCH_AHEAD]]);
	if (i < n)
		table_prefetch(&s->slots[s->slot_of[i]], load_u64(keys + 8 * i));
}

static void
server_pull(struct server *s, struct ps_peer *p, struct ps_msg *m)
{
	const char *keys;
	size_t len, i;
	ssize_t n;
	struct ps_hdr h;
	float *w;

	keys = msg_bin(m, 0, &len);
	/* The reply must fit a frame too: dim floats per 8-byte key can be larger. */
	if (len / 8 * s->dim * sizeof(float) + 256 > (size_t)s->conf->max_frame) {
		peer_error(p, m, PS_ERR_CLIENT, "PULL of %zu keys of dim %u needs a reply "
		    "over net.max_frame (%lld bytes): split it", len / 8, s->dim,
		    (long long)s->conf->max_frame);
		return;
	}
	if ((n = server_check_keys(s, p, m, keys, len)) == -1)
		return;
	if (n == -2) {
		server_moved(s, p, m);
		return;
	}
	w = s->fbuf;
	for (i = 0; i < 2 * PREFETCH_AHEAD && i < (size_t)n; i++)
		__builtin_prefetch(&s->slots[s->slot_of[i]]);
	for (i = 0; i < PREFETCH_AHEAD; i++)
		server_prefetch(s, keys, i, n);
	for (i = 0; i < (size_t)n; i++, w += s->dim) {
		const float *state;

		server_prefetch(s, keys, i + PREFETCH_AHEAD, n);
		state = table_find(&s->slots[s->slot_of[i]], load_u64(keys + 8 * i));

		/* An unknown key reads as zero and is not created: pulls are read-only. */
		if (state != NULL)
			optim_pull(&s->conf->optim, state, w);
		else
			memset(w, 0, s->dim * sizeof *w);
	}
	h = msg_reply_hdr(m, PS_MSG_PULL_OK, s->id, s->map.epoch);
	msg_begin(&s->out, &h, 1);
	msg_put_bin(&s->out, s->fbuf, (size_t)n * s->dim * sizeof(float));
	msg_end(&s->out);
	peer_send(p, &s->out);
	s->pulls++;
	s->keys_pulled += n;
}

static void
server_push(struct server *s, struct ps_peer *p, struct ps_msg *m)
{
	const char *keys, *grads;
	size_t len, glen, i, nf;
	ssize_t n;
	struct ps_hdr h;

	keys = msg_bin(m, 0, &len);
	grads = msg_bin(m, 1, &glen);
	if ((n = server_check_keys(s, p, m, keys, len)) == -1)
		return;
	if (n == -2) {
		server_moved(s, p, m);
		return;
	}
	nf = (size_t)n * s->dim;
	if (glen != nf * sizeof(float)) {
		peer_error(p, m, PS_ERR_CLIENT, "gradients: %zu bytes for %zd keys of "
		    "dim %u, want %zu", glen, n, s->dim, nf * sizeof(float));
		return;
	}
	/* The bin may be unaligned: copy once, then check before applying anything. */
	memcpy(s->fbuf, grads, glen);
	for (i = 0; i < nf; i++) {
		if (!isfinite(s->fbuf[i])) {
			peer_error(p, m, PS_ERR_CLIENT, "gradients: value %zu of key %zu is "
			    "not finite", i % s->dim, i / s->dim);
			return;
		}
	}
	for (i = 0; i < 2 * PREFETCH_AHEAD && i < (size_t)n; i++)
		__builtin_prefetch(&s->slots[s->slot_of[i]]);
	for (i = 0; i < PREFETCH_AHEAD; i++)
		server_prefetch(s, keys, i, n);
	for (i = 0; i < (size_t)n; i++) {
		float *state;

		server_prefetch(s, keys, i + PREFETCH_AHEAD, n);
		state = table_insert(&s->slots[s->slot_of[i]], load_u64(keys + 8 * i), NULL);
		optim_push(&s->conf->optim, state, s->fbuf + i * s->dim);
	}
	h = msg_reply_hdr(m, PS_MSG_PUSH_OK, s->id, s->map.epoch);
	msg_begin(&s->out, &h, 1);
	msg_put_uint(&s->out, (uint64_t)n);
	msg_end(&s->out);
	peer_send(p, &s->out);
	s->pushes++;
	s->keys_pushed += n;
}

static void
server_stats(struct server *s, uint64_t *keys, uint64_t *bytes, uint32_t *slots)
{
	uint32_t i;

	*keys = *bytes = 0;
	*slots = 0;
	for (i = 0; i < PS_NSLOTS; i++) {
		*slots += s->owned[i];
		*keys += s->slots[i].count;
		*bytes += table_bytes(&s->slots[i]);
	}
}

static void
server_status(struct server *s, struct ps_peer *p, struct ps_msg *m)
{
	struct ps_hdr h = msg_reply_hdr(m, PS_MSG_STATUS_OK, s->id, s->map.epoch);
	uint64_t keys, bytes;
	uint32_t slots;

	server_stats(s, &keys, &bytes, &slots);
	msg_begin(&s->out, &h, 1);
	msg_put_map(&s->out, 9);
	msg_put_str(&s->out, "id");		msg_put_uint(&s->out, s->id);
	msg_put_str(&s->out, "epoch");		msg_put_uint(&s->out, s->map.epoch);
	msg_put_str(&s->out, "slots");		msg_put_uint(&s->out, slots);
	msg_put_str(&s->out, "keys");		msg_put_uint(&s->out, keys);
	msg_put_str(&s->out, "bytes");		msg_put_uint(&s->out, bytes);
	msg_put_str(&s->out, "pulls");		msg_put_uint(&s->out, s->pulls);
	msg_put_str(&s->out, "pushes");		msg_put_uint(&s->out, s->pushes);
	msg_put_str(&s->out, "keys_pulled");	msg_put_uint(&s->out, s->keys_pulled);
	msg_put_str(&s->out, "keys_pushed");	msg_put_uint(&s->out, s->keys_pushed);
	msg_end(&s->out);
	peer_send(p, &s->out);
}

static void
server_map(struct server *s, struct ps_peer *p, struct ps_msg *m)
{
	struct ps_hdr h;
	char *cause;
	uint32_t i, me = UINT32_MAX, slots;

	if (map_unpack(&s->map, m, 0, &cause) != 0) {
		log_warnx("scheduler sent a bad map: %s", cause);
		free(cause);
		return;
	}
	for (i = 0; i < s->map.nservers; i++)
		if (s->map.servers[i].id == s->id)
			me = i;
	for (i = 0, slots = 0; i < PS_NSLOTS; i++) {
		s->owned[i] = s->map.owner[i] == me;
		slots += s->owned[i];
	}
	log_info("map epoch %llu: serving %u of %d slots",
	    (unsigned long long)s->map.epoch, slots, PS_NSLOTS);
	h = msg_reply_hdr(m, PS_MSG_MAP_ACK, s->id, s->map.epoch);
	msg_begin(&s->out, &h, 1);
	msg_put_uint(&s->out, s->map.epoch);
	msg_end(&s->out);
	peer_send(p, &s->out);
}

static void
server_shutdown(struct server *s, struct ps_peer *p, struct ps_msg *m)
{
	uint64_t keys, bytes;
	uint32_t slots;

	(void)p;
	(void)m;
	server_stats(s, &keys, &bytes, &slots);
	log_info("job finished: %llu keys in %llu bytes (%.1f bytes/key); exiting",
	    (unsigned long long)keys, (unsigned long long)bytes,
	    keys ? (double)bytes / keys : 0.0);
	event_base_loopexit(s->base, NULL);
}

static void
server_sched_error(struct server *s, struct ps_peer *p, struct ps_msg *m)
{
	char *text = msg_strdup(m, 1);

	(void)s;
	(void)p;
	log_warnx("scheduler: %s", text);
	free(text);
}

static const struct handler worker_handlers[] = {
	{ PS_MSG_PULL, "b", server_pull },
	{ PS_MSG_PUSH, "bb", server_push },
	{ PS_MSG_STATUS, "", server_status },
	{ 0, NULL, NULL },
};

static const struct handler sched_handlers[] = {
	{ PS_MSG_MAP, PS_MAP_FMT, server_map },
	{ PS_MSG_SHUTDOWN, "", server_shutdown },
	{ PS_MSG_ERROR, "us", server_sched_error },
	{ 0, NULL, NULL },
};

static void
server_dispatch(struct server *s, const struct handler *table, struct ps_peer *p,
    struct ps_msg *m)
{
	const struct handler *h;
	char *cause;

	for (h = table; h->fn != NULL; h++) {
		if (h->type != m->hdr.type)
			continue;
		if (msg_check(m, h->fmt, &cause) != 0) {
			peer_error(p, m, PS_ERR_CLIENT, "%s", cause);
			free(cause);
			return;
		}
		h->fn(s, p, m);
		return;
	}
	peer_error(p, m, PS_ERR_CLIENT, "unexpected message type %u (%s)", m->hdr.type,
	    proto_type_name(m->hdr.type));
}

static void
server_worker_cb(struct ps_peer *p, struct ps_msg *m, void *arg)
{
	if (m != NULL)
		server_dispatch(arg, worker_handlers, p, m);
}

static void
server_sched_cb(struct ps_peer *p, struct ps_msg *m, void *arg)
{
	struct server *s = arg;

	if (m == NULL) {
		/* Keep serving: the parameters here are still good. */
		log_warnx("lost the scheduler; still serving %s:%d", s->conf->server_host,
		    s->port);
		s->sched = NULL;
		event_del(s->beat);
		return;
	}
	server_dispatch(s, sched_handlers, p, m);
}

static void
server_accept(int fd, void *arg)
{
	struct server *s = arg;

	peer_accept(s->base, fd, s->conf->max_frame, PS_ROLE_SERVER, s->id,
	    server_worker_cb, s);
}

static void
server_beat(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct ps_hdr h = { .version = PS_PROTOCOL_VERSION, .type = PS_MSG_HEARTBEAT,
			    .sender = s->id };

	(void)fd;
	(void)what;
	if (s->sched == NULL)
		return;
	h.epoch = s->map.epoch;
	msg_simple(&s->out, &h);
	peer_send(s->sched, &s->out);
}

static void
server_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	log_info("%s: exiting", strsignal(sig));
	event_base_loopexit(s->base, NULL);
}

/* Register with the scheduler over a blocking connection, then hand it to the loop. */
static int
server_register(struct server *s, char **cause)
{
	const struct ps_conf *conf = s->conf;
	struct ps_conn c;
	struct ps_hdr h = { .version = PS_PROTOCOL_VERSION, .type = PS_MSG_REGISTER,
			    .id = 1 };
	struct ps_msg m;
	struct ps_peer *p;

	if (conn_open(&c, conf->scheduler_host, conf->scheduler_port, PS_ROLE_SERVER, 0,
	    "ps-server", conf->max_frame, 10.0, cause) != 0)
		return -1;
	msg_begin(&s->out, &h, 3);
	msg_put_uint(&s->out, PS_ROLE_SERVER);
	msg_put_str(&s->out, conf->server_host);
	msg_put_uint(&s->out, (uint64_t)s->port);
	msg_end(&s->out);
	if (conn_call(&c, &s->out, &m, PS_MSG_REGISTER_OK, cause) != 0) {
		conn_close(&c);
		return -1;
	}
	if (msg_check(&m, "uu" PS_MAP_FMT, cause) != 0) {
		msg_free(&m);
		conn_close(&c);
		return -1;
	}
	s->id = msg_uint(&m, 0);
	msg_free(&m);

	p = peer_attach(s->base, c.fd, "scheduler", conf->max_frame, server_sched_cb, s);
	/* Frames that arrived behind REGISTER_OK (the map, often) go to the peer. */
	peer_feed(p, c.buf + c.start, c.end - c.start);
	c.fd = -1;
	conn_close(&c);
	s->sched = p;
	return 0;
}

int
server_run(const struct ps_conf *conf)
{
	struct server s;
	struct timeval tv;
	char *cause;
	uint32_t i;

	memset(&s, 0, sizeof s);
	s.conf = conf;
	s.dim = conf->optim.dim;
	s.width = optim_width(&conf->optim);
	s.slots = xcalloc(PS_NSLOTS, sizeof *s.slots);
	for (i = 0; i < PS_NSLOTS; i++)
		table_init(&s.slots[i], s.width);
	map_init(&s.map);
	wbuf_init(&s.out);
	signal(SIGPIPE, SIG_IGN);
	if ((s.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");

	s.listener = peer_listen(s.base, conf->server_host, conf->server_port,
	    server_accept, &s, &s.port, &cause);
	if (s.listener == NULL) {
		log_error("%s", cause);
		free(cause);
		return 1;
	}
	if (server_register(&s, &cause) != 0) {
		log_error("scheduler %s:%d: %s", conf->scheduler_host, conf->scheduler_port,
		    cause);
		free(cause);
		peer_listen_free(s.listener);
		event_base_free(s.base);
		return 1;
	}
	log_info("node %u serving on %s:%d (%s, dim %u)", s.id, conf->server_host, s.port,
	    optim_name(conf->optim.kind), s.dim);

	s.beat = event_new(s.base, -1, EV_PERSIST, server_beat, &s);
	tv.tv_sec = (time_t)conf->heartbeat_interval;
	tv.tv_usec = (suseconds_t)((conf->heartbeat_interval - tv.tv_sec) * 1e6);
	event_add(s.beat, &tv);
	s.sigterm = evsignal_new(s.base, SIGTERM, server_signal, &s);
	s.sigint = evsignal_new(s.base, SIGINT, server_signal, &s);
	event_add(s.sigterm, NULL);
	event_add(s.sigint, NULL);

	event_base_dispatch(s.base);

	for (i = 0; i < PS_NSLOTS; i++) {
		table_free(&s.slots[i]);
	}
	peer_close_all();
	event_free(s.beat);
	event_free(s.sigterm);
	event_free(s.sigint);
	peer_listen_free(s.listener);
	event_base_free(s.base);
	free(s.slots);
	map_free(&s.map);
	wbuf_free(&s.out);
	free(s.slot_of);
	free(s.fbuf);
	return 0;
}
