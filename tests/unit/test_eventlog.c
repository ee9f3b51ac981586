/* attest/: the UEFI event log parser and replay (eventlog.c), the posture
 * policy file and claim checks (policy.c), the unattested OS facts
 * (osfacts.c).
 *
 * The logs come from tests/tpm/make_eventlog.py, which also computes the
 * PCR values they replay to with Python's hashlib: keyward's replay must
 * agree with that independent one.  Damaged logs (cut, oversized lengths,
 * garbage, unknown algorithms, an edited SecureBoot event) are made here
 * from the generated ones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "attest/eventlog.h"
#include "attest/osfacts.h"
#include "attest/policy.h"

struct gen {
	uint8_t *log;
	size_t len;
	struct kw_attest_pcrs want;	/* what Python replays */
};

static char tmpdir[256];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int
setup_dir(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/kwevlog.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run make_eventlog.py with args; the log and Python's PCR values. */
static void
gen_log(const char *args, struct gen *g)
{
	const char *src = getenv("KW_SRCDIR");
	char cmd[2048], line[256], path[512], why[160];
	unsigned idx;
	uint8_t v[KW_SHA256_LEN];
	FILE *p;

	if (src == NULL)
		src = getenv("srcdir");
	if (src == NULL)
		src = ".";
	memset(g, 0, sizeof(*g));
	snprintf(path, sizeof(path), "%s/log.bin", tmpdir);
	snprintf(cmd, sizeof(cmd), "python3 %s/tests/tpm/make_eventlog.py "
	    "%s %s", src, path, args);
	assert_non_null(p = popen(cmd, "r"));
	while (fgets(line, sizeof(line), p) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		assert_int_equal(kw_attest_pcr_parse(line, &idx, v, why,
		    sizeof(why)), KW_OK);
		memcpy(g->want.val[idx], v, KW_SHA256_LEN);
		g->want.mask |= 1u << idx;
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(kw_file_read(path, KW_EVLOG_MAX_SIZE, &g->log,
	    &g->len), KW_OK);
}

/* Offsets of the events: offs[0] = 0 (the header), then each event. */
static size_t
event_offsets(const struct gen *g, size_t *offs, size_t max)
{
	size_t at, n = 0, i;
	uint32_t cnt, size;

	memcpy(&size, g->log + 28, 4);
	offs[n++] = 0;
	at = 32 + size;
	while (at < g->len && n < max) {
		offs[n++] = at;
		memcpy(&cnt, g->log + at + 8, 4);
		at += 12;
		for (i = 0; i < cnt; i++) {
			uint16_t alg;

			memcpy(&alg, g->log + at, 2);
			at += 2 + (alg == 0x0004 ? 20 : alg == 0x000b ? 32 : 48);
		}
		memcpy(&size, g->log + at, 4);
		at += 4 + size;
	}
	return n;
}

static void
assert_pcrs(const struct kw_evlog_claims *c, const struct gen *g)
{
	unsigned i;

	assert_int_equal(c->extended, g->want.mask);
	for (i = 0; i < KW_PCR_COUNT; i++)
		if (g->want.mask & (1u << i))
			assert_memory_equal(c->pcr.val[i], g->want.val[i],
			    KW_SHA256_LEN);
}

static void
test_replay(void **state)
{
	struct kw_evlog_claims c;
	struct gen g;
	char why[256];
	uint8_t ff[KW_SHA256_LEN], zero[KW_SHA256_LEN];

	(void)state;
	gen_log("", &g);
	assert_int_equal(kw_evlog_parse(g.log, g.len, why, sizeof(why), &c),
	    KW_OK);
	assert_pcrs(&c, &g);
	assert_int_equal(c.extended, 0xffu);
	assert_int_equal(c.pcr.mask, KW_PCR_ALL);
	assert_int_equal(c.secure_boot, KW_SB_ON);
	assert_int_equal(c.startup_locality, 0);
	assert_int_equal(c.n_events, 19);
	assert_int_equal(c.n_algs, 2);
	/* S-CRTM version, firmware blob, the boot application */
	assert_int_equal(c.n_comp, 3);
	assert_int_equal(c.comp[2].type, KW_EV_EFI_BOOT_SERVICES_APPLICATION);
	assert_int_equal(c.comp[2].pcr, 4);
	/* PCRs the log leaves alone keep their reset values */
	memset(ff, 0xff, sizeof(ff));
	memset(zero, 0, sizeof(zero));
	assert_memory_equal(c.pcr.val[17], ff, KW_SHA256_LEN);
	assert_memory_equal(c.pcr.val[22], ff, KW_SHA256_LEN);
	assert_memory_equal(c.pcr.val[8], zero, KW_SHA256_LEN);
	assert_memory_equal(c.pcr.val[23], zero, KW_SHA256_LEN);
	kw_evlog_claims_clear(&c);
	free(g.log);

	/* two boot applications: both in PCR 4, both listed */
	gen_log("--app shim --app grub", &g);
	assert_int_equal(kw_evlog_parse(g.log, g.len, why, sizeof(why), &c),
	    KW_OK);
	assert_pcrs(&c, &g);
	assert_int_equal(c.n_comp, 4);
	kw_evlog_claims_clear(&c);
	free(g.log);
}

static void
test_secure_boot(void **state)
{
	struct kw_evlog_claims c;
	struct gen g;
	char why[256];

	(void)state;
	gen_log("--secure-boot 0", &g);
	assert_int_equal(kw_evlog_parse(g.log, g.len, why, sizeof(why), &c),
	    KW_OK);
	assert_int_equal(c.secure_boot, KW_SB_OFF);
	assert_pcrs(&c, &g);
	kw_evlog_claims_clear(&c);
	free(g.log);

	gen_log("--secure-boot none", &g);
	assert_int_equal(kw_evlog_parse(g.log, g.len, why, sizeof(why), &c),
	    KW_OK);
	assert_int_equal(c.secure_boot, KW_SB_UNKNOWN);
	kw_evlog_claims_clear(&c);
	free(g.log);

	/* data says 1, the digests were of 0: an edited log */
	gen_log("--forge-secure-boot", &g);
	assert_int_equal(kw_evlog_parse(g.log, g.len, why, sizeof(why), &c),
	    KW_ERR_PARSE);
	assert_non_null(strstr(why, "SecureBoot variable event: its data does "
	    "not hash to its sha256 digest"));
	assert_int_equal(strncmp(why, "offset ", 7), 0);
	assert_int_equal(c.n_events, 0);
	free(g.log);
}

static void
test_locality(void **state)
{
	struct kw_evlog_claims c;
	struct gen g, g0;
	char why[256];

	(void)state;
	gen_log("", &g0);
	gen_log("--locality 3", &g);
	assert_int_equal(kw_evlog_parse(g.log, g.len, why, sizeof(why), &c),
	    KW_OK);
	assert_int_equal(c.startup_locality, 3);
	assert_pcrs(&c, &g);
	/* PCR 0 differs from the locality-0 log's, PCR 1 does not */
	assert_memory_not_equal(c.pcr.val[0], g0.want.val[0],
	    KW_SHA256_LEN);
	assert_memory_equal(c.pcr.val[1], g0.want.val[1], KW_SHA256_LEN);
	kw_evlog_claims_clear(&c);
	free(g.log);
	gen_log("--locality 4", &g);
	assert_int_equal(kw_evlog_parse(g.log, g.len, why, sizeof(why), &c),
	    KW_OK);
	assert_int_equal(c.startup_locality, 4);
	assert_pcrs(&c, &g);
	kw_evlog_claims_clear(&c);
	free(g.log);
	gen_log("--locality 2", &g);
	assert_int_equal(kw_evlog_parse(g.log, g.len, why, sizeof(why), &c),
	    KW_ERR_PARSE);
	assert_non_null(strstr(why, "StartupLocality 2 (0, 3 or 4)"));
	free(g.log);
	free(g0.log);
}

static void
test_unknown_alg(void **state)
{
	struct kw_evlog_claims c;
	struct gen g, g0;
	char why[256];

	(void)state;
	gen_log("", &g0);
	gen_log("--unknown-alg 0x7777:48", &g);
	assert_true(g.len > g0.len);
	assert_int_equal(kw_evlog_parse(g.log, g.len, why, sizeof(why), &c),
	    KW_OK);
	assert_int_equal(c.n_algs, 3);
	assert_pcrs(&c, &g);
	assert_memory_equal(g.want.val, g0.want.val, sizeof(g.want.val));
	kw_evlog_claims_clear(&c);
	free(g.log);
	free(g0.log);
}

/* Every cut of a log is refused with an offset inside what is left,
 * except cuts at an event boundary, which are a shorter, valid log. */
static void
test_truncated(void **state)
{
	struct kw_evlog_claims c;
	struct gen g;
	size_t offs[64], n, cut, i, ok = 0, off;
	char why[256];
	int r, boundary;

	(void)state;
	gen_log("", &g);
	n = event_offsets(&g, offs, 64);
	assert_int_equal(n, 19);
	for (cut = 0; cut < g.len; cut++) {
		r = kw_evlog_parse(g.log, cut, why, sizeof(why), &c);
		for (i = 1, boundary = 0; i < n; i++)
			if (offs[i] == cut)
				boundary = 1;
		if (boundary) {
			assert_int_equal(r, KW_OK);
			ok++;
			kw_evlog_claims_clear(&c);
			continue;
		}
		assert_int_equal(r, KW_ERR_PARSE);
		assert_int_equal(sscanf(why, "offset %zu:", &off), 1);
		assert_true(off <= cut);
	}
	assert_int_equal(ok, n - 1);
	/* a cut inside the last event's data names its size field */
	r = kw_evlog_parse(g.log, g.len - 1, why, sizeof(why), &c);
	assert_int_equal(r, KW_ERR_PARSE);
	assert_non_null(strstr(why, "event data of 36 bytes runs past the end "
	    "of the log (35 bytes left)"));
	assert_int_equal(sscanf(why, "offset %zu:", &off), 1);
	assert_int_equal(off, g.len - 36 - 4);
	free(g.log);
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
expect_refused(const uint8_t *log, size_t len, size_t off, const char *what)
{
	struct kw_evlog_claims c;
	char why[256], want[64];

	assert_int_equal(kw_evlog_parse(log, len, why, sizeof(why), &c),
	    KW_ERR_PARSE);
	snprintf(want, sizeof(want), "offset %zu: ", off);
	if (strncmp(why, want, strlen(want)) != 0 ||
	    strstr(why, what) == NULL)
		fail_msg("want '%s...%s', got '%s'", want, what, why);
	assert_null(c.comp);
}

static void
test_hostile(void **state)
{
	struct gen g;
	size_t offs[64], last;
	uint8_t *m, *big;
	size_t i;
	uint32_t seed = 1;

	(void)state;
	gen_log("", &g);
	(void)event_offsets(&g, offs, 64);
	assert_non_null(m = malloc(g.len));
	last = offs[18];

	/* an event size far past the end */
	memcpy(m, g.log, g.len);
	put32(m + g.len - 36 - 4, 0xfffffff0u);
	expect_refused(m, g.len, g.len - 40, "event data of 4294967280 bytes "
	    "runs past the end");
	/* a PCR index out of range */
	memcpy(m, g.log, g.len);
	put32(m + last, 24);
	expect_refused(m, g.len, last, "PCR index 24 (0 to 23)");
	/* more digests than the header has algorithms */
	memcpy(m, g.log, g.len);
	put32(m + last + 8, 3);
	expect_refused(m, g.len, last + 8, "3 digests");
	put32(m + last + 8, 0);
	expect_refused(m, g.len, last + 8, "0 digests");
	/* a digest algorithm the header did not declare */
	memcpy(m, g.log, g.len);
	m[last + 12] = 0x77;
	expect_refused(m, g.len, last + 12, "digest algorithm 0x0077 is not "
	    "in the Spec ID header");
	/* the same algorithm twice (sha1, then sha1 again) */
	memcpy(m, g.log, g.len);
	assert_int_equal(m[last + 34], 0x0b);
	m[last + 34] = 0x04;
	expect_refused(m, g.len, last + 34, "two digests of algorithm 0x0004");
	/* not a crypto-agile log */
	memcpy(m, g.log, g.len);
	m[32] = 'X';
	expect_refused(m, g.len, 32, "not a crypto-agile log");
	/* the header declares sha256 with 20-byte digests */
	memcpy(m, g.log, g.len);
	assert_int_equal(m[32 + 28 + 4], 0x0b);
	m[32 + 28 + 6] = 20;
	expect_refused(m, g.len, 32 + 28 + 4, "algorithm 0x000b declared with "
	    "20-byte digests, not 32");
	/* the first event is not the header */
	memcpy(m, g.log, g.len);
	put32(m + 4, 4);
	expect_refused(m, g.len, 0, "not the EV_NO_ACTION Spec ID header");
	/* empty, and over the size cap */
	expect_refused(g.log, 0, 0, "empty log");
	assert_non_null(big = calloc(1, KW_EVLOG_MAX_SIZE + 1));
	memcpy(big, g.log, g.len);
	expect_refused(big, KW_EVLOG_MAX_SIZE + 1, KW_EVLOG_MAX_SIZE,
	    "log larger than");
	free(big);
	/* garbage after a valid header, and garbage alone */
	for (i = 0; i < 200; i++) {
		struct kw_evlog_claims c;
		char why[256];
		size_t k, len = offs[1] + 1 + i * 7;

		assert_non_null(big = malloc(len));
		memcpy(big, g.log, offs[1]);
		for (k = offs[1]; k < len; k++) {
			seed = seed * 1103515245u + 12345u;
			big[k] = (uint8_t)(seed >> 16);
		}
		assert_int_equal(kw_evlog_parse(big, len, why, sizeof(why),
		    &c), KW_ERR_PARSE);
		assert_int_equal(strncmp(why, "offset ", 7), 0);
		assert_int_equal(kw_evlog_parse(big + offs[1], len - offs[1],
		    why, sizeof(why), &c), KW_ERR_PARSE);
		free(big);
	}
	free(m);
	free(g.log);
}

/* More events than the cap: refused at the first one over. */
static void
test_event_cap(void **state)
{
	struct gen g;
	size_t offs[64], ev, n, i;
	uint8_t *m;

	(void)state;
	gen_log("", &g);
	(void)event_offsets(&g, offs, 64);
	ev = g.len - offs[18];		/* the last event, repeated */
	n = KW_EVLOG_MAX_EVENTS;
	assert_non_null(m = malloc(offs[1] + n * ev));
	memcpy(m, g.log, offs[1]);
	for (i = 0; i < n; i++)
		memcpy(m + offs[1] + i * ev, g.log + offs[18], ev);
	expect_refused(m, offs[1] + n * ev, offs[1] + (n - 1) * ev,
	    "more than 20000 events");
	free(m);
	free(g.log);
}

static void
test_match(void **state)
{
	struct kw_evlog_claims c;
	struct kw_attest_pcrs q;
	struct gen g, evil;
	uint8_t d[KW_SHA256_LEN], want[KW_SHA256_LEN];
	uint32_t matched;
	int first;

	(void)state;
	gen_log("", &g);
	gen_log("--app evil", &evil);
	assert_int_equal(kw_evlog_parse(evil.log, evil.len, NULL, 0, &c),
	    KW_OK);
	q = g.want;
	assert_int_equal(kw_evlog_match(&c, &q, &matched, &first),
	    KW_ERR_ATTEST);
	assert_int_equal(first, 4);
	assert_int_equal(matched, 0xefu);
	q.mask = 0x0f;
	assert_int_equal(kw_evlog_match(&c, &q, &matched, &first), KW_OK);
	assert_int_equal(first, -1);
	assert_int_equal(matched, 0x0fu);
	/* the quote's digest: SHA-256 of the selected values in order */
	assert_int_equal(kw_pcr_digest(&c.pcr, 0x1u, d), KW_OK);
	kw_evlog_claims_clear(&c);
	assert_int_equal(kw_evlog_parse(g.log, g.len, NULL, 0, &c), KW_OK);
	q.mask = 0xff;
	assert_int_equal(kw_pcr_digest(&q, 0x1u, want), KW_OK);
	assert_memory_equal(d, want, KW_SHA256_LEN);	/* PCR 0 is the same */
	assert_int_equal(kw_pcr_digest(&c.pcr, 0xffu, d), KW_OK);
	assert_int_equal(kw_pcr_digest(&q, 0xffu, want), KW_OK);
	assert_memory_equal(d, want, KW_SHA256_LEN);
	assert_int_equal(kw_pcr_digest(&q, 0x100u, d), KW_ERR_ARG);
	assert_int_equal(kw_pcr_digest(&q, 0x1000000u, d), KW_ERR_ARG);
	kw_evlog_claims_clear(&c);
	free(g.log);
	free(evil.log);
}

/* The policy parser, stderr captured. */
static int
policy_captured_len(const char *text, size_t len, const char *file,
    struct kw_attest_policy *p, char *buf, size_t buflen)
{
	char path[512];
	int fd, saved, r;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stderr.XXXXXX", tmpdir);
	assert_true((fd = mkstemp(path)) >= 0);
	unlink(path);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	r = kw_attest_policy_parse(text, len, file, p);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, buflen - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return r;
}

static int
policy_captured(const char *text, const char *file,
    struct kw_attest_policy *p, char *buf, size_t buflen)
{
	return policy_captured_len(text, strlen(text), file, p, buf, buflen);
}

static void
bad_policy(const char *text, const char *want)
{
	struct kw_attest_policy p;
	char err[2048];

	assert_int_equal(policy_captured(text, "/etc/kw/posture.policy", &p,
	    err, sizeof(err)), KW_ERR_CONFIG);
	if (strstr(err, want) == NULL)
		fail_msg("want '%s', got '%s'", want, err);
	assert_null(p.ek_ca);
	assert_int_equal(p.npcr, 0);
}

#define H64A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H64B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

static void
test_policy_parse(void **state)
{
	struct kw_attest_policy p;
	char err[2048];

	(void)state;
	assert_int_equal(policy_captured(
	    "# posture policy\n"
	    "ek-ca = ek-roots.pem\n"
	    "secure-boot = required\n"
	    "\n"
	    "pcr = 7:" H64A "\n"
	    "pcr = 7:0x" H64B "\r\n"
	    "pcr = 4:" H64A "\n"
	    "recheck = 0\n",
	    "/etc/kw/posture.policy", &p, err, sizeof(err)), KW_OK);
	assert_string_equal(err, "");
	assert_string_equal(p.ek_ca, "/etc/kw/ek-roots.pem");
	assert_int_equal(p.secure_boot, KW_ATTEST_SB_REQUIRED);
	assert_int_equal(p.npcr, 3);
	assert_int_equal(p.pcr[1].index, 7);
	assert_int_equal(p.pcr[1].sha256[0], 0xbb);
	assert_int_equal(p.pcr[2].index, 4);
	assert_int_equal(p.recheck, 0);
	assert_int_equal(p.max_age, KW_POLICY_DEF_MAX_AGE);
	kw_attest_policy_clear(&p);
	assert_int_equal(policy_captured("ek-ca = /x/ca.pem\n", "policy", &p,
	    err, sizeof(err)), KW_OK);
	assert_string_equal(p.ek_ca, "/x/ca.pem");
	assert_int_equal(p.secure_boot, KW_ATTEST_SB_IGNORE);
	assert_int_equal(p.recheck, 600);
	kw_attest_policy_clear(&p);

	bad_policy("ek-ca = a.pem\nsecure-boot = maybe\n",
	    "/etc/kw/posture.policy:2: secure-boot = 'maybe': 'required' or "
	    "'ignore'");
	bad_policy("ek-ca = a.pem\n\nfoo = 1\n",
	    "posture.policy:3: unknown key 'foo'");
	bad_policy("ek-ca = a.pem\npcr = 24:" H64A "\n",
	    "posture.policy:2: pcr = PCR index 24 (0 to 23)");
	bad_policy("ek-ca = a.pem\npcr = 7:abcd\n",
	    "posture.policy:2: pcr = PCR 7: a sha256 value is 64 hex digits, "
	    "got 4 characters");
	bad_policy("ek-ca = a.pem\npcr = 7:" H64A "\npcr = 7:"
	    "zaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    "posture.policy:3: pcr = PCR 7: 'zaaa");
	bad_policy("ek-ca = a.pem\npcr = x:" H64A "\n",
	    "posture.policy:2: pcr = PCR index 'x' is not a number");
	bad_policy("ek-ca = a.pem\nrecheck = 5\nmax-age = 9\nrecheck = 6\n",
	    "posture.policy:4: 'recheck' given twice (first on line 2)");
	bad_policy("ek-ca = a.pem\nmax-age = 99999999999\n",
	    "posture.policy:2: max-age = '99999999999': a number of seconds");
	bad_policy("ek-ca = a.pem\nmax-age = -1\n",
	    "posture.policy:2: max-age = '-1'");
	bad_policy("[policy]\nek-ca = a.pem\n",
	    "posture.policy:1: a policy file has no sections");
	bad_policy("ek-ca = a.pem\n  secure-boot = required\n",
	    "posture.policy:2: indented line");
	bad_policy("ek-ca = a.pem\nsecure-boot required\n",
	    "posture.policy:2: expected 'key = value'");
	bad_policy("ek-ca =\n", "posture.policy:1: 'ek-ca' has no value");
	bad_policy("secure-boot = ignore\nrecheck = 10\n",
	    "posture.policy:2: no 'ek-ca = FILE'");
	bad_policy("ek-ca = a.pem\npcr = 7:" H64A "\npcr = 7:" H64A "\n",
	    "posture.policy:3: pcr = 7:... listed twice");
	bad_policy("ek-ca = a.pem\nek-ca = b.pem\n",
	    "posture.policy:2: 'ek-ca' given twice (first on line 1)");
	/* every error is reported, not only the first */
	assert_int_equal(policy_captured("ek-ca = a.pem\nfoo = 1\nbar = 2\n",
	    "p", &p, err, sizeof(err)), KW_ERR_CONFIG);
	assert_non_null(strstr(err, "p:2: unknown key 'foo'"));
	assert_non_null(strstr(err, "p:3: unknown key 'bar'"));
	/* a NUL byte in a line */
	{
		static const char nul[] = "ek-ca = a.pem\nrecheck\0 = 5\n";

		assert_int_equal(policy_captured_len(nul, sizeof(nul) - 1,
		    "p", &p, err, sizeof(err)), KW_ERR_CONFIG);
		assert_non_null(strstr(err, "p:2: NUL byte in line"));
	}
}

static void
claims_of(const char *args, struct kw_evlog_claims *c, struct gen *g)
{
	gen_log(args, g);
	assert_int_equal(kw_evlog_parse(g->log, g->len, NULL, 0, c), KW_OK);
}

static void
test_check_claims(void **state)
{
	struct kw_attest_policy p;
	struct kw_evlog_claims on, off, none;
	struct kw_attest_pcrs q;
	struct gen gon, goff, gnone;
	char reason[256];

	(void)state;
	claims_of("", &on, &gon);
	claims_of("--secure-boot 0", &off, &goff);
	claims_of("--secure-boot none", &none, &gnone);
	memset(&p, 0, sizeof(p));
	p.secure_boot = KW_ATTEST_SB_REQUIRED;

	q = gon.want;
	assert_int_equal(kw_attest_policy_check_claims(&p, &on, &q, reason,
	    sizeof(reason)), KW_OK);
	assert_string_equal(reason, "");
	q = goff.want;
	assert_int_equal(kw_attest_policy_check_claims(&p, &off, &q, reason,
	    sizeof(reason)), KW_ERR_ATTEST);
	assert_string_equal(reason, "secure boot off");
	q = gnone.want;
	assert_int_equal(kw_attest_policy_check_claims(&p, &none, &q, reason,
	    sizeof(reason)), KW_ERR_ATTEST);
	assert_non_null(strstr(reason, "secure boot not measured"));
	/* PCR 7 not quoted: the SecureBoot event is not bound to the TPM */
	q = gon.want;
	q.mask &= ~0x80u;
	assert_int_equal(kw_attest_policy_check_claims(&p, &on, &q, reason,
	    sizeof(reason)), KW_ERR_ATTEST);
	assert_string_equal(reason, "secure boot not attested (PCR 7 not in "
	    "the quote)");
	p.secure_boot = KW_ATTEST_SB_IGNORE;
	assert_int_equal(kw_attest_policy_check_claims(&p, &on, &q, reason,
	    sizeof(reason)), KW_OK);
	q = goff.want;
	assert_int_equal(kw_attest_policy_check_claims(&p, &off, &q, reason,
	    sizeof(reason)), KW_OK);
	/* the quote is of another boot: the log's mismatch comes first */
	p.secure_boot = KW_ATTEST_SB_REQUIRED;
	q = gon.want;
	assert_int_equal(kw_attest_policy_check_claims(&p, &off, &q, reason,
	    sizeof(reason)), KW_ERR_ATTEST);
	assert_string_equal(reason, "event log does not match the quote at "
	    "PCR 7");
	/* PCR rules */
	p.pcr[0].index = 4;
	memcpy(p.pcr[0].sha256, gon.want.val[7], KW_SHA256_LEN);
	p.pcr[1].index = 4;
	memcpy(p.pcr[1].sha256, gon.want.val[4], KW_SHA256_LEN);
	p.npcr = 2;
	q = gon.want;
	assert_int_equal(kw_attest_policy_check_claims(&p, &on, &q, reason,
	    sizeof(reason)), KW_OK);
	p.npcr = 1;
	assert_int_equal(kw_attest_policy_check_claims(&p, &on, &q, reason,
	    sizeof(reason)), KW_ERR_ATTEST);
	assert_string_equal(reason, "PCR 4 not allowed (its value is not one "
	    "the policy lists)");
	p.pcr[0].index = 9;
	assert_int_equal(kw_attest_policy_check_claims(&p, &on, &q, reason,
	    sizeof(reason)), KW_ERR_ATTEST);
	assert_string_equal(reason, "PCR 9 not in the quote (the policy lists "
	    "values for it)");
	p.npcr = 0;
	assert_int_equal(kw_attest_policy_check_claims(&p, &on, NULL, reason,
	    sizeof(reason)), KW_ERR_ARG);
	kw_evlog_claims_clear(&on);
	kw_evlog_claims_clear(&off);
	kw_evlog_claims_clear(&none);
	free(gon.log);
	free(goff.log);
	free(gnone.log);
}

static void
mkfile(const char *rel, const char *text)
{
	char path[1024], cmd[1200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/root/%s", tmpdir, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	if (text == NULL) {	/* a directory */
		assert_int_equal(mkdir(path, 0700), 0);
		return;
	}
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void
test_os_facts(void **state)
{
	struct kw_os_facts f;
	char root[512], cmd[1100];

	(void)state;
	snprintf(root, sizeof(root), "%s/root", tmpdir);
	/* / on LVM on LUKS */
	mkfile("etc/os-release", "NAME=x\nPRETTY_NAME=\"Test \\\"OS\\\" 1\"\n");
	mkfile("proc/self/mountinfo",
	    "22 27 0:21 / /proc rw - proc proc rw\n"
	    "27 1 253:1 / / rw,relatime - ext4 /dev/mapper/vg-root rw\n");
	mkfile("sys/dev/block/253:1/dm/uuid", "LVM-abcdef\n");
	mkfile("sys/dev/block/253:1/dev", "253:1\n");
	mkfile("sys/dev/block/253:1/slaves/dm-0", NULL);
	mkfile("sys/class/block/dm-0/dm/uuid", "CRYPT-LUKS2-0123abcd-luks\n");
	mkfile("sys/class/block/dm-0/dm/name", "luks-root\n");
	mkfile("sys/class/block/dm-0/slaves/sda3", NULL);
	mkfile("sys/class/block/sda3/dev", "8:3\n");
	kw_os_facts_collect(root, &f);
	assert_string_equal(f.os, "Test \"OS\" 1");
	assert_true(f.kernel[0] != '\0');
	assert_int_equal(f.disk_encrypted, 1);
	assert_string_equal(f.root_source, "/dev/mapper/vg-root (253:1)");
	assert_non_null(strstr(f.disk_note, "dm-crypt device luks-root"));

	/* the same stack without the crypt layer */
	mkfile("sys/class/block/dm-0/dm/uuid", "LVM-other\n");
	kw_os_facts_collect(root, &f);
	assert_int_equal(f.disk_encrypted, 0);

	/* / on a plain partition; os-release only in /usr/lib */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/etc' '%s/proc'", root, root);
	assert_int_equal(system(cmd), 0);
	mkfile("usr/lib/os-release", "PRETTY_NAME='Plain'\n");
	mkfile("sys/dev/block/8:3/dev", "8:3\n");
	mkfile("proc/self/mountinfo",
	    "27 1 8:3 / / rw - ext4 /dev/sda3 rw\n"
	    "40 27 0:40 / /home rw - ext4 /dev/sdb1 rw\n");
	kw_os_facts_collect(root, &f);
	assert_string_equal(f.os, "Plain");
	assert_int_equal(f.disk_encrypted, 0);
	assert_string_equal(f.root_source, "/dev/sda3 (8:3)");

	/* an overlay (a container): unknown, and said why */
	mkfile("proc/self/mountinfo", "27 1 0:50 / / rw - overlay overlay rw\n");
	kw_os_facts_collect(root, &f);
	assert_int_equal(f.disk_encrypted, -1);
	assert_non_null(strstr(f.disk_note, "/ is overlay from overlay, not a "
	    "block device"));
	/* a device sysfs does not know */
	mkfile("proc/self/mountinfo", "27 1 9:9 / / rw - ext4 /dev/md9 rw\n");
	kw_os_facts_collect(root, &f);
	assert_int_equal(f.disk_encrypted, -1);
	assert_non_null(strstr(f.disk_note, "cannot read /sys/dev/block/9:9"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_secure_boot),
		cmocka_unit_test(test_locality),
		cmocka_unit_test(test_unknown_alg),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_event_cap),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_policy_parse),
		cmocka_unit_test(test_check_claims),
		cmocka_unit_test(test_os_facts),
	};

	kw_log_setup(KW_LOG_ERROR, 0);
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
