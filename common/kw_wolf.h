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
 * software.  The key stays owned by the caller and must outlive the device.
 * All devices share one wolfSSL devId (wolfSSL has room for only 8): what
 * tells them apart is the key id, kw_dev_key_id(). */
int kw_dev_new(struct kw_key *key, struct kw_dev **out);
int kw_dev_id(const struct kw_dev *dev);
/* Opaque id that wolfSSL_CTX_use_PrivateKey_id() and wc_*_init_id() take. */
const unsigned char *kw_dev_key_id(const struct kw_dev *dev, int *len);
struct kw_key *kw_dev_key(const struct kw_dev *dev);
void kw_dev_free(struct kw_dev *dev);
/* Load the device's key into a WOLFSSL_CTX (passed as void *) by id, with
 * the right key size, and install the PK callback that makes RSA-PSS
 * signatures (TLS 1.3 CertificateVerify) through the key. */
int kw_dev_use_in_ctx(struct kw_dev *dev, void *wolf_ctx);
/* The KW_ERR_* of the device's last signature (KW_OK if it succeeded or
 * none was made): why a handshake failed when the key could not sign. */
int kw_dev_last_error(const struct kw_dev *dev);

/* Parse a PKCS#1 v1.5 type 1 block (00 01 FF.. 00 DigestInfo) strictly:
 * at least 8 FF bytes, DigestInfo for SHA-256/384/512 with NULL parameters
 * and exactly the digest after it.  KW_ERR_PARSE otherwise. */
int kw_rsa_pkcs1_parse(const uint8_t *blk, size_t len, enum kw_hash *hash,
    const uint8_t **digest);

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
