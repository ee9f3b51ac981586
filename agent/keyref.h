/* Key references: one string names a key everywhere.
 *   tpm:PATH           TSS2 PRIVATE KEY PEM file made by `keyward keygen`
 *   tpm:0x81XXXXXX     TPM persistent handle
 *   pkcs11:...         RFC 7512 URI
 * This is the only place that knows both backends. */
#ifndef KW_KEYREF_H
#define KW_KEYREF_H

#include "kw_key.h"

struct kw_keyref_opts {
	const char *tcti;		/* TPM: --tcti */
	const char *auth_file;		/* TPM: key auth value file */
	const char *module;		/* PKCS#11: --module */
	int allow_exportable;		/* PKCS#11: --allow-exportable-key */
};

int kw_keyref_open(const char *ref, const struct kw_keyref_opts *opts,
    struct kw_key **out);
int kw_keyref_generate(const char *ref, enum kw_key_alg alg,
    const struct kw_keyref_opts *opts, struct kw_key **out);
int kw_keyref_delete(const char *ref, const struct kw_keyref_opts *opts);
/* Release process-wide backend state (PKCS#11 modules) at exit. */
void kw_keyref_shutdown(void);

#endif
