/*
 * A checkpoint, seen from the scheduler. ps-ckpt makes the folder and asks; the
 * scheduler sends SAVE to every server that holds slots, at once, and answers when
 * each has written its file (ps-ckpt then writes the MANIFEST that makes the
 * checkpoint exist). Slots do not move meanwhile: a reshard waits for the save, and a
 * save for the reshard, so every slot is in exactly one file.
 */
#include <stdlib.h>
#include <string.h>

#include "ps/log.h"
#include "ps/net.h"
#include "ps/reshard.h"
#include "ps/snapshot.h"
#include "ps/xmalloc.h"

struct snapshot {
	struct ps_defer	*d;		/* the ps-ckpt request */
	uint32_t	 waiting;	/* servers yet to answer */
	char		**files;
	uint32_t	 nfiles;
	uint64_t	 keys;
	double		 pause;		/* the longest fork pause */
	double		 started;
	char		*dir;		/* the checkpoint's folder */
	char		*error;		/* the first failure */
};

int
snapshot_busy(const struct sched *s)
{
	return s->snapshot != NULL;
}

static void
snapshot_end(struct sched *s)
{
	struct snapshot *z = s->snapshot;
	uint32_t i;

	s->snapshot = NULL;
	for (i = 0; i < z->nfiles; i++)
		free(z->files[i]);
	free(z->files);
	free(z->dir);
	free(z->error);
	free(z);
}

void
snapshot_free(struct sched *s)
{
	if (s->snapshot != NULL)
		snapshot_end(s);
}

static void
snapshot_done(struct sched *s)
{
	struct snapshot *z = s->snapshot;
	struct ps_hdr h;
	uint32_t i;

	if (z->error != NULL) {
		s->ckpts_failed++;
		log_warnx("checkpoint failed: %s", z->error);
		defer_error(z->d, PS_ERR_SERVER, "%s", z->error);
		snapshot_end(s);
		return;
	}
	s->ckpts_done++;
	/* What a lost server's slots are restored from, without replicas, and how
	 * many of its updates came after it (ps/sched.h). */
	free(s->last_ckpt);
	s->last_ckpt = z->dir;
	z->dir = NULL;
	s->last_ckpt_at = net_now();
	for (i = 0; i < s->nnodes; i++)
		s->nodes[i]->pushes_at_ckpt = s->nodes[i]->pushes;
	log_info("checkpoint: %u files, %llu keys in %.3f s; longest pause %.3f ms",
	    z->nfiles, (unsigned long long)z->keys, net_now() - z->started, z->pause * 1e3);
	h = msg_hdr(PS_MSG_CTL_OK, defer_msg(z->d)->hdr.id, 0, s->map.epoch);
	msg_begin(&s->out, &h, 1);
	msg_put_map(&s->out, 5);
	msg_put_str(&s->out, "epoch");		msg_put_uint(&s->out, s->map.epoch);
	msg_put_str(&s->out, "files");
	msg_put_array(&s->out, z->nfiles);
	for (i = 0; i < z->nfiles; i++)
		msg_put_str(&s->out, z->files[i]);
	msg_put_str(&s->out, "keys");		msg_put_uint(&s->out, z->keys);
	msg_put_str(&s->out, "pause");		msg_put_float(&s->out, z->pause);
	msg_put_str(&s->out, "seconds");
	msg_put_float(&s->out, net_now() - z->started);
	msg_end(&s->out);
	defer_reply(z->d, &s->out);
	snapshot_end(s);
}

static void
snapshot_saved(struct ps_peer *p, struct ps_msg *m, const char *why, void *arg)
{
	struct sched *s = arg;
	struct snapshot *z = s->snapshot;

	if (z == NULL)
		return;
	if (m == NULL || why != NULL) {
		if (z->error == NULL)
			xasprintf(&z->error, "%s: %s", peer_info(p)->name,
			    why != NULL ? why : "no reply");
	} else {
		z->files = xreallocarray(z->files, z->nfiles + 1, sizeof *z->files);
		z->files[z->nfiles++] = msg_strdup(m, 0);
		z->keys += msg_uint(m, 1);
		if (msg_float(m, 2) > z->pause)
			z->pause = msg_float(m, 2);
	}
	if (--z->waiting == 0)
		snapshot_done(s);
}

void
snapshot_request(struct sched *s, struct ps_peer *p, struct ps_msg *m)
{
	struct snapshot *z;
	struct ps_hdr h;
	uint32_t i;
	char *dir;
	int k;

	if (s->snapshot != NULL) {
		peer_error(p, m, PS_ERR_STATE, "a checkpoint is already being written");
		return;
	}
	if (reshard_busy(s)) {
		peer_error(p, m, PS_ERR_STATE, "slots are being moved: save after the move");
		return;
	}
	if (!s->map_live || s->ending) {
		peer_error(p, m, PS_ERR_STATE, "%s", s->ending ? "the job is ending" :
		    s->failover_at > 0 ? "a lost server's slots are being handed over: "
		    "try again in a moment" :
		    "the cluster has no map yet: not every server has registered");
		return;
	}
	/* A slot on a server that is not up cannot be saved: refuse, rather than
	 * write a checkpoint that silently lacks it. */
	for (i = 0; i < s->map.nservers; i++) {
		struct node *n = sched_find(s, s->map.servers[i].id);

		if (map_count_slots(&s->map, i) > 0 && (n == NULL || n->state != NODE_ALIVE ||
		    n->peer == NULL)) {
			peer_error(p, m, PS_ERR_STATE, "server node %u holds slots and is not "
			    "up: its slots cannot be saved", s->map.servers[i].id);
			return;
		}
	}
	z = xcalloc(1, sizeof *z);
	z->started = net_now();
	s->snapshot = z;
	dir = msg_strdup(m, 0);
	for (i = 0; i < s->map.nservers; i++) {
		struct node *n = sched_find(s, s->map.servers[i].id);

		if (map_count_slots(&s->map, i) == 0)
			continue;
		h = msg_hdr(PS_MSG_SAVE, peer_next_id(n->peer), 0, s->map.epoch);
		msg_begin(&s->out, &h, 1);
		msg_put_str(&s->out, dir);
		msg_end(&s->out);
		z->waiting++;
		peer_call(n->peer, &s->out, 0, snapshot_saved, s);
	}
	k = (int)z->waiting;
	if (k == 0) {		/* no server holds a slot: nothing could be saved */
		peer_error(p, m, PS_ERR_STATE, "no server holds slots");
		snapshot_end(s);
		free(dir);
		return;
	}
	z->d = peer_defer(p, m, 0);
	log_info("%s: checkpoint into %s: %d servers", peer_info(p)->name, dir, k);
	z->dir = dir;
}
