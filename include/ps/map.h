/* The cluster map: which server owns each hash slot, at which epoch. */
#ifndef PS_MAP_H
#define PS_MAP_H

#include <stdint.h>

#include "ps/hash.h"
#include "ps/msg.h"

#define PS_NSLOTS	16384		/* a power of two, as Redis Cluster */

struct ps_node {
	uint32_t	 id;
	char		*host;
	int		 port;
};

struct ps_map {
	uint64_t	 epoch;		/* 0: no map yet; rises with every change */
	uint32_t	 nservers;
	struct ps_node	*servers;
	uint16_t	 owner[PS_NSLOTS];	/* slot -> index into servers */
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
/* Remove server i, which must own no slot; owners after it shift down. */
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
/* As three message arguments: epoch, [[id, host, port], ...], bin of uint16 LE owners. */
#define PS_MAP_FMT "uab"
void	map_pack(struct ps_wbuf *, const struct ps_map *);
/* Read a map from arguments first..first+2 (already checked against PS_MAP_FMT). */
int	map_unpack(struct ps_map *, const struct ps_msg *, uint32_t first, char **cause);

#endif
