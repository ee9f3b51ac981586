/* A test-only PKCS#11 shim module that wraps a real one (SoftHSM2) to
 * produce what a real token cannot be made to do on demand, and to count:
 *   KW_SHIM_MODULE  the real module (required)
 *   KW_SHIM_LOG     file: one line "C_Login" appended per C_Login call
 *   KW_SHIM_FLAGS   comma list added to every CK_TOKEN_INFO:
 *                   locked, final, low, pinpad
 *   KW_SHIM_PINPAD  with "pinpad": file holding the PIN the "reader's PIN
 *                   pad" enters; C_Login must then get a NULL PIN
 *   KW_SHIM_ABSENT  file: while it exists, the token is "pulled": no
 *                   token in the slot list, calls fail CKR_DEVICE_REMOVED
 *                   and sessions opened before are dead afterwards.
 *   KW_SHIM_LOGIN_RV "general": a refused C_Login is reported as
 *                   CKR_GENERAL_ERROR (as OpenSC's CAC driver does)
 *   KW_SHIM_LOGOUT  file: when it appears, the next C_SignInit consumes it
 *                   and logs the session out first (another program's
 *                   failed login); while logged out, signatures fail with
 *                   CKR_FUNCTION_FAILED, as such cards report it.
 * Built as a shared library for tests only; never part of keyward.  Its
 * globals are test scaffolding (a PKCS#11 module is process state). */
#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static CK_FUNCTION_LIST shim;
static CK_FUNCTION_LIST *real;
static unsigned long generation;	/* bumped at each "removal" */
static int was_absent;
static CK_SLOT_ID last_slot;
static int have_slot;

#define MAX_SESS 1024
static unsigned long sess_gen[MAX_SESS];

static int
absent(void)
{
	const char *p = getenv("KW_SHIM_ABSENT");
	int now = p != NULL && access(p, F_OK) == 0;

	if (now && !was_absent) {
		/* a pulled card forgets its login: so does SoftHSM here */
		generation++;
		if (have_slot && real != NULL)
			(void)real->C_CloseAllSessions(last_slot);
	}
	was_absent = now;
	return now;
}

static int
has_flag(const char *name)
{
	const char *f = getenv("KW_SHIM_FLAGS");

	return f != NULL && strstr(f, name) != NULL;
}

static int
dead(CK_SESSION_HANDLE s)
{
	if (absent())
		return 1;
	return s < MAX_SESS && sess_gen[s] != generation;
}

static CK_RV
shim_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n)
{
	if (present && absent()) {
		*n = 0;
		return CKR_OK;
	}
	return real->C_GetSlotList(present, list, n);
}

static CK_RV
shim_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv;

	if (absent())
		return CKR_TOKEN_NOT_PRESENT;
	if ((rv = real->C_GetTokenInfo(slot, info)) != CKR_OK)
		return rv;
	if (has_flag("locked"))
		info->flags |= CKF_USER_PIN_LOCKED;
	if (has_flag("final"))
		info->flags |= CKF_USER_PIN_FINAL_TRY;
	if (has_flag("low"))
		info->flags |= CKF_USER_PIN_COUNT_LOW;
	if (has_flag("pinpad"))
		info->flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
	return CKR_OK;
}

static CK_RV
shim_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	CK_RV rv;

	if ((rv = real->C_GetSlotInfo(slot, info)) != CKR_OK)
		return rv;
	if (absent())
		info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
	return CKR_OK;
}

static CK_RV
shim_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s)
{
	CK_RV rv;

	if (absent())
		return CKR_TOKEN_NOT_PRESENT;
	rv = real->C_OpenSession(slot, flags, app, notify, s);
	last_slot = slot;
	have_slot = 1;
	if (rv == CKR_OK && *s < MAX_SESS)
		sess_gen[*s] = generation;
	return rv;
}

static CK_RV
shim_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
    CK_ULONG len)
{
	const char *log = getenv("KW_SHIM_LOG"), *pad = getenv("KW_SHIM_PINPAD");
	const char *how;
	char buf[256];
	FILE *f;
	size_t n;
	CK_RV rv;

	if (log != NULL && (f = fopen(log, "a")) != NULL) {
		fprintf(f, "C_Login\n");
		fclose(f);
	}
	if (dead(s))
		return CKR_DEVICE_REMOVED;
	if (has_flag("locked"))
		return CKR_PIN_LOCKED;
	if (has_flag("pinpad")) {
		if (pin != NULL)
			return CKR_ARGUMENTS_BAD;	/* must be NULL */
		if (pad == NULL || (f = fopen(pad, "r")) == NULL)
			return CKR_FUNCTION_CANCELED;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		return real->C_Login(s, user, (CK_UTF8CHAR_PTR)buf, n);
	}
	rv = real->C_Login(s, user, pin, len);
	if (rv == CKR_PIN_INCORRECT && (how = getenv("KW_SHIM_LOGIN_RV"))
	    != NULL && strcmp(how, "general") == 0)
		return CKR_GENERAL_ERROR;
	return rv;
}

/* The card's answer while it has logged us out. */
static CK_RV
logged_out(CK_RV rv)
{
	if (getenv("KW_SHIM_LOGOUT") != NULL && rv != CKR_OK)
		return CKR_FUNCTION_FAILED;
	return rv;
}

static CK_RV
shim_SignInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	const char *out = getenv("KW_SHIM_LOGOUT");

	if (dead(s))
		return absent() ? CKR_DEVICE_REMOVED :
		    CKR_SESSION_HANDLE_INVALID;
	if (out != NULL && access(out, F_OK) == 0 && unlink(out) == 0)
		(void)real->C_Logout(s);
	return logged_out(real->C_SignInit(s, m, k));
}

static CK_RV
shim_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR sig,
    CK_ULONG_PTR sl)
{
	if (dead(s))
		return absent() ? CKR_DEVICE_REMOVED :
		    CKR_SESSION_HANDLE_INVALID;
	return logged_out(real->C_Sign(s, d, dl, sig, sl));
}

/* Decryption (SCEP) sees the same logged-out card as signing. */
static CK_RV
shim_DecryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	const char *out = getenv("KW_SHIM_LOGOUT");

	if (dead(s))
		return absent() ? CKR_DEVICE_REMOVED :
		    CKR_SESSION_HANDLE_INVALID;
	if (out != NULL && access(out, F_OK) == 0 && unlink(out) == 0)
		(void)real->C_Logout(s);
	return logged_out(real->C_DecryptInit(s, m, k));
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	CK_RV (*getfl)(CK_FUNCTION_LIST_PTR_PTR);
	const char *path = getenv("KW_SHIM_MODULE");
	void *dl;
	CK_RV rv;

	if (real == NULL) {
		if (path == NULL || (dl = dlopen(path, RTLD_NOW)) == NULL)
			return CKR_GENERAL_ERROR;
		*(void **)(&getfl) = dlsym(dl, "C_GetFunctionList");
		if (getfl == NULL || (rv = getfl(&real)) != CKR_OK)
			return CKR_GENERAL_ERROR;
		shim = *real;
		shim.C_GetFunctionList = C_GetFunctionList;
		shim.C_GetSlotList = shim_GetSlotList;
		shim.C_GetTokenInfo = shim_GetTokenInfo;
		shim.C_GetSlotInfo = shim_GetSlotInfo;
		shim.C_OpenSession = shim_OpenSession;
		shim.C_Login = shim_Login;
		shim.C_SignInit = shim_SignInit;
		shim.C_Sign = shim_Sign;
		shim.C_DecryptInit = shim_DecryptInit;
	}
	*list = &shim;
	return CKR_OK;
}
