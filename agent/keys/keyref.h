/* Key references: one string names a key everywhere.
 *   tpm:PATH           TSS2 PRIVATE KEY PEM file made by `keyward keygen`
 *   tpm:0x81XXXXXX     TPM persistent handle
 *   pkcs11:...         RFC 7512 URI
 * This is the only place that knows both backends. */
#ifndef KW_KEYREF_H
#define KW_KEYREF_H

#include <stddef.h>
#include <stdint.h>

#include "kw_key.h"

struct kw_signer;

struct kw_keyref_opts {
	const char *tcti;		/* TPM: --tcti */
	const char *auth_file;		/* TPM: key auth value file */
	const char *module;		/* PKCS#11: --module */
	int allow_exportable;		/* PKCS#11: --allow-exportable-key */
	unsigned usage;			/* generate: KW_USAGE_* (0: sign);
					 * decrypt is for RSA keys only */
};

int kw_keyref_open(const char *ref, const struct kw_keyref_opts *opts,
    struct kw_key **out);
int kw_keyref_generate(const char *ref, enum kw_key_alg alg,
    const struct kw_keyref_opts *opts, struct kw_key **out);
int kw_keyref_delete(const char *ref, const struct kw_keyref_opts *opts);
/* ---- identity renewal and certificate storage (issue 5) ---- */
/* The reference a renewal's new key gets, derived from the old one:
 * tpm:DIR/k.pem -> tpm:DIR/k.2.pem -> tpm:DIR/k.3.pem; pkcs11:...;object=L
 * -> object=L-2 (id= dropped so the token assigns a fresh one).
 * KW_ERR_UNSUPPORTED for persistent TPM handles and URIs without object=. */
int kw_keyref_next_name(const char *ref, char *out, size_t len);
/* 1 when ref names an existing key (a key file is only checked for). */
int kw_keyref_exists(const char *ref, const struct kw_keyref_opts *opts);
/* 1 when ref carries a secret (a pkcs11: URI with pin-value): such a
 * reference must not be written to a file keyward keeps. */
int kw_keyref_has_pin(const char *ref);
/* 1 when certificates can be stored on the key's token (PKCS#11). */
int kw_keyref_can_store_cert(const char *ref);
/* Store a certificate (DER) on the token next to the key. */
int kw_keyref_store_cert(const char *ref, const struct kw_keyref_opts *opts,
    const uint8_t *der, size_t der_len);

/* Where keyward keeps what it must remember between runs (the PINs a
 * token refused): $KEYWARD_STATE_DIR, systemd's $STATE_DIRECTORY,
 * /var/lib/keyward for root, else $XDG_STATE_HOME/keyward or
 * ~/.local/state/keyward.  NULL when none can be named. */
const char *kw_keyref_state_dir(char *buf, size_t len);

/* ---- certificates (one loader for every place a certificate is read) ----
 * cert is a file (PEM or DER: its first certificate), or a pkcs11: URI of a
 * certificate object on a token; NULL with a pkcs11: key_ref means the
 * certificate stored next to the key (same CKA_ID and public key).
 * *der is malloc'd. */
int kw_keyref_cert_load(const char *cert, const char *key_ref,
    const struct kw_keyref_opts *opts, uint8_t **der, size_t *der_len);
/* 1 when that certificate comes from a token (not a file). */
int kw_keyref_cert_on_token(const char *cert, const char *key_ref);

/* `keyward run`'s network process: from now on every key operation of
 * this process goes to the signer process (common/kw_signer.h), which
 * takes TCTI, module and auth file from its own configuration and
 * ignores those of kw_keyref_opts.  Called once, before any thread
 * starts: a process mode like the log level, the one mutable global of
 * this room (threading a handle through identities, renewal and tunnel
 * generations would change every caller for no gain: a process has one
 * signer or none). */
void kw_keyref_use_signer(struct kw_signer *s);
struct kw_signer *kw_keyref_signer(void);

/* Release process-wide backend state (PKCS#11 modules) at exit. */
void kw_keyref_shutdown(void);

#endif
