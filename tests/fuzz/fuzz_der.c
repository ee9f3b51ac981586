/* Fuzz harness for the DER toolkit (common/kw_der.c): the reader, the
 * writer, base64, times, OIDs, SubjectPublicKeyInfo and certificate fields.
 *
 * Beyond "no crash", it checks what must hold for every input:
 * - every element the reader returns lies inside its parent, and writing
 *   it back (tag + contents) gives the very same bytes: the reader takes
 *   minimal DER only, so each encoding has exactly one form;
 * - a 32-bit INTEGER read back is written back byte for byte;
 * - base64 the decoder accepts, re-encoded, is the input without its
 *   white space (the decoder accepts canonical base64 only);
 * - certificate fields are whole elements inside the input;
 * - SPKI written from input bytes reads back as that key, and a buffer
 *   too small for it is refused without a byte written past it.
 *
 * libFuzzer (`make fuzz-der`, or scripts/fuzz / `make fuzz-build`):
 *   ./tests/fuzz/fuzz_der_libfuzzer -max_len=4096 CORPUS_DIR
 * Otherwise a corpus + fixed-seed mutation runner (tests/fuzz/fuzz_main.h)
 * over tests/fuzz/corpus/der/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"

#define FUZZ_NAME	"der"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk every element, into constructed ones, up to depth 8. */
static void
fuzz_walk(struct kw_der d, int depth)
{
	struct kw_der val, tlv, save;
	struct kw_der_w w;
	uint8_t out[4096];
	size_t ol;
	uint32_t u;

	while (d.len > 0) {
		const uint8_t *start = d.p, *end = d.p + d.len;

		save = d;
		if (kw_der_uint32(&d, &u) == KW_OK) {
			uint8_t be[4] = { (uint8_t)(u >> 24), (uint8_t)(u >> 16),
			    (uint8_t)(u >> 8), (uint8_t)u };

			kw_der_w_init(&w, out, sizeof(out));
			kw_der_put_uint(&w, be, sizeof(be));
			if (kw_der_w_end(&w, &ol) != KW_OK ||
			    ol != (size_t)(d.p - save.p) ||
			    memcmp(out, save.p, ol) != 0)
				abort();
			continue;
		}
		if (save.p != d.p || save.len != d.len)
			abort();	/* a failed read moved the window */
		if (kw_der_get(&d, KW_DER_ANY, &val, &tlv) != KW_OK)
			return;
		if (tlv.p != start || val.p < start || val.p + val.len > end ||
		    tlv.len != (size_t)(d.p - start) ||
		    val.p + val.len != tlv.p + tlv.len)
			abort();
		if (tlv.len <= sizeof(out)) {
			kw_der_w_init(&w, out, sizeof(out));
			kw_der_put(&w, tlv.p[0], val.p, val.len);
			if (kw_der_w_end(&w, &ol) != KW_OK || ol != tlv.len ||
			    memcmp(out, tlv.p, ol) != 0)
				abort();
		}
		if (tlv.p[0] == 0x06) {
			char s[128];

			(void)kw_der_oid_str(val.p, val.len, s, sizeof(s));
		} else if (tlv.p[0] == 0x17 || tlv.p[0] == 0x18) {
			time_t t;

			(void)kw_der_time(tlv.p[0], val.p, val.len, &t);
		} else if (tlv.p[0] == 0x30)
			(void)kw_der_spki_alg(tlv.p, tlv.len);
		if ((tlv.p[0] & 0x20) && depth < 8)
			fuzz_walk(val, depth + 1);
	}
}

static void
fuzz_b64(const uint8_t *data, size_t size)
{
	uint8_t *dec = NULL, *dec2 = NULL;
	char *enc = NULL;
	size_t dl, dl2, el, i, k;

	if (kw_b64_decode((const char *)data, size, &dec, &dl) != KW_OK)
		return;
	if (dl > size || kw_b64_encode(dec, dl, &enc, &el) != KW_OK ||
	    kw_b64_decode(enc, el, &dec2, &dl2) != KW_OK || dl2 != dl ||
	    memcmp(dec, dec2, dl) != 0)
		abort();
	/* canonical: the input minus white space is the encoding minus LFs */
	for (i = 0, k = 0; i < size; i++) {
		if (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' ||
		    data[i] == '\n')
			continue;
		while (k < el && enc[k] == '\n')
			k++;
		if (k >= el || enc[k] != (char)data[i])
			abort();
		k++;
	}
	while (k < el && enc[k] == '\n')
		k++;
	if (k != el)
		abort();
	free(dec);
	free(dec2);
	free(enc);
}

/* The SPKI writers over input bytes: what they write reads back as the
 * key they were given; a buffer too small is an error, never an overflow. */
static void
fuzz_spki(const uint8_t *data, size_t size)
{
	uint8_t der[KW_MAX_PUBKEY_DER + 64], *small;
	size_t len = sizeof(der), half, cut;

	if (size >= 97 && kw_der_spki_ec(KW_ALG_EC_P384, data, 97, der, &len) ==
	    KW_OK && (kw_der_spki_alg(der, len) != KW_ALG_EC_P384 ||
	    memcmp(der + len - 97, data, 97) != 0))
		abort();
	if (size < 2)
		return;
	half = size / 2 > 400 ? 400 : size / 2;
	len = sizeof(der);
	if (kw_der_spki_rsa(data, half, data + half, size - half > 8 ? 8 :
	    size - half, der, &len) != KW_OK)
		return;
	fuzz_walk((struct kw_der){ der, len }, 0);
	/* the same into every shorter buffer: refused, within bounds */
	cut = data[0] % len;
	if ((small = malloc(cut > 0 ? cut : 1)) == NULL)
		return;
	len = cut;
	if (kw_der_spki_rsa(data, half, data + half, size - half > 8 ? 8 :
	    size - half, small, &len) != KW_ERR_SPACE || len != 0)
		abort();
	free(small);
}

static int
fuzz_inside(const struct kw_der *w, const uint8_t *data, size_t size)
{
	return w->p >= data && w->len >= 2 && w->p + w->len <= data + size;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_der d = { data, size };
	struct kw_der_cert c;

	kw_log_setup(KW_LOG_ERROR + 0, 0);
	fuzz_walk(d, 0);
	fuzz_b64(data, size);
	fuzz_spki(data, size);
	if (kw_der_cert(data, size, &c) == KW_OK) {
		if (!fuzz_inside(&c.serial, data, size) ||
		    !fuzz_inside(&c.issuer, data, size) ||
		    !fuzz_inside(&c.subject, data, size) ||
		    !fuzz_inside(&c.spki, data, size) ||
		    c.not_after <= c.not_before)
			abort();
		(void)kw_der_spki_alg(c.spki.p, c.spki.len);
	}
	return 0;
}

#include "fuzz_main.h"
