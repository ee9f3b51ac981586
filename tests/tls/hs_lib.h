/* What the handshake benchmarks share (see hs_lib.c). */
#ifndef KW_HS_LIB_H
#define KW_HS_LIB_H

#include <wolfssl/options.h>

#include <stddef.h>
#include <stdint.h>

#include "kw_key.h"
#include "kw_tls.h"
#include "tests/unit/soft_key.h"

/* "PROGRAM: what" on stderr and exit 1. */
void hs_die(const char *what) __attribute__((noreturn));

/* A certificate (DER, its length returned) for key, signed by ca with
 * ca_der as issuer, or self-signed (a CA) when ca_der is NULL. */
int hs_cert_for(struct kw_key *key, struct soft_key *ca,
    const uint8_t *ca_der, int ca_len, uint8_t *out, size_t size);

/* A TLS context for side with key and a certificate for it from ca;
 * peers verified against ca_file, client certificates required. */
struct kw_tls_ctx *hs_ctx_for(enum kw_tls_side side, struct kw_key *key,
    struct soft_key *ca, const uint8_t *ca_der, int ca_len,
    const char *ca_file, int min_v, int max_v);

/* One full handshake between the two contexts (dies if it fails). */
void hs_handshake(struct kw_tls_ctx *cctx, struct kw_tls_ctx *sctx);

#endif
