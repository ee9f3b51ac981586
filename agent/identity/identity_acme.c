/* One ACME enrollment for an identity (first enrollment and renewal):
 * the account key opened from its reference, the challenge responder
 * started for the life of the order, the CSR signed by the key being
 * certified, the chain verified against the issuer CA (or the top of what
 * the server sent) before anything is returned. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_secret.h"
#include "agent/identity/identity.h"
#include "agent/identity/renew.h"
#include "enroll/acme.h"
#include "enroll/csr.h"
#include "enroll/est.h"

int
kw_acme_challenge_check(const char *spec)
{
	const char *sp = spec != NULL ? strchr(spec, ' ') : NULL;
	size_t n = sp != NULL ? (size_t)(sp - spec) : 0;
	int type_ok;

	type_ok = (n == 7 && strncmp(spec, "http-01", 7) == 0) ||
	    (n == 11 && strncmp(spec, "tls-alpn-01", 11) == 0);
	if (!type_ok || sp[1] == '\0' || strchr(sp + 1, ':') == NULL) {
		kw_err("challenge '%s': expected 'http-01 HOST:PORT' or "
		    "'tls-alpn-01 HOST:PORT'", spec ? spec : "");
		return KW_ERR_CONFIG;
	}
	return KW_OK;
}

/* The EAB MAC key: base64url, first line of a file only its owner reads. */
static int
acme_read_eab(const char *path, uint8_t **mac, size_t *len)
{
	char *s = NULL;
	int r;

	*mac = NULL;
	*len = 0;
	if ((r = kw_secret_file_read(path, "EAB MAC key file", &s)) != KW_OK) {
		kw_err("cannot read the EAB MAC key from %s: %s", path,
		    kw_strerror(r));
		return r;
	}
	if ((r = acme_b64url_decode(s, mac, len)) != KW_OK || *len < 16) {
		kw_err("%s: the EAB MAC key is not base64url of at least 16 "
		    "bytes", path);
		if (*mac != NULL)
			kw_freezero(*mac, *len);
		*mac = NULL;
		*len = 0;
		r = KW_ERR_PARSE;
	}
	kw_free_secret(s);
	return r;
}

int
kw_acme_open_account(const char *ref, const struct kw_keyref_opts *o,
    struct kw_key **out)
{
	int r;

	if (kw_keyref_exists(ref, o) == 1)
		return kw_keyref_open(ref, o, out);
	kw_info("creating the ACME account key %s (ec-p256)", ref);
	if ((r = kw_keyref_generate(ref, KW_ALG_EC_P256, o, out)) != KW_OK)
		kw_err("cannot create the ACME account key %s: %s", ref,
		    kw_strerror(r));
	return r;
}

/* The chain as issued, leaf for our key first: verified to the issuer CA
 * when one is configured (kept in res->cacerts), else to the top of what
 * the server sent.  est_verify_issued says why it refuses. */
static int
acme_check_chain(const struct kw_enroll_req *req, struct kw_enroll_res *res)
{
	uint8_t spki[KW_MAX_PUBKEY_DER];
	size_t slen = sizeof(spki);
	struct est_certs top;
	int r;

	memset(&top, 0, sizeof(top));
	if ((r = kw_key_public_der(req->key, spki, &slen)) != KW_OK)
		return r;
	if (req->acme->issuer_ca != NULL) {
		if ((r = est_certs_from_file(req->acme->issuer_ca,
		    &res->cacerts)) != KW_OK) {
			kw_err("cannot read the issuer CA %s: %s",
			    req->acme->issuer_ca, kw_strerror(r));
			return r;
		}
		return est_verify_issued(&res->cacerts, &res->certs, spki,
		    slen);
	}
	if ((r = est_certs_add(&top, res->certs.c[res->certs.n - 1].der,
	    res->certs.c[res->certs.n - 1].len)) == KW_OK)
		r = est_verify_issued(&top, &res->certs, spki, slen);
	est_certs_clear(&top);
	return r;
}

/* The CertID (RFC 9773) of the first certificate in a PEM file; NULL
 * when the file has none or it carries no AKI. */
static char *
acme_file_certid(const char *path)
{
	struct est_certs certs;
	char *id = NULL;

	memset(&certs, 0, sizeof(certs));
	if (path != NULL && est_certs_from_file(path, &certs) == KW_OK &&
	    certs.n > 0)
		(void)acme_ari_certid(certs.c[0].der, certs.c[0].len, &id);
	est_certs_clear(&certs);
	return id;
}

#define ARI_RETRY_MIN	3600
#define ARI_RETRY_MAX	86400
#define ARI_RETRY_DEF	(6 * 3600)

/* Record what the check found: under the identity's lock, on the state
 * as it is on disk now, and only if it still names the certificate that
 * was asked about (another process may have renewed meanwhile). */
static int
acme_ari_record(struct kw_identity *id, time_t now, time_t asked_na,
    time_t start, time_t end, time_t next)
{
	uint32_t rnd = 0;
	int fd = -1, r;

	if ((r = kw_identity_lock(id, &fd)) != KW_OK)
		return r;
	if ((r = kw_identity_reload(id, now)) != KW_OK ||
	    id->not_after != asked_na)
		goto out;
	if (end != 0 && (id->ari_start != start || id->ari_end != end ||
	    id->ari_at == 0)) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)now;
		id->ari_at = acme_ari_pick(start, end, now, rnd);
	} else if (end == 0)
		id->ari_at = 0;
	id->ari_start = start;
	id->ari_end = end;
	id->ari_checked = now;
	id->ari_next = next;
	if (end != 0)
		kw_info("identity %s: ACME renewal window %+lds..%+lds, "
		    "renewing in %lds", id->path, (long)(start - now),
		    (long)(end - now), (long)(id->ari_at - now));
	if ((r = kw_identity_save(id)) != KW_OK)
		kw_warn("identity %s: cannot record the renewal information: "
		    "%s", id->path, kw_strerror(r));
out:
	kw_identity_unlock(fd);
	return r;
}

#define ARI_RETRY_MIN	3600
#define ARI_RETRY_MAX	86400
#define ARI_RETRY_DEF	(6 * 3600)

int
kw_renew_ari_refresh(struct kw_identity *id, time_t now, int timeout_ms,
    const struct kw_cancel *cancel)
{
	struct acme_conf conf;
	struct acme_client *c = NULL;
	char *certid = NULL;
	time_t start = 0, end = 0;
	unsigned ra = 0;
	int r;

	if (id->protocol == NULL || strcmp(id->protocol, "acme") != 0 ||
	    id->server == NULL || id->ca_file == NULL ||
	    (id->ari_checked != 0 && now < id->ari_next))
		return KW_OK;
	if ((certid = acme_file_certid(id->cert_file)) == NULL) {
		kw_debug("identity %s: no CertID for %s (no AKI?): no ARI",
		    id->path, id->cert_file);
		r = acme_ari_record(id, now, id->not_after, 0, 0,
		    now + ARI_RETRY_MAX);
		goto out;
	}
	memset(&conf, 0, sizeof(conf));
	conf.directory_url = id->server;
	conf.ca_file = id->ca_file;
	conf.timeout_ms = timeout_ms;
	conf.cancel = cancel;
	if ((r = acme_client_new(&conf, &c)) == KW_OK)
		r = acme_renewal_info(c, certid, &start, &end, &ra);
	if (r == KW_ERR_CANCELLED)
		goto out;
	if (r != KW_OK)
		start = end = 0;
	if (ra == 0)
		ra = r == KW_OK ? ARI_RETRY_DEF : ARI_RETRY_MIN;
	if (r == KW_ERR_UNSUPPORTED)
		ra = ARI_RETRY_MAX;
	r = acme_ari_record(id, now, id->not_after, start, end,
	    now + (ra < ARI_RETRY_MIN ? ARI_RETRY_MIN :
	    ra > ARI_RETRY_MAX ? ARI_RETRY_MAX : ra));
out:
	acme_client_free(c);
	free(certid);
	return r;
}

/* Start the responder named by "TYPE ADDR". */
static int
acme_responder_start(const char *spec, struct kw_key *key,
    struct acme_http01 **h, struct acme_tlsalpn **t,
    struct acme_responder *resp)
{
	const char *addr;
	int r;

	*h = NULL;
	*t = NULL;
	if ((r = kw_acme_challenge_check(spec)) != KW_OK)
		return r;
	addr = strchr(spec, ' ') + 1;
	if (strncmp(spec, "http-01", 7) == 0) {
		if ((r = acme_http01_start(addr, h)) == KW_OK)
			acme_http01_responder(*h, resp);
	} else if ((r = acme_tlsalpn_start(addr, key, t)) == KW_OK)
		acme_tlsalpn_responder(*t, resp);
	return r;
}

int
kw_enroll_run_acme(const struct kw_enroll_req *req, struct kw_enroll_res *res)
{
	struct acme_conf conf;
	struct acme_client *c = NULL;
	struct acme_http01 *h = NULL;
	struct acme_tlsalpn *t = NULL;
	struct acme_responder resp;
	struct kw_key *acct = NULL;
	struct kw_csr_req creq;
	const char *contacts[1];
	char subject[300];
	uint8_t *mac = NULL, *csr = NULL;
	char *certid = NULL;
	size_t mac_len = 0, csr_len = 0, b64l;
	int r;

	memset(res, 0, sizeof(*res));
	if (req->acme == NULL || req->acme->account_key_ref == NULL ||
	    req->kopts == NULL || req->nsans == 0)
		return KW_ERR_ARG;
	/* a validation server may close mid-handshake: an error, not a
	 * reason to die */
	signal(SIGPIPE, SIG_IGN);
	if (req->acme->eab_kid != NULL &&
	    (r = acme_read_eab(req->acme->eab_hmac_file, &mac, &mac_len)) !=
	    KW_OK)
		goto out;
	if ((r = kw_acme_open_account(req->acme->account_key_ref, req->kopts,
	    &acct)) != KW_OK)
		goto out;
	memset(&conf, 0, sizeof(conf));
	conf.directory_url = req->server;
	conf.ca_file = req->ca_file;
	conf.account_key = acct;
	if (req->acme->contact != NULL) {
		contacts[0] = req->acme->contact;
		conf.contacts = contacts;
		conf.ncontacts = 1;
	}
	conf.eab_kid = req->acme->eab_kid;
	conf.eab_hmac = mac;
	conf.eab_hmac_len = mac_len;
	conf.timeout_ms = req->timeout_ms;
	conf.wait_s = req->wait_s;
	conf.cancel = req->cancel;
	if ((r = acme_client_new(&conf, &c)) != KW_OK ||
	    (r = acme_account(c)) != KW_OK)
		goto out;
	/* a renewal names the certificate it replaces (RFC 9773 5) */
	if (req->reenroll && acme_has_ari(c) &&
	    (certid = acme_file_certid(req->auth_cert)) != NULL &&
	    (r = acme_set_replaces(c, certid)) != KW_OK)
		goto out;
	if (req->subject != NULL)
		snprintf(subject, sizeof(subject), "%s", req->subject);
	else
		snprintf(subject, sizeof(subject), "CN=%s",
		    strchr(req->sans[0], ':') + 1);
	memset(&creq, 0, sizeof(creq));
	creq.subject = subject;
	creq.sans = req->sans;
	creq.nsans = req->nsans;
	if ((r = kw_csr_check(&creq)) != KW_OK ||
	    (r = kw_csr_make(req->key, &creq, &csr, &csr_len)) != KW_OK)
		goto out;
	if ((r = est_b64_encode(csr, csr_len, &res->csr_b64, &b64l)) != KW_OK)
		goto out;
	if (req->acme->challenge != NULL &&
	    (r = acme_responder_start(req->acme->challenge, req->key, &h, &t,
	    &resp)) != KW_OK)
		goto out;
	r = acme_order(c, req->sans, req->nsans, h || t ? &resp : NULL, csr,
	    csr_len, &res->certs);
	acme_http01_stop(h);
	acme_tlsalpn_stop(t);
	if (r == KW_OK)
		r = acme_check_chain(req, res);
out:
	if (r != KW_OK)
		kw_enroll_res_clear(res);
	acme_client_free(c);
	kw_key_close(acct);
	if (mac != NULL)
		kw_freezero(mac, mac_len);
	free(csr);
	free(certid);
	return r;
}
