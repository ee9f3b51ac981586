/* A client's posture evidence from its TPM (issue 12): what the tunnel's
 * posture seam runs in a single process and what the signer process runs
 * for `keyward run`'s network process (KW_SGN_OP_POSTURE_*).
 *
 * Everything goes over the TLS key's own TPM connection, under its lock
 * (tpm_attest_with_key): a TPM without a resource manager serves one
 * connection at a time.  Specs are as tpm_attest takes them (PATH or
 * 0x81XXXXXX, no "tpm:"). */
#ifndef KW_KEYS_POSTURE_TPM_H
#define KW_KEYS_POSTURE_TPM_H

#include <stddef.h>
#include <stdint.h>

#include "kw_key.h"

/* "tpm:PATH" -> "PATH"; NULL if ref is not a TPM reference. */
const char *kw_posture_tpm_spec(const char *ref);

/* Certify(tls_key by the AK) + Quote(PCRs 0-7) with qd, the first EK
 * certificate and the AK's public area, as attest/'s CBOR evidence, with
 * the event log log (may be NULL/0: none).  auth_file: the TLS key's
 * auth value file, or NULL.  *tpm_cmds: TPM commands sent. */
int kw_posture_tpm_evidence(struct kw_key *tls_key, const char *ak_spec,
    const char *key_spec, const char *auth_file, const char *tcti,
    const uint8_t *qd, size_t qd_len, const uint8_t *log, size_t log_len,
    uint8_t **ev, size_t *ev_len, unsigned *tpm_cmds);

/* ActivateCredential with the EK: blob and secret as the posture protocol
 * carries them (TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET, size first).
 * cred is a secret: the caller wipes it. */
int kw_posture_tpm_activate(struct kw_key *tls_key, const char *ak_spec,
    const uint8_t *blob, size_t blob_len, const uint8_t *secret,
    size_t secret_len, uint8_t *cred, size_t *cred_len, unsigned *tpm_cmds);

#endif
