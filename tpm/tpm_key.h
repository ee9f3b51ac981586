/* TPM 2.0 key backend (tpm2-tss ESAPI).  Reached only through keyref.c;
 * everything else sees the key as a struct kw_key.
 *
 * Keys are made inside the TPM (ECC P-256/P-384, RSA-2048/3072) with
 * fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|sign, scheme NULL
 * (chosen per signature); keys without an auth value are also noDA
 * (nothing to guess, and lockout would stop them signing).  RSA keys made
 * with KW_USAGE_DECRYPT (for SCEP) carry decrypt as well (still
 * unrestricted) and decrypt RSAES-PKCS1-v1_5 with TPM2_RSA_Decrypt; no
 * other key decrypts.  The parent
 * is the TCG ECC P-256 SRK template under the owner hierarchy (or that SRK
 * persisted at 0x81000001): files interoperate with tpm2-openssl,
 * tpm2-tss-engine and tpm2-tools.
 *
 * A kw_key keeps one ESYS context and the key loaded until kw_key_close;
 * calls are serialized by a mutex; a lost connection or a restarted TPM
 * is reconnected (and the key reloaded) once per call.  supports() for
 * RSA-PSS makes one probe signature per hash and checks its salt length
 * equals the digest length (TLS 1.3); if not, KW_ERR_PSS_SALT.
 *
 * Errors (each logged once, in one line that says what to do):
 *   KW_ERR_TOKEN_ABSENT   TPM unreachable over the TCTI
 *   KW_ERR_CONFIG         TCTI string unusable
 *   KW_ERR_WRONG_TPM      key file made by another TPM, or TPM cleared
 *   KW_ERR_PIN_INCORRECT  wrong auth value (never retried)
 *   KW_ERR_PIN_LOCKED     TPM in dictionary-attack lockout (never retried)
 *   KW_ERR_PIN_REQUIRED   the key has an auth value and none was given
 *   KW_ERR_EXISTS         generate: file or persistent handle exists
 *   KW_ERR_NOT_FOUND      key file or persistent handle absent
 *   KW_ERR_PARSE          not a TSS2 PRIVATE KEY file
 *   KW_ERR_KEY_MISMATCH   a persistent handle now holds another key */
#ifndef TPM_KEY_H
#define TPM_KEY_H

#include "kw_key.h"

struct tpm_opts {
	/* TCTI config string ("swtpm:host=...,port=...", "device:/dev/tpmrm0");
	 * NULL: TPM2TOOLS_TCTI, then TCTI, then the tctildr default. */
	const char *tcti;
	/* Optional key auth value (already read from a file or prompt;
	 * the backend copies and wipes its copy on close). */
	const char *auth;
	/* tpm_key_generate: KW_USAGE_* (0: sign only). */
	unsigned usage;
};

/* spec: a file path (TSS2 PRIVATE KEY PEM) or "0x81XXXXXX" (persistent,
 * 0x81000000-0x817fffff).  generate refuses to overwrite an existing file
 * (KW_ERR_EXISTS) or persistent handle; the file is written 0600. */
int tpm_key_generate(const char *spec, enum kw_key_alg alg,
    const struct tpm_opts *opts, struct kw_key **out);
int tpm_key_open(const char *spec, const struct tpm_opts *opts,
    struct kw_key **out);
/* Remove a key (file or persistent handle): used by rekeying.  Only a
 * TSS2 key file or a persistent unrestricted signing key (which may also
 * decrypt) is removed, nothing else. */
int tpm_key_delete(const char *spec, const struct tpm_opts *opts);

#endif
