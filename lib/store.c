/*
 * The slot store. A slot's entries travel as flat little-endian arrays, the same form
 * as a PUSH: store_pack walks a list of slots with a cursor so that a large slot can
 * span frames, and store_load checks a whole frame before it stores any of it.
 */
#include <stdlib.h>
#include <string.h>

#include "ps/le.h"
#include "ps/store.h"
#include "ps/xmalloc.h"

void
store_init(struct ps_store *st, uint32_t width)
{
	uint32_t i;

	memset(st, 0, sizeof *st);
	st->width = width;
	st->tables = xcalloc(PS_NSLOTS, sizeof *st->tables);
	for (i = 0; i < PS_NSLOTS; i++)
		table_init(&st->tables[i], width);
}

void
store_free(struct ps_store *st)
{
	uint32_t i;

	if (st->tables != NULL)
		for (i = 0; i < PS_NSLOTS; i++)
			table_free(&st->tables[i]);
	free(st->tables);
	memset(st, 0, sizeof *st);
}

void
store_set(struct ps_store *st, uint32_t slot, enum ps_slot_state state, uint64_t epoch)
{
	st->state[slot] = (uint8_t)state;
	st->epoch[slot] = epoch;
}

void
store_drop(struct ps_store *st, uint32_t slot)
{
	table_free(&st->tables[slot]);
}

uint32_t
store_count(const struct ps_store *st, enum ps_slot_state state)
{
	uint32_t i, n = 0;

	for (i = 0; i < PS_NSLOTS; i++)
		n += st->state[i] == state;
	return n;
}

uint64_t
store_keys(const struct ps_store *st, enum ps_slot_state state)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < PS_NSLOTS; i++)
		if (st->state[i] == state)
			n += st->tables[i].count;
	return n;
}

uint64_t
store_bytes(const struct ps_store *st)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < PS_NSLOTS; i++)
		n += table_bytes(&st->tables[i]);
	return n;
}

uint64_t
store_keys_in(const struct ps_store *st, const uint16_t *slots, size_t n)
{
	uint64_t keys = 0;
	size_t i;

	for (i = 0; i < n; i++)
		keys += st->tables[slots[i]].count;
	return keys;
}

size_t
store_pack(const struct ps_store *st, struct ps_store_cursor *c, size_t max_keys,
    size_t max_slots, struct ps_wbuf *w)
{
	size_t i, room = max_keys, nslots = 0, ndone = 0, total = 0, j, k = 0;
	size_t bsz = (size_t)4 * st->width, *take;
	unsigned char *slots, *counts, *done;
	char *keys, *vals;

	/* Plan: how many entries of which slots, and which slots this completes.
	 * Empty slots cost nothing: they ride along with the frame. */
	take = xcalloc(c->nslots - c->i + 1, sizeof *take);
	for (i = c->i; i < c->nslots; i++) {
		size_t rem = st->tables[c->slots[i]].count - (i == c->i ? c->taken : 0);

		if ((room == 0 && rem > 0) || (nslots == max_slots && nslots > 0))
			break;
		take[nslots++] = rem < room ? rem : room;
		total += take[nslots - 1];
		room -= take[nslots - 1];
		if (take[nslots - 1] < rem)
			break;		/* goes on in the next frame: nothing after it */
		ndone++;
	}

	/* Five bins (header at most 5 bytes each): room for all before the first. */
	wbuf_reserve(w, 6 * nslots + (8 + bsz) * total + 2 * ndone + 25);
	slots = msg_put_bin_space(w, 2 * nslots);
	counts = msg_put_bin_space(w, 4 * nslots);
	keys = msg_put_bin_space(w, 8 * total);
	vals = msg_put_bin_space(w, bsz * total);
	done = msg_put_bin_space(w, 2 * ndone);
	for (j = 0; j < nslots; j++) {
		const struct ps_table *t = &st->tables[c->slots[c->i]];
		size_t n;
		uint64_t key;
		float *v;

		put_u16(slots + 2 * j, c->slots[c->i]);
		put_u32(counts + 4 * j, (uint32_t)take[j]);
		for (n = 0; n < take[j] && store_next(st, c->slots[c->i], &c->it, &key, &v);
		    n++, k++) {
			store_u64(keys + 8 * k, key);
			memcpy(vals + bsz * k, v, bsz);
		}
		c->taken += take[j];
		if (c->taken < t->count)
			break;		/* the last slot of the frame goes on in the next */
		put_u16(done, c->slots[c->i]);
		done += 2;
		c->i++;
		c->taken = 0;
		c->it = 0;
	}
	free(take);
	return total;
}

int64_t
store_load(struct ps_store *st, const struct ps_msg *m, uint32_t first, uint64_t epoch,
    enum ps_slot_state into, char **cause)
{
	enum ps_slot_state from = into == SLOT_OWNED ? SLOT_IMPORTING : SLOT_REPLICA;
	const char *what = into == SLOT_OWNED ? "being imported" : "a backup";
	const unsigned char *slots, *counts, *done;
	const char *keys, *vals;
	size_t nslots, ncounts, nkeys, nvals, ndone, i, j, k, sum = 0;
	size_t bsz = (size_t)4 * st->width;

	slots = (const unsigned char *)msg_bin(m, first, &nslots);
	counts = (const unsigned char *)msg_bin(m, first + 1, &ncounts);
	keys = msg_bin(m, first + 2, &nkeys);
	vals = msg_bin(m, first + 3, &nvals);
	done = (const unsigned char *)msg_bin(m, first + 4, &ndone);
	if (nslots % 2 != 0 || ndone % 2 != 0 || ncounts != 2 * nslots || nkeys % 8 != 0) {
		xasprintf(cause, "slot data: array sizes do not agree");
		return -1;
	}
	nslots /= 2;
	ndone /= 2;
	for (i = 0; i < nslots; i++)
		sum += get_u32(counts + 4 * i);
	if (sum != nkeys / 8 || nvals != sum * bsz) {
		xasprintf(cause, "slot data: %zu keys and %zu bytes of state for counts "
		    "adding to %zu (width %u)", nkeys / 8, nvals, sum, st->width);
		return -1;
	}
	/* Check everything before storing anything. */
	for (i = 0, k = 0; i < nslots; i++) {
		uint32_t s = get_u16(slots + 2 * i);

		if (s >= PS_NSLOTS || st->state[s] != from) {
			xasprintf(cause, "slot data: slot %u is not %s here", s, what);
			return -1;
		}
		for (j = 0; j < get_u32(counts + 4 * i); j++, k++) {
			if (map_slot(load_u64(keys + 8 * k)) != s) {
				xasprintf(cause, "slot data: key %llu is not in slot %u",
				    (unsigned long long)load_u64(keys + 8 * k), s);
				return -1;
			}
		}
	}
	for (i = 0; i < ndone; i++) {
		uint32_t s = get_u16(done + 2 * i);

		if (s >= PS_NSLOTS || st->state[s] != from) {
			xasprintf(cause, "slot data: slot %u is not %s here", s, what);
			return -1;
		}
	}
	for (i = 0, k = 0; i < nslots; i++) {
		struct ps_table *t = &st->tables[get_u16(slots + 2 * i)];

		for (j = 0; j < get_u32(counts + 4 * i); j++, k++)
			memcpy(table_insert(t, load_u64(keys + 8 * k), NULL), vals + bsz * k,
			    bsz);
	}
	for (i = 0; i < ndone; i++)
		store_set(st, get_u16(done + 2 * i), into, epoch);
	return (int64_t)sum;
}
