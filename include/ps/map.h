/* The cluster map: which server owns each hash slot, at which epoch. */
#ifndef PS_MAP_H
#define PS_MAP_H

#include <stdint.h>

#include "ps/hash.h"
#include "ps/msg.h"

#define PS_NSLOTS	16384		/* a power of two, as Redis Cluster */
#define PS_MAX_COPIES	3		/* cluster.replicas at most */
#define PS_NO_SERVER	0xffff		/* a backup row's empty place */

struct ps_node {
	uint32_t	 id;
	char		*host;
	int		 port;
};

/*
 * A slot's owner (its primary) serves it; its backups (cluster.replicas - 1 of them)
 * hold copies the owner keeps up to date, and one of them takes over if the owner
 * is lost. Backup rows are kept packed: an empty place (PS_NO_SERVER) is only ever
 * followed by empty places.
 */
struct ps_map {
	uint64_t	 epoch;		/* 0: no map yet; rises with every change */
	uint32_t	 nservers;
	struct ps_node	*servers;
	uint32_t	 nbackups;	/* backup rows in use: cluster.replicas - 1 */
	uint16_t	 owner[PS_NSLOTS];	/* slot -> index into servers */
	uint16_t	 backup[PS_MAX_COPIES - 1][PS_NSLOTS];	/* or PS_NO_SERVER */
};

static inline uint32_t
map_slot(uint64_t key)
{
	return (uint32_t)(hash_key(key) & (PS_NSLOTS - 1));
}

void	map_init(struct ps_map *);
void	map_free(struct ps_map *);
void	map_copy(struct ps_map *dst, const struct ps_map *src);
/* Add a server to the list (the owner table is left alone). */
void	map_add_server(struct ps_map *, uint32_t id, const char *host, int port);
/* Remove server i, which must hold no copy of any slot; indices after it shift down. */
void	map_remove_server(struct ps_map *, uint32_t i);
/* Index of the server with this node id, or -1. */
int	map_find_server(const struct ps_map *, uint32_t id);
/* Spread the slots evenly over the servers, in contiguous ranges. */
void	map_spread(struct ps_map *);
/* Index of the server owning key. */
static inline uint32_t
map_owner(const struct ps_map *m, uint64_t key)
{
	return m->owner[map_slot(key)];
}
/* Slots owned by server index i. */
uint32_t map_count_slots(const struct ps_map *, uint32_t i);
/* Whether server i holds a copy of slot (as owner or backup). */
int	map_holds(const struct ps_map *, uint32_t slot, uint32_t i);
/* Slots server i holds as a backup. */
uint32_t map_count_backups(const struct ps_map *, uint32_t i);
/* Give every slot nbackups backups, on the servers after its owner in the list (a
 * chain): needs more servers than nbackups. */
void	map_chain_backups(struct ps_map *, uint32_t nbackups);
/*
 * Server i is lost: each slot it owned passes to its first backup (promoted), and it
 * leaves every backup row. Returns the slots it owned that had no backup: those
 * still name it as owner. *promoted counts the slots that changed owner.
 */
uint32_t map_fail_server(struct ps_map *, uint32_t i, uint32_t *promoted);
/*
 * Fill the empty backup places, each with a server that holds no copy of the slot
 * yet, the one with the fewest copies first (a spare before a busy server); servers
 * with skip[i] set are left out. Returns the places filled; a place stays empty
 * when no server is left to take it.
 */
uint32_t map_fill_backups(struct ps_map *, const uint8_t *skip);
/* Backup places left empty. */
uint32_t map_missing_backups(const struct ps_map *);
/* As three message arguments: epoch, [[id, host, port], ...], bin of uint16 LE
 * rows: the owners, then each backup row. */
#define PS_MAP_FMT "uab"
void	map_pack(struct ps_wbuf *, const struct ps_map *);
/* Read a map from arguments first..first+2 (already checked against PS_MAP_FMT). */
int	map_unpack(struct ps_map *, const struct ps_msg *, uint32_t first, char **cause);

#endif
