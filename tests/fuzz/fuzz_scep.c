/* Fuzz harness for what a SCEP server sends that keyward reads itself
 * (enroll/scep_msg.c): the CertRep (SignedData, its attributes and its
 * signature), the EnvelopedData inside it, and GetCACaps.
 *
 * Input: two bytes of length L, L bytes of a signer certificate (the CA
 * the CertRep must be signed by), then the CertRep; the whole input also
 * goes to the envelope reader and the caps parser.  What must hold:
 * - an accepted CertRep has a NUL-terminated printable transactionID, a
 *   known status, a failInfo of -1 or 0..999, and an envelope window
 *   inside the input (non-empty for SUCCESS);
 * - an accepted envelope has an IV of 8 or 16 bytes and a ciphertext that
 *   is a whole number of blocks.
 * (Decryption needs the token's key and is not fuzzed; wolfCrypt checks
 * the signature.)
 *
 * libFuzzer: scripts/fuzz (or `make fuzz-build` in a clang build tree).
 * Otherwise a corpus + fixed-seed mutation runner (tests/fuzz/fuzz_main.h)
 * over tests/fuzz/corpus/scep/ (made by tests/fuzz/make-corpus.py). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "kw_error.h"
#include "enroll/est_der.h"
#include "enroll/scep.h"

#define FUZZ_NAME	"scep"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_envelope(const uint8_t *p, size_t len)
{
	struct scep_envelope e;

	if (scep_envelope_parse(p, len, &e) != KW_OK)
		return;
	if ((e.iv_len != 8 && e.iv_len != 16) || e.ciphertext_len == 0 ||
	    e.ciphertext_len % e.iv_len != 0 || e.encrypted_key.p < p ||
	    e.encrypted_key.p + e.encrypted_key.len > p + len)
		abort();
	scep_envelope_clear(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct est_certs signers;
	struct scep_certrep cr;
	const uint8_t *rep;
	size_t l, rl, i;
	unsigned caps;

	(void)scep_caps_parse(data, size, &caps);
	fuzz_envelope(data, size);
	if (size < 2)
		return 0;
	l = (size_t)data[0] << 8 | data[1];
	if (l > size - 2)
		return 0;
	rep = data + 2 + l;
	rl = size - 2 - l;
	memset(&signers, 0, sizeof(signers));
	if (l > 0 && est_certs_add(&signers, data + 2, l) != KW_OK)
		return 0;
	if (scep_certrep_parse(rep, rl, &signers, &cr) == KW_OK) {
		for (i = 0; cr.transaction_id[i] != '\0'; i++)
			if (i >= SCEP_MAX_TID ||
			    !isprint((unsigned char)cr.transaction_id[i]))
				abort();
		if ((cr.status != SCEP_SUCCESS && cr.status != SCEP_FAILURE &&
		    cr.status != SCEP_PENDING) || cr.fail_info < -1 ||
		    cr.fail_info > 999 || cr.signer >= signers.n)
			abort();
		if (cr.status == SCEP_SUCCESS && (cr.envelope.len == 0 ||
		    cr.envelope.p < rep ||
		    cr.envelope.p + cr.envelope.len > rep + rl))
			abort();
		if (cr.status == SCEP_SUCCESS)
			fuzz_envelope(cr.envelope.p, cr.envelope.len);
	}
	est_certs_clear(&signers);
	return 0;
}

#include "tests/fuzz/fuzz_main.h"
