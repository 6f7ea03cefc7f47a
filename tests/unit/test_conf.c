/* Unit tests for lib/conf.c: defaults, the YAML loader, -o overrides, the
 * wording of every error, conf_check and the conf_print round trip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/conf.h"
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
	CHECK(conf->bias == 1);
	CHECK(conf->batch_size == 100);
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
	LOAD_ERROR("optimizer:\n  name: adam\n", 2,
	    "optimizer.name: 'adam' is not one of sgd, adagrad, ftrl, sum");
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
	SET_ERROR("optimizer.name=adam",
	    "optimizer.name: 'adam' is not one of sgd, adagrad, ftrl, sum");
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
	CHECK(set_ok(&a, "worker.batch_size=33"));
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
	CHECK(b.batch_size == 33);
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
	    "  epsilon: 1e-06\n  alpha: 0.1\n");
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
	CHECK(i == 32);	/* with net.idle_timeout, scheduler.state_file,
			 * cluster.replicas, ckpt.dir, cluster.linger,
			 * server.advertise,
			 * scheduler.metrics_port, net.connect_retries,
			 * net.request_timeout, net.secret_file,
			 * net.max_connections, net.handshake_timeout,
			 * net.frame_timeout */
	CHECK_STR(conf_option_name(0), "scheduler.host");
	CHECK_CONTAINS(table, "64K..2G");
	CHECK_CONTAINS(table, "sgd, adagrad, ftrl, sum");
	free(table);
	conf_free(&conf);
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
	RUN(test_examples);

	remove_tmpdir();
	return UNIT_DONE();
}
