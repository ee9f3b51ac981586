/* The tls-alpn-01 responder (RFC 8737): a TLS server that lives only for
 * the length of an order and completes handshakes that offer exactly the
 * ALPN protocol "acme-tls/1", presenting a self-signed certificate for the
 * identifier with the critical acmeIdentifier extension (the SHA-256 of
 * the key authorization).  The certificate is signed by the hardware key
 * being certified, and the handshake signature is made by it too.
 *
 * The certificate's few fields are encoded with common/kw_der's writer
 * (wolfSSL's certificate generator cannot add the acmeIdentifier extension
 * without WOLFSSL_CUSTOM_OID, which Debian's build lacks); the signature
 * goes through enroll/csr.c's signer. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_wolf.h"
#include "acme.h"
#include "csr.h"

#define TLSALPN_IO_MS	5000
#define TLSALPN_PROTO	"acme-tls/1"
#define TLSALPN_MAX_DER	4096
/* Each handshake is a signature by the hardware key: a validation server
 * makes a few (one per vantage point); more are refused. */
#define TLSALPN_MAX_HANDSHAKES	32

/* ---- the certificate ----------------------------------------------------- */

static void
tlsalpn_name(struct kw_der_w *w, const char *cn)
{
	static const uint8_t oid_cn[] = { 0x06, 0x03, 0x55, 0x04, 0x03 };
	size_t name = kw_der_open(w, 0x30), set = kw_der_open(w, 0x31),
	    atv = kw_der_open(w, 0x30);

	kw_der_put_raw(w, oid_cn, sizeof(oid_cn));
	kw_der_put(w, 0x0c, cn, strlen(cn));		/* UTF8String */
	kw_der_close(w, atv);
	kw_der_close(w, set);
	kw_der_close(w, name);
}

static void
tlsalpn_utctime(struct kw_der_w *w, time_t t)
{
	struct tm tm;
	char s[64];

	gmtime_r(&t, &tm);
	snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	kw_der_put(w, 0x17, s, strlen(s));
}

int
acme_tlsalpn_cert(struct kw_key *key, const char *name, const char *keyauth,
    uint8_t **der, size_t *len)
{
	static const uint8_t v3[] = { 0xa0, 0x03, 0x02, 0x01, 0x02 };
	static const uint8_t oid_san[] = { 0x06, 0x03, 0x55, 0x1d, 0x11 };
	static const uint8_t oid_acme[] = { 0x06, 0x08, 0x2b, 0x06, 0x01,
	    0x05, 0x05, 0x07, 0x01, 0x1f };
	static const uint8_t critical[] = { 0x01, 0x01, 0xff };
	uint8_t serial[16], h[WC_SHA256_DIGEST_SIZE], spki[KW_MAX_PUBKEY_DER];
	size_t spki_len = sizeof(spki), sig_len, tbs, m, ext, e, v, tbs_len;
	const uint8_t *sigalg;
	struct kw_der_w w;
	uint8_t *buf;
	time_t now = time(NULL);
	WC_RNG rng;
	int r;

	*der = NULL;
	*len = 0;
	if ((buf = malloc(TLSALPN_MAX_DER)) == NULL)
		return KW_ERR_NOMEM;
	if ((r = kw_key_public_der(key, spki, &spki_len)) != KW_OK ||
	    (r = kw_cert_sigalg_der(key, &sigalg, &sig_len)) != KW_OK)
		goto out;
	if (wc_InitRng(&rng) != 0) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	r = wc_RNG_GenerateBlock(&rng, serial, sizeof(serial)) == 0 ? KW_OK :
	    KW_ERR_CRYPTO;
	wc_FreeRng(&rng);
	if (r != KW_OK)
		goto out;
	serial[0] = (serial[0] & 0x7f) | 0x40;	/* positive, 16 bytes */
	if (wc_Sha256Hash((const byte *)keyauth, (word32)strlen(keyauth),
	    h) != 0) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	kw_der_w_init(&w, buf, TLSALPN_MAX_DER);
	tbs = kw_der_open(&w, 0x30);		/* TBSCertificate */
	kw_der_put_raw(&w, v3, sizeof(v3));
	kw_der_put(&w, 0x02, serial, sizeof(serial));
	kw_der_put_raw(&w, sigalg, sig_len);
	tlsalpn_name(&w, "keyward acme-tls/1");
	m = kw_der_open(&w, 0x30);		/* validity */
	tlsalpn_utctime(&w, now - 3600);
	tlsalpn_utctime(&w, now + 7 * 86400);
	kw_der_close(&w, m);
	tlsalpn_name(&w, "keyward acme-tls/1");
	kw_der_put_raw(&w, spki, spki_len);
	ext = kw_der_open(&w, 0xa3);
	m = kw_der_open(&w, 0x30);
	/* subjectAltName: the identifier as a dNSName */
	e = kw_der_open(&w, 0x30);
	kw_der_put_raw(&w, oid_san, sizeof(oid_san));
	v = kw_der_open(&w, 0x04);
	{
		size_t gn = kw_der_open(&w, 0x30);

		kw_der_put(&w, 0x82, name, strlen(name));
		kw_der_close(&w, gn);
	}
	kw_der_close(&w, v);
	kw_der_close(&w, e);
	/* acmeIdentifier (critical): SHA-256 of the key authorization */
	e = kw_der_open(&w, 0x30);
	kw_der_put_raw(&w, oid_acme, sizeof(oid_acme));
	kw_der_put_raw(&w, critical, sizeof(critical));
	v = kw_der_open(&w, 0x04);
	kw_der_put(&w, 0x04, h, sizeof(h));
	kw_der_close(&w, v);
	kw_der_close(&w, e);
	kw_der_close(&w, m);
	kw_der_close(&w, ext);
	kw_der_close(&w, tbs);
	if ((r = kw_der_w_end(&w, &tbs_len)) != KW_OK)
		goto out;
	r = kw_cert_sign_tbs(key, buf, tbs_len, der, len);
out:
	free(buf);
	return r;
}

/* ---- the server ---------------------------------------------------------- */

struct acme_tlsalpn {
	struct acme_srv srv;
	struct kw_key *key;
	pthread_mutex_t mu;
	WOLFSSL_CTX *ctx;		/* for the published challenge */
	struct kw_dev *dev;		/* the key, as wolfSSL's device */
	char *token;
	unsigned handshakes;		/* for the published challenge */
	unsigned long served, refused;
};

/* One handshake: ALPN acme-tls/1 or nothing. */
static void
tlsalpn_serve(struct acme_tlsalpn *t, int fd)
{
	struct timeval tv = { TLSALPN_IO_MS / 1000, 0 };
	WOLFSSL *ssl = NULL;
	char *proto = NULL;
	unsigned short plen = 0;
	int w;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&t->mu);
	if (t->ctx == NULL || t->handshakes >= TLSALPN_MAX_HANDSHAKES ||
	    (ssl = wolfSSL_new(t->ctx)) == NULL ||
	    wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS) {
		wolfSSL_free(ssl);
		pthread_mutex_unlock(&t->mu);
		t->refused++;
		return;
	}
	if (wolfSSL_UseALPN(ssl, (char *)TLSALPN_PROTO,
	    sizeof(TLSALPN_PROTO) - 1, WOLFSSL_ALPN_FAILED_ON_MISMATCH) !=
	    WOLFSSL_SUCCESS) {
		t->refused++;
		goto out;
	}
	t->handshakes++;
	w = wolfSSL_accept(ssl);
	if (w == WOLFSSL_SUCCESS &&
	    wolfSSL_ALPN_GetProtocol(ssl, &proto, &plen) ==
	    WOLFSSL_SUCCESS && plen == sizeof(TLSALPN_PROTO) - 1 &&
	    memcmp(proto, TLSALPN_PROTO, plen) == 0) {
		t->served++;
		(void)wolfSSL_shutdown(ssl);
	} else
		t->refused++;
out:
	wolfSSL_free(ssl);
	pthread_mutex_unlock(&t->mu);
}

static void
tlsalpn_serve_cb(void *arg, int fd)
{
	tlsalpn_serve(arg, fd);
}

int
acme_tlsalpn_start(const char *addr, struct kw_key *key,
    struct acme_tlsalpn **out)
{
	struct acme_tlsalpn *t;
	int r;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return KW_ERR_NOMEM;
	t->key = key;
	pthread_mutex_init(&t->mu, NULL);
	if ((r = acme_srv_start(&t->srv, addr, "tls-alpn-01",
	    tlsalpn_serve_cb, t)) != KW_OK) {
		acme_tlsalpn_stop(t);
		return r;
	}
	*out = t;
	return KW_OK;
}

void
acme_tlsalpn_stop(struct acme_tlsalpn *t)
{
	if (t == NULL)
		return;
	acme_srv_stop(&t->srv);
	kw_debug("tls-alpn-01 responder: %lu served, %lu refused", t->served,
	    t->refused);
	if (t->ctx != NULL)
		wolfSSL_CTX_free(t->ctx);
	kw_dev_free(t->dev);
	free(t->token);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static int
tlsalpn_publish(void *arg, const char *ident, const char *token,
    const char *keyauth)
{
	struct acme_tlsalpn *t = arg;
	WOLFSSL_CTX *ctx = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	int r;

	if ((r = acme_tlsalpn_cert(t->key, ident, keyauth, &der, &len)) !=
	    KW_OK) {
		kw_err("cannot make the tls-alpn-01 certificate for %s: %s",
		    ident, kw_strerror(r));
		return r;
	}
	/* keyward's TLS contexts (common/kw_tls) refuse certificates with
	 * an unknown critical extension, as they should; this one exists
	 * only to carry acmeIdentifier, so it gets a plain server context
	 * with the key attached as the crypto-callback device. */
	if ((ctx = wolfSSL_CTX_new(wolfSSLv23_server_method())) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	(void)wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);
	/* RFC 8737 3: the validation server names the identifier in SNI */
	if (wolfSSL_CTX_UseSNI(ctx, WOLFSSL_SNI_HOST_NAME, ident,
	    (unsigned short)strlen(ident)) != WOLFSSL_SUCCESS) {
		r = KW_ERR_TLS;
		goto out;
	}
	wolfSSL_CTX_SNI_SetOptions(ctx, WOLFSSL_SNI_HOST_NAME,
	    WOLFSSL_SNI_ABORT_ON_ABSENCE);
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
	if (wolfSSL_CTX_use_certificate_buffer(ctx, der, (long)len,
	    WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
		kw_err("wolfSSL refused the tls-alpn-01 certificate");
		r = KW_ERR_CERT;
		goto out;
	}
	if (t->dev == NULL && (r = kw_dev_new(t->key, &t->dev)) != KW_OK)
		goto out;
	if ((r = kw_dev_use_in_ctx(t->dev, ctx)) != KW_OK)
		goto out;
	pthread_mutex_lock(&t->mu);
	if (t->ctx != NULL)
		wolfSSL_CTX_free(t->ctx);
	t->ctx = ctx;
	t->handshakes = 0;
	ctx = NULL;
	free(t->token);
	t->token = strdup(token);
	r = t->token != NULL ? KW_OK : KW_ERR_NOMEM;
	pthread_mutex_unlock(&t->mu);
out:
	if (ctx != NULL)
		wolfSSL_CTX_free(ctx);
	free(der);
	return r;
}

static void
tlsalpn_withdraw(void *arg, const char *token)
{
	struct acme_tlsalpn *t = arg;

	pthread_mutex_lock(&t->mu);
	if (t->token != NULL && strcmp(t->token, token) == 0) {
		wolfSSL_CTX_free(t->ctx);
		t->ctx = NULL;
		free(t->token);
		t->token = NULL;
	}
	pthread_mutex_unlock(&t->mu);
}

void
acme_tlsalpn_responder(struct acme_tlsalpn *t, struct acme_responder *r)
{
	r->type = "tls-alpn-01";
	r->publish = tlsalpn_publish;
	r->withdraw = tlsalpn_withdraw;
	r->arg = t;
}
