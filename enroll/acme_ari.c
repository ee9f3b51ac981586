/* ACME Renewal Information (RFC 9773): the certificate's CertID, the
 * server's suggested window read strictly, a renewal time inside it.
 * The network part (GET renewalInfo/CertID) is in acme_client.c. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kw_der.h"
#include "kw_error.h"
#include "acme.h"

int
acme_ari_certid_raw(const uint8_t *aki, size_t aki_len,
    const uint8_t *serial, size_t serial_len, char **out)
{
	char *a = NULL, *s = NULL;
	size_t n;
	int r;

	*out = NULL;
	if (aki_len == 0 || serial_len == 0)
		return KW_ERR_ARG;
	if ((r = acme_b64url(aki, aki_len, &a)) != KW_OK ||
	    (r = acme_b64url(serial, serial_len, &s)) != KW_OK)
		goto out;
	n = strlen(a) + strlen(s) + 2;
	if ((*out = malloc(n)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	snprintf(*out, n, "%s.%s", a, s);
out:
	free(a);
	free(s);
	return r;
}

int
acme_ari_certid(const uint8_t *der, size_t len, char **out)
{
	DecodedCert *dc = NULL;
	struct kw_der_cert ci;
	struct kw_der ser, sv;
	int r = KW_ERR_PARSE, inited = 0;

	*out = NULL;
	if (len == 0 || len > 0xffffffu)
		return KW_ERR_ARG;
	/* the serial's DER content as it stands (wolfSSL's DecodedCert
	 * drops the leading zero of a serial whose top bit is set) */
	if (kw_der_cert(der, len, &ci) != KW_OK)
		return KW_ERR_PARSE;
	ser = ci.serial;
	if (kw_der_get(&ser, 0x02, &sv, NULL) != KW_OK || sv.len == 0)
		return KW_ERR_PARSE;
	if ((dc = malloc(sizeof(*dc))) == NULL)
		return KW_ERR_NOMEM;
	wc_InitDecodedCert(dc, der, (word32)len, NULL);
	inited = 1;
	if (wc_ParseCert(dc, CERT_TYPE, NO_VERIFY, NULL) != 0)
		goto out;
	/* the keyIdentifier as it stands in the certificate (extAuthKeyId
	 * itself is a SHA-1 of it when it is not 20 bytes long) */
	if (!dc->extAuthKeyIdSet || dc->extAuthKeyIdSrc == NULL ||
	    dc->extAuthKeyIdSz == 0) {
		r = KW_ERR_UNSUPPORTED;
		goto out;
	}
	r = acme_ari_certid_raw(dc->extAuthKeyIdSrc, dc->extAuthKeyIdSz,
	    sv.p, sv.len, out);
out:
	if (inited)
		wc_FreeDecodedCert(dc);
	free(dc);
	return r;
}

/* RFC 3339 date-time ("2025-01-02T04:00:00Z", fractions and offsets
 * allowed) to a time_t. */
int
acme_ari_time(const char *s, time_t *out)
{
	struct tm tm;
	const char *p;
	int off = 0, oh, om;
	time_t t;

	*out = 0;
	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strlen(s) < 20 || s[10] != 'T' ||
	    (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return KW_ERR_PARSE;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return KW_ERR_PARSE;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		off = 0;
	else if ((*p == '+' || *p == '-') && strlen(p) == 6 &&
	    sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 && oh < 24 && om < 60)
		off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	else
		return KW_ERR_PARSE;
	if ((t = timegm(&tm)) == (time_t)-1)
		return KW_ERR_PARSE;
	*out = t - off;
	return KW_OK;
}

int
acme_ari_window(const char *json, size_t len, time_t *start, time_t *end)
{
	json_t *j, *w;
	int r = KW_ERR_PARSE;

	*start = *end = 0;
	if ((j = json_loadb(json, len, 0, NULL)) == NULL)
		return KW_ERR_PARSE;
	w = json_object_get(j, "suggestedWindow");
	if (json_is_object(w) &&
	    acme_ari_time(json_string_value(json_object_get(w, "start")),
	    start) == KW_OK &&
	    acme_ari_time(json_string_value(json_object_get(w, "end")),
	    end) == KW_OK && *end > *start)
		r = KW_OK;
	else
		*start = *end = 0;
	json_decref(j);
	return r;
}

time_t
acme_ari_pick(time_t start, time_t end, time_t now, uint32_t rnd)
{
	if (end <= now)
		return now;
	if (start < now)
		start = now;
	return start + (time_t)((uint64_t)rnd % (uint64_t)(end - start));
}
