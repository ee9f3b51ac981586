/* PLACEHOLDER: the TPM backend (replace this whole file). */
#include "kw_error.h"
#include "tpm_key.h"

int tpm_key_generate(const char *spec, enum kw_key_alg alg,
    const struct tpm_opts *opts, struct kw_key **out)
{ (void)spec; (void)alg; (void)opts; *out = NULL; return KW_ERR_UNSUPPORTED; }
int tpm_key_open(const char *spec, const struct tpm_opts *opts,
    struct kw_key **out)
{ (void)spec; (void)opts; *out = NULL; return KW_ERR_UNSUPPORTED; }
int tpm_key_delete(const char *spec, const struct tpm_opts *opts)
{ (void)spec; (void)opts; return KW_ERR_UNSUPPORTED; }
