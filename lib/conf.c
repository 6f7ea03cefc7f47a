/* Configuration: one table of options, in the manner of tmux's options-table.c
 * and redis' config.c. Each row names an option, its type, where it lives in
 * struct ps_conf, its bounds, its default (as text, parsed like any other value)
 * and a line of help. The table drives conf_init, the YAML loader, -o overrides,
 * conf_check, conf_print and conf_print_table. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "ps/conf.h"
#include "ps/log.h"
#include "ps/map.h"
#include "ps/optim.h"
#include "ps/xmalloc.h"

#ifndef nitems
#define nitems(a) (sizeof (a) / sizeof (a)[0])
#endif

enum conf_type {
	CONF_STRING,		/* char *, never empty */
	CONF_INT,		/* int */
	CONF_UINT32,		/* uint32_t, shown as int */
	CONF_DOUBLE,		/* double */
	CONF_FLOAT,		/* float, shown as number */
	CONF_BOOL,		/* int, 0 or 1 */
	CONF_SIZE,		/* int64_t bytes, K/M/G suffixes */
	CONF_OPTIMIZER,		/* enum ps_optim_kind, by name */
	CONF_ENUM		/* int, the index of a name in choices */
};

static const char *conf_type_names[] = {
	[CONF_STRING] = "string",
	[CONF_INT] = "int",
	[CONF_UINT32] = "int",
	[CONF_DOUBLE] = "number",
	[CONF_FLOAT] = "number",
	[CONF_BOOL] = "bool",
	[CONF_SIZE] = "size",
	[CONF_OPTIMIZER] = "enum",
	[CONF_ENUM] = "enum",
};

#define CONF_GT		0x1	/* the value must be > min, not >= min */
#define CONF_NOMAX	0x2	/* no upper bound other than the type's */
#define CONF_EMPTY	0x4	/* a string that may be empty (or null): "none" */
#define CONF_JOB	0x8	/* a job setting: the scheduler's value is every
				 * node's (conf_job_put, conf_job_apply) */

struct conf_option {
	const char	*name;
	enum conf_type	 type;
	size_t		 offset;
	double		 min;
	double		 max;
	int		 flags;
	const char	*dflt;
	const char	*help;
	const char *const *choices;	/* CONF_ENUM: its names, NULL-terminated */
};

static const char *const conf_losses[] = { "logistic", "squared", NULL };
static const char *const conf_schedules[] = { "constant", "inv_sqrt", NULL };
static const char *const conf_consistencies[] = { "asp", "ssp", "bsp", NULL };

#define OFF(field) offsetof(struct ps_conf, field)
#define KiB 1024.0
#define MiB (1024.0 * 1024.0)
#define GiB (1024.0 * 1024.0 * 1024.0)

static const struct conf_option conf_table[] = {
	{ "scheduler.host", CONF_STRING, OFF(scheduler_host), 0, 0, 0,
	  "127.0.0.1", "address the scheduler listens on and others connect to", NULL },
	{ "scheduler.port", CONF_INT, OFF(scheduler_port), 0, 65535, 0,
	  "7070", "scheduler TCP port (0: any free port)", NULL },
	{ "scheduler.metrics_port", CONF_INT, OFF(metrics_port), 0, 65535, 0,
	  "0", "scheduler: Prometheus /metrics over HTTP on this port (0: none)", NULL },
	{ "scheduler.state_file", CONF_STRING, OFF(state_file), 0, 0, CONF_EMPTY,
	  "", "scheduler: keep the job's state (map, nodes) in this file, so that a "
	  "scheduler started again after a crash resumes the job; empty: none", NULL },

	{ "server.host", CONF_STRING, OFF(server_host), 0, 0, 0,
	  "127.0.0.1", "address a server listens on for workers", NULL },
	{ "server.port", CONF_INT, OFF(server_port), 0, 65535, 0,
	  "0", "server TCP port (0: any free port)", NULL },
	{ "server.advertise", CONF_STRING, OFF(server_advertise), 0, 0, 0,
	  "auto", "address workers reach a server at (auto: server.host, or if that "
	  "is 0.0.0.0 or ::, the address that reaches the scheduler)", NULL },

	{ "cluster.servers", CONF_INT, OFF(num_servers), 1, 1024, 0,
	  "1", "number of servers the scheduler waits for", NULL },
	{ "cluster.workers", CONF_INT, OFF(num_workers), 1, 100000, 0,
	  "1", "number of workers the scheduler waits for", NULL },
	{ "cluster.replicas", CONF_INT, OFF(replicas), 1, PS_MAX_COPIES, 0,
	  "1", "copies of each slot, on distinct servers (2 or 3: a lost server's "
	  "slots are served by a copy; needs more servers than replicas - 1)", NULL },
	{ "cluster.linger", CONF_BOOL, OFF(linger), 0, 0, 0,
	  "false", "keep serving after the last worker: ps-ctl shutdown ends the job", NULL },
	{ "cluster.consistency", CONF_ENUM, OFF(consistency), 0, 0, CONF_JOB,
	  "asp", "asp: workers never wait for each other; ssp: a worker at clock c "
	  "waits until the slowest live worker reached c - cluster.staleness; bsp: "
	  "until every live worker reached c", conf_consistencies },
	{ "cluster.staleness", CONF_INT, OFF(staleness), 0, 1000000, CONF_JOB,
	  "2", "ssp: clocks a worker may run ahead of the slowest", NULL },
	{ "cluster.clock", CONF_INT, OFF(clock), 1, 1000000, CONF_JOB,
	  "1", "ssp, bsp: mini-batches per clock", NULL },

	{ "optimizer.name", CONF_OPTIMIZER, OFF(optim.kind), 0, 0, CONF_JOB,
	  "ftrl", "update rule applied by the servers (sum adds gradients up: "
	  "ps-worker trains with it only if worker.allow_sum)", NULL },
	{ "optimizer.learning_rate", CONF_FLOAT, OFF(optim.lr), 0, FLT_MAX,
	  CONF_GT|CONF_NOMAX|CONF_JOB, "0.1", "sgd, adagrad, adam: learning rate "
	  "(default per optimizer: sgd 0.02, adagrad 0.1, adam 0.01)", NULL },
	{ "optimizer.schedule", CONF_ENUM, OFF(optim.schedule), 0, 0, CONF_JOB,
	  "inv_sqrt", "sgd: constant, or inv_sqrt (learning_rate / sqrt(1 + t) at "
	  "a key's update t)", conf_schedules },
	{ "optimizer.epsilon", CONF_FLOAT, OFF(optim.eps), 0, FLT_MAX,
	  CONF_GT|CONF_NOMAX|CONF_JOB, "1e-6", "adagrad, adam: added to the root "
	  "of the squared gradients", NULL },
	{ "optimizer.beta1", CONF_FLOAT, OFF(optim.beta1), 0, 1, CONF_JOB,
	  "0.9", "adam: decay of the running mean of gradients", NULL },
	{ "optimizer.beta2", CONF_FLOAT, OFF(optim.beta2), 0, 1, CONF_JOB,
	  "0.999", "adam: decay of the running mean of squared gradients", NULL },
	{ "optimizer.alpha", CONF_FLOAT, OFF(optim.alpha), 0, FLT_MAX,
	  CONF_GT|CONF_NOMAX|CONF_JOB, "0.1", "ftrl: per-coordinate learning rate alpha", NULL },
	{ "optimizer.beta", CONF_FLOAT, OFF(optim.beta), 0, FLT_MAX,
	  CONF_NOMAX|CONF_JOB, "1", "ftrl: learning rate smoothing beta", NULL },
	{ "optimizer.l1", CONF_FLOAT, OFF(optim.l1), 0, FLT_MAX,
	  CONF_NOMAX|CONF_JOB, "1", "ftrl: L1 regularization strength", NULL },
	{ "optimizer.l2", CONF_FLOAT, OFF(optim.l2), 0, FLT_MAX,
	  CONF_NOMAX|CONF_JOB, "1", "ftrl: L2 strength; sgd, adagrad, adam: weight "
	  "decay (default per optimizer)", NULL },

	{ "model.loss", CONF_ENUM, OFF(loss), 0, 0, CONF_JOB,
	  "logistic", "logistic: labels +1/-1 (or 1/0), logistic regression; "
	  "squared: real labels, linear regression (RMSE)", conf_losses },
	{ "model.factors", CONF_UINT32, OFF(optim.factors), 0, 1024, CONF_JOB,
	  "0", "k > 0: a factorization machine, k latent factors per key "
	  "(model.dim becomes 1 + k)", NULL },
	{ "model.init_scale", CONF_FLOAT, OFF(optim.init_scale), 0, 1, CONF_JOB,
	  "0.01", "factorization machine: factors start uniform in "
	  "[-init_scale, init_scale]", NULL },
	{ "model.seed", CONF_UINT32, OFF(optim.seed), 0, 4294967295.0, CONF_JOB,
	  "1", "factorization machine: seed of the factors' initial values", NULL },
	{ "model.dim", CONF_UINT32, OFF(optim.dim), 1, 4096, CONF_JOB,
	  "1", "floats of weight per feature key", NULL },
	{ "model.bias", CONF_BOOL, OFF(bias), 0, 0, CONF_JOB,
	  "true", "add a constant bias feature, key 0", NULL },

	{ "worker.batch_size", CONF_INT, OFF(batch_size), 1, 10000000, 0,
	  "100", "examples per push and pull", NULL },
	{ "worker.passes", CONF_INT, OFF(passes), 1, 100000, 0,
	  "1", "passes over the training data (after the first: from the cache)", NULL },
	{ "worker.seed", CONF_UINT32, OFF(seed), 0, 4294967295.0, 0,
	  "1", "seed of the shuffled order of the cache's blocks in later passes", NULL },
	{ "worker.allow_sum", CONF_BOOL, OFF(allow_sum), 0, 0, 0,
	  "false", "train with optimizer.name sum (which adds gradients up) anyway", NULL },

	{ "net.max_frame", CONF_SIZE, OFF(max_frame), 64 * KiB, 2 * GiB, 0,
	  "64M", "largest message accepted, in bytes", NULL },
	{ "net.heartbeat_interval", CONF_DOUBLE, OFF(heartbeat_interval), 0,
	  DBL_MAX, CONF_GT|CONF_NOMAX, "1", "seconds between heartbeats", NULL },
	{ "net.heartbeat_timeout", CONF_DOUBLE, OFF(heartbeat_timeout), 0,
	  DBL_MAX, CONF_GT|CONF_NOMAX, "10",
	  "seconds of silence before a peer is dead (> heartbeat_interval)", NULL },
	{ "net.connect_retries", CONF_INT, OFF(connect_retries), 0, 1000, 0,
	  "10", "retries of a connection to the scheduler, 0.1 s apart, doubling up to 5 s", NULL },
	{ "net.request_timeout", CONF_DOUBLE, OFF(request_timeout), 0,
	  DBL_MAX, CONF_GT|CONF_NOMAX, "60",
	  "seconds a client waits for a server's reply before it gives up on it", NULL },
	{ "net.secret_file", CONF_STRING, OFF(secret_file), 0, 0, CONF_EMPTY,
	  "", "file of the shared secret every connection proves (HMAC); empty: none", NULL },
	{ "net.max_connections", CONF_INT, OFF(max_connections), 1, 1000000, 0,
	  "1024", "scheduler, server: connections accepted at once; past it the oldest "
	  "still in its handshake is closed for a new one, or the new one refused", NULL },
	{ "net.handshake_timeout", CONF_DOUBLE, OFF(handshake_timeout), 0,
	  DBL_MAX, CONF_GT|CONF_NOMAX, "10",
	  "scheduler, server: seconds from accepting a connection to the end of its "
	  "handshake (HELLO to AUTH_OK)", NULL },
	{ "net.idle_timeout", CONF_DOUBLE, OFF(idle_timeout), 0,
	  DBL_MAX, CONF_NOMAX, "300",
	  "scheduler, server: seconds an accepted connection may stay silent before it "
	  "is closed (not a registered node's at the scheduler); 0: never", NULL },
	{ "net.frame_timeout", CONF_DOUBLE, OFF(frame_timeout), 0,
	  DBL_MAX, CONF_GT|CONF_NOMAX, "30",
	  "scheduler, server: seconds from a message's first byte to its last", NULL },

	{ "ckpt.dir", CONF_STRING, OFF(ckpt_dir), 0, 0, 0,
	  "ckpt", "ps-ckpt: folder of the checkpoints (relative: to its working directory)", NULL },
};

/* conf->set has a bit per row. */
_Static_assert(nitems(conf_table) <= 128, "struct ps_conf's set[] is too small");

/* A parsed and checked value, before it is stored. */
union conf_value {
	const char		*s;
	long long		 i;
	double			 d;
	int64_t			 z;
	enum ps_optim_kind	 k;
	int			 e;
};

/* State of one conf_load. */
struct conf_key {
	char		*name;
	unsigned long	 line;
};

struct conf_parse {
	const char	*path;
	FILE		*f;
	yaml_parser_t	 parser;
	struct ps_conf	*conf;
	struct conf_key	*keys;		/* every key seen, flattened */
	size_t		 nkeys;
	char		*cause;
};

static void *
conf_field(const struct ps_conf *conf, const struct conf_option *o)
{
	return (char *)(uintptr_t)conf + o->offset;
}

static const struct conf_option *
conf_find(const char *name)
{
	size_t	i;

	for (i = 0; i < nitems(conf_table); i++) {
		if (strcmp(conf_table[i].name, name) == 0)
			return &conf_table[i];
	}
	return NULL;
}

/* Is name a section, the prefix before a dot of some option? */
static int
conf_is_section(const char *name)
{
	size_t	i, len = strlen(name);

	for (i = 0; i < nitems(conf_table); i++) {
		if (strncmp(conf_table[i].name, name, len) == 0 &&
		    conf_table[i].name[len] == '.')
			return 1;
	}
	return 0;
}

/* A value made safe to show in a message: printable, and not too long. */
static char *
conf_show(const char *s)
{
	size_t		 i, n = 0, max = 64;
	char		*out = xmalloc(max * 4 + 4);
	unsigned char	 c;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == max) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, 5, "\\x%02x", c);
	}
	out[n] = '\0';
	return out;
}

static void
conf_fmt_size(char *buf, size_t len, int64_t v)
{
	if (v != 0 && v % (1LL << 30) == 0)
		snprintf(buf, len, "%lldG", (long long)(v >> 30));
	else if (v != 0 && v % (1LL << 20) == 0)
		snprintf(buf, len, "%lldM", (long long)(v >> 20));
	else if (v != 0 && v % (1LL << 10) == 0)
		snprintf(buf, len, "%lldK", (long long)(v >> 10));
	else
		snprintf(buf, len, "%lld", (long long)v);
}

/* The shortest text that reads back as the same double (or float). */
static void
conf_fmt_double(char *buf, size_t len, double v, int isfloat)
{
	int	prec;
	double	d;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		d = strtod(buf, NULL);
		if (isfloat ? (float)d == (float)v : d == v)
			break;
	}
	/* 10, not 1e+01. */
	if (strchr(buf, 'e') != NULL && fabs(v) < 1e15 && v == trunc(v))
		snprintf(buf, len, "%.0f", v);
}

static const char *
conf_optimizers(void)
{
	static char	buf[128];
	size_t		n = 0;
	int		k;

	if (buf[0] != '\0')
		return buf;
	for (k = PS_OPTIM_SGD; k <= PS_OPTIM_LAST && n < sizeof buf; k++) {
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s",
		    k != PS_OPTIM_SGD ? ", " : "",
		    optim_name((enum ps_optim_kind)k));
	}
	return buf;
}

static void
conf_fmt_choices(char *buf, size_t len, const char *const *choices)
{
	size_t	i, n = 0;

	buf[0] = '\0';
	for (i = 0; choices[i] != NULL && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", choices[i]);
}

/* The allowed values in words: "1..1024", "> 0", "1K..2G". */
static void
conf_fmt_range(char *buf, size_t len, const struct conf_option *o)
{
	char	a[32], b[32];

	switch (o->type) {
	case CONF_INT:
	case CONF_UINT32:
		snprintf(buf, len, "%.0f..%.0f", o->min, o->max);
		break;
	case CONF_SIZE:
		conf_fmt_size(a, sizeof a, (int64_t)o->min);
		conf_fmt_size(b, sizeof b, (int64_t)o->max);
		snprintf(buf, len, "%s..%s", a, b);
		break;
	case CONF_DOUBLE:
	case CONF_FLOAT:
		conf_fmt_double(a, sizeof a, o->min, 0);
		if (o->flags & CONF_NOMAX) {
			snprintf(buf, len, "%s %s", (o->flags & CONF_GT) ?
			    ">" : ">=", a);
		} else {
			conf_fmt_double(b, sizeof b, o->max, 0);
			snprintf(buf, len, "%s %s and <= %s",
			    (o->flags & CONF_GT) ? ">" : ">=", a, b);
		}
		break;
	case CONF_OPTIMIZER:
		snprintf(buf, len, "%s", conf_optimizers());
		break;
	case CONF_ENUM:
		conf_fmt_choices(buf, len, o->choices);
		break;
	case CONF_BOOL:
		snprintf(buf, len, "true, false");
		break;
	case CONF_STRING:
		snprintf(buf, len, "not empty");
		break;
	}
}

static int
conf_is_null(const char *s)
{
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static int
conf_parse_bool(const char *s, int *b)
{
	static const char *yes[] = { "true", "yes", "on", "1" };
	static const char *no[] = { "false", "no", "off", "0" };
	size_t	i;

	for (i = 0; i < nitems(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b = 0;
			return 0;
		}
	}
	return -1;
}

static int
conf_parse_double(const char *s, double *d)
{
	char	*end;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	*d = strtod(s, &end);
	if (*end != '\0')
		return -1;
	return 0;
}

/* The length of the valid UTF-8 sequence at s (RFC 3629) and its code point, or 0. */
static size_t
conf_utf8(const char *s, uint32_t *cp)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n, i;
	uint32_t		 c;

	if (p[0] < 0x80)
		n = 1, c = p[0];
	else if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, c = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* also the NUL at the end */
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Parse text as option o's value and check its bounds; nothing is stored. */
static int
conf_parse_value(const struct conf_option *o, const char *s,
    union conf_value *v, char **cause)
{
	char		 range[128], *show, *end;
	const char	*q;
	long long	 ll, mult = 1;
	double		 d;
	size_t		 n;
	uint32_t	 cp;
	int		 b;
	enum ps_optim_kind k;

	show = conf_show(s);
	if (conf_is_null(s) && o->type != CONF_STRING) {
		xasprintf(cause, "%s: missing value", o->name);
		goto fail;
	}
	switch (o->type) {
	case CONF_STRING:
		if (*s == '\0' && !(o->flags & CONF_EMPTY)) {
			xasprintf(cause, "%s: missing value", o->name);
			goto fail;
		}
		/* YAML text is UTF-8, and conf_print's must load again (-o) */
		for (q = s; *q != '\0'; q += n) {
			if ((n = conf_utf8(q, &cp)) == 0) {
				xasprintf(cause, "%s: '%s' is not UTF-8 text", o->name, show);
				goto fail;
			}
		}
		v->s = s;
		break;
	case CONF_INT:
	case CONF_UINT32:
		if (isspace((unsigned char)*s))
			goto not_int;
		errno = 0;
		ll = strtoll(s, &end, 10);
		if (end == s || *end != '\0')
			goto not_int;
		if (errno == ERANGE || ll < o->min || ll > o->max)
			goto out_of_range;
		v->i = ll;
		break;
	not_int:
		if (conf_parse_double(s, &d) == 0 && isfinite(d))
			xasprintf(cause, "%s: '%s' is not an integer", o->name, show);
		else
			xasprintf(cause, "%s: '%s' is not a number", o->name, show);
		goto fail;
	case CONF_SIZE:
		if (isspace((unsigned char)*s))
			goto not_size;
		errno = 0;
		ll = strtoll(s, &end, 10);
		if (end == s)
			goto not_size;
		if (*end != '\0') {
			switch (*end) {
			case 'k': case 'K':
				mult = 1LL << 10;
				break;
			case 'm': case 'M':
				mult = 1LL << 20;
				break;
			case 'g': case 'G':
				mult = 1LL << 30;
				break;
			default:
				goto not_size;
			}
			if (end[1] != '\0')
				goto not_size;
		}
		if (errno == ERANGE || ll > INT64_MAX / mult ||
		    ll < INT64_MIN / mult)
			goto out_of_range;
		ll *= mult;
		if (ll < o->min || ll > o->max)
			goto out_of_range;
		v->z = ll;
		break;
	not_size:
		xasprintf(cause, "%s: '%s' is not a size (bytes, or with a K, M "
		    "or G suffix)", o->name, show);
		goto fail;
	case CONF_DOUBLE:
	case CONF_FLOAT:
		if (conf_parse_double(s, &d) != 0) {
			xasprintf(cause, "%s: '%s' is not a number", o->name, show);
			goto fail;
		}
		if (!isfinite(d)) {
			xasprintf(cause, "%s: '%s' is not a finite number",
			    o->name, show);
			goto fail;
		}
		if (d < o->min || ((o->flags & CONF_GT) && d <= o->min))
			goto out_of_range;
		if (d > o->max) {
			conf_fmt_double(range, sizeof range, o->max,
			    o->type == CONF_FLOAT);
			xasprintf(cause, "%s: %s is out of range, must be <= %s",
			    o->name, show, range);
			goto fail;
		}
		if (o->type == CONF_FLOAT) {
			/* Too small for a float is too small. */
			d = (float)d;
			if ((o->flags & CONF_GT) && d <= o->min)
				goto out_of_range;
		}
		v->d = d;
		break;
	case CONF_BOOL:
		if (conf_parse_bool(s, &b) != 0) {
			xasprintf(cause, "%s: '%s' is not a boolean (true/false, "
			    "yes/no, on/off, 1/0)", o->name, show);
			goto fail;
		}
		v->i = b;
		break;
	case CONF_OPTIMIZER:
		if (optim_kind(s, &k) != 0) {
			xasprintf(cause, "%s: '%s' is not one of %s", o->name,
			    show, conf_optimizers());
			goto fail;
		}
		v->k = k;
		break;
	case CONF_ENUM:
		for (b = 0; o->choices[b] != NULL; b++) {
			if (strcmp(s, o->choices[b]) == 0)
				break;
		}
		if (o->choices[b] == NULL) {
			conf_fmt_choices(range, sizeof range, o->choices);
			xasprintf(cause, "%s: '%s' is not one of %s", o->name, show, range);
			goto fail;
		}
		v->e = b;
		break;
	}
	free(show);
	return 0;

out_of_range:
	conf_fmt_range(range, sizeof range, o);
	if (o->type == CONF_DOUBLE || o->type == CONF_FLOAT)
		xasprintf(cause, "%s: %s is out of range, must be %s", o->name,
		    show, range);
	else
		xasprintf(cause, "%s: %s is out of range %s", o->name, show,
		    range);
fail:
	free(show);
	return -1;
}

static void
conf_store(struct ps_conf *conf, const struct conf_option *o,
    const union conf_value *v)
{
	void	*p = conf_field(conf, o);

	switch (o->type) {
	case CONF_STRING:
		free(*(char **)p);
		*(char **)p = xstrdup(v->s);
		break;
	case CONF_INT:
	case CONF_BOOL:
		*(int *)p = (int)v->i;
		break;
	case CONF_UINT32:
		*(uint32_t *)p = (uint32_t)v->i;
		break;
	case CONF_DOUBLE:
		*(double *)p = v->d;
		break;
	case CONF_FLOAT:
		*(float *)p = (float)v->d;
		break;
	case CONF_SIZE:
		*(int64_t *)p = v->z;
		break;
	case CONF_OPTIMIZER:
		*(enum ps_optim_kind *)p = v->k;
		break;
	case CONF_ENUM:
		*(int *)p = v->e;
		break;
	}
}

/* Given by the user (YAML, -o), not a default: see conf_finish and conf_job_put. */
static void
conf_mark_set(struct ps_conf *conf, const struct conf_option *o)
{
	size_t	i = (size_t)(o - conf_table);

	conf->set[i / 64] |= 1ULL << (i % 64);
}

static int
conf_is_set(const struct ps_conf *conf, const struct conf_option *o)
{
	size_t	i = (size_t)(o - conf_table);

	return (conf->set[i / 64] >> (i % 64)) & 1;
}

static int
conf_set_value(struct ps_conf *conf, const struct conf_option *o,
    const char *s, char **cause)
{
	union conf_value v;

	if (conf_parse_value(o, s, &v, cause) != 0)
		return -1;
	conf_store(conf, o, &v);
	return 0;
}

/* The current value of option o as text, as conf_print writes it. */
static char *
conf_format(const struct ps_conf *conf, const struct conf_option *o)
{
	const void		*p = conf_field(conf, o);
	const char		*name;
	char			 buf[64];
	enum ps_optim_kind	 k;
	int			 i;

	switch (o->type) {
	case CONF_STRING:
		return xstrdup(*(char *const *)p != NULL ? *(char *const *)p : "");
	case CONF_INT:
		snprintf(buf, sizeof buf, "%d", *(const int *)p);
		break;
	case CONF_UINT32:
		snprintf(buf, sizeof buf, "%lu",
		    (unsigned long)*(const uint32_t *)p);
		break;
	case CONF_DOUBLE:
		conf_fmt_double(buf, sizeof buf, *(const double *)p, 0);
		break;
	case CONF_FLOAT:
		conf_fmt_double(buf, sizeof buf, *(const float *)p, 1);
		break;
	case CONF_BOOL:
		switch (*(const int *)p) {
		case 0:
			return xstrdup("false");
		case 1:
			return xstrdup("true");
		}
		snprintf(buf, sizeof buf, "%d", *(const int *)p);
		break;
	case CONF_SIZE:
		conf_fmt_size(buf, sizeof buf, *(const int64_t *)p);
		break;
	case CONF_OPTIMIZER:
		k = *(const enum ps_optim_kind *)p;
		name = NULL;
		if (k >= PS_OPTIM_SGD && k <= PS_OPTIM_LAST)
			name = optim_name(k);
		if (name != NULL)
			return xstrdup(name);
		snprintf(buf, sizeof buf, "%d", (int)k);
		break;
	case CONF_ENUM:
		for (i = 0; o->choices[i] != NULL; i++) {
			if (i == *(const int *)p)
				return xstrdup(o->choices[i]);
		}
		snprintf(buf, sizeof buf, "%d", *(const int *)p);
		break;
	}
	return xstrdup(buf);
}

void
conf_init(struct ps_conf *conf)
{
	size_t	 i;
	char	*cause;

	memset(conf, 0, sizeof *conf);
	for (i = 0; i < nitems(conf_table); i++) {
		if (conf_set_value(conf, &conf_table[i], conf_table[i].dflt,
		    &cause) != 0)
			fatalx("bad default: %s", cause);	/* a bug in the table */
	}
}

void
conf_free(struct ps_conf *conf)
{
	size_t	 i;
	char	**p;

	for (i = 0; i < nitems(conf_table); i++) {
		if (conf_table[i].type != CONF_STRING)
			continue;
		p = conf_field(conf, &conf_table[i]);
		free(*p);
		*p = NULL;
	}
}

void
conf_copy(struct ps_conf *dst, const struct ps_conf *src)
{
	size_t	 i;
	char	**p;

	*dst = *src;
	for (i = 0; i < nitems(conf_table); i++) {
		if (conf_table[i].type != CONF_STRING)
			continue;
		p = conf_field(dst, &conf_table[i]);
		if (*p != NULL)
			*p = xstrdup(*p);
	}
}

static void
conf_trim(char **start, char **end)
{
	while (*start < *end && (**start == ' ' || **start == '\t'))
		(*start)++;
	while (*end > *start && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
		(*end)--;
}

int
conf_set(struct ps_conf *conf, const char *assignment, char **cause)
{
	const struct conf_option	*o;
	char				*copy, *eq, *name, *name_end, *value;
	char				*value_end, *show;
	int				 rc = -1;

	copy = xstrdup(assignment);
	if ((eq = strchr(copy, '=')) == NULL) {
		show = conf_show(assignment);
		xasprintf(cause, "option '%s': expected name=value", show);
		free(show);
		goto out;
	}
	name = copy;
	name_end = eq;
	value = eq + 1;
	value_end = value + strlen(value);
	conf_trim(&name, &name_end);
	conf_trim(&value, &value_end);
	*name_end = '\0';
	*value_end = '\0';

	if (*name == '\0') {
		show = conf_show(assignment);
		xasprintf(cause, "option '%s': expected name=value", show);
		free(show);
		goto out;
	}
	show = conf_show(name);
	if ((o = conf_find(name)) == NULL)
		xasprintf(cause, "option '%s': unknown key", show);
	else if (conf_set_value(conf, o, value, cause) == 0) {
		conf_mark_set(conf, o);
		rc = 0;
	}
	free(show);
out:
	free(copy);
	return rc;
}

int
conf_get(const struct ps_conf *conf, const char *name, char **value,
    char **cause)
{
	const struct conf_option	*o;
	char				*show;

	if ((o = conf_find(name)) == NULL) {
		show = conf_show(name);
		xasprintf(cause, "option '%s': unknown key", show);
		free(show);
		return -1;
	}
	*value = conf_format(conf, o);
	return 0;
}

const char *
conf_option_name(unsigned int idx)
{
	if (idx >= nitems(conf_table))
		return NULL;
	return conf_table[idx].name;
}

int
conf_given(const struct ps_conf *conf, const char *name)
{
	const struct conf_option *o = conf_find(name);

	return o != NULL && conf_is_set(conf, o);
}

int
conf_option_is_job(unsigned int idx)
{
	return idx < nitems(conf_table) && (conf_table[idx].flags & CONF_JOB);
}

int
conf_option_given(const struct ps_conf *conf, unsigned int idx)
{
	return idx < nitems(conf_table) && conf_is_set(conf, &conf_table[idx]);
}

int
conf_finish(struct ps_conf *conf, char **cause)
{
	struct ps_optim	d;

	/* Each optimizer's safe defaults, where the user gave none. */
	optim_defaults(conf->optim.kind, conf->optim.factors, &d);
	if (!conf_is_set(conf, conf_find("optimizer.learning_rate")))
		conf->optim.lr = d.lr;
	if (!conf_is_set(conf, conf_find("optimizer.alpha")))
		conf->optim.alpha = d.alpha;
	if (!conf_is_set(conf, conf_find("optimizer.l1")))
		conf->optim.l1 = d.l1;
	if (!conf_is_set(conf, conf_find("optimizer.l2")))
		conf->optim.l2 = d.l2;
	if (conf->optim.factors > 0) {
		if (!conf_is_set(conf, conf_find("model.dim")))
			conf->optim.dim = 1 + conf->optim.factors;
		else if (conf->optim.dim != 1 + conf->optim.factors) {
			xasprintf(cause, "model.dim (%u) must be 1 + model.factors (%u) "
			    "for a factorization machine: leave model.dim out",
			    conf->optim.dim, conf->optim.factors);
			return -1;
		}
	}
	return conf_check(conf, cause);
}

int
conf_check(const struct ps_conf *conf, char **cause)
{
	const struct conf_option	*o;
	union conf_value		 v;
	size_t				 i;
	char				*s, a[64], b[64];
	int				 rc;

	/* Each value in its bounds, in case a program set a field directly. */
	for (i = 0; i < nitems(conf_table); i++) {
		o = &conf_table[i];
		s = conf_format(conf, o);
		rc = conf_parse_value(o, s, &v, cause);
		free(s);
		if (rc != 0)
			return -1;
	}

	if (conf->heartbeat_timeout <= conf->heartbeat_interval) {
		conf_fmt_double(a, sizeof a, conf->heartbeat_timeout, 0);
		conf_fmt_double(b, sizeof b, conf->heartbeat_interval, 0);
		xasprintf(cause, "net.heartbeat_timeout (%s) must be greater "
		    "than net.heartbeat_interval (%s)", a, b);
		return -1;
	}
	if (conf->replicas > conf->num_servers) {
		xasprintf(cause, "cluster.replicas (%d) needs at least as many servers "
		    "(cluster.servers is %d)", conf->replicas, conf->num_servers);
		return -1;
	}
	if (conf->metrics_port != 0 && conf->metrics_port == conf->scheduler_port) {
		xasprintf(cause, "scheduler.metrics_port (%d) must differ from "
		    "scheduler.port", conf->metrics_port);
		return -1;
	}
	return 0;
}

/* A string as a YAML scalar: plain if that cannot be misread, like a host
 * name or an IPv4 address, else double-quoted. */
static void
conf_print_string(const char *s, FILE *f)
{
	static const char	*words[] = { "true", "false", "yes", "no", "on",
				    "off", "y", "n", "null" };
	const char		*p;
	unsigned char		 c;
	uint32_t		 cp;
	size_t			 i, n;
	int			 plain = isalnum((unsigned char)*s);

	for (p = s; plain && *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr("._-/", *p) == NULL)
			plain = 0;
	}
	for (i = 0; plain && i < nitems(words); i++) {
		if (strcasecmp(s, words[i]) == 0)
			plain = 0;
	}
	if (plain) {
		fputs(s, f);
		return;
	}

	fputc('"', f);
	for (; *s != '\0'; s += n) {
		c = (unsigned char)*s;
		n = 1;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else if (c < 0x80)
			fputc(c, f);
		else if ((n = conf_utf8(s, &cp)) == 0) {
			fputs("\\ufffd", f);	/* not from conf_set: it refuses these */
			n = 1;
		} else if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
		    cp == 0xfffe || cp == 0xffff) {
			/* C1 controls (NEL breaks a line in YAML), line and paragraph
			 * separators, BOM and non-characters: escaped, or libyaml
			 * refuses them or folds the line */
			fprintf(f, "\\u%04lx", (unsigned long)cp);
		} else
			fwrite(s, 1, n, f);
	}
	fputc('"', f);
}

void
conf_print(const struct ps_conf *conf, FILE *f)
{
	const struct conf_option	*o;
	const char			*dot, *section = NULL, *key;
	size_t				 i, seclen = 0;
	char				*value;

	for (i = 0; i < nitems(conf_table); i++) {
		o = &conf_table[i];
		if ((dot = strchr(o->name, '.')) == NULL) {
			section = NULL;
			key = o->name;
		} else {
			if (section == NULL || (size_t)(dot - o->name) != seclen ||
			    strncmp(section, o->name, seclen) != 0) {
				section = o->name;
				seclen = (size_t)(dot - o->name);
				fprintf(f, "%.*s:\n", (int)seclen, section);
			}
			key = dot + 1;
		}
		value = conf_format(conf, o);
		fprintf(f, "%s%s: ", section != NULL ? "  " : "", key);
		if (o->type == CONF_STRING)
			conf_print_string(value, f);
		else
			fputs(value, f);
		fputc('\n', f);
		free(value);
	}
}

void
conf_print_table(FILE *f)
{
	const struct conf_option	*o;
	size_t				 i;
	char				 range[128];

	fprintf(f, "%-24s %-7s %-10s %-24s %s\n", "NAME", "TYPE", "DEFAULT",
	    "RANGE", "DESCRIPTION");
	for (i = 0; i < nitems(conf_table); i++) {
		o = &conf_table[i];
		conf_fmt_range(range, sizeof range, o);
		fprintf(f, "%-24s %-7s %-10s %-24s %s\n", o->name,
		    conf_type_names[o->type], o->dflt, range, o->help);
	}
}

/* ---- The YAML loader. ---- */

static unsigned long
conf_line(const yaml_event_t *ev)
{
	return (unsigned long)ev->start_mark.line + 1;
}

static void
conf_error(struct conf_parse *cp, unsigned long line, const char *fmt, ...)
    PS_PRINTF(3, 4);

static void
conf_error(struct conf_parse *cp, unsigned long line, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	free(cp->cause);
	if (line == 0)		/* not known */
		xasprintf(&cp->cause, "%s: %s", cp->path, msg);
	else
		xasprintf(&cp->cause, "%s:%lu: %s", cp->path, line, msg);
	free(msg);
}

/* The line of a byte offset in the file, for libyaml's reader errors which
 * give only the offset. */
static unsigned long
conf_offset_line(FILE *f, size_t offset)
{
	unsigned long	line = 1;
	size_t		i;
	int		c;

	if (fseek(f, 0, SEEK_SET) != 0)
		return 0;
	for (i = 0; i < offset && (c = getc(f)) != EOF; i++) {
		if (c == '\n')
			line++;
	}
	return line;
}

/* The next event, or -1 with the parser's error as the cause. */
static int
conf_next(struct conf_parse *cp, yaml_event_t *ev)
{
	yaml_parser_t	*p = &cp->parser;
	unsigned long	 line;

	if (yaml_parser_parse(p, ev))
		return 0;
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		fatalx("%s: out of memory parsing YAML", cp->path);
	case YAML_READER_ERROR:
		line = conf_offset_line(cp->f, p->problem_offset);
		if (p->problem_value != -1)
			conf_error(cp, line, "%s (0x%x at byte %zu)", p->problem,
			    (unsigned)p->problem_value, p->problem_offset);
		else
			conf_error(cp, line, "%s", p->problem);
		break;
	default:
		line = (unsigned long)p->problem_mark.line + 1;
		if (p->context != NULL)
			conf_error(cp, line, "syntax error: %s %s",
			    p->problem != NULL ? p->problem : "unknown problem",
			    p->context);
		else
			conf_error(cp, line, "syntax error: %s",
			    p->problem != NULL ? p->problem : "unknown problem");
		break;
	}
	return -1;
}

/* Note a key; a key seen before in this file is an error. */
static int
conf_add_key(struct conf_parse *cp, const char *name, unsigned long line)
{
	size_t	 i;
	char	*show;

	for (i = 0; i < cp->nkeys; i++) {
		if (strcmp(cp->keys[i].name, name) == 0) {
			show = conf_show(name);
			conf_error(cp, line, "duplicate key '%s' (first at line "
			    "%lu)", show, cp->keys[i].line);
			free(show);
			return -1;
		}
	}
	cp->keys = xreallocarray(cp->keys, cp->nkeys + 1, sizeof *cp->keys);
	cp->keys[cp->nkeys].name = xstrdup(name);
	cp->keys[cp->nkeys].line = line;
	cp->nkeys++;
	return 0;
}

static int conf_parse_mapping(struct conf_parse *, const char *);

/* One "key: value" pair, the value's first event in ev. */
static int
conf_parse_pair(struct conf_parse *cp, const char *name, unsigned long line,
    yaml_event_t *ev)
{
	const struct conf_option	*o = conf_find(name);
	const char			*value;
	char				*cause, *show;
	int				 section = conf_is_section(name);
	int				 rc = -1;

	if (ev->type == YAML_MAPPING_START_EVENT && o == NULL && section)
		return conf_parse_mapping(cp, name);

	show = conf_show(name);
	if (o == NULL && !section &&
	    (ev->type == YAML_SCALAR_EVENT ||
	    ev->type == YAML_MAPPING_START_EVENT ||
	    ev->type == YAML_SEQUENCE_START_EVENT)) {
		conf_error(cp, line, "unknown key '%s'", show);
		goto out;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		value = (const char *)ev->data.scalar.value;
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    conf_is_null(value) && o != NULL && (o->flags & CONF_EMPTY))
			value = "";		/* "secret_file:" says none */
		else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    conf_is_null(value)) {
			if (o == NULL) {
				rc = 0;		/* an empty section */
				break;
			}
			conf_error(cp, conf_line(ev), "%s: missing value", show);
			break;
		}
		if (o == NULL) {
			conf_error(cp, line, "'%s' is a section, expected a "
			    "mapping of its options", show);
			break;
		}
		if (conf_set_value(cp->conf, o, value, &cause) != 0) {
			conf_error(cp, conf_line(ev), "%s", cause);
			free(cause);
			break;
		}
		conf_mark_set(cp->conf, o);
		rc = 0;
		break;
	case YAML_MAPPING_START_EVENT:
		conf_error(cp, conf_line(ev), "%s: expected a value, not a "
		    "mapping", show);
		break;
	case YAML_SEQUENCE_START_EVENT:
		if (o != NULL)
			conf_error(cp, conf_line(ev), "%s: expected a value, not "
			    "a sequence", show);
		else
			conf_error(cp, conf_line(ev), "'%s' is a section, "
			    "expected a mapping, not a sequence", show);
		break;
	case YAML_ALIAS_EVENT:
		conf_error(cp, conf_line(ev), "%s: aliases are not supported",
		    show);
		break;
	default:
		conf_error(cp, conf_line(ev), "%s: unexpected YAML event", show);
		break;
	}
out:
	free(show);
	return rc;
}

/* The pairs of a mapping whose start was just read, up to its end. Keys
 * are joined to the prefix with dots. */
static int
conf_parse_mapping(struct conf_parse *cp, const char *prefix)
{
	yaml_event_t	 key, value;
	char		*name;
	unsigned long	 line;
	int		 rc;

	for (;;) {
		if (conf_next(cp, &key) != 0)
			return -1;
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			return 0;
		}
		line = conf_line(&key);
		if (key.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&key);
			conf_error(cp, line, "a key must be a plain name");
			return -1;
		}
		if (key.data.scalar.length == 0) {
			yaml_event_delete(&key);
			conf_error(cp, line, "empty key");
			return -1;
		}
		if (prefix != NULL)
			xasprintf(&name, "%s.%s", prefix,
			    (const char *)key.data.scalar.value);
		else
			name = xstrdup((const char *)key.data.scalar.value);
		yaml_event_delete(&key);

		if (conf_add_key(cp, name, line) != 0 ||
		    conf_next(cp, &value) != 0) {
			free(name);
			return -1;
		}
		rc = conf_parse_pair(cp, name, line, &value);
		yaml_event_delete(&value);
		free(name);
		if (rc != 0)
			return -1;
	}
}

/* A stream of zero or one document, whose top level is a mapping. */
static int
conf_parse_stream(struct conf_parse *cp)
{
	yaml_event_t	ev;
	int		rc = -1;

	if (conf_next(cp, &ev) != 0)
		return -1;
	yaml_event_delete(&ev);		/* stream start */

	if (conf_next(cp, &ev) != 0)
		return -1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 0;		/* an empty file: nothing to change */
	}
	yaml_event_delete(&ev);		/* document start */

	if (conf_next(cp, &ev) != 0)
		return -1;
	switch (ev.type) {
	case YAML_MAPPING_START_EVENT:
		rc = conf_parse_mapping(cp, NULL);
		break;
	case YAML_SCALAR_EVENT:
		if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    conf_is_null((const char *)ev.data.scalar.value)) {
			rc = 0;		/* "---" and nothing else */
			break;
		}
		/* FALLTHROUGH */
	default:
		conf_error(cp, conf_line(&ev), "the top level is not a mapping "
		    "of options");
		break;
	}
	yaml_event_delete(&ev);
	if (rc != 0)
		return -1;

	if (conf_next(cp, &ev) != 0)
		return -1;
	yaml_event_delete(&ev);		/* document end */

	if (conf_next(cp, &ev) != 0)
		return -1;
	if (ev.type != YAML_STREAM_END_EVENT) {
		conf_error(cp, conf_line(&ev), "only one YAML document is "
		    "allowed");
		yaml_event_delete(&ev);
		return -1;
	}
	yaml_event_delete(&ev);
	return 0;
}

int
conf_load(struct ps_conf *conf, const char *path, char **cause)
{
	struct conf_parse	 cp;
	struct ps_conf		 tmp;
	struct stat		 sb;
	FILE			*f;
	size_t			 i;
	int			 rc;

	if ((f = fopen(path, "r")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "%s: %s", path, strerror(EISDIR));
		fclose(f);
		return -1;
	}

	memset(&cp, 0, sizeof cp);
	cp.path = path;
	cp.f = f;
	if (!yaml_parser_initialize(&cp.parser))
		fatalx("%s: out of memory parsing YAML", path);
	yaml_parser_set_input_file(&cp.parser, f);

	/* Load into a copy so a bad file leaves conf as it was. */
	conf_copy(&tmp, conf);
	cp.conf = &tmp;
	rc = conf_parse_stream(&cp);
	if (rc == 0 && ferror(f)) {
		xasprintf(&cp.cause, "%s: %s", path, strerror(errno));
		rc = -1;
	}

	yaml_parser_delete(&cp.parser);
	fclose(f);
	for (i = 0; i < cp.nkeys; i++)
		free(cp.keys[i].name);
	free(cp.keys);

	if (rc != 0) {
		conf_free(&tmp);
		*cause = cp.cause;
		return -1;
	}
	conf_free(conf);
	*conf = tmp;
	return 0;
}
