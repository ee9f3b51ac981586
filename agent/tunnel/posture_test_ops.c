/* keyward-test only: a tap on the real posture seam
 * (KEYWARD_TEST_POSTURE=tap) for what a test cannot make a real client
 * do: KEYWARD_TEST_POSTURE_SAVE=FILE writes the evidence the client sent
 * (real: Certify + Quote from its TPM), KEYWARD_TEST_POSTURE_REPLAY=FILE
 * sends that file instead of fresh evidence (a quote made for another TLS
 * session).  Every other slot is the real one.  The installed keyward is
 * built without KW_TEST_HOOKS and always uses the real ops. */
#include <wolfssl/options.h>

#include "agent/tunnel/tunnel_posture.h"

#ifdef KW_TEST_HOOKS
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_mem.h"

static int
tap_evidence(const struct kw_posture_client_in *in, uint8_t **ev,
    size_t *ev_len, unsigned *tpm_cmds)
{
	const char *replay = getenv("KEYWARD_TEST_POSTURE_REPLAY");
	const char *save = getenv("KEYWARD_TEST_POSTURE_SAVE");
	int r;

	*ev = NULL;
	*ev_len = 0;
	*tpm_cmds = 0;
	if (replay != NULL && *replay != '\0')
		return kw_file_read(replay, 1 << 20, ev, ev_len);
	r = kw_posture_real_ops.evidence(in, ev, ev_len, tpm_cmds);
	if (r == KW_OK && save != NULL && *save != '\0')
		(void)kw_file_write_atomic(save, *ev, *ev_len, 0600, 0);
	return r;
}

/* The other slots: the real ones. */
#define REAL kw_posture_real_ops
static int
tap_activate(const struct kw_posture_client_in *in, const uint8_t *blob,
    size_t blob_len, const uint8_t *secret, size_t secret_len,
    uint8_t *cred, size_t *cred_len, unsigned *tpm_cmds)
{
	return REAL.activate(in, blob, blob_len, secret, secret_len, cred,
	    cred_len, tpm_cmds);
}

static int
tap_policy_load(const char *file, void **pol, unsigned *recheck_s)
{
	return REAL.policy_load(file, pol, recheck_s);
}

static void
tap_policy_free(void *pol)
{
	REAL.policy_free(pol);
}

static int
tap_store_new(void **store)
{
	return REAL.store_new(store);
}

static void
tap_store_free(void *store)
{
	REAL.store_free(store);
}

static int
tap_verify(void *pol, void *store, const uint8_t *ev, size_t ev_len,
    const uint8_t *nonce, const uint8_t *exporter, const uint8_t *qd,
    const uint8_t *spki, size_t spki_len, struct kw_posture_verdict *v)
{
	return REAL.verify(pol, store, ev, ev_len, nonce, exporter, qd, spki,
	    spki_len, v);
}

static int
tap_challenge(void *pol, const struct kw_posture_verdict *v,
    uint8_t **blob, size_t *blob_len, uint8_t **secret, size_t *secret_len,
    uint8_t *cred, size_t *cred_len)
{
	return REAL.challenge(pol, v, blob, blob_len, secret, secret_len, cred,
	    cred_len);
}

static int
tap_bind(void *store, const struct kw_posture_verdict *v)
{
	return REAL.bind(store, v);
}
#undef REAL

static const struct kw_posture_ops tap_ops = {
	.evidence = tap_evidence,
	.activate = tap_activate,
	.policy_load = tap_policy_load,
	.policy_free = tap_policy_free,
	.store_new = tap_store_new,
	.store_free = tap_store_free,
	.verify = tap_verify,
	.challenge = tap_challenge,
	.bind = tap_bind,
};

const struct kw_posture_ops *
kw_posture_test_ops(void)
{
	const char *e = getenv("KEYWARD_TEST_POSTURE");

	return e != NULL && strcmp(e, "tap") == 0 ? &tap_ops : NULL;
}
#else
const struct kw_posture_ops *
kw_posture_test_ops(void)
{
	return NULL;
}
#endif
