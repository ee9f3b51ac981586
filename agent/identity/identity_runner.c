/* The renewal runner: one thread that renews a set of identities when
 * they are due (see renew.h).  The daemon starts it with its reload
 * function as the callback; `keyward enroll est --watch` starts it with
 * a logging callback.  Renewals block (network, token), so they never
 * run on the daemon's event loop. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kw_cancel.h"
#include "kw_error.h"
#include "kw_log.h"
#include "agent/identity/identity.h"
#include "agent/identity/renew.h"

/* The identity itself is only touched by the runner thread (or before it
 * starts); other threads read the copies below, under the lock. */
struct kw_runner_id {
	struct kw_identity *id;
	struct kw_renew_opts ro;
	char *name;
	char key_ref[1024];
	char cert_file[1024];
	char chain_file[1024];
	time_t not_after;
	char status[768];
	int alarm;
	uint64_t renewals;
	uint64_t failures;
};

struct kw_renewer {
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	int kick;
	int finished;			/* the thread has left its loop */
	struct kw_cancel *cancel;	/* fired with stop: aborts a renewal */
	size_t n;
	struct kw_runner_id *ids;
	kw_renew_cb cb;
	void *arg;
};

/* Called with the lock held, by the thread that owns ri->id. */
static void
kw_runner_refresh(struct kw_runner_id *ri, time_t now)
{
	const char *chain = kw_identity_chain_file(ri->id);

	(void)kw_identity_status(ri->id, now, ri->status, sizeof(ri->status));
	snprintf(ri->key_ref, sizeof(ri->key_ref), "%s",
	    kw_identity_key_ref(ri->id));
	snprintf(ri->cert_file, sizeof(ri->cert_file), "%s",
	    kw_identity_cert_file(ri->id));
	snprintf(ri->chain_file, sizeof(ri->chain_file), "%s",
	    chain ? chain : "");
	ri->not_after = kw_identity_not_after(ri->id);
}

static void *
kw_runner_main(void *arg)
{
	struct kw_renewer *rn = arg;
	struct kw_runner_id *ri;
	struct timespec ts;
	char key[4096], cert[4096], chain[4096], why[512];
	time_t now, due, next;
	size_t i;
	int r, alarm;

	pthread_mutex_lock(&rn->lock);
	while (!rn->stop) {
		now = time(NULL);
		next = now + 60;
		for (i = 0; i < rn->n && !rn->stop; i++) {
			ri = &rn->ids[i];
			/* ACME renewal information: a GET at most hourly */
			pthread_mutex_unlock(&rn->lock);
			(void)kw_renew_ari_refresh(ri->id, now,
			    ri->ro.timeout_ms, ri->ro.cancel);
			pthread_mutex_lock(&rn->lock);
			due = kw_renew_due(ri->id, now);
			if (due != 0 && due <= now) {
				/* the identity is only touched by this thread;
				 * readers see the status string */
				pthread_mutex_unlock(&rn->lock);
				kw_info("identity %s: renewing", ri->name);
				/* one line per attempt: see kw_renew_failed */
				kw_log_hold(why, sizeof(why));
				r = kw_renew_run_opts(ri->id, now, &ri->ro);
				(void)kw_log_unhold();
				snprintf(key, sizeof(key), "%s",
				    kw_identity_key_ref(ri->id));
				snprintf(cert, sizeof(cert), "%s",
				    kw_identity_cert_file(ri->id));
				snprintf(chain, sizeof(chain), "%s",
				    kw_identity_chain_file(ri->id) ?
				    kw_identity_chain_file(ri->id) : "");
				if (r == KW_OK && rn->cb != NULL)
					rn->cb(rn->arg, ri->name, key, cert,
					    chain[0] ? chain : NULL);
				pthread_mutex_lock(&rn->lock);
				if (r == KW_OK)
					ri->renewals++;
				else if (r != KW_ERR_CANCELLED &&
				    r != KW_ERR_STATE)	/* not run: locked */
					ri->failures++;
				now = time(NULL);
			}
			due = kw_identity_cleanup_due(ri->id);
			if (due != 0 && due <= now) {
				/* old keys past their grace period */
				pthread_mutex_unlock(&rn->lock);
				(void)kw_identity_cleanup(ri->id, now);
				pthread_mutex_lock(&rn->lock);
				now = time(NULL);
			}
			alarm = kw_renew_alarm(ri->id, now);
			if (alarm && !ri->alarm)
				kw_err("identity %s: ALARM: the certificate "
				    "expires in %ld s and renewal is failing",
				    ri->name, (long)(kw_identity_not_after(ri->id) -
				    now));
			else if (!alarm && ri->alarm)
				kw_info("identity %s: alarm cleared", ri->name);
			ri->alarm = alarm;
			kw_runner_refresh(ri, now);
			due = kw_renew_due(ri->id, now);
			if (due != 0 && due < next)
				next = due > now ? due : now + 1;
			/* a key that could not be deleted: retried each minute */
			due = kw_identity_cleanup_due(ri->id);
			if (due != 0 && due < next)
				next = due > now ? due : now + 60;
		}
		if (rn->stop)
			break;
		if (rn->kick) {
			rn->kick = 0;
			continue;
		}
		memset(&ts, 0, sizeof(ts));
		ts.tv_sec = next;
		while (!rn->stop && !rn->kick &&
		    pthread_cond_timedwait(&rn->cond, &rn->lock, &ts) != ETIMEDOUT)
			;
		rn->kick = 0;
	}
	rn->finished = 1;
	pthread_mutex_unlock(&rn->lock);
#ifdef FP_ECC
	/* wolfSSL keeps a per-thread fixed-point ECC cache (certificate
	 * verification fills it): a thread must free its own */
	wc_ecc_fp_free();
#endif
	return NULL;
}

int
kw_renewer_new(struct kw_identity_conf *const *confs, size_t n,
    kw_renew_cb cb, void *arg, struct kw_renewer **out)
{
	struct kw_renewer *rn;
	size_t i;
	int r;

	*out = NULL;
	if ((rn = calloc(1, sizeof(*rn))) == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&rn->lock, NULL);
	pthread_cond_init(&rn->cond, NULL);
	rn->cb = cb;
	rn->arg = arg;
	if ((r = kw_cancel_new(&rn->cancel)) != KW_OK)
		goto out;
	if (n > 0 && (rn->ids = calloc(n, sizeof(*rn->ids))) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = kw_identity_open(confs[i], &rn->ids[i].id,
		    &rn->ids[i].ro)) != 0)
			goto out;
		rn->n++;
		rn->ids[i].ro.cancel = rn->cancel;
		if ((rn->ids[i].name = strdup(kw_identity_conf_name(confs[i]))) ==
		    NULL) {
			r = KW_ERR_NOMEM;
			goto out;
		}
		kw_runner_refresh(&rn->ids[i], time(NULL));
		kw_info("identity %s: %s", rn->ids[i].name, rn->ids[i].status);
	}
	*out = rn;
	rn = NULL;
	r = KW_OK;
out:
	kw_renewer_free(rn);
	return r;
}

int
kw_renewer_start(struct kw_renewer *rn)
{
	if (rn->started)
		return KW_ERR_STATE;
	if (pthread_create(&rn->thread, NULL, kw_runner_main, rn) != 0)
		return KW_ERR_NOMEM;
	rn->started = 1;
	return KW_OK;
}

void
kw_renewer_kick(struct kw_renewer *rn)
{
	pthread_mutex_lock(&rn->lock);
	rn->kick = 1;
	pthread_cond_signal(&rn->cond);
	pthread_mutex_unlock(&rn->lock);
}

void
kw_renewer_stop(struct kw_renewer *rn)
{
	if (rn == NULL)
		return;
	pthread_mutex_lock(&rn->lock);
	rn->stop = 1;
	pthread_cond_signal(&rn->cond);
	pthread_mutex_unlock(&rn->lock);
	kw_cancel_fire(rn->cancel);
}

int
kw_renewer_stopped(struct kw_renewer *rn)
{
	int done;

	pthread_mutex_lock(&rn->lock);
	done = !rn->started || rn->finished;
	pthread_mutex_unlock(&rn->lock);
	return done;
}

void
kw_renewer_free(struct kw_renewer *rn)
{
	size_t i;

	if (rn == NULL)
		return;
	if (rn->started) {
		kw_renewer_stop(rn);
		pthread_join(rn->thread, NULL);
	}
	for (i = 0; i < rn->n; i++) {
		kw_identity_free(rn->ids[i].id);
		free(rn->ids[i].name);
	}
	free(rn->ids);
	kw_cancel_free(rn->cancel);
	pthread_cond_destroy(&rn->cond);
	pthread_mutex_destroy(&rn->lock);
	free(rn);
}

size_t
kw_renewer_count(const struct kw_renewer *rn)
{
	return rn->n;
}

int
kw_renewer_get(struct kw_renewer *rn, size_t i, struct kw_renewer_info *info)
{
	struct kw_runner_id *ri;

	memset(info, 0, sizeof(*info));
	if (i >= rn->n)
		return KW_ERR_NOT_FOUND;
	pthread_mutex_lock(&rn->lock);
	ri = &rn->ids[i];
	snprintf(info->name, sizeof(info->name), "%s", ri->name);
	snprintf(info->key_ref, sizeof(info->key_ref), "%s", ri->key_ref);
	snprintf(info->cert_file, sizeof(info->cert_file), "%s", ri->cert_file);
	snprintf(info->chain_file, sizeof(info->chain_file), "%s",
	    ri->chain_file);
	snprintf(info->status, sizeof(info->status), "%s", ri->status);
	info->not_after = ri->not_after;
	info->alarm = ri->alarm;
	info->renewals = ri->renewals;
	info->failures = ri->failures;
	pthread_mutex_unlock(&rn->lock);
	return KW_OK;
}
