/*
 * The record of applied pushes (ps/applied.h): per client, a ring of its last
 * APPLIED_RING request ids. Ids mostly rise, so the highest id pushed out of the
 * ring is kept: an id not in the ring and not above it may have been forgotten.
 */
#include <stdlib.h>
#include <string.h>

#include "ps/applied.h"
#include "ps/xmalloc.h"

struct applied_client {
	uint32_t	 client;
	uint32_t	 count;		/* ids in the ring */
	uint32_t	 at;		/* next place to write */
	uint64_t	 forgotten;	/* highest id pushed out (once the ring is full) */
	uint64_t	 used;		/* tick of the last use */
	uint64_t	*ids;
};

void
applied_init(struct applied *a)
{
	memset(a, 0, sizeof *a);
}

void
applied_free(struct applied *a)
{
	uint32_t i;

	for (i = 0; i < a->n; i++)
		free(a->c[i].ids);
	free(a->c);
	applied_init(a);
}

static struct applied_client *
applied_find(struct applied *a, uint32_t client)
{
	uint32_t i;

	for (i = 0; i < a->n; i++) {
		if (a->c[i].client == client) {
			a->c[i].used = ++a->tick;
			return &a->c[i];
		}
	}
	return NULL;
}

void
applied_add(struct applied *a, uint32_t client, uint64_t id)
{
	struct applied_client *c = applied_find(a, client);
	uint32_t i, old = 0;

	if (c == NULL) {
		if (a->n == APPLIED_CLIENTS) {
			/* Forget the client heard from least recently. */
			for (i = 1; i < a->n; i++)
				if (a->c[i].used < a->c[old].used)
					old = i;
			free(a->c[old].ids);
			a->c[old] = a->c[--a->n];
		}
		a->c = xreallocarray(a->c, a->n + 1, sizeof *a->c);
		c = &a->c[a->n++];
		memset(c, 0, sizeof *c);
		c->client = client;
		c->used = ++a->tick;
		c->ids = xreallocarray(NULL, APPLIED_RING, sizeof *c->ids);
	}
	if (c->count == APPLIED_RING) {
		if (c->ids[c->at] > c->forgotten)
			c->forgotten = c->ids[c->at];
	} else
		c->count++;
	c->ids[c->at] = id;
	c->at = (c->at + 1) % APPLIED_RING;
}

enum applied_answer
applied_has(struct applied *a, uint32_t client, uint64_t id)
{
	struct applied_client *c = applied_find(a, client);
	uint32_t i;

	if (c == NULL)
		return APPLIED_NO;
	for (i = 0; i < c->count; i++)
		if (c->ids[i] == id)
			return APPLIED_YES;
	/* Nothing is forgotten until the ring is full. */
	return c->count == APPLIED_RING && id <= c->forgotten ? APPLIED_UNKNOWN :
	    APPLIED_NO;
}
