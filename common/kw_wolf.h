/* The wolfSSL side of the key interface: a crypto-callback device that
 * sends every private-key operation to a struct kw_key, and the one
 * translator of wolfSSL error codes.
 *
 * Include <wolfssl/options.h> before this header (every wolfSSL user does). */
#ifndef KW_WOLF_H
#define KW_WOLF_H

#include "kw_key.h"

struct kw_dev;

/* Register a crypto-callback device whose every private-key operation
 * (ECDSA sign, RSA private op for PKCS#1 v1.5 and PSS) is made by key.
 * Everything else gets CRYPTOCB_UNAVAILABLE, so wolfSSL does it in
 * software.  The key stays owned by the caller and must outlive the device. */
int kw_dev_new(struct kw_key *key, struct kw_dev **out);
int kw_dev_id(const struct kw_dev *dev);
/* Opaque id that wolfSSL_CTX_use_PrivateKey_id() and wc_*_init_id() take. */
const unsigned char *kw_dev_key_id(const struct kw_dev *dev, int *len);
struct kw_key *kw_dev_key(const struct kw_dev *dev);
void kw_dev_free(struct kw_dev *dev);

/* Translate a wolfSSL/wolfCrypt return code: logs "what: wolfSSL error N
 * (text)" at debug level and returns a KW_ERR_*. */
int kw_wolf_err(int wolf_ret, const char *what);

/* Start-up self-check: the wolfSSL library we run with is the one we were
 * compiled against (version and build options).  Fails clearly otherwise. */
int kw_wolf_init(void);
/* The comparison behind kw_wolf_init (common/kw_wolf_check.c). */
int kw_wolf_selfcheck(void);
void kw_wolf_cleanup(void);

#endif
