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
static void
kw_apply_csrattrs(const struct est_csrattrs *attrs, struct kw_key *key,
    const char **sans, size_t *nsans)
{
	size_t i;

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
		kw_info("csrattrs: the EST server asks for a challengePassword: "
		    "the CSR carries the TLS channel binding there "
		    "(proof-of-possession linking, RFC 7030 3.5)");
	if (attrs->want_sha384 && kw_key_alg(key) != KW_ALG_EC_P384)
		kw_warn("csrattrs: the EST server prefers SHA-384 signatures; "
		    "the CSR is signed with the key's default hash");
	for (i = 0; i < attrs->nunknown; i++)
		kw_warn("csrattrs: the EST server asks for %s, which keyward "
		    "cannot map into the CSR (ignored)", attrs->unknown[i]);
}

/* What a CSR is made of; also the maker for linked enrollments. */
struct kw_csr_job {
	struct kw_key *key;
	struct kw_csr_req creq;
	const char *sans[KW_ID_MAX_SANS];
};

static int
kw_csr_job_make(void *arg, const char *challenge, uint8_t **der,
    size_t *der_len)
{
	struct kw_csr_job *job = arg;
	int r;

	job->creq.challenge = challenge;
	r = kw_csr_make(job->key, &job->creq, der, der_len);
	job->creq.challenge = NULL;
	if (r != KW_OK)
		kw_err("cannot build the CSR with the hardware key: %s",
		    kw_strerror(r));
	return r;
}

/* The CSR's contents: the request's names plus those of /csrattrs, and
 * whether it is linked to the TLS session (asked for, or forced). */
static int
kw_enroll_prepare(struct est_client *c, const struct kw_enroll_req *req,
    struct est_csrattrs *attrs, struct kw_csr_job *job, int *link)
{
	size_t i;
	int found, r;

	memset(job, 0, sizeof(*job));
	*link = req->pop_linking;
	job->key = req->key;
	for (i = 0; i < req->nsans && job->creq.nsans < KW_ID_MAX_SANS; i++)
		job->sans[job->creq.nsans++] = req->sans[i];
	job->creq.subject = req->subject;
	job->creq.sans = job->sans;
	job->creq.evidence = req->evidence;
	job->creq.evidence_len = req->evidence_len;
	/* Advisory (RFC 7030 4.5): an answer that cannot be read does not
	 * stop enrollment. */
	if ((r = est_fetch_csrattrs(c, attrs, &found)) == KW_ERR_PROTOCOL) {
		kw_warn("csrattrs: the EST server's answer cannot be used; "
		    "enrolling without it");
		est_csrattrs_clear(attrs);
		found = 0;
	} else if (r != 0)
		return r;
	if (found && attrs->want_challenge_password)
		*link = 1;
	/* a remembered CSR is resent as it is unless it must be linked */
	if (found && (req->csr_b64 == NULL || *link))
		kw_apply_csrattrs(attrs, req->key, job->sans, &job->creq.nsans);
	if (*link && req->csr_b64 != NULL)
		kw_info("the pending CSR is made again with the same key: the "
		    "EST server links it to the TLS session");
	return KW_OK;
}

/* Send the request, waiting on 202 up to req->wait_s; *csr is the last
 * CSR sent. */
static int
kw_enroll_send(struct est_client *c, const struct kw_enroll_req *req,
    struct kw_csr_job *job, int link, const uint8_t *spki, size_t spki_len,
    uint8_t **csr, size_t *csr_len, struct kw_enroll_res *res)
{
	struct est_csr_maker mk = { kw_csr_job_make, job };
	uint8_t *made;
	size_t made_len;
	unsigned waited = 0, retry;
	int r;

	for (;;) {
		if (link) {
			r = est_enroll_linked(c, req->reenroll, &mk, spki,
			    spki_len, &res->certs, &retry, &made, &made_len);
			if (made != NULL) {
				free(*csr);
				*csr = made;
				*csr_len = made_len;
			}
		} else
			r = est_enroll(c, req->reenroll, *csr, *csr_len, spki,
			    spki_len, &res->certs, &retry);
		if (r != KW_ERR_PENDING)
			return r;
		res->retry_after = retry;
		if (waited + retry > req->wait_s) {
			kw_info("the EST server has not approved the request yet "
			    "(asked to retry in %u s; waited %u s of %u)", retry,
			    waited, req->wait_s);
			return r;
		}
		kw_info("the EST server holds the request for approval; "
		    "retrying in %u s", retry);
		if (kw_cancel_wait(req->cancel, -1, 0,
		    kw_deadline((int)retry * 1000)) == KW_ERR_CANCELLED) {
			/* the CA keeps the request: the caller remembers it */
			kw_info("waiting for the approval was cancelled; the "
			    "request stays pending at the CA");
			return KW_ERR_PENDING;
		}
		waited += retry;
	}
}

int
kw_enroll_run(const struct kw_enroll_req *req, struct kw_enroll_res *res)
{
	struct est_conf conf;
	struct est_client *c = NULL;
	struct est_csrattrs attrs;
	struct kw_csr_job job;
	uint8_t spki[KW_MAX_PUBKEY_DER], *csr = NULL;
	size_t spki_len = sizeof(spki), csr_len = 0, i, b64l;
	int r, e, link = 0;

	if (req->protocol != NULL && strcmp(req->protocol, "acme") == 0)
		return kw_enroll_run_acme(req, res);
	if (req->protocol != NULL && strcmp(req->protocol, "scep") == 0)
		return kw_enroll_run_scep(req, res);
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
	conf.cancel = req->cancel;
	if ((r = kw_key_public_der(req->key, spki, &spki_len)) != 0) {
		kw_err("cannot read the public key of the key to enroll: %s",
		    kw_strerror(r));
		goto out;
	}
	if ((r = est_client_new(&conf, &c)) != 0 ||
	    (r = est_fetch_cacerts(c)) != 0 ||
	    (r = kw_enroll_prepare(c, req, &attrs, &job, &link)) != 0)
		goto out;
	if (req->csr_b64 != NULL && !link) {
		/* resume: the very same CSR the CA already has */
		if ((r = est_b64_decode(req->csr_b64, strlen(req->csr_b64), &csr,
		    &csr_len)) != 0) {
			kw_err("the remembered CSR in the state file is damaged");
			goto out;
		}
		kw_info("resuming the pending enrollment with the same CSR");
	} else if (!link &&
	    (r = kw_csr_job_make(&job, NULL, &csr, &csr_len)) != 0)
		goto out;
	r = kw_enroll_send(c, req, &job, link, spki, spki_len, &csr, &csr_len,
	    res);
	/* the CSR sent, remembered for a resume */
	if (csr != NULL && (r == KW_OK || r == KW_ERR_PENDING) &&
	    (e = est_b64_encode(csr, csr_len, &res->csr_b64, &b64l)) != 0)
		r = e;
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
