/* One EST enrollment for a hardware key, shared by `keyward enroll est`
 * and renewal: /cacerts (trust), /csrattrs (honoured), the CSR signed by
 * the key, /simpleenroll or /simplereenroll with bounded waiting on 202,
 * and the issued certificate checked against the key and the CA. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "agent/identity/identity.h"
#include "enroll/csr.h"
#include "enroll/est.h"
#include "enroll/est_der.h"

void
kw_enroll_res_clear(struct kw_enroll_res *res)
{
	est_certs_clear(&res->certs);
	est_certs_clear(&res->cacerts);
	free(res->csr_b64);
	memset(res, 0, sizeof(*res));
}

static int
kw_san_present(const char *const *sans, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(sans[i], s) == 0)
			return 1;
	return 0;
}

/* Honour /csrattrs: names the server wants are added, the rest reported. */
static int
kw_apply_csrattrs(struct est_client *c, struct kw_key *key, const char **sans, size_t *nsans,
    struct est_csrattrs *attrs)
{
	size_t i;
	int found, r;

	if ((r = est_fetch_csrattrs(c, attrs, &found)) != 0)
		return r;
	if (!found)
		return KW_OK;
	kw_debug("EST server publishes csrattrs: %zu name(s), %zu other item(s)",
	    attrs->nsans, attrs->nunknown);
	for (i = 0; i < attrs->nsans; i++) {
		if (kw_san_present(sans, *nsans, attrs->sans[i]))
			continue;
		if (*nsans >= KW_ID_MAX_SANS) {
			kw_warn("csrattrs: too many subjectAltNames, '%s' left "
			    "out", attrs->sans[i]);
			continue;
		}
		kw_info("csrattrs: adding subjectAltName %s asked for by the "
		    "EST server", attrs->sans[i]);
		sans[(*nsans)++] = attrs->sans[i];
	}
	if (attrs->want_san && *nsans == 0)
		kw_warn("csrattrs: the EST server asks for a subjectAltName; "
		    "give one with --san");
	if (attrs->want_challenge_password)
		kw_warn("csrattrs: the EST server asks for a challengePassword, "
		    "which keyward does not send (authenticate with --user/"
		    "--password-file or a bootstrap certificate)");
	if (attrs->want_sha384 && kw_key_alg(key) != KW_ALG_EC_P384)
		kw_warn("csrattrs: the EST server prefers SHA-384 signatures; "
		    "the CSR is signed with the key's default hash");
	for (i = 0; i < attrs->nunknown; i++)
		kw_warn("csrattrs: the EST server asks for %s, which keyward "
		    "cannot map into the CSR (ignored)", attrs->unknown[i]);
	return KW_OK;
}

int
kw_enroll_run(const struct kw_enroll_req *req, struct kw_enroll_res *res)
{
	struct est_conf conf;
	struct est_client *c = NULL;
	struct est_csrattrs attrs;
	struct kw_csr_req creq;
	const char *sans[KW_ID_MAX_SANS];
	uint8_t spki[KW_MAX_PUBKEY_DER], *csr = NULL;
	size_t spki_len = sizeof(spki), csr_len = 0, nsans = 0, i, b64l;
	unsigned waited = 0, retry;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&attrs, 0, sizeof(attrs));
	memset(&conf, 0, sizeof(conf));
	conf.url = req->server;
	conf.ca_file = req->ca_file;
	conf.ca_fingerprint = req->ca_file ? NULL : req->ca_fingerprint;
	conf.user = req->user;
	conf.password = req->password;
	conf.client_key = req->auth_key;
	conf.client_cert_file = req->auth_cert;
	conf.client_cert_der = req->auth_cert_der;
	conf.client_cert_der_len = req->auth_cert_der_len;
	conf.timeout_ms = req->timeout_ms;
	if ((r = kw_key_public_der(req->key, spki, &spki_len)) != 0) {
		kw_err("cannot read the public key of the key to enroll: %s",
		    kw_strerror(r));
		goto out;
	}
	if ((r = est_client_new(&conf, &c)) != 0 ||
	    (r = est_fetch_cacerts(c)) != 0)
		goto out;
	if (req->csr_b64 != NULL) {
		/* resume: the very same CSR the CA already has */
		if ((r = est_b64_decode(req->csr_b64, strlen(req->csr_b64), &csr,
		    &csr_len)) != 0) {
			kw_err("the remembered CSR in the state file is damaged");
			goto out;
		}
		kw_info("resuming the pending enrollment with the same CSR");
	} else {
		for (i = 0; i < req->nsans && nsans < KW_ID_MAX_SANS; i++)
			sans[nsans++] = req->sans[i];
		if ((r = kw_apply_csrattrs(c, req->key, sans, &nsans,
		    &attrs)) != 0)
			goto out;
		memset(&creq, 0, sizeof(creq));
		creq.subject = req->subject;
		creq.sans = sans;
		creq.nsans = nsans;
		if ((r = kw_csr_make(req->key, &creq, &csr, &csr_len)) != 0) {
			kw_err("cannot build the CSR with the hardware key: %s",
			    kw_strerror(r));
			goto out;
		}
	}
	if ((r = est_b64_encode(csr, csr_len, &res->csr_b64, &b64l)) != 0)
		goto out;
	for (;;) {
		r = est_enroll(c, req->reenroll, csr, csr_len, spki, spki_len,
		    &res->certs, &retry);
		if (r != KW_ERR_PENDING)
			break;
		res->retry_after = retry;
		if (waited + retry > req->wait_s) {
			kw_info("the EST server has not approved the request yet "
			    "(asked to retry in %u s; waited %u s of %u)", retry,
			    waited, req->wait_s);
			goto out;
		}
		kw_info("the EST server holds the request for approval; "
		    "retrying in %u s", retry);
		sleep(retry);
		waited += retry;
	}
	if (r != KW_OK)
		goto out;
	for (i = 0; i < est_cacerts(c)->n; i++)
		if ((r = est_certs_add(&res->cacerts, est_cacerts(c)->c[i].der,
		    est_cacerts(c)->c[i].len)) != 0)
			goto out;
	r = KW_OK;
out:
	if (r != KW_OK && r != KW_ERR_PENDING) {
		est_certs_clear(&res->certs);
		est_certs_clear(&res->cacerts);
	}
	est_csrattrs_clear(&attrs);
	free(csr);
	est_client_free(c);
	return r;
}

int
kw_enroll_store(const struct kw_enroll_res *res, const char *cert_path,
    const char *chain_path)
{
	struct est_certs chain, leaf;
	char *pem = NULL;
	size_t len, i, j;
	int r, dup;

	memset(&chain, 0, sizeof(chain));
	memset(&leaf, 0, sizeof(leaf));
	if (res->certs.n == 0)
		return KW_ERR_ARG;
	if (chain_path != NULL) {
		/* chain: what the server sent with the leaf, then the CA
		 * certificates not already in it */
		for (i = 1; i < res->certs.n; i++)
			if ((r = est_certs_add(&chain, res->certs.c[i].der,
			    res->certs.c[i].len)) != 0)
				goto out;
		for (i = 0; i < res->cacerts.n; i++) {
			for (dup = 0, j = 0; j < chain.n; j++)
				dup |= chain.c[j].len == res->cacerts.c[i].len &&
				    memcmp(chain.c[j].der, res->cacerts.c[i].der,
				    chain.c[j].len) == 0;
			if (!dup && (r = est_certs_add(&chain,
			    res->cacerts.c[i].der, res->cacerts.c[i].len)) != 0)
				goto out;
		}
		if ((r = est_certs_pem(&chain, 0, &pem, &len)) != 0 ||
		    (r = kw_file_write_atomic(chain_path, pem, len, 0644, 0)) != 0)
			goto out;
		free(pem);
		pem = NULL;
	}
	/* the certificate file holds the leaf only */
	if ((r = est_certs_add(&leaf, res->certs.c[0].der,
	    res->certs.c[0].len)) != 0 ||
	    (r = est_certs_pem(&leaf, 0, &pem, &len)) != 0 ||
	    (r = kw_file_write_atomic(cert_path, pem, len, 0644, 0)) != 0)
		goto out;
out:
	if (r != KW_OK)
		kw_err("cannot store the certificate: %s", kw_strerror(r));
	free(pem);
	est_certs_clear(&chain);
	est_certs_clear(&leaf);
	return r;
}
