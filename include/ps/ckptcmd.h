/*
 * ps-ckpt: checkpoints of a running job, and what can be done with them afterwards
 * (see ps-ckpt(1)). One table of commands, each a function; save asks the scheduler
 * (PS_MSG_CKPT_SAVE) and writes the MANIFEST, the others work on the folders alone,
 * through the checkpoint format module (include/ps/ckpt.h).
 *
 * Commands that change the folder of checkpoints (save, prune) hold a lock,
 * flock(2) on <dir>/.lock, for as long as they run: two of them never overlap.
 * Readers (list, verify, export) take none, so a long export never stops a save.
 *
 * Like ps-ctl, the entry point returns an exit status, PS_EXIT_OK, PS_EXIT_ERROR or
 * PS_EXIT_USAGE, and prints its own errors: one line on stderr.
 */
#ifndef PS_CKPTCMD_H
#define PS_CKPTCMD_H

#include <stdio.h>

#include "ps/conf.h"

#define CKPTCMD_LOCK		".lock"		/* in the folder of checkpoints */
#define CKPTCMD_WAIT_MAX	86400.0		/* seconds: --wait's bound */

struct ps_ckptcmd {
	const struct ps_conf	*conf;
	const char		*dir;		/* --dir, or NULL: conf->ckpt_dir */
	int			 json;		/* --json */
	double			 wait;		/* --wait: seconds the lock is waited for */
	int			 keep;		/* prune --keep; 0: not given */
	int			 verify;	/* save --verify */
	int			 lockfd;	/* -1, or the lock held */
};

void	ckptcmd_init(struct ps_ckptcmd *, const struct ps_conf *);
/* Release the lock, if held. */
void	ckptcmd_free(struct ps_ckptcmd *);
/* Run one command: argv[0] is its name; the options --dir, --json, --wait (and a
 * command's own, such as --keep) may come among its arguments. */
int	ckptcmd_run(struct ps_ckptcmd *, int argc, char **argv);
/* The command list, for --help. */
void	ckptcmd_help(FILE *);
/* Parse --wait's value: seconds, 0..CKPTCMD_WAIT_MAX. 0 or -1. */
int	ckptcmd_parse_wait(const char *, double *);

#endif
