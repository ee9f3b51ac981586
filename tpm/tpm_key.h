/* TPM 2.0 key backend (tpm2-tss ESAPI).  Reached only through keyref.c;
 * everything else sees the key as a struct kw_key. */
#ifndef TPM_KEY_H
#define TPM_KEY_H

#include "kw_key.h"

struct tpm_opts {
	/* TCTI config string ("swtpm:host=...,port=...", "device:/dev/tpmrm0");
	 * NULL: TPM2TOOLS_TCTI, then TCTI, then the tctildr default. */
	const char *tcti;
	/* Optional key auth value (already read from a file or prompt;
	 * the backend copies and wipes its copy on close). */
	const char *auth;
};

/* spec: a file path (TSS2 PRIVATE KEY PEM) or "0x81XXXXXX" (persistent).
 * generate refuses to overwrite an existing file (KW_ERR_EXISTS) or
 * persistent handle. */
int tpm_key_generate(const char *spec, enum kw_key_alg alg,
    const struct tpm_opts *opts, struct kw_key **out);
int tpm_key_open(const char *spec, const struct tpm_opts *opts,
    struct kw_key **out);
/* Remove a key (file or persistent handle): used by rekeying. */
int tpm_key_delete(const char *spec, const struct tpm_opts *opts);

#endif
