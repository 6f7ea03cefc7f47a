/* ps-server: see ps-server(1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "ps/cli.h"
#include "ps/log.h"
#include "ps/server.h"

static const char usage[] =
    "usage: ps-server [-nqv] [-c file] [-o name=value] [--restore ckpt]\n";

enum { OPT_RESTORE = 256 };

static const struct option longopts[] = {
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int
main(int argc, char **argv)
{
	struct ps_cli cli;
	struct ps_conf conf;
	const char *restore = NULL;
	int ch, status;

	log_init("ps-server", 0);
	cli_init(&cli);
	while ((ch = getopt_long(argc, argv, "c:o:nqv", longopts, NULL)) != -1) {
		if (cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case OPT_RESTORE:
			restore = optarg;
			break;
		case 'h':
			printf("%s", usage);
			cli_help();
			printf("  --restore ckpt start the slots of the first map from a "
			    "checkpoint\n                 (a folder, a name in ckpt.dir, or "
			    "latest)\n");
			printf("  --help, --version\n");
			cli_free(&cli);
			return PS_EXIT_OK;
		case 'V':
			cli_version("ps-server");
			cli_free(&cli);
			return PS_EXIT_OK;
		default:
			fprintf(stderr, "%s", usage);
			cli_free(&cli);
			return PS_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ps-server: unexpected argument '%s'\n%s", argv[optind], usage);
		cli_free(&cli);
		return PS_EXIT_USAGE;
	}
	log_init("ps-server", cli.verbose);
	conf_init(&conf);
	cli_load(&cli, &conf);
	status = server_run(&conf, restore);
	conf_free(&conf);
	cli_free(&cli);
	return status;
}
