/* The posture seam's real implementation: the client's TPM work
 * (agent/keys/posture_tpm: Certify + Quote + the EK certificate, and
 * ActivateCredential, all over the TLS key's own TPM connection, under
 * its lock: one connection per process on a TPM without a resource
 * manager; in keyward run's network process the signer does it for the
 * key, with the AK its configuration names) and the server's verifier (attest/: the policy file,
 * kw_attest_verify, MakeCredential, the binding store in the state
 * directory). */
#include <wolfssl/options.h>

#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_signer.h"
#include "attest/attest.h"
#include "attest/eventlog.h"
#include "attest/policy.h"
#include "agent/keys/posture_tpm.h"
#include "agent/keys/keyref.h"
#include "agent/tunnel/tunnel_posture.h"

/* The event log to send: the configured file, else the firmware's if
 * there is one (none: the gateway decides whether it needs it). */
static int
real_event_log(const char *path, uint8_t **log, size_t *len)
{
	int r;

	*log = NULL;
	*len = 0;
	r = kw_file_read(path != NULL ? path : KW_EVLOG_DEFAULT_PATH,
	    KW_EVLOG_MAX_SIZE, log, len);
	if (r != KW_OK && path == NULL && (r == KW_ERR_NOT_FOUND ||
	    r == KW_ERR_PERM || r == KW_ERR_IO)) {
		kw_debug("posture: no firmware event log at %s: %s",
		    KW_EVLOG_DEFAULT_PATH, kw_strerror(r));
		r = KW_OK;
	} else if (r != KW_OK)
		kw_err("posture: cannot read the event log %s: %s", path,
		    kw_strerror(r));
	return r;
}

/* Evidence the signer made (no event log: it stays out of the signer's
 * frames) with the log added here. */
static int
real_add_log(uint8_t **ev, size_t *ev_len, const uint8_t *log,
    size_t log_len)
{
	struct kw_attest_evidence e;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int r;

	if (log_len == 0)
		return KW_OK;
	if ((r = kw_attest_evidence_decode(*ev, *ev_len, &e)) != KW_OK)
		return r;
	e.event_log.p = log;
	e.event_log.len = log_len;
	r = kw_attest_evidence_encode(&e, &out, &out_len);
	e.event_log.p = NULL;
	e.event_log.len = 0;
	kw_attest_evidence_free(&e);
	if (r == KW_OK) {
		free(*ev);
		*ev = out;
		*ev_len = out_len;
	}
	return r;
}

static int
real_evidence(const struct kw_posture_client_in *in, uint8_t **ev,
    size_t *ev_len, unsigned *tpm_cmds)
{
	const char *ak = kw_posture_tpm_spec(in->ak_ref);
	const char *key = kw_posture_tpm_spec(in->tls_key_ref);
	uint8_t *log = NULL;
	size_t log_len = 0;
	int r;

	*ev = NULL;
	*ev_len = 0;
	*tpm_cmds = 0;
	if (ak == NULL) {
		kw_err("posture: the attestation key %s is not a TPM key "
		    "(tpm:PATH)", in->ak_ref != NULL ? in->ak_ref : "(none)");
		return KW_ERR_ARG;
	}
	if (key == NULL || in->tls_key == NULL) {
		kw_err("posture: the tunnel's key %s is not a TPM key: only "
		    "a TPM-held key can be attested", in->tls_key_ref != NULL ?
		    in->tls_key_ref : "(none)");
		return KW_ERR_UNSUPPORTED;
	}
	if ((r = real_event_log(in->event_log, &log, &log_len)) != KW_OK)
		goto out;
	if (kw_signer_is_key(in->tls_key)) {
		/* keyward run: the signer holds the TPM and knows the AK */
		if ((r = kw_signer_key_posture(in->tls_key, in->qd,
		    KW_POSTURE_QD_LEN, ev, ev_len, tpm_cmds)) == KW_OK)
			r = real_add_log(ev, ev_len, log, log_len);
	} else
		r = kw_posture_tpm_evidence(in->tls_key, ak, key,
		    in->auth_file, in->tcti, in->qd, KW_POSTURE_QD_LEN, log,
		    log_len, ev, ev_len, tpm_cmds);
	if (r != KW_OK) {
		free(*ev);
		*ev = NULL;
		*ev_len = 0;
	}
out:
	free(log);
	return r;
}

static int
real_activate(const struct kw_posture_client_in *in, const uint8_t *blob,
    size_t blob_len, const uint8_t *secret, size_t secret_len,
    uint8_t *cred, size_t *cred_len, unsigned *tpm_cmds)
{
	const char *ak = kw_posture_tpm_spec(in->ak_ref);

	*tpm_cmds = 0;
	if (ak == NULL || in->tls_key == NULL) {
		*cred_len = 0;
		return KW_ERR_ARG;
	}
	if (kw_signer_is_key(in->tls_key))
		return kw_signer_key_activate(in->tls_key, blob, blob_len,
		    secret, secret_len, cred, cred_len, tpm_cmds);
	return kw_posture_tpm_activate(in->tls_key, ak, blob, blob_len,
	    secret, secret_len, cred, cred_len, tpm_cmds);
}

/* The policy file (attest/policy.h): recheck from it. */
static int
real_policy_load(const char *file, void **pol, unsigned *recheck_s)
{
	struct kw_attest_policy *p;
	int r;

	*pol = NULL;
	*recheck_s = 0;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return KW_ERR_NOMEM;
	if ((r = kw_attest_policy_load(file, p)) != KW_OK) {
		free(p);
		return r;
	}
	*recheck_s = p->recheck;
	*pol = p;
	return KW_OK;
}

static void
real_policy_free(void *pol)
{
	if (pol != NULL) {
		kw_attest_policy_clear(pol);
		free(pol);
	}
}

/* The EK -> AK bindings: a file in keyward's state directory. */
static int
real_store_new(void **store)
{
	char dir[PATH_MAX], *path;

	*store = NULL;
	if (kw_keyref_state_dir(dir, sizeof(dir)) == NULL) {
		kw_err("posture: no state directory for the EK -> AK bindings "
		    "(set KEYWARD_STATE_DIR)");
		return KW_ERR_CONFIG;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		kw_err("posture: cannot make %s: %s", dir, strerror(errno));
		return KW_ERR_IO;
	}
	if (asprintf(&path, "%s/posture-bindings", dir) < 0)
		return KW_ERR_NOMEM;
	*store = path;
	return KW_OK;
}

static void
real_store_free(void *store)
{
	free(store);
}

static enum kw_posture_reason
real_reason(enum kw_attest_reason r)
{
	switch (r) {
	case KW_ATTEST_NONCE:
		return KW_PR_SESSION;
	case KW_ATTEST_KEY_ATTRS:
	case KW_ATTEST_KEY_MISMATCH:
		return KW_PR_KEY;
	case KW_ATTEST_PCR_VALUE:
		return KW_PR_PCR;
	case KW_ATTEST_EK_CERT:
	case KW_ATTEST_EK_UNTRUSTED:
		return KW_PR_EK;
	case KW_ATTEST_AK_UNBOUND:
	case KW_ATTEST_ACTIVATION:
		return KW_PR_AK;
	case KW_ATTEST_TOO_OLD:
		return KW_PR_AGE;
	case KW_ATTEST_SECURE_BOOT:
		return KW_PR_SECURE_BOOT;
	case KW_ATTEST_EVENT_LOG:
		return KW_PR_LOG;
	case KW_ATTEST_MALFORMED:
	case KW_ATTEST_MISSING:
		return KW_PR_PROTOCOL;
	default:
		return KW_PR_QUOTE;
	}
}

/* Every claim but the binding by kw_attest_verify (nonce + exporter, the
 * client certificate's key, EK chain, quote, policy); then the binding
 * store: an EK -> AK pair not seen yet needs one activation. */
static int
real_verify(void *pol, void *store, const uint8_t *ev, size_t ev_len,
    const uint8_t *nonce, const uint8_t *exporter, const uint8_t *qd,
    const uint8_t *spki, size_t spki_len, struct kw_posture_verdict *v)
{
	struct kw_attest_request req;
	struct kw_attest_claims *claims = NULL;
	struct kw_attest_evidence e;
	enum kw_attest_reason why = KW_ATTEST_OK;
	struct kw_der_cert ek;
	int r, decoded = 0;

	(void)qd;
	memset(v, 0, sizeof(*v));
	memset(&req, 0, sizeof(req));
	req.policy = pol;
	req.nonce = nonce;
	req.nonce_len = 32;
	req.exporter = exporter;
	req.exporter_len = 32;
	req.key_spki = spki;
	req.key_spki_len = spki_len;
	req.require_certify = req.require_quote = 1;
	if ((claims = calloc(1, sizeof(*claims))) == NULL)
		return KW_ERR_NOMEM;
	r = kw_attest_verify(&req, ev, ev_len, claims, &why);
	if (r == KW_ERR_ATTEST) {
		v->why = real_reason(why);
		snprintf(v->reason, sizeof(v->reason), "%s",
		    claims->why[0] != '\0' ? claims->why :
		    kw_attest_reason_str(why));
		r = KW_OK;
		goto out;
	}
	if (r != KW_OK)
		goto out;
	if ((r = kw_attest_evidence_decode(ev, ev_len, &e)) != KW_OK)
		goto out;
	decoded = 1;
	if ((r = kw_der_cert(e.x5c[0].p, e.x5c[0].len, &ek)) != KW_OK ||
	    ek.spki.len > sizeof(v->ek_spki) ||
	    claims->ak_name_len > sizeof(v->ak_name)) {
		r = KW_ERR_PARSE;
		goto out;
	}
	memcpy(v->ek_spki, ek.spki.p, ek.spki.len);
	v->ek_spki_len = ek.spki.len;
	memcpy(v->ak_name, claims->ak_name, claims->ak_name_len);
	v->ak_name_len = claims->ak_name_len;
	r = kw_attest_bind_lookup(store, v->ek_spki, v->ek_spki_len,
	    v->ak_name, v->ak_name_len);
	if (r == KW_ERR_NOT_FOUND)
		v->need_activation = 1;
	else if (r != KW_OK)
		goto out;
	v->ok = 1;
	r = KW_OK;
out:
	if (decoded)
		kw_attest_evidence_free(&e);
	free(claims);
	return r;
}

/* MakeCredential for the EK and AK name; blob and secret as
 * TPM2_ActivateCredential takes them (TPM2B, size first). */
static int
real_challenge(void *pol, const struct kw_posture_verdict *v,
    uint8_t **blob, size_t *blob_len, uint8_t **secret, size_t *secret_len,
    uint8_t *cred, size_t *cred_len)
{
	struct kw_attest_challenge c;
	int r;

	(void)pol;
	*blob = *secret = NULL;
	*blob_len = *secret_len = 0;
	memset(&c, 0, sizeof(c));
	if (*cred_len < sizeof(c.secret))
		return KW_ERR_SPACE;
	if ((r = kw_attest_challenge_make(v->ek_spki, v->ek_spki_len,
	    v->ak_name, v->ak_name_len, &c)) != KW_OK)
		goto out;
	memcpy(cred, c.secret, sizeof(c.secret));
	*cred_len = sizeof(c.secret);
	*blob = c.id_object;
	*blob_len = c.id_object_len;
	*secret = c.enc_secret;
	*secret_len = c.enc_secret_len;
	c.id_object = c.enc_secret = NULL;
out:
	kw_attest_challenge_clear(&c);
	return r;
}

static int
real_bind(void *store, const struct kw_posture_verdict *v)
{
	return kw_attest_bind_record(store, v->ek_spki, v->ek_spki_len,
	    v->ak_name, v->ak_name_len);
}

const struct kw_posture_ops kw_posture_real_ops = {
	.evidence = real_evidence,
	.activate = real_activate,
	.policy_load = real_policy_load,
	.policy_free = real_policy_free,
	.store_new = real_store_new,
	.store_free = real_store_free,
	.verify = real_verify,
	.challenge = real_challenge,
	.bind = real_bind,
};
