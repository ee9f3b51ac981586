/* EK certificates: the chain to the configured manufacturer CAs (wolfSSL's
 * certificate manager) and the TPM identity they name (TCG EK Credential
 * Profile: a critical subjectAltName holding a directoryName with
 * tcg-at-tpmManufacturer 2.23.133.2.1, tcg-at-tpmModel 2.23.133.2.2 and
 * tcg-at-tpmVersion 2.23.133.2.3; the subject may be empty). */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdio.h>
#include <string.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "attest/attest_int.h"

#define ATTEST_EK_CA_MAX	(1024u * 1024u)

/* TCG TPM Vendor ID Registry: the manufacturer ids as EK certificates
 * write them, and who they are. */
static const struct {
	const char *id;
	const char *name;
} attest_vendors[] = {
	{ "id:414D4400", "AMD" },
	{ "id:41544D4C", "Atmel" },
	{ "id:4252434D", "Broadcom" },
	{ "id:474F4F47", "Google" },
	{ "id:48504500", "HPE" },
	{ "id:49424D00", "IBM" },
	{ "id:49465800", "Infineon" },
	{ "id:494E5443", "Intel" },
	{ "id:4C454E00", "Lenovo" },
	{ "id:4D534654", "Microsoft" },
	{ "id:4E534D20", "National Semiconductor" },
	{ "id:4E545A00", "Nationz" },
	{ "id:4E544300", "Nuvoton" },
	{ "id:51434F4D", "Qualcomm" },
	{ "id:534D5343", "SMSC" },
	{ "id:53544D20", "STMicroelectronics" },
	{ "id:534D534E", "Samsung" },
	{ "id:534E5300", "Sinosun" },
	{ "id:54584E00", "Texas Instruments" },
	{ "id:57454300", "Winbond" },
	{ "id:524F4343", "Fuzhou Rockchip" },
	{ "id:00001014", "IBM (swtpm)" },
};

static const uint8_t attest_oid_san[] = { 0x55, 0x1d, 0x11 };
static const uint8_t attest_oid_tcg_at[] = { 0x67, 0x81, 0x05, 0x02 };

/* Copy a DirectoryString value into out (printable text only). */
static void
attest_copy_str(const struct kw_der *v, char *out, size_t cap)
{
	size_t i, n = v->len < cap - 1 ? v->len : cap - 1;

	for (i = 0; i < n; i++)
		out[i] = v->p[i] >= 0x20 && v->p[i] < 0x7f ? (char)v->p[i] : '?';
	out[n] = '\0';
}

/* The TCG attributes of one directoryName (a Name: SEQUENCE OF SET OF
 * AttributeTypeAndValue). */
static void
attest_dirname(struct kw_der name, struct kw_attest_tpm_id *id)
{
	struct kw_der rdn, atv, oid, val, tlv;

	while (kw_der_get(&name, 0x31, &rdn, NULL) == KW_OK)
		while (kw_der_get(&rdn, 0x30, &atv, NULL) == KW_OK) {
			if (kw_der_get(&atv, 0x06, &oid, NULL) != KW_OK ||
			    kw_der_get(&atv, KW_DER_ANY, &val, &tlv) != KW_OK ||
			    oid.len != sizeof(attest_oid_tcg_at) + 1 ||
			    memcmp(oid.p, attest_oid_tcg_at,
			    sizeof(attest_oid_tcg_at)) != 0)
				continue;
			switch (oid.p[sizeof(attest_oid_tcg_at)]) {
			case 1:
				attest_copy_str(&val, id->manufacturer,
				    sizeof(id->manufacturer));
				break;
			case 2:
				attest_copy_str(&val, id->model,
				    sizeof(id->model));
				break;
			case 3:
				attest_copy_str(&val, id->firmware,
				    sizeof(id->firmware));
				break;
			default:
				break;
			}
		}
}

int
kw_attest_ek_id(const uint8_t *ek, size_t ek_len, struct kw_attest_tpm_id *id)
{
	struct kw_der d, cert, tbs, ext, exts, one, oid, val, gn, gnv;
	size_t i;
	int found = 0;

	memset(id, 0, sizeof(*id));
	if (kw_der_only(ek, ek_len, 0x30, &cert) != KW_OK ||
	    kw_der_get(&cert, 0x30, &tbs, NULL) != KW_OK)
		return KW_ERR_PARSE;
	/* TBSCertificate: [0] version, serial, signature, issuer, validity,
	 * subject, spki, [1] [2] unique ids, [3] extensions */
	d = tbs;
	if (kw_der_peek(&d) == 0xa0 && kw_der_get(&d, 0xa0, NULL, NULL) != KW_OK)
		return KW_ERR_PARSE;
	for (i = 0; i < 6; i++)
		if (kw_der_get(&d, KW_DER_ANY, NULL, NULL) != KW_OK)
			return KW_ERR_PARSE;
	while (d.len > 0 && kw_der_peek(&d) != 0xa3)
		if (kw_der_get(&d, KW_DER_ANY, NULL, NULL) != KW_OK)
			return KW_ERR_PARSE;
	if (d.len == 0 || kw_der_get(&d, 0xa3, &ext, NULL) != KW_OK ||
	    kw_der_only(ext.p, ext.len, 0x30, &exts) != KW_OK)
		return KW_ERR_PARSE;
	while (exts.len > 0) {
		if (kw_der_get(&exts, 0x30, &one, NULL) != KW_OK ||
		    kw_der_get(&one, 0x06, &oid, NULL) != KW_OK)
			return KW_ERR_PARSE;
		if (kw_der_peek(&one) == 0x01 &&
		    kw_der_get(&one, 0x01, NULL, NULL) != KW_OK)
			return KW_ERR_PARSE;
		if (kw_der_get(&one, 0x04, &val, NULL) != KW_OK)
			return KW_ERR_PARSE;
		if (!kw_der_eq(&oid, attest_oid_san, sizeof(attest_oid_san)))
			continue;
		if (kw_der_only(val.p, val.len, 0x30, &gn) != KW_OK)
			return KW_ERR_PARSE;
		/* directoryName [4] EXPLICIT Name; other names skipped */
		while (gn.len > 0) {
			struct kw_der name, tlv;

			if (kw_der_get(&gn, KW_DER_ANY, &gnv, &tlv) != KW_OK)
				return KW_ERR_PARSE;
			if (tlv.p[0] == 0xa4 && kw_der_only(gnv.p, gnv.len,
			    0x30, &name) == KW_OK) {
				attest_dirname(name, id);
				found = 1;
			}
		}
	}
	if (!found || id->manufacturer[0] == '\0')
		return KW_ERR_NOT_FOUND;
	for (i = 0; i < sizeof(attest_vendors) / sizeof(attest_vendors[0]); i++)
		if (strcasecmp(id->manufacturer, attest_vendors[i].id) == 0)
			snprintf(id->vendor, sizeof(id->vendor), "%s",
			    attest_vendors[i].name);
	if (id->vendor[0] == '\0')
		snprintf(id->vendor, sizeof(id->vendor), "unknown vendor");
	return KW_OK;
}

int
kw_attest_ek_verify(const char *ca_path, const uint8_t *ek, size_t ek_len,
    const uint8_t *const *chain, const size_t *chain_len, size_t nchain,
    struct kw_attest_tpm_id *id, enum kw_attest_reason *reason)
{
	WOLFSSL_CERT_MANAGER *cm = NULL;
	struct kw_der_cert fields;
	uint8_t *pem = NULL;
	size_t pem_len = 0, i;
	int r, wr;

	*reason = KW_ATTEST_OK;
	if (id != NULL)
		memset(id, 0, sizeof(*id));
	if (kw_der_cert(ek, ek_len, &fields) != KW_OK) {
		*reason = KW_ATTEST_EK_CERT;
		r = KW_ERR_ATTEST;
		goto out;
	}
	if ((r = kw_file_read(ca_path, ATTEST_EK_CA_MAX, &pem, &pem_len)) !=
	    KW_OK) {
		kw_err("ek-ca %s: cannot read: %s", ca_path, kw_strerror(r));
		goto out;
	}
	if ((cm = wolfSSL_CertManagerNew()) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((wr = wolfSSL_CertManagerLoadCABuffer(cm, pem, (long)pem_len,
	    WOLFSSL_FILETYPE_PEM)) != WOLFSSL_SUCCESS) {
		kw_err("ek-ca %s: no usable CA certificate in it (wolfSSL %d); "
		    "give a PEM bundle of the TPM makers' CAs", ca_path, wr);
		r = KW_ERR_CONFIG;
		goto out;
	}
	/* Intermediates the device sent, from the root side: each must chain
	 * to what is trusted so far before it may vouch for the next.  The
	 * manager is this call's own, so nothing outlives the check. */
	for (i = nchain; i-- > 0;) {
		/* wolfSSL would load a leaf as a CA: only a CA may vouch */
		if (kw_der_cert(chain[i], chain_len[i], &fields) != KW_OK ||
		    !fields.is_ca ||
		    wolfSSL_CertManagerVerifyBuffer(cm, chain[i],
		    (long)chain_len[i], WOLFSSL_FILETYPE_ASN1) !=
		    WOLFSSL_SUCCESS || wolfSSL_CertManagerLoadCABuffer(cm,
		    chain[i], (long)chain_len[i], WOLFSSL_FILETYPE_ASN1) !=
		    WOLFSSL_SUCCESS) {
			*reason = KW_ATTEST_EK_UNTRUSTED;
			r = KW_ERR_ATTEST;
			goto out;
		}
	}
	if ((wr = wolfSSL_CertManagerVerifyBuffer(cm, ek, (long)ek_len,
	    WOLFSSL_FILETYPE_ASN1)) != WOLFSSL_SUCCESS) {
		kw_debug("EK certificate not verified by %s (wolfSSL %d)",
		    ca_path, wr);
		*reason = KW_ATTEST_EK_UNTRUSTED;
		r = KW_ERR_ATTEST;
		goto out;
	}
	if (id != NULL && kw_attest_ek_id(ek, ek_len, id) != KW_OK)
		kw_debug("EK certificate names no TPM manufacturer");
	r = KW_OK;
out:
	if (cm != NULL)
		wolfSSL_CertManagerFree(cm);
	free(pem);
	return r;
}
