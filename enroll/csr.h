/* PKCS#10 certification requests signed through the key interface. */
#ifndef KW_CSR_H
#define KW_CSR_H

#include <stddef.h>
#include <stdint.h>

#include "kw_key.h"

struct kw_csr_req {
	const char *subject;		/* "CN=...,O=...,OU=..." */
	const char *const *sans;	/* "dns:NAME", "uri:URI", "email:A", "ip:A" */
	size_t nsans;
	/* challengePassword attribute (PrintableString), e.g. the base64 TLS
	 * channel binding for proof-of-possession linking (RFC 7030 3.5);
	 * NULL: none. */
	const char *challenge;
	/* Key-attestation evidence (a keyward-attestation(7) CBOR message)
	 * carried in the id-aa-evidence attribute of
	 * draft-ietf-lamps-csr-attestation; NULL: none. */
	const uint8_t *evidence;
	size_t evidence_len;
};

/* draft-ietf-lamps-csr-attestation (the draft's current values, not yet
 * assigned by IANA): the PKCS#10 attribute id-aa-evidence
 * { id-aa 59 } = 1.2.840.113549.1.9.16.2.59, early-allocated by the draft,
 * whose value is an EvidenceBundle:
 *   EvidenceBundle ::= SEQUENCE {
 *     evidences SEQUENCE SIZE (1..MAX) OF EvidenceStatement,
 *     certs SEQUENCE SIZE (1..MAX) OF CertificateChoices OPTIONAL }
 *   EvidenceStatement ::= SEQUENCE {
 *     type OBJECT IDENTIFIER, stmt ANY DEFINED BY type,
 *     hint UTF8String OPTIONAL }
 * keyward sends one statement, no certs (the EK chain is inside the CBOR
 * message), type KW_CSR_EVIDENCE_TYPE and stmt an OCTET STRING holding the
 * CBOR evidence.  No registry names the WebAuthn-shaped TPM statement, so
 * the type is keyward's own OID in the 2.25 (UUID, ITU-T X.667) arc. */
#define KW_CSR_OID_EVIDENCE	"1.2.840.113549.1.9.16.2.59"
#define KW_CSR_EVIDENCE_TYPE	"2.25.110632027566195786488229574112644488557"
#define KW_CSR_EVIDENCE_MAX	(16u * 1024u)

/* Subject syntax: comma-separated ATTR=VALUE, ATTR one of CN, O, OU, C, L,
 * ST (case-insensitive, each at most once), VALUE 1..63 bytes of UTF-8, C
 * exactly two letters.  In a value a backslash escapes one of , + = " \ < >
 * ; # or a space, or starts two hex digits (RFC 4514); anything else after
 * a backslash, an unescaped + (multi-valued RDN) or an empty value is an
 * error.  SANs: dns:NAME (LDH labels, an optional leading "*."), uri:URI
 * (scheme:..., printable ASCII), email:LOCAL@DOMAIN, ip:IPv4 or IPv6.
 * Errors are logged in one line naming the bad part; KW_ERR_PARSE. */
int kw_csr_check(const struct kw_csr_req *req);

/* The subject of a certificate (DER) in the syntax above, for a CSR that
 * must repeat it (re-enrollment, RFC 7030 4.2.2).  KW_ERR_UNSUPPORTED,
 * logged, when it holds an attribute kw_csr_check does not take or one
 * twice; KW_ERR_SPACE when out (len bytes) is too small. */
int kw_csr_subject_from_cert(const uint8_t *cert_der, size_t cert_len,
    char *out, size_t len);

/* Build and sign a CSR with key (ECDSA-SHA256 for P-256, ECDSA-SHA384 for
 * P-384, sha256WithRSAEncryption for RSA); *der is malloc'd. */
int kw_csr_make(struct kw_key *key, const struct kw_csr_req *req,
    uint8_t **der, size_t *der_len);
/* Self-signed certificates over a hardware key (tls-alpn-01, SCEP's
 * transient certificate): the caller encodes the TBSCertificate with the
 * signature AlgorithmIdentifier from kw_cert_sigalg_der() (ECDSA-SHA256,
 * ECDSA-SHA384 for P-384, sha256WithRSAEncryption); kw_cert_sign_tbs()
 * signs it in the token and returns the Certificate (*der malloc'd). */
int kw_cert_sigalg_der(struct kw_key *key, const uint8_t **der, size_t *len);
int kw_cert_sign_tbs(struct kw_key *key, const uint8_t *tbs, size_t tbs_len,
    uint8_t **der, size_t *der_len);

/* DER -> PEM ("CERTIFICATE REQUEST"); *pem malloc'd, NUL-terminated. */
int kw_csr_pem(const uint8_t *der, size_t der_len, char **pem);

/* Does a certificate carry this key's public key?  (The helper lives in
 * common/kw_tls.h as kw_cert_matches_key(), since TLS contexts use it too;
 * this name is for enrollment code.)  KW_OK, KW_ERR_KEY_MISMATCH or
 * KW_ERR_CERT. */
int kw_csr_cert_matches_key(const uint8_t *cert_der, size_t cert_len,
    struct kw_key *key);

#endif
