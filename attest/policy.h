/* A posture policy file (keyward-posture(7)): what a verifier requires of
 * a device's evidence.  keyward.conf's syntax, one `key = value` a line,
 * no sections:
 *   ek-ca = FILE            PEM bundle of TPM manufacturer CAs (required)
 *   secure-boot = required|ignore
 *   pcr = INDEX:SHA256HEX   repeatable; a PCR listed must equal one of
 *                           its listed values
 *   recheck = SECONDS       how long a verdict is reused (600; 0 = never)
 *   max-age = SECONDS       oldest evidence accepted (300; 0 = no limit)
 * Errors are reported as "file:line: what is wrong". */
#ifndef KW_ATTEST_POLICY_H
#define KW_ATTEST_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "attest/eventlog.h"

#define KW_POLICY_DEF_RECHECK	600
#define KW_POLICY_DEF_MAX_AGE	300
#define KW_POLICY_MAX_SECONDS	(30u * 86400)
#define KW_POLICY_MAX_PCR_RULES	KW_ATTEST_MAX_PCR_RULES

/* The policy fills struct kw_attest_policy (attest/attest.h): ek_ca (an
 * absolute path when the file gave a relative one), secure_boot,
 * pcr[0..npcr), recheck, max_age (0: no limit). */

/* Parse a policy from text (file names it in messages; a relative ek-ca
 * is taken from file's directory).  Every problem is logged as
 * "file:line: ..."; KW_ERR_CONFIG if there was one.  *out is cleared on
 * entry and left cleared on failure. */
int kw_attest_policy_parse(const char *text, size_t len, const char *file,
    struct kw_attest_policy *out);
/* The same from a file (at most 1 MiB). */
int kw_attest_policy_load(const char *path, struct kw_attest_policy *out);
void kw_attest_policy_clear(struct kw_attest_policy *p);

/* Check a device's claims against the policy, in this order:
 *   the log replays to every quoted PCR   "event log does not match the
 *                                          quote at PCR n"
 *   secure-boot = required                "secure boot not attested (PCR 7
 *                                          not in the quote)" /
 *                                          "secure boot off" /
 *                                          "secure boot not measured"
 *   each pcr rule's PCR was quoted and    "PCR n not in the quote" /
 *   holds one of its allowed values        "PCR n not allowed"
 * quoted: the PCR values the TPM signed (already checked against the
 * quote's digest by the caller).  KW_OK when every claim passes;
 * KW_ERR_ATTEST with the first failing claim in reason (one line)
 * otherwise. */
int kw_attest_policy_check_claims(const struct kw_attest_policy *p,
    const struct kw_evlog_claims *c, const struct kw_attest_pcrs *quoted,
    char *reason, size_t reason_len);

/* Parse a "INDEX:SHA256HEX" pair (a pcr rule's value; also the format of
 * PCR value files): KW_OK or KW_ERR_PARSE with what is wrong in why. */
int kw_attest_pcr_parse(const char *s, unsigned *index,
    uint8_t value[KW_SHA256_LEN], char *why, size_t why_len);

#endif
