/* One SCEP enrollment for an identity (first enrollment and renewal):
 * the key checked for decryption before the CA is contacted, the CSR
 * signed by the key with the challenge password (read from its 0600 file,
 * wiped), PKCSReq through a transient self-signed certificate or, when
 * renewing, RenewalReq signed with the current certificate and key; the
 * issued certificate verified (our key, chained to the CA) before
 * anything is returned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_secret.h"
#include "kw_tls.h"
#include "agent/identity/identity.h"
#include "enroll/csr.h"
#include "enroll/est.h"
#include "enroll/scep.h"

/* The challenge password: the first line of a file only its owner reads. */
static int
scep_read_challenge(const char *path, char **out)
{
	int r;

	*out = NULL;
	if (path == NULL)
		return KW_OK;
	if ((r = kw_secret_file_read(path, "SCEP challenge file", out)) !=
	    KW_OK)
		kw_err("cannot read the SCEP challenge password from %s: %s",
		    path, kw_strerror(r));
	return r;
}

/* RenewalReq's signer: the current certificate (file or DER given). */
static int
scep_current_cert(const struct kw_enroll_req *req, uint8_t **der,
    size_t *len)
{
	int r;

	*der = NULL;
	*len = 0;
	if (req->auth_cert_der != NULL) {
		if ((*der = malloc(req->auth_cert_der_len)) == NULL)
			return KW_ERR_NOMEM;
		memcpy(*der, req->auth_cert_der, req->auth_cert_der_len);
		*len = req->auth_cert_der_len;
		return KW_OK;
	}
	if ((r = kw_cert_read_file(req->auth_cert, der, len)) != KW_OK)
		kw_err("cannot read the current certificate %s: %s",
		    req->auth_cert, kw_strerror(r));
	else if ((r = kw_cert_matches_key(*der, *len, req->auth_key)) !=
	    KW_OK)
		kw_err("the current certificate %s is not for the current "
		    "key: the RenewalReq cannot be signed", req->auth_cert);
	return r;
}

int
kw_enroll_run_scep(const struct kw_enroll_req *req, struct kw_enroll_res *res)
{
	struct scep_conf conf;
	struct scep_client *c = NULL;
	struct scep_req sr;
	struct kw_csr_req creq;
	const struct est_certs *ca;
	char *challenge = NULL;
	uint8_t *csr = NULL, *cur = NULL;
	size_t csr_len = 0, cur_len = 0, i;
	int r, renew;

	memset(res, 0, sizeof(*res));
	if (req->key == NULL || req->subject == NULL)
		return KW_ERR_ARG;
	renew = req->reenroll && req->auth_key != NULL &&
	    (req->auth_cert != NULL || req->auth_cert_der != NULL);
	/* before any contact: the CA's answer is encrypted to this key */
	if (!kw_alg_is_rsa(kw_key_alg(req->key))) {
		kw_err("SCEP needs an RSA key (the CA encrypts its answer to "
		    "it); this key is %s: make one with `keyward keygen --alg "
		    "rsa2048 --usage sign,decrypt`", kw_alg_name(kw_key_alg(
		    req->key)));
		return KW_ERR_UNSUPPORTED;
	}
	/* (a RenewalReq's answer is encrypted to the current key) */
	if ((r = kw_key_can_decrypt(req->key)) != KW_OK ||
	    (renew && (r = kw_key_can_decrypt(req->auth_key)) != KW_OK)) {
		kw_err("SCEP cannot use this key: the CA encrypts its answer "
		    "to it, and %s", KW_KEY_SIGN_ONLY_HINT);
		return KW_ERR_UNSUPPORTED;
	}
	if ((r = scep_read_challenge(req->scep != NULL ?
	    req->scep->challenge_file : NULL, &challenge)) != KW_OK)
		goto out;
	if (renew && (r = scep_current_cert(req, &cur, &cur_len)) != KW_OK)
		goto out;
	memset(&creq, 0, sizeof(creq));
	creq.subject = req->subject;
	creq.sans = req->sans;
	creq.nsans = req->nsans;
	creq.challenge = challenge;
	if ((r = kw_csr_check(&creq)) != KW_OK)
		goto out;
	if ((r = kw_csr_make(req->key, &creq, &csr, &csr_len)) != KW_OK) {
		kw_err("cannot build the CSR with the hardware key: %s",
		    kw_strerror(r));
		goto out;
	}
	memset(&conf, 0, sizeof(conf));
	conf.url = req->server;
	conf.ca_file = req->ca_file;
	conf.ca_fingerprint = req->ca_file != NULL ? NULL :
	    req->ca_fingerprint;
	conf.timeout_ms = req->timeout_ms;
	conf.cancel = req->cancel;
	memset(&sr, 0, sizeof(sr));
	sr.key = req->key;
	sr.csr = csr;
	sr.csr_len = csr_len;
	if (renew) {
		sr.renew_cert = cur;
		sr.renew_cert_len = cur_len;
		sr.renew_key = req->auth_key;
	}
	sr.wait_s = req->wait_s;
	if ((r = scep_client_new(&conf, &c)) != KW_OK ||
	    (r = scep_fetch_ca(c)) != KW_OK)
		goto out;
	/* PENDING: nothing remembered (the CSR holds the challenge); the
	 * next run asks again with the same key, hence the same
	 * transactionID */
	if ((r = scep_enroll(c, &sr, &res->certs)) != KW_OK)
		goto out;
	ca = scep_cacerts(c);
	for (i = 0; i < ca->n; i++)
		if ((r = est_certs_add(&res->cacerts, ca->c[i].der,
		    ca->c[i].len)) != KW_OK)
			goto out;
out:
	if (r != KW_OK && r != KW_ERR_PENDING)
		kw_enroll_res_clear(res);
	scep_client_free(c);
	kw_free_secret(challenge);
	/* the CSR carries the challenge password */
	if (csr != NULL)
		kw_freezero(csr, csr_len);
	free(cur);
	return r;
}
