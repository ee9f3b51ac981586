/* A TCTI in front of the one tctildr opened, counting the commands sent
 * through it: what a posture check costs in TPM commands (a metric and a
 * bench number).  Everything else is passed through unchanged. */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tctildr.h>

#include "kw_error.h"
#include "tpm_int.h"

#define TPM_TCTI_COUNT_MAGIC	0x6b77636f756e7431ull	/* "kwcount1" */

struct tpm_tcti_count {
	TSS2_TCTI_CONTEXT_COMMON_V2 common;	/* first: what ESYS sees */
	TSS2_TCTI_CONTEXT *inner;		/* from Tss2_TctiLdr */
	uint64_t sent;				/* under the ESYS context's
						 * caller's lock */
};

static struct tpm_tcti_count *
tpm_tcti_count_of(TSS2_TCTI_CONTEXT *ctx)
{
	struct tpm_tcti_count *t = (struct tpm_tcti_count *)(void *)ctx;

	return t != NULL && t->common.v1.magic == TPM_TCTI_COUNT_MAGIC ?
	    t : NULL;
}

static TSS2_RC
tpm_tcti_count_transmit(TSS2_TCTI_CONTEXT *ctx, size_t size,
    const uint8_t *cmd)
{
	struct tpm_tcti_count *t = tpm_tcti_count_of(ctx);

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	t->sent++;
	return Tss2_Tcti_Transmit(t->inner, size, cmd);
}

static TSS2_RC
tpm_tcti_count_receive(TSS2_TCTI_CONTEXT *ctx, size_t *size, uint8_t *resp,
    int32_t timeout)
{
	struct tpm_tcti_count *t = tpm_tcti_count_of(ctx);

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	return Tss2_Tcti_Receive(t->inner, size, resp, timeout);
}

/* Finalizing goes through tpm_tcti_count_free (it owns the loader's
 * context); ESYS never finalizes a TCTI it was given. */
static void
tpm_tcti_count_finalize(TSS2_TCTI_CONTEXT *ctx)
{
	(void)ctx;
}

static TSS2_RC
tpm_tcti_count_cancel(TSS2_TCTI_CONTEXT *ctx)
{
	struct tpm_tcti_count *t = tpm_tcti_count_of(ctx);

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	return Tss2_Tcti_Cancel(t->inner);
}

static TSS2_RC
tpm_tcti_count_poll(TSS2_TCTI_CONTEXT *ctx, TSS2_TCTI_POLL_HANDLE *h,
    size_t *n)
{
	struct tpm_tcti_count *t = tpm_tcti_count_of(ctx);

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	return Tss2_Tcti_GetPollHandles(t->inner, h, n);
}

static TSS2_RC
tpm_tcti_count_locality(TSS2_TCTI_CONTEXT *ctx, uint8_t loc)
{
	struct tpm_tcti_count *t = tpm_tcti_count_of(ctx);

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	return Tss2_Tcti_SetLocality(t->inner, loc);
}

static TSS2_RC
tpm_tcti_count_sticky(TSS2_TCTI_CONTEXT *ctx, TPM2_HANDLE *h, uint8_t sticky)
{
	struct tpm_tcti_count *t = tpm_tcti_count_of(ctx);

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	return Tss2_Tcti_MakeSticky(t->inner, h, sticky);
}

int
tpm_tcti_count_wrap(TSS2_TCTI_CONTEXT *inner, TSS2_TCTI_CONTEXT **out)
{
	struct tpm_tcti_count *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return KW_ERR_NOMEM;
	t->common.v1.magic = TPM_TCTI_COUNT_MAGIC;
	t->common.v1.version = 2;
	t->common.v1.transmit = tpm_tcti_count_transmit;
	t->common.v1.receive = tpm_tcti_count_receive;
	t->common.v1.finalize = tpm_tcti_count_finalize;
	t->common.v1.cancel = tpm_tcti_count_cancel;
	t->common.v1.getPollHandles = tpm_tcti_count_poll;
	t->common.v1.setLocality = tpm_tcti_count_locality;
	t->common.makeSticky = tpm_tcti_count_sticky;
	t->inner = inner;
	*out = (TSS2_TCTI_CONTEXT *)(void *)t;
	return KW_OK;
}

uint64_t
tpm_tcti_count_sent(TSS2_TCTI_CONTEXT *ctx)
{
	struct tpm_tcti_count *t = tpm_tcti_count_of(ctx);

	return t != NULL ? t->sent : 0;
}

void
tpm_tcti_count_free(TSS2_TCTI_CONTEXT **ctx)
{
	struct tpm_tcti_count *t;

	if (ctx == NULL || *ctx == NULL)
		return;
	if ((t = tpm_tcti_count_of(*ctx)) != NULL) {
		if (t->inner != NULL)
			Tss2_TctiLdr_Finalize(&t->inner);
		free(t);
	} else
		Tss2_TctiLdr_Finalize(ctx);
	*ctx = NULL;
}
