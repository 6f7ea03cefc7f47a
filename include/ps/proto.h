/*
 * The wire protocol, in one place. Bump PS_PROTOCOL_VERSION with any change here.
 *
 * A frame is a 4-byte big-endian length and one msgpack array:
 *   [version, type, id, sender, epoch, clock, arg...]
 * id pairs a reply with its request; sender is the node id (0 before registration);
 * epoch is the sender's cluster-map epoch; clock the worker clock. Bulk data travels as
 * msgpack bin: keys as little-endian uint64, values as little-endian float32.
 * The argument formats below use the letters of msg_check(): u uint, i int, f float,
 * s str, b bin, a array, m map, t bool, '*' anything.
 */
#ifndef PS_PROTO_H
#define PS_PROTO_H

#define PS_PROTOCOL_VERSION	1
#define PS_HDR_FIELDS		6

enum ps_msg_type {
	/* 0x00xx: handshake and errors */
	PS_MSG_HELLO = 0x0001,		/* "uus": role, node id, program name */
	PS_MSG_HELLO_OK,		/* "uu": role, node id of the answering side */
	PS_MSG_ERROR,			/* "us": error code, text */

	/* 0x01xx: membership */
	PS_MSG_REGISTER = 0x0100,	/* "usu": role, host, port where it listens (0: none) */
	PS_MSG_REGISTER_OK,		/* "uu" + map: node id, rank (worker: 0..W-1) */
	PS_MSG_MAP,			/* map: scheduler -> server; also the reply to GET_MAP */
	PS_MSG_MAP_ACK,			/* "u": epoch now in force on the server */
	PS_MSG_GET_MAP,			/* "" */
	PS_MSG_HEARTBEAT,		/* "": no reply */
	PS_MSG_BARRIER,			/* "s": barrier name; the reply waits for every live worker */
	PS_MSG_BARRIER_OK,		/* "s" */
	PS_MSG_DONE,			/* "u": a worker finished, with its exit status; no reply */
	PS_MSG_SHUTDOWN,		/* "": scheduler -> server: the job is over */

	/* 0x02xx: data */
	PS_MSG_PULL = 0x0200,		/* "b": sorted unique keys */
	PS_MSG_PULL_OK,			/* "b": values, dim floats per key */
	PS_MSG_PUSH,			/* "bb": sorted unique keys, gradients (dim floats per key) */
	PS_MSG_PUSH_OK,			/* "u": keys applied */
	PS_MSG_MOVED,			/* "u": server's epoch; a key's slot is not served here */

	/* 0x03xx: control */
	PS_MSG_STATUS = 0x0300,		/* "" */
	PS_MSG_STATUS_OK,		/* "m": name -> value */
};

enum ps_role {
	PS_ROLE_SCHEDULER = 0,
	PS_ROLE_SERVER,
	PS_ROLE_WORKER,		/* trains; counted in barriers and in the end of the job */
	PS_ROLE_CLIENT,		/* predicts, benchmarks, ps-ctl: not counted */
};

/* Error codes: whose fault it is, as memcached's CLIENT_ERROR and SERVER_ERROR. */
enum ps_err {
	PS_ERR_CLIENT = 1,	/* the request was malformed */
	PS_ERR_SERVER,		/* the answering side failed */
	PS_ERR_VERSION,		/* protocol versions differ */
	PS_ERR_STATE,		/* not now: e.g. the cluster is full or not ready */
};

const char	*proto_type_name(unsigned int type);
const char	*proto_role_name(unsigned int role);

#endif
