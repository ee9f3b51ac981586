/* Identities inside the agent: the state file's contents and the
 * enrollment step shared by `keyward enroll est` and renewal.  Only
 * agent/identity*.c, agent/renew.c and agent/cmd_enroll.c include this;
 * the daemon uses renew.h. */
#ifndef KW_IDENTITY_H
#define KW_IDENTITY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kw_key.h"
#include "agent/keys/keyref.h"
#include "agent/identity/renew.h"
#include "enroll/est_der.h"

#define KW_ID_MAX_SANS		16
#define KW_ID_MAX_OLD		8
#define KW_ID_DEFAULT_GRACE	3600	/* old key kept this long, seconds */

/* A renewal in progress (its intent is written before a key is made). */
enum kw_renew_phase {
	KW_PHASE_NONE = 0,
	KW_PHASE_INTENT,	/* new key may exist half-made: clean up */
	KW_PHASE_PENDING,	/* new key made, CSR sent, CA said 202 */
};

/* ACME settings of an identity (protocol "acme"); see acme(7) terms in
 * `keyward enroll acme --help`. */
struct kw_acme_id {
	char *account_key_ref;		/* the account key, in hardware */
	char *challenge;		/* "http-01 ADDR" or "tls-alpn-01 ADDR" */
	char *eab_kid;			/* External Account Binding (first */
	char *eab_hmac_file;		/* contact only), MAC key file */
	char *issuer_ca;		/* the chain must end here (optional) */
	char *contact;			/* account contact URI (optional) */
};

/* SCEP settings of an identity (protocol "scep"). */
struct kw_scep_id {
	char *challenge_file;		/* challenge password file (0600) */
};

struct kw_identity {
	char *path;			/* the state file */
	char *protocol;			/* NULL or "est"; "acme", "scep" */
	struct kw_acme_id acme;
	struct kw_scep_id scep;
	char *server;			/* EST URL or ACME directory URL */
	char *ca_file;			/* trust anchors for the CA's server */
	char *key_ref;			/* current key */
	char *cert_file;		/* current certificate (PEM) */
	char *cert_out;			/* where the user wants it (PEM) */
	char *chain_file;		/* optional chain (PEM) */
	char *subject;
	char *sans[KW_ID_MAX_SANS];
	size_t nsans;
	char *tcti;			/* key options, for the daemon */
	char *module;
	char *auth_file;
	int allow_exportable;
	int pop_linking;		/* always link CSRs to the TLS session */
	char *auth_method;		/* first enrollment: basic, cert, both */
	unsigned renew_at_pct;
	unsigned alarm_at_pct;
	int rekey;			/* 1: new key at each renewal */
	long grace;			/* seconds before an old key is deleted */
	int store_on_token;
	time_t not_before;
	time_t not_after;
	unsigned failures;
	time_t last_failure;
	char *last_error;
	/* first enrollment awaiting approval (202) */
	char *pending_csr;		/* base64 DER */
	time_t pending_since;
	/* renewal in progress */
	enum kw_renew_phase phase;
	char *new_key_ref;
	char *new_csr;			/* base64 DER (phase PENDING) */
	time_t renew_started;
	/* old keys to delete after their grace period */
	size_t nold;
	struct {
		char *key_ref;
		time_t delete_after;
	} old[KW_ID_MAX_OLD];
};

/* State file I/O (JSON, 0600, replaced atomically). */
int kw_identity_new(struct kw_identity **out);
int kw_identity_save(const struct kw_identity *id);
/* Load without recovery (kw_identity_load = this + kw_identity_recover). */
int kw_identity_read(const char *path, struct kw_identity **out);
/* Finish or undo what a crash interrupted, delete expired old keys. */
int kw_identity_recover(struct kw_identity *id, time_t now);
int kw_identity_set(char **field, const char *value);
/* A path as an absolute one (relative ones are taken from the current
 * directory; the file need not exist), for the state file: the daemon
 * works in /.  KW_ERR_SPACE when it does not fit. */
int kw_identity_abspath(const char *path, char *out, size_t len);
/* kw_identity_set with kw_identity_abspath (NULL stays NULL). */
int kw_identity_set_path(char **field, const char *path);
/* kw_identity_set for a key reference: tpm:PATH made absolute, TPM
 * handles and pkcs11: URIs as they are. */
int kw_identity_set_keyref(char **field, const char *ref);
void kw_identity_keyopts(const struct kw_identity *id,
    struct kw_keyref_opts *opts);

/* One renewal per identity at a time, across processes (flock on
 * "<state>.lock"): KW_ERR_STATE when another holds it. */
int kw_identity_lock(const struct kw_identity *id, int *fd_out);
void kw_identity_unlock(int fd);
/* Re-read the state file (another process may have renewed), keeping the
 * in-memory renewal policy (renew-at, alarm-at, rekey, grace). */
int kw_identity_reload(struct kw_identity *id, time_t now);

/* When the first old key's grace period ends (0: no old key), and the
 * clean-up then: under the lock, reload and delete what is due. */
time_t kw_identity_cleanup_due(const struct kw_identity *id);
int kw_identity_cleanup(struct kw_identity *id, time_t now);

/* "2026-11-24 10:16:55 UTC" into buf (at least 32 bytes). */
const char *kw_time_str(time_t t, char *buf, size_t len);

/* Fault injection for the crash tests (agent/identity/test_hooks.c):
 * nothing in the installed keyward; in the check-only agent/keyward-test
 * (built with -DKW_TEST_HOOKS) the process kills itself with SIGKILL when
 * the environment names this point. */
void kw_identity_crash_point(const char *name);

/* One enrollment: CSR (or a remembered one) for key, /simpleenroll or
 * /simplereenroll, 202 handled by waiting up to wait_s seconds. */
struct kw_enroll_req {
	const char *server;
	const char *ca_file;
	const char *ca_fingerprint;
	const char *user;
	const char *password;
	struct kw_key *auth_key;	/* TLS client identity (or NULL) */
	const char *auth_cert;
	const uint8_t *auth_cert_der;	/* or its certificate (DER) */
	size_t auth_cert_der_len;
	int reenroll;
	struct kw_key *key;		/* the key to certify */
	const char *subject;
	const char *const *sans;
	size_t nsans;
	const char *csr_b64;		/* resend this CSR (202 resume) */
	int pop_linking;		/* 1: link the CSR to the TLS session
					 * (RFC 7030 3.5) even if the server
					 * does not ask for it */
	unsigned wait_s;
	int timeout_ms;
	const struct kw_cancel *cancel;	/* stops the exchange or the wait */
	/* ACME (protocol "acme"): the account key is opened with kopts */
	const char *protocol;		/* NULL or "est"; "acme", "scep" */
	const struct kw_acme_id *acme;
	const struct kw_keyref_opts *kopts;
	/* SCEP: the challenge password file; with reenroll, auth_key and
	 * auth_cert (or auth_cert_der) sign a RenewalReq */
	const struct kw_scep_id *scep;
	/* EST: key-attestation evidence (CBOR) for the CSR's id-aa-evidence
	 * attribute (draft-ietf-lamps-csr-attestation); NULL: none */
	const uint8_t *evidence;
	size_t evidence_len;
};

struct kw_enroll_res {
	struct est_certs certs;		/* leaf first, then chain */
	struct est_certs cacerts;	/* EST CA certificates in force */
	char *csr_b64;			/* the CSR sent (for a resume) */
	unsigned retry_after;		/* with KW_ERR_PENDING */
};

int kw_enroll_run(const struct kw_enroll_req *req, struct kw_enroll_res *res);
/* The same over ACME (identity_acme.c): res->cacerts holds the issuer CA
 * when one is configured. */
int kw_enroll_run_acme(const struct kw_enroll_req *req,
    struct kw_enroll_res *res);
/* The same over SCEP (identity_scep.c): res->cacerts holds the CA (and
 * RA) certificates trusted from GetCACert, the anchor first. */
int kw_enroll_run_scep(const struct kw_enroll_req *req,
    struct kw_enroll_res *res);
void kw_scep_id_clear(struct kw_scep_id *s);
int kw_acme_id_copy(struct kw_acme_id *dst, const struct kw_acme_id *src);
void kw_acme_id_clear(struct kw_acme_id *a);
/* Open an ACME account key, creating it (ec-p256) when it does not exist. */
int kw_acme_open_account(const char *ref, const struct kw_keyref_opts *o,
    struct kw_key **out);
/* "http-01 ADDR" / "tls-alpn-01 ADDR": KW_OK or KW_ERR_CONFIG (logged). */
int kw_acme_challenge_check(const char *spec);
void kw_enroll_res_clear(struct kw_enroll_res *res);

/* Store a verified enrollment: leaf PEM (0644) at cert_path, chain PEM
 * (0644) at chain_path if not NULL.  Atomic per file. */
int kw_enroll_store(const struct kw_enroll_res *res, const char *cert_path,
    const char *chain_path);

#endif
