/* Internals of the daemon shared by agent/daemon.c (loop, reload) and
 * agent/daemon_status.c (status JSON and Prometheus text). */
#ifndef KW_DAEMON_INT_H
#define KW_DAEMON_INT_H

#include <stdint.h>
#include <time.h>

#include "agent/conf/config.h"
#include "agent/daemon/daemon.h"
#include "agent/tunnel/tunnel.h"

struct event;
struct event_base;
struct evdns_base;
struct kw_renewer;
struct kw_control;
struct kw_metrics;

struct kw_daemon {
	struct event_base *base;
	struct evdns_base *dns;
	struct kw_config *conf;		/* in force (template for gens) */
	char *config_path;
	struct kw_keycache *kc;
	struct kw_tunnel **tunnels;	/* listening, in config order */
	size_t ntunnels;
	char **fingerprints;		/* per tunnel: its files' stat */
	struct kw_tunnel **draining;	/* left the config, conns remain */
	size_t ndraining;
	struct kw_renewer *rn;
	struct kw_renewer **retired;	/* replaced, stopping: joined once
					 * stopped, never waited for */
	size_t nretired;
	int wake_fd[2];			/* renewer thread -> loop */
	struct event *ev_wake, *ev_hup, *ev_term, *ev_int, *ev_watch,
	    *ev_watchdog;
	struct kw_control *ctl;
	struct kw_metrics *met;
	time_t started;
	uint64_t reloads, reload_failures;
	time_t last_reload;
	char last_reload_error[256];
	/* Landlock in force (the network process of the signer), and the
	 * control socket it was planned with; restart: a reload needed a
	 * directory outside it, so the loop stopped to be started again */
	struct kw_landlock *ll;
	char *ll_control;
	int restart;
	/* workers (daemon.h): counters published to the shared region */
	unsigned worker, workers;
	void *shared;
	const unsigned char *ticket_key;
	struct event *ev_publish;
	int publish_warned;
};

/* The stats of tunnel t summed over every worker (the primary; others
 * and one worker: t's own).  snap: kw_daemon_snapshot's copy or NULL. */
struct kw_wk_slot;
void kw_daemon_tunnel_stats(const struct kw_daemon *d,
    const struct kw_wk_slot *snap, struct kw_tunnel *t, int draining,
    struct kw_tunnel_stats *st);
/* Copies of the other workers' slots (d->workers of them, the primary's
 * own left empty); NULL with one worker or out of memory.  free(). */
struct kw_wk_slot *kw_daemon_snapshot(const struct kw_daemon *d);

/* `keyward status --json` answer; Prometheus text.  malloc'd. */
char *kw_daemon_status_json(struct kw_daemon *d);
char *kw_daemon_metrics_text(void *daemon);

#endif
