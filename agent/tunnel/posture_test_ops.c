/* keyward-test only: a stand-in for the posture seam's TPM attestation
 * and verifier (KEYWARD_TEST_POSTURE=fake), used by the tunnel's posture
 * tests until tpm/tpm_attest and attest/ are wired in; the installed
 * keyward is built without KW_TEST_HOOKS and always uses the real ones.
 *
 * Its "evidence": "KWFAKE1" | qd (32) | SHA-256 of the TLS key's SPKI
 * (32) | Secure Boot (1 byte: 0 when the event log file holds
 * "SecureBoot=off") | a signature by the TLS key over qd (1 TPM command).
 * KEYWARD_TEST_POSTURE_SAVE=FILE writes the evidence sent; ..._REPLAY=FILE
 * sends that file instead (a quote from another session).  Policy file:
 * `recheck = N` and `secure-boot = required|ignore`; other lines ignored. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "agent/tunnel/tunnel_posture.h"

#ifdef KW_TEST_HOOKS
#include <sys/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"

#define FAKE_MAGIC	"KWFAKE1"
#define FAKE_LEN	(7 + 32 + 32 + 1)

struct fake_pol {
	unsigned recheck;
	int sb_required;
};

struct fake_store {
	int bound;
};

static int
fake_evidence(const struct kw_posture_client_in *in, uint8_t **ev,
    size_t *ev_len, unsigned *tpm_cmds)
{
	const char *replay = getenv("KEYWARD_TEST_POSTURE_REPLAY");
	const char *save = getenv("KEYWARD_TEST_POSTURE_SAVE");
	uint8_t spki[KW_MAX_PUBKEY_DER], sig[KW_MAX_SIG], *log = NULL, *b;
	size_t spki_len = sizeof(spki), sig_len = sizeof(sig), log_len = 0;
	enum kw_sig_scheme sch;
	int r;

	*ev = NULL;
	*ev_len = 0;
	*tpm_cmds = 0;
	if (replay != NULL && *replay != '\0')
		return kw_file_read(replay, 65536, ev, ev_len);
	if ((r = kw_key_public_der(in->tls_key, spki, &spki_len)) != KW_OK)
		return r;
	sch = kw_alg_is_rsa(kw_key_alg(in->tls_key)) ? KW_SIG_RSA_PSS :
	    KW_SIG_ECDSA;
	(*tpm_cmds)++;
	if ((r = kw_key_sign(in->tls_key, sch, KW_HASH_SHA256, in->qd, 32,
	    sig, &sig_len)) != KW_OK)
		return r;
	if (in->event_log != NULL && (r = kw_file_read(in->event_log,
	    1 << 20, &log, &log_len)) != KW_OK)
		return r;
	if ((b = malloc(FAKE_LEN)) == NULL) {
		free(log);
		return KW_ERR_NOMEM;
	}
	memcpy(b, FAKE_MAGIC, 7);
	memcpy(b + 7, in->qd, 32);
	(void)wc_Sha256Hash(spki, (word32)spki_len, b + 39);
	b[71] = log != NULL && strstr((char *)log, "SecureBoot=off") ? 0 : 1;
	free(log);
	if (save != NULL && *save != '\0')
		(void)kw_file_write_atomic(save, b, FAKE_LEN, 0600, 0);
	*ev = b;
	*ev_len = FAKE_LEN;
	return KW_OK;
}

static int
fake_activate(const struct kw_posture_client_in *in, const uint8_t *blob,
    size_t blob_len, const uint8_t *secret, size_t secret_len,
    uint8_t *cred, size_t *cred_len, unsigned *tpm_cmds)
{
	(void)in; (void)secret; (void)secret_len;
	*tpm_cmds = 0;
	if (blob_len > *cred_len)
		return KW_ERR_SPACE;
	memcpy(cred, blob, blob_len);
	*cred_len = blob_len;
	return KW_OK;
}

static int
fake_policy_load(const char *file, void **pol, unsigned *recheck_s)
{
	struct fake_pol *p;
	char line[512];
	FILE *f;

	*pol = NULL;
	*recheck_s = 0;
	if ((f = fopen(file, "r")) == NULL) {
		kw_err("posture policy %s: cannot open it", file);
		return KW_ERR_NOT_FOUND;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		fclose(f);
		return KW_ERR_NOMEM;
	}
	p->recheck = 600;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, " recheck = %u", &p->recheck) == 1)
			continue;
		if (strstr(line, "secure-boot") && strstr(line, "required"))
			p->sb_required = 1;
	}
	fclose(f);
	*pol = p;
	*recheck_s = p->recheck;
	return KW_OK;
}

static void
fake_policy_free(void *pol)
{
	free(pol);
}

static int
fake_store_new(void **store)
{
	*store = calloc(1, sizeof(struct fake_store));
	return *store != NULL ? KW_OK : KW_ERR_NOMEM;
}

static void
fake_store_free(void *store)
{
	free(store);
}

static int
fake_verify(void *pol, void *store, const uint8_t *ev, size_t ev_len,
    const uint8_t *nonce, const uint8_t *exporter, const uint8_t *qd,
    const uint8_t *spki, size_t spki_len, struct kw_posture_verdict *v)
{
	struct fake_pol *p = pol;
	struct fake_store *s = store;
	uint8_t h[32];

	(void)nonce;
	(void)exporter;
	memset(v, 0, sizeof(*v));
	if (ev_len != FAKE_LEN || memcmp(ev, FAKE_MAGIC, 7) != 0)
		return KW_ERR_PARSE;
	(void)wc_Sha256Hash(spki, (word32)spki_len, h);
	if (memcmp(ev + 7, qd, 32) != 0) {
		v->why = KW_PR_SESSION;
		snprintf(v->reason, sizeof(v->reason), "quote not made for "
		    "this nonce and TLS session");
	} else if (memcmp(ev + 39, h, 32) != 0) {
		v->why = KW_PR_KEY;
		snprintf(v->reason, sizeof(v->reason), "certified key is not "
		    "the client certificate's");
	} else if (p->sb_required && ev[71] == 0) {
		v->why = KW_PR_SECURE_BOOT;
		snprintf(v->reason, sizeof(v->reason), "secure boot off");
	} else {
		v->ok = 1;
		v->need_activation = !s->bound;
		v->ak_name_len = 2;
	}
	return KW_OK;
}

static int
fake_challenge(void *pol, const struct kw_posture_verdict *v,
    uint8_t **blob, size_t *blob_len, uint8_t **secret, size_t *secret_len,
    uint8_t *cred, size_t *cred_len)
{
	(void)pol; (void)v;
	*blob = malloc(32);
	*secret = malloc(32);
	if (*blob == NULL || *secret == NULL || *cred_len < 32 ||
	    getrandom(*blob, 32, 0) != 32 || getrandom(*secret, 32, 0) != 32) {
		free(*blob);
		free(*secret);
		*blob = *secret = NULL;
		return KW_ERR_CRYPTO;
	}
	*blob_len = *secret_len = 32;
	memcpy(cred, *blob, 32);
	*cred_len = 32;
	return KW_OK;
}

static int
fake_bind(void *store, const struct kw_posture_verdict *v)
{
	(void)v;
	((struct fake_store *)store)->bound = 1;
	return KW_OK;
}

static const struct kw_posture_ops fake_ops = {
	.evidence = fake_evidence,
	.activate = fake_activate,
	.policy_load = fake_policy_load,
	.policy_free = fake_policy_free,
	.store_new = fake_store_new,
	.store_free = fake_store_free,
	.verify = fake_verify,
	.challenge = fake_challenge,
	.bind = fake_bind,
};

const struct kw_posture_ops *
kw_posture_test_ops(void)
{
	const char *e = getenv("KEYWARD_TEST_POSTURE");

	if (e != NULL && strcmp(e, "fake") == 0)
		return &fake_ops;
	return NULL;
}
#else
const struct kw_posture_ops *
kw_posture_test_ops(void)
{
	return NULL;
}
#endif
