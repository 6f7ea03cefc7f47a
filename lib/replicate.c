/*
 * Replication on the servers (ps/replicate.h): the owner's side (forwarding the
 * states a request left, sending a new backup its first copy) and the backup's side
 * (storing them). One connection per backup, made when first needed; frames on it
 * keep their order, which is what makes a copy and the updates after it agree.
 */
#include <stdlib.h>
#include <string.h>

#include "ps/log.h"
#include "ps/net.h"
#include "ps/replicate.h"
#include "ps/xmalloc.h"

/* Frames of a few megabytes at most, as a migration's. */
#define REPLICATE_FRAME_BYTES	((size_t)4 << 20)

struct link {
	uint32_t	 id;		/* the backup's node id */
	struct ps_peer	*peer;
};

/* A client's request whose answer waits for its backups. */
struct forward {
	struct ps_defer	*d;
	uint32_t	 waiting;	/* REPLICATE frames not answered yet */
	uint32_t	 reply;		/* PUSH_OK or LOAD_OK */
	uint64_t	 keys;
	char		*why;		/* the first copy that failed, or NULL */
};

/* A first copy of slots on its way to a backup. */
struct sync {
	uint32_t	 to;
	size_t		 slots;
	uint64_t	 keys;
	uint32_t	 waiting;	/* frames not answered yet */
	int		 failed;
	double		 started;
};

/* One frame in flight. */
struct call {
	struct server	*s;
	struct forward	*f;		/* one of these two */
	struct sync	*y;
	uint32_t	 to;
};

struct replication {
	struct link	*links;
	uint32_t	 nlinks;
	uint8_t		*mark;		/* scratch: one per server of the map */
	uint32_t	 nmark;
};

static struct replication *
replicate_get(struct server *s)
{
	if (s->repl == NULL)
		s->repl = xcalloc(1, sizeof *s->repl);
	return s->repl;
}

/* The largest frame sent to a backup: a few megabytes, under net.max_frame. */
static size_t
replicate_frame_bytes(const struct server *s)
{
	size_t limit = (size_t)s->conf->max_frame - 1024;

	return limit < REPLICATE_FRAME_BYTES ? limit : REPLICATE_FRAME_BYTES;
}

/* Keys a REPLICATE frame holds: a request's keys may make a larger frame here than
 * they did from the client (a state is wider than a gradient). */
static size_t
replicate_keys_per_frame(const struct server *s)
{
	return replicate_frame_bytes(s) / (8 + 4 * (size_t)s->width);
}

/* Whether node id is the backup of a slot this server owns, in its map now. */
static int
replicate_is_backup(const struct server *s, uint32_t id)
{
	int me = map_find_server(&s->map, s->id), b = map_find_server(&s->map, id);
	uint32_t slot, j;

	if (me < 0 || b < 0)
		return 0;
	for (j = 0; j < s->map.nbackups; j++)
		for (slot = 0; slot < PS_NSLOTS; slot++)
			if (s->map.backup[j][slot] == b && s->map.owner[slot] == me)
				return 1;
	return 0;
}

static void
replicate_link_cb(struct ps_peer *p, struct ps_msg *m, void *arg)
{
	struct server *s = arg;
	struct replication *r = s->repl;
	uint32_t i;

	if (m != NULL) {
		peer_error(p, m, PS_ERR_CLIENT, "unexpected %s on a connection to a backup",
		    proto_type_name(m->hdr.type));
		return;
	}
	for (i = 0; r != NULL && i < r->nlinks; i++) {
		if (r->links[i].peer == p) {
			if (!s->exiting && replicate_is_backup(s, r->links[i].id))
				log_warnx("lost the connection to backup node %u: %s",
				    r->links[i].id, peer_why(p));
			r->links[i] = r->links[--r->nlinks];
			return;
		}
	}
}

/* The connection to server index b of the map, made if there is none. */
static struct ps_peer *
replicate_link(struct server *s, uint32_t b)
{
	struct replication *r = replicate_get(s);
	const struct ps_node *n = &s->map.servers[b];
	char name[32];
	uint32_t i;

	for (i = 0; i < r->nlinks; i++)
		if (r->links[i].id == n->id)
			return r->links[i].peer;
	snprintf(name, sizeof name, "backup %u", n->id);
	r->links = xreallocarray(r->links, r->nlinks + 1, sizeof *r->links);
	r->links[r->nlinks].id = n->id;
	r->links[r->nlinks].peer = peer_connect(s->proc.base, n->host, n->port, name,
	    s->conf->max_frame, replicate_link_cb, s);
	return r->links[r->nlinks++].peer;
}

/* Every backup has answered: answer the client. */
static void
replicate_finish(struct server *s, struct forward *f)
{
	struct ps_hdr h;

	if (f->why != NULL)
		defer_error(f->d, PS_ERR_RETRY, "%s: not applied on every copy; send it "
		    "again once the map has changed", f->why);
	else {
		h = msg_reply_hdr(defer_msg(f->d), f->reply, s->id, s->map.epoch);
		msg_begin(&s->out, &h, 1);
		msg_put_uint(&s->out, f->keys);
		msg_end(&s->out);
		defer_reply(f->d, &s->out);
	}
	free(f->why);
	free(f);
}

static void
replicate_sync_done(struct sync *y)
{
	if (!y->failed)
		log_info("backup node %u has its copy of %zu slots (%llu keys), sent in "
		    "%.3f s", y->to, y->slots, (unsigned long long)y->keys,
		    net_now() - y->started);
	free(y);
}

static void
replicate_acked(struct ps_peer *p, struct ps_msg *m, const char *why, void *arg)
{
	struct call *c = arg;
	struct server *s = c->s;

	(void)p;
	if (m == NULL || why != NULL) {
		if (why == NULL)
			why = "no answer";
		/* A backup the map has dropped meanwhile is owed nothing. */
		if (c->f != NULL && c->f->why == NULL && replicate_is_backup(s, c->to))
			xasprintf(&c->f->why, "the copy on server node %u: %s", c->to, why);
		if (c->y != NULL && !c->y->failed) {
			c->y->failed = 1;
			if (!s->exiting && replicate_is_backup(s, c->to))
				log_warnx("sending backup node %u its copy of %zu slots "
				    "failed: %s", c->to, c->y->slots, why);
		}
	} else if (c->y != NULL)
		c->y->keys += msg_uint(m, 0);
	if (c->f != NULL && --c->f->waiting == 0)
		replicate_finish(s, c->f);
	if (c->y != NULL && --c->y->waiting == 0)
		replicate_sync_done(c->y);
	free(c);
}

static void
replicate_call(struct server *s, struct ps_peer *peer, struct forward *f,
    struct sync *y, uint32_t to)
{
	struct call *c = xcalloc(1, sizeof *c);

	c->s = s;
	c->f = f;
	c->y = y;
	c->to = to;
	if (f != NULL)
		f->waiting++;
	if (y != NULL)
		y->waiting++;
	peer_call(peer, &s->out, s->conf->request_timeout / 2, replicate_acked, c);
}

/* Mark, in r->mark, the servers that are backups of the slots of keys. */
static uint32_t
replicate_mark(struct server *s, size_t n)
{
	struct replication *r = replicate_get(s);
	uint32_t j, b, count = 0;
	size_t i;

	if (r->nmark < s->map.nservers) {
		r->mark = xreallocarray(r->mark, s->map.nservers, 1);
		r->nmark = s->map.nservers;
	}
	memset(r->mark, 0, s->map.nservers);
	for (i = 0; i < n; i++) {
		for (j = 0; j < s->map.nbackups; j++) {
			b = s->map.backup[j][s->slot_of[i]];
			if (b == PS_NO_SERVER)
				break;
			if (!r->mark[b]) {
				r->mark[b] = 1;
				count++;
			}
		}
	}
	return count;
}

static int
replicate_has_backup(const struct server *s, uint32_t slot, uint32_t b)
{
	uint32_t j;

	for (j = 0; j < s->map.nbackups; j++)
		if (s->map.backup[j][slot] == b)
			return 1;
	return 0;
}

int
replicate_forward(struct server *s, struct ps_peer *p, struct ps_msg *m,
    struct ps_defer *d, const char *keys, size_t n, uint32_t reply)
{
	struct replication *r;
	struct forward *f;
	struct ps_peer *link;
	struct ps_hdr h;
	size_t per = replicate_keys_per_frame(s), i, i0, k, nk, at;
	uint32_t b, client = peer_info(p)->node_id;
	char *kp, *vp;

	if (s->map.nbackups == 0 || n == 0 || replicate_mark(s, n) == 0)
		return 0;
	r = s->repl;
	f = xcalloc(1, sizeof *f);
	f->d = d != NULL ? d : peer_defer(p, m, 1);
	f->reply = reply;
	f->keys = n;
	f->waiting = 1;		/* until every frame is sent */
	for (b = 0; b < s->map.nservers; b++) {
		if (!r->mark[b])
			continue;
		link = replicate_link(s, b);
		/* The keys this backup holds, in frames of at most per keys. */
		for (i = 0; i < n;) {
			for (k = i, nk = 0; k < n && nk < per; k++)
				nk += replicate_has_backup(s, s->slot_of[k], b);
			h = msg_hdr(PS_MSG_REPLICATE, peer_next_id(link), s->id,
			    s->map.epoch);
			msg_begin(&s->out, &h, 4);
			msg_put_uint(&s->out, client);
			msg_put_uint(&s->out, m->hdr.id);
			/* Keys, then states: a bin's space is written before the
			 * next one is asked for (the buffer may move). */
			kp = msg_put_bin_space(&s->out, nk * 8);
			for (at = 0, i0 = i; i < k; i++)
				if (replicate_has_backup(s, s->slot_of[i], b))
					memcpy(kp + 8 * at++, keys + 8 * i, 8);
			vp = msg_put_bin_space(&s->out, nk * 4 * (size_t)s->width);
			for (at = 0, i = i0; i < k; i++) {
				const float *state;

				if (!replicate_has_backup(s, s->slot_of[i], b))
					continue;
				state = table_find(&s->store.tables[s->slot_of[i]],
				    load_u64(keys + 8 * i));
				if (state != NULL)
					memcpy(vp + 4 * (size_t)s->width * at, state,
					    4 * (size_t)s->width);
				else	/* a key no request made: a zero state */
					memset(vp + 4 * (size_t)s->width * at, 0,
					    4 * (size_t)s->width);
				at++;
			}
			msg_end(&s->out);
			if (nk == 0) {
				wbuf_reset(&s->out);
				continue;
			}
			replicate_call(s, link, f, NULL, s->map.servers[b].id);
		}
	}
	if (--f->waiting == 0)
		replicate_finish(s, f);
	return 1;
}

/* Whether both this server and server id held a copy of slot in the old map: then
 * they hold the same entries (both were kept by the same owner). */
static int
replicate_in_sync(const struct server *s, const struct ps_map *old, uint32_t slot,
    uint32_t id)
{
	int me, b;

	if (old->epoch == 0)
		return 1;	/* the first map: every copy starts empty */
	me = map_find_server(old, s->id);
	b = map_find_server(old, id);
	return me >= 0 && b >= 0 && map_holds(old, slot, (uint32_t)me) &&
	    map_holds(old, slot, (uint32_t)b);
}

/* Send backup b (index in the map) its first copy of slots. */
static void
replicate_send_copy(struct server *s, uint32_t b, uint16_t *slots, size_t n)
{
	struct ps_peer *link = replicate_link(s, b);
	struct ps_store_cursor cur;
	struct sync *y = xcalloc(1, sizeof *y);
	size_t limit, slot_bytes, per_key = 8 + 4 * (size_t)s->width;
	struct ps_hdr h;
	size_t i;

	y->to = s->map.servers[b].id;
	y->slots = n;
	y->started = net_now();
	y->waiting = 1;
	log_info("sending backup node %u its copy of %zu slots (%llu keys)", y->to, n,
	    (unsigned long long)store_keys_in(&s->store, slots, n));
	/* First the slots to empty (whatever an earlier copy left), alone. */
	h = msg_hdr(PS_MSG_REPLICA_SYNC, peer_next_id(link), s->id, s->map.epoch);
	msg_begin(&s->out, &h, 7);
	msg_put_uint(&s->out, s->width);
	/* uint16 lists go as they lie (little-endian hosts only: ps/msg.h) */
	msg_put_bin(&s->out, slots, 2 * n);
	for (i = 0; i < 5; i++)
		msg_put_bin(&s->out, "", 0);
	msg_end(&s->out);
	replicate_call(s, link, NULL, y, y->to);
	memset(&cur, 0, sizeof cur);
	cur.slots = slots;
	cur.nslots = n;
	limit = replicate_frame_bytes(s);
	slot_bytes = limit / 4 < 8 * PS_NSLOTS ? limit / 4 : 8 * PS_NSLOTS;
	while (cur.i < cur.nslots) {
		h = msg_hdr(PS_MSG_REPLICA_SYNC, peer_next_id(link), s->id, s->map.epoch);
		msg_begin(&s->out, &h, 7);
		msg_put_uint(&s->out, s->width);
		msg_put_bin(&s->out, "", 0);
		store_pack(&s->store, &cur, (limit - slot_bytes) / per_key, slot_bytes / 8,
		    &s->out);
		msg_end(&s->out);
		replicate_call(s, link, NULL, y, y->to);
	}
	if (--y->waiting == 0)
		replicate_sync_done(y);
}

void
replicate_map(struct server *s, const struct ps_map *old)
{
	struct replication *r = s->repl;
	int me = map_find_server(&s->map, s->id);
	uint16_t *need;
	uint32_t b, j, slot, i;
	size_t n;

	/* Connections to servers that are not backups here any more: closed (a
	 * request waiting on one is owed nothing by it now). */
	for (i = 0; r != NULL && i < r->nlinks;) {
		struct ps_peer *p = r->links[i].peer;

		if (replicate_is_backup(s, r->links[i].id)) {
			i++;
			continue;
		}
		r->links[i] = r->links[--r->nlinks];
		peer_close(p);
	}
	if (me < 0 || s->map.nbackups == 0)
		return;
	need = xreallocarray(NULL, PS_NSLOTS, sizeof *need);
	for (b = 0; b < s->map.nservers; b++) {
		if ((int)b == me)
			continue;
		n = 0;
		for (slot = 0; slot < PS_NSLOTS; slot++) {
			if (s->map.owner[slot] != me)
				continue;
			for (j = 0; j < s->map.nbackups; j++)
				if (s->map.backup[j][slot] == b &&
				    !replicate_in_sync(s, old, slot, s->map.servers[b].id))
					need[n++] = (uint16_t)slot;
		}
		if (n > 0)
			replicate_send_copy(s, b, need, n);
	}
	free(need);
}

/*
 * May the peer keep slot as its owner? Its map's epoch is in the header: a newer one
 * than ours (ours is on its way) is trusted; otherwise ours must name it, so a
 * deposed owner (stopped, cut off, then back) cannot change a copy.
 */
static int
replicate_from_owner(const struct server *s, const struct ps_msg *m, uint32_t from,
    uint32_t slot)
{
	if (m->hdr.epoch > s->map.epoch)
		return 1;
	return s->map.nservers > 0 && s->map.servers[s->map.owner[slot]].id == from;
}

void
replicate_store(struct server *s, struct ps_peer *p, struct ps_msg *m)
{
	uint32_t from = peer_info(p)->node_id;
	const char *keys, *states;
	size_t len, slen, i, n;
	uint64_t prev = 0, k;
	struct ps_hdr h;
	char unit[64];

	/* An owner's link: quiet while nothing is pushed, not idle (net.idle_timeout). */
	peer_keep(p);
	keys = msg_bin(m, 2, &len);
	states = msg_bin(m, 3, &slen);
	if (len % 8 != 0) {
		peer_error(p, m, PS_ERR_CLIENT, "REPLICATE: %zu bytes of keys", len);
		return;
	}
	n = len / 8;
	server_grow(s, n);
	for (i = 0; i < n; i++) {
		k = load_u64(keys + 8 * i);
		if (i > 0 && k <= prev) {
			peer_error(p, m, PS_ERR_CLIENT, "REPLICATE: key %zu is not above the "
			    "one before", i);
			return;
		}
		prev = k;
		s->slot_of[i] = map_slot(k);
		if (s->store.state[s->slot_of[i]] != SLOT_REPLICA ||
		    !replicate_from_owner(s, m, from, s->slot_of[i])) {
			peer_error(p, m, PS_ERR_RETRY, "slot %u is not a backup here of node "
			    "%u's (map epoch %llu here, %llu there)", s->slot_of[i], from,
			    (unsigned long long)s->map.epoch,
			    (unsigned long long)m->hdr.epoch);
			return;
		}
	}
	snprintf(unit, sizeof unit, "%u floats", s->width);
	if (server_floats(s, p, m, NULL, "states", states, slen, n, s->width, unit) != 0)
		return;
	for (i = 0; i < n; i++)
		memcpy(table_insert(&s->store.tables[s->slot_of[i]], load_u64(keys + 8 * i),
		    NULL), s->fbuf + i * s->width, s->width * sizeof(float));
	/* Should this server become the owner, it knows the request was applied. */
	applied_add(&s->applied, (uint32_t)msg_uint(m, 0), msg_uint(m, 1));
	h = msg_reply_hdr(m, PS_MSG_REPLICATE_OK, s->id, s->map.epoch);
	msg_begin(&s->out, &h, 1);
	msg_put_uint(&s->out, (uint64_t)n);
	msg_end(&s->out);
	peer_send(p, &s->out);
}

void
replicate_sync(struct server *s, struct ps_peer *p, struct ps_msg *m)
{
	struct ps_hdr h = msg_reply_hdr(m, PS_MSG_SLOT_DATA_OK, s->id, s->map.epoch);
	const unsigned char *b;
	uint32_t from = peer_info(p)->node_id;
	size_t len, i;
	int64_t n;
	char *cause;

	peer_keep(p);
	if (msg_uint(m, 0) != s->width) {
		peer_error(p, m, PS_ERR_CLIENT, "backup copy of %llu floats per key: this "
		    "server keeps %u (same optimizer and model.dim everywhere?)",
		    (unsigned long long)msg_uint(m, 0), s->width);
		return;
	}
	b = (const unsigned char *)msg_bin(m, 1, &len);
	if (len % 2 != 0) {
		peer_error(p, m, PS_ERR_CLIENT, "REPLICA_SYNC: slot list of %zu bytes", len);
		return;
	}
	for (i = 0; i < len / 2; i++) {
		uint32_t slot = b[2 * i] | b[2 * i + 1] << 8;

		if (slot >= PS_NSLOTS || (s->store.state[slot] != SLOT_ABSENT &&
		    s->store.state[slot] != SLOT_REPLICA) ||
		    !replicate_from_owner(s, m, from, slot)) {
			peer_error(p, m, PS_ERR_STATE, "slot %u cannot be a backup here of "
			    "node %u's", slot, from);
			return;
		}
	}
	for (i = 0; i < len / 2; i++) {
		uint32_t slot = b[2 * i] | b[2 * i + 1] << 8;

		store_drop(&s->store, slot);
		store_set(&s->store, slot, SLOT_REPLICA, s->map.epoch);
	}
	if ((n = store_load(&s->store, m, 2, s->map.epoch, SLOT_REPLICA, &cause)) == -1) {
		peer_error(p, m, PS_ERR_CLIENT, "%s", cause);
		free(cause);
		return;
	}
	if (len > 0)
		log_info("node %u is sending its copy of %zu slots", from, len / 2);
	msg_begin(&s->out, &h, 1);
	msg_put_uint(&s->out, (uint64_t)n);
	msg_end(&s->out);
	peer_send(p, &s->out);
}

uint32_t
replicate_backup_slots(const struct server *s)
{
	return store_count(&s->store, SLOT_REPLICA);
}

void
replicate_free(struct server *s)
{
	struct replication *r = s->repl;

	if (r == NULL)
		return;
	/* Closing fails what waits on the links: their defers are still alive. */
	while (r->nlinks > 0) {
		struct ps_peer *p = r->links[--r->nlinks].peer;

		peer_close(p);
	}
	free(r->links);
	free(r->mark);
	free(r);
	s->repl = NULL;
}
