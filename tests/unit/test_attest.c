/* Unit tests for attest/ (issue 12): names and SPKIs of real TPM public
 * areas, the certify and quote checks on real swtpm output and on copies
 * altered by hand (one refusal reason each), the EK certificate's TPM
 * attributes and chain, KDFa against the TCG reference self-test vector
 * and independently computed outputs,
 * MakeCredential's shapes, the binding store, and the evidence codec
 * (round trip and malformed inputs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "attest/attest_int.h"
#include "tests/unit/attest_vectors.h"

static const uint8_t NONCE_Q[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t NONCE_C[] = { 0x00, 0xff, 0x55, 0xaa };

/* A private temp dir for file tests. */
static char tmpdir[256];

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/kwattest.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_name(void **state)
{
	uint8_t name[2 + 64];
	size_t len = sizeof(name);
	uint8_t pub[sizeof(AK_PUB) + 1];

	(void)state;
	assert_int_equal(kw_attest_name(AK_PUB, sizeof(AK_PUB), name, &len),
	    KW_OK);
	assert_int_equal(len, sizeof(AK_NAME));
	assert_memory_equal(name, AK_NAME, sizeof(AK_NAME));
	/* one byte more or less is not a TPMT_PUBLIC */
	memcpy(pub, AK_PUB, sizeof(AK_PUB));
	pub[sizeof(AK_PUB)] = 0;
	len = sizeof(name);
	assert_int_equal(kw_attest_name(pub, sizeof(pub), name, &len),
	    KW_ERR_PARSE);
	assert_int_equal(kw_attest_name(AK_PUB, sizeof(AK_PUB) - 1, name,
	    &len), KW_ERR_PARSE);
	/* too little room */
	len = 10;
	assert_int_equal(kw_attest_name(AK_PUB, sizeof(AK_PUB), name, &len),
	    KW_ERR_SPACE);
}

static void
test_spki(void **state)
{
	uint8_t spki[512], *got = NULL;
	size_t len = sizeof(spki), got_len = 0;
	char *pem = NULL, *b64 = NULL;
	size_t b64_len = 0;

	(void)state;
	assert_int_equal(kw_attest_pub_spki(KEY_PUB, sizeof(KEY_PUB), spki,
	    &len), KW_OK);
	assert_int_equal(len, sizeof(KEY_SPKI));
	assert_memory_equal(spki, KEY_SPKI, len);
	/* the SPKI found in DER and in PEM */
	assert_int_equal(kw_attest_spki_of(KEY_SPKI, sizeof(KEY_SPKI), &got,
	    &got_len), KW_OK);
	assert_int_equal(got_len, sizeof(KEY_SPKI));
	free(got);
	assert_int_equal(kw_b64_encode(KEY_SPKI, sizeof(KEY_SPKI), &b64,
	    &b64_len), KW_OK);
	assert_non_null(pem = malloc(b64_len + 64));
	snprintf(pem, b64_len + 64, "-----BEGIN PUBLIC KEY-----\n%s"
	    "-----END PUBLIC KEY-----\n", b64);
	assert_int_equal(kw_attest_spki_of((const uint8_t *)pem, strlen(pem),
	    &got, &got_len), KW_OK);
	assert_int_equal(got_len, sizeof(KEY_SPKI));
	assert_memory_equal(got, KEY_SPKI, got_len);
	free(got);
	free(pem);
	free(b64);
	/* the EK certificate's */
	assert_int_equal(kw_attest_spki_of(EK_CERT, sizeof(EK_CERT), &got,
	    &got_len), KW_OK);
	assert_int_equal(kw_der_spki_alg(got, got_len), KW_ALG_RSA2048);
	free(got);
	assert_int_equal(kw_attest_spki_of((const uint8_t *)"garbage", 7,
	    &got, &got_len), KW_ERR_PARSE);
	assert_null(got);
}

static void
test_qualifying(void **state)
{
	uint8_t out[64], exp[32];
	size_t len = sizeof(out);

	(void)state;
	assert_int_equal(kw_attest_qualifying(NONCE_Q, sizeof(NONCE_Q), NULL,
	    0, out, &len), KW_OK);
	assert_int_equal(len, sizeof(NONCE_Q));
	assert_memory_equal(out, NONCE_Q, len);
	memset(exp, 0x5a, sizeof(exp));
	len = sizeof(out);
	assert_int_equal(kw_attest_qualifying(NONCE_Q, sizeof(NONCE_Q), exp,
	    sizeof(exp), out, &len), KW_OK);
	assert_int_equal(len, 32);
	assert_memory_not_equal(out, NONCE_Q, sizeof(NONCE_Q));
}

/* check_certify with one part replaced */
static int
certify(const uint8_t *ak, size_t ak_len, const uint8_t *info,
    size_t info_len, const uint8_t *sig, size_t sig_len, const uint8_t *q,
    size_t q_len, const uint8_t *key, size_t key_len, const uint8_t *spki,
    size_t spki_len, enum kw_attest_reason *reason)
{
	return kw_attest_check_certify(ak, ak_len, info, info_len, sig,
	    sig_len, q, q_len, key, key_len, spki, spki_len, reason);
}

static void
test_certify(void **state)
{
	enum kw_attest_reason reason;
	uint8_t info[sizeof(CERTIFY)], sig[sizeof(CERTIFY_SIG)],
	    ak[sizeof(AK_PUB)], key[sizeof(KEY_PUB)], spki[sizeof(KEY_SPKI)],
	    longer[sizeof(CERTIFY) + 1];

	(void)state;
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), CERTIFY,
	    sizeof(CERTIFY), CERTIFY_SIG, sizeof(CERTIFY_SIG), NONCE_C,
	    sizeof(NONCE_C), KEY_PUB, sizeof(KEY_PUB), KEY_SPKI,
	    sizeof(KEY_SPKI), &reason), KW_OK);
	assert_int_equal(reason, KW_ATTEST_OK);
	/* without a key to compare: still verified */
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), CERTIFY,
	    sizeof(CERTIFY), CERTIFY_SIG, sizeof(CERTIFY_SIG), NONCE_C,
	    sizeof(NONCE_C), KEY_PUB, sizeof(KEY_PUB), NULL, 0, &reason),
	    KW_OK);
	/* magic */
	memcpy(info, CERTIFY, sizeof(info));
	info[0] ^= 0x01;
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), info, sizeof(info),
	    CERTIFY_SIG, sizeof(CERTIFY_SIG), NONCE_C, sizeof(NONCE_C),
	    KEY_PUB, sizeof(KEY_PUB), NULL, 0, &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_NOT_TPM);
	/* a quote where a certify is due */
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), QUOTE, sizeof(QUOTE),
	    QUOTE_SIG, sizeof(QUOTE_SIG), NONCE_Q, sizeof(NONCE_Q), KEY_PUB,
	    sizeof(KEY_PUB), NULL, 0, &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_WRONG_TYPE);
	/* a bit of the clock info */
	memcpy(info, CERTIFY, sizeof(info));
	info[sizeof(info) - 40] ^= 0x10;
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), info, sizeof(info),
	    CERTIFY_SIG, sizeof(CERTIFY_SIG), NONCE_C, sizeof(NONCE_C),
	    KEY_PUB, sizeof(KEY_PUB), NULL, 0, &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_BAD_SIGNATURE);
	/* a bit of the signature's S */
	memcpy(sig, CERTIFY_SIG, sizeof(sig));
	sig[sizeof(sig) - 1] ^= 0x01;
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), CERTIFY,
	    sizeof(CERTIFY), sig, sizeof(sig), NONCE_C, sizeof(NONCE_C),
	    KEY_PUB, sizeof(KEY_PUB), NULL, 0, &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_BAD_SIGNATURE);
	/* the wrong nonce, and none */
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), CERTIFY,
	    sizeof(CERTIFY), CERTIFY_SIG, sizeof(CERTIFY_SIG), NONCE_Q,
	    sizeof(NONCE_Q), KEY_PUB, sizeof(KEY_PUB), NULL, 0, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_NONCE);
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), CERTIFY,
	    sizeof(CERTIFY), CERTIFY_SIG, sizeof(CERTIFY_SIG), NULL, 0,
	    KEY_PUB, sizeof(KEY_PUB), NULL, 0, &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_NONCE);
	/* an AK that is not restricted (objectAttributes bit 16) */
	memcpy(ak, AK_PUB, sizeof(ak));
	ak[5] ^= 0x01;		/* attributes are bytes 4..7, big-endian */
	assert_int_equal(certify(ak, sizeof(ak), CERTIFY, sizeof(CERTIFY),
	    CERTIFY_SIG, sizeof(CERTIFY_SIG), NONCE_C, sizeof(NONCE_C),
	    KEY_PUB, sizeof(KEY_PUB), NULL, 0, &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_AK_ATTRS);
	/* a public area that is not the certified one */
	memcpy(key, KEY_PUB, sizeof(key));
	key[sizeof(key) - 1] ^= 0x01;
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), CERTIFY,
	    sizeof(CERTIFY), CERTIFY_SIG, sizeof(CERTIFY_SIG), NONCE_C,
	    sizeof(NONCE_C), key, sizeof(key), NULL, 0, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_NAME_MISMATCH);
	/* the certified key is not the request's */
	memcpy(spki, KEY_SPKI, sizeof(spki));
	spki[sizeof(spki) - 1] ^= 0x01;
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), CERTIFY,
	    sizeof(CERTIFY), CERTIFY_SIG, sizeof(CERTIFY_SIG), NONCE_C,
	    sizeof(NONCE_C), KEY_PUB, sizeof(KEY_PUB), spki, sizeof(spki),
	    &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_KEY_MISMATCH);
	/* a byte trailing the TPMS_ATTEST */
	memcpy(longer, CERTIFY, sizeof(CERTIFY));
	longer[sizeof(CERTIFY)] = 0;
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), longer,
	    sizeof(longer), CERTIFY_SIG, sizeof(CERTIFY_SIG), NONCE_C,
	    sizeof(NONCE_C), KEY_PUB, sizeof(KEY_PUB), NULL, 0, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_MALFORMED);
	/* a signature of another scheme than the AK's key type */
	memcpy(sig, CERTIFY_SIG, sizeof(sig));
	sig[1] = 0x14;		/* RSASSA on an ECC AK */
	assert_int_equal(certify(AK_PUB, sizeof(AK_PUB), CERTIFY,
	    sizeof(CERTIFY), sig, sizeof(sig), NONCE_C, sizeof(NONCE_C),
	    KEY_PUB, sizeof(KEY_PUB), NULL, 0, &reason), KW_ERR_ATTEST);
	assert_true(reason == KW_ATTEST_BAD_SIGNATURE ||
	    reason == KW_ATTEST_MALFORMED);
}

static void
test_quote(void **state)
{
	struct kw_attest_pcrs pcrs;
	enum kw_attest_reason reason;
	uint8_t vals[sizeof(QUOTE_PCRS)];

	(void)state;
	assert_int_equal(kw_attest_check_quote(AK_PUB, sizeof(AK_PUB), QUOTE,
	    sizeof(QUOTE), QUOTE_SIG, sizeof(QUOTE_SIG), NONCE_Q,
	    sizeof(NONCE_Q), 0xff, QUOTE_PCRS, sizeof(QUOTE_PCRS), &pcrs,
	    &reason), KW_OK);
	assert_int_equal(pcrs.mask, 0xff);
	assert_memory_equal(pcrs.val[7], QUOTE_PCRS + 7 * 32, 32);
	/* any selection */
	assert_int_equal(kw_attest_check_quote(AK_PUB, sizeof(AK_PUB), QUOTE,
	    sizeof(QUOTE), QUOTE_SIG, sizeof(QUOTE_SIG), NONCE_Q,
	    sizeof(NONCE_Q), 0, QUOTE_PCRS, sizeof(QUOTE_PCRS), &pcrs,
	    &reason), KW_OK);
	/* other PCRs asked for */
	assert_int_equal(kw_attest_check_quote(AK_PUB, sizeof(AK_PUB), QUOTE,
	    sizeof(QUOTE), QUOTE_SIG, sizeof(QUOTE_SIG), NONCE_Q,
	    sizeof(NONCE_Q), 0x3ff, QUOTE_PCRS, sizeof(QUOTE_PCRS), &pcrs,
	    &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_PCR_SELECTION);
	assert_int_equal(pcrs.mask, 0);
	/* a PCR value changed, one missing */
	memcpy(vals, QUOTE_PCRS, sizeof(vals));
	vals[3 * 32] ^= 0x80;
	assert_int_equal(kw_attest_check_quote(AK_PUB, sizeof(AK_PUB), QUOTE,
	    sizeof(QUOTE), QUOTE_SIG, sizeof(QUOTE_SIG), NONCE_Q,
	    sizeof(NONCE_Q), 0xff, vals, sizeof(vals), &pcrs, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_PCR_DIGEST);
	assert_int_equal(kw_attest_check_quote(AK_PUB, sizeof(AK_PUB), QUOTE,
	    sizeof(QUOTE), QUOTE_SIG, sizeof(QUOTE_SIG), NONCE_Q,
	    sizeof(NONCE_Q), 0xff, QUOTE_PCRS, sizeof(QUOTE_PCRS) - 32, &pcrs,
	    &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_PCR_DIGEST);
	/* the nonce */
	assert_int_equal(kw_attest_check_quote(AK_PUB, sizeof(AK_PUB), QUOTE,
	    sizeof(QUOTE), QUOTE_SIG, sizeof(QUOTE_SIG), NONCE_C,
	    sizeof(NONCE_C), 0xff, QUOTE_PCRS, sizeof(QUOTE_PCRS), &pcrs,
	    &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_NONCE);
	/* the certify's signature on the quote */
	assert_int_equal(kw_attest_check_quote(AK_PUB, sizeof(AK_PUB), QUOTE,
	    sizeof(QUOTE), CERTIFY_SIG, sizeof(CERTIFY_SIG), NONCE_Q,
	    sizeof(NONCE_Q), 0xff, QUOTE_PCRS, sizeof(QUOTE_PCRS), &pcrs,
	    &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_BAD_SIGNATURE);
}

static void
test_ek(void **state)
{
	struct kw_attest_tpm_id id;
	enum kw_attest_reason reason;
	char path[512], other[512];
	uint8_t bad[sizeof(EK_CERT)];

	(void)state;
	assert_int_equal(kw_attest_ek_id(EK_CERT, sizeof(EK_CERT), &id),
	    KW_OK);
	assert_string_equal(id.manufacturer, "id:00001014");
	assert_string_equal(id.model, "swtpm");
	assert_string_equal(id.firmware, "id:20191023");
	assert_string_equal(id.vendor, "IBM (swtpm)");
	snprintf(path, sizeof(path), "%s/ek-ca.pem", tmpdir);
	assert_int_equal(kw_file_write_atomic(path, EK_CA_PEM,
	    strlen(EK_CA_PEM), 0644, 0), KW_OK);
	assert_int_equal(kw_attest_ek_verify(path, EK_CERT, sizeof(EK_CERT),
	    NULL, NULL, 0, &id, &reason), KW_OK);
	assert_string_equal(id.model, "swtpm");
	/* a bit of the signed part */
	memcpy(bad, EK_CERT, sizeof(bad));
	bad[sizeof(bad) / 2] ^= 0x01;
	assert_int_equal(kw_attest_ek_verify(path, bad, sizeof(bad), NULL,
	    NULL, 0, &id, &reason), KW_ERR_ATTEST);
	assert_true(reason == KW_ATTEST_EK_UNTRUSTED ||
	    reason == KW_ATTEST_EK_CERT);
	/* the EK certificate as its own CA: not a CA */
	snprintf(other, sizeof(other), "%s/nothing.pem", tmpdir);
	assert_int_equal(kw_attest_ek_verify(other, EK_CERT, sizeof(EK_CERT),
	    NULL, NULL, 0, &id, &reason), KW_ERR_NOT_FOUND);
	/* the EK certificate (issued by the CA, but no CA) posing as an
	 * intermediate: wolfSSL would take it as a CA, keyward does not */
	{
		const uint8_t *chain[1] = { EK_CERT };
		size_t chain_len[1] = { sizeof(EK_CERT) };

		assert_int_equal(kw_attest_ek_verify(path, EK_CERT,
		    sizeof(EK_CERT), chain, chain_len, 1, &id, &reason),
		    KW_ERR_ATTEST);
		assert_int_equal(reason, KW_ATTEST_EK_UNTRUSTED);
	}
}

/* What wolfSSL must take (and refuse) in an EK certificate. */
static void
test_ek_profile(void **state)
{
	struct kw_attest_tpm_id id;
	enum kw_attest_reason reason;
	struct kw_der_cert c;
	char path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/maker-ca.pem", tmpdir);
	assert_int_equal(kw_file_write_atomic(path, MAKER_CA_PEM,
	    strlen(MAKER_CA_PEM), 0644, 0), KW_OK);
	/* empty subject, critical SAN with only a directoryName */
	assert_int_equal(kw_der_cert(PROFILE_EK_CERT, sizeof(PROFILE_EK_CERT),
	    &c), KW_OK);
	assert_int_equal(c.subject.len, 2);	/* SEQUENCE {} */
	assert_int_equal(kw_attest_ek_verify(path, PROFILE_EK_CERT,
	    sizeof(PROFILE_EK_CERT), NULL, NULL, 0, &id, &reason), KW_OK);
	assert_string_equal(id.vendor, "Infineon");
	assert_string_equal(id.manufacturer, "id:49465800");
	assert_string_equal(id.model, "SLB9670");
	assert_string_equal(id.firmware, "id:00070055");
	/* another maker's CA does not vouch for it */
	snprintf(path, sizeof(path), "%s/ek-ca.pem", tmpdir);
	assert_int_equal(kw_file_write_atomic(path, EK_CA_PEM,
	    strlen(EK_CA_PEM), 0644, 0), KW_OK);
	assert_int_equal(kw_attest_ek_verify(path, PROFILE_EK_CERT,
	    sizeof(PROFILE_EK_CERT), NULL, NULL, 0, &id, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_EK_UNTRUSTED);
	/* an unknown critical extension stays refused */
	snprintf(path, sizeof(path), "%s/maker-ca.pem", tmpdir);
	assert_int_equal(kw_attest_ek_verify(path, EK_CRIT_CERT,
	    sizeof(EK_CRIT_CERT), NULL, NULL, 0, &id, &reason),
	    KW_ERR_ATTEST);
}

/* The KDFa self-test vector of the TCG TPM 2.0 reference implementation
 * (KdfTestData.h): 20-byte key, label "KDFSELFTESTLABEL", 8-byte contexts,
 * 160 bits out, for SHA-256 and SHA-384. */
static const uint8_t TCG_KDF_KEY[] = { 0x27, 0x1f, 0xa0, 0x8b, 0xbd, 0xc5,
    0x06, 0x0e, 0xc3, 0xdf, 0xa9, 0x28, 0xff, 0x9b, 0x73, 0x12, 0x3a, 0x12,
    0xda, 0x0c };
static const uint8_t TCG_KDF_U[] = { 0xce, 0x24, 0x4f, 0x39, 0x5d, 0xca,
    0x73, 0x91 };
static const uint8_t TCG_KDF_V[] = { 0xda, 0x50, 0x40, 0x31, 0xdd, 0xf1,
    0x2e, 0x83 };
static const uint8_t TCG_KDF_SHA256[] = { 0xbb, 0x02, 0x59, 0xe1, 0xc8,
    0xba, 0x60, 0x7e, 0x6a, 0x2c, 0xd7, 0x04, 0xb6, 0x9a, 0x90, 0x2e, 0x9a,
    0xde, 0x84, 0xc4 };
static const uint8_t TCG_KDF_SHA384[] = { 0x1d, 0xce, 0x70, 0xc9, 0x11,
    0x3e, 0xb2, 0xdb, 0xa4, 0x7b, 0xd9, 0xcf, 0xc7, 0x2b, 0xf4, 0x6f, 0x45,
    0xb0, 0x93, 0x12 };

static void
test_kdfa(void **state)
{
	uint8_t out[64];

	(void)state;
	assert_int_equal(kw_attest_kdfa(TPM2_ALG_SHA256, TCG_KDF_KEY,
	    sizeof(TCG_KDF_KEY), "KDFSELFTESTLABEL", TCG_KDF_U,
	    sizeof(TCG_KDF_U), TCG_KDF_V, sizeof(TCG_KDF_V), 160, out), KW_OK);
	assert_memory_equal(out, TCG_KDF_SHA256, sizeof(TCG_KDF_SHA256));
	assert_int_equal(kw_attest_kdfa(TPM2_ALG_SHA384, TCG_KDF_KEY,
	    sizeof(TCG_KDF_KEY), "KDFSELFTESTLABEL", TCG_KDF_U,
	    sizeof(TCG_KDF_U), TCG_KDF_V, sizeof(TCG_KDF_V), 160, out), KW_OK);
	assert_memory_equal(out, TCG_KDF_SHA384, sizeof(TCG_KDF_SHA384));
	assert_int_equal(kw_attest_kdfa(TPM2_ALG_SHA256, KDFA_KEY,
	    sizeof(KDFA_KEY), "STORAGE", AK_NAME, sizeof(AK_NAME), NULL, 0,
	    128, out), KW_OK);
	assert_memory_equal(out, KDFA_STORAGE_128, 16);
	assert_int_equal(kw_attest_kdfa(TPM2_ALG_SHA256, KDFA_KEY,
	    sizeof(KDFA_KEY), "INTEGRITY", NULL, 0, NULL, 0, 256, out), KW_OK);
	assert_memory_equal(out, KDFA_INTEGRITY_256, 32);
	/* more than one block, the last one cut */
	assert_int_equal(kw_attest_kdfa(TPM2_ALG_SHA256, KDFA_KEY,
	    sizeof(KDFA_KEY), "STORAGE", AK_NAME, sizeof(AK_NAME),
	    (const uint8_t *)"xyz", 3, 384, out), KW_OK);
	assert_memory_equal(out, KDFA_LONG_384, 48);
	assert_int_equal(kw_attest_kdfa(TPM2_ALG_SHA384, KDFA_KEY,
	    sizeof(KDFA_KEY), "STORAGE", AK_NAME, sizeof(AK_NAME), NULL, 0,
	    256, out), KW_OK);
	assert_memory_equal(out, KDFA_SHA384_256, 32);
	assert_int_equal(kw_attest_kdfa(TPM2_ALG_SHA1, KDFA_KEY,
	    sizeof(KDFA_KEY), "STORAGE", NULL, 0, NULL, 0, 128, out),
	    KW_ERR_ARG);
}

static void
test_make_credential(void **state)
{
	struct kw_attest_challenge a, b;
	uint8_t *spki = NULL;
	size_t spki_len = 0;

	(void)state;
	assert_int_equal(kw_attest_spki_of(EK_CERT, sizeof(EK_CERT), &spki,
	    &spki_len), KW_OK);
	assert_int_equal(kw_attest_challenge_make(spki, spki_len, AK_NAME,
	    sizeof(AK_NAME), &a), KW_OK);
	assert_int_equal(kw_attest_challenge_make(spki, spki_len, AK_NAME,
	    sizeof(AK_NAME), &b), KW_OK);
	/* TPM2B_ID_OBJECT: size, TPM2B_DIGEST(HMAC-SHA256), encIdentity
	 * (CFB of a 2+32 byte TPM2B_DIGEST); the seed under RSA-2048 */
	assert_int_equal(a.id_object_len, 2 + 2 + 32 + 2 + 32);
	assert_int_equal(a.id_object[0] << 8 | a.id_object[1],
	    a.id_object_len - 2);
	assert_int_equal(a.id_object[2] << 8 | a.id_object[3], 32);
	assert_int_equal(a.enc_secret_len, 2 + 256);
	assert_int_equal(a.enc_secret[0] << 8 | a.enc_secret[1], 256);
	/* fresh secrets and seeds every time */
	assert_memory_not_equal(a.secret, b.secret, sizeof(a.secret));
	assert_memory_not_equal(a.enc_secret, b.enc_secret, a.enc_secret_len);
	kw_attest_challenge_clear(&a);
	kw_attest_challenge_clear(&b);
	/* not an EK we can encrypt to */
	assert_int_equal(kw_attest_challenge_make(AK_NAME, sizeof(AK_NAME),
	    AK_NAME, sizeof(AK_NAME), &a), KW_ERR_UNSUPPORTED);
	free(spki);
}

static void
test_binding_store(void **state)
{
	struct kw_attest_challenge ch;
	enum kw_attest_reason reason;
	uint8_t name2[sizeof(AK_NAME)], wrong[32];
	char path[512];
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/bindings", tmpdir);
	memcpy(name2, AK_NAME, sizeof(name2));
	name2[5] ^= 1;
	assert_int_equal(kw_attest_bind_lookup(path, KEY_SPKI,
	    sizeof(KEY_SPKI), AK_NAME, sizeof(AK_NAME)), KW_ERR_NOT_FOUND);
	memset(&ch, 0, sizeof(ch));
	memset(ch.secret, 7, sizeof(ch.secret));
	memset(wrong, 8, sizeof(wrong));
	assert_int_equal(kw_attest_bind_answer(path, KEY_SPKI,
	    sizeof(KEY_SPKI), AK_NAME, sizeof(AK_NAME), &ch, wrong,
	    sizeof(wrong), &reason), KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_ACTIVATION);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(kw_attest_bind_answer(path, KEY_SPKI,
	    sizeof(KEY_SPKI), AK_NAME, sizeof(AK_NAME), &ch, ch.secret,
	    sizeof(ch.secret), &reason), KW_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(kw_attest_bind_lookup(path, KEY_SPKI,
	    sizeof(KEY_SPKI), AK_NAME, sizeof(AK_NAME)), KW_OK);
	assert_int_equal(kw_attest_bind_lookup(path, KEY_SPKI,
	    sizeof(KEY_SPKI), name2, sizeof(name2)), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_attest_bind_lookup(path, AK_PUB, sizeof(AK_PUB),
	    AK_NAME, sizeof(AK_NAME)), KW_ERR_NOT_FOUND);
	/* another EK's binding kept; a new AK for the same EK replaces */
	assert_int_equal(kw_attest_bind_record(path, AK_PUB, sizeof(AK_PUB),
	    AK_NAME, sizeof(AK_NAME)), KW_OK);
	assert_int_equal(kw_attest_bind_record(path, KEY_SPKI,
	    sizeof(KEY_SPKI), name2, sizeof(name2)), KW_OK);
	assert_int_equal(kw_attest_bind_lookup(path, KEY_SPKI,
	    sizeof(KEY_SPKI), name2, sizeof(name2)), KW_OK);
	assert_int_equal(kw_attest_bind_lookup(path, KEY_SPKI,
	    sizeof(KEY_SPKI), AK_NAME, sizeof(AK_NAME)), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_attest_bind_lookup(path, AK_PUB, sizeof(AK_PUB),
	    AK_NAME, sizeof(AK_NAME)), KW_OK);
}

/* A full evidence message from the vectors. */
static void
sample(struct kw_attest_evidence *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->x5c[0].p = EK_CERT;
	ev->x5c[0].len = sizeof(EK_CERT);
	ev->nx5c = 1;
	ev->ak_pub.p = AK_PUB;
	ev->ak_pub.len = sizeof(AK_PUB);
	ev->has_certify = 1;
	ev->alg = -7;
	ev->cert_info.p = CERTIFY;
	ev->cert_info.len = sizeof(CERTIFY);
	ev->cert_sig.p = CERTIFY_SIG;
	ev->cert_sig.len = sizeof(CERTIFY_SIG);
	ev->pub_area.p = KEY_PUB;
	ev->pub_area.len = sizeof(KEY_PUB);
	ev->has_posture = 1;
	ev->time = 1700000000;
	ev->quote.p = QUOTE;
	ev->quote.len = sizeof(QUOTE);
	ev->quote_sig.p = QUOTE_SIG;
	ev->quote_sig.len = sizeof(QUOTE_SIG);
	ev->pcr_values.p = QUOTE_PCRS;
	ev->pcr_values.len = sizeof(QUOTE_PCRS);
	ev->event_log.p = (const uint8_t *)"log";
	ev->event_log.len = 3;
	ev->os_key[0].p = (const uint8_t *)"kernel";
	ev->os_key[0].len = 6;
	ev->os_val[0].p = (const uint8_t *)"6.1.0";
	ev->os_val[0].len = 5;
	ev->nos = 1;
}

static void
test_cbor_round_trip(void **state)
{
	struct kw_attest_evidence ev, got;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	sample(&ev);
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	assert_int_equal(kw_attest_evidence_decode(buf, len, &got), KW_OK);
	assert_int_equal(got.nx5c, 1);
	assert_memory_equal(got.x5c[0].p, EK_CERT, sizeof(EK_CERT));
	assert_int_equal(got.alg, -7);
	assert_true(got.has_certify && got.has_posture);
	assert_int_equal(got.cert_info.len, sizeof(CERTIFY));
	assert_memory_equal(got.pub_area.p, KEY_PUB, sizeof(KEY_PUB));
	assert_int_equal(got.time, 1700000000);
	assert_memory_equal(got.pcr_values.p, QUOTE_PCRS, sizeof(QUOTE_PCRS));
	assert_int_equal(got.event_log.len, 3);
	assert_int_equal(got.nos, 1);
	assert_memory_equal(got.os_val[0].p, "6.1.0", 5);
	/* starts as the WebAuthn statement does: {"fmt": "tpm", ...} */
	assert_int_equal(buf[0], 0xa3);
	assert_memory_equal(buf + 1, "\x63" "fmt" "\x63" "tpm", 8);
	kw_attest_evidence_free(&got);
	free(buf);
	/* key attestation alone, posture alone */
	sample(&ev);
	ev.has_posture = 0;
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	assert_int_equal(kw_attest_evidence_decode(buf, len, &got), KW_OK);
	assert_true(got.has_certify && !got.has_posture);
	kw_attest_evidence_free(&got);
	free(buf);
	sample(&ev);
	ev.has_certify = 0;
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	assert_int_equal(kw_attest_evidence_decode(buf, len, &got), KW_OK);
	assert_true(!got.has_certify && got.has_posture);
	kw_attest_evidence_free(&got);
	free(buf);
}

/* Decode hand-made CBOR: must be refused. */
static void
refuse(const char *what, const uint8_t *p, size_t len)
{
	struct kw_attest_evidence ev;
	int r = kw_attest_evidence_decode(p, len, &ev);

	if (r != KW_ERR_PARSE)
		fail_msg("%s: decode returned %d, want KW_ERR_PARSE", what, r);
	assert_null(ev.priv);
}

static void
test_cbor_malformed(void **state)
{
	struct kw_attest_evidence ev;
	uint8_t *buf = NULL, *copy;
	size_t len = 0, i;
	uint8_t deep[64];

	(void)state;
	sample(&ev);
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	assert_non_null(copy = malloc(len + 1));
	/* trailing data */
	memcpy(copy, buf, len);
	copy[len] = 0x00;
	refuse("trailing byte", copy, len + 1);
	/* every truncation */
	for (i = 0; i < len; i += 7)
		refuse("truncated", buf, i);
	/* "fmt": "tpm" -> "tpx" */
	memcpy(copy, buf, len);
	copy[8] = 'x';
	refuse("fmt", copy, len);
	/* "fmt" key -> "fmu": unknown key and fmt missing */
	memcpy(copy, buf, len);
	copy[4] = 'u';
	refuse("unknown key", copy, len);
	/* duplicate key: {"fmt": "tpm", "fmt": "tpm"} as a 2-map */
	refuse("duplicate", (const uint8_t *)"\xa2\x63" "fmt" "\x63" "tpm"
	    "\x63" "fmt" "\x63" "tpm", 17);
	/* indefinite-length map */
	refuse("indefinite", (const uint8_t *)"\xbf\x63" "fmt" "\x63" "tpm"
	    "\xff", 10);
	/* a tag */
	refuse("tag", (const uint8_t *)"\xc1\xa0", 2);
	/* not a map; empty map */
	refuse("array", (const uint8_t *)"\x80", 1);
	refuse("empty map", (const uint8_t *)"\xa0", 1);
	refuse("empty", (const uint8_t *)"", 0);
	/* nesting deeper than any evidence: [[[[...]]]] */
	memset(deep, 0x81, sizeof(deep));
	deep[sizeof(deep) - 1] = 0x80;
	refuse("deep", deep, sizeof(deep));
	/* a length beyond the input */
	refuse("long bytes", (const uint8_t *)"\x5a\xff\xff\xff\xff", 5);
	refuse("huge map", (const uint8_t *)"\xbb\xff\xff\xff\xff\xff\xff"
	    "\xff\xff", 9);
	/* reserved additional information */
	refuse("reserved", (const uint8_t *)"\x1c", 1);
	free(buf);
	/* the certify fields are all or none */
	sample(&ev);
	ev.has_posture = 0;
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	{
		/* rename "pubArea" to "pubAreb": unknown key */
		uint8_t *at = memmem(buf, len, "pubArea", 7);

		assert_non_null(at);
		at[6] = 'b';
		refuse("unknown attStmt key", buf, len);
	}
	free(buf);
	/* x5c empty and too many; an OS fact twice */
	sample(&ev);
	ev.nx5c = 0;
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len),
	    KW_ERR_ARG);
	sample(&ev);
	ev.os_key[1] = ev.os_key[0];
	ev.os_val[1] = ev.os_val[0];
	ev.nos = 2;
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	refuse("duplicate OS fact", buf, len);
	free(buf);
	/* PCR values not a multiple of 32 bytes */
	sample(&ev);
	ev.pcr_values.len = 31;
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	refuse("pcr values", buf, len);
	free(buf);
	free(copy);
}

static void
test_verify(void **state)
{
	struct kw_attest_policy pol;
	struct kw_attest_request req;
	struct kw_attest_claims claims;
	struct kw_attest_evidence ev;
	enum kw_attest_reason reason;
	char path[512], store[512];
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/ek-ca.pem", tmpdir);
	assert_int_equal(kw_file_write_atomic(path, EK_CA_PEM,
	    strlen(EK_CA_PEM), 0644, 0), KW_OK);
	memset(&pol, 0, sizeof(pol));
	pol.ek_ca = path;
	memset(&req, 0, sizeof(req));
	req.policy = &pol;
	req.nonce = NONCE_Q;
	req.nonce_len = sizeof(NONCE_Q);
	req.now = 1700000010;
	/* posture only (the vectors' certify carries another nonce); the
	 * sample's event log ("log") is no log: see Secure Boot below */
	sample(&ev);
	ev.has_certify = 0;
	ev.event_log.len = 0;
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_OK);
	assert_true(claims.posture && !claims.key_attested && !claims.ak_bound);
	assert_int_equal(claims.ak_name_len, sizeof(AK_NAME));
	assert_memory_equal(claims.ak_name, AK_NAME, sizeof(AK_NAME));
	assert_string_equal(claims.tpm.model, "swtpm");
	assert_int_equal(claims.nos, 1);
	assert_string_equal(claims.os[0].key, "kernel");
	assert_string_equal(claims.os[0].val, "6.1.0");
	/* the policy's PCR rules */
	pol.npcr = 1;
	pol.pcr[0].index = 7;
	memcpy(pol.pcr[0].sha256, QUOTE_PCRS + 7 * 32, 32);
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_OK);
	pol.pcr[0].sha256[0] ^= 1;
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_PCR_VALUE);
	pol.pcr[0].index = 9;
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_PCR_SELECTION);
	pol.npcr = 0;
	/* max-age, and evidence from the future */
	pol.max_age = 5;
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_TOO_OLD);
	req.now = 1700000000 - 3600;
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_TOO_OLD);
	req.now = 1700000003;
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_OK);
	/* a certify whose COSE alg is not its signature's */
	free(buf);
	sample(&ev);
	ev.alg = -257;
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_MALFORMED);
	free(buf);
	sample(&ev);
	ev.has_certify = 0;
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	/* key attestation asked for, absent */
	req.require_certify = 1;
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_MISSING);
	req.require_certify = 0;
	/* Secure Boot required: the sample's event log ("log") does not
	 * parse, so it cannot replay to the quote */
	pol.secure_boot = KW_ATTEST_SB_REQUIRED;
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_EVENT_LOG);
	free(buf);
	/* ... and without any event log Secure Boot is not measured */
	ev.event_log.len = 0;
	assert_int_equal(kw_attest_evidence_encode(&ev, &buf, &len), KW_OK);
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_SECURE_BOOT);
	assert_non_null(strstr(claims.why, "no event log"));
	pol.secure_boot = KW_ATTEST_SB_IGNORE;
	/* an unbound AK */
	snprintf(store, sizeof(store), "%s/no-store", tmpdir);
	req.binding_store = store;
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_ERR_ATTEST);
	assert_int_equal(reason, KW_ATTEST_AK_UNBOUND);
	req.binding_store = NULL;
	/* no ek-ca: a configuration error, not a verdict */
	pol.ek_ca = NULL;
	assert_int_equal(kw_attest_verify(&req, buf, len, &claims, &reason),
	    KW_ERR_CONFIG);
	free(buf);
}

static void
test_reasons(void **state)
{
	int i, j;

	(void)state;
	for (i = 0; i < KW_ATTEST_NREASONS; i++) {
		assert_non_null(kw_attest_reason_str((enum kw_attest_reason)i));
		assert_non_null(kw_attest_reason_name((enum kw_attest_reason)i));
		assert_string_not_equal(kw_attest_reason_name(
		    (enum kw_attest_reason)i), "unknown");
		for (j = 0; j < i; j++)
			assert_string_not_equal(
			    kw_attest_reason_name((enum kw_attest_reason)i),
			    kw_attest_reason_name((enum kw_attest_reason)j));
	}
	assert_string_equal(kw_attest_reason_name(KW_ATTEST_NREASONS),
	    "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_spki),
		cmocka_unit_test(test_qualifying),
		cmocka_unit_test(test_certify),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_ek),
		cmocka_unit_test(test_ek_profile),
		cmocka_unit_test(test_kdfa),
		cmocka_unit_test(test_make_credential),
		cmocka_unit_test(test_binding_store),
		cmocka_unit_test(test_cbor_round_trip),
		cmocka_unit_test(test_cbor_malformed),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_reasons),
	};

	kw_log_setup(KW_LOG_ERROR, 0);
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
