/* keyward enroll est: get (and renew) a certificate for a hardware key
 * over EST (RFC 7030). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_secret.h"
#include "kw_wolf.h"
#include "agent/cli/cli.h"
#include "agent/identity/identity.h"
#include "agent/keys/keyref.h"
#include "agent/identity/renew.h"
#include "enroll/csr.h"
#include "enroll/est.h"
#include "enroll/est_der.h"
#include "enroll/est_sched.h"
#include "attest/attest.h"
#include "tpm/tpm_attest.h"
#include "tpm/tpm_key.h"

static const char kw_enroll_help[] =
"usage: keyward enroll est --server URL --key REF --subject DN [--san NAME]...\n"
"           (--ca FILE | --ca-fingerprint SHA256)\n"
"           [--user NAME [--password-file FILE]]\n"
"           [--bootstrap-cert FILE|URI --bootstrap-key REF]\n"
"           --out CERTFILE [--chain-out FILE] [--store-on-token] [--state FILE]\n"
"       keyward enroll est --renew --state FILE [--force] [--same-key]\n"
"           [--user NAME [--password-file FILE]]\n"
"       keyward enroll est --renew --key REF [--cert CERTFILE|URI] --server URL\n"
"           --ca FILE [--subject DN] [--out CERTFILE]\n"
"           [--user NAME [--password-file FILE]]\n"
"       keyward enroll est --watch --state FILE [--renew-at PCT]\n"
"       keyward enroll est --check --state FILE\n"
"       keyward enroll est --show-ca --server URL\n"
"\n"
"Enroll a hardware key for a certificate over EST (RFC 7030): the CSR is\n"
"signed inside the token, the issued certificate must carry the key's\n"
"public key and chain to the EST CA, else nothing is stored.\n"
"\n"
"  -s, --server URL         https://HOST[:PORT][/.well-known/est[/LABEL]]\n"
"      --subject DN         CN=...,O=...,OU=...\n"
"      --san NAME           dns:NAME, ip:ADDR, uri:URI, email:ADDR (repeatable)\n"
"      --ca FILE            trust the EST server per this CA (PEM)\n"
"      --ca-fingerprint FP  first contact: SHA-256 of the EST CA certificate,\n"
"                           as published by the CA's operators (RFC 7030 4.1.1)\n"
"      --user NAME          HTTP Basic user (/simpleenroll; with --renew when\n"
"                           the server asks for it on top of the certificate)\n"
"      --password-file FILE Basic password, first line, a file only its owner\n"
"                           can read (else asked on the TTY)\n"
"      --attest             add key-attestation evidence to the CSR (draft-ietf-\n"
"                           lamps-csr-attestation): TPM2_Certify of the key by\n"
"                           the AK over SHA-256 of the key's SubjectPublicKey-\n"
"                           Info, the EK certificate and the AK (TPM keys only)\n"
"      --ak tpm:PATH        the attestation key (keyward attest init)\n"
"      --pop-linking        always link the CSR to the TLS session (RFC 7030\n"
"                           3.5; done anyway when the server's csrattrs ask)\n"
"      --bootstrap-cert FILE  client certificate for /simpleenroll (e.g. a\n"
"      --bootstrap-key REF    smart card identity), any key reference; the\n"
"                           certificate may be a pkcs11: URI, and for a pkcs11:\n"
"                           key defaults to the one on the token\n"
"  -o, --out CERTFILE       issued certificate (PEM, 0644)\n"
"      --chain-out FILE     chain and CA certificates (PEM)\n"
"      --ca-out FILE        where the pinned EST CA is kept after a\n"
"                           fingerprint bootstrap (default CERTFILE.ca.pem)\n"
"      --store-on-token     also store the certificate next to a PKCS#11 key\n"
"      --state FILE         identity state for renewal (default CERTFILE.state)\n"
"      --renew-at PCT       renew at this share of the lifetime (default 66%)\n"
"      --same-key           renew without a new key (default: a new key each time)\n"
"      --grace SECONDS      keep an old key this long after a rekey (3600)\n"
"      --wait SECONDS       wait this long for an approval (202) (default 300)\n"
"      --resume             continue a pending enrollment from the state file\n"
"      --renew              re-enroll (/simplereenroll, over mTLS with the\n"
"                           current key and certificate; the subject is the\n"
"                           certificate's unless --subject)\n"
"      --force              with --renew: even if not due yet\n"
"      --check              check that the identity in --state is usable\n"
"      --watch              stay running and renew --state when due (without\n"
"                           `keyward run`; SIGHUP re-checks, SIGTERM stops)\n"
"      --show-ca            print the EST server's CA fingerprints (untrusted)\n"
"      --timeout SECONDS    limit on each exchange with the EST server, from\n"
"                           connect to the last byte of the answer (default 30)\n"
KW_KEY_HELP
"\n"
KW_EXIT_HELP;

enum {
	OPT_SUBJECT = KW_OPT_FIRST_FREE,
	OPT_SAN,
	OPT_CA,
	OPT_CA_FP,
	OPT_USER,
	OPT_PASSWORD_FILE,
	OPT_BOOT_CERT,
	OPT_BOOT_KEY,
	OPT_CHAIN_OUT,
	OPT_CA_OUT,
	OPT_STORE_ON_TOKEN,
	OPT_STATE,
	OPT_RENEW_AT,
	OPT_SAME_KEY,
	OPT_GRACE,
	OPT_WAIT,
	OPT_RESUME,
	OPT_RENEW,
	OPT_FORCE,
	OPT_CHECK,
	OPT_SHOW_CA,
	OPT_TIMEOUT,
	OPT_CERT,
	OPT_WATCH,
	OPT_POP_LINKING,
	OPT_ATTEST,
	OPT_AK,
};

struct kw_enroll_args {
	struct kw_keyref_opts kopts;
	const char *server, *key, *subject, *ca, *ca_fp, *user, *password_file;
	const char *boot_cert, *boot_key, *out, *chain_out, *ca_out, *state;
	const char *cert;
	const char *sans[KW_ID_MAX_SANS];
	size_t nsans;
	unsigned renew_at, wait_s;
	long grace;
	int timeout_ms;
	int store_on_token, same_key, resume, renew, force, check, show_ca;
	int watch, pop_linking, attest;
	const char *ak;
};

/* ---- small helpers ------------------------------------------------------ */

static int
kw_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *out <= max &&
	    s[0] != '-' ? 0 : -1;
}

/* A password from the controlling TTY, not echoed.  Never argv. */
static int
kw_password_prompt(const char *user, char **out)
{
	struct termios old, noecho;
	char buf[256];
	size_t n;
	int fd, r = KW_ERR_PIN_REQUIRED, restored = 1;
	FILE *tty = NULL;

	*out = NULL;
	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0 ||
	    (tty = fdopen(fd, "r+")) == NULL) {
		if (fd >= 0)
			close(fd);
		kw_err("no password for EST user '%s': give --password-file "
		    "FILE (no terminal to ask on)", user);
		return KW_ERR_PIN_REQUIRED;
	}
	if (tcgetattr(fd, &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		if (tcsetattr(fd, TCSAFLUSH, &noecho) == 0)
			restored = 0;
	}
	fprintf(tty, "EST password for %s: ", user);
	fflush(tty);
	if (fgets(buf, sizeof(buf), tty) != NULL) {
		n = strcspn(buf, "\r\n");
		buf[n] = '\0';
		if (n > 0 && (*out = strdup(buf)) != NULL)
			r = KW_OK;
	}
	if (!restored)
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	fprintf(tty, "\n");
	explicit_bzero(buf, sizeof(buf));
	fclose(tty);
	if (r != KW_OK)
		kw_err("no password entered for EST user '%s'", user);
	return r;
}

/* The HTTP Basic password for --user: --password-file, else the TTY. */
static int
kw_enroll_password(const struct kw_enroll_args *a, char **out)
{
	*out = NULL;
	if (a->user == NULL)
		return KW_OK;
	if (a->password_file != NULL)
		return kw_secret_file_read(a->password_file, "password file",
		    out);
	return kw_password_prompt(a->user, out);
}

/* Does the key's public key match the certificate's?  The certificate is
 * a file, a pkcs11: URI, or (NULL with a pkcs11: key_ref) the one on the
 * token next to the key. */
static int
kw_check_pair_ref(struct kw_key *key, const char *key_ref,
    const struct kw_keyref_opts *opts, const char *cert_file,
    struct est_cert_info *ci, struct est_certs *certs)
{
	uint8_t spki[KW_MAX_PUBKEY_DER], *der = NULL;
	size_t len = sizeof(spki), der_len = 0;
	int r;

	if (kw_keyref_cert_on_token(cert_file, key_ref)) {
		if ((r = kw_keyref_cert_load(cert_file, key_ref, opts, &der,
		    &der_len)) == KW_OK)
			r = est_certs_add(certs, der, der_len);
		free(der);
		if (r != KW_OK)
			return r;
		if (cert_file == NULL)
			cert_file = "the certificate on the token";
	} else if ((r = est_certs_from_file(cert_file, certs)) != 0)
		return r;
	if ((r = est_cert_info(certs->c[0].der, certs->c[0].len, ci)) != 0 ||
	    (r = kw_key_public_der(key, spki, &len)) != 0)
		return r;
	if (ci->spki_len != len || memcmp(ci->spki, spki, len) != 0) {
		kw_err("%s is not a certificate for this key", cert_file);
		return KW_ERR_KEY_MISMATCH;
	}
	return KW_OK;
}

static int
kw_check_pair(struct kw_key *key, const char *cert_file, struct est_cert_info *ci,
    struct est_certs *certs)
{
	return kw_check_pair_ref(key, NULL, NULL, cert_file, ci, certs);
}

/* ---- --show-ca / first-contact confirmation ----------------------------- */

static int
kw_confirm_fingerprint(const char *server, char fp[65], int timeout_ms)
{
	char line[128];
	FILE *tty;
	int r;

	fp[0] = '\0';
	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) {
		kw_err("the EST server's CA is not known: give --ca FILE, or "
		    "--ca-fingerprint SHA256 with the fingerprint your CA's "
		    "operators publish ('keyward enroll est --show-ca --server "
		    "%s' shows what the server sends, to compare)", server);
		return KW_ERR_ARG;
	}
	if ((r = est_show_cacerts(server, timeout_ms)) != 0)
		return r;
	if ((tty = fopen("/dev/tty", "r+")) == NULL)
		return KW_ERR_ARG;
	fprintf(tty, "Compare with the fingerprint your CA's operators "
	    "published.\nPaste the SHA-256 fingerprint to trust (empty to "
	    "abort): ");
	fflush(tty);
	r = KW_ERR_ARG;
	if (fgets(line, sizeof(line), tty) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '\0' && est_fingerprint_parse(line, fp) == KW_OK)
			r = KW_OK;
	}
	fclose(tty);
	if (r != KW_OK)
		kw_err("no CA fingerprint confirmed: nothing done");
	return r;
}

/* ---- first enrollment ---------------------------------------------------
 * Steps: where the state and a pinned CA go, what an earlier run left
 * (a pending request to resume), how the EST server is trusted, the
 * password, the keys, the enrollment, then the identity stored. */

/* The state file and the pinned CA's file, absolute (the daemon that
 * renews works in /). */
static int
kw_enroll_paths(const struct kw_enroll_args *a, char *state_path,
    char *ca_out, size_t len)
{
	char tmp[PATH_MAX];
	int r;

	snprintf(tmp, sizeof(tmp), "%s%s", a->state ? a->state : a->out,
	    a->state ? "" : ".state");
	if ((r = kw_identity_abspath(tmp, state_path, len)) != 0)
		return r;
	snprintf(tmp, sizeof(tmp), "%s%s", a->ca_out ? a->ca_out : a->out,
	    a->ca_out ? "" : ".ca.pem");
	return kw_identity_abspath(tmp, ca_out, len);
}

/* An existing state: a pending request for this key is resumed, anything
 * else is never clobbered. */
static int
kw_enroll_previous(const struct kw_enroll_args *a, const char *state_path,
    struct kw_identity **prev)
{
	char *ref = NULL;
	int r, same;

	*prev = NULL;
	if (access(state_path, F_OK) != 0) {
		if (!a->resume)
			return KW_OK;
		kw_err("--resume: no state file %s", state_path);
		return KW_ERR_NOT_FOUND;
	}
	if ((r = kw_identity_read(state_path, prev)) != 0)
		return r;
	if ((*prev)->pending_csr == NULL) {
		kw_err("%s already holds an enrolled identity: renew it with "
		    "'keyward enroll est --renew --state %s', or remove it to "
		    "start over", state_path, state_path);
		return KW_ERR_EXISTS;
	}
	/* the state names it absolutely (older ones as given) */
	if ((r = kw_identity_set_keyref(&ref, a->key)) != 0)
		return r;
	same = strcmp((*prev)->key_ref, a->key) == 0 ||
	    strcmp((*prev)->key_ref, ref) == 0;
	free(ref);
	if (!same) {
		kw_err("%s holds a pending request for another key (%s)",
		    state_path, (*prev)->key_ref);
		return KW_ERR_EXISTS;
	}
	return KW_OK;
}

/* How the EST server is trusted: --ca, --ca-fingerprint, the CA a pending
 * request was started with, or a fingerprint confirmed on the TTY. */
static int
kw_enroll_trust(struct kw_enroll_args *a, const struct kw_identity *prev,
    char fp[65], const char **ca_fp)
{
	int r;

	*ca_fp = a->ca_fp;
	if (a->ca == NULL && *ca_fp == NULL && prev != NULL &&
	    prev->ca_file != NULL && access(prev->ca_file, R_OK) == 0)
		a->ca = prev->ca_file;
	if (a->ca != NULL || *ca_fp != NULL)
		return KW_OK;
	if ((r = kw_confirm_fingerprint(a->server, fp, a->timeout_ms)) != 0)
		return r;
	*ca_fp = fp;
	return KW_OK;
}

/* The key to certify and the bootstrap key, if any. */
static int
kw_enroll_open_keys(struct kw_enroll_args *a, struct kw_key **key,
    struct kw_key **boot)
{
	struct kw_keyref_opts bopts;
	int r;

	*key = NULL;
	*boot = NULL;
	if ((r = kw_keyref_open(a->key, &a->kopts, key)) != 0) {
		kw_err("cannot open key %s: %s", a->key, kw_strerror(r));
		return r;
	}
	if (a->boot_key == NULL)
		return KW_OK;
	bopts = a->kopts;
	if ((r = kw_keyref_open(a->boot_key, &bopts, boot)) != 0)
		kw_err("cannot open bootstrap key %s: %s", a->boot_key,
		    kw_strerror(r));
	return r;
}

/* The identity the state file will hold: new, or the pending one, with
 * what this run was given (paths absolute). */
static int
kw_enroll_identity(const struct kw_enroll_args *a, const char *state_path,
    struct kw_identity **prev, struct kw_identity **out)
{
	struct kw_identity *id;
	size_t i;
	int r;

	*out = NULL;
	if (*prev != NULL) {
		id = *prev;
		*prev = NULL;
	} else if ((r = kw_identity_new(&id)) != 0)
		return r;
	*out = id;
	if ((r = kw_identity_set_path(&id->path, state_path)) != 0 ||
	    (r = kw_identity_set(&id->server, a->server)) != 0 ||
	    (r = kw_identity_set_keyref(&id->key_ref, a->key)) != 0 ||
	    (r = kw_identity_set_path(&id->cert_out, a->out)) != 0 ||
	    (r = kw_identity_set_path(&id->cert_file, a->out)) != 0 ||
	    (r = kw_identity_set_path(&id->chain_file, a->chain_out)) != 0 ||
	    (r = kw_identity_set(&id->subject, a->subject)) != 0 ||
	    (r = kw_identity_set(&id->tcti, a->kopts.tcti)) != 0 ||
	    (r = kw_identity_set(&id->module, a->kopts.module)) != 0 ||
	    (a->kopts.module != NULL && strchr(a->kopts.module, '/') != NULL &&
	    (r = kw_identity_set_path(&id->module, a->kopts.module)) != 0) ||
	    (r = kw_identity_set_path(&id->auth_file, a->kopts.auth_file)) != 0 ||
	    (r = kw_identity_set(&id->auth_method, a->user && a->boot_key ?
	    "both" : a->user ? "basic" : a->boot_key ? "cert" : "none")) != 0)
		return r;
	for (i = 0; i < id->nsans; i++)
		free(id->sans[i]);
	id->nsans = 0;
	for (i = 0; i < a->nsans; i++)
		if ((id->sans[id->nsans++] = strdup(a->sans[i])) == NULL)
			return KW_ERR_NOMEM;
	id->allow_exportable = a->kopts.allow_exportable;
	id->pop_linking = a->pop_linking;
	id->store_on_token = a->store_on_token;
	id->rekey = !a->same_key;
	if (a->renew_at)
		id->renew_at_pct = a->renew_at;
	if (a->grace >= 0)
		id->grace = a->grace;
	return KW_OK;
}

/* The EST CA the identity trusts: --ca, or the pinned one written to
 * ca_out. */
static int
kw_enroll_keep_ca(const struct kw_enroll_args *a, struct kw_identity *id,
    const struct kw_enroll_res *res, const char *ca_out)
{
	char *pem = NULL;
	size_t pem_len;
	int r;

	if (a->ca != NULL)
		return kw_identity_set_path(&id->ca_file, a->ca);
	if ((r = est_certs_pem(&res->cacerts, 0, &pem, &pem_len)) == 0 &&
	    (pem_len == 0 || (r = kw_file_write_atomic(ca_out, pem, pem_len,
	    0644, 0)) == 0))
		r = kw_identity_set(&id->ca_file, ca_out);
	free(pem);
	return r;
}

/* 202: remember the request (the same key and CSR are sent again). */
static int
kw_enroll_keep_pending(const struct kw_enroll_args *a, struct kw_identity *id,
    const struct kw_enroll_res *res, const char *ca_out)
{
	int r;

	if ((r = kw_identity_set(&id->pending_csr, res->csr_b64)) != 0 ||
	    (r = kw_enroll_keep_ca(a, id, res, ca_out)) != 0)
		return r;
	if (id->pending_since == 0)
		id->pending_since = time(NULL);
	if ((r = kw_identity_save(id)) != 0)
		return r;
	fprintf(stderr, "keyward enroll: the request awaits approval at the "
	    "CA.  Run the same command again (or add --resume) later: the "
	    "same key and CSR will be sent (state: %s).\n", id->path);
	return KW_ERR_PENDING;
}

/* Verified: the certificate, chain and CA stored, then the state. */
static int
kw_enroll_keep_issued(const struct kw_enroll_args *a, struct kw_identity *id,
    const struct kw_enroll_res *res, const char *ca_out)
{
	struct est_cert_info ci;
	char when[40];
	int r;

	if ((r = kw_enroll_keep_ca(a, id, res, ca_out)) != 0 ||
	    (r = kw_enroll_store(res, a->out, a->chain_out)) != 0)
		return r;
	if (a->store_on_token &&
	    (r = kw_keyref_store_cert(a->key, &a->kopts, res->certs.c[0].der,
	    res->certs.c[0].len)) != 0) {
		kw_err("the certificate is in %s but could not be stored on the "
		    "token: %s", a->out, kw_strerror(r));
		return r;
	}
	if ((r = est_cert_info(res->certs.c[0].der, res->certs.c[0].len,
	    &ci)) != 0)
		return r;
	id->not_before = ci.not_before;
	id->not_after = ci.not_after;
	free(id->pending_csr);
	id->pending_csr = NULL;
	id->pending_since = 0;
	id->failures = 0;
	if ((r = kw_identity_save(id)) != 0)
		return r;
	kw_info("enrolled: certificate %s (valid until %s), state %s",
	    a->out, kw_time_str(ci.not_after, when, sizeof(when)), id->path);
	return KW_OK;
}

/* ---- key attestation (draft-ietf-lamps-csr-attestation) ---------------- */

/* "tpm:SPEC" -> SPEC, else NULL. */
static const char *
kw_enroll_tpm_spec(const char *ref)
{
	if (ref == NULL || strncmp(ref, "tpm:", 4) != 0 || ref[4] == '\0')
		return NULL;
	return ref + 4;
}

/* The COSE algorithm naming a marshalled TPMT_SIGNATURE's scheme. */
static int64_t
kw_enroll_cose_alg(const uint8_t *sig, size_t len)
{
	unsigned int alg, hash;

	if (len < 4)
		return 0;
	alg = (unsigned int)sig[0] << 8 | sig[1];
	hash = (unsigned int)sig[2] << 8 | sig[3];
	if (alg == 0x0018)		/* TPM2_ALG_ECDSA */
		return hash == 0x000c ? -35 : -7;	/* SHA384 */
	if (alg == 0x0014)		/* TPM2_ALG_RSASSA */
		return -257;
	if (alg == 0x0016)		/* TPM2_ALG_RSAPSS */
		return -37;
	return 0;
}

/* The evidence for the CSR of the TPM key a->key: TPM2_Certify of it by
 * the AK over SHA-256(its SubjectPublicKeyInfo) (EST has no nonce round
 * trip: the CA's own policy says how old a request may be), with the EK
 * certificate and the AK's public area, as a keyward-attestation(7) CBOR
 * message; *out malloc'd.  Done before the key is opened for the CSR: a
 * TPM without a resource manager takes one connection at a time. */
static int
kw_enroll_evidence(const struct kw_enroll_args *a, uint8_t **out,
    size_t *out_len)
{
	struct kw_attest_evidence ev;
	struct tpm_evidence *te = NULL;
	struct tpm_ek_cert *ek = NULL;
	struct tpm_attest *ta = NULL;
	struct tpm_opts topts, kopts;
	struct kw_key *key = NULL;
	uint8_t spki[KW_MAX_PUBKEY_DER], qual[WC_SHA256_DIGEST_SIZE];
	uint8_t akpub[TPM_ATTEST_PUB_MAX];
	size_t spki_len = sizeof(spki), akpub_len = sizeof(akpub), nek = 0;
	char *auth = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	memset(&ev, 0, sizeof(ev));
	memset(&topts, 0, sizeof(topts));
	memset(&kopts, 0, sizeof(kopts));
	if ((r = kw_keyref_open(a->key, &a->kopts, &key)) != KW_OK) {
		kw_err("--attest: cannot open key %s: %s", a->key,
		    kw_strerror(r));
		goto out;
	}
	r = kw_key_public_der(key, spki, &spki_len);
	kw_key_close(key);
	key = NULL;
	if (r != KW_OK) {
		kw_err("--attest: cannot read the public key of %s: %s",
		    a->key, kw_strerror(r));
		goto out;
	}
	if (wc_Sha256Hash(spki, (word32)spki_len, qual) != 0) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	if (a->kopts.auth_file != NULL) {
		if ((r = kw_secret_file_read(a->kopts.auth_file,
		    "auth-value file", &auth)) != KW_OK)
			goto out;
		kopts.auth = auth;
	}
	kopts.tcti = a->kopts.tcti;
	topts.tcti = a->kopts.tcti;
	if ((te = calloc(1, sizeof(*te))) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = tpm_attest_open(&topts, &ta)) != KW_OK ||
	    (r = tpm_attest_ek_certs(ta, &ek, &nek)) != KW_OK)
		goto out;
	if (nek == 0) {
		kw_err("--attest: the TPM holds no EK certificate, without "
		    "which a CA cannot trust its evidence; ask the TPM's "
		    "maker for one or enroll without --attest");
		r = KW_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = tpm_attest_ak_public(ta, kw_enroll_tpm_spec(a->ak), akpub,
	    &akpub_len, NULL, NULL, NULL, NULL)) != KW_OK ||
	    (r = tpm_attest_certify(ta, kw_enroll_tpm_spec(a->ak),
	    kw_enroll_tpm_spec(a->key), &kopts, qual, sizeof(qual), te)) !=
	    KW_OK)
		goto out;
	ev.x5c[0].p = ek[0].der;
	ev.x5c[0].len = ek[0].der_len;
	ev.nx5c = 1;
	ev.ak_pub.p = akpub;
	ev.ak_pub.len = akpub_len;
	ev.has_certify = 1;
	ev.alg = kw_enroll_cose_alg(te->sig, te->sig_len);
	ev.cert_info.p = te->attest;
	ev.cert_info.len = te->attest_len;
	ev.cert_sig.p = te->sig;
	ev.cert_sig.len = te->sig_len;
	ev.pub_area.p = te->pub;
	ev.pub_area.len = te->pub_len;
	if ((r = kw_attest_evidence_encode(&ev, out, out_len)) != KW_OK)
		kw_err("--attest: cannot encode the evidence: %s",
		    kw_strerror(r));
	else
		kw_info("attest: key %s certified by the AK %s (EK "
		    "certificate NV 0x%08x, %s)", a->key, a->ak,
		    ek[0].nv_index, ek[0].profile);
out:
	tpm_attest_close(ta);
	tpm_attest_ek_certs_free(ek, nek);
	free(te);
	kw_free_secret(auth);
	return r;
}

/* ---- first enrollment ---------------------------------------------------- */

static int
kw_enroll_first(struct kw_enroll_args *a)
{
	struct kw_identity *id = NULL, *prev = NULL;
	struct kw_enroll_req req;
	struct kw_enroll_res res;
	struct kw_key *key = NULL, *boot = NULL;
	uint8_t *boot_der = NULL;
	size_t boot_der_len = 0;
	char *password = NULL, fp[65] = "";
	char state_path[PATH_MAX], ca_out[PATH_MAX];
	const char *ca_fp;
	uint8_t *evidence = NULL;
	size_t evidence_len = 0;
	int r, er;

	memset(&res, 0, sizeof(res));
	if ((r = kw_enroll_paths(a, state_path, ca_out, sizeof(state_path))) != 0 ||
	    (r = kw_enroll_previous(a, state_path, &prev)) != 0 ||
	    (r = kw_enroll_trust(a, prev, fp, &ca_fp)) != 0 ||
	    (r = kw_enroll_password(a, &password)) != 0 ||
	    (a->attest && (r = kw_enroll_evidence(a, &evidence,
	    &evidence_len)) != 0) ||
	    (r = kw_enroll_open_keys(a, &key, &boot)) != 0)
		goto out;
	/* the bootstrap certificate may stay on its token */
	if (boot != NULL && kw_keyref_cert_on_token(a->boot_cert, a->boot_key) &&
	    (r = kw_keyref_cert_load(a->boot_cert, a->boot_key, &a->kopts,
	    &boot_der, &boot_der_len)) != KW_OK)
		goto out;
	memset(&req, 0, sizeof(req));
	req.server = a->server;
	req.ca_file = a->ca;
	req.ca_fingerprint = ca_fp;
	req.user = a->user;
	req.password = password;
	req.auth_key = boot;
	req.auth_cert = boot_der != NULL ? NULL : a->boot_cert;
	req.auth_cert_der = boot_der;
	req.auth_cert_der_len = boot_der_len;
	req.key = key;
	req.subject = a->subject;
	req.sans = a->sans;
	req.nsans = a->nsans;
	req.csr_b64 = prev != NULL ? prev->pending_csr : NULL;
	req.pop_linking = a->pop_linking;
	req.wait_s = a->wait_s;
	req.timeout_ms = a->timeout_ms;
	req.evidence = evidence;
	req.evidence_len = evidence_len;
	if ((er = kw_enroll_run(&req, &res)) != KW_OK && er != KW_ERR_PENDING) {
		r = er;
		goto out;
	}
	if ((r = kw_enroll_identity(a, state_path, &prev, &id)) != 0)
		goto out;
	if (er == KW_ERR_PENDING)
		r = kw_enroll_keep_pending(a, id, &res, ca_out);
	else
		r = kw_enroll_keep_issued(a, id, &res, ca_out);
out:
	kw_enroll_res_clear(&res);
	kw_free_secret(password);
	free(evidence);
	free(boot_der);
	kw_key_close(boot);
	kw_key_close(key);
	kw_identity_free(prev);
	kw_identity_free(id);
	return r;
}

/* ---- renewal ------------------------------------------------------------ */

static int
kw_enroll_renew_state(struct kw_enroll_args *a)
{
	struct kw_identity *id = NULL;
	struct kw_renew_opts ro;
	time_t now = time(NULL), due;
	char line[1024], red[1024], *password = NULL;
	int r;

	if ((r = kw_identity_load(a->state, &id)) != 0)
		goto out;
	due = kw_renew_due(id, now);
	if (!a->force && (due == 0 || due > now)) {
		(void)kw_identity_status(id, now, line, sizeof(line));
		kw_info("identity %s: not due (%s)", a->state, line);
		r = KW_OK;
		goto out;
	}
	if ((r = kw_enroll_password(a, &password)) != 0)
		goto out;
	memset(&ro, 0, sizeof(ro));
	ro.same_key = a->same_key;
	ro.force = a->force;
	ro.wait_s = a->wait_s;
	ro.timeout_ms = a->timeout_ms;
	ro.user = a->user;
	ro.password = password;
	ro.pop_linking = a->pop_linking;
	r = kw_renew_run_opts(id, now, &ro);
	if (r == KW_OK)
		printf("renewed: key %s, certificate %s\n",
		    kw_uri_redact(kw_identity_key_ref(id), red, sizeof(red)),
		    kw_identity_cert_file(id));
	else if (r == KW_ERR_PENDING)
		fprintf(stderr, "keyward enroll: the renewal awaits approval "
		    "at the CA; run 'keyward enroll est --renew --state %s' "
		    "again later (the same key and CSR are reused)\n", a->state);
out:
	kw_free_secret(password);
	kw_identity_free(id);
	return r;
}

/* --renew without a state file: same key, certificate replaced.  The CSR
 * repeats the certificate's subject (RFC 7030 4.2.2) unless --subject. */
static int
kw_enroll_renew_plain(struct kw_enroll_args *a)
{
	struct kw_enroll_req req;
	struct kw_enroll_res res;
	struct kw_key *key = NULL;
	struct est_certs cur;
	struct est_cert_info ci;
	char subject[1024], *password = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	memset(&cur, 0, sizeof(cur));
	if ((r = kw_keyref_open(a->key, &a->kopts, &key)) != 0) {
		kw_err("cannot open key %s: %s", a->key, kw_strerror(r));
		goto out;
	}
	if ((r = kw_check_pair_ref(key, a->key, &a->kopts, a->cert, &ci, &cur))
	    != 0)
		goto out;
	if (a->subject == NULL && (r = kw_csr_subject_from_cert(cur.c[0].der,
	    cur.c[0].len, subject, sizeof(subject))) != 0)
		goto out;
	if ((r = kw_enroll_password(a, &password)) != 0)
		goto out;
	memset(&req, 0, sizeof(req));
	req.server = a->server;
	req.ca_file = a->ca;
	req.ca_fingerprint = a->ca_fp;
	req.user = a->user;
	req.password = password;
	req.auth_key = key;
	req.auth_cert = a->cert;
	if (kw_keyref_cert_on_token(a->cert, a->key)) {
		/* the current certificate is on the token */
		req.auth_cert = NULL;
		req.auth_cert_der = cur.c[0].der;
		req.auth_cert_der_len = cur.c[0].len;
	}
	req.reenroll = 1;
	req.key = key;
	req.subject = a->subject != NULL ? a->subject : subject;
	req.sans = a->sans;
	req.nsans = a->nsans;
	req.pop_linking = a->pop_linking;
	req.wait_s = a->wait_s;
	req.timeout_ms = a->timeout_ms;
	if ((r = kw_enroll_run(&req, &res)) != 0)
		goto out;
	if ((r = kw_enroll_store(&res, a->out ? a->out : a->cert,
	    a->chain_out)) != 0)
		goto out;
	kw_info("re-enrolled: certificate %s", a->out ? a->out : a->cert);
out:
	kw_free_secret(password);
	est_certs_clear(&cur);
	kw_enroll_res_clear(&res);
	kw_key_close(key);
	return r;
}

static int
kw_enroll_check(struct kw_enroll_args *a)
{
	struct kw_identity *id = NULL;
	struct kw_keyref_opts kopts;
	struct kw_key *key = NULL;
	struct est_certs cur;
	struct est_cert_info ci;
	time_t now = time(NULL);
	char line[1024];
	int r;

	memset(&cur, 0, sizeof(cur));
	if ((r = kw_identity_load(a->state, &id)) != 0)
		goto out;
	kw_identity_keyopts(id, &kopts);
	if ((r = kw_keyref_open(kw_identity_key_ref(id), &kopts, &key)) != 0) {
		kw_err("identity %s: key %s cannot be opened: %s", a->state,
		    kw_identity_key_ref(id), kw_strerror(r));
		goto out;
	}
	if ((r = kw_check_pair(key, kw_identity_cert_file(id), &ci, &cur)) != 0)
		goto out;
	if (ci.not_after <= now) {
		kw_err("identity %s: the certificate has expired", a->state);
		r = KW_ERR_CERT;
		goto out;
	}
	(void)kw_identity_status(id, now, line, sizeof(line));
	kw_redact_text(line, sizeof(line));
	printf("%s: usable: %s\n", a->state, line);
out:
	est_certs_clear(&cur);
	kw_key_close(key);
	kw_identity_free(id);
	return r;
}

/* ---- --watch: the renewal runner without the daemon ---------------------- */

static void
kw_watch_renewed(void *arg, const char *name, const char *key_ref,
    const char *cert_file, const char *chain_file)
{
	(void)arg;
	(void)chain_file;
	kw_info("identity %s renewed: key %s, certificate %s", name, key_ref,
	    cert_file);
}

static int
kw_enroll_watch(struct kw_enroll_args *a)
{
	struct kw_identity_conf *conf = NULL;
	struct kw_renewer *rn = NULL;
	char path[PATH_MAX], pct[16];
	sigset_t set;
	int r, sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (realpath(a->state, path) == NULL) {
		kw_err("cannot find identity state %s", a->state);
		return KW_ERR_NOT_FOUND;
	}
	if ((r = kw_identity_conf_new("cli", &conf)) != 0 ||
	    (r = kw_identity_conf_set(conf, "state", path, "--state", 0)) != 0)
		goto out;
	if (a->renew_at) {
		snprintf(pct, sizeof(pct), "%u%%", a->renew_at);
		if ((r = kw_identity_conf_set(conf, "renew-at", pct, "--renew-at",
		    0)) != 0)
			goto out;
	}
	if (a->same_key &&
	    (r = kw_identity_conf_set(conf, "rekey", "no", "--same-key", 0)) != 0)
		goto out;
	/* signals are taken by sigwait here, never by the runner thread */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((r = kw_renewer_new(&conf, 1, kw_watch_renewed, NULL, &rn)) != 0 ||
	    (r = kw_renewer_start(rn)) != 0)
		goto out;
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		kw_renewer_kick(rn);
	}
	kw_info("stopping (signal %d)", sig);
	r = KW_OK;
out:
	kw_renewer_free(rn);
	kw_identity_conf_free(conf);
	return r;
}

/* ---- command line ------------------------------------------------------- */

static const struct option kw_enroll_longopts[] = {
	KW_KEY_LONGOPTS,
	{ "server", required_argument, NULL, 's' },
	{ "subject", required_argument, NULL, OPT_SUBJECT },
	{ "san", required_argument, NULL, OPT_SAN },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "ca-fingerprint", required_argument, NULL, OPT_CA_FP },
	{ "user", required_argument, NULL, OPT_USER },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "bootstrap-cert", required_argument, NULL, OPT_BOOT_CERT },
	{ "bootstrap-key", required_argument, NULL, OPT_BOOT_KEY },
	{ "out", required_argument, NULL, 'o' },
	{ "chain-out", required_argument, NULL, OPT_CHAIN_OUT },
	{ "ca-out", required_argument, NULL, OPT_CA_OUT },
	{ "store-on-token", no_argument, NULL, OPT_STORE_ON_TOKEN },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "renew-at", required_argument, NULL, OPT_RENEW_AT },
	{ "same-key", no_argument, NULL, OPT_SAME_KEY },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "renew", no_argument, NULL, OPT_RENEW },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "show-ca", no_argument, NULL, OPT_SHOW_CA },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "watch", no_argument, NULL, OPT_WATCH },
	{ "pop-linking", no_argument, NULL, OPT_POP_LINKING },
	{ "attest", no_argument, NULL, OPT_ATTEST },
	{ "ak", required_argument, NULL, OPT_AK },
	{ NULL, 0, NULL, 0 },
};

/* Options with a number.  -1: not one of them; else an exit code. */
static int
kw_enroll_opt_num(int c, const char *arg, struct kw_enroll_args *a)
{
	unsigned long v;

	switch (c) {
	case OPT_RENEW_AT:
		if (est_sched_parse_pct(arg, &a->renew_at) != 0)
			return kw_cli_usage_error("enroll est",
			    "--renew-at takes a percentage 1..99, e.g. 66%%");
		return KW_EXIT_OK;
	case OPT_GRACE:
		if (kw_parse_uint(arg, 365UL * 86400, &v) != 0)
			return kw_cli_usage_error("enroll est",
			    "--grace takes seconds");
		a->grace = (long)v;
		return KW_EXIT_OK;
	case OPT_WAIT:
		if (kw_parse_uint(arg, 7 * 86400, &v) != 0)
			return kw_cli_usage_error("enroll est",
			    "--wait takes seconds");
		a->wait_s = (unsigned)v;
		return KW_EXIT_OK;
	case OPT_TIMEOUT:
		if (kw_parse_uint(arg, 3600, &v) != 0 || v == 0)
			return kw_cli_usage_error("enroll est",
			    "--timeout takes seconds (1..3600)");
		a->timeout_ms = (int)v * 1000;
		return KW_EXIT_OK;
	default:
		return -1;
	}
}

/* Options that name something: where each goes in the arguments. */
static const char **
kw_enroll_opt_str(int c, struct kw_enroll_args *a)
{
	switch (c) {
	case 'k':		return &a->key;
	case 's':		return &a->server;
	case 'o':		return &a->out;
	case OPT_SUBJECT:	return &a->subject;
	case OPT_CA:		return &a->ca;
	case OPT_CA_FP:		return &a->ca_fp;
	case OPT_USER:		return &a->user;
	case OPT_PASSWORD_FILE:	return &a->password_file;
	case OPT_BOOT_CERT:	return &a->boot_cert;
	case OPT_BOOT_KEY:	return &a->boot_key;
	case OPT_CHAIN_OUT:	return &a->chain_out;
	case OPT_CA_OUT:	return &a->ca_out;
	case OPT_STATE:		return &a->state;
	case OPT_CERT:		return &a->cert;
	case OPT_AK:		return &a->ak;
	default:		return NULL;
	}
}

/* Switches: which flag each sets. */
static int *
kw_enroll_opt_flag(int c, struct kw_enroll_args *a)
{
	switch (c) {
	case OPT_STORE_ON_TOKEN:	return &a->store_on_token;
	case OPT_SAME_KEY:		return &a->same_key;
	case OPT_RESUME:		return &a->resume;
	case OPT_RENEW:			return &a->renew;
	case OPT_FORCE:			return &a->force;
	case OPT_CHECK:			return &a->check;
	case OPT_SHOW_CA:		return &a->show_ca;
	case OPT_WATCH:			return &a->watch;
	case OPT_POP_LINKING:		return &a->pop_linking;
	case OPT_ATTEST:		return &a->attest;
	default:			return NULL;
	}
}

/* Read the options into a.  -1: go on; else the exit code. */
static int
kw_enroll_parse(int argc, char **argv, struct kw_enroll_args *a)
{
	const char **str;
	int c, e, *flag;

	while ((c = getopt_long(argc, argv, "k:s:o:h", kw_enroll_longopts,
	    NULL)) != -1) {
		if (kw_cli_keyopt(c, optarg, &a->kopts))
			continue;
		if ((str = kw_enroll_opt_str(c, a)) != NULL)
			*str = optarg;
		else if ((flag = kw_enroll_opt_flag(c, a)) != NULL)
			*flag = 1;
		else if (c == OPT_SAN) {
			if (a->nsans >= KW_ID_MAX_SANS)
				return kw_cli_usage_error("enroll est",
				    "at most %d --san", KW_ID_MAX_SANS);
			a->sans[a->nsans++] = optarg;
		} else if (c == 'h') {
			fputs(kw_enroll_help, stdout);
			return KW_EXIT_OK;
		} else if ((e = kw_enroll_opt_num(c, optarg, a)) != -1) {
			if (e != KW_EXIT_OK)
				return e;
		} else
			return kw_cli_usage_error("enroll est", "bad option");
	}
	if (optind != argc)
		return kw_cli_usage_error("enroll est", "unexpected argument "
		    "'%s'", argv[optind]);
	return -1;
}

/* What each mode needs.  -1: fine; else the exit code. */
static int
kw_enroll_check_args(const struct kw_enroll_args *a)
{
	if (a->ca != NULL && a->ca_fp != NULL)
		return kw_cli_usage_error("enroll est", "give --ca or "
		    "--ca-fingerprint, not both");
	if ((a->boot_cert != NULL && a->boot_key == NULL) ||
	    (a->boot_key != NULL && a->boot_cert == NULL &&
	    !kw_keyref_cert_on_token(NULL, a->boot_key)))
		return kw_cli_usage_error("enroll est", "--bootstrap-cert and "
		    "--bootstrap-key go together (for a pkcs11: key the "
		    "certificate on its token is the default)");
	if (a->password_file != NULL && a->user == NULL)
		return kw_cli_usage_error("enroll est", "--password-file needs "
		    "--user");
	if (a->ak != NULL && !a->attest)
		return kw_cli_usage_error("enroll est", "--ak goes with "
		    "--attest");
	if (a->attest) {
		if (a->renew || a->show_ca || a->watch || a->check ||
		    a->resume)
			return kw_cli_usage_error("enroll est", "--attest is for "
			    "a first enrollment (--server, --key, --subject, "
			    "--out)");
		if (a->ak == NULL || kw_enroll_tpm_spec(a->ak) == NULL)
			return kw_cli_usage_error("enroll est", "--attest needs "
			    "--ak tpm:PATH (the attestation key made by "
			    "keyward attest init)");
		if (a->key != NULL && kw_enroll_tpm_spec(a->key) == NULL)
			return kw_cli_usage_error("enroll est", "--attest: %s "
			    "is not a TPM key; only a TPM can prove (TPM2_"
			    "Certify) that it holds a key, a PKCS#11 token "
			    "gives no evidence a CA can check", a->key);
	}
	if (a->show_ca) {
		if (a->server == NULL)
			return kw_cli_usage_error("enroll est", "--show-ca needs "
			    "--server");
	} else if (a->watch) {
		if (a->state == NULL)
			return kw_cli_usage_error("enroll est", "--watch needs "
			    "--state FILE");
	} else if (a->check) {
		if (a->state == NULL)
			return kw_cli_usage_error("enroll est", "--check needs "
			    "--state FILE");
	} else if (a->renew && a->state != NULL) {
		;
	} else if (a->renew) {
		if (a->key == NULL || (a->cert == NULL &&
		    !kw_keyref_cert_on_token(NULL, a->key)) || a->server == NULL ||
		    (a->ca == NULL && a->ca_fp == NULL))
			return kw_cli_usage_error("enroll est", "--renew needs "
			    "--state FILE, or --key, --cert, --server and --ca");
		if (a->out == NULL && kw_keyref_cert_on_token(a->cert, a->key))
			return kw_cli_usage_error("enroll est", "--renew with the "
			    "certificate on a token needs --out FILE");
	} else {
		if (a->server == NULL || a->key == NULL || a->out == NULL ||
		    a->subject == NULL)
			return kw_cli_usage_error("enroll est", "--server, --key, "
			    "--subject and --out are required");
		if (a->store_on_token && !kw_keyref_can_store_cert(a->key))
			return kw_cli_usage_error("enroll est", "--store-on-token "
			    "needs a pkcs11: key (a TPM holds no certificates)");
		/* an enrollment writes the key reference to its state file */
		if (kw_keyref_has_pin(a->key))
			return kw_cli_usage_error("enroll est", "the key URI "
			    "holds its PIN (pin-value), which would be written "
			    "into the state file: put the PIN in a file (mode "
			    "0600) and use ?pin-source=file:PATH");
	}
	return -1;
}

/* Run the mode the arguments chose. */
static int
kw_enroll_dispatch(struct kw_enroll_args *a)
{
	if (a->show_ca)
		return est_show_cacerts(a->server, a->timeout_ms);
	if (a->watch)
		return kw_enroll_watch(a);
	if (a->check)
		return kw_enroll_check(a);
	if (a->renew && a->state != NULL)
		return kw_enroll_renew_state(a);
	if (a->renew)
		return kw_enroll_renew_plain(a);
	return kw_enroll_first(a);
}

/* --renew, --watch or --check together with --state. */
static int
kw_enroll_state_mode(int argc, char **argv)
{
	int i, mode = 0, state = 0;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--renew") == 0 ||
		    strcmp(argv[i], "--watch") == 0 ||
		    strcmp(argv[i], "--check") == 0)
			mode = 1;
		else if (strcmp(argv[i], "--state") == 0 ||
		    strncmp(argv[i], "--state=", 8) == 0)
			state = 1;
	}
	return mode && state;
}

int
cmd_enroll(int argc, char **argv)
{
	struct kw_enroll_args a;
	int r, e, wolf;

	memset(&a, 0, sizeof(a));
	a.wait_s = 300;
	a.grace = -1;
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(kw_enroll_help, stdout);
		return KW_EXIT_OK;
	}
	/* the state-driven modes are the same for every protocol: the state
	 * file says which one to speak */
	if (argc >= 2 && strcmp(argv[1], "acme") == 0 &&
	    !kw_enroll_state_mode(argc, argv))
		return cmd_enroll_acme(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "scep") == 0 &&
	    !kw_enroll_state_mode(argc, argv))
		return cmd_enroll_scep(argc - 1, argv + 1);
	if (argc < 2 || (strcmp(argv[1], "est") != 0 &&
	    strcmp(argv[1], "acme") != 0 && strcmp(argv[1], "scep") != 0))
		return kw_cli_usage_error("enroll", "the protocol comes first: "
		    "'keyward enroll est|acme|scep ...'");
	if ((e = kw_enroll_parse(argc - 1, argv + 1, &a)) != -1 ||
	    (e = kw_enroll_check_args(&a)) != -1)
		return e;
	wolf = (r = kw_wolf_init()) == KW_OK;
	if (wolf)
		r = kw_enroll_dispatch(&a);
	kw_keyref_shutdown();
	if (wolf)
		kw_wolf_cleanup();
	return kw_exit_code(r);
}
