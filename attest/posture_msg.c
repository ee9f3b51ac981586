/* The posture exchange's messages (see posture_msg.h), with libcbor. */
#include <cbor.h>

#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "attest/posture_msg.h"

struct pmsg_shape {
	enum kw_pmsg_type type;
	const char *name;
	const char *a_key;		/* NULL: none */
	size_t a_min, a_max;
	const char *b_key;
	size_t b_min, b_max;
	int reason;
};

static const struct pmsg_shape pmsg_shapes[] = {
	{ KW_PMSG_REQ, "req", "nonce", KW_PMSG_NONCE_LEN, KW_PMSG_NONCE_LEN,
	    NULL, 0, 0, 0 },
	{ KW_PMSG_EV, "ev", "evidence", 1, KW_PMSG_EVIDENCE_MAX,
	    NULL, 0, 0, 0 },
	{ KW_PMSG_ACT, "act", "blob", 1, KW_PMSG_BLOB_MAX,
	    "secret", 1, KW_PMSG_SECRET_MAX, 0 },
	{ KW_PMSG_ACTD, "actd", "secret", 1, KW_PMSG_CRED_MAX,
	    NULL, 0, 0, 0 },
	{ KW_PMSG_OK, "ok", NULL, 0, 0, NULL, 0, 0, 0 },
	{ KW_PMSG_NO, "no", NULL, 0, 0, NULL, 0, 0, 1 },
};

#define PMSG_NSHAPES	(sizeof(pmsg_shapes) / sizeof(pmsg_shapes[0]))

static const struct pmsg_shape *
pmsg_shape(enum kw_pmsg_type type)
{
	size_t i;

	for (i = 0; i < PMSG_NSHAPES; i++)
		if (pmsg_shapes[i].type == type)
			return &pmsg_shapes[i];
	return NULL;
}

const char *
kw_pmsg_type_name(enum kw_pmsg_type type)
{
	const struct pmsg_shape *s = pmsg_shape(type);

	return s != NULL ? s->name : NULL;
}

static int
pmsg_reason_ok(const char *r, size_t len)
{
	size_t i;

	if (len == 0 || len > KW_PMSG_REASON_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)r[i] < 0x20 || (unsigned char)r[i] > 0x7e)
			return 0;
	return 1;
}

static int
pmsg_add(cbor_item_t *map, cbor_item_t *k, cbor_item_t *v)
{
	int ok;

	if (k == NULL || v == NULL) {
		if (k != NULL)
			cbor_decref(&k);
		if (v != NULL)
			cbor_decref(&v);
		return 0;
	}
	ok = cbor_map_add(map, (struct cbor_pair){ .key = k, .value = v });
	cbor_decref(&k);
	cbor_decref(&v);
	return ok;
}

int
kw_pmsg_encode(const struct kw_pmsg *m, uint8_t **out, size_t *out_len)
{
	const struct pmsg_shape *s = pmsg_shape(m->type);
	cbor_item_t *map = NULL;
	unsigned char *buf = NULL;
	size_t n, cap = 0, rlen;
	uint8_t *f;
	int r = KW_ERR_ARG;

	*out = NULL;
	*out_len = 0;
	if (s == NULL)
		goto out;
	if (s->a_key != NULL && (m->a == NULL || m->a_len < s->a_min ||
	    m->a_len > s->a_max))
		goto out;
	if (s->b_key != NULL && (m->b == NULL || m->b_len < s->b_min ||
	    m->b_len > s->b_max))
		goto out;
	rlen = strnlen(m->reason, sizeof(m->reason));
	if (s->reason && !pmsg_reason_ok(m->reason, rlen))
		goto out;
	r = KW_ERR_NOMEM;
	if ((map = cbor_new_definite_map(2 + (s->a_key != NULL) +
	    (s->b_key != NULL) + s->reason)) == NULL)
		goto out;
	if (!pmsg_add(map, cbor_build_string("v"), cbor_build_uint8(1)) ||
	    !pmsg_add(map, cbor_build_string("t"), cbor_build_string(s->name)))
		goto out;
	if (s->a_key != NULL && !pmsg_add(map, cbor_build_string(s->a_key),
	    cbor_build_bytestring(m->a, m->a_len)))
		goto out;
	if (s->b_key != NULL && !pmsg_add(map, cbor_build_string(s->b_key),
	    cbor_build_bytestring(m->b, m->b_len)))
		goto out;
	if (s->reason && !pmsg_add(map, cbor_build_string("reason"),
	    cbor_build_stringn(m->reason, rlen)))
		goto out;
	if ((n = cbor_serialize_alloc(map, &buf, &cap)) == 0)
		goto out;
	r = KW_ERR_ARG;
	if (n > KW_PMSG_MAX)
		goto out;
	r = KW_ERR_NOMEM;
	if ((f = malloc(4 + n)) == NULL)
		goto out;
	f[0] = (uint8_t)(n >> 24);
	f[1] = (uint8_t)(n >> 16);
	f[2] = (uint8_t)(n >> 8);
	f[3] = (uint8_t)n;
	memcpy(f + 4, buf, n);
	*out = f;
	*out_len = 4 + n;
	r = KW_OK;
out:
	if (buf != NULL) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	if (map != NULL)
		cbor_decref(&map);
	return r;
}

int
kw_pmsg_frame_need(const uint8_t *b, size_t len, size_t *need,
    size_t *total)
{
	size_t n;

	*need = 0;
	*total = 0;
	if (len < 4) {
		*need = 4 - len;
		return 1;
	}
	n = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
	if (n == 0 || n > KW_PMSG_MAX)
		return KW_ERR_PARSE;
	if (len < 4 + n) {
		*need = 4 + n - len;
		return 1;
	}
	*total = 4 + n;
	return 0;
}

/* The text of item if it is a definite text string, else NULL. */
static const char *
pmsg_text(cbor_item_t *item, size_t *len)
{
	if (!cbor_isa_string(item) || !cbor_string_is_definite(item))
		return NULL;
	*len = cbor_string_length(item);
	return (const char *)cbor_string_handle(item);
}

static int
pmsg_text_is(cbor_item_t *item, const char *want)
{
	const char *t;
	size_t len;

	return (t = pmsg_text(item, &len)) != NULL && len == strlen(want) &&
	    (len == 0 || memcmp(t, want, len) == 0);
}

/* A definite byte string of min..max bytes, copied to *out. */
static int
pmsg_bytes(cbor_item_t *item, size_t min, size_t max, uint8_t **out,
    size_t *out_len)
{
	size_t n;

	if (!cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item))
		return KW_ERR_PARSE;
	n = cbor_bytestring_length(item);
	if (n < min || n > max)
		return KW_ERR_PARSE;
	if ((*out = malloc(n)) == NULL)
		return KW_ERR_NOMEM;
	memcpy(*out, cbor_bytestring_handle(item), n);
	*out_len = n;
	return KW_OK;
}

/* One CBOR head at b[*off]: major type and argument; 0 when it is not a
 * definite one that fits in len. */
static int
pmsg_head(const uint8_t *b, size_t len, size_t *off, unsigned *major,
    uint64_t *arg)
{
	unsigned ai, n, i;

	if (*off >= len)
		return 0;
	*major = b[*off] >> 5;
	ai = b[*off] & 0x1f;
	(*off)++;
	if (ai < 24) {
		*arg = ai;
		return 1;
	}
	if (ai > 27)
		return 0;		/* reserved or indefinite */
	n = 1u << (ai - 24);
	if (len - *off < n)
		return 0;
	for (*arg = 0, i = 0; i < n; i++)
		*arg = *arg << 8 | b[(*off)++];
	return 1;
}

/* The shape before libcbor sees it (libcbor 0.8 allocates what an array
 * or map head declares before reading its items): one definite map of at
 * most 8 pairs whose keys and values are unsigned integers or definite
 * text or byte strings that fit in the input, nothing nested, nothing
 * after it. */
static int
pmsg_shape_ok(const uint8_t *b, size_t len)
{
	size_t off = 0, i;
	unsigned major;
	uint64_t n, arg;

	if (!pmsg_head(b, len, &off, &major, &n) || major != 5 || n > 8)
		return 0;
	for (i = 0; i < 2 * n; i++) {
		if (!pmsg_head(b, len, &off, &major, &arg))
			return 0;
		if (major == 2 || major == 3) {
			if (arg > len - off)
				return 0;
			off += (size_t)arg;
		} else if (major != 0)
			return 0;
	}
	return off == len;
}

int
kw_pmsg_decode(const uint8_t *b, size_t len, struct kw_pmsg *m)
{
	const struct pmsg_shape *s = NULL;
	struct cbor_load_result res;
	struct cbor_pair *p;
	cbor_item_t *item = NULL;
	const char *t;
	size_t i, j, n, want, tl;
	int r = KW_ERR_PARSE, seen_a = 0, seen_b = 0, seen_r = 0, seen_v = 0;

	memset(m, 0, sizeof(*m));
	if (len == 0 || len > KW_PMSG_MAX || !pmsg_shape_ok(b, len))
		goto out;
	item = cbor_load(b, len, &res);
	if (item == NULL) {
		if (res.error.code == CBOR_ERR_MEMERROR)
			r = KW_ERR_NOMEM;
		goto out;
	}
	if (res.error.code != CBOR_ERR_NONE || res.read != len ||
	    !cbor_isa_map(item) || !cbor_map_is_definite(item))
		goto out;
	n = cbor_map_size(item);
	p = cbor_map_handle(item);
	/* the type first: it says which keys belong */
	for (i = 0; i < n; i++)
		if (pmsg_text_is(p[i].key, "t")) {
			if (s != NULL)
				goto out;	/* twice */
			for (j = 0; j < PMSG_NSHAPES; j++)
				if (pmsg_text_is(p[i].value,
				    pmsg_shapes[j].name))
					s = &pmsg_shapes[j];
			if (s == NULL)
				goto out;
		}
	if (s == NULL)
		goto out;
	want = 2 + (s->a_key != NULL) + (s->b_key != NULL) + s->reason;
	if (n != want)
		goto out;
	m->type = s->type;
	for (i = 0; i < n; i++) {
		if (pmsg_text_is(p[i].key, "t"))
			continue;
		if (pmsg_text_is(p[i].key, "v")) {
			if (seen_v++ || !cbor_isa_uint(p[i].value) ||
			    cbor_get_int(p[i].value) != 1)
				goto out;
		} else if (s->a_key != NULL && pmsg_text_is(p[i].key,
		    s->a_key)) {
			if (seen_a++ || (r = pmsg_bytes(p[i].value, s->a_min,
			    s->a_max, &m->a, &m->a_len)) != KW_OK)
				goto out;
			r = KW_ERR_PARSE;
		} else if (s->b_key != NULL && pmsg_text_is(p[i].key,
		    s->b_key)) {
			if (seen_b++ || (r = pmsg_bytes(p[i].value, s->b_min,
			    s->b_max, &m->b, &m->b_len)) != KW_OK)
				goto out;
			r = KW_ERR_PARSE;
		} else if (s->reason && pmsg_text_is(p[i].key, "reason")) {
			if (seen_r++ || (t = pmsg_text(p[i].value, &tl)) ==
			    NULL || !pmsg_reason_ok(t, tl))
				goto out;
			memcpy(m->reason, t, tl);
			m->reason[tl] = '\0';
		} else
			goto out;
	}
	r = KW_OK;
out:
	if (r != KW_OK)
		kw_pmsg_clear(m);
	if (item != NULL)
		cbor_decref(&item);
	return r;
}

void
kw_pmsg_clear(struct kw_pmsg *m)
{
	if (m->a != NULL) {
		explicit_bzero(m->a, m->a_len);
		free(m->a);
	}
	if (m->b != NULL) {
		explicit_bzero(m->b, m->b_len);
		free(m->b);
	}
	explicit_bzero(m, sizeof(*m));
}
