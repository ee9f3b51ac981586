/* The daemon (see daemon.h): one libevent loop for every tunnel, the
 * control socket and the metrics endpoint; identity renewal on its own
 * thread (renew.h), which wakes the loop through a pipe.
 *
 * Reload (SIGHUP, a changed file, a renewed identity): build everything
 * new first (config, identities, TLS contexts, new listeners); only if all
 * of it worked, switch the tunnels to their new generations.  Established
 * connections keep the generation they started with. */
#include <wolfssl/options.h>

#include <wolfssl/wolfcrypt/hmac.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_cancel.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_wolf.h"
#include "agent/conf/config.h"
#include "agent/daemon/control.h"
#include "agent/daemon/daemon_int.h"
#include "agent/keys/keyref.h"
#include "agent/daemon/metrics.h"
#include "agent/daemon/workers.h"
#include "agent/identity/renew.h"
#include "agent/tunnel/tunnel.h"
#include "agent/signer/landlock.h"
#include "agent/signer/signer.h"

int
kw_control_default_path(char *buf, unsigned len)
{
	const char *rd = getenv("RUNTIME_DIRECTORY");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (rd != NULL && *rd == '/') {
		/* systemd may list several, separated by ':' */
		n = snprintf(buf, len, "%.*s/control", (int)strcspn(rd, ":"), rd);
	} else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/keyward/control");
	else if (xdg != NULL && *xdg == '/')
		n = snprintf(buf, len, "%s/keyward/control", xdg);
	else {
		kw_err("no default control socket for uid %ld: set "
		    "control-socket in the config (or --socket)",
		    (long)geteuid());
		return KW_ERR_CONFIG;
	}
	return n > 0 && (unsigned)n < len ? KW_OK : KW_ERR_SPACE;
}

void
kw_daemon_request_reload(struct kw_daemon *d)
{
	char c = 'r';

	if (write(d->wake_fd[1], &c, 1) < 0 && errno != EAGAIN)
		kw_warn("cannot wake the daemon for a reload: %s",
		    strerror(errno));
}

void
kw_daemon_identity_renewed(void *daemon, const char *name,
    const char *key_ref, const char *cert_file, const char *chain_file)
{
	(void)key_ref;
	(void)chain_file;
	kw_info("identity %s renewed (%s): reloading its tunnels", name,
	    cert_file);
	kw_daemon_request_reload(daemon);
}

/* stat() of every file a generation was built from.  A worker other than
 * the primary (which renews) adds the state file of the tunnel's
 * identity: the primary's renewal rewrites it (key reference, certificate
 * file), and this worker's reload then reads it again. */
static char *
daemon_fingerprint(const struct kw_daemon *d, struct kw_tunnel_gen *g)
{
	const struct kw_tunnel_conf *tc = kw_tunnel_gen_conf(g);
	const char *ref = kw_tunnel_gen_key_ref(g);
	const char *files[5];
	char *out = NULL;
	size_t len = 0, i;
	struct stat st;
	FILE *f;

	files[0] = kw_tunnel_gen_cert_file(g);
	files[1] = tc->ca;
	files[2] = tc->crl;
	files[3] = strncmp(ref, "tpm:/", 5) == 0 ? ref + 4 : NULL;
	files[4] = NULL;
	if (d->worker > 0 && tc->identity != NULL)
		for (i = 0; i < d->conf->nids; i++)
			if (strcmp(kw_identity_conf_name(d->conf->ids[i]),
			    tc->identity) == 0)
				files[4] = kw_identity_conf_state(
				    d->conf->ids[i]);
	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	for (i = 0; i < 5; i++) {
		if (files[i] == NULL)
			continue;
		if (stat(files[i], &st) == 0)
			fprintf(f, "%lu:%lld:%lld.%09ld;", (unsigned long)st.st_ino,
			    (long long)st.st_size, (long long)st.st_mtim.tv_sec,
			    st.st_mtim.tv_nsec);
		else
			fprintf(f, "-;");
	}
	fclose(f);
	return out;
}

static void
daemon_set_log_level(const struct kw_config *conf)
{
	const char *journal = getenv("JOURNAL_STREAM");

	if (conf->log_level >= 0)
		kw_log_setup((enum kw_log_level)conf->log_level,
		    journal != NULL && *journal != '\0');
}

/* A client tunnel of an [identity] with `ak` (and no `ak` of its own)
 * answers posture with the identity's AK and event log. */
static int
daemon_identity_posture(const struct kw_config *conf, struct kw_tunnel_conf *tc)
{
	const char *ak, *log;
	size_t i;

	if (tc->identity == NULL || tc->mode != KW_TUNNEL_CLIENT ||
	    tc->ak != NULL)
		return KW_OK;
	for (i = 0; i < conf->nids; i++) {
		if (strcmp(kw_identity_conf_name(conf->ids[i]), tc->identity) != 0)
			continue;
		ak = kw_identity_conf_ak(conf->ids[i]);
		log = kw_identity_conf_event_log(conf->ids[i]);
		if ((ak != NULL && (tc->ak = strdup(ak)) == NULL) ||
		    (ak != NULL && log != NULL && tc->event_log == NULL &&
		    (tc->event_log = strdup(log)) == NULL))
			return KW_ERR_NOMEM;
		break;
	}
	return KW_OK;
}

static void
daemon_stat_text(FILE *f, const char *path)
{
	struct stat st;

	if (path != NULL && stat(path, &st) == 0)
		fprintf(f, "%s=%lu:%lld:%lld.%09ld;", path,
		    (unsigned long)st.st_ino, (long long)st.st_size,
		    (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	else
		fprintf(f, "%s=-;", path != NULL ? path : "");
}

static void
daemon_list_text(FILE *f, const struct kw_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		fprintf(f, "%zu:%s,", strlen(l->v[i]), l->v[i]);
	fputc(';', f);
}

/* workers > 1: tc's session-ticket key (config.h), HMAC-SHA256 of the
 * workers' shared secret over what a client must pass (allow-lists, CA
 * and CRL files by stat, TLS settings): the same in every worker that
 * read the same files, another after any change of those.  Not the
 * tunnel's own certificate and key: a renewal (which reaches the other
 * workers a watch-interval later) leaves the tickets valid everywhere. */
static int
daemon_ticket_key(const struct kw_daemon *d, struct kw_tunnel_conf *tc)
{
	static const char *const label[2] = { "keyward ticket name",
	    "keyward ticket key" };
	unsigned char mac[WC_SHA256_DIGEST_SIZE];
	char *text = NULL;
	size_t len = 0, i;
	Hmac h;
	FILE *f;
	int r = KW_OK;

	if (d->ticket_key == NULL || tc->mode != KW_TUNNEL_SERVER)
		return KW_OK;
	if ((f = open_memstream(&text, &len)) == NULL)
		return KW_ERR_NOMEM;
	fprintf(f, "%zu:%s;%d;%d;%d;%d;%s;", strlen(tc->name), tc->name,
	    tc->tls_min, tc->tls_max, tc->crl_hard_fail, tc->allow_all,
	    tc->ciphers ? tc->ciphers : "");
	daemon_stat_text(f, tc->ca);
	daemon_stat_text(f, tc->crl);
	daemon_stat_text(f, tc->require_posture);
	daemon_list_text(f, &tc->allow_cn);
	daemon_list_text(f, &tc->allow_san_dns);
	daemon_list_text(f, &tc->allow_san_uri);
	daemon_list_text(f, &tc->allow_ou);
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		return KW_ERR_NOMEM;
	}
	for (i = 0; i < 2 && r == KW_OK; i++) {
		if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0) {
			r = KW_ERR_TLS;
			break;
		}
		if (wc_HmacSetKey(&h, WC_SHA256, d->ticket_key,
		    KW_TICKET_KEY_LEN) != 0 ||
		    wc_HmacUpdate(&h, (const byte *)label[i],
		    (word32)strlen(label[i]) + 1) != 0 ||
		    wc_HmacUpdate(&h, (const byte *)text, (word32)len) != 0 ||
		    wc_HmacFinal(&h, mac) != 0)
			r = KW_ERR_TLS;
		else if (i == 0)
			memcpy(tc->ticket_key, mac, 16);
		else
			memcpy(tc->ticket_key + 16, mac, 32);
		wc_HmacFree(&h);
	}
	explicit_bzero(mac, sizeof(mac));
	free(text);
	tc->has_ticket_key = r == KW_OK;
	return r;
}

/* A generation for tunnel conf tc (copied), key and certificate from its
 * identity in rn when it names one. */
static int
daemon_gen_for(struct kw_daemon *d, const struct kw_config *conf,
    struct kw_renewer *rn, const struct kw_tunnel_conf *tc,
    struct kw_tunnel_gen **out)
{
	struct kw_renewer_info *info = NULL;
	struct kw_tunnel_conf *copy = NULL;
	const char *key = NULL, *cert = NULL, *chain = NULL;
	size_t i, n;
	int r;

	*out = NULL;
	if (tc->identity != NULL) {
		if ((info = calloc(1, sizeof(*info))) == NULL)
			return KW_ERR_NOMEM;
		n = rn ? kw_renewer_count(rn) : 0;
		for (i = 0; i < n; i++)
			if (kw_renewer_get(rn, i, info) == KW_OK &&
			    strcmp(info->name, tc->identity) == 0)
				break;
		if (i == n) {
			kw_err("tunnel %s: identity %s is not available",
			    tc->name, tc->identity);
			r = KW_ERR_CONFIG;
			goto out;
		}
		key = info->key_ref;
		cert = info->cert_file;
		chain = info->chain_file;
	}
	if ((r = kw_tunnel_conf_dup(tc, &copy)) != KW_OK)
		goto out;
	copy->reuse_port = d->workers > 1;
	if ((r = daemon_ticket_key(d, copy)) != KW_OK) {
		kw_err("tunnel %s: cannot derive the workers' session-ticket "
		    "key", tc->name);
		kw_tunnel_conf_free(copy);
		goto out;
	}
	if ((r = daemon_identity_posture(conf, copy)) != KW_OK) {
		kw_tunnel_conf_free(copy);
		goto out;
	}
	r = kw_tunnel_gen_new(copy, key, cert, chain, conf->tcti, conf->module,
	    conf->auth_file, d->kc, out);
out:
	free(info);
	return r;
}

static void
daemon_drain(struct kw_daemon *d, struct kw_tunnel *t)
{
	struct kw_tunnel **nd;

	kw_tunnel_stop_listening(t);
	if (kw_tunnel_active(t) == 0) {
		kw_tunnel_free(t);
		return;
	}
	nd = realloc(d->draining, (d->ndraining + 1) * sizeof(*nd));
	if (nd == NULL) {
		kw_tunnel_free(t);	/* closes its connections */
		return;
	}
	d->draining = nd;
	d->draining[d->ndraining++] = t;
	kw_info("tunnel %s left the configuration; its %llu connections go "
	    "on", kw_tunnel_name(t), (unsigned long long)kw_tunnel_active(t));
}

static void
daemon_sweep(struct kw_daemon *d)
{
	size_t i = 0;

	while (i < d->ndraining) {
		if (kw_tunnel_active(d->draining[i]) > 0) {
			i++;
			continue;
		}
		kw_tunnel_free(d->draining[i]);
		d->draining[i] = d->draining[--d->ndraining];
	}
}

/* Hand a replaced renewer its stop and keep it until its thread is gone:
 * a renewal waiting on a slow CA is cancelled, and the loop never waits
 * for it (a reload must not freeze the tunnels). */
static void
daemon_retire(struct kw_daemon *d, struct kw_renewer *rn)
{
	struct kw_renewer **nr;

	if (rn == NULL)
		return;
	kw_renewer_stop(rn);
	if (kw_renewer_stopped(rn)) {
		kw_renewer_free(rn);
		return;
	}
	nr = realloc(d->retired, (d->nretired + 1) * sizeof(*nr));
	if (nr == NULL) {
		kw_renewer_free(rn);	/* out of memory: join it here */
		return;
	}
	d->retired = nr;
	d->retired[d->nretired++] = rn;
}

static void
daemon_reap(struct kw_daemon *d)
{
	size_t i = 0;

	while (i < d->nretired) {
		if (!kw_renewer_stopped(d->retired[i])) {
			i++;
			continue;
		}
		kw_renewer_free(d->retired[i]);
		d->retired[i] = d->retired[--d->nretired];
	}
}

/* Landlock cannot widen: when the new config writes beneath a directory
 * the rules in force do not allow (a new identity elsewhere, a new unix
 * listener), stop the loop so that the supervisor starts the network
 * process again with the new config (the signer keeps the keys open; the
 * connections of this process are dropped).  1 when stopping. */
static int
daemon_landlock_restart(struct kw_daemon *d, const struct kw_config *nc)
{
	struct kw_landlock *want = NULL;
	const char *missing;
	int stop = 0;

	if (kw_landlock_plan(nc, d->ll_control, &want) != KW_OK)
		return 0;	/* out of memory: the reload fails anyway */
	if (!kw_landlock_covers(d->ll, want, &missing)) {
		kw_warn("reload: the new configuration writes beneath %s, "
		    "which this network process's Landlock rules do not "
		    "allow: restarting the network process (its "
		    "connections are dropped)", missing);
		d->restart = 1;
		event_base_loopbreak(d->base);
		stop = 1;
	}
	kw_landlock_free(want);
	return stop;
}

/* A worker other than the primary serves the TCP tunnels without
 * require-posture: unix listeners (one socket file) and the posture
 * bindings (one state file) stay with the primary. */
static void
daemon_worker_conf(const struct kw_daemon *d, struct kw_config *conf)
{
	size_t i, n = 0;

	if (d->worker == 0 || conf == NULL)
		return;
	for (i = 0; i < conf->ntunnels; i++) {
		if (conf->tunnels[i]->listen.is_unix ||
		    conf->tunnels[i]->require_posture != NULL) {
			kw_debug("tunnel %s: served by network process 0 only",
			    conf->tunnels[i]->name);
			kw_tunnel_conf_free(conf->tunnels[i]);
			continue;
		}
		conf->tunnels[n++] = conf->tunnels[i];
	}
	conf->ntunnels = n;
}

/* This worker's counters into its slot of the shared region. */
static void
daemon_publish(struct kw_daemon *d)
{
	struct kw_wk_slot *slot = kw_wk_slot(d->shared, d->workers,
	    d->worker);
	struct kw_tunnel *t;
	size_t i, n = 0, all = d->ntunnels + d->ndraining;

	if (slot == NULL)
		return;
	kw_wk_begin(slot);
	slot->pid = (int32_t)getpid();
	slot->updated_ms = (uint64_t)kw_now_ms();
	for (i = 0; i < all && n < KW_WK_TUNNELS; i++) {
		t = i < d->ntunnels ? d->tunnels[i] :
		    d->draining[i - d->ntunnels];
		snprintf(slot->t[n].name, KW_WK_NAME, "%s", kw_tunnel_name(t));
		slot->t[n].draining = i >= d->ntunnels;
		kw_tunnel_stats(t, &slot->t[n].st);
		n++;
	}
	slot->ntunnels = (uint32_t)n;
	kw_wk_end(slot);
	if (all > KW_WK_TUNNELS && !d->publish_warned) {
		kw_warn("%zu tunnels: only the first %d are counted in "
		    "`keyward status` across network processes", all,
		    KW_WK_TUNNELS);
		d->publish_warned = 1;
	}
}

static void
daemon_publish_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	daemon_publish(arg);
}

/* Build and switch.  reread: read the config file again. */
static int
daemon_reload(struct kw_daemon *d, int reread, int initial)
{
	struct kw_config *nc = NULL, *conf;
	struct kw_renewer *nrn = NULL, *rn;
	struct kw_tunnel_gen **gens = NULL;
	struct kw_tunnel **nt = NULL, *old;
	unsigned char *reused = NULL, *fresh = NULL;
	char **fps = NULL;
	size_t i, j, n;
	int r;

	if (!initial)
		sd_notify(0, "RELOADING=1");
	if (reread && d->config_path != NULL &&
	    (r = kw_config_load(d->config_path, &nc)) != KW_OK)
		goto out;
	daemon_worker_conf(d, nc);
	conf = nc ? nc : d->conf;
	/* a worker other than the primary does not renew: it reads the
	 * identities' state files again at every reload */
	if (nc != NULL || initial || d->worker > 0) {
		if (conf->nids > 0 && (r = kw_renewer_new(conf->ids, conf->nids,
		    kw_daemon_identity_renewed, d, &nrn)) != KW_OK) {
			kw_err("cannot open the identities");
			goto out;
		}
		rn = nrn;
	} else
		rn = d->rn;
	n = conf->ntunnels;
	if ((gens = calloc(n + 1, sizeof(*gens))) == NULL ||
	    (nt = calloc(n + 1, sizeof(*nt))) == NULL ||
	    (fps = calloc(n + 1, sizeof(*fps))) == NULL ||
	    (fresh = calloc(n + 1, 1)) == NULL ||
	    (reused = calloc(d->ntunnels + 1, 1)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((r = daemon_gen_for(d, conf, rn, conf->tunnels[i],
		    &gens[i])) != KW_OK)
			goto out;
	/* The new config works (identities, TLS contexts); if it writes
	 * where Landlock does not let this process, restart it. */
	if (nc != NULL && d->ll != NULL && daemon_landlock_restart(d, nc)) {
		r = KW_OK;
		goto out;
	}
	/* Keep the listener of a tunnel whose name and address stay. */
	for (i = 0; i < n; i++) {
		for (j = 0; j < d->ntunnels; j++) {
			old = d->tunnels[j];
			if (!reused[j] && strcmp(kw_tunnel_name(old),
			    conf->tunnels[i]->name) == 0 &&
			    strcmp(kw_tunnel_gen_conf(kw_tunnel_gen(old))->
			    listen.text, conf->tunnels[i]->listen.text) == 0) {
				reused[j] = 1;
				nt[i] = old;
				break;
			}
		}
		if (nt[i] != NULL)
			continue;
		if ((r = kw_tunnel_new(d->base, d->dns, gens[i], &nt[i])) !=
		    KW_OK)
			goto out;
		fresh[i] = 1;
	}
	/* Everything is built: switch. */
	for (i = 0; i < n; i++) {
		if (!fresh[i])
			kw_tunnel_set_gen(nt[i], gens[i]);
		fps[i] = daemon_fingerprint(d, gens[i]);
	}
	for (j = 0; j < d->ntunnels; j++)
		if (!reused[j])
			daemon_drain(d, d->tunnels[j]);
	for (j = 0; j < d->ntunnels; j++)
		free(d->fingerprints[j]);
	free(d->fingerprints);
	free(d->tunnels);
	d->tunnels = nt;
	d->fingerprints = fps;
	d->ntunnels = n;
	nt = NULL;
	fps = NULL;
	if (nc != NULL) {
		kw_config_free(d->conf);
		d->conf = nc;
		nc = NULL;
		daemon_set_log_level(d->conf);
	}
	if (rn != d->rn) {
		/* The identities of the new config replace the old ones
		 * (a renewal in progress is cancelled, not waited for). */
		daemon_retire(d, d->rn);
		d->rn = nrn;
		nrn = NULL;
		if (d->rn != NULL && d->worker == 0 &&
		    (r = kw_renewer_start(d->rn)) != KW_OK)
			kw_err("cannot start identity renewal: %s",
			    kw_strerror(r));
	}
	if (!initial) {
		d->reloads++;
		d->last_reload = time(NULL);
		d->last_reload_error[0] = '\0';
		kw_info("reloaded: %zu tunnels", d->ntunnels);
	}
	r = KW_OK;
out:
	if (nt != NULL)
		for (i = 0; i < n; i++)
			if (fresh[i])
				kw_tunnel_free(nt[i]);
	if (gens != NULL)
		for (i = 0; i < n; i++)
			kw_tunnel_gen_unref(gens[i]);
	if (fps != NULL)
		for (i = 0; i < n; i++)
			free(fps[i]);
	free(fps);
	free(gens);
	free(nt);
	free(fresh);
	free(reused);
	kw_renewer_free(nrn);
	kw_config_free(nc);
	if (r != KW_OK && !initial) {
		d->reload_failures++;
		snprintf(d->last_reload_error, sizeof(d->last_reload_error),
		    "%s", kw_strerror(r));
		kw_err("reload failed (%s): the running configuration stays "
		    "in force", kw_strerror(r));
	}
	if (!initial)
		sd_notify(0, "READY=1");
	return r;
}

static void
daemon_hup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_daemon *d = arg;

	(void)fd;
	(void)what;
	kw_info("SIGHUP: reloading %s", d->config_path ? d->config_path :
	    "certificates and keys");
	(void)daemon_reload(d, 1, 0);
	if (d->rn != NULL && d->worker == 0)
		kw_renewer_kick(d->rn);
}

static void
daemon_term_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_daemon *d = arg;

	(void)what;
	kw_info("signal %d: stopping", (int)fd);
	sd_notify(0, "STOPPING=1");
	event_base_loopbreak(d->base);
}

static void
daemon_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_daemon *d = arg;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	daemon_reap(d);
	(void)daemon_reload(d, 0, 0);
}

static void
daemon_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_daemon *d = arg;
	size_t i;
	char *fp;
	int changed = 0;

	(void)fd;
	(void)what;
	daemon_sweep(d);
	daemon_reap(d);
	for (i = 0; i < d->ntunnels; i++) {
		fp = daemon_fingerprint(d, kw_tunnel_gen(d->tunnels[i]));
		if (fp != NULL && d->fingerprints[i] != NULL &&
		    strcmp(fp, d->fingerprints[i]) != 0) {
			kw_info("tunnel %s: certificate, key, CA or CRL file "
			    "changed: reloading", kw_tunnel_name(d->tunnels[i]));
			free(d->fingerprints[i]);
			d->fingerprints[i] = fp;	/* no retry loop */
			changed = 1;
		} else
			free(fp);
	}
	if (changed)
		(void)daemon_reload(d, 0, 0);
}

static void
daemon_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

static char *
daemon_control(void *arg, const char *req)
{
	struct kw_daemon *d = arg;

	if (strcmp(req, "status") == 0)
		return kw_daemon_status_json(d);
	if (strcmp(req, "reload") == 0) {
		kw_daemon_request_reload(d);
		return strdup("{\"reload\": \"requested\"}\n");
	}
	return strdup("{\"error\": \"unknown request (try status)\"}\n");
}

static int
daemon_events(struct kw_daemon *d)
{
	struct timeval tv;
	uint64_t usec = 0;

	if (pipe2(d->wake_fd, O_NONBLOCK | O_CLOEXEC) != 0)
		return KW_ERR_IO;
	d->ev_wake = event_new(d->base, d->wake_fd[0], EV_READ | EV_PERSIST,
	    daemon_wake_cb, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, daemon_hup_cb, d);
	d->ev_term = evsignal_new(d->base, SIGTERM, daemon_term_cb, d);
	d->ev_int = evsignal_new(d->base, SIGINT, daemon_term_cb, d);
	d->ev_watch = event_new(d->base, -1, EV_PERSIST, daemon_watch_cb, d);
	if (d->ev_wake == NULL || d->ev_hup == NULL || d->ev_term == NULL ||
	    d->ev_int == NULL || d->ev_watch == NULL)
		return KW_ERR_NOMEM;
	if (event_add(d->ev_wake, NULL) != 0 || event_add(d->ev_hup, NULL) ||
	    event_add(d->ev_term, NULL) || event_add(d->ev_int, NULL))
		return KW_ERR_IO;
	tv.tv_sec = d->conf->watch_interval_s ? d->conf->watch_interval_s : 5;
	tv.tv_usec = 0;
	(void)event_add(d->ev_watch, &tv);
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		d->ev_watchdog = event_new(d->base, -1, EV_PERSIST,
		    daemon_watchdog_cb, d);
		if (d->ev_watchdog == NULL)
			return KW_ERR_NOMEM;
		usec /= 2;
		tv.tv_sec = (time_t)(usec / 1000000);
		tv.tv_usec = (suseconds_t)(usec % 1000000);
		(void)event_add(d->ev_watchdog, &tv);
	}
	return KW_OK;
}

static void
daemon_free(struct kw_daemon *d)
{
	size_t i;

	if (d == NULL)
		return;
	/* cancel every renewal first, then wait for the threads */
	kw_renewer_stop(d->rn);
	for (i = 0; i < d->nretired; i++)
		kw_renewer_stop(d->retired[i]);
	kw_renewer_free(d->rn);
	for (i = 0; i < d->nretired; i++)
		kw_renewer_free(d->retired[i]);
	free(d->retired);
	for (i = 0; i < d->ntunnels; i++) {
		kw_tunnel_free(d->tunnels[i]);
		free(d->fingerprints[i]);
	}
	free(d->tunnels);
	free(d->fingerprints);
	for (i = 0; i < d->ndraining; i++)
		kw_tunnel_free(d->draining[i]);
	free(d->draining);
	kw_control_free(d->ctl);
	kw_metrics_free(d->met);
	if (d->ev_wake) event_free(d->ev_wake);
	if (d->ev_hup) event_free(d->ev_hup);
	if (d->ev_term) event_free(d->ev_term);
	if (d->ev_int) event_free(d->ev_int);
	if (d->ev_watch) event_free(d->ev_watch);
	if (d->ev_watchdog) event_free(d->ev_watchdog);
	if (d->ev_publish) event_free(d->ev_publish);
	if (d->wake_fd[0] >= 0)
		close(d->wake_fd[0]);
	if (d->wake_fd[1] >= 0)
		close(d->wake_fd[1]);
	if (d->dns != NULL)
		evdns_base_free(d->dns, 0);
	if (d->base != NULL)
		event_base_free(d->base);
	kw_keycache_free(d->kc);
	kw_config_free(d->conf);
	kw_landlock_free(d->ll);
	free(d->ll_control);
	free(d->config_path);
	free(d);
}

static int
daemon_landlock(struct kw_daemon *d, const char *ctl)
{
	struct kw_landlock *ll = NULL;
	int r = KW_ERR_NOMEM, in_force = 0;

	if (ctl != NULL && (d->ll_control = strdup(ctl)) == NULL)
		goto out;
	if ((r = kw_landlock_plan(d->conf, ctl, &ll)) != KW_OK ||
	    (r = kw_landlock_apply(ll, &in_force)) != KW_OK)
		goto out;
	if (in_force) {
		d->ll = ll;
		ll = NULL;
	}
out:
	kw_landlock_free(ll);
	return r;
}

int
kw_daemon_run(struct kw_config *conf, const struct kw_daemon_opts *opts)
{
	struct kw_daemon *d;
	char path[256];
	const char *ctl;
	int r;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		kw_config_free(conf);
		return KW_ERR_NOMEM;
	}
	d->conf = conf;
	d->wake_fd[0] = d->wake_fd[1] = -1;
	d->worker = opts->worker;
	d->workers = opts->workers > 0 ? opts->workers : 1;
	d->shared = opts->shared;
	d->ticket_key = opts->workers > 1 ? opts->ticket_key : NULL;
	daemon_worker_conf(d, d->conf);
	d->started = time(NULL);
	daemon_set_log_level(conf);
	signal(SIGPIPE, SIG_IGN);
	if (opts->config_path != NULL &&
	    (d->config_path = realpath(opts->config_path, NULL)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = kw_wolf_init()) != KW_OK)
		goto out;
	if ((d->base = event_base_new()) == NULL ||
	    (r = kw_keycache_new(&d->kc)) != KW_OK) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((d->dns = evdns_base_new(d->base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL &&
	    (d->dns = evdns_base_new(d->base, 0)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = daemon_events(d)) != KW_OK)
		goto out;
	ctl = NULL;
	if (!opts->no_control && d->worker == 0) {
		ctl = opts->control_socket ? opts->control_socket :
		    d->conf->control_socket;
		if (ctl == NULL) {
			if ((r = kw_control_default_path(path, sizeof(path)))
			    != KW_OK)
				goto out;
			ctl = path;
		}
	}
	/* Landlock now, while this is the only thread: the renewal and
	 * handshake threads the reload starts are bound by it too */
	if (opts->sandbox && (r = daemon_landlock(d, ctl)) != KW_OK)
		goto out;
	if ((r = daemon_reload(d, 0, 1)) != KW_OK)
		goto out;
	if (ctl != NULL) {
		if ((r = kw_control_new(d->base, ctl, daemon_control, d,
		    &d->ctl)) != KW_OK)
			goto out;
	}
	if (d->shared != NULL) {
		struct timeval one = { 1, 0 };

		if ((d->ev_publish = event_new(d->base, -1, EV_PERSIST,
		    daemon_publish_cb, d)) == NULL) {
			r = KW_ERR_NOMEM;
			goto out;
		}
		(void)event_add(d->ev_publish, &one);
		daemon_publish(d);
	}
	if (d->worker == 0 && d->conf->has_metrics && (r = kw_metrics_new(d->base,
	    &d->conf->metrics, kw_daemon_metrics_text, d, &d->met)) != KW_OK)
		goto out;
	if (opts->sandbox) {
		if ((r = kw_sandbox_network()) != KW_OK)
			goto out;
		kw_test_sandbox_probe();
	}
	sd_notifyf(0, "READY=1\nSTATUS=%zu tunnels", d->ntunnels);
	kw_info("running: %zu tunnels", d->ntunnels);
	event_base_dispatch(d->base);
	r = KW_OK;
	if (d->restart && opts->restart != NULL)
		*opts->restart = 1;
out:
	daemon_free(d);
	kw_keyref_shutdown();
	kw_wolf_cleanup();
	return r;
}
