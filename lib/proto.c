/*
 * The protocol table (after redis' commandTable): one row per message type gives its
 * name, its argument format and the roles that may send it, and says whether it is a
 * reply. The peer layer checks a message against its row before any handler runs, so
 * handlers only ever see well-formed messages from a role allowed to send them.
 */
#include <stddef.h>

#include "ps/map.h"
#include "ps/proto.h"

#define ANY	PS_FROM_ANY
#define SCHED	PS_FROM_SCHED
#define SERVER	PS_FROM_SERVER
#define WORKER	PS_FROM_WORKER
#define CLIENT	PS_FROM_CLIENT

static const struct ps_proto table[] = {
	{ PS_MSG_HELLO,		"HELLO",	"uusb",		ANY, 0 },
	{ PS_MSG_HELLO_OK,	"HELLO_OK",	"uubb",		ANY, 1 },
	{ PS_MSG_ERROR,		"ERROR",	"us",		ANY, 1 },
	{ PS_MSG_AUTH,		"AUTH",		"b",		ANY, 0 },
	{ PS_MSG_AUTH_OK,	"AUTH_OK",	"",		ANY, 1 },

	{ PS_MSG_REGISTER,	"REGISTER",	"usu.",		SERVER | WORKER | CLIENT, 0 },
	{ PS_MSG_REGISTER_OK,	"REGISTER_OK",	"uu" PS_MAP_FMT "um", SCHED, 1 },
	{ PS_MSG_MAP,		"MAP",		PS_MAP_FMT,	SCHED, 0 },
	{ PS_MSG_MAP_ACK,	"MAP_ACK",	"u",		SERVER, 1 },
	{ PS_MSG_GET_MAP,	"GET_MAP",	"",		SERVER | WORKER | CLIENT, 0 },
	{ PS_MSG_HEARTBEAT,	"HEARTBEAT",	"m",		SERVER | WORKER | CLIENT, 0 },
	{ PS_MSG_BARRIER,	"BARRIER",	"s",		WORKER, 0 },
	{ PS_MSG_BARRIER_OK,	"BARRIER_OK",	"s",		SCHED, 1 },
	{ PS_MSG_DONE,		"DONE",		"u",		WORKER, 0 },
	{ PS_MSG_SHUTDOWN,	"SHUTDOWN",	"",		SCHED, 0 },
	{ PS_MSG_FENCE,		"FENCE",	"u",		SCHED, 0 },
	{ PS_MSG_CLOCK,		"CLOCK",	"u",		WORKER, 0 },
	{ PS_MSG_CLOCK_OK,	"CLOCK_OK",	"u",		SCHED, 1 },

	{ PS_MSG_PULL,		"PULL",		"b",		WORKER | CLIENT, 0 },
	{ PS_MSG_PULL_OK,	"PULL_OK",	"b",		SERVER, 1 },
	{ PS_MSG_PUSH,		"PUSH",		"bb.",		WORKER | CLIENT, 0 },
	{ PS_MSG_PUSH_OK,	"PUSH_OK",	"u",		SERVER, 1 },
	{ PS_MSG_MOVED,		"MOVED",	"uab",		SERVER, 1 },
	{ PS_MSG_REPLICATE,	"REPLICATE",	"uubb",		SERVER, 0 },
	{ PS_MSG_REPLICATE_OK,	"REPLICATE_OK",	"u",		SERVER, 1 },

	{ PS_MSG_STATUS,	"STATUS",	"",		ANY, 0 },
	{ PS_MSG_STATUS_OK,	"STATUS_OK",	"m",		SCHED | SERVER, 1 },
	{ PS_MSG_RESHARD,	"RESHARD",	"uuu",		CLIENT, 0 },
	{ PS_MSG_REBALANCE,	"REBALANCE",	"",		CLIENT, 0 },
	{ PS_MSG_DRAIN,		"DRAIN",	"u",		CLIENT, 0 },
	{ PS_MSG_STOP,		"STOP",		"",		CLIENT, 0 },
	{ PS_MSG_CTL_OK,	"CTL_OK",	"m",		SCHED, 1 },

	{ PS_MSG_IMPORT,	"IMPORT",	"ub",		SCHED, 0 },
	{ PS_MSG_IMPORT_OK,	"IMPORT_OK",	"",		SERVER, 1 },
	{ PS_MSG_MIGRATE,	"MIGRATE",	"usub",		SCHED, 0 },
	{ PS_MSG_MIGRATE_OK,	"MIGRATE_OK",	"uus",		SERVER, 1 },
	{ PS_MSG_SLOT_DATA,	"SLOT_DATA",	"ubbbbb",	SERVER, 0 },
	{ PS_MSG_SLOT_DATA_OK,	"SLOT_DATA_OK",	"u",		SERVER, 1 },
	{ PS_MSG_REPLICA_SYNC,	"REPLICA_SYNC",	"ubbbbbb",	SERVER, 0 },

	{ PS_MSG_SAVE,		"SAVE",		"s",		SCHED, 0 },
	{ PS_MSG_SAVE_OK,	"SAVE_OK",	"suf",		SERVER, 1 },
	{ PS_MSG_CKPT_SAVE,	"CKPT_SAVE",	"s",		CLIENT, 0 },
	{ PS_MSG_LOAD,		"LOAD",		"bb",		CLIENT, 0 },
	{ PS_MSG_LOAD_OK,	"LOAD_OK",	"u",		SERVER, 1 },
	{ PS_MSG_RESTORE,	"RESTORE",	"sb",		SCHED, 0 },
	{ PS_MSG_RESTORE_OK,	"RESTORE_OK",	"u",		SERVER, 1 },
};

const struct ps_proto *
proto_lookup(uint32_t type)
{
	size_t i;

	for (i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].type == type)
			return &table[i];
	return NULL;
}

const char *
proto_type_name(unsigned int type)
{
	const struct ps_proto *p = proto_lookup(type);

	return p != NULL ? p->name : "unknown message";
}

const char *
proto_role_name(unsigned int role)
{
	switch (role) {
	case PS_ROLE_SCHEDULER: return "scheduler";
	case PS_ROLE_SERVER: return "server";
	case PS_ROLE_WORKER: return "worker";
	case PS_ROLE_CLIENT: return "client";
	}
	return "unknown role";
}
