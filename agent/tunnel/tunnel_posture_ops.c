/* The posture seam's real implementation: the client's TPM work
 * (tpm/tpm_attest: Certify + Quote + the EK certificate, and
 * ActivateCredential, all over the TLS key's own TPM connection, under
 * its lock: one connection per process on a TPM without a resource
 * manager) and the server's verifier (attest/: the policy file,
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
#include "kw_secret.h"
#include "attest/attest.h"
#include "attest/eventlog.h"
#include "attest/policy.h"
#include "tpm/tpm_attest.h"
#include "tpm/tpm_key.h"
#include "agent/keys/keyref.h"
#include "agent/tunnel/tunnel_posture.h"

/* "tpm:PATH" -> "PATH" (tpm_attest takes the bare spec). */
static const char *
real_tpm_spec(const char *ref)
{
	if (ref == NULL)
		return NULL;
	return strncmp(ref, "tpm:", 4) == 0 ? ref + 4 : NULL;
}

/* The COSE alg of a marshalled TPMT_SIGNATURE (sigAlg, hashAlg). */
static int64_t
real_cose_alg(const uint8_t *sig, size_t len)
{
	unsigned alg, hash;

	if (len < 4)
		return 0;
	alg = (unsigned)sig[0] << 8 | sig[1];
	hash = (unsigned)sig[2] << 8 | sig[3];
	if (alg == 0x0018 && hash == 0x000b)
		return -7;	/* ES256 */
	if (alg == 0x0018 && hash == 0x000c)
		return -35;	/* ES384 */
	if (alg == 0x0014 && hash == 0x000b)
		return -257;	/* RS256 */
	if (alg == 0x0016 && hash == 0x000b)
		return -37;	/* PS256 */
	return 0;
}

/* One evidence production on the TLS key's TPM connection. */
struct real_ev {
	const struct kw_posture_client_in *in;
	const char *ak, *key;
	struct tpm_opts kopts;
	struct tpm_ek_cert *ek;
	size_t nek;
	uint8_t ak_pub[TPM_ATTEST_PUB_MAX];
	size_t ak_pub_len;
	struct tpm_evidence cert, quote;
	uint64_t cmds;
	/* activation */
	const uint8_t *blob, *secret;
	size_t blob_len, secret_len;
	uint8_t *cred;
	size_t *cred_len;
};

static int
real_ev_tpm(struct tpm_attest *a, void *arg)
{
	struct real_ev *x = arg;
	uint64_t c0 = tpm_attest_cmds(a);
	int r;

	x->ak_pub_len = sizeof(x->ak_pub);
	if ((r = tpm_attest_ek_certs(a, &x->ek, &x->nek)) != KW_OK)
		goto out;
	if (x->nek == 0) {
		kw_err("posture: the TPM holds no EK certificate: a gateway "
		    "cannot tell it is a TPM (provision one, see "
		    "keyward-attestation(7))");
		r = KW_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = tpm_attest_ak_public(a, x->ak, x->ak_pub, &x->ak_pub_len,
	    NULL, NULL, NULL, NULL)) != KW_OK ||
	    (r = tpm_attest_certify(a, x->ak, x->key, &x->kopts, x->in->qd,
	    KW_POSTURE_QD_LEN, &x->cert)) != KW_OK ||
	    (r = tpm_attest_quote(a, x->ak, TPM_PCR_DEFAULT_MASK, x->in->qd,
	    KW_POSTURE_QD_LEN, &x->quote)) != KW_OK)
		goto out;
out:
	x->cmds = tpm_attest_cmds(a) - c0;
	return r;
}

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

static int
real_prepare(const struct kw_posture_client_in *in, struct real_ev *x,
    char **auth)
{
	int r;

	memset(x, 0, sizeof(*x));
	*auth = NULL;
	x->in = in;
	x->ak = real_tpm_spec(in->ak_ref);
	x->key = real_tpm_spec(in->tls_key_ref);
	if (x->ak == NULL) {
		kw_err("posture: the attestation key %s is not a TPM key "
		    "(tpm:PATH)", in->ak_ref != NULL ? in->ak_ref : "(none)");
		return KW_ERR_ARG;
	}
	if (x->key == NULL || in->tls_key == NULL) {
		kw_err("posture: the tunnel's key %s is not a TPM key: only "
		    "a TPM-held key can be attested", in->tls_key_ref != NULL ?
		    in->tls_key_ref : "(none)");
		return KW_ERR_UNSUPPORTED;
	}
	x->kopts.tcti = in->tcti;
	if (in->auth_file != NULL) {
		if ((r = kw_secret_file_read(in->auth_file, "auth-value file",
		    auth)) != KW_OK)
			return r;
		x->kopts.auth = *auth;
	}
	return KW_OK;
}

static int
real_evidence(const struct kw_posture_client_in *in, uint8_t **ev,
    size_t *ev_len, unsigned *tpm_cmds)
{
	struct kw_attest_evidence e;
	struct real_ev *x = NULL;
	uint8_t *log = NULL, *vals = NULL;
	size_t log_len = 0, nv = 0, i;
	char *auth = NULL;
	int r;

	*ev = NULL;
	*ev_len = 0;
	*tpm_cmds = 0;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return KW_ERR_NOMEM;
	if ((r = real_prepare(in, x, &auth)) != KW_OK ||
	    (r = real_event_log(in->event_log, &log, &log_len)) != KW_OK)
		goto out;
	r = tpm_attest_with_key(in->tls_key, real_ev_tpm, x);
	*tpm_cmds = (unsigned)x->cmds;
	if (r != KW_OK)
		goto out;
	if ((vals = malloc(TPM_PCR_COUNT * 32)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < TPM_PCR_COUNT; i++)
		if (x->quote.pcr_mask & (1u << i))
			memcpy(vals + 32 * nv++, x->quote.pcr[i], 32);
	memset(&e, 0, sizeof(e));
	e.x5c[0].p = x->ek[0].der;
	e.x5c[0].len = x->ek[0].der_len;
	e.nx5c = 1;
	e.ak_pub.p = x->ak_pub;
	e.ak_pub.len = x->ak_pub_len;
	e.has_certify = 1;
	e.alg = real_cose_alg(x->cert.sig, x->cert.sig_len);
	e.cert_info.p = x->cert.attest;
	e.cert_info.len = x->cert.attest_len;
	e.cert_sig.p = x->cert.sig;
	e.cert_sig.len = x->cert.sig_len;
	e.pub_area.p = x->cert.pub;
	e.pub_area.len = x->cert.pub_len;
	e.has_posture = 1;
	e.time = (uint64_t)time(NULL);
	e.quote.p = x->quote.attest;
	e.quote.len = x->quote.attest_len;
	e.quote_sig.p = x->quote.sig;
	e.quote_sig.len = x->quote.sig_len;
	e.pcr_values.p = vals;
	e.pcr_values.len = 32 * nv;
	e.event_log.p = log;
	e.event_log.len = log_len;
	r = kw_attest_evidence_encode(&e, ev, ev_len);
out:
	tpm_attest_ek_certs_free(x->ek, x->nek);
	kw_free_secret(auth);
	free(x);
	free(vals);
	free(log);
	return r;
}

static int
real_act_tpm(struct tpm_attest *a, void *arg)
{
	struct real_ev *x = arg;
	uint64_t c0 = tpm_attest_cmds(a);
	int r;

	r = tpm_attest_activate(a, x->ak, 0, x->blob, x->blob_len, x->secret,
	    x->secret_len, x->cred, x->cred_len);
	x->cmds = tpm_attest_cmds(a) - c0;
	return r;
}

/* A TPM2B on the wire (size first, as keyward-attestation(7) says):
 * its contents, which TPM2_ActivateCredential's caller passes. */
static int
real_tpm2b(const uint8_t *p, size_t len, const uint8_t **body,
    size_t *body_len)
{
	if (len < 2 || ((size_t)p[0] << 8 | p[1]) != len - 2)
		return KW_ERR_PARSE;
	*body = p + 2;
	*body_len = len - 2;
	return KW_OK;
}

static int
real_activate(const struct kw_posture_client_in *in, const uint8_t *blob,
    size_t blob_len, const uint8_t *secret, size_t secret_len,
    uint8_t *cred, size_t *cred_len, unsigned *tpm_cmds)
{
	struct real_ev *x = NULL;
	char *auth = NULL;
	int r;

	*tpm_cmds = 0;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return KW_ERR_NOMEM;
	if ((r = real_prepare(in, x, &auth)) != KW_OK)
		goto out;
	if (real_tpm2b(blob, blob_len, &x->blob, &x->blob_len) != KW_OK ||
	    real_tpm2b(secret, secret_len, &x->secret, &x->secret_len) !=
	    KW_OK) {
		kw_err("posture: the gateway's credential is not two TPM2B "
		    "structures (%zu + %zu bytes)", blob_len, secret_len);
		r = KW_ERR_PARSE;
		goto out;
	}
	x->cred = cred;
	x->cred_len = cred_len;
	r = tpm_attest_with_key(in->tls_key, real_act_tpm, x);
	*tpm_cmds = (unsigned)x->cmds;
out:
	if (r != KW_OK)
		*cred_len = 0;
	kw_free_secret(auth);
	free(x);
	return r;
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
