/* TLS contexts whose private key is a hardware key (see kw_tls.h).
 *
 * The key reaches wolfSSL only as an id on a kw_dev crypto-callback device
 * (kw_dev_use_in_ctx): no CTX-wide devId is set, so hashing, ECDHE,
 * verification and record encryption stay in software, and only our own
 * signatures go to the token. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_tls.h"
#include "kw_wolf.h"
#include "kw_wolf_check.h"

#define KW_CERT_MAX	(256 * 1024)

struct kw_tls_ctx {
	WOLFSSL_CTX *wctx;
	struct kw_dev *dev;
	struct kw_key *key;
	enum kw_tls_side side;
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
/* Signature algorithms when an RSA key cannot make PSS signatures. */
static const char kw_sigalgs_no_pss[] =
	"RSA+SHA256:RSA+SHA384:RSA+SHA512:"
	"ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512";

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

/* Verify callback (WOLFSSL_ALWAYS_VERIFY_CB: called for every certificate).
 * Only softens a missing CRL when the context asked for soft-fail. */
static int
kw_tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	struct kw_tls_ctx *ctx = store ? store->userCtx : NULL;
	int err;

	if (preverify)
		return 1;
	err = wolfSSL_X509_STORE_CTX_get_error(store);
	kw_debug("certificate at depth %d rejected: wolfSSL error %d",
	    wolfSSL_X509_STORE_CTX_get_error_depth(store), err);
	if (ctx != NULL && ctx->crl_soft && err == CRL_MISSING) {
		kw_warn("no CRL for a certificate's issuer in %s; accepting "
		    "it (CRL soft-fail)", ctx->crl_file ? ctx->crl_file : "-");
		return 1;
	}
	return 0;
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

int
kw_tls_ctx_new(const struct kw_tls_conf *conf, struct kw_tls_ctx **out)
{
	struct kw_tls_ctx *ctx = NULL;
	struct kw_wolf_facts facts;
	WOLFSSL_METHOD *method;
	int groups[] = { WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1,
	    WOLFSSL_ECC_SECP384R1 };
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
	ctx->max_version = max_version;
	ctx->session_cache = conf->session_cache;
	if ((ctx->ca_file = strdup(conf->ca_file)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if (conf->side == KW_TLS_CLIENT)
		method = max_version == 13 ? wolfSSLv23_client_method() :
		    wolfTLSv1_2_client_method();
	else
		method = max_version == 13 ? wolfSSLv23_server_method() :
		    wolfTLSv1_2_server_method();
	if (method == NULL || (ctx->wctx = wolfSSL_CTX_new(method)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if (max_version == 13 && (w = wolfSSL_CTX_SetMinVersion(ctx->wctx,
	    min_version == 13 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2)) !=
	    WOLFSSL_SUCCESS) {
		r = kw_wolf_err(w, "setting the minimum TLS version");
		goto out;
	}
	kw_wolf_facts_built(&facts);
	if ((w = wolfSSL_CTX_set_cipher_list(ctx->wctx, conf->cipher_list ?
	    conf->cipher_list : facts.aesni == 1 ? kw_suites_aes_first :
	    kw_suites_chacha_first)) != WOLFSSL_SUCCESS) {
		r = kw_wolf_err(w, "setting the cipher suites");
		kw_err("cipher list '%s' names no suite wolfSSL knows",
		    conf->cipher_list ? conf->cipher_list : "(default)");
		r = KW_ERR_CONFIG;
		goto out;
	}
	if (max_version == 13 && (w = wolfSSL_CTX_set_groups(ctx->wctx, groups,
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
	if (no_pss && (w = wolfSSL_CTX_set1_sigalgs_list(ctx->wctx,
	    kw_sigalgs_no_pss)) != WOLFSSL_SUCCESS) {
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
	wolfSSL_CTX_SetCertCbCtx(ctx->wctx, ctx);
	*out = ctx;
	ctx = NULL;
	r = KW_OK;
out:
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
				(void)wolfSSL_set_session(ssl, ctx->session);
			pthread_mutex_unlock(&ctx->lock);
		}
	}
	*ssl_out = ssl;
	ssl = NULL;
	r = KW_OK;
out:
	if (ssl != NULL)
		wolfSSL_free(ssl);
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

/* wolfSSL 5.5.4 does not check an IP address given as the name to verify
 * during the handshake: check the server certificate's IP SANs here,
 * before any application data is sent or read. */
static int
kw_tls_check_ip(WOLFSSL *ssl)
{
	WOLFSSL_X509_VERIFY_PARAM *param = wolfSSL_get0_param(ssl);
	WOLFSSL_X509 *peer;
	int ok;

	if (param == NULL || param->ipasc[0] == '\0' ||
	    wolfSSL_session_reused(ssl))
		return KW_OK;
	if ((peer = wolfSSL_get_peer_certificate(ssl)) == NULL) {
		kw_err("server sent no certificate to check %s against",
		    param->ipasc);
		return KW_ERR_PEER_VERIFY;
	}
	ok = wolfSSL_X509_check_ip_asc(peer, param->ipasc, 0) == 1;
	wolfSSL_X509_free(peer);
	if (!ok) {
		kw_err("server name %s does not match the certificate of the "
		    "server (no such IP address SAN); use --servername with "
		    "a name the certificate has", param->ipasc);
		return KW_ERR_PEER_VERIFY;
	}
	return KW_OK;
}

int
kw_tls_handshake_done(struct kw_tls_ctx *ctx, struct WOLFSSL *ssl)
{
	int r;

	if (ctx->side == KW_TLS_CLIENT && (r = kw_tls_check_ip(ssl)) != KW_OK)
		return r;
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
	wolfSSL_free(ssl);
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

	switch (err) {
	case WC_HW_E:
		r = ctx->dev ? kw_dev_last_error(ctx->dev) : KW_ERR_CRYPTO;
		if (r == KW_OK)
			r = KW_ERR_CRYPTO;
		kw_err("TLS with %s failed: our %s key could not sign the "
		    "handshake (%s)", peer, kw_key_backend(ctx->key),
		    kw_strerror(r));
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
	case VERSION_ERROR:
	case MATCH_SUITE_ERROR:
		kw_err("%s offers no TLS version or cipher suite keyward "
		    "accepts (TLS 1.2+ with AEAD suites only)", peer);
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

static void
kw_sock_timeout(int fd, int timeout_ms)
{
	struct timeval tv;

	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int
kw_tls_connect(struct kw_tls_ctx *ctx, const char *hostport,
    const char *servername, int timeout_ms, struct WOLFSSL **ssl_out)
{
	char host[256], port[16];
	WOLFSSL *ssl = NULL;
	int fd = -1, w, r;

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
	if ((r = kw_tcp_connect(host, port, hostport, timeout_ms, &fd)) !=
	    KW_OK)
		goto out;
	if ((r = kw_tls_ssl_new(ctx, fd, servername, &ssl)) != KW_OK)
		goto out;
	kw_sock_timeout(fd, timeout_ms);
	if ((w = wolfSSL_connect(ssl)) != WOLFSSL_SUCCESS) {
		r = kw_tls_explain(ctx, ssl, w, hostport);
		goto out;
	}
	kw_sock_timeout(fd, 0);
	if ((r = kw_tls_handshake_done(ctx, ssl)) != KW_OK)
		goto out;
	*ssl_out = ssl;
	ssl = NULL;
	fd = -1;
out:
	if (ssl != NULL)
		wolfSSL_free(ssl);
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
