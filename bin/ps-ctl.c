/* ps-ctl: see ps-ctl(1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ps/cli.h"
#include "ps/ctl.h"
#include "ps/log.h"

static const char usage[] =
    "usage: ps-ctl [-nqv] [-c file] [-o name=value] [--json] [command [argument ...]]\n";

enum { OPT_JSON = 256 };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

static void
help(void)
{
	printf("%s", usage);
	ctl_help(stdout);
	printf("options:\n");
	cli_help();
	printf("  --json         print each result as one JSON line (also after the command)\n"
	    "  --help, --version\n"
	    "Without a command, commands are read from the terminal (an interactive\n"
	    "shell) or one a line from standard input.\n");
}

int
main(int argc, char **argv)
{
	struct ps_cli cli;
	struct ps_conf conf;
	struct ps_ctl ctl;
	int ch, json = 0, status;

	log_init("ps-ctl", 0);
	cli_init(&cli);
	/* '+': options stop at the command, whose own may begin with '-' (--slots) */
	while ((ch = getopt_long(argc, argv, "+c:o:nqv", longopts, NULL)) != -1) {
		if (cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case OPT_JSON:
			json = 1;
			break;
		case 'h':
			help();
			cli_free(&cli);
			return PS_EXIT_OK;
		case 'V':
			cli_version("ps-ctl");
			cli_free(&cli);
			return PS_EXIT_OK;
		default:
			fprintf(stderr, "%s", usage);
			cli_free(&cli);
			return PS_EXIT_USAGE;
		}
	}
	log_init("ps-ctl", cli.verbose);
	conf_init(&conf);
	cli_load(&cli, &conf);
	ctl_init(&ctl, &conf, json);
	if (optind < argc)
		status = ctl_run(&ctl, argc - optind, argv + optind);
	else if (isatty(STDIN_FILENO))
		status = ctl_shell(&ctl);
	else
		status = ctl_script(&ctl, stdin);
	conf_free(&conf);
	cli_free(&cli);
	return status;
}
