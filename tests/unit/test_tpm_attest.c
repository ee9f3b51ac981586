/* Unit tests for tpm/tpm_attest.c against a mocked ESAPI (-Wl,--wrap): the
 * paths swtpm cannot produce on demand.  A PCR extended between reading
 * the PCRs and quoting them means another round (the values handed out are
 * the quoted ones); PCRs that never settle end in KW_ERR_BUSY; more than 8
 * PCRs are read in rounds and put in place; a failing quote leaves nothing
 * loaded.  Every path flushes every object it loaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "tpm/tpm_attest.h"
#include "tpm/tpm_int.h"
#include "tpm/tpm_key.h"
#include "tests/unit/esys_mock.h"

/* Beyond esys_mock: the PCRs and the quotes. */
static struct {
	int pcr_reads, quotes;
	uint32_t bump_calls;	/* PCR_Read call i (bit i) extends first */
	uint32_t ctr;		/* the PCR update counter */
	TSS2_RC quote_rc;
	uint8_t quoted[TPM_PCR_COUNT];	/* ctr at the last quote, per PCR */
} mock;

static char ak_path[64];

TSS2_RC __wrap_Esys_PCR_Read(ESYS_CONTEXT *ctx, ESYS_TR s1, ESYS_TR s2,
    ESYS_TR s3, const TPML_PCR_SELECTION *in, UINT32 *ctr,
    TPML_PCR_SELECTION **out, TPML_DIGEST **vals);
TSS2_RC __wrap_Esys_Quote(ESYS_CONTEXT *ctx, ESYS_TR key, ESYS_TR s1,
    ESYS_TR s2, ESYS_TR s3, const TPM2B_DATA *qual,
    const TPMT_SIG_SCHEME *scheme, const TPML_PCR_SELECTION *sel,
    TPM2B_ATTEST **att, TPMT_SIGNATURE **sig);

/* At most 8 PCRs per answer, like a real TPM; PCR i reads (ctr, i). */
TSS2_RC
__wrap_Esys_PCR_Read(ESYS_CONTEXT *ctx, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
    const TPML_PCR_SELECTION *in, UINT32 *ctr, TPML_PCR_SELECTION **out,
    TPML_DIGEST **vals)
{
	int i, n = 0;

	(void)ctx; (void)s1; (void)s2; (void)s3;
	assert_int_equal(in->count, 1);
	assert_int_equal(in->pcrSelections[0].hash, TPM2_ALG_SHA256);
	if (mock.bump_calls & (1u << mock.pcr_reads))
		mock.ctr++;	/* someone extended a PCR just now */
	mock.pcr_reads++;
	*out = calloc(1, sizeof(**out));
	*vals = calloc(1, sizeof(**vals));
	(*out)->count = 1;
	(*out)->pcrSelections[0].hash = TPM2_ALG_SHA256;
	(*out)->pcrSelections[0].sizeofSelect = 3;
	for (i = 0; i < TPM_PCR_COUNT && n < 8; i++) {
		if (!(in->pcrSelections[0].pcrSelect[i / 8] & (1u << (i % 8))))
			continue;
		(*out)->pcrSelections[0].pcrSelect[i / 8] |=
		    (uint8_t)(1u << (i % 8));
		(*vals)->digests[n].size = 32;
		memset((*vals)->digests[n].buffer, (int)mock.ctr, 32);
		(*vals)->digests[n].buffer[31] = (uint8_t)i;
		n++;
	}
	(*vals)->count = (UINT32)n;
	*ctr = mock.ctr;
	return TSS2_RC_SUCCESS;
}

TSS2_RC
__wrap_Esys_Quote(ESYS_CONTEXT *ctx, ESYS_TR key, ESYS_TR s1, ESYS_TR s2,
    ESYS_TR s3, const TPM2B_DATA *qual, const TPMT_SIG_SCHEME *scheme,
    const TPML_PCR_SELECTION *sel, TPM2B_ATTEST **att, TPMT_SIGNATURE **sig)
{
	int i;

	(void)ctx; (void)key; (void)s2; (void)s3; (void)sel;
	assert_int_equal(s1, ESYS_TR_PASSWORD);
	assert_int_equal(scheme->scheme, TPM2_ALG_NULL);	/* the AK's */
	assert_int_equal(esys_mock.live, 1);		/* the AK alone */
	mock.quotes++;
	if (mock.quote_rc != TSS2_RC_SUCCESS)
		return mock.quote_rc;
	for (i = 0; i < TPM_PCR_COUNT; i++)
		mock.quoted[i] = (uint8_t)mock.ctr;
	*att = calloc(1, sizeof(**att));
	(*att)->size = (UINT16)(4 + qual->size);
	memcpy((*att)->attestationData, "\xff\x54\x43\x47", 4);
	memcpy((*att)->attestationData + 4, qual->buffer, qual->size);
	*sig = calloc(1, sizeof(**sig));
	(*sig)->sigAlg = TPM2_ALG_ECDSA;
	(*sig)->signature.ecdsa.hash = TPM2_ALG_SHA256;
	(*sig)->signature.ecdsa.signatureR.size = 32;
	(*sig)->signature.ecdsa.signatureS.size = 32;
	return TSS2_RC_SUCCESS;
}

/* A TSS2 key file holding an ECC P-256 restricted signing key (the
 * private part is never looked at: Load is mocked). */
static int
setup(void **state)
{
	struct tpm_keyblob kb;
	TPMT_PUBLIC *p = &kb.pub.publicArea;
	char *pem = NULL;
	size_t len = 0;
	int fd;

	(void)state;
	memset(&mock, 0, sizeof(mock));
	esys_mock_reset();
	esys_mock.max_live = 2;		/* SRK + AK */
	memset(&kb, 0, sizeof(kb));
	kb.empty_auth = 1;
	kb.parent = TPM_SRK_TEMPLATE_PARENT;
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
	    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	p->unique.ecc.x.size = 32;
	p->unique.ecc.y.size = 32;
	memset(p->unique.ecc.x.buffer, 0x11, 32);
	memset(p->unique.ecc.y.buffer, 0x22, 32);
	kb.pub.size = 88;
	kb.priv.size = 16;
	snprintf(ak_path, sizeof(ak_path), "%s/kwak.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_int_equal(tpm_keyfile_to_pem(&kb, &pem, &len), KW_OK);
	assert_true((fd = mkstemp(ak_path)) >= 0);
	assert_int_equal(write(fd, pem, len), (ssize_t)len);
	close(fd);
	free(pem);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(ak_path);
	return 0;
}

static int
quote(uint32_t mask, struct tpm_evidence *ev)
{
	struct tpm_attest *a = NULL;
	int r;

	assert_int_equal(tpm_attest_open(NULL, &a), KW_OK);
	r = tpm_attest_quote(a, ak_path, mask, (const uint8_t *)"nonce", 5,
	    ev);
	tpm_attest_close(a);
	assert_int_equal(esys_mock.live, 0);	/* everything flushed */
	assert_string_equal(esys_mock.auth, "");	/* the AK's: empty */
	return r;
}

/* Nothing moves: one round, the values are the quoted ones. */
static void
test_quote_stable(void **state)
{
	struct tpm_evidence ev;
	int i;

	(void)state;
	mock.ctr = 7;
	assert_int_equal(quote(0, &ev), KW_OK);
	assert_int_equal(mock.quotes, 1);
	assert_int_equal(mock.pcr_reads, 2);
	assert_int_equal(ev.pcr_mask, TPM_PCR_DEFAULT_MASK);
	for (i = 0; i < 8; i++) {
		assert_int_equal(ev.pcr[i][0], mock.quoted[i]);
		assert_int_equal(ev.pcr[i][31], i);
	}
	assert_int_equal(ev.pcr[8][0], 0);	/* not selected */
	assert_int_equal(ev.attest_len, 9);
	assert_memory_equal(ev.attest + 4, "nonce", 5);
	assert_true(ev.sig_len > 4);
}

/* A PCR extended between the quote and the second read: the first quote
 * is thrown away, the second one (with the values it covers) kept. */
static void
test_quote_pcr_moved(void **state)
{
	struct tpm_evidence ev;
	int i;

	(void)state;
	mock.bump_calls = 1u << 1;	/* the first round's second read */
	assert_int_equal(quote(0, &ev), KW_OK);
	assert_int_equal(mock.quotes, 2);
	assert_int_equal(mock.ctr, 1);
	for (i = 0; i < 8; i++)
		assert_int_equal(ev.pcr[i][0], 1);	/* the new values */
}

/* PCRs that never settle: KW_ERR_BUSY after five rounds, nothing out. */
static void
test_quote_pcr_never_settles(void **state)
{
	struct tpm_evidence ev;

	(void)state;
	mock.bump_calls = 0xffffffffu;
	assert_int_equal(quote(0, &ev), KW_ERR_BUSY);
	assert_int_equal(mock.quotes, 5);
	assert_int_equal(ev.attest_len, 0);
	assert_int_equal(ev.sig_len, 0);
}

/* 17 PCRs: read in three answers of at most 8, each value in its place. */
static void
test_quote_many_pcrs(void **state)
{
	struct tpm_evidence ev;
	uint32_t mask = 0x80ffffu;
	int i;

	(void)state;
	assert_int_equal(quote(mask, &ev), KW_OK);
	assert_int_equal(mock.pcr_reads, 2 * 3);
	assert_int_equal(ev.pcr_mask, mask);
	for (i = 0; i < TPM_PCR_COUNT; i++)
		if (mask & (1u << i))
			assert_int_equal(ev.pcr[i][31], i);
		else
			assert_int_equal(ev.pcr[i][31], 0);
}

/* The TPM refuses the quote: its error, the AK flushed. */
static void
test_quote_refused(void **state)
{
	struct tpm_evidence ev;

	(void)state;
	mock.quote_rc = TPM2_RC_SCHEME | TPM2_RC_P | TPM2_RC_1;
	assert_int_equal(quote(0, &ev), KW_ERR_UNSUPPORTED);
	assert_int_equal(mock.quotes, 1);
}

/* Bad arguments are refused before the TPM is asked anything. */
static void
test_quote_bad_args(void **state)
{
	struct tpm_attest *a = NULL;
	struct tpm_evidence ev;
	uint8_t big[TPM_ATTEST_QUAL_MAX + 1];

	(void)state;
	memset(big, 0, sizeof(big));
	assert_int_equal(tpm_attest_open(NULL, &a), KW_OK);
	assert_int_equal(tpm_attest_quote(a, ak_path, 1u << 24, NULL, 0, &ev),
	    KW_ERR_ARG);
	assert_int_equal(tpm_attest_quote(a, ak_path, 0, big, sizeof(big),
	    &ev), KW_ERR_ARG);
	tpm_attest_close(a);
	assert_int_equal(mock.pcr_reads, 0);
	assert_int_equal(esys_mock.live, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_quote_stable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_quote_pcr_moved, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_quote_pcr_never_settles,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_quote_many_pcrs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_quote_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_quote_bad_args, setup,
		    teardown),
	};

	kw_log_setup(KW_LOG_ERROR, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
