/* The PKCS#11 key backend: keys generated on or found in a token, used
 * through one logged-in session per key for the key's whole life.
 *
 * A key remembers its token by serial and label, its object by CKA_ID, and
 * its public key.  When the token goes away (card pulled, SoftHSM token
 * directory gone) the failing call is reported as KW_ERR_TOKEN_ABSENT and
 * the session dropped; the next use finds the token again, opens a session,
 * logs in once more (never with a PIN the token refused) and checks that the
 * key there is the same public key.  A token that logged our session out
 * (a signature fails, C_GetSessionInfo shows a public session) gets one new
 * login, only with the PIN that worked before. */
#include <sys/random.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "p11_internal.h"

#define P11_ID_LEN	16

struct p11_key {
	struct p11_module *mod;
	CK_FUNCTION_LIST *f;
	pthread_mutex_t lock;		/* one PKCS#11 session: one user */
	struct p11_uri *uri;
	/* login */
	p11_pin_fn pin_fn;
	void *pin_arg;
	int risk_final_try;
	int pin_failed;
	char *state_dir;		/* refused PINs remembered here */
	uint8_t pin_key[32];		/* random: keys ok_digest */
	uint8_t ok_digest[32];		/* HMAC of the PIN that last worked */
	int have_ok;
	int allow_exportable;
	/* where the key lives */
	struct p11_token tok;
	/* for p11_op_present, read without k->lock: the slot last seen
	 * (atomic) and the serial (set once, at open) */
	unsigned long present_slot;
	char present_serial[17];
	CK_SESSION_HANDLE session;
	int have_session;
	int absent_said;		/* "not present" said; until it signs */
	unsigned long gen;		/* module generation of session */
	CK_OBJECT_HANDLE priv;
	uint8_t *id;
	size_t id_len;
	char *label;
	/* what it is */
	enum kw_key_alg alg;
	uint8_t spki[KW_MAX_PUBKEY_DER];
	size_t spki_len;
	int mech_known, mech_ecdsa, mech_rsa_pkcs, mech_rsa_pss;
	int mech_rsa_decrypt;		/* CKM_RSA_PKCS with CKF_DECRYPT */
	int can_decrypt;		/* CKA_DECRYPT: 1, 0, -1 not said */
	unsigned usage;			/* generate: KW_USAGE_* */
	int pss_warned;
	int exportable;			/* allowed with a warning */
};

static void
p11_key_free(struct p11_key *k)
{
	if (k == NULL)
		return;
	if (k->have_session) {
		p11_module_enter(k->mod);
		if (k->gen == p11_module_gen(k->mod))
			(void)k->f->C_CloseSession(k->session);
		p11_module_leave(k->mod);
	}
	pthread_mutex_destroy(&k->lock);
	p11_uri_free(k->uri);
	free(k->state_dir);
	explicit_bzero(k->pin_key, sizeof(k->pin_key));
	explicit_bzero(k->ok_digest, sizeof(k->ok_digest));
	free(k->id);
	free(k->label);
	free(k);
}

/* Parse the URI and load its module; nothing touches the token yet. */
static int
p11_key_alloc(const char *uri, const struct p11_opts *opts,
    struct p11_key **out)
{
	struct p11_key *k = NULL;
	char msg[300];
	int r;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&k->lock, NULL);
	if ((r = p11_uri_parse(uri, &k->uri, msg, sizeof(msg))) != KW_OK) {
		if (r == KW_ERR_PARSE) {
			kw_err("%s", msg);
			r = KW_ERR_ARG;		/* a bad --key: usage error */
		}
		goto out;
	}
	if (opts != NULL) {
		k->pin_fn = opts->pin_fn;
		k->pin_arg = opts->pin_arg;
		k->allow_exportable = opts->allow_exportable;
		k->risk_final_try = opts->risk_final_try;
		k->usage = opts->usage;
		if (opts->state_dir != NULL &&
		    (k->state_dir = strdup(opts->state_dir)) == NULL) {
			r = KW_ERR_NOMEM;
			goto out;
		}
	}
	if (getrandom(k->pin_key, sizeof(k->pin_key), 0) !=
	    (ssize_t)sizeof(k->pin_key)) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	if ((r = p11_module_get(k->uri, opts, &k->mod)) != KW_OK)
		goto out;
	k->f = p11_module_fn(k->mod);
	*out = k;
	k = NULL;
out:
	p11_key_free(k);
	return r;
}

static void
p11_key_auth(struct p11_key *k, struct p11_auth *a)
{
	memset(a, 0, sizeof(*a));
	a->uri = k->uri;
	a->pin_fn = k->pin_fn;
	a->pin_arg = k->pin_arg;
	a->risk_final_try = k->risk_final_try;
	a->pin_failed = &k->pin_failed;
	a->state_dir = k->state_dir;
	a->ok_key = k->pin_key;
	a->ok_digest = k->ok_digest;
	a->have_ok = &k->have_ok;
}

static void
p11_hex(const uint8_t *p, size_t n, char *out, size_t len)
{
	size_t i;

	if (len == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < n && 2 * i + 2 < len; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	if (n > 0 && 2 * n + 1 > len && len > 4)
		memcpy(out + len - 4, "...", 4);
}

/* What the URI names, for messages: "object 'x' id 0a0b". */
static void
p11_what(const struct p11_uri *u, char *buf, size_t len)
{
	char hex[40];

	p11_hex(u->id, u->id_len, hex, sizeof(hex));
	if (u->object != NULL && u->has_id)
		snprintf(buf, len, "object '%s' (id %s)", u->object, hex);
	else if (u->object != NULL)
		snprintf(buf, len, "object '%s'", u->object);
	else if (u->has_id)
		snprintf(buf, len, "the object with id %s", hex);
	else
		snprintf(buf, len, "an object");
}

/* The private key the URI names: exactly one. */
static int
p11_key_find_priv(struct p11_key *k, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[3];
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0, count = 0;
	char what[96];
	int r;

	*h = CK_INVALID_HANDLE;
	t[n].type = CKA_CLASS;
	t[n].pValue = &cls;
	t[n++].ulValueLen = sizeof(cls);
	if (k->id != NULL) {		/* re-finding: the id we know */
		t[n].type = CKA_ID;
		t[n].pValue = k->id;
		t[n++].ulValueLen = k->id_len;
	} else if (k->uri->has_id) {
		t[n].type = CKA_ID;
		t[n].pValue = k->uri->id;
		t[n++].ulValueLen = k->uri->id_len;
	}
	if (k->uri->object != NULL) {
		t[n].type = CKA_LABEL;
		t[n].pValue = k->uri->object;
		t[n++].ulValueLen = strlen(k->uri->object);
	}
	if ((r = p11_find(k->f, s, t, n, found, 2, &count)) != KW_OK) {
		kw_err("cannot search token '%s' for keys", k->tok.label);
		return r;
	}
	p11_what(k->uri, what, sizeof(what));
	if (count == 0) {
		kw_err("token '%s' has no private key %s (see `keyward tokens "
		    "--login`)", k->tok.label, what);
		return KW_ERR_NOT_FOUND;
	}
	if (count > 1) {
		kw_err("token '%s' has several private keys matching %s: add "
		    "id= to the URI to choose one", k->tok.label, what);
		return KW_ERR_ARG;
	}
	*h = found[0];
	return KW_OK;
}

/* An object of class cls with the key's CKA_ID (the first one). */
static int
p11_find_by_id(struct p11_key *k, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
    CK_OBJECT_HANDLE *found, CK_ULONG max, CK_ULONG *count)
{
	CK_ATTRIBUTE t[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, k->id, k->id_len },
	};

	return p11_find(k->f, s, t, 2, found, max, count);
}

/* SPKI from one object's CKA_EC_POINT or CKA_MODULUS/EXPONENT. */
static int
p11_spki_from_obj(struct p11_key *k, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    uint8_t *der, size_t *der_len)
{
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	int r;

	if (kw_alg_is_rsa(k->alg)) {
		if ((r = p11_attr_get(k->f, s, o, CKA_MODULUS, &a, &alen))
		    != KW_OK ||
		    (r = p11_attr_get(k->f, s, o, CKA_PUBLIC_EXPONENT, &b,
		    &blen)) != KW_OK)
			goto out;
		r = p11_spki_rsa(a, alen, b, blen, der, der_len);
	} else {
		if ((r = p11_attr_get(k->f, s, o, CKA_EC_POINT, &a, &alen))
		    != KW_OK)
			goto out;
		r = p11_spki_ec(k->alg, a, alen, der, der_len);
	}
out:
	free(a);
	free(b);
	return r;
}

/* The public key: from the public object with the same CKA_ID, else the
 * certificate with that id, else the private object's own attributes. */
static int
p11_key_spki(struct p11_key *k, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
    uint8_t *der, size_t *der_len)
{
	struct p11_cert_parts cp;
	CK_OBJECT_HANDLE o[4];
	CK_ULONG n = 0, i;
	uint8_t *cert = NULL;
	size_t cert_len = 0, cap = *der_len;
	int r;

	if (p11_find_by_id(k, s, CKO_PUBLIC_KEY, o, 1, &n) == KW_OK && n == 1 &&
	    p11_spki_from_obj(k, s, o[0], der, der_len) == KW_OK)
		return KW_OK;
	*der_len = cap;
	if (p11_find_by_id(k, s, CKO_CERTIFICATE, o, 4, &n) == KW_OK)
		for (i = 0; i < n; i++) {
			free(cert);
			cert = NULL;
			if (p11_attr_get(k->f, s, o[i], CKA_VALUE, &cert,
			    &cert_len) != KW_OK ||
			    p11_cert_parse(cert, cert_len, &cp) != KW_OK ||
			    p11_spki_alg(cp.spki, cp.spki_len) != k->alg ||
			    cp.spki_len > cap)
				continue;
			memcpy(der, cp.spki, cp.spki_len);
			*der_len = cp.spki_len;
			free(cert);
			return KW_OK;
		}
	free(cert);
	*der_len = cap;
	if ((r = p11_spki_from_obj(k, s, priv, der, der_len)) == KW_OK)
		return KW_OK;
	kw_err("cannot find the public key of '%s' on token '%s': no public "
	    "key object or certificate with its id, and the private key "
	    "object does not carry it", k->label ? k->label : "",
	    k->tok.label);
	return KW_ERR_NOT_FOUND;
}

static void
p11_key_mechs(struct p11_key *k)
{
	CK_MECHANISM_TYPE *m = NULL;
	CK_MECHANISM_INFO mi;
	CK_ULONG n = 0, i;

	k->mech_known = 0;
	if (k->f->C_GetMechanismList(k->tok.slot, NULL, &n) != CKR_OK ||
	    n == 0 || n > 4096 || (m = calloc(n, sizeof(*m))) == NULL ||
	    k->f->C_GetMechanismList(k->tok.slot, m, &n) != CKR_OK)
		goto out;
	k->mech_known = 1;
	for (i = 0; i < n; i++) {
		if (k->f->C_GetMechanismInfo(k->tok.slot, m[i], &mi) != CKR_OK)
			continue;
		if (m[i] == CKM_RSA_PKCS && (mi.flags & CKF_DECRYPT))
			k->mech_rsa_decrypt = 1;
		if (!(mi.flags & CKF_SIGN))
			continue;
		if (m[i] == CKM_ECDSA)
			k->mech_ecdsa = 1;
		else if (m[i] == CKM_RSA_PKCS)
			k->mech_rsa_pkcs = 1;
		else if (m[i] == CKM_RSA_PKCS_PSS)
			k->mech_rsa_pss = 1;
	}
out:
	free(m);
}

/* Read what we need of the private key object.  first: remember it; else
 * check that it is still the same key. */
static int
p11_key_bind(struct p11_key *k, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
    int first)
{
	uint8_t spki[KW_MAX_PUBKEY_DER], *v = NULL;
	size_t spki_len = sizeof(spki), vlen = 0;
	CK_KEY_TYPE kt = 0;
	enum kw_key_alg alg = KW_ALG_NONE;
	int sens = -1, extr = -1, sign = -1, always = -1, dec = -1, r;

	if (first) {
		if ((r = p11_attr_get(k->f, s, priv, CKA_ID, &v, &vlen))
		    != KW_OK || vlen == 0) {
			kw_err("the private key on token '%s' has no CKA_ID: "
			    "keyward needs an id to find its public key and "
			    "certificate", k->tok.label);
			r = r != KW_OK ? r : KW_ERR_NOT_FOUND;
			goto out;
		}
		k->id = v;
		k->id_len = vlen;
		v = NULL;
		if (p11_attr_get(k->f, s, priv, CKA_LABEL, &v, &vlen) == KW_OK) {
			k->label = (char *)v;	/* NUL-terminated by attr_get */
			v = NULL;
		}
	}
	if ((r = p11_attr_ulong(k->f, s, priv, CKA_KEY_TYPE, &kt)) != KW_OK)
		goto out;
	if (kt == CKK_EC) {
		if ((r = p11_attr_get(k->f, s, priv, CKA_EC_PARAMS, &v, &vlen))
		    == KW_OK)
			alg = p11_ec_alg(v, vlen);
	} else if (kt == CKK_RSA) {
		if ((r = p11_attr_get(k->f, s, priv, CKA_MODULUS, &v, &vlen))
		    == KW_OK) {
			while (vlen > 0 && v[0] == 0) {
				memmove(v, v + 1, --vlen);
			}
			alg = vlen == 256 ? KW_ALG_RSA2048 :
			    vlen == 384 ? KW_ALG_RSA3072 : KW_ALG_NONE;
		}
	}
	if (alg == KW_ALG_NONE) {
		kw_err("key '%s' on token '%s' is not EC P-256/P-384 or "
		    "RSA-2048/3072: keyward does not support it",
		    k->label ? k->label : "", k->tok.label);
		r = KW_ERR_UNSUPPORTED;
		goto out;
	}
	if (!first && alg != k->alg) {
		r = KW_ERR_KEY_MISMATCH;
		goto mismatch;
	}
	k->alg = alg;
	if ((r = p11_attr_bool(k->f, s, priv, CKA_SENSITIVE, &sens)) != KW_OK ||
	    (r = p11_attr_bool(k->f, s, priv, CKA_EXTRACTABLE, &extr))
	    != KW_OK ||
	    (r = p11_attr_bool(k->f, s, priv, CKA_SIGN, &sign)) != KW_OK ||
	    (r = p11_attr_bool(k->f, s, priv, CKA_ALWAYS_AUTHENTICATE,
	    &always)) != KW_OK ||
	    (r = p11_attr_bool(k->f, s, priv, CKA_DECRYPT, &dec)) != KW_OK)
		goto out;
	k->can_decrypt = dec;
	if (sign == 0) {
		kw_err("key '%s' on token '%s' may not sign (CKA_SIGN is "
		    "false)", k->label ? k->label : "", k->tok.label);
		r = KW_ERR_UNSUPPORTED;
		goto out;
	}
	if (always == 1) {
		kw_err("key '%s' on token '%s' wants the PIN again for every "
		    "signature (CKA_ALWAYS_AUTHENTICATE): keyward keeps no "
		    "PIN, so it cannot use it; use the card's authentication "
		    "key (e.g. PIV slot 9a)", k->label ? k->label : "",
		    k->tok.label);
		r = KW_ERR_UNSUPPORTED;
		goto out;
	}
	if (sens != 1 || extr != 0) {
		if (!k->allow_exportable) {
			kw_err("private key '%s' on token '%s' is %s: its "
			    "value can be read out of the token, so it is not "
			    "bound to the hardware; create a new key with "
			    "`keyward keygen`, or pass --allow-exportable-key "
			    "to use it anyway", k->label ? k->label : "",
			    k->tok.label, extr != 0 ? "extractable" :
			    "not sensitive");
			r = KW_ERR_KEY_EXPORTABLE;
			goto out;
		}
		if (first)
			kw_warn("private key '%s' on token '%s' is %s: using "
			    "it only because --allow-exportable-key was given",
			    k->label ? k->label : "", k->tok.label,
			    extr != 0 ? "extractable" : "not sensitive");
		k->exportable = 1;
	}
	if ((r = p11_key_spki(k, s, priv, spki, &spki_len)) != KW_OK)
		goto out;
	if (!first && (spki_len != k->spki_len ||
	    memcmp(spki, k->spki, spki_len) != 0)) {
		r = KW_ERR_KEY_MISMATCH;
		goto mismatch;
	}
	memcpy(k->spki, spki, spki_len);
	k->spki_len = spki_len;
	if (first)
		p11_key_mechs(k);
	k->priv = priv;
	r = KW_OK;
	goto out;
mismatch:
	kw_err("token '%s' (serial %s) now holds a different key under "
	    "'%s': refusing to use it in place of the old one",
	    k->tok.label, k->tok.serial, k->label ? k->label : "");
out:
	free(v);
	return r;
}

/* Find the token and the key; open the key's session (logged in). */
static int
p11_key_attach(struct p11_key *k, int first, int rw, int quiet)
{
	struct p11_auth a;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE priv;
	int r, open = 0;

	if (first && k->uri->type != P11_URI_TYPE_NONE &&
	    k->uri->type != (long)CKO_PRIVATE_KEY) {
		kw_err("the key URI names type=%s objects; keyward needs the "
		    "private key (type=private, or no type=)",
		    k->uri->type == (long)CKO_CERTIFICATE ? "cert" :
		    k->uri->type == (long)CKO_PUBLIC_KEY ? "public" : "other");
		return KW_ERR_ARG;
	}
	if (first && k->uri->object == NULL && !k->uri->has_id) {
		kw_err("the key URI names no key: add object=LABEL or id=%%XX "
		    "(see `keyward tokens --login`)");
		return KW_ERR_ARG;
	}
	if ((r = (quiet ? p11_token_find_quiet : p11_token_find)(k->mod,
	    k->uri, first ? NULL : k->tok.serial, first ? NULL : k->tok.label,
	    &k->tok)) != KW_OK)
		goto out;
	p11_key_auth(k, &a);
	if ((r = p11_session_login(k->mod, &k->tok, rw, &a, &s)) != KW_OK)
		goto out;
	open = 1;
	if ((r = p11_key_find_priv(k, s, &priv)) != KW_OK ||
	    (r = p11_key_bind(k, s, priv, first)) != KW_OK)
		goto out;
	k->session = s;
	k->have_session = 1;
	k->gen = p11_module_gen(k->mod);
	open = 0;
	if (first)
		memcpy(k->present_serial, k->tok.serial,
		    sizeof(k->present_serial));
	__atomic_store_n(&k->present_slot, (unsigned long)k->tok.slot,
	    __ATOMIC_RELAXED);
	if (!first)
		kw_info("token '%s' is back: logged in again, key '%s' "
		    "usable", k->tok.label, k->label ? k->label : "");
out:
	if (open)
		(void)k->f->C_CloseSession(s);
	return r;
}

static void
p11_key_drop_session(struct p11_key *k)
{
	if (k->have_session)
		(void)k->f->C_CloseSession(k->session);
	k->have_session = 0;
	k->session = CK_INVALID_HANDLE;
	k->priv = CK_INVALID_HANDLE;
}

/* ---- kw_key_ops ---- */

static int
p11_op_public_key(void *impl, uint8_t *der, size_t *len)
{
	struct p11_key *k = impl;

	if (*len < k->spki_len)
		return KW_ERR_SPACE;
	memcpy(der, k->spki, k->spki_len);
	*len = k->spki_len;
	return KW_OK;
}

static CK_MECHANISM_TYPE
p11_hash_mech(enum kw_hash h, CK_RSA_PKCS_MGF_TYPE *mgf)
{
	switch (h) {
	case KW_HASH_SHA256:
		*mgf = CKG_MGF1_SHA256;
		return CKM_SHA256;
	case KW_HASH_SHA384:
		*mgf = CKG_MGF1_SHA384;
		return CKM_SHA384;
	case KW_HASH_SHA512:
		*mgf = CKG_MGF1_SHA512;
		return CKM_SHA512;
	default:
		*mgf = 0;
		return CKM_VENDOR_DEFINED;
	}
}

/* One signature in the current session; *rvp is the failing CK_RV. */
static int
p11_sign_once(struct p11_key *k, enum kw_sig_scheme scheme,
    enum kw_hash hash, const uint8_t *digest, size_t digest_len,
    uint8_t *sig, size_t *sig_len, CK_RV *rvp)
{
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM mech = { 0, NULL, 0 };
	uint8_t in[KW_MAX_DIGEST + 32];
	const uint8_t *di;
	size_t in_len = 0, di_len = 0, need;
	CK_ULONG out_len;
	CK_RV rv;

	*rvp = CKR_OK;
	need = kw_alg_is_rsa(k->alg) ? (size_t)kw_alg_bits(k->alg) / 8 :
	    2 * ((size_t)kw_alg_bits(k->alg) / 8);
	if (*sig_len < need)
		return KW_ERR_SPACE;
	switch (scheme) {
	case KW_SIG_ECDSA:
		mech.mechanism = CKM_ECDSA;
		memcpy(in, digest, digest_len);
		in_len = digest_len;
		break;
	case KW_SIG_RSA_PKCS1:
		if ((di = p11_digest_info(hash, &di_len)) == NULL ||
		    digest_len != kw_hash_len(hash))
			return KW_ERR_ARG;
		mech.mechanism = CKM_RSA_PKCS;
		memcpy(in, di, di_len);
		memcpy(in + di_len, digest, digest_len);
		in_len = di_len + digest_len;
		break;
	case KW_SIG_RSA_PSS:
		memset(&pss, 0, sizeof(pss));
		if ((pss.hashAlg = p11_hash_mech(hash, &pss.mgf)) ==
		    CKM_VENDOR_DEFINED || digest_len != kw_hash_len(hash))
			return KW_ERR_ARG;
		pss.sLen = digest_len;
		mech.mechanism = CKM_RSA_PKCS_PSS;
		mech.pParameter = &pss;
		mech.ulParameterLen = sizeof(pss);
		memcpy(in, digest, digest_len);
		in_len = digest_len;
		break;
	default:
		return KW_ERR_UNSUPPORTED;
	}
	if ((rv = k->f->C_SignInit(k->session, &mech, k->priv)) != CKR_OK) {
		*rvp = rv;
		return p11_rv_err(rv, "C_SignInit");
	}
	out_len = (CK_ULONG)*sig_len;
	if ((rv = k->f->C_Sign(k->session, in, (CK_ULONG)in_len, sig,
	    &out_len)) != CKR_OK) {
		*rvp = rv;
		return p11_rv_err(rv, "C_Sign");
	}
	if (out_len != need) {
		kw_err("token '%s' returned a %lu-byte signature, expected %zu",
		    k->tok.label, (unsigned long)out_len, need);
		return KW_ERR_PKCS11;
	}
	*sig_len = out_len;
	return KW_OK;
}

/* Did the token log our session out (e.g. after another program's
 * failed login: some cards then fail every signature with
 * CKR_FUNCTION_FAILED until the card is reinserted)? */
static int
p11_key_logged_out(struct p11_key *k)
{
	CK_SESSION_INFO si;

	if (!(k->tok.info.flags & CKF_LOGIN_REQUIRED) ||
	    k->f->C_GetSessionInfo(k->session, &si) != CKR_OK)
		return 0;
	return si.state == CKS_RO_PUBLIC_SESSION ||
	    si.state == CKS_RW_PUBLIC_SESSION;
}

/* Log in again on the key's session, only with the PIN that last worked,
 * and check that the key found then is still ours. */
static int
p11_key_relogin(struct p11_key *k)
{
	struct p11_auth a;
	CK_OBJECT_HANDLE priv;
	CK_RV rv;
	int r;

	if ((rv = k->f->C_GetTokenInfo(k->tok.slot, &k->tok.info)) != CKR_OK)
		return p11_rv_err(rv, "C_GetTokenInfo");
	p11_key_auth(k, &a);
	a.relogin = 1;
	if ((r = p11_token_login(k->f, k->session, &k->tok, &a)) != KW_OK ||
	    (r = p11_key_find_priv(k, k->session, &priv)) != KW_OK ||
	    (r = p11_key_bind(k, k->session, priv, 0)) != KW_OK)
		return r;
	kw_info("token '%s': logged in again, key '%s' usable", k->tok.label,
	    k->label ? k->label : "");
	return KW_OK;
}

/* One operation with the private key in the key's session (a signature,
 * a decryption): once() returns a KW_ERR_* and sets *rvp to the CK_RV
 * that failed (CKR_OK when the failure was not the token's). */
struct p11_call {
	const char *noun;		/* "signature", "decryption" */
	int (*once)(struct p11_key *k, void *arg, CK_RV *rvp);
	void *arg;
};

/* Run an operation, finding the token again if it went away.  Called with
 * k->lock held.  At most: one re-initialization of the module (for modules
 * that only see a returned token after one), one new login on a session
 * the token logged out, and one retry after a lost session. */
static int
p11_run_locked(struct p11_key *k, const struct p11_call *c)
{
	CK_RV rv = CKR_OK;
	int r, rr, refreshed = 0, retried = 0, relogged = 0;

	for (;;) {
		p11_module_enter(k->mod);
		if (k->have_session && k->gen != p11_module_gen(k->mod)) {
			/* the module was restarted: the handles are dead */
			k->have_session = 0;
		}
		if (p11_module_down(k->mod)) {
			/* it could not start again: try once more */
			p11_module_leave(k->mod);
			if (refreshed)
				return KW_ERR_TOKEN_ABSENT;
			refreshed = 1;
			if (p11_module_refresh(k->mod) != KW_OK)
				return KW_ERR_TOKEN_ABSENT;
			continue;
		}
		/* the first look is quiet: after a module refresh (which
		 * some modules need to see a returned token) one more look
		 * reports the absence, once */
		if (!k->have_session &&
		    (r = p11_key_attach(k, 0, 0, !refreshed)) != KW_OK) {
			p11_module_leave(k->mod);
			if (r == KW_ERR_TOKEN_ABSENT && !refreshed) {
				refreshed = 1;
				rr = p11_module_refresh(k->mod);
				if (rr == KW_OK || rr == KW_ERR_UNSUPPORTED)
					continue;
				/* p11_module_refresh said why, once */
			}
			return r;
		}
		rv = CKR_OK;
		r = c->once(k, c->arg, &rv);
		if (r != KW_OK && rv != CKR_OK && !p11_rv_gone(rv) &&
		    !relogged && p11_key_logged_out(k)) {
			relogged = 1;
			kw_warn("token '%s' logged keyward out (after another "
			    "program's failed login?) and refused the %s "
			    "(%s): logging in again once", k->tok.label,
			    c->noun, p11_rv_name(rv));
			r = p11_key_relogin(k);
			p11_module_leave(k->mod);
			if (r != KW_OK)
				return r;
			continue;
		}
		if (r == KW_OK || !p11_rv_gone(rv)) {
			p11_module_leave(k->mod);
			return r;
		}
		/* The token was removed (or our session lost): drop the
		 * session; if the token is back already, log in again once
		 * and sign; else report it absent. */
		kw_warn("token '%s' (serial %s) went away (%s); looking for "
		    "it again", k->tok.label, k->tok.serial, p11_rv_name(rv));
		p11_key_drop_session(k);
		p11_module_leave(k->mod);
		if (retried)
			return KW_ERR_TOKEN_ABSENT;
		retried = 1;
	}
}

struct p11_sign_args {
	enum kw_sig_scheme scheme;
	enum kw_hash hash;
	const uint8_t *digest;
	size_t digest_len;
	uint8_t *sig;
	size_t *sig_len;
	size_t cap;
};

static int
p11_sign_call(struct p11_key *k, void *arg, CK_RV *rvp)
{
	struct p11_sign_args *a = arg;

	*a->sig_len = a->cap;
	return p11_sign_once(k, a->scheme, a->hash, a->digest, a->digest_len,
	    a->sig, a->sig_len, rvp);
}

static int
p11_op_sign(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash,
    const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len)
{
	struct p11_key *k = impl;
	struct p11_sign_args a = { scheme, hash, digest, digest_len, sig,
	    sig_len, *sig_len };
	struct p11_call c = { "signature", p11_sign_call, &a };
	int r;

	if (digest_len > KW_MAX_DIGEST)
		return KW_ERR_ARG;
	pthread_mutex_lock(&k->lock);
	r = p11_run_locked(k, &c);
	/* once per outage: the key layer says when it signs again */
	if (r == KW_ERR_TOKEN_ABSENT && !k->absent_said)
		kw_err("cannot sign with key '%s': token '%s' is not present; "
		    "keyward logs in again on the next use once it is back",
		    k->label ? k->label : "", k->tok.label);
	k->absent_said = r == KW_ERR_TOKEN_ABSENT;
	pthread_mutex_unlock(&k->lock);
	return r;
}

/* May this key decrypt?  An RSA key with CKA_DECRYPT (keygen --usage
 * sign,decrypt) on a token that offers CKM_RSA_PKCS decryption.  A key
 * that does not say (CKA_DECRYPT unreadable) is tried. */
static int
p11_may_decrypt(struct p11_key *k)
{
	if (!kw_alg_is_rsa(k->alg) || k->can_decrypt == 0) {
		kw_err("cannot decrypt with key '%s' on token '%s': CKA_DECRYPT "
		    "is false; %s", k->label ? k->label : "", k->tok.label,
		    KW_KEY_SIGN_ONLY_HINT);
		return KW_ERR_UNSUPPORTED;
	}
	if (k->mech_known && !k->mech_rsa_decrypt) {
		kw_err("cannot decrypt with key '%s': token '%s' does not offer "
		    "RSA PKCS#1 v1.5 decryption (CKM_RSA_PKCS); SCEP needs a "
		    "token that does", k->label ? k->label : "", k->tok.label);
		return KW_ERR_UNSUPPORTED;
	}
	return KW_OK;
}

/* After a failed C_Decrypt, tpm2-pkcs11 leaves the operation active (the
 * standard says it ends), and every later C_SignInit or C_DecryptInit in
 * that session fails with CKR_OPERATION_ACTIVE.  A new session of the
 * same application shares its login and object handles: move to one and
 * close the old.  If none opens, the session is dropped and the next use
 * finds the token again. */
static void
p11_key_new_session(struct p11_key *k)
{
	CK_SESSION_INFO si;
	CK_SESSION_HANDLE s;
	CK_FLAGS fl = CKF_SERIAL_SESSION;
	CK_RV rv;

	if (k->f->C_GetSessionInfo(k->session, &si) == CKR_OK)
		fl |= si.flags & CKF_RW_SESSION;
	if ((rv = k->f->C_OpenSession(k->tok.slot, fl, NULL, NULL, &s)) !=
	    CKR_OK) {
		kw_debug("C_OpenSession after a failed decryption: %s",
		    p11_rv_name(rv));
		p11_key_drop_session(k);
		return;
	}
	rv = k->f->C_CloseSession(k->session);
	kw_debug("token '%s': moved from session %lu to %lu after a failed "
	    "decryption (close: %s)", k->tok.label,
	    (unsigned long)k->session, (unsigned long)s, p11_rv_name(rv));
	k->session = s;
}

struct p11_decrypt_args {
	const uint8_t *in;
	size_t in_len;
	uint8_t *out;			/* KW_MAX_SIG bytes */
	size_t *out_len;
};

static int
p11_decrypt_call(struct p11_key *k, void *arg, CK_RV *rvp)
{
	struct p11_decrypt_args *a = arg;
	CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
	CK_ULONG n = KW_MAX_SIG;
	CK_RV rv;
	int r;

	*a->out_len = 0;
	if ((rv = k->f->C_DecryptInit(k->session, &mech, k->priv)) != CKR_OK) {
		*rvp = rv;
		r = p11_rv_err(rv, "C_DecryptInit");
		if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
		    rv == CKR_KEY_TYPE_INCONSISTENT ||
		    rv == CKR_MECHANISM_INVALID) {
			kw_err("token '%s' refused to decrypt with key '%s' "
			    "(%s); %s", k->tok.label, k->label ? k->label : "",
			    p11_rv_name(rv), KW_KEY_SIGN_ONLY_HINT);
			r = KW_ERR_UNSUPPORTED;
		}
		return r;
	}
	/* The buffer holds any plaintext of a key up to 4096 bits: the
	 * operation never stops at CKR_BUFFER_TOO_SMALL (left active). */
	if ((rv = k->f->C_Decrypt(k->session, (CK_BYTE_PTR)(uintptr_t)a->in,
	    (CK_ULONG)a->in_len, a->out, &n)) != CKR_OK) {
		*rvp = rv;
		r = p11_rv_err(rv, "C_Decrypt");
		if (!p11_rv_gone(rv))
			p11_key_new_session(k);
		/* SoftHSM2 (and some cards) say CKR_GENERAL_ERROR for bad
		 * padding: on a ciphertext, that is what it means */
		if (rv == CKR_GENERAL_ERROR)
			r = KW_ERR_CRYPTO;
		if (r == KW_ERR_CRYPTO)
			kw_err("key '%s' on token '%s' could not decrypt the "
			    "message (%s): it is not encrypted to this key, or "
			    "it is damaged", k->label ? k->label : "",
			    k->tok.label, p11_rv_name(rv));
		return r;
	}
	if (n > KW_MAX_SIG || n + 11 > a->in_len) {
		kw_err("token '%s' returned %lu bytes for a %zu-byte "
		    "ciphertext", k->tok.label, (unsigned long)n, a->in_len);
		return KW_ERR_PKCS11;
	}
	*a->out_len = n;
	return KW_OK;
}

static int
p11_op_decrypt(void *impl, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct p11_key *k = impl;
	uint8_t buf[KW_MAX_SIG];
	size_t n = 0;
	struct p11_decrypt_args a = { in, in_len, buf, &n };
	struct p11_call c = { "decryption", p11_decrypt_call, &a };
	int r;

	pthread_mutex_lock(&k->lock);
	r = p11_may_decrypt(k);
	pthread_mutex_unlock(&k->lock);
	if (r != KW_OK || in == NULL)
		return r;
	if (in_len == 0 || in_len > KW_MAX_SIG)
		return KW_ERR_CRYPTO;
	pthread_mutex_lock(&k->lock);
	r = p11_run_locked(k, &c);
	pthread_mutex_unlock(&k->lock);
	if (r == KW_OK && n > *out_len)
		r = KW_ERR_SPACE;
	if (r == KW_OK) {
		memcpy(out, buf, n);
		*out_len = n;
	} else
		*out_len = 0;
	if (r == KW_ERR_TOKEN_ABSENT)
		kw_err("cannot decrypt with key '%s': token '%s' is not "
		    "present", k->label ? k->label : "", k->tok.label);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static int
p11_op_supports(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash)
{
	struct p11_key *k = impl;
	int rsa = kw_alg_is_rsa(k->alg);

	if (hash != KW_HASH_SHA256 && hash != KW_HASH_SHA384 &&
	    hash != KW_HASH_SHA512)
		return KW_ERR_UNSUPPORTED;
	switch (scheme) {
	case KW_SIG_ECDSA:
		return !rsa && (!k->mech_known || k->mech_ecdsa) ? KW_OK :
		    KW_ERR_UNSUPPORTED;
	case KW_SIG_RSA_PKCS1:
		return rsa && (!k->mech_known || k->mech_rsa_pkcs) ? KW_OK :
		    KW_ERR_UNSUPPORTED;
	case KW_SIG_RSA_PSS:
		if (!rsa)
			return KW_ERR_UNSUPPORTED;
		if (k->mech_known && !k->mech_rsa_pss) {
			if (!k->pss_warned)
				kw_warn("token '%s' does not offer "
				    "CKM_RSA_PKCS_PSS: RSA key '%s' cannot make "
				    "the RSA-PSS signatures TLS 1.3 requires "
				    "for RSA keys (TLS 1.2 with PKCS#1 v1.5 "
				    "still works; an EC key avoids this)",
				    k->tok.label, k->label ? k->label : "");
			k->pss_warned = 1;
			return KW_ERR_UNSUPPORTED;
		}
		return KW_OK;
	}
	return KW_ERR_UNSUPPORTED;
}

static int
p11_op_describe(void *impl, char *buf, size_t len)
{
	struct p11_key *k = impl;
	char hex[2 * 32 + 4];
	int n;

	p11_hex(k->id, k->id_len, hex, sizeof(hex));
	n = snprintf(buf, len, "pkcs11 token '%s' (serial %s) object '%s' "
	    "id %s %s%s", k->tok.label, k->tok.serial,
	    k->label ? k->label : "", hex, kw_alg_name(k->alg),
	    k->exportable ? " (exportable!)" : "");
	return n < 0 || (size_t)n >= len ? KW_ERR_SPACE : KW_OK;
}

/* Is the card in its slot (and the same card)?  Asked of the slot, not
 * of our session, so that a card pulled while nothing signs shows. */
static int
p11_op_present(void *impl)
{
	struct p11_key *k = impl;
	CK_SLOT_ID slot = __atomic_load_n(&k->present_slot, __ATOMIC_RELAXED);
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	char serial[17];
	int r = KW_ERR_TOKEN_ABSENT;

	p11_module_enter(k->mod);
	if (k->f->C_GetSlotInfo(slot, &si) == CKR_OK &&
	    (si.flags & CKF_TOKEN_PRESENT) &&
	    k->f->C_GetTokenInfo(slot, &ti) == CKR_OK) {
		p11_uri_unpad(serial, ti.serialNumber, sizeof(ti.serialNumber));
		if (strcmp(serial, k->present_serial) == 0)
			r = KW_OK;
	}
	p11_module_leave(k->mod);
	return r;
}

static void
p11_op_close(void *impl)
{
	p11_key_free(impl);
}

static const struct kw_key_ops p11_key_ops = {
	.name = "pkcs11",
	.public_key = p11_op_public_key,
	.sign = p11_op_sign,
	.describe = p11_op_describe,
	.close = p11_op_close,
	.supports = p11_op_supports,
	.present = p11_op_present,
	.decrypt = p11_op_decrypt,
};

/* ---- entry points ---- */

static int
p11_key_open_impl(const char *uri, const struct p11_opts *opts, int rw,
    struct p11_key **out)
{
	struct p11_key *k = NULL;
	int r;

	*out = NULL;
	if ((r = p11_key_alloc(uri, opts, &k)) != KW_OK)
		goto out;
	p11_module_enter(k->mod);
	r = p11_key_attach(k, 1, rw, 0);
	p11_module_leave(k->mod);
	if (r != KW_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	p11_key_free(k);
	return r;
}

/* Hold the module for a one-shot operation on a just-opened key. */
static int
p11_key_hold(struct p11_key *k, int *entered)
{
	p11_module_enter(k->mod);
	*entered = 1;
	if (k->gen != p11_module_gen(k->mod)) {
		k->have_session = 0;	/* restarted meanwhile: dead handle */
		kw_err("token '%s' went away", k->tok.label);
		return KW_ERR_TOKEN_ABSENT;
	}
	return KW_OK;
}

int
p11_key_open(const char *uri, const struct p11_opts *opts,
    struct kw_key **out)
{
	struct p11_key *k = NULL;
	int r;

	*out = NULL;
	if ((r = p11_key_open_impl(uri, opts, 0, &k)) != KW_OK)
		return r;
	return kw_key_new(&p11_key_ops, k, k->alg, out);
}

/* Does any object with this label or id exist?  (logged in: private
 * objects count too) */
static int
p11_exists(struct p11_key *k, CK_SESSION_HANDLE s, const uint8_t *id,
    size_t id_len)
{
	CK_ATTRIBUTE t;
	CK_OBJECT_HANDLE o;
	CK_ULONG n = 0;

	if (k->uri->object != NULL) {
		t.type = CKA_LABEL;
		t.pValue = k->uri->object;
		t.ulValueLen = strlen(k->uri->object);
		if (p11_find(k->f, s, &t, 1, &o, 1, &n) != KW_OK || n > 0)
			return 1;
	}
	if (id != NULL) {
		t.type = CKA_ID;
		t.pValue = (void *)(uintptr_t)id;
		t.ulValueLen = id_len;
		if (p11_find(k->f, s, &t, 1, &o, 1, &n) != KW_OK || n > 0)
			return 1;
	}
	return 0;
}

/* Modules known to refuse CKA_DECRYPT/CKA_UNWRAP = FALSE in a key pair
 * template (their keys always carry both usages), by C_GetInfo's
 * manufacturerID. */
static int
p11_no_restrict(CK_FUNCTION_LIST *f)
{
	static const char *const refusers[] = {
		"tpm2-software.github.io",	/* tpm2-pkcs11 */
	};
	CK_INFO info;
	size_t i;

	if (f->C_GetInfo(&info) != CKR_OK)
		return 0;
	for (i = 0; i < sizeof(refusers) / sizeof(refusers[0]); i++)
		if (p11_uri_field_eq(refusers[i], info.manufacturerID,
		    sizeof(info.manufacturerID)))
			return 1;
	return 0;
}

int
p11_key_generate(const char *uri, enum kw_key_alg alg,
    const struct p11_opts *opts, struct kw_key **out)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = (CK_ULONG)kw_alg_bits(alg);
	static CK_BYTE f4[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_ATTRIBUTE pub[11], priv[13];
	CK_ULONG np = 0, nv = 0, nrestrict, vrestrict;
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	struct p11_key *k = NULL;
	struct p11_auth a;
	const uint8_t *params;
	uint8_t id[P11_ID_LEN];
	const uint8_t *idp = id;
	size_t plen = 0, idlen = sizeof(id);
	CK_RV rv;
	int r, open = 0, sens = -1, extr = -1, dec = -1, entered = 0;
	int decrypt;

	*out = NULL;
	if (alg == KW_ALG_NONE) {
		r = KW_ERR_ARG;
		goto out;
	}
	if ((r = p11_key_alloc(uri, opts, &k)) != KW_OK)
		goto out;
	decrypt = (k->usage & KW_USAGE_DECRYPT) != 0;
	if (k->usage & ~(KW_USAGE_SIGN | KW_USAGE_DECRYPT)) {
		r = KW_ERR_ARG;
		goto out;
	}
	if (decrypt && !kw_alg_is_rsa(alg)) {
		kw_err("an %s key cannot decrypt; keys for SCEP are RSA "
		    "(--alg rsa2048)", kw_alg_name(alg));
		r = KW_ERR_UNSUPPORTED;
		goto out;
	}
	if (k->uri->object == NULL || k->uri->object[0] == '\0') {
		kw_err("keygen needs a label for the new key: add "
		    "object=LABEL to the PKCS#11 URI");
		r = KW_ERR_ARG;
		goto out;
	}
	if (k->uri->type != P11_URI_TYPE_NONE &&
	    k->uri->type != (long)CKO_PRIVATE_KEY) {
		kw_err("keygen makes a key pair: drop type= from the URI (or "
		    "use type=private)");
		r = KW_ERR_ARG;
		goto out;
	}
	p11_module_enter(k->mod);
	entered = 1;
	if ((r = p11_token_find(k->mod, k->uri, NULL, NULL, &k->tok)) != KW_OK)
		goto out;
	p11_key_auth(k, &a);
	if ((r = p11_session_login(k->mod, &k->tok, 1, &a, &s)) != KW_OK)
		goto out;
	open = 1;
	if (k->uri->has_id) {
		idp = k->uri->id;
		idlen = k->uri->id_len;
	}
	if (p11_exists(k, s, idp == id ? NULL : idp, idlen)) {
		kw_err("token '%s' already has an object labelled '%s'%s: "
		    "keygen never replaces a key", k->tok.label,
		    k->uri->object, idp == id ? "" : " or with that id");
		r = KW_ERR_EXISTS;
		goto out;
	}
	if (idp == id) {
		rv = k->f->C_GenerateRandom(s, id, sizeof(id));
		if (rv != CKR_OK) {
			/* an id is a name, not a secret: the OS will do */
			kw_debug("C_GenerateRandom: %s; using getrandom() for "
			    "the key id", p11_rv_name(rv));
			if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
				r = KW_ERR_CRYPTO;
				goto out;
			}
		}
	}
#define P11_A(arr, n, t, p, l) do { \
	(arr)[n].type = (t); (arr)[n].pValue = (void *)(uintptr_t)(p); \
	(arr)[n].ulValueLen = (l); (n)++; } while (0)
	P11_A(pub, np, CKA_TOKEN, &yes, sizeof(yes));
	P11_A(pub, np, CKA_PRIVATE, &no, sizeof(no));
	P11_A(pub, np, CKA_VERIFY, &yes, sizeof(yes));
	P11_A(pub, np, CKA_ID, idp, idlen);
	P11_A(pub, np, CKA_LABEL, k->uri->object, strlen(k->uri->object));
	P11_A(priv, nv, CKA_TOKEN, &yes, sizeof(yes));
	P11_A(priv, nv, CKA_PRIVATE, &yes, sizeof(yes));
	P11_A(priv, nv, CKA_SENSITIVE, &yes, sizeof(yes));
	P11_A(priv, nv, CKA_EXTRACTABLE, &no, sizeof(no));
	P11_A(priv, nv, CKA_SIGN, &yes, sizeof(yes));
	P11_A(priv, nv, CKA_ID, idp, idlen);
	P11_A(priv, nv, CKA_LABEL, k->uri->object, strlen(k->uri->object));
	if (kw_alg_is_rsa(alg)) {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		P11_A(pub, np, CKA_MODULUS_BITS, &bits, sizeof(bits));
		P11_A(pub, np, CKA_PUBLIC_EXPONENT, f4, sizeof(f4));
	} else {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		params = p11_ec_params(alg, &plen);
		P11_A(pub, np, CKA_EC_PARAMS, params, plen);
	}
	/* SCEP: the CA encrypts its answer to this key (RSA PKCS#1 v1.5). */
	if (decrypt) {
		P11_A(pub, np, CKA_ENCRYPT, &yes, sizeof(yes));
		P11_A(priv, nv, CKA_DECRYPT, &yes, sizeof(yes));
	}
	/* Signing (and decryption when asked) only: no (un)wrapping, no
	 * decryption unless asked.  The restrictions go last so that a token
	 * that refuses them (e.g. tpm2-pkcs11, whose TPM keys always carry
	 * both usages) can be asked again without them. */
	nrestrict = np;
	if (!decrypt)
		P11_A(pub, np, CKA_ENCRYPT, &no, sizeof(no));
	P11_A(pub, np, CKA_WRAP, &no, sizeof(no));
	vrestrict = nv;
	if (!decrypt)
		P11_A(priv, nv, CKA_DECRYPT, &no, sizeof(no));
	P11_A(priv, nv, CKA_UNWRAP, &no, sizeof(no));
#undef P11_A
	if (p11_no_restrict(k->f)) {
		/* a known refuser: do not make it fail (tpm2-pkcs11 leaks
		 * TPM objects on that error path) */
		kw_info("token '%s' cannot restrict key usages: the %s key "
		    "gets the token's default usages", k->tok.label,
		    kw_alg_name(alg));
		np = nrestrict;
		nv = vrestrict;
	}
	rv = k->f->C_GenerateKeyPair(s, &mech, pub, np, priv, nv, &hpub,
	    &hpriv);
	if (np != nrestrict && (rv == CKR_GENERAL_ERROR ||
	    rv == CKR_FUNCTION_FAILED || rv == CKR_TEMPLATE_INCONSISTENT ||
	    rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	    rv == CKR_ATTRIBUTE_TYPE_INVALID)) {
		kw_warn("token '%s' refused a %s-only %s key (%s); "
		    "generating it with the token's default usages (it may "
		    "also allow %s)", k->tok.label, decrypt ?
		    "sign-and-decrypt" : "sign", kw_alg_name(alg),
		    p11_rv_name(rv), decrypt ? "key wrapping" : "decryption");
		rv = k->f->C_GenerateKeyPair(s, &mech, pub, nrestrict, priv,
		    vrestrict, &hpub, &hpriv);
	}
	if ((r = p11_rv_err(rv, "C_GenerateKeyPair")) != KW_OK) {
		kw_err("token '%s' could not generate a %s key pair (%s)",
		    k->tok.label, kw_alg_name(alg), p11_rv_name(rv));
		goto out;
	}
	/* Trust, but verify: a token that ignored the template must not
	 * leave an exportable key behind. */
	if ((r = p11_attr_bool(k->f, s, hpriv, CKA_SENSITIVE, &sens)) != KW_OK ||
	    (r = p11_attr_bool(k->f, s, hpriv, CKA_EXTRACTABLE, &extr))
	    != KW_OK || sens != 1 || extr != 0) {
		kw_err("token '%s' made the new key %s despite the request: "
		    "deleted it", k->tok.label, extr != 0 ? "extractable" :
		    "not sensitive");
		(void)k->f->C_DestroyObject(s, hpriv);
		(void)k->f->C_DestroyObject(s, hpub);
		r = KW_ERR_KEY_EXPORTABLE;
		goto out;
	}
	/* A key asked for SCEP that cannot decrypt would only fail after
	 * the CA issued its certificate. */
	if (decrypt &&
	    ((r = p11_attr_bool(k->f, s, hpriv, CKA_DECRYPT, &dec)) != KW_OK ||
	    dec == 0)) {
		kw_err("token '%s' made the new key without decrypt usage "
		    "despite the request: deleted it", k->tok.label);
		(void)k->f->C_DestroyObject(s, hpriv);
		(void)k->f->C_DestroyObject(s, hpub);
		r = r != KW_OK ? r : KW_ERR_UNSUPPORTED;
		goto out;
	}
	if ((r = p11_key_bind(k, s, hpriv, 1)) != KW_OK)
		goto out;
	memcpy(k->present_serial, k->tok.serial, sizeof(k->present_serial));
	k->present_slot = (unsigned long)k->tok.slot;
	k->session = s;
	k->have_session = 1;
	k->gen = p11_module_gen(k->mod);
	open = 0;
	p11_module_leave(k->mod);
	entered = 0;
	r = kw_key_new(&p11_key_ops, k, k->alg, out);
	k = NULL;		/* kw_key_new owns it now, even on failure */
out:
	if (open)
		(void)k->f->C_CloseSession(s);
	if (entered)
		p11_module_leave(k->mod);
	p11_key_free(k);
	return r;
}

int
p11_key_delete(const char *uri, const struct p11_opts *opts)
{
	CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY,
	    CKO_CERTIFICATE };
	CK_OBJECT_HANDLE o[8];
	struct p11_key *k = NULL;
	CK_ULONG n, i;
	size_t c;
	CK_RV rv;
	int r, entered = 0;

	if ((r = p11_key_open_impl(uri, opts, 1, &k)) != KW_OK ||
	    (r = p11_key_hold(k, &entered)) != KW_OK)
		goto out;
	for (c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
		if ((r = p11_find_by_id(k, k->session, classes[c], o, 8, &n))
		    != KW_OK)
			goto out;
		for (i = 0; i < n; i++) {
			rv = k->f->C_DestroyObject(k->session, o[i]);
			if ((r = p11_rv_err(rv, "C_DestroyObject")) != KW_OK) {
				kw_err("cannot delete key '%s' from token '%s'",
				    k->label ? k->label : "", k->tok.label);
				goto out;
			}
		}
	}
	kw_info("deleted key '%s' (and its public key and certificates) from "
	    "token '%s'", k->label ? k->label : "", k->tok.label);
	r = KW_OK;
out:
	if (entered)
		p11_module_leave(k->mod);
	p11_key_free(k);
	return r;
}

int
p11_cert_read(const char *uri, const struct p11_opts *opts, uint8_t **der,
    size_t *der_len)
{
	struct p11_cert_parts cp;
	CK_OBJECT_HANDLE o[8];
	struct p11_key *k = NULL;
	uint8_t *v = NULL;
	size_t vlen = 0;
	CK_ULONG n = 0, i;
	int r, entered = 0;

	*der = NULL;
	*der_len = 0;
	if ((r = p11_key_open_impl(uri, opts, 0, &k)) != KW_OK ||
	    (r = p11_key_hold(k, &entered)) != KW_OK ||
	    (r = p11_find_by_id(k, k->session, CKO_CERTIFICATE, o, 8, &n))
	    != KW_OK)
		goto out;
	for (i = 0; i < n; i++) {
		free(v);
		v = NULL;
		if (p11_attr_get(k->f, k->session, o[i], CKA_VALUE, &v, &vlen)
		    != KW_OK || p11_cert_parse(v, vlen, &cp) != KW_OK ||
		    cp.spki_len != k->spki_len ||
		    memcmp(cp.spki, k->spki, cp.spki_len) != 0)
			continue;
		*der = v;
		*der_len = vlen;
		v = NULL;
		r = KW_OK;
		goto out;
	}
	kw_err("token '%s' has no certificate for key '%s' (none with its "
	    "CKA_ID and public key)", k->tok.label, k->label ? k->label : "");
	r = KW_ERR_NOT_FOUND;
out:
	free(v);
	if (entered)
		p11_module_leave(k->mod);
	p11_key_free(k);
	return r;
}

int
p11_cert_store(const char *uri, const struct p11_opts *opts,
    const uint8_t *der, size_t der_len)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	struct p11_cert_parts cp;
	CK_OBJECT_HANDLE old[8], h;
	CK_ULONG nold = 0, i;
	struct p11_key *k = NULL;
	const char *label;
	CK_RV rv;
	int r, entered = 0;

	if ((r = p11_cert_parse(der, der_len, &cp)) != KW_OK) {
		kw_err("the certificate to store is not valid DER X.509");
		goto out;
	}
	if ((r = p11_key_open_impl(uri, opts, 1, &k)) != KW_OK ||
	    (r = p11_key_hold(k, &entered)) != KW_OK)
		goto out;
	if (cp.spki_len != k->spki_len ||
	    memcmp(cp.spki, k->spki, cp.spki_len) != 0) {
		kw_err("the certificate is not for key '%s' on token '%s': "
		    "not stored", k->label ? k->label : "", k->tok.label);
		r = KW_ERR_KEY_MISMATCH;
		goto out;
	}
	if ((r = p11_find_by_id(k, k->session, CKO_CERTIFICATE, old, 8, &nold))
	    != KW_OK)
		goto out;
	label = k->label != NULL ? k->label : "";
	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_ID, k->id, k->id_len },
			{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
			{ CKA_SUBJECT, (void *)(uintptr_t)cp.subject,
			    cp.subject_len },
			{ CKA_ISSUER, (void *)(uintptr_t)cp.issuer,
			    cp.issuer_len },
			{ CKA_SERIAL_NUMBER, (void *)(uintptr_t)cp.serial,
			    cp.serial_len },
			{ CKA_VALUE, (void *)(uintptr_t)der, der_len },
		};

		rv = k->f->C_CreateObject(k->session, t,
		    sizeof(t) / sizeof(t[0]), &h);
	}
	if ((r = p11_rv_err(rv, "C_CreateObject")) != KW_OK) {
		kw_err("cannot store the certificate on token '%s' (%s)",
		    k->tok.label, p11_rv_name(rv));
		goto out;
	}
	/* the new one is written: now the older ones may go */
	for (i = 0; i < nold; i++)
		if ((rv = k->f->C_DestroyObject(k->session, old[i])) != CKR_OK)
			kw_warn("stored the new certificate but could not "
			    "remove an older one from token '%s' (%s)",
			    k->tok.label, p11_rv_name(rv));
	kw_info("stored the certificate on token '%s' next to key '%s'%s",
	    k->tok.label, label, nold ? " (replacing the older one)" : "");
	r = KW_OK;
out:
	if (entered)
		p11_module_leave(k->mod);
	p11_key_free(k);
	return r;
}
