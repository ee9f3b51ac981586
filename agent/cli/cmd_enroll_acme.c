/* keyward enroll acme: get a certificate for a hardware key over ACME
 * (RFC 8555).  The account key is a hardware key too; the CSR is signed
 * by the key being certified; the chain must verify and carry that key or
 * nothing is stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_wolf.h"
#include "agent/cli/cli.h"
#include "agent/identity/identity.h"
#include "agent/keys/keyref.h"
#include "enroll/acme.h"
#include "enroll/csr.h"
#include "enroll/est.h"
#include "enroll/est_sched.h"

static const char kw_acme_help[] =
"usage: keyward enroll acme --server DIRECTORY_URL --ca FILE --key REF\n"
"           --account-key REF --san dns:NAME... --out CERTFILE\n"
"           [--chain-out FILE] [--issuer-ca FILE] [--subject DN]\n"
"           [--eab-kid ID --eab-hmac-file FILE] [--contact URI]\n"
"           [--state FILE] [--renew-at PCT] [--same-key]\n"
"           [--http-01 ADDR | --tls-alpn-01 ADDR] [--timeout SECONDS]\n"
"           [--wait SECONDS]\n"
"       keyward enroll acme --renew --state FILE [--force] [--same-key]\n"
"       keyward enroll acme --watch --state FILE\n"
"       keyward enroll acme --check --state FILE\n"
"       keyward enroll acme --deactivate --server URL --ca FILE\n"
"           --account-key REF\n"
"       keyward enroll acme --rollover NEWREF --server URL --ca FILE\n"
"           --account-key REF [--state FILE]\n"
"\n"
"Enroll a hardware key for a certificate over ACME (RFC 8555).  Every JWS\n"
"is signed by the account key inside its token, the CSR by the key being\n"
"certified.  The issued certificate must carry the key's public key and\n"
"its chain must verify (against --issuer-ca when given), else nothing is\n"
"stored.\n"
"\n"
"  -s, --server URL         the ACME directory URL (https)\n"
"      --ca FILE            trust for the ACME server's own TLS certificate\n"
"      --account-key REF    the ACME account key (any key reference; created\n"
"                           as ec-p256 when it does not exist)\n"
"      --san NAME           dns:NAME or ip:ADDR (repeatable; at least one)\n"
"      --subject DN         CSR subject (default CN=the first name)\n"
"      --issuer-ca FILE     the issuing CA the chain must end at (PEM)\n"
"      --eab-kid ID         External Account Binding key id from the CA\n"
"      --eab-hmac-file FILE its MAC key (base64url, first line; mode 0600)\n"
"      --contact URI        account contact, e.g. mailto:it@example.com\n"
"      --http-01 ADDR       answer http-01 on HOST:PORT for this order only\n"
"      --tls-alpn-01 ADDR   answer tls-alpn-01 (RFC 8737) on HOST:PORT, with a\n"
"                           certificate signed by the key being certified\n"
"  -o, --out CERTFILE       issued certificate (PEM, 0644)\n"
"      --chain-out FILE     the chain (PEM)\n"
"      --state FILE         identity state for renewal (default CERTFILE.state)\n"
"      --renew-at PCT       renew at this share of the lifetime (default 66%)\n"
"      --same-key           renew without a new key (default: a new key each time)\n"
"      --renew, --watch, --check  with --state: as for 'keyward enroll est'\n"
"                           (the state file says which protocol to speak)\n"
"      --deactivate         deactivate the account of --account-key\n"
"      --rollover NEWREF    move the account to a new key (created as\n"
"                           ec-p256 when it does not exist); with --state\n"
"                           the identity uses it from then on\n"
"      --timeout SECONDS    per request (default 30)\n"
"      --wait SECONDS       polling budget for the order (default 300)\n"
KW_KEY_HELP
"\n"
KW_EXIT_HELP;

enum {
	OPT_CA = KW_OPT_FIRST_FREE,
	OPT_ACCOUNT_KEY,
	OPT_SUBJECT,
	OPT_ISSUER_CA,
	OPT_EAB_KID,
	OPT_EAB_HMAC_FILE,
	OPT_CONTACT,
	OPT_HTTP01,
	OPT_TLSALPN,
	OPT_DEACTIVATE,
	OPT_ROLLOVER,
};

struct kw_acme_args {
	struct kw_cli_enroll e;	/* key, server, out, sans, timeouts... */
	const char *ca, *account_key, *subject, *issuer_ca;
	const char *eab_kid, *eab_file, *http01, *tlsalpn;
	const char *contact, *rollover;
	int deactivate;
};

static int
acme_parse_args(int argc, char **argv, struct kw_acme_args *a)
{
	static const struct option longopts[] = {
		KW_KEY_LONGOPTS,
		KW_ENROLL_LONGOPTS,
		{ "ca", required_argument, NULL, OPT_CA },
		{ "account-key", required_argument, NULL, OPT_ACCOUNT_KEY },
		{ "subject", required_argument, NULL, OPT_SUBJECT },
		{ "issuer-ca", required_argument, NULL, OPT_ISSUER_CA },
		{ "eab-kid", required_argument, NULL, OPT_EAB_KID },
		{ "eab-hmac-file", required_argument, NULL, OPT_EAB_HMAC_FILE },
		{ "contact", required_argument, NULL, OPT_CONTACT },
		{ "http-01", required_argument, NULL, OPT_HTTP01 },
		{ "tls-alpn-01", required_argument, NULL, OPT_TLSALPN },
		{ "deactivate", no_argument, NULL, OPT_DEACTIVATE },
		{ "rollover", required_argument, NULL, OPT_ROLLOVER },
		{ NULL, 0, NULL, 0 },
	};
	int c, e;

	memset(a, 0, sizeof(*a));
	kw_cli_enroll_init(&a->e);
	while ((c = getopt_long(argc, argv, "k:s:o:h", longopts, NULL)) != -1) {
		if ((e = kw_cli_enroll_opt("enroll acme", 1, c, optarg,
		    &a->e)) != -1) {
			if (e != KW_EXIT_OK)
				return e;
			continue;
		}
		switch (c) {
		case 'h':
			fputs(kw_acme_help, stdout);
			return 1;
		case OPT_CA: a->ca = optarg; break;
		case OPT_ACCOUNT_KEY: a->account_key = optarg; break;
		case OPT_SUBJECT: a->subject = optarg; break;
		case OPT_ISSUER_CA: a->issuer_ca = optarg; break;
		case OPT_EAB_KID: a->eab_kid = optarg; break;
		case OPT_EAB_HMAC_FILE: a->eab_file = optarg; break;
		case OPT_HTTP01: a->http01 = optarg; break;
		case OPT_TLSALPN: a->tlsalpn = optarg; break;
		case OPT_DEACTIVATE: a->deactivate = 1; break;
		case OPT_CONTACT: a->contact = optarg; break;
		case OPT_ROLLOVER: a->rollover = optarg; break;
		default:
			return kw_cli_usage_error("enroll acme",
			    "unknown option");
		}
	}
	if (optind != argc)
		return kw_cli_usage_error("enroll acme", "unexpected argument "
		    "'%s'", argv[optind]);
	if (a->e.server == NULL || a->ca == NULL || a->account_key == NULL)
		return kw_cli_usage_error("enroll acme", "--server, --ca and "
		    "--account-key are required");
	if ((a->eab_kid == NULL) != (a->eab_file == NULL))
		return kw_cli_usage_error("enroll acme", "--eab-kid and "
		    "--eab-hmac-file go together");
	if (a->http01 != NULL && a->tlsalpn != NULL)
		return kw_cli_usage_error("enroll acme", "give --http-01 or "
		    "--tls-alpn-01, not both");
	if (a->deactivate && a->rollover != NULL)
		return kw_cli_usage_error("enroll acme", "--deactivate or "
		    "--rollover, not both");
	if (a->rollover != NULL && strcmp(a->rollover, a->account_key) == 0)
		return kw_cli_usage_error("enroll acme", "--rollover needs "
		    "another key than --account-key");
	if (a->deactivate || a->rollover != NULL)
		return KW_OK;
	if (a->e.key == NULL || a->e.out == NULL || a->e.nsans == 0)
		return kw_cli_usage_error("enroll acme", "--key, --out and at "
		    "least one --san are required");
	if (strcmp(a->e.key, a->account_key) == 0)
		return kw_cli_usage_error("enroll acme", "--account-key must "
		    "be another key than --key (RFC 8555 11.1)");
	/* an enrollment writes both key references to its state file */
	if (kw_keyref_has_pin(a->e.key) || kw_keyref_has_pin(a->account_key))
		return kw_cli_usage_error("enroll acme", "a key URI holds its "
		    "PIN (pin-value), which would be written into the state "
		    "file: put the PIN in a file (mode 0600) and use "
		    "?pin-source=file:PATH");
	return KW_OK;
}

/* First enrollment: the certificate stored, then the identity state
 * that `--renew --state`, `--watch` and the daemon's [identity] use. */
static int
acme_enroll(const struct kw_acme_args *a)
{
	struct kw_identity *id = NULL;
	struct kw_enroll_req req;
	struct kw_enroll_res res;
	struct kw_acme_id ac;
	struct est_cert_info ci;
	struct kw_key *key = NULL;
	char state_path[4096], chal[400] = "", when[40];
	int r;

	memset(&res, 0, sizeof(res));
	memset(&ac, 0, sizeof(ac));
	snprintf(state_path, sizeof(state_path), "%s%s",
	    a->e.state ? a->e.state : a->e.out, a->e.state ? "" : ".state");
	if (access(state_path, F_OK) == 0) {
		kw_err("%s already holds an enrolled identity: renew it with "
		    "'keyward enroll acme --renew --state %s', or remove it to "
		    "start over", state_path, state_path);
		return KW_ERR_EXISTS;
	}
	if (a->http01 != NULL || a->tlsalpn != NULL)
		snprintf(chal, sizeof(chal), "%s %s", a->http01 ? "http-01" :
		    "tls-alpn-01", a->http01 ? a->http01 : a->tlsalpn);
	ac.account_key_ref = (char *)a->account_key;
	ac.challenge = chal[0] != '\0' ? chal : NULL;
	ac.eab_kid = (char *)a->eab_kid;
	ac.eab_hmac_file = (char *)a->eab_file;
	ac.issuer_ca = (char *)a->issuer_ca;
	ac.contact = (char *)a->contact;
	if ((r = kw_keyref_open(a->e.key, &a->e.kopts, &key)) != KW_OK) {
		kw_err("cannot open key %s: %s", a->e.key, kw_strerror(r));
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.protocol = "acme";
	req.acme = &ac;
	req.kopts = &a->e.kopts;
	req.server = a->e.server;
	req.ca_file = a->ca;
	req.key = key;
	req.subject = a->subject;
	req.sans = a->e.sans;
	req.nsans = a->e.nsans;
	req.wait_s = a->e.wait_s;
	req.timeout_ms = a->e.timeout_ms;
	if ((r = kw_enroll_run(&req, &res)) != KW_OK ||
	    (r = kw_enroll_store(&res, a->e.out, a->e.chain_out)) != KW_OK ||
	    (r = est_cert_info(res.certs.c[0].der, res.certs.c[0].len, &ci)) !=
	    KW_OK)
		goto out;
	if ((r = kw_identity_new(&id)) != KW_OK)
		goto out;
	/* paths absolute: the daemon works in / (as for EST) */
	if ((r = kw_identity_set_path(&id->path, state_path)) != KW_OK ||
	    (r = kw_identity_set(&id->protocol, "acme")) != KW_OK ||
	    (r = kw_acme_id_copy(&id->acme, &ac)) != KW_OK ||
	    (r = kw_identity_set_keyref(&id->acme.account_key_ref,
	    a->account_key)) != KW_OK ||
	    (r = kw_identity_set_path(&id->acme.eab_hmac_file,
	    a->eab_file)) != KW_OK ||
	    (r = kw_identity_set_path(&id->acme.issuer_ca, a->issuer_ca)) !=
	    KW_OK ||
	    (r = kw_identity_set_path(&id->ca_file, a->ca)) != KW_OK ||
	    (r = kw_cli_enroll_identity(&a->e, a->subject, id)) != KW_OK)
		goto out;
	id->not_before = ci.not_before;
	id->not_after = ci.not_after;
	if ((r = kw_identity_save(id)) != KW_OK)
		goto out;
	kw_info("enrolled: certificate %s (valid until %s), state %s", a->e.out,
	    kw_time_str(ci.not_after, when, sizeof(when)), state_path);
out:
	kw_enroll_res_clear(&res);
	kw_identity_free(id);
	kw_key_close(key);
	return r;
}

/* --deactivate: the account of --account-key, which must exist. */
static int
acme_deactivate_account(const struct kw_acme_args *a)
{
	struct acme_conf conf;
	struct acme_client *c = NULL;
	struct kw_key *acct = NULL;
	int r;

	if ((r = kw_keyref_open(a->account_key, &a->e.kopts, &acct)) != KW_OK) {
		kw_err("cannot open the ACME account key %s: %s",
		    a->account_key, kw_strerror(r));
		return r;
	}
	memset(&conf, 0, sizeof(conf));
	conf.directory_url = a->e.server;
	conf.ca_file = a->ca;
	conf.account_key = acct;
	conf.timeout_ms = a->e.timeout_ms;
	if ((r = acme_client_new(&conf, &c)) == KW_OK)
		r = acme_deactivate(c);
	acme_client_free(c);
	kw_key_close(acct);
	return r;
}

/* --rollover: the account moves to a new hardware key; the state file,
 * when given, is updated only after the server has agreed. */
static int
acme_rollover(const struct kw_acme_args *a)
{
	struct acme_conf conf;
	struct acme_client *c = NULL;
	struct kw_identity *id = NULL;
	struct kw_key *acct = NULL, *nkey = NULL;
	int r;

	if (a->e.state != NULL && (r = kw_identity_load(a->e.state, &id)) != KW_OK)
		return r;
	if ((r = kw_keyref_open(a->account_key, &a->e.kopts, &acct)) != KW_OK) {
		kw_err("cannot open the ACME account key %s: %s",
		    a->account_key, kw_strerror(r));
		goto out;
	}
	if ((r = kw_acme_open_account(a->rollover, &a->e.kopts, &nkey)) !=
	    KW_OK)
		goto out;
	memset(&conf, 0, sizeof(conf));
	conf.directory_url = a->e.server;
	conf.ca_file = a->ca;
	conf.account_key = acct;
	conf.timeout_ms = a->e.timeout_ms;
	if ((r = acme_client_new(&conf, &c)) != KW_OK ||
	    (r = acme_key_change(c, nkey)) != KW_OK)
		goto out;
	if (id != NULL) {
		if ((r = kw_identity_set_keyref(&id->acme.account_key_ref,
		    a->rollover)) != KW_OK || (r = kw_identity_save(id)) !=
		    KW_OK) {
			kw_err("the account now uses %s, but %s could not be "
			    "updated: set its account key by hand", a->rollover,
			    a->e.state);
			goto out;
		}
	}
	printf("ACME account %s now uses %s\n", acme_account_url(c),
	    a->rollover);
out:
	acme_client_free(c);
	kw_key_close(acct);
	kw_key_close(nkey);
	kw_identity_free(id);
	return r;
}

int
cmd_enroll_acme(int argc, char **argv)
{
	struct kw_acme_args a;
	int r, wolf = 0;

	if ((r = acme_parse_args(argc, argv, &a)) != KW_OK)
		return r == 1 ? KW_EXIT_OK : r;
	if ((r = kw_wolf_init()) != KW_OK)
		goto out;
	wolf = 1;
	if (a.deactivate)
		r = acme_deactivate_account(&a);
	else if (a.rollover != NULL)
		r = acme_rollover(&a);
	else
		r = acme_enroll(&a);
out:
	kw_keyref_shutdown();
	if (wolf)
		kw_wolf_cleanup();
	return kw_exit_code(r);
}
