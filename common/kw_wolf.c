/* The wolfSSL crypto-callback device: every private-key operation wolfSSL
 * makes with a key loaded "by id" on our devId goes to a struct kw_key.
 *
 * What arrives here and how it is answered:
 *   WC_PK_TYPE_ECDSA_SIGN   the hash; kw_key_sign(ECDSA) gives raw r||s,
 *                           returned as DER (wc_ecc_rs_raw_to_sig).
 *   WC_PK_TYPE_RSA private  this wolfSSL lacks WOLF_CRYPTO_CB_RSA_PAD, so the
 *                           block is already padded: a PKCS#1 v1.5 type 1
 *                           block is parsed strictly back to DigestInfo and
 *                           the hash signed with kw_key_sign(RSA_PKCS1).  A
 *                           PSS-encoded block cannot be signed by a token
 *                           (the salt is inside), so RSA-PSS in TLS takes
 *                           the PK-callback path below instead.
 *   WC_PK_TYPE_RSA public   our RSA key was loaded by id, so wolfSSL holds
 *                           no modulus for it; when it checks its own
 *                           signature (TLS does, against faults) the device
 *                           does the public operation in software with the
 *                           public key read from the token.
 *   anything else           CRYPTOCB_UNAVAILABLE: wolfSSL does hashes,
 *                           ECDHE, verification, RNG and ciphers itself.
 *
 * One devId for every key: wolfSSL 5.5.4 has room for only 8 registered
 * devices per process (MAX_CRYPTO_DEVICES), far fewer than the tunnels,
 * reloads and enrollment contexts that may each hold a key.  So all keys
 * share devId KW_DEV_ID, registered idempotently with one static callback,
 * and the callback finds the device from the wolfCrypt key it is handed:
 * the key was initialised by id (wc_*_init_id, wolfSSL_CTX_use_PrivateKey_id)
 * and that id carries a magic, a serial number and the device's address.
 *
 * RSA-PSS: TLS 1.3 CertificateVerify (and TLS 1.2 when rsa_pss is chosen)
 * calls RsaSign(), which, when a PK callback is installed on the CTX
 * (wolfSSL_CTX_SetRsaPssSignCb), hands it the digest, hash and MGF instead
 * of padding in software: kw_dev_use_in_ctx() installs kw_dev_pss_sign.
 * wolfSSL passes the PK callback the key buffer, which for an id-loaded key
 * is our id, so it finds its device the same way. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/cryptocb.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/error-ssl.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_wolf.h"

#define KW_DEV_MAGIC	"kwdv"
#define KW_DEV_ID	0x4b57		/* "KW" */
#define KW_DEV_ID_LEN	(4 + 4 + sizeof(void *))

struct kw_dev {
	struct kw_key *key;
	int serial;
	unsigned char id[KW_DEV_ID_LEN];
	int rsa;			/* the key is RSA */
	RsaKey pub;			/* RSA: public half, for self-checks */
	int have_pub;
	atomic_int last_err;		/* last KW_ERR_* from the key */
};

/* Serial numbers of devices (part of the key id, so that a stale id never
 * names a newer device at the same address).  wolfSSL keeps its own device
 * table; this counter is the only state of ours, and it is atomic. */
static atomic_int kw_dev_next_serial = 1;

/* DigestInfo prefixes (RFC 8017 §9.2 note 1), NULL parameters present. */
static const struct {
	enum kw_hash hash;
	uint8_t prefix[19];
} kw_digest_info[] = {
	{ KW_HASH_SHA256, { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
	    0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 } },
	{ KW_HASH_SHA384, { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
	    0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 } },
	{ KW_HASH_SHA512, { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
	    0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 } },
};

int
kw_rsa_pkcs1_parse(const uint8_t *blk, size_t len, enum kw_hash *hash,
    const uint8_t **digest)
{
	size_t i, j, rest;

	*hash = KW_HASH_NONE;
	*digest = NULL;
	/* 00 01 FF..FF (at least 8) 00 DigestInfo */
	if (len < 11 || blk[0] != 0x00 || blk[1] != 0x01)
		return KW_ERR_PARSE;
	for (i = 2; i < len && blk[i] == 0xff; i++)
		;
	if (i - 2 < 8 || i >= len || blk[i] != 0x00)
		return KW_ERR_PARSE;
	i++;
	rest = len - i;
	for (j = 0; j < sizeof(kw_digest_info) / sizeof(kw_digest_info[0]); j++) {
		size_t dlen = kw_hash_len(kw_digest_info[j].hash);

		if (rest != sizeof(kw_digest_info[j].prefix) + dlen ||
		    memcmp(blk + i, kw_digest_info[j].prefix,
		    sizeof(kw_digest_info[j].prefix)) != 0)
			continue;
		*hash = kw_digest_info[j].hash;
		*digest = blk + i + sizeof(kw_digest_info[j].prefix);
		return KW_OK;
	}
	return KW_ERR_PARSE;
}

static enum kw_hash
kw_hash_from_len(size_t len)
{
	switch (len) {
	case 32:
		return KW_HASH_SHA256;
	case 48:
		return KW_HASH_SHA384;
	case 64:
		return KW_HASH_SHA512;
	default:
		return KW_HASH_NONE;
	}
}

/* The PK callback's hash argument: wolfSSL 5.5.4 passes TypeHash(), the
 * hash OID sum (SHA256h...); accept wc_HashType values too. */
static enum kw_hash
kw_hash_from_wc(int wc_hash)
{
	switch (wc_hash) {
	case SHA256h:
	case WC_HASH_TYPE_SHA256:
		return KW_HASH_SHA256;
	case SHA384h:
	case WC_HASH_TYPE_SHA384:
		return KW_HASH_SHA384;
	case SHA512h:
	case WC_HASH_TYPE_SHA512:
		return KW_HASH_SHA512;
	default:
		return KW_HASH_NONE;
	}
}

/* Sign through the key; remember and log a failure once, in user terms. */
static int
kw_dev_sign(struct kw_dev *dev, enum kw_sig_scheme scheme, enum kw_hash hash,
    const uint8_t *digest, size_t dlen, uint8_t *sig, size_t *sig_len)
{
	static const char *const names[] = { "", "ECDSA", "RSA PKCS#1 v1.5",
	    "RSA-PSS" };
	char desc[256];
	int r;

	r = kw_key_sign(dev->key, scheme, hash, digest, dlen, sig, sig_len);
	atomic_store(&dev->last_err, r);
	if (r != KW_OK) {
		if (kw_key_describe(dev->key, desc, sizeof(desc)) != KW_OK)
			snprintf(desc, sizeof(desc), "%s key",
			    kw_key_backend(dev->key));
		if (kw_key_failure_said(dev->key))
			kw_debug("the %s could not sign (%s/%s): %s", desc,
			    names[scheme], kw_hash_name(hash), kw_strerror(r));
		else
			kw_err("the %s could not sign (%s/%s): %s", desc,
			    names[scheme], kw_hash_name(hash), kw_strerror(r));
	}
	return r;
}

static int
kw_dev_ecdsa(struct kw_dev *dev, wc_CryptoInfo *info)
{
	uint8_t raw[2 * 66];
	size_t raw_len = sizeof(raw);
	enum kw_hash hash;

	hash = kw_hash_from_len(info->pk.eccsign.inlen);
	if (hash == KW_HASH_NONE) {
		kw_err("ECDSA over a %u-byte digest is not supported (SHA-256, "
		    "-384 or -512 only)", (unsigned)info->pk.eccsign.inlen);
		atomic_store(&dev->last_err, KW_ERR_UNSUPPORTED);
		return WC_HW_E;
	}
	if (kw_dev_sign(dev, KW_SIG_ECDSA, hash, info->pk.eccsign.in,
	    info->pk.eccsign.inlen, raw, &raw_len) != KW_OK)
		return WC_HW_E;
	if (raw_len == 0 || raw_len % 2 != 0) {
		kw_err("the %s key returned a malformed ECDSA signature",
		    kw_key_backend(dev->key));
		atomic_store(&dev->last_err, KW_ERR_CRYPTO);
		return WC_HW_E;
	}
	return wc_ecc_rs_raw_to_sig(raw, (word32)(raw_len / 2),
	    raw + raw_len / 2, (word32)(raw_len / 2), info->pk.eccsign.out,
	    info->pk.eccsign.outlen);
}

static int
kw_dev_rsa(struct kw_dev *dev, wc_CryptoInfo *info)
{
	uint8_t sig[KW_MAX_SIG];
	size_t sig_len = sizeof(sig);
	const uint8_t *digest;
	enum kw_hash hash;

	switch (info->pk.rsa.type) {
	case RSA_PUBLIC_ENCRYPT:
	case RSA_PUBLIC_DECRYPT:
		if (!dev->have_pub)
			return CRYPTOCB_UNAVAILABLE;
		return wc_RsaFunction(info->pk.rsa.in, info->pk.rsa.inLen,
		    info->pk.rsa.out, info->pk.rsa.outLen, info->pk.rsa.type,
		    &dev->pub, info->pk.rsa.rng);
	case RSA_PRIVATE_ENCRYPT:
		break;
	default:
		/* The keys are sign-only; a decryption is never made. */
		kw_err("the %s key is a signing key: refusing an RSA "
		    "decryption", kw_key_backend(dev->key));
		atomic_store(&dev->last_err, KW_ERR_UNSUPPORTED);
		return WC_HW_E;
	}
	if (kw_rsa_pkcs1_parse(info->pk.rsa.in, info->pk.rsa.inLen, &hash,
	    &digest) != KW_OK) {
		kw_err("RSA block to sign is not PKCS#1 v1.5 over a SHA-2 "
		    "DigestInfo (RSA-PSS goes through the TLS callback); "
		    "refusing it");
		atomic_store(&dev->last_err, KW_ERR_UNSUPPORTED);
		return WC_HW_E;
	}
	if (kw_dev_sign(dev, KW_SIG_RSA_PKCS1, hash, digest,
	    kw_hash_len(hash), sig, &sig_len) != KW_OK)
		return WC_HW_E;
	if (sig_len > *info->pk.rsa.outLen)
		return RSA_BUFFER_E;
	memcpy(info->pk.rsa.out, sig, sig_len);
	*info->pk.rsa.outLen = (word32)sig_len;
	return 0;
}

/* The device an id names, or NULL if the id is not one of ours. */
static struct kw_dev *
kw_dev_from_id(const unsigned char *id, unsigned int len)
{
	struct kw_dev *dev;

	if (id == NULL || len != KW_DEV_ID_LEN ||
	    memcmp(id, KW_DEV_MAGIC, 4) != 0)
		return NULL;
	memcpy(&dev, id + 8, sizeof(dev));
	if (dev == NULL || memcmp(dev->id, id, KW_DEV_ID_LEN) != 0)
		return NULL;
	return dev;
}

static int
kw_dev_cb(int dev_id, wc_CryptoInfo *info, void *arg)
{
	struct kw_dev *dev;

	(void)arg;
	if (dev_id != KW_DEV_ID || info->algo_type != WC_ALGO_TYPE_PK)
		return CRYPTOCB_UNAVAILABLE;
	switch (info->pk.type) {
	case WC_PK_TYPE_ECDSA_SIGN:
		dev = kw_dev_from_id(info->pk.eccsign.key->id,
		    (unsigned int)info->pk.eccsign.key->idLen);
		if (dev == NULL || dev->rsa)
			return CRYPTOCB_UNAVAILABLE;
		return kw_dev_ecdsa(dev, info);
	case WC_PK_TYPE_RSA:
		dev = kw_dev_from_id(info->pk.rsa.key->id,
		    (unsigned int)info->pk.rsa.key->idLen);
		if (dev == NULL || !dev->rsa)
			return CRYPTOCB_UNAVAILABLE;
		return kw_dev_rsa(dev, info);
	default:
		return CRYPTOCB_UNAVAILABLE;
	}
}

/* wolfSSL PK callback (CallbackRsaPssSign): in is the digest. */
static int
kw_dev_pss_sign(WOLFSSL *ssl, const unsigned char *in, unsigned int in_sz,
    unsigned char *out, unsigned int *out_sz, int hash, int mgf,
    const unsigned char *key_der, unsigned int key_sz, void *ctx)
{
	struct kw_dev *dev;
	enum kw_hash h;
	size_t sig_len;

	(void)ssl;
	(void)mgf;
	(void)ctx;
	if ((dev = kw_dev_from_id(key_der, key_sz)) == NULL) {
		kw_err("RSA-PSS callback called for a key that is not a "
		    "keyward device key");
		return WC_HW_E;
	}
	h = kw_hash_from_wc(hash);
	if (h == KW_HASH_NONE || kw_hash_len(h) != in_sz) {
		kw_err("RSA-PSS with hash type %d is not supported", hash);
		atomic_store(&dev->last_err, KW_ERR_UNSUPPORTED);
		return WC_HW_E;
	}
	sig_len = *out_sz;
	if (kw_dev_sign(dev, KW_SIG_RSA_PSS, h, in, in_sz, out, &sig_len)
	    != KW_OK)
		return WC_HW_E;
	*out_sz = (unsigned int)sig_len;
	return 0;
}

static int
kw_dev_load_pub(struct kw_dev *dev)
{
	uint8_t der[KW_MAX_PUBKEY_DER];
	size_t len = sizeof(der);
	word32 idx = 0;
	int r, w;

	if ((r = kw_key_public_der(dev->key, der, &len)) != KW_OK)
		return r;
	if ((w = wc_InitRsaKey(&dev->pub, NULL)) != 0)
		return kw_wolf_err(w, "initialising an RSA public key");
	dev->have_pub = 1;
	if ((w = wc_RsaPublicKeyDecode(der, &idx, &dev->pub, (word32)len)) != 0)
		return kw_wolf_err(w, "decoding the key's RSA public key");
	return KW_OK;
}

int
kw_dev_new(struct kw_key *key, struct kw_dev **out)
{
	struct kw_dev *dev;
	int r, w;

	*out = NULL;
	if (key == NULL)
		return KW_ERR_ARG;
	if ((dev = calloc(1, sizeof(*dev))) == NULL)
		return KW_ERR_NOMEM;
	dev->key = key;
	dev->rsa = kw_alg_is_rsa(kw_key_alg(key));
	dev->serial = atomic_fetch_add(&kw_dev_next_serial, 1);
	atomic_init(&dev->last_err, KW_OK);
	memcpy(dev->id, KW_DEV_MAGIC, 4);
	memcpy(dev->id + 4, &dev->serial, 4);
	memcpy(dev->id + 8, &dev, sizeof(dev));
	if (dev->rsa && (r = kw_dev_load_pub(dev)) != KW_OK)
		goto out;
	/* Registering the same devId again only rewrites the same entry. */
	if ((w = wc_CryptoCb_RegisterDevice(KW_DEV_ID, kw_dev_cb, NULL)) != 0) {
		r = kw_wolf_err(w, "registering the crypto-callback device");
		goto out;
	}
	*out = dev;
	dev = NULL;
	r = KW_OK;
out:
	if (dev != NULL) {
		if (dev->have_pub)
			wc_FreeRsaKey(&dev->pub);
		free(dev);
	}
	return r;
}

int
kw_dev_id(const struct kw_dev *dev)
{
	(void)dev;
	return KW_DEV_ID;
}

const unsigned char *
kw_dev_key_id(const struct kw_dev *dev, int *len)
{
	*len = (int)KW_DEV_ID_LEN;
	return dev->id;
}

struct kw_key *
kw_dev_key(const struct kw_dev *dev)
{
	return dev->key;
}

int
kw_dev_last_error(const struct kw_dev *dev)
{
	return atomic_load(&((struct kw_dev *)dev)->last_err);
}

int
kw_dev_use_in_ctx(struct kw_dev *dev, void *wolf_ctx)
{
	WOLFSSL_CTX *ctx = wolf_ctx;
	int w, bytes = kw_alg_bits(kw_key_alg(dev->key)) / 8;

	/* keySz: bytes of the modulus (RSA) or of the field (ECC); wolfSSL
	 * sizes its signature buffers from it. */
	w = wolfSSL_CTX_use_PrivateKey_id(ctx, dev->id, (long)KW_DEV_ID_LEN,
	    KW_DEV_ID, bytes);
	if (w != WOLFSSL_SUCCESS)
		return kw_wolf_err(w, "loading the key into the TLS context");
	if (dev->rsa)
		wolfSSL_CTX_SetRsaPssSignCb(ctx, kw_dev_pss_sign);
	return KW_OK;
}

void
kw_dev_free(struct kw_dev *dev)
{
	if (dev == NULL)
		return;
	/* The devId stays registered: other devices share it.  The id is
	 * wiped, so a stale key id no longer names this memory. */
	if (dev->have_pub)
		wc_FreeRsaKey(&dev->pub);
	explicit_bzero(dev, sizeof(*dev));
	free(dev);
}

int
kw_wolf_err(int wolf_ret, const char *what)
{
	char text[WOLFSSL_MAX_ERROR_SZ];

	if (wolf_ret >= WC_LAST_E && wolf_ret <= MAX_CODE_E)
		snprintf(text, sizeof(text), "%s", wc_GetErrorString(wolf_ret));
	else
		wolfSSL_ERR_error_string_n((unsigned long)wolf_ret, text,
		    sizeof(text));
	kw_debug("%s: wolfSSL error %d (%s)", what, wolf_ret, text);
	switch (wolf_ret) {
	case 0:
		return KW_OK;
	case MEMORY_E:
	case MEMORY_ERROR:
		return KW_ERR_NOMEM;
	case BUFFER_E:
	case RSA_BUFFER_E:
		return KW_ERR_SPACE;
	case BAD_FUNC_ARG:
		return KW_ERR_ARG;
	case SOCKET_ERROR_E:
	case SOCKET_PEER_CLOSED_E:
		return KW_ERR_NETWORK;
	case DOMAIN_NAME_MISMATCH:
	case IPADDR_MISMATCH:
	case ASN_NO_SIGNER_E:
	case ASN_AFTER_DATE_E:
	case ASN_BEFORE_DATE_E:
	case ASN_SIG_CONFIRM_E:
	case ASN_SELF_SIGNED_E:
	case VERIFY_CERT_ERROR:
	case NO_PEER_CERT:
	case CRL_CERT_REVOKED:
	case CRL_MISSING:
	case OCSP_CERT_REVOKED:
	case KEYUSAGE_E:
	case EXTKEYUSAGE_E:
		return KW_ERR_PEER_VERIFY;
	case WC_HW_E:
		return KW_ERR_CRYPTO;
	default:
		break;
	}
	if (wolf_ret >= ASN_CRIT_EXT_E && wolf_ret <= ASN_PARSE_E)
		return KW_ERR_PARSE;
	if (wolf_ret >= WC_LAST_E && wolf_ret <= MAX_CODE_E)
		return KW_ERR_CRYPTO;
	return KW_ERR_TLS;
}

int
kw_wolf_init(void)
{
	int r, w;

	if ((r = kw_wolf_selfcheck()) != KW_OK)
		return r;
	if ((w = wolfSSL_Init()) != WOLFSSL_SUCCESS)
		return kw_wolf_err(w, "initialising wolfSSL");
	if (kw_log_get_level() >= KW_LOG_DEBUG)
		kw_debug("wolfSSL %s ready", wolfSSL_lib_version());
	return KW_OK;
}

void
kw_wolf_cleanup(void)
{
	wc_CryptoCb_UnRegisterDevice(KW_DEV_ID);
	wolfSSL_Cleanup();
}
