/* TPM identity and evidence (issue 12): EK certificates and the EK, the
 * attestation key, TPM2_Certify, TPM2_Quote and TPM2_ActivateCredential.
 * See tpm_attest.h for the formats handed out.
 *
 * Slot economy (swtpm and /dev/tpm0 have no resource manager and three
 * transient object slots): each call loads what it needs and flushes it
 * before returning; at most two objects are loaded at once (device key +
 * AK, or AK + EK), plus the SRK for the moment a key is loaded under it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "tpm_attest.h"
#include "tpm_int.h"
#include "tpm_key.h"

struct tpm_attest {
	struct tpm_conn c;
};

/* TCG EK Credential Profile for TPM Family 2.0: where the certificates
 * live and the templates of the EKs they certify. */
struct tpm_ek_profile {
	uint32_t cert_nv;
	const char *name;
	TPMI_ALG_PUBLIC type;
	TPMI_ALG_HASH name_alg;
	int high;		/* high range: userWithAuth, empty unique */
	uint16_t bits;		/* RSA key bits */
	TPMI_ECC_CURVE curve;	/* ECC curve */
	uint16_t aes_bits;
	uint32_t nonce_nv;	/* low range: EK nonce and template indices */
	uint32_t tmpl_nv;
	const uint8_t *policy;
	uint16_t policy_len;
};

/* PolicyA: PolicySecret(TPM_RH_ENDORSEMENT), SHA-256. */
static const uint8_t tpm_policy_a_sha256[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
	0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
	0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};
/* PolicyB: PolicyOR(PolicyA, PolicyC), SHA-256 and SHA-384. */
static const uint8_t tpm_policy_b_sha256[32] = {
	0xca, 0x3d, 0x0a, 0x99, 0xa2, 0xb9, 0x39, 0x06, 0xf7, 0xa3, 0x34,
	0x24, 0x14, 0xef, 0xcf, 0xb3, 0xa3, 0x85, 0xd4, 0x4c, 0xd1, 0xfd,
	0x45, 0x90, 0x89, 0xd1, 0x9b, 0x50, 0x71, 0xc0, 0xb7, 0xa0,
};
static const uint8_t tpm_policy_b_sha384[48] = {
	0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82,
	0xbc, 0xf5, 0xfd, 0x3a, 0x1a, 0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3,
	0xb4, 0xe4, 0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca, 0xcb,
	0x47, 0xba, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00,
	0xf3, 0xf8, 0x0e, 0x12,
};

static const struct tpm_ek_profile tpm_ek_profiles[] = {
	{ 0x01c00002, "L-1 RSA 2048", TPM2_ALG_RSA, TPM2_ALG_SHA256, 0, 2048,
	    0, 128, 0x01c00003, 0x01c00004, tpm_policy_a_sha256, 32 },
	{ 0x01c0000a, "L-2 ECC NIST P-256", TPM2_ALG_ECC, TPM2_ALG_SHA256, 0,
	    0, TPM2_ECC_NIST_P256, 128, 0x01c0000b, 0x01c0000c,
	    tpm_policy_a_sha256, 32 },
	{ 0x01c00012, "H-1 RSA 2048", TPM2_ALG_RSA, TPM2_ALG_SHA256, 1, 2048,
	    0, 128, 0, 0, tpm_policy_b_sha256, 32 },
	{ 0x01c00014, "H-2 ECC NIST P-256", TPM2_ALG_ECC, TPM2_ALG_SHA256, 1,
	    0, TPM2_ECC_NIST_P256, 128, 0, 0, tpm_policy_b_sha256, 32 },
	{ 0x01c00016, "H-3 ECC NIST P-384", TPM2_ALG_ECC, TPM2_ALG_SHA384, 1,
	    0, TPM2_ECC_NIST_P384, 256, 0, 0, tpm_policy_b_sha384, 48 },
	{ 0x01c0001c, "H-6 RSA 3072", TPM2_ALG_RSA, TPM2_ALG_SHA384, 1, 3072,
	    0, 256, 0, 0, tpm_policy_b_sha384, 48 },
};
#define TPM_EK_NPROFILES \
	(sizeof(tpm_ek_profiles) / sizeof(tpm_ek_profiles[0]))

#define TPM_EK_CERT_MAX	4096	/* an EK certificate is ~1 KiB */
#define TPM_AK_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH | \
	TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)

static int
tpm_att_rc(const struct tpm_attest *a, TSS2_RC rc, const char *what,
    const char *obj)
{
	struct tpm_rcctx c;

	memset(&c, 0, sizeof(c));
	c.what = what;
	c.obj = obj;
	c.tcti = a->c.tcti;
	return tpm_rc_err(rc, &c);
}

int
tpm_attest_open(const struct tpm_opts *opts, struct tpm_attest **out)
{
	struct tpm_attest *a;
	int r;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return KW_ERR_NOMEM;
	if ((r = tpm_conn_open(opts != NULL ? opts->tcti : NULL, &a->c)) !=
	    KW_OK) {
		free(a);
		return r;
	}
	*out = a;
	return KW_OK;
}

void
tpm_attest_close(struct tpm_attest *a)
{
	if (a == NULL)
		return;
	tpm_conn_close(&a->c);
	free(a);
}

struct tpm_att_borrow {
	int (*fn)(struct tpm_attest *a, void *arg);
	void *arg;
};

static int
tpm_att_borrowed(struct tpm_conn *c, void *arg)
{
	const struct tpm_att_borrow *b = arg;
	struct tpm_attest a;

	a.c = *c;	/* not ours: never closed here */
	return b->fn(&a, b->arg);
}

int
tpm_attest_with_key(struct kw_key *key,
    int (*fn)(struct tpm_attest *a, void *arg), void *arg)
{
	struct tpm_att_borrow b;

	b.fn = fn;
	b.arg = arg;
	return tpm_key_with_conn(key, tpm_att_borrowed, &b);
}

uint64_t
tpm_attest_cmds(const struct tpm_attest *a)
{
	return tpm_tcti_count_sent(a->c.tcti_ctx);
}

/* TPM properties first..first+n-1 (fixed ones): vals[i] = 0 if absent. */
static int
tpm_att_props(struct tpm_attest *a, uint32_t first, uint32_t n,
    uint32_t *vals)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more = 0;
	TSS2_RC rc;
	uint32_t i, p;
	int r;

	memset(vals, 0, n * sizeof(*vals));
	if ((rc = Esys_GetCapability(a->c.esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES, first, n, &more, &cap)) !=
	    TSS2_RC_SUCCESS) {
		r = tpm_att_rc(a, rc, "reading the TPM's properties", NULL);
		goto out;
	}
	for (i = 0; i < cap->data.tpmProperties.count; i++) {
		p = cap->data.tpmProperties.tpmProperty[i].property;
		if (p >= first && p - first < n)
			vals[p - first] = cap->data.tpmProperties.
			    tpmProperty[i].value;
	}
	r = KW_OK;
out:
	Esys_Free(cap);
	return r;
}

/* Four bytes of a property as text, unprintable ones left out. */
static size_t
tpm_att_chars(uint32_t v, char *s)
{
	size_t n = 0;
	int i;
	char ch;

	for (i = 3; i >= 0; i--) {
		ch = (char)((v >> (8 * i)) & 0xff);
		if (ch >= 0x20 && ch < 0x7f)
			s[n++] = ch;
	}
	return n;
}

int
tpm_attest_describe(struct tpm_attest *a, char *buf, size_t len)
{
	/* TPM2_PT_REVISION .. TPM2_PT_FIRMWARE_VERSION_2 */
	uint32_t v[TPM2_PT_FIRMWARE_VERSION_2 - TPM2_PT_REVISION + 1];
	char man[5], vend[17];
	size_t mn, vn = 0, i;
	int r, n;

	if (len > 0)
		buf[0] = '\0';
	if ((r = tpm_att_props(a, TPM2_PT_REVISION, sizeof(v) / sizeof(v[0]),
	    v)) != KW_OK)
		return r;
#define PV(pt) v[(pt) - TPM2_PT_REVISION]
	mn = tpm_att_chars(PV(TPM2_PT_MANUFACTURER), man);
	while (mn > 0 && man[mn - 1] == ' ')
		mn--;
	man[mn] = '\0';
	for (i = 0; i < 4; i++)
		vn += tpm_att_chars(PV(TPM2_PT_VENDOR_STRING_1 + i), vend + vn);
	while (vn > 0 && vend[vn - 1] == ' ')
		vn--;
	vend[vn] = '\0';
	n = snprintf(buf, len, "%s (0x%08x) '%s' firmware %u.%u.%u.%u, TPM "
	    "2.0 revision %u.%02u", man, PV(TPM2_PT_MANUFACTURER), vend,
	    PV(TPM2_PT_FIRMWARE_VERSION_1) >> 16,
	    PV(TPM2_PT_FIRMWARE_VERSION_1) & 0xffff,
	    PV(TPM2_PT_FIRMWARE_VERSION_2) >> 16,
	    PV(TPM2_PT_FIRMWARE_VERSION_2) & 0xffff,
	    PV(TPM2_PT_REVISION) / 100, PV(TPM2_PT_REVISION) % 100);
#undef PV
	return n < 0 || (size_t)n >= len ? KW_ERR_SPACE : KW_OK;
}

/* Is handle idx (an NV index, a persistent object) defined? */
static int
tpm_att_handle_present(struct tpm_attest *a, uint32_t idx, int *present)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more = 0;
	TSS2_RC rc;
	int r;

	*present = 0;
	if ((rc = Esys_GetCapability(a->c.esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_HANDLES, idx, 1, &more, &cap)) !=
	    TSS2_RC_SUCCESS) {
		r = tpm_att_rc(a, rc, "listing NV indices", NULL);
		goto out;
	}
	*present = cap->data.handles.count > 0 &&
	    cap->data.handles.handle[0] == idx;
	r = KW_OK;
out:
	Esys_Free(cap);
	return r;
}

/* The whole contents of NV index idx (malloc'd), in chunks the TPM
 * accepts. */
static int
tpm_att_nv_read(struct tpm_attest *a, uint32_t idx, uint8_t **out,
    size_t *out_len)
{
	TPM2B_NV_PUBLIC *np = NULL;
	TPM2B_MAX_NV_BUFFER *chunk = NULL;
	ESYS_TR nv = ESYS_TR_NONE, auth;
	TSS2_RC rc;
	uint32_t maxbuf;
	uint8_t *buf = NULL;
	size_t size = 0, off, n;
	char obj[32];
	int r;

	*out = NULL;
	*out_len = 0;
	snprintf(obj, sizeof(obj), "NV index 0x%08x", idx);
	if ((r = tpm_att_props(a, TPM2_PT_NV_BUFFER_MAX, 1, &maxbuf)) !=
	    KW_OK)
		goto out;
	if (maxbuf == 0 || maxbuf > sizeof(chunk->buffer))
		maxbuf = 512;	/* 512: what every TPM takes */
	if ((rc = Esys_TR_FromTPMPublic(a->c.esys, idx, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, &nv)) != TSS2_RC_SUCCESS) {
		nv = ESYS_TR_NONE;
		r = tpm_att_rc(a, rc, "opening", obj);
		goto out;
	}
	if ((rc = Esys_NV_ReadPublic(a->c.esys, nv, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, &np, NULL)) != TSS2_RC_SUCCESS) {
		r = tpm_att_rc(a, rc, "reading the attributes of", obj);
		goto out;
	}
	size = np->nvPublic.dataSize;
	if (size == 0 || size > TPM_EK_CERT_MAX) {
		kw_err("%s holds %zu bytes: not an EK certificate", obj,
		    size);
		r = KW_ERR_PARSE;
		goto out;
	}
	/* EK certificate indices are readable with their own (empty) auth
	 * or the owner's. */
	if (np->nvPublic.attributes & TPMA_NV_AUTHREAD)
		auth = nv;
	else if (np->nvPublic.attributes & TPMA_NV_OWNERREAD)
		auth = ESYS_TR_RH_OWNER;
	else {
		kw_err("%s is readable neither with its own auth nor the "
		    "owner's; keyward cannot read it", obj);
		r = KW_ERR_UNSUPPORTED;
		goto out;
	}
	if ((buf = malloc(size)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	for (off = 0; off < size; off += n) {
		n = size - off < maxbuf ? size - off : maxbuf;
		if ((rc = Esys_NV_Read(a->c.esys, auth, nv, ESYS_TR_PASSWORD,
		    ESYS_TR_NONE, ESYS_TR_NONE, (UINT16)n, (UINT16)off,
		    &chunk)) != TSS2_RC_SUCCESS) {
			chunk = NULL;
			r = tpm_att_rc(a, rc, "reading", obj);
			goto out;
		}
		if (chunk->size != n) {
			kw_err("%s: the TPM returned %u bytes for %zu asked",
			    obj, chunk->size, n);
			r = KW_ERR_TPM;
			goto out;
		}
		memcpy(buf + off, chunk->buffer, n);
		Esys_Free(chunk);
		chunk = NULL;
	}
	*out = buf;
	*out_len = size;
	buf = NULL;
	r = KW_OK;
out:
	if (nv != ESYS_TR_NONE)
		Esys_TR_Close(a->c.esys, &nv);
	Esys_Free(np);
	Esys_Free(chunk);
	free(buf);
	return r;
}

/* A certificate's DER length from its outer SEQUENCE header (NV areas may
 * be padded after it); 0 if buf does not start with one that fits. */
static size_t
tpm_att_der_len(const uint8_t *buf, size_t len)
{
	size_t n, i, hdr;

	if (len < 2 || buf[0] != 0x30)
		return 0;
	if (buf[1] < 0x80) {
		n = buf[1];
		hdr = 2;
	} else {
		hdr = 2 + (size_t)(buf[1] & 0x7f);
		if ((buf[1] & 0x7f) == 0 || (buf[1] & 0x7f) > 3 || len < hdr)
			return 0;
		for (n = 0, i = 2; i < hdr; i++)
			n = (n << 8) | buf[i];
	}
	return hdr + n <= len ? hdr + n : 0;
}

void
tpm_attest_ek_certs_free(struct tpm_ek_cert *certs, size_t n)
{
	size_t i;

	if (certs == NULL)
		return;
	for (i = 0; i < n; i++)
		free(certs[i].der);
	free(certs);
}

/* The EK certificates kept by the key whose connection a is: a copy of
 * them into *out, *n (KW_OK), or KW_ERR_NOT_FOUND when none are kept. */
static int
tpm_att_ek_cached(struct tpm_attest *a, struct tpm_ek_cert **out, size_t *n)
{
	const struct tpm_ek_cache *k = a->c.ekc;
	struct tpm_ek_cert *c;
	size_t i;

	if (k == NULL || !k->valid)
		return KW_ERR_NOT_FOUND;
	if ((c = calloc(k->n > 0 ? k->n : 1, sizeof(*c))) == NULL)
		return KW_ERR_NOMEM;
	for (i = 0; i < k->n; i++) {
		c[i].nv_index = k->c[i].nv_index;
		c[i].profile = k->c[i].profile;
		c[i].der_len = k->c[i].der_len;
		if ((c[i].der = malloc(k->c[i].der_len)) == NULL) {
			tpm_attest_ek_certs_free(c, i);
			return KW_ERR_NOMEM;
		}
		memcpy(c[i].der, k->c[i].der, k->c[i].der_len);
	}
	*out = c;
	*n = k->n;
	return KW_OK;
}

/* Keep a copy of the n certificates read over a's connection; a copy
 * that fails only costs a read next time. */
static void
tpm_att_ek_keep(struct tpm_attest *a, const struct tpm_ek_cert *c, size_t n)
{
	struct tpm_ek_cache *k = a->c.ekc;
	size_t i;

	if (k == NULL || n > TPM_EK_CACHE_MAX)
		return;
	tpm_ek_cache_clear(k);
	for (i = 0; i < n; i++) {
		if ((k->c[i].der = malloc(c[i].der_len)) == NULL) {
			k->n = i;
			tpm_ek_cache_clear(k);
			return;
		}
		memcpy(k->c[i].der, c[i].der, c[i].der_len);
		k->c[i].der_len = c[i].der_len;
		k->c[i].nv_index = c[i].nv_index;
		k->c[i].profile = c[i].profile;
	}
	k->n = n;
	k->valid = 1;
}

int
tpm_attest_ek_certs(struct tpm_attest *a, struct tpm_ek_cert **certs,
    size_t *n)
{
	struct tpm_ek_cert *c = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, i, cnt = 0, dl;
	int present, r;

	*certs = NULL;
	*n = 0;
	if ((r = tpm_att_ek_cached(a, certs, n)) != KW_ERR_NOT_FOUND)
		return r;
	if ((c = calloc(TPM_EK_NPROFILES, sizeof(*c))) == NULL)
		return KW_ERR_NOMEM;
	for (i = 0; i < TPM_EK_NPROFILES; i++) {
		if ((r = tpm_att_handle_present(a, tpm_ek_profiles[i].cert_nv,
		    &present)) != KW_OK)
			goto out;
		if (!present)
			continue;
		if ((r = tpm_att_nv_read(a, tpm_ek_profiles[i].cert_nv, &buf,
		    &len)) != KW_OK)
			goto out;
		if ((dl = tpm_att_der_len(buf, len)) == 0) {
			kw_err("NV index 0x%08x (%s EK certificate) does not "
			    "hold a DER certificate", tpm_ek_profiles[i].cert_nv,
			    tpm_ek_profiles[i].name);
			r = KW_ERR_PARSE;
			goto out;
		}
		c[cnt].nv_index = tpm_ek_profiles[i].cert_nv;
		c[cnt].profile = tpm_ek_profiles[i].name;
		c[cnt].der = buf;
		c[cnt].der_len = dl;
		buf = NULL;
		cnt++;
	}
	tpm_att_ek_keep(a, c, cnt);
	*certs = c;
	*n = cnt;
	c = NULL;
	r = KW_OK;
out:
	free(buf);
	tpm_attest_ek_certs_free(c, cnt);
	return r;
}

/* The profile's template for the EK at p->cert_nv; a template and nonce
 * kept in NV (low range) take precedence. */
static int
tpm_att_ek_template(struct tpm_attest *a, const struct tpm_ek_profile *p,
    TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *t = &out->publicArea;
	uint8_t *nv = NULL, *nonce = NULL;
	size_t nv_len = 0, nonce_len = 0, off = 0, fs;
	TSS2_RC rc;
	int present, r;

	memset(out, 0, sizeof(*out));
	if (p->tmpl_nv != 0) {
		if ((r = tpm_att_handle_present(a, p->tmpl_nv, &present)) !=
		    KW_OK)
			goto out;
		if (present) {
			if ((r = tpm_att_nv_read(a, p->tmpl_nv, &nv,
			    &nv_len)) != KW_OK)
				goto out;
			if ((rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(nv, nv_len,
			    &off, t)) != TSS2_RC_SUCCESS) {
				kw_err("the EK template in NV index 0x%08x is "
				    "damaged (0x%x)", p->tmpl_nv, rc);
				r = KW_ERR_PARSE;
				goto out;
			}
			kw_debug("tpm: EK template from NV 0x%08x",
			    p->tmpl_nv);
		}
	}
	if (t->type == 0) {
		t->type = p->type;
		t->nameAlg = p->name_alg;
		t->objectAttributes = TPMA_OBJECT_FIXEDTPM |
		    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
		    TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED |
		    TPMA_OBJECT_DECRYPT;
		if (p->high)
			t->objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
		t->authPolicy.size = p->policy_len;
		memcpy(t->authPolicy.buffer, p->policy, p->policy_len);
		if (p->type == TPM2_ALG_RSA) {
			t->parameters.rsaDetail.symmetric.algorithm =
			    TPM2_ALG_AES;
			t->parameters.rsaDetail.symmetric.keyBits.aes =
			    p->aes_bits;
			t->parameters.rsaDetail.symmetric.mode.aes =
			    TPM2_ALG_CFB;
			t->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
			t->parameters.rsaDetail.keyBits = p->bits;
			t->parameters.rsaDetail.exponent = 0;
			/* low range: 256 zero bytes; high range: empty */
			if (!p->high)
				t->unique.rsa.size = 256;
		} else {
			t->parameters.eccDetail.symmetric.algorithm =
			    TPM2_ALG_AES;
			t->parameters.eccDetail.symmetric.keyBits.aes =
			    p->aes_bits;
			t->parameters.eccDetail.symmetric.mode.aes =
			    TPM2_ALG_CFB;
			t->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
			t->parameters.eccDetail.curveID = p->curve;
			t->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
			if (!p->high) {
				t->unique.ecc.x.size = 32;
				t->unique.ecc.y.size = 32;
			}
		}
	}
	if (p->nonce_nv != 0) {
		if ((r = tpm_att_handle_present(a, p->nonce_nv, &present)) !=
		    KW_OK)
			goto out;
		if (present) {
			if ((r = tpm_att_nv_read(a, p->nonce_nv, &nonce,
			    &nonce_len)) != KW_OK)
				goto out;
			/* the nonce, zero-padded: RSA to 256 bytes of
			 * unique, ECC to 32 bytes of x (y: 32 zeros) */
			fs = p->type == TPM2_ALG_RSA ? 256 : 32;
			if (nonce_len > fs) {
				kw_err("the EK nonce in NV index 0x%08x is "
				    "too long (%zu bytes)", p->nonce_nv,
				    nonce_len);
				r = KW_ERR_PARSE;
				goto out;
			}
			if (p->type == TPM2_ALG_RSA) {
				memset(&t->unique.rsa, 0, sizeof(t->unique.rsa));
				memcpy(t->unique.rsa.buffer, nonce, nonce_len);
				t->unique.rsa.size = 256;
			} else {
				memset(&t->unique.ecc, 0, sizeof(t->unique.ecc));
				memcpy(t->unique.ecc.x.buffer, nonce, nonce_len);
				t->unique.ecc.x.size = 32;
				t->unique.ecc.y.size = 32;
			}
		}
	}
	r = KW_OK;
out:
	free(nv);
	free(nonce);
	return r;
}

/* Is the public key of pub the one in certificate der? */
static int
tpm_att_ek_matches(const TPMT_PUBLIC *pub, const uint8_t *der, size_t len,
    uint32_t nv, int quiet)
{
	struct kw_der_cert cert;
	uint8_t spki[1024];
	size_t spki_len = sizeof(spki);
	int r;

	if ((r = kw_der_cert(der, len, &cert)) != KW_OK) {
		kw_err("the EK certificate in NV index 0x%08x cannot be "
		    "parsed", nv);
		return r;
	}
	if ((r = tpm_pub_spki(pub, spki, &spki_len)) != KW_OK) {
		if (!quiet)
			kw_err("the EK of NV index 0x%08x is of a kind keyward "
			    "cannot compare with its certificate", nv);
		return r;
	}
	if (!kw_der_eq(&cert.spki, spki, spki_len)) {
		if (quiet)
			return KW_ERR_KEY_MISMATCH;
		kw_err("the EK this TPM creates from the template for NV index "
		    "0x%08x is not the key in its EK certificate: the TPM uses "
		    "a non-standard EK template; cannot use its EK", nv);
		return KW_ERR_KEY_MISMATCH;
	}
	return KW_OK;
}

static const struct tpm_ek_profile *
tpm_att_ek_profile(uint32_t nv)
{
	size_t i;

	for (i = 0; i < TPM_EK_NPROFILES; i++)
		if (tpm_ek_profiles[i].cert_nv == nv)
			return &tpm_ek_profiles[i];
	return NULL;
}

static void
tpm_att_ek_release(struct tpm_attest *a, ESYS_TR *ek, int transient)
{
	if (*ek == ESYS_TR_NONE)
		return;
	if (transient)
		Esys_FlushContext(a->c.esys, *ek);
	else
		Esys_TR_Close(a->c.esys, ek);
	*ek = ESYS_TR_NONE;
}

/* The EK of certificate der if it was made persistent (the endorsement
 * range 0x81010000-0x8101ffff, where firmware and provisioning tools put
 * it): it costs no transient slot and no key generation (an RSA primary
 * takes seconds on some TPMs).  *ek: ESYS_TR_NONE if there is none. */
static int
tpm_att_ek_persistent(struct tpm_attest *a, const uint8_t *der, size_t len,
    uint32_t nv, ESYS_TR *ek, TPM2B_PUBLIC *pub)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPM2B_PUBLIC *p = NULL;
	TPMI_YES_NO more = 0;
	ESYS_TR tr = ESYS_TR_NONE;
	TPMA_OBJECT at;
	TPM2_HANDLE h;
	TSS2_RC rc;
	uint32_t i;
	int r;

	*ek = ESYS_TR_NONE;
	if ((rc = Esys_GetCapability(a->c.esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_HANDLES, 0x81010000u, 32, &more, &cap)) !=
	    TSS2_RC_SUCCESS) {
		r = tpm_att_rc(a, rc, "listing persistent handles", NULL);
		goto out;
	}
	for (i = 0; i < cap->data.handles.count && *ek == ESYS_TR_NONE; i++) {
		h = cap->data.handles.handle[i];
		if (h > 0x8101ffffu)
			break;
		if (Esys_TR_FromTPMPublic(a->c.esys, h, ESYS_TR_NONE,
		    ESYS_TR_NONE, ESYS_TR_NONE, &tr) != TSS2_RC_SUCCESS) {
			tr = ESYS_TR_NONE;
			continue;
		}
		if (Esys_ReadPublic(a->c.esys, tr, ESYS_TR_NONE, ESYS_TR_NONE,
		    ESYS_TR_NONE, &p, NULL, NULL) == TSS2_RC_SUCCESS) {
			at = p->publicArea.objectAttributes;
			if ((at & TPMA_OBJECT_RESTRICTED) &&
			    (at & TPMA_OBJECT_DECRYPT) &&
			    (at & TPMA_OBJECT_FIXEDTPM) &&
			    tpm_att_ek_matches(&p->publicArea, der, len, nv,
			    1) == KW_OK) {
				*ek = tr;
				*pub = *p;
				tr = ESYS_TR_NONE;
				kw_debug("tpm: the EK of NV 0x%08x is persistent "
				    "at 0x%08x", nv, h);
			}
		}
		Esys_Free(p);
		p = NULL;
		if (tr != ESYS_TR_NONE)
			Esys_TR_Close(a->c.esys, &tr);
		tr = ESYS_TR_NONE;
	}
	r = KW_OK;
out:
	Esys_Free(cap);
	return r;
}

/* The EK for the certificate at nv (0: the first present): the persistent
 * one if there is one, else created from its template; checked against the
 * certificate.  *ek: flush it if *transient, else close it. */
static int
tpm_att_ek_load(struct tpm_attest *a, uint32_t nv, ESYS_TR *ek,
    int *transient, TPM2B_PUBLIC *pub, uint32_t *nv_used)
{
	const struct tpm_ek_profile *p = NULL;
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl, *outpub = NULL;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	uint8_t *der = NULL;
	size_t der_len = 0, i, dl;
	TSS2_RC rc;
	int present = 0, r;

	*ek = ESYS_TR_NONE;
	*transient = 0;
	*nv_used = 0;
	if (nv != 0) {
		if ((p = tpm_att_ek_profile(nv)) == NULL) {
			kw_err("0x%08x is not an EK certificate index keyward "
			    "knows (0x01c00002, 0x01c0000a, 0x01c00012, "
			    "0x01c00014, 0x01c00016, 0x01c0001c)", nv);
			r = KW_ERR_ARG;
			goto out;
		}
		if ((r = tpm_att_handle_present(a, nv, &present)) != KW_OK)
			goto out;
	} else {
		for (i = 0; i < TPM_EK_NPROFILES && !present; i++) {
			p = &tpm_ek_profiles[i];
			if ((r = tpm_att_handle_present(a, p->cert_nv,
			    &present)) != KW_OK)
				goto out;
		}
	}
	if (!present) {
		kw_err("this TPM has no EK certificate%s%s: without one a "
		    "verifier cannot tell it is a real TPM",
		    nv != 0 ? " at " : "", nv != 0 ? p->name : "");
		r = KW_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = tpm_att_nv_read(a, p->cert_nv, &der, &der_len)) != KW_OK)
		goto out;
	if ((dl = tpm_att_der_len(der, der_len)) == 0) {
		kw_err("NV index 0x%08x does not hold a DER certificate",
		    p->cert_nv);
		r = KW_ERR_PARSE;
		goto out;
	}
	if ((r = tpm_att_ek_persistent(a, der, dl, p->cert_nv, ek, pub)) !=
	    KW_OK)
		goto out;
	if (*ek != ESYS_TR_NONE) {
		*nv_used = p->cert_nv;
		goto out;
	}
	if ((r = tpm_att_ek_template(a, p, &tmpl)) != KW_OK)
		goto out;
	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	if ((rc = Esys_CreatePrimary(a->c.esys, ESYS_TR_RH_ENDORSEMENT,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
	    &outside, &pcrs, ek, &outpub, NULL, NULL, NULL)) !=
	    TSS2_RC_SUCCESS) {
		*ek = ESYS_TR_NONE;
		r = tpm_att_rc(a, rc, "creating the endorsement key (EK "
		    "template, endorsement hierarchy)", p->name);
		goto out;
	}
	*transient = 1;
	if ((r = tpm_att_ek_matches(&outpub->publicArea, der, dl,
	    p->cert_nv, 0)) != KW_OK)
		goto out;
	*pub = *outpub;
	*nv_used = p->cert_nv;
	kw_debug("tpm: EK %s created; it matches its certificate", p->name);
	r = KW_OK;
out:
	if (r != KW_OK && *ek != ESYS_TR_NONE) {
		tpm_att_ek_release(a, ek, *transient);
		*transient = 0;
	}
	Esys_Free(outpub);
	free(der);
	return r;
}

/* Copy a TPM2B_NAME of tr out. */
static int
tpm_att_name(struct tpm_attest *a, ESYS_TR tr, uint8_t *name,
    size_t *name_len)
{
	TPM2B_NAME *n = NULL;
	TSS2_RC rc;
	int r;

	if (name == NULL)
		return KW_OK;
	if ((rc = Esys_TR_GetName(a->c.esys, tr, &n)) != TSS2_RC_SUCCESS)
		return tpm_att_rc(a, rc, "reading a key's name", NULL);
	if (n->size > *name_len) {
		r = KW_ERR_SPACE;
		goto out;
	}
	memcpy(name, n->name, n->size);
	*name_len = n->size;
	r = KW_OK;
out:
	Esys_Free(n);
	return r;
}

static int
tpm_att_pub_bytes(const TPMT_PUBLIC *pub, uint8_t *out, size_t *len)
{
	size_t off = 0;

	if (out == NULL)
		return KW_OK;
	if (Tss2_MU_TPMT_PUBLIC_Marshal(pub, out, *len, &off) !=
	    TSS2_RC_SUCCESS)
		return KW_ERR_SPACE;
	*len = off;
	return KW_OK;
}

int
tpm_attest_ek_public(struct tpm_attest *a, uint32_t nv_index,
    uint8_t *pub, size_t *pub_len, uint8_t *name, size_t *name_len,
    uint32_t *nv_used)
{
	TPM2B_PUBLIC p;
	ESYS_TR ek = ESYS_TR_NONE;
	int transient = 0, r;

	if ((r = tpm_att_ek_load(a, nv_index, &ek, &transient, &p,
	    nv_used)) != KW_OK ||
	    (r = tpm_att_pub_bytes(&p.publicArea, pub, pub_len)) != KW_OK ||
	    (r = tpm_att_name(a, ek, name, name_len)) != KW_OK)
		goto out;
out:
	tpm_att_ek_release(a, &ek, transient);
	return r;
}

static int
tpm_att_ak_template(enum kw_key_alg alg, int pss, TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *t = &out->publicArea;

	memset(out, 0, sizeof(*out));
	t->nameAlg = TPM2_ALG_SHA256;
	t->objectAttributes = TPM_AK_ATTRS;
	switch (alg) {
	case KW_ALG_EC_P256:
		if (pss)
			return KW_ERR_ARG;
		t->type = TPM2_ALG_ECC;
		t->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		t->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		t->parameters.eccDetail.scheme.details.ecdsa.hashAlg =
		    TPM2_ALG_SHA256;
		t->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		t->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		return KW_OK;
	case KW_ALG_RSA2048:
		t->type = TPM2_ALG_RSA;
		t->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		t->parameters.rsaDetail.scheme.scheme = pss ? TPM2_ALG_RSAPSS :
		    TPM2_ALG_RSASSA;
		/* rsassa and rsapss share the layout */
		t->parameters.rsaDetail.scheme.details.rsassa.hashAlg =
		    TPM2_ALG_SHA256;
		t->parameters.rsaDetail.keyBits = 2048;
		t->parameters.rsaDetail.exponent = 0;
		return KW_OK;
	default:
		return KW_ERR_UNSUPPORTED;
	}
}

/* Is pub an attestation key keyward can use? */
static int
tpm_att_ak_check(const TPMT_PUBLIC *pub, const char *ak)
{
	if ((pub->objectAttributes & (TPMA_OBJECT_RESTRICTED |
	    TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT)) !=
	    (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT) ||
	    !(pub->objectAttributes & TPMA_OBJECT_FIXEDTPM)) {
		kw_err("%s is not an attestation key (a restricted signing "
		    "key that cannot leave the TPM): create one with "
		    "`keyward attest init --ak tpm:PATH`", ak);
		return KW_ERR_UNSUPPORTED;
	}
	return KW_OK;
}

/* "0x81XXXXXX" in the owner's persistent range, nothing else. */
static int
tpm_att_parse_handle(const char *spec, TPM2_HANDLE *h)
{
	uint32_t v = 0;
	size_t i;
	int d;

	*h = 0;
	if (strncmp(spec, "0x81", 4) != 0 || strlen(spec) != 10)
		return 0;
	for (i = 2; i < 10; i++) {
		if (spec[i] >= '0' && spec[i] <= '9')
			d = spec[i] - '0';
		else if (spec[i] >= 'a' && spec[i] <= 'f')
			d = spec[i] - 'a' + 10;
		else if (spec[i] >= 'A' && spec[i] <= 'F')
			d = spec[i] - 'A' + 10;
		else
			return 0;
		v = v << 4 | (uint32_t)d;
	}
	if (v > 0x817fffffu)
		return 0;
	*h = v;
	return 1;
}

int
tpm_attest_ak_create(struct tpm_attest *a, const char *spec,
    enum kw_key_alg alg, int pss, int force, uint8_t *name,
    size_t *name_len)
{
	struct tpm_keyblob kb;
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl, srk_tmpl, *pub = NULL;
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	ESYS_TR srk = ESYS_TR_NONE, key = ESYS_TR_NONE, pers = ESYS_TR_NONE;
	TPM2_HANDLE h = 0;
	TSS2_RC rc;
	char *pem = NULL, obj[64];
	size_t pem_len = 0;
	int persistent, present, r;

	memset(&kb, 0, sizeof(kb));
	if (spec == NULL || *spec == '\0')
		return KW_ERR_ARG;
	if ((r = tpm_att_ak_template(alg, pss, &tmpl)) != KW_OK) {
		kw_err("an attestation key is ECC P-256 or RSA 2048, not %s",
		    kw_alg_name(alg));
		return r;
	}
	persistent = tpm_att_parse_handle(spec, &h);
	if (!persistent && strncmp(spec, "0x", 2) == 0) {
		kw_err("%s is not a persistent handle keyward can use: use "
		    "0x81000000-0x817fffff, or a file name", spec);
		return KW_ERR_ARG;
	}
	snprintf(obj, sizeof(obj), persistent ? "persistent AK %s" :
	    "AK file %s", spec);
	if (!persistent && !force && access(spec, F_OK) == 0) {
		r = KW_ERR_EXISTS;
		goto out;
	}
	if (persistent) {
		if ((r = tpm_att_handle_present(a, h, &present)) != KW_OK)
			goto out;
		if (present) {
			/* never replace a persistent object */
			r = KW_ERR_EXISTS;
			goto out;
		}
	}
	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	tpm_pub_srk_template(&srk_tmpl);
	if ((rc = Esys_CreatePrimary(a->c.esys, ESYS_TR_RH_OWNER,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &srk_tmpl,
	    &outside, &pcrs, &srk, NULL, NULL, NULL, NULL)) !=
	    TSS2_RC_SUCCESS) {
		struct tpm_rcctx c;

		srk = ESYS_TR_NONE;
		memset(&c, 0, sizeof(c));
		c.what = "creating the storage root key (ECC P-256 template, "
		    "owner hierarchy)";
		c.obj = "the owner hierarchy";
		c.tcti = a->c.tcti;
		c.is_owner = 1;
		r = tpm_rc_err(rc, &c);
		goto out;
	}
	if ((rc = Esys_Create(a->c.esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	    ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &priv, &pub, NULL,
	    NULL, NULL)) != TSS2_RC_SUCCESS) {
		priv = NULL;
		pub = NULL;
		r = tpm_att_rc(a, rc, "creating the attestation key", obj);
		goto out;
	}
	if ((rc = Esys_Load(a->c.esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	    ESYS_TR_NONE, priv, pub, &key)) != TSS2_RC_SUCCESS) {
		key = ESYS_TR_NONE;
		r = tpm_att_rc(a, rc, "loading the new attestation key", obj);
		goto out;
	}
	Esys_FlushContext(a->c.esys, srk);
	srk = ESYS_TR_NONE;
	if ((r = tpm_att_name(a, key, name, name_len)) != KW_OK)
		goto out;
	if (persistent) {
		if ((rc = Esys_EvictControl(a->c.esys, ESYS_TR_RH_OWNER, key,
		    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, h,
		    &pers)) != TSS2_RC_SUCCESS) {
			struct tpm_rcctx c;

			memset(&c, 0, sizeof(c));
			c.what = "making the attestation key persistent";
			c.obj = obj;
			c.tcti = a->c.tcti;
			c.is_owner = 1;
			r = tpm_rc_err(rc, &c);
			goto out;
		}
		Esys_TR_Close(a->c.esys, &pers);
	} else {
		kb.empty_auth = 1;
		kb.parent = TPM_SRK_TEMPLATE_PARENT;
		kb.pub = *pub;
		kb.priv = *priv;
		if ((r = tpm_keyfile_to_pem(&kb, &pem, &pem_len)) != KW_OK)
			goto out;
		if ((r = kw_file_write_atomic(spec, pem, pem_len, 0600,
		    !force)) != KW_OK) {
			if (r != KW_ERR_EXISTS)
				kw_err("cannot write %s: %s", obj,
				    kw_strerror(r));
			goto out;
		}
	}
	kw_debug("tpm: created %s (%s%s)", obj, kw_alg_name(alg),
	    pss ? ", RSA-PSS" : "");
	r = KW_OK;
out:
	if (srk != ESYS_TR_NONE)
		Esys_FlushContext(a->c.esys, srk);
	if (key != ESYS_TR_NONE)
		Esys_FlushContext(a->c.esys, key);
	Esys_Free(priv);
	Esys_Free(pub);
	kw_freezero(pem, pem_len);
	explicit_bzero(&kb, sizeof(kb));
	return r;
}

/* Load the AK and check it is one. */
static int
tpm_att_ak_load(struct tpm_attest *a, const char *ak, struct tpm_loaded *l)
{
	TPM2_HANDLE h;
	int r;

	if (ak != NULL && !tpm_att_parse_handle(ak, &h) &&
	    access(ak, F_OK) != 0) {
		kw_err("attestation key file %s does not exist: create it with "
		    "`keyward attest init --ak tpm:%s`", ak, ak);
		return KW_ERR_NOT_FOUND;
	}
	if ((r = tpm_key_load_on(&a->c, ak, NULL, l)) != KW_OK)
		return r;
	if ((r = tpm_att_ak_check(&l->pub.publicArea, ak)) != KW_OK)
		tpm_key_unload(&a->c, l);
	return r;
}

int
tpm_attest_ak_public(struct tpm_attest *a, const char *ak,
    uint8_t *pub, size_t *pub_len, uint8_t *name, size_t *name_len,
    uint8_t *spki, size_t *spki_len)
{
	struct tpm_loaded l;
	int r;

	if ((r = tpm_att_ak_load(a, ak, &l)) != KW_OK)
		return r;
	if ((r = tpm_att_pub_bytes(&l.pub.publicArea, pub, pub_len)) !=
	    KW_OK || (r = tpm_att_name(a, l.tr, name, name_len)) != KW_OK)
		goto out;
	if (spki != NULL &&
	    (r = tpm_pub_spki(&l.pub.publicArea, spki, spki_len)) != KW_OK)
		goto out;
out:
	tpm_key_unload(&a->c, &l);
	return r;
}

static int
tpm_att_qual(const uint8_t *qual, size_t len, TPM2B_DATA *out)
{
	memset(out, 0, sizeof(*out));
	if (len > TPM_ATTEST_QUAL_MAX || len > sizeof(out->buffer) ||
	    (len > 0 && qual == NULL)) {
		kw_err("qualifying data of %zu bytes: at most %d", len,
		    TPM_ATTEST_QUAL_MAX);
		return KW_ERR_ARG;
	}
	if (len > 0)
		memcpy(out->buffer, qual, len);
	out->size = (UINT16)len;
	return KW_OK;
}

/* attest and sig into out. */
static int
tpm_att_evidence(const TPM2B_ATTEST *att, const TPMT_SIGNATURE *sig,
    struct tpm_evidence *out)
{
	size_t off = 0;

	if (att->size > sizeof(out->attest))
		return KW_ERR_SPACE;
	memcpy(out->attest, att->attestationData, att->size);
	out->attest_len = att->size;
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, out->sig, sizeof(out->sig),
	    &off) != TSS2_RC_SUCCESS)
		return KW_ERR_SPACE;
	out->sig_len = off;
	return KW_OK;
}

int
tpm_attest_certify(struct tpm_attest *a, const char *ak,
    const char *key, const struct tpm_opts *key_opts, const uint8_t *qual,
    size_t qual_len, struct tpm_evidence *out)
{
	struct tpm_loaded k, l;
	TPM2B_DATA q;
	TPMT_SIG_SCHEME scheme;
	TPM2B_ATTEST *att = NULL;
	TPMT_SIGNATURE *sig = NULL;
	TPMS_CONTEXT *saved = NULL;
	TSS2_RC rc;
	char obj[300];
	int r;

	memset(out, 0, sizeof(*out));
	memset(&k, 0, sizeof(k));
	memset(&l, 0, sizeof(l));
	k.tr = l.tr = ESYS_TR_NONE;
	k.sess = l.sess = ESYS_TR_PASSWORD;
	if ((r = tpm_att_qual(qual, qual_len, &q)) != KW_OK)
		goto out;
	snprintf(obj, sizeof(obj), "key %s", key);
	/* The AK first, saved out of the TPM while the device key is loaded
	 * under its SRK, then loaded back: two objects at a time, not
	 * three (the AK's auth is empty: nothing to set again). */
	if ((r = tpm_att_ak_load(a, ak, &l)) != KW_OK)
		goto out;
	if (l.transient) {
		if ((rc = Esys_ContextSave(a->c.esys, l.tr, &saved)) !=
		    TSS2_RC_SUCCESS) {
			saved = NULL;
			r = tpm_att_rc(a, rc, "saving the attestation key's "
			    "context", ak);
			goto out;
		}
		Esys_FlushContext(a->c.esys, l.tr);
		l.tr = ESYS_TR_NONE;
	}
	if ((r = tpm_key_load_on(&a->c, key, key_opts, &k)) != KW_OK)
		goto out;
	if (saved != NULL && (rc = Esys_ContextLoad(a->c.esys, saved,
	    &l.tr)) != TSS2_RC_SUCCESS) {
		l.tr = ESYS_TR_NONE;
		r = tpm_att_rc(a, rc, "loading the attestation key's context "
		    "again", ak);
		goto out;
	}
	memset(&scheme, 0, sizeof(scheme));
	scheme.scheme = TPM2_ALG_NULL;	/* the AK's own */
	if ((rc = Esys_Certify(a->c.esys, k.tr, l.tr, k.sess, l.sess,
	    ESYS_TR_NONE, &q, &scheme, &att, &sig)) != TSS2_RC_SUCCESS) {
		att = NULL;
		sig = NULL;
		r = tpm_att_rc(a, rc, "certifying the key with the "
		    "attestation key", obj);
		goto out;
	}
	out->pub_len = sizeof(out->pub);
	out->name_len = sizeof(out->name);
	if ((r = tpm_att_evidence(att, sig, out)) != KW_OK ||
	    (r = tpm_att_pub_bytes(&k.pub.publicArea, out->pub,
	    &out->pub_len)) != KW_OK ||
	    (r = tpm_att_name(a, k.tr, out->name, &out->name_len)) != KW_OK)
		goto out;
	r = KW_OK;
out:
	tpm_key_unload(&a->c, &l);
	tpm_key_unload(&a->c, &k);
	Esys_Free(saved);
	Esys_Free(att);
	Esys_Free(sig);
	if (r != KW_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

static void
tpm_att_pcr_sel(uint32_t mask, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	sel->pcrSelections[0].pcrSelect[0] = (uint8_t)mask;
	sel->pcrSelections[0].pcrSelect[1] = (uint8_t)(mask >> 8);
	sel->pcrSelections[0].pcrSelect[2] = (uint8_t)(mask >> 16);
}

/* Read the sha256 PCRs in mask (the TPM answers at most 8 per call). */
static int
tpm_att_pcr_read(struct tpm_attest *a, uint32_t mask,
    uint8_t pcr[TPM_PCR_COUNT][32], uint32_t *first_ctr, uint32_t *last_ctr)
{
	TPML_PCR_SELECTION sel, *got = NULL;
	TPML_DIGEST *vals = NULL;
	uint32_t left = mask, ctr = 0, done;
	TSS2_RC rc;
	size_t j;
	int i, first = 1, r;

	while (left != 0) {
		tpm_att_pcr_sel(left, &sel);
		if ((rc = Esys_PCR_Read(a->c.esys, ESYS_TR_NONE, ESYS_TR_NONE,
		    ESYS_TR_NONE, &sel, &ctr, &got, &vals)) !=
		    TSS2_RC_SUCCESS) {
			got = NULL;
			vals = NULL;
			r = tpm_att_rc(a, rc, "reading the PCRs", NULL);
			goto out;
		}
		if (first)
			*first_ctr = ctr;
		first = 0;
		done = 0;
		if (got->count == 1 &&
		    got->pcrSelections[0].hash == TPM2_ALG_SHA256)
			for (i = 0; i < TPM_PCR_COUNT; i++)
				if (got->pcrSelections[0].pcrSelect[i / 8] &
				    (1u << (i % 8)))
					done |= 1u << i;
		done &= left;
		if (done == 0) {
			kw_err("the TPM has no sha256 PCR bank (or not PCRs "
			    "0x%06x): cannot quote them", left);
			r = KW_ERR_UNSUPPORTED;
			goto out;
		}
		for (i = 0, j = 0; i < TPM_PCR_COUNT; i++) {
			if (!(done & (1u << i)))
				continue;
			if (j >= vals->count || vals->digests[j].size != 32) {
				kw_err("the TPM answered PCR_Read with a "
				    "malformed list");
				r = KW_ERR_TPM;
				goto out;
			}
			memcpy(pcr[i], vals->digests[j].buffer, 32);
			j++;
		}
		left &= ~done;
		Esys_Free(got);
		Esys_Free(vals);
		got = NULL;
		vals = NULL;
	}
	*last_ctr = ctr;
	r = KW_OK;
out:
	Esys_Free(got);
	Esys_Free(vals);
	return r;
}

int
tpm_attest_quote(struct tpm_attest *a, const char *ak,
    uint32_t pcr_mask, const uint8_t *qual, size_t qual_len,
    struct tpm_evidence *out)
{
	struct tpm_loaded l;
	TPM2B_DATA q;
	TPMT_SIG_SCHEME scheme;
	TPML_PCR_SELECTION sel;
	TPM2B_ATTEST *att = NULL;
	TPMT_SIGNATURE *sig = NULL;
	uint8_t again[TPM_PCR_COUNT][32];
	uint32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
	TSS2_RC rc;
	int attempt, r;

	memset(out, 0, sizeof(*out));
	memset(&l, 0, sizeof(l));
	l.tr = ESYS_TR_NONE;
	l.sess = ESYS_TR_PASSWORD;
	if (pcr_mask == 0)
		pcr_mask = TPM_PCR_DEFAULT_MASK;
	if (pcr_mask >> TPM_PCR_COUNT) {
		kw_err("PCR selection 0x%x: PCRs are 0-23", pcr_mask);
		r = KW_ERR_ARG;
		goto out;
	}
	if ((r = tpm_att_qual(qual, qual_len, &q)) != KW_OK ||
	    (r = tpm_att_ak_load(a, ak, &l)) != KW_OK)
		goto out;
	tpm_att_pcr_sel(pcr_mask, &sel);
	memset(&scheme, 0, sizeof(scheme));
	scheme.scheme = TPM2_ALG_NULL;
	r = KW_ERR_BUSY;
	/* The values handed out must be the ones quoted: read, quote, read
	 * again; a PCR extended in between means another round. */
	for (attempt = 0; attempt < 5; attempt++) {
		Esys_Free(att);
		Esys_Free(sig);
		att = NULL;
		sig = NULL;
		if ((r = tpm_att_pcr_read(a, pcr_mask, out->pcr, &c0,
		    &c1)) != KW_OK)
			goto out;
		if ((rc = Esys_Quote(a->c.esys, l.tr, l.sess, ESYS_TR_NONE,
		    ESYS_TR_NONE, &q, &scheme, &sel, &att, &sig)) !=
		    TSS2_RC_SUCCESS) {
			att = NULL;
			sig = NULL;
			r = tpm_att_rc(a, rc, "quoting the PCRs with the "
			    "attestation key", ak);
			goto out;
		}
		memset(again, 0, sizeof(again));
		if ((r = tpm_att_pcr_read(a, pcr_mask, again, &c2, &c3)) !=
		    KW_OK)
			goto out;
		if (c0 == c3 && memcmp(again, out->pcr, sizeof(again)) == 0) {
			r = KW_OK;
			break;
		}
		kw_debug("tpm: PCRs changed during the quote; again");
		r = KW_ERR_BUSY;
	}
	if (r != KW_OK) {
		kw_err("the PCRs kept changing while quoting them (5 tries); "
		    "try again");
		goto out;
	}
	out->pcr_mask = pcr_mask;
	r = tpm_att_evidence(att, sig, out);
out:
	tpm_key_unload(&a->c, &l);
	Esys_Free(att);
	Esys_Free(sig);
	if (r != KW_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

int
tpm_attest_activate(struct tpm_attest *a, const char *ak,
    uint32_t ek_nv, const uint8_t *blob, size_t blob_len,
    const uint8_t *secret, size_t secret_len, uint8_t *cred,
    size_t *cred_len)
{
	struct tpm_loaded l;
	TPM2B_ID_OBJECT idobj;
	TPM2B_ENCRYPTED_SECRET es;
	TPM2B_PUBLIC ekpub;
	TPM2B_DIGEST *ci = NULL;
	TPMT_SYM_DEF sym;
	TPM2B_TIMEOUT *timeout = NULL;
	TPMT_TK_AUTH *ticket = NULL;
	ESYS_TR ek = ESYS_TR_NONE, sess = ESYS_TR_NONE, ek_auth;
	uint32_t nv_used = 0;
	TSS2_RC rc;
	int ek_transient = 0, r;

	memset(&l, 0, sizeof(l));
	l.tr = ESYS_TR_NONE;
	l.sess = ESYS_TR_PASSWORD;
	if (blob_len > sizeof(idobj.credential) ||
	    secret_len > sizeof(es.secret) || blob_len == 0 ||
	    secret_len == 0) {
		kw_err("the credential to activate is malformed (%zu + %zu "
		    "bytes)", blob_len, secret_len);
		r = KW_ERR_PARSE;
		goto out;
	}
	memset(&idobj, 0, sizeof(idobj));
	memcpy(idobj.credential, blob, blob_len);
	idobj.size = (UINT16)blob_len;
	memset(&es, 0, sizeof(es));
	memcpy(es.secret, secret, secret_len);
	es.size = (UINT16)secret_len;
	/* AK first (its SRK comes and goes), then the EK: two objects */
	if ((r = tpm_att_ak_load(a, ak, &l)) != KW_OK ||
	    (r = tpm_att_ek_load(a, ek_nv, &ek, &ek_transient, &ekpub,
	    &nv_used)) != KW_OK)
		goto out;
	if (ekpub.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH) {
		ek_auth = ESYS_TR_PASSWORD;	/* high range: empty auth */
	} else {
		memset(&sym, 0, sizeof(sym));
		sym.algorithm = TPM2_ALG_NULL;
		if ((rc = Esys_StartAuthSession(a->c.esys, ESYS_TR_NONE,
		    ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
		    NULL, TPM2_SE_POLICY, &sym, ekpub.publicArea.nameAlg,
		    &sess)) != TSS2_RC_SUCCESS) {
			sess = ESYS_TR_NONE;
			r = tpm_att_rc(a, rc, "starting the EK's policy "
			    "session", NULL);
			goto out;
		}
		if ((rc = Esys_PolicySecret(a->c.esys, ESYS_TR_RH_ENDORSEMENT,
		    sess, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
		    NULL, NULL, 0, &timeout, &ticket)) != TSS2_RC_SUCCESS) {
			timeout = NULL;
			ticket = NULL;
			r = tpm_att_rc(a, rc, "satisfying the EK's policy "
			    "(PolicySecret on the endorsement hierarchy)",
			    "the endorsement hierarchy");
			goto out;
		}
		ek_auth = sess;
	}
	rc = Esys_ActivateCredential(a->c.esys, l.tr, ek, l.sess, ek_auth,
	    ESYS_TR_NONE, &idobj, &es, &ci);
	if (rc != TSS2_RC_SUCCESS) {
		ci = NULL;
		if (tpm_rc_map(rc) == KW_ERR_WRONG_TPM ||
		    tpm_rc_map(rc) == KW_ERR_TPM) {
			kw_err("activating the credential failed: it was not "
			    "made for this attestation key (%s) and this TPM's "
			    "EK, or it is damaged [%s, 0x%x]", ak,
			    Tss2_RC_Decode(rc), rc);
			r = KW_ERR_CRYPTO;
		} else
			r = tpm_att_rc(a, rc, "activating the credential",
			    ak);
		goto out;
	}
	if (ci->size > *cred_len || ci->size > TPM_ATTEST_CRED_MAX) {
		r = KW_ERR_SPACE;
		goto out;
	}
	memcpy(cred, ci->buffer, ci->size);
	*cred_len = ci->size;
	r = KW_OK;
out:
	if (sess != ESYS_TR_NONE)
		Esys_FlushContext(a->c.esys, sess);
	tpm_att_ek_release(a, &ek, ek_transient);
	tpm_key_unload(&a->c, &l);
	if (ci != NULL)
		explicit_bzero(ci, sizeof(*ci));
	Esys_Free(ci);
	Esys_Free(timeout);
	Esys_Free(ticket);
	explicit_bzero(&idobj, sizeof(idobj));
	explicit_bzero(&es, sizeof(es));
	return r;
}
