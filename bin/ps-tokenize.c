/*
 * ps-tokenize: text documents to libsvm lines of hashed word features, see
 * ps-tokenize(1). Options, then lib/tokenize.c for each file.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/log.h"
#include "ps/tokenize.h"

#define TOKENIZE_VERSION	"0.1.0"
#define TOKENIZE_LABEL		"+1"

static __attribute__((noreturn)) void
usage(FILE *f, int status)
{
	fprintf(f, "usage: ps-tokenize [-v] [-b bits] [-l label] [file ...]\n");
	exit(status);
}

/* A label is one number, as liblinear and ps-train read it. */
static int
tokenize_label_ok(const char *s)
{
	char	*end;
	double	 v;

	if (*s == '\0' || strchr(" \t\n\r\v\f#:", *s) != NULL)
		return 0;
	errno = 0;
	v = strtod(s, &end);
	return *end == '\0' && errno == 0 && isfinite(v);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};
	struct ps_tokenize t;
	const char	*progname = argv[0], *label = TOKENIZE_LABEL;
	char		*line = NULL, *end;
	size_t		 linecap = 0;
	ssize_t		 n;
	long		 bits;
	int		 ch, verbose = 0, nbits = PS_TOKENIZE_BITS, i;

	log_init(progname, 0);

	while ((ch = getopt_long(argc, argv, "b:l:v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			errno = 0;
			bits = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 || bits < 1 ||
			    bits > PS_TOKENIZE_BITS_MAX) {
				log_warnx("bad bits '%s' (want 1 to 31)", optarg);
				usage(stderr, 2);
			}
			nbits = (int)bits;
			break;
		case 'l':
			if (!tokenize_label_ok(optarg)) {
				log_warnx("bad label '%s' (want a number, e.g. +1 or -1)",
				    optarg);
				usage(stderr, 2);
			}
			label = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout, 0);
		case 'V':
			printf("ps-tokenize " TOKENIZE_VERSION "\n");
			return 0;
		default:
			usage(stderr, 2);
		}
	}
	argc -= optind;
	argv += optind;
	log_init(progname, verbose);
	tokenize_init(&t, nbits);

	if (argc > 0) {
		for (i = 0; i < argc; i++)
			if (tokenize_file(&t, argv[i], label, stdout) != 0)
				fatal("%s", argv[i]);
	} else {
		/* File names, one a line, on stdin. */
		while ((n = getline(&line, &linecap, stdin)) != -1) {
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
				line[--n] = '\0';
			if (n == 0)
				continue;
			if (tokenize_file(&t, line, label, stdout) != 0)
				fatal("%s", line);
		}
		if (ferror(stdin))
			fatal("reading file names from stdin");
		free(line);
	}

	if (fflush(stdout) == EOF || ferror(stdout))
		fatal("writing to stdout");
	tokenize_free(&t);
	return 0;
}
