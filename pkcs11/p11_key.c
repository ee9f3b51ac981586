/* PLACEHOLDER: the PKCS#11 backend (replace this whole file). */
#include "kw_error.h"
#include "p11_key.h"

int p11_key_generate(const char *uri, enum kw_key_alg alg,
    const struct p11_opts *opts, struct kw_key **out)
{ (void)uri; (void)alg; (void)opts; *out = NULL; return KW_ERR_UNSUPPORTED; }
int p11_key_open(const char *uri, const struct p11_opts *opts,
    struct kw_key **out)
{ (void)uri; (void)opts; *out = NULL; return KW_ERR_UNSUPPORTED; }
int p11_key_delete(const char *uri, const struct p11_opts *opts)
{ (void)uri; (void)opts; return KW_ERR_UNSUPPORTED; }
int p11_cert_read(const char *uri, const struct p11_opts *opts,
    uint8_t **der, size_t *der_len)
{ (void)uri; (void)opts; *der = NULL; *der_len = 0; return KW_ERR_UNSUPPORTED; }
int p11_cert_store(const char *uri, const struct p11_opts *opts,
    const uint8_t *der, size_t der_len)
{ (void)uri; (void)opts; (void)der; (void)der_len; return KW_ERR_UNSUPPORTED; }
int p11_list(const struct p11_opts *opts, FILE *out)
{ (void)opts; (void)out; return KW_ERR_UNSUPPORTED; }
void p11_shutdown(void) {}
