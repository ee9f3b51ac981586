/* Fuzz harness for the UEFI event log parser and replay
 * (attest/eventlog.c): the bytes of /sys/kernel/security/tpm0/
 * binary_bios_measurements come from the device being judged.
 *
 * What must hold for every input:
 * - the parser accepts (KW_OK) or refuses (KW_ERR_PARSE) and nothing
 *   else; a refusal says "offset N: ..." with N within the input (or the
 *   size cap), and leaves the claims cleared;
 * - what it accepts is self-consistent: at least the header, the boot
 *   components inside the input and fewer than the events, only PCRs
 *   0-23 extended, a locality of 0, 3 or 4, the PCR digest computable;
 * - the same input gives the same claims twice.
 *
 * libFuzzer: scripts/fuzz (or `make fuzz-build` in a clang build tree).
 * Otherwise a corpus + fixed-seed mutation runner (tests/fuzz/fuzz_main.h)
 * over tests/fuzz/corpus/eventlog/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "attest/eventlog.h"

#define FUZZ_NAME	"eventlog"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_evlog_claims c, again;
	uint8_t d[KW_SHA256_LEN];
	char why[256];
	size_t off, i;
	int r;

	r = kw_evlog_parse(data, size, why, sizeof(why), &c);
	if (r == KW_ERR_PARSE) {
		if (sscanf(why, "offset %zu:", &off) != 1 ||
		    (off > size && off != KW_EVLOG_MAX_SIZE) ||
		    c.comp != NULL || c.n_events != 0)
			abort();
		return 0;
	}
	if (r != KW_OK)
		abort();
	if (c.n_events < 1 || c.n_events > KW_EVLOG_MAX_EVENTS ||
	    c.n_comp >= c.n_events || (c.extended & ~KW_PCR_ALL) != 0 ||
	    c.pcr.mask != KW_PCR_ALL || c.n_algs < 1 ||
	    (c.startup_locality != 0 && c.startup_locality != 3 &&
	    c.startup_locality != 4) || c.secure_boot > KW_SB_ON)
		abort();
	for (i = 0; i < c.n_comp; i++)
		if (c.comp[i].offset >= size || c.comp[i].pcr >= KW_PCR_COUNT)
			abort();
	if (kw_pcr_digest(&c.pcr, KW_PCR_ALL, d) != KW_OK)
		abort();
	if (kw_evlog_parse(data, size, NULL, 0, &again) != KW_OK ||
	    memcmp(&again.pcr, &c.pcr, sizeof(c.pcr)) != 0 ||
	    again.n_comp != c.n_comp || again.secure_boot != c.secure_boot ||
	    (c.n_comp > 0 && memcmp(again.comp, c.comp,
	    c.n_comp * sizeof(*c.comp)) != 0))
		abort();
	kw_evlog_claims_clear(&again);
	kw_evlog_claims_clear(&c);
	return 0;
}

#include "fuzz_main.h"
