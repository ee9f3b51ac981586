/* TLS contexts whose private key is a hardware key (see kw_tls.h).
 *
 * The key reaches wolfSSL only as an id on a kw_dev crypto-callback device
 * (kw_dev_use_in_ctx): no CTX-wide devId is set, so hashing, ECDHE,
 * verification and record encryption stay in software, and only our own
 * signatures go to the token. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfio.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_cancel.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_tls.h"
#include "kw_tls_hello.h"
#include "kw_tls_name.h"
#include "kw_wolf.h"
#include "kw_wolf_check.h"

#define KW_CERT_MAX	(256 * 1024)

struct kw_tls_ctx {
	WOLFSSL_CTX *wctx;
	struct kw_dev *dev;
	struct kw_key *key;
	enum kw_tls_side side;
	int min_version;
	int max_version;
	int crl_soft;			/* CRL soft-fail: missing CRL accepted */
	int session_cache;
	char *ca_file;
	char *crl_file;
	pthread_mutex_t lock;		/* guards session, session_name */
	WOLFSSL_SESSION *session;
	char *session_name;
	atomic_uint_fast64_t full;
	atomic_uint_fast64_t resumed;
};

/* Suite orders.  Debian's wolfSSL has no AES-NI: ChaCha20-Poly1305 is
 * several times faster there than AES-GCM (see the issue-2 report), so it
 * goes first; with an AES-NI build, AES-GCM does. */
static const char kw_suites_chacha_first[] =
	"TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:"
	"TLS13-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
static const char kw_suites_aes_first[] =
	"TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
	"TLS13-CHACHA20-POLY1305-SHA256:"
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
/* Key exchange groups, in order: wolfSSL names (the same as groups[] in
 * kw_tls_ctx_new). */
static const char kw_groups[] = "X25519:P-256:P-384";
/* Signature algorithms offered (signature_algorithms, CertificateRequest):
 * SHA-256 and up only (RFC 9155: no SHA-1, and no SHA-224 either).  What a
 * peer signs with is checked apart (kw_tls_ecc_verify, kw_tls_rsa_verify):
 * wolfSSL 5.5.4 does not hold the peer to this list. */
static const char kw_sigalgs[] =
	"ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:ED25519:ED448:"
	"RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512:"
	"RSA+SHA256:RSA+SHA384:RSA+SHA512";
/* The same when our RSA key cannot make PSS signatures. */
static const char kw_sigalgs_no_pss[] =
	"ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:ED25519:ED448:"
	"RSA+SHA256:RSA+SHA384:RSA+SHA512";

int
kw_cert_read_file(const char *path, uint8_t **der, size_t *der_len)
{
	uint8_t *buf = NULL, *out = NULL;
	size_t len = 0;
	int r, n;

	*der = NULL;
	*der_len = 0;
	if ((r = kw_file_read(path, KW_CERT_MAX, &buf, &len)) != KW_OK) {
		kw_err("cannot read certificate file %s: %s", path,
		    kw_strerror(r));
		goto out;
	}
	if ((out = malloc(len + 1)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if (strstr((char *)buf, "-----BEGIN") != NULL) {
		n = wc_CertPemToDer(buf, (int)len, out, (int)len, CERT_TYPE);
		if (n <= 0) {
			kw_err("%s holds no PEM certificate (it must start "
			    "with -----BEGIN CERTIFICATE-----)", path);
			r = kw_wolf_err(n, "decoding PEM certificate");
			r = KW_ERR_CERT;
			goto out;
		}
		*der_len = (size_t)n;
	} else {
		memcpy(out, buf, len);
		*der_len = len;
	}
	*der = out;
	out = NULL;
	r = KW_OK;
out:
	free(out);
	free(buf);
	return r;
}

int
kw_cert_matches_key(const uint8_t *cert_der, size_t cert_len,
    struct kw_key *key)
{
	WOLFSSL_X509 *x = NULL;
	uint8_t cert_spki[KW_MAX_PUBKEY_DER], key_spki[KW_MAX_PUBKEY_DER];
	size_t key_len = sizeof(key_spki);
	int cert_spki_len = (int)sizeof(cert_spki), r;

	x = wolfSSL_X509_load_certificate_buffer(cert_der, (int)cert_len,
	    WOLFSSL_FILETYPE_ASN1);
	if (x == NULL) {
		r = KW_ERR_CERT;
		goto out;
	}
	if (wolfSSL_X509_get_pubkey_buffer(x, cert_spki, &cert_spki_len) !=
	    WOLFSSL_SUCCESS) {
		r = KW_ERR_CERT;
		goto out;
	}
	if ((r = kw_key_public_der(key, key_spki, &key_len)) != KW_OK)
		goto out;
	if ((size_t)cert_spki_len != key_len ||
	    memcmp(cert_spki, key_spki, key_len) != 0)
		r = KW_ERR_KEY_MISMATCH;
	else
		r = KW_OK;
out:
	wolfSSL_X509_free(x);
	return r;
}

/* Why kw_tls itself refused a handshake, kept in the SSL's ex_data slot
 * KW_TLS_EX_REFUSAL (an intptr_t) for kw_tls_explain(). */
#define KW_TLS_EX_REFUSAL	0
enum kw_tls_refusal {
	KW_REFUSED_NONE,
	KW_REFUSED_NAME,		/* server certificate not for the name */
	KW_REFUSED_SIGALG,		/* peer signed with SHA-1 or SHA-224 */
	KW_REFUSED_PSK_KE,		/* resumed without a key exchange */
	KW_REFUSED_GROUP,		/* TLS 1.2 ECDHE group not ours */
};
/* The ServerHello watcher of a resuming client (struct kw_hello_scan). */
#define KW_TLS_EX_SCAN		1

static void
kw_tls_set_refusal(WOLFSSL *ssl, enum kw_tls_refusal why)
{
	(void)wolfSSL_set_ex_data(ssl, KW_TLS_EX_REFUSAL,
	    (void *)(intptr_t)why);
}

static enum kw_tls_refusal
kw_tls_refusal(WOLFSSL *ssl)
{
	return (enum kw_tls_refusal)(intptr_t)wolfSSL_get_ex_data(ssl,
	    KW_TLS_EX_REFUSAL);
}

static const char *kw_tls_get_name(WOLFSSL *ssl);

/* Verify callback (WOLFSSL_ALWAYS_VERIFY_CB: called for every certificate,
 * trusted or not).  Softens a missing CRL when the context asked for
 * soft-fail, and on a client checks the server's own certificate against
 * the name asked for (kw_cert_check_name: RFC 6125 wildcards, IP addresses
 * against IP SANs only).  wolfSSL 5.5.4's own check accepts "*", "*.com"
 * and partial wildcards, and leaves IP addresses unchecked; here the
 * handshake ends while the server's Certificate is processed, before our
 * certificate and signature are sent. */
static int
kw_tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	struct kw_tls_ctx *ctx = store ? store->userCtx : NULL;
	WOLFSSL *ssl;
	const char *name;
	int err;

	if (!preverify) {
		err = wolfSSL_X509_STORE_CTX_get_error(store);
		kw_debug("certificate at depth %d rejected: wolfSSL error %d",
		    wolfSSL_X509_STORE_CTX_get_error_depth(store), err);
		if (ctx != NULL && ctx->crl_soft && err == CRL_MISSING) {
			kw_warn("no CRL for a certificate's issuer in %s; "
			    "accepting it (CRL soft-fail)",
			    ctx->crl_file ? ctx->crl_file : "-");
			return 1;
		}
		return 0;
	}
	if (ctx == NULL || ctx->side != KW_TLS_CLIENT ||
	    wolfSSL_X509_STORE_CTX_get_error_depth(store) != 0)
		return 1;
	ssl = wolfSSL_X509_STORE_CTX_get_ex_data(store,
	    wolfSSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL || (name = kw_tls_get_name(ssl)) == NULL)
		return 0;
	if (kw_cert_check_name(store->current_cert, name) != KW_OK) {
		kw_tls_set_refusal(ssl, KW_REFUSED_NAME);
		return 0;
	}
	return 1;
}

/* TLS 1.2: is the ECDHE group in use one of ours (kw_groups)?  A TLS 1.2
 * server picks it and wolfSSL 5.5.4's client takes any it knows; the
 * group is known once the ServerKeyExchange is parsed, which is when the
 * signature callbacks below run, before our certificate and signature are
 * sent.  1 also when no group is known yet (or not TLS 1.2). */
static int
kw_tls_group_ok(WOLFSSL *ssl)
{
	static const char *const ours[] = { "X25519", "SECP256R1",
	    "SECP384R1" };
	const char *g;
	size_t i;

	if (wolfSSL_version(ssl) != TLS1_2_VERSION ||
	    (g = wolfSSL_get_curve_name(ssl)) == NULL)
		return 1;
	for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strcmp(g, ours[i]) == 0)
			return 1;
	kw_tls_set_refusal(ssl, KW_REFUSED_GROUP);
	return 0;
}

/* The peer's handshake signatures (TLS 1.2 ServerKeyExchange and
 * CertificateVerify, TLS 1.3 CertificateVerify) are verified here, by
 * wolfCrypt, through wolfSSL's PK verify callbacks: wolfSSL 5.5.4 accepts a
 * signature made with any hash it knows, even one keyward never offered.
 * These refuse SHA-1 and SHA-224 (RFC 9155) while the message is
 * processed: a client refuses before its certificate and signature are
 * sent.  RSA-PSS (SHA-256 and up by definition) and EdDSA stay with
 * wolfSSL. */
static int
kw_tls_ecc_verify(WOLFSSL *ssl, const unsigned char *sig, unsigned int sig_len,
    const unsigned char *hash, unsigned int hash_len,
    const unsigned char *key_der, unsigned int key_len, int *result,
    void *arg)
{
	ecc_key key;
	word32 idx = 0;
	int w;

	(void)arg;
	*result = 0;
	/* The digest length names the hash: 20 SHA-1, 28 SHA-224. */
	if (hash_len < 32) {
		kw_tls_set_refusal(ssl, KW_REFUSED_SIGALG);
		return SIG_VERIFY_E;
	}
	if (!kw_tls_group_ok(ssl))
		return SIG_VERIFY_E;
	if ((w = wc_ecc_init(&key)) != 0)
		return w;
	if ((w = wc_EccPublicKeyDecode(key_der, &idx, &key, key_len)) == 0)
		w = wc_ecc_verify_hash(sig, sig_len, hash, hash_len, result,
		    &key);
	wc_ecc_free(&key);
	return w;
}

/* A PKCS#1 v1.5 DigestInfo (with NULL parameters) for SHA-256, -384 or
 * -512 and nothing else. */
static int
kw_digest_info_strong(const unsigned char *di, int len)
{
	static const unsigned char prefix[] = { 0x30, 0x00, 0x30, 0x0d, 0x06,
	    0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x00, 0x05,
	    0x00, 0x04, 0x00 };
	static const struct {
		unsigned char id, size;
	} hashes[] = { { 1, 32 }, { 2, 48 }, { 3, 64 } };
	size_t i;

	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		if (len != (int)sizeof(prefix) + hashes[i].size ||
		    di[1] != 17 + hashes[i].size || di[14] != hashes[i].id ||
		    di[18] != hashes[i].size)
			continue;
		if (memcmp(di, prefix, 1) == 0 &&
		    memcmp(di + 2, prefix + 2, 12) == 0 &&
		    memcmp(di + 15, prefix + 15, 3) == 0)
			return 1;
	}
	return 0;
}

static int
kw_tls_rsa_verify(WOLFSSL *ssl, unsigned char *sig, unsigned int sig_len,
    unsigned char **out, const unsigned char *key_der, unsigned int key_len,
    void *arg)
{
	RsaKey key;
	word32 idx = 0;
	int w;

	(void)arg;
	if (!kw_tls_group_ok(ssl))
		return SIG_VERIFY_E;
	if ((w = wc_InitRsaKey(&key, NULL)) != 0)
		return w;
	if ((w = wc_RsaPublicKeyDecode(key_der, &idx, &key, key_len)) == 0)
		w = wc_RsaSSL_VerifyInline(sig, sig_len, out, &key);
	wc_FreeRsaKey(&key);
	if (w > 0 && !kw_digest_info_strong(*out, w)) {
		kw_tls_set_refusal(ssl, KW_REFUSED_SIGALG);
		w = SIG_VERIFY_E;
	}
	return w;
}

/* RSA-PSS: the hash is SHA-256 and up by definition; only the group is
 * checked, then wolfCrypt verifies (wolfSSL checks the padding after). */
static int
kw_tls_pss_verify(WOLFSSL *ssl, unsigned char *sig, unsigned int sig_len,
    unsigned char **out, int hash, int mgf, const unsigned char *key_der,
    unsigned int key_len, void *arg)
{
	enum wc_HashType type;
	RsaKey key;
	word32 idx = 0;
	int w;

	(void)arg;
	if (!kw_tls_group_ok(ssl))
		return SIG_VERIFY_E;
	switch (hash) {
	case SHA256h:
		type = WC_HASH_TYPE_SHA256;
		break;
	case SHA384h:
		type = WC_HASH_TYPE_SHA384;
		break;
	case SHA512h:
		type = WC_HASH_TYPE_SHA512;
		break;
	default:
		kw_tls_set_refusal(ssl, KW_REFUSED_SIGALG);
		return SIG_VERIFY_E;
	}
	if ((w = wc_InitRsaKey(&key, NULL)) != 0)
		return w;
	if ((w = wc_RsaPublicKeyDecode(key_der, &idx, &key, key_len)) == 0)
		w = wc_RsaPSS_VerifyInline(sig, sig_len, out, type, mgf, &key);
	wc_FreeRsaKey(&key);
	return w;
}

/* What TLS will ask the key to sign, and whether it can.  *max_version may
 * come down to 12 for an RSA key without PSS. */
static int
kw_tls_check_key(const struct kw_tls_conf *conf, struct kw_key *key,
    int *max_version, int *no_pss)
{
	enum kw_key_alg alg = kw_key_alg(key);
	enum kw_hash h = alg == KW_ALG_EC_P384 ? KW_HASH_SHA384 :
	    KW_HASH_SHA256;
	char desc[256];
	int r;

	*no_pss = 0;
	if (kw_key_describe(key, desc, sizeof(desc)) != KW_OK)
		snprintf(desc, sizeof(desc), "%s key", kw_key_backend(key));
	if (!kw_alg_is_rsa(alg)) {
		if ((r = kw_key_supports(key, KW_SIG_ECDSA, h)) != KW_OK)
			kw_err("the %s cannot make ECDSA/%s signatures, which "
			    "TLS needs", desc, kw_hash_name(h));
		return r;
	}
	if (kw_key_supports(key, KW_SIG_RSA_PSS, KW_HASH_SHA256) == KW_OK)
		return KW_OK;
	*no_pss = 1;
	if (conf->min_version == 13) {
		kw_err("the %s cannot make the RSA-PSS signatures TLS 1.3 "
		    "requires; allow TLS 1.2 or use an EC key", desc);
		return KW_ERR_UNSUPPORTED;
	}
	if ((r = kw_key_supports(key, KW_SIG_RSA_PKCS1, KW_HASH_SHA256))
	    != KW_OK) {
		kw_err("the %s can make neither RSA-PSS nor PKCS#1 v1.5 "
		    "signatures: it cannot be used for TLS", desc);
		return r;
	}
	if (*max_version == 13)
		kw_warn("the %s cannot make RSA-PSS signatures: limiting "
		    "TLS to version 1.2 (PKCS#1 v1.5 signatures)", desc);
	*max_version = 12;
	return KW_OK;
}

static int
kw_tls_load_identity(struct kw_tls_ctx *ctx, const struct kw_tls_conf *conf)
{
	uint8_t *der = NULL;
	const uint8_t *leaf;
	size_t leaf_len = 0;
	const char *what = conf->cert_file ? conf->cert_file :
	    "the certificate given";
	char desc[256];
	int r, w;

	if (conf->cert_file != NULL) {
		if ((r = kw_cert_read_file(conf->cert_file, &der, &leaf_len))
		    != KW_OK)
			goto out;
		leaf = der;
	} else if (conf->cert_der != NULL) {
		leaf = conf->cert_der;
		leaf_len = conf->cert_der_len;
	} else {
		kw_err("a key was given without its certificate");
		r = KW_ERR_CONFIG;
		goto out;
	}
	r = kw_cert_matches_key(leaf, leaf_len, conf->key);
	if (r == KW_ERR_KEY_MISMATCH) {
		if (kw_key_describe(conf->key, desc, sizeof(desc)) != KW_OK)
			snprintf(desc, sizeof(desc), "the key");
		kw_err("certificate %s is not for %s (its public key differs);"
		    " use the certificate issued for this key", what, desc);
		goto out;
	} else if (r == KW_ERR_CERT) {
		kw_err("certificate %s cannot be parsed", what);
		goto out;
	} else if (r != KW_OK) {
		kw_err("cannot read the public key of %s key: %s",
		    kw_key_backend(conf->key), kw_strerror(r));
		goto out;
	}
	if (conf->cert_file != NULL)
		w = wolfSSL_CTX_use_certificate_chain_file(ctx->wctx,
		    conf->cert_file);
	else
		w = wolfSSL_CTX_use_certificate_buffer(ctx->wctx, leaf,
		    (long)leaf_len, WOLFSSL_FILETYPE_ASN1);
	if (w != WOLFSSL_SUCCESS) {
		r = kw_wolf_err(w, "loading the certificate");
		kw_err("certificate %s (or its chain) cannot be loaded", what);
		r = KW_ERR_CERT;
		goto out;
	}
	if ((r = kw_dev_new(conf->key, &ctx->dev)) != KW_OK)
		goto out;
	if ((r = kw_dev_use_in_ctx(ctx->dev, ctx->wctx)) != KW_OK)
		kw_err("cannot attach the %s key to TLS: %s",
		    kw_key_backend(conf->key), kw_strerror(r));
out:
	free(der);
	return r;
}

static int
kw_tls_load_crl(struct kw_tls_ctx *ctx, const struct kw_tls_conf *conf)
{
	int w, r = KW_OK;

	if (conf->crl_file == NULL)
		return KW_OK;
	if ((ctx->crl_file = strdup(conf->crl_file)) == NULL)
		return KW_ERR_NOMEM;
	ctx->crl_soft = !conf->crl_hard_fail;
	if ((w = wolfSSL_CTX_EnableCRL(ctx->wctx, WOLFSSL_CRL_CHECKALL)) !=
	    WOLFSSL_SUCCESS)
		return kw_wolf_err(w, "enabling CRL checks");
	w = wolfSSL_CTX_LoadCRLFile(ctx->wctx, conf->crl_file,
	    WOLFSSL_FILETYPE_PEM);
	if (w != WOLFSSL_SUCCESS)
		w = wolfSSL_CTX_LoadCRLFile(ctx->wctx, conf->crl_file,
		    WOLFSSL_FILETYPE_ASN1);
	if (w == WOLFSSL_SUCCESS)
		return KW_OK;
	r = kw_wolf_err(w, "loading the CRL file");
	if (conf->crl_hard_fail) {
		kw_err("cannot load CRL file %s (not a CRL signed by a CA in "
		    "%s, or unreadable); refusing to run without it "
		    "(CRL hard-fail)", conf->crl_file,
		    conf->ca_file ? conf->ca_file : "the CA file");
		return KW_ERR_CONFIG;
	}
	kw_warn("cannot load CRL file %s; going on without revocation "
	    "checks (CRL soft-fail)", conf->crl_file);
	(void)r;
	wolfSSL_CTX_DisableCRL(ctx->wctx);
	return KW_OK;
}

/* The suites of list (wolfSSL names, ':'-separated) that the versions
 * min..max can use: TLS 1.3 suites are named TLS13-*.  A TLS 1.2-only
 * context must not list TLS 1.3 suites in its ClientHello (wolfSSL sends
 * whatever the cipher list holds).  *out is malloc'd. */
static int
kw_tls_suites_for(const char *list, int min_version, int max_version,
    char **out)
{
	char *copy = NULL, *res = NULL, *tok, *save = NULL;
	size_t len = strlen(list), used = 0, n;
	int v13, r;

	*out = NULL;
	if ((copy = strdup(list)) == NULL || (res = malloc(len + 1)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	for (tok = strtok_r(copy, ":", &save); tok != NULL;
	    tok = strtok_r(NULL, ":", &save)) {
		v13 = strncmp(tok, "TLS13-", 6) == 0;
		if ((v13 && max_version < 13) || (!v13 && min_version > 12))
			continue;
		n = strlen(tok);
		if (used > 0)
			res[used++] = ':';
		memcpy(res + used, tok, n);
		used += n;
	}
	res[used] = '\0';
	*out = res;
	res = NULL;
	r = KW_OK;
out:
	free(copy);
	free(res);
	return r;
}

int
kw_tls_ctx_new(const struct kw_tls_conf *conf, struct kw_tls_ctx **out)
{
	struct kw_tls_ctx *ctx = NULL;
	struct kw_wolf_facts facts;
	WOLFSSL_METHOD *method;
	int groups[] = { WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1,
	    WOLFSSL_ECC_SECP384R1 };
	char *suites = NULL;
	int min_version, max_version, no_pss = 0, mode, w, r;
	size_t i;

	*out = NULL;
	min_version = conf->min_version ? conf->min_version : 12;
	max_version = conf->max_version ? conf->max_version : 13;
	if ((min_version != 12 && min_version != 13) ||
	    (max_version != 12 && max_version != 13) ||
	    min_version > max_version) {
		kw_err("TLS versions must be 1.2 or 1.3 (min %d, max %d)",
		    min_version, max_version);
		return KW_ERR_CONFIG;
	}
	if (conf->ca_file == NULL) {
		kw_err("a CA file is required to verify the peer");
		return KW_ERR_CONFIG;
	}
	if (conf->key != NULL && (r = kw_tls_check_key(conf, conf->key,
	    &max_version, &no_pss)) != KW_OK)
		return r;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&ctx->lock, NULL);
	atomic_init(&ctx->full, 0);
	atomic_init(&ctx->resumed, 0);
	ctx->side = conf->side;
	ctx->key = conf->key;
	ctx->min_version = min_version;
	ctx->max_version = max_version;
	ctx->session_cache = conf->session_cache;
	if ((ctx->ca_file = strdup(conf->ca_file)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	/* One method for both versions, bounded with min/max: a TLS
	 * 1.2-only method would leave wolfSSL_CTX_set_groups() unusable. */
	method = conf->side == KW_TLS_CLIENT ? wolfSSLv23_client_method() :
	    wolfSSLv23_server_method();
	if (method == NULL || (ctx->wctx = wolfSSL_CTX_new(method)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((w = wolfSSL_CTX_set_min_proto_version(ctx->wctx,
	    min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION)) !=
	    WOLFSSL_SUCCESS || (w = wolfSSL_CTX_set_max_proto_version(
	    ctx->wctx, max_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION))
	    != WOLFSSL_SUCCESS) {
		r = kw_wolf_err(w, "setting the TLS versions");
		goto out;
	}
	kw_wolf_facts_built(&facts);
	if ((r = kw_tls_suites_for(conf->cipher_list ? conf->cipher_list :
	    facts.aesni == 1 ? kw_suites_aes_first : kw_suites_chacha_first,
	    min_version, max_version, &suites)) != KW_OK)
		goto out;
	if (*suites == '\0' || (w = wolfSSL_CTX_set_cipher_list(ctx->wctx,
	    suites)) != WOLFSSL_SUCCESS) {
		if (*suites != '\0')
			r = kw_wolf_err(w, "setting the cipher suites");
		kw_err("cipher list '%s' names no TLS %s suite wolfSSL knows",
		    conf->cipher_list ? conf->cipher_list : "(default)",
		    min_version == max_version ? (max_version == 13 ? "1.3" :
		    "1.2") : "1.2 or 1.3");
		r = KW_ERR_CONFIG;
		goto out;
	}
	/* The groups, for both versions: set1_curves_list disables every
	 * other curve, which is what a TLS 1.2 server consults when it picks
	 * the ECDHE curve from the client's list (set_groups alone only
	 * orders the TLS 1.3 key shares). */
	if ((w = wolfSSL_CTX_set1_curves_list(ctx->wctx, kw_groups)) !=
	    WOLFSSL_SUCCESS) {
		r = kw_wolf_err(w, "setting the key exchange groups");
		goto out;
	}
	if ((w = wolfSSL_CTX_set_groups(ctx->wctx, groups,
	    (int)(sizeof(groups) / sizeof(groups[0])))) != WOLFSSL_SUCCESS) {
		r = kw_wolf_err(w, "setting the key exchange groups");
		goto out;
	}
	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if ((w = wolfSSL_CTX_UseSupportedCurve(ctx->wctx,
		    (word16)groups[i])) != WOLFSSL_SUCCESS) {
			r = kw_wolf_err(w, "setting the supported curves");
			goto out;
		}
	if ((w = wolfSSL_CTX_set1_sigalgs_list(ctx->wctx, no_pss ?
	    kw_sigalgs_no_pss : kw_sigalgs)) != WOLFSSL_SUCCESS) {
		r = kw_wolf_err(w, "setting the signature algorithms");
		goto out;
	}
	if ((w = wolfSSL_CTX_load_verify_locations(ctx->wctx, conf->ca_file,
	    NULL)) != WOLFSSL_SUCCESS) {
		r = kw_wolf_err(w, "loading the CA file");
		kw_err("cannot load CA file %s: it must hold PEM CA "
		    "certificates", conf->ca_file);
		r = access(conf->ca_file, R_OK) == 0 ? KW_ERR_CERT :
		    KW_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = kw_tls_load_crl(ctx, conf)) != KW_OK)
		goto out;
	if (conf->key != NULL && (r = kw_tls_load_identity(ctx, conf)) != KW_OK)
		goto out;
	mode = WOLFSSL_VERIFY_PEER;
	if (conf->side == KW_TLS_SERVER && conf->require_client_cert)
		mode |= WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	wolfSSL_CTX_set_verify(ctx->wctx, mode, kw_tls_verify_cb);
	wolfSSL_CTX_SetEccVerifyCb(ctx->wctx, kw_tls_ecc_verify);
	wolfSSL_CTX_SetRsaVerifyCb(ctx->wctx, kw_tls_rsa_verify);
	wolfSSL_CTX_SetRsaPssVerifyCb(ctx->wctx, kw_tls_pss_verify);
	wolfSSL_CTX_SetCertCbCtx(ctx->wctx, ctx);
	*out = ctx;
	ctx = NULL;
	r = KW_OK;
out:
	free(suites);
	kw_tls_ctx_free(ctx);
	return r;
}

void
kw_tls_ctx_free(struct kw_tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->session != NULL)
		wolfSSL_SESSION_free(ctx->session);
	free(ctx->session_name);
	if (ctx->wctx != NULL)
		wolfSSL_CTX_free(ctx->wctx);
	kw_dev_free(ctx->dev);
	free(ctx->ca_file);
	free(ctx->crl_file);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

void *
kw_tls_ctx_wolf(struct kw_tls_ctx *ctx)
{
	return ctx->wctx;
}

struct kw_key *
kw_tls_ctx_key(const struct kw_tls_ctx *ctx)
{
	return ctx->key;
}

int
kw_tls_ctx_max_version(const struct kw_tls_ctx *ctx)
{
	return ctx->max_version;
}

static int
kw_is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

/* The name the client verifies: kept in the SSL's verify parameters,
 * where wolfSSL checks it (DNS name against SAN/CN, IP against IP SANs)
 * and where kw_tls reads it back for sessions and messages. */
static int
kw_tls_set_name(WOLFSSL *ssl, const char *name)
{
	WOLFSSL_X509_VERIFY_PARAM *param = wolfSSL_get0_param(ssl);
	int w;

	if (param == NULL)
		return KW_ERR_TLS;
	if (kw_is_ip(name)) {
		/* RFC 6066: no IP literals in SNI. */
		if ((w = wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(param, name)) !=
		    WOLFSSL_SUCCESS)
			return kw_wolf_err(w, "setting the IP address to verify");
		return KW_OK;
	}
	if (strlen(name) >= sizeof(param->hostName)) {
		kw_err("server name %.40s... is too long", name);
		return KW_ERR_ARG;
	}
	if ((w = wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, name,
	    (word16)strlen(name))) != WOLFSSL_SUCCESS)
		return kw_wolf_err(w, "setting SNI");
	if ((w = wolfSSL_check_domain_name(ssl, name)) != WOLFSSL_SUCCESS)
		return kw_wolf_err(w, "setting the name to verify");
	if ((w = wolfSSL_X509_VERIFY_PARAM_set1_host(param, name,
	    (unsigned int)strlen(name))) != WOLFSSL_SUCCESS)
		return kw_wolf_err(w, "setting the name to verify");
	return KW_OK;
}

static const char *
kw_tls_get_name(WOLFSSL *ssl)
{
	WOLFSSL_X509_VERIFY_PARAM *param = wolfSSL_get0_param(ssl);

	if (param == NULL)
		return NULL;
	if (param->hostName[0] != '\0')
		return param->hostName;
	if (param->ipasc[0] != '\0')
		return param->ipasc;
	return NULL;
}

/* Resumption without forward secrecy.  A resuming wolfSSL 5.5.4 client
 * lists psk_ke (PSK only, no (EC)DHE) next to psk_dhe_ke in its
 * psk_key_exchange_modes and cannot be told not to (wolfSSL_only_dhe_psk
 * came later).  So a client that offers a session reads the server's first
 * records through this watcher: a TLS 1.3 ServerHello that takes the PSK
 * (pre_shared_key) without a key_share is refused right there, before
 * anything is derived from it (the receive fails; kw_tls_explain names
 * the cause).  Everything else passes through untouched. */
static int
kw_tls_scan_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct kw_hello_scan *sc = arg;
	int n;

	n = EmbedReceive(ssl, buf, sz, &sc->fd);
	if (n > 0 && !sc->done &&
	    kw_hello_scan_feed(sc, (const uint8_t *)buf, (size_t)n)) {
		kw_tls_set_refusal(ssl, KW_REFUSED_PSK_KE);
		return WOLFSSL_CBIO_ERR_GENERAL;
	}
	return n;
}

int
kw_tls_ssl_resume(struct kw_tls_ctx *ctx, struct WOLFSSL *ssl,
    struct WOLFSSL_SESSION *sess)
{
	struct kw_hello_scan *sc;
	int w;

	if (ctx->side != KW_TLS_CLIENT)
		return KW_ERR_ARG;
	if (ctx->max_version == 13 &&
	    wolfSSL_get_ex_data(ssl, KW_TLS_EX_SCAN) == NULL) {
		if ((sc = calloc(1, sizeof(*sc))) == NULL)
			return KW_ERR_NOMEM;
		sc->fd = wolfSSL_get_fd(ssl);
		if ((w = wolfSSL_set_ex_data(ssl, KW_TLS_EX_SCAN, sc)) !=
		    WOLFSSL_SUCCESS) {
			free(sc);
			return kw_wolf_err(w, "watching the ServerHello");
		}
		wolfSSL_SSLSetIORecv(ssl, kw_tls_scan_recv);
		wolfSSL_SetIOReadCtx(ssl, sc);
	}
	if ((w = wolfSSL_set_session(ssl, sess)) != WOLFSSL_SUCCESS)
		return kw_wolf_err(w, "offering the session");
	return KW_OK;
}

static void
kw_tls_ssl_release(WOLFSSL *ssl)
{
	free(wolfSSL_get_ex_data(ssl, KW_TLS_EX_SCAN));
	wolfSSL_free(ssl);
}

int
kw_tls_ssl_new(struct kw_tls_ctx *ctx, int fd, const char *servername,
    struct WOLFSSL **ssl_out)
{
	WOLFSSL *ssl = NULL;
	int w, r;

	*ssl_out = NULL;
	if ((ssl = wolfSSL_new(ctx->wctx)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((w = wolfSSL_set_fd(ssl, fd)) != WOLFSSL_SUCCESS) {
		r = kw_wolf_err(w, "attaching the socket");
		goto out;
	}
	wolfSSL_SetCertCbCtx(ssl, ctx);
	/* renegotiation_info in our TLS 1.2 ClientHello (RFC 5746; a server
	 * answers with it already).  wolfSSL is built without renegotiation
	 * itself: a peer's attempt to renegotiate ends the connection.  Not
	 * with TLS 1.3 only, which has no renegotiation: wolfSSL keeps 3.7 KB
	 * per connection for it, for the connection's whole life. */
	if (ctx->side == KW_TLS_CLIENT && ctx->min_version < 13 && (w =
	    wolfSSL_UseSecureRenegotiation(ssl)) != WOLFSSL_SUCCESS) {
		r = kw_wolf_err(w, "enabling renegotiation_info");
		goto out;
	}
	if (ctx->side == KW_TLS_CLIENT) {
		if (servername == NULL || *servername == '\0') {
			kw_err("a server name to verify is required");
			r = KW_ERR_ARG;
			goto out;
		}
		if ((r = kw_tls_set_name(ssl, servername)) != KW_OK)
			goto out;
		if (ctx->session_cache) {
			pthread_mutex_lock(&ctx->lock);
			if (ctx->session != NULL && ctx->session_name != NULL &&
			    strcmp(ctx->session_name, servername) == 0)
				r = kw_tls_ssl_resume(ctx, ssl, ctx->session);
			else
				r = KW_OK;
			pthread_mutex_unlock(&ctx->lock);
			if (r != KW_OK)
				goto out;
		}
	}
	*ssl_out = ssl;
	ssl = NULL;
	r = KW_OK;
out:
	if (ssl != NULL)
		kw_tls_ssl_release(ssl);
	return r;
}

static void
kw_tls_keep_session(struct kw_tls_ctx *ctx, WOLFSSL *ssl)
{
	WOLFSSL_SESSION *sess;
	const char *peer;
	char *name;

	if (ctx->side != KW_TLS_CLIENT || !ctx->session_cache ||
	    (peer = kw_tls_get_name(ssl)) == NULL)
		return;
	if ((name = strdup(peer)) == NULL)
		return;
	if ((sess = wolfSSL_get1_session(ssl)) == NULL) {
		free(name);
		return;
	}
	pthread_mutex_lock(&ctx->lock);
	if (ctx->session != NULL)
		wolfSSL_SESSION_free(ctx->session);
	free(ctx->session_name);
	ctx->session = sess;
	ctx->session_name = name;
	pthread_mutex_unlock(&ctx->lock);
}

int
kw_tls_handshake_done(struct kw_tls_ctx *ctx, struct WOLFSSL *ssl)
{
	/* A server cannot keep a client from resuming with psk_ke (PSK
	 * without (EC)DHE) when that is all it offers; such a resumption has
	 * no key exchange group, so it is refused here, before any data. */
	if (ctx->side == KW_TLS_SERVER && wolfSSL_session_reused(ssl) &&
	    wolfSSL_version(ssl) == TLS1_3_VERSION &&
	    wolfSSL_get_curve_name(ssl) == NULL) {
		kw_err("a client resumed TLS 1.3 without a key exchange "
		    "(psk_ke: no forward secrecy), which keyward does not "
		    "accept; it must offer psk_dhe_ke");
		return KW_ERR_HANDSHAKE;
	}
	/* The TLS 1.2 group of a full handshake, for key exchanges no
	 * signature callback saw (an EdDSA ServerKeyExchange): before any
	 * data. */
	if (wolfSSL_version(ssl) == TLS1_2_VERSION &&
	    !wolfSSL_session_reused(ssl) &&
	    (wolfSSL_get_curve_name(ssl) == NULL || !kw_tls_group_ok(ssl))) {
		kw_err("the TLS 1.2 key exchange group %s is not one keyward "
		    "offers (X25519, P-256, P-384)", wolfSSL_get_curve_name(ssl)
		    ? wolfSSL_get_curve_name(ssl) : "(none)");
		return KW_ERR_HANDSHAKE;
	}
	if (wolfSSL_session_reused(ssl))
		atomic_fetch_add(&ctx->resumed, 1);
	else
		atomic_fetch_add(&ctx->full, 1);
	kw_debug("TLS handshake done: %s %s%s", wolfSSL_get_version(ssl),
	    wolfSSL_get_cipher_name(ssl),
	    wolfSSL_session_reused(ssl) ? " (resumed)" : "");
	kw_tls_keep_session(ctx, ssl);
	return KW_OK;
}

void
kw_tls_ssl_free(struct kw_tls_ctx *ctx, struct WOLFSSL *ssl)
{
	if (ssl == NULL)
		return;
	if (ctx != NULL && wolfSSL_is_init_finished(ssl))
		kw_tls_keep_session(ctx, ssl);
	kw_tls_ssl_release(ssl);
}

/* Give the pages of the heap block p (from malloc) that hold only zeros
 * back to the kernel: they read as zeros afterwards all the same, and a
 * write maps a fresh page.  The block's contents do not change, so this
 * is safe on a live object no other thread is writing. */
static void
kw_release_zero_pages(void *p)
{
	const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a, e, run = 0;
	const uint64_t *w;
	size_t i;

	if (p == NULL || pg < 4096 || (pg & (pg - 1)) != 0)
		return;
	a = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	e = ((uintptr_t)p + malloc_usable_size(p)) & ~(pg - 1);
	for (; a < e; a += pg) {
		w = (const uint64_t *)a;
		for (i = 0; i < pg / sizeof(*w) && w[i] == 0; i++)
			;
		if (i == pg / sizeof(*w)) {
			if (run == 0)
				run = a;
			continue;
		}
		if (run != 0)
			(void)madvise((void *)run, a - run, MADV_DONTNEED);
		run = 0;
	}
	if (run != 0)
		(void)madvise((void *)run, e - run, MADV_DONTNEED);
}

void
kw_tls_ssl_settle(struct WOLFSSL *ssl)
{
	struct kw_hello_scan *sc;

	if (ssl == NULL || !wolfSSL_is_init_finished(ssl))
		return;
	/* the ServerHello watcher of a resumption is done */
	if ((sc = wolfSSL_get_ex_data(ssl, KW_TLS_EX_SCAN)) != NULL) {
		wolfSSL_SSLSetIORecv(ssl, EmbedReceive);
		(void)wolfSSL_set_read_fd(ssl, sc->fd);
		(void)wolfSSL_set_ex_data(ssl, KW_TLS_EX_SCAN, NULL);
		free(sc);
	}
	/* the handshake's secrets and randoms (wolfSSL keeps them for
	 * post-handshake authentication, which keyward never asks for) */
	wolfSSL_FreeArrays(ssl);
}

void
kw_tls_ssl_trim(struct WOLFSSL *ssl)
{
	if (ssl == NULL || !wolfSSL_is_init_finished(ssl))
		return;
#ifdef NO_SESSION_CACHE_REF
	/* The session object (ssl->session here) has room for two peer
	 * chains of nine 2 KiB certificates (SESSION_CERTS): mostly zeros. */
	kw_release_zero_pages(wolfSSL_get_session(ssl));
#endif
	kw_release_zero_pages(ssl);
}

static const char *
kw_alert_name(int code)
{
	switch (code) {
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 109: return "missing_extension";
	case 112: return "unrecognized_name";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	default: return "unknown alert";
	}
}

int
kw_tls_explain(struct kw_tls_ctx *ctx, struct WOLFSSL *ssl, int ret,
    const char *peer)
{
	WOLFSSL_ALERT_HISTORY h;
	const char *who = ctx->side == KW_TLS_CLIENT ? "server" : "client";
	const char *me = ctx->side == KW_TLS_CLIENT ? "client" : "server";
	const char *name = kw_tls_get_name(ssl);
	int err, alert = -1, r;

	err = wolfSSL_get_error(ssl, ret);
	r = kw_wolf_err(err, "TLS");
	memset(&h, 0, sizeof(h));
	if (wolfSSL_get_alert_history(ssl, &h) == WOLFSSL_SUCCESS &&
	    h.last_rx.level == alert_fatal)
		alert = h.last_rx.code;
	if (peer == NULL)
		peer = who;

	if (kw_tls_refusal(ssl) == KW_REFUSED_NAME) {
		kw_err("server name %s does not match the certificate of %s "
		    "(%s)", name ? name : "(requested)", peer,
		    name && kw_is_ip(name) ? "no IP address SAN equals it" :
		    "no DNS SAN matches it; wildcards count only as the whole "
		    "left-most label over two labels or more");
		return KW_ERR_PEER_VERIFY;
	}
	if (kw_tls_refusal(ssl) == KW_REFUSED_PSK_KE) {
		kw_err("server %s resumed the TLS 1.3 session without a key "
		    "exchange (psk_ke: no forward secrecy), which keyward does "
		    "not accept; the next connection makes a full handshake",
		    peer);
		return KW_ERR_HANDSHAKE;
	}
	if (kw_tls_refusal(ssl) == KW_REFUSED_GROUP) {
		kw_err("%s %s chose the key exchange group %s, which keyward "
		    "did not offer (X25519, P-256, P-384 only)", who, peer,
		    wolfSSL_get_curve_name(ssl) ? wolfSSL_get_curve_name(ssl) :
		    "(unknown)");
		return KW_ERR_HANDSHAKE;
	}
	if (kw_tls_refusal(ssl) == KW_REFUSED_SIGALG) {
		kw_err("%s %s signed the handshake with SHA-1 or SHA-224, which "
		    "keyward does not accept (RFC 9155: SHA-256 and up)", who,
		    peer);
		return KW_ERR_PEER_VERIFY;
	}
	/* A renegotiation asked for after the handshake: a server's
	 * HelloRequest is answered with a no_renegotiation alert, a client's
	 * second ClientHello is a duplicate message to wolfSSL. */
	if (wolfSSL_is_init_finished(ssl) && ((h.last_tx.code ==
	    no_renegotiation && h.last_tx.level == alert_warning) ||
	    (ctx->side == KW_TLS_SERVER && err == DUPLICATE_MSG_E))) {
		kw_err("%s %s tried to renegotiate TLS; keyward does not "
		    "renegotiate, so the connection is closed", who, peer);
		return KW_ERR_HANDSHAKE;
	}
	switch (err) {
	case WC_HW_E:
		r = ctx->dev ? kw_dev_last_error(ctx->dev) : KW_ERR_CRYPTO;
		if (r == KW_OK)
			r = KW_ERR_CRYPTO;
		if (kw_key_failure_said(ctx->key))
			kw_debug("TLS with %s failed: our %s key could not "
			    "sign the handshake (%s)", peer,
			    kw_key_backend(ctx->key), kw_strerror(r));
		else
			kw_err("TLS with %s failed: our %s key could not sign "
			    "the handshake (%s)", peer,
			    kw_key_backend(ctx->key), kw_strerror(r));
		break;
	case ASN_NO_SIGNER_E:
	case ASN_SELF_SIGNED_E:
		kw_err("%s certificate of %s is not trusted by CA file %s",
		    who, peer, ctx->ca_file);
		r = KW_ERR_PEER_VERIFY;
		break;
	case ASN_AFTER_DATE_E:
		kw_err("%s certificate of %s has expired (or one in its "
		    "chain has)", who, peer);
		r = KW_ERR_PEER_VERIFY;
		break;
	case ASN_BEFORE_DATE_E:
		kw_err("%s certificate of %s is not valid yet (check the "
		    "clocks)", who, peer);
		r = KW_ERR_PEER_VERIFY;
		break;
	case DOMAIN_NAME_MISMATCH:
	case IPADDR_MISMATCH:
		kw_err("server name %s does not match the certificate of %s",
		    name ? name : "(requested)", peer);
		r = KW_ERR_PEER_VERIFY;
		break;
	case ASN_SIG_CONFIRM_E:
		kw_err("%s certificate of %s has a bad signature (not issued "
		    "by the CA in %s)", who, peer, ctx->ca_file);
		r = KW_ERR_PEER_VERIFY;
		break;
	case CRL_CERT_REVOKED:
	case OCSP_CERT_REVOKED:
		kw_err("%s certificate of %s is revoked", who, peer);
		r = KW_ERR_PEER_VERIFY;
		break;
	case CRL_MISSING:
		kw_err("no CRL in %s covers the %s certificate of %s "
		    "(CRL hard-fail)", ctx->crl_file ? ctx->crl_file : "-",
		    who, peer);
		r = KW_ERR_PEER_VERIFY;
		break;
	case NO_PEER_CERT:
		kw_err("%s %s sent no certificate", who, peer);
		r = KW_ERR_PEER_VERIFY;
		break;
	case KEYUSAGE_E:
	case EXTKEYUSAGE_E:
		kw_err("%s certificate of %s is not for TLS %s use (key "
		    "usage)", who, peer, who);
		r = KW_ERR_PEER_VERIFY;
		break;
	case EXTKEYUSE_AUTH_E:
		kw_err("%s certificate of %s is not for TLS %s use: its "
		    "extended key usage lacks %s", who, peer, who,
		    ctx->side == KW_TLS_CLIENT ? "serverAuth" : "clientAuth");
		r = KW_ERR_PEER_VERIFY;
		break;
	case VERSION_ERROR:
		kw_err("%s offers no TLS version keyward accepts here (%s)",
		    peer, ctx->min_version == 13 ? "TLS 1.3 only: tls-min 1.3" :
		    ctx->max_version == 12 ? "TLS 1.2 only" : "TLS 1.2 or 1.3");
		r = KW_ERR_HANDSHAKE;
		break;
	case MATCH_SUITE_ERROR:
		kw_err("%s offers no cipher suite keyward accepts here (%s, "
		    "AEAD suites only)", peer,
		    ctx->min_version == 13 ? "TLS 1.3" : ctx->max_version == 12 ?
		    "TLS 1.2" : "TLS 1.2 or 1.3");
		r = KW_ERR_HANDSHAKE;
		break;
	case WOLFSSL_ERROR_WANT_READ:
	case WOLFSSL_ERROR_WANT_WRITE:
		kw_err("TLS with %s timed out", peer);
		r = KW_ERR_TIMEOUT;
		break;
	default:
		if (alert == 42 || alert == 43 || alert == 44 || alert == 45 ||
		    alert == 46 || alert == 48 || alert == 49 || alert == 116) {
			if (ctx->key != NULL)
				kw_err("%s %s refused our %s certificate "
				    "(alert %s)", who, peer, me,
				    kw_alert_name(alert));
			else
				kw_err("%s %s wants a %s certificate (alert "
				    "%s)", who, peer, me, kw_alert_name(alert));
			r = KW_ERR_AUTH;
		} else if (alert == 40 || alert == 70 || alert == 71) {
			kw_err("%s %s found no common TLS version, suite or "
			    "signature algorithm (alert %s)", who, peer,
			    kw_alert_name(alert));
			r = KW_ERR_HANDSHAKE;
		} else if (alert >= 0) {
			kw_err("%s %s ended the TLS session with alert %s",
			    who, peer, kw_alert_name(alert));
			r = KW_ERR_HANDSHAKE;
		} else if (err == SOCKET_PEER_CLOSED_E || err == SOCKET_ERROR_E ||
		    err == WOLFSSL_ERROR_ZERO_RETURN) {
			kw_err("%s %s closed the connection during TLS", who,
			    peer);
			r = KW_ERR_NETWORK;
		} else {
			kw_err("TLS with %s failed: %s (wolfSSL error %d)",
			    peer, wolfSSL_ERR_reason_error_string(
			    (unsigned long)err), err);
			if (r == KW_ERR_TLS)
				r = KW_ERR_HANDSHAKE;
		}
		break;
	}
	return r;
}

/* Split "host:port", "[v6]:port" into host and port. */
static int
kw_split_hostport(const char *hostport, char *host, size_t host_len,
    char *port, size_t port_len)
{
	const char *colon, *h = hostport;
	size_t n;

	if (hostport[0] == '[') {
		const char *end = strchr(hostport, ']');

		if (end == NULL || end[1] != ':')
			return KW_ERR_ARG;
		h = hostport + 1;
		n = (size_t)(end - h);
		colon = end + 1;
	} else {
		if ((colon = strrchr(hostport, ':')) == NULL)
			return KW_ERR_ARG;
		n = (size_t)(colon - hostport);
		if (memchr(hostport, ':', n) != NULL)
			return KW_ERR_ARG;
	}
	if (n == 0 || n >= host_len || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= port_len ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return KW_ERR_ARG;
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, port_len, "%s", colon + 1);
	return KW_OK;
}

static int
kw_tcp_connect(const char *host, const char *port, const char *hostport,
    int timeout_ms, int *fd_out)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct pollfd pfd;
	int fd = -1, err = 0, gai, flags, one = 1, r = KW_ERR_NETWORK;
	socklen_t elen;

	*fd_out = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((gai = getaddrinfo(host, port, &hints, &res)) != 0) {
		kw_err("cannot resolve %s: %s", host, gai_strerror(gai));
		return KW_ERR_NETWORK;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype |
		    SOCK_CLOEXEC, ai->ai_protocol)) < 0) {
			err = errno;
			continue;
		}
		flags = fcntl(fd, F_GETFL);
		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			err = 0;
		else if (errno != EINPROGRESS)
			err = errno;
		else {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, timeout_ms) <= 0)
				err = ETIMEDOUT;
			else {
				elen = sizeof(err);
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
				    &elen) != 0)
					err = errno;
			}
		}
		if (err == 0) {
			(void)fcntl(fd, F_SETFL, flags);
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			break;
		}
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		if (err == ETIMEDOUT) {
			kw_err("cannot connect to %s: timed out after %d ms",
			    hostport, timeout_ms);
			r = KW_ERR_TIMEOUT;
		} else
			kw_err("cannot connect to %s: %s", hostport,
			    strerror(err));
		goto out;
	}
	*fd_out = fd;
	r = KW_OK;
out:
	freeaddrinfo(res);
	return r;
}


/* wolfSSL_connect on a non-blocking fd until done, failed or deadline
 * (ms, monotonic): the timeout bounds the whole handshake, not each read
 * (a server that sends a byte a second would otherwise hold us forever).
 * Returns the last wolfSSL_connect result; *timed_out set on deadline. */
static int
kw_tls_connect_until(WOLFSSL *ssl, int fd, int64_t deadline, int *timed_out)
{
	struct pollfd pfd;
	int64_t left;
	int w, e;

	*timed_out = 0;
	for (;;) {
		if ((w = wolfSSL_connect(ssl)) == WOLFSSL_SUCCESS)
			return w;
		e = wolfSSL_get_error(ssl, w);
		if (e != WOLFSSL_ERROR_WANT_READ && e != WOLFSSL_ERROR_WANT_WRITE)
			return w;
		if ((left = deadline - kw_now_ms()) <= 0) {
			*timed_out = 1;
			return w;
		}
		pfd.fd = fd;
		pfd.events = e == WOLFSSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left) < 0 &&
		    errno != EINTR)
			return w;
	}
}

int
kw_tls_connect(struct kw_tls_ctx *ctx, const char *hostport,
    const char *servername, int timeout_ms, struct WOLFSSL **ssl_out)
{
	char host[256], port[16];
	WOLFSSL *ssl = NULL;
	int64_t deadline;
	int fd = -1, flags, timed_out, w, r;

	*ssl_out = NULL;
	if (ctx->side != KW_TLS_CLIENT)
		return KW_ERR_ARG;
	if (kw_split_hostport(hostport, host, sizeof(host), port,
	    sizeof(port)) != KW_OK) {
		kw_err("'%s' is not HOST:PORT", hostport);
		return KW_ERR_ARG;
	}
	if (timeout_ms <= 0)
		timeout_ms = 10000;
	if (servername == NULL)
		servername = host;
	/* One deadline for TCP connect and handshake together. */
	deadline = kw_now_ms() + timeout_ms;
	if ((r = kw_tcp_connect(host, port, hostport, timeout_ms, &fd)) !=
	    KW_OK)
		goto out;
	if ((r = kw_tls_ssl_new(ctx, fd, servername, &ssl)) != KW_OK)
		goto out;
	flags = fcntl(fd, F_GETFL);
	(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	w = kw_tls_connect_until(ssl, fd, deadline, &timed_out);
	(void)fcntl(fd, F_SETFL, flags);
	if (timed_out) {
		kw_err("TLS handshake with %s timed out after %d ms",
		    hostport, timeout_ms);
		r = KW_ERR_TIMEOUT;
		goto out;
	}
	if (w != WOLFSSL_SUCCESS) {
		r = kw_tls_explain(ctx, ssl, w, hostport);
		goto out;
	}
	if ((r = kw_tls_handshake_done(ctx, ssl)) != KW_OK)
		goto out;
	*ssl_out = ssl;
	ssl = NULL;
	fd = -1;
out:
	if (ssl != NULL)
		kw_tls_ssl_release(ssl);
	if (fd >= 0)
		close(fd);
	return r;
}

uint64_t
kw_tls_full_handshakes(const struct kw_tls_ctx *ctx)
{
	return atomic_load(&((struct kw_tls_ctx *)ctx)->full);
}

uint64_t
kw_tls_resumed_handshakes(const struct kw_tls_ctx *ctx)
{
	return atomic_load(&((struct kw_tls_ctx *)ctx)->resumed);
}

/* ---- channel binding (RFC 5929 tls-unique, RFC 9266 tls-exporter) ------ */

int
kw_tls_channel_binding(struct WOLFSSL *ssl, uint8_t *out, size_t *out_len,
    const char **type)
{
	size_t cap = *out_len, n;
	int ours;

	*out_len = 0;
	*type = NULL;
	if (ssl == NULL || cap < KW_TLS_BINDING_MAX)
		return KW_ERR_ARG;
	switch (wolfSSL_version(ssl)) {
	case TLS1_3_VERSION:
		/* RFC 9266: 32 bytes of the exporter, label, no context */
		if (wolfSSL_export_keying_material(ssl, out, 32,
		    "EXPORTER-Channel-Binding", 24, NULL, 0, 0) !=
		    WOLFSSL_SUCCESS) {
			kw_err("cannot take the TLS 1.3 channel binding "
			    "(tls-exporter) of the connection");
			return KW_ERR_CRYPTO;
		}
		*out_len = 32;
		*type = "tls-exporter";
		return KW_OK;
	case TLS1_2_VERSION:
		/* RFC 5929: the first Finished message of the handshake --
		 * the client's in a full handshake, the server's in a
		 * resumed one */
		ours = (wolfSSL_is_server(ssl) != 0) ==
		    (wolfSSL_session_reused(ssl) != 0);
		n = ours ? wolfSSL_get_finished(ssl, out, cap) :
		    wolfSSL_get_peer_finished(ssl, out, cap);
		if (n == 0 || n > cap) {
			kw_err("cannot take the TLS 1.2 channel binding "
			    "(tls-unique) of the connection");
			return KW_ERR_CRYPTO;
		}
		*out_len = n;
		*type = "tls-unique";
		return KW_OK;
	default:
		kw_err("no channel binding for TLS versions before 1.2");
		return KW_ERR_UNSUPPORTED;
	}
}
