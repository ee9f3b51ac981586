/* PLACEHOLDER: CSR building (replace this whole file). */
#include <stdlib.h>

#include "kw_error.h"
#include "csr.h"

int kw_csr_make(struct kw_key *key, const struct kw_csr_req *req,
    uint8_t **der, size_t *der_len)
{ (void)key; (void)req; *der = NULL; *der_len = 0; return KW_ERR_UNSUPPORTED; }
int kw_csr_pem(const uint8_t *der, size_t der_len, char **pem)
{ (void)der; (void)der_len; *pem = NULL; return KW_ERR_UNSUPPORTED; }
