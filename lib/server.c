/*
 * ps-server. One event loop; the parameters live in a slot store. A request is checked
 * whole before anything is applied (sizes, key order, slot ownership, finite
 * gradients), so a bad or misrouted request changes nothing: it gets ERROR or MOVED.
 *
 * Slots move between servers while workers push to them (see lib/migrate.c for the
 * sending side). The receiving side is here: IMPORT marks slots as arriving; a request
 * that touches an arriving slot waits (its connection held, so replies keep their
 * order) until the slot's last SLOT_DATA frame is in, then runs.
 */
#include <sys/types.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/auth.h"
#include "ps/bgsave.h"
#include "ps/conn.h"
#include "ps/jobconf.h"
#include "ps/log.h"
#include "ps/migrate.h"
#include "ps/model.h"
#include "ps/net.h"
#include "ps/optim.h"
#include "ps/replicate.h"
#include "ps/server.h"
#include "ps/xmalloc.h"

/* A batch's keys are random, so each lookup would be a cache miss, twice: the
 * slot's table header, then the entry. Fetch headers 2*AHEAD keys ahead and entries
 * AHEAD keys ahead, when their header is already in cache. */
#define PREFETCH_AHEAD	16
/* How long a request may wait for an arriving slot. */
#define PARK_SECS	30.0
/* How long the scheduler has to come up when the server starts. */

/* What a data request needs of its keys' slots. */
enum keys_verdict { KEYS_BAD = -1, KEYS_READY, KEYS_WAIT, KEYS_MOVED };

typedef void (*handler_fn)(struct server *, struct ps_peer *, struct ps_msg *,
    struct ps_defer *);

struct handler {
	uint32_t	 type;
	handler_fn	 fn;
};

static void	server_connect_scheduler(struct server *);

void
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

/* Send the reply in s->out: now, or as the answer to a request that waited. */
static void
server_reply(struct server *s, struct ps_peer *p, struct ps_defer *d)
{
	if (d != NULL)
		defer_reply(d, &s->out);
	else
		peer_send(p, &s->out);
}

static void
server_error(struct ps_peer *p, struct ps_msg *m, struct ps_defer *d, const char *text)
{
	if (d != NULL)
		defer_error(d, PS_ERR_CLIENT, "%s", text);
	else
		peer_error(p, m, PS_ERR_CLIENT, "%s", text);
}

/*
 * Check a key array: a whole number of keys, strictly ascending, every slot owned
 * here. Fills s->slot_of. KEYS_WAIT if a slot is arriving, KEYS_MOVED if one is not
 * here, KEYS_BAD with *why set.
 */
static enum keys_verdict
server_check_keys(struct server *s, const char *keys, size_t len, char **why)
{
	size_t n = len / 8, i;
	uint64_t prev = 0, k;
	enum keys_verdict v = KEYS_READY;

	if (len % 8 != 0) {
		xasprintf(why, "keys: %zu bytes is not a whole number of 8-byte keys", len);
		return KEYS_BAD;
	}
	server_grow(s, n);
	for (i = 0; i < n; i++) {
		k = load_u64(keys + 8 * i);
		if (i > 0 && k <= prev) {
			xasprintf(why, "keys: key %zu (%llu) is not above the one before: "
			    "keys must be sorted and unique", i, (unsigned long long)k);
			return KEYS_BAD;
		}
		prev = k;
		s->slot_of[i] = map_slot(k);
		switch (s->store.state[s->slot_of[i]]) {
		case SLOT_OWNED:
			break;
		case SLOT_IMPORTING:
			if (v == KEYS_READY)
				v = KEYS_WAIT;
			break;
		default:
			v = KEYS_MOVED;
			break;
		}
	}
	return v;
}

/* Where a slot that is not served here is now, as a server index in the map or in
 * the migration's destination; -1 if unknown. */
static int
server_owner_of(struct server *s, uint32_t slot, uint32_t *id, const char **host,
    int *port)
{
	const struct ps_map *m = &s->map;
	uint32_t i;

	/* A slot on its way here: here it is to be asked for (and the request waits). */
	if (s->store.state[slot] == SLOT_IMPORTING) {
		*id = s->id;
		*host = s->advertised;
		*port = s->port;
		return 0;
	}
	/* A slot handed over after this map was made: the hand-over knows better. */
	if (s->moved_to[slot] != 0 && s->store.epoch[slot] >= m->epoch) {
		for (i = 0; i < s->ndests; i++) {
			if (s->dests[i].id == s->moved_to[slot]) {
				*id = s->dests[i].id;
				*host = s->dests[i].host;
				*port = s->dests[i].port;
				return 0;
			}
		}
	}
	if (m->nservers == 0 || m->servers[m->owner[slot]].id == s->id)
		return -1;
	*id = m->servers[m->owner[slot]].id;
	*host = m->servers[m->owner[slot]].host;
	*port = m->servers[m->owner[slot]].port;
	return 0;
}

/* MOVED: for each slot of the request not served here, where it is now. */
static void
server_moved(struct server *s, struct ps_msg *m, size_t n)
{
	struct ps_hdr h = msg_reply_hdr(m, PS_MSG_MOVED, s->id, s->map.epoch);
	struct ps_map owners;
	uint16_t *pairs;
	uint8_t *seen;
	size_t i, np = 0;
	unsigned char *b;

	map_init(&owners);
	seen = xcalloc(PS_NSLOTS, 1);
	pairs = xreallocarray(NULL, 2 * (n < PS_NSLOTS ? n : PS_NSLOTS), sizeof *pairs);
	for (i = 0; i < n; i++) {
		uint32_t slot = s->slot_of[i], id, j;
		const char *host;
		int port;

		if (s->store.state[slot] == SLOT_OWNED || seen[slot])
			continue;
		seen[slot] = 1;
		pairs[2 * np] = (uint16_t)slot;
		pairs[2 * np + 1] = 0xffff;
		if (server_owner_of(s, slot, &id, &host, &port) == 0) {
			for (j = 0; j < owners.nservers && owners.servers[j].id != id; j++)
				;
			if (j == owners.nservers)
				map_add_server(&owners, id, host, port);
			pairs[2 * np + 1] = (uint16_t)j;
		}
		np++;
	}
	msg_begin(&s->out, &h, 3);
	msg_put_uint(&s->out, s->map.epoch);
	msg_put_array(&s->out, owners.nservers);
	for (i = 0; i < owners.nservers; i++) {
		msg_put_array(&s->out, 3);
		msg_put_uint(&s->out, owners.servers[i].id);
		msg_put_str(&s->out, owners.servers[i].host);
		msg_put_uint(&s->out, (uint64_t)owners.servers[i].port);
	}
	b = msg_put_bin_space(&s->out, 4 * np);
	for (i = 0; i < 2 * np; i++) {
		b[2 * i] = pairs[i] & 0xff;
		b[2 * i + 1] = pairs[i] >> 8;
	}
	msg_end(&s->out);
	free(pairs);
	free(seen);
	map_free(&owners);
}

/* A request that touches an arriving slot waits for it, its connection held. */
static void
server_park(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	struct parked *k = xcalloc(1, sizeof *k);

	k->d = d != NULL ? d : peer_defer(p, m, 1);
	k->since = d != NULL ? s->retry_since : net_now();
	k->next = s->parked;
	s->parked = k;
}

static inline void
server_prefetch(const struct server *s, const char *keys, size_t i, size_t n)
{
	if (i + PREFETCH_AHEAD < n)
		__builtin_prefetch(&s->store.tables[s->slot_of[i + PREFETCH_AHEAD]]);
	if (i < n)
		table_prefetch(&s->store.tables[s->slot_of[i]], load_u64(keys + 8 * i));
}

static void
server_prefetch_start(const struct server *s, const char *keys, size_t n)
{
	size_t i;

	for (i = 0; i < 2 * PREFETCH_AHEAD && i < n; i++)
		__builtin_prefetch(&s->store.tables[s->slot_of[i]]);
	for (i = 0; i < PREFETCH_AHEAD; i++)
		server_prefetch(s, keys, i, n);
}

/* Check a PULL or PUSH's keys; 0 if the request may run now, else it was answered
 * (ERROR or MOVED) or parked. */
static int
server_admit(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d,
    const char *keys, size_t len)
{
	char *why;

	switch (server_check_keys(s, keys, len, &why)) {
	case KEYS_READY:
		return 0;
	case KEYS_BAD:
		server_error(p, m, d, why);
		free(why);
		return -1;
	case KEYS_WAIT:
		server_park(s, p, m, d);
		return -1;
	case KEYS_MOVED:
		server_moved(s, m, len / 8);
		server_reply(s, p, d);
		return -1;
	}
	return -1;
}

static void
server_pull(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	const char *keys;
	size_t len, i, n;
	struct ps_hdr h;
	float *w;
	char *why;

	keys = msg_bin(m, 0, &len);
	/* The reply must fit a frame too: dim floats per 8-byte key can be larger. */
	if (len / 8 * s->dim * sizeof(float) + 256 > (size_t)s->conf->max_frame) {
		xasprintf(&why, "PULL of %zu keys of dim %u needs a reply over "
		    "net.max_frame (%lld bytes): split it", len / 8, s->dim,
		    (long long)s->conf->max_frame);
		server_error(p, m, d, why);
		free(why);
		return;
	}
	if (server_admit(s, p, m, d, keys, len) != 0)
		return;
	n = len / 8;
	w = s->fbuf;
	server_prefetch_start(s, keys, n);
	for (i = 0; i < n; i++, w += s->dim) {
		const float *state;

		server_prefetch(s, keys, i + PREFETCH_AHEAD, n);
		state = table_find(&s->store.tables[s->slot_of[i]], load_u64(keys + 8 * i));

		/* An unknown key reads as a new key's weights (zero, or a factorization
		 * machine's drawn factors) and is not created: pulls are read-only. */
		if (state != NULL)
			optim_pull(&s->conf->optim, state, w);
		else if (s->conf->optim.factors > 0)
			optim_init_pull(&s->conf->optim, load_u64(keys + 8 * i), w);
		else
			memset(w, 0, s->dim * sizeof *w);
	}
	h = msg_reply_hdr(m, PS_MSG_PULL_OK, s->id, s->map.epoch);
	msg_begin(&s->out, &h, 1);
	msg_put_bin(&s->out, s->fbuf, n * s->dim * sizeof(float));
	msg_end(&s->out);
	server_reply(s, p, d);
	s->pulls++;
	s->keys_pulled += n;
}

/* The bin may be unaligned: copy once, then check, before anything is applied. */
int
server_floats(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d,
    const char *what, const char *bin, size_t blen, size_t n, uint32_t per,
    const char *unit)
{
	size_t nf = n * per, i;
	char *why;

	if (blen != nf * sizeof(float)) {
		xasprintf(&why, "%s: %zu bytes for %zu keys of %s, want %zu", what, blen, n,
		    unit, nf * sizeof(float));
		server_error(p, m, d, why);
		free(why);
		return -1;
	}
	if (nf > s->fbuf_cap) {
		s->fbuf = xreallocarray(s->fbuf, nf, sizeof *s->fbuf);
		s->fbuf_cap = nf;
	}
	memcpy(s->fbuf, bin, blen);
	for (i = 0; i < nf; i++) {
		if (!isfinite(s->fbuf[i])) {
			xasprintf(&why, "%s: value %zu of key %zu is not finite", what,
			    i % per, i / per);
			server_error(p, m, d, why);
			free(why);
			return -1;
		}
	}
	return 0;
}

/*
 * With backups, every push applied here is recorded, and a retry (a push sent again
 * after a failure, with its id) is looked up: *skip is set if it was applied, here
 * or, forwarded by the owner before it was lost, on this server as a backup. -1 once
 * answered: the record has forgotten ids that old.
 */
static int
server_applied(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d,
    int retry, int *skip)
{
	uint32_t client = peer_info(p)->node_id;
	char *why;

	*skip = 0;
	if (retry) {
		switch (applied_has(&s->applied, client, m->hdr.id)) {
		case APPLIED_YES:
			log_debug("node %u: push %llu applied already: not again", client,
			    (unsigned long long)m->hdr.id);
			*skip = 1;
			return 0;
		case APPLIED_UNKNOWN:
			xasprintf(&why, "cannot tell whether push %llu was applied (only "
			    "the last %d are remembered)", (unsigned long long)m->hdr.id,
			    APPLIED_RING);
			server_error(p, m, d, why);
			free(why);
			return -1;
		case APPLIED_NO:
			break;
		}
	}
	applied_add(&s->applied, client, m->hdr.id);
	return 0;
}

/* server_push's loop for a factorization machine: a key created here starts from
 * optim_init's state, its drawn factors, before its first gradient. */
static void
server_push_init(struct server *s, const char *keys, size_t n)
{
	const struct ps_optim *o = &s->conf->optim;
	size_t i;
	uint64_t key;
	float *state;
	int created;

	server_prefetch_start(s, keys, n);
	for (i = 0; i < n; i++) {
		server_prefetch(s, keys, i + PREFETCH_AHEAD, n);
		key = load_u64(keys + 8 * i);
		state = table_insert(&s->store.tables[s->slot_of[i]], key, &created);
		if (created)
			optim_init(o, key, state);
		optim_push(o, state, s->fbuf + i * s->dim);
	}
}

static void
server_push(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	const char *keys, *grads;
	size_t len, glen, i, n;
	struct ps_hdr h;
	char unit[64];
	int retry, skip = 0;

	keys = msg_bin(m, 0, &len);
	grads = msg_bin(m, 1, &glen);
	if (m->nargs > 3 || (m->nargs == 3 && m->args[2].type != MSGPACK_OBJECT_BOOLEAN)) {
		server_error(p, m, d, "PUSH: the third argument, if any, is the retry "
		    "flag: true or false");
		return;
	}
	retry = m->nargs == 3 && m->args[2].via.boolean;
	if (server_admit(s, p, m, d, keys, len) != 0)
		return;
	n = len / 8;
	snprintf(unit, sizeof unit, "dim %u", s->dim);
	if (server_floats(s, p, m, d, "gradients", grads, glen, n, s->dim, unit) != 0)
		return;
	if (s->map.nbackups > 0 && server_applied(s, p, m, d, retry, &skip) != 0)
		return;
	if (!skip && s->conf->optim.factors > 0) {
		server_push_init(s, keys, n);
		s->pushes++;
		s->keys_pushed += n;
	} else if (!skip) {
		server_prefetch_start(s, keys, n);
		for (i = 0; i < n; i++) {
			float *state;

			server_prefetch(s, keys, i + PREFETCH_AHEAD, n);
			state = table_insert(&s->store.tables[s->slot_of[i]],
			    load_u64(keys + 8 * i), NULL);
			optim_push(&s->conf->optim, state, s->fbuf + i * s->dim);
		}
		s->pushes++;
		s->keys_pushed += n;
	}
	if (replicate_forward(s, p, m, d, keys, n, PS_MSG_PUSH_OK) == 1)
		return;
	h = msg_reply_hdr(m, PS_MSG_PUSH_OK, s->id, s->map.epoch);
	msg_begin(&s->out, &h, 1);
	msg_put_uint(&s->out, (uint64_t)n);
	msg_end(&s->out);
	server_reply(s, p, d);
}

/* LOAD: whole states replace the keys' own (restoring a checkpoint). Checked whole,
 * as a PUSH, before anything is stored. */
static void
server_load(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	const char *keys, *states;
	size_t len, slen, i, n;
	struct ps_hdr h;
	char unit[64];

	keys = msg_bin(m, 0, &len);
	states = msg_bin(m, 1, &slen);
	if (server_admit(s, p, m, d, keys, len) != 0)
		return;
	n = len / 8;
	snprintf(unit, sizeof unit, "%u floats (this server's optimizer and model.dim)",
	    s->width);
	if (server_floats(s, p, m, d, "states", states, slen, n, s->width, unit) != 0)
		return;
	for (i = 0; i < n; i++)
		memcpy(table_insert(&s->store.tables[s->slot_of[i]], load_u64(keys + 8 * i),
		    NULL), s->fbuf + i * s->width, s->width * sizeof(float));
	if (replicate_forward(s, p, m, d, keys, n, PS_MSG_LOAD_OK) == 1)
		return;
	h = msg_reply_hdr(m, PS_MSG_LOAD_OK, s->id, s->map.epoch);
	msg_begin(&s->out, &h, 1);
	msg_put_uint(&s->out, (uint64_t)n);
	msg_end(&s->out);
	server_reply(s, p, d);
}

/* Run the parked requests again: the slots they waited for may be here now. */
static void
server_unpark(struct server *s, int expire)
{
	struct parked *k, *list = s->parked;
	double now = net_now();

	s->parked = NULL;
	while ((k = list) != NULL) {
		struct ps_peer *p = defer_peer(k->d);
		struct ps_msg *m = defer_msg(k->d);

		list = k->next;
		s->retry_since = k->since;
		if (p == NULL)
			defer_reply(k->d, NULL);
		else if (expire && now - k->since > PARK_SECS)
			defer_error(k->d, PS_ERR_TIMEOUT, "slot still arriving after %.0f s",
			    PARK_SECS);
		else if (expire)
			server_park(s, p, m, k->d);
		else if (m->hdr.type == PS_MSG_PULL)
			server_pull(s, p, m, k->d);
		else if (m->hdr.type == PS_MSG_LOAD)
			server_load(s, p, m, k->d);
		else
			server_push(s, p, m, k->d);
		free(k);
	}
}

static void
server_status(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	struct ps_hdr h = msg_reply_hdr(m, PS_MSG_STATUS_OK, s->id, s->map.epoch);

	msg_begin(&s->out, &h, 1);
	msg_put_map(&s->out, 14);
	msg_put_str(&s->out, "id");		msg_put_uint(&s->out, s->id);
	msg_put_str(&s->out, "epoch");		msg_put_uint(&s->out, s->map.epoch);
	msg_put_str(&s->out, "slots");
	msg_put_uint(&s->out, store_count(&s->store, SLOT_OWNED));
	msg_put_str(&s->out, "importing");
	msg_put_uint(&s->out, store_count(&s->store, SLOT_IMPORTING));
	msg_put_str(&s->out, "migrating");
	msg_put_uint(&s->out, store_count(&s->store, SLOT_MIGRATING));
	msg_put_str(&s->out, "keys");
	msg_put_uint(&s->out, store_keys(&s->store, SLOT_OWNED));
	msg_put_str(&s->out, "memory");	msg_put_uint(&s->out, store_bytes(&s->store));
	msg_put_str(&s->out, "pulls");		msg_put_uint(&s->out, s->pulls);
	msg_put_str(&s->out, "pushes");		msg_put_uint(&s->out, s->pushes);
	msg_put_str(&s->out, "keys_pulled");	msg_put_uint(&s->out, s->keys_pulled);
	msg_put_str(&s->out, "keys_pushed");	msg_put_uint(&s->out, s->keys_pushed);
	msg_put_str(&s->out, "keys_in");	msg_put_uint(&s->out, s->keys_in);
	msg_put_str(&s->out, "keys_out");	msg_put_uint(&s->out, s->keys_out);
	msg_put_str(&s->out, "uptime");	msg_put_float(&s->out, net_now() - s->started);
	msg_end(&s->out);
	server_reply(s, p, d);
}

/* The first slots this server owns start from the checkpoint: before the map is
 * acknowledged, so no worker reads them empty. */
static int
server_restore(struct server *s, char **cause)
{
	double t0 = net_now();
	int64_t n;

	if ((n = model_restore(&s->store, s->restore, &s->conf->optim, cause)) < 0)
		return -1;
	log_info("restored %lld keys of %u slots from %s in %.3f s", (long long)n,
	    store_count(&s->store, SLOT_OWNED), s->restore, net_now() - t0);
	free(s->restore);
	s->restore = NULL;
	return 0;
}

/*
 * A new map. It may not be older than the one in force. Slots the map gives this
 * server start being served; slots it gives away are let go only if empty: the
 * entries of a slot leave a server only through a migration, never by a map.
 */
static int
server_apply_map(struct server *s, const struct ps_msg *m, uint32_t first, char **cause)
{
	struct ps_map map, old;
	uint32_t i, me = UINT32_MAX, kept = 0, promoted = 0;
	int r;

	map_init(&map);
	if (map_unpack(&map, m, first, cause) != 0)
		return -1;
	if (map.epoch < s->map.epoch) {
		xasprintf(cause, "map epoch %llu is older than this server's %llu",
		    (unsigned long long)map.epoch, (unsigned long long)s->map.epoch);
		map_free(&map);
		return -1;
	}
	old = s->map;
	s->map = map;
	for (i = 0; i < s->map.nservers; i++)
		if (s->map.servers[i].id == s->id)
			me = i;
	for (i = 0; i < PS_NSLOTS; i++) {
		int mine = s->map.nservers > 0 && s->map.owner[i] == me;
		int backup = !mine && me != UINT32_MAX && map_holds(&s->map, i, me);

		if (mine && s->store.state[i] == SLOT_ABSENT)
			store_set(&s->store, i, SLOT_OWNED, s->map.epoch);
		else if (mine && s->store.state[i] == SLOT_REPLICA) {
			/* Its owner was lost: this copy serves the slot now. */
			store_set(&s->store, i, SLOT_OWNED, s->map.epoch);
			promoted++;
		} else if (backup && s->store.state[i] == SLOT_ABSENT)
			store_set(&s->store, i, SLOT_REPLICA, s->map.epoch);
		else if (!mine && !backup && s->store.state[i] == SLOT_REPLICA) {
			store_drop(&s->store, i);
			store_set(&s->store, i, SLOT_ABSENT, s->map.epoch);
		} else if (!mine && s->store.state[i] == SLOT_OWNED) {
			if (s->store.tables[i].count == 0)
				store_set(&s->store, i, SLOT_ABSENT, s->map.epoch);
			else
				kept++;
		}
	}
	if (kept > 0)
		log_warnx("map epoch %llu gives away %u slots that hold keys here: "
		    "still serving them", (unsigned long long)s->map.epoch, kept);
	if (promoted > 0)
		log_warnx("map epoch %llu: serving %u slots this server kept as a backup "
		    "(their owner was lost)", (unsigned long long)s->map.epoch, promoted);
	r = 0;
	/* Only the first map restores: later slots come from other servers. */
	if (s->restore != NULL && s->map.epoch > 0) {
		if (store_count(&s->store, SLOT_OWNED) > 0)
			r = server_restore(s, cause);
		else {
			log_warnx("--restore: this server joined as a spare, with no "
			    "slots: nothing to restore");
			free(s->restore);
			s->restore = NULL;
		}
	}
	if (r == 0 && s->map.epoch > 0) {
		if (s->map.nbackups > 0)
			log_info("map epoch %llu: serving %u of %d slots, a backup of %u",
			    (unsigned long long)s->map.epoch,
			    store_count(&s->store, SLOT_OWNED), PS_NSLOTS,
			    replicate_backup_slots(s));
		else
			log_info("map epoch %llu: serving %u of %d slots",
			    (unsigned long long)s->map.epoch,
			    store_count(&s->store, SLOT_OWNED), PS_NSLOTS);
		replicate_map(s, &old);
	}
	map_free(&old);
	return r;
}

static void
server_map(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	struct ps_hdr h;
	char *cause;

	(void)d;
	if (server_apply_map(s, m, 0, &cause) != 0) {
		peer_error(p, m, PS_ERR_STATE, "%s", cause);
		free(cause);
		if (s->restore != NULL) {
			/* A restore that failed must not leave a server serving empty
			 * slots as if they were the model. */
			log_error("restore: cannot go on");
			s->status = 1;
			proc_exit(&s->proc);
		}
		return;
	}
	h = msg_reply_hdr(m, PS_MSG_MAP_ACK, s->id, s->map.epoch);
	msg_begin(&s->out, &h, 1);
	msg_put_uint(&s->out, s->map.epoch);
	msg_end(&s->out);
	peer_send(p, &s->out);
}

/* Read a uint16 slot list; -1 with cause if a slot is out of range. */
static int
server_slot_list(const struct ps_msg *m, uint32_t arg, uint16_t **slots, size_t *n,
    char **cause)
{
	const unsigned char *b;
	size_t len, i;

	b = (const unsigned char *)msg_bin(m, arg, &len);
	if (len % 2 != 0 || len == 0) {
		xasprintf(cause, "slot list of %zu bytes", len);
		return -1;
	}
	*n = len / 2;
	*slots = xreallocarray(NULL, *n, sizeof **slots);
	for (i = 0; i < *n; i++) {
		(*slots)[i] = (uint16_t)(b[2 * i] | b[2 * i + 1] << 8);
		if ((*slots)[i] >= PS_NSLOTS) {
			xasprintf(cause, "slot %u is out of range", (*slots)[i]);
			free(*slots);
			return -1;
		}
	}
	return 0;
}

static void
server_import(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	struct ps_hdr h = msg_reply_hdr(m, PS_MSG_IMPORT_OK, s->id, s->map.epoch);
	uint16_t *slots;
	size_t n, i;
	char *cause;

	(void)d;
	if (bgsave_busy(s)) {
		peer_error(p, m, PS_ERR_STATE, "a checkpoint is being written: move after it");
		return;
	}
	if (server_slot_list(m, 1, &slots, &n, &cause) != 0) {
		peer_error(p, m, PS_ERR_CLIENT, "%s", cause);
		free(cause);
		return;
	}
	for (i = 0; i < n; i++) {
		if (s->store.state[slots[i]] != SLOT_ABSENT &&
		    s->store.state[slots[i]] != SLOT_IMPORTING) {
			peer_error(p, m, PS_ERR_STATE, "slot %u is already here", slots[i]);
			free(slots);
			return;
		}
	}
	/* An arriving slot starts empty, whatever an earlier stay left. */
	for (i = 0; i < n; i++) {
		store_drop(&s->store, slots[i]);
		store_set(&s->store, slots[i], SLOT_IMPORTING, s->map.epoch);
	}
	log_info("importing %zu slots from node %llu", n, (unsigned long long)msg_uint(m, 0));
	free(slots);
	msg_simple(&s->out, &h);
	peer_send(p, &s->out);
}

static void
server_slot_data(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	struct ps_hdr h = msg_reply_hdr(m, PS_MSG_SLOT_DATA_OK, s->id, s->map.epoch);
	uint32_t before = store_count(&s->store, SLOT_OWNED);
	int64_t n;
	char *cause;

	(void)d;
	if (msg_uint(m, 0) != s->width) {
		peer_error(p, m, PS_ERR_CLIENT, "slot data of %llu floats per key: this "
		    "server keeps %u (same optimizer and model.dim everywhere?)",
		    (unsigned long long)msg_uint(m, 0), s->width);
		return;
	}
	if ((n = store_load(&s->store, m, 1, s->map.epoch, SLOT_OWNED,
	    &cause)) == -1) {
		peer_error(p, m, PS_ERR_CLIENT, "%s", cause);
		free(cause);
		return;
	}
	s->keys_in += (uint64_t)n;
	s->slots_in += store_count(&s->store, SLOT_OWNED) - before;
	msg_begin(&s->out, &h, 1);
	msg_put_uint(&s->out, (uint64_t)n);
	msg_end(&s->out);
	peer_send(p, &s->out);
	if (store_count(&s->store, SLOT_OWNED) != before)
		server_unpark(s, 0);
}

static void
server_migrate(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	uint16_t *slots;
	size_t n;
	char *cause, *host;

	(void)d;
	if (server_slot_list(m, 3, &slots, &n, &cause) != 0) {
		peer_error(p, m, PS_ERR_CLIENT, "%s", cause);
		free(cause);
		return;
	}
	host = msg_strdup(m, 1);
	d = peer_defer(p, m, 0);
	if (migrate_start(s, d, (uint32_t)msg_uint(m, 0), host, (int)msg_uint(m, 2), slots,
	    n, &cause) != 0) {
		defer_error(d, PS_ERR_STATE, "%s", cause);
		free(cause);
	}
	free(host);
	free(slots);
}

static void
server_save(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	(void)d;
	bgsave_request(s, p, m);
}

/* Whether the scheduler fenced node id (0, a node not registered: never). */
static int
server_fenced(const struct server *s, uint32_t id)
{
	uint32_t i;

	for (i = 0; id != 0 && i < s->nfenced; i++)
		if (s->fenced[i] == id)
			return 1;
	return 0;
}

static void
server_shutdown(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	uint64_t keys = store_keys(&s->store, SLOT_OWNED), bytes = store_bytes(&s->store);

	(void)p;
	(void)m;
	(void)d;
	log_info("job finished: %llu keys in %llu bytes (%.1f bytes/key); exiting",
	    (unsigned long long)keys, (unsigned long long)bytes,
	    keys ? (double)bytes / keys : 0.0);
	s->exiting = 1;
	proc_exit(&s->proc);
}

static void
server_replicate(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	(void)d;
	replicate_store(s, p, m);
}

static void
server_replica_sync(struct server *s, struct ps_peer *p, struct ps_msg *m,
    struct ps_defer *d)
{
	(void)d;
	replicate_sync(s, p, m);
}

/*
 * RESTORE: a server was lost, with no replica of its slots; the scheduler gives them
 * to this one, from the last checkpoint of the job. They are served once loaded,
 * when the map that gives them here arrives.
 */
static void
server_restore_slots(struct server *s, struct ps_peer *p, struct ps_msg *m,
    struct ps_defer *d)
{
	struct ps_hdr h = msg_reply_hdr(m, PS_MSG_RESTORE_OK, s->id, s->map.epoch);
	uint8_t *take;
	uint16_t *slots;
	size_t n, i;
	int64_t keys;
	char *cause, *dir;
	double t0 = net_now();

	(void)d;
	if (server_slot_list(m, 1, &slots, &n, &cause) != 0) {
		peer_error(p, m, PS_ERR_CLIENT, "%s", cause);
		free(cause);
		return;
	}
	take = xcalloc(PS_NSLOTS, 1);
	for (i = 0; i < n; i++) {
		if (s->store.state[slots[i]] != SLOT_ABSENT) {
			peer_error(p, m, PS_ERR_STATE, "slot %u is already here", slots[i]);
			goto out;
		}
		take[slots[i]] = 1;
	}
	dir = msg_strdup(m, 0);
	keys = model_restore_slots(&s->store, dir, &s->conf->optim, take, &cause);
	if (keys < 0) {
		log_warnx("restoring %zu slots from %s: %s", n, dir, cause);
		peer_error(p, m, PS_ERR_SERVER, "%s", cause);
		free(cause);
	} else {
		for (i = 0; i < n; i++)
			store_set(&s->store, slots[i], SLOT_OWNED, s->map.epoch);
		log_info("restored %zu slots of a lost server (%lld keys) from %s in %.3f s",
		    n, (long long)keys, dir, net_now() - t0);
		msg_begin(&s->out, &h, 1);
		msg_put_uint(&s->out, (uint64_t)keys);
		msg_end(&s->out);
		peer_send(p, &s->out);
	}
	free(dir);
out:
	free(take);
	free(slots);
}

/* FENCE: the scheduler declared a node dead. */
static void
server_fence(struct server *s, struct ps_peer *p, struct ps_msg *m, struct ps_defer *d)
{
	uint32_t id = (uint32_t)msg_uint(m, 0);

	(void)p;
	(void)d;
	if (server_fenced(s, id))
		return;
	s->fenced = xreallocarray(s->fenced, s->nfenced + 1, sizeof *s->fenced);
	s->fenced[s->nfenced++] = id;
	log_info("node %u fenced: declared dead by the scheduler, its requests are "
	    "refused", id);
}

static const struct handler handlers[] = {
	{ PS_MSG_PULL, server_pull },
	{ PS_MSG_PUSH, server_push },
	{ PS_MSG_STATUS, server_status },
	{ PS_MSG_MAP, server_map },
	{ PS_MSG_SHUTDOWN, server_shutdown },
	{ PS_MSG_FENCE, server_fence },
	{ PS_MSG_IMPORT, server_import },
	{ PS_MSG_MIGRATE, server_migrate },
	{ PS_MSG_SLOT_DATA, server_slot_data },
	{ PS_MSG_REPLICATE, server_replicate },
	{ PS_MSG_REPLICA_SYNC, server_replica_sync },
	{ PS_MSG_SAVE, server_save },
	{ PS_MSG_LOAD, server_load },
	{ PS_MSG_RESTORE, server_restore_slots },
	{ 0, NULL },
};

/* Every request, whoever sent it: the peer layer has checked it against the
 * protocol table (format, and the sender's role). */
static void
server_peer_cb(struct ps_peer *p, struct ps_msg *m, void *arg)
{
	struct server *s = arg;
	const struct handler *h;

	if (m == NULL)
		return;
	/* A worker the scheduler declared dead may still be running (stopped, cut
	 * off): what it sends now is refused, so it cannot change the model twice. */
	if (server_fenced(s, peer_info(p)->node_id) && (m->hdr.type == PS_MSG_PUSH ||
	    m->hdr.type == PS_MSG_PULL || m->hdr.type == PS_MSG_LOAD)) {
		peer_fail(p, PS_ERR_STATE, "node %u was declared dead by the scheduler: "
		    "its requests are refused (fenced)", peer_info(p)->node_id);
		return;
	}
	for (h = handlers; h->fn != NULL; h++) {
		if (h->type == m->hdr.type) {
			h->fn(s, p, m, NULL);
			return;
		}
	}
	peer_error(p, m, PS_ERR_CLIENT, "a server does not take %s",
	    proto_type_name(m->hdr.type));
}

/*
 * The scheduler is not there (not up yet, or gone): try again after 0.1 s, doubling
 * up to 5 s, at most net.connect_retries times in a row; then give up, exit 1.
 */
static void
server_sched_retry(struct server *s, const char *why, int auth_failed)
{
	double delay;

	/* A secret that differs will not match on the next try either. */
	if (auth_failed) {
		log_error("scheduler %s:%d: %s", s->conf->scheduler_host,
		    s->conf->scheduler_port, why);
		s->status = 1;
		proc_exit(&s->proc);
		return;
	}
	if (s->sched_tries >= s->conf->connect_retries) {
		log_error("scheduler %s:%d: %s; gave up after %d retries (net.connect_retries)",
		    s->conf->scheduler_host, s->conf->scheduler_port,
		    why != NULL ? why : "lost", s->sched_tries);
		s->status = 1;
		proc_exit(&s->proc);
		return;
	}
	/* as a client's connection retries (conn_open) */
	delay = conn_retry_delay(s->sched_tries);
	s->sched_tries++;
	if (why != NULL)
		log_info("scheduler %s:%d: %s; retry %d of %d in %.1f s",
		    s->conf->scheduler_host, s->conf->scheduler_port, why, s->sched_tries,
		    s->conf->connect_retries, delay);
	proc_timer_start(s->retry, delay);
}

static void
server_sched_cb(struct ps_peer *p, struct ps_msg *m, void *arg)
{
	struct server *s = arg;

	if (m != NULL) {
		server_peer_cb(p, m, arg);
		return;
	}
	s->sched = NULL;
	if (s->exiting)
		return;
	if (s->registered) {
		/* Keep serving: the parameters here are still good. The tick goes
		 * on, for requests waiting on arriving slots. Said once; each retry
		 * is an info line. */
		log_warnx("lost the scheduler %s:%d (%s); still serving %s:%d, reconnecting",
		    s->conf->scheduler_host, s->conf->scheduler_port, peer_why(p),
		    s->host, s->port);
		s->registered = 0;
		s->sched_tries = 0;
		server_sched_retry(s, NULL, 0);
		return;
	}
	server_sched_retry(s, peer_why(p), peer_auth_failed(p));
}

static void
server_accept(int fd, void *arg)
{
	struct server *s = arg;

	peer_accept(s->proc.base, fd, s->conf->max_frame, server_peer_cb, s);
}

static void
server_beat(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct ps_hdr h = msg_hdr(PS_MSG_HEARTBEAT, 0, s->id, s->map.epoch);
	uint64_t in, out;

	(void)fd;
	(void)what;
	server_unpark(s, 1);
	if (s->sched == NULL)
		return;
	/* What ps-ctl status shows: the scheduler keeps the last one. */
	peer_bytes(&in, &out);
	msg_begin(&s->out, &h, 1);
	msg_put_map(&s->out, 7);
	msg_put_str(&s->out, "slots");
	msg_put_uint(&s->out, store_count(&s->store, SLOT_OWNED));
	msg_put_str(&s->out, "keys");
	msg_put_uint(&s->out, store_keys(&s->store, SLOT_OWNED));
	msg_put_str(&s->out, "memory");
	msg_put_uint(&s->out, store_bytes(&s->store));
	msg_put_str(&s->out, "pushes");
	msg_put_uint(&s->out, s->pushes);
	msg_put_str(&s->out, "pulls");
	msg_put_uint(&s->out, s->pulls);
	msg_put_str(&s->out, "bytes_in");
	msg_put_uint(&s->out, in);
	msg_put_str(&s->out, "bytes_out");
	msg_put_uint(&s->out, out);
	msg_end(&s->out);
	peer_send(s->sched, &s->out);
}

/*
 * Registered again: the scheduler forgets a server whose connection closed, and gave
 * its slots to their backups (or ended the job). What is here is stale: dropped.
 */
static void
server_forget_slots(struct server *s)
{
	uint32_t slot, n = 0;

	for (slot = 0; slot < PS_NSLOTS; slot++) {
		if (s->store.state[slot] == SLOT_ABSENT)
			continue;
		store_drop(&s->store, slot);
		store_set(&s->store, slot, SLOT_ABSENT, s->map.epoch);
		n++;
	}
	if (n > 0)
		log_warnx("the scheduler lost this server (node %u): its copies of %u "
		    "slots are stale now, dropped", s->id, n);
}

/* The job's model and optimizer settings, from the scheduler, before any key is
 * stored: they decide the width of a key's state. */
static int
server_take_job(struct server *s, struct ps_msg *m, char **cause)
{
	if (jobconf_apply(&s->job, &m->args[6], cause) != 0)
		return -1;
	if (optim_width(&s->job.optim) != s->width) {
		store_free(&s->store);
		s->width = optim_width(&s->job.optim);
		store_init(&s->store, s->width);
	}
	s->dim = s->job.optim.dim;
	return 0;
}

static void
server_registered(struct ps_peer *p, struct ps_msg *m, const char *why, void *arg)
{
	struct server *s = arg;
	char *cause;
	int again;

	(void)p;
	if (m == NULL || why != NULL) {
		/* A lost connection is retried by server_sched_cb. */
		if (m != NULL) {
			log_error("scheduler %s:%d: %s", s->conf->scheduler_host,
			    s->conf->scheduler_port, why);
			s->status = 1;
			proc_exit(&s->proc);
		}
		return;
	}
	s->registered = 1;
	s->sched_tries = 0;
	again = s->id != 0;
	if (again && (msg_uint(m, 5) & PS_REGISTER_TAKEN_BACK))
		log_info("the scheduler took this server back as node %u: serving on",
		    s->id);
	else if (again)
		server_forget_slots(s);
	s->id = (uint32_t)msg_uint(m, 0);
	peer_set_self_id(s->id);
	log_set_node(s->id);
	if (!again && server_take_job(s, m, &cause) != 0) {
		log_error("scheduler: %s", cause);
		free(cause);
		s->status = 1;
		s->exiting = 1;
		proc_exit(&s->proc);
		return;
	}
	if (server_apply_map(s, m, 2, &cause) != 0) {
		/* A scheduler restarted without its state file has a new job. */
		log_error("scheduler: %s%s", cause, again ? " (it restarted and does not "
		    "know this job): exiting" : "");
		free(cause);
		s->status = 1;
		s->exiting = 1;
		proc_exit(&s->proc);
		return;
	}
	log_info("node %u serving on %s:%d (%s, dim %u)%s", s->id, s->host,
	    s->port, optim_name(s->conf->optim.kind), s->dim,
	    s->map.epoch > 0 && store_count(&s->store, SLOT_OWNED) == 0 &&
	    replicate_backup_slots(s) == 0 ? ": joined a running job as a spare" : "");
	proc_timer_start(s->beat, s->conf->heartbeat_interval);
}

/*
 * The address the map is to give workers for this server: server.advertise, or
 * server.host, or, when that is a wildcard, the local address of the connection to
 * the scheduler (the kernel picks it at connect(), before the handshake).
 */
static void
server_advertise(struct server *s, char *host, size_t len)
{
	const char *h = s->host;

	if (strcmp(s->conf->server_advertise, "auto") != 0)
		h = s->conf->server_advertise;
	else if ((strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0) &&
	    peer_local_host(s->sched, host, len) == 0) {
		log_debug("advertising %s (server.host %s)", host, h);
		return;
	}
	snprintf(host, len, "%s", h);
}

/* Connect to the scheduler from the loop and register. */
static void
server_connect_scheduler(struct server *s)
{
	struct ps_hdr h;

	char host[64];

	s->sched = peer_connect(s->proc.base, s->conf->scheduler_host,
	    s->conf->scheduler_port, "scheduler", s->conf->max_frame, server_sched_cb, s);
	server_advertise(s, host, sizeof host);
	snprintf(s->advertised, sizeof s->advertised, "%s", host);
	h = msg_hdr(PS_MSG_REGISTER, peer_next_id(s->sched), 0, 0);
	/* Again (the scheduler was lost): as the node it was, which a scheduler
	 * resumed from its state file takes back. */
	msg_begin(&s->out, &h, 5);
	msg_put_uint(&s->out, PS_ROLE_SERVER);
	msg_put_str(&s->out, host);
	msg_put_uint(&s->out, (uint64_t)s->port);
	msg_put_uint(&s->out, s->id);
	jobconf_put(&s->out, s->conf, 1);	/* what it was given, to be checked */
	msg_end(&s->out);
	peer_call(s->sched, &s->out, 0, server_registered, s);
}

static void
server_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_connect_scheduler(arg);
}

static void
server_signal(int sig, void *arg)
{
	struct server *s = arg;

	if (sig == SIGCHLD) {
		bgsave_reap(s);
		return;
	}
	if (sig == SIGHUP) {
		log_info("SIGHUP: ignored (a daemon outlives its terminal)");
		return;
	}
	s->exiting = 1;
	log_info("%s: exiting", proc_signame(sig));
	proc_exit(&s->proc);
}

int
server_run(const struct ps_conf *conf, const char *restore)
{
	struct server s;
	char *cause;

	memset(&s, 0, sizeof s);
	conf_copy(&s.job, conf);
	s.conf = &s.job;
	s.dim = conf->optim.dim;
	s.width = optim_width(&conf->optim);
	s.started = net_now();
	store_init(&s.store, s.width);
	applied_init(&s.applied);
	map_init(&s.map);
	wbuf_init(&s.out);
	proc_init(&s.proc, server_signal, &s);
	peer_set_self(PS_ROLE_SERVER, 0, "ps-server");
	peer_set_limits(conf->max_connections, conf->handshake_timeout,
	    conf->frame_timeout, conf->idle_timeout);
	if (restore != NULL &&
	    (s.restore = model_find(conf->ckpt_dir, restore, &cause)) == NULL) {
		log_error("--restore: %s", cause);
		free(cause);
		s.status = 1;
		goto out;
	}

	s.host = auth_listen_host(conf->server_host, "server.host");
	s.listener = peer_listen(s.proc.base, s.host, conf->server_port,
	    server_accept, &s, &s.port, &cause);
	if (s.listener == NULL) {
		log_error("%s", cause);
		free(cause);
		s.status = 1;
		goto out;
	}
	s.beat = proc_timer(&s.proc, conf->heartbeat_interval, 1, server_beat, &s);
	event_del(s.beat);	/* started once registered */
	s.retry = proc_timer(&s.proc, 0, 0, server_retry, &s);
	server_connect_scheduler(&s);

	proc_loop(&s.proc);

out:
	migrate_free(&s);
	bgsave_free(&s);
	replicate_free(&s);
	while (s.parked != NULL) {
		struct parked *k = s.parked;
		s.parked = k->next;
		free(k);
	}
	peer_close_all();
	applied_free(&s.applied);
	free(s.fenced);
	if (s.beat != NULL)
		event_free(s.beat);
	if (s.retry != NULL)
		event_free(s.retry);
	peer_listen_free(s.listener);
	proc_free(&s.proc);
	store_free(&s.store);
	map_free(&s.map);
	for (uint32_t i = 0; i < s.ndests; i++)
		free(s.dests[i].host);
	free(s.dests);
	wbuf_free(&s.out);
	free(s.slot_of);
	free(s.fbuf);
	free(s.restore);
	conf_free(&s.job);
	return s.status;
}
