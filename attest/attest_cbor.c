/* The evidence message (keyward-attestation(7)): CBOR (RFC 8949) through
 * libcbor.
 *
 *   { "fmt": "tpm",
 *     "attStmt": { "ver": "2.0", "x5c": [EK cert, chain...], "akPub": bstr,
 *                  ["alg": COSE alg, "sig": bstr, "certInfo": bstr,
 *                   "pubArea": bstr] },
 *     ["keyward-posture": { "v": 1, "time": uint, "quote": bstr,
 *                           "sig": bstr, "pcrs": bstr,
 *                           ["eventLog": bstr], ["os": {text: text}] }] }
 *
 * The decoder is strict: before libcbor builds anything, one pass over the
 * bytes checks that they are exactly one well-formed item of definite
 * lengths, without tags, nested at most ATTEST_CBOR_DEPTH deep; then every
 * map must hold only known keys, each once, of the right type and size. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "kw_error.h"
#include "kw_log.h"
#include "attest/attest.h"

#define ATTEST_CBOR_DEPTH	6
#define ATTEST_CERT_MAX		4096
#define ATTEST_TPM_MAX		2048
#define ATTEST_LOG_MAX		(256u * 1024u)
#define ATTEST_OS_KEY_MAX	64
#define ATTEST_OS_VAL_MAX	256

/* The pre-scan: one well-formed item, nothing after it. */
static int
attest_cbor_scan(const uint8_t *p, size_t len)
{
	uint64_t left[ATTEST_CBOR_DEPTH + 1], v;
	size_t off = 0, n;
	int depth = 0, mt, ai, k;

	left[0] = 1;
	while (depth >= 0) {
		if (left[depth] == 0) {
			depth--;
			continue;
		}
		left[depth]--;
		if (off >= len)
			return KW_ERR_PARSE;
		mt = p[off] >> 5;
		ai = p[off] & 31;
		off++;
		if (ai < 24) {
			v = (uint64_t)ai;
		} else if (ai <= 27) {
			n = (size_t)1 << (ai - 24);
			if (len - off < n)
				return KW_ERR_PARSE;
			for (v = 0, k = 0; k < (int)n; k++)
				v = v << 8 | p[off + (size_t)k];
			off += n;
		} else {
			return KW_ERR_PARSE;	/* reserved or indefinite */
		}
		switch (mt) {
		case 0:
		case 1:
		case 7:
			break;
		case 2:
		case 3:
			if (v > len - off)
				return KW_ERR_PARSE;
			off += (size_t)v;
			break;
		case 4:
		case 5:
			if (depth == ATTEST_CBOR_DEPTH || v > len)
				return KW_ERR_PARSE;
			left[++depth] = mt == 5 ? 2 * v : v;
			break;
		default:		/* tags */
			return KW_ERR_PARSE;
		}
	}
	return off == len ? KW_OK : KW_ERR_PARSE;
}

static int
attest_key_is(const cbor_item_t *k, const char *name)
{
	return cbor_isa_string(k) && cbor_string_is_definite(k) &&
	    cbor_string_length(k) == strlen(name) &&
	    memcmp(cbor_string_handle(k), name, strlen(name)) == 0;
}

static int
attest_bytes(const cbor_item_t *v, size_t max, struct kw_attest_bytes *out)
{
	if (!cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v) ||
	    cbor_bytestring_length(v) == 0 || cbor_bytestring_length(v) > max)
		return KW_ERR_PARSE;
	out->p = cbor_bytestring_handle(v);
	out->len = cbor_bytestring_length(v);
	return KW_OK;
}

static int
attest_text(const cbor_item_t *v, size_t max, struct kw_attest_bytes *out)
{
	if (!cbor_isa_string(v) || !cbor_string_is_definite(v) ||
	    cbor_string_length(v) > max)
		return KW_ERR_PARSE;
	out->p = cbor_string_handle(v);
	out->len = cbor_string_length(v);
	return KW_OK;
}

static int
attest_uint(const cbor_item_t *v, uint64_t *out)
{
	if (!cbor_isa_uint(v))
		return KW_ERR_PARSE;
	*out = cbor_get_int(v);
	return KW_OK;
}

/* One key a map may hold: its name, the reader that checks its value and
 * stores it in the evidence, and what that reader needs (not all use all). */
struct attest_field {
	const char *name;
	int (*read)(const cbor_item_t *v, const struct attest_field *f,
	    struct kw_attest_evidence *ev);
	size_t max;		/* longest value */
	size_t off;		/* where in kw_attest_evidence it goes */
	const char *want;	/* the one text allowed */
};

#define ATTEST_OFF(f)	offsetof(struct kw_attest_evidence, f)
#define ATTEST_NFIELDS(t)	((int)(sizeof(t) / sizeof((t)[0])))

/* Which of fields[] k names; -1 if none or seen before (seen: bit mask). */
static int
attest_which(const cbor_item_t *k, const struct attest_field *fields, int n,
    unsigned int *seen)
{
	int i;

	for (i = 0; i < n; i++)
		if (attest_key_is(k, fields[i].name)) {
			if (*seen & (1u << i))
				return -1;
			*seen |= 1u << i;
			return i;
		}
	return -1;
}

/* Read map m: only the n keys of fields[], each at most once, and every
 * fields[i] with bit i set in need; *seen: bit i set if fields[i] is there. */
static int
attest_map(const cbor_item_t *m, const struct attest_field *fields, int n,
    unsigned int need, unsigned int *seen, struct kw_attest_evidence *ev)
{
	struct cbor_pair *pp;
	size_t i;
	int r = KW_OK, w;

	*seen = 0;
	if (!cbor_isa_map(m))
		return KW_ERR_PARSE;
	pp = cbor_map_handle(m);
	for (i = 0; i < cbor_map_size(m) && r == KW_OK; i++) {
		w = attest_which(pp[i].key, fields, n, seen);
		r = w < 0 ? KW_ERR_PARSE : fields[w].read(pp[i].value,
		    &fields[w], ev);
	}
	if (r == KW_OK && (*seen & need) != need)
		r = KW_ERR_PARSE;
	return r;
}

static int
attest_read_bytes(const cbor_item_t *v, const struct attest_field *f,
    struct kw_attest_evidence *ev)
{
	return attest_bytes(v, f->max,
	    (struct kw_attest_bytes *)(void *)((char *)ev + f->off));
}

static int
attest_read_uint(const cbor_item_t *v, const struct attest_field *f,
    struct kw_attest_evidence *ev)
{
	return attest_uint(v, (uint64_t *)(void *)((char *)ev + f->off));
}

/* A short text that must be f->want ("fmt": "tpm", "ver": "2.0"). */
static int
attest_read_word(const cbor_item_t *v, const struct attest_field *f,
    struct kw_attest_evidence *ev)
{
	struct kw_attest_bytes t;
	int r;

	(void)ev;
	r = attest_text(v, 8, &t);
	if (r == KW_OK && (t.len != strlen(f->want) ||
	    memcmp(t.p, f->want, t.len) != 0))
		r = KW_ERR_PARSE;
	return r;
}

/* The posture map's version: 1. */
static int
attest_read_version(const cbor_item_t *v, const struct attest_field *f,
    struct kw_attest_evidence *ev)
{
	uint64_t u;
	int r;

	(void)f;
	(void)ev;
	r = attest_uint(v, &u);
	if (r == KW_OK && u != 1)
		r = KW_ERR_PARSE;	/* a later version */
	return r;
}

/* PCR values: a whole number of SHA-256 digests. */
static int
attest_read_pcrs(const cbor_item_t *v, const struct attest_field *f,
    struct kw_attest_evidence *ev)
{
	int r;

	r = attest_read_bytes(v, f, ev);
	if (r == KW_OK && ev->pcr_values.len % 32 != 0)
		r = KW_ERR_PARSE;
	return r;
}

static int
attest_read_x5c(const cbor_item_t *v, const struct attest_field *f,
    struct kw_attest_evidence *ev)
{
	cbor_item_t **a;
	size_t j;
	int r = KW_OK;

	if (!cbor_isa_array(v) || cbor_array_size(v) == 0 ||
	    cbor_array_size(v) > KW_ATTEST_X5C_MAX)
		return KW_ERR_PARSE;
	a = cbor_array_handle(v);
	ev->nx5c = cbor_array_size(v);
	for (j = 0; j < ev->nx5c && r == KW_OK; j++)
		r = attest_bytes(a[j], f->max, &ev->x5c[j]);
	return r;
}

/* A COSE algorithm: a small integer, in practice negative. */
static int
attest_read_alg(const cbor_item_t *v, const struct attest_field *f,
    struct kw_attest_evidence *ev)
{
	uint64_t u;

	(void)f;
	if (cbor_isa_negint(v)) {
		u = cbor_get_int(v);
		if (u > 65535)
			return KW_ERR_PARSE;
		ev->alg = -1 - (int64_t)u;
	} else if (attest_uint(v, &u) == KW_OK && u <= 65535) {
		ev->alg = (int64_t)u;
	} else {
		return KW_ERR_PARSE;
	}
	return KW_OK;
}

/* The OS facts: a map of text to text, no key twice. */
static int
attest_read_os(const cbor_item_t *v, const struct attest_field *f,
    struct kw_attest_evidence *ev)
{
	struct cbor_pair *op;
	size_t j, k;
	int r = KW_OK;

	(void)f;
	if (!cbor_isa_map(v) || cbor_map_size(v) > KW_ATTEST_OS_MAX)
		return KW_ERR_PARSE;
	op = cbor_map_handle(v);
	ev->nos = cbor_map_size(v);
	for (j = 0; j < ev->nos && r == KW_OK; j++) {
		r = attest_text(op[j].key, ATTEST_OS_KEY_MAX, &ev->os_key[j]);
		if (r == KW_OK)
			r = attest_text(op[j].value, ATTEST_OS_VAL_MAX,
			    &ev->os_val[j]);
		for (k = 0; k < j && r == KW_OK; k++)
			if (ev->os_key[k].len == ev->os_key[j].len &&
			    memcmp(ev->os_key[k].p, ev->os_key[j].p,
			    ev->os_key[j].len) == 0)
				r = KW_ERR_PARSE;
	}
	return r;
}

static const struct attest_field attest_stmt_fields[] = {
	{ "ver", attest_read_word, 0, 0, "2.0" },
	{ "x5c", attest_read_x5c, ATTEST_CERT_MAX, 0, NULL },
	{ "akPub", attest_read_bytes, ATTEST_TPM_MAX, ATTEST_OFF(ak_pub), NULL },
	{ "alg", attest_read_alg, 0, 0, NULL },
	{ "sig", attest_read_bytes, ATTEST_TPM_MAX, ATTEST_OFF(cert_sig),
	    NULL },
	{ "certInfo", attest_read_bytes, ATTEST_TPM_MAX, ATTEST_OFF(cert_info),
	    NULL },
	{ "pubArea", attest_read_bytes, ATTEST_TPM_MAX, ATTEST_OFF(pub_area),
	    NULL },
};

static int
attest_read_att_stmt(const cbor_item_t *v, const struct attest_field *f,
    struct kw_attest_evidence *ev)
{
	unsigned int seen, cert_bits = 0x78;
	int r;

	(void)f;
	/* ver, x5c and akPub always; the four certify fields all or none */
	r = attest_map(v, attest_stmt_fields,
	    ATTEST_NFIELDS(attest_stmt_fields), 7, &seen, ev);
	if (r == KW_OK && (seen & cert_bits) != 0 &&
	    (seen & cert_bits) != cert_bits)
		r = KW_ERR_PARSE;
	ev->has_certify = (seen & cert_bits) == cert_bits;
	return r;
}

static const struct attest_field attest_posture_fields[] = {
	{ "v", attest_read_version, 0, 0, NULL },
	{ "time", attest_read_uint, 0, ATTEST_OFF(time), NULL },
	{ "quote", attest_read_bytes, ATTEST_TPM_MAX, ATTEST_OFF(quote), NULL },
	{ "sig", attest_read_bytes, ATTEST_TPM_MAX, ATTEST_OFF(quote_sig),
	    NULL },
	{ "pcrs", attest_read_pcrs, 24 * 32, ATTEST_OFF(pcr_values), NULL },
	{ "eventLog", attest_read_bytes, ATTEST_LOG_MAX, ATTEST_OFF(event_log),
	    NULL },
	{ "os", attest_read_os, 0, 0, NULL },
};

static int
attest_read_posture(const cbor_item_t *v, const struct attest_field *f,
    struct kw_attest_evidence *ev)
{
	unsigned int seen;
	int r;

	(void)f;
	r = attest_map(v, attest_posture_fields,
	    ATTEST_NFIELDS(attest_posture_fields), 0x1f, &seen, ev);
	ev->has_posture = r == KW_OK;
	return r;
}

static const struct attest_field attest_top_fields[] = {
	{ "fmt", attest_read_word, 0, 0, "tpm" },
	{ "attStmt", attest_read_att_stmt, 0, 0, NULL },
	{ "keyward-posture", attest_read_posture, 0, 0, NULL },
};

int
kw_attest_evidence_decode(const uint8_t *buf, size_t len,
    struct kw_attest_evidence *out)
{
	struct cbor_load_result res;
	cbor_item_t *item = NULL;
	unsigned int seen;
	int r = KW_ERR_PARSE;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > KW_ATTEST_EVIDENCE_MAX ||
	    attest_cbor_scan(buf, len) != KW_OK)
		goto out;
	item = cbor_load(buf, len, &res);
	if (item == NULL) {
		r = res.error.code == CBOR_ERR_MEMERROR ? KW_ERR_NOMEM :
		    KW_ERR_PARSE;
		goto out;
	}
	if (res.read != len)
		goto out;
	out->priv = item;
	r = attest_map(item, attest_top_fields,
	    ATTEST_NFIELDS(attest_top_fields), 3, &seen, out);
out:
	if (r != KW_OK) {
		if (item != NULL)
			cbor_decref(&item);
		memset(out, 0, sizeof(*out));
	}
	return r;
}

void
kw_attest_evidence_free(struct kw_attest_evidence *ev)
{
	cbor_item_t *item = ev->priv;

	if (item != NULL)
		cbor_decref(&item);
	memset(ev, 0, sizeof(*ev));
}

/* Add key: value to map (value's reference moved in); 0 on failure. */
static int
attest_put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
	cbor_item_t *k;
	int ok;

	if (value == NULL)
		return 0;
	if ((k = cbor_build_string(key)) == NULL) {
		cbor_decref(&value);
		return 0;
	}
	ok = cbor_map_add(map, (struct cbor_pair){ .key = k, .value = value });
	cbor_decref(&k);
	cbor_decref(&value);
	return ok;
}

static cbor_item_t *
attest_bstr(const struct kw_attest_bytes *b)
{
	return cbor_build_bytestring(b->p, b->len);
}

static cbor_item_t *
attest_tstr(const struct kw_attest_bytes *b)
{
	return cbor_build_stringn((const char *)b->p, b->len);
}

int
kw_attest_evidence_encode(const struct kw_attest_evidence *ev,
    uint8_t **out, size_t *out_len)
{
	cbor_item_t *top = NULL, *st = NULL, *pm = NULL, *x5c = NULL,
	    *os = NULL, *alg;
	unsigned char *buf = NULL;
	size_t i, cap = 0, n;
	int ok;

	*out = NULL;
	*out_len = 0;
	if (ev->nx5c == 0 || ev->nx5c > KW_ATTEST_X5C_MAX ||
	    ev->nos > KW_ATTEST_OS_MAX || ev->ak_pub.len == 0)
		return KW_ERR_ARG;
	ok = (top = cbor_new_definite_map(ev->has_posture ? 3 : 2)) != NULL &&
	    (st = cbor_new_definite_map(ev->has_certify ? 7 : 3)) != NULL &&
	    (x5c = cbor_new_definite_array(ev->nx5c)) != NULL;
	for (i = 0; ok && i < ev->nx5c; i++) {
		cbor_item_t *c = attest_bstr(&ev->x5c[i]);

		ok = c != NULL && cbor_array_push(x5c, c);
		if (c != NULL)
			cbor_decref(&c);
	}
	ok = ok && attest_put(top, "fmt", cbor_build_string("tpm")) &&
	    attest_put(st, "ver", cbor_build_string("2.0"));
	if (ok) {
		ok = attest_put(st, "x5c", x5c);
		x5c = NULL;
	}
	ok = ok && attest_put(st, "akPub", attest_bstr(&ev->ak_pub));
	if (ok && ev->has_certify) {
		alg = ev->alg < 0 ? cbor_build_negint16((uint16_t)(-1 - ev->alg)) :
		    cbor_build_uint16((uint16_t)ev->alg);
		ok = attest_put(st, "alg", alg) &&
		    attest_put(st, "sig", attest_bstr(&ev->cert_sig)) &&
		    attest_put(st, "certInfo", attest_bstr(&ev->cert_info)) &&
		    attest_put(st, "pubArea", attest_bstr(&ev->pub_area));
	}
	if (ok) {
		ok = attest_put(top, "attStmt", st);
		st = NULL;
	}
	if (ok && ev->has_posture) {
		n = 5 + (ev->event_log.len > 0) + (ev->nos > 0);
		ok = (pm = cbor_new_definite_map(n)) != NULL &&
		    attest_put(pm, "v", cbor_build_uint8(1)) &&
		    attest_put(pm, "time", cbor_build_uint64(ev->time)) &&
		    attest_put(pm, "quote", attest_bstr(&ev->quote)) &&
		    attest_put(pm, "sig", attest_bstr(&ev->quote_sig)) &&
		    attest_put(pm, "pcrs", attest_bstr(&ev->pcr_values));
		if (ok && ev->event_log.len > 0)
			ok = attest_put(pm, "eventLog",
			    attest_bstr(&ev->event_log));
		if (ok && ev->nos > 0) {
			ok = (os = cbor_new_definite_map(ev->nos)) != NULL;
			for (i = 0; ok && i < ev->nos; i++) {
				cbor_item_t *k = attest_tstr(&ev->os_key[i]),
				    *v = attest_tstr(&ev->os_val[i]);

				ok = k != NULL && v != NULL &&
				    cbor_map_add(os, (struct cbor_pair){
				    .key = k, .value = v });
				if (k != NULL)
					cbor_decref(&k);
				if (v != NULL)
					cbor_decref(&v);
			}
			if (ok) {
				ok = attest_put(pm, "os", os);
				os = NULL;
			}
		}
		if (ok) {
			ok = attest_put(top, "keyward-posture", pm);
			pm = NULL;
		}
	}
	if (ok && (n = cbor_serialize_alloc(top, &buf, &cap)) > 0) {
		*out = buf;
		*out_len = n;
	} else {
		ok = 0;
		free(buf);
	}
	if (os != NULL)
		cbor_decref(&os);
	if (pm != NULL)
		cbor_decref(&pm);
	if (x5c != NULL)
		cbor_decref(&x5c);
	if (st != NULL)
		cbor_decref(&st);
	if (top != NULL)
		cbor_decref(&top);
	return ok ? KW_OK : KW_ERR_NOMEM;
}
