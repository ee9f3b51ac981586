/* Fuzz harness for the posture exchange's messages
 * (attest/posture_msg.c), the first reader of a tunnel peer's posture
 * bytes.
 *
 * What must hold for every input (a frame: 4-byte length + CBOR map):
 * - kw_pmsg_frame_need asks for at least one byte until the frame is
 *   whole, and never for more than KW_PMSG_MAX past the prefix;
 * - a message the decoder accepts encodes again, and that encoding
 *   decodes to the same message (type, fields, reason).
 *
 * libFuzzer: scripts/fuzz (or `make fuzz-build` in a clang build tree).
 * Otherwise a corpus + fixed-seed mutation runner (tests/fuzz/fuzz_main.h)
 * over tests/fuzz/corpus/posture/. */
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "attest/posture_msg.h"

#define FUZZ_NAME	"posture"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fuzz_same(const struct kw_pmsg *x, const struct kw_pmsg *y)
{
	return x->type == y->type && x->a_len == y->a_len &&
	    x->b_len == y->b_len &&
	    (x->a_len == 0 || memcmp(x->a, y->a, x->a_len) == 0) &&
	    (x->b_len == 0 || memcmp(x->b, y->b, x->b_len) == 0) &&
	    strcmp(x->reason, y->reason) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_pmsg m, m2;
	uint8_t *enc = NULL;
	size_t have = 0, need, total = 0, enc_len;
	int r;

	for (;;) {
		r = kw_pmsg_frame_need(data, have, &need, &total);
		if (r != 1)
			break;
		if (need == 0 || have + need > 4 + KW_PMSG_MAX)
			abort();
		if (have + need > size)
			return 0;	/* the peer stops sending */
		have += need;
	}
	if (r < 0)
		return 0;
	if (r != 0 || total != have || total < 5)
		abort();
	if (kw_pmsg_decode(data + 4, total - 4, &m) != KW_OK)
		return 0;
	if (kw_pmsg_encode(&m, &enc, &enc_len) != KW_OK)
		abort();
	if (kw_pmsg_decode(enc + 4, enc_len - 4, &m2) != KW_OK ||
	    !fuzz_same(&m, &m2))
		abort();
	kw_pmsg_clear(&m2);
	kw_pmsg_clear(&m);
	free(enc);
	return 0;
}

#include "tests/fuzz/fuzz_main.h"
