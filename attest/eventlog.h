/* The UEFI firmware event log (TCG PC Client Platform Firmware Profile,
 * crypto-agile format), as Linux exposes it in
 * /sys/kernel/security/tpm0/binary_bios_measurements: parsed strictly,
 * replayed into the sha256 bank's PCR values and turned into claims
 * (Secure Boot, boot components) that a quote over those PCRs attests.
 *
 * The log is untrusted input: every length is checked against what is
 * left, digest sizes come from the Spec ID header, the number of events
 * and the size are capped.  A refusal says why and at which byte offset. */
#ifndef KW_ATTEST_EVENTLOG_H
#define KW_ATTEST_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"	/* struct kw_attest_pcrs: PCR values, sha256 */

#define KW_PCR_COUNT		24
#define KW_PCR_ALL		0x00ffffffu	/* PCRs 0-23 */
#define KW_SHA256_LEN		32
#define KW_EVLOG_MAX_SIZE	(8u * 1024 * 1024)	/* bytes */
#define KW_EVLOG_MAX_EVENTS	20000u
#define KW_EVLOG_DEFAULT_PATH	\
	"/sys/kernel/security/tpm0/binary_bios_measurements"

/* Event types the claims look at (TCG PFP, "Events"). */
#define KW_EV_NO_ACTION				0x00000003u
#define KW_EV_SEPARATOR				0x00000004u
#define KW_EV_S_CRTM_VERSION			0x00000008u
#define KW_EV_EFI_VARIABLE_DRIVER_CONFIG	0x80000001u
#define KW_EV_EFI_BOOT_SERVICES_APPLICATION	0x80000003u
#define KW_EV_EFI_BOOT_SERVICES_DRIVER		0x80000004u
#define KW_EV_EFI_RUNTIME_SERVICES_DRIVER	0x80000005u
#define KW_EV_EFI_PLATFORM_FIRMWARE_BLOB	0x80000008u
#define KW_EV_EFI_PLATFORM_FIRMWARE_BLOB2	0x8000000au

enum kw_secure_boot {
	KW_SB_UNKNOWN = 0,	/* no SecureBoot variable event in PCR 7 */
	KW_SB_OFF,
	KW_SB_ON,
};

/* A firmware blob, driver or EFI application the firmware measured. */
struct kw_boot_component {
	unsigned pcr;
	uint32_t type;			/* KW_EV_* */
	uint8_t sha256[KW_SHA256_LEN];	/* the digest extended */
	size_t offset;			/* of the event in the log */
};

/* What a replayed log says about the boot.  Attested only once the PCR
 * values are bound to a TPM quote (kw_evlog_match). */
struct kw_evlog_claims {
	struct kw_attest_pcrs pcr;	/* replayed, all 24 (mask KW_PCR_ALL) */
	uint32_t extended;		/* the PCRs the log extends */
	enum kw_secure_boot secure_boot;
	unsigned startup_locality;	/* 0, or 3/4 from a StartupLocality event */
	size_t n_events;		/* the Spec ID header included */
	size_t n_algs;			/* digest algorithms in the header */
	struct kw_boot_component *comp;
	size_t n_comp;
};

/* Parse and replay a log.  On KW_ERR_PARSE, why (if not NULL) holds one line
 * "offset N: what is wrong"; *out is cleared on entry and on failure. */
int kw_evlog_parse(const uint8_t *buf, size_t len, char *why, size_t why_len,
    struct kw_evlog_claims *out);
/* The same from a file (at most KW_EVLOG_MAX_SIZE bytes): KW_ERR_NOT_FOUND
 * when there is no such file, KW_ERR_IO/KW_ERR_PERM when it cannot be
 * read (why says so), KW_ERR_PARSE as above. */
int kw_evlog_load(const char *path, char *why, size_t why_len,
    struct kw_evlog_claims *out);
void kw_evlog_claims_clear(struct kw_evlog_claims *c);

/* Compare the replayed values with quoted ones, for every PCR in
 * quoted->mask: *matched gets the mask of the equal ones, *first_mismatch
 * the lowest unequal index (-1 when none).  KW_OK when all are equal,
 * KW_ERR_ATTEST otherwise. */
int kw_evlog_match(const struct kw_evlog_claims *c,
    const struct kw_attest_pcrs *quoted, uint32_t *matched,
    int *first_mismatch);

/* The digest a TPM2_Quote over the sha256 bank and mask carries
 * (TPMS_QUOTE_INFO.pcrDigest): SHA-256 of the selected values in index
 * order.  KW_ERR_ARG when mask selects a PCR v does not hold. */
int kw_pcr_digest(const struct kw_attest_pcrs *v, uint32_t mask,
    uint8_t out[KW_SHA256_LEN]);

/* "EV_EFI_BOOT_SERVICES_APPLICATION", or "0x%08x" into buf. */
const char *kw_evlog_type_name(uint32_t type, char *buf, size_t len);

#endif
