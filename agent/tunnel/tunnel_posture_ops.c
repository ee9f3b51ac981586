/* The posture seam's real implementation: the client's TPM work
 * (tpm/tpm_attest) and the server's verifier (attest/).
 *
 * WIRING PENDING: tpm/tpm_attest.h and attest/'s verifier and policy are
 * not in main yet; until they are, every slot says so (one log line) and
 * fails, so a client with `ak` answers nothing and a server with
 * `require-posture` refuses every client ("posture verifier not built"). */
#include <wolfssl/options.h>

#include "kw_error.h"
#include "kw_log.h"
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
	return real_missing("the posture policy (attest/policy)");
}

static void
real_policy_free(void *pol)
{
	(void)pol;
}

static int
real_store_new(void **store)
{
	*store = NULL;
	return KW_OK;
}

static void
real_store_free(void *store)
{
	(void)store;
}

static int
real_verify(void *pol, void *store, const uint8_t *ev, size_t ev_len,
    const uint8_t *nonce, const uint8_t *exporter, const uint8_t *qd,
    const uint8_t *spki, size_t spki_len, struct kw_posture_verdict *v)
{
	(void)pol; (void)store; (void)ev; (void)ev_len; (void)qd; (void)spki;
	(void)nonce; (void)exporter;
	(void)spki_len; (void)v;
	return real_missing("the evidence verifier (attest/)");
}

static int
real_challenge(void *pol, const struct kw_posture_verdict *v,
    uint8_t **blob, size_t *blob_len, uint8_t **secret, size_t *secret_len,
    uint8_t *cred, size_t *cred_len)
{
	(void)pol; (void)v; (void)cred;
	*blob = *secret = NULL;
	*blob_len = *secret_len = *cred_len = 0;
	return real_missing("MakeCredential (attest/)");
}

static int
real_bind(void *store, const struct kw_posture_verdict *v)
{
	(void)store; (void)v;
	return real_missing("the EK -> AK binding store (attest/)");
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
