/* Fuzz harness for the signer protocol (common/kw_signer_proto.c), both
 * directions: the first input byte picks what is parsed (even: a request,
 * as the signer reads it from the network process; odd: a reply, as the
 * network process reads it from the signer), the rest is one frame body,
 * then the same bytes go through the frame reader over a socketpair.
 *
 * Beyond "no crash", what must hold for every input:
 * - a body the decoder accepts encodes back to exactly the same bytes
 *   (one form per message: nothing ignored, nothing left over);
 * - whatever it accepts lies within its bounds (string, data, per-op
 *   sizes) and has no control character in its string;
 * - a message decoded one way is refused the other way;
 * - the frame reader never returns more than it was given room for.
 * libFuzzer: `make fuzz-build`, then tests/fuzz/lf/signer CORPUS_DIR. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_signer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_frames(const uint8_t *data, size_t size)
{
	uint8_t buf[KW_SGN_MAX_FRAME];
	size_t n, cap = sizeof(buf);
	int sv[2];

	/* the whole input as a stream: frames are read until it fails */
	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return;
	if (size > 0 && write(sv[0], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	close(sv[0]);
	if (size > 0)
		cap = 16 + data[0] * 64u < sizeof(buf) ? 16 + data[0] * 64u :
		    sizeof(buf);
	while (kw_sgn_read_frame(sv[1], buf, cap, 0, &n) == KW_OK)
		if (n > cap)
			abort();
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[KW_SGN_MAX_FRAME + 4];
	struct kw_sgn_msg m, o;
	size_t n, i;
	int reply;

	if (size < 1)
		return 0;
	reply = data[0] & 1;
	if (kw_sgn_decode(data + 1, size - 1, reply, &m) == KW_OK) {
		if (m.str_len > KW_SGN_MAX_STR || m.data_len > KW_SGN_MAX_DATA)
			abort();
		for (i = 0; i < m.str_len; i++)
			if ((unsigned char)m.str[i] < 0x20 || m.str[i] == 0x7f)
				abort();
		if (!reply && m.op == KW_SGN_OP_SIGN &&
		    (m.data_len == 0 || m.data_len > KW_MAX_DIGEST))
			abort();
		if (kw_sgn_encode(&m, out, sizeof(out), &n) != KW_OK ||
		    n != size - 1 + 4 || memcmp(out + 4, data + 1, size - 1) != 0)
			abort();
		if (kw_sgn_decode(data + 1, size - 1, !reply, &o) == KW_OK)
			abort();
	}
	fuzz_frames(data + 1, size - 1);
	return 0;
}

#define FUZZ_NAME "signer"
#include "tests/fuzz/fuzz_main.h"
