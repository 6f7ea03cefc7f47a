/* What every program's command line shares: -c FILE, -o name=value, -v, -q, -n,
 * --help, --version. Each main adds its own flags. */
#ifndef PS_CLI_H
#define PS_CLI_H

#include "ps/conf.h"

#define PS_VERSION	"0.1.0"

/* Exit codes, the same for every program. */
#define PS_EXIT_OK	0
#define PS_EXIT_ERROR	1	/* runtime failure: bad input data, a peer failed */
#define PS_EXIT_USAGE	2	/* bad command line or configuration */

struct ps_cli {
	const char	 *conf_path;
	char		**overrides;
	int		  noverrides;
	int		  verbose;	/* -v: +1, -q: -1 */
	int		  check_only;	/* -n */
};

void	cli_init(struct ps_cli *);
void	cli_free(struct ps_cli *);
/* Handle a shared option (c, o, v, q, n); 1 if it was one. */
int	cli_option(struct ps_cli *, int ch, const char *arg);
/* Load the configuration file, then apply the -o overrides, then check. On error
 * prints "prog: error: ..." and exits PS_EXIT_USAGE. With -n prints
 * "configuration OK" and exits 0. */
void	cli_load(struct ps_cli *, struct ps_conf *);
/* Print the --help lines of the shared options on stdout. */
void	cli_help(void);
/* Print "prog VERSION (protocol N)" on stdout. */
void	cli_version(const char *progname);

#endif
