/* `keyward tokens`: slots, tokens, keys and certificates with their full
 * pkcs11: URIs (in the spirit of `p11tool --list-all`).  Public objects
 * need no PIN; with opts->login the private ones are shown too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "p11_internal.h"

#define P11_LIST_MAX	256	/* objects shown per token */

static void
p11_list_flags(FILE *out, CK_FLAGS fl)
{
	static const struct {
		CK_FLAGS flag;
		const char *name;
	} names[] = {
		{ CKF_TOKEN_INITIALIZED, "initialized" },
		{ CKF_LOGIN_REQUIRED, "login required" },
		{ CKF_USER_PIN_INITIALIZED, "user PIN initialized" },
		{ CKF_PROTECTED_AUTHENTICATION_PATH, "PIN pad" },
		{ CKF_WRITE_PROTECTED, "write protected" },
		{ CKF_RNG, "rng" },
		{ CKF_USER_PIN_COUNT_LOW, "PIN COUNT LOW" },
		{ CKF_USER_PIN_FINAL_TRY, "PIN FINAL TRY" },
		{ CKF_USER_PIN_LOCKED, "PIN LOCKED" },
		{ CKF_USER_PIN_TO_BE_CHANGED, "PIN must be changed" },
		{ CKF_SO_PIN_LOCKED, "SO PIN locked" },
	};
	size_t i;
	int first = 1;

	fprintf(out, "    flags:");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (fl & names[i].flag) {
			fprintf(out, "%s %s", first ? "" : ",", names[i].name);
			first = 0;
		}
	fprintf(out, "\n");
}

/* The token part of a URI: model, manufacturer, serial, token. */
static int
p11_token_uri(const struct p11_token *t, char *buf, size_t len, size_t *used)
{
	int r;

	if (len < 8)
		return KW_ERR_SPACE;
	memcpy(buf, "pkcs11:", 8);
	*used = 7;
	if ((r = p11_uri_append(buf, len, used, "model",
	    (const uint8_t *)t->model, strlen(t->model), 0)) != KW_OK ||
	    (r = p11_uri_append(buf, len, used, "manufacturer",
	    (const uint8_t *)t->manufacturer, strlen(t->manufacturer), 0))
	    != KW_OK ||
	    (r = p11_uri_append(buf, len, used, "serial",
	    (const uint8_t *)t->serial, strlen(t->serial), 0)) != KW_OK ||
	    (r = p11_uri_append(buf, len, used, "token",
	    (const uint8_t *)t->label, strlen(t->label), 0)) != KW_OK)
		return r;
	return KW_OK;
}

static const char *
p11_class_name(CK_OBJECT_CLASS c)
{
	switch (c) {
	case CKO_PRIVATE_KEY:
		return "private";
	case CKO_PUBLIC_KEY:
		return "public";
	case CKO_CERTIFICATE:
		return "cert";
	case CKO_SECRET_KEY:
		return "secret-key";
	case CKO_DATA:
		return "data";
	default:
		return NULL;
	}
}

static void
p11_list_object(FILE *out, CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE o, const char *turi, size_t tlen)
{
	char uri[2048], what[64] = "";
	uint8_t *id = NULL, *label = NULL, *v = NULL;
	size_t id_len = 0, label_len = 0, vlen = 0, used = tlen;
	CK_OBJECT_CLASS cls = 0;
	CK_KEY_TYPE kt = 0;
	const char *cname;
	int sens = -1, extr = -1, never = -1, priv = -1;

	if (p11_attr_ulong(f, s, o, CKA_CLASS, &cls) != KW_OK ||
	    (cname = p11_class_name(cls)) == NULL)
		return;
	(void)p11_attr_get(f, s, o, CKA_ID, &id, &id_len);
	(void)p11_attr_get(f, s, o, CKA_LABEL, &label, &label_len);
	memcpy(uri, turi, tlen + 1);
	if (id_len > 0)
		(void)p11_uri_append(uri, sizeof(uri), &used, "id", id,
		    id_len, 1);
	if (label != NULL)
		(void)p11_uri_append(uri, sizeof(uri), &used, "object", label,
		    label_len, 0);
	(void)p11_uri_append(uri, sizeof(uri), &used, "type",
	    (const uint8_t *)cname, strlen(cname), 0);
	if (cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY) {
		if (p11_attr_ulong(f, s, o, CKA_KEY_TYPE, &kt) == KW_OK &&
		    kt == CKK_EC &&
		    p11_attr_get(f, s, o, CKA_EC_PARAMS, &v, &vlen) == KW_OK) {
			enum kw_key_alg a = p11_ec_alg(v, vlen);

			snprintf(what, sizeof(what), "%s", a != KW_ALG_NONE ?
			    kw_alg_name(a) : "ec (other curve)");
		} else if (kt == CKK_RSA &&
		    p11_attr_get(f, s, o, CKA_MODULUS, &v, &vlen) == KW_OK) {
			while (vlen > 0 && v[0] == 0) {
				memmove(v, v + 1, --vlen);
			}
			snprintf(what, sizeof(what), "rsa%zu", vlen * 8);
		} else
			snprintf(what, sizeof(what), "key type 0x%lx",
			    (unsigned long)kt);
	} else if (cls == CKO_CERTIFICATE)
		snprintf(what, sizeof(what), "X.509");
	fprintf(out, "    %s %s: %s\n", cname, what, uri);
	if (cls == CKO_PRIVATE_KEY) {
		(void)p11_attr_bool(f, s, o, CKA_SENSITIVE, &sens);
		(void)p11_attr_bool(f, s, o, CKA_EXTRACTABLE, &extr);
		(void)p11_attr_bool(f, s, o, CKA_NEVER_EXTRACTABLE, &never);
		(void)p11_attr_bool(f, s, o, CKA_PRIVATE, &priv);
		fprintf(out, "      %s, %s%s%s\n",
		    sens == 1 ? "sensitive" : "NOT sensitive",
		    extr == 0 ? "not extractable" : "EXTRACTABLE",
		    never == 1 ? ", never extractable" : "",
		    priv == 1 ? ", private" : "");
	}
	free(id);
	free(label);
	free(v);
}

static int
p11_list_token(FILE *out, struct p11_module *m, struct p11_token *t,
    const struct p11_opts *opts)
{
	CK_FUNCTION_LIST *f = p11_module_fn(m);
	CK_OBJECT_HANDLE *objs = NULL;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	struct p11_uri pinuri;
	struct p11_auth a;
	char turi[512];
	size_t tlen = 0;
	CK_ULONG n = 0, i;
	int r, pin_failed = 0, open = 0;

	memset(&pinuri, 0, sizeof(pinuri));
	pinuri.pin_source = (char *)(uintptr_t)(opts ? opts->pin_file : NULL);
	memset(&a, 0, sizeof(a));
	a.uri = &pinuri;
	a.pin_fn = opts ? opts->pin_fn : NULL;
	a.pin_arg = opts ? opts->pin_arg : NULL;
	a.risk_final_try = opts ? opts->risk_final_try : 0;
	a.pin_failed = &pin_failed;
	a.state_dir = opts ? opts->state_dir : NULL;
	fprintf(out, "  token '%s': manufacturer '%s', model '%s', serial "
	    "'%s'\n", t->label, t->manufacturer, t->model, t->serial);
	p11_list_flags(out, t->info.flags);
	if ((r = p11_token_uri(t, turi, sizeof(turi), &tlen)) != KW_OK)
		goto out;
	fprintf(out, "    URI: %s\n", turi);
	if ((r = p11_session_login(m, t,  0,
	    opts != NULL && opts->login ? &a : NULL, &s)) != KW_OK)
		goto out;
	open = 1;
	if ((objs = calloc(P11_LIST_MAX, sizeof(*objs))) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = p11_find(f, s, NULL, 0, objs, P11_LIST_MAX, &n)) != KW_OK)
		goto out;
	for (i = 0; i < n; i++)
		p11_list_object(out, f, s, objs[i], turi, tlen);
	if (n == 0)
		fprintf(out, "    (no objects visible)\n");
	if ((t->info.flags & CKF_LOGIN_REQUIRED) &&
	    (opts == NULL || !opts->login))
		fprintf(out, "    (private keys are hidden: add --login)\n");
out:
	if (open)
		(void)f->C_CloseSession(s);
	free(objs);
	return r;
}

int
p11_list(const struct p11_opts *opts, FILE *out)
{
	struct p11_module *m = NULL;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID *slots = NULL;
	CK_SLOT_INFO si;
	CK_INFO info;
	struct p11_token t;
	char a[65], b[33];
	CK_ULONG n = 0, i;
	CK_RV rv;
	int r, failed = KW_OK;

	if ((r = p11_module_get(NULL, opts, &m)) != KW_OK)
		goto out;
	f = p11_module_fn(m);
	if (f->C_GetInfo(&info) == CKR_OK) {
		p11_uri_unpad(a, info.libraryDescription,
		    sizeof(info.libraryDescription));
		p11_uri_unpad(b, info.manufacturerID,
		    sizeof(info.manufacturerID));
		fprintf(out, "module %s: '%s' by '%s', version %u.%u\n",
		    p11_module_path(m), a, b, info.libraryVersion.major,
		    info.libraryVersion.minor);
	}
	if ((rv = f->C_GetSlotList(CK_FALSE, NULL, &n)) != CKR_OK) {
		r = p11_rv_err(rv, "C_GetSlotList");
		goto out;
	}
	if (n == 0) {
		fprintf(out, "no slots (no card reader connected, or pcscd "
		    "not running)\n");
		kw_err("PKCS#11 module %s sees no slot at all: connect the "
		    "card reader (and check that pcscd runs)",
		    p11_module_path(m));
		r = KW_ERR_TOKEN_ABSENT;
		goto out;
	}
	if ((slots = calloc(n, sizeof(*slots))) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((rv = f->C_GetSlotList(CK_FALSE, slots, &n)) != CKR_OK) {
		r = p11_rv_err(rv, "C_GetSlotList");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (f->C_GetSlotInfo(slots[i], &si) != CKR_OK)
			continue;
		p11_uri_unpad(a, si.slotDescription,
		    sizeof(si.slotDescription));
		p11_uri_unpad(b, si.manufacturerID, sizeof(si.manufacturerID));
		fprintf(out, "slot %lu: '%s' (manufacturer '%s')%s%s\n",
		    (unsigned long)slots[i], a, b,
		    (si.flags & CKF_REMOVABLE_DEVICE) ? ", removable" : "",
		    (si.flags & CKF_TOKEN_PRESENT) ? "" : ", no token");
		if (!(si.flags & CKF_TOKEN_PRESENT))
			continue;
		memset(&t, 0, sizeof(t));
		if (f->C_GetTokenInfo(slots[i], &t.info) != CKR_OK)
			continue;
		t.slot = slots[i];
		p11_uri_unpad(t.label, t.info.label, sizeof(t.info.label));
		p11_uri_unpad(t.serial, t.info.serialNumber,
		    sizeof(t.info.serialNumber));
		p11_uri_unpad(t.manufacturer, t.info.manufacturerID,
		    sizeof(t.info.manufacturerID));
		p11_uri_unpad(t.model, t.info.model, sizeof(t.info.model));
		if (!(t.info.flags & CKF_TOKEN_INITIALIZED)) {
			fprintf(out, "  token not initialized\n");
			continue;
		}
		if ((r = p11_list_token(out, m, &t, opts)) != KW_OK &&
		    failed == KW_OK)
			failed = r;
	}
	r = failed;
out:
	free(slots);
	return r;
}
