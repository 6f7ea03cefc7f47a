/*
 * ps-launch: run a whole job over ssh from a hosts file; see ps-launch(1).
 *
 * One ssh session per node (lib/launch.c has what runs on the far side). The
 * scheduler first, until it prints "ready"; then the servers and the workers.
 * Their output comes back line by line, prefixed with the node's name (stdout to
 * stdout, stderr to stderr). Each ssh reads its stdin from a pipe, its lifeline, whose
 * write end only this process holds: closing it (to stop the job), or dying, ends the
 * session and what it started. A stop closes the workers' and the scheduler's first,
 * so the scheduler ends the job and tells its servers, and the servers' once the
 * scheduler is done (or 5 s later). The job ends when every node has ended; it
 * succeeded when every worker exited 0 and nothing failed.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "ps/cli.h"
#include "ps/conf.h"
#include "ps/hosts.h"
#include "ps/launch.h"
#include "ps/log.h"
#include "ps/proc.h"
#include "ps/xmalloc.h"

#define READY_TIMEOUT	30.0	/* seconds for the scheduler to print "ready" */
#define SERVERS_GRACE	5.0	/* seconds for the scheduler to stop its servers */
#define STOP_GRACE	10.0	/* seconds for sessions to end after the lifeline closes */
#define KILL_GRACE	5.0	/* then after SIGTERM to ssh, before SIGKILL */

static const char usage[] =
    "usage: ps-launch [-nqv] -H hosts.yaml [-c job.yaml] [-o name=value] ...\n";

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct stream {
	struct launch		*launch;
	struct launch_node	*node;
	int			 fd;
	FILE			*to;
	struct event		*ev;
	struct evbuffer		*buf;
};

struct launch_node {
	char			 name[32];
	enum launch_role	 role;
	struct ps_host		*host;
	char			**argv;
	pid_t			 pid;		/* 0: not started, or reaped */
	int			 started, exited, status, done;
	int			 life;		/* write end of its lifeline; -1: closed */
	struct stream		 out, err;
};

struct launch {
	struct ps_proc		 proc;
	struct launch_node	*nodes;
	int			 nnodes;
	struct event		*timer;		/* ready, then stop, then kill */
	int			 phase;		/* what the timer is for */
	int			 ready, stopping, failed, exit_code, linger;
	int			 replicas;	/* cluster.replicas */
	int			 hup_ignored;	/* as under nohup: keep it so */
	int			 workers_ok, nworkers;
};

enum { PHASE_READY, PHASE_SERVERS, PHASE_STOP, PHASE_KILL, PHASE_DONE };

static void	launch_stop(struct launch *, const char *why);
static void	launch_stop_servers(struct launch *);

static void
stream_line(struct stream *s, const char *line, size_t len)
{
	fprintf(s->to, "%s: %.*s\n", s->node->name, (int)len, line);
	fflush(s->to);
}

static void launch_node_check(struct launch *, struct launch_node *);
static void launch_start_rest(struct launch *);

static void
stream_read(evutil_socket_t fd, short what, void *arg)
{
	struct stream	*s = arg;
	struct launch	*l = s->launch;
	char		*line;
	size_t		 len;
	int		 n;

	(void)what;
	n = evbuffer_read(s->buf, fd, 65536);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	while ((line = evbuffer_readln(s->buf, &len, EVBUFFER_EOL_LF)) != NULL) {
		stream_line(s, line, len);
		/* The scheduler's "ready HOST:PORT": the others may come. */
		if (s == &l->nodes[0].out && !l->ready && strncmp(line, "ready ", 6) == 0)
			launch_start_rest(l);
		free(line);
	}
	if (n > 0)
		return;
	/* EOF (or an error): the last line may lack its newline. */
	len = evbuffer_get_length(s->buf);
	if (len > 0) {
		line = (char *)evbuffer_pullup(s->buf, -1);
		stream_line(s, line, len);
	}
	event_free(s->ev);
	s->ev = NULL;
	evbuffer_free(s->buf);
	s->buf = NULL;
	close(s->fd);
	s->fd = -1;
	launch_node_check(l, s->node);
}

static void
stream_open(struct launch *l, struct stream *s, struct launch_node *node, int fd,
    FILE *to)
{
	s->launch = l;
	s->node = node;
	s->fd = fd;
	s->to = to;
	evutil_make_socket_nonblocking(fd);
	s->buf = evbuffer_new();
	s->ev = event_new(l->proc.base, fd, EV_READ | EV_PERSIST, stream_read, s);
	if (s->buf == NULL || s->ev == NULL)
		fatalx("out of memory");
	event_add(s->ev, NULL);
}

static void
launch_spawn(struct launch *l, struct launch_node *node)
{
	int	out[2], err[2], life[2];
	pid_t	pid;

	/* Close-on-exec: no other ssh holds a copy of these ends. */
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
	    pipe2(life, O_CLOEXEC) != 0)
		fatal("pipe");
	log_info("%s: starting on %s", node->name, node->host->host);
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		/* Its own session: a Ctrl-C on our terminal reaches us alone, and we
		 * stop the job in order. dup2 clears close-on-exec on the copies. */
		setsid();
		if (dup2(life[0], 0) == -1 || dup2(out[1], 1) == -1 ||
		    dup2(err[1], 2) == -1)
			_exit(127);
		execvp(node->argv[0], node->argv);
		fprintf(stderr, "ps-launch: %s: %s\n", node->argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	close(life[0]);
	node->life = life[1];
	node->pid = pid;
	node->started = 1;
	stream_open(l, &node->out, node, out[0], stdout);
	stream_open(l, &node->err, node, err[0], stderr);
}

static void
launch_start_rest(struct launch *l)
{
	int i;

	l->ready = 1;
	event_del(l->timer);
	if (l->stopping)
		return;
	for (i = 1; i < l->nnodes; i++)
		launch_spawn(l, &l->nodes[i]);
}

static int
launch_all_done(const struct launch *l)
{
	int i;

	for (i = 0; i < l->nnodes; i++)
		if (l->nodes[i].started && !l->nodes[i].done)
			return 0;
	return 1;
}

/* A node is done when ssh exited and its output is all read. */
static void
launch_node_check(struct launch *l, struct launch_node *node)
{
	char why[128];
	int code = node->status;

	if (node->done || !node->exited || node->out.fd != -1 || node->err.fd != -1)
		return;
	node->done = 1;
	if (code == 0 || l->stopping)
		log_info("%s: exited %d", node->name, code);
	else
		log_error("%s: exited %d%s", node->name, code, code == 255 ?
		    " (ssh failed: its message is above)" : "");
	/* Stopping: the scheduler is done, so its servers' turn has come. */
	if (node->role == LAUNCH_SCHEDULER && l->stopping && l->phase == PHASE_SERVERS)
		launch_stop_servers(l);
	if (node->role == LAUNCH_WORKER && code == 0) {
		if (++l->workers_ok == l->nworkers && l->linger)
			log_info("every worker is done; the job lingers (cluster.linger) "
			    "until ps-ctl shutdown");
	}
	else if (node->role == LAUNCH_SERVER && code != 0 && !l->stopping &&
	    l->replicas > 1)
		/* Its slots' backups serve them: the scheduler says whether the job
		 * can go on, and ends it if not. */
		log_warnx("%s died; cluster.replicas is %d: its backups serve its slots",
		    node->name, l->replicas);
	else if (node->role == LAUNCH_SCHEDULER && !l->ready && !l->stopping) {
		l->failed = 1;
		launch_stop(l, "the scheduler ended before it was ready");
	} else if (code != 0 && !l->stopping) {
		l->failed = 1;
		snprintf(why, sizeof why, "%s failed (exit %d)", node->name, code);
		launch_stop(l, why);
	}
	if (launch_all_done(l))
		proc_exit(&l->proc);
}

static void
launch_reap(struct launch *l)
{
	pid_t	pid;
	int	st, i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < l->nnodes; i++) {
			if (l->nodes[i].pid != pid)
				continue;
			l->nodes[i].pid = 0;
			l->nodes[i].exited = 1;
			l->nodes[i].status = WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
			launch_node_check(l, &l->nodes[i]);
		}
	}
}

static void
launch_signal_all(struct launch *l, int sig)
{
	int i;

	for (i = 0; i < l->nnodes; i++)
		if (l->nodes[i].pid > 0)
			kill(l->nodes[i].pid, sig);
}

static void
launch_close_life(struct launch_node *node)
{
	if (node->life != -1) {
		close(node->life);
		node->life = -1;
	}
}

/* The servers' lifelines, then STOP_GRACE for every session to end. */
static void
launch_stop_servers(struct launch *l)
{
	int i;

	for (i = 0; i < l->nnodes; i++)
		launch_close_life(&l->nodes[i]);
	l->phase = PHASE_STOP;
	proc_timer_start(l->timer, STOP_GRACE);
}

/*
 * Stop the job: close the lifelines of the workers and the scheduler (which ends
 * the job and tells its servers), then the servers' when the scheduler is done.
 */
static void
launch_stop(struct launch *l, const char *why)
{
	int i;

	if (l->stopping)
		return;
	l->stopping = 1;
	log_info("%s: stopping every process on every host", why);
	for (i = 0; i < l->nnodes; i++)
		if (l->nodes[i].role != LAUNCH_SERVER)
			launch_close_life(&l->nodes[i]);
	if (l->nodes[0].done || !l->nodes[0].started)
		launch_stop_servers(l);
	else {
		l->phase = PHASE_SERVERS;
		proc_timer_start(l->timer, SERVERS_GRACE);
	}
	if (launch_all_done(l))
		proc_exit(&l->proc);
}

static void
launch_timer(evutil_socket_t fd, short what, void *arg)
{
	struct launch *l = arg;

	(void)fd;
	(void)what;
	switch (l->phase) {
	case PHASE_READY:
		log_error("the scheduler on %s did not say ready in %.0f s",
		    l->nodes[0].host->host, READY_TIMEOUT);
		l->failed = 1;
		launch_stop(l, "no scheduler");
		break;
	case PHASE_SERVERS:
		launch_stop_servers(l);
		break;
	case PHASE_STOP:
		log_warnx("sessions still running %.0f s after the stop: ending ssh",
		    STOP_GRACE);
		launch_signal_all(l, SIGTERM);
		l->phase = PHASE_KILL;
		proc_timer_start(l->timer, KILL_GRACE);
		break;
	case PHASE_KILL:
		launch_signal_all(l, SIGKILL);
		l->phase = PHASE_DONE;
		break;
	}
}

static void
launch_on_signal(int sig, void *arg)
{
	struct launch	*l = arg;
	char		 why[64];

	if (sig == SIGCHLD) {
		launch_reap(l);
		return;
	}
	if (sig == SIGHUP && l->hup_ignored)
		return;
	if (l->stopping) {
		/* A second signal: no more waiting for the far side. */
		launch_signal_all(l, SIGTERM);
		return;
	}
	l->exit_code = 128 + sig;
	snprintf(why, sizeof why, "%s", proc_signame(sig));
	launch_stop(l, why);
}

static void
print_command(const struct launch_node *node)
{
	char	**a, *q;

	printf("# %s\n", node->name);
	for (a = node->argv; *a != NULL; a++) {
		q = launch_quote(*a);
		printf("%s%s", a == node->argv ? "" : " ", q);
		free(q);
	}
	printf("\n");
}

/* The job's settings as every node reads them: the file, -o, and from the hosts
 * file the scheduler's address and the number of servers and workers. */
static char *
job_yaml(struct ps_cli *cli, const struct ps_hosts *hosts, int *linger,
    int *replicas)
{
	struct ps_conf	 conf;
	char		*set[3], *yaml = NULL;
	size_t		 len = 0;
	FILE		*f;
	int		 i;

	/* After the user's -o, so they win, and before the options are checked
	 * together (cluster.replicas against cluster.servers). */
	xasprintf(&set[0], "scheduler.host=%s", hosts->scheduler.address);
	xasprintf(&set[1], "cluster.servers=%d", hosts->nservers);
	xasprintf(&set[2], "cluster.workers=%d", hosts->nworkers);
	for (i = 0; i < 3; i++)
		cli_option(cli, 'o', set[i]);
	conf_init(&conf);
	cli_load(cli, &conf);
	for (i = 0; i < 3; i++)
		free(set[i]);
	if (conf.scheduler_port == 0) {
		log_error("scheduler.port is 0: the nodes on other hosts need a known port");
		exit(PS_EXIT_USAGE);
	}
	*linger = conf.linger;
	*replicas = conf.replicas;
	if ((f = open_memstream(&yaml, &len)) == NULL)
		fatal("open_memstream");
	conf_print(&conf, f);
	fclose(f);
	conf_free(&conf);
	return yaml;
}

static void
launch_nodes(struct launch *l, struct ps_hosts *hosts, const char *yaml, int verbose)
{
	struct launch_node	*node;
	char			*script;
	int			 i;

	l->nnodes = 1 + hosts->nservers + hosts->nworkers;
	l->nworkers = hosts->nworkers;
	l->nodes = xcalloc(l->nnodes, sizeof *l->nodes);
	for (i = 0; i < l->nnodes; i++) {
		node = &l->nodes[i];
		node->out.fd = node->err.fd = node->life = -1;
		if (i == 0) {
			node->role = LAUNCH_SCHEDULER;
			node->host = &hosts->scheduler;
			snprintf(node->name, sizeof node->name, "scheduler");
			script = launch_script(node->host, node->role, 0, yaml, verbose);
		} else if (i <= hosts->nservers) {
			node->role = LAUNCH_SERVER;
			node->host = &hosts->servers[i - 1];
			snprintf(node->name, sizeof node->name, "server%d", i - 1);
			script = launch_script(node->host, node->role, i - 1, yaml, verbose);
		} else {
			node->role = LAUNCH_WORKER;
			node->host = &hosts->workers[i - 1 - hosts->nservers];
			snprintf(node->name, sizeof node->name, "worker%d",
			    i - 1 - hosts->nservers);
			script = launch_script(node->host, node->role,
			    i - 1 - hosts->nservers, yaml, verbose);
		}
		node->argv = launch_argv(node->host, script);
		free(script);
	}
}

int
main(int argc, char **argv)
{
	struct ps_cli	 cli;
	struct ps_hosts	 hosts;
	struct launch	 l;
	const char	*hosts_path = NULL;
	char		*yaml, *cause;
	int		 ch, dry_run = 0, i, status;

	log_init("ps-launch", 0);
	cli_init(&cli);
	while ((ch = getopt_long(argc, argv, "H:c:o:nqv", longopts, NULL)) != -1) {
		if (ch != 'n' && cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case 'H':
			hosts_path = optarg;
			break;
		case 'n':
			dry_run = 1;
			break;
		case 'h':
			printf("%s", usage);
			printf("  -H hosts.yaml   where each node runs and how ssh reaches it, see\n"
			    "                  ps-launch(1)\n"
			    "  -c job.yaml     the job's configuration, see ps.conf(5)\n"
			    "  -o name=value   set an option of the job, for every node\n"
			    "  -n              print the ssh commands, run nothing\n"
			    "  -q, -v          the programs log less (warnings), more (debug)\n"
			    "  --help, --version\n"
			    "Exit status: 0 every worker succeeded, 1 a node failed, 2 usage or\n"
			    "configuration, 128+N stopped by signal N.\n");
			cli_free(&cli);
			return PS_EXIT_OK;
		case 'V':
			cli_version("ps-launch");
			cli_free(&cli);
			return PS_EXIT_OK;
		default:
			fprintf(stderr, "%s", usage);
			cli_free(&cli);
			return PS_EXIT_USAGE;
		}
	}
	if (optind != argc || hosts_path == NULL) {
		if (optind != argc)
			fprintf(stderr, "ps-launch: unexpected argument '%s'\n", argv[optind]);
		else
			fprintf(stderr, "ps-launch: -H hosts.yaml is needed\n");
		fprintf(stderr, "%s", usage);
		cli_free(&cli);
		return PS_EXIT_USAGE;
	}
	log_init("ps-launch", cli.verbose);
	if (hosts_load(&hosts, hosts_path, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		cli_free(&cli);
		return PS_EXIT_USAGE;
	}
	memset(&l, 0, sizeof l);
	yaml = job_yaml(&cli, &hosts, &l.linger, &l.replicas);
	launch_nodes(&l, &hosts, yaml, cli.verbose);
	free(yaml);
	if (dry_run) {
		for (i = 0; i < l.nnodes; i++)
			print_command(&l.nodes[i]);
		status = PS_EXIT_OK;
		goto out;
	}

	l.hup_ignored = signal(SIGHUP, SIG_IGN) == SIG_IGN;
	proc_init(&l.proc, launch_on_signal, &l);
	l.timer = proc_timer(&l.proc, READY_TIMEOUT, 0, launch_timer, &l);
	l.phase = PHASE_READY;
	proc_timer_start(l.timer, READY_TIMEOUT);
	launch_spawn(&l, &l.nodes[0]);
	proc_loop(&l.proc);

	if (l.exit_code != 0)
		status = l.exit_code;
	else if (l.failed || l.workers_ok != hosts.nworkers)
		status = PS_EXIT_ERROR;
	else
		status = PS_EXIT_OK;
	if (status == PS_EXIT_OK)
		log_info("job done: %d workers succeeded", l.workers_ok);
	else if (l.exit_code == 0)
		log_error("job failed: %d of %d workers succeeded", l.workers_ok,
		    hosts.nworkers);
	event_free(l.timer);
	proc_free(&l.proc);
	for (i = 0; i < l.nnodes; i++)
		launch_close_life(&l.nodes[i]);
out:
	for (i = 0; i < l.nnodes; i++)
		launch_argv_free(l.nodes[i].argv);
	free(l.nodes);
	hosts_free(&hosts);
	cli_free(&cli);
	return status;
}
