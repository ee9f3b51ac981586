/* Unit tests for enroll/acme_jws.c: base64url both ways, the JWK and its
 * thumbprint, JWS signatures (ES256, RS256) and the HS256 External Account
 * Binding, each checked independently with wolfCrypt's verifiers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_wolf.h"
#include "enroll/acme.h"
#include "soft_key.h"

static void
test_b64url(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} v[] = {
		{ "", 0, "" }, { "f", 1, "Zg" }, { "fo", 2, "Zm8" },
		{ "foo", 3, "Zm9v" }, { "foob", 4, "Zm9vYg" },
		{ "\xfb\xff\xbf", 3, "-_-_" }, { "\x00\x10", 2, "ABA" },
	};
	uint8_t *d;
	size_t i, n;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(acme_b64url((const uint8_t *)v[i].in, v[i].len,
		    &s), KW_OK);
		assert_string_equal(s, v[i].out);
		free(s);
		assert_int_equal(acme_b64url_decode(v[i].out, &d, &n), KW_OK);
		assert_int_equal(n, v[i].len);
		assert_memory_equal(d, v[i].in, n);
		free(d);
	}
	/* padding is tolerated, standard base64's alphabet is not */
	assert_int_equal(acme_b64url_decode("Zm8=", &d, &n), KW_OK);
	free(d);
	assert_int_equal(acme_b64url_decode("Zm9v+A", &d, &n), KW_ERR_PARSE);
	assert_int_equal(acme_b64url_decode("Zm9v/A", &d, &n), KW_ERR_PARSE);
	assert_int_equal(acme_b64url_decode("Z", &d, &n), KW_ERR_PARSE);
	assert_int_equal(acme_b64url_decode("Zm 9v", &d, &n), KW_ERR_PARSE);
}

static uint8_t *
b64field(json_t *o, const char *name, size_t *len)
{
	uint8_t *d = NULL;

	assert_int_equal(acme_b64url_decode(json_string_value(
	    json_object_get(o, name)), &d, len), KW_OK);
	return d;
}

/* Decode a flattened JWS: protected header, payload, signature and the
 * signing input. */
static json_t *
jws_open(const char *jws, char **input, uint8_t **sig, size_t *sig_len,
    char **payload)
{
	json_t *o, *prot;
	uint8_t *ph;
	size_t n, pl;

	assert_non_null(o = json_loads(jws, 0, NULL));
	ph = b64field(o, "protected", &n);
	assert_non_null(prot = json_loadb((const char *)ph, n, 0, NULL));
	free(ph);
	*payload = (char *)b64field(o, "payload", &pl);
	*payload = realloc(*payload, pl + 1);
	(*payload)[pl] = '\0';
	*sig = b64field(o, "signature", sig_len);
	n = strlen(json_string_value(json_object_get(o, "protected"))) +
	    strlen(json_string_value(json_object_get(o, "payload"))) + 2;
	*input = malloc(n);
	snprintf(*input, n, "%s.%s",
	    json_string_value(json_object_get(o, "protected")),
	    json_string_value(json_object_get(o, "payload")));
	json_decref(o);
	return prot;
}

static void
test_jws_es256(void **state)
{
	struct soft_key *sk;
	struct kw_key *key;
	uint8_t *sig, h[WC_SHA256_DIGEST_SIZE], der[80];
	word32 dlen = sizeof(der);
	size_t sig_len;
	char *jws, *input, *payload, *jwk, *tp, *tp2, *ka;
	json_t *prot, *j;
	int ok = 0;

	(void)state;
	assert_int_equal(soft_key_new(KW_ALG_EC_P256, &key, &sk), KW_OK);
	assert_string_equal(acme_jws_alg(key), "ES256");
	/* with the jwk (new account) */
	assert_int_equal(acme_jws(key, NULL, "n0nce", "https://ca/new-acct",
	    "{\"a\":1}", &jws), KW_OK);
	prot = jws_open(jws, &input, &sig, &sig_len, &payload);
	assert_string_equal(json_string_value(json_object_get(prot, "alg")),
	    "ES256");
	assert_string_equal(json_string_value(json_object_get(prot, "nonce")),
	    "n0nce");
	assert_string_equal(json_string_value(json_object_get(prot, "url")),
	    "https://ca/new-acct");
	assert_null(json_object_get(prot, "kid"));
	j = json_object_get(prot, "jwk");
	assert_string_equal(json_string_value(json_object_get(j, "kty")), "EC");
	assert_string_equal(json_string_value(json_object_get(j, "crv")),
	    "P-256");
	assert_int_equal(strlen(json_string_value(json_object_get(j, "x"))),
	    43);
	assert_null(json_object_get(j, "d"));	/* public only */
	assert_string_equal(payload, "{\"a\":1}");
	/* the signature is raw r||s over SHA-256 of the signing input */
	assert_int_equal(sig_len, 64);
	assert_int_equal(wc_Sha256Hash((const byte *)input,
	    (word32)strlen(input), h), 0);
	assert_int_equal(wc_ecc_rs_raw_to_sig(sig, 32, sig + 32, 32, der,
	    &dlen), 0);
	assert_int_equal(wc_ecc_verify_hash(der, dlen, h, sizeof(h), &ok,
	    soft_key_ecc(sk)), 0);
	assert_int_equal(ok, 1);
	/* a flipped byte does not verify */
	h[0] ^= 1;
	assert_int_equal(wc_ecc_verify_hash(der, dlen, h, sizeof(h), &ok,
	    soft_key_ecc(sk)), 0);
	assert_int_equal(ok, 0);
	json_decref(prot);
	free(jws);
	free(input);
	free(payload);
	free(sig);

	/* with kid, POST-as-GET: empty payload, no jwk */
	assert_int_equal(acme_jws(key, "https://ca/acct/1", "n1", "https://ca/o",
	    NULL, &jws), KW_OK);
	prot = jws_open(jws, &input, &sig, &sig_len, &payload);
	assert_string_equal(json_string_value(json_object_get(prot, "kid")),
	    "https://ca/acct/1");
	assert_null(json_object_get(prot, "jwk"));
	assert_string_equal(payload, "");
	json_decref(prot);
	free(jws);
	free(input);
	free(payload);
	free(sig);

	/* the thumbprint hashes the canonical JWK (RFC 7638) */
	assert_int_equal(acme_jwk(key, &jwk), KW_OK);
	assert_true(strncmp(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"",
	    31) == 0);
	assert_null(strchr(jwk, ' '));
	assert_int_equal(wc_Sha256Hash((const byte *)jwk, (word32)strlen(jwk),
	    h), 0);
	assert_int_equal(acme_b64url(h, sizeof(h), &tp2), KW_OK);
	assert_int_equal(acme_jwk_thumbprint(key, &tp), KW_OK);
	assert_string_equal(tp, tp2);
	assert_int_equal(acme_keyauth(key, "tok3n", &ka), KW_OK);
	assert_true(strncmp(ka, "tok3n.", 6) == 0);
	assert_string_equal(ka + 6, tp);
	free(ka);
	free(tp);
	free(tp2);

	/* EAB: HS256 over the account JWK with the CA's MAC key */
	{
		static const uint8_t mac[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
		uint8_t tag[WC_SHA256_DIGEST_SIZE];
		Hmac hm;

		assert_int_equal(acme_eab_jws("kid-1", mac, sizeof(mac),
		    "https://ca/new-acct", jwk, &jws), KW_OK);
		prot = jws_open(jws, &input, &sig, &sig_len, &payload);
		assert_string_equal(json_string_value(json_object_get(prot,
		    "alg")), "HS256");
		assert_string_equal(json_string_value(json_object_get(prot,
		    "kid")), "kid-1");
		assert_null(json_object_get(prot, "nonce"));
		assert_string_equal(payload, jwk);
		assert_int_equal(wc_HmacInit(&hm, NULL, INVALID_DEVID), 0);
		assert_int_equal(wc_HmacSetKey(&hm, WC_SHA256, mac,
		    sizeof(mac)), 0);
		assert_int_equal(wc_HmacUpdate(&hm, (const byte *)input,
		    (word32)strlen(input)), 0);
		assert_int_equal(wc_HmacFinal(&hm, tag), 0);
		wc_HmacFree(&hm);
		assert_int_equal(sig_len, sizeof(tag));
		assert_memory_equal(sig, tag, sizeof(tag));
		json_decref(prot);
		free(jws);
		free(input);
		free(payload);
		free(sig);
	}
	free(jwk);
	kw_key_close(key);
}

static void
test_jws_rs256(void **state)
{
	struct soft_key *sk;
	struct kw_key *key;
	uint8_t *sig, dec[512];
	size_t sig_len;
	char *jws, *input, *payload;
	json_t *prot, *j;
	int n;

	(void)state;
	assert_int_equal(soft_key_new(KW_ALG_RSA2048, &key, &sk), KW_OK);
	assert_string_equal(acme_jws_alg(key), "RS256");
	assert_int_equal(acme_jws(key, NULL, "n", "https://ca/x", "{}", &jws),
	    KW_OK);
	prot = jws_open(jws, &input, &sig, &sig_len, &payload);
	j = json_object_get(prot, "jwk");
	assert_string_equal(json_string_value(json_object_get(j, "kty")),
	    "RSA");
	assert_string_equal(json_string_value(json_object_get(j, "e")), "AQAB");
	assert_int_equal(sig_len, 256);
	/* PKCS#1 v1.5: the decoded block is DigestInfo(SHA-256) */
	n = wc_RsaSSL_Verify(sig, (word32)sig_len, dec, sizeof(dec),
	    soft_key_rsa(sk));
	assert_int_equal(n, 19 + 32);
	{
		uint8_t h[WC_SHA256_DIGEST_SIZE];

		assert_int_equal(wc_Sha256Hash((const byte *)input,
		    (word32)strlen(input), h), 0);
		assert_memory_equal(dec + 19, h, sizeof(h));
	}
	json_decref(prot);
	free(jws);
	free(input);
	free(payload);
	free(sig);
	kw_key_close(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_jws_es256),
		cmocka_unit_test(test_jws_rs256),
	};
	int r;

	if (kw_wolf_init() != KW_OK)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	kw_wolf_cleanup();
	return r;
}
