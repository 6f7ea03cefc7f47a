/* ps-scheduler: see ps-scheduler(1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "ps/cli.h"
#include "ps/log.h"
#include "ps/scheduler.h"

static const char usage[] =
    "usage: ps-scheduler [-nqv] [-c file] [-o name=value] ...\n";

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int
main(int argc, char **argv)
{
	struct ps_cli cli;
	struct ps_conf conf;
	int ch, status;

	log_init("ps-scheduler", 0);
	cli_init(&cli);
	while ((ch = getopt_long(argc, argv, "c:o:nqv", longopts, NULL)) != -1) {
		if (cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case 'h':
			printf("%s", usage);
			cli_help();
			printf("  --help, --version\n");
			cli_free(&cli);
			return PS_EXIT_OK;
		case 'V':
			cli_version("ps-scheduler");
			cli_free(&cli);
			return PS_EXIT_OK;
		default:
			fprintf(stderr, "%s", usage);
			cli_free(&cli);
			return PS_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ps-scheduler: unexpected argument '%s'\n%s", argv[optind], usage);
		cli_free(&cli);
		return PS_EXIT_USAGE;
	}
	log_init("ps-scheduler", cli.verbose);
	conf_init(&conf);
	cli_load(&cli, &conf);
	status = scheduler_run(&conf);
	conf_free(&conf);
	cli_free(&cli);
	return status;
}
