/* JWS for ACME (RFC 7515, RFC 8555 6.2): base64url, the account key's JWK
 * (from its SPKI, decoded by wolfSSL), RFC 7638 thumbprints, signatures
 * made by the token through the key interface, and the HS256 External
 * Account Binding.  No private key ever passes through here. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/sha512.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "acme.h"

int
acme_b64url(const uint8_t *in, size_t len, char **out)
{
	word32 olen = (word32)(((len + 2) / 3) * 4 + 1);
	char *s;
	size_t i, j;

	*out = NULL;
	if ((s = malloc(olen + 1)) == NULL)
		return KW_ERR_NOMEM;
	if (len == 0)
		olen = 0;
	else if (Base64_Encode_NoNl(in, (word32)len, (byte *)s, &olen) != 0) {
		free(s);
		return KW_ERR_CRYPTO;
	}
	for (i = j = 0; i < olen; i++) {
		if (s[i] == '=' || s[i] == '\n')
			continue;
		s[j++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
	}
	s[j] = '\0';
	*out = s;
	return KW_OK;
}

int
acme_b64url_decode(const char *in, uint8_t **out, size_t *out_len)
{
	size_t n = strlen(in), i, pad;
	char *s = NULL;
	uint8_t *d = NULL;
	word32 dlen;
	int r = KW_ERR_PARSE;

	*out = NULL;
	*out_len = 0;
	while (n > 0 && in[n - 1] == '=')
		n--;
	pad = (4 - n % 4) % 4;
	if (pad == 3 || (s = malloc(n + pad + 1)) == NULL ||
	    (d = malloc(n + 1)) == NULL) {
		r = pad == 3 ? KW_ERR_PARSE : KW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		char ch = in[i];

		if (ch == '-')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9')))
			goto out;
		s[i] = ch;
	}
	for (i = 0; i < pad; i++)
		s[n + i] = '=';
	dlen = (word32)(n + 1);
	if (Base64_Decode((const byte *)s, (word32)(n + pad), d, &dlen) != 0)
		goto out;
	*out = d;
	*out_len = dlen;
	d = NULL;
	r = KW_OK;
out:
	if (d != NULL)
		kw_freezero(d, n + 1);
	if (s != NULL)
		kw_freezero(s, n + pad + 1);
	return r;
}

static int
acme_set_b64(json_t *o, const char *name, const uint8_t *v, size_t len)
{
	char *s = NULL;
	int r;

	if ((r = acme_b64url(v, len, &s)) != KW_OK)
		return r;
	r = json_object_set_new(o, name, json_string(s)) == 0 ? KW_OK :
	    KW_ERR_NOMEM;
	free(s);
	return r;
}

/* The public JWK as a JSON object (only the required members, which is
 * also what the RFC 7638 thumbprint hashes). */
static int
acme_jwk_obj(struct kw_key *key, json_t **out)
{
	uint8_t spki[KW_MAX_PUBKEY_DER], x[66], y[66], n[512], e[8];
	word32 idx = 0, xl = sizeof(x), yl = sizeof(y), nl = sizeof(n),
	    el = sizeof(e);
	size_t slen = sizeof(spki);
	enum kw_key_alg alg = kw_key_alg(key);
	json_t *o = NULL;
	ecc_key ec;
	RsaKey rsa;
	int r, inited = 0;

	*out = NULL;
	if ((r = kw_key_public_der(key, spki, &slen)) != KW_OK)
		return r;
	if ((o = json_object()) == NULL)
		return KW_ERR_NOMEM;
	if (kw_alg_is_rsa(alg)) {
		if (wc_InitRsaKey(&rsa, NULL) != 0) {
			r = KW_ERR_CRYPTO;
			goto out;
		}
		inited = 1;
		if (wc_RsaPublicKeyDecode(spki, &idx, &rsa, (word32)slen) != 0 ||
		    wc_RsaFlattenPublicKey(&rsa, e, &el, n, &nl) != 0) {
			r = KW_ERR_CRYPTO;
			goto out;
		}
		if ((r = acme_set_b64(o, "e", e, el)) != KW_OK ||
		    (r = acme_set_b64(o, "n", n, nl)) != KW_OK)
			goto out;
		r = json_object_set_new(o, "kty", json_string("RSA")) == 0 ?
		    KW_OK : KW_ERR_NOMEM;
	} else {
		if (wc_ecc_init(&ec) != 0) {
			r = KW_ERR_CRYPTO;
			goto out;
		}
		inited = 2;
		if (wc_EccPublicKeyDecode(spki, &idx, &ec, (word32)slen) != 0 ||
		    wc_ecc_export_public_raw(&ec, x, &xl, y, &yl) != 0) {
			r = KW_ERR_CRYPTO;
			goto out;
		}
		if (json_object_set_new(o, "crv", json_string(alg ==
		    KW_ALG_EC_P384 ? "P-384" : "P-256")) != 0 ||
		    json_object_set_new(o, "kty", json_string("EC")) != 0) {
			r = KW_ERR_NOMEM;
			goto out;
		}
		if ((r = acme_set_b64(o, "x", x, xl)) != KW_OK ||
		    (r = acme_set_b64(o, "y", y, yl)) != KW_OK)
			goto out;
	}
	*out = o;
	o = NULL;
out:
	if (inited == 1)
		wc_FreeRsaKey(&rsa);
	else if (inited == 2)
		wc_ecc_free(&ec);
	json_decref(o);
	if (r != KW_OK)
		kw_err("cannot build the JWK of the ACME account key: %s",
		    kw_strerror(r));
	return r;
}

int
acme_jwk(struct kw_key *key, char **json)
{
	json_t *o = NULL;
	int r;

	*json = NULL;
	if ((r = acme_jwk_obj(key, &o)) != KW_OK)
		return r;
	*json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return *json != NULL ? KW_OK : KW_ERR_NOMEM;
}

int
acme_jwk_thumbprint(struct kw_key *key, char **out)
{
	uint8_t h[WC_SHA256_DIGEST_SIZE];
	char *jwk = NULL;
	int r;

	*out = NULL;
	if ((r = acme_jwk(key, &jwk)) != KW_OK)
		return r;
	if (wc_Sha256Hash((const byte *)jwk, (word32)strlen(jwk), h) != 0)
		r = KW_ERR_CRYPTO;
	else
		r = acme_b64url(h, sizeof(h), out);
	free(jwk);
	return r;
}

int
acme_keyauth(struct kw_key *key, const char *token, char **out)
{
	char *tp = NULL;
	size_t n;
	int r;

	*out = NULL;
	if ((r = acme_jwk_thumbprint(key, &tp)) != KW_OK)
		return r;
	n = strlen(token) + strlen(tp) + 2;
	if ((*out = malloc(n)) == NULL)
		r = KW_ERR_NOMEM;
	else
		snprintf(*out, n, "%s.%s", token, tp);
	free(tp);
	return r;
}

const char *
acme_jws_alg(struct kw_key *key)
{
	switch (kw_key_alg(key)) {
	case KW_ALG_EC_P256:
		return "ES256";
	case KW_ALG_EC_P384:
		return "ES384";
	case KW_ALG_RSA2048:
	case KW_ALG_RSA3072:
		return "RS256";
	default:
		return NULL;
	}
}

/* "b64(protected).b64(payload)" and the flattened JSON around it. */
static int
acme_jws_finish(const char *prot_b64, const char *pay_b64, const uint8_t *sig,
    size_t sig_len, char **out)
{
	json_t *o = NULL;
	char *sig_b64 = NULL;
	int r;

	*out = NULL;
	if ((r = acme_b64url(sig, sig_len, &sig_b64)) != KW_OK)
		return r;
	o = json_pack("{s:s, s:s, s:s}", "protected", prot_b64, "payload",
	    pay_b64, "signature", sig_b64);
	if (o == NULL || (*out = json_dumps(o, JSON_COMPACT)) == NULL)
		r = KW_ERR_NOMEM;
	json_decref(o);
	free(sig_b64);
	return r;
}

static int
acme_signing_input(json_t *prot, const char *payload, char **prot_b64,
    char **pay_b64, char **input)
{
	char *ps = NULL;
	size_t n;
	int r;

	*prot_b64 = *pay_b64 = *input = NULL;
	if ((ps = json_dumps(prot, JSON_COMPACT)) == NULL)
		return KW_ERR_NOMEM;
	if ((r = acme_b64url((const uint8_t *)ps, strlen(ps), prot_b64)) != 0 ||
	    (r = acme_b64url((const uint8_t *)payload, strlen(payload),
	    pay_b64)) != 0)
		goto out;
	n = strlen(*prot_b64) + strlen(*pay_b64) + 2;
	if ((*input = malloc(n)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	snprintf(*input, n, "%s.%s", *prot_b64, *pay_b64);
out:
	free(ps);
	return r;
}

int
acme_jws(struct kw_key *key, const char *kid, const char *nonce,
    const char *url, const char *payload, char **out)
{
	const char *alg = acme_jws_alg(key);
	uint8_t dig[WC_SHA384_DIGEST_SIZE], sig[KW_MAX_SIG];
	size_t sig_len = sizeof(sig);
	char *prot_b64 = NULL, *pay_b64 = NULL, *input = NULL;
	enum kw_hash hash = KW_HASH_SHA256;
	json_t *prot = NULL, *jwk = NULL;
	int r;

	*out = NULL;
	if (alg == NULL)
		return KW_ERR_UNSUPPORTED;
	if (kid == NULL && (r = acme_jwk_obj(key, &jwk)) != KW_OK)
		return r;
	prot = json_pack("{s:s, s:s}", "alg", alg, "url", url);
	if (prot != NULL && nonce != NULL &&
	    json_object_set_new(prot, "nonce", json_string(nonce)) != 0) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if (prot == NULL || json_object_set_new(prot, kid ? "kid" : "jwk",
	    kid ? json_string(kid) : jwk) != 0) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	jwk = NULL;
	if ((r = acme_signing_input(prot, payload ? payload : "", &prot_b64,
	    &pay_b64, &input)) != KW_OK)
		goto out;
	if (kw_key_alg(key) == KW_ALG_EC_P384) {
		hash = KW_HASH_SHA384;
		r = wc_Sha384Hash((const byte *)input, (word32)strlen(input),
		    dig) == 0 ? KW_OK : KW_ERR_CRYPTO;
	} else
		r = wc_Sha256Hash((const byte *)input, (word32)strlen(input),
		    dig) == 0 ? KW_OK : KW_ERR_CRYPTO;
	if (r != KW_OK)
		goto out;
	kw_key_purpose_set(KW_PURPOSE_JWS, "ACME");
	if ((r = kw_key_sign(key, kw_alg_is_rsa(kw_key_alg(key)) ?
	    KW_SIG_RSA_PKCS1 : KW_SIG_ECDSA, hash, dig, kw_hash_len(hash), sig,
	    &sig_len)) != KW_OK) {
		kw_err("the ACME account key could not sign: %s",
		    kw_strerror(r));
		goto out;
	}
	r = acme_jws_finish(prot_b64, pay_b64, sig, sig_len, out);
out:
	json_decref(jwk);
	json_decref(prot);
	free(prot_b64);
	free(pay_b64);
	free(input);
	return r;
}

int
acme_eab_jws(const char *kid, const uint8_t *mac, size_t mac_len,
    const char *url, const char *jwk, char **out)
{
	uint8_t tag[WC_SHA256_DIGEST_SIZE];
	char *prot_b64 = NULL, *pay_b64 = NULL, *input = NULL;
	json_t *prot = NULL;
	Hmac hmac;
	int r, inited = 0;

	*out = NULL;
	prot = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", kid, "url",
	    url);
	if (prot == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = acme_signing_input(prot, jwk, &prot_b64, &pay_b64,
	    &input)) != KW_OK)
		goto out;
	if (wc_HmacInit(&hmac, NULL, INVALID_DEVID) != 0) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	inited = 1;
	if (wc_HmacSetKey(&hmac, WC_SHA256, mac, (word32)mac_len) != 0 ||
	    wc_HmacUpdate(&hmac, (const byte *)input, (word32)strlen(input)) ||
	    wc_HmacFinal(&hmac, tag) != 0) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	r = acme_jws_finish(prot_b64, pay_b64, tag, sizeof(tag), out);
out:
	if (inited)
		wc_HmacFree(&hmac);
	explicit_bzero(&hmac, sizeof(hmac));
	explicit_bzero(tag, sizeof(tag));
	json_decref(prot);
	free(prot_b64);
	free(pay_b64);
	free(input);
	return r;
}
