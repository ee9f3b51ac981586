/* Slots, tokens, sessions and the login rules of the PKCS#11 backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_secret.h"
#include "p11_internal.h"

static void
p11_token_fill(struct p11_token *t, CK_SLOT_ID slot)
{
	t->slot = slot;
	p11_uri_unpad(t->label, t->info.label, sizeof(t->info.label));
	p11_uri_unpad(t->serial, t->info.serialNumber,
	    sizeof(t->info.serialNumber));
	p11_uri_unpad(t->manufacturer, t->info.manufacturerID,
	    sizeof(t->info.manufacturerID));
	p11_uri_unpad(t->model, t->info.model, sizeof(t->info.model));
}

static int
p11_lib_matches(CK_FUNCTION_LIST *f, const struct p11_uri *u)
{
	CK_INFO info;

	if (u->lib_manufacturer == NULL && u->lib_description == NULL &&
	    u->lib_ver_major < 0)
		return 1;
	if (f->C_GetInfo(&info) != CKR_OK)
		return 0;
	if (!p11_uri_field_eq(u->lib_manufacturer, info.manufacturerID,
	    sizeof(info.manufacturerID)) ||
	    !p11_uri_field_eq(u->lib_description, info.libraryDescription,
	    sizeof(info.libraryDescription)))
		return 0;
	if (u->lib_ver_major >= 0 &&
	    (info.libraryVersion.major != u->lib_ver_major ||
	    info.libraryVersion.minor != u->lib_ver_minor))
		return 0;
	return 1;
}

/* A short description of what the URI asks for, for messages. */
static void
p11_token_want(const struct p11_uri *u, const char *serial,
    const char *label, char *buf, size_t len)
{
	if (label != NULL || serial != NULL)
		snprintf(buf, len, "token '%s' (serial %s)", label ? label : "",
		    serial ? serial : "?");
	else if (u->token != NULL && u->serial != NULL)
		snprintf(buf, len, "token '%s' (serial %s)", u->token,
		    u->serial);
	else if (u->token != NULL)
		snprintf(buf, len, "token '%s'", u->token);
	else if (u->serial != NULL)
		snprintf(buf, len, "the token with serial %s", u->serial);
	else
		snprintf(buf, len, "a token");
}

static int
p11_token_lookup(struct p11_module *m, const struct p11_uri *u,
    const char *serial, const char *label, int quiet, struct p11_token *out)
{
	CK_FUNCTION_LIST *f = p11_module_fn(m);
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, all = 0, i, matches = 0;
	CK_SLOT_INFO si;
	struct p11_token t, found;
	char want[128], names[512];
	size_t used = 0;
	CK_RV rv;
	int r, k;

	/* serial and label may point into *out: write it only at the end */
	memset(&found, 0, sizeof(found));
	names[0] = '\0';
	p11_token_want(u, serial, label, want, sizeof(want));
	if (!p11_lib_matches(f, u)) {
		kw_err("PKCS#11 module %s is not the library the URI names "
		    "(library-manufacturer/description/version)",
		    p11_module_path(m));
		r = KW_ERR_NOT_FOUND;
		goto out;
	}
	if ((rv = f->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK) {
		r = p11_rv_err(rv, "C_GetSlotList");
		kw_err("cannot list the slots of PKCS#11 module %s",
		    p11_module_path(m));
		goto out;
	}
	if (n > 0) {
		if ((slots = calloc(n, sizeof(*slots))) == NULL) {
			r = KW_ERR_NOMEM;
			goto out;
		}
		if ((rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
			r = p11_rv_err(rv, "C_GetSlotList");
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (u->has_slot_id && slots[i] != u->slot_id)
			continue;
		if (u->slot_description != NULL || u->slot_manufacturer != NULL) {
			if (f->C_GetSlotInfo(slots[i], &si) != CKR_OK ||
			    !p11_uri_field_eq(u->slot_description,
			    si.slotDescription, sizeof(si.slotDescription)) ||
			    !p11_uri_field_eq(u->slot_manufacturer,
			    si.manufacturerID, sizeof(si.manufacturerID)))
				continue;
		}
		memset(&t, 0, sizeof(t));
		if (f->C_GetTokenInfo(slots[i], &t.info) != CKR_OK)
			continue;	/* removed meanwhile */
		if (!(t.info.flags & CKF_TOKEN_INITIALIZED))
			continue;	/* e.g. SoftHSM's spare slot */
		if (!p11_uri_field_eq(u->token, t.info.label,
		    sizeof(t.info.label)) ||
		    !p11_uri_field_eq(u->manufacturer, t.info.manufacturerID,
		    sizeof(t.info.manufacturerID)) ||
		    !p11_uri_field_eq(u->model, t.info.model,
		    sizeof(t.info.model)) ||
		    !p11_uri_field_eq(u->serial, t.info.serialNumber,
		    sizeof(t.info.serialNumber)) ||
		    !p11_uri_field_eq(serial, t.info.serialNumber,
		    sizeof(t.info.serialNumber)) ||
		    !p11_uri_field_eq(label, t.info.label,
		    sizeof(t.info.label)))
			continue;
		p11_token_fill(&t, slots[i]);
		k = snprintf(names + used, sizeof(names) - used, "%s'%s' "
		    "(serial %s)", matches ? ", " : "", t.label, t.serial);
		if (k > 0 && (size_t)k < sizeof(names) - used)
			used += (size_t)k;
		if (matches++ == 0)
			found = t;
	}
	if (matches == 1) {
		*out = found;
		r = KW_OK;
		goto out;
	}
	if (matches > 1) {
		kw_err("the PKCS#11 URI matches %lu tokens: %s; add token= or "
		    "serial= to choose one", (unsigned long)matches, names);
		r = KW_ERR_ARG;
		goto out;
	}
	r = KW_ERR_TOKEN_ABSENT;
	if (quiet)
		goto out;
	(void)f->C_GetSlotList(CK_FALSE, NULL, &all);
	if (all == 0)
		kw_err("PKCS#11 module %s sees no slot at all (no card reader "
		    "connected, or pcscd not running): connect the reader "
		    "and insert the card", p11_module_path(m));
	else
		kw_err("%s is not present in any of the %lu slot(s) of "
		    "PKCS#11 module %s: insert the card or check the token's "
		    "configuration (see `keyward tokens`)", want,
		    (unsigned long)all, p11_module_path(m));
out:
	free(slots);
	return r;
}

int
p11_token_find(struct p11_module *m, const struct p11_uri *u,
    const char *serial, const char *label, struct p11_token *out)
{
	return p11_token_lookup(m, u, serial, label, 0, out);
}

int
p11_token_find_quiet(struct p11_module *m, const struct p11_uri *u,
    const char *serial, const char *label, struct p11_token *out)
{
	return p11_token_lookup(m, u, serial, label, 1, out);
}

/* Where the PIN comes from, for messages. */
static void
p11_pin_source(const struct p11_auth *a, char *buf, size_t len)
{
	const char *path = NULL;

	if (a->uri != NULL && a->uri->pin_value != NULL)
		snprintf(buf, len, "the key URI's pin-value");
	else if (a->uri != NULL && a->uri->pin_source != NULL &&
	    p11_uri_pin_file(a->uri, &path, NULL, 0) == KW_OK)
		snprintf(buf, len, "PIN file %s", path);
	else
		snprintf(buf, len, "the PIN entered");
}

/* The PIN from the URI (pin-value or pin-source) or the prompt. */
static int
p11_pin_get(const struct p11_token *t, const struct p11_auth *a, char **pin)
{
	char msg[256], prompt[96];
	const char *path;
	int r, err = KW_ERR_PIN_REQUIRED;

	*pin = NULL;
	if (a->uri != NULL && a->uri->pin_value != NULL) {
		kw_warn("the PIN of token '%s' is written in the key URI "
		    "(pin-value): anyone who can read the configuration can "
		    "read it; use ?pin-source=file:PATH (mode 0600) instead",
		    t->label);
		if ((*pin = strdup(a->uri->pin_value)) == NULL)
			return KW_ERR_NOMEM;
		return KW_OK;
	}
	if (a->uri != NULL && a->uri->pin_source != NULL) {
		if ((r = p11_uri_pin_file(a->uri, &path, msg, sizeof(msg)))
		    != KW_OK) {
			kw_err("%s", msg);
			return r;
		}
		if ((r = kw_secret_file_read(path, "PIN file", pin)) != KW_OK)
			return r == KW_ERR_PARSE || r == KW_ERR_UNSAFE_FILE ?
			    r : KW_ERR_PIN_REQUIRED;
		return KW_OK;
	}
	if (a->pin_fn != NULL) {
		snprintf(prompt, sizeof(prompt), "PIN for token '%s': ",
		    t->label);
		if ((*pin = a->pin_fn(a->pin_arg, prompt, &err)) != NULL)
			return KW_OK;
	}
	kw_err("token '%s' needs its user PIN and there is no way to ask for "
	    "it: add ?pin-source=file:PATH to the key URI (a query "
	    "attribute, after '?'), or run keyward on a terminal (or as a "
	    "service with systemd-ask-password)", t->label);
	return err != KW_OK ? err : KW_ERR_PIN_REQUIRED;
}

/* Refused PINs are remembered per token: its serial names the record, and
 * manufacturer, model and serial (what a relabelling does not change) are
 * bound into the digest. */
static void
p11_pin_subject(const struct p11_token *t, char *subject, size_t slen,
    char *bind, size_t blen)
{
	const char *id = t->serial[0] ? t->serial : t->label;

	snprintf(subject, slen, "p11-%s", id);
	snprintf(bind, blen, "pkcs11 user PIN\n%s\n%s\n%s",
	    t->manufacturer, t->model, id);
}

/* Check the PIN against what is known before it goes to the token: the
 * PIN that last worked (when logging in again) and the PINs refused. */
static int
p11_pin_check(const struct p11_token *t, const struct p11_auth *a,
    const char *pin)
{
	char subject[64], bind[160], src[300], file[4200];
	uint8_t d[KW_SECRET_DIGEST_LEN];
	int r, seen = 0;

	if (a->relogin && a->ok_key != NULL && a->have_ok != NULL &&
	    *a->have_ok) {
		if ((r = kw_secret_hmac(a->ok_key, 32, "pin", 3, pin,
		    strlen(pin), d)) != KW_OK)
			goto out;
		if (!kw_memeq_ct(d, a->ok_digest, sizeof(d))) {
			p11_pin_source(a, src, sizeof(src));
			kw_err("token '%s' needs a new login, but %s no longer "
			    "holds the PIN keyward logged in with: not sending "
			    "an untried PIN mid-run (restart keyward to use "
			    "the new one)", t->label, src);
			r = KW_ERR_STATE;
			goto out;
		}
	}
	p11_pin_subject(t, subject, sizeof(subject), bind, sizeof(bind));
	if ((r = kw_failmem_seen(a->state_dir, subject, bind, pin, &seen,
	    file, sizeof(file))) != KW_OK) {
		/* a PIN that may have been refused is not risked */
		kw_err("cannot check the PIN for token '%s' against the record "
		    "of refused PINs %s (%s): not sending it; fix or delete "
		    "that record", t->label, file, kw_strerror(r));
		goto out;
	}
	if (seen) {
		p11_pin_source(a, src, sizeof(src));
		kw_err("token '%s' (serial %s) refused this PIN before: keyward "
		    "never sends a refused PIN again; put the right PIN in %s "
		    "(a changed PIN is tried once), or, if the card's PIN has "
		    "since been reset to this one, delete %s", t->label,
		    t->serial, src, file);
		r = KW_ERR_PIN_FAILED_BEFORE;
		goto out;
	}
	r = KW_OK;
out:
	explicit_bzero(d, sizeof(d));
	return r;
}

/* After C_Login: remember what happened to this PIN. */
static void
p11_pin_result(const struct p11_token *t, const struct p11_auth *a,
    const char *pin, int refused)
{
	char subject[64], bind[160];

	p11_pin_subject(t, subject, sizeof(subject), bind, sizeof(bind));
	if (refused) {
		/* remembered on disk (a changed PIN may then be tried), else
		 * this key object tries no PIN again */
		if ((a->state_dir == NULL || pin == NULL ||
		    kw_failmem_add(a->state_dir, subject, bind, pin) != KW_OK) &&
		    a->pin_failed != NULL)
			*a->pin_failed = 1;
		return;
	}
	/* a success does not clear the record: the refused PINs stay
	 * refused (the card's PIN could only become one of them by a
	 * reset, and the message says which file to delete then) */
	if (pin != NULL && a->ok_key != NULL && a->ok_digest != NULL &&
	    a->have_ok != NULL)
		*a->have_ok = kw_secret_hmac(a->ok_key, 32, "pin", 3, pin,
		    strlen(pin), a->ok_digest) == KW_OK;
}

int
p11_token_login(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, struct p11_token *t,
    const struct p11_auth *a)
{
	CK_FLAGS fl = t->info.flags;
	CK_TOKEN_INFO after;
	char *pin = NULL;
	CK_RV rv;
	int r;

	if (a->pin_failed != NULL && *a->pin_failed) {
		kw_err("the PIN for token '%s' was refused before; keyward "
		    "never retries a wrong PIN (fix the PIN source and "
		    "restart)", t->label);
		r = KW_ERR_PIN_FAILED_BEFORE;
		goto out;
	}
	if (fl & CKF_USER_PIN_LOCKED) {
		kw_err("the user PIN of token '%s' is locked (too many wrong "
		    "PINs): keyward did not try it; have IT unblock the PIN "
		    "with the SO PIN/PUK", t->label);
		r = KW_ERR_PIN_LOCKED;
		goto out;
	}
	if (fl & CKF_USER_PIN_FINAL_TRY) {
		if (!a->risk_final_try) {
			kw_err("token '%s' has only one PIN try left: keyward "
			    "will not risk locking it; check the PIN, then "
			    "allow one try with KEYWARD_RISK_FINAL_PIN_TRY=1",
			    t->label);
			r = KW_ERR_PIN_LOW;
			goto out;
		}
		kw_warn("token '%s' has only one PIN try left; trying once "
		    "as asked (a wrong PIN locks it)", t->label);
	} else if (fl & CKF_USER_PIN_COUNT_LOW)
		kw_warn("token '%s' reports a low PIN count: a wrong PIN was "
		    "entered before; another few will lock it", t->label);
	if (fl & CKF_PROTECTED_AUTHENTICATION_PATH) {
		kw_info("enter the PIN for token '%s' on the reader's PIN pad",
		    t->label);
		rv = f->C_Login(s, CKU_USER, NULL, 0);
	} else {
		if ((r = p11_pin_get(t, a, &pin)) != KW_OK ||
		    (r = p11_pin_check(t, a, pin)) != KW_OK)
			goto out;
		rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)pin,
		    (CK_ULONG)strlen(pin));
	}
	r = p11_rv_err(rv, "C_Login");
	switch (rv) {
	case CKR_OK:
	case CKR_USER_ALREADY_LOGGED_IN:
		p11_pin_result(t, a, pin, 0);
		r = KW_OK;
		break;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		p11_pin_result(t, a, pin, 1);
		memset(&after, 0, sizeof(after));
		(void)f->C_GetTokenInfo(t->slot, &after);
		kw_err("wrong PIN for token '%s' (%s); keyward does not retry "
		    "it%s", t->label, p11_rv_name(rv),
		    (after.flags & CKF_USER_PIN_LOCKED) ? ": the PIN is now "
		    "locked" : (after.flags & CKF_USER_PIN_FINAL_TRY) ?
		    ": one try is left before the token locks" :
		    (after.flags & CKF_USER_PIN_COUNT_LOW) ?
		    ": the token reports few tries left" : "");
		r = KW_ERR_PIN_INCORRECT;
		break;
	case CKR_GENERAL_ERROR:
	case CKR_FUNCTION_FAILED:
	case CKR_DEVICE_ERROR:
		/* Some cards (OpenSC's CAC driver) report a wrong PIN so:
		 * a PIN that may have been counted is not sent again. */
		p11_pin_result(t, a, pin, 1);
		kw_err("token '%s' refused the login (%s); some cards report a "
		    "wrong PIN this way, so keyward treats it as one and does "
		    "not send this PIN again", t->label, p11_rv_name(rv));
		r = KW_ERR_PIN_INCORRECT;
		break;
	case CKR_PIN_LOCKED:
		kw_err("the user PIN of token '%s' is locked: have IT unblock "
		    "it with the SO PIN/PUK", t->label);
		break;
	case CKR_PIN_EXPIRED:
		kw_err("the user PIN of token '%s' has expired: change it "
		    "with the card's tool first", t->label);
		break;
	case CKR_FUNCTION_CANCELED:
	case CKR_CANCEL:
		kw_err("PIN entry for token '%s' was cancelled", t->label);
		break;
	default:
		kw_err("cannot log in to token '%s': %s", t->label,
		    p11_rv_name(rv));
		break;
	}
out:
	kw_free_secret(pin);
	return r;
}

int
p11_session_login(struct p11_module *m, struct p11_token *t, int rw,
    const struct p11_auth *a, CK_SESSION_HANDLE *session)
{
	CK_FUNCTION_LIST *f = p11_module_fn(m);
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_SESSION_INFO si;
	CK_RV rv;
	int r, open = 0;

	*session = CK_INVALID_HANDLE;
	rv = f->C_OpenSession(t->slot, CKF_SERIAL_SESSION |
	    (rw ? CKF_RW_SESSION : 0), NULL, NULL, &s);
	if ((r = p11_rv_err(rv, "C_OpenSession")) != KW_OK) {
		if (r == KW_ERR_TOKEN_ABSENT)
			kw_err("token '%s' (serial %s) is not present: insert "
			    "it again", t->label, t->serial);
		else
			kw_err("cannot open a session on token '%s'",
			    t->label);
		goto out;
	}
	open = 1;
	/* flags as of now: PIN counters change between calls */
	if ((rv = f->C_GetTokenInfo(t->slot, &t->info)) != CKR_OK) {
		r = p11_rv_err(rv, "C_GetTokenInfo");
		goto out;
	}
	if (!(t->info.flags & CKF_LOGIN_REQUIRED) || a == NULL) {
		r = KW_OK;
		goto done;
	}
	if (f->C_GetSessionInfo(s, &si) == CKR_OK &&
	    (si.state == CKS_RO_USER_FUNCTIONS ||
	    si.state == CKS_RW_USER_FUNCTIONS)) {
		r = KW_OK;	/* this process is logged in already */
		goto done;
	}
	if ((r = p11_token_login(f, s, t, a)) != KW_OK)
		goto out;
done:
	*session = s;
	open = 0;
out:
	if (open)
		(void)f->C_CloseSession(s);
	return r;
}

int
p11_find(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
    CK_ULONG n, CK_OBJECT_HANDLE *found, CK_ULONG max, CK_ULONG *count)
{
	CK_RV rv;
	int r;

	*count = 0;
	if ((rv = f->C_FindObjectsInit(s, tmpl, n)) != CKR_OK)
		return p11_rv_err(rv, "C_FindObjectsInit");
	rv = f->C_FindObjects(s, found, max, count);
	r = p11_rv_err(rv, "C_FindObjects");
	(void)f->C_FindObjectsFinal(s);
	if (r != KW_OK)
		*count = 0;
	return r;
}

int
p11_attr_get(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	uint8_t *buf = NULL;
	CK_RV rv;
	int r;

	*val = NULL;
	*len = 0;
	if ((rv = f->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK) {
		r = p11_rv_err(rv, "C_GetAttributeValue");
		goto out;
	}
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
	    a.ulValueLen > 65536) {
		r = KW_ERR_NOT_FOUND;
		goto out;
	}
	if ((buf = calloc(1, a.ulValueLen + 1)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	a.pValue = buf;
	if ((rv = f->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK) {
		r = p11_rv_err(rv, "C_GetAttributeValue");
		goto out;
	}
	*val = buf;
	*len = a.ulValueLen;
	buf = NULL;
	r = KW_OK;
out:
	free(buf);
	return r;
}

int
p11_attr_bool(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, int *val)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = { type, &b, sizeof(b) };
	CK_RV rv;

	*val = -1;
	rv = f->C_GetAttributeValue(s, o, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
		return KW_OK;
	if (rv != CKR_OK)
		return p11_rv_err(rv, "C_GetAttributeValue");
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return KW_OK;
	*val = b != CK_FALSE;
	return KW_OK;
}

int
p11_attr_ulong(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, CK_ULONG *val)
{
	CK_ATTRIBUTE a = { type, val, sizeof(*val) };
	CK_RV rv;

	*val = 0;
	if ((rv = f->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK)
		return p11_rv_err(rv, "C_GetAttributeValue");
	if (a.ulValueLen != sizeof(*val))
		return KW_ERR_NOT_FOUND;
	return KW_OK;
}
