/* The SCEP client (RFC 8894): GetCACaps, GetCACert, PKCSReq / RenewalReq
 * and CertPoll messages built and signed through the key interface, and
 * the CA's CertRep checked and opened with the key's decryption in the
 * token.
 *
 * scep_msg.c holds the messages (pure functions over DER, unit-tested and
 * fuzzed), scep_client.c the exchanges over HTTP (or HTTPS).  All input is
 * untrusted: DER is walked with common/kw_der's strict reader. */
#ifndef SCEP_H
#define SCEP_H

#include <stddef.h>
#include <stdint.h>

#include "kw_cancel.h"
#include "kw_der.h"
#include "kw_key.h"
#include "est_der.h"

#define SCEP_NONCE_LEN		16
#define SCEP_MAX_TID		80	/* transactionID, printable */
#define SCEP_MAX_MSG		(256 * 1024)

/* messageType (RFC 8894 3.2.1.2) */
enum scep_msg_type {
	SCEP_CERTREP = 3,
	SCEP_RENEWAL_REQ = 17,
	SCEP_PKCS_REQ = 19,
	SCEP_CERT_POLL = 20,
};

/* pkiStatus (3.2.1.3) */
enum scep_status {
	SCEP_SUCCESS = 0,
	SCEP_FAILURE = 2,
	SCEP_PENDING = 3,
};

/* Content-encryption algorithms of a pkcsPKIEnvelope. */
enum scep_cipher {
	SCEP_CIPHER_NONE = 0,
	SCEP_AES128_CBC,
	SCEP_AES256_CBC,
	SCEP_DES3_CBC,		/* weak: accepted with a warning */
	SCEP_DES_CBC,		/* weak: accepted with a warning */
};

/* Digest algorithms a CertRep may use. */
enum scep_digest {
	SCEP_DIGEST_NONE = 0,
	SCEP_DIGEST_SHA1,	/* weak: accepted with a warning */
	SCEP_DIGEST_SHA256,
	SCEP_DIGEST_SHA384,
	SCEP_DIGEST_SHA512,
};

/* GetCACaps keywords (3.5.2), as bits. */
#define SCEP_CAP_AES		0x001u
#define SCEP_CAP_DES3		0x002u
#define SCEP_CAP_SHA1		0x004u
#define SCEP_CAP_SHA256		0x008u
#define SCEP_CAP_SHA512		0x010u
#define SCEP_CAP_POST		0x020u
#define SCEP_CAP_RENEWAL	0x040u
#define SCEP_CAP_STANDARD	0x080u	/* implies AES, SHA-256, POST */
#define SCEP_CAP_NEXTCA		0x100u

/* The body of a GetCACaps answer (one keyword a line, case-insensitive;
 * unknown ones ignored).  An empty body gives 0. */
int scep_caps_parse(const uint8_t *body, size_t len, unsigned *caps);
/* What keyward sends under those caps: AES-128-CBC unless the caps leave
 * only DES3 (or nothing: DES-CBC), and whether that is weak. */
enum scep_cipher scep_caps_cipher(unsigned caps);
const char *scep_cipher_name(enum scep_cipher c);
const char *scep_digest_name(enum scep_digest d);
/* failInfo (3.2.1.4) by number: "badAlg", ... or "unknown". */
const char *scep_failinfo_name(int fail_info);

/* The transient self-signed certificate over key (RFC 8894 2.3), with the
 * subject of the CSR (DER) it signs for; valid from an hour ago for a day.
 * *der malloc'd. */
int scep_selfsigned(struct kw_key *key, const uint8_t *csr, size_t csr_len,
    uint8_t **der, size_t *der_len);
/* The subject Name (whole element) of a DER CSR: a window into csr. */
int scep_csr_subject(const uint8_t *csr, size_t csr_len, struct kw_der *name);

/* pkcsPKIEnvelope: ContentInfo(EnvelopedData) of content encrypted to the
 * RSA public key of recipient (a DER certificate), with wolfCrypt.
 * *der malloc'd. */
int scep_envelope_make(const uint8_t *recipient, size_t recipient_len,
    enum scep_cipher cipher, const uint8_t *content, size_t content_len,
    uint8_t **der, size_t *der_len);

/* CertPoll's content: IssuerAndSubject (the CA's subject, ours). */
int scep_issuer_and_subject(const uint8_t *ca_cert, size_t ca_len,
    const uint8_t *csr, size_t csr_len, uint8_t **der, size_t *der_len);

/* A pkiMessage: ContentInfo(SignedData) over content (a pkcsPKIEnvelope),
 * with signer_cert in certificates and the SCEP attributes signed by key
 * (RSASSA-PKCS1-v1_5 over the signedAttrs with hash). */
struct scep_out {
	enum scep_msg_type type;
	const char *transaction_id;
	const uint8_t *sender_nonce;		/* SCEP_NONCE_LEN */
	const uint8_t *content;
	size_t content_len;
	const uint8_t *signer_cert;
	size_t signer_cert_len;
	struct kw_key *key;
	enum kw_hash hash;
	/* a CertRep (tests, fuzz seeds): pkiStatus, failInfo (-1: none)
	 * and recipientNonce are added when recipient_nonce is set */
	const uint8_t *recipient_nonce;
	enum scep_status status;
	int fail_info;
};
int scep_pkimsg_make(const struct scep_out *m, uint8_t **der,
    size_t *der_len);

/* A CertRep, read.  Windows point into the caller's buffer. */
struct scep_certrep {
	enum scep_msg_type type;
	enum scep_status status;
	int fail_info;				/* -1: none */
	char transaction_id[SCEP_MAX_TID + 1];
	uint8_t sender_nonce[SCEP_NONCE_LEN];
	uint8_t recipient_nonce[SCEP_NONCE_LEN];
	int has_recipient_nonce;
	enum scep_digest digest;
	size_t signer;				/* index into the signers */
	struct kw_der envelope;			/* SUCCESS: pkcsPKIEnvelope */
};
/* Parse a pkiMessage and check its signature: the signer must be one of
 * signers (the CA/RA certificates trusted from GetCACert), the
 * messageDigest must match the content, the RSA signature over the
 * signedAttrs must verify with wolfCrypt.  Errors: KW_ERR_PARSE
 * (malformed), KW_ERR_UNSUPPORTED (an algorithm we do not take),
 * KW_ERR_PEER_VERIFY (signer unknown or signature wrong); logged in one
 * line each. */
int scep_certrep_parse(const uint8_t *der, size_t len,
    const struct est_certs *signers, struct scep_certrep *out);

/* An EnvelopedData (ContentInfo), read: the first RSA key-transport
 * recipient's encrypted key and the encrypted content. */
struct scep_envelope {
	struct kw_der encrypted_key;
	enum scep_cipher cipher;
	uint8_t iv[16];
	size_t iv_len;
	uint8_t *ciphertext;			/* malloc'd (segments joined) */
	size_t ciphertext_len;
};
int scep_envelope_parse(const uint8_t *der, size_t len,
    struct scep_envelope *out);
void scep_envelope_clear(struct scep_envelope *e);
/* Decrypt: the content-encryption key by key's token (RSAES-PKCS1-v1_5),
 * the content with wolfCrypt.  Every failure is KW_ERR_CRYPTO, whatever
 * went wrong (no padding oracle).  *plain malloc'd. */
int scep_envelope_open(struct kw_key *key, const struct scep_envelope *e,
    uint8_t **plain, size_t *plain_len);

/* ---- the client (scep_client.c) ------------------------------------------ */

struct scep_client;

struct scep_conf {
	const char *url;		/* http(s)://HOST[:PORT][/PATH] */
	/* Trust: exactly one.  ca_file: the CA certificate(s) (PEM or DER)
	 * that GetCACert's answer must hold or chain to; ca_fingerprint: the
	 * SHA-256 of the CA certificate, checked on first contact. */
	const char *ca_file;
	const char *ca_fingerprint;
	/* https only: the TLS server's trust (default: ca_file) */
	int timeout_ms;			/* each exchange (0: 30 s) */
	const struct kw_cancel *cancel;
};

int scep_client_new(const struct scep_conf *conf, struct scep_client **out);
void scep_client_free(struct scep_client *c);

/* GetCACaps and GetCACert, and trust in what came: the CA (pinned or from
 * ca_file) and the RA certificates that chain to it. */
int scep_fetch_ca(struct scep_client *c);
/* The CA certificates in force: the anchor first. */
const struct est_certs *scep_cacerts(const struct scep_client *c);
unsigned scep_caps(const struct scep_client *c);

struct scep_req {
	struct kw_key *key;		/* the key to certify (RSA, decrypt) */
	const uint8_t *csr;		/* signed by key */
	size_t csr_len;
	/* RenewalReq: the current certificate and its key sign the message;
	 * NULL: PKCSReq with a transient self-signed certificate */
	const uint8_t *renew_cert;
	size_t renew_cert_len;
	struct kw_key *renew_key;
	unsigned wait_s;		/* PENDING: poll this long (0: once) */
};
/* Send the request, poll while PENDING, open SUCCESS.  KW_OK: *issued
 * holds the certificate for req->key first, verified to chain to the CA.
 * KW_ERR_PENDING: still pending after wait_s; KW_ERR_AUTH: FAILURE
 * (failInfo named); KW_ERR_KEY_MISMATCH: a certificate for another key. */
int scep_enroll(struct scep_client *c, const struct scep_req *req,
    struct est_certs *issued);

#endif
