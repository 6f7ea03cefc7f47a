/*
 * ps-ctl: the operator's commands against a running job (after relayctl and
 * redis-cli). One table of commands, matched by unique prefix, drives the one-shot
 * command line, commands read from a file and the interactive shell's completion.
 * Text for people, one JSON line with --json for scripts. See ps-ctl(1).
 *
 * The entry points return an exit status rather than 0/-1, because a command has
 * three outcomes: PS_EXIT_OK, PS_EXIT_ERROR (the scheduler is unreachable, refused the
 * command, or reports a dead node) and PS_EXIT_USAGE. They print their own errors,
 * one line on stderr, as "ps-ctl: ...".
 */
#ifndef PS_CTL_H
#define PS_CTL_H

#include <stdint.h>
#include <stdio.h>

#include "ps/conf.h"

/* Seconds that status, get and the handshake of any command may wait for an answer. */
#define CTL_TIMEOUT	5

struct ps_ctl {
	const struct ps_conf	*conf;
	int			 json;		/* --json before the command: for every one */
	uint64_t		 next_id;	/* request ids */
};

void	ctl_init(struct ps_ctl *, const struct ps_conf *, int json);
/* Run one command: argv[0] is its name (or a unique prefix), "--json" may appear
 * among its arguments. */
int	ctl_run(struct ps_ctl *, int argc, char **argv);
/* Commands one a line from f, without prompts; blank lines and '#' comments are
 * skipped, "quit" ends. The worst exit status of the commands. */
int	ctl_script(struct ps_ctl *, FILE *f);
/* The interactive shell on a terminal: readline, history in $HOME/.ps_ctl_history,
 * completion of commands and node ids. PS_EXIT_OK: errors were shown as they came. */
int	ctl_shell(struct ps_ctl *);
/* The command list, for --help and the help command. */
void	ctl_help(FILE *);

#endif
