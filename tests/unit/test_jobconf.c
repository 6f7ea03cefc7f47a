/* Job settings between the scheduler and its nodes (lib/jobconf.c): what a node sends,
 * how the scheduler compares it with its own, and how a node takes the job's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/conf.h"
#include "ps/jobconf.h"
#include "ps/msg.h"
#include "ps/proto.h"
#include "unit.h"

/* The settings of conf as the one argument of a decoded frame, in m. */
static void
wire(const struct ps_conf *conf, int given_only, struct ps_wbuf *w, struct ps_msg *m)
{
	struct ps_hdr h = msg_hdr(PS_MSG_REGISTER, 1, 0, 0);
	char *cause = NULL;

	wbuf_reset(w);
	msg_begin(w, &h, 1);
	jobconf_put(w, conf, given_only);
	msg_end(w);
	CHECK(msg_decode(m, w->data + 4, w->len - 4, &cause) == 0);
	free(cause);
}

static void
set(struct ps_conf *conf, const char *assign)
{
	char *cause = NULL;

	CHECK(conf_set(conf, assign, &cause) == 0);
	free(cause);
}

static void
test_given_only(void)
{
	struct ps_conf conf;
	struct ps_wbuf w;
	struct ps_msg m;

	conf_init(&conf);
	wbuf_init(&w);
	wire(&conf, 1, &w, &m);
	CHECK(m.args[0].type == MSGPACK_OBJECT_MAP && m.args[0].via.map.size == 0);
	msg_free(&m);

	/* a job setting given is sent; another option is not, given or not */
	set(&conf, "optimizer.name=adam");
	set(&conf, "worker.batch_size=7");
	set(&conf, "net.heartbeat_timeout=30");
	wire(&conf, 1, &w, &m);
	CHECK(m.args[0].via.map.size == 1);
	CHECK(msg_map_get(&m.args[0], "optimizer.name") != NULL);
	CHECK(msg_map_get(&m.args[0], "worker.batch_size") == NULL);
	msg_free(&m);

	/* all: model, optimizer and consistency, nothing else */
	wire(&conf, 0, &w, &m);
	CHECK(msg_map_get(&m.args[0], "model.factors") != NULL);
	CHECK(msg_map_get(&m.args[0], "optimizer.l2") != NULL);
	CHECK(msg_map_get(&m.args[0], "cluster.consistency") != NULL);
	CHECK(msg_map_get(&m.args[0], "cluster.servers") == NULL);
	CHECK(msg_map_get(&m.args[0], "scheduler.port") == NULL);
	msg_free(&m);
	wbuf_free(&w);
	conf_free(&conf);
}

static void
test_check(void)
{
	struct ps_conf job, node;
	struct ps_wbuf w;
	struct ps_msg m;
	char *cause = NULL;

	conf_init(&job);
	conf_init(&node);
	wbuf_init(&w);
	set(&job, "optimizer.name=adagrad");
	set(&job, "optimizer.learning_rate=0.1");

	/* the same values, however spelled */
	set(&node, "optimizer.name=adagrad");
	set(&node, "optimizer.learning_rate=0.10");
	wire(&node, 1, &w, &m);
	CHECK(jobconf_check(&job, &m.args[0], "server", &cause) == 0);
	msg_free(&m);

	/* one differs: refused, by name, with both values */
	set(&node, "optimizer.name=sgd");
	wire(&node, 1, &w, &m);
	CHECK(jobconf_check(&job, &m.args[0], "server", &cause) == -1);
	CHECK_CONTAINS(cause, "optimizer.name: this server has 'sgd', the job 'adagrad'");
	free(cause);
	cause = NULL;
	msg_free(&m);

	/* a default of the job's, given another value by the node, differs too */
	conf_free(&node);
	conf_init(&node);
	set(&node, "model.factors=4");
	wire(&node, 1, &w, &m);
	CHECK(jobconf_check(&job, &m.args[0], "worker", &cause) == -1);
	CHECK_CONTAINS(cause, "model.factors: this worker has '4', the job '0'");
	free(cause);
	cause = NULL;
	msg_free(&m);

	wbuf_free(&w);
	conf_free(&job);
	conf_free(&node);
}

/* Hand-made maps: names that are not job settings, values that are not text or not
 * valid, are refused, not applied. */
static void
test_bad_maps(void)
{
	struct ps_hdr h = msg_hdr(PS_MSG_REGISTER, 1, 0, 0);
	static const char *bad[][2] = {
		{ "scheduler.port", "1" },		/* not a job setting */
		{ "optimizer.nam", "sgd" },		/* no such option */
		{ "optimizer.name", "newton" },		/* not a value of it */
		{ "model.dim", "0" },			/* out of its range */
	};
	struct ps_conf job;
	struct ps_wbuf w;
	struct ps_msg m;
	char *cause = NULL;
	size_t i;

	conf_init(&job);
	wbuf_init(&w);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		wbuf_reset(&w);
		msg_begin(&w, &h, 1);
		msg_put_map(&w, 1);
		msg_put_str(&w, bad[i][0]);
		msg_put_str(&w, bad[i][1]);
		msg_end(&w);
		CHECK(msg_decode(&m, w.data + 4, w.len - 4, &cause) == 0);
		CHECK(jobconf_check(&job, &m.args[0], "worker", &cause) == -1);
		free(cause);
		cause = NULL;
		CHECK(jobconf_apply(&job, &m.args[0], &cause) == -1);
		free(cause);
		cause = NULL;
		msg_free(&m);
	}
	/* a value that is not text */
	wbuf_reset(&w);
	msg_begin(&w, &h, 1);
	msg_put_map(&w, 1);
	msg_put_str(&w, "model.dim");
	msg_put_uint(&w, 3);
	msg_end(&w);
	CHECK(msg_decode(&m, w.data + 4, w.len - 4, &cause) == 0);
	CHECK(jobconf_apply(&job, &m.args[0], &cause) == -1);
	CHECK_CONTAINS(cause, "not text");
	free(cause);
	msg_free(&m);
	CHECK(job.optim.dim == 1);		/* nothing taken */
	wbuf_free(&w);
	conf_free(&job);
}

/* A node given nothing takes every job setting; its own other options stay. */
static void
test_apply(void)
{
	struct ps_conf job, node;
	struct ps_wbuf w;
	struct ps_msg m;
	char *cause = NULL;

	conf_init(&job);
	conf_init(&node);
	wbuf_init(&w);
	set(&job, "optimizer.name=adam");
	set(&job, "model.factors=8");
	set(&job, "cluster.consistency=ssp");
	CHECK(conf_finish(&job, &cause) == 0);
	set(&node, "worker.batch_size=33");
	wire(&job, 0, &w, &m);
	CHECK(jobconf_apply(&node, &m.args[0], &cause) == 0);
	msg_free(&m);
	CHECK(node.optim.kind == PS_OPTIM_ADAM);
	CHECK(node.optim.factors == 8 && node.optim.dim == 9);
	CHECK(node.optim.lr == job.optim.lr);
	CHECK(node.consistency == PS_SSP);
	CHECK(node.batch_size == 33);
	wbuf_free(&w);
	conf_free(&job);
	conf_free(&node);
}

int
main(void)
{
	RUN(test_given_only);
	RUN(test_check);
	RUN(test_bad_maps);
	RUN(test_apply);
	return UNIT_DONE();
}
