/* The fake TPM shared by the unit tests of tpm/ (tests/unit/esys_mock.h).
 * No resource manager: a key's handle is a TPM one (0x80000000), so tpm/
 * parks a loaded key as a saved context between uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpm/tpm_int.h"
#include "tests/unit/esys_mock.h"

struct esys_mock esys_mock;
ESYS_TR esys_mock_next_tr = 100;

void
esys_mock_reset(void)
{
	memset(&esys_mock, 0, sizeof(esys_mock));
}

/* One more object loaded, within the test's bound. */
static ESYS_TR
esys_mock_loaded(void)
{
	esys_mock.live++;
	if (esys_mock.max_live > 0)
		assert_true(esys_mock.live <= esys_mock.max_live);
	return esys_mock_next_tr++;
}

TSS2_RC
__wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx)
{
	snprintf(esys_mock.tcti_conf, sizeof(esys_mock.tcti_conf), "%s",
	    conf ? conf : "(null)");
	esys_mock.tcti_inits++;
	if (esys_mock.tcti_rc != TSS2_RC_SUCCESS)
		return esys_mock.tcti_rc;
	*ctx = (TSS2_TCTI_CONTEXT *)&esys_mock;	/* never dereferenced */
	return TSS2_RC_SUCCESS;
}

void
__wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx)
{
	esys_mock.tcti_finals++;
	*ctx = NULL;
}

TSS2_RC
__wrap_Esys_Initialize(ESYS_CONTEXT **ctx, TSS2_TCTI_CONTEXT *tcti,
    TSS2_ABI_VERSION *abi)
{
	(void)tcti;
	(void)abi;
	esys_mock.esys_inits++;
	*ctx = (ESYS_CONTEXT *)&esys_mock_next_tr;	/* never dereferenced */
	return TSS2_RC_SUCCESS;
}

void
__wrap_Esys_Finalize(ESYS_CONTEXT **ctx)
{
	esys_mock.esys_finals++;
	*ctx = NULL;
}

TSS2_RC
__wrap_Esys_GetCapability(ESYS_CONTEXT *ctx, ESYS_TR s1, ESYS_TR s2,
    ESYS_TR s3, TPM2_CAP cap, UINT32 prop, UINT32 count, TPMI_YES_NO *more,
    TPMS_CAPABILITY_DATA **data)
{
	(void)ctx; (void)s1; (void)s2; (void)s3; (void)prop; (void)count;
	assert_int_equal(cap, TPM2_CAP_HANDLES);
	*more = 0;
	*data = calloc(1, sizeof(**data));	/* no persistent handles */
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_CreatePrimary(ESYS_CONTEXT *ctx, ESYS_TR h, ESYS_TR s1,
    ESYS_TR s2, ESYS_TR s3, const TPM2B_SENSITIVE_CREATE *sens,
    const TPM2B_PUBLIC *pub, const TPM2B_DATA *outside,
    const TPML_PCR_SELECTION *pcr, ESYS_TR *obj, TPM2B_PUBLIC **opub,
    TPM2B_CREATION_DATA **cd, TPM2B_DIGEST **ch, TPMT_TK_CREATION **tk)
{
	(void)ctx; (void)s1; (void)s2; (void)s3; (void)sens; (void)outside;
	(void)pcr; (void)opub; (void)cd; (void)ch; (void)tk;
	assert_int_equal(h, ESYS_TR_RH_OWNER);
	assert_true(tpm_pub_is_srk_template(&pub->publicArea));
	esys_mock.primaries++;
	if (esys_mock.createprimary_rc != TSS2_RC_SUCCESS)
		return esys_mock.createprimary_rc;
	*obj = esys_mock_loaded();
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_Load(ESYS_CONTEXT *ctx, ESYS_TR parent, ESYS_TR s1, ESYS_TR s2,
    ESYS_TR s3, const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
    ESYS_TR *obj)
{
	(void)ctx; (void)parent; (void)s1; (void)s2; (void)s3; (void)priv;
	(void)pub;
	esys_mock.loads++;
	if (esys_mock.load_busy > 0) {
		esys_mock.load_busy--;
		return TPM2_RC_OBJECT_MEMORY;
	}
	if (esys_mock.load_rc != TSS2_RC_SUCCESS)
		return esys_mock.load_rc;
	*obj = esys_mock_loaded();
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_FlushContext(ESYS_CONTEXT *ctx, ESYS_TR h)
{
	(void)ctx;
	(void)h;
	esys_mock.flushes++;
	esys_mock.live--;
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_TR_Close(ESYS_CONTEXT *ctx, ESYS_TR *h)
{
	(void)ctx;
	*h = ESYS_TR_NONE;
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_TR_SetAuth(ESYS_CONTEXT *ctx, ESYS_TR h, const TPM2B_AUTH *auth)
{
	(void)ctx;
	(void)h;
	assert_true(auth->size < sizeof(esys_mock.auth));
	memcpy(esys_mock.auth, auth->buffer, auth->size);
	esys_mock.auth[auth->size] = '\0';
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_ContextSave(ESYS_CONTEXT *ctx, ESYS_TR h, TPMS_CONTEXT **out)
{
	(void)ctx;
	(void)h;
	esys_mock.ctxsaves++;
	*out = calloc(1, sizeof(**out));
	(*out)->savedHandle = 0x80000000;
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_ContextLoad(ESYS_CONTEXT *ctx, const TPMS_CONTEXT *c,
    ESYS_TR *obj)
{
	TSS2_RC rc;

	(void)ctx;
	assert_int_equal(c->savedHandle, 0x80000000);
	rc = esys_mock.ctxloads < 4 ? esys_mock.ctxload_rc[esys_mock.ctxloads] :
	    TSS2_RC_SUCCESS;
	esys_mock.ctxloads++;
	if (rc != TSS2_RC_SUCCESS)
		return rc;
	*obj = esys_mock_loaded();
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_TR_GetTpmHandle(ESYS_CONTEXT *ctx, ESYS_TR h, TPM2_HANDLE *out)
{
	(void)ctx;
	(void)h;
	*out = esys_mock.tpm_handle ? esys_mock.tpm_handle : 0x80000000;
	return TSS2_RC_SUCCESS;
}
