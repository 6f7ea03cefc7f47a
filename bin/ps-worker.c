/* ps-worker: see ps-worker(1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ps/cli.h"
#include "ps/log.h"
#include "ps/worker.h"

static const char usage[] =
    "usage: ps-worker [-nqv] [-c file] [-o name=value] [--predict] [--test file]\n"
    "                 [--skip-bad] [--json] [--model ckpt] [--no-progress]\n"
    "                 [--progress-file file] < data.svm\n";

enum {
	OPT_PREDICT = 256, OPT_TEST, OPT_SKIP_BAD, OPT_JSON, OPT_MODEL, OPT_NO_PROGRESS,
	OPT_PROGRESS_FILE
};

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "predict", no_argument, NULL, OPT_PREDICT },
	{ "test", required_argument, NULL, OPT_TEST },
	{ "skip-bad", no_argument, NULL, OPT_SKIP_BAD },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "model", required_argument, NULL, OPT_MODEL },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "progress-file", required_argument, NULL, OPT_PROGRESS_FILE },
	{ NULL, 0, NULL, 0 },
};

int
main(int argc, char **argv)
{
	struct ps_cli cli;
	struct ps_conf conf;
	struct worker_opts opts = { .in = stdin, .in_name = "stdin" };
	int ch, status, progress = 1;

	log_init("ps-worker", 0);
	cli_init(&cli);
	while ((ch = getopt_long(argc, argv, "c:o:nqv", longopts, NULL)) != -1) {
		if (cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case OPT_PREDICT:
			opts.predict = 1;
			break;
		case OPT_TEST:
			opts.test_path = optarg;
			break;
		case OPT_SKIP_BAD:
			opts.skip_bad = 1;
			break;
		case OPT_JSON:
			opts.json = 1;
			break;
		case OPT_MODEL:
			opts.model = optarg;
			break;
		case OPT_NO_PROGRESS:
			progress = 0;
			break;
		case OPT_PROGRESS_FILE:
			opts.progress_file = optarg;
			break;
		case 'h':
			printf("%s", usage);
			cli_help();
			printf("  --predict      print P(y=1) for each example; do not train\n"
			    "  --test file    evaluate file at the end: logloss, accuracy, AUC\n"
			    "  --skip-bad     count and skip malformed lines instead of failing\n"
			    "  --json         print results as one JSON object\n"
			    "  --model ckpt   predict or evaluate from a checkpoint (a folder, a\n"
			    "                 name in ckpt.dir, or latest), with no cluster\n"
			    "  --no-progress  no progress line on a terminal\n"
			    "  --progress-file file\n"
			    "                 rewrite file each second: examples read, trained,\n"
			    "                 their loss (for ps-local)\n"
			    "  --help, --version\n");
			cli_free(&cli);
			return PS_EXIT_OK;
		case 'V':
			cli_version("ps-worker");
			cli_free(&cli);
			return PS_EXIT_OK;
		default:
			fprintf(stderr, "%s", usage);
			cli_free(&cli);
			return PS_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ps-worker: unexpected argument '%s' (data comes on stdin)\n%s",
		    argv[optind], usage);
		cli_free(&cli);
		return PS_EXIT_USAGE;
	}
	if (opts.model != NULL && !opts.predict && opts.test_path == NULL) {
		fprintf(stderr, "ps-worker: --model: a model is read-only: give --predict "
		    "or --test\n%s", usage);
		cli_free(&cli);
		return PS_EXIT_USAGE;
	}
	log_init("ps-worker", cli.verbose);
	/* The line is for a person watching: not in a log file, not among -v's debug
	 * lines, and not among predictions printed to the same terminal. */
	opts.progress = progress && isatty(STDERR_FILENO) && cli.verbose == 0 &&
	    !(opts.predict && isatty(STDOUT_FILENO));
	conf_init(&conf);
	cli_load(&cli, &conf);
	status = worker_run(&conf, &opts);
	conf_free(&conf);
	cli_free(&cli);
	return status;
}
