/* Fuzz harness for the posture policy parser (attest/policy.c): a policy
 * file is written by an operator, but a gateway reads it as root and a
 * mistake must be an error with a line number, never a crash.
 *
 * What must hold for every input: the parser accepts (KW_OK) or refuses
 * (KW_ERR_CONFIG, the policy left cleared); what it accepts has an ek-ca,
 * bounded numbers, PCR rules for PCRs 0-23 only; and checking claims
 * against it gives a verdict and, on refusal, a reason.
 *
 * libFuzzer: scripts/fuzz (or `make fuzz-build` in a clang build tree).
 * Otherwise a corpus + fixed-seed mutation runner (tests/fuzz/fuzz_main.h)
 * over tests/fuzz/corpus/policy/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "attest/policy.h"

#define FUZZ_NAME	"policy"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_attest_policy p;
	struct kw_evlog_claims c;
	struct kw_attest_pcrs q;
	char reason[256];
	size_t i;
	int r;

	r = kw_attest_policy_parse((const char *)data, size, "fuzz", &p);
	if (r == KW_ERR_CONFIG) {
		if (p.ek_ca != NULL || p.npcr != 0)
			abort();
		return 0;
	}
	if (r != KW_OK || p.ek_ca == NULL ||
	    p.npcr > KW_POLICY_MAX_PCR_RULES ||
	    p.recheck > KW_POLICY_MAX_SECONDS ||
	    p.max_age > KW_POLICY_MAX_SECONDS ||
	    (p.secure_boot != KW_ATTEST_SB_IGNORE &&
	    p.secure_boot != KW_ATTEST_SB_REQUIRED))
		abort();
	for (i = 0; i < p.npcr; i++)
		if (p.pcr[i].index >= KW_PCR_COUNT)
			abort();
	/* a device whose PCRs hold the first rule's value everywhere */
	memset(&c, 0, sizeof(c));
	memset(&q, 0, sizeof(q));
	c.secure_boot = KW_SB_ON;
	q.mask = c.pcr.mask = KW_PCR_ALL;
	for (i = 0; i < KW_PCR_COUNT && p.npcr > 0; i++)
		memcpy(c.pcr.val[i], p.pcr[0].sha256, KW_SHA256_LEN);
	memcpy(q.val, c.pcr.val, sizeof(q.val));
	r = kw_attest_policy_check_claims(&p, &c, &q, reason, sizeof(reason));
	if ((r != KW_OK && r != KW_ERR_ATTEST) ||
	    (r == KW_OK) != (reason[0] == '\0'))
		abort();
	kw_attest_policy_clear(&p);
	return 0;
}

#include "fuzz_main.h"
