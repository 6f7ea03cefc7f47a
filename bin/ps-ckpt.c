/* ps-ckpt: see ps-ckpt(1). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "ps/ckptcmd.h"
#include "ps/cli.h"
#include "ps/log.h"

static const char usage[] =
    "usage: ps-ckpt [-nqv] [-c file] [-o name=value] [--dir dir] [--json] [--wait secs]\n"
    "               command [argument ...]\n";

enum { OPT_DIR = 256, OPT_JSON, OPT_WAIT };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ NULL, 0, NULL, 0 },
};

static void
help(void)
{
	printf("%s", usage);
	ckptcmd_help(stdout);
	printf("options:\n");
	cli_help();
	printf("  --dir dir      the folder of checkpoints (default: ckpt.dir, \"ckpt\")\n"
	    "  --json         list, save: one JSON line\n"
	    "  --wait secs    save, prune: wait that long for another ps-ckpt to end\n"
	    "                 (default 0: refuse at once)\n"
	    "  --help, --version\n"
	    "--dir, --json and --wait may also follow the command.\n"
	    "Exit status: 0 done, 1 failed (one line on stderr), 2 usage.\n");
}

int
main(int argc, char **argv)
{
	struct ps_cli cli;
	struct ps_conf conf;
	struct ps_ckptcmd k;
	const char *dir = NULL;
	double wait = 0;
	int ch, json = 0, status;

	/* A closed standard output is an EPIPE to handle, not a death: list and
	 * export end quietly, save fails (ps-ckpt(1), EXIT STATUS). */
	signal(SIGPIPE, SIG_IGN);
	log_init("ps-ckpt", 0);
	cli_init(&cli);
	/* '+': options stop at the command, which has its own (--keep) */
	while ((ch = getopt_long(argc, argv, "+c:o:nqv", longopts, NULL)) != -1) {
		if (cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case OPT_DIR:
			dir = optarg;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_WAIT:
			if (ckptcmd_parse_wait(optarg, &wait) != 0) {
				log_error("--wait '%s': want seconds, 0 to %.0f", optarg,
				    CKPTCMD_WAIT_MAX);
				cli_free(&cli);
				return PS_EXIT_USAGE;
			}
			break;
		case 'h':
			help();
			cli_free(&cli);
			return PS_EXIT_OK;
		case 'V':
			cli_version("ps-ckpt");
			cli_free(&cli);
			return PS_EXIT_OK;
		default:
			fprintf(stderr, "%s", usage);
			cli_free(&cli);
			return PS_EXIT_USAGE;
		}
	}
	log_init("ps-ckpt", cli.verbose);
	conf_init(&conf);
	cli_load(&cli, &conf);
	if (optind >= argc) {
		log_error("no command (try --help)");
		fprintf(stderr, "%s", usage);
		conf_free(&conf);
		cli_free(&cli);
		return PS_EXIT_USAGE;
	}
	ckptcmd_init(&k, &conf);
	k.dir = dir;
	k.json = json;
	k.wait = wait;
	status = ckptcmd_run(&k, argc - optind, argv + optind);
	ckptcmd_free(&k);
	conf_free(&conf);
	cli_free(&cli);
	return status;
}
