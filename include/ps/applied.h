/*
 * Which pushes a server has applied, by client node id and request id. A client
 * whose push was not acknowledged (its server was lost, or a copy failed) sends it
 * again with the same id, flagged as a retry, perhaps to the backup that now owns
 * the slots: the record tells whether that server applied it already, so no update
 * is applied twice. Pure, no I/O.
 */
#ifndef PS_APPLIED_H
#define PS_APPLIED_H

#include <stdint.h>

/* Request ids kept per client: more than a client has unacknowledged at once (a few
 * frames per server) by far. */
#define APPLIED_RING	4096
/* Clients remembered; past it the one heard from least recently is forgotten. */
#define APPLIED_CLIENTS	1024

struct applied_client;

struct applied {
	struct applied_client	*c;
	uint32_t		 n;
	uint64_t		 tick;		/* for least recently used */
};

enum applied_answer { APPLIED_NO = 0, APPLIED_YES, APPLIED_UNKNOWN };

void	applied_init(struct applied *);
void	applied_free(struct applied *);
/* Record that client's request id was applied here. */
void	applied_add(struct applied *, uint32_t client, uint64_t id);
/* Whether it was: UNKNOWN when the record has forgotten ids that old. */
enum applied_answer applied_has(struct applied *, uint32_t client, uint64_t id);

#endif
