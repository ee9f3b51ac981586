/* The SCEP client (RFC 8894), see scep.h.
 *
 * Trust: SCEP usually runs over plain HTTP, so nothing the transport says
 * is believed.  GetCACert's answer must hold the CA certificate given with
 * --ca (or chain to it), or the one whose SHA-256 was pinned with
 * --ca-fingerprint; RA certificates must chain to that CA.  CertReps are
 * accepted only when signed by one of those certificates, for our
 * transactionID and our senderNonce.  The issued certificate must carry
 * our key and chain to the CA, or it is refused. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kw_cancel.h"
#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_tls.h"
#include "kw_wolf.h"
#include "est.h"
#include "est_der.h"
#include "est_http.h"
#include "scep.h"

#define SCEP_DEFAULT_TIMEOUT_MS	30000
#define SCEP_POLL_MIN_S		1
#define SCEP_POLL_MAX_S		60

struct scep_client {
	struct est_url url;
	int https;
	char hosthdr[300];
	char *ca_file;
	char pin[65];
	int timeout_ms;
	const struct kw_cancel *cancel;
	struct kw_tls_ctx *tls;		/* https only */
	unsigned caps;
	int trusted;
	struct est_certs cacerts;	/* anchor first, then the others */
	size_t recipient;		/* index of the RA/CA we encrypt to */
	size_t issuer;			/* the issuing CA (CertPoll) */
};

static int
scep_url_parse(const char *url, struct scep_client *c)
{
	struct http_parser_url pu;
	size_t n, sl;
	int n2;

	http_parser_url_init(&pu);
	if (url == NULL || strlen(url) > 1000 ||
	    http_parser_parse_url(url, strlen(url), 0, &pu) != 0 ||
	    !(pu.field_set & (1 << UF_SCHEMA)) ||
	    !(pu.field_set & (1 << UF_HOST)) ||
	    (pu.field_set & ((1 << UF_USERINFO) | (1 << UF_QUERY) |
	    (1 << UF_FRAGMENT))))
		goto bad;
	sl = pu.field_data[UF_SCHEMA].len;
	if (sl == 5 && strncasecmp(url + pu.field_data[UF_SCHEMA].off,
	    "https", 5) == 0)
		c->https = 1;
	else if (sl != 4 || strncasecmp(url + pu.field_data[UF_SCHEMA].off,
	    "http", 4) != 0)
		goto bad;
	n = pu.field_data[UF_HOST].len;
	if (n == 0 || n >= sizeof(c->url.host))
		goto bad;
	memcpy(c->url.host, url + pu.field_data[UF_HOST].off, n);
	c->url.port = (pu.field_set & (1 << UF_PORT)) ? pu.port :
	    c->https ? 443 : 80;
	if (c->url.port == 0)
		goto bad;
	if (pu.field_set & (1 << UF_PATH)) {
		n = pu.field_data[UF_PATH].len;
		if (n >= sizeof(c->url.path))
			goto bad;
		memcpy(c->url.path, url + pu.field_data[UF_PATH].off, n);
	} else
		strcpy(c->url.path, "/");
	n2 = snprintf(c->url.hostport, sizeof(c->url.hostport),
	    strchr(c->url.host, ':') ? "[%s]:%u" : "%s:%u", c->url.host,
	    c->url.port);
	if (n2 < 0 || (size_t)n2 >= sizeof(c->url.hostport))
		goto bad;
	if (c->url.port == (c->https ? 443u : 80u))
		snprintf(c->hosthdr, sizeof(c->hosthdr), strchr(c->url.host,
		    ':') ? "[%s]" : "%s", c->url.host);
	else
		snprintf(c->hosthdr, sizeof(c->hosthdr), "%s",
		    c->url.hostport);
	return KW_OK;
bad:
	kw_err("SCEP server URL '%s' is not a valid http(s)://HOST[:PORT]"
	    "[/PATH] URL", url ? url : "");
	return KW_ERR_ARG;
}

int
scep_client_new(const struct scep_conf *conf, struct scep_client **out)
{
	struct scep_client *c;
	struct kw_tls_conf tc;
	int r;

	*out = NULL;
	if ((conf->ca_file == NULL) == (conf->ca_fingerprint == NULL)) {
		kw_err("SCEP: give the CA certificate (--ca) or its SHA-256 "
		    "fingerprint (--ca-fingerprint)");
		return KW_ERR_ARG;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KW_ERR_NOMEM;
	c->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms :
	    SCEP_DEFAULT_TIMEOUT_MS;
	c->cancel = conf->cancel;
	if ((r = scep_url_parse(conf->url, c)) != KW_OK)
		goto out;
	if (conf->ca_fingerprint != NULL &&
	    (r = est_fingerprint_parse(conf->ca_fingerprint, c->pin)) != KW_OK)
		goto out;
	if (conf->ca_file != NULL && (c->ca_file = strdup(conf->ca_file)) ==
	    NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if (c->https) {
		if (c->ca_file == NULL) {
			kw_err("SCEP over https needs --ca (the TLS server is "
			    "verified against it)");
			r = KW_ERR_ARG;
			goto out;
		}
		memset(&tc, 0, sizeof(tc));
		tc.side = KW_TLS_CLIENT;
		tc.ca_file = c->ca_file;
		tc.min_version = 12;
		if ((r = kw_tls_ctx_new(&tc, &c->tls)) != KW_OK)
			goto out;
	}
	r = KW_OK;
out:
	if (r != KW_OK)
		scep_client_free(c);
	else
		*out = c;
	return r;
}

void
scep_client_free(struct scep_client *c)
{
	if (c == NULL)
		return;
	kw_tls_ctx_free(c->tls);
	free(c->ca_file);
	est_certs_clear(&c->cacerts);
	free(c);
}

const struct est_certs *
scep_cacerts(const struct scep_client *c)
{
	return &c->cacerts;
}

unsigned
scep_caps(const struct scep_client *c)
{
	return c->caps;
}

/* ---- HTTP ---------------------------------------------------------------- */

/* GET ?operation=OP[&message=M] or POST ?operation=OP with body. */
static int
scep_http(struct scep_client *c, const char *op, const char *msg,
    const uint8_t *body, size_t body_len, struct est_http_resp **out)
{
	struct est_http_req req;
	char *path = NULL, *raw = NULL;
	size_t plen = strlen(c->url.path) + strlen(op) + 32 +
	    (msg != NULL ? strlen(msg) : 0), raw_len = 0;
	int r;

	*out = NULL;
	if ((path = malloc(plen)) == NULL)
		return KW_ERR_NOMEM;
	snprintf(path, plen, "%s?operation=%s%s%s", c->url.path, op,
	    msg != NULL ? "&message=" : "", msg != NULL ? msg : "");
	memset(&req, 0, sizeof(req));
	req.method = body != NULL ? "POST" : "GET";
	req.host = c->hosthdr;
	req.path = path;
	if (body != NULL) {
		req.content_type = "application/x-pki-message";
		req.body = body;
		req.body_len = body_len;
	}
	if ((r = est_http_req_build(&req, &raw, &raw_len)) != KW_OK)
		goto out;
	kw_debug("SCEP: %s %s operation=%s", req.method, c->url.path, op);
	r = est_https_exchange(c->tls, &c->url, "SCEP", c->timeout_ms,
	    c->cancel, raw, raw_len, SCEP_MAX_MSG, out);
	if (r == KW_OK)
		kw_debug("SCEP: %s", est_http_resp_status_line(*out));
	if (r == KW_OK && est_http_resp_status(*out) != 200) {
		kw_err("SCEP server %s answered %s to %s", c->url.hostport,
		    est_http_resp_status_line(*out), op);
		est_http_resp_free(*out);
		*out = NULL;
		r = KW_ERR_PROTOCOL;
	}
out:
	if (raw != NULL)
		kw_freezero(raw, raw_len + 1);
	free(path);
	return r;
}

/* ---- GetCACaps, GetCACert, trust ------------------------------------------ */

static int
scep_fetch_caps(struct scep_client *c)
{
	struct est_http_resp *h = NULL;
	const uint8_t *b;
	size_t bl;
	int r;

	if ((r = scep_http(c, "GetCACaps", NULL, NULL, 0, &h)) != KW_OK)
		return r;
	b = est_http_resp_body(h, &bl);
	r = scep_caps_parse(b, bl, &c->caps);
	est_http_resp_free(h);
	if (r != KW_OK) {
		kw_warn("SCEP: GetCACaps answer unreadable; assuming no "
		    "capabilities");
		c->caps = 0;
	}
	kw_debug("SCEP: caps 0x%x", c->caps);
	return KW_OK;
}

/* Is der one of set's certificates? */
static int
scep_certs_has(const struct est_certs *set, const uint8_t *der, size_t len)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (set->c[i].len == len && memcmp(set->c[i].der, der, len) == 0)
			return 1;
	return 0;
}

/* Does der chain to the certificates in cm (wolfSSL's verifier)? */
static int
scep_chains(WOLFSSL_CERT_MANAGER *cm, const uint8_t *der, size_t len)
{
	return wolfSSL_CertManagerVerifyBuffer(cm, der, (long)len,
	    WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS;
}

/* c->cacerts: the anchor (the pinned certificate, or ca_file's), then
 * every other certificate that came, each of which must chain to what is
 * already trusted (intermediates may come in any order). */
static int
scep_trust(struct scep_client *c, struct est_certs *got)
{
	WOLFSSL_CERT_MANAGER *cm = NULL;
	struct est_certs anchors;
	struct est_cert_info ci;
	int done[EST_MAX_CERTS] = { 0 };
	char fp[65];
	size_t i, a = (size_t)-1, left;
	int r, progress;

	memset(&anchors, 0, sizeof(anchors));
	if (c->pin[0] != '\0') {
		for (i = 0; i < got->n; i++)
			if (est_fingerprint(got->c[i].der, got->c[i].len, fp) ==
			    KW_OK && strcmp(fp, c->pin) == 0)
				a = i;
		if (a == (size_t)-1) {
			kw_err("SCEP: no CA certificate from %s has the pinned "
			    "fingerprint %s: refused (check it with the CA's "
			    "operators)", c->url.hostport, c->pin);
			r = KW_ERR_PEER_VERIFY;
			goto out;
		}
		r = est_certs_add(&anchors, got->c[a].der, got->c[a].len);
	} else if ((r = est_certs_from_file(c->ca_file, &anchors)) != KW_OK)
		kw_err("cannot read the SCEP CA certificate %s: %s", c->ca_file,
		    kw_strerror(r));
	if (r != KW_OK)
		goto out;
	if ((cm = wolfSSL_CertManagerNew()) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < anchors.n; i++) {
		if (wolfSSL_CertManagerLoadCABuffer(cm, anchors.c[i].der,
		    (long)anchors.c[i].len, WOLFSSL_FILETYPE_ASN1) !=
		    WOLFSSL_SUCCESS) {
			kw_err("SCEP: the CA certificate cannot be used as a "
			    "trust anchor");
			r = KW_ERR_CERT;
			goto out;
		}
		if ((r = est_certs_add(&c->cacerts, anchors.c[i].der,
		    anchors.c[i].len)) != KW_OK)
			goto out;
	}
	for (i = 0, left = 0; i < got->n; i++) {
		done[i] = scep_certs_has(&c->cacerts, got->c[i].der,
		    got->c[i].len);
		left += !done[i];
	}
	do {
		progress = 0;
		for (i = 0; i < got->n; i++) {
			if (done[i] || est_cert_info(got->c[i].der,
			    got->c[i].len, &ci) != KW_OK ||
			    !scep_chains(cm, got->c[i].der, got->c[i].len))
				continue;
			if (ci.is_ca && wolfSSL_CertManagerLoadCABuffer(cm,
			    got->c[i].der, (long)got->c[i].len,
			    WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS)
				continue;
			if ((r = est_certs_add(&c->cacerts, got->c[i].der,
			    got->c[i].len)) != KW_OK)
				goto out;
			done[i] = 1;
			left--;
			progress = 1;
		}
	} while (progress && left > 0);
	if (left > 0) {
		kw_err("SCEP: %zu certificate(s) from %s's GetCACert do not "
		    "chain to the CA %s: refused", left, c->url.hostport,
		    c->pin[0] != '\0' ? "with the pinned fingerprint" :
		    c->ca_file);
		r = KW_ERR_PEER_VERIFY;
		goto out;
	}
	r = KW_OK;
out:
	if (cm != NULL)
		wolfSSL_CertManagerFree(cm);
	est_certs_clear(&anchors);
	return r;
}

/* The recipient of our envelopes: an RA certificate (not a CA), else the
 * issuing CA (the last CA certificate trusted). */
static void
scep_pick_recipient(struct scep_client *c)
{
	struct est_cert_info ci;
	size_t i;

	c->issuer = 0;
	for (i = 0; i < c->cacerts.n; i++)
		if (est_cert_info(c->cacerts.c[i].der, c->cacerts.c[i].len,
		    &ci) == KW_OK && ci.is_ca)
			c->issuer = i;
	c->recipient = c->issuer;
	for (i = 0; i < c->cacerts.n; i++)
		if (est_cert_info(c->cacerts.c[i].der, c->cacerts.c[i].len,
		    &ci) == KW_OK && !ci.is_ca) {
			c->recipient = i;
			return;
		}
}

int
scep_fetch_ca(struct scep_client *c)
{
	struct est_http_resp *h = NULL;
	struct est_certs got;
	const uint8_t *b;
	char ctype[128];
	size_t bl;
	int r;

	memset(&got, 0, sizeof(got));
	if (c->trusted)
		return KW_OK;
	if ((r = scep_fetch_caps(c)) != KW_OK ||
	    (r = scep_http(c, "GetCACert", NULL, NULL, 0, &h)) != KW_OK)
		goto out;
	b = est_http_resp_body(h, &bl);
	(void)est_http_media_type(h, ctype, sizeof(ctype));
	if (strcmp(ctype, "application/x-x509-ca-ra-cert") == 0)
		r = est_pkcs7_certs(b, bl, &got);
	else if (bl > 0 && bl <= EST_MAX_CERT && b[0] == 0x30 &&
	    kw_der_cert(b, bl, &(struct kw_der_cert){ 0 }) == KW_OK)
		r = est_certs_add(&got, b, bl);
	else
		r = est_pkcs7_certs(b, bl, &got);
	if (r != KW_OK) {
		kw_err("SCEP: the GetCACert answer from %s is neither a "
		    "certificate nor a PKCS#7 of certificates", c->url.hostport);
		r = KW_ERR_PROTOCOL;
		goto out;
	}
	if ((r = scep_trust(c, &got)) != KW_OK)
		goto out;
	scep_pick_recipient(c);
	c->trusted = 1;
	r = KW_OK;
out:
	if (r != KW_OK)
		est_certs_clear(&c->cacerts);
	est_certs_clear(&got);
	est_http_resp_free(h);
	return r;
}

/* ---- PKIOperation --------------------------------------------------------- */

/* transactionID: the SHA-256 of the key's SubjectPublicKeyInfo, hex
 * (RFC 8894 3.2.1.1 asks for a hash of the public key). */
static int
scep_transaction_id(struct kw_key *key, char out[65])
{
	uint8_t spki[KW_MAX_PUBKEY_DER];
	size_t len = sizeof(spki);
	int r;

	if ((r = kw_key_public_der(key, spki, &len)) != KW_OK)
		return r;
	r = est_fingerprint(spki, len, out);
	for (len = 0; out[len] != '\0'; len++)
		if (out[len] >= 'a' && out[len] <= 'f')
			out[len] = (char)(out[len] - 32);
	return r;
}

/* base64 and then %-escaped for a GET query. */
static int
scep_query_b64(const uint8_t *der, size_t len, char **out)
{
	char *b64 = NULL, *q;
	size_t bl, i, o = 0;
	int r;

	*out = NULL;
	if ((r = kw_b64_encode(der, len, &b64, &bl)) != KW_OK)
		return r;
	if ((q = malloc(bl * 3 + 1)) == NULL) {
		free(b64);
		return KW_ERR_NOMEM;
	}
	for (i = 0; i < bl; i++) {
		if (b64[i] == '\n')
			continue;
		if (b64[i] == '+' || b64[i] == '/' || b64[i] == '=')
			o += (size_t)sprintf(q + o, "%%%02X",
			    (unsigned char)b64[i]);
		else
			q[o++] = b64[i];
	}
	q[o] = '\0';
	free(b64);
	*out = q;
	return KW_OK;
}

/* Send one pkiMessage, get the CertRep back (signature checked). */
static int
scep_exchange(struct scep_client *c, const uint8_t *msg, size_t msg_len,
    uint8_t **rep, size_t *rep_len, struct scep_certrep *cr)
{
	struct est_http_resp *h = NULL;
	const uint8_t *b;
	char *q = NULL;
	size_t bl;
	int r;

	*rep = NULL;
	*rep_len = 0;
	if (c->caps & SCEP_CAP_POST)
		r = scep_http(c, "PKIOperation", NULL, msg, msg_len, &h);
	else if ((r = scep_query_b64(msg, msg_len, &q)) == KW_OK)
		r = scep_http(c, "PKIOperation", q, NULL, 0, &h);
	free(q);
	if (r != KW_OK)
		return r;
	b = est_http_resp_body(h, &bl);
	if (bl == 0 || (*rep = malloc(bl)) == NULL) {
		kw_err("SCEP: empty answer to PKIOperation from %s",
		    c->url.hostport);
		r = bl == 0 ? KW_ERR_PROTOCOL : KW_ERR_NOMEM;
		goto out;
	}
	memcpy(*rep, b, bl);
	*rep_len = bl;
	if ((r = scep_certrep_parse(*rep, *rep_len, &c->cacerts, cr)) !=
	    KW_OK) {
		r = r == KW_ERR_NOMEM ? r : KW_ERR_PROTOCOL;
		goto out;
	}
	if (cr->digest == SCEP_DIGEST_SHA1)
		kw_warn("SCEP: the CA signed its answer with SHA-1 (weak); "
		    "accepted because the issued certificate is checked on "
		    "its own");
out:
	est_http_resp_free(h);
	if (r != KW_OK) {
		free(*rep);
		*rep = NULL;
	}
	return r;
}

/* The CertRep answers this request: our transactionID and nonce. */
static int
scep_check_reply(const struct scep_certrep *cr, const char *tid,
    const uint8_t *nonce)
{
	if (cr->type != SCEP_CERTREP || strcmp(cr->transaction_id, tid) != 0 ||
	    !cr->has_recipient_nonce ||
	    memcmp(cr->recipient_nonce, nonce, SCEP_NONCE_LEN) != 0) {
		kw_err("SCEP: the CA's answer is not a CertRep for this request "
		    "(messageType, transactionID or recipientNonce differ): "
		    "rejected");
		return KW_ERR_PROTOCOL;
	}
	return KW_OK;
}

/* SUCCESS: open the envelope in the token (the CA encrypts it to the
 * certificate that signed the request: dec_key), read the certificates,
 * check the one for key. */
static int
scep_open_success(struct scep_client *c, struct kw_key *key,
    struct kw_key *dec_key, const struct scep_certrep *cr,
    struct est_certs *issued)
{
	struct scep_envelope env;
	uint8_t spki[KW_MAX_PUBKEY_DER], *plain = NULL;
	size_t plen = 0, slen = sizeof(spki);
	int r;

	memset(&env, 0, sizeof(env));
	if ((r = scep_envelope_parse(cr->envelope.p, cr->envelope.len,
	    &env)) != KW_OK)
		goto out;
	if (env.cipher == SCEP_DES_CBC || env.cipher == SCEP_DES3_CBC)
		kw_warn("SCEP: the CA encrypted its answer with %s (weak); "
		    "accepted because the issued certificate is checked on "
		    "its own", scep_cipher_name(env.cipher));
	if ((r = scep_envelope_open(dec_key, &env, &plain, &plen)) != KW_OK)
		goto out;
	if ((r = est_pkcs7_certs(plain, plen, issued)) != KW_OK) {
		kw_err("SCEP: the CA's decrypted answer holds no certificate: "
		    "rejected");
		r = KW_ERR_PROTOCOL;
		goto out;
	}
	if ((r = kw_key_public_der(key, spki, &slen)) != KW_OK)
		goto out;
	/* our key, chained to the CA (the anchor and intermediates) */
	r = est_verify_issued(&c->cacerts, issued, spki, slen);
out:
	if (r != KW_OK)
		est_certs_clear(issued);
	scep_envelope_clear(&env);
	if (plain != NULL)
		kw_freezero(plain, plen);
	return r;
}

/* One message out, its reply checked. */
struct scep_tx {
	struct scep_client *c;
	const struct scep_req *req;
	char tid[65];
	uint8_t *signer_cert;		/* transient or the current one */
	size_t signer_cert_len;
	struct kw_key *signer_key;
	enum scep_cipher cipher;
};

static int
scep_send(struct scep_tx *t, enum scep_msg_type type, const uint8_t *content,
    size_t content_len, struct scep_certrep *cr, uint8_t **rep,
    size_t *rep_len)
{
	const struct est_certs *ca = &t->c->cacerts;
	struct scep_out m;
	uint8_t nonce[SCEP_NONCE_LEN], *env = NULL, *msg = NULL;
	size_t env_len = 0, msg_len = 0;
	WC_RNG rng;
	int r;

	if (wc_InitRng(&rng) != 0)
		return KW_ERR_CRYPTO;
	r = wc_RNG_GenerateBlock(&rng, nonce, sizeof(nonce)) == 0 ? KW_OK :
	    KW_ERR_CRYPTO;
	wc_FreeRng(&rng);
	if (r != KW_OK ||
	    (r = scep_envelope_make(ca->c[t->c->recipient].der,
	    ca->c[t->c->recipient].len, t->cipher, content, content_len, &env,
	    &env_len)) != KW_OK)
		goto out;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.transaction_id = t->tid;
	m.sender_nonce = nonce;
	m.content = env;
	m.content_len = env_len;
	m.signer_cert = t->signer_cert;
	m.signer_cert_len = t->signer_cert_len;
	m.key = t->signer_key;
	m.hash = KW_HASH_SHA256;
	if ((r = scep_pkimsg_make(&m, &msg, &msg_len)) != KW_OK ||
	    (r = scep_exchange(t->c, msg, msg_len, rep, rep_len, cr)) != KW_OK)
		goto out;
	if ((r = scep_check_reply(cr, t->tid, nonce)) != KW_OK) {
		free(*rep);
		*rep = NULL;
	}
out:
	free(env);
	free(msg);
	return r;
}

/* The answer's verdict: KW_OK (SUCCESS, certificates in issued),
 * KW_ERR_PENDING, or the failure. */
static int
scep_verdict(struct scep_tx *t, const struct scep_certrep *cr,
    struct est_certs *issued)
{
	switch (cr->status) {
	case SCEP_SUCCESS:
		return scep_open_success(t->c, t->req->key, t->signer_key, cr,
		    issued);
	case SCEP_PENDING:
		return KW_ERR_PENDING;
	default:
		kw_err("SCEP: the CA refused the request: FAILURE, failInfo "
		    "%s%s", scep_failinfo_name(cr->fail_info),
		    cr->fail_info == 1 || cr->fail_info == 2 ? " (a wrong "
		    "challenge password is reported so)" : "");
		return KW_ERR_AUTH;
	}
}

int
scep_enroll(struct scep_client *c, const struct scep_req *req,
    struct est_certs *issued)
{
	struct scep_tx t;
	struct scep_certrep cr;
	uint8_t *rep = NULL, *poll = NULL;
	size_t rep_len = 0, poll_len = 0;
	unsigned waited = 0, delay = 2;
	int r;

	memset(&t, 0, sizeof(t));
	memset(issued, 0, sizeof(*issued));
	if ((r = scep_fetch_ca(c)) != KW_OK)
		return r;
	if ((r = kw_key_can_decrypt(req->renew_cert != NULL ? req->renew_key :
	    req->key)) != KW_OK) {
		kw_err("SCEP cannot use this key: the CA encrypts its answer "
		    "to it, and %s", KW_KEY_SIGN_ONLY_HINT);
		return KW_ERR_UNSUPPORTED;
	}
	t.c = c;
	t.req = req;
	t.cipher = scep_caps_cipher(c->caps);
	if (t.cipher != SCEP_AES128_CBC)
		kw_warn("SCEP: the CA offers no AES (GetCACaps): the request "
		    "is encrypted with %s", scep_cipher_name(t.cipher));
	if (!(c->caps & (SCEP_CAP_SHA256 | SCEP_CAP_SHA512)))
		kw_warn("SCEP: the CA does not announce SHA-256 (GetCACaps); "
		    "signing with SHA-256 anyway");
	if ((r = scep_transaction_id(req->key, t.tid)) != KW_OK)
		goto out;
	if (req->renew_cert != NULL) {
		if (!(c->caps & SCEP_CAP_RENEWAL))
			kw_warn("SCEP: the CA does not announce Renewal; "
			    "sending a RenewalReq anyway");
		if ((t.signer_cert = malloc(req->renew_cert_len)) == NULL) {
			r = KW_ERR_NOMEM;
			goto out;
		}
		memcpy(t.signer_cert, req->renew_cert, req->renew_cert_len);
		t.signer_cert_len = req->renew_cert_len;
		t.signer_key = req->renew_key;
	} else {
		if ((r = scep_selfsigned(req->key, req->csr, req->csr_len,
		    &t.signer_cert, &t.signer_cert_len)) != KW_OK) {
			kw_err("SCEP: cannot make the transient certificate "
			    "with the key: %s", kw_strerror(r));
			goto out;
		}
		t.signer_key = req->key;
	}
	if ((r = scep_send(&t, req->renew_cert != NULL ? SCEP_RENEWAL_REQ :
	    SCEP_PKCS_REQ, req->csr, req->csr_len, &cr, &rep, &rep_len)) !=
	    KW_OK)
		goto out;
	/* PENDING: CertPoll until SUCCESS/FAILURE or the budget is spent */
	while ((r = scep_verdict(&t, &cr, issued)) == KW_ERR_PENDING) {
		if (waited + delay > req->wait_s) {
			kw_info("SCEP: the request is still pending at the CA "
			    "(waited %u s of %u)", waited, req->wait_s);
			goto out;
		}
		kw_info("SCEP: the CA holds the request (PENDING); polling "
		    "in %u s", delay);
		if (kw_cancel_wait(c->cancel, -1, 0, kw_deadline((int)delay *
		    1000)) == KW_ERR_CANCELLED) {
			r = KW_ERR_CANCELLED;
			goto out;
		}
		waited += delay;
		delay = delay * 2 > SCEP_POLL_MAX_S ? SCEP_POLL_MAX_S :
		    delay * 2;
		free(rep);
		rep = NULL;
		if (poll == NULL && (r = scep_issuer_and_subject(
		    c->cacerts.c[c->issuer].der, c->cacerts.c[c->issuer].len,
		    req->csr, req->csr_len, &poll, &poll_len)) != KW_OK)
			goto out;
		if ((r = scep_send(&t, SCEP_CERT_POLL, poll, poll_len, &cr, &rep,
		    &rep_len)) != KW_OK)
			goto out;
	}
out:
	free(rep);
	free(poll);
	free(t.signer_cert);
	return r;
}
