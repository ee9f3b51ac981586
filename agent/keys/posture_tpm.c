/* A client's posture evidence from its TPM: see posture_tpm.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_secret.h"
#include "attest/attest.h"
#include "tpm/tpm_attest.h"
#include "tpm/tpm_key.h"
#include "agent/keys/posture_tpm.h"

const char *
kw_posture_tpm_spec(const char *ref)
{
	if (ref == NULL)
		return NULL;
	return strncmp(ref, "tpm:", 4) == 0 && ref[4] != '\0' ? ref + 4 :
	    NULL;
}

/* The COSE alg of a marshalled TPMT_SIGNATURE (sigAlg, hashAlg). */
static int64_t
kw_pt_cose_alg(const uint8_t *sig, size_t len)
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

/* One production (or activation) on the TLS key's TPM connection. */
struct kw_pt {
	const char *ak, *key;
	struct tpm_opts kopts;
	const uint8_t *qd;
	size_t qd_len;
	struct tpm_ek_cert *ek;
	size_t nek;
	uint8_t ak_pub[TPM_ATTEST_PUB_MAX];
	size_t ak_pub_len;
	struct tpm_evidence cert, quote;
	uint64_t cmds;
	const uint8_t *blob, *secret;
	size_t blob_len, secret_len;
	uint8_t *cred;
	size_t *cred_len;
};

static int
kw_pt_evidence_tpm(struct tpm_attest *a, void *arg)
{
	struct kw_pt *x = arg;
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
	    (r = tpm_attest_certify(a, x->ak, x->key, &x->kopts, x->qd,
	    x->qd_len, &x->cert)) != KW_OK ||
	    (r = tpm_attest_quote(a, x->ak, TPM_PCR_DEFAULT_MASK, x->qd,
	    x->qd_len, &x->quote)) != KW_OK)
		goto out;
out:
	x->cmds = tpm_attest_cmds(a) - c0;
	return r;
}

int
kw_posture_tpm_evidence(struct kw_key *tls_key, const char *ak_spec,
    const char *key_spec, const char *auth_file, const char *tcti,
    const uint8_t *qd, size_t qd_len, const uint8_t *log, size_t log_len,
    uint8_t **ev, size_t *ev_len, unsigned *tpm_cmds)
{
	struct kw_attest_evidence e;
	struct kw_pt *x = NULL;
	uint8_t vals[TPM_PCR_COUNT * 32];
	size_t nv = 0, i;
	char *auth = NULL;
	int r;

	*ev = NULL;
	*ev_len = 0;
	*tpm_cmds = 0;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return KW_ERR_NOMEM;
	x->ak = ak_spec;
	x->key = key_spec;
	x->qd = qd;
	x->qd_len = qd_len;
	x->kopts.tcti = tcti;
	if (auth_file != NULL) {
		if ((r = kw_secret_file_read(auth_file, "auth-value file",
		    &auth)) != KW_OK)
			goto out;
		x->kopts.auth = auth;
	}
	r = tpm_attest_with_key(tls_key, kw_pt_evidence_tpm, x);
	*tpm_cmds = (unsigned)x->cmds;
	if (r == KW_ERR_UNSUPPORTED)
		kw_err("posture: the key %s is not a TPM key: only a TPM-held "
		    "key can be attested", key_spec);
	if (r != KW_OK)
		goto out;
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
	e.alg = kw_pt_cose_alg(x->cert.sig, x->cert.sig_len);
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
	return r;
}

static int
kw_pt_activate_tpm(struct tpm_attest *a, void *arg)
{
	struct kw_pt *x = arg;
	uint64_t c0 = tpm_attest_cmds(a);
	int r;

	r = tpm_attest_activate(a, x->ak, 0, x->blob, x->blob_len, x->secret,
	    x->secret_len, x->cred, x->cred_len);
	x->cmds = tpm_attest_cmds(a) - c0;
	return r;
}

/* A TPM2B on the wire (size first): its contents. */
static int
kw_pt_tpm2b(const uint8_t *p, size_t len, const uint8_t **body,
    size_t *body_len)
{
	if (len < 2 || ((size_t)p[0] << 8 | p[1]) != len - 2)
		return KW_ERR_PARSE;
	*body = p + 2;
	*body_len = len - 2;
	return KW_OK;
}

int
kw_posture_tpm_activate(struct kw_key *tls_key, const char *ak_spec,
    const uint8_t *blob, size_t blob_len, const uint8_t *secret,
    size_t secret_len, uint8_t *cred, size_t *cred_len, unsigned *tpm_cmds)
{
	struct kw_pt x;
	int r;

	*tpm_cmds = 0;
	memset(&x, 0, sizeof(x));
	x.ak = ak_spec;
	if (kw_pt_tpm2b(blob, blob_len, &x.blob, &x.blob_len) != KW_OK ||
	    kw_pt_tpm2b(secret, secret_len, &x.secret, &x.secret_len) !=
	    KW_OK) {
		kw_err("posture: the gateway's credential is not two TPM2B "
		    "structures (%zu + %zu bytes)", blob_len, secret_len);
		*cred_len = 0;
		return KW_ERR_PARSE;
	}
	x.cred = cred;
	x.cred_len = cred_len;
	r = tpm_attest_with_key(tls_key, kw_pt_activate_tpm, &x);
	*tpm_cmds = (unsigned)x.cmds;
	if (r != KW_OK)
		*cred_len = 0;
	return r;
}
