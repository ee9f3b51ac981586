/* attest/ internals: shared between the files of attest/ only. */
#ifndef KW_ATTEST_INT_H
#define KW_ATTEST_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"

/* Unmarshal exactly len bytes (nothing may trail): KW_ERR_PARSE if not. */
int attest_parse_public(const uint8_t *p, size_t len, TPMT_PUBLIC *out);
int attest_parse_attest(const uint8_t *p, size_t len, TPMS_ATTEST *out);
int attest_parse_signature(const uint8_t *p, size_t len, TPMT_SIGNATURE *out);

/* Digest size and wolfCrypt hash type of a TPM hash algorithm; 0 / -1 if
 * not one we take (SHA-256, SHA-384, SHA-512). */
size_t attest_hash_size(TPM2_ALG_ID alg);
int attest_wc_hash(TPM2_ALG_ID alg);
/* out = H_alg(p); out has room for 64 bytes. */
int attest_hash(TPM2_ALG_ID alg, const uint8_t *p, size_t len, uint8_t *out);

/* SHA-256 of an EK SubjectPublicKeyInfo: the binding store's key. */
int attest_ek_key_id(const uint8_t *spki, size_t len, uint8_t out[32]);

#endif
