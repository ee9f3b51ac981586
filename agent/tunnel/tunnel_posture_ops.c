/* The posture seam's real implementation: the client's TPM work
 * (tpm/tpm_attest) and the server's verifier (attest/: kw_attest_verify,
 * MakeCredential, the binding store in the state directory).
 *
 * WIRING PENDING: tpm/tpm_attest.h (client: evidence, activation) and
 * attest/policy.c (server: the policy file) are not in main yet; until
 * they are, those slots say so (one log line) and fail: a client with
 * `ak` answers nothing and a server with `require-posture` does not
 * start. */
#include <wolfssl/options.h>

#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "attest/attest.h"
#include "agent/keys/keyref.h"
#include "agent/tunnel/tunnel_posture.h"

static int
real_missing(const char *what)
{
	kw_err("posture: %s is not built into this keyward yet", what);
	return KW_ERR_UNSUPPORTED;
}

static int
real_evidence(const struct kw_posture_client_in *in, uint8_t **ev,
    size_t *ev_len, unsigned *tpm_cmds)
{
	(void)in;
	*ev = NULL;
	*ev_len = 0;
	*tpm_cmds = 0;
	return real_missing("TPM attestation (tpm/tpm_attest)");
}

static int
real_activate(const struct kw_posture_client_in *in, const uint8_t *blob,
    size_t blob_len, const uint8_t *secret, size_t secret_len,
    uint8_t *cred, size_t *cred_len, unsigned *tpm_cmds)
{
	(void)in; (void)blob; (void)blob_len; (void)secret; (void)secret_len;
	(void)cred;
	*cred_len = 0;
	*tpm_cmds = 0;
	return real_missing("TPM attestation (tpm/tpm_attest)");
}

static int
real_policy_load(const char *file, void **pol, unsigned *recheck_s)
{
	(void)file;
	*pol = NULL;
	*recheck_s = 0;
	return real_missing("the posture policy file parser (attest/policy)");
}

static void
real_policy_free(void *pol)
{
	(void)pol;
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
