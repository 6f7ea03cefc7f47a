/* ps-worker: see ps-worker(1). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ps/cli.h"
#include "ps/log.h"
#include "ps/worker.h"
#include "ps/xmalloc.h"

static const char usage[] =
    "usage: ps-worker [-nqv] [-c file] [-o name=value] [--predict] [--test file]\n"
    "                 [--skip-bad] [--json] [--model ckpt] [--passes n]\n"
    "                 [--cache file] [--early-stop k] [--allow-sum] [--no-progress]\n"
    "                 [--progress-file file] < data.svm\n";

enum {
	OPT_PREDICT = 256, OPT_TEST, OPT_SKIP_BAD, OPT_JSON, OPT_MODEL, OPT_NO_PROGRESS,
	OPT_PROGRESS_FILE, OPT_PASSES, OPT_CACHE, OPT_EARLY_STOP, OPT_ALLOW_SUM,
	OPT_TEST_DELAY
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
	{ "passes", required_argument, NULL, OPT_PASSES },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "early-stop", required_argument, NULL, OPT_EARLY_STOP },
	{ "allow-sum", no_argument, NULL, OPT_ALLOW_SUM },
	{ "test-delay", required_argument, NULL, OPT_TEST_DELAY },
	{ NULL, 0, NULL, 0 },
};

/* A whole decimal number in [lo, hi], or -1. */
static long
number(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
		return -1;
	return v;
}

int
main(int argc, char **argv)
{
	struct ps_cli cli;
	struct ps_conf conf;
	struct worker_opts opts = { .in = stdin, .in_name = "stdin" };
	char **owned = NULL;	/* the -o strings the flags below make */
	const char *why = NULL;
	int ch, status, progress = 1, nowned = 0, passes = 0, i;
	long v;

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
		case OPT_PASSES:
		case OPT_ALLOW_SUM:
			/* Flags for worker.passes and worker.allow_sum: -o, in their
			 * place among the others, checked as the option is. */
			owned = xreallocarray(owned, nowned + 1, sizeof *owned);
			if (ch == OPT_PASSES) {
				xasprintf(&owned[nowned], "worker.passes=%s", optarg);
				passes = 1;
			} else
				owned[nowned] = xstrdup("worker.allow_sum=true");
			cli_option(&cli, 'o', owned[nowned++]);
			break;
		case OPT_CACHE:
			opts.cache_path = optarg;
			break;
		case OPT_EARLY_STOP:
			if ((v = number(optarg, 1, 100000)) < 0) {
				fprintf(stderr, "ps-worker: --early-stop '%s': want a number "
				    "of passes, 1 to 100000\n%s", optarg, usage);
				status = PS_EXIT_USAGE;
				goto done;
			}
			opts.early_stop = (int)v;
			break;
		case OPT_TEST_DELAY:
			if ((v = number(optarg, 0, 60000)) < 0) {
				fprintf(stderr, "ps-worker: --test-delay '%s': want "
				    "milliseconds, 0 to 60000\n%s", optarg, usage);
				status = PS_EXIT_USAGE;
				goto done;
			}
			opts.test_delay_ms = (int)v;
			break;
		case 'h':
			printf("%s", usage);
			cli_help();
			printf("  --predict      print P(y=1) for each example (model.loss squared:\n"
			    "                 the prediction); do not train\n"
			    "  --test file    evaluate file at the end (and after each pass):\n"
			    "                 logloss, accuracy, AUC (model.loss squared: RMSE)\n"
			    "  --skip-bad     count and skip malformed lines instead of failing\n"
			    "  --json         print results as one JSON object\n"
			    "  --model ckpt   predict or evaluate from a checkpoint (a folder, a\n"
			    "                 name in ckpt.dir, or latest), with no cluster\n"
			    "  --passes n     train n passes over the data (worker.passes): the\n"
			    "                 first from stdin, the others from the cache\n"
			    "  --cache file   the example cache: read it if it exists (stdin is\n"
			    "                 not read), else write it in the first pass\n"
			    "  --early-stop k stop after k passes in a row with no better test\n"
			    "                 logloss (RMSE) than the best; needs --test\n"
			    "  --allow-sum    train with optimizer.name sum anyway (worker.allow_sum)\n"
			    "  --no-progress  no progress line on a terminal\n"
			    "  --progress-file file\n"
			    "                 rewrite file each second: examples read, trained,\n"
			    "                 their loss (for ps-local)\n"
			    "  --test-delay ms\n"
			    "                 for tests only: sleep ms before each mini-batch\n"
			    "  --help, --version\n");
			status = PS_EXIT_OK;
			goto done;
		case 'V':
			cli_version("ps-worker");
			status = PS_EXIT_OK;
			goto done;
		default:
			fprintf(stderr, "%s", usage);
			status = PS_EXIT_USAGE;
			goto done;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ps-worker: unexpected argument '%s' (data comes on stdin)\n%s",
		    argv[optind], usage);
		status = PS_EXIT_USAGE;
		goto done;
	}
	if (opts.model != NULL && !opts.predict && opts.test_path == NULL)
		why = "--model: a model is read-only: give --predict or --test";
	else if ((opts.predict || opts.model != NULL) && (passes || opts.cache_path ||
	    opts.early_stop))
		why = "--passes, --cache and --early-stop train: not with --predict or "
		    "--model";
	else if (opts.early_stop && opts.test_path == NULL)
		why = "--early-stop needs --test: the test loss decides";
	if (why != NULL) {
		fprintf(stderr, "ps-worker: %s\n%s", why, usage);
		status = PS_EXIT_USAGE;
		goto done;
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
done:
	cli_free(&cli);
	for (i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	return status;
}
