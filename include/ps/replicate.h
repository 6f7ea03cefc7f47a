/*
 * Replication (cluster.replicas), on the servers. The map gives each slot an owner and
 * backups. The owner applies a PUSH or LOAD, sends the keys' whole states after it to
 * the slots' backups (REPLICATE), and answers the client once every backup has stored
 * them; if one fails, the client gets PS_ERR_RETRY and sends the request again (same
 * id, retry flag) once the scheduler's map has changed. States, not gradients, go to
 * the backups, so storing one twice does no harm; the record of applied request ids
 * (ps/applied.h), kept on owners and backups alike, tells a promoted backup whether a
 * retried push was applied already. A server that becomes the owner of slots whose
 * backups lack a copy sends them one (REPLICA_SYNC) before any REPLICATE for them, on
 * the same connection, so the copy and the updates after it arrive in order.
 */
#ifndef PS_REPLICATE_H
#define PS_REPLICATE_H

#include "ps/server.h"

/* A new map is in force (old: the one before it): send the backups of this server's
 * slots the copies they lack, close the connections to servers that are no longer
 * backups. */
void	replicate_map(struct server *, const struct ps_map *old);
/*
 * After a PUSH or LOAD of n keys (their slots in s->slot_of) was applied here, send
 * the keys' states to their backups. 0: the slots have no backup (the caller answers
 * now); 1: the answer (reply type, with n) is sent once the backups have stored them.
 */
int	replicate_forward(struct server *, struct ps_peer *, struct ps_msg *,
	    struct ps_defer *, const char *keys, size_t n, uint32_t reply);
/* The backup's side: REPLICATE and REPLICA_SYNC. */
void	replicate_store(struct server *, struct ps_peer *, struct ps_msg *);
void	replicate_sync(struct server *, struct ps_peer *, struct ps_msg *);
/* Slots held here as a backup. */
uint32_t replicate_backup_slots(const struct server *);
/* Close the connections to backups (their requests fail) and free everything. */
void	replicate_free(struct server *);

#endif
