/*
 * Job settings between the scheduler and its nodes (ps/jobconf.h). Values travel as
 * text and are compared after a round trip through the option's parser, so "0.10"
 * and "0.1" agree and no two spellings of one value are refused.
 */
#include <stdlib.h>
#include <string.h>

#include "ps/conf.h"
#include "ps/jobconf.h"
#include "ps/log.h"
#include "ps/msg.h"
#include "ps/xmalloc.h"

void
jobconf_put(struct ps_wbuf *w, const struct ps_conf *conf, int given_only)
{
	const char	*name;
	char		*value, *cause;
	unsigned int	 i;
	uint32_t	 n = 0;

	for (i = 0; conf_option_name(i) != NULL; i++) {
		if (conf_option_is_job(i) && (!given_only || conf_option_given(conf, i)))
			n++;
	}
	msg_put_map(w, n);
	for (i = 0; (name = conf_option_name(i)) != NULL; i++) {
		if (!conf_option_is_job(i) || (given_only && !conf_option_given(conf, i)))
			continue;
		if (conf_get(conf, name, &value, &cause) != 0)
			fatalx("%s", cause);	/* a name from the table */
		msg_put_str(w, name);
		msg_put_str(w, value);
		free(value);
	}
}

/* Is name (len bytes) a job setting? Its index, or -1. */
static int
jobconf_find(const char *name, size_t len)
{
	const char	*o;
	unsigned int	 i;

	for (i = 0; (o = conf_option_name(i)) != NULL; i++) {
		if (strlen(o) == len && memcmp(o, name, len) == 0)
			return conf_option_is_job(i) ? (int)i : -1;
	}
	return -1;
}

/* One pair of the map as "name=value" for conf_set, and the name alone; -1 if either
 * is not a string or the name is not a job setting. */
static int
jobconf_pair(const msgpack_object_kv *kv, char **assign, const char **name,
    char **cause)
{
	const msgpack_object	*k = &kv->key, *v = &kv->val;
	int			 i;

	if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_STR) {
		xasprintf(cause, "job settings: a name or value that is not text");
		return -1;
	}
	if ((i = jobconf_find(k->via.str.ptr, k->via.str.size)) < 0) {
		xasprintf(cause, "job settings: '%.*s' is not one",
		    (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr);
		return -1;
	}
	*name = conf_option_name((unsigned int)i);
	xasprintf(assign, "%s=%.*s", *name, (int)v->via.str.size, v->via.str.ptr);
	return 0;
}

int
jobconf_check(const struct ps_conf *job, const msgpack_object *theirs,
    const char *who, char **cause)
{
	struct ps_conf	 tmp;
	const char	*name;
	char		*assign, *mine, *yours, *why;
	uint32_t	 i;
	int		 rc = 0;

	if (theirs->type != MSGPACK_OBJECT_MAP) {
		xasprintf(cause, "job settings: not a map");
		return -1;
	}
	for (i = 0; i < theirs->via.map.size && rc == 0; i++) {
		if (jobconf_pair(&theirs->via.map.ptr[i], &assign, &name, cause) != 0)
			return -1;
		conf_copy(&tmp, job);
		if (conf_set(&tmp, assign, &why) != 0) {
			xasprintf(cause, "%s: %s", who, why);
			free(why);
			rc = -1;
		} else {
			conf_get(job, name, &mine, &why);
			conf_get(&tmp, name, &yours, &why);
			if (strcmp(mine, yours) != 0) {
				xasprintf(cause, "%s: this %s has '%s', the job '%s' (the "
				    "scheduler's): give every node the same, or set it "
				    "on the scheduler only", name, who, yours, mine);
				rc = -1;
			}
			free(mine);
			free(yours);
		}
		conf_free(&tmp);
		free(assign);
	}
	return rc;
}

int
jobconf_apply(struct ps_conf *conf, const msgpack_object *job, char **cause)
{
	const char	*name;
	char		*assign, *why;
	uint32_t	 i;

	if (job->type != MSGPACK_OBJECT_MAP) {
		xasprintf(cause, "job settings: not a map");
		return -1;
	}
	for (i = 0; i < job->via.map.size; i++) {
		if (jobconf_pair(&job->via.map.ptr[i], &assign, &name, cause) != 0)
			return -1;
		if (conf_set(conf, assign, &why) != 0) {
			xasprintf(cause, "the job's %s", why);
			free(why);
			free(assign);
			return -1;
		}
		free(assign);
	}
	return conf_check(conf, cause);
}
