/* Internals of the TPM backend, shared by the files in tpm/ and by the unit
 * tests.  Nothing outside tpm/ and tests/ includes this. */
#ifndef TPM_INT_H
#define TPM_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_common.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tpm2_types.h>

#include "kw_key.h"

struct tpm_opts;

/* OID 2.23.133.10.1.3: a TSS2 key file holding a loadable key. */
#define TPM_KEYFILE_MAX		16384	/* a key file is < 2 KiB; refuse more */
#define TPM_SRK_TEMPLATE_PARENT	TPM2_RH_OWNER	/* 0x40000001 */
#define TPM_SRK_PERSISTENT	0x81000001u

/* A parsed TSS2 PRIVATE KEY (TSSPRIVKEY). */
struct tpm_keyblob {
	int empty_auth;		/* 1: emptyAuth TRUE; 0: absent or FALSE */
	uint32_t parent;	/* 0x40000001 (template SRK) or 0x81XXXXXX */
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
};

/* tpm_keyfile.c: strict, bounded parsers (the input is whatever a user
 * hands us) and the writer.  Parsers return KW_ERR_PARSE on anything
 * malformed, KW_ERR_UNSUPPORTED for valid files using features keyward does
 * not implement (TPM policies, importable or sealed keys). */
int tpm_keyfile_from_der(const uint8_t *der, size_t len,
    struct tpm_keyblob *out);
int tpm_keyfile_from_pem(const uint8_t *pem, size_t len,
    struct tpm_keyblob *out);
/* PEM text in a fresh NUL-terminated buffer (free with free()). */
int tpm_keyfile_to_pem(const struct tpm_keyblob *kb, char **pem,
    size_t *pem_len);

/* tpm_pubkey.c */
/* Which keyward algorithm a TPM public area is (KW_ALG_NONE: unsupported). */
enum kw_key_alg tpm_pub_alg(const TPMT_PUBLIC *pub);
/* DER SubjectPublicKeyInfo of a TPM public area. */
int tpm_pub_spki(const TPMT_PUBLIC *pub, uint8_t *der, size_t *len);
/* The template of a signing key of this algorithm (noDA unless the key
 * gets an auth value). */
int tpm_pub_key_template(enum kw_key_alg alg, int with_auth,
    TPM2B_PUBLIC *out);
/* The TCG standard ECC P-256 storage root key template. */
void tpm_pub_srk_template(TPM2B_PUBLIC *out);
/* 1 if pub was made from the SRK template (unique aside). */
int tpm_pub_is_srk_template(const TPMT_PUBLIC *pub);

/* tpm_rc.c: the one TSS2_RC translator.  Logs one line saying what failed
 * (what), on what (obj: key file, handle or NULL) and what to do, with the
 * Tss2_RC_Decode text and the raw value; returns a KW_ERR_*.  tcti names
 * the TPM for "cannot reach" messages. */
struct tpm_rcctx {
	const char *what;	/* "loading the key", "signing" */
	const char *obj;	/* "key file /x/k.pem", "handle 0x81000002" */
	const char *tcti;	/* TCTI config or NULL (default) */
	int is_file;		/* obj is a key file (wrong-TPM wording) */
	int is_owner;		/* the auth in question is the owner's */
};
int tpm_rc_err(TSS2_RC rc, const struct tpm_rcctx *c);
/* The KW_ERR_* for rc, without logging. */
int tpm_rc_map(TSS2_RC rc);
/* rc means the TPM connection is gone. */
int tpm_rc_is_disconnect(TSS2_RC rc);
/* rc means the connection is gone or the TPM lost our loaded key (it
 * restarted): worth one reconnect and reload. */
int tpm_rc_is_key_lost(TSS2_RC rc);
/* rc means the TPM is out of object or session slots (0x902, 0x903,
 * 0x904: other programs hold them) or asks to be asked again: worth
 * waiting a little and retrying. */
int tpm_rc_is_busy(TSS2_RC rc);
/* rc is TPM2_RSA_Decrypt refusing the ciphertext: TPM_RC_VALUE or
 * TPM_RC_SIZE (the specification's answers to bad padding or a value out
 * of range), or TPM_RC_FAILURE, which libtpms (swtpm) returns when its
 * crypto library rejects the padding.  A TPM really in failure mode fails
 * every command after this one too, and those say so. */
int tpm_rc_is_undecryptable(TSS2_RC rc);

/* tpm_key.c, for the other files of tpm/ (tpm_attest.c): a connection
 * chosen and opened exactly as keys open theirs (--tcti, $TPM2TOOLS_TCTI,
 * $TCTI, the tctildr default), and a key (file or persistent handle)
 * loaded on it for one command. */
/* The EK certificates a TPM holds, as tpm_attest_ek_certs read them over
 * a key's connection, kept by that key until the connection is dropped
 * (a TPM that went away may come back as another): they are fixed in the
 * TPM's NV, and reading them costs ~20 TPM commands, a third of a
 * posture check's. */
#define TPM_EK_CACHE_MAX	8	/* more than the profiles keyward knows */
struct tpm_ek_cache {
	int valid;
	size_t n;
	struct {
		uint32_t nv_index;
		const char *profile;	/* static */
		uint8_t *der;		/* malloc'd */
		size_t der_len;
	} c[TPM_EK_CACHE_MAX];
};
void tpm_ek_cache_clear(struct tpm_ek_cache *c);	/* tpm_key.c */

struct tpm_conn {
	char *tcti;			/* NULL: tctildr default */
	TSS2_TCTI_CONTEXT *tcti_ctx;
	ESYS_CONTEXT *esys;
	struct tpm_ek_cache *ekc;	/* a key's connection: its cache;
					 * NULL: read every time */
};
int tpm_conn_open(const char *tcti, struct tpm_conn *out);
void tpm_conn_close(struct tpm_conn *c);	/* a zeroed one is fine */

struct tpm_loaded {
	ESYS_TR tr;		/* ESYS_TR_NONE: nothing loaded */
	int transient;		/* tr must be flushed (else closed) */
	ESYS_TR sess;		/* the key's auth session: ESYS_TR_PASSWORD,
				 * or an HMAC session to flush */
	TPM2B_PUBLIC pub;
};
/* Load spec ("PATH" or "0x81XXXXXX") on c: the key file is read and
 * loaded under its SRK (flushed again before this returns), or the
 * persistent handle opened; auth from opts.  Any key type (the caller
 * checks pub).  Release with tpm_key_unload on every path. */
int tpm_key_load_on(struct tpm_conn *c, const char *spec,
    const struct tpm_opts *opts, struct tpm_loaded *out);
void tpm_key_unload(struct tpm_conn *c, struct tpm_loaded *l);

/* tpm_tcti_count.c: a TCTI in front of the loader's that counts the
 * commands sent (tpm_key.c opens every connection through it).  wrap
 * takes inner over (freed by tpm_tcti_count_free, also for a context that
 * is not a wrapper: then the loader's own). */
int tpm_tcti_count_wrap(TSS2_TCTI_CONTEXT *inner, TSS2_TCTI_CONTEXT **out);
uint64_t tpm_tcti_count_sent(TSS2_TCTI_CONTEXT *ctx);
void tpm_tcti_count_free(TSS2_TCTI_CONTEXT **ctx);

/* Run fn on the TPM connection of key (a TPM kw_key), under the key's
 * lock, connecting first if the key lost its connection: a TPM without
 * a resource manager serves one connection at a time, so attestation
 * work for the key's own process goes over the key's.  The key itself
 * holds no object slot between its uses without a resource manager.
 * KW_ERR_UNSUPPORTED if key is not a TPM key. */
int tpm_key_with_conn(struct kw_key *key,
    int (*fn)(struct tpm_conn *c, void *arg), void *arg);

#endif
