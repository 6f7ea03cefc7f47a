/*
 * libFuzzer target: the hosts file of ps-launch (lib/hosts.c), read with hosts_load from
 * a memfd (by its /proc/self/fd path); for a file it accepts, every node's remote script
 * and ssh command line are built as ps-launch builds them (lib/launch.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ps/hosts.h"
#include "ps/launch.h"

static int	fd = -1;
static char	path[64];

static void
launch(const struct ps_host *h, enum launch_role role, int rank)
{
	char *script, **argv;
	int i;

	if (h->host == NULL || h->address == NULL || (role == LAUNCH_WORKER && h->data == NULL))
		abort();
	script = launch_script(h, role, rank, "scheduler: {port: 7070}\n", 0);
	argv = launch_argv(h, script);
	for (i = 0; argv[i] != NULL; i++)
		if (i > 64 + 2 * h->ssh.noptions)
			abort();
	launch_argv_free(argv);
	free(script);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_hosts hosts;
	char *cause = NULL;
	int i;

	if (fd == -1) {
		if ((fd = memfd_create("fuzz-hosts", 0)) == -1)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	if (hosts_load(&hosts, path, &cause) != 0) {
		if (cause == NULL)
			abort();
		free(cause);
		return 0;
	}
	launch(&hosts.scheduler, LAUNCH_SCHEDULER, 0);
	for (i = 0; i < hosts.nservers; i++)
		launch(&hosts.servers[i], LAUNCH_SERVER, i);
	for (i = 0; i < hosts.nworkers; i++)
		launch(&hosts.workers[i], LAUNCH_WORKER, i);
	hosts_free(&hosts);
	return 0;
}
