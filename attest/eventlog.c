/* The UEFI firmware event log: parse, replay, claims (see eventlog.h).
 *
 * Layout (TCG PC Client Platform Firmware Profile, all little-endian):
 *   TCG_PCR_EVENT  (the first, SHA-1 format): pcrIndex u32, eventType u32
 *                  (EV_NO_ACTION), digest[20], eventDataSize u32, event
 *                  = TCG_EfiSpecIDEvent: "Spec ID Event03\0",
 *                  platformClass u32, versions u8 x3, uintnSize u8,
 *                  numberOfAlgorithms u32, {algorithmId u16,
 *                  digestSize u16} x n, vendorInfoSize u8, vendorInfo
 *   TCG_PCR_EVENT2 (the rest): pcrIndex u32, eventType u32,
 *                  TPML_DIGEST_VALUES {count u32, {hashAlg u16,
 *                  digest[size from the header]} x count},
 *                  eventSize u32, event[eventSize] */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_hex.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "attest/eventlog.h"

#define KW_EVLOG_MAX_ALGS	16
#define KW_EVLOG_MAX_DIGEST	64
#define KW_ALG_SHA1		0x0004
#define KW_ALG_SHA256		0x000b

struct kw_evlog_alg {
	uint16_t id;
	uint16_t size;
};

/* A bounded little-endian reader over buf[0..len); off counts from the
 * start of the whole log (base) so refusals name the log's offset. */
struct kw_evlog_rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
	size_t base;
	char *why;
	size_t why_len;
};

static const struct {
	uint16_t id;
	uint16_t size;
} kw_evlog_known_algs[] = {
	{ KW_ALG_SHA1, 20 }, { KW_ALG_SHA256, 32 }, { 0x000c, 48 },
	{ 0x000d, 64 }, { 0x0012, 32 }, { 0x0027, 32 }, { 0x0028, 48 },
	{ 0x0029, 64 },
};

static const struct {
	uint32_t type;
	const char *name;
} kw_evlog_types[] = {
	{ 0x00000000, "EV_PREBOOT_CERT" }, { 0x00000001, "EV_POST_CODE" },
	{ 0x00000002, "EV_UNUSED" }, { 0x00000003, "EV_NO_ACTION" },
	{ 0x00000004, "EV_SEPARATOR" }, { 0x00000005, "EV_ACTION" },
	{ 0x00000006, "EV_EVENT_TAG" }, { 0x00000007, "EV_S_CRTM_CONTENTS" },
	{ 0x00000008, "EV_S_CRTM_VERSION" }, { 0x00000009, "EV_CPU_MICROCODE" },
	{ 0x0000000a, "EV_PLATFORM_CONFIG_FLAGS" },
	{ 0x0000000b, "EV_TABLE_OF_DEVICES" }, { 0x0000000c, "EV_COMPACT_HASH" },
	{ 0x0000000d, "EV_IPL" }, { 0x0000000e, "EV_IPL_PARTITION_DATA" },
	{ 0x0000000f, "EV_NONHOST_CODE" }, { 0x00000010, "EV_NONHOST_CONFIG" },
	{ 0x00000011, "EV_NONHOST_INFO" },
	{ 0x00000012, "EV_OMIT_BOOT_DEVICE_EVENTS" },
	{ 0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
	{ 0x80000002, "EV_EFI_VARIABLE_BOOT" },
	{ 0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION" },
	{ 0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER" },
	{ 0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
	{ 0x80000006, "EV_EFI_GPT_EVENT" }, { 0x80000007, "EV_EFI_ACTION" },
	{ 0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
	{ 0x80000009, "EV_EFI_HANDOFF_TABLES" },
	{ 0x8000000a, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
	{ 0x8000000b, "EV_EFI_HANDOFF_TABLES2" },
	{ 0x8000000c, "EV_EFI_VARIABLE_BOOT2" },
	{ 0x80000010, "EV_EFI_HCRTM_EVENT" },
	{ 0x800000e0, "EV_EFI_VARIABLE_AUTHORITY" },
	{ 0x800000e1, "EV_EFI_SPDM_FIRMWARE_BLOB" },
	{ 0x800000e2, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
};

/* EFI_GLOBAL_VARIABLE 8be4df61-93ca-11d2-aa0d-00e098032b8c as EFI_GUID
 * lays it out (the first three fields little-endian). */
static const uint8_t kw_efi_global_guid[16] = {
	0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
	0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c,
};
/* L"SecureBoot" */
static const uint8_t kw_secureboot_name[20] = {
	'S', 0, 'e', 0, 'c', 0, 'u', 0, 'r', 0, 'e', 0, 'B', 0, 'o', 0,
	'o', 0, 't', 0,
};
static const char kw_specid_sig[16] = "Spec ID Event03";
static const char kw_locality_sig[16] = "StartupLocality";

const char *
kw_evlog_type_name(uint32_t type, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(kw_evlog_types) / sizeof(kw_evlog_types[0]);
	    i++)
		if (kw_evlog_types[i].type == type)
			return kw_evlog_types[i].name;
	snprintf(buf, len, "0x%08x", type);
	return buf;
}

/* Refuse: "offset N: ..." into rd->why.  Returns KW_ERR_PARSE. */
static int __attribute__((format(printf, 3, 4)))
kw_evlog_fail(struct kw_evlog_rd *rd, size_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (rd->why != NULL && rd->why_len > 0) {
		n = snprintf(rd->why, rd->why_len, "offset %zu: ", at);
		if (n >= 0 && (size_t)n < rd->why_len) {
			va_start(ap, fmt);
			vsnprintf(rd->why + n, rd->why_len - (size_t)n, fmt,
			    ap);
			va_end(ap);
		}
	}
	return KW_ERR_PARSE;
}

static size_t
kw_evlog_at(const struct kw_evlog_rd *rd)
{
	return rd->base + rd->pos;
}

static int
kw_evlog_bytes(struct kw_evlog_rd *rd, size_t n, const char *what,
    const uint8_t **out)
{
	if (n > rd->len - rd->pos)
		return kw_evlog_fail(rd, kw_evlog_at(rd), "%s: needs %zu "
		    "bytes, %zu left", what, n, rd->len - rd->pos);
	*out = rd->p + rd->pos;
	rd->pos += n;
	return KW_OK;
}

static int
kw_evlog_u8(struct kw_evlog_rd *rd, const char *what, uint8_t *v)
{
	const uint8_t *b = NULL;
	int r;

	if ((r = kw_evlog_bytes(rd, 1, what, &b)) == KW_OK)
		*v = b[0];
	return r;
}

static int
kw_evlog_u16(struct kw_evlog_rd *rd, const char *what, uint16_t *v)
{
	const uint8_t *b = NULL;
	int r;

	if ((r = kw_evlog_bytes(rd, 2, what, &b)) == KW_OK)
		*v = (uint16_t)(b[0] | (b[1] << 8));
	return r;
}

static int
kw_evlog_u32(struct kw_evlog_rd *rd, const char *what, uint32_t *v)
{
	const uint8_t *b = NULL;
	int r;

	if ((r = kw_evlog_bytes(rd, 4, what, &b)) == KW_OK)
		*v = (uint32_t)b[0] | ((uint32_t)b[1] << 8) |
		    ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
	return r;
}

static int
kw_evlog_u64(struct kw_evlog_rd *rd, const char *what, uint64_t *v)
{
	uint32_t lo, hi;
	int r;

	if ((r = kw_evlog_u32(rd, what, &lo)) == KW_OK &&
	    (r = kw_evlog_u32(rd, what, &hi)) == KW_OK)
		*v = ((uint64_t)hi << 32) | lo;
	return r;
}

/* A reader over n bytes of rd's data, from where rd stands. */
static void
kw_evlog_sub(const struct kw_evlog_rd *rd, const uint8_t *p, size_t n,
    struct kw_evlog_rd *sub)
{
	*sub = *rd;
	sub->base = rd->base + (size_t)(p - rd->p);
	sub->p = p;
	sub->len = n;
	sub->pos = 0;
}

static int
kw_sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    uint8_t out[KW_SHA256_LEN])
{
	wc_Sha256 h;
	int r = KW_ERR_CRYPTO;

	if (wc_InitSha256(&h) != 0)
		return KW_ERR_CRYPTO;
	if (wc_Sha256Update(&h, a, (word32)alen) == 0 &&
	    (b == NULL || wc_Sha256Update(&h, b, (word32)blen) == 0) &&
	    wc_Sha256Final(&h, out) == 0)
		r = KW_OK;
	wc_Sha256Free(&h);
	return r;
}

/* The TCG_EfiSpecIDEvent of the first event: the digest algorithms. */
static int
kw_evlog_specid(struct kw_evlog_rd *rd, struct kw_evlog_alg *algs,
    size_t *n_algs)
{
	const uint8_t *sig = NULL, *vendor = NULL;
	uint32_t cls, n, i, j, k;
	uint8_t minor, major, errata, uintn, vlen;
	size_t at;
	int r, have256 = 0;

	if ((r = kw_evlog_bytes(rd, 16, "Spec ID header", &sig)) != KW_OK)
		return r;
	if (memcmp(sig, kw_specid_sig, sizeof(kw_specid_sig)) != 0)
		return kw_evlog_fail(rd, rd->base, "not a crypto-agile log: "
		    "the first event is not the 'Spec ID Event03' header (a "
		    "SHA-1-only log has no sha256 bank to replay)");
	if ((r = kw_evlog_u32(rd, "platform class", &cls)) != KW_OK ||
	    (r = kw_evlog_u8(rd, "spec version", &minor)) != KW_OK ||
	    (r = kw_evlog_u8(rd, "spec version", &major)) != KW_OK ||
	    (r = kw_evlog_u8(rd, "spec errata", &errata)) != KW_OK ||
	    (r = kw_evlog_u8(rd, "uintn size", &uintn)) != KW_OK)
		return r;
	(void)cls;
	(void)minor;
	(void)errata;
	if (major != 2)
		return kw_evlog_fail(rd, kw_evlog_at(rd) - 3, "Spec ID header "
		    "version %u: expected 2", major);
	at = kw_evlog_at(rd);
	if ((r = kw_evlog_u32(rd, "number of algorithms", &n)) != KW_OK)
		return r;
	if (n == 0 || n > KW_EVLOG_MAX_ALGS)
		return kw_evlog_fail(rd, at, "Spec ID header lists %u digest "
		    "algorithms (1 to %d)", n, KW_EVLOG_MAX_ALGS);
	for (i = 0; i < n; i++) {
		at = kw_evlog_at(rd);
		if ((r = kw_evlog_u16(rd, "algorithm id", &algs[i].id))
		    != KW_OK ||
		    (r = kw_evlog_u16(rd, "digest size", &algs[i].size))
		    != KW_OK)
			return r;
		if (algs[i].size == 0 || algs[i].size > KW_EVLOG_MAX_DIGEST)
			return kw_evlog_fail(rd, at, "algorithm 0x%04x: digest "
			    "size %u (1 to %d)", algs[i].id, algs[i].size,
			    KW_EVLOG_MAX_DIGEST);
		for (j = 0; j < i; j++)
			if (algs[j].id == algs[i].id)
				return kw_evlog_fail(rd, at, "algorithm 0x%04x "
				    "listed twice", algs[i].id);
		for (k = 0; k < sizeof(kw_evlog_known_algs) /
		    sizeof(kw_evlog_known_algs[0]); k++)
			if (kw_evlog_known_algs[k].id == algs[i].id &&
			    kw_evlog_known_algs[k].size != algs[i].size)
				return kw_evlog_fail(rd, at, "algorithm 0x%04x "
				    "declared with %u-byte digests, not %u",
				    algs[i].id, algs[i].size,
				    kw_evlog_known_algs[k].size);
		if (algs[i].id == KW_ALG_SHA256)
			have256 = 1;
	}
	if (!have256)
		return kw_evlog_fail(rd, rd->base, "the log has no sha256 "
		    "bank (not in the Spec ID header): nothing to replay");
	if ((r = kw_evlog_u8(rd, "vendor info size", &vlen)) != KW_OK ||
	    (r = kw_evlog_bytes(rd, vlen, "vendor info", &vendor)) != KW_OK)
		return r;
	if (rd->pos != rd->len)
		return kw_evlog_fail(rd, kw_evlog_at(rd), "%zu bytes after the "
		    "Spec ID header's vendor info", rd->len - rd->pos);
	*n_algs = n;
	return KW_OK;
}

/* An EV_NO_ACTION event: only StartupLocality changes the replay. */
static int
kw_evlog_no_action(struct kw_evlog_rd *rd, const uint8_t *data,
    size_t len, size_t at, unsigned pcr, int *locality_seen,
    struct kw_evlog_claims *c)
{
	uint8_t loc;

	if (len < sizeof(kw_locality_sig) ||
	    memcmp(data, kw_locality_sig, sizeof(kw_locality_sig)) != 0)
		return KW_OK;
	if (len != sizeof(kw_locality_sig) + 1)
		return kw_evlog_fail(rd, at, "StartupLocality event of %zu "
		    "bytes (expected 17)", len);
	loc = data[16];
	if (pcr != 0)
		return kw_evlog_fail(rd, at, "StartupLocality event for PCR "
		    "%u (only PCR 0 has one)", pcr);
	if (*locality_seen)
		return kw_evlog_fail(rd, at, "a second StartupLocality event");
	if (c->extended & 1u)
		return kw_evlog_fail(rd, at, "StartupLocality event after PCR "
		    "0 was extended");
	if (loc != 0 && loc != 3 && loc != 4)
		return kw_evlog_fail(rd, at, "StartupLocality %u (0, 3 or 4)",
		    loc);
	*locality_seen = 1;
	c->startup_locality = loc;
	memset(c->pcr.val[0], 0, KW_SHA256_LEN);
	c->pcr.val[0][KW_SHA256_LEN - 1] = loc;
	return KW_OK;
}

/* An EV_EFI_VARIABLE_DRIVER_CONFIG event in PCR 7: UEFI_VARIABLE_DATA
 * (VariableName GUID, UnicodeNameLength u64 (chars), VariableDataLength
 * u64, UnicodeName, VariableData).  The SecureBoot variable sets the
 * claim, once its data is shown to be what the digest covers. */
static int
kw_evlog_variable(struct kw_evlog_rd *ev, const uint8_t *digest,
    struct kw_evlog_claims *c)
{
	const uint8_t *guid = NULL, *name = NULL, *val = NULL;
	uint64_t nlen, dlen;
	uint8_t h[KW_SHA256_LEN];
	int r;

	if ((r = kw_evlog_bytes(ev, 16, "UEFI variable GUID", &guid))
	    != KW_OK ||
	    (r = kw_evlog_u64(ev, "UEFI variable name length", &nlen))
	    != KW_OK ||
	    (r = kw_evlog_u64(ev, "UEFI variable data length", &dlen))
	    != KW_OK)
		return r;
	if (nlen > (ev->len - ev->pos) / 2)
		return kw_evlog_fail(ev, kw_evlog_at(ev), "UEFI variable name "
		    "of %llu characters runs past the event (%zu bytes left)",
		    (unsigned long long)nlen, ev->len - ev->pos);
	if ((r = kw_evlog_bytes(ev, (size_t)nlen * 2, "UEFI variable name",
	    &name)) != KW_OK)
		return r;
	if (dlen != ev->len - ev->pos)
		return kw_evlog_fail(ev, kw_evlog_at(ev), "UEFI variable data "
		    "length %llu, but %zu bytes are left in the event",
		    (unsigned long long)dlen, ev->len - ev->pos);
	if ((r = kw_evlog_bytes(ev, (size_t)dlen, "UEFI variable data",
	    &val)) != KW_OK)
		return r;
	if (memcmp(guid, kw_efi_global_guid, 16) != 0 ||
	    nlen != sizeof(kw_secureboot_name) / 2 ||
	    memcmp(name, kw_secureboot_name, sizeof(kw_secureboot_name)) != 0)
		return KW_OK;
	/* The claim rests on the data: it must be what was extended. */
	if ((r = kw_sha256(ev->p, ev->len, NULL, 0, h)) != KW_OK)
		return r;
	if (memcmp(h, digest, KW_SHA256_LEN) != 0)
		return kw_evlog_fail(ev, ev->base, "SecureBoot variable event: "
		    "its data does not hash to its sha256 digest (edited log)");
	if (dlen > 1 || (dlen == 1 && val[0] > 1))
		return kw_evlog_fail(ev, ev->base, "SecureBoot variable of "
		    "%llu bytes, value %u (expected one byte, 0 or 1)",
		    (unsigned long long)dlen, dlen > 0 ? val[0] : 0);
	/* Off once any measurement says off (an absent variable is
	 * measured with no data). */
	if (dlen == 1 && val[0] == 1) {
		if (c->secure_boot == KW_SB_UNKNOWN)
			c->secure_boot = KW_SB_ON;
	} else
		c->secure_boot = KW_SB_OFF;
	return KW_OK;
}

static int
kw_evlog_is_component(uint32_t type)
{
	return type == KW_EV_EFI_BOOT_SERVICES_APPLICATION ||
	    type == KW_EV_EFI_BOOT_SERVICES_DRIVER ||
	    type == KW_EV_EFI_RUNTIME_SERVICES_DRIVER ||
	    type == KW_EV_EFI_PLATFORM_FIRMWARE_BLOB ||
	    type == KW_EV_EFI_PLATFORM_FIRMWARE_BLOB2 ||
	    type == KW_EV_S_CRTM_VERSION;
}

/* One TCG_PCR_EVENT2: replayed into c. */
static int
kw_evlog_event2(struct kw_evlog_rd *rd, const struct kw_evlog_alg *algs,
    size_t n_algs, int *locality_seen, size_t *comp_cap,
    struct kw_evlog_claims *c)
{
	struct kw_boot_component *nc;
	struct kw_evlog_rd ev;
	const uint8_t *d = NULL, *d256 = NULL, *data = NULL;
	uint32_t pcr, type, count, i, j, size;
	uint16_t alg, seen[KW_EVLOG_MAX_ALGS];
	size_t at = kw_evlog_at(rd), a;
	int r;

	if ((r = kw_evlog_u32(rd, "PCR index", &pcr)) != KW_OK ||
	    (r = kw_evlog_u32(rd, "event type", &type)) != KW_OK ||
	    (r = kw_evlog_u32(rd, "digest count", &count)) != KW_OK)
		return r;
	if (pcr >= KW_PCR_COUNT)
		return kw_evlog_fail(rd, at, "PCR index %u (0 to %d)", pcr,
		    KW_PCR_COUNT - 1);
	if (count == 0 || count > n_algs)
		return kw_evlog_fail(rd, at + 8, "%u digests (1 to the %zu "
		    "algorithms of the Spec ID header)", count, n_algs);
	for (i = 0; i < count; i++) {
		a = kw_evlog_at(rd);
		if ((r = kw_evlog_u16(rd, "digest algorithm", &alg)) != KW_OK)
			return r;
		for (j = 0; j < n_algs && algs[j].id != alg; j++)
			;
		if (j == n_algs)
			return kw_evlog_fail(rd, a, "digest algorithm 0x%04x is "
			    "not in the Spec ID header (its size is unknown)",
			    alg);
		for (j = 0; j < i; j++)
			if (seen[j] == alg)
				return kw_evlog_fail(rd, a, "two digests of "
				    "algorithm 0x%04x", alg);
		seen[i] = alg;
		for (j = 0; algs[j].id != alg; j++)
			;
		/* unknown algorithms are skipped by their declared size */
		if ((r = kw_evlog_bytes(rd, algs[j].size, "digest", &d))
		    != KW_OK)
			return r;
		if (alg == KW_ALG_SHA256)
			d256 = d;
	}
	if (d256 == NULL)
		return kw_evlog_fail(rd, at, "event without a sha256 digest");
	a = kw_evlog_at(rd);
	if ((r = kw_evlog_u32(rd, "event size", &size)) != KW_OK)
		return r;
	if (size > rd->len - rd->pos)
		return kw_evlog_fail(rd, a, "event data of %u bytes runs past "
		    "the end of the log (%zu bytes left)", size,
		    rd->len - rd->pos);
	if ((r = kw_evlog_bytes(rd, size, "event data", &data)) != KW_OK)
		return r;
	if (type == KW_EV_NO_ACTION)	/* not extended */
		return kw_evlog_no_action(rd, data, size, at, pcr,
		    locality_seen, c);
	if ((r = kw_sha256(c->pcr.val[pcr], KW_SHA256_LEN, d256,
	    KW_SHA256_LEN, c->pcr.val[pcr])) != KW_OK)
		return r;
	c->extended |= 1u << pcr;
	if (type == KW_EV_EFI_VARIABLE_DRIVER_CONFIG && pcr == 7) {
		kw_evlog_sub(rd, data, size, &ev);
		if ((r = kw_evlog_variable(&ev, d256, c)) != KW_OK)
			return r;
	}
	if (kw_evlog_is_component(type)) {
		if (c->n_comp == *comp_cap) {
			*comp_cap = *comp_cap ? *comp_cap * 2 : 16;
			if ((nc = realloc(c->comp, *comp_cap *
			    sizeof(*nc))) == NULL)
				return KW_ERR_NOMEM;
			c->comp = nc;
		}
		nc = &c->comp[c->n_comp++];
		nc->pcr = pcr;
		nc->type = type;
		nc->offset = at;
		memcpy(nc->sha256, d256, KW_SHA256_LEN);
	}
	return KW_OK;
}

void
kw_evlog_claims_clear(struct kw_evlog_claims *c)
{
	if (c == NULL)
		return;
	free(c->comp);
	memset(c, 0, sizeof(*c));
}

int
kw_evlog_parse(const uint8_t *buf, size_t len, char *why, size_t why_len,
    struct kw_evlog_claims *out)
{
	struct kw_evlog_alg algs[KW_EVLOG_MAX_ALGS];
	struct kw_evlog_rd rd, ev;
	const uint8_t *d = NULL, *data = NULL;
	uint32_t pcr, type, size;
	size_t n_algs = 0, comp_cap = 0;
	int r, locality_seen = 0;
	unsigned i;

	memset(out, 0, sizeof(*out));
	if (why != NULL && why_len > 0)
		why[0] = '\0';
	memset(&rd, 0, sizeof(rd));
	rd.p = buf;
	rd.len = len;
	rd.why = why;
	rd.why_len = why_len;
	if (buf == NULL || len == 0) {
		r = kw_evlog_fail(&rd, 0, "empty log");
		goto out;
	}
	if (len > KW_EVLOG_MAX_SIZE) {
		r = kw_evlog_fail(&rd, KW_EVLOG_MAX_SIZE, "log larger than %u "
		    "bytes", KW_EVLOG_MAX_SIZE);
		goto out;
	}
	/* PCRs 17-22 (D-RTM) start at all ones, PCR 0 at the locality. */
	for (i = 17; i <= 22; i++)
		memset(out->pcr.val[i], 0xff, KW_SHA256_LEN);
	/* The first event, SHA-1 format. */
	if ((r = kw_evlog_u32(&rd, "PCR index", &pcr)) != KW_OK ||
	    (r = kw_evlog_u32(&rd, "event type", &type)) != KW_OK ||
	    (r = kw_evlog_bytes(&rd, 20, "SHA-1 digest", &d)) != KW_OK ||
	    (r = kw_evlog_u32(&rd, "event size", &size)) != KW_OK)
		goto out;
	if (pcr != 0 || type != KW_EV_NO_ACTION) {
		r = kw_evlog_fail(&rd, 0, "the first event is PCR %u type "
		    "0x%08x, not the EV_NO_ACTION Spec ID header", pcr, type);
		goto out;
	}
	if (size > rd.len - rd.pos) {
		r = kw_evlog_fail(&rd, 28, "Spec ID header of %u bytes runs "
		    "past the end of the log (%zu bytes left)", size,
		    rd.len - rd.pos);
		goto out;
	}
	if ((r = kw_evlog_bytes(&rd, size, "Spec ID header", &data)) != KW_OK)
		goto out;
	kw_evlog_sub(&rd, data, size, &ev);
	if ((r = kw_evlog_specid(&ev, algs, &n_algs)) != KW_OK)
		goto out;
	out->n_events = 1;
	out->n_algs = n_algs;
	while (rd.pos < rd.len) {
		if (out->n_events >= KW_EVLOG_MAX_EVENTS) {
			r = kw_evlog_fail(&rd, rd.pos, "more than %u events",
			    KW_EVLOG_MAX_EVENTS);
			goto out;
		}
		if ((r = kw_evlog_event2(&rd, algs, n_algs, &locality_seen,
		    &comp_cap, out)) != KW_OK)
			goto out;
		out->n_events++;
	}
	out->pcr.mask = KW_PCR_ALL;
	r = KW_OK;
out:
	if (r != KW_OK) {
		kw_evlog_claims_clear(out);
		if (r != KW_ERR_PARSE && why != NULL && why_len > 0)
			snprintf(why, why_len, "%s", kw_strerror(r));
	}
	return r;
}

/* Read a whole file whose size stat() may not tell (securityfs says 0). */
static int
kw_evlog_read(const char *path, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, r;

	*out = NULL;
	*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? KW_ERR_NOT_FOUND :
		    errno == EACCES || errno == EPERM ? KW_ERR_PERM : KW_ERR_IO;
	for (;;) {
		if (len == cap) {
			if (cap > KW_EVLOG_MAX_SIZE) {
				r = KW_ERR_SPACE;
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			if ((nb = realloc(buf, cap)) == NULL) {
				r = KW_ERR_NOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = KW_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > KW_EVLOG_MAX_SIZE) {
		r = KW_ERR_SPACE;
		goto out;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
	r = KW_OK;
out:
	free(buf);
	close(fd);
	return r;
}

int
kw_evlog_load(const char *path, char *why, size_t why_len,
    struct kw_evlog_claims *out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (why != NULL && why_len > 0)
		why[0] = '\0';
	if ((r = kw_evlog_read(path, &buf, &len)) != KW_OK) {
		if (why != NULL && why_len > 0)
			snprintf(why, why_len, "%s", r == KW_ERR_NOT_FOUND ?
			    "no such file" : r == KW_ERR_PERM ? "permission "
			    "denied (the firmware log is readable by root "
			    "only)" : r == KW_ERR_SPACE ? "larger than the "
			    "8 MiB a firmware log may have" : kw_strerror(r));
		if (r == KW_ERR_SPACE)
			r = KW_ERR_PARSE;
		goto out;
	}
	r = kw_evlog_parse(buf, len, why, why_len, out);
out:
	free(buf);
	return r;
}

int
kw_evlog_match(const struct kw_evlog_claims *c,
    const struct kw_attest_pcrs *quoted, uint32_t *matched,
    int *first_mismatch)
{
	unsigned i;

	*matched = 0;
	*first_mismatch = -1;
	for (i = 0; i < KW_PCR_COUNT; i++) {
		if (!(quoted->mask & (1u << i)))
			continue;
		if (memcmp(c->pcr.val[i], quoted->val[i],
		    KW_SHA256_LEN) == 0)
			*matched |= 1u << i;
		else if (*first_mismatch < 0)
			*first_mismatch = (int)i;
	}
	return *first_mismatch < 0 ? KW_OK : KW_ERR_ATTEST;
}

int
kw_pcr_digest(const struct kw_attest_pcrs *v, uint32_t mask,
    uint8_t out[KW_SHA256_LEN])
{
	wc_Sha256 h;
	unsigned i;
	int r = KW_OK;

	memset(out, 0, KW_SHA256_LEN);
	if ((mask & ~KW_PCR_ALL) != 0 || (mask & ~v->mask) != 0)
		return KW_ERR_ARG;
	if (wc_InitSha256(&h) != 0)
		return KW_ERR_CRYPTO;
	for (i = 0; i < KW_PCR_COUNT && r == KW_OK; i++)
		if ((mask & (1u << i)) && wc_Sha256Update(&h, v->val[i],
		    KW_SHA256_LEN) != 0)
			r = KW_ERR_CRYPTO;
	if (r == KW_OK && wc_Sha256Final(&h, out) != 0)
		r = KW_ERR_CRYPTO;
	wc_Sha256Free(&h);
	return r;
}
