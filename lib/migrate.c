/*
 * Sending slots to another server while serving them (Redis Cluster's MIGRATE, slot by
 * slot). The source packs a slot's entries and hands the slot over in the same turn of
 * its event loop: from then on a request for it gets MOVED naming the destination, so
 * no update can land between the copy and the hand-over, and each update is applied
 * exactly once, here before the copy or there after it. The destination holds requests
 * for a slot until its last frame is in (lib/server.c). The entries stay here until the
 * destination confirms them, so a destination lost mid-way gives the unconfirmed slots
 * back to this server. Frames are a few megabytes, two in flight.
 */
#include <stdlib.h>
#include <string.h>

#include "ps/log.h"
#include "ps/migrate.h"
#include "ps/net.h"
#include "ps/xmalloc.h"

#define MIGRATE_FRAME_BYTES	((size_t)4 << 20)
#define MIGRATE_WINDOW		2
#define MIGRATE_TIMEOUT		60.0

struct migration {
	struct ps_defer		*d;		/* the scheduler's MIGRATE */
	struct ps_peer		*peer;		/* to the destination */
	uint32_t		 to;
	uint16_t		*slots;
	size_t			 n;
	struct ps_store_cursor	 cur;
	size_t			 ends[MIGRATE_WINDOW];	/* slots completed by each frame
							 * in flight, oldest first */
	int			 inflight;
	size_t			 acked;		/* slots[0..acked) are there */
	uint64_t		 keys;		/* keys confirmed */
	double			 started;
};

static void	migrate_pump(struct server *);

static void
migrate_remember(struct server *s, uint32_t id, const char *host, int port)
{
	uint32_t i;

	for (i = 0; i < s->ndests; i++) {
		if (s->dests[i].id == id) {
			free(s->dests[i].host);
			s->dests[i].host = xstrdup(host);
			s->dests[i].port = port;
			return;
		}
	}
	s->dests = xreallocarray(s->dests, s->ndests + 1, sizeof *s->dests);
	s->dests[s->ndests].id = id;
	s->dests[s->ndests].host = xstrdup(host);
	s->dests[s->ndests].port = port;
	s->ndests++;
}

/*
 * The move is over, whole or not: the scheduler learns how many of the slots (the
 * first ones of its list) the destination confirmed, since those are there now
 * whatever happened after, and why the rest stayed here.
 */
static void
migrate_end(struct server *s, const char *why)
{
	struct migration *g = s->mig;
	struct ps_hdr h;
	size_t i, back = 0;

	s->mig = NULL;
	for (i = g->acked; i < g->n; i++) {
		if (s->store.state[g->slots[i]] == SLOT_MIGRATING) {
			store_set(&s->store, g->slots[i], SLOT_OWNED, s->map.epoch);
			s->moved_to[g->slots[i]] = 0;
			back++;
		}
	}
	if (why != NULL)
		log_warnx("moving slots to node %u failed after %zu of %zu slots: %s; the "
		    "%zu not confirmed stay here (%zu of them had been handed over)",
		    g->to, g->acked, g->n, why, g->n - g->acked, back);
	else
		log_info("moved %zu slots (%llu keys) to node %u in %.3f s", g->n,
		    (unsigned long long)g->keys, g->to, net_now() - g->started);
	s->slots_out += g->acked;
	s->keys_out += g->keys;
	h = msg_reply_hdr(defer_msg(g->d), PS_MSG_MIGRATE_OK, s->id, s->map.epoch);
	msg_begin(&s->out, &h, 3);
	msg_put_uint(&s->out, g->acked);
	msg_put_uint(&s->out, g->keys);
	msg_put_str(&s->out, why != NULL ? why : "");
	msg_end(&s->out);
	defer_reply(g->d, &s->out);
	peer_close(g->peer);
	free(g->slots);
	free(g);
}

static void
migrate_acked(struct ps_peer *p, struct ps_msg *m, const char *why, void *arg)
{
	struct server *s = arg;
	struct migration *g = s->mig;
	size_t i;

	if (g == NULL || g->peer != p)
		return;		/* a migration that already ended */
	if (m == NULL || why != NULL) {
		migrate_end(s, why);
		return;
	}
	/* The destination has these slots now: let go of the entries. */
	for (i = g->acked; i < g->ends[0]; i++) {
		store_drop(&s->store, g->slots[i]);
		store_set(&s->store, g->slots[i], SLOT_ABSENT, s->store.epoch[g->slots[i]]);
	}
	g->acked = g->ends[0];
	g->keys += msg_uint(m, 0);
	memmove(g->ends, g->ends + 1, (MIGRATE_WINDOW - 1) * sizeof *g->ends);
	g->inflight--;
	migrate_pump(s);
}

/* Send frames while the window has room; finish when all are confirmed. */
static void
migrate_pump(struct server *s)
{
	struct migration *g;
	size_t per_key = 8 + 4 * (size_t)s->width, limit, slot_bytes, from, upto, i;
	struct ps_hdr h;

	limit = (size_t)s->conf->max_frame - 1024;
	if (limit > MIGRATE_FRAME_BYTES)
		limit = MIGRATE_FRAME_BYTES;
	while ((g = s->mig) != NULL && g->inflight < MIGRATE_WINDOW &&
	    g->cur.i < g->n) {
		from = g->cur.i;
		h = msg_hdr(PS_MSG_SLOT_DATA, peer_next_id(g->peer), s->id, s->map.epoch);
		msg_begin(&s->out, &h, 6);
		msg_put_uint(&s->out, s->width);
		/* A quarter of the frame at most for the slot lists (8 bytes a slot),
		 * the rest for the entries: a frame never passes net.max_frame. */
		slot_bytes = limit / 4 < 8 * PS_NSLOTS ? limit / 4 : 8 * PS_NSLOTS;
		store_pack(&s->store, &g->cur, (limit - slot_bytes) / per_key,
		    slot_bytes / 8, &s->out);
		msg_end(&s->out);
		/* Hand over every slot this frame touched, in the same turn. */
		upto = g->cur.i + (g->cur.taken > 0);
		for (i = from; i < upto; i++) {
			if (s->store.state[g->slots[i]] == SLOT_OWNED) {
				store_set(&s->store, g->slots[i], SLOT_MIGRATING,
				    s->map.epoch);
				s->moved_to[g->slots[i]] = g->to;
			}
		}
		g->ends[g->inflight++] = g->cur.i;
		peer_call(g->peer, &s->out, MIGRATE_TIMEOUT, migrate_acked, s);
	}
	if ((g = s->mig) != NULL && g->inflight == 0 && g->cur.i == g->n)
		migrate_end(s, NULL);
}

/* The destination's connection: only replies are expected on it. */
static void
migrate_peer_cb(struct ps_peer *p, struct ps_msg *m, void *arg)
{
	struct server *s = arg;

	if (m != NULL) {
		peer_error(p, m, PS_ERR_CLIENT, "unexpected %s on a migration",
		    proto_type_name(m->hdr.type));
		return;
	}
	if (s->mig != NULL && s->mig->peer == p)
		migrate_end(s, "lost the connection to the destination");
}

int
migrate_start(struct server *s, struct ps_defer *d, uint32_t to, const char *host,
    int port, const uint16_t *slots, size_t n, char **cause)
{
	struct migration *g;
	char name[32];
	size_t i;

	if (s->mig != NULL) {
		xasprintf(cause, "already moving slots to node %u", s->mig->to);
		return -1;
	}
	if (s->save != NULL) {
		xasprintf(cause, "a checkpoint is being written: move after it");
		return -1;
	}
	if (to == s->id) {
		xasprintf(cause, "cannot move slots to this server itself");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (s->store.state[slots[i]] != SLOT_OWNED) {
			xasprintf(cause, "slot %u is not served here", slots[i]);
			return -1;
		}
	}
	g = xcalloc(1, sizeof *g);
	g->d = d;
	g->to = to;
	g->n = n;
	g->slots = xreallocarray(NULL, n, sizeof *g->slots);
	memcpy(g->slots, slots, n * sizeof *slots);
	g->cur.slots = g->slots;
	g->cur.nslots = n;
	g->started = net_now();
	migrate_remember(s, to, host, port);
	snprintf(name, sizeof name, "server %u", to);
	g->peer = peer_connect(s->proc.base, host, port, name, s->conf->max_frame,
	    migrate_peer_cb, s);
	s->mig = g;
	log_info("moving %zu slots (%llu keys) to node %u at %s:%d", n,
	    (unsigned long long)store_keys_in(&s->store, slots, n), to, host, port);
	migrate_pump(s);
	return 0;
}

void
migrate_free(struct server *s)
{
	struct migration *g = s->mig;

	if (g == NULL)
		return;
	s->mig = NULL;
	free(g->slots);
	free(g);
}
