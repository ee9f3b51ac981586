/* PKCS#10 certification requests signed through the key interface. */
#ifndef KW_CSR_H
#define KW_CSR_H

#include <stddef.h>
#include <stdint.h>

#include "kw_key.h"

struct kw_csr_req {
	const char *subject;		/* "CN=...,O=...,OU=..." */
	const char *const *sans;	/* "dns:NAME", "uri:URI", "email:A", "ip:A" */
	size_t nsans;
};

/* Build and sign a CSR with key; *der is malloc'd. */
int kw_csr_make(struct kw_key *key, const struct kw_csr_req *req,
    uint8_t **der, size_t *der_len);
/* DER -> PEM ("CERTIFICATE REQUEST"); *pem malloc'd, NUL-terminated. */
int kw_csr_pem(const uint8_t *der, size_t der_len, char **pem);

#endif
