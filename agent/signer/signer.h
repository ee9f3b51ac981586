/* The signer process of `keyward run` (issue 13): the only process of the
 * daemon that opens keys.  See agent/signer/README.md. */
#ifndef KW_SIGNER_SERVE_H
#define KW_SIGNER_SERVE_H

/* Serve the protocol of common/kw_signer.h on client (a socketpair end)
 * and on every further end that arrives on ctl (SCM_RIGHTS from the
 * supervisor) until SIGTERM or until ctl closes.  Keys are those that
 * the config at config_path names (re-read when asked for one it does
 * not know).  sandbox: no network sockets (seccomp).  Returns KW_OK or
 * the error that kept it from starting. */
int kw_signer_serve(const char *config_path, int client, int ctl,
    int sandbox);

/* The supervisor: `keyward run` itself.  It starts the signer (this
 * binary re-executed: `keyward __signer`, the socket ends on fds 3 and 4)
 * and `workers` network processes (fork; network() runs there with the
 * worker's number, its end of its own signer socket and the socket a new
 * end arrives on after a signer restart), restarts each when it dies
 * (the others keep serving), forwards SIGHUP to all and SIGTERM.  gone()
 * (may be NULL) runs in the supervisor when worker w has ended.
 * Returns a network process's exit code once one exits by itself. */
#define KW_SUP_MAX_WORKERS	16
struct kw_supervise_opts {
	const char *config_path;
	int verbose;
	unsigned workers;		/* 1..KW_SUP_MAX_WORKERS (0: 1) */
	int (*network)(void *arg, unsigned worker, int signer_fd,
	    int ctl_fd);
	void (*gone)(void *arg, unsigned worker);
	void *arg;
};
int kw_supervise(const struct kw_supervise_opts *o);
/* network() returns this to be started again (a reload needs to write
 * where the process's Landlock rules do not allow: landlock.h). */
#define KW_SUP_EXIT_RESTART	75

/* Seccomp (libseccomp).  The network process: a syscall allow-list
 * without exec, ptrace, mount, module or key-ring calls.  The signer:
 * no listening or accepting sockets, no sockets but AF_UNIX unless a
 * TPM simulator is reached over TCP (inet).  KW_OK or KW_ERR_PERM. */
int kw_sandbox_network(void);
int kw_sandbox_signer(int inet);

#endif
