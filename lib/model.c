/*
 * A checkpoint as a model. Every slot file of the checkpoint is loaded into one slot
 * store, its checksum checked on the way (ckpt_load), and weights are computed from
 * the saved optimizer state with the saved optimizer's settings, as a server would
 * at pull time. This is liblinear-predict's use: no scheduler, no server.
 *
 * A key the checkpoint does not hold pulls what a server answers for a key it does
 * not hold: a new key's weights, zeros or, for a factorization machine, its drawn
 * factors (optim_init_pull). A checkpoint does not keep model.factors, init_scale
 * and seed: the caller sets md->optim.factors, .init_scale and .seed from its job
 * after model_open; left 0, a missing key pulls zeros.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/model.h"
#include "ps/xmalloc.h"

static int
model_is_ckpt(const char *dir)
{
	char *path;
	struct stat sb;
	int r;

	xasprintf(&path, "%s/%s", dir, PS_CKPT_MANIFEST);
	r = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
	free(path);
	return r;
}

/* The number after a name's last '-' (20261129T081500Z-2: 2), 1 without one: a
 * second save in the same second is newer than the first. */
static long
model_suffix(const char *name)
{
	const char *dash = strrchr(name, '-');
	char *end;
	long n;

	if (dash == NULL)
		return 1;
	n = strtol(dash + 1, &end, 10);
	return *end == '\0' && end != dash + 1 ? n : 1;
}

char *
model_find(const char *ckpt_dir, const char *name, char **cause)
{
	struct ps_manifest m;
	struct dirent *e;
	char *best = NULL, *path, *why;
	time_t best_time = 0;
	long best_n = 0;
	DIR *d;

	if (strcmp(name, "latest") != 0) {
		if (model_is_ckpt(name))
			return xstrdup(name);
		/* A path is a path, as ps-ckpt takes it: not a name in ckpt_dir. */
		if (strchr(name, '/') != NULL) {
			xasprintf(cause, "%s: not a complete checkpoint (no %s)", name,
			    PS_CKPT_MANIFEST);
			return NULL;
		}
		xasprintf(&path, "%s/%s", ckpt_dir, name);
		if (model_is_ckpt(path))
			return path;
		xasprintf(cause, "%s: not a complete checkpoint (no %s), nor is %s", name,
		    PS_CKPT_MANIFEST, path);
		free(path);
		return NULL;
	}
	if ((d = opendir(ckpt_dir)) == NULL) {
		xasprintf(cause, "%s: %s", ckpt_dir, strerror(errno));
		return NULL;
	}
	/* The newest by the MANIFEST's time, as ps-ckpt list orders them; a
	 * MANIFEST that does not parse makes no checkpoint. */
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		xasprintf(&path, "%s/%s", ckpt_dir, e->d_name);
		if (ckpt_manifest_read(path, &m, &why) != 0) {
			free(why);
			free(path);
			continue;
		}
		if (best == NULL || m.created > best_time || (m.created == best_time &&
		    model_suffix(e->d_name) > best_n)) {
			free(best);
			best = path;
			best_time = m.created;
			best_n = model_suffix(e->d_name);
		} else
			free(path);
		ckpt_manifest_free(&m);
	}
	closedir(d);
	if (best == NULL)
		xasprintf(cause, "%s: no complete checkpoint", ckpt_dir);
	return best;
}

int
model_open(struct ps_model *md, const char *dir, char **cause)
{
	struct ps_manifest m;
	struct ps_ckpt_header h;
	size_t i;
	char *path;
	int64_t n;

	memset(md, 0, sizeof *md);
	if (ckpt_manifest_read(dir, &m, cause) != 0)
		return -1;
	store_init(&md->store, m.width);
	md->dir = xstrdup(dir);
	for (i = 0; i < m.nfiles; i++) {
		xasprintf(&path, "%s/%s", dir, m.files[i].name);
		n = ckpt_load(&md->store, path, i > 0 ? &md->optim : NULL, 1, &h, cause);
		free(path);
		if (n < 0) {
			ckpt_manifest_free(&m);
			model_free(md);
			return -1;
		}
		if (i == 0)
			md->optim = h.optim;
		md->keys += (uint64_t)n;
	}
	ckpt_manifest_free(&m);
	return 0;
}

/* The entries of one file for the slots with take[slot] set: 0, or -1 once any may
 * have been stored. */
static int
model_restore_file(struct ps_store *st, const char *path, const struct ps_optim *want,
    const uint8_t *take, uint64_t *keys, char **cause)
{
	struct ps_ckpt_reader *r;
	const struct ps_ckpt_header *h;
	const float *v;
	uint32_t count;
	uint64_t key;
	uint16_t slot;
	int rv;

	if ((r = ckpt_open(path, cause)) == NULL)
		return -1;
	h = ckpt_header(r);
	if (h->width != st->width || want->kind != h->optim.kind ||
	    want->dim != h->optim.dim) {
		xasprintf(cause, "%s: saved with %s, dim %u (width %u); this server runs "
		    "%s, dim %u (width %u)", path, optim_name(h->optim.kind), h->optim.dim,
		    h->width, optim_name(want->kind), want->dim, st->width);
		ckpt_close(r);
		return -1;
	}
	while ((rv = ckpt_next_slot(r, &slot, &count, cause)) == 1) {
		if (!take[slot])
			continue;	/* another server's now: skipped, still checked */
		while ((rv = ckpt_next_entry(r, &key, &v, cause)) == 1) {
			memcpy(table_insert(&st->tables[slot], key, NULL), v,
			    (size_t)h->width * sizeof *v);
			(*keys)++;
		}
		if (rv == -1)
			break;
	}
	ckpt_close(r);
	return rv;
}

int64_t
model_restore_slots(struct ps_store *st, const char *dir, const struct ps_optim *want,
    const uint8_t *take, char **cause)
{
	struct ps_manifest m;
	uint64_t keys = 0;
	uint32_t slot;
	size_t i;
	char *path;
	int rv = 0;

	if (ckpt_manifest_read(dir, &m, cause) != 0)
		return -1;
	for (slot = 0; slot < PS_NSLOTS; slot++) {
		if (take[slot] && st->tables[slot].count != 0) {
			xasprintf(cause, "slot %u already holds keys", slot);
			ckpt_manifest_free(&m);
			return -1;
		}
	}
	for (i = 0; i < m.nfiles && rv == 0; i++) {
		xasprintf(&path, "%s/%s", dir, m.files[i].name);
		rv = model_restore_file(st, path, want, take, &keys, cause);
		free(path);
	}
	ckpt_manifest_free(&m);
	if (rv != 0) {
		/* A file that fails its checksum may have given entries already. */
		for (slot = 0; slot < PS_NSLOTS; slot++)
			if (take[slot])
				store_drop(st, slot);
		return -1;
	}
	return (int64_t)keys;
}

int64_t
model_restore(struct ps_store *st, const char *dir, const struct ps_optim *want,
    char **cause)
{
	uint8_t take[PS_NSLOTS];
	uint32_t slot;

	for (slot = 0; slot < PS_NSLOTS; slot++)
		take[slot] = st->state[slot] == SLOT_OWNED || st->state[slot] == SLOT_REPLICA;
	return model_restore_slots(st, dir, want, take, cause);
}

void
model_free(struct ps_model *md)
{
	store_free(&md->store);
	free(md->dir);
	memset(md, 0, sizeof *md);
}

void
model_pull(const struct ps_model *md, const uint64_t *keys, size_t n, float *w)
{
	uint32_t dim = md->optim.dim;
	size_t i;

	for (i = 0; i < n; i++, w += dim) {
		const float *state = table_find(&md->store.tables[map_slot(keys[i])],
		    keys[i]);

		if (state != NULL)
			optim_pull(&md->optim, state, w);
		else if (md->optim.factors > 0)
			optim_init_pull(&md->optim, keys[i], w);
		else
			memset(w, 0, dim * sizeof *w);
	}
}
