/* PLACEHOLDER: TLS contexts (replace this whole file). */
#include "kw_error.h"
#include "kw_tls.h"

int kw_tls_ctx_new(const struct kw_tls_conf *conf, struct kw_tls_ctx **out)
{ (void)conf; *out = NULL; return KW_ERR_UNSUPPORTED; }
void kw_tls_ctx_free(struct kw_tls_ctx *ctx) { (void)ctx; }
void *kw_tls_ctx_wolf(struct kw_tls_ctx *ctx) { (void)ctx; return NULL; }
int kw_tls_connect(struct kw_tls_ctx *ctx, const char *hostport,
    const char *servername, int timeout_ms, struct WOLFSSL **ssl_out)
{ (void)ctx; (void)hostport; (void)servername; (void)timeout_ms; *ssl_out = NULL; return KW_ERR_UNSUPPORTED; }
uint64_t kw_tls_full_handshakes(const struct kw_tls_ctx *ctx) { (void)ctx; return 0; }
uint64_t kw_tls_resumed_handshakes(const struct kw_tls_ctx *ctx) { (void)ctx; return 0; }
