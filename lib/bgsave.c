/*
 * The server's side of a checkpoint, as redis' BGSAVE: fork(), and the child writes
 * the owned slots from its copy-on-write view of memory while the parent goes on
 * serving. Training pauses only for the fork itself (copying the page tables), which
 * is measured and logged. Every push answered before the SAVE arrived is in the
 * child's view; none after it is. The SAVE is answered when the child has exited.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/bgsave.h"
#include "ps/ckpt.h"
#include "ps/log.h"
#include "ps/net.h"
#include "ps/xmalloc.h"

struct bgsave {
	struct ps_defer	*d;
	pid_t		 pid;
	char		*path;
	char		 file[PS_CKPT_NAMELEN];
	uint64_t	 keys;
	double		 pause;
	double		 started;
};

int
bgsave_busy(const struct server *s)
{
	return s->save != NULL;
}

/* The child: write the file and exit, touching nothing of the parent's. */
static void
bgsave_child(struct server *s, const char *path, const uint16_t *slots, size_t n)
{
	char *cause;

	if (ckpt_write(path, &s->store, &s->conf->optim, s->map.epoch, s->id, slots, n,
	    NULL, &cause) != 0) {
		log_error("save: %s", cause);
		_exit(1);
	}
	_exit(0);
}

void
bgsave_request(struct server *s, struct ps_peer *p, struct ps_msg *m)
{
	struct bgsave *b;
	uint16_t *slots;
	char *dir;
	size_t n;
	double t0;
	pid_t pid;

	if (s->save != NULL) {
		peer_error(p, m, PS_ERR_STATE, "a save is already under way");
		return;
	}
	if (s->mig != NULL || store_count(&s->store, SLOT_IMPORTING) > 0 ||
	    store_count(&s->store, SLOT_MIGRATING) > 0) {
		peer_error(p, m, PS_ERR_STATE, "slots are moving: save after the move");
		return;
	}
	b = xcalloc(1, sizeof *b);
	dir = msg_strdup(m, 0);
	snprintf(b->file, sizeof b->file, "server-%u.slots", s->id);
	xasprintf(&b->path, "%s/%s", dir, b->file);
	free(dir);
	slots = xreallocarray(NULL, PS_NSLOTS, sizeof *slots);
	n = ckpt_slots(&s->store, SLOT_OWNED, slots);
	b->keys = store_keys_in(&s->store, slots, n);

	fflush(stderr);
	t0 = net_now();
	if ((pid = fork()) == -1) {
		peer_error(p, m, PS_ERR_SERVER, "save: fork: %s", strerror(errno));
		free(slots);
		free(b->path);
		free(b);
		return;
	}
	if (pid == 0)
		bgsave_child(s, b->path, slots, n);
	b->pause = net_now() - t0;
	b->started = t0;
	b->pid = pid;
	b->d = peer_defer(p, m, 0);
	s->save = b;
	free(slots);
	log_info("saving %llu keys of %zu slots to %s (training paused %.3f ms for the fork)",
	    (unsigned long long)b->keys, n, b->path, b->pause * 1e3);
}

void
bgsave_reap(struct server *s)
{
	struct bgsave *b = s->save;
	struct ps_hdr h;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (b == NULL || pid != b->pid)
			continue;
		s->save = NULL;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			log_info("saved %llu keys to %s in %.3f s",
			    (unsigned long long)b->keys, b->path, net_now() - b->started);
			h = msg_reply_hdr(defer_msg(b->d), PS_MSG_SAVE_OK, s->id,
			    s->map.epoch);
			msg_begin(&s->out, &h, 3);
			msg_put_str(&s->out, b->file);
			msg_put_uint(&s->out, b->keys);
			msg_put_float(&s->out, b->pause);
			msg_end(&s->out);
			defer_reply(b->d, &s->out);
		} else if (WIFEXITED(status))
			defer_error(b->d, PS_ERR_SERVER, "writing %s failed (exit %d): see "
			    "the server's log", b->path, WEXITSTATUS(status));
		else
			defer_error(b->d, PS_ERR_SERVER, "writing %s failed: the writer was "
			    "killed by signal %d", b->path, WTERMSIG(status));
		free(b->path);
		free(b);
		b = NULL;
	}
}

void
bgsave_free(struct server *s)
{
	struct bgsave *b = s->save;

	if (b == NULL)
		return;
	/* At exit: the child finishes its file on its own; nobody waits for it. */
	s->save = NULL;
	free(b->path);
	free(b);
}
