/* The one TSS2_RC translator of keyward: every Esys_* / TCTI failure ends
 * here, is logged once (what failed, on what, the decoded text, the raw
 * value, what to do) and becomes one KW_ERR_*. */
#include <stdio.h>

#include <tss2/tss2_rc.h>

#include "kw_error.h"
#include "kw_log.h"
#include "tpm_int.h"

/* The TPM's own response code with handle/parameter/session numbers
 * stripped, or 0 if rc did not come from a TPM. */
static TSS2_RC
tpm_rc_tpm_code(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK, r = rc & 0xffff;

	if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
		return 0;
	if (r & TPM2_RC_FMT1)
		return r & (TPM2_RC_FMT1 | 0x3f);
	if (r & 0x400)
		return 0;	/* vendor defined */
	return r & 0x97f;
}

int
tpm_rc_is_disconnect(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
	TSS2_RC base = rc & 0xffff;

	if (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER)
		return 0;
	return base == TSS2_BASE_RC_IO_ERROR ||
	    base == TSS2_BASE_RC_NO_CONNECTION ||
	    base == TSS2_BASE_RC_MALFORMED_RESPONSE ||
	    base == TSS2_BASE_RC_INSUFFICIENT_RESPONSE;
}

int
tpm_rc_is_key_lost(TSS2_RC rc)
{
	/* A TCTI that connects per command (swtpm) reaches a restarted TPM
	 * that no longer holds our transient key. */
	/* Without a resource manager another program may flush it too. */
	return tpm_rc_is_disconnect(rc) ||
	    tpm_rc_tpm_code(rc) == TPM2_RC_REFERENCE_H0 ||
	    tpm_rc_tpm_code(rc) == TPM2_RC_HANDLE;
}

int
tpm_rc_is_busy(TSS2_RC rc)
{
	TSS2_RC code = tpm_rc_tpm_code(rc);

	return code == TPM2_RC_OBJECT_MEMORY ||
	    code == TPM2_RC_SESSION_MEMORY || code == TPM2_RC_MEMORY ||
	    code == TPM2_RC_RETRY || code == TPM2_RC_YIELDED ||
	    code == TPM2_RC_TESTING;
}

int
tpm_rc_is_undecryptable(TSS2_RC rc)
{
	TSS2_RC code = tpm_rc_tpm_code(rc);

	return code == TPM2_RC_VALUE || code == TPM2_RC_SIZE ||
	    code == TPM2_RC_FAILURE;
}

int
tpm_rc_map(TSS2_RC rc)
{
	TSS2_RC code = tpm_rc_tpm_code(rc), base = rc & 0xffff;

	if (rc == TSS2_RC_SUCCESS)
		return KW_OK;
	if (code != 0) {
		switch (code) {
		case TPM2_RC_INTEGRITY:
			return KW_ERR_WRONG_TPM;
		case TPM2_RC_AUTH_FAIL:
		case TPM2_RC_BAD_AUTH:
			return KW_ERR_PIN_INCORRECT;
		case TPM2_RC_LOCKOUT:
			return KW_ERR_PIN_LOCKED;
		case TPM2_RC_HANDLE:
		case TPM2_RC_REFERENCE_H0:
			return KW_ERR_NOT_FOUND;
		case TPM2_RC_NV_DEFINED:
			return KW_ERR_EXISTS;
		case TPM2_RC_NV_SPACE:
			return KW_ERR_SPACE;
		case TPM2_RC_SCHEME:
		case TPM2_RC_HASH:
		case TPM2_RC_CURVE:
		case TPM2_RC_KEY_SIZE:
			return KW_ERR_UNSUPPORTED;
		default:
			return KW_ERR_TPM;
		}
	}
	if (tpm_rc_is_disconnect(rc) || base == TSS2_BASE_RC_NO_TPM)
		return KW_ERR_TOKEN_ABSENT;
	switch (base) {
	case TSS2_BASE_RC_MEMORY:
		return KW_ERR_NOMEM;
	case TSS2_BASE_RC_BAD_REFERENCE:
	case TSS2_BASE_RC_BAD_CONTEXT:
	case TSS2_BASE_RC_BAD_TR:
		return KW_ERR_ARG;
	case TSS2_BASE_RC_NOT_SUPPORTED:
	case TSS2_BASE_RC_NOT_IMPLEMENTED:
	case TSS2_BASE_RC_INCOMPATIBLE_TCTI:
		if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER)
			return KW_ERR_CONFIG;
		return KW_ERR_UNSUPPORTED;
	case TSS2_BASE_RC_BAD_VALUE:
		if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER)
			return KW_ERR_CONFIG;
		return KW_ERR_TPM;
	default:
		return KW_ERR_TPM;
	}
}

int
tpm_rc_err(TSS2_RC rc, const struct tpm_rcctx *c)
{
	const char *what = c->what ? c->what : "TPM operation";
	const char *obj = c->obj ? c->obj : "the TPM";
	const char *tcti = c->tcti ? c->tcti : "the default TCTI (/dev/tpmrm0)";
	const char *text = Tss2_RC_Decode(rc);
	TSS2_RC code = tpm_rc_tpm_code(rc);
	int r = tpm_rc_map(rc);

	if (r == KW_OK)
		return r;
	switch (r) {
	case KW_ERR_WRONG_TPM:
		if (c->is_file)
			kw_err("%s was made by a different TPM (or this TPM "
			    "was cleared): generate a new key [%s, 0x%x]",
			    obj, text, rc);
		else
			kw_err("%s: %s does not belong to this TPM (or the "
			    "TPM was cleared): generate a new key [%s, 0x%x]",
			    what, obj, text, rc);
		break;
	case KW_ERR_PIN_INCORRECT:
		if (c->is_owner) {
			kw_err("%s: the TPM's owner hierarchy has a password; "
			    "keyward needs it empty (clear it with "
			    "tpm2_changeauth -c owner -p OLD) [%s, 0x%x]",
			    what, text, rc);
			break;
		}
		kw_err("%s: the TPM rejected the auth value of %s: check "
		    "--auth-file (not retried: failures count toward the "
		    "TPM's dictionary-attack lockout) [%s, 0x%x]",
		    what, obj, text, rc);
		break;
	case KW_ERR_PIN_LOCKED:
		kw_err("%s: the TPM is in dictionary-attack lockout and "
		    "refuses %s: wait for the lockout to expire, or have the "
		    "TPM owner reset it (tpm2_dictionarylockout -c); not "
		    "retried [%s, 0x%x]", what, obj, text, rc);
		break;
	case KW_ERR_TOKEN_ABSENT:
		kw_err("cannot reach the TPM at %s: %s (0x%x); start "
		    "swtpm/tpm2-abrmd or pass --tcti", tcti, text, rc);
		break;
	case KW_ERR_CONFIG:
		kw_err("cannot use the TCTI '%s': %s (0x%x); check --tcti, "
		    "$TPM2TOOLS_TCTI or $TCTI (e.g. device:/dev/tpmrm0, "
		    "swtpm:host=127.0.0.1,port=2321)", tcti, text, rc);
		break;
	case KW_ERR_NOT_FOUND:
		kw_err("%s: %s is not in the TPM [%s, 0x%x]", what, obj,
		    text, rc);
		break;
	case KW_ERR_EXISTS:
		kw_err("%s: %s is already occupied; choose another handle "
		    "[%s, 0x%x]", what, obj, text, rc);
		break;
	case KW_ERR_UNSUPPORTED:
		kw_err("%s: this TPM does not support what %s needs [%s, "
		    "0x%x]", what, obj, text, rc);
		break;
	default:
		if (code == TPM2_RC_OBJECT_MEMORY ||
		    code == TPM2_RC_SESSION_MEMORY || code == TPM2_RC_MEMORY)
			kw_err("%s for %s failed: the TPM is out of object "
			    "memory (other programs hold objects); use a "
			    "resource manager (/dev/tpmrm0 or tpm2-abrmd) "
			    "[%s, 0x%x]", what, obj, text, rc);
		else if (code == TPM2_RC_INITIALIZE)
			kw_err("%s for %s failed: the TPM was not started "
			    "(run tpm2_startup -c) [%s, 0x%x]", what, obj,
			    text, rc);
		else if (code == TPM2_RC_HIERARCHY || code == TPM2_RC_DISABLED)
			kw_err("%s for %s failed: the owner hierarchy is "
			    "disabled (enable the TPM in firmware) [%s, 0x%x]",
			    what, obj, text, rc);
		else
			kw_err("%s for %s failed: %s (TSS2_RC 0x%x)", what,
			    obj, text, rc);
	}
	return r;
}
