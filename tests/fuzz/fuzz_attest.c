/* Fuzz harness for attest/'s parsers of what a device sends a verifier:
 * the CBOR evidence decoder, and the TPM structures inside (TPMS_ATTEST,
 * TPMT_PUBLIC, TPMT_SIGNATURE through libtss2-mu; the EK certificate's TCG
 * attributes).  A decoded message is re-encoded and decoded again: the two
 * decodes must agree.
 *
 * libFuzzer: scripts/fuzz (or `make fuzz-build` in a clang build tree).
 * Otherwise a corpus + fixed-seed mutation runner (tests/fuzz/fuzz_main.h)
 * over tests/fuzz/corpus/attest/ (evidence from swtpm + tpm2-tools). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "attest/attest_int.h"

#define FUZZ_NAME	"attest"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_tpm(const struct kw_attest_bytes *b)
{
	TPMS_ATTEST att;
	TPMT_PUBLIC pub;
	TPMT_SIGNATURE sig;
	uint8_t name[2 + 64], spki[1024];
	size_t nl = sizeof(name), sl = sizeof(spki);

	(void)attest_parse_attest(b->p, b->len, &att);
	(void)attest_parse_signature(b->p, b->len, &sig);
	if (attest_parse_public(b->p, b->len, &pub) == KW_OK) {
		(void)kw_attest_name(b->p, b->len, name, &nl);
		(void)kw_attest_pub_spki(b->p, b->len, spki, &sl);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_attest_evidence ev, again;
	struct kw_attest_tpm_id id;
	struct kw_attest_bytes raw = { data, size };
	uint8_t *enc = NULL;
	size_t enc_len = 0, i;

	fuzz_tpm(&raw);
	if (kw_attest_evidence_decode(data, size, &ev) != KW_OK)
		return 0;
	for (i = 0; i < ev.nx5c; i++)
		(void)kw_attest_ek_id(ev.x5c[i].p, ev.x5c[i].len, &id);
	fuzz_tpm(&ev.ak_pub);
	fuzz_tpm(&ev.cert_info);
	fuzz_tpm(&ev.cert_sig);
	fuzz_tpm(&ev.pub_area);
	fuzz_tpm(&ev.quote);
	fuzz_tpm(&ev.quote_sig);
	if (kw_attest_evidence_encode(&ev, &enc, &enc_len) != KW_OK ||
	    kw_attest_evidence_decode(enc, enc_len, &again) != KW_OK)
		abort();
	if (again.nx5c != ev.nx5c || again.has_certify != ev.has_certify ||
	    again.has_posture != ev.has_posture || again.nos != ev.nos ||
	    again.time != ev.time || again.quote.len != ev.quote.len ||
	    (ev.quote.len > 0 && memcmp(again.quote.p, ev.quote.p,
	    ev.quote.len) != 0))
		abort();
	kw_attest_evidence_free(&again);
	free(enc);
	kw_attest_evidence_free(&ev);
	return 0;
}

#include "fuzz_main.h"
