/*
 * The hosts file of ps-launch, read with libyaml's document API (the file is small
 * and nested, so a tree is simpler than conf.c's events):
 *
 *	ssh: {user: ps, port: 22, identity: ~/.ssh/id, options: [...], bin: /usr/local/bin}
 *	scheduler: {host: 10.0.0.1}
 *	servers: [{host: 10.0.0.2}, {host: 10.0.0.3, port: 2222}]
 *	workers: [{host: 10.0.0.4, data: "zcat /data/part-{rank}.gz"}]
 *
 * Every entry may override any ssh default. Unknown keys are refused, with the line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ps/hosts.h"
#include "ps/xmalloc.h"

struct hosts_parse {
	const char	*path;
	yaml_document_t	 doc;
	char		*cause;
};

static int hosts_error(struct hosts_parse *, const yaml_node_t *, const char *, ...)
    PS_PRINTF(3, 4);

static int
hosts_error(struct hosts_parse *hp, const yaml_node_t *n, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (hp->cause == NULL) {
		if (n != NULL)
			xasprintf(&hp->cause, "%s:%lu: %s", hp->path,
			    (unsigned long)n->start_mark.line + 1, msg);
		else
			xasprintf(&hp->cause, "%s: %s", hp->path, msg);
	}
	free(msg);
	return -1;
}

static yaml_node_t *
hosts_node(struct hosts_parse *hp, int index)
{
	return yaml_document_get_node(&hp->doc, index);
}

/* A scalar's text, or an error naming what it was for. */
static int
hosts_string(struct hosts_parse *hp, const yaml_node_t *n, const char *what, char **out)
{
	const char *s = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE)
		return hosts_error(hp, n, "%s: a string is needed", what);
	if (strlen(s) != n->data.scalar.length)
		return hosts_error(hp, n, "%s: a NUL byte in the value", what);
	free(*out);
	*out = xstrdup(s);
	return 0;
}

/* A host name or address ssh is given: not empty, no blanks, and not an option. */
static int
hosts_name(struct hosts_parse *hp, const yaml_node_t *n, const char *what, char **out)
{
	if (hosts_string(hp, n, what, out) != 0)
		return -1;
	if (**out == '\0' || **out == '-' || strpbrk(*out, " \t\r\n'\"\\$`;&|<>") != NULL)
		return hosts_error(hp, n, "%s: '%s' is not a host name or address", what,
		    *out);
	return 0;
}

static int
hosts_port(struct hosts_parse *hp, const yaml_node_t *n, const char *what, int *out)
{
	char		*s = NULL, *end;
	long		 v;

	if (hosts_string(hp, n, what, &s) != 0)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 1 || v > 65535) {
		hosts_error(hp, n, "%s: '%s' is not a port (1..65535)", what, s);
		free(s);
		return -1;
	}
	free(s);
	*out = (int)v;
	return 0;
}

/* options: a list of strings, or one string. They replace the defaults' list. */
static int
hosts_options(struct hosts_parse *hp, const yaml_node_t *n, struct ps_ssh *ssh)
{
	yaml_node_item_t	*it;
	char			*s = NULL;
	int			 i;

	for (i = 0; i < ssh->noptions; i++)
		free(ssh->options[i]);
	free(ssh->options);
	ssh->options = NULL;
	ssh->noptions = 0;
	if (n->type == YAML_SCALAR_NODE) {
		if (hosts_string(hp, n, "options", &s) != 0)
			return -1;
		ssh->options = xmalloc(sizeof *ssh->options);
		ssh->options[ssh->noptions++] = s;
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return hosts_error(hp, n, "options: a list of ssh options is needed");
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		s = NULL;
		if (hosts_string(hp, hosts_node(hp, *it), "options", &s) != 0)
			return -1;
		ssh->options = xreallocarray(ssh->options, ssh->noptions + 1,
		    sizeof *ssh->options);
		ssh->options[ssh->noptions++] = s;
	}
	return 0;
}

static void
hosts_ssh_copy(struct ps_ssh *to, const struct ps_ssh *from)
{
	int i;

	to->user = from->user != NULL ? xstrdup(from->user) : NULL;
	to->port = from->port;
	to->identity = from->identity != NULL ? xstrdup(from->identity) : NULL;
	to->bin = from->bin != NULL ? xstrdup(from->bin) : NULL;
	to->noptions = from->noptions;
	to->options = NULL;
	if (from->noptions > 0)
		to->options = xreallocarray(NULL, from->noptions, sizeof *to->options);
	for (i = 0; i < from->noptions; i++)
		to->options[i] = xstrdup(from->options[i]);
}

static void
hosts_ssh_free(struct ps_ssh *ssh)
{
	int i;

	free(ssh->user);
	free(ssh->identity);
	free(ssh->bin);
	for (i = 0; i < ssh->noptions; i++)
		free(ssh->options[i]);
	free(ssh->options);
	memset(ssh, 0, sizeof *ssh);
}

/* One key of the ssh settings; 1 if it was one, 0 if not, -1 on a bad value. */
static int
hosts_ssh_key(struct hosts_parse *hp, const char *key, const yaml_node_t *v,
    struct ps_ssh *ssh)
{
	if (strcmp(key, "user") == 0)
		return hosts_name(hp, v, "user", &ssh->user) == 0 ? 1 : -1;
	if (strcmp(key, "port") == 0)
		return hosts_port(hp, v, "port", &ssh->port) == 0 ? 1 : -1;
	if (strcmp(key, "identity") == 0)
		return hosts_string(hp, v, "identity", &ssh->identity) == 0 ? 1 : -1;
	if (strcmp(key, "options") == 0)
		return hosts_options(hp, v, ssh) == 0 ? 1 : -1;
	if (strcmp(key, "bin") == 0)
		return hosts_string(hp, v, "bin", &ssh->bin) == 0 ? 1 : -1;
	return 0;
}

#define SSH_KEYS	"user, port, identity, options, bin"

static int
hosts_defaults(struct hosts_parse *hp, const yaml_node_t *n, struct ps_ssh *ssh)
{
	yaml_node_pair_t	*p;
	const yaml_node_t	*k;
	int			 r;

	if (n->type != YAML_MAPPING_NODE)
		return hosts_error(hp, n, "ssh: a mapping of ssh settings is needed");
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		k = hosts_node(hp, p->key);
		if (k->type != YAML_SCALAR_NODE)
			return hosts_error(hp, k, "ssh: a key must be a string");
		r = hosts_ssh_key(hp, (const char *)k->data.scalar.value,
		    hosts_node(hp, p->value), ssh);
		if (r < 0)
			return -1;
		if (r == 0)
			return hosts_error(hp, k, "ssh: unknown key '%s' (%s)",
			    (const char *)k->data.scalar.value, SSH_KEYS);
	}
	return 0;
}

/* One entry: {host: ..., [address: ...,] [data: ...,] ssh overrides}. */
static int
hosts_entry(struct hosts_parse *hp, const yaml_node_t *n, const char *what,
    int is_worker, const struct ps_ssh *dflt, struct ps_host *h)
{
	yaml_node_pair_t	*p;
	const yaml_node_t	*k, *v;
	const char		*key;
	int			 r;

	h->line = (unsigned long)n->start_mark.line + 1;
	hosts_ssh_copy(&h->ssh, dflt);
	if (n->type != YAML_MAPPING_NODE)
		return hosts_error(hp, n, "%s: a mapping such as {host: 10.0.0.2} is needed",
		    what);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		k = hosts_node(hp, p->key);
		v = hosts_node(hp, p->value);
		if (k->type != YAML_SCALAR_NODE)
			return hosts_error(hp, k, "%s: a key must be a string", what);
		key = (const char *)k->data.scalar.value;
		if (strcmp(key, "host") == 0)
			r = hosts_name(hp, v, "host", &h->host) == 0 ? 1 : -1;
		else if (strcmp(key, "address") == 0)
			r = hosts_name(hp, v, "address", &h->address) == 0 ? 1 : -1;
		else if (strcmp(key, "data") == 0 && is_worker)
			r = hosts_string(hp, v, "data", &h->data) == 0 ? 1 : -1;
		else
			r = hosts_ssh_key(hp, key, v, &h->ssh);
		if (r < 0)
			return -1;
		if (r == 0)
			return hosts_error(hp, k, "%s: unknown key '%s' (host, address, %s%s)",
			    what, key, is_worker ? "data, " : "", SSH_KEYS);
	}
	if (h->host == NULL)
		return hosts_error(hp, n, "%s: no host", what);
	if (is_worker && (h->data == NULL || h->data[0] == '\0'))
		return hosts_error(hp, n, "%s: no data command (data: \"zcat part-{rank}.gz\")",
		    what);
	if (h->address == NULL)
		h->address = xstrdup(h->host);
	return 0;
}

static int
hosts_list(struct hosts_parse *hp, const yaml_node_t *n, const char *name, int is_worker,
    const struct ps_ssh *dflt, struct ps_host **out, int *count)
{
	yaml_node_item_t	*it;
	char			 what[32];

	if (n->type != YAML_SEQUENCE_NODE)
		return hosts_error(hp, n, "%s: a list of hosts is needed", name);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		*out = xreallocarray(*out, *count + 1, sizeof **out);
		memset(&(*out)[*count], 0, sizeof **out);
		snprintf(what, sizeof what, "%s[%d]", name, *count);
		(*count)++;
		if (hosts_entry(hp, hosts_node(hp, *it), what, is_worker, dflt,
		    &(*out)[*count - 1]) != 0)
			return -1;
	}
	if (*count == 0)
		return hosts_error(hp, n, "%s: at least one host is needed", name);
	return 0;
}

static int
hosts_root(struct hosts_parse *hp, struct ps_hosts *hosts)
{
	yaml_node_t		*root = yaml_document_get_root_node(&hp->doc);
	yaml_node_pair_t	*p;
	const yaml_node_t	*k, *v, *sched = NULL, *servers = NULL, *workers = NULL;
	const char		*key;
	struct ps_ssh		 dflt;
	int			 r = -1;

	memset(&dflt, 0, sizeof dflt);
	if (root == NULL)
		return hosts_error(hp, NULL, "empty file");
	if (root->type != YAML_MAPPING_NODE)
		return hosts_error(hp, root, "ssh:, scheduler:, servers: and workers: are needed");
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		k = hosts_node(hp, p->key);
		v = hosts_node(hp, p->value);
		key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		if (strcmp(key, "ssh") == 0) {
			if (hosts_defaults(hp, v, &dflt) != 0)
				goto out;
		} else if (strcmp(key, "scheduler") == 0)
			sched = v;
		else if (strcmp(key, "servers") == 0)
			servers = v;
		else if (strcmp(key, "workers") == 0)
			workers = v;
		else {
			hosts_error(hp, k, "unknown key '%s' (ssh, scheduler, servers, workers)",
			    key);
			goto out;
		}
	}
	if (sched == NULL || servers == NULL || workers == NULL) {
		hosts_error(hp, root, "no %s", sched == NULL ? "scheduler:" :
		    servers == NULL ? "servers:" : "workers:");
		goto out;
	}
	/* The entries copy the defaults, so the whole "ssh:" is read first. */
	if (hosts_entry(hp, sched, "scheduler", 0, &dflt, &hosts->scheduler) != 0 ||
	    hosts_list(hp, servers, "servers", 0, &dflt, &hosts->servers,
	    &hosts->nservers) != 0 ||
	    hosts_list(hp, workers, "workers", 1, &dflt, &hosts->workers,
	    &hosts->nworkers) != 0)
		goto out;
	r = 0;
out:
	hosts_ssh_free(&dflt);
	return r;
}

int
hosts_load(struct ps_hosts *hosts, const char *path, char **cause)
{
	struct hosts_parse	 hp;
	yaml_parser_t		 parser;
	FILE			*f;
	int			 r = -1;

	memset(hosts, 0, sizeof *hosts);
	memset(&hp, 0, sizeof hp);
	hp.path = path;
	if ((f = fopen(path, "r")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!yaml_parser_initialize(&parser))
		fatalx("%s: yaml_parser_initialize failed", path);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &hp.doc)) {
		xasprintf(cause, "%s:%lu: %s", path,
		    (unsigned long)parser.problem_mark.line + 1,
		    parser.problem != NULL ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		fclose(f);
		return -1;
	}
	r = hosts_root(&hp, hosts);
	yaml_document_delete(&hp.doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (r != 0) {
		*cause = hp.cause;
		hosts_free(hosts);
	}
	return r;
}

static void
hosts_host_free(struct ps_host *h)
{
	free(h->host);
	free(h->address);
	free(h->data);
	hosts_ssh_free(&h->ssh);
}

void
hosts_free(struct ps_hosts *hosts)
{
	int i;

	hosts_host_free(&hosts->scheduler);
	for (i = 0; i < hosts->nservers; i++)
		hosts_host_free(&hosts->servers[i]);
	for (i = 0; i < hosts->nworkers; i++)
		hosts_host_free(&hosts->workers[i]);
	free(hosts->servers);
	free(hosts->workers);
	memset(hosts, 0, sizeof *hosts);
}
