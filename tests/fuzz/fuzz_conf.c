/*
 * libFuzzer target: the configuration (lib/conf.c). The input is a YAML file, then
 * optionally a NUL byte and "-o" assignments, one a line. The file goes through
 * conf_load (from a memfd, by its /proc/self/fd path), each assignment through conf_set,
 * then conf_check and conf_get of every option. Whatever was set, conf_print's text
 * must load back (ps-launch sends each node that text) and print the same again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ps/conf.h"

static int	fd = -1;
static char	path[64];

/* The text as the file at path. */
static void
put_file(const char *text, size_t len)
{
	if (fd == -1) {
		if ((fd = memfd_create("fuzz-conf", 0)) == -1)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || (len > 0 && pwrite(fd, text, len, 0) != (ssize_t)len))
		abort();
}

static char *
print(const struct ps_conf *conf, size_t *len)
{
	char *text = NULL;
	FILE *f;

	if ((f = open_memstream(&text, len)) == NULL)
		abort();
	conf_print(conf, f);
	if (fclose(f) != 0)
		abort();
	return text;
}

/* conf_print's text loads back into a fresh configuration and prints the same. */
static void
round_trip(const struct ps_conf *conf)
{
	struct ps_conf back;
	char *text, *again, *cause = NULL;
	size_t len, len2;

	text = print(conf, &len);
	put_file(text, len);
	conf_init(&back);
	if (conf_load(&back, path, &cause) != 0) {
		fprintf(stderr, "conf_print's text does not load: %s\n---\n%s---\n", cause,
		    text);
		abort();
	}
	again = print(&back, &len2);
	if (len != len2 || memcmp(text, again, len) != 0) {
		fprintf(stderr, "printed:\n%s---\nloaded and printed again:\n%s---\n", text,
		    again);
		abort();
	}
	free(again);
	free(text);
	conf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nul, *p, *end, *nl;
	struct ps_conf conf;
	char *cause = NULL, *line, *value;
	const char *name;
	size_t ylen;
	unsigned int i;

	nul = memchr(in, '\0', size);
	ylen = nul != NULL ? (size_t)(nul - in) : size;
	conf_init(&conf);
	put_file(in, ylen);
	if (conf_load(&conf, path, &cause) != 0) {
		if (cause == NULL)
			abort();
		free(cause);
		cause = NULL;
	}
	if (nul != NULL) {
		for (p = nul + 1, end = in + size; p < end; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			if ((line = strndup(p, (size_t)(nl - p))) == NULL)
				abort();
			if (conf_set(&conf, line, &cause) != 0) {
				if (cause == NULL)
					abort();
				free(cause);
				cause = NULL;
			}
			free(line);
		}
	}
	if (conf_check(&conf, &cause) != 0) {
		if (cause == NULL)
			abort();
		free(cause);
		cause = NULL;
	}
	for (i = 0; (name = conf_option_name(i)) != NULL; i++) {
		if (conf_get(&conf, name, &value, &cause) != 0)
			abort();
		free(value);
	}
	round_trip(&conf);
	conf_free(&conf);
	return 0;
}
