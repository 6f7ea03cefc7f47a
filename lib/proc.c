#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ps/log.h"
#include "ps/proc.h"

static const int proc_sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };

static void
proc_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct ps_proc *proc = arg;

	(void)what;
	proc->on_signal((int)sig, proc->arg);
}

void
proc_init(struct ps_proc *proc, void (*on_signal)(int, void *), void *arg)
{
	size_t i;

	memset(proc, 0, sizeof *proc);
	signal(SIGPIPE, SIG_IGN);
	if ((proc->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	proc->on_signal = on_signal;
	proc->arg = arg;
	for (i = 0; i < sizeof proc_sigs / sizeof proc_sigs[0]; i++) {
		proc->signals[i] = evsignal_new(proc->base, proc_sigs[i], proc_signal_cb,
		    proc);
		if (proc->signals[i] == NULL)
			fatalx("evsignal_new failed");
		event_add(proc->signals[i], NULL);
	}
}

void
proc_free(struct ps_proc *proc)
{
	size_t i;

	for (i = 0; i < sizeof proc_sigs / sizeof proc_sigs[0]; i++)
		if (proc->signals[i] != NULL)
			event_free(proc->signals[i]);
	if (proc->base != NULL)
		event_base_free(proc->base);
	memset(proc, 0, sizeof *proc);
}

void
proc_timer_start(struct event *ev, double secs)
{
	struct timeval tv;

	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	event_add(ev, &tv);
}

struct event *
proc_timer(struct ps_proc *proc, double secs, int persist, event_callback_fn cb, void *arg)
{
	struct event *ev = event_new(proc->base, -1, persist ? EV_PERSIST : 0, cb, arg);

	if (ev == NULL)
		fatalx("event_new failed");
	if (persist)
		proc_timer_start(ev, secs);
	return ev;
}

void
proc_loop(struct ps_proc *proc)
{
	event_base_dispatch(proc->base);
}

void
proc_exit(struct ps_proc *proc)
{
	event_base_loopexit(proc->base, NULL);
}

const char *
proc_signame(int sig)
{
	static char	 buf[16];
	const char	*abbrev = sigabbrev_np(sig);

	snprintf(buf, sizeof buf, "SIG%s", abbrev != NULL ? abbrev : "?");
	return buf;
}
