/* The posture policy file and the check of a device's claims against it
 * (see policy.h and keyward-posture(7)).
 *
 * libinih splits lines into key = value; our reader hands it one source
 * line at a time (so every message has the exact line number) and refuses
 * what inih would mangle or what has no place in a flat file: sections,
 * indented continuation lines, NUL bytes, over-long lines, no '='. */
#include <ini.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_hex.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "attest/policy.h"

#define KW_POLICY_MAX_FILE	(1024 * 1024)
#define KW_POLICY_MAX_LINE	4000
#define KW_POLICY_MAX_ERRORS	20

struct kw_policy_parse {
	const char *file;
	const char *text;
	size_t len, pos;
	int line;
	int errors;
	int seen_line[4];	/* ek-ca, secure-boot, recheck, max-age */
	struct kw_attest_policy *pol;
};

enum { KW_PK_EKCA, KW_PK_SB, KW_PK_RECHECK, KW_PK_MAXAGE };

static void __attribute__((format(printf, 2, 3)))
kw_policy_err(struct kw_policy_parse *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->errors <= KW_POLICY_MAX_ERRORS)
		kw_err("%s:%d: %s", p->file, p->line, msg);
	p->errors++;
}

int
kw_attest_pcr_parse(const char *s, unsigned *index,
    uint8_t value[KW_SHA256_LEN], char *why, size_t why_len)
{
	const char *colon = strchr(s, ':'), *h;
	unsigned long idx = 0;
	size_t i, n;
	int hi, lo;

	*index = 0;
	memset(value, 0, KW_SHA256_LEN);
	if (colon == NULL || colon == s || colon - s > 2) {
		snprintf(why, why_len, "'%.40s' is not INDEX:SHA256HEX", s);
		return KW_ERR_PARSE;
	}
	for (i = 0; s + i < colon; i++) {
		if (!isdigit((unsigned char)s[i])) {
			snprintf(why, why_len, "PCR index '%.*s' is not a "
			    "number", (int)(colon - s), s);
			return KW_ERR_PARSE;
		}
		idx = idx * 10 + (unsigned long)(s[i] - '0');
	}
	if (idx >= KW_PCR_COUNT) {
		snprintf(why, why_len, "PCR index %lu (0 to %d)", idx,
		    KW_PCR_COUNT - 1);
		return KW_ERR_PARSE;
	}
	h = colon + 1;
	if (h[0] == '0' && (h[1] == 'x' || h[1] == 'X'))
		h += 2;
	n = strlen(h);
	if (n != 2 * KW_SHA256_LEN) {
		snprintf(why, why_len, "PCR %lu: a sha256 value is 64 hex "
		    "digits, got %zu characters", idx, n);
		return KW_ERR_PARSE;
	}
	for (i = 0; i < KW_SHA256_LEN; i++) {
		hi = kw_hex_digit((unsigned char)h[2 * i]);
		lo = kw_hex_digit((unsigned char)h[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			memset(value, 0, KW_SHA256_LEN);
			snprintf(why, why_len, "PCR %lu: '%.64s' is not hex",
			    idx, h);
			return KW_ERR_PARSE;
		}
		value[i] = (uint8_t)(hi << 4 | lo);
	}
	*index = (unsigned)idx;
	return KW_OK;
}

/* A number of seconds, 0 to KW_POLICY_MAX_SECONDS. */
static int
kw_policy_seconds(struct kw_policy_parse *p, const char *name,
    const char *v, unsigned *out)
{
	unsigned long n = 0;
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		if (!isdigit((unsigned char)v[i]) || i >= 9) {
			kw_policy_err(p, "%s = '%.40s': a number of seconds "
			    "(0 to %u)", name, v, KW_POLICY_MAX_SECONDS);
			return KW_ERR_CONFIG;
		}
		n = n * 10 + (unsigned long)(v[i] - '0');
	}
	if (i == 0 || n > KW_POLICY_MAX_SECONDS) {
		kw_policy_err(p, "%s = '%.40s': a number of seconds (0 to %u)",
		    name, v, KW_POLICY_MAX_SECONDS);
		return KW_ERR_CONFIG;
	}
	*out = (unsigned)n;
	return KW_OK;
}

/* ek-ca relative to the policy file's directory. */
static char *
kw_policy_path(const char *file, const char *v)
{
	const char *slash = strrchr(file, '/');
	size_t dl, vl = strlen(v);
	char *s;

	if (v[0] == '/' || slash == NULL)
		return strdup(v);
	dl = (size_t)(slash - file) + 1;
	if ((s = malloc(dl + vl + 1)) == NULL)
		return NULL;
	memcpy(s, file, dl);
	memcpy(s + dl, v, vl + 1);
	return s;
}

/* A single-valued key: refuse it twice. */
static int
kw_policy_once(struct kw_policy_parse *p, int k, const char *name)
{
	if (p->seen_line[k] != 0) {
		kw_policy_err(p, "'%s' given twice (first on line %d)", name,
		    p->seen_line[k]);
		return 0;
	}
	p->seen_line[k] = p->line;
	return 1;
}

static int
kw_policy_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct kw_policy_parse *p = user;
	struct kw_attest_policy *pol = p->pol;
	uint8_t v[KW_SHA256_LEN];
	char why[160];
	unsigned idx;
	size_t i;

	(void)section;
	if (*value == '\0') {
		kw_policy_err(p, "'%s' has no value", name);
		return 1;
	}
	if (strcmp(name, "ek-ca") == 0) {
		if (kw_policy_once(p, KW_PK_EKCA, name) &&
		    (pol->ek_ca = kw_policy_path(p->file, value)) == NULL)
			kw_policy_err(p, "out of memory");
	} else if (strcmp(name, "secure-boot") == 0) {
		if (!kw_policy_once(p, KW_PK_SB, name))
			return 1;
		if (strcmp(value, "required") == 0)
			pol->secure_boot = KW_ATTEST_SB_REQUIRED;
		else if (strcmp(value, "ignore") == 0)
			pol->secure_boot = KW_ATTEST_SB_IGNORE;
		else
			kw_policy_err(p, "secure-boot = '%.40s': 'required' or "
			    "'ignore'", value);
	} else if (strcmp(name, "pcr") == 0) {
		if (kw_attest_pcr_parse(value, &idx, v, why, sizeof(why))
		    != KW_OK) {
			kw_policy_err(p, "pcr = %s", why);
			return 1;
		}
		for (i = 0; i < pol->npcr; i++)
			if (pol->pcr[i].index == idx &&
			    memcmp(pol->pcr[i].sha256, v, KW_SHA256_LEN) == 0) {
				kw_policy_err(p, "pcr = %u:... listed twice",
				    idx);
				return 1;
			}
		if (pol->npcr >= KW_POLICY_MAX_PCR_RULES) {
			kw_policy_err(p, "more than %d pcr rules",
			    KW_POLICY_MAX_PCR_RULES);
			return 1;
		}
		pol->pcr[pol->npcr].index = idx;
		memcpy(pol->pcr[pol->npcr].sha256, v, KW_SHA256_LEN);
		pol->npcr++;
	} else if (strcmp(name, "recheck") == 0) {
		if (kw_policy_once(p, KW_PK_RECHECK, name))
			(void)kw_policy_seconds(p, name, value, &pol->recheck);
	} else if (strcmp(name, "max-age") == 0) {
		if (kw_policy_once(p, KW_PK_MAXAGE, name))
			(void)kw_policy_seconds(p, name, value, &pol->max_age);
	} else
		kw_policy_err(p, "unknown key '%.40s' (ek-ca, secure-boot, "
		    "pcr, recheck, max-age)", name);
	return 1;	/* go on: report every problem */
}

/* inih's reader: one whole source line per call; lines it would misread
 * are reported and replaced by a comment. */
static char *
kw_policy_reader(char *str, int num, void *stream)
{
	struct kw_policy_parse *p = stream;
	char *t, *eq, *colon;
	int r;

	if (p->pos >= p->len || num < 3)
		return NULL;
	r = kw_text_line(p->text, p->len, &p->pos, KW_POLICY_MAX_LINE, str,
	    (size_t)num, &t);
	p->line++;
	if (r == KW_ERR_PARSE) {
		kw_policy_err(p, "NUL byte in line");
		goto comment;
	}
	if (r != KW_OK) {
		kw_policy_err(p, "line too long");
		goto comment;
	}
	if (*t == '\0' || *t == ';' || *t == '#')
		goto comment;
	if (*t == '[') {
		kw_policy_err(p, "a policy file has no sections: one 'key = "
		    "value' a line");
		goto comment;
	}
	if (t != str) {
		kw_policy_err(p, "indented line: keys start at the beginning "
		    "of the line (no continuation lines)");
		goto comment;
	}
	eq = strchr(t, '=');
	colon = strchr(t, ':');
	if (eq == NULL || (colon != NULL && colon < eq)) {
		kw_policy_err(p, "expected 'key = value', got '%.40s'", t);
		goto comment;
	}
	return str;
comment:
	str[0] = ';';
	str[1] = '\0';
	return str;
}

void
kw_attest_policy_clear(struct kw_attest_policy *p)
{
	if (p == NULL)
		return;
	free(p->ek_ca);
	explicit_bzero(p, sizeof(*p));
}

int
kw_attest_policy_parse(const char *text, size_t len, const char *file,
    struct kw_attest_policy *out)
{
	struct kw_policy_parse p;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.file = file != NULL ? file : "(policy)";
	p.text = text;
	p.len = len;
	p.pol = out;
	out->recheck = KW_POLICY_DEF_RECHECK;
	out->max_age = KW_POLICY_DEF_MAX_AGE;
	r = ini_parse_stream(kw_policy_reader, &p, kw_policy_handler, &p);
	if (r != 0 && p.errors == 0) {
		p.line = r > 0 ? r : p.line;
		kw_policy_err(&p, "cannot parse this line");
	}
	if (p.errors == 0 && out->ek_ca == NULL)
		kw_policy_err(&p, "no 'ek-ca = FILE': the policy needs the TPM "
		    "manufacturers' CA bundle to trust a TPM");
	if (p.errors > 0) {
		if (p.errors > KW_POLICY_MAX_ERRORS)
			kw_err("%s: %d more errors not shown", p.file,
			    p.errors - KW_POLICY_MAX_ERRORS - 1);
		kw_attest_policy_clear(out);
		return KW_ERR_CONFIG;
	}
	return KW_OK;
}

int
kw_attest_policy_load(const char *path, struct kw_attest_policy *out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = kw_file_read(path, KW_POLICY_MAX_FILE, &buf, &len))
	    != KW_OK) {
		kw_err("posture policy %s: cannot read it: %s", path,
		    r == KW_ERR_SPACE ? "larger than 1 MiB" : kw_strerror(r));
		r = r == KW_ERR_NOT_FOUND || r == KW_ERR_SPACE ?
		    KW_ERR_CONFIG : r;
		goto out;
	}
	r = kw_attest_policy_parse((const char *)buf, len, path, out);
out:
	free(buf);
	return r;
}

int
kw_attest_policy_check_claims(const struct kw_attest_policy *p,
    const struct kw_evlog_claims *c, const struct kw_attest_pcrs *quoted,
    char *reason, size_t reason_len)
{
	uint32_t matched;
	unsigned i;
	size_t j;
	int first, listed, ok;

	if (reason != NULL && reason_len > 0)
		reason[0] = '\0';
	if (p == NULL || c == NULL || quoted == NULL || reason == NULL ||
	    reason_len == 0)
		return KW_ERR_ARG;
	if (kw_evlog_match(c, quoted, &matched, &first) != KW_OK) {
		snprintf(reason, reason_len, "event log does not match the "
		    "quote at PCR %d", first);
		return KW_ERR_ATTEST;
	}
	/* the SecureBoot event is bound to the quote through PCR 7 only */
	if (p->secure_boot == KW_ATTEST_SB_REQUIRED &&
	    !(quoted->mask & (1u << 7))) {
		snprintf(reason, reason_len, "secure boot not attested (PCR 7 "
		    "not in the quote)");
		return KW_ERR_ATTEST;
	}
	if (p->secure_boot == KW_ATTEST_SB_REQUIRED &&
	    c->secure_boot != KW_SB_ON) {
		snprintf(reason, reason_len, "%s", c->secure_boot == KW_SB_OFF ?
		    "secure boot off" : "secure boot not measured (no "
		    "SecureBoot variable event in PCR 7)");
		return KW_ERR_ATTEST;
	}
	for (i = 0; i < KW_PCR_COUNT; i++) {
		listed = 0;
		ok = 0;
		for (j = 0; j < p->npcr; j++)
			if (p->pcr[j].index == i) {
				listed = 1;
				if ((quoted->mask & (1u << i)) &&
				    memcmp(p->pcr[j].sha256, quoted->val[i],
				    KW_SHA256_LEN) == 0)
					ok = 1;
			}
		if (!listed || ok)
			continue;
		if (quoted->mask & (1u << i))
			snprintf(reason, reason_len, "PCR %u not allowed (its "
			    "value is not one the policy lists)", i);
		else
			snprintf(reason, reason_len, "PCR %u not in the quote "
			    "(the policy lists values for it)", i);
		return KW_ERR_ATTEST;
	}
	return KW_OK;
}
