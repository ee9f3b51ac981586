/* Is a server certificate for the name the client asked for?  The rules
 * of RFC 6125 (section 6.4) as OpenSSL applies them with partial wildcards
 * off, checked by kw_tls's verify callback while the server's Certificate
 * message is processed, so a mismatch ends the handshake before our own
 * certificate and signature are sent.  Kept apart from kw_tls.c so the
 * matcher can be tested and fuzzed on its own. */
#ifndef KW_TLS_NAME_H
#define KW_TLS_NAME_H

#include <stddef.h>

struct WOLFSSL_X509;

/* 1 when the certificate DNS name pattern[0..plen) matches host, 0 when
 * not.  Case-insensitive, whole labels only.  A wildcard is honoured only
 * as the whole left-most label ("*.example.com"), standing for exactly one
 * non-empty label, and only over a suffix of two labels or more: "*",
 * "*.com", "*.example", "svc.*.example", "f*.example" and "*.*.example"
 * match nothing.  A pattern with a NUL byte or empty label matches
 * nothing. */
int kw_dns_name_match(const char *pattern, size_t plen, const char *host);

/* KW_OK when the certificate is for name: an IP address (v4 or v6) must
 * equal one of its IP address SANs (never the subject CN); a DNS name must
 * match one of its DNS SANs, or, only when it has no DNS SAN, its subject
 * CN.  KW_ERR_PEER_VERIFY otherwise. */
int kw_cert_check_name(struct WOLFSSL_X509 *x, const char *name);

#endif
