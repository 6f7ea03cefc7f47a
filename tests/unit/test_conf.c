/* Unit tests for lib/conf.c: defaults, the YAML loader, -o overrides, the
 * wording of every error, conf_check and the conf_print round trip; enums,
 * conf_finish (per-optimizer defaults, model.factors), which options were
 * given, which are job settings; and lib/jobconf.c's check of a node's given
 * settings against the job's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/conf.h"
#include "ps/jobconf.h"
#include "ps/xmalloc.h"
#include "unit.h"

static char	tmpdir[] = "/tmp/test_conf.XXXXXX";
static int	nfiles;

/* Write text to a new file in tmpdir and return its path (static buffer). */
static const char *
write_yaml(const char *text)
{
	static char	 path[256];
	FILE		*f;

	snprintf(path, sizeof path, "%s/c%d.yaml", tmpdir, nfiles++);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load text; return the cause of failure (caller frees) or NULL. */
static char *
load_text(struct ps_conf *conf, const char *text, const char **pathp)
{
	const char	*path = write_yaml(text);
	char		*cause = NULL;

	if (pathp != NULL)
		*pathp = path;
	if (conf_load(conf, path, &cause) == 0)
		return NULL;
	return cause;
}

/* The expected error, "<path>:<line>: <msg>", for a text. */
static void
check_load_error(const char *text, int line, const char *msg, int srcline)
{
	struct ps_conf	 conf;
	const char	*path;
	char		*cause, *want;

	conf_init(&conf);
	cause = load_text(&conf, text, &path);
	if (line > 0)
		xasprintf(&want, "%s:%d: %s", path, line, msg);
	else
		xasprintf(&want, "%s: %s", path, msg);
	unit_checks++;
	if (cause == NULL || strcmp(cause, want) != 0) {
		unit_failures++;
		fprintf(stderr, "%s:%d: load error \"%s\" != \"%s\"\n", __FILE__,
		    srcline, cause != NULL ? cause : "(none)", want);
	}
	/* A bad file leaves everything as it was. */
	CHECK(conf.num_servers == 1);
	CHECK_STR(conf.scheduler_host, "127.0.0.1");
	free(want);
	free(cause);
	conf_free(&conf);
}
#define LOAD_ERROR(text, line, msg) check_load_error(text, line, msg, __LINE__)

/* conf_set must fail with exactly this cause. */
static void
check_set_error(const char *assignment, const char *msg, int srcline)
{
	struct ps_conf	 conf;
	char		*cause = NULL;

	conf_init(&conf);
	unit_checks++;
	if (conf_set(&conf, assignment, &cause) == 0 || cause == NULL ||
	    strcmp(cause, msg) != 0) {
		unit_failures++;
		fprintf(stderr, "%s:%d: conf_set(\"%s\") error \"%s\" != \"%s\"\n",
		    __FILE__, srcline, assignment, cause != NULL ? cause : "(none)",
		    msg);
	}
	free(cause);
	conf_free(&conf);
}
#define SET_ERROR(a, msg) check_set_error(a, msg, __LINE__)

static int
set_ok(struct ps_conf *conf, const char *assignment)
{
	char	*cause = NULL;

	if (conf_set(conf, assignment, &cause) != 0) {
		fprintf(stderr, "conf_set(\"%s\"): %s\n", assignment, cause);
		free(cause);
		return 0;
	}
	return 1;
}

static void
check_defaults(const struct ps_conf *conf)
{
	CHECK_STR(conf->scheduler_host, "127.0.0.1");
	CHECK(conf->scheduler_port == 7070);
	CHECK(conf->metrics_port == 0);
	CHECK_STR(conf->server_host, "127.0.0.1");
	CHECK(conf->server_port == 0);
	CHECK(conf->num_servers == 1);
	CHECK(conf->num_workers == 1);
	CHECK(conf->optim.kind == PS_OPTIM_FTRL);
	CHECK_NEAR(conf->optim.lr, 0.1, 1e-7);
	CHECK_NEAR(conf->optim.eps, 1e-6, 1e-12);
	CHECK_NEAR(conf->optim.alpha, 0.1, 1e-7);
	CHECK_NEAR(conf->optim.beta, 1.0, 0);
	CHECK_NEAR(conf->optim.l1, 1.0, 0);
	CHECK_NEAR(conf->optim.l2, 1.0, 0);
	CHECK(conf->optim.dim == 1);
	CHECK(conf->optim.schedule == PS_SCHEDULE_INV_SQRT);
	CHECK_NEAR(conf->optim.beta1, 0.9, 1e-7);
	CHECK_NEAR(conf->optim.beta2, 0.999, 1e-7);
	CHECK(conf->optim.factors == 0);
	CHECK_NEAR(conf->optim.init_scale, 0.01, 1e-9);
	CHECK(conf->optim.seed == 1);
	CHECK(conf->bias == 1);
	CHECK(conf->loss == PS_LOSS_LOGISTIC);
	CHECK(conf->consistency == PS_ASP);
	CHECK(conf->staleness == 2);
	CHECK(conf->clock == 1);
	CHECK(conf->batch_size == 100);
	CHECK(conf->passes == 1);
	CHECK(conf->seed == 1);
	CHECK(conf->allow_sum == 0);
	CHECK(conf->max_frame == 64 * 1024 * 1024);
	CHECK_NEAR(conf->heartbeat_interval, 1.0, 0);
	CHECK_NEAR(conf->heartbeat_timeout, 10.0, 0);
	CHECK(conf->max_connections == 1024);
	CHECK_NEAR(conf->handshake_timeout, 10.0, 0);
	CHECK_NEAR(conf->frame_timeout, 30.0, 0);
}

static void
test_defaults(void)
{
	struct ps_conf	 conf;
	char		*cause = NULL;

	conf_init(&conf);
	check_defaults(&conf);
	CHECK(conf_check(&conf, &cause) == 0);
	free(cause);
	conf_free(&conf);
	CHECK(conf.scheduler_host == NULL);
	conf_free(&conf);	/* twice is harmless */
}

static void
test_load_nested(void)
{
	struct ps_conf	 conf;
	char		*cause;

	conf_init(&conf);
	cause = load_text(&conf,
	    "# a comment\n"
	    "scheduler: {host: 10.0.0.1, port: 7071}\n"
	    "cluster:\n"
	    "  servers: 2\n"
	    "  workers: 3\n"
	    "optimizer:\n"
	    "  name: sgd\n"
	    "  alpha: 0.25\n"
	    "  learning_rate: \"0.5\"\n"
	    "model:\n"
	    "  dim: 16\n"
	    "  bias: no\n"
	    "net:\n"
	    "  max_frame: 1M\n"
	    "  heartbeat_timeout: 2.5\n"
	    "worker.batch_size: 7\n", NULL);
	CHECK(cause == NULL);
	free(cause);
	CHECK_STR(conf.scheduler_host, "10.0.0.1");
	CHECK(conf.scheduler_port == 7071);
	CHECK(conf.num_servers == 2);
	CHECK(conf.num_workers == 3);
	CHECK(conf.optim.kind == PS_OPTIM_SGD);
	CHECK_NEAR(conf.optim.alpha, 0.25, 0);
	CHECK_NEAR(conf.optim.lr, 0.5, 0);
	CHECK(conf.optim.dim == 16);
	CHECK(conf.bias == 0);
	CHECK(conf.max_frame == 1024 * 1024);
	CHECK_NEAR(conf.heartbeat_timeout, 2.5, 0);
	CHECK(conf.batch_size == 7);
	/* Untouched options keep their values. */
	CHECK_STR(conf.server_host, "127.0.0.1");
	CHECK_NEAR(conf.heartbeat_interval, 1.0, 0);

	/* A second file loads over the first. */
	cause = load_text(&conf, "cluster: {workers: 5}\n", NULL);
	CHECK(cause == NULL);
	free(cause);
	CHECK(conf.num_servers == 2);
	CHECK(conf.num_workers == 5);
	conf_free(&conf);
}

static void
test_load_empty(void)
{
	struct ps_conf	 conf;
	char		*cause;

	conf_init(&conf);
	cause = load_text(&conf, "", NULL);
	CHECK(cause == NULL);
	free(cause);
	cause = load_text(&conf, "# only a comment\n\n", NULL);
	CHECK(cause == NULL);
	free(cause);
	cause = load_text(&conf, "---\n", NULL);
	CHECK(cause == NULL);
	free(cause);
	cause = load_text(&conf, "---\n...\n", NULL);
	CHECK(cause == NULL);
	free(cause);
	/* An empty section, as left by commenting out all its keys. */
	cause = load_text(&conf, "optimizer:\n  # alpha: 1\nmodel:\n", NULL);
	CHECK(cause == NULL);
	free(cause);
	check_defaults(&conf);
	conf_free(&conf);
}

static void
test_load_errors(void)
{
	struct ps_conf	 conf;
	char		*cause = NULL;

	LOAD_ERROR("optimizer:\n  name: ftrl\n  alhpa: 0.1\n", 3,
	    "unknown key 'optimizer.alhpa'");
	LOAD_ERROR("cluster:\n  servers: 2\n  workers: 2\noptimizer:\n"
	    "  l1: abc\n", 5, "optimizer.l1: 'abc' is not a number");
	LOAD_ERROR("cluster:\n  workers: 2\n\n\n  servers: 0\n", 5,
	    "cluster.servers: 0 is out of range 1..1024");
	LOAD_ERROR("optimizer:\n  name: adamw\n", 2,
	    "optimizer.name: 'adamw' is not one of sgd, adagrad, ftrl, sum, adam");
	LOAD_ERROR("cluster:\n  workers: 2\n  consistency: ssp2\n", 3,
	    "cluster.consistency: 'ssp2' is not one of asp, ssp, bsp");
	LOAD_ERROR("model:\n  loss:\n", 2, "model.loss: missing value");
	LOAD_ERROR("cluster:\n  servers: [1, 2]\n", 2,
	    "cluster.servers: expected a value, not a sequence");
	LOAD_ERROR("cluster:\n  servers:\n    - 1\n", 3,
	    "cluster.servers: expected a value, not a sequence");
	LOAD_ERROR("- a\n- b\n", 1, "the top level is not a mapping of options");
	LOAD_ERROR("just a string\n", 1,
	    "the top level is not a mapping of options");
	LOAD_ERROR("foo: 1\n", 1, "unknown key 'foo'");
	LOAD_ERROR("foo:\n  bar: 1\n", 1, "unknown key 'foo'");
	LOAD_ERROR("foo: [1]\n", 1, "unknown key 'foo'");
	LOAD_ERROR("\"a\\nb\": 1\n", 1, "unknown key 'a\\x0ab'");
	LOAD_ERROR("cluster: [1]\n", 1,
	    "'cluster' is a section, expected a mapping, not a sequence");
	LOAD_ERROR("cluster:\n  servers: 2\n  servers: 3\n", 3,
	    "duplicate key 'cluster.servers' (first at line 2)");
	LOAD_ERROR("cluster:\n  servers: 2\ncluster.servers: 3\n", 3,
	    "duplicate key 'cluster.servers' (first at line 2)");
	LOAD_ERROR("cluster:\n  servers: 2\ncluster:\n  workers: 3\n", 3,
	    "duplicate key 'cluster' (first at line 1)");
	LOAD_ERROR("optimizer: ftrl\n", 1,
	    "'optimizer' is a section, expected a mapping of its options");
	LOAD_ERROR("optimizer:\n  name:\n    x: 1\n", 3,
	    "optimizer.name: expected a value, not a mapping");
	LOAD_ERROR("optimizer:\n  alpha:\n", 2, "optimizer.alpha: missing value");
	LOAD_ERROR("scheduler:\n  host: ~\n", 2, "scheduler.host: missing value");
	LOAD_ERROR("scheduler:\n  host: \"\"\n", 2,
	    "scheduler.host: missing value");
	LOAD_ERROR("a: &x 1\nb: *x\n", 1, "unknown key 'a'");
	LOAD_ERROR("cluster:\n  servers: &x 2\n  workers: *x\n", 3,
	    "cluster.workers: aliases are not supported");
	LOAD_ERROR("cluster: {servers: 1}\n---\ncluster: {servers: 2}\n", 2,
	    "only one YAML document is allowed");
	LOAD_ERROR("model:\n  bias: maybe\n", 2,
	    "model.bias: 'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)");
	LOAD_ERROR("net:\n  max_frame: 512\n", 2,
	    "net.max_frame: 512 is out of range 64K..2G");
	LOAD_ERROR("cluster:\n  servers: \" 2\"\n", 2,
	    "cluster.servers: ' 2' is not a number");
	LOAD_ERROR("optimizer:\n  alpha: 0\n", 2,
	    "optimizer.alpha: 0 is out of range, must be > 0");

	/* Syntax errors carry the line of the problem. */
	conf_init(&conf);
	cause = load_text(&conf, "cluster:\n  servers: 2\n workers: 3\n", NULL);
	CHECK_CONTAINS(cause, ".yaml:3: syntax error: ");
	free(cause);
	cause = load_text(&conf, "cluster: {servers: 2\n", NULL);
	CHECK_CONTAINS(cause, ".yaml:2: syntax error: ");
	free(cause);
	cause = load_text(&conf, "scheduler:\n  host: a: b\n", NULL);
	CHECK_CONTAINS(cause, ".yaml:2: syntax error: mapping values are not "
	    "allowed");
	free(cause);
	cause = load_text(&conf, "cluster:\n  servers: \"2\n", NULL);
	CHECK_CONTAINS(cause, "syntax error");
	free(cause);
	cause = load_text(&conf, "cluster:\n  servers: 2\xff\n", NULL);
	CHECK_CONTAINS(cause, ".yaml:2: invalid leading UTF-8 octet");
	free(cause);
	/* Nothing of a bad file is applied, even what came before the error. */
	cause = load_text(&conf, "cluster: {servers: 9}\nfoo: 1\n", NULL);
	CHECK(cause != NULL);
	free(cause);
	check_defaults(&conf);

	/* Files that cannot be read. */
	cause = NULL;
	CHECK(conf_load(&conf, "/nonexistent/x.yaml", &cause) == -1);
	CHECK_STR(cause, "/nonexistent/x.yaml: No such file or directory");
	free(cause);
	cause = NULL;
	CHECK(conf_load(&conf, tmpdir, &cause) == -1);
	CHECK_CONTAINS(cause, ": Is a directory");
	free(cause);
	conf_free(&conf);
}

static void
test_set(void)
{
	struct ps_conf	 conf;

	conf_init(&conf);
	CHECK(set_ok(&conf, "optimizer.l1=0.5"));
	CHECK_NEAR(conf.optim.l1, 0.5, 0);
	CHECK(set_ok(&conf, " optimizer.l2 = 2 "));
	CHECK_NEAR(conf.optim.l2, 2.0, 0);
	CHECK(set_ok(&conf, "scheduler.host=example.org"));
	CHECK_STR(conf.scheduler_host, "example.org");
	CHECK(set_ok(&conf, "server.port=65535"));
	CHECK(conf.server_port == 65535);
	CHECK(set_ok(&conf, "optimizer.name=adagrad"));
	CHECK(conf.optim.kind == PS_OPTIM_ADAGRAD);
	CHECK(set_ok(&conf, "optimizer.beta=0"));
	CHECK_NEAR(conf.optim.beta, 0, 0);
	CHECK(set_ok(&conf, "net.heartbeat_interval=1e-3"));
	CHECK_NEAR(conf.heartbeat_interval, 1e-3, 0);
	CHECK(set_ok(&conf, "cluster.workers=100000"));
	CHECK(conf.num_workers == 100000);
	CHECK(set_ok(&conf, "worker.batch_size=10000000"));
	CHECK(conf.batch_size == 10000000);
	CHECK(set_ok(&conf, "model.dim=4096"));
	CHECK(conf.optim.dim == 4096);
	CHECK(set_ok(&conf, "optimizer.name=adam"));
	CHECK(conf.optim.kind == PS_OPTIM_ADAM);
	CHECK(set_ok(&conf, "optimizer.beta1=0"));
	CHECK_NEAR(conf.optim.beta1, 0, 0);
	CHECK(set_ok(&conf, "optimizer.beta2=1"));
	CHECK_NEAR(conf.optim.beta2, 1, 0);
	CHECK(set_ok(&conf, "model.factors=1024"));
	CHECK(conf.optim.factors == 1024);
	CHECK(set_ok(&conf, "model.seed=4294967295"));
	CHECK(conf.optim.seed == UINT32_MAX);
	CHECK(set_ok(&conf, "model.init_scale=0"));
	CHECK_NEAR(conf.optim.init_scale, 0, 0);
	CHECK(set_ok(&conf, "cluster.staleness=0"));
	CHECK(conf.staleness == 0);
	CHECK(set_ok(&conf, "cluster.clock=1000000"));
	CHECK(conf.clock == 1000000);
	CHECK(set_ok(&conf, "worker.passes=100000"));
	CHECK(conf.passes == 100000);
	CHECK(set_ok(&conf, "worker.seed=0"));
	CHECK(conf.seed == 0);
	CHECK(set_ok(&conf, "worker.allow_sum=yes"));
	CHECK(conf.allow_sum == 1);
	conf_free(&conf);

	SET_ERROR("foo.bar=1", "option 'foo.bar': unknown key");
	SET_ERROR("optimizer=1", "option 'optimizer': unknown key");
	SET_ERROR("optimizer.l1=abc", "optimizer.l1: 'abc' is not a number");
	SET_ERROR("optimizer.l1", "option 'optimizer.l1': expected name=value");
	SET_ERROR("=5", "option '=5': expected name=value");
	SET_ERROR("optimizer.l1=", "optimizer.l1: missing value");
	SET_ERROR("scheduler.host=", "scheduler.host: missing value");
	SET_ERROR("optimizer.l1=1x", "optimizer.l1: '1x' is not a number");
	SET_ERROR("optimizer.l1=-1", "optimizer.l1: -1 is out of range, must be >= 0");
	SET_ERROR("optimizer.l1=nan", "optimizer.l1: 'nan' is not a finite number");
	SET_ERROR("optimizer.l1=inf", "optimizer.l1: 'inf' is not a finite number");
	SET_ERROR("optimizer.l1=1e999",
	    "optimizer.l1: '1e999' is not a finite number");
	SET_ERROR("optimizer.l1=1e39",
	    "optimizer.l1: 1e39 is out of range, must be <= 3.4028235e+38");
	SET_ERROR("optimizer.l1=-1e39",
	    "optimizer.l1: -1e39 is out of range, must be >= 0");
	SET_ERROR("optimizer.learning_rate=0",
	    "optimizer.learning_rate: 0 is out of range, must be > 0");
	SET_ERROR("optimizer.epsilon=1e-60",
	    "optimizer.epsilon: 1e-60 is out of range, must be > 0");
	SET_ERROR("net.heartbeat_interval=-1",
	    "net.heartbeat_interval: -1 is out of range, must be > 0");
	SET_ERROR("cluster.servers=1.5", "cluster.servers: '1.5' is not an integer");
	SET_ERROR("cluster.servers=two", "cluster.servers: 'two' is not a number");
	SET_ERROR("cluster.servers=1025",
	    "cluster.servers: 1025 is out of range 1..1024");
	SET_ERROR("cluster.servers=99999999999999999999",
	    "cluster.servers: 99999999999999999999 is out of range 1..1024");
	SET_ERROR("cluster.workers=0", "cluster.workers: 0 is out of range 1..100000");
	SET_ERROR("scheduler.port=65536",
	    "scheduler.port: 65536 is out of range 0..65535");
	SET_ERROR("server.port=-1", "server.port: -1 is out of range 0..65535");
	SET_ERROR("model.dim=0", "model.dim: 0 is out of range 1..4096");
	SET_ERROR("worker.batch_size=0",
	    "worker.batch_size: 0 is out of range 1..10000000");
	SET_ERROR("optimizer.name=adamw",
	    "optimizer.name: 'adamw' is not one of sgd, adagrad, ftrl, sum, adam");
	SET_ERROR("optimizer.name=Adam",
	    "optimizer.name: 'Adam' is not one of sgd, adagrad, ftrl, sum, adam");
	SET_ERROR("optimizer.beta1=1.5",
	    "optimizer.beta1: 1.5 is out of range, must be <= 1");
	SET_ERROR("optimizer.beta2=-0.1",
	    "optimizer.beta2: -0.1 is out of range, must be >= 0 and <= 1");
	SET_ERROR("model.init_scale=2",
	    "model.init_scale: 2 is out of range, must be <= 1");
	SET_ERROR("model.factors=1025", "model.factors: 1025 is out of range 0..1024");
	SET_ERROR("model.seed=-1", "model.seed: -1 is out of range 0..4294967295");
	SET_ERROR("model.seed=4294967296",
	    "model.seed: 4294967296 is out of range 0..4294967295");
	SET_ERROR("cluster.staleness=-1",
	    "cluster.staleness: -1 is out of range 0..1000000");
	SET_ERROR("cluster.clock=0", "cluster.clock: 0 is out of range 1..1000000");
	SET_ERROR("worker.passes=0", "worker.passes: 0 is out of range 1..100000");
	SET_ERROR("worker.allow_sum=maybe", "worker.allow_sum: 'maybe' is not a "
	    "boolean (true/false, yes/no, on/off, 1/0)");
	SET_ERROR("optimizer.l1=\x01", "optimizer.l1: '\\x01' is not a number");
}

static void
test_sizes(void)
{
	struct ps_conf	conf;

	conf_init(&conf);
	CHECK(set_ok(&conf, "net.max_frame=64K"));
	CHECK(conf.max_frame == 64 * 1024);
	CHECK(set_ok(&conf, "net.max_frame=65537"));
	CHECK(conf.max_frame == 65537);
	CHECK(set_ok(&conf, "net.max_frame=16m"));
	CHECK(conf.max_frame == 16 * 1024 * 1024);
	CHECK(set_ok(&conf, "net.max_frame=2G"));
	CHECK(conf.max_frame == INT64_C(2) * 1024 * 1024 * 1024);
	CHECK(set_ok(&conf, "net.max_frame=1g"));
	CHECK(conf.max_frame == INT64_C(1024) * 1024 * 1024);
	CHECK(set_ok(&conf, "net.max_frame=1536k"));
	CHECK(conf.max_frame == 1536 * 1024);
	conf_free(&conf);

	SET_ERROR("net.max_frame=1023", "net.max_frame: 1023 is out of range 64K..2G");
	SET_ERROR("net.max_frame=3G", "net.max_frame: 3G is out of range 64K..2G");
	SET_ERROR("net.max_frame=2049M",
	    "net.max_frame: 2049M is out of range 64K..2G");
	SET_ERROR("net.max_frame=-1K", "net.max_frame: -1K is out of range 64K..2G");
	SET_ERROR("net.max_frame=99999999999G",
	    "net.max_frame: 99999999999G is out of range 64K..2G");
	SET_ERROR("net.max_frame=1T", "net.max_frame: '1T' is not a size (bytes, "
	    "or with a K, M or G suffix)");
	SET_ERROR("net.max_frame=1MB", "net.max_frame: '1MB' is not a size "
	    "(bytes, or with a K, M or G suffix)");
	SET_ERROR("net.max_frame=1.5M", "net.max_frame: '1.5M' is not a size "
	    "(bytes, or with a K, M or G suffix)");
	SET_ERROR("net.max_frame=M", "net.max_frame: 'M' is not a size "
	    "(bytes, or with a K, M or G suffix)");
}

static void
test_bools(void)
{
	static const char	*yes[] = { "true", "yes", "on", "1", "TRUE", "Yes" };
	static const char	*no[] = { "false", "no", "off", "0", "False", "OFF" };
	struct ps_conf		 conf;
	char			 buf[64];
	size_t			 i;

	conf_init(&conf);
	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		snprintf(buf, sizeof buf, "model.bias=%s", no[i]);
		CHECK(set_ok(&conf, buf));
		CHECK(conf.bias == 0);
		snprintf(buf, sizeof buf, "model.bias=%s", yes[i]);
		CHECK(set_ok(&conf, buf));
		CHECK(conf.bias == 1);
	}
	conf_free(&conf);
	SET_ERROR("model.bias=2", "model.bias: '2' is not a boolean "
	    "(true/false, yes/no, on/off, 1/0)");
	SET_ERROR("model.bias=y", "model.bias: 'y' is not a boolean "
	    "(true/false, yes/no, on/off, 1/0)");
}

static void
test_print_roundtrip(void)
{
	struct ps_conf	 a, b;
	char		 path[256], *cause = NULL, *text = NULL;
	size_t		 len = 0;
	FILE		*f;

	conf_init(&a);
	CHECK(set_ok(&a, "scheduler.host=we\"ird: #host\\"));
	CHECK(set_ok(&a, "server.host=true"));
	CHECK(set_ok(&a, "server.host=On"));
	CHECK(set_ok(&a, "scheduler.port=0"));
	CHECK(set_ok(&a, "server.port=9"));
	CHECK(set_ok(&a, "cluster.servers=3"));
	CHECK(set_ok(&a, "cluster.workers=17"));
	CHECK(set_ok(&a, "optimizer.name=sum"));
	CHECK(set_ok(&a, "optimizer.learning_rate=0.3"));
	CHECK(set_ok(&a, "optimizer.epsilon=1e-8"));
	CHECK(set_ok(&a, "optimizer.alpha=0.123456789"));
	CHECK(set_ok(&a, "optimizer.beta=0"));
	CHECK(set_ok(&a, "optimizer.l1=3.14159"));
	CHECK(set_ok(&a, "optimizer.l2=1e30"));
	CHECK(set_ok(&a, "model.dim=8"));
	CHECK(set_ok(&a, "model.bias=off"));
	CHECK(set_ok(&a, "model.loss=squared"));
	CHECK(set_ok(&a, "model.factors=7"));
	CHECK(set_ok(&a, "model.init_scale=0.05"));
	CHECK(set_ok(&a, "model.seed=123456789"));
	CHECK(set_ok(&a, "optimizer.schedule=constant"));
	CHECK(set_ok(&a, "optimizer.beta1=0.8"));
	CHECK(set_ok(&a, "optimizer.beta2=0.99"));
	CHECK(set_ok(&a, "cluster.consistency=bsp"));
	CHECK(set_ok(&a, "cluster.staleness=5"));
	CHECK(set_ok(&a, "cluster.clock=3"));
	CHECK(set_ok(&a, "worker.batch_size=33"));
	CHECK(set_ok(&a, "worker.passes=4"));
	CHECK(set_ok(&a, "worker.seed=99"));
	CHECK(set_ok(&a, "worker.allow_sum=on"));
	CHECK(set_ok(&a, "net.max_frame=65537"));
	CHECK(set_ok(&a, "net.heartbeat_interval=0.1"));
	CHECK(set_ok(&a, "net.heartbeat_timeout=0.30000000000000004"));

	snprintf(path, sizeof path, "%s/print.yaml", tmpdir);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	conf_print(&a, f);
	fclose(f);

	conf_init(&b);
	CHECK(conf_load(&b, path, &cause) == 0);
	free(cause);
	CHECK_STR(b.scheduler_host, a.scheduler_host);
	CHECK_STR(b.server_host, "On");
	CHECK(b.scheduler_port == 0);
	CHECK(b.server_port == 9);
	CHECK(b.num_servers == 3);
	CHECK(b.num_workers == 17);
	CHECK(b.optim.kind == PS_OPTIM_SUM);
	CHECK(b.optim.lr == a.optim.lr);
	CHECK(b.optim.eps == a.optim.eps);
	CHECK(b.optim.alpha == a.optim.alpha);
	CHECK(b.optim.beta == a.optim.beta);
	CHECK(b.optim.l1 == a.optim.l1);
	CHECK(b.optim.l2 == a.optim.l2);
	CHECK(b.optim.dim == 8);
	CHECK(b.bias == 0);
	CHECK(b.loss == PS_LOSS_SQUARED);
	CHECK(b.optim.factors == 7);
	CHECK(b.optim.init_scale == a.optim.init_scale);
	CHECK(b.optim.seed == 123456789);
	CHECK(b.optim.schedule == PS_SCHEDULE_CONSTANT);
	CHECK(b.optim.beta1 == a.optim.beta1);
	CHECK(b.optim.beta2 == a.optim.beta2);
	CHECK(b.consistency == PS_BSP);
	CHECK(b.staleness == 5);
	CHECK(b.clock == 3);
	CHECK(b.batch_size == 33);
	CHECK(b.passes == 4);
	CHECK(b.seed == 99);
	CHECK(b.allow_sum == 1);
	CHECK(b.max_frame == 65537);
	CHECK(b.heartbeat_interval == a.heartbeat_interval);
	CHECK(b.heartbeat_timeout == a.heartbeat_timeout);
	conf_free(&a);
	conf_free(&b);

	/* The defaults print as a person would write them. */
	conf_init(&a);
	if ((f = open_memstream(&text, &len)) == NULL) {
		perror("open_memstream");
		exit(1);
	}
	conf_print(&a, f);
	fclose(f);
	CHECK_CONTAINS(text, "scheduler:\n  host: 127.0.0.1\n  port: 7070\n");
	CHECK_CONTAINS(text, "optimizer:\n  name: ftrl\n  learning_rate: 0.1\n"
	    "  schedule: inv_sqrt\n  epsilon: 1e-06\n  beta1: 0.9\n"
	    "  beta2: 0.999\n  alpha: 0.1\n  beta: 1\n  l1: 1\n  l2: 1\n");
	CHECK_CONTAINS(text, "cluster:\n  servers: 1\n  workers: 1\n  replicas: 1\n"
	    "  linger: false\n  consistency: asp\n  staleness: 2\n  clock: 1\n");
	CHECK_CONTAINS(text, "model:\n  loss: logistic\n  factors: 0\n"
	    "  init_scale: 0.01\n  seed: 1\n  dim: 1\n  bias: true\n");
	CHECK_CONTAINS(text, "worker:\n  batch_size: 100\n  passes: 1\n  seed: 1\n"
	    "  allow_sum: false\n");
	CHECK_CONTAINS(text, "  bias: true\n");
	CHECK_CONTAINS(text, "  max_frame: 64M\n");
	CHECK_CONTAINS(text, "  heartbeat_timeout: 10\n");
	free(text);
	conf_free(&a);
}

/*
 * Strings that need care in YAML (found by tests/fuzz/fuzz_conf.c): conf_print's text
 * must load back the same, since ps-launch sends it to every node. Bytes that are not
 * UTF-8 cannot be YAML at all, so -o refuses them; C1 controls (NEL is a line break to
 * libyaml), the line and paragraph separators and the BOM print as escapes; other text
 * prints as it is.
 */
static void
test_print_unicode(void)
{
	static const char *odd = "a\xc2\x85" "b\xc2\x80\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf"
	    "\xef\xbf\xbe\t\"\\\xf0\x9f\x98\x80";
	struct ps_conf	 a, b;
	char		*cause, *text = NULL, *set;
	size_t		 len = 0;
	FILE		*f;

	SET_ERROR("server.host=\xff", "server.host: '\\xff' is not UTF-8 text");
	SET_ERROR("ckpt.dir=a\xc3", "ckpt.dir: 'a\\xc3' is not UTF-8 text");
	SET_ERROR("ckpt.dir=\xc0\x80", "ckpt.dir: '\\xc0\\x80' is not UTF-8 text");
	SET_ERROR("ckpt.dir=\xed\xa0\x80",
	    "ckpt.dir: '\\xed\\xa0\\x80' is not UTF-8 text");	/* a surrogate */

	conf_init(&a);
	CHECK(set_ok(&a, "ckpt.dir=/donn\xc3\xa9" "es"));
	xasprintf(&set, "server.host=%s", odd);
	CHECK(set_ok(&a, set));
	free(set);
	if ((f = open_memstream(&text, &len)) == NULL) {
		perror("open_memstream");
		exit(1);
	}
	conf_print(&a, f);
	fclose(f);
	CHECK_CONTAINS(text, "  dir: \"/donn\xc3\xa9" "es\"\n");
	CHECK_CONTAINS(text, "  host: \"a\\u0085b\\u0080\\u2028\\u2029\\ufeff\\ufffe"
	    "\\x09\\\"\\\\\xf0\x9f\x98\x80\"\n");

	conf_init(&b);
	cause = load_text(&b, text, NULL);
	CHECK(cause == NULL);
	free(cause);
	CHECK_STR(b.server_host, odd);
	CHECK_STR(b.ckpt_dir, "/donn\xc3\xa9" "es");
	free(text);
	conf_free(&a);
	conf_free(&b);
}

static void
test_check(void)
{
	struct ps_conf	 conf;
	char		*cause = NULL;

	conf_init(&conf);
	CHECK(set_ok(&conf, "net.heartbeat_timeout=1"));
	CHECK(conf_check(&conf, &cause) == -1);
	CHECK_STR(cause, "net.heartbeat_timeout (1) must be greater than "
	    "net.heartbeat_interval (1)");
	free(cause);
	cause = NULL;
	CHECK(set_ok(&conf, "net.heartbeat_interval=0.5"));
	CHECK(conf_check(&conf, &cause) == 0);
	free(cause);
	cause = NULL;
	CHECK(set_ok(&conf, "net.heartbeat_interval=3"));
	CHECK(conf_check(&conf, &cause) == -1);
	CHECK_STR(cause, "net.heartbeat_timeout (1) must be greater than "
	    "net.heartbeat_interval (3)");
	free(cause);
	cause = NULL;
	conf_free(&conf);

	/* the metrics endpoint cannot share the scheduler's port */
	conf_init(&conf);
	CHECK(set_ok(&conf, "scheduler.metrics_port=7070"));
	CHECK(conf_check(&conf, &cause) == -1);
	CHECK_STR(cause, "scheduler.metrics_port (7070) must differ from scheduler.port");
	free(cause);
	cause = NULL;
	CHECK(set_ok(&conf, "scheduler.metrics_port=9100"));
	CHECK(conf_check(&conf, &cause) == 0);
	free(cause);
	cause = NULL;
	conf_free(&conf);

	/* conf_check also catches fields a program set directly. */
	conf_init(&conf);
	conf.num_servers = 0;
	CHECK(conf_check(&conf, &cause) == -1);
	CHECK_STR(cause, "cluster.servers: 0 is out of range 1..1024");
	free(cause);
	cause = NULL;
	conf.num_servers = 1;
	conf.optim.l1 = -2.5f;
	CHECK(conf_check(&conf, &cause) == -1);
	CHECK_STR(cause, "optimizer.l1: -2.5 is out of range, must be >= 0");
	free(cause);
	cause = NULL;
	conf.optim.l1 = 1;
	conf.bias = 7;
	CHECK(conf_check(&conf, &cause) == -1);
	CHECK_CONTAINS(cause, "model.bias: '7' is not a boolean");
	free(cause);
	cause = NULL;
	conf.bias = 1;
	free(conf.server_host);
	conf.server_host = NULL;
	CHECK(conf_check(&conf, &cause) == -1);
	CHECK_STR(cause, "server.host: missing value");
	free(cause);
	conf_free(&conf);
}

static void
test_get_and_names(void)
{
	struct ps_conf	 conf;
	const char	*name;
	char		*value = NULL, *cause = NULL, *table = NULL;
	size_t		 len = 0;
	unsigned int	 i;
	FILE		*f;

	conf_init(&conf);
	CHECK(conf_get(&conf, "net.max_frame", &value, &cause) == 0);
	CHECK_STR(value, "64M");
	free(value);
	CHECK(conf_get(&conf, "optimizer.epsilon", &value, &cause) == 0);
	CHECK_STR(value, "1e-06");
	free(value);
	CHECK(conf_get(&conf, "scheduler.host", &value, &cause) == 0);
	CHECK_STR(value, "127.0.0.1");
	free(value);
	CHECK(conf_get(&conf, "nope", &value, &cause) == -1);
	CHECK_STR(cause, "option 'nope': unknown key");
	free(cause);

	if ((f = open_memstream(&table, &len)) == NULL) {
		perror("open_memstream");
		exit(1);
	}
	conf_print_table(f);
	fclose(f);
	for (i = 0; (name = conf_option_name(i)) != NULL; i++)
		CHECK_CONTAINS(table, name);
	CHECK(i == 45);	/* with net.idle_timeout, scheduler.state_file,
			 * cluster.replicas, ckpt.dir, cluster.linger,
			 * server.advertise,
			 * scheduler.metrics_port, net.connect_retries,
			 * net.request_timeout, net.secret_file,
			 * net.max_connections, net.handshake_timeout,
			 * net.frame_timeout; cluster.consistency,
			 * cluster.staleness, cluster.clock,
			 * optimizer.schedule, optimizer.beta1,
			 * optimizer.beta2, model.loss, model.factors,
			 * model.init_scale, model.seed, worker.passes,
			 * worker.seed, worker.allow_sum */
	CHECK(conf_option_name(i) == NULL);
	CHECK(conf_option_name(1000) == NULL);
	CHECK_STR(conf_option_name(0), "scheduler.host");
	CHECK_CONTAINS(table, "64K..2G");
	CHECK_CONTAINS(table, "sgd, adagrad, ftrl, sum, adam");
	CHECK_CONTAINS(table, "asp, ssp, bsp");
	CHECK_CONTAINS(table, "constant, inv_sqrt");
	CHECK_CONTAINS(table, "logistic, squared");
	free(table);
	conf_free(&conf);
}

/* CONF_ENUM: a name among choices, stored as its index, printed as its name. */
static void
test_enums(void)
{
	struct ps_conf	 conf;
	char		*value = NULL, *cause = NULL;

	conf_init(&conf);
	CHECK(set_ok(&conf, "cluster.consistency=ssp"));
	CHECK(conf.consistency == PS_SSP);
	CHECK(set_ok(&conf, "cluster.consistency = bsp "));
	CHECK(conf.consistency == PS_BSP);
	CHECK(conf_get(&conf, "cluster.consistency", &value, &cause) == 0);
	CHECK_STR(value, "bsp");
	free(value);
	CHECK(set_ok(&conf, "cluster.consistency=asp"));
	CHECK(conf.consistency == PS_ASP);
	CHECK(set_ok(&conf, "model.loss=squared"));
	CHECK(conf.loss == PS_LOSS_SQUARED);
	CHECK(conf_get(&conf, "model.loss", &value, &cause) == 0);
	CHECK_STR(value, "squared");
	free(value);
	CHECK(set_ok(&conf, "optimizer.schedule=constant"));
	CHECK(conf.optim.schedule == PS_SCHEDULE_CONSTANT);
	CHECK(conf_get(&conf, "optimizer.schedule", &value, &cause) == 0);
	CHECK_STR(value, "constant");
	free(value);
	conf_free(&conf);

	/* From YAML, plain or quoted. */
	conf_init(&conf);
	cause = load_text(&conf, "cluster:\n  consistency: ssp\nmodel:\n"
	    "  loss: \"squared\"\noptimizer: {schedule: constant}\n", NULL);
	CHECK(cause == NULL);
	free(cause);
	CHECK(conf.consistency == PS_SSP);
	CHECK(conf.loss == PS_LOSS_SQUARED);
	CHECK(conf.optim.schedule == PS_SCHEDULE_CONSTANT);
	conf_free(&conf);

	/* Names only, exactly as written: no case folding, no numbers. */
	SET_ERROR("cluster.consistency=x",
	    "cluster.consistency: 'x' is not one of asp, ssp, bsp");
	SET_ERROR("cluster.consistency=SSP",
	    "cluster.consistency: 'SSP' is not one of asp, ssp, bsp");
	SET_ERROR("cluster.consistency=1",
	    "cluster.consistency: '1' is not one of asp, ssp, bsp");
	SET_ERROR("cluster.consistency=", "cluster.consistency: missing value");
	SET_ERROR("cluster.consistency=~", "cluster.consistency: missing value");
	SET_ERROR("model.loss=hinge",
	    "model.loss: 'hinge' is not one of logistic, squared");
	SET_ERROR("optimizer.schedule=inv-sqrt",
	    "optimizer.schedule: 'inv-sqrt' is not one of constant, inv_sqrt");
	SET_ERROR("model.loss=\x01", "model.loss: '\\x01' is not one of logistic, "
	    "squared");

	/* conf_check catches an index a program stored directly. */
	conf_init(&conf);
	conf.consistency = 3;
	CHECK(conf_check(&conf, &cause) == -1);
	CHECK_STR(cause, "cluster.consistency: '3' is not one of asp, ssp, bsp");
	free(cause);
	cause = NULL;
	conf.consistency = -1;
	CHECK(conf_check(&conf, &cause) == -1);
	CHECK_STR(cause, "cluster.consistency: '-1' is not one of asp, ssp, bsp");
	free(cause);
	conf_free(&conf);
}

/* conf_finish on text options ("name=value" each, NULL-terminated); the cause or
 * NULL. */
static char *
finish_with(struct ps_conf *conf, const char *const *set)
{
	char	*cause = NULL;

	conf_init(conf);
	for (; *set != NULL; set++) {
		if (!set_ok(conf, *set))
			return xstrdup("(set failed)");
	}
	if (conf_finish(conf, &cause) != 0)
		return cause;
	free(cause);
	return NULL;
}

/* conf_finish: each optimizer's defaults where none was given; model.dim from
 * model.factors; then conf_check. */
static void
test_finish(void)
{
	static const char *const none[] = { NULL };
	static const char *const adam[] = { "optimizer.name=adam", NULL };
	static const char *const adam_lr[] = { "optimizer.name=adam",
	    "optimizer.learning_rate=0.05", "optimizer.l2=0.5", NULL };
	static const char *const sgd[] = { "optimizer.name=sgd", NULL };
	static const char *const adagrad[] = { "optimizer.name=adagrad",
	    "optimizer.l1=0.25", NULL };
	static const char *const sum[] = { "optimizer.name=sum", NULL };
	static const char *const ftrl_l1[] = { "optimizer.l1=0", NULL };
	static const char *const fm[] = { "model.factors=8", NULL };
	static const char *const fm_dim[] = { "model.factors=8", "model.dim=9", NULL };
	static const char *const fm_bad[] = { "model.factors=8", "model.dim=4", NULL };
	static const char *const dim[] = { "model.dim=5", NULL };
	static const char *const hb[] = { "optimizer.name=adam",
	    "net.heartbeat_timeout=1", NULL };
	struct ps_conf	 conf;
	char		*cause;

	/* ftrl, the default: the table's values are its own. */
	CHECK((cause = finish_with(&conf, none)) == NULL);
	free(cause);
	CHECK_NEAR(conf.optim.lr, 0.1, 1e-7);
	CHECK_NEAR(conf.optim.l1, 1, 0);
	CHECK_NEAR(conf.optim.l2, 1, 0);
	CHECK(conf.optim.dim == 1);
	CHECK(!conf_given(&conf, "optimizer.learning_rate"));
	conf_free(&conf);

	/* adam: learning rate 0.01, no L1 or L2, unless given. */
	CHECK((cause = finish_with(&conf, adam)) == NULL);
	free(cause);
	CHECK_NEAR(conf.optim.lr, 0.01, 1e-9);
	CHECK_NEAR(conf.optim.l1, 0, 0);
	CHECK_NEAR(conf.optim.l2, 0, 0);
	/* a default applied is still not given: the node would not send it */
	CHECK(!conf_given(&conf, "optimizer.learning_rate"));
	CHECK(!conf_given(&conf, "optimizer.l2"));
	conf_free(&conf);
	CHECK((cause = finish_with(&conf, adam_lr)) == NULL);
	free(cause);
	CHECK_NEAR(conf.optim.lr, 0.05, 1e-9);
	CHECK_NEAR(conf.optim.l1, 0, 0);
	CHECK_NEAR(conf.optim.l2, 0.5, 0);
	conf_free(&conf);

	/* sgd: 0.02 (gradients are summed over a batch), no L1 or L2. */
	CHECK((cause = finish_with(&conf, sgd)) == NULL);
	free(cause);
	CHECK_NEAR(conf.optim.lr, 0.02, 1e-7);
	CHECK_NEAR(conf.optim.l1, 0, 0);
	CHECK_NEAR(conf.optim.l2, 0, 0);
	conf_free(&conf);
	CHECK((cause = finish_with(&conf, adagrad)) == NULL);
	free(cause);
	CHECK_NEAR(conf.optim.lr, 0.1, 1e-7);
	CHECK_NEAR(conf.optim.l1, 0.25, 0);
	CHECK_NEAR(conf.optim.l2, 0, 0);
	conf_free(&conf);
	CHECK((cause = finish_with(&conf, sum)) == NULL);
	free(cause);
	CHECK_NEAR(conf.optim.l2, 0, 0);
	conf_free(&conf);

	/* ftrl keeps a given value, even one its default would overwrite. */
	CHECK((cause = finish_with(&conf, ftrl_l1)) == NULL);
	free(cause);
	CHECK_NEAR(conf.optim.l1, 0, 0);
	CHECK_NEAR(conf.optim.l2, 1, 0);
	conf_free(&conf);

	/* Given in YAML counts as given, even at the table's default value. */
	conf_init(&conf);
	cause = load_text(&conf, "optimizer:\n  name: adam\n  learning_rate: 0.1\n",
	    NULL);
	CHECK(cause == NULL);
	free(cause);
	cause = NULL;
	CHECK(conf_finish(&conf, &cause) == 0);
	free(cause);
	CHECK_NEAR(conf.optim.lr, 0.1, 1e-7);
	CHECK_NEAR(conf.optim.l2, 0, 0);
	conf_free(&conf);

	/* model.factors: model.dim is 1 + k when not given; given, it must be. */
	CHECK((cause = finish_with(&conf, fm)) == NULL);
	free(cause);
	CHECK(conf.optim.factors == 8);
	CHECK(conf.optim.dim == 9);
	CHECK(!conf_given(&conf, "model.dim"));
	conf_free(&conf);
	CHECK((cause = finish_with(&conf, fm_dim)) == NULL);
	free(cause);
	CHECK(conf.optim.dim == 9);
	conf_free(&conf);
	cause = finish_with(&conf, fm_bad);
	CHECK_STR(cause, "model.dim (4) must be 1 + model.factors (8) for a "
	    "factorization machine: leave model.dim out");
	free(cause);
	conf_free(&conf);
	/* without factors model.dim is left alone */
	CHECK((cause = finish_with(&conf, dim)) == NULL);
	free(cause);
	CHECK(conf.optim.dim == 5);
	conf_free(&conf);

	/* Then conf_check. */
	cause = finish_with(&conf, hb);
	CHECK_STR(cause, "net.heartbeat_timeout (1) must be greater than "
	    "net.heartbeat_interval (1)");
	free(cause);
	conf_free(&conf);
}

/* Which options were given (YAML, -o), by name and by index; never a default. */
static void
test_given(void)
{
	struct ps_conf	 conf, copy;
	const char	*name;
	char		*cause = NULL;
	unsigned int	 i;

	conf_init(&conf);
	for (i = 0; (name = conf_option_name(i)) != NULL; i++) {
		CHECK(!conf_option_given(&conf, i));
		CHECK(!conf_given(&conf, name));
	}
	CHECK(!conf_option_given(&conf, i));		/* past the last */
	CHECK(!conf_given(&conf, "no.such"));

	CHECK(set_ok(&conf, "optimizer.l2=1"));		/* the default's value */
	CHECK(conf_given(&conf, "optimizer.l2"));
	CHECK(!conf_given(&conf, "optimizer.l1"));
	/* a refused value marks nothing */
	CHECK(conf_set(&conf, "optimizer.l1=-1", &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(!conf_given(&conf, "optimizer.l1"));

	cause = load_text(&conf, "cluster:\n  consistency: ssp\nmodel.dim: 1\n", NULL);
	CHECK(cause == NULL);
	free(cause);
	cause = NULL;
	CHECK(conf_given(&conf, "cluster.consistency"));
	CHECK(conf_given(&conf, "model.dim"));
	CHECK(conf_given(&conf, "optimizer.l2"));	/* kept from before */
	CHECK(!conf_given(&conf, "cluster.staleness"));
	for (i = 0; (name = conf_option_name(i)) != NULL; i++)
		CHECK(conf_option_given(&conf, i) == conf_given(&conf, name));

	/* a bad file marks nothing either */
	cause = load_text(&conf, "cluster: {staleness: 4}\nfoo: 1\n", NULL);
	CHECK(cause != NULL);
	free(cause);
	cause = NULL;
	CHECK(!conf_given(&conf, "cluster.staleness"));

	/* a copy knows what was given */
	conf_copy(&copy, &conf);
	CHECK(conf_given(&copy, "cluster.consistency"));
	CHECK(!conf_given(&copy, "cluster.staleness"));
	conf_free(&copy);
	conf_free(&conf);
}

/* The index of an option by name. */
static unsigned int
option_index(const char *name)
{
	const char	*o;
	unsigned int	 i;

	for (i = 0; (o = conf_option_name(i)) != NULL; i++) {
		if (strcmp(o, name) == 0)
			return i;
	}
	fprintf(stderr, "no option %s\n", name);
	return i;
}

/* Job settings: every model.* and optimizer.* option, and the consistency
 * model's three; nothing else. */
static void
test_job_options(void)
{
	static const char *const job[] = { "optimizer.name", "optimizer.learning_rate",
	    "optimizer.l2", "optimizer.beta1", "model.dim", "model.factors",
	    "model.loss", "model.bias", "model.seed", "cluster.consistency",
	    "cluster.staleness", "cluster.clock" };
	static const char *const node[] = { "cluster.servers", "cluster.workers",
	    "cluster.replicas", "cluster.linger", "worker.batch_size", "worker.passes",
	    "worker.seed", "worker.allow_sum", "scheduler.host", "net.max_frame",
	    "ckpt.dir" };
	const char	*name;
	unsigned int	 i, n = 0;

	for (i = 0; i < sizeof job / sizeof job[0]; i++)
		CHECK(conf_option_is_job(option_index(job[i])));
	for (i = 0; i < sizeof node / sizeof node[0]; i++)
		CHECK(!conf_option_is_job(option_index(node[i])));
	for (i = 0; (name = conf_option_name(i)) != NULL; i++) {
		if (conf_option_is_job(i))
			n++;
		if (strncmp(name, "model.", 6) == 0 ||
		    strncmp(name, "optimizer.", 10) == 0)
			CHECK(conf_option_is_job(i));
	}
	CHECK(n == 19);
	CHECK(!conf_option_is_job(i));			/* past the last */
}

/* A msgpack map of strings, as a REGISTER carries a node's given settings. */
struct kv_map {
	msgpack_object		obj;
	msgpack_object_kv	kv[8];
};

static void
kv_str(msgpack_object *o, const char *s)
{
	o->type = MSGPACK_OBJECT_STR;
	o->via.str.ptr = s;
	o->via.str.size = (uint32_t)strlen(s);
}

/* pairs: name, value, name, value, ..., NULL */
static const msgpack_object *
kv_make(struct kv_map *m, const char *const *pairs)
{
	uint32_t	n = 0;

	memset(m, 0, sizeof *m);
	for (; pairs[0] != NULL && n < 8; pairs += 2, n++) {
		kv_str(&m->kv[n].key, pairs[0]);
		kv_str(&m->kv[n].val, pairs[1]);
	}
	m->obj.type = MSGPACK_OBJECT_MAP;
	m->obj.via.map.size = n;
	m->obj.via.map.ptr = m->kv;
	return &m->obj;
}

/* lib/jobconf.c: a node's given settings against the job's, compared after
 * parsing; and the job's taken by a node. */
static void
test_jobconf(void)
{
	static const char *const same[] = { "optimizer.learning_rate", "0.10",
	    "model.bias", "yes", "optimizer.name", "adagrad", NULL };
	static const char *const other[] = { "model.bias", "true",
	    "optimizer.name", "sgd", NULL };
	static const char *const bad[] = { "optimizer.l2", "-1", NULL };
	static const char *const notjob[] = { "worker.passes", "3", NULL };
	static const char *const jobs[] = { "optimizer.name", "adam",
	    "cluster.consistency", "ssp", "model.factors", "4", "model.dim", "5", NULL };
	struct ps_conf	 job, node;
	struct kv_map	 m;
	char		*cause = NULL;

	conf_init(&job);
	CHECK(set_ok(&job, "optimizer.name=adagrad"));
	CHECK(conf_finish(&job, &cause) == 0);
	free(cause);
	cause = NULL;

	CHECK(jobconf_check(&job, kv_make(&m, same), "server", &cause) == 0);
	free(cause);
	cause = NULL;
	CHECK(jobconf_check(&job, kv_make(&m, other), "server", &cause) == -1);
	CHECK_STR(cause, "optimizer.name: this server has 'sgd', the job 'adagrad' "
	    "(the scheduler's): give every node the same, or set it on the scheduler "
	    "only");
	free(cause);
	cause = NULL;
	CHECK(jobconf_check(&job, kv_make(&m, bad), "worker", &cause) == -1);
	CHECK_STR(cause, "worker: optimizer.l2: -1 is out of range, must be >= 0");
	free(cause);
	cause = NULL;
	CHECK(jobconf_check(&job, kv_make(&m, notjob), "worker", &cause) == -1);
	CHECK_STR(cause, "job settings: 'worker.passes' is not one");
	free(cause);
	cause = NULL;
	CHECK(jobconf_check(&job, kv_make(&m, (const char *const []){ NULL }), "client",
	    &cause) == 0);
	free(cause);
	cause = NULL;

	/* A node given nothing takes the job's settings. */
	conf_init(&node);
	CHECK(jobconf_apply(&node, kv_make(&m, jobs), &cause) == 0);
	free(cause);
	cause = NULL;
	CHECK(node.optim.kind == PS_OPTIM_ADAM);
	CHECK(node.consistency == PS_SSP);
	CHECK(node.optim.factors == 4);
	CHECK(node.optim.dim == 5);
	conf_free(&node);
	conf_free(&job);
}

/* The example configs in conf/ load, and local.yaml holds the defaults. */
static void
test_examples(void)
{
	struct ps_conf	 conf;
	char		*cause = NULL;

	if (access("conf/local.yaml", R_OK) != 0) {
		printf("  (conf/local.yaml not found: run from the top directory)\n");
		return;
	}
	conf_init(&conf);
	CHECK(conf_load(&conf, "conf/local.yaml", &cause) == 0);
	if (cause != NULL)
		fprintf(stderr, "%s\n", cause);
	free(cause);
	cause = NULL;
	check_defaults(&conf);
	CHECK(conf_check(&conf, &cause) == 0);
	free(cause);
	cause = NULL;
	conf_free(&conf);

	conf_init(&conf);
	CHECK(conf_load(&conf, "conf/spam.yaml", &cause) == 0);
	if (cause != NULL)
		fprintf(stderr, "%s\n", cause);
	free(cause);
	cause = NULL;
	CHECK(conf.num_servers == 2);
	CHECK(conf.num_workers == 2);
	CHECK(conf.optim.kind == PS_OPTIM_FTRL);
	CHECK(conf_check(&conf, &cause) == 0);
	free(cause);
	conf_free(&conf);
}

static void
remove_tmpdir(void)
{
	char	path[256];
	int	i;

	for (i = 0; i < nfiles; i++) {
		snprintf(path, sizeof path, "%s/c%d.yaml", tmpdir, i);
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/print.yaml", tmpdir);
	unlink(path);
	if (rmdir(tmpdir) != 0)
		perror(tmpdir);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_defaults);
	RUN(test_load_nested);
	RUN(test_load_empty);
	RUN(test_load_errors);
	RUN(test_set);
	RUN(test_sizes);
	RUN(test_bools);
	RUN(test_print_roundtrip);
	RUN(test_print_unicode);
	RUN(test_check);
	RUN(test_get_and_names);
	RUN(test_enums);
	RUN(test_finish);
	RUN(test_given);
	RUN(test_job_options);
	RUN(test_jobconf);
	RUN(test_examples);

	remove_tmpdir();
	return UNIT_DONE();
}
