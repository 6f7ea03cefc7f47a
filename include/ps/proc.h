/* A daemon's process: its event loop, its signals and its timers, set up in one place
 * for every daemon (after tmux's proc.c). */
#ifndef PS_PROC_H
#define PS_PROC_H

#include <event2/event.h>

struct ps_proc {
	struct event_base	*base;
	struct event		*signals[4];	/* SIGTERM, SIGINT, SIGHUP, SIGCHLD */
	void			(*on_signal)(int sig, void *arg);
	void			*arg;
};

/* A new loop; SIGPIPE is ignored (a dead peer is seen as a failed write), and
 * SIGTERM, SIGINT, SIGHUP and SIGCHLD call on_signal from the loop. */
void		 proc_init(struct ps_proc *, void (*on_signal)(int, void *), void *arg);
void		 proc_free(struct ps_proc *);
/* A timer calling cb every secs seconds (persist) or once. Started at once; free it
 * with event_free. */
struct event	*proc_timer(struct ps_proc *, double secs, int persist,
		    event_callback_fn cb, void *arg);
/* (Re)start a one-shot timer made with proc_timer(..., 0, ...) for secs. */
void		 proc_timer_start(struct event *, double secs);
/* "SIGTERM": the name operators know a signal by, for log lines. */
const char	*proc_signame(int sig);
/* Run until proc_exit. */
void		 proc_loop(struct ps_proc *);
void		 proc_exit(struct ps_proc *);

#endif
