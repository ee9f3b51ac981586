/* attest/: the verifier of TPM 2.0 evidence (issue 12).  What a CA hook,
 * a gateway or an auditor runs on evidence a device sent: key attestation
 * (TPM2_Certify of a device key by an attestation key, AK), posture
 * (TPM2_Quote over PCRs), the EK certificate chain, and the AK-to-EK binding
 * proved once by credential activation (MakeCredential done here, in
 * software) and remembered in a binding store.
 *
 * Input is the TPM's own wire formats (TPMS_ATTEST, marshalled
 * TPMT_SIGNATURE and TPMT_PUBLIC, EK certificate DER, PCR values), carried
 * in a CBOR evidence message (keyward-attestation(7)).  Everything here is
 * untrusted input: parsed strictly (no trailing bytes, bounded sizes).
 *
 * Functions return kw_error.h codes.  A verification that ran and refused
 * returns KW_ERR_ATTEST and names the first failing check in a
 * kw_attest_reason; other negative codes are local failures (memory, I/O). */
#ifndef KW_ATTEST_H
#define KW_ATTEST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Why evidence was refused: the first failing check.  Values only appended
 * (they are logged and counted in metrics by name). */
enum kw_attest_reason {
	KW_ATTEST_OK = 0,
	KW_ATTEST_MALFORMED,		/* evidence or a TPM structure unparsable */
	KW_ATTEST_NOT_TPM,		/* TPMS_ATTEST magic not TPM_GENERATED */
	KW_ATTEST_WRONG_TYPE,		/* certify where a quote was due, etc. */
	KW_ATTEST_BAD_SIGNATURE,	/* not signed by the AK */
	KW_ATTEST_NONCE,		/* extraData is not the qualifying data */
	KW_ATTEST_AK_ATTRS,		/* AK is not a restricted fixedTPM signer */
	KW_ATTEST_NAME_MISMATCH,	/* certified name is not pubArea's name */
	KW_ATTEST_KEY_ATTRS,		/* key lacks fixedTPM|fixedParent|sensitiveDataOrigin */
	KW_ATTEST_KEY_MISMATCH,		/* certified key is not the CSR's/certificate's */
	KW_ATTEST_PCR_SELECTION,	/* quote covers other PCRs than asked */
	KW_ATTEST_PCR_DIGEST,		/* PCR values do not hash to the quoted digest */
	KW_ATTEST_PCR_VALUE,		/* a PCR value the policy does not allow */
	KW_ATTEST_EK_CERT,		/* EK certificate malformed */
	KW_ATTEST_EK_UNTRUSTED,		/* EK certificate chain not to ek-ca */
	KW_ATTEST_AK_UNBOUND,		/* AK not bound to this EK (no activation) */
	KW_ATTEST_ACTIVATION,		/* credential activation answer wrong */
	KW_ATTEST_TOO_OLD,		/* evidence older than max-age (or future) */
	KW_ATTEST_MISSING,		/* a part the policy requires is absent */
	KW_ATTEST_SECURE_BOOT,		/* Secure Boot off (event log claims) */
	KW_ATTEST_EVENT_LOG,		/* event log does not replay to the PCRs */
	KW_ATTEST_NREASONS
};

/* One line naming the failed check ("quote signature is not the AK's"). */
const char *kw_attest_reason_str(enum kw_attest_reason r);
/* A short stable token for logs and metrics ("bad_signature"). */
const char *kw_attest_reason_name(enum kw_attest_reason r);

/* The policy a verifier applies.  Filled from a policy file (attest/policy.c,
 * keyward.conf syntax: ek-ca, secure-boot, pcr, recheck, max-age) or from
 * command-line options. */
#define KW_ATTEST_MAX_PCR_RULES	64
enum kw_attest_secure_boot {
	KW_ATTEST_SB_IGNORE = 0,
	KW_ATTEST_SB_REQUIRED,
};
struct kw_attest_pcr_rule {
	uint32_t index;			/* 0..23, sha256 bank */
	uint8_t sha256[32];		/* one allowed value */
};
struct kw_attest_policy {
	char *ek_ca;			/* PEM bundle path (roots, intermediates) */
	enum kw_attest_secure_boot secure_boot;
	struct kw_attest_pcr_rule pcr[KW_ATTEST_MAX_PCR_RULES];
	size_t npcr;			/* a quoted PCR listed here must equal one
					 * of its listed values */
	uint32_t recheck;		/* seconds a verdict is reused (600) */
	uint32_t max_age;		/* seconds; 0: no limit */
};

/* PCR values of the sha256 bank, as quoted and checked. */
struct kw_attest_pcrs {
	uint32_t mask;			/* bit i: PCR i present */
	uint8_t val[24][32];
};

/* The TPM vendor as the EK certificate names it (TCG EK credential
 * profile: SAN directoryName 2.23.133.2.1/.2/.3). */
struct kw_attest_tpm_id {
	char manufacturer[64];		/* "id:49465800" as written */
	char vendor[32];		/* "Infineon" when the id is known */
	char model[64];
	char firmware[64];
};

/* ---- TPM structures (attest_tpm.c) ---------------------------------- */

/* Name of a public area: nameAlg || H_nameAlg(TPMT_PUBLIC bytes).  pub must
 * be exactly one marshalled TPMT_PUBLIC.  *len: room in name on entry. */
int kw_attest_name(const uint8_t *pub, size_t pub_len, uint8_t *name,
    size_t *len);
/* SubjectPublicKeyInfo DER of a TPMT_PUBLIC (RSA, ECC P-256/P-384). */
int kw_attest_pub_spki(const uint8_t *pub, size_t pub_len, uint8_t *spki,
    size_t *len);
/* The SubjectPublicKeyInfo of a certificate, a PKCS#10 request or a bare
 * public key (DER or PEM): *spki malloc'd. */
int kw_attest_spki_of(const uint8_t *buf, size_t len, uint8_t **spki,
    size_t *spki_len);
/* The qualifying data the TPM must put in extraData: the nonce itself, or
 * SHA-256(nonce || exporter) when the evidence is bound to a TLS session
 * (exporter: RFC 8446 7.5 exporter value, label "EXPORTER-keyward-posture").
 * *len: room on entry (at least 64). */
int kw_attest_qualifying(const uint8_t *nonce, size_t nonce_len,
    const uint8_t *exporter, size_t exporter_len, uint8_t *out, size_t *len);

/* TPM2_Certify evidence: certInfo (TPMS_ATTEST) signed (TPMT_SIGNATURE) by
 * ak_pub (TPMT_PUBLIC, a restricted signing key); extraData == qual;
 * certified name == name(key_pub); key_pub fixedTPM|fixedParent|
 * sensitiveDataOrigin, a signing key, not restricted; and when spki is not
 * NULL, key_pub's key is spki.  *reason: the first failing check. */
int kw_attest_check_certify(const uint8_t *ak_pub, size_t ak_len,
    const uint8_t *info, size_t info_len, const uint8_t *sig, size_t sig_len,
    const uint8_t *qual, size_t qual_len, const uint8_t *key_pub,
    size_t key_len, const uint8_t *spki, size_t spki_len,
    enum kw_attest_reason *reason);
/* TPM2_Quote evidence: signed by ak_pub, extraData == qual, the sha256
 * selection == want_mask (0: any), pcrDigest == H(values in selection
 * order).  values: 32 bytes per selected PCR.  *pcrs: what was checked. */
int kw_attest_check_quote(const uint8_t *ak_pub, size_t ak_len,
    const uint8_t *info, size_t info_len, const uint8_t *sig, size_t sig_len,
    const uint8_t *qual, size_t qual_len, uint32_t want_mask,
    const uint8_t *values, size_t values_len, struct kw_attest_pcrs *pcrs,
    enum kw_attest_reason *reason);

/* ---- EK certificates (attest_ek.c) ------------------------------------ */

/* The EK certificate ek (DER) chains to the PEM bundle at ca_path, through
 * the untrusted intermediates chain[0..nchain) (DER, leaf-most first).
 * id (may be NULL): the vendor, model and firmware it names. */
int kw_attest_ek_verify(const char *ca_path, const uint8_t *ek, size_t ek_len,
    const uint8_t *const *chain, const size_t *chain_len, size_t nchain,
    struct kw_attest_tpm_id *id, enum kw_attest_reason *reason);
/* The TPM identity attributes of an EK certificate (no chain check). */
int kw_attest_ek_id(const uint8_t *ek, size_t ek_len,
    struct kw_attest_tpm_id *id);

/* ---- Credential activation, verifier side (attest_cred.c) ------------- */

/* TPM2_MakeCredential in software for the EK whose SubjectPublicKeyInfo is
 * ek_spki (standard EK templates: RSA 2048 / ECC P-256 with SHA-256 and
 * AES-128-CFB; ECC P-384 / RSA 3072 with SHA-384 and AES-256-CFB), the
 * object name ak_name and the credential secret (at most the nameAlg's
 * digest size).  id_object, enc_secret: malloc'd, marshalled TPM2B_ID_OBJECT
 * and TPM2B_ENCRYPTED_SECRET (size prefix included), as
 * TPM2_ActivateCredential takes them. */
int kw_attest_make_credential(const uint8_t *ek_spki, size_t ek_spki_len,
    const uint8_t *ak_name, size_t ak_name_len, const uint8_t *secret,
    size_t secret_len, uint8_t **id_object, size_t *id_object_len,
    uint8_t **enc_secret, size_t *enc_secret_len);
/* KDFa (TPM 2.0 Part 1, 11.4.10.2) with SHA-256/384: bits/8 bytes to out. */
int kw_attest_kdfa(int hash_alg, const uint8_t *key, size_t key_len,
    const char *label, const uint8_t *u, size_t u_len, const uint8_t *v,
    size_t v_len, uint32_t bits, uint8_t *out);

/* ---- The AK-to-EK binding store (attest_bind.c) ----------------------- */

/* A challenge for the AK name ak_name on the EK ek_spki: a fresh 32-byte
 * secret (to keep, and wipe) and the credential blobs for the device. */
struct kw_attest_challenge {
	uint8_t secret[32];
	uint8_t *id_object, *enc_secret;
	size_t id_object_len, enc_secret_len;
};
int kw_attest_challenge_make(const uint8_t *ek_spki, size_t ek_spki_len,
    const uint8_t *ak_name, size_t ak_name_len,
    struct kw_attest_challenge *out);
void kw_attest_challenge_clear(struct kw_attest_challenge *c);
/* The device answered with the secret it activated: if it is the
 * challenge's (constant time), record EK -> AK name in the store at path
 * (created 0600, replaced atomically).  KW_ERR_ATTEST + reason if not. */
int kw_attest_bind_answer(const char *path, const uint8_t *ek_spki,
    size_t ek_spki_len, const uint8_t *ak_name, size_t ak_name_len,
    const struct kw_attest_challenge *c, const uint8_t *answer,
    size_t answer_len, enum kw_attest_reason *reason);
/* Record a binding directly (the caller proved it). */
int kw_attest_bind_record(const char *path, const uint8_t *ek_spki,
    size_t ek_spki_len, const uint8_t *ak_name, size_t ak_name_len);
/* KW_OK if the store binds this EK to this AK name, KW_ERR_NOT_FOUND if not
 * (an absent store binds nothing). */
int kw_attest_bind_lookup(const char *path, const uint8_t *ek_spki,
    size_t ek_spki_len, const uint8_t *ak_name, size_t ak_name_len);

/* ---- Evidence messages (attest_cbor.c) -------------------------------- */

#define KW_ATTEST_EVIDENCE_MAX	(512u * 1024u)
#define KW_ATTEST_X5C_MAX	8
#define KW_ATTEST_OS_MAX	32

/* One evidence message, decoded.  Byte fields point into the decoder's
 * copy (owned by the struct; kw_attest_evidence_free) or, when encoding,
 * into the caller's buffers. */
struct kw_attest_bytes {
	const uint8_t *p;
	size_t len;
};
struct kw_attest_evidence {
	/* attStmt: WebAuthn "tpm" statement + keyward's akPub */
	struct kw_attest_bytes x5c[KW_ATTEST_X5C_MAX];	/* EK cert, chain */
	size_t nx5c;
	struct kw_attest_bytes ak_pub;	/* TPMT_PUBLIC of the AK */
	int has_certify;
	int64_t alg;			/* COSE alg of sig */
	struct kw_attest_bytes cert_info, cert_sig, pub_area;
	/* keyward-posture map, version 1 */
	int has_posture;
	uint64_t time;			/* seconds since the epoch (device) */
	struct kw_attest_bytes quote, quote_sig, pcr_values, event_log;
	struct kw_attest_bytes os_key[KW_ATTEST_OS_MAX];
	struct kw_attest_bytes os_val[KW_ATTEST_OS_MAX];
	size_t nos;
	void *priv;			/* decoder's storage */
};
/* Encode ev: *out malloc'd. */
int kw_attest_evidence_encode(const struct kw_attest_evidence *ev,
    uint8_t **out, size_t *out_len);
/* Decode strictly: definite lengths, no tags, no duplicate or unknown
 * keys, nesting and sizes bounded, nothing trailing.  KW_ERR_PARSE if not. */
int kw_attest_evidence_decode(const uint8_t *buf, size_t len,
    struct kw_attest_evidence *out);
void kw_attest_evidence_free(struct kw_attest_evidence *ev);

/* ---- The one entry point (attest_verify.c) ----------------------------- */

struct kw_attest_request {
	const struct kw_attest_policy *policy;
	const uint8_t *nonce;		/* the verifier's nonce (may be empty) */
	size_t nonce_len;
	const uint8_t *exporter;	/* TLS exporter value, NULL if none */
	size_t exporter_len;
	const uint8_t *key_spki;	/* CSR / client certificate key, or NULL */
	size_t key_spki_len;
	const char *binding_store;	/* NULL: EK -> AK binding not required */
	uint32_t pcr_mask;		/* PCRs the quote must cover (0: any) */
	int require_certify, require_quote;
	time_t now;			/* 0: time(NULL) */
};
struct kw_attest_claims {
	struct kw_attest_tpm_id tpm;
	uint8_t ak_name[2 + 64];
	size_t ak_name_len;
	int ak_bound;			/* AK found bound to the EK in the
					 * binding store (0: not asked) */
	int key_attested;		/* certify checked */
	int posture;			/* quote checked */
	struct kw_attest_pcrs pcrs;
	uint64_t time;
	/* the posture map's OS facts: what the device says, not the TPM
	 * (printable ASCII, anything else as '?') */
	struct {
		char key[64 + 1];
		char val[256 + 1];
	} os[KW_ATTEST_OS_MAX];
	size_t nos;
	/* the event log, replayed and matched to the quote (0: none sent) */
	int event_log;
	int secure_boot;		/* enum kw_secure_boot of the log */
	/* a refusal's failing claim in one line ("secure boot off"), when
	 * there is more to say than kw_attest_reason_str */
	char why[160];
};
/* Verify evidence against req: KW_OK and claims filled when every check
 * passed; KW_ERR_ATTEST with *reason the first failing check; another
 * negative code for a local failure (memory, unreadable ek-ca). */
int kw_attest_verify(const struct kw_attest_request *req, const uint8_t *ev,
    size_t ev_len, struct kw_attest_claims *claims,
    enum kw_attest_reason *reason);

#endif
