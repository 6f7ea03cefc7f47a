/* A checkpoint read back as a model, with no cluster: for ps-worker --model (offline
 * prediction and evaluation) and ps-server --restore (see lib/model.c). */
#ifndef PS_MODEL_H
#define PS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ps/ckpt.h"
#include "ps/store.h"

struct ps_model {
	char		*dir;		/* the checkpoint's folder */
	struct ps_store	 store;
	struct ps_optim	 optim;		/* of the save: w is computed with it */
	uint64_t	 keys;
};

/*
 * The folder of checkpoint name: name itself if it is a folder with a MANIFEST (or
 * has a '/'), else ckpt_dir/name; "latest" is the newest complete checkpoint in
 * ckpt_dir, by its MANIFEST's time as ps-ckpt list orders them. Allocated path, or
 * NULL and cause.
 */
char	*model_find(const char *ckpt_dir, const char *name, char **cause);
/* Read every file of the checkpoint in dir (each verified as it is read). */
int	 model_open(struct ps_model *, const char *dir, char **cause);
void	 model_free(struct ps_model *);
/*
 * ps-server --restore: load, from every file of the checkpoint in dir, the entries of
 * the slots that are OWNED or REPLICA in st (and empty): whichever server saved them,
 * so a checkpoint restores onto any number of servers. The saved optimizer and dim
 * must be want's. Keys loaded, or -1 and cause (and then those slots are emptied
 * again).
 */
int64_t	 model_restore(struct ps_store *st, const char *dir, const struct ps_optim *want,
	    char **cause);
/* The same for the slots with take[slot] set, whatever their state (a lost server's
 * slots, restored onto another). */
int64_t	 model_restore_slots(struct ps_store *st, const char *dir,
	    const struct ps_optim *want, const uint8_t *take, char **cause);
/* The weights of n keys, dim floats each: for a key not in the model, what a server
 * answers for a key it does not hold (zeros, or a factorization machine's initial
 * factors: optim_init_pull). */
void	 model_pull(const struct ps_model *, const uint64_t *keys, size_t n, float *w);

#endif
