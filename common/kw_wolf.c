/* PLACEHOLDER: the wolfSSL crypto-callback device (replace this file). */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_wolf.h"

int kw_dev_new(struct kw_key *key, struct kw_dev **out)
{ (void)key; *out = NULL; return KW_ERR_UNSUPPORTED; }
int kw_dev_id(const struct kw_dev *dev) { (void)dev; return -2; }
const unsigned char *kw_dev_key_id(const struct kw_dev *dev, int *len)
{ (void)dev; *len = 0; return NULL; }
struct kw_key *kw_dev_key(const struct kw_dev *dev) { (void)dev; return NULL; }
void kw_dev_free(struct kw_dev *dev) { (void)dev; }
int kw_wolf_err(int wolf_ret, const char *what)
{ kw_debug("%s: wolfSSL error %d", what, wolf_ret); return KW_ERR_TLS; }
int kw_wolf_init(void) { int r = kw_wolf_selfcheck(); if (r != KW_OK) return r; return wolfSSL_Init() == WOLFSSL_SUCCESS ? KW_OK : KW_ERR_TLS; }
void kw_wolf_cleanup(void) { wolfSSL_Cleanup(); }
