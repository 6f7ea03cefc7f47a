/* ps-launch's hosts file (lib/hosts.c) and the commands made from it (lib/launch.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/hosts.h"
#include "ps/launch.h"
#include "unit.h"

static char path[] = "/tmp/test_hosts.XXXXXX";

/* Load text as a hosts file: 0 or -1, with *cause on error. */
static int
load(struct ps_hosts *h, const char *text, char **cause)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	*cause = NULL;
	return hosts_load(h, path, cause);
}

/* The error of text, without the path: "LINE: what". */
static char *
error_of(const char *text)
{
	struct ps_hosts h;
	char *cause, *out;

	if (load(&h, text, &cause) == 0) {
		hosts_free(&h);
		return strdup("(loaded)");
	}
	out = strdup(strncmp(cause, path, strlen(path)) == 0 ? cause + strlen(path) + 1 :
	    cause);
	free(cause);
	return out;
}

static const char contract[] =
    "ssh:\n"
    "  user: ps\n"
    "  port: 22\n"
    "  identity: ~/.ssh/id\n"
    "  options: [\"StrictHostKeyChecking=accept-new\"]\n"
    "  bin: /usr/local/bin\n"
    "scheduler: {host: 10.0.0.1}\n"
    "servers:\n"
    "  - {host: 10.0.0.2}\n"
    "  - {host: 10.0.0.3, port: 2222}\n"
    "workers:\n"
    "  - {host: 10.0.0.4, data: \"zcat /data/part-{rank}.gz\"}\n"
    "  - {host: 10.0.0.5, data: \"cat /data/day-{rank}.svm\", user: other,\n"
    "     options: [\"A=1\", \"B=2\"], address: w5.example}\n";

static void
test_contract(void)
{
	struct ps_hosts h;
	char *cause;

	CHECK(load(&h, contract, &cause) == 0);
	if (cause != NULL) {
		fprintf(stderr, "%s\n", cause);
		return;
	}
	CHECK_STR(h.scheduler.host, "10.0.0.1");
	CHECK_STR(h.scheduler.address, "10.0.0.1");	/* by default, the host */
	CHECK(h.scheduler.line == 7);
	CHECK(h.nservers == 2 && h.nworkers == 2);
	/* the defaults, and an entry's own port */
	CHECK_STR(h.servers[0].ssh.user, "ps");
	CHECK(h.servers[0].ssh.port == 22);
	CHECK(h.servers[1].ssh.port == 2222);
	CHECK_STR(h.servers[1].ssh.identity, "~/.ssh/id");
	CHECK_STR(h.servers[1].ssh.bin, "/usr/local/bin");
	CHECK(h.servers[1].ssh.noptions == 1);
	CHECK_STR(h.servers[1].ssh.options[0], "StrictHostKeyChecking=accept-new");
	CHECK_STR(h.workers[0].data, "zcat /data/part-{rank}.gz");
	/* overrides replace, options included */
	CHECK_STR(h.workers[1].ssh.user, "other");
	CHECK(h.workers[1].ssh.noptions == 2);
	CHECK_STR(h.workers[1].ssh.options[1], "B=2");
	CHECK_STR(h.workers[1].address, "w5.example");
	CHECK(h.workers[1].ssh.port == 22);
	hosts_free(&h);
}

static void
test_errors(void)
{
	char *e;

	e = error_of("scheduler: {host: a}\nservers: [{host: b}]\nworkers: [{host: c}]\n");
	CHECK_STR(e, "3: workers[0]: no data command (data: \"zcat part-{rank}.gz\")");
	free(e);
	e = error_of("scheduler: {host: a}\nservers: [{hots: b}]\nworkers: []\n");
	CHECK_CONTAINS(e, "2: servers[0]: unknown key 'hots'");
	free(e);
	e = error_of("scheduler: {host: a}\nservers: [{host: b}]\n");
	CHECK_CONTAINS(e, "no workers:");
	free(e);
	e = error_of("ssh: {port: 70000}\nscheduler: {host: a}\n");
	CHECK_STR(e, "1: port: '70000' is not a port (1..65535)");
	free(e);
	e = error_of("ssh: {colour: blue}\n");
	CHECK_CONTAINS(e, "1: ssh: unknown key 'colour'");
	free(e);
	/* a host is never an ssh option, nor shell syntax */
	e = error_of("scheduler: {host: -oProxyCommand=x}\nservers: [{host: b}]\n"
	    "workers: [{host: c, data: cat}]\n");
	CHECK_CONTAINS(e, "1: host: '-oProxyCommand=x' is not a host name or address");
	free(e);
	e = error_of("scheduler: {host: \"a;b\"}\nservers: [{host: b}]\n"
	    "workers: [{host: c, data: x}]\n");
	CHECK_CONTAINS(e, "is not a host name or address");
	free(e);
	e = error_of("servers: [}\n");
	CHECK(e != NULL && e[0] == '1');		/* libyaml's error, with a line */
	free(e);
	e = error_of("");
	CHECK_CONTAINS(e, "empty file");
	free(e);
	e = error_of("scheduler: {host: a}\nservers: []\nworkers: [{host: c, data: x}]\n");
	CHECK_CONTAINS(e, "2: servers: at least one host is needed");
	free(e);
}

static void
test_quote(void)
{
	char *q;

	q = launch_quote("plain/path-1.2:x=y,z@h");
	CHECK_STR(q, "plain/path-1.2:x=y,z@h");
	free(q);
	q = launch_quote("it's $HOME");
	CHECK_STR(q, "'it'\\''s $HOME'");
	free(q);
	q = launch_quote("");
	CHECK_STR(q, "''");
	free(q);
}

static void
test_commands(void)
{
	struct ps_hosts h;
	char *cause, *s, **argv;
	int n;

	CHECK(load(&h, contract, &cause) == 0);
	if (cause != NULL)
		return;
	s = launch_script(&h.workers[1], LAUNCH_WORKER, 1, "a: 1\n", 1);
	CHECK_CONTAINS(s, "cat /data/day-1.svm");		/* {rank} replaced */
	CHECK_CONTAINS(s, "/usr/local/bin/ps-worker -c \"$d/job.yaml\" -v <\"$d/data\" &");
	CHECK_CONTAINS(s, "<<'PS_LAUNCH_JOB_YAML'\na: 1\nPS_LAUNCH_JOB_YAML\n");
	CHECK_CONTAINS(s, "data.rc");
	free(s);
	s = launch_script(&h.servers[0], LAUNCH_SERVER, 0, "a: 1\n", -1);
	CHECK_CONTAINS(s, "/usr/local/bin/ps-server -c \"$d/job.yaml\" "
	    "-o server.host=10.0.0.2 -q &");
	CHECK(strstr(s, "data.rc") == NULL);
	free(s);

	argv = launch_argv(&h.servers[1], "SCRIPT");
	for (n = 0; argv[n] != NULL; n++)
		;
	CHECK(n == 17);
	CHECK_STR(argv[0], "ssh");
	CHECK_STR(argv[1], "-l");
	CHECK_STR(argv[2], "ps");
	CHECK_STR(argv[3], "-p");
	CHECK_STR(argv[4], "2222");
	CHECK_STR(argv[5], "-i");
	CHECK_STR(argv[7], "-o");
	CHECK_STR(argv[8], "StrictHostKeyChecking=accept-new");	/* the file's first */
	CHECK_STR(argv[10], "BatchMode=yes");
	CHECK_STR(argv[n - 3], "--");
	CHECK_STR(argv[n - 2], "10.0.0.3");
	CHECK_STR(argv[n - 1], "SCRIPT");
	launch_argv_free(argv);
	hosts_free(&h);
}

int
main(void)
{
	int fd = mkstemp(path);

	if (fd == -1)
		return 1;
	close(fd);
	RUN(test_contract);
	RUN(test_errors);
	RUN(test_quote);
	RUN(test_commands);
	unlink(path);
	return UNIT_DONE();
}
