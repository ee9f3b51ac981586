/* TPM identity and evidence (issue 12): the TPM side of key attestation
 * and device posture.  Everything here hands out the TPM's own wire
 * formats, byte for byte what tpm2-tools writes:
 *   TPMS_ATTEST     the contents of TPM2B_ATTEST (tpm2_quote -m,
 *                   tpm2_certify -o)
 *   TPMT_SIGNATURE  Tss2_MU marshalled (tpm2_quote -s, tpm2_certify -s
 *                   without -f plain)
 *   TPMT_PUBLIC     Tss2_MU marshalled (no TPM2B size prefix)
 *   EK certificates DER as read from NV (trailing padding removed)
 *   PCR values      the sha256 bank, 32 bytes per selected PCR in index
 *                   order (tpm2_quote -o with -F values)
 * Parsing and verifying them is attest/'s job, not this module's.
 *
 * One struct tpm_attest is one connection to the TPM (TCTI chosen as for
 * keys).  Each call loads what it needs (SRK, AK, device key, EK, policy
 * session), uses it and flushes it before it returns, on every path: a
 * TPM without a resource manager (swtpm, /dev/tpm0) never holds more than
 * three transient objects for keyward, and none once a call returns.
 *
 * AK and device key specs are as tpm_key_open takes them: a TSS2 PRIVATE
 * KEY file path or a persistent handle "0x81XXXXXX" (no "tpm:" prefix).
 *
 * Errors are logged once (one line: what, on what, what to do) and
 * returned as KW_ERR_*; see tpm_key.h for the TPM-wide ones. */
#ifndef TPM_ATTEST_H
#define TPM_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include "kw_key.h"

struct tpm_opts;
struct tpm_attest;

#define TPM_ATTEST_MAX		2048	/* marshalled TPMS_ATTEST */
#define TPM_ATTEST_SIG_MAX	1024	/* marshalled TPMT_SIGNATURE */
#define TPM_ATTEST_PUB_MAX	1024	/* marshalled TPMT_PUBLIC */
#define TPM_ATTEST_NAME_MAX	68	/* TPM2B_NAME contents: alg + digest */
#define TPM_ATTEST_QUAL_MAX	64	/* qualifying data (nonce) */
#define TPM_ATTEST_CRED_MAX	64	/* an activated credential */
#define TPM_PCR_COUNT		24
#define TPM_PCR_DEFAULT_MASK	0xffu	/* PCRs 0-7 */

/* One EK certificate found in NV. */
struct tpm_ek_cert {
	uint32_t nv_index;	/* 0x01c00002, 0x01c0000a, 0x01c00012... */
	const char *profile;	/* "L-1 RSA 2048", "H-3 ECC NIST P-384" */
	uint8_t *der;		/* malloc'd */
	size_t der_len;
};

/* What a TPM signed: TPM2_Certify or TPM2_Quote. */
struct tpm_evidence {
	uint8_t attest[TPM_ATTEST_MAX];		/* TPMS_ATTEST */
	size_t attest_len;
	uint8_t sig[TPM_ATTEST_SIG_MAX];	/* TPMT_SIGNATURE */
	size_t sig_len;
	/* certify: the certified key's TPMT_PUBLIC and name */
	uint8_t pub[TPM_ATTEST_PUB_MAX];
	size_t pub_len;
	uint8_t name[TPM_ATTEST_NAME_MAX];
	size_t name_len;
	/* quote: the PCRs quoted (bit i = PCR i, sha256 bank) and their
	 * values, read around the quote and equal to what it covers */
	uint32_t pcr_mask;
	uint8_t pcr[TPM_PCR_COUNT][32];
};

/* Connect (opts->tcti as for keys; opts may be NULL). */
int tpm_attest_open(const struct tpm_opts *opts, struct tpm_attest **out);
void tpm_attest_close(struct tpm_attest *a);	/* NULL is fine */

/* Run fn with a struct tpm_attest on the TPM connection of key (a TPM
 * kw_key, e.g. a tunnel's TLS key), under the key's lock: for a process
 * that already holds the TPM's one connection (swtpm, /dev/tpm0 without
 * a resource manager serve one at a time; a second would block).  a is
 * valid only inside fn; do not close it.  KW_ERR_UNSUPPORTED if key is
 * not a TPM key. */
int tpm_attest_with_key(struct kw_key *key,
    int (*fn)(struct tpm_attest *a, void *arg), void *arg);

/* TPM commands sent on a's connection so far (for the posture metric:
 * read before and after). */
uint64_t tpm_attest_cmds(const struct tpm_attest *a);

/* "IBM 'SW   TPM' firmware 8217.4131.22.13878 (spec 1.59)": the TPM's
 * manufacturer, vendor strings and firmware version, for a describe line. */
int tpm_attest_describe(struct tpm_attest *a, char *buf, size_t len);

/* Every EK certificate in NV at the EK Credential Profile's indices (low
 * range L-1 RSA 2048, L-2 ECC P-256; high range H-1 RSA 2048, H-2 ECC
 * P-256, H-3 ECC P-384, H-6 RSA 3072), read in chunks of at most
 * TPM2_PT_NV_BUFFER_MAX.  *n may be 0 (a TPM without certificates: not
 * an error).  Free with tpm_attest_ek_certs_free. */
int tpm_attest_ek_certs(struct tpm_attest *a, struct tpm_ek_cert **certs,
    size_t *n);
void tpm_attest_ek_certs_free(struct tpm_ek_cert *certs, size_t n);

/* The EK whose certificate is at nv_index (0: the first one present, RSA
 * before ECC, low range before high): a persistent EK (0x81010000-
 * 0x8101ffff) whose key is the certificate's, else one created from the
 * profile's template for that index (or the template/nonce the TPM keeps in
 * NV) under the endorsement hierarchy.  Its TPMT_PUBLIC, name, and the
 * index used.  KW_ERR_KEY_MISMATCH if its public key is not the
 * certificate's.  A created EK is flushed before this returns. */
int tpm_attest_ek_public(struct tpm_attest *a, uint32_t nv_index,
    uint8_t *pub, size_t *pub_len, uint8_t *name, size_t *name_len,
    uint32_t *nv_used);

/* Create the attestation key: a restricted signing key (ECC P-256 ECDSA
 * SHA-256, or RSA 2048 RSASSA SHA-256 / RSA-PSS SHA-256 with pss set)
 * fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign,
 * under the SRK like device keys: a TSS2 key file written 0600 atomically
 * (or the persistent handle).  Refuses an existing file/handle
 * (KW_ERR_EXISTS) unless force (a file only: replaced atomically).
 * name: the AK's name (nameAlg || digest of its public area). */
int tpm_attest_ak_create(struct tpm_attest *a, const char *spec,
    enum kw_key_alg alg, int pss, int force, uint8_t *name,
    size_t *name_len);

/* The AK's TPMT_PUBLIC, its name and its SubjectPublicKeyInfo DER (any
 * output may be NULL with its length).  Refuses a key that is not a
 * restricted signing key (KW_ERR_UNSUPPORTED). */
int tpm_attest_ak_public(struct tpm_attest *a, const char *ak,
    uint8_t *pub, size_t *pub_len, uint8_t *name, size_t *name_len,
    uint8_t *spki, size_t *spki_len);

/* TPM2_Certify of the device key `key` (key_opts: its auth value; may be
 * NULL) by the AK over qual (≤ 64 bytes): attest, sig, and the key's
 * pub and name. */
int tpm_attest_certify(struct tpm_attest *a, const char *ak,
    const char *key, const struct tpm_opts *key_opts, const uint8_t *qual,
    size_t qual_len, struct tpm_evidence *out);

/* TPM2_Quote by the AK over the sha256 PCRs in pcr_mask (0: PCRs 0-7)
 * with qual: attest, sig, pcr_mask and pcr[] (read, quoted, read again;
 * retried if a PCR changed in between). */
int tpm_attest_quote(struct tpm_attest *a, const char *ak,
    uint32_t pcr_mask, const uint8_t *qual, size_t qual_len,
    struct tpm_evidence *out);

/* TPM2_ActivateCredential: the credential a verifier made for this AK and
 * the EK at ek_nv (0: as tpm_attest_ek_public) with TPM2_MakeCredential.
 * blob: TPM2B_ID_OBJECT contents, secret: TPM2B_ENCRYPTED_SECRET
 * contents.  The EK is authorized with its policy (PolicySecret on the
 * endorsement hierarchy) or, for the high-range templates (userWithAuth),
 * its empty auth value.  cred is a secret: the caller wipes it.
 * KW_ERR_CRYPTO: the credential was not made for this AK and EK. */
int tpm_attest_activate(struct tpm_attest *a, const char *ak,
    uint32_t ek_nv, const uint8_t *blob, size_t blob_len,
    const uint8_t *secret, size_t secret_len, uint8_t *cred,
    size_t *cred_len);

#endif
