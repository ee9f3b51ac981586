/* Renewal of an identity (see renew.h): rekey by default, crash-safe.
 *
 * Order of events for a rekeying renewal, each state change one atomic
 * replace of the state file:
 *   1. intent: "renewing": {phase: intent, key: NEW}   (before the keygen)
 *   2. NEW generated in the same token, CSR signed by it
 *   3. /simplereenroll over mTLS with the OLD key and certificate
 *      (202: phase pending + the CSR remembered, same key reused later)
 *   4. issued certificate verified (NEW's public key, chains to the CA),
 *      written to CERT.next
 *   5. switch: key = NEW, cert = CERT.next, OLD queued for deletion after
 *      the grace period, "renewing" removed
 *   6. CERT.next copied over CERT, state cert = CERT
 * A SIGKILL before 5 leaves OLD in force and recovery (kw_identity_recover,
 * run at every load) deletes NEW and CERT.next; after 5 NEW is in force
 * and recovery finishes 6.  Either way exactly one usable identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "agent/identity/identity.h"
#include "agent/keys/keyref.h"
#include "agent/identity/renew.h"
#include "enroll/est_der.h"
#include "enroll/est_sched.h"

static void
kw_renew_sched(const struct kw_identity *id, struct est_sched *s)
{
	memset(s, 0, sizeof(*s));
	s->not_before = id->not_before;
	s->not_after = id->not_after;
	s->renew_at_pct = id->renew_at_pct;
	s->alarm_at_pct = id->alarm_at_pct;
	s->failures = id->failures;
	s->last_failure = id->last_failure;
}

/* Stable per identity and failure, different across machines (the
 * failure times differ), so a fleet does not retry in lockstep. */
static uint32_t
kw_renew_jitter(const struct kw_identity *id)
{
	uint64_t x = (uint64_t)id->last_failure * 0x9e3779b97f4a7c15ULL ^
	    ((uint64_t)id->failures << 32) ^ (uint64_t)id->not_after;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return (uint32_t)x;
}

time_t
kw_renew_due(const struct kw_identity *id, time_t now)
{
	struct est_sched s;

	(void)now;
	if (id->server == NULL || id->not_after == 0)
		return 0;
	/* the CA's suggested window (RFC 9773) moves the first attempt,
	 * inside the certificate's validity; after a failure the backoff
	 * runs from the failure as without it */
	if (id->failures == 0 && id->ari_end != 0 && id->ari_at != 0) {
		if (id->ari_at >= id->not_after)
			return id->not_after - 1;
		return id->ari_at > id->not_before ? id->ari_at :
		    id->not_before;
	}
	kw_renew_sched(id, &s);
	return est_sched_next(&s, kw_renew_jitter(id));
}

int
kw_renew_alarm(const struct kw_identity *id, time_t now)
{
	struct est_sched s;

	kw_renew_sched(id, &s);
	return est_sched_alarm(&s, now);
}

static void
kw_renew_failed(struct kw_identity *id, time_t now, int err)
{
	struct est_sched s;
	char msg[128], when[40];
	const char *why;

	id->failures++;
	id->last_failure = now;
	snprintf(msg, sizeof(msg), "%s", kw_strerror(err));
	(void)kw_identity_set(&id->last_error, msg);
	kw_renew_sched(id, &s);
	(void)kw_identity_save(id);	/* on a full disk: the old one stays */
	/* The runner holds what the layers said (kw_log_hold): the first
	 * error goes into this one line. */
	if ((why = kw_log_unhold()) == NULL || why[0] == '\0')
		why = msg;
	if (est_sched_alarm(&s, now))
		kw_err("identity %s: ALARM: renewal has failed %u time(s) (%s) "
		    "and the certificate expires at %s (in %ld s)", id->path,
		    id->failures, why, kw_time_str(id->not_after, when,
		    sizeof(when)), (long)(id->not_after - now));
	else
		kw_warn("identity %s: renewal failed (%s); the current "
		    "certificate stays in use; next attempt in about %ld s",
		    id->path, why, (long)(kw_renew_due(id, now) - now));
}

/* A name for the new key that names no existing key. */
static int
kw_renew_pick_name(const char *old, const struct kw_keyref_opts *opts,
    char *out, size_t len)
{
	char cur[4096];
	int i, r;

	snprintf(cur, sizeof(cur), "%s", old);
	for (i = 0; i < 8; i++) {
		if ((r = kw_keyref_next_name(cur, out, len)) != 0)
			return r;
		if (!kw_keyref_exists(out, opts))
			return KW_OK;
		snprintf(cur, sizeof(cur), "%s", out);
	}
	return KW_ERR_EXISTS;
}

/* One renewal's working state, handed from step to step. */
struct kw_renew_job {
	struct kw_identity *id;
	time_t now;
	const struct kw_renew_opts *ro;
	struct kw_keyref_opts kopts;
	struct kw_key *old;		/* the key in force */
	struct kw_key *nkey;		/* the new key (rekey) */
	int rekey;
	char new_ref[4096];
	char next_cert[4096];		/* CERT.next */
	struct kw_enroll_res res;
	struct est_cert_info ci;	/* of the issued certificate */
};

/* Open the current key and decide the new one: the pending request's key,
 * a fresh name, or (same key) none. */
static int
kw_renew_pick_keys(struct kw_renew_job *j)
{
	struct kw_identity *id = j->id;
	int r;

	if ((r = kw_keyref_open(id->key_ref, &j->kopts, &j->old)) != 0) {
		kw_err("identity %s: cannot open the current key %s: %s",
		    id->path, id->key_ref, kw_strerror(r));
		return r;
	}
	if (id->phase == KW_PHASE_PENDING) {
		/* the CA holds our request: same key, same CSR */
		snprintf(j->new_ref, sizeof(j->new_ref), "%s", id->new_key_ref);
		j->rekey = strcmp(j->new_ref, id->key_ref) != 0;
		if (j->rekey && (r = kw_keyref_open(j->new_ref, &j->kopts,
		    &j->nkey)) != 0) {
			kw_err("identity %s: the pending renewal's key %s is "
			    "gone: %s; starting over", id->path, j->new_ref,
			    kw_strerror(r));
			id->phase = KW_PHASE_INTENT;	/* recovery cleans up */
			(void)kw_identity_recover(id, j->now);
			return r;
		}
		return KW_OK;
	}
	if (!j->rekey)
		return KW_OK;
	r = kw_renew_pick_name(id->key_ref, &j->kopts, j->new_ref,
	    sizeof(j->new_ref));
	if (r == KW_ERR_UNSUPPORTED) {
		kw_warn("identity %s: renewing with the same key", id->path);
		j->rekey = 0;
		r = KW_OK;
	}
	return r;
}

/* Steps 1 and 2: the intent on disk, then the new key in the same token
 * (same algorithm).  Nothing to do for a pending request or the same key. */
static int
kw_renew_make_key(struct kw_renew_job *j)
{
	struct kw_identity *id = j->id;
	int r;

	if (!j->rekey) {
		snprintf(j->new_ref, sizeof(j->new_ref), "%s", id->key_ref);
		return KW_OK;
	}
	if (id->phase == KW_PHASE_PENDING)
		return KW_OK;
	/* 1. intent first, so a crash during keygen is cleaned up */
	id->phase = KW_PHASE_INTENT;
	id->renew_started = j->now;
	if ((r = kw_identity_set(&id->new_key_ref, j->new_ref)) != 0 ||
	    (r = kw_identity_save(id)) != 0)
		return r;
	kw_identity_crash_point("after-intent");
	/* 2. the new key */
	if ((r = kw_keyref_generate(j->new_ref, kw_key_alg(j->old), &j->kopts,
	    &j->nkey)) != 0) {
		kw_err("identity %s: cannot create the new key %s: %s",
		    id->path, j->new_ref, kw_strerror(r));
		return r;
	}
	kw_info("identity %s: new key %s created", id->path, j->new_ref);
	kw_identity_crash_point("after-keygen");
	return KW_OK;
}

/* Step 3: re-enroll over mTLS with the current identity.  A 202 is
 * remembered (phase pending, same key and CSR next time). */
static int
kw_renew_enroll(struct kw_renew_job *j)
{
	struct kw_identity *id = j->id;
	struct kw_enroll_req req;
	int r;

	memset(&req, 0, sizeof(req));
	req.server = id->server;
	req.ca_file = id->ca_file;
	req.auth_key = j->old;
	req.auth_cert = id->cert_file;
	req.reenroll = 1;
	req.key = j->rekey ? j->nkey : j->old;
	req.subject = id->subject;
	req.sans = (const char *const *)id->sans;
	req.nsans = id->nsans;
	req.csr_b64 = id->phase == KW_PHASE_PENDING ? id->new_csr : NULL;
	req.pop_linking = id->pop_linking || (j->ro != NULL &&
	    j->ro->pop_linking);
	req.user = j->ro != NULL ? j->ro->user : NULL;
	req.password = j->ro != NULL ? j->ro->password : NULL;
	req.wait_s = j->ro != NULL ? j->ro->wait_s : 0;
	req.timeout_ms = j->ro != NULL ? j->ro->timeout_ms : 0;
	req.cancel = j->ro != NULL ? j->ro->cancel : NULL;
	req.protocol = id->protocol;
	req.acme = &id->acme;
	req.scep = &id->scep;
	req.kopts = &j->kopts;
	r = kw_enroll_run(&req, &j->res);
	if (r == KW_ERR_PENDING) {
		id->phase = KW_PHASE_PENDING;
		if ((r = kw_identity_set(&id->new_key_ref, j->new_ref)) != 0 ||
		    (r = kw_identity_set(&id->new_csr, j->res.csr_b64)) != 0)
			return r;
		(void)kw_log_unhold();
		kw_info("identity %s: renewal pending approval at the CA; "
		    "the same key and CSR will be used again", id->path);
		return KW_ERR_PENDING;
	}
	if (r == KW_OK)
		kw_identity_crash_point("after-enroll");
	return r;
}

/* Step 4: the verified certificate next to its final place (and on the
 * token when asked). */
static int
kw_renew_stage_cert(struct kw_renew_job *j)
{
	struct kw_identity *id = j->id;
	const struct est_certs *certs = &j->res.certs;
	int r;

	if (est_cert_info(certs->c[0].der, certs->c[0].len, &j->ci) != 0)
		return KW_ERR_CERT;
	snprintf(j->next_cert, sizeof(j->next_cert), "%s.next", id->cert_out);
	if ((r = kw_enroll_store(&j->res, j->next_cert, id->chain_file)) != 0)
		return r;
	kw_identity_crash_point("after-cert-write");
	if (id->store_on_token &&
	    (r = kw_keyref_store_cert(j->new_ref, &j->kopts, certs->c[0].der,
	    certs->c[0].len)) != 0)
		kw_warn("identity %s: could not store the new certificate on "
		    "the token: %s (the file copy is in force)", id->path,
		    kw_strerror(r));
	return KW_OK;
}

/* Step 5 in memory: the new key and certificate in force, the old key
 * queued for deletion, the renewal forgotten.  The caller saves. */
static int
kw_renew_switch(struct kw_renew_job *j)
{
	struct kw_identity *id = j->id;
	char *old_ref = id->key_ref, *old_cert = id->cert_file;

	id->key_ref = NULL;
	id->cert_file = NULL;
	if (kw_identity_set(&id->key_ref, j->new_ref) != 0 ||
	    kw_identity_set(&id->cert_file, j->next_cert) != 0) {
		free(id->key_ref);
		free(id->cert_file);
		id->key_ref = old_ref;
		id->cert_file = old_cert;
		return KW_ERR_NOMEM;
	}
	free(old_cert);
	if (j->rekey && id->nold < KW_ID_MAX_OLD) {
		id->old[id->nold].key_ref = old_ref;
		id->old[id->nold].delete_after = j->now + id->grace;
		id->nold++;
		old_ref = NULL;
	} else if (j->rekey)
		kw_warn("identity %s: too many old keys queued; %s is kept",
		    id->path, old_ref);
	free(old_ref);
	id->not_before = j->ci.not_before;
	id->not_after = j->ci.not_after;
	/* ARI spoke of the old certificate: ask again for the new one */
	id->ari_start = id->ari_end = id->ari_at = 0;
	id->ari_checked = id->ari_next = 0;
	id->failures = 0;
	id->last_failure = 0;
	free(id->last_error);
	id->last_error = NULL;
	id->phase = KW_PHASE_NONE;
	free(id->new_key_ref);
	id->new_key_ref = NULL;
	free(id->new_csr);
	id->new_csr = NULL;
	return KW_OK;
}

/* A renewal that did not happen: undo a half-made rekey, count the
 * failure (not a cancellation: that is no fault of the CA's), save. */
static void
kw_renew_abandon(struct kw_renew_job *j, int err)
{
	struct kw_identity *id = j->id;

	if (id->phase == KW_PHASE_INTENT) {
		/* undo: delete the key we made (if any), forget the intent */
		kw_key_close(j->nkey);
		j->nkey = NULL;
		(void)kw_identity_recover(id, j->now);
	}
	if (err == KW_ERR_CANCELLED) {
		(void)kw_identity_save(id);
		(void)kw_log_unhold();
		kw_info("identity %s: renewal cancelled (reload or shutdown); "
		    "it starts again when due", id->path);
	} else
		kw_renew_failed(id, j->now, err);	/* saves, says it */
}

static int
kw_renew_locked(struct kw_identity *id, time_t now,
    const struct kw_renew_opts *ro)
{
	struct kw_renew_job *j;
	char when[40];
	int r;

	if (id->server == NULL || id->cert_out == NULL)
		return KW_ERR_STATE;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return KW_ERR_NOMEM;
	j->id = id;
	j->now = now;
	j->ro = ro;
	kw_identity_keyopts(id, &j->kopts);
	j->rekey = ro != NULL && ro->same_key ? 0 : id->rekey;
	if ((r = kw_renew_pick_keys(j)) != 0 ||
	    (r = kw_renew_make_key(j)) != 0 ||
	    (r = kw_renew_enroll(j)) != 0 ||
	    (r = kw_renew_stage_cert(j)) != 0 ||
	    (r = kw_renew_switch(j)) != 0) {
		kw_renew_abandon(j, r);
		goto out;
	}
	/* 5. the switch: one atomic replace of the state file */
	if ((r = kw_identity_save(id)) != 0) {
		/* not switched: the file on disk still names the old pair */
		kw_err("identity %s: renewal could not be recorded; the old "
		    "identity stays in force", id->path);
		goto out;
	}
	kw_identity_crash_point("after-switch");
	(void)kw_log_unhold();	/* done: said as usual from here */
	kw_info("identity %s: renewed: key %s, certificate valid until %s",
	    id->path, id->key_ref, kw_time_str(id->not_after, when,
	    sizeof(when)));
	/* 6. the certificate where the user expects it */
	(void)kw_identity_recover(id, now);
	r = KW_OK;
out:
	kw_enroll_res_clear(&j->res);
	kw_key_close(j->nkey);
	kw_key_close(j->old);
	free(j);
	return r;
}

int
kw_renew_run_opts(struct kw_identity *id, time_t now,
    const struct kw_renew_opts *ro)
{
	char *key = NULL;
	time_t not_after = id->not_after;
	int fd = -1, r;

	if ((r = kw_identity_lock(id, &fd)) != 0)
		return r;
	if ((key = strdup(id->key_ref)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	/* another process (the CLI, a timer) may have renewed meanwhile */
	if ((r = kw_identity_reload(id, now)) != 0)
		goto out;
	if ((strcmp(key, id->key_ref) != 0 || not_after != id->not_after) &&
	    (ro == NULL || !ro->force) && kw_renew_due(id, now) > now) {
		kw_info("identity %s: already renewed elsewhere (key %s)",
		    id->path, id->key_ref);
		r = KW_OK;
		goto out;
	}
	r = kw_renew_locked(id, now, ro);
out:
	free(key);
	kw_identity_unlock(fd);
	return r;
}

int
kw_identity_status(const struct kw_identity *id, time_t now, char *buf,
    size_t len)
{
	time_t due = kw_renew_due(id, now);
	char when[48], ari[96] = "";
	int n;

	if (due == 0)
		snprintf(when, sizeof(when), "off");
	else if (due <= now)
		snprintf(when, sizeof(when), "due now");
	else
		snprintf(when, sizeof(when), "in %lds", (long)(due - now));
	if (id->ari_end != 0)
		snprintf(ari, sizeof(ari), " (ARI window %+lds..%+lds)",
		    (long)(id->ari_start - now), (long)(id->ari_end - now));
	n = snprintf(buf, len, "key %s, certificate %s, expires in %lds, "
	    "renewal %s%s%s%s%s%s", id->key_ref, id->cert_file,
	    (long)(id->not_after - now), when, ari,
	    id->phase == KW_PHASE_PENDING ? ", pending approval" : "",
	    id->failures ? ", failing: " : "",
	    id->failures && id->last_error ? id->last_error : "",
	    kw_renew_alarm(id, now) ? ", ALARM" : "");
	return n < 0 || (size_t)n >= len ? KW_ERR_SPACE : KW_OK;
}

int
kw_renew_run(struct kw_identity *id, time_t now)
{
	return kw_renew_run_opts(id, now, NULL);
}
