/* Shared inside pkcs11/ only: the module registry, the CK_RV translator,
 * slot/token lookup, login, and the small DER helpers. */
#ifndef P11_INTERNAL_H
#define P11_INTERNAL_H

#include <p11-kit/pkcs11.h>

#include <stddef.h>
#include <stdint.h>

#include "kw_key.h"
#include "p11_key.h"
#include "p11_uri.h"

/* ---- p11_module.c: one owner of each module per process ---- */
struct p11_module;

/* Load (or find already loaded) the module for a URI: its module-path,
 * else module-name, else opts->module, else OpenSC.  C_Initialize'd with
 * CKF_OS_LOCKING_OK; stays loaded until p11_shutdown(). */
int p11_module_get(const struct p11_uri *u, const struct p11_opts *opts,
    struct p11_module **out);
CK_FUNCTION_LIST *p11_module_fn(const struct p11_module *m);
/* Hold around every use of the module's functions and handles. */
void p11_module_enter(struct p11_module *m);
void p11_module_leave(struct p11_module *m);
/* Session and object handles are valid only within one generation. */
unsigned long p11_module_gen(struct p11_module *m);
/* C_Finalize + C_Initialize (only a module keyward initialized, at most
 * once a second): some modules (SoftHSM2) see a token that came back only
 * after this.  Call without holding p11_module_enter. */
int p11_module_refresh(struct p11_module *m);
/* 1 while a refresh could not initialize the module again (call with the
 * module entered): no handle of it may be used, refresh again. */
int p11_module_down(struct p11_module *m);
const char *p11_module_path(const struct p11_module *m);

/* ---- p11_rv.c: the one CK_RV translator ---- */
/* Log "what: CKR_NAME (0xN)" (error level for unexpected codes, debug for
 * the ones callers explain) and return a KW_ERR_*. */
int p11_rv_err(CK_RV rv, const char *what);
const char *p11_rv_name(CK_RV rv);
/* 1 for the codes that mean the token or our session is gone. */
int p11_rv_gone(CK_RV rv);

/* ---- p11_token.c: slots, tokens, sessions, login ---- */
struct p11_token {
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
	char label[33];
	char serial[17];
	char manufacturer[33];
	char model[17];
};

/* Find the one token that matches the URI's library/slot/token attributes
 * (and, when serial/label are given, exactly those: re-finding a token
 * after removal).  KW_ERR_TOKEN_ABSENT when none is present, KW_ERR_ARG
 * when several match (the message lists them). */
int p11_token_find(struct p11_module *m, const struct p11_uri *u,
    const char *serial, const char *label, struct p11_token *out);
/* The same without the "not present" message (the caller retries). */
int p11_token_find_quiet(struct p11_module *m, const struct p11_uri *u,
    const char *serial, const char *label, struct p11_token *out);

/* How to get the PIN for a login. */
struct p11_auth {
	const struct p11_uri *uri;	/* pin-source / pin-value */
	p11_pin_fn pin_fn;
	void *pin_arg;
	int risk_final_try;
	int *pin_failed;		/* latch: set on a wrong PIN, then no
					 * C_Login is ever attempted again */
	const char *state_dir;		/* refused PINs remembered here, per
					 * token serial (NULL: this latch only) */
	/* The PIN that last worked, as HMAC-SHA256 under a random key of
	 * the caller's (no PIN is kept): set after each successful login;
	 * with relogin set, only a PIN with this digest is sent. */
	const uint8_t *ok_key;		/* 32 bytes; NULL: not tracked */
	uint8_t *ok_digest;		/* 32 bytes */
	int *have_ok;
	int relogin;
};

/* Open a session (rw or not) on the token and log the user in (unless the
 * token needs no login or the application is already logged in).  The
 * rules: PIN locked -> KW_ERR_PIN_LOCKED without trying; final try ->
 * KW_ERR_PIN_LOW unless a->risk_final_try; one C_Login only; a pin pad
 * gets a NULL PIN.  *session is valid only on KW_OK. */
int p11_session_login(struct p11_module *m, struct p11_token *t, int rw,
    const struct p11_auth *a, CK_SESSION_HANDLE *session);
/* Log the user in on an open session, with the same rules (used again
 * after the token logged us out). */
int p11_token_login(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
    struct p11_token *t, const struct p11_auth *a);

/* Objects matching a template (at most max handles). */
int p11_find(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
    CK_ULONG n, CK_OBJECT_HANDLE *found, CK_ULONG max, CK_ULONG *count);
/* One attribute into a fresh buffer (NUL-terminated for convenience). */
int p11_attr_get(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len);
/* A CK_BBOOL attribute; *val = -1 when the token does not have it. */
int p11_attr_bool(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, int *val);
int p11_attr_ulong(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_ULONG *val);

/* ---- p11_der.c: DER for public keys and certificates (common/kw_der) ---- */
/* The curve of a DER OID in CKA_EC_PARAMS (KW_ALG_NONE if unknown). */
enum kw_key_alg p11_ec_alg(const uint8_t *params, size_t len);
/* DER OID for CKA_EC_PARAMS; NULL for non-EC algorithms. */
const uint8_t *p11_ec_params(enum kw_key_alg alg, size_t *len);
/* SPKI from CKA_EC_POINT (DER OCTET STRING or raw point). */
int p11_spki_ec(enum kw_key_alg alg, const uint8_t *point, size_t plen,
    uint8_t *der, size_t *der_len);
int p11_spki_rsa(const uint8_t *n, size_t nlen, const uint8_t *e,
    size_t elen, uint8_t *der, size_t *der_len);
/* The algorithm of a DER SPKI (KW_ALG_NONE if not one we support). */
enum kw_key_alg p11_spki_alg(const uint8_t *der, size_t len);
/* Parts of a certificate (whole TLVs, pointing into cert). */
struct p11_cert_parts {
	const uint8_t *serial, *issuer, *subject, *spki;
	size_t serial_len, issuer_len, subject_len, spki_len;
};
int p11_cert_parse(const uint8_t *cert, size_t len, struct p11_cert_parts *out);
/* DigestInfo prefix for PKCS#1 v1.5 (NULL for an unknown hash). */
const uint8_t *p11_digest_info(enum kw_hash hash, size_t *len);

#endif
