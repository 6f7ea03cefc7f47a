/* The hosts file of ps-launch (a contract, see ps-launch(1)): where the scheduler,
 * the servers and the workers run, and how to reach each host over ssh. */
#ifndef PS_HOSTS_H
#define PS_HOSTS_H

/* How to reach a host: the file's "ssh:" defaults, overridden per entry. */
struct ps_ssh {
	char	 *user;		/* NULL: ssh's default */
	int	  port;		/* 0: ssh's default */
	char	 *identity;	/* -i; NULL: none */
	char	**options;	/* each passed as -o */
	int	  noptions;
	char	 *bin;		/* folder of the programs there; NULL: the remote PATH */
};

struct ps_host {
	char		*host;		/* the ssh destination */
	char		*address;	/* where the others reach this node: host by default */
	char		*data;		/* workers: the command whose stdout is the data */
	unsigned long	 line;		/* of the entry, for messages */
	struct ps_ssh	 ssh;
};

struct ps_hosts {
	struct ps_host	 scheduler;
	struct ps_host	*servers;
	int		 nservers;
	struct ps_host	*workers;
	int		 nworkers;
};

/* Read and check a hosts file; on error -1 and *cause ("FILE:LINE: what"), to free. */
int	hosts_load(struct ps_hosts *, const char *path, char **cause);
void	hosts_free(struct ps_hosts *);

#endif
