/* Fuzz harness for the TSS2 PRIVATE KEY parser (input users hand us).
 *
 * libFuzzer, from the top of a configured build tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DKW_LIBFUZZER \
 *     -I$SRC -I$SRC/common -include config.h $SRC/tests/tpm/fuzz_keyfile.c \
 *     $SRC/tpm/tpm_keyfile.c $SRC/common/kw_der.c common/libkwcommon.a \
 *     -ltss2-mu -lwolfssl -lsystemd -o fuzz_keyfile
 *   ./fuzz_keyfile -max_len=4096 CORPUS_DIR
 * Without libFuzzer (the build's check program) it runs each file named on
 * the command line through the parsers: a corpus regression runner. */
#include <stdio.h>
#include <stdlib.h>

#include "kw_error.h"
#include "kw_mem.h"
#include "tpm/tpm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tpm_keyblob kb;

	if (tpm_keyfile_from_pem(data, size, &kb) == KW_OK &&
	    kb.pub.size + 2u > sizeof(kb.pub))
		abort();
	if (tpm_keyfile_from_der(data, size, &kb) == KW_OK &&
	    kb.priv.size > sizeof(kb.priv.buffer))
		abort();
	return 0;
}

#ifndef KW_LIBFUZZER
int
main(int argc, char **argv)
{
	uint8_t *buf;
	size_t len;
	int i, bad = 0;

	for (i = 1; i < argc; i++) {
		if (kw_file_read(argv[i], 1u << 20, &buf, &len) != KW_OK) {
			fprintf(stderr, "fuzz_keyfile: cannot read %s\n",
			    argv[i]);
			bad = 1;
			continue;
		}
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
	}
	return bad;
}
#endif
