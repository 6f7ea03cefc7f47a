/*
 * The wire protocol, in one place. Bump PS_PROTOCOL_VERSION with any change here.
 *
 * A frame is a 4-byte big-endian length and one msgpack array:
 *   [version, type, id, sender, epoch, clock, arg...]
 * id pairs a reply with its request; sender is the node id (0 before registration);
 * epoch is the sender's cluster-map epoch; clock the worker clock. Bulk data travels as
 * msgpack bin: keys as little-endian uint64, values as little-endian float32, slot
 * lists as little-endian uint16.
 *
 * Every message type has one row in the protocol table (lib/proto.c): its name, its
 * argument format, which roles may send it, and whether it is a reply. The peer layer
 * checks all three before a handler sees a message, and routes replies to the request
 * that is waiting for them. Formats use the letters of msg_check(): u uint, i int,
 * f float, s str, b bin, a array, m map, t bool, '*' anything; a trailing '.' allows
 * more arguments.
 */
#ifndef PS_PROTO_H
#define PS_PROTO_H

#include <stdint.h>

#define PS_PROTOCOL_VERSION	5
#define PS_HDR_FIELDS		6

enum ps_msg_type {
	/* 0x00xx: handshake and errors */
	PS_MSG_HELLO = 0x0001,		/* role, node id, program name, nonce */
	PS_MSG_HELLO_OK,		/* role, node id of the answering side, its nonce,
					 * its proof of the secret (ps/auth.h) */
	PS_MSG_ERROR,			/* error code, text: the reply to any request */
	PS_MSG_AUTH,			/* the connecting side's proof of the secret */
	PS_MSG_AUTH_OK,			/* (none): the proof is good */

	/* 0x01xx: membership */
	PS_MSG_REGISTER = 0x0100,	/* role, host, port where it listens (0: none),
					 * and, optionally, the node id it had: a
					 * scheduler resumed from its state file takes
					 * the node back under that id */
	PS_MSG_REGISTER_OK,		/* node id, rank (worker: 0..W-1), the map, flags
					 * (PS_REGISTER_*) */
	PS_MSG_MAP,			/* the map: scheduler -> server; also GET_MAP's reply */
	PS_MSG_MAP_ACK,			/* epoch now in force on the server */
	PS_MSG_GET_MAP,			/* (none) */
	PS_MSG_HEARTBEAT,		/* stats map (name -> number): no reply */
	PS_MSG_BARRIER,			/* barrier name; the reply waits for every live worker */
	PS_MSG_BARRIER_OK,		/* barrier name */
	PS_MSG_DONE,			/* a worker finished, with its exit status; no reply */
	PS_MSG_SHUTDOWN,		/* scheduler -> server: the job is over; no reply */
	PS_MSG_FENCE,			/* scheduler -> server: node id declared dead: refuse
					 * its requests from now on; no reply */
	PS_MSG_CLOCK,			/* worker: about to compute clock c (ssp, bsp) */
	PS_MSG_CLOCK_OK,		/* the slowest live worker's clock: it may */

	/* 0x02xx: data */
	PS_MSG_PULL = 0x0200,		/* sorted unique keys */
	PS_MSG_PULL_OK,			/* values, dim floats per key */
	PS_MSG_PUSH,			/* sorted unique keys, gradients (dim floats per key),
					 * and, optionally, true: this is a retry, with the
					 * same id, of a push that may have been applied */
	PS_MSG_PUSH_OK,			/* keys applied */
	PS_MSG_MOVED,			/* server's epoch, owners [[id, host, port], ...], and
					 * (slot, owner index) uint16 pairs: the request's slots
					 * not served here and where they are now (index 0xffff:
					 * unknown, ask the scheduler) */
	PS_MSG_REPLICATE,		/* owner -> backup: the client's node id and
					 * request id of the PUSH or LOAD applied, sorted
					 * keys, their whole states after it (the server's
					 * width of floats per key) */
	PS_MSG_REPLICATE_OK,		/* keys stored */

	/* 0x03xx: control, from ps-ctl (role client) to the scheduler */
	PS_MSG_STATUS = 0x0300,		/* (none) */
	PS_MSG_STATUS_OK,		/* map: see ps-ctl(1) */
	PS_MSG_RESHARD,			/* first slot, last slot, destination node id */
	PS_MSG_REBALANCE,		/* (none) */
	PS_MSG_DRAIN,			/* node id */
	PS_MSG_STOP,			/* (none): end the job cleanly */
	PS_MSG_CTL_OK,			/* map: what was done (moves, slots, keys, seconds, epoch) */

	/* 0x04xx: slot hand-over, scheduler -> server and server -> server */
	PS_MSG_IMPORT = 0x0400,		/* source node id, slots: expect them from the source */
	PS_MSG_IMPORT_OK,		/* (none) */
	PS_MSG_MIGRATE,			/* destination id, host, port, slots: send them there */
	PS_MSG_MIGRATE_OK,		/* slots moved (the first ones of the list), keys
					 * moved, and why the rest did not ("": all did) */
	PS_MSG_SLOT_DATA,		/* width, slots, per-slot counts (uint32), keys, state
					 * floats (width per key), slots completed by this frame */
	PS_MSG_SLOT_DATA_OK,		/* keys loaded */
	PS_MSG_REPLICA_SYNC,		/* owner -> new backup: width, slots to empty first,
					 * then SLOT_DATA's five lists; answered with
					 * SLOT_DATA_OK */

	/* 0x05xx: checkpoints */
	PS_MSG_SAVE = 0x0500,		/* scheduler -> server: the checkpoint's folder; the
					 * server writes its slots there from a fork()ed child */
	PS_MSG_SAVE_OK,			/* file name (in the folder), keys, fork pause (s) */
	PS_MSG_CKPT_SAVE,		/* ps-ckpt -> scheduler: the folder; answered with
					 * CTL_OK {epoch, files, keys, pause, seconds} once
					 * every server has written its file */
	PS_MSG_LOAD,			/* sorted unique keys, whole states (the server's
					 * width of floats per key): they replace the keys'
					 * state (restoring a checkpoint) */
	PS_MSG_LOAD_OK,			/* keys loaded */
	PS_MSG_RESTORE,			/* scheduler -> server: a checkpoint's folder and
					 * slots (of a lost server, without replicas) to
					 * load from it and serve */
	PS_MSG_RESTORE_OK,		/* keys loaded */
};

enum ps_role {
	PS_ROLE_SCHEDULER = 0,
	PS_ROLE_SERVER,
	PS_ROLE_WORKER,		/* trains; counted in barriers and in the end of the job */
	PS_ROLE_CLIENT,		/* predicts, benchmarks, ps-ctl: not counted */
	PS_NROLES
};

#define PS_ROLE_BIT(r)	(1u << (r))
#define PS_FROM_SCHED	PS_ROLE_BIT(PS_ROLE_SCHEDULER)
#define PS_FROM_SERVER	PS_ROLE_BIT(PS_ROLE_SERVER)
#define PS_FROM_WORKER	PS_ROLE_BIT(PS_ROLE_WORKER)
#define PS_FROM_CLIENT	PS_ROLE_BIT(PS_ROLE_CLIENT)
#define PS_FROM_ANY	(PS_FROM_SCHED | PS_FROM_SERVER | PS_FROM_WORKER | PS_FROM_CLIENT)

/* REGISTER_OK's flags. */
#define PS_REGISTER_RESUMABLE	0x1	/* the scheduler keeps a state file: if it is
					 * lost, connect again, it may come back */
#define PS_REGISTER_TAKEN_BACK	0x2	/* the node was taken back under the id it
					 * had (its data is still the job's) */

/* Error codes: whose fault it is, as memcached's CLIENT_ERROR and SERVER_ERROR. */
enum ps_err {
	PS_ERR_CLIENT = 1,	/* the request was malformed or not allowed */
	PS_ERR_SERVER,		/* the answering side failed */
	PS_ERR_VERSION,		/* protocol versions differ */
	PS_ERR_STATE,		/* not now: e.g. the cluster is full or not ready */
	PS_ERR_TIMEOUT,		/* a peer the request needed did not answer in time */
	PS_ERR_AUTH,		/* no proof, or a wrong proof, of the shared secret */
	PS_ERR_RETRY,		/* not applied on every copy (a copy was lost or the
				 * owner changed): fetch the map, send it again with
				 * the same id and the retry flag */
};

/* One row of the protocol table. */
struct ps_proto {
	uint32_t	 type;
	const char	*name;
	const char	*fmt;		/* argument format, letters of msg_check() */
	uint32_t	 from;		/* PS_FROM_* bits: roles that may send it */
	int		 reply;		/* 1: answers a request, routed by id */
};

/* The row of a type, or NULL if the type is unknown. */
const struct ps_proto *proto_lookup(uint32_t type);
const char	*proto_type_name(unsigned int type);
const char	*proto_role_name(unsigned int role);

#endif
