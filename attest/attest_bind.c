/* The AK-to-EK binding store: which AK names a verifier has seen activate a
 * credential under which EK, so later evidence from the same pair costs no
 * round trip.  One line per EK: "SHA256(EK SPKI) hex" space "AK name hex";
 * a new AK for the same EK replaces the line.  Written 0600, atomically. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_hex.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "attest/attest_int.h"

#define ATTEST_BIND_MAX		(4u * 1024u * 1024u)
#define ATTEST_BIND_LINE	(64 + 1 + 2 * (2 + 64) + 1)

int
attest_ek_key_id(const uint8_t *spki, size_t len, uint8_t out[32])
{
	return wc_Sha256Hash(spki, (word32)len, out) == 0 ? KW_OK :
	    KW_ERR_CRYPTO;
}

/* "EKID AKNAME" for this pair (NUL-terminated, no newline). */
static int
attest_bind_line(const uint8_t *ek_spki, size_t ek_len, const uint8_t *ak_name,
    size_t ak_len, char *line)
{
	uint8_t id[32];
	int r;

	if (ak_len == 0 || ak_len > 2 + 64)
		return KW_ERR_ARG;
	if ((r = attest_ek_key_id(ek_spki, ek_len, id)) != KW_OK)
		return r;
	kw_hex_encode(id, sizeof(id), line);
	line[64] = ' ';
	kw_hex_encode(ak_name, ak_len, line + 65);
	return KW_OK;
}

int
kw_attest_bind_lookup(const char *path, const uint8_t *ek_spki,
    size_t ek_spki_len, const uint8_t *ak_name, size_t ak_name_len)
{
	char want[ATTEST_BIND_LINE + 1];
	uint8_t *buf = NULL;
	size_t len = 0, wl;
	char *p, *nl;
	int r;

	if ((r = attest_bind_line(ek_spki, ek_spki_len, ak_name, ak_name_len,
	    want)) != KW_OK)
		return r;
	wl = strlen(want);
	r = kw_file_read(path, ATTEST_BIND_MAX, &buf, &len);
	if (r == KW_ERR_NOT_FOUND)
		return KW_ERR_NOT_FOUND;
	if (r != KW_OK)
		return r;
	r = KW_ERR_NOT_FOUND;
	for (p = (char *)buf; p < (char *)buf + len; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)((char *)buf + len - p))) ==
		    NULL)
			break;
		if ((size_t)(nl - p) == wl && memcmp(p, want, wl) == 0) {
			r = KW_OK;
			break;
		}
	}
	free(buf);
	return r;
}

int
kw_attest_bind_record(const char *path, const uint8_t *ek_spki,
    size_t ek_spki_len, const uint8_t *ak_name, size_t ak_name_len)
{
	char line[ATTEST_BIND_LINE + 1];
	uint8_t *buf = NULL;
	char *out = NULL, *p, *nl;
	size_t len = 0, off = 0, ll;
	int r;

	if ((r = attest_bind_line(ek_spki, ek_spki_len, ak_name, ak_name_len,
	    line)) != KW_OK)
		return r;
	ll = strlen(line);
	r = kw_file_read(path, ATTEST_BIND_MAX, &buf, &len);
	if (r == KW_ERR_NOT_FOUND) {
		len = 0;
	} else if (r != KW_OK) {
		kw_err("binding store %s: cannot read: %s", path,
		    kw_strerror(r));
		goto out;
	}
	if ((out = malloc(len + ll + 2)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	/* every line but this EK's, then this EK's new one */
	for (p = (char *)buf; buf != NULL && p < (char *)buf + len;
	    p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)((char *)buf + len - p))) ==
		    NULL)
			break;
		if (nl - p > 64 && memcmp(p, line, 65) == 0)
			continue;
		memcpy(out + off, p, (size_t)(nl - p) + 1);
		off += (size_t)(nl - p) + 1;
	}
	memcpy(out + off, line, ll);
	off += ll;
	out[off++] = '\n';
	if ((r = kw_file_write_atomic(path, out, off, 0600, 0)) != KW_OK)
		kw_err("binding store %s: cannot write: %s", path,
		    kw_strerror(r));
out:
	free(buf);
	free(out);
	return r;
}

int
kw_attest_challenge_make(const uint8_t *ek_spki, size_t ek_spki_len,
    const uint8_t *ak_name, size_t ak_name_len,
    struct kw_attest_challenge *out)
{
	WC_RNG rng;
	int r;

	memset(out, 0, sizeof(*out));
	if (wc_InitRng(&rng) != 0)
		return KW_ERR_CRYPTO;
	r = wc_RNG_GenerateBlock(&rng, out->secret, sizeof(out->secret)) == 0 ?
	    KW_OK : KW_ERR_CRYPTO;
	wc_FreeRng(&rng);
	if (r == KW_OK)
		r = kw_attest_make_credential(ek_spki, ek_spki_len, ak_name,
		    ak_name_len, out->secret, sizeof(out->secret),
		    &out->id_object, &out->id_object_len, &out->enc_secret,
		    &out->enc_secret_len);
	if (r != KW_OK)
		kw_attest_challenge_clear(out);
	return r;
}

void
kw_attest_challenge_clear(struct kw_attest_challenge *c)
{
	free(c->id_object);
	free(c->enc_secret);
	explicit_bzero(c, sizeof(*c));
}

int
kw_attest_bind_answer(const char *path, const uint8_t *ek_spki,
    size_t ek_spki_len, const uint8_t *ak_name, size_t ak_name_len,
    const struct kw_attest_challenge *c, const uint8_t *answer,
    size_t answer_len, enum kw_attest_reason *reason)
{
	*reason = KW_ATTEST_OK;
	if (answer_len != sizeof(c->secret) ||
	    !kw_memeq_ct(answer, c->secret, sizeof(c->secret))) {
		*reason = KW_ATTEST_ACTIVATION;
		return KW_ERR_ATTEST;
	}
	return kw_attest_bind_record(path, ek_spki, ek_spki_len, ak_name,
	    ak_name_len);
}
