/*
 * ps-bench: see ps-bench(1). Options, then lib/bench.c: push and pull timing against a
 * running cluster, or the libsvm parse rate with --parse.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/bench.h"
#include "ps/cli.h"
#include "ps/log.h"
#include "ps/xmalloc.h"

static const char usage[] =
    "usage: ps-bench [-nqv] [-c file] [-o name=value] [-k keys[,keys...]] [-r rounds]\n"
    "                [--check-all] [--json]\n"
    "       ps-bench [-qv] [-r rounds] [--json] --parse file\n";

enum { OPT_JSON = 256, OPT_PARSE, OPT_CHECK_ALL };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "check-all", no_argument, NULL, OPT_CHECK_ALL },
	{ "parse", required_argument, NULL, OPT_PARSE },
	{ NULL, 0, NULL, 0 },
};

static const size_t default_keys[] = { 1000, 10000, 1000000, 10000000 };

/* "1000,1e4,1e6": -1 and a message on a bad list. */
static int
bench_parse_keys(struct bench_opts *b, const char *arg)
{
	const char *p = arg;
	char *end;
	double v;

	free(b->nkeys);
	b->nkeys = NULL;
	b->nsizes = 0;
	for (;;) {
		errno = 0;
		v = strtod(p, &end);
		if (end == p || (*end != ',' && *end != '\0') || errno != 0 || !(v >= 1) ||
		    v > PS_BENCH_KEYS_MAX || v != floor(v)) {
			fprintf(stderr, "ps-bench: -k: bad key count in '%s' (want whole "
			    "numbers from 1 to 1e9, such as 1000,1e6)\n", arg);
			return -1;
		}
		b->nkeys = xreallocarray(b->nkeys, b->nsizes + 1, sizeof *b->nkeys);
		b->nkeys[b->nsizes++] = (size_t)v;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

int
main(int argc, char **argv)
{
	struct ps_cli cli;
	struct ps_conf conf;
	struct bench_opts b;
	char *end;
	int ch, status, cluster_opts = 0;

	log_init("ps-bench", 0);
	cli_init(&cli);
	conf_init(&conf);
	memset(&b, 0, sizeof b);
	while ((ch = getopt_long(argc, argv, "c:o:nqvk:r:", longopts, NULL)) != -1) {
		if (ch == 'c' || ch == 'o' || ch == 'n')
			cluster_opts = 1;
		if (cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case 'k':
			if (bench_parse_keys(&b, optarg) != 0) {
				fprintf(stderr, "%s", usage);
				status = PS_EXIT_USAGE;
				goto done;
			}
			cluster_opts = 1;
			break;
		case 'r':
			errno = 0;
			b.rounds = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 || b.rounds < 1 ||
			    b.rounds > PS_BENCH_ROUNDS_MAX) {
				fprintf(stderr, "ps-bench: -r: bad rounds '%s' (want 1 to %ld)\n%s",
				    optarg, PS_BENCH_ROUNDS_MAX, usage);
				status = PS_EXIT_USAGE;
				goto done;
			}
			break;
		case OPT_JSON:
			b.json = 1;
			break;
		case OPT_PARSE:
			b.parse = optarg;
			break;
		case OPT_CHECK_ALL:
			b.check_all = 1;
			cluster_opts = 1;
			break;
		case 'h':
			printf("%s", usage);
			cli_help();
			printf("  -k keys        key counts to run, comma-separated "
			    "(default 1e3,1e4,1e6,1e7)\n"
			    "  -r rounds      timed rounds per key count (default: enough to "
			    "move 2e7 keys,\n"
			    "                 3 to 1000); with --parse, passes over the file\n"
			    "  --check-all    check every key's values exactly, not up to 4096 "
			    "keys,\n"
			    "                 and print a check line with the count checked\n"
			    "  --json         one JSON object per result line\n"
			    "  --parse file   time the libsvm parser over file instead\n"
			    "  --help, --version\n"
			    "The servers must run optimizer.name=sum; model.dim sets the floats "
			    "per key.\n");
			status = PS_EXIT_OK;
			goto done;
		case 'V':
			cli_version("ps-bench");
			status = PS_EXIT_OK;
			goto done;
		default:
			fprintf(stderr, "%s", usage);
			status = PS_EXIT_USAGE;
			goto done;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ps-bench: unexpected argument '%s'\n%s", argv[optind], usage);
		status = PS_EXIT_USAGE;
		goto done;
	}
	if (b.parse != NULL && cluster_opts) {
		fprintf(stderr, "ps-bench: --parse takes no cluster options (-c, -o, -n, -k, "
		    "--check-all)\n%s", usage);
		status = PS_EXIT_USAGE;
		goto done;
	}
	log_init("ps-bench", cli.verbose);
	if (b.parse != NULL) {
		status = bench_parse(&b);
	} else {
		cli_load(&cli, &conf);
		/* (the job's optimizer, the scheduler's, is checked once connected) */
		if (b.check_all && conf_given(&conf, "optimizer.name") &&
		    conf.optim.kind != PS_OPTIM_SUM) {
			fprintf(stderr, "ps-bench: --check-all needs optimizer.name=sum, not "
			    "%s: other optimizers' values cannot be predicted\n",
			    optim_name(conf.optim.kind));
			status = PS_EXIT_USAGE;
			goto done;
		}
		if (b.nkeys == NULL) {
			b.nsizes = sizeof default_keys / sizeof default_keys[0];
			b.nkeys = xreallocarray(NULL, b.nsizes, sizeof *b.nkeys);
			memcpy(b.nkeys, default_keys, sizeof default_keys);
		}
		status = bench_cluster(&b, &conf);
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_error("writing to stdout: %s", strerror(errno));
		status = PS_EXIT_ERROR;
	}
done:
	free(b.nkeys);
	conf_free(&conf);
	cli_free(&cli);
	return status;
}
