/* The daemon: tunnels (and identity renewal) from one config in one
 * libevent loop; reloads on SIGHUP, on changed certificate/key/CA/CRL
 * files, and after an identity was renewed, without dropping established
 * connections (they keep their generation: see tunnel.h). */
#ifndef KW_DAEMON_H
#define KW_DAEMON_H

struct kw_daemon;
struct kw_config;

struct kw_daemon_opts {
	const char *config_path;	/* NULL: conf came from the CLI */
	const char *control_socket;	/* overrides the config; NULL: its */
	int no_control;			/* no control socket at all */
	int sandbox;			/* Landlock + seccomp before serving
					 * (the network process of the
					 * signer) */
	int *restart;			/* sandbox: set to 1 when the daemon
					 * stopped because a reload needs to
					 * write outside its Landlock rules
					 * (the supervisor starts it again) */
	/* workers = N (sandbox only): this is worker `worker` of
	 * `workers`; 0 is the primary (control socket, metrics, renewal,
	 * unix listeners, require-posture tunnels), the others serve the
	 * TCP tunnels only.  shared: the region of agent/daemon/workers.h
	 * (NULL with one worker). */
	unsigned worker, workers;
	void *shared;
	/* workers > 1: the TLS 1.3 ticket key they share (KW_TICKET_KEY_LEN
	 * bytes, alive as long as the daemon) */
	const unsigned char *ticket_key;
};

/* Run until SIGTERM/SIGINT.  conf is taken over.  Returns KW_OK after a
 * clean stop, or the error that kept the daemon from starting. */
int kw_daemon_run(struct kw_config *conf, const struct kw_daemon_opts *opts);

/* Schedule a reload of identities and TLS contexts (the SIGHUP path,
 * minus re-reading the config file).  Safe from any thread: it only
 * wakes the event loop.  Its signature is kw_renew_cb's (renew.h), so the
 * renewal runner calls it directly after each successful renewal. */
void kw_daemon_identity_renewed(void *daemon, const char *name,
    const char *key_ref, const char *cert_file, const char *chain_file);
void kw_daemon_request_reload(struct kw_daemon *d);

/* The default control socket: $RUNTIME_DIRECTORY/control, else
 * /run/keyward/control for root, else $XDG_RUNTIME_DIR/keyward/control. */
int kw_control_default_path(char *buf, unsigned len);

#endif
