/* PKCS#11 key backend (smart cards via OpenSC, HSMs, SoftHSM2,
 * tpm2-pkcs11).  Reached only through keyref.c. */
#ifndef P11_KEY_H
#define P11_KEY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kw_key.h"

/* Where a PIN comes from when the URI has no pin-source.  Returns a fresh
 * NUL-terminated string the backend wipes and frees (kw_free_secret), or
 * NULL with *err set.  prompt names the token ("PIN for token 'X': "). */
typedef char *(*p11_pin_fn)(void *arg, const char *prompt, int *err);

struct p11_opts {
	const char *module;		/* --module / config; NULL: URI or OpenSC */
	p11_pin_fn pin_fn;		/* NULL: only pin-source works */
	void *pin_arg;
	int allow_exportable;		/* --allow-exportable-key */
	int risk_final_try;		/* log in even on the last PIN try */
	const char *state_dir;		/* where refused PINs are remembered
					 * (per token serial); NULL: per key */
	unsigned usage;			/* p11_key_generate: KW_USAGE_* (0:
					 * sign only) */
	/* p11_list only */
	int login;			/* log in to show private objects */
	const char *pin_file;		/* PIN for --login (else pin_fn) */
};

int p11_key_generate(const char *uri, enum kw_key_alg alg,
    const struct p11_opts *opts, struct kw_key **out);
int p11_key_open(const char *uri, const struct p11_opts *opts,
    struct kw_key **out);
int p11_key_delete(const char *uri, const struct p11_opts *opts);

/* The certificate stored next to the key (same CKA_ID), DER, malloc'd. */
int p11_cert_read(const char *uri, const struct p11_opts *opts,
    uint8_t **der, size_t *der_len);
/* The certificate object a URI names (object= label and/or id=; type=cert
 * or none), DER, malloc'd.  KW_ERR_ARG when several match.  A key URI
 * (type=private): the certificate stored next to the key (p11_cert_read). */
int p11_cert_find(const char *uri, const struct p11_opts *opts,
    uint8_t **der, size_t *der_len);
/* Store a certificate on the token next to the key (same CKA_ID, label). */
int p11_cert_store(const char *uri, const struct p11_opts *opts,
    const uint8_t *der, size_t der_len);

/* `keyward tokens`: print slots, tokens, keys and certificates with URIs. */
int p11_list(const struct p11_opts *opts, FILE *out);

/* Finalize and unload every module (end of process, after every key
 * is closed). */
void p11_shutdown(void);

#endif
