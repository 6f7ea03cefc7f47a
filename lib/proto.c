/* Names of protocol constants, for logs and errors. */
#include "ps/proto.h"

const char *
proto_type_name(unsigned int type)
{
	switch (type) {
	case PS_MSG_HELLO: return "HELLO";
	case PS_MSG_HELLO_OK: return "HELLO_OK";
	case PS_MSG_ERROR: return "ERROR";
	case PS_MSG_REGISTER: return "REGISTER";
	case PS_MSG_REGISTER_OK: return "REGISTER_OK";
	case PS_MSG_MAP: return "MAP";
	case PS_MSG_MAP_ACK: return "MAP_ACK";
	case PS_MSG_GET_MAP: return "GET_MAP";
	case PS_MSG_HEARTBEAT: return "HEARTBEAT";
	case PS_MSG_BARRIER: return "BARRIER";
	case PS_MSG_BARRIER_OK: return "BARRIER_OK";
	case PS_MSG_DONE: return "DONE";
	case PS_MSG_SHUTDOWN: return "SHUTDOWN";
	case PS_MSG_PULL: return "PULL";
	case PS_MSG_PULL_OK: return "PULL_OK";
	case PS_MSG_PUSH: return "PUSH";
	case PS_MSG_PUSH_OK: return "PUSH_OK";
	case PS_MSG_MOVED: return "MOVED";
	case PS_MSG_STATUS: return "STATUS";
	case PS_MSG_STATUS_OK: return "STATUS_OK";
	}
	return "unknown message";
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
