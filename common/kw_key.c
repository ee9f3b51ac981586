#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_cancel.h"
#include "kw_key.h"
#include "kw_log.h"

#define KW_KEY_RECENT	8

struct kw_key {
	const struct kw_key_ops *ops;
	void *impl;
	enum kw_key_alg alg;
	/* Counters may be read by the status thread while a worker signs. */
	atomic_uint_fast64_t signs;
	atomic_uint_fast64_t failures;
	atomic_uint_fast64_t sign_usec;
	/* The last KW_KEY_RECENT successful signatures' times,
	 * microseconds (0: none yet), and where the next one goes.  Two
	 * threads racing may overwrite one sample: it is a hint. */
	atomic_uint_fast64_t recent_usec[KW_KEY_RECENT];
	atomic_uint recent_next;
	atomic_uint_fast64_t decrypts;
	atomic_uint_fast64_t decrypt_failures;
	/* Failed signatures in a row while the token is out of reach
	 * (KW_ERR_TOKEN_ABSENT): the backend reports the outage, once;
	 * callers do not repeat it (kw_key_failure_said); the first success
	 * after them is reported here. */
	atomic_uint_fast64_t absent_streak;
	/* Signatures refused by the signer's sign-rate (KW_ERR_BUSY) in
	 * the episode under way (0: none), and when the last one was: the
	 * episode is said here once when it starts, and once, with the
	 * count, at the first signature made KW_BUSY_QUIET_USEC after its
	 * last refusal (a flood's few signatures the rate lets through do
	 * not end it).  last_said: the last signature failed in an outage
	 * or an episode that was said (kw_key_failure_said). */
	atomic_uint_fast64_t busy_refused;
	atomic_uint_fast64_t busy_last_usec;
	atomic_int last_said;
};

#define KW_BUSY_QUIET_USEC	1000000u

static _Thread_local enum kw_key_purpose kw_key_tl_purpose;
static _Thread_local char kw_key_tl_who[201];

void
kw_key_purpose_set(enum kw_key_purpose purpose, const char *who)
{
	size_t i;

	kw_key_tl_purpose = purpose;
	kw_key_tl_who[0] = '\0';
	if (who == NULL)
		return;
	for (i = 0; who[i] != '\0' && i < sizeof(kw_key_tl_who) - 1; i++)
		kw_key_tl_who[i] = (unsigned char)who[i] < 0x20 ||
		    who[i] == 0x7f ? '?' : who[i];
	kw_key_tl_who[i] = '\0';
}

void
kw_key_purpose_get(enum kw_key_purpose *purpose, const char **who)
{
	*purpose = kw_key_tl_purpose;
	*who = kw_key_tl_who;
}

int
kw_key_new(const struct kw_key_ops *ops, void *impl, enum kw_key_alg alg,
    struct kw_key **out)
{
	struct kw_key *key;
	size_t i;

	*out = NULL;
	if ((key = calloc(1, sizeof(*key))) == NULL) {
		ops->close(impl);
		return KW_ERR_NOMEM;
	}
	key->ops = ops;
	key->impl = impl;
	key->alg = alg;
	atomic_init(&key->signs, 0);
	atomic_init(&key->failures, 0);
	atomic_init(&key->sign_usec, 0);
	for (i = 0; i < KW_KEY_RECENT; i++)
		atomic_init(&key->recent_usec[i], 0);
	atomic_init(&key->recent_next, 0);
	atomic_init(&key->decrypts, 0);
	atomic_init(&key->decrypt_failures, 0);
	atomic_init(&key->absent_streak, 0);
	atomic_init(&key->busy_refused, 0);
	atomic_init(&key->busy_last_usec, 0);
	atomic_init(&key->last_said, 0);
	*out = key;
	return KW_OK;
}

void *
kw_key_impl(const struct kw_key *key, const struct kw_key_ops *ops)
{
	return key != NULL && key->ops == ops ? key->impl : NULL;
}

int
kw_key_public_der(struct kw_key *key, uint8_t *der, size_t *len)
{
	if (key == NULL || key->ops->public_key == NULL)
		return KW_ERR_UNSUPPORTED;
	return key->ops->public_key(key->impl, der, len);
}


/* The key as a log line names it: its description, else its backend. */
static void
kw_key_name(struct kw_key *key, char *desc, size_t len)
{
	if (kw_key_describe(key, desc, len) != KW_OK)
		snprintf(desc, len, "%s key", key->ops->name);
}

/* A signature refused by sign-rate (the signer's KW_ERR_BUSY): the
 * first of an episode is said, naming the key and what it was for. */
static void
kw_key_busy(struct kw_key *key)
{
	enum kw_key_purpose p;
	const char *who;
	char desc[256];

	atomic_store(&key->busy_last_usec, kw_now_usec());
	if (atomic_fetch_add(&key->busy_refused, 1) > 0)
		return;
	kw_key_name(key, desc, sizeof(desc));
	kw_key_purpose_get(&p, &who);
	kw_warn("the %s: signatures refused by sign-rate from now (first "
	    "for %s): what needs one fails (a tunnel's handshake) until the "
	    "rate drops; counted as refused in `keyward status` and "
	    "keyward_signer_refused_total; said again when it signs again",
	    desc, *who ? who : "(unknown)");
}

/* A signature made: the episode of refusals ends once the last of them
 * is KW_BUSY_QUIET_USEC old, said with their count. */
static void
kw_key_busy_end(struct kw_key *key)
{
	char desc[256];
	uint64_t n;

	if (atomic_load(&key->busy_refused) == 0 || kw_now_usec() -
	    atomic_load(&key->busy_last_usec) < KW_BUSY_QUIET_USEC)
		return;
	if ((n = atomic_exchange(&key->busy_refused, 0)) == 0)
		return;
	kw_key_name(key, desc, sizeof(desc));
	kw_info("the %s signs again: %llu signatures refused by sign-rate",
	    desc, (unsigned long long)n);
}

int
kw_key_sign(struct kw_key *key, enum kw_sig_scheme scheme, enum kw_hash hash,
    const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len)
{
	char desc[256];
	uint64_t t0, d, n;
	int r;

	if (key == NULL || key->ops->sign == NULL)
		return KW_ERR_UNSUPPORTED;
	if (digest_len != kw_hash_len(hash) &&
	    !(scheme == KW_SIG_ECDSA && digest_len > 0 &&
	    digest_len <= KW_MAX_DIGEST))
		return KW_ERR_ARG;
	if (kw_alg_is_rsa(key->alg) == (scheme == KW_SIG_ECDSA))
		return KW_ERR_UNSUPPORTED;
	t0 = kw_now_usec();
	r = key->ops->sign(key->impl, scheme, hash, digest, digest_len,
	    sig, sig_len);
	if (r == KW_OK) {
		d = kw_now_usec() - t0;
		atomic_fetch_add(&key->signs, 1);
		atomic_fetch_add(&key->sign_usec, d);
		atomic_store(&key->recent_usec[atomic_fetch_add(
		    &key->recent_next, 1) % KW_KEY_RECENT], d > 0 ? d : 1);
		atomic_store(&key->last_said, 0);
		if ((n = atomic_exchange(&key->absent_streak, 0)) > 0 &&
		    kw_key_describe(key, desc, sizeof(desc)) == KW_OK)
			kw_info("the %s signs again (%llu signatures failed "
			    "while it was out of reach)", desc,
			    (unsigned long long)n);
		kw_key_busy_end(key);
	} else {
		atomic_fetch_add(&key->failures, 1);
		if (r == KW_ERR_TOKEN_ABSENT)
			atomic_fetch_add(&key->absent_streak, 1);
		else
			atomic_store(&key->absent_streak, 0);
		if (r == KW_ERR_BUSY)
			kw_key_busy(key);
		atomic_store(&key->last_said, r == KW_ERR_BUSY ||
		    atomic_load(&key->absent_streak) > 0);
	}
	return r;
}

int
kw_key_failure_said(const struct kw_key *key)
{
	return key != NULL &&
	    atomic_load(&((struct kw_key *)key)->last_said) != 0;
}

/* Refusals kw_key_decrypt makes before asking the backend: EC keys and
 * backends without decryption.  Logged with the hint. */
static int
kw_key_decrypt_refused(struct kw_key *key)
{
	char desc[256];

	if (kw_alg_is_rsa(key->alg) && key->ops->decrypt != NULL)
		return KW_OK;
	if (kw_key_describe(key, desc, sizeof(desc)) != KW_OK)
		snprintf(desc, sizeof(desc), "%s key", key->ops->name);
	if (!kw_alg_is_rsa(key->alg))
		kw_err("cannot decrypt with %s: an %s key cannot decrypt "
		    "(RSA only); %s", desc, kw_alg_name(key->alg),
		    KW_KEY_SIGN_ONLY_HINT);
	else
		kw_err("cannot decrypt with %s: the %s backend cannot "
		    "decrypt; %s", desc, key->ops->name, KW_KEY_SIGN_ONLY_HINT);
	return KW_ERR_UNSUPPORTED;
}

int
kw_key_can_decrypt(struct kw_key *key)
{
	size_t n = 0;
	int r;

	if (key == NULL)
		return KW_ERR_ARG;
	if ((r = kw_key_decrypt_refused(key)) != KW_OK)
		return r;
	return key->ops->decrypt(key->impl, NULL, 0, NULL, &n);
}

int
kw_key_decrypt(struct kw_key *key, const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len)
{
	uint8_t buf[KW_MAX_SIG];
	size_t n = sizeof(buf), cap, mod;
	char desc[256];
	int r;

	if (key == NULL || in == NULL || out == NULL || out_len == NULL)
		return KW_ERR_ARG;
	cap = *out_len;
	*out_len = 0;
	if ((r = kw_key_decrypt_refused(key)) != KW_OK)
		return r;
	mod = (size_t)kw_alg_bits(key->alg) / 8;
	if (in_len != mod) {
		if (kw_key_describe(key, desc, sizeof(desc)) != KW_OK)
			snprintf(desc, sizeof(desc), "%s key", key->ops->name);
		kw_err("cannot decrypt with %s: the ciphertext is %zu bytes, "
		    "an %s key decrypts exactly %zu (a damaged message, or "
		    "one not encrypted to this key)", desc, in_len,
		    kw_alg_name(key->alg), mod);
		atomic_fetch_add(&key->decrypt_failures, 1);
		return KW_ERR_CRYPTO;
	}
	r = key->ops->decrypt(key->impl, in, in_len, buf, &n);
	if (r == KW_OK && n > sizeof(buf))
		r = KW_ERR_CRYPTO;	/* a backend bug: never trust it */
	if (r == KW_OK && n > cap)
		r = KW_ERR_SPACE;
	if (r == KW_OK) {
		memcpy(out, buf, n);
		*out_len = n;
		atomic_fetch_add(&key->decrypts, 1);
	} else if (r != KW_ERR_UNSUPPORTED)
		atomic_fetch_add(&key->decrypt_failures, 1);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

int
kw_key_present(struct kw_key *key)
{
	if (key == NULL || key->ops->present == NULL)
		return KW_ERR_UNSUPPORTED;
	return key->ops->present(key->impl);
}

int
kw_key_supports(struct kw_key *key, enum kw_sig_scheme scheme,
    enum kw_hash hash)
{
	if (kw_alg_is_rsa(key->alg) == (scheme == KW_SIG_ECDSA))
		return KW_ERR_UNSUPPORTED;
	if (key->ops->supports == NULL)
		return KW_OK;
	return key->ops->supports(key->impl, scheme, hash);
}

int
kw_key_describe(struct kw_key *key, char *buf, size_t len)
{
	if (len > 0)
		buf[0] = '\0';
	if (key == NULL || key->ops->describe == NULL)
		return KW_ERR_UNSUPPORTED;
	return key->ops->describe(key->impl, buf, len);
}

enum kw_key_alg
kw_key_alg(const struct kw_key *key)
{
	return key->alg;
}

const char *
kw_key_backend(const struct kw_key *key)
{
	return key->ops->name;
}

uint64_t
kw_key_sign_count(const struct kw_key *key)
{
	return atomic_load(&((struct kw_key *)key)->signs);
}

uint64_t
kw_key_sign_failures(const struct kw_key *key)
{
	return atomic_load(&((struct kw_key *)key)->failures);
}

uint64_t
kw_key_sign_usec(const struct kw_key *key)
{
	return atomic_load(&((struct kw_key *)key)->sign_usec);
}

uint64_t
kw_key_recent_sign_usec(const struct kw_key *key)
{
	uint64_t v, min = 0;
	size_t i;

	for (i = 0; key != NULL && i < KW_KEY_RECENT; i++) {
		v = atomic_load(&((struct kw_key *)key)->recent_usec[i]);
		if (v != 0 && (min == 0 || v < min))
			min = v;
	}
	return min;
}

uint64_t
kw_key_decrypt_count(const struct kw_key *key)
{
	return atomic_load(&((struct kw_key *)key)->decrypts);
}

uint64_t
kw_key_decrypt_failures(const struct kw_key *key)
{
	return atomic_load(&((struct kw_key *)key)->decrypt_failures);
}

void
kw_key_close(struct kw_key *key)
{
	if (key == NULL)
		return;
	if (key->ops->close != NULL)
		key->ops->close(key->impl);
	free(key);
}

static const struct {
	enum kw_key_alg alg;
	const char *name;
	int bits;
	int rsa;
} kw_algs[] = {
	{ KW_ALG_EC_P256, "ec-p256", 256, 0 },
	{ KW_ALG_EC_P384, "ec-p384", 384, 0 },
	{ KW_ALG_RSA2048, "rsa2048", 2048, 1 },
	{ KW_ALG_RSA3072, "rsa3072", 3072, 1 },
};

#define KW_NALGS (sizeof(kw_algs) / sizeof(kw_algs[0]))

int
kw_alg_is_rsa(enum kw_key_alg alg)
{
	size_t i;

	for (i = 0; i < KW_NALGS; i++)
		if (kw_algs[i].alg == alg)
			return kw_algs[i].rsa;
	return 0;
}

int
kw_alg_bits(enum kw_key_alg alg)
{
	size_t i;

	for (i = 0; i < KW_NALGS; i++)
		if (kw_algs[i].alg == alg)
			return kw_algs[i].bits;
	return 0;
}

const char *
kw_alg_name(enum kw_key_alg alg)
{
	size_t i;

	for (i = 0; i < KW_NALGS; i++)
		if (kw_algs[i].alg == alg)
			return kw_algs[i].name;
	return "unknown";
}

enum kw_key_alg
kw_alg_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < KW_NALGS; i++)
		if (strcmp(kw_algs[i].name, name) == 0)
			return kw_algs[i].alg;
	return KW_ALG_NONE;
}

size_t
kw_hash_len(enum kw_hash hash)
{
	switch (hash) {
	case KW_HASH_SHA256:
		return 32;
	case KW_HASH_SHA384:
		return 48;
	case KW_HASH_SHA512:
		return 64;
	default:
		return 0;
	}
}

const char *
kw_hash_name(enum kw_hash hash)
{
	switch (hash) {
	case KW_HASH_SHA256:
		return "sha256";
	case KW_HASH_SHA384:
		return "sha384";
	case KW_HASH_SHA512:
		return "sha512";
	default:
		return "none";
	}
}
