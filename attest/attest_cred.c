/* Credential activation, the verifier's half: TPM2_MakeCredential in
 * software (TPM 2.0 Part 1, 24 "Credential Protection"; the KDFs of 11.4.10
 * and the secret sharing of annex B (RSA) and C (ECC)).
 *
 *   seed        RSA EK: random, RSA-OAEP(nameAlg, label "IDENTITY\0");
 *               ECC EK: KDFe(nameAlg, Z, "IDENTITY", ephemeral x, EK x)
 *               with Z the x coordinate of ECDH(ephemeral, EK)
 *   symKey      KDFa(nameAlg, seed, "STORAGE", name, -, symBits)
 *   encIdentity AES-CFB(symKey, IV 0, TPM2B_DIGEST(credential))
 *   hmacKey     KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits)
 *   outerHMAC   HMAC(hmacKey, encIdentity || name)
 *   TPM2B_ID_OBJECT = size || TPM2B_DIGEST(outerHMAC) || encIdentity */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <stdlib.h>
#include <string.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "attest/attest_int.h"

static void
attest_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int
attest_wc_hmac_type(int hash_alg)
{
	return hash_alg == TPM2_ALG_SHA256 ? WC_SHA256 :
	    hash_alg == TPM2_ALG_SHA384 ? WC_SHA384 : -1;
}

int
kw_attest_kdfa(int hash_alg, const uint8_t *key, size_t key_len,
    const char *label, const uint8_t *u, size_t u_len, const uint8_t *v,
    size_t v_len, uint32_t bits, uint8_t *out)
{
	uint8_t ctr[4], nbits[4], blk[64];
	size_t hs = attest_hash_size((TPM2_ALG_ID)hash_alg), done = 0, n;
	uint32_t i;
	Hmac h;
	int t = attest_wc_hmac_type(hash_alg), ok = 1;

	if (t < 0 || hs == 0 || bits == 0 || bits % 8 != 0)
		return KW_ERR_ARG;
	attest_be32(nbits, bits);
	for (i = 1; done < bits / 8 && ok; i++) {
		attest_be32(ctr, i);
		ok = wc_HmacInit(&h, NULL, INVALID_DEVID) == 0;
		ok = ok && wc_HmacSetKey(&h, t, key, (word32)key_len) == 0 &&
		    wc_HmacUpdate(&h, ctr, 4) == 0 &&
		    wc_HmacUpdate(&h, (const byte *)label,
		    (word32)strlen(label) + 1) == 0 &&
		    (u_len == 0 || wc_HmacUpdate(&h, u, (word32)u_len) == 0) &&
		    (v_len == 0 || wc_HmacUpdate(&h, v, (word32)v_len) == 0) &&
		    wc_HmacUpdate(&h, nbits, 4) == 0 &&
		    wc_HmacFinal(&h, blk) == 0;
		wc_HmacFree(&h);
		n = bits / 8 - done < hs ? bits / 8 - done : hs;
		if (ok)
			memcpy(out + done, blk, n);
		done += n;
	}
	explicit_bzero(blk, sizeof(blk));
	explicit_bzero(&h, sizeof(h));
	return ok ? KW_OK : KW_ERR_CRYPTO;
}

/* KDFe (Part 1, 11.4.10.3): Hash(counter || Z || use\0 || U || V). */
static int
attest_kdfe(int hash_alg, const uint8_t *z, size_t z_len, const char *use,
    const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len,
    size_t out_len, uint8_t *out)
{
	uint8_t ctr[4], blk[64];
	size_t hs = attest_hash_size((TPM2_ALG_ID)hash_alg), done = 0, n;
	wc_HashAlg h;
	enum wc_HashType t = (enum wc_HashType)attest_wc_hash(
	    (TPM2_ALG_ID)hash_alg);
	uint32_t i;
	int ok = 1;

	for (i = 1; done < out_len && ok; i++) {
		attest_be32(ctr, i);
		ok = wc_HashInit(&h, t) == 0;
		ok = ok && wc_HashUpdate(&h, t, ctr, 4) == 0 &&
		    wc_HashUpdate(&h, t, z, (word32)z_len) == 0 &&
		    wc_HashUpdate(&h, t, (const byte *)use,
		    (word32)strlen(use) + 1) == 0 &&
		    wc_HashUpdate(&h, t, u, (word32)u_len) == 0 &&
		    wc_HashUpdate(&h, t, v, (word32)v_len) == 0 &&
		    wc_HashFinal(&h, t, blk) == 0;
		wc_HashFree(&h, t);
		n = out_len - done < hs ? out_len - done : hs;
		if (ok)
			memcpy(out + done, blk, n);
		done += n;
	}
	explicit_bzero(blk, sizeof(blk));
	explicit_bzero(&h, sizeof(h));
	return ok ? KW_OK : KW_ERR_CRYPTO;
}

/* The seed and its encryption to the EK.  enc: TPM2B_ENCRYPTED_SECRET
 * contents (room: 1024). */
static int
attest_seed(enum kw_key_alg alg, int halg, const uint8_t *spki, size_t
    spki_len, WC_RNG *rng, uint8_t *seed, uint8_t *enc, size_t *enc_len)
{
	static const char label[] = "IDENTITY";
	uint8_t z[66], ex[66], ey[66], kx[66], ky[66];
	word32 idx = 0, zl = sizeof(z), exl = sizeof(ex), eyl = sizeof(ey),
	    kxl = sizeof(kx), kyl = sizeof(ky);
	size_t hs = attest_hash_size((TPM2_ALG_ID)halg);
	ecc_key ek, eph;
	RsaKey rsa;
	int r = KW_ERR_CRYPTO, n, curve;

	if (alg == KW_ALG_RSA2048 || alg == KW_ALG_RSA3072) {
		if (wc_InitRsaKey(&rsa, NULL) != 0)
			return KW_ERR_CRYPTO;
		if (wc_RsaPublicKeyDecode(spki, &idx, &rsa, (word32)spki_len) ==
		    0 && wc_RNG_GenerateBlock(rng, seed, (word32)hs) == 0 &&
		    (n = wc_RsaPublicEncrypt_ex(seed, (word32)hs, enc, 1024,
		    &rsa, rng, WC_RSA_OAEP_PAD, (enum wc_HashType)
		    attest_wc_hash((TPM2_ALG_ID)halg), halg == TPM2_ALG_SHA256 ?
		    WC_MGF1SHA256 : WC_MGF1SHA384, (byte *)label,
		    sizeof(label))) > 0) {
			*enc_len = (size_t)n;
			r = KW_OK;
		}
		wc_FreeRsaKey(&rsa);
		return r;
	}
	curve = alg == KW_ALG_EC_P256 ? ECC_SECP256R1 : ECC_SECP384R1;
	if (wc_ecc_init(&ek) != 0)
		return KW_ERR_CRYPTO;
	if (wc_ecc_init(&eph) != 0) {
		wc_ecc_free(&ek);
		return KW_ERR_CRYPTO;
	}
	if (wc_EccPublicKeyDecode(spki, &idx, &ek, (word32)spki_len) == 0 &&
	    wc_ecc_make_key_ex(rng, wc_ecc_get_curve_size_from_id(curve), &eph,
	    curve) == 0 && wc_ecc_set_rng(&eph, rng) == 0 &&
	    wc_ecc_shared_secret(&eph, &ek, z, &zl) == 0 &&
	    wc_ecc_export_public_raw(&eph, ex, &exl, ey, &eyl) == 0 &&
	    wc_ecc_export_public_raw(&ek, kx, &kxl, ky, &kyl) == 0 &&
	    attest_kdfe(halg, z, zl, label, ex, exl, kx, kxl, hs, seed) ==
	    KW_OK) {
		/* TPMS_ECC_POINT: TPM2B x, TPM2B y */
		enc[0] = (uint8_t)(exl >> 8);
		enc[1] = (uint8_t)exl;
		memcpy(enc + 2, ex, exl);
		enc[2 + exl] = (uint8_t)(eyl >> 8);
		enc[3 + exl] = (uint8_t)eyl;
		memcpy(enc + 4 + exl, ey, eyl);
		*enc_len = 4 + exl + eyl;
		r = KW_OK;
	}
	explicit_bzero(z, sizeof(z));
	wc_ecc_free(&eph);
	wc_ecc_free(&ek);
	return r;
}

int
kw_attest_make_credential(const uint8_t *ek_spki, size_t ek_spki_len,
    const uint8_t *ak_name, size_t ak_name_len, const uint8_t *secret,
    size_t secret_len, uint8_t **id_object, size_t *id_object_len,
    uint8_t **enc_secret, size_t *enc_secret_len)
{
	uint8_t seed[64], sym[32], hkey[64], plain[2 + 64], hmac[64],
	    enc[1024], *id = NULL, *es = NULL;
	size_t enc_len = 0, hs, symbytes, id_len = 0;
	enum kw_key_alg alg = kw_der_spki_alg(ek_spki, ek_spki_len);
	int halg, rng_ok = 0, r;
	WC_RNG rng;
	Aes aes;
	Hmac h;

	*id_object = *enc_secret = NULL;
	*id_object_len = *enc_secret_len = 0;
	memset(&h, 0, sizeof(h));
	switch (alg) {
	case KW_ALG_RSA2048:
	case KW_ALG_EC_P256:
		halg = TPM2_ALG_SHA256;
		symbytes = 16;
		break;
	case KW_ALG_RSA3072:
	case KW_ALG_EC_P384:
		halg = TPM2_ALG_SHA384;
		symbytes = 32;
		break;
	default:
		return KW_ERR_UNSUPPORTED;
	}
	hs = attest_hash_size((TPM2_ALG_ID)halg);
	if (secret_len == 0 || secret_len > hs || ak_name_len == 0)
		return KW_ERR_ARG;
	if (wc_InitRng(&rng) != 0) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	rng_ok = 1;
	if ((r = attest_seed(alg, halg, ek_spki, ek_spki_len, &rng, seed, enc,
	    &enc_len)) != KW_OK)
		goto out;
	if ((r = kw_attest_kdfa(halg, seed, hs, "STORAGE", ak_name, ak_name_len,
	    NULL, 0, (uint32_t)symbytes * 8, sym)) != KW_OK ||
	    (r = kw_attest_kdfa(halg, seed, hs, "INTEGRITY", NULL, 0, NULL, 0,
	    (uint32_t)hs * 8, hkey)) != KW_OK)
		goto out;
	/* encIdentity = CFB(TPM2B_DIGEST(secret)) */
	plain[0] = (uint8_t)(secret_len >> 8);
	plain[1] = (uint8_t)secret_len;
	memcpy(plain + 2, secret, secret_len);
	id_len = 2 + hs + 2 + secret_len;
	if ((id = malloc(2 + id_len)) == NULL ||
	    (es = malloc(2 + enc_len)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	r = KW_ERR_CRYPTO;
	if (wc_AesInit(&aes, NULL, INVALID_DEVID) != 0)
		goto out;
	{
		static const uint8_t iv[16];
		int ok = wc_AesSetKey(&aes, sym, (word32)symbytes, iv,
		    AES_ENCRYPTION) == 0 && wc_AesCfbEncrypt(&aes,
		    id + 2 + 2 + hs, plain, (word32)(2 + secret_len)) == 0;

		wc_AesFree(&aes);
		explicit_bzero(&aes, sizeof(aes));
		if (!ok)
			goto out;
	}
	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		goto out;
	if (wc_HmacSetKey(&h, attest_wc_hmac_type(halg), hkey, (word32)hs) !=
	    0 || wc_HmacUpdate(&h, id + 2 + 2 + hs, (word32)(2 +
	    secret_len)) != 0 || wc_HmacUpdate(&h, ak_name,
	    (word32)ak_name_len) != 0 || wc_HmacFinal(&h, hmac) != 0) {
		wc_HmacFree(&h);
		goto out;
	}
	wc_HmacFree(&h);
	id[0] = (uint8_t)(id_len >> 8);
	id[1] = (uint8_t)id_len;
	id[2] = (uint8_t)(hs >> 8);
	id[3] = (uint8_t)hs;
	memcpy(id + 4, hmac, hs);
	es[0] = (uint8_t)(enc_len >> 8);
	es[1] = (uint8_t)enc_len;
	memcpy(es + 2, enc, enc_len);
	*id_object = id;
	*id_object_len = 2 + id_len;
	*enc_secret = es;
	*enc_secret_len = 2 + enc_len;
	id = es = NULL;
	r = KW_OK;
out:
	if (rng_ok)
		wc_FreeRng(&rng);
	explicit_bzero(seed, sizeof(seed));
	explicit_bzero(sym, sizeof(sym));
	explicit_bzero(hkey, sizeof(hkey));
	explicit_bzero(plain, sizeof(plain));
	explicit_bzero(&h, sizeof(h));
	free(id);
	free(es);
	return r;
}
