/* A blocking connection for clients (workers, ps-bench, ps-ctl): send frames,
 * receive one frame at a time. */
#ifndef PS_CONN_H
#define PS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "ps/msg.h"
#include "ps/rbuf.h"

struct ps_conn {
	int		 fd;
	char		 name[80];	/* "host:port" for errors */
	size_t		 max_frame;
	struct ps_rbuf	 in;		/* received bytes; a decoded message points here */
	uint32_t	 peer_role;	/* from HELLO_OK */
	uint32_t	 peer_id;
	int		 timed_out;	/* the last conn_recv failed for lack of an
					 * answer in time (what it read is kept) */
};

/* Connect and shake hands (HELLO as role/id/program name), each within
 * NET_CONNECT_SECS. A refused connection is tried again up to retries times, after
 * 0.1 s, doubling up to CONN_RETRY_MAX; each retry is logged (info). 0 or -1 and
 * cause. */
#define CONN_RETRY_MAX	5.0
/* The wait before retry number tries (from 0): 0.1 s, doubling up to CONN_RETRY_MAX.
 * The daemons' retries of their scheduler follow it too. */
double	conn_retry_delay(int tries);
int	conn_open(struct ps_conn *, const char *host, int port, uint32_t role, uint32_t id,
	    const char *progname, size_t max_frame, int retries, char **cause);
void	conn_close(struct ps_conn *);
/* Fail a send or a receive that makes no progress for secs (0: wait forever). */
void	conn_set_timeout(struct ps_conn *, double secs);
/* The same, for receives only. */
void	conn_set_recv_timeout(struct ps_conn *, double secs);
/* Write all of w's frames and reset w. */
int	conn_send(struct ps_conn *, struct ps_wbuf *w, char **cause);
/* Read and decode the next frame into m, valid until the next conn_recv. */
int	conn_recv(struct ps_conn *, struct ps_msg *m, char **cause);
/* conn_recv, then: ERROR becomes -1 with its text as cause; any type other than
 * want is -1 too. m must be msg_free'd only on success. */
int	conn_expect(struct ps_conn *, struct ps_msg *m, uint32_t want, char **cause);
/* What conn_expect does with the frame received. */
int	conn_check_reply(struct ps_conn *, struct ps_msg *m, uint32_t want, char **cause);
/* Send and conn_expect. */
int	conn_call(struct ps_conn *, struct ps_wbuf *w, struct ps_msg *m, uint32_t want,
	    char **cause);
/* Bytes this process has read and written on all its connections. */
void	conn_bytes(uint64_t *in, uint64_t *out);

#endif
