/* Test-only software key backend (see soft_key.h). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "soft_key.h"

struct soft_key {
	enum kw_key_alg alg;
	WC_RNG rng;
	ecc_key ecc;
	RsaKey rsa;
	int fail;
	int no_pss;
	unsigned count[4];
};

static int
soft_public_key(void *impl, uint8_t *der, size_t *len)
{
	struct soft_key *sk = impl;
	int n;

	if (kw_alg_is_rsa(sk->alg))
		n = wc_RsaKeyToPublicDer(&sk->rsa, der, (word32)*len);
	else
		n = wc_EccPublicKeyToDer(&sk->ecc, der, (word32)*len, 1);
	if (n <= 0)
		return KW_ERR_CRYPTO;
	*len = (size_t)n;
	return KW_OK;
}

static int
soft_hash_oid(enum kw_hash h, int *oid, enum wc_HashType *type)
{
	switch (h) {
	case KW_HASH_SHA256:
		*oid = SHA256h;
		*type = WC_HASH_TYPE_SHA256;
		return 0;
	case KW_HASH_SHA384:
		*oid = SHA384h;
		*type = WC_HASH_TYPE_SHA384;
		return 0;
	case KW_HASH_SHA512:
		*oid = SHA512h;
		*type = WC_HASH_TYPE_SHA512;
		return 0;
	default:
		return -1;
	}
}

static int
soft_mgf(enum wc_HashType t)
{
	return t == WC_HASH_TYPE_SHA256 ? WC_MGF1SHA256 :
	    t == WC_HASH_TYPE_SHA384 ? WC_MGF1SHA384 : WC_MGF1SHA512;
}

static int
soft_sign(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash,
    const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len)
{
	struct soft_key *sk = impl;
	uint8_t der[2 * 66 + 16], enc[128], r[66], s[66];
	word32 der_len = sizeof(der), rl = sizeof(r), sl = sizeof(s), n;
	enum wc_HashType type;
	int oid, ret, fs;

	if (sk->fail != KW_OK)
		return sk->fail;
	if (scheme == KW_SIG_ECDSA) {
		fs = wc_ecc_size(&sk->ecc);
		if (*sig_len < (size_t)(2 * fs))
			return KW_ERR_SPACE;
		if (wc_ecc_sign_hash(digest, (word32)digest_len, der, &der_len,
		    &sk->rng, &sk->ecc) != 0 ||
		    wc_ecc_sig_to_rs(der, der_len, r, &rl, s, &sl) != 0)
			return KW_ERR_CRYPTO;
		memset(sig, 0, (size_t)(2 * fs));
		memcpy(sig + fs - rl, r, rl);
		memcpy(sig + 2 * fs - sl, s, sl);
		*sig_len = (size_t)(2 * fs);
		sk->count[scheme]++;
		return KW_OK;
	}
	if (soft_hash_oid(hash, &oid, &type) != 0)
		return KW_ERR_UNSUPPORTED;
	if (scheme == KW_SIG_RSA_PKCS1) {
		n = wc_EncodeSignature(enc, digest, (word32)digest_len, oid);
		ret = wc_RsaSSL_Sign(enc, n, sig, (word32)*sig_len, &sk->rsa,
		    &sk->rng);
	} else {
		if (sk->no_pss)
			return KW_ERR_UNSUPPORTED;
		ret = wc_RsaPSS_Sign_ex(digest, (word32)digest_len, sig,
		    (word32)*sig_len, type, soft_mgf(type), (int)digest_len,
		    &sk->rsa, &sk->rng);
	}
	if (ret <= 0)
		return KW_ERR_CRYPTO;
	*sig_len = (size_t)ret;
	sk->count[scheme]++;
	return KW_OK;
}

static int
soft_describe(void *impl, char *buf, size_t len)
{
	struct soft_key *sk = impl;

	snprintf(buf, len, "soft %s test key", kw_alg_name(sk->alg));
	return KW_OK;
}

static int
soft_supports(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash)
{
	struct soft_key *sk = impl;

	(void)hash;
	if (scheme == KW_SIG_RSA_PSS && sk->no_pss)
		return KW_ERR_UNSUPPORTED;
	return KW_OK;
}

static void
soft_close(void *impl)
{
	struct soft_key *sk = impl;

	if (sk == NULL)
		return;
	if (kw_alg_is_rsa(sk->alg))
		wc_FreeRsaKey(&sk->rsa);
	else
		wc_ecc_free(&sk->ecc);
	wc_FreeRng(&sk->rng);
	free(sk);
}

/* RSAES-PKCS1-v1_5 (SCEP's envelope), RSA keys only. */
static int
soft_decrypt(void *impl, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct soft_key *sk = impl;
	int n;

	if (!kw_alg_is_rsa(sk->alg))
		return KW_ERR_UNSUPPORTED;
	if (in == NULL)
		return KW_OK;
	n = wc_RsaPrivateDecrypt(in, (word32)in_len, out, (word32)*out_len,
	    &sk->rsa);
	if (n < 0)
		return KW_ERR_CRYPTO;
	*out_len = (size_t)n;
	return KW_OK;
}

static const struct kw_key_ops soft_ops = {
	.name = "soft",
	.public_key = soft_public_key,
	.sign = soft_sign,
	.describe = soft_describe,
	.close = soft_close,
	.supports = soft_supports,
	.decrypt = soft_decrypt,
};

int
soft_key_new(enum kw_key_alg alg, struct kw_key **out, struct soft_key **impl)
{
	struct soft_key *sk;
	int ret;

	*out = NULL;
	if (impl != NULL)
		*impl = NULL;
	if ((sk = calloc(1, sizeof(*sk))) == NULL)
		return KW_ERR_NOMEM;
	sk->alg = alg;
	if (wc_InitRng(&sk->rng) != 0) {
		free(sk);
		return KW_ERR_CRYPTO;
	}
	if (kw_alg_is_rsa(alg)) {
		ret = wc_InitRsaKey(&sk->rsa, NULL);
		if (ret == 0)
			ret = wc_MakeRsaKey(&sk->rsa, kw_alg_bits(alg), 65537,
			    &sk->rng);
		if (ret == 0)
			ret = wc_RsaSetRNG(&sk->rsa, &sk->rng);
	} else {
		ret = wc_ecc_init(&sk->ecc);
		if (ret == 0)
			ret = wc_ecc_make_key_ex(&sk->rng,
			    kw_alg_bits(alg) / 8, &sk->ecc,
			    alg == KW_ALG_EC_P384 ? ECC_SECP384R1 :
			    ECC_SECP256R1);
	}
	if (ret != 0) {
		soft_close(sk);
		return KW_ERR_CRYPTO;
	}
	if (impl != NULL)
		*impl = sk;
	return kw_key_new(&soft_ops, sk, alg, out);
}

void
soft_key_set_fail(struct soft_key *sk, int err)
{
	sk->fail = err;
}

void
soft_key_set_no_pss(struct soft_key *sk, int no_pss)
{
	sk->no_pss = no_pss;
}

unsigned
soft_key_count(const struct soft_key *sk, enum kw_sig_scheme s)
{
	return sk->count[s];
}

ecc_key *
soft_key_ecc(struct soft_key *sk)
{
	return kw_alg_is_rsa(sk->alg) ? NULL : &sk->ecc;
}

RsaKey *
soft_key_rsa(struct soft_key *sk)
{
	return kw_alg_is_rsa(sk->alg) ? &sk->rsa : NULL;
}

WC_RNG *
soft_key_rng(struct soft_key *sk)
{
	return &sk->rng;
}
