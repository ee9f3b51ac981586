/* Unit tests for tpm/ against a mocked ESAPI (-Wl,--wrap=Esys_...): the
 * error paths swtpm cannot produce on demand.  A wrong auth value or a
 * lockout is never retried; a dropped connection is reconnected once; a
 * TCTI that cannot start fails cleanly; every transient object is flushed;
 * without a resource manager nothing stays loaded between signatures (the
 * key's saved context is loaded for each), a TPM out of slots is waited
 * for, a context the TPM no longer takes is replaced by a reload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "tpm/tpm_int.h"
#include "tpm/tpm_key.h"
#include "tests/unit/esys_mock.h"

/* What the fake TPM does and what it saw beyond esys_mock (test-only
 * state). */
static struct {
	TSS2_RC sign_rc[4];	/* per Esys_Sign call; then success */
	int signs, sessions;
	ESYS_TR last_sign_session;
	TPM2B_DIGEST last_digest;
	TPMI_ALG_HASH last_hash;
	uint8_t em[256];	/* what "RSA encrypting" a signature gives */
	TPM2B_PUBLIC persistent_pub;	/* what ReadPublic returns */
} mock;

TSS2_RC __wrap_Esys_TR_FromTPMPublic(ESYS_CONTEXT *ctx, TPM2_HANDLE h,
    ESYS_TR s1, ESYS_TR s2, ESYS_TR s3, ESYS_TR *obj);
TSS2_RC __wrap_Esys_ReadPublic(ESYS_CONTEXT *ctx, ESYS_TR h, ESYS_TR s1,
    ESYS_TR s2, ESYS_TR s3, TPM2B_PUBLIC **pub, TPM2B_NAME **name,
    TPM2B_NAME **qname);
TSS2_RC __wrap_Esys_StartAuthSession(ESYS_CONTEXT *ctx, ESYS_TR tpm_key,
    ESYS_TR bind, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
    const TPM2B_NONCE *nonce, TPM2_SE type, const TPMT_SYM_DEF *sym,
    TPMI_ALG_HASH hash, ESYS_TR *sess);
TSS2_RC __wrap_Esys_TRSess_SetAttributes(ESYS_CONTEXT *ctx, ESYS_TR sess,
    TPMA_SESSION flags, TPMA_SESSION mask);
TSS2_RC __wrap_Esys_LoadExternal(ESYS_CONTEXT *ctx, ESYS_TR s1, ESYS_TR s2,
    ESYS_TR s3, const TPM2B_SENSITIVE *priv, const TPM2B_PUBLIC *pub,
    ESYS_TR hierarchy, ESYS_TR *obj);
TSS2_RC __wrap_Esys_RSA_Encrypt(ESYS_CONTEXT *ctx, ESYS_TR key, ESYS_TR s1,
    ESYS_TR s2, ESYS_TR s3, const TPM2B_PUBLIC_KEY_RSA *msg,
    const TPMT_RSA_DECRYPT *scheme, const TPM2B_DATA *label,
    TPM2B_PUBLIC_KEY_RSA **out);
TSS2_RC __wrap_Esys_Hash(ESYS_CONTEXT *ctx, ESYS_TR s1, ESYS_TR s2,
    ESYS_TR s3, const TPM2B_MAX_BUFFER *data, TPMI_ALG_HASH alg,
    ESYS_TR hierarchy, TPM2B_DIGEST **out, TPMT_TK_HASHCHECK **ticket);
TSS2_RC __wrap_Esys_Sign(ESYS_CONTEXT *ctx, ESYS_TR key, ESYS_TR s1,
    ESYS_TR s2, ESYS_TR s3, const TPM2B_DIGEST *digest,
    const TPMT_SIG_SCHEME *scheme, const TPMT_TK_HASHCHECK *check,
    TPMT_SIGNATURE **sig);

TSS2_RC
__wrap_Esys_TR_FromTPMPublic(ESYS_CONTEXT *ctx, TPM2_HANDLE h, ESYS_TR s1,
    ESYS_TR s2, ESYS_TR s3, ESYS_TR *obj)
{
	(void)ctx; (void)s1; (void)s2; (void)s3;
	assert_int_equal(h, 0x81000042);
	*obj = esys_mock_next_tr++;
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_ReadPublic(ESYS_CONTEXT *ctx, ESYS_TR h, ESYS_TR s1, ESYS_TR s2,
    ESYS_TR s3, TPM2B_PUBLIC **pub, TPM2B_NAME **name, TPM2B_NAME **qname)
{
	(void)ctx; (void)h; (void)s1; (void)s2; (void)s3;
	assert_null(name);
	assert_null(qname);
	*pub = calloc(1, sizeof(**pub));
	**pub = mock.persistent_pub;
	return TSS2_RC_SUCCESS;
}

/* The fake TPM's "SHA-256": any fixed function of the input will do, as
 * long as the test builds its encoded messages with the same one. */
static void
toy_hash(const uint8_t *p, size_t n, uint8_t out[32])
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	for (i = 0; i < 32; i++) {
		h = (h ^ (uint32_t)i) * 16777619u;
		out[i] = (uint8_t)(h >> 24);
	}
}

TSS2_RC
__wrap_Esys_LoadExternal(ESYS_CONTEXT *ctx, ESYS_TR s1, ESYS_TR s2,
    ESYS_TR s3, const TPM2B_SENSITIVE *priv, const TPM2B_PUBLIC *pub,
    ESYS_TR hierarchy, ESYS_TR *obj)
{
	(void)ctx; (void)s1; (void)s2; (void)s3; (void)hierarchy;
	/* public part only, as a decryption key, never signing */
	assert_null(priv);
	assert_true(pub->publicArea.objectAttributes & TPMA_OBJECT_DECRYPT);
	assert_false(pub->publicArea.objectAttributes &
	    TPMA_OBJECT_SIGN_ENCRYPT);
	*obj = esys_mock_next_tr++;
	esys_mock.live++;
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_RSA_Encrypt(ESYS_CONTEXT *ctx, ESYS_TR key, ESYS_TR s1,
    ESYS_TR s2, ESYS_TR s3, const TPM2B_PUBLIC_KEY_RSA *msg,
    const TPMT_RSA_DECRYPT *scheme, const TPM2B_DATA *label,
    TPM2B_PUBLIC_KEY_RSA **out)
{
	(void)ctx; (void)key; (void)s1; (void)s2; (void)s3; (void)msg;
	(void)label;
	assert_int_equal(scheme->scheme, TPM2_ALG_NULL);	/* raw RSA */
	*out = calloc(1, sizeof(**out));
	(*out)->size = sizeof(mock.em);
	memcpy((*out)->buffer, mock.em, sizeof(mock.em));
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_Hash(ESYS_CONTEXT *ctx, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
    const TPM2B_MAX_BUFFER *data, TPMI_ALG_HASH alg, ESYS_TR hierarchy,
    TPM2B_DIGEST **out, TPMT_TK_HASHCHECK **ticket)
{
	(void)ctx; (void)s1; (void)s2; (void)s3; (void)hierarchy;
	assert_int_equal(alg, TPM2_ALG_SHA256);
	assert_null(ticket);
	*out = calloc(1, sizeof(**out));
	(*out)->size = 32;
	toy_hash(data->buffer, data->size, (*out)->buffer);
	return TSS2_RC_SUCCESS;
}

/* EMSA-PSS-ENCODE (RFC 8017 9.1.1) of the probe's digest with the toy
 * hash, for a 2048-bit key, with this salt length. */
static void
make_em(size_t salt_len)
{
	uint8_t mhash[32], m[8 + 32 + 256], h[32], db[256 - 33], blk[36];
	size_t dblen = sizeof(db), i, off;
	uint32_t ctr;

	memset(mhash, 0x5a, sizeof(mhash));	/* the probe's digest */
	memset(m, 0, 8);
	memcpy(m + 8, mhash, 32);
	for (i = 0; i < salt_len; i++)
		m[40 + i] = (uint8_t)(0xc0 + i);
	toy_hash(m, 40 + salt_len, h);
	memset(db, 0, dblen);
	db[dblen - salt_len - 1] = 0x01;
	memcpy(db + dblen - salt_len, m + 40, salt_len);
	for (ctr = 0, off = 0; off < dblen; ctr++) {
		uint8_t mask[32];

		memcpy(blk, h, 32);
		blk[32] = (uint8_t)(ctr >> 24);
		blk[33] = (uint8_t)(ctr >> 16);
		blk[34] = (uint8_t)(ctr >> 8);
		blk[35] = (uint8_t)ctr;
		toy_hash(blk, 36, mask);
		for (i = 0; i < 32 && off < dblen; i++, off++)
			db[off] ^= mask[i];
	}
	db[0] &= 0x7f;
	memcpy(mock.em, db, dblen);
	memcpy(mock.em + dblen, h, 32);
	mock.em[255] = 0xbc;
}

TSS2_RC
__wrap_Esys_StartAuthSession(ESYS_CONTEXT *ctx, ESYS_TR tpm_key,
    ESYS_TR bind, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
    const TPM2B_NONCE *nonce, TPM2_SE type, const TPMT_SYM_DEF *sym,
    TPMI_ALG_HASH hash, ESYS_TR *sess)
{
	(void)ctx; (void)bind; (void)s1; (void)s2; (void)s3; (void)nonce;
	(void)hash;
	/* salted with a loaded SRK, parameter encryption on */
	assert_int_not_equal(tpm_key, ESYS_TR_NONE);
	assert_int_equal(type, TPM2_SE_HMAC);
	assert_int_equal(sym->algorithm, TPM2_ALG_AES);
	*sess = esys_mock_next_tr++;
	mock.sessions++;
	esys_mock.live++;
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_TRSess_SetAttributes(ESYS_CONTEXT *ctx, ESYS_TR sess,
    TPMA_SESSION flags, TPMA_SESSION mask)
{
	(void)ctx; (void)sess; (void)mask;
	assert_true(flags & TPMA_SESSION_DECRYPT);
	assert_true(flags & TPMA_SESSION_CONTINUESESSION);
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_Sign(ESYS_CONTEXT *ctx, ESYS_TR key, ESYS_TR s1, ESYS_TR s2,
    ESYS_TR s3, const TPM2B_DIGEST *digest, const TPMT_SIG_SCHEME *scheme,
    const TPMT_TK_HASHCHECK *check, TPMT_SIGNATURE **sig)
{
	TSS2_RC rc;

	(void)ctx; (void)key; (void)s2; (void)s3; (void)check;
	mock.last_sign_session = s1;
	mock.last_digest = *digest;
	mock.last_hash = scheme->details.ecdsa.hashAlg;
	assert_int_equal(digest->size, 32);
	rc = mock.signs < 4 ? mock.sign_rc[mock.signs] : TSS2_RC_SUCCESS;
	mock.signs++;
	if (rc == TSS2_TCTI_RC_IO_ERROR)
		esys_mock.live = 0;	/* the TPM went away with our objects */
	if (rc != TSS2_RC_SUCCESS)
		return rc;
	*sig = calloc(1, sizeof(**sig));
	if (scheme->scheme == TPM2_ALG_RSAPSS) {
		/* contents do not matter: RSA_Encrypt returns mock.em */
		(*sig)->sigAlg = TPM2_ALG_RSAPSS;
		(*sig)->signature.rsapss.sig.size = 256;
		return TSS2_RC_SUCCESS;
	}
	assert_int_equal(scheme->scheme, TPM2_ALG_ECDSA);
	(*sig)->sigAlg = TPM2_ALG_ECDSA;
	(*sig)->signature.ecdsa.signatureR.size = 31;	/* short: padded */
	memset((*sig)->signature.ecdsa.signatureR.buffer, 0x11, 31);
	(*sig)->signature.ecdsa.signatureS.size = 32;
	memset((*sig)->signature.ecdsa.signatureS.buffer, 0x22, 32);
	return TSS2_RC_SUCCESS;
}

static char test_dir[64];
static char test_key[128];

/* A key file of a (fake) key with emptyAuth as given. */
static void
write_key_alg(enum kw_key_alg alg, int empty_auth)
{
	struct tpm_keyblob kb;
	char *pem = NULL;
	size_t pem_len = 0;

	memset(&kb, 0, sizeof(kb));
	kb.empty_auth = empty_auth;
	kb.parent = 0x40000001;
	assert_int_equal(tpm_pub_key_template(alg, !empty_auth, &kb.pub),
	    KW_OK);
	kb.pub.publicArea.unique.ecc.x.size = 32;
	kb.pub.publicArea.unique.ecc.y.size = 32;
	if (alg == KW_ALG_RSA2048) {
		kb.pub.publicArea.unique.rsa.size = 256;
		memset(kb.pub.publicArea.unique.rsa.buffer, 0xc5, 256);
	}
	kb.priv.size = 100;
	assert_int_equal(tpm_keyfile_to_pem(&kb, &pem, &pem_len), KW_OK);
	unlink(test_key);
	assert_int_equal(kw_file_write_atomic(test_key, pem, pem_len, 0600, 1),
	    KW_OK);
	free(pem);
}

static void
write_key(int empty_auth)
{
	write_key_alg(KW_ALG_EC_P256, empty_auth);
}

static int
setup(void **state)
{
	(void)state;
	memset(&mock, 0, sizeof(mock));
	esys_mock_reset();
	write_key(1);
	return 0;
}

static struct kw_key *
open_key(void)
{
	struct tpm_opts o = { "mock:", NULL, 0 };
	struct kw_key *key = NULL;

	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_OK);
	assert_non_null(key);
	/* the SRK was created and flushed; the key's context saved and the
	 * key flushed: no slot held between signatures */
	assert_int_equal(esys_mock.primaries, 1);
	assert_int_equal(esys_mock.ctxsaves, 1);
	assert_int_equal(esys_mock.live, 0);
	return key;
}

static int
sign_once(struct kw_key *key, uint8_t *sig, size_t *sig_len)
{
	uint8_t digest[32];

	memset(digest, 0x42, sizeof(digest));
	*sig_len = KW_MAX_SIG;
	return kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256, digest,
	    sizeof(digest), sig, sig_len);
}

static void
test_sign_ok_and_all_flushed(void **state)
{
	struct kw_key *key;
	uint8_t sig[KW_MAX_SIG];
	size_t len;

	(void)state;
	key = open_key();
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	/* no auth value: nothing to protect, a password session */
	assert_int_equal(mock.last_sign_session, ESYS_TR_PASSWORD);
	assert_int_equal(mock.sessions, 0);
	assert_int_equal(len, 64);
	assert_int_equal(sig[0], 0);	/* r left-padded to 32 bytes */
	assert_int_equal(sig[1], 0x11);
	assert_int_equal(sig[32], 0x22);
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	/* loaded from the file once, from the saved context per use */
	assert_int_equal(esys_mock.loads, 1);
	assert_int_equal(esys_mock.ctxloads, 2);
	assert_int_equal(esys_mock.live, 0);
	kw_key_close(key);
	assert_int_equal(esys_mock.live, 0);
	assert_int_equal(esys_mock.esys_finals, esys_mock.esys_inits);
	assert_int_equal(esys_mock.tcti_finals, esys_mock.tcti_inits);
}

static void
test_lockout_not_retried(void **state)
{
	struct kw_key *key;
	uint8_t sig[KW_MAX_SIG];
	size_t len;

	(void)state;
	key = open_key();
	mock.sign_rc[0] = TPM2_RC_LOCKOUT;
	assert_int_equal(sign_once(key, sig, &len), KW_ERR_PIN_LOCKED);
	assert_int_equal(len, 0);
	assert_int_equal(mock.signs, 1);
	assert_int_equal(esys_mock.tcti_inits, 1);	/* no reconnect either */
	assert_int_equal(kw_key_sign_failures(key), 1);
	kw_key_close(key);
	assert_int_equal(esys_mock.live, 0);
}

static void
test_auth_fail_not_retried(void **state)
{
	struct kw_key *key;
	uint8_t sig[KW_MAX_SIG];
	size_t len;

	(void)state;
	key = open_key();
	/* HMAC/password check failed in session 1 (counts toward DA) */
	mock.sign_rc[0] = TPM2_RC_AUTH_FAIL | TPM2_RC_S | TPM2_RC_1;
	assert_int_equal(sign_once(key, sig, &len), KW_ERR_PIN_INCORRECT);
	assert_int_equal(mock.signs, 1);
	/* without DA implications: also never retried */
	mock.sign_rc[1] = TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1;
	assert_int_equal(sign_once(key, sig, &len), KW_ERR_PIN_INCORRECT);
	assert_int_equal(mock.signs, 2);
	assert_int_equal(esys_mock.loads, 1);
	kw_key_close(key);
	assert_int_equal(esys_mock.live, 0);
}

static void
test_disconnect_reconnects_once(void **state)
{
	struct kw_key *key;
	uint8_t sig[KW_MAX_SIG];
	size_t len;

	(void)state;
	key = open_key();
	/* connection drops once: reconnect, reload, sign */
	mock.sign_rc[0] = TSS2_TCTI_RC_IO_ERROR;
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	assert_int_equal(mock.signs, 2);
	assert_int_equal(esys_mock.tcti_inits, 2);
	assert_int_equal(esys_mock.loads, 2);
	/* gone for good: one retry, then a clear error... */
	mock.sign_rc[2] = TSS2_TCTI_RC_IO_ERROR;
	mock.sign_rc[3] = TSS2_TCTI_RC_IO_ERROR;
	assert_int_equal(sign_once(key, sig, &len), KW_ERR_TOKEN_ABSENT);
	assert_int_equal(mock.signs, 4);
	/* ...and the next call starts afresh */
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	assert_int_equal(mock.signs, 5);
	kw_key_close(key);
	assert_int_equal(esys_mock.esys_finals, esys_mock.esys_inits);
	assert_int_equal(esys_mock.tcti_finals, esys_mock.tcti_inits);
}

static void
test_tcti_init_fails(void **state)
{
	struct tpm_opts o = { "swtpm:host=127.0.0.1,port=1", NULL, 0 };
	struct kw_key *key = (struct kw_key *)&o;

	(void)state;
	esys_mock.tcti_rc = TSS2_TCTI_RC_IO_ERROR;
	assert_int_equal(tpm_key_open(test_key, &o, &key),
	    KW_ERR_TOKEN_ABSENT);
	assert_null(key);
	assert_int_equal(esys_mock.esys_inits, 0);
	esys_mock.tcti_rc = TSS2_TCTI_RC_NOT_SUPPORTED;	/* no such TCTI */
	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_ERR_CONFIG);
	assert_int_equal(esys_mock.live, 0);
}

/* Like tpm2-tools: --tcti, else $TPM2TOOLS_TCTI, else $TCTI, else the
 * loader's default. */
static void
test_tcti_choice(void **state)
{
	struct tpm_opts o = { NULL, NULL, 0 };
	struct kw_key *key = NULL;

	(void)state;
	setenv("TPM2TOOLS_TCTI", "swtpm:port=1", 1);
	setenv("TCTI", "mssim:port=2", 1);
	o.tcti = "device:/dev/tpmrm0";
	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_OK);
	assert_string_equal(esys_mock.tcti_conf, "device:/dev/tpmrm0");
	kw_key_close(key);
	o.tcti = NULL;
	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_OK);
	assert_string_equal(esys_mock.tcti_conf, "swtpm:port=1");
	kw_key_close(key);
	unsetenv("TPM2TOOLS_TCTI");
	assert_int_equal(tpm_key_open(test_key, NULL, &key), KW_OK);
	assert_string_equal(esys_mock.tcti_conf, "mssim:port=2");
	kw_key_close(key);
	unsetenv("TCTI");
	assert_int_equal(tpm_key_open(test_key, NULL, &key), KW_OK);
	assert_string_equal(esys_mock.tcti_conf, "(null)");
	kw_key_close(key);
}

static void
test_wrong_tpm(void **state)
{
	struct tpm_opts o = { "mock:", NULL, 0 };
	struct kw_key *key = NULL;

	(void)state;
	esys_mock.load_rc = TPM2_RC_INTEGRITY | TPM2_RC_P | TPM2_RC_1;
	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_ERR_WRONG_TPM);
	assert_null(key);
	assert_int_equal(esys_mock.live, 0);		/* SRK flushed */
	assert_int_equal(esys_mock.esys_finals, 1);
}

static void
test_owner_auth_needed(void **state)
{
	struct tpm_opts o = { "mock:", NULL, 0 };
	struct kw_key *key = NULL;

	(void)state;
	esys_mock.createprimary_rc = TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1;
	assert_int_equal(tpm_key_open(test_key, &o, &key),
	    KW_ERR_PIN_INCORRECT);
	assert_int_equal(esys_mock.loads, 0);
	assert_int_equal(esys_mock.live, 0);
}

static void
test_auth_value(void **state)
{
	struct tpm_opts o = { "mock:", NULL, 0 };
	struct kw_key *key = NULL;
	uint8_t sig[KW_MAX_SIG];
	size_t len;

	(void)state;
	write_key(0);
	/* a key with an auth value is not tried with an empty one */
	assert_int_equal(tpm_key_open(test_key, &o, &key),
	    KW_ERR_PIN_REQUIRED);
	assert_int_equal(esys_mock.tcti_inits, 0);
	o.auth = "s3cret";
	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_OK);
	assert_string_equal(esys_mock.auth, "s3cret");
	/* the auth value is used through a salted HMAC session... */
	assert_int_equal(mock.sessions, 1);
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	assert_int_not_equal(mock.last_sign_session, ESYS_TR_PASSWORD);
	/* ...which a refusal replaces, without retrying the signature */
	mock.sign_rc[1] = TPM2_RC_AUTH_FAIL | TPM2_RC_S | TPM2_RC_1;
	assert_int_equal(sign_once(key, sig, &len), KW_ERR_PIN_INCORRECT);
	assert_int_equal(mock.signs, 2);
	assert_int_equal(esys_mock.live, 0);		/* session flushed */
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	assert_int_equal(mock.sessions, 2);
	kw_key_close(key);
	assert_int_equal(esys_mock.live, 0);
}

static void
test_describe_and_pubkey(void **state)
{
	struct kw_key *key;
	char buf[256];
	uint8_t der[KW_MAX_PUBKEY_DER];
	size_t len = sizeof(der);

	(void)state;
	key = open_key();
	assert_int_equal(kw_key_describe(key, buf, sizeof(buf)), KW_OK);
	assert_non_null(strstr(buf, "tpm: "));
	assert_non_null(strstr(buf, test_key));
	assert_non_null(strstr(buf, "ec-p256"));
	assert_int_equal(kw_key_public_der(key, der, &len), KW_OK);
	assert_int_equal(len, 91);
	assert_int_equal(kw_key_alg(key), KW_ALG_EC_P256);
	assert_int_equal(kw_key_supports(key, KW_SIG_ECDSA, KW_HASH_SHA256),
	    KW_OK);
	assert_int_equal(kw_key_supports(key, KW_SIG_RSA_PSS, KW_HASH_SHA256),
	    KW_ERR_UNSUPPORTED);
	kw_key_close(key);
}

/* ECDSA takes the leftmost field-size bytes of any digest; a shorter one
 * is the same integer left-padded.  The TPM gets exactly 32 bytes. */
static void
test_ecdsa_digest_sizes(void **state)
{
	struct kw_key *key;
	uint8_t d[64], sig[KW_MAX_SIG], want[32];
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(d); i++)
		d[i] = (uint8_t)(i + 1);
	key = open_key();
	len = sizeof(sig);
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA384, d, 48,
	    sig, &len), KW_OK);
	assert_int_equal(mock.last_digest.size, 32);
	assert_memory_equal(mock.last_digest.buffer, d, 32);
	assert_int_equal(mock.last_hash, TPM2_ALG_SHA256);
	len = sizeof(sig);
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_NONE, d, 20,
	    sig, &len), KW_OK);		/* SHA-1 sized */
	memset(want, 0, sizeof(want));
	memcpy(want + 12, d, 20);
	assert_int_equal(mock.last_digest.size, 32);
	assert_memory_equal(mock.last_digest.buffer, want, 32);
	/* too small an output buffer: refused before the TPM is asked */
	len = 63;
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256, d, 32,
	    sig, &len), KW_ERR_SPACE);
	assert_int_equal(mock.signs, 2);
	/* RSA schemes on an EC key */
	len = sizeof(sig);
	assert_int_not_equal(kw_key_sign(key, KW_SIG_RSA_PKCS1,
	    KW_HASH_SHA256, d, 32, sig, &len), KW_OK);
	assert_int_equal(mock.signs, 2);
	kw_key_close(key);
}

/* supports(RSA-PSS): one probe signature per hash, its salt length read
 * back with the TPM's own public-key operation and hash. */
static void
test_pss_salt_probe(void **state)
{
	struct tpm_opts o = { "mock:", NULL, 0 };
	struct kw_key *key = NULL;

	(void)state;
	write_key_alg(KW_ALG_RSA2048, 1);
	/* salt = digest length: fit for TLS 1.3, probed once */
	make_em(32);
	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_OK);
	assert_int_equal(kw_key_supports(key, KW_SIG_RSA_PSS, KW_HASH_SHA256),
	    KW_OK);
	assert_int_equal(kw_key_supports(key, KW_SIG_RSA_PSS, KW_HASH_SHA256),
	    KW_OK);
	assert_int_equal(mock.signs, 1);
	assert_int_equal(esys_mock.live, 0);		/* public copy flushed */
	assert_int_equal(kw_key_supports(key, KW_SIG_RSA_PKCS1,
	    KW_HASH_SHA256), KW_OK);
	assert_int_equal(kw_key_supports(key, KW_SIG_ECDSA, KW_HASH_SHA256),
	    KW_ERR_UNSUPPORTED);
	kw_key_close(key);

	/* the TPM 2.0 default, the largest salt (256 - 32 - 2): refused */
	make_em(222);
	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_OK);
	assert_int_equal(kw_key_supports(key, KW_SIG_RSA_PSS, KW_HASH_SHA256),
	    KW_ERR_PSS_SALT);
	assert_int_equal(kw_key_supports(key, KW_SIG_RSA_PSS, KW_HASH_SHA256),
	    KW_ERR_PSS_SALT);
	assert_int_equal(mock.signs, 2);
	kw_key_close(key);

	/* a signature that does not verify: not used either */
	make_em(32);
	mock.em[100] ^= 0x01;
	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_OK);
	assert_int_equal(kw_key_supports(key, KW_SIG_RSA_PSS, KW_HASH_SHA256),
	    KW_ERR_PSS_SALT);
	kw_key_close(key);
	mock.em[255] = 0xbb;
	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_OK);
	assert_int_equal(kw_key_supports(key, KW_SIG_RSA_PSS, KW_HASH_SHA256),
	    KW_ERR_PSS_SALT);
	kw_key_close(key);
	assert_int_equal(esys_mock.live, 0);
}

static void
test_persistent_key_replaced(void **state)
{
	struct tpm_opts o = { "mock:", NULL, 0 };
	struct kw_key *key = NULL;
	uint8_t sig[KW_MAX_SIG];
	size_t len;

	(void)state;
	assert_int_equal(tpm_pub_key_template(KW_ALG_EC_P256, 0,
	    &mock.persistent_pub), KW_OK);
	mock.persistent_pub.publicArea.unique.ecc.x.size = 32;
	mock.persistent_pub.publicArea.unique.ecc.y.size = 32;
	assert_int_equal(tpm_key_open("0x81000042", &o, &key), KW_OK);
	assert_int_equal(esys_mock.loads, 0);
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	/* reconnect to the same key: fine */
	mock.sign_rc[1] = TSS2_TCTI_RC_IO_ERROR;
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	assert_int_equal(esys_mock.tcti_inits, 2);
	/* someone put another key at the handle meanwhile: refused */
	mock.sign_rc[3] = TSS2_TCTI_RC_IO_ERROR;
	mock.persistent_pub.publicArea.unique.ecc.x.buffer[0] ^= 1;
	assert_int_equal(sign_once(key, sig, &len), KW_ERR_KEY_MISMATCH);
	assert_int_equal(mock.signs, 4);
	kw_key_close(key);
	assert_int_equal(esys_mock.live, 0);
	assert_int_equal(esys_mock.esys_finals, esys_mock.esys_inits);
}

/* Behind a resource manager (virtual handles) the key stays loaded. */
static void
test_rm_keeps_key_loaded(void **state)
{
	struct tpm_opts o = { "mock:", NULL, 0 };
	struct kw_key *key = NULL;
	uint8_t sig[KW_MAX_SIG];
	size_t len;

	(void)state;
	esys_mock.tpm_handle = 0x80fffffe;	/* /dev/tpmrm0 numbering */
	assert_int_equal(tpm_key_open(test_key, &o, &key), KW_OK);
	assert_int_equal(esys_mock.live, 1);
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	assert_int_equal(esys_mock.ctxsaves, 0);
	assert_int_equal(esys_mock.ctxloads, 0);
	assert_int_equal(esys_mock.loads, 1);
	kw_key_close(key);
	assert_int_equal(esys_mock.live, 0);
}

/* A TPM out of slots (0x902) is waited for, at load and at each use. */
static void
test_out_of_slots_waits(void **state)
{
	struct kw_key *key;
	uint8_t sig[KW_MAX_SIG];
	size_t len;

	(void)state;
	esys_mock.load_busy = 3;
	key = open_key();
	assert_int_equal(esys_mock.loads, 4);
	esys_mock.ctxload_rc[0] = TPM2_RC_OBJECT_MEMORY;
	esys_mock.ctxload_rc[1] = TPM2_RC_OBJECT_MEMORY;
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	assert_int_equal(esys_mock.ctxloads, 3);
	assert_int_equal(mock.signs, 1);
	assert_int_equal(esys_mock.tcti_inits, 1);	/* no reconnect */
	kw_key_close(key);
	assert_int_equal(esys_mock.live, 0);
}

/* A saved context the TPM refuses (it was reset): the key file is loaded
 * again, once, and the signature made. */
static void
test_context_refused_reloads(void **state)
{
	struct kw_key *key;
	uint8_t sig[KW_MAX_SIG];
	size_t len;

	(void)state;
	key = open_key();
	esys_mock.ctxload_rc[0] = TPM2_RC_INTEGRITY;
	assert_int_equal(sign_once(key, sig, &len), KW_OK);
	assert_int_equal(esys_mock.loads, 2);
	assert_int_equal(esys_mock.ctxsaves, 2);
	assert_int_equal(mock.signs, 1);
	/* refused again after the reload: a clear error, not a loop */
	esys_mock.ctxload_rc[2] = TPM2_RC_INTEGRITY;
	esys_mock.ctxload_rc[3] = TPM2_RC_INTEGRITY;
	assert_int_equal(sign_once(key, sig, &len), KW_ERR_WRONG_TPM);
	assert_int_equal(esys_mock.loads, 3);
	kw_key_close(key);
	assert_int_equal(esys_mock.live, 0);
	assert_int_equal(esys_mock.esys_finals, esys_mock.esys_inits);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_sign_ok_and_all_flushed, setup),
		cmocka_unit_test_setup(test_lockout_not_retried, setup),
		cmocka_unit_test_setup(test_auth_fail_not_retried, setup),
		cmocka_unit_test_setup(test_disconnect_reconnects_once, setup),
		cmocka_unit_test_setup(test_tcti_init_fails, setup),
		cmocka_unit_test_setup(test_wrong_tpm, setup),
		cmocka_unit_test_setup(test_owner_auth_needed, setup),
		cmocka_unit_test_setup(test_auth_value, setup),
		cmocka_unit_test_setup(test_describe_and_pubkey, setup),
		cmocka_unit_test_setup(test_persistent_key_replaced, setup),
		cmocka_unit_test_setup(test_ecdsa_digest_sizes, setup),
		cmocka_unit_test_setup(test_tcti_choice, setup),
		cmocka_unit_test_setup(test_pss_salt_probe, setup),
		cmocka_unit_test_setup(test_rm_keeps_key_loaded, setup),
		cmocka_unit_test_setup(test_out_of_slots_waits, setup),
		cmocka_unit_test_setup(test_context_refused_reloads, setup),
	};
	int r;

	kw_log_setup(getenv("KW_DEBUG") ? KW_LOG_DEBUG : KW_LOG_ERROR, 0);
	unsetenv("TPM2TOOLS_TCTI");
	unsetenv("TCTI");
	snprintf(test_dir, sizeof(test_dir), "/tmp/kwtpmunit.XXXXXX");
	assert_non_null(mkdtemp(test_dir));
	snprintf(test_key, sizeof(test_key), "%s/k.pem", test_dir);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(test_key);
	rmdir(test_dir);
	return r;
}
