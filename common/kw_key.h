/* The key interface: the only way TLS, CSR and enrollment code reach a key.
 *
 * A backend (tpm/, pkcs11/) fills one `static const struct kw_key_ops` and
 * wraps its private state with kw_key_new().  Private key material never
 * crosses this interface: only public keys, digests, signatures and (for
 * RSA keys made with decrypt usage, for SCEP) ciphertexts and what the
 * token decrypted them to do. */
#ifndef KW_KEY_H
#define KW_KEY_H

#include <stddef.h>
#include <stdint.h>

struct kw_key;

enum kw_key_alg {
	KW_ALG_NONE = 0,
	KW_ALG_EC_P256,
	KW_ALG_EC_P384,
	KW_ALG_RSA2048,
	KW_ALG_RSA3072,
};

enum kw_hash {
	KW_HASH_NONE = 0,
	KW_HASH_SHA256,
	KW_HASH_SHA384,
	KW_HASH_SHA512,
};

enum kw_sig_scheme {
	KW_SIG_ECDSA = 1,	/* out: raw r||s, each half the field size */
	KW_SIG_RSA_PKCS1,	/* RSASSA-PKCS1-v1_5 over DigestInfo(hash) */
	KW_SIG_RSA_PSS,		/* RSASSA-PSS, MGF1 with the same hash,
				 * salt length = digest length (TLS 1.3) */
};

/* What a new key may do (keygen --usage).  Every keyward key signs;
 * decryption (RSA only) is asked for explicitly: SCEP (RFC 8894) encrypts
 * the CA's answer to the key of the request.  0 means KW_USAGE_SIGN. */
#define KW_USAGE_SIGN		0x1u
#define KW_USAGE_DECRYPT	0x2u

/* The sentence every refusal to decrypt with a sign-only key ends with. */
#define KW_KEY_SIGN_ONLY_HINT "this key was made for signing only; SCEP " \
	"needs `keyward keygen --alg rsa2048 --usage sign,decrypt`"

/* Largest values any supported key produces. */
#define KW_MAX_PUBKEY_DER	600	/* RSA-3072 SPKI is 422 bytes */
#define KW_MAX_SIG		512	/* RSA-4096 would be 512 */
#define KW_MAX_DIGEST		64

struct kw_key_ops {
	const char *name;	/* "tpm", "pkcs11" */
	/* DER SubjectPublicKeyInfo.  *len: in, buffer size; out, bytes used. */
	int (*public_key)(void *impl, uint8_t *der, size_t *len);
	/* Sign a digest of length kw_hash_len(hash).  *sig_len: in, buffer
	 * size; out, bytes used.  See enum kw_sig_scheme for the format. */
	int (*sign)(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash,
	    const uint8_t *digest, size_t digest_len,
	    uint8_t *sig, size_t *sig_len);
	/* One human line: backend, token/TPM, object, algorithm. */
	int (*describe)(void *impl, char *buf, size_t len);
	/* Release everything the backend holds for this key. */
	void (*close)(void *impl);
	/* Optional (NULL = all schemes the algorithm allows): can this key
	 * make this kind of signature?  Returns KW_OK or KW_ERR_UNSUPPORTED
	 * (and may log why, e.g. a token without PSS). */
	int (*supports)(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash);
	/* Optional (NULL = unknown): is the key's device there now?  KW_OK
	 * or KW_ERR_TOKEN_ABSENT, asked of the slot, without waiting for a
	 * signature in progress. */
	int (*present)(void *impl);
	/* Optional (NULL = this backend cannot decrypt): RSAES-PKCS1-v1_5
	 * decryption inside the token.  in_len is the modulus length (the
	 * caller checked); *out_len: in, buffer size; out, bytes of
	 * plaintext.  in == NULL: only say whether this key may decrypt.
	 * A key made without decrypt usage: KW_ERR_UNSUPPORTED, logged with
	 * KW_KEY_SIGN_ONLY_HINT.  A ciphertext that does not decrypt (bad
	 * padding, not for this key): KW_ERR_CRYPTO. */
	int (*decrypt)(void *impl, const uint8_t *in, size_t in_len,
	    uint8_t *out, size_t *out_len);
};

/* Why this thread's next signatures are made, for the signer's audit log
 * (common/kw_signer.h): set by the code that starts a handshake, a CSR, a
 * JWS.  who (tunnel, peer; may be NULL) is copied, at most 200 bytes,
 * control characters replaced.  Thread-local: it never crosses threads. */
enum kw_key_purpose {
	KW_PURPOSE_UNKNOWN = 0,
	KW_PURPOSE_HANDSHAKE,
	KW_PURPOSE_CSR,
	KW_PURPOSE_JWS,
	KW_PURPOSE_SCEP,
	KW_PURPOSE_MAX = KW_PURPOSE_SCEP,
};
void kw_key_purpose_set(enum kw_key_purpose purpose, const char *who);
void kw_key_purpose_get(enum kw_key_purpose *purpose, const char **who);

/* Wrap backend state.  On failure (NOMEM) ops->close(impl) has been called. */
int kw_key_new(const struct kw_key_ops *ops, void *impl, enum kw_key_alg alg,
    struct kw_key **out);

/* The backend state of key if it was made with ops, else NULL (a backend
 * reaching its own key, e.g. tpm/ lending the key's TPM connection). */
void *kw_key_impl(const struct kw_key *key, const struct kw_key_ops *ops);

int kw_key_public_der(struct kw_key *key, uint8_t *der, size_t *len);
/* Every call is counted (kw_key_sign_count), successful or not. */
int kw_key_sign(struct kw_key *key, enum kw_sig_scheme scheme,
    enum kw_hash hash, const uint8_t *digest, size_t digest_len,
    uint8_t *sig, size_t *sig_len);
int kw_key_supports(struct kw_key *key, enum kw_sig_scheme scheme,
    enum kw_hash hash);
int kw_key_describe(struct kw_key *key, char *buf, size_t len);
/* RSAES-PKCS1-v1_5 decryption by the token (SCEP's CertRep envelope).
 * in: exactly the modulus length (else KW_ERR_CRYPTO).  *out_len: in,
 * buffer size; out, bytes of plaintext (KW_ERR_SPACE: buffer too small,
 * nothing written).  The plaintext is a secret: the caller wipes it.
 * KW_ERR_UNSUPPORTED (logged: KW_KEY_SIGN_ONLY_HINT) for EC keys, backends
 * without decryption and keys made for signing only; KW_ERR_CRYPTO for a
 * ciphertext the key does not decrypt.  Callers must treat every failure
 * alike toward the peer (no padding oracle) and never retry on their own.
 * Counted apart from signatures (kw_key_decrypt_count). */
int kw_key_decrypt(struct kw_key *key, const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len);
/* KW_OK if kw_key_decrypt can work with this key (asks the backend, which
 * looks at the key's attributes; no decryption is made), else as above. */
int kw_key_can_decrypt(struct kw_key *key);
/* KW_OK (there), KW_ERR_TOKEN_ABSENT (card out) or KW_ERR_UNSUPPORTED
 * (the backend cannot tell). */
int kw_key_present(struct kw_key *key);
enum kw_key_alg kw_key_alg(const struct kw_key *key);
const char *kw_key_backend(const struct kw_key *key);
/* Signatures made by the token through this key (successful ones). */
uint64_t kw_key_sign_count(const struct kw_key *key);
uint64_t kw_key_sign_failures(const struct kw_key *key);
/* 1 when the last signature failed because the token is out of reach
 * (KW_ERR_TOKEN_ABSENT: the backend reported that, once per outage, and
 * said it retries) or was refused by the signer's sign-rate (KW_ERR_BUSY:
 * said here, once per episode of refusals); callers log it at debug
 * level only (not one line per handshake).  The first signature after
 * the outage, and the end of the episode with its count, are logged. */
int kw_key_failure_said(const struct kw_key *key);
/* Cumulative wall time spent inside successful signatures, microseconds. */
uint64_t kw_key_sign_usec(const struct kw_key *key);
/* How fast this key signs now: the quickest of its last few successful
 * signatures, microseconds (one delayed by a busy CPU does not count,
 * a token that turned slow shows after a few); 0 before its first. */
uint64_t kw_key_recent_sign_usec(const struct kw_key *key);
/* Decryptions made by the token through this key: successful ones, and
 * refused ones (wrong ciphertext, token trouble; not "unsupported"). */
uint64_t kw_key_decrypt_count(const struct kw_key *key);
uint64_t kw_key_decrypt_failures(const struct kw_key *key);
void kw_key_close(struct kw_key *key);

/* Helpers on the enums. */
int kw_alg_is_rsa(enum kw_key_alg alg);
int kw_alg_bits(enum kw_key_alg alg);		/* 256, 384, 2048, 3072 */
const char *kw_alg_name(enum kw_key_alg alg);	/* "ec-p256", ... */
enum kw_key_alg kw_alg_from_name(const char *name);	/* KW_ALG_NONE if unknown */
size_t kw_hash_len(enum kw_hash hash);
const char *kw_hash_name(enum kw_hash hash);

#endif
