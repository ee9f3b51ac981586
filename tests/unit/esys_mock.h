/* A fake TPM behind ESAPI for the unit tests of tpm/ (test-only): the
 * TCTI loader and the Esys_* calls every tpm/ path makes (context set-up,
 * the SRK, loading, flushing, parking a key as a saved context), wrapped
 * with -Wl,--wrap= (KW_ESYS_MOCK_WRAP in tests/tpm.mk).  A test wraps the
 * calls it exercises itself (Esys_Sign, Esys_Quote...) in its own file and
 * counts loaded objects in esys_mock.live there too. */
#ifndef KW_TESTS_ESYS_MOCK_H
#define KW_TESTS_ESYS_MOCK_H

#include <stdint.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

/* What the fake TPM does and what it saw: cleared by esys_mock_reset(). */
struct esys_mock {
	TSS2_RC tcti_rc, load_rc, createprimary_rc;
	TSS2_RC ctxload_rc[4];	/* per Esys_ContextLoad call; then success */
	int load_busy;		/* Esys_Load answers 0x902 this many times */
	TPM2_HANDLE tpm_handle;	/* what the key's handle is (0: 0x80000000) */
	int max_live;		/* objects loaded at once, at most (0: any) */
	int ctxsaves, ctxloads;
	int tcti_inits, tcti_finals, esys_inits, esys_finals;
	int loads, primaries, flushes, live;
	char tcti_conf[64];	/* "(null)" for the loader's default */
	char auth[64];		/* the last auth value set */
};

extern struct esys_mock esys_mock;
/* The next ESYS_TR handed out (never reset: 100 up across the tests). */
extern ESYS_TR esys_mock_next_tr;

void esys_mock_reset(void);

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf,
    TSS2_TCTI_CONTEXT **ctx);
void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx);
TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **ctx, TSS2_TCTI_CONTEXT *tcti,
    TSS2_ABI_VERSION *abi);
void __wrap_Esys_Finalize(ESYS_CONTEXT **ctx);
TSS2_RC __wrap_Esys_GetCapability(ESYS_CONTEXT *ctx, ESYS_TR s1, ESYS_TR s2,
    ESYS_TR s3, TPM2_CAP cap, UINT32 prop, UINT32 count, TPMI_YES_NO *more,
    TPMS_CAPABILITY_DATA **data);
TSS2_RC __wrap_Esys_CreatePrimary(ESYS_CONTEXT *ctx, ESYS_TR h, ESYS_TR s1,
    ESYS_TR s2, ESYS_TR s3, const TPM2B_SENSITIVE_CREATE *sens,
    const TPM2B_PUBLIC *pub, const TPM2B_DATA *outside,
    const TPML_PCR_SELECTION *pcr, ESYS_TR *obj, TPM2B_PUBLIC **opub,
    TPM2B_CREATION_DATA **cd, TPM2B_DIGEST **ch, TPMT_TK_CREATION **tk);
TSS2_RC __wrap_Esys_Load(ESYS_CONTEXT *ctx, ESYS_TR parent, ESYS_TR s1,
    ESYS_TR s2, ESYS_TR s3, const TPM2B_PRIVATE *priv,
    const TPM2B_PUBLIC *pub, ESYS_TR *obj);
TSS2_RC __wrap_Esys_FlushContext(ESYS_CONTEXT *ctx, ESYS_TR h);
TSS2_RC __wrap_Esys_TR_Close(ESYS_CONTEXT *ctx, ESYS_TR *h);
TSS2_RC __wrap_Esys_TR_SetAuth(ESYS_CONTEXT *ctx, ESYS_TR h,
    const TPM2B_AUTH *auth);
TSS2_RC __wrap_Esys_ContextSave(ESYS_CONTEXT *ctx, ESYS_TR h,
    TPMS_CONTEXT **out);
TSS2_RC __wrap_Esys_ContextLoad(ESYS_CONTEXT *ctx, const TPMS_CONTEXT *c,
    ESYS_TR *obj);
TSS2_RC __wrap_Esys_TR_GetTpmHandle(ESYS_CONTEXT *ctx, ESYS_TR h,
    TPM2_HANDLE *out);

#endif
