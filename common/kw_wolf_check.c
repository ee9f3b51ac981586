/* Start-up self-check: the wolfSSL library keyward runs with was built with
 * the options keyward was compiled against.
 *
 * Why more than a version compare: Debian's libwolfssl 5.5.4 and a private
 * build with --enable-aesni --enable-intelasm (scripts/build-wolfssl) report
 * the same version and share the soname libwolfssl.so.35, but their structs
 * differ (ChaCha 68 -> 144 bytes, Poly1305 96 -> 624, ChaChaPoly_Aead
 * 184 -> 784).  Headers of one with the library of the other corrupt memory
 * silently.  So the run-time side measures the size the library itself gives
 * ChaChaPoly_Aead: wc_ChaCha20Poly1305_Init() clears the whole struct with
 * the library's sizeof, so inside a buffer pre-filled with a guard pattern and
 * far larger than any build's struct, the last byte it touched gives that
 * size, and no build can write past the buffer.  Known-answer tests through
 * the caller-allocated AEAD and AES-GCM state then show the library computes
 * correctly with our layout. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/version.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_wolf.h"
#include "kw_wolf_check.h"

/* Room after our struct: larger than any wolfSSL build's version of it. */
#define KW_GUARD_SLACK	4096
#define KW_GUARD_BYTE	0xa5

/* RFC 8439 section 2.8.2. */
static const unsigned char kat_cp_key[32] = {
	0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
	0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
	0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
	0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
};
static const unsigned char kat_cp_iv[12] = {
	0x07, 0x00, 0x00, 0x00, 0x40, 0x41, 0x42, 0x43,
	0x44, 0x45, 0x46, 0x47,
};
static const unsigned char kat_cp_aad[12] = {
	0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3,
	0xc4, 0xc5, 0xc6, 0xc7,
};
static const char kat_cp_text[] = "Ladies and Gentlemen of the class of '99: "
    "If I could offer you only one tip for the future, sunscreen would be it.";
static const unsigned char kat_cp_tag[16] = {
	0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a,
	0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60, 0x06, 0x91,
};

/* AES-128-GCM, McGrew & Viega test case 2: zero key, IV and plaintext. */
static const unsigned char kat_gcm_ct_tag[32] = {
	0x03, 0x88, 0xda, 0xce, 0x60, 0xb6, 0xa3, 0x92,
	0xf3, 0x28, 0xc2, 0xb9, 0x71, 0xb2, 0xfe, 0x78,
	0xab, 0x6e, 0x47, 0xd4, 0x2c, 0xec, 0x13, 0xbd,
	0xf5, 0x3a, 0x67, 0xb2, 0x12, 0x57, 0xbd, 0xdf,
};

#ifdef WOLFSSL_AESNI
static int
cpu_has_aesni(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d) == 0)
		return 0;
	return (c & bit_AES) != 0;
#else
	return 0;
#endif
}
#endif

void
kw_wolf_facts_built(struct kw_wolf_facts *out)
{
	memset(out, 0, sizeof(*out));
	out->version = LIBWOLFSSL_VERSION_STRING;
	out->version_hex = LIBWOLFSSL_VERSION_HEX;
#ifdef WOLFSSL_AESNI
	out->aesni = 1;
#else
	out->aesni = 0;
#endif
#ifdef USE_INTEL_SPEEDUP
	out->intelasm = 1;
#else
	out->intelasm = 0;
#endif
	out->aead_size = sizeof(ChaChaPoly_Aead);
	out->kat_ok = 1;
}

/* Size of the library's ChaChaPoly_Aead, and the RFC 8439 answer through
 * the streaming API with our struct layout.  *kat_ok stays 0 on a wrong
 * answer or a layout that disagrees with ours. */
static int
probe_chachapoly(size_t *lib_size, int *kat_ok)
{
	size_t total = sizeof(ChaChaPoly_Aead) + KW_GUARD_SLACK, i;
	unsigned char *buf = NULL, out[sizeof(kat_cp_text)], tag[16];
	ChaChaPoly_Aead *aead;
	int r = KW_ERR_NOMEM;

	*lib_size = 0;
	*kat_ok = 0;
	if ((buf = malloc(total)) == NULL)
		goto out;
	memset(buf, KW_GUARD_BYTE, total);
	aead = (ChaChaPoly_Aead *)(void *)buf;
	r = KW_OK;
	if (wc_ChaCha20Poly1305_Init(aead, kat_cp_key, kat_cp_iv,
	    CHACHA20_POLY1305_AEAD_ENCRYPT) != 0)
		goto out;
	/* Init clears the library's whole struct (its sizeof) to zero. */
	for (i = total; i > 0 && buf[i - 1] == KW_GUARD_BYTE; i--)
		;
	*lib_size = i;
	if (i != sizeof(ChaChaPoly_Aead))
		goto out;	/* do not go on with a foreign layout */
	if (aead->state != CHACHA20_POLY1305_STATE_READY)
		goto out;
	if (wc_ChaCha20Poly1305_UpdateAad(aead, kat_cp_aad,
	    sizeof(kat_cp_aad)) != 0 || aead->aadLen != sizeof(kat_cp_aad) ||
	    aead->state != CHACHA20_POLY1305_STATE_AAD)
		goto out;
	if (wc_ChaCha20Poly1305_UpdateData(aead,
	    (const unsigned char *)kat_cp_text, out,
	    sizeof(kat_cp_text) - 1) != 0 ||
	    aead->dataLen != sizeof(kat_cp_text) - 1)
		goto out;
	if (wc_ChaCha20Poly1305_Final(aead, tag) != 0)
		goto out;
	for (i = sizeof(ChaChaPoly_Aead); i < total; i++)
		if (buf[i] != KW_GUARD_BYTE)
			goto out;
	*kat_ok = memcmp(tag, kat_cp_tag, sizeof(tag)) == 0;
out:
	free(buf);
	return r;
}

/* AES-128-GCM known answer with our Aes layout; *aesni tells whether the
 * library took its AES-NI path (known only when our headers have the
 * field, i.e. we were compiled against an AES-NI build). */
static int
probe_aesgcm(int *aesni, int *kat_ok)
{
	size_t total = sizeof(Aes) + KW_GUARD_SLACK, i;
	unsigned char *buf = NULL, key[16], iv[12], pt[16], out[32];
	Aes *aes;
	int r = KW_ERR_NOMEM, inited = 0;

	*aesni = -1;
	*kat_ok = 0;
	memset(key, 0, sizeof(key));
	memset(iv, 0, sizeof(iv));
	memset(pt, 0, sizeof(pt));
	if ((buf = malloc(total)) == NULL)
		goto out;
	memset(buf, KW_GUARD_BYTE, total);
	aes = (Aes *)(void *)buf;
	r = KW_OK;
	if (wc_AesInit(aes, NULL, INVALID_DEVID) != 0)
		goto out;
	inited = 1;
	if (wc_AesGcmSetKey(aes, key, sizeof(key)) != 0)
		goto out;
	if (aes->keylen != (int)sizeof(key) || aes->rounds != 10)
		goto out;
#ifdef WOLFSSL_AESNI
	/* An AES-NI library writes 0 or 1 here; one without the field
	 * leaves the guard or table bytes. */
	if (aes->use_aesni != 0 && aes->use_aesni != 1)
		*aesni = 0;
	else if (cpu_has_aesni())
		*aesni = aes->use_aesni;
#endif
	if (wc_AesGcmEncrypt(aes, out, pt, sizeof(pt), iv, sizeof(iv),
	    out + 16, 16, NULL, 0) != 0)
		goto out;
	for (i = sizeof(Aes); i < total; i++)
		if (buf[i] != KW_GUARD_BYTE)
			goto out;
	*kat_ok = memcmp(out, kat_gcm_ct_tag, sizeof(out)) == 0;
out:
	if (inited)
		wc_AesFree(aes);
	free(buf);
	return r;
}

int
kw_wolf_facts_running(struct kw_wolf_facts *out)
{
	int r, cp_ok = 0, gcm_ok = 0;

	memset(out, 0, sizeof(*out));
	out->version = wolfSSL_lib_version();
	out->version_hex = wolfSSL_lib_version_hex();
	out->aesni = -1;
	out->intelasm = -1;
	if ((r = probe_chachapoly(&out->aead_size, &cp_ok)) != KW_OK)
		goto out;
	if ((r = probe_aesgcm(&out->aesni, &gcm_ok)) != KW_OK)
		goto out;
	out->kat_ok = cp_ok && gcm_ok;
out:
	return r;
}

static const char *
tri(int v)
{
	return v < 0 ? "unknown" : v ? "yes" : "no";
}

void
kw_wolf_facts_describe(const struct kw_wolf_facts *f, char *buf, size_t len)
{
	char size[32];

	if (f->aead_size != 0)
		snprintf(size, sizeof(size), "%zu bytes", f->aead_size);
	else
		snprintf(size, sizeof(size), "unknown");
	snprintf(buf, len, "wolfSSL %s (AES-NI %s, Intel asm %s, "
	    "ChaCha20-Poly1305 state %s)", f->version != NULL ? f->version :
	    "unknown", tri(f->aesni), tri(f->intelasm), size);
}

int
kw_wolf_check_compare(const struct kw_wolf_facts *built,
    const struct kw_wolf_facts *running, char *why, size_t why_len)
{
	char b[160], rn[160];
	const char *what = NULL;

	if (why_len > 0)
		why[0] = '\0';
	if (built->version == NULL || running->version == NULL ||
	    strcmp(built->version, running->version) != 0 ||
	    built->version_hex != running->version_hex)
		what = "a different version";
	else if (running->aead_size != built->aead_size)
		what = "different build options (struct layouts differ)";
	else if (built->aesni >= 0 && running->aesni >= 0 &&
	    built->aesni != running->aesni)
		what = "different build options (AES-NI)";
	else if (built->intelasm >= 0 && running->intelasm >= 0 &&
	    built->intelasm != running->intelasm)
		what = "different build options (Intel asm)";
	else if (!running->kat_ok)
		what = "wrong answers in its AES-GCM/ChaCha20-Poly1305 "
		    "known-answer tests";
	if (what == NULL)
		return KW_OK;
	kw_wolf_facts_describe(built, b, sizeof(b));
	kw_wolf_facts_describe(running, rn, sizeof(rn));
	snprintf(why, why_len, "keyward was compiled against %s but runs with "
	    "%s, %s: rebuild keyward against the wolfSSL it runs with, and do "
	    "not mix the private build (scripts/build-wolfssl) with Debian's "
	    "headers or libwolfssl.so", b, rn, what);
	return KW_ERR_TLS;
}

int
kw_wolf_debian_version(const char *status_path, char *out, size_t len)
{
	FILE *f = NULL;
	char *line = NULL, version[128] = "", source_version[128] = "";
	size_t cap = 0;
	ssize_t n;
	int r = KW_ERR_NOT_FOUND, from_wolfssl = 0, installed = 0, done = 0;

	if (len > 0)
		out[0] = '\0';
	if ((f = fopen(status_path, "r")) == NULL)
		goto out;
	while (!done) {
		n = getline(&line, &cap, f);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n <= 0) {	/* end of a stanza, or of the file */
			if (from_wolfssl && installed && version[0] != '\0') {
				snprintf(out, len, "%s", source_version[0] !=
				    '\0' ? source_version : version);
				r = KW_OK;
				break;
			}
			from_wolfssl = installed = 0;
			version[0] = source_version[0] = '\0';
			done = n < 0;
			continue;
		}
		if (strncmp(line, "Source: ", 8) == 0) {
			char name[64], ver[128];
			int k = sscanf(line + 8, "%63s (%127[^)])", name, ver);

			if (k >= 1 && strcmp(name, "wolfssl") == 0) {
				from_wolfssl = 1;
				if (k == 2)
					snprintf(source_version,
					    sizeof(source_version), "%s", ver);
			}
		} else if (strcmp(line, "Package: wolfssl") == 0)
			from_wolfssl = 1;
		else if (strncmp(line, "Status: ", 8) == 0)
			installed = strstr(line, " installed") != NULL &&
			    strstr(line, "not-installed") == NULL;
		else if (strncmp(line, "Version: ", 9) == 0)
			snprintf(version, sizeof(version), "%s", line + 9);
	}
out:
	free(line);
	if (f != NULL)
		fclose(f);
	return r;
}

int
kw_wolf_private_stale(const char *built_version, const char *prefix,
    const char *status_path, char *why, size_t why_len)
{
	char have[128];

	if (why_len > 0)
		why[0] = '\0';
	if (built_version == NULL ||
	    kw_wolf_debian_version(status_path, have, sizeof(have)) != KW_OK ||
	    strcmp(have, built_version) == 0)
		return 0;
	snprintf(why, why_len, "keyward's private wolfSSL was built from "
	    "Debian's wolfssl %s, but wolfssl %s is installed now (a security "
	    "update?) and keyward does not use it: run scripts/build-wolfssl "
	    "%s, then rebuild keyward", built_version, have,
	    prefix != NULL ? prefix : "PREFIX");
	return 1;
}

int
kw_wolf_selfcheck(void)
{
	struct kw_wolf_facts built, running;
	const char *private_version = NULL, *prefix = NULL;
	char why[640];
	int r;

#ifdef KW_WOLFSSL_SOURCE_VERSION
	private_version = KW_WOLFSSL_SOURCE_VERSION;
#endif
#ifdef KW_WOLFSSL_PREFIX
	prefix = KW_WOLFSSL_PREFIX;
#endif
	kw_wolf_facts_built(&built);
	if ((r = kw_wolf_facts_running(&running)) != KW_OK)
		goto out;
	if ((r = kw_wolf_check_compare(&built, &running, why,
	    sizeof(why))) != KW_OK) {
		kw_err("%s", why);
		goto out;
	}
	/* A statically linked private build does not follow Debian's security
	 * updates: say so on every start until it is rebuilt. */
	if (kw_wolf_private_stale(private_version, prefix,
	    "/var/lib/dpkg/status", why, sizeof(why)))
		kw_warn("%s", why);
out:
	return r;
}
