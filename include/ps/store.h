/*
 * The slot store: a server's parameters, with the hash slot as the unit. Each slot has
 * its table (key -> state floats), its state and the epoch of its last change. Live
 * resharding moves slots with store_pack and store_load; checkpoints and replication
 * will use the same calls. Pure, no I/O.
 */
#ifndef PS_STORE_H
#define PS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ps/map.h"
#include "ps/msg.h"
#include "ps/table.h"

enum ps_slot_state {
	SLOT_ABSENT = 0,	/* not here */
	SLOT_OWNED,		/* served here */
	SLOT_IMPORTING,		/* arriving from another server: requests wait */
	SLOT_MIGRATING,		/* handed to another server: requests get MOVED; the
				 * entries are kept until it confirms it has them */
	SLOT_REPLICA,		/* a backup copy, kept up to date by the slot's owner:
				 * requests get MOVED */
};

struct ps_store {
	struct ps_table	*tables;		/* PS_NSLOTS tables, inline: a lookup reads
						 * one header, not a pointer then a header */
	uint8_t		 state[PS_NSLOTS];
	uint64_t	 epoch[PS_NSLOTS];	/* map epoch of the slot's last change */
	uint32_t	 width;			/* floats per key */
};

/* Where store_pack goes on from: slots[i], after its first taken entries. */
struct ps_store_cursor {
	const uint16_t	*slots;
	size_t		 nslots;
	size_t		 i;
	size_t		 taken;
	size_t		 it;		/* table_next position in slots[i] */
};

void	 store_init(struct ps_store *, uint32_t width);
void	 store_free(struct ps_store *);
static inline struct ps_table *
store_table(struct ps_store *st, uint32_t slot)
{
	return &st->tables[slot];
}
void	 store_set(struct ps_store *, uint32_t slot, enum ps_slot_state, uint64_t epoch);
/* Iterate a slot's entries: size_t it = 0; while (store_next(st, slot, &it, &k, &v)) */
static inline int
store_next(const struct ps_store *st, uint32_t slot, size_t *it, uint64_t *key,
    float **state)
{
	return table_next(&st->tables[slot], it, key, state);
}
/* Free a slot's entries. */
void	 store_drop(struct ps_store *, uint32_t slot);
uint32_t store_count(const struct ps_store *, enum ps_slot_state);
/* Keys and bytes of the slots in a state. */
uint64_t store_keys(const struct ps_store *, enum ps_slot_state);
uint64_t store_bytes(const struct ps_store *);
/* Keys held in these slots. */
uint64_t store_keys_in(const struct ps_store *, const uint16_t *slots, size_t n);

/*
 * Append to w, as five message arguments, the next entries from the cursor, at most
 * max_keys of them from at most max_slots slots (each slot costs 8 bytes of lists):
 * "bbbbb" slots (uint16), per-slot entry counts (uint32), keys (uint64),
 * state floats (width per key), and the slots this completes (uint16). Returns the
 * keys packed; the cursor is done when cursor.i == cursor.nslots.
 */
size_t	 store_pack(const struct ps_store *, struct ps_store_cursor *, size_t max_keys,
	    size_t max_slots, struct ps_wbuf *w);
/*
 * Load the five arguments of store_pack from m, starting at argument first: into
 * slots that are IMPORTING, whose completed slots become OWNED at epoch (into
 * SLOT_OWNED), or into backup copies (into SLOT_REPLICA: slots that are REPLICA
 * and stay so). Everything is checked before anything is stored. Keys loaded, or
 * -1 and cause.
 */
int64_t	 store_load(struct ps_store *, const struct ps_msg *m, uint32_t first,
	    uint64_t epoch, enum ps_slot_state into, char **cause);

#endif
