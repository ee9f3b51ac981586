/* A software kw_key backend for unit tests ONLY: wolfCrypt keys in process
 * memory.  It exists so the wolfSSL device, TLS contexts and CSR code can be
 * tested without a token; it is never linked into the keyward binary. */
#ifndef SOFT_KEY_H
#define SOFT_KEY_H

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include "kw_key.h"

struct soft_key;

/* Generate a fresh key (RSA-3072 takes a few seconds). */
int soft_key_new(enum kw_key_alg alg, struct kw_key **out,
    struct soft_key **impl);

/* Make every following signature fail with err (KW_OK: sign again). */
void soft_key_set_fail(struct soft_key *sk, int err);
/* Pretend the token cannot make RSA-PSS signatures. */
void soft_key_set_no_pss(struct soft_key *sk, int no_pss);
/* Signatures made per scheme (index enum kw_sig_scheme). */
unsigned soft_key_count(const struct soft_key *sk, enum kw_sig_scheme s);
/* The wolfCrypt key (for making test certificates), NULL if other type. */
ecc_key *soft_key_ecc(struct soft_key *sk);
RsaKey *soft_key_rsa(struct soft_key *sk);
WC_RNG *soft_key_rng(struct soft_key *sk);

#endif
