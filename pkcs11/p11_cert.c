/* Certificates on a token named by a pkcs11: URI (--cert pkcs11:..., `cert
 * =` in the config, `keyward tokens --export-cert`): found by the URI's
 * token, object= label and id=, without a login (certificates are public
 * objects on most cards), else after one when the URI names the PIN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "p11_internal.h"

/* Certificates matching the URI in session s: exactly one -> *der. */
static int
p11_cert_search(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
    const struct p11_uri *u, const struct p11_token *t, uint8_t **der,
    size_t *der_len, CK_ULONG *count)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE tmpl[3];
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;
	int r;

	tmpl[n].type = CKA_CLASS;
	tmpl[n].pValue = &cls;
	tmpl[n++].ulValueLen = sizeof(cls);
	if (u->has_id) {
		tmpl[n].type = CKA_ID;
		tmpl[n].pValue = u->id;
		tmpl[n++].ulValueLen = u->id_len;
	}
	if (u->object != NULL) {
		tmpl[n].type = CKA_LABEL;
		tmpl[n].pValue = u->object;
		tmpl[n++].ulValueLen = strlen(u->object);
	}
	if ((r = p11_find(f, s, tmpl, n, found, 2, count)) != KW_OK) {
		kw_err("cannot search token '%s' for certificates", t->label);
		return r;
	}
	if (*count != 1)
		return KW_ERR_NOT_FOUND;
	return p11_attr_get(f, s, found[0], CKA_VALUE, der, der_len);
}

int
p11_cert_find(const char *uri, const struct p11_opts *opts, uint8_t **der,
    size_t *der_len)
{
	struct p11_module *m = NULL;
	struct p11_uri *u = NULL;
	struct p11_token t;
	struct p11_auth a;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_FUNCTION_LIST *f = NULL;
	CK_ULONG count = 0;
	char msg[300];
	int r, open = 0, entered = 0, pin_failed = 0;

	*der = NULL;
	*der_len = 0;
	if ((r = p11_uri_parse(uri, &u, msg, sizeof(msg))) != KW_OK) {
		if (r == KW_ERR_PARSE) {
			kw_err("%s", msg);
			r = KW_ERR_ARG;
		}
		goto out;
	}
	if (u->type == (long)CKO_PRIVATE_KEY) {
		/* a key: the certificate stored next to it */
		r = p11_cert_read(uri, opts, der, der_len);
		goto out;
	}
	if (u->type != P11_URI_TYPE_NONE && u->type != (long)CKO_CERTIFICATE) {
		kw_err("the certificate URI names another kind of object: use "
		    "type=cert (or type=private for the key's certificate)");
		r = KW_ERR_ARG;
		goto out;
	}
	if (u->object == NULL && !u->has_id) {
		kw_err("the certificate URI names no object: add object=LABEL "
		    "or id=%%XX (see `keyward tokens`)");
		r = KW_ERR_ARG;
		goto out;
	}
	if ((r = p11_module_get(u, opts, &m)) != KW_OK)
		goto out;
	f = p11_module_fn(m);
	p11_module_enter(m);
	entered = 1;
	if ((r = p11_token_find(m, u, NULL, NULL, &t)) != KW_OK ||
	    (r = p11_session_login(m, &t, 0, NULL, &s)) != KW_OK)
		goto out;
	open = 1;
	r = p11_cert_search(f, s, u, &t, der, der_len, &count);
	if (r == KW_ERR_NOT_FOUND && count == 0 &&
	    (t.info.flags & CKF_LOGIN_REQUIRED) &&
	    (u->pin_source != NULL || u->pin_value != NULL)) {
		/* a token that hides its certificates until a login (only
		 * when the URI says where the PIN is: certificates are
		 * public objects on most cards) */
		(void)f->C_CloseSession(s);
		open = 0;
		memset(&a, 0, sizeof(a));
		a.uri = u;
		a.pin_fn = opts ? opts->pin_fn : NULL;
		a.pin_arg = opts ? opts->pin_arg : NULL;
		a.risk_final_try = opts ? opts->risk_final_try : 0;
		a.state_dir = opts ? opts->state_dir : NULL;
		a.pin_failed = &pin_failed;
		if ((r = p11_session_login(m, &t, 0, &a, &s)) != KW_OK)
			goto out;
		open = 1;
		r = p11_cert_search(f, s, u, &t, der, der_len, &count);
	}
	if (r == KW_ERR_NOT_FOUND && count > 1)
		kw_err("token '%s' has several certificates matching the URI: "
		    "add id= to choose one (see `keyward tokens`)", t.label);
	else if (r == KW_ERR_NOT_FOUND)
		kw_err("token '%s' has no certificate matching the URI (see "
		    "`keyward tokens`%s)", t.label,
		    (t.info.flags & CKF_LOGIN_REQUIRED) &&
		    u->pin_source == NULL && u->pin_value == NULL ?
		    "; for one visible only after a login, add "
		    "?pin-source=file:PATH" : "");
	else if (r != KW_OK)
		kw_err("cannot read the certificate from token '%s'", t.label);
	if (r == KW_ERR_NOT_FOUND && count > 1)
		r = KW_ERR_ARG;
out:
	if (open)
		(void)f->C_CloseSession(s);
	if (entered)
		p11_module_leave(m);
	p11_uri_free(u);
	return r;
}
