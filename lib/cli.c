#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/auth.h"
#include "ps/cli.h"
#include "ps/log.h"
#include "ps/proto.h"
#include "ps/xmalloc.h"

void
cli_init(struct ps_cli *cli)
{
	memset(cli, 0, sizeof *cli);
}

void
cli_free(struct ps_cli *cli)
{
	free(cli->overrides);
	memset(cli, 0, sizeof *cli);
}

int
cli_option(struct ps_cli *cli, int ch, const char *arg)
{
	switch (ch) {
	case 'c':
		cli->conf_path = arg;
		return 1;
	case 'o':
		cli->overrides = xreallocarray(cli->overrides, cli->noverrides + 1,
		    sizeof *cli->overrides);
		cli->overrides[cli->noverrides++] = (char *)arg;
		return 1;
	case 'v':
		cli->verbose++;
		return 1;
	case 'q':
		cli->verbose--;
		return 1;
	case 'n':
		cli->check_only = 1;
		return 1;
	}
	return 0;
}

void
cli_load(struct ps_cli *cli, struct ps_conf *conf)
{
	char *cause;
	int i;

	if (cli->conf_path != NULL && conf_load(conf, cli->conf_path, &cause) != 0) {
		log_error("%s", cause);
		exit(PS_EXIT_USAGE);
	}
	for (i = 0; i < cli->noverrides; i++) {
		if (conf_set(conf, cli->overrides[i], &cause) != 0) {
			log_error("-o %s: %s", cli->overrides[i], cause);
			exit(PS_EXIT_USAGE);
		}
	}
	if (conf_finish(conf, &cause) != 0) {
		log_error("%s%s%s", cli->conf_path ? cli->conf_path : "",
		    cli->conf_path ? ": " : "", cause);
		exit(PS_EXIT_USAGE);
	}
	/* The secret is read once, at start: a bad file is a configuration error. */
	if (conf->secret_file != NULL && conf->secret_file[0] != '\0' &&
	    auth_load(conf->secret_file, &cause) != 0) {
		log_error("%s", cause);
		exit(PS_EXIT_USAGE);
	}
	if (cli->check_only) {
		/* With -v the settings alone go to stdout (exit 0 says they
		 * are good): YAML any program reads back, as ps-launch does. */
		if (cli->verbose > 0)
			conf_print(conf, stdout);
		else
			printf("configuration OK\n");
		exit(PS_EXIT_OK);
	}
}

void
cli_version(const char *progname)
{
	printf("%s %s (protocol %d)\n", progname, PS_VERSION,
	    PS_PROTOCOL_VERSION);
}

void
cli_help(void)
{
	printf("  -c file        configuration file (YAML), see ps.conf(5)\n"
	    "  -o name=value  set an option, overriding the file\n"
	    "  -n             check the configuration and exit\n"
	    "  -q, -v         fewer (warnings only), more (debug) log messages\n");
}
