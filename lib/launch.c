/*
 * The commands ps-launch runs over ssh. Each node is one ssh session running a small
 * POSIX sh script (the login shell runs it with -c), which:
 *
 *  - writes the job's YAML into a private temporary folder (a here-document: nothing
 *    needs to be copied to the host first), removed when the script ends;
 *  - starts the program (a worker behind its data command, whose exit status is kept);
 *  - watches its stdin, the "lifeline": ps-launch holds the other end of the pipe that
 *    is ssh's stdin, so when ps-launch stops the job, dies, or the connection drops,
 *    the watcher reads EOF and signals the session's process group (sshd made the
 *    session its own group), and nothing of the job is left on the host.
 *
 * No pseudo-terminal (ssh -T): output stays byte-exact, stdout and stderr apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/launch.h"
#include "ps/xmalloc.h"

/* Ends the here-document; the YAML comes from conf_print, which escapes newlines in
 * strings, so no line of it can be this one. */
#define LAUNCH_EOF	"PS_LAUNCH_JOB_YAML"

char *
launch_quote(const char *s)
{
	const char	*p;
	char		*out, *o;
	size_t		 n = 3;

	if (*s != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789@%+=:,./_-") == strlen(s))
		return xstrdup(s);
	for (p = s; *p != '\0'; p++)
		n += *p == '\'' ? 4 : 1;
	o = out = xmalloc(n);
	*o++ = '\'';
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'') {	/* close, an escaped quote, reopen */
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = *p;
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

/* "BIN/prog", quoted; the remote PATH finds prog when there is no bin. */
static char *
launch_program(const struct ps_host *h, const char *prog)
{
	char *path, *q;

	if (h->ssh.bin == NULL || h->ssh.bin[0] == '\0')
		return xstrdup(prog);
	xasprintf(&path, "%s%s%s", h->ssh.bin,
	    h->ssh.bin[strlen(h->ssh.bin) - 1] == '/' ? "" : "/", prog);
	q = launch_quote(path);
	free(path);
	return q;
}

/* {rank} in a worker's data command becomes its rank. */
static char *
launch_data(const char *data, int rank)
{
	const char	*p, *at;
	char		*out = NULL, *tmp;

	out = xstrdup("");
	for (p = data; (at = strstr(p, "{rank}")) != NULL; p = at + 6) {
		xasprintf(&tmp, "%s%.*s%d", out, (int)(at - p), p, rank);
		free(out);
		out = tmp;
	}
	xasprintf(&tmp, "%s%s", out, p);
	free(out);
	return tmp;
}

char *
launch_script(const struct ps_host *h, enum launch_role role, int rank,
    const char *yaml, int verbose)
{
	const char	*flag = verbose < 0 ? " -q" : verbose > 0 ? " -v" : "";
	char		*prog, *run, *data, *opt, *s;

	switch (role) {
	case LAUNCH_SCHEDULER:
		prog = launch_program(h, "ps-scheduler");
		xasprintf(&run, "%s -c \"$d/job.yaml\"%s &\np=$!\n", prog, flag);
		break;
	case LAUNCH_SERVER:
		prog = launch_program(h, "ps-server");
		xasprintf(&s, "server.host=%s", h->address);
		opt = launch_quote(s);
		free(s);
		xasprintf(&run, "%s -c \"$d/job.yaml\" -o %s%s &\np=$!\n", prog, opt,
		    flag);
		free(opt);
		break;
	case LAUNCH_WORKER:
	default:
		prog = launch_program(h, "ps-worker");
		data = launch_data(h->data, rank);
		/*
		 * Through a FIFO, so the data side knows the worker: a worker fed by a
		 * failed command would otherwise train on what came and succeed. The
		 * FIFO stays open until the status is known, so the worker is killed
		 * before it can see the end of its input.
		 */
		xasprintf(&run,
		    "mkfifo \"$d/data\" || exit 1\n"
		    "%s -c \"$d/job.yaml\"%s <\"$d/data\" &\n"
		    "p=$!\n"
		    "{ (\n%s\n); r=$?; echo $r >\"$d/data.rc\"; "
		    "[ $r -eq 0 ] || kill -KILL $p; } >\"$d/data\" &\n",
		    prog, flag, data);
		free(data);
		break;
	}
	free(prog);
	xasprintf(&s,
	    "umask 077\n"
	    "d=$(mktemp -d \"${TMPDIR:-/tmp}/ps-launch.XXXXXX\") || exit 1\n"
	    "trap 'rm -rf \"$d\"' EXIT\n"
	    "trap : TERM INT HUP\n"
	    "cat >\"$d/job.yaml\" <<'" LAUNCH_EOF "'\n"
	    "%s"
	    LAUNCH_EOF "\n"
	    "exec 3<&0 </dev/null\n"
	    "%s"
	    /* The watcher: started after the program, so it knows whom to stop. */
	    "{\n"
	    "\ttrap '' TERM INT HUP\n"
	    "\tcat <&3\n"
	    "\t[ -d \"$d\" ] || exit 0\n"	/* the job ended first: nothing to stop */
	    "\t: >\"$d/stopped\"\n"
	    "\tkill -TERM $p\n"
	    "\tn=0\n"
	    "\twhile kill -0 $p && [ $n -lt 10 ]; do sleep 1; n=$((n + 1)); done\n"
	    "\tkill -KILL $p\n"
	    "\tkill -TERM 0\n"
	    "} >/dev/null 2>&1 &\n"
	    "w=$!\n"
	    "exec 3<&-\n"
	    /* A trapped signal interrupts wait: wait again until the program ends. */
	    "while :; do\n"
	    "\twait $p\n"
	    "\trc=$?\n"
	    "\tkill -0 $p 2>/dev/null || break\n"
	    "done\n"
	    "%s"
	    /* Whatever else the session runs (a data command) must not keep it open. */
	    "[ $rc -eq 0 ] || kill -TERM 0 2>/dev/null\n"
	    "exit $rc\n",
	    yaml, run, role != LAUNCH_WORKER ? "" :
	    /* data.rc is written before the worker can read to the end. */
	    "if [ ! -e \"$d/stopped\" ] && [ -s \"$d/data.rc\" ] &&\n"
	    "    [ \"$(cat \"$d/data.rc\")\" != 0 ]; then\n"
	    "\techo \"ps-launch: the data command failed (exit $(cat \"$d/data.rc\"))\" >&2\n"
	    "\trc=1\n"
	    "fi\n");
	free(run);
	return s;
}

static void
launch_push(char ***argv, int *n, const char *s)
{
	*argv = xreallocarray(*argv, *n + 2, sizeof **argv);
	(*argv)[(*n)++] = xstrdup(s);
	(*argv)[*n] = NULL;
}

char **
launch_argv(const struct ps_host *h, const char *script)
{
	char	**argv = NULL, port[16];
	int	  n = 0, i;

	launch_push(&argv, &n, "ssh");
	if (h->ssh.user != NULL) {
		launch_push(&argv, &n, "-l");
		launch_push(&argv, &n, h->ssh.user);
	}
	if (h->ssh.port != 0) {
		snprintf(port, sizeof port, "%d", h->ssh.port);
		launch_push(&argv, &n, "-p");
		launch_push(&argv, &n, port);
	}
	if (h->ssh.identity != NULL) {
		launch_push(&argv, &n, "-i");
		launch_push(&argv, &n, h->ssh.identity);
	}
	/* The first value of an option wins in ssh: the file's come first. */
	for (i = 0; i < h->ssh.noptions; i++) {
		launch_push(&argv, &n, "-o");
		launch_push(&argv, &n, h->ssh.options[i]);
	}
	/* Never prompt (no terminal to answer on); notice a dead link in about 45 s. */
	launch_push(&argv, &n, "-o");
	launch_push(&argv, &n, "BatchMode=yes");
	launch_push(&argv, &n, "-o");
	launch_push(&argv, &n, "ServerAliveInterval=15");
	launch_push(&argv, &n, "-T");
	launch_push(&argv, &n, "--");
	launch_push(&argv, &n, h->host);
	launch_push(&argv, &n, script);
	return argv;
}

void
launch_argv_free(char **argv)
{
	char **a;

	if (argv == NULL)
		return;
	for (a = argv; *a != NULL; a++)
		free(*a);
	free(argv);
}
