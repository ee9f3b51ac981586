/* Server name checks for kw_tls (see kw_tls_name.h). */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "kw_error.h"
#include "kw_tls_name.h"

/* Case-insensitive equality of a[0..n) and b[0..n). */
static int
kw_eq_nocase(const char *a, const char *b, size_t n)
{
	return strncasecmp(a, b, n) == 0;
}

int
kw_dns_name_match(const char *pattern, size_t plen, const char *host)
{
	size_t hlen = strlen(host), i, dots = 0;
	const char *hrest, *prest;

	/* One trailing dot on the name asked for is the same name. */
	if (hlen > 1 && host[hlen - 1] == '.')
		hlen--;
	if (plen == 0 || hlen == 0 || memchr(pattern, '\0', plen) != NULL)
		return 0;
	/* No empty labels in the pattern. */
	if (pattern[0] == '.' || pattern[plen - 1] == '.')
		return 0;
	for (i = 0; i + 1 < plen; i++)
		if (pattern[i] == '.' && pattern[i + 1] == '.')
			return 0;
	if (memchr(pattern, '*', plen) == NULL)
		return plen == hlen && kw_eq_nocase(pattern, host, hlen);
	/* A wildcard: "*." then a suffix with no other '*' and at least two
	 * labels (RFC 6125 6.4.3; no partial-label wildcards). */
	if (plen < 2 || pattern[0] != '*' || pattern[1] != '.')
		return 0;
	prest = pattern + 1;		/* ".example.com" */
	if (memchr(prest, '*', plen - 1) != NULL)
		return 0;
	for (i = 1; i < plen; i++)
		dots += pattern[i] == '.';
	if (dots < 2)
		return 0;
	/* The host's first label stands for the '*': it must not be empty,
	 * and the rest must equal the pattern's suffix. */
	if ((hrest = memchr(host, '.', hlen)) == NULL || hrest == host)
		return 0;
	return (size_t)(host + hlen - hrest) == plen - 1 &&
	    kw_eq_nocase(hrest, prest, plen - 1);
}

/* The CN entries of the subject, when the certificate has no DNS SAN. */
static int
kw_cn_match(WOLFSSL_X509 *x, const char *name)
{
	WOLFSSL_X509_NAME *subj = wolfSSL_X509_get_subject_name(x);
	WOLFSSL_X509_NAME_ENTRY *ent;
	WOLFSSL_ASN1_STRING *s;
	int idx = -1, len;

	if (subj == NULL)
		return 0;
	while ((idx = wolfSSL_X509_NAME_get_index_by_NID(subj, NID_commonName,
	    idx)) >= 0) {
		if ((ent = wolfSSL_X509_NAME_get_entry(subj, idx)) == NULL ||
		    (s = wolfSSL_X509_NAME_ENTRY_get_data(ent)) == NULL ||
		    (len = wolfSSL_ASN1_STRING_length(s)) <= 0)
			continue;
		if (kw_dns_name_match((const char *)wolfSSL_ASN1_STRING_data(s),
		    (size_t)len, name))
			return 1;
	}
	return 0;
}

int
kw_cert_check_name(struct WOLFSSL_X509 *x, const char *name)
{
	WOLFSSL_GENERAL_NAMES *sans = NULL;
	WOLFSSL_GENERAL_NAME *gn;
	WOLFSSL_ASN1_STRING *s;
	unsigned char ip[sizeof(struct in6_addr)];
	size_t iplen = 0;
	int i, n, len, dns_sans = 0, hit = 0;

	if (x == NULL || name == NULL || *name == '\0')
		return KW_ERR_PEER_VERIFY;
	if (inet_pton(AF_INET, name, ip) == 1)
		iplen = 4;
	else if (inet_pton(AF_INET6, name, ip) == 1)
		iplen = 16;
	sans = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	n = sans ? wolfSSL_sk_GENERAL_NAME_num(sans) : 0;
	for (i = 0; i < n && !hit; i++) {
		if ((gn = wolfSSL_sk_GENERAL_NAME_value(sans, i)) == NULL)
			continue;
		if (gn->type == GEN_IPADD && iplen > 0 &&
		    (s = gn->d.iPAddress) != NULL &&
		    wolfSSL_ASN1_STRING_length(s) == (int)iplen &&
		    memcmp(wolfSSL_ASN1_STRING_data(s), ip, iplen) == 0)
			hit = 1;
		else if (gn->type == GEN_DNS && (s = gn->d.dNSName) != NULL) {
			dns_sans++;
			len = wolfSSL_ASN1_STRING_length(s);
			if (iplen == 0 && len > 0 && kw_dns_name_match(
			    (const char *)wolfSSL_ASN1_STRING_data(s),
			    (size_t)len, name))
				hit = 1;
		}
	}
	/* The subject CN: only for a DNS name, only without DNS SANs. */
	if (!hit && iplen == 0 && dns_sans == 0)
		hit = kw_cn_match(x, name);
	if (sans != NULL)
		wolfSSL_GENERAL_NAMES_free(sans);
	return hit ? KW_OK : KW_ERR_PEER_VERIFY;
}
