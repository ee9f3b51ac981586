/* keyward enroll acme: get a certificate for a hardware key over ACME
 * (RFC 8555).  The account key is a hardware key too; the CSR is signed
 * by the key being certified; the chain must verify and carry that key or
 * nothing is stored. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const char kw_acme_help[] =
"usage: keyward enroll acme --server DIRECTORY_URL --ca FILE --key REF\n"
"           --account-key REF --san dns:NAME... --out CERTFILE\n"
"           [--chain-out FILE] [--issuer-ca FILE] [--subject DN]\n"
"           [--eab-kid ID --eab-hmac-file FILE] [--contact URI]...\n"
"           [--http-01 ADDR | --tls-alpn-01 ADDR] [--timeout SECONDS]\n"
"           [--wait SECONDS]\n"
"       keyward enroll acme --deactivate --server URL --ca FILE\n"
"           --account-key REF\n"
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
"      --deactivate         deactivate the account of --account-key\n"
"      --timeout SECONDS    per request (default 30)\n"
"      --wait SECONDS       polling budget for the order (default 300)\n"
KW_KEY_HELP
"\n"
KW_EXIT_HELP;

enum {
	OPT_SAN = KW_OPT_FIRST_FREE,
	OPT_CA,
	OPT_ACCOUNT_KEY,
	OPT_SUBJECT,
	OPT_ISSUER_CA,
	OPT_EAB_KID,
	OPT_EAB_HMAC_FILE,
	OPT_CONTACT,
	OPT_HTTP01,
	OPT_TLSALPN,
	OPT_CHAIN_OUT,
	OPT_DEACTIVATE,
	OPT_TIMEOUT,
	OPT_WAIT,
};

#define ACME_MAX_LIST	16

struct kw_acme_args {
	struct kw_keyref_opts kopts;
	const char *server, *ca, *key, *account_key, *subject, *issuer_ca;
	const char *eab_kid, *eab_file, *http01, *tlsalpn, *out, *chain_out;
	const char *sans[ACME_MAX_LIST], *contacts[ACME_MAX_LIST];
	size_t nsans, ncontacts;
	int deactivate, timeout_ms;
	unsigned wait_s;
};

static int
acme_parse_args(int argc, char **argv, struct kw_acme_args *a)
{
	static const struct option longopts[] = {
		KW_KEY_LONGOPTS,
		{ "server", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "san", required_argument, NULL, OPT_SAN },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "account-key", required_argument, NULL, OPT_ACCOUNT_KEY },
		{ "subject", required_argument, NULL, OPT_SUBJECT },
		{ "issuer-ca", required_argument, NULL, OPT_ISSUER_CA },
		{ "eab-kid", required_argument, NULL, OPT_EAB_KID },
		{ "eab-hmac-file", required_argument, NULL, OPT_EAB_HMAC_FILE },
		{ "contact", required_argument, NULL, OPT_CONTACT },
		{ "http-01", required_argument, NULL, OPT_HTTP01 },
		{ "tls-alpn-01", required_argument, NULL, OPT_TLSALPN },
		{ "chain-out", required_argument, NULL, OPT_CHAIN_OUT },
		{ "deactivate", no_argument, NULL, OPT_DEACTIVATE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "wait", required_argument, NULL, OPT_WAIT },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	unsigned long v;
	int c;

	memset(a, 0, sizeof(*a));
	a->timeout_ms = 30000;
	a->wait_s = 300;
	while ((c = getopt_long(argc, argv, "k:s:o:h", longopts, NULL)) != -1) {
		if (kw_cli_keyopt(c, optarg, &a->kopts))
			continue;
		switch (c) {
		case 'h':
			fputs(kw_acme_help, stdout);
			return 1;
		case 'k': a->key = optarg; break;
		case 's': a->server = optarg; break;
		case 'o': a->out = optarg; break;
		case OPT_CA: a->ca = optarg; break;
		case OPT_ACCOUNT_KEY: a->account_key = optarg; break;
		case OPT_SUBJECT: a->subject = optarg; break;
		case OPT_ISSUER_CA: a->issuer_ca = optarg; break;
		case OPT_EAB_KID: a->eab_kid = optarg; break;
		case OPT_EAB_HMAC_FILE: a->eab_file = optarg; break;
		case OPT_HTTP01: a->http01 = optarg; break;
		case OPT_TLSALPN: a->tlsalpn = optarg; break;
		case OPT_CHAIN_OUT: a->chain_out = optarg; break;
		case OPT_DEACTIVATE: a->deactivate = 1; break;
		case OPT_SAN:
			if (a->nsans >= ACME_MAX_LIST)
				return kw_cli_usage_error("enroll acme",
				    "at most %d --san", ACME_MAX_LIST);
			a->sans[a->nsans++] = optarg;
			break;
		case OPT_CONTACT:
			if (a->ncontacts >= ACME_MAX_LIST)
				return kw_cli_usage_error("enroll acme",
				    "at most %d --contact", ACME_MAX_LIST);
			a->contacts[a->ncontacts++] = optarg;
			break;
		case OPT_TIMEOUT:
		case OPT_WAIT:
			v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v == 0 ||
			    v > 86400)
				return kw_cli_usage_error("enroll acme",
				    "%s takes 1..86400 seconds", c ==
				    OPT_TIMEOUT ? "--timeout" : "--wait");
			if (c == OPT_TIMEOUT)
				a->timeout_ms = (int)(v * 1000);
			else
				a->wait_s = (unsigned)v;
			break;
		default:
			return kw_cli_usage_error("enroll acme",
			    "unknown option");
		}
	}
	if (optind != argc)
		return kw_cli_usage_error("enroll acme", "unexpected argument "
		    "'%s'", argv[optind]);
	if (a->server == NULL || a->ca == NULL || a->account_key == NULL)
		return kw_cli_usage_error("enroll acme", "--server, --ca and "
		    "--account-key are required");
	if ((a->eab_kid == NULL) != (a->eab_file == NULL))
		return kw_cli_usage_error("enroll acme", "--eab-kid and "
		    "--eab-hmac-file go together");
	if (a->http01 != NULL && a->tlsalpn != NULL)
		return kw_cli_usage_error("enroll acme", "give --http-01 or "
		    "--tls-alpn-01, not both");
	if (a->deactivate)
		return KW_OK;
	if (a->key == NULL || a->out == NULL || a->nsans == 0)
		return kw_cli_usage_error("enroll acme", "--key, --out and at "
		    "least one --san are required");
	if (strcmp(a->key, a->account_key) == 0)
		return kw_cli_usage_error("enroll acme", "--account-key must "
		    "be another key than --key (RFC 8555 11.1)");
	return KW_OK;
}

/* The EAB MAC key: base64url in a file only its owner can read. */
static int
acme_read_eab(const char *path, uint8_t **mac, size_t *len)
{
	char *s = NULL;
	int r;

	*mac = NULL;
	*len = 0;
	if ((r = kw_secret_from_file(path, &s)) != KW_OK) {
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
		r = KW_ERR_PARSE;
	}
	kw_free_secret(s);
	return r;
}

static int
acme_open_or_create(const char *ref, const struct kw_keyref_opts *o,
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

/* The chain as issued: leaf for our key first, verified to the issuer
 * CA when given, else to the top of what the server sent. */
static int
acme_check_chain(const struct kw_acme_args *a, struct kw_key *key,
    struct kw_enroll_res *res)
{
	uint8_t spki[KW_MAX_PUBKEY_DER];
	size_t slen = sizeof(spki);
	int r;

	if ((r = kw_key_public_der(key, spki, &slen)) != KW_OK)
		return r;
	if (a->issuer_ca != NULL) {
		if ((r = est_certs_from_file(a->issuer_ca, &res->cacerts)) !=
		    KW_OK) {
			kw_err("cannot read --issuer-ca %s: %s", a->issuer_ca,
			    kw_strerror(r));
			return r;
		}
	} else if ((r = est_certs_add(&res->cacerts,
	    res->certs.c[res->certs.n - 1].der,
	    res->certs.c[res->certs.n - 1].len)) != KW_OK)
		return r;
	/* est_verify_issued says why it refuses, in one line */
	r = est_verify_issued(&res->cacerts, &res->certs, spki, slen);
	if (a->issuer_ca == NULL)
		est_certs_clear(&res->cacerts);
	return r;
}

static int
acme_enroll(const struct kw_acme_args *a, struct acme_client *c)
{
	struct kw_key *key = NULL;
	struct kw_enroll_res res;
	struct kw_csr_req creq;
	struct acme_http01 *h = NULL;
	struct acme_tlsalpn *t = NULL;
	struct acme_responder resp, *rp = NULL;
	char subject[300];
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	int r;

	memset(&res, 0, sizeof(res));
	if ((r = kw_keyref_open(a->key, &a->kopts, &key)) != KW_OK) {
		kw_err("cannot open key %s: %s", a->key, kw_strerror(r));
		goto out;
	}
	if (a->subject != NULL)
		snprintf(subject, sizeof(subject), "%s", a->subject);
	else
		snprintf(subject, sizeof(subject), "CN=%s",
		    strchr(a->sans[0], ':') + 1);
	memset(&creq, 0, sizeof(creq));
	creq.subject = subject;
	creq.sans = a->sans;
	creq.nsans = a->nsans;
	if ((r = kw_csr_check(&creq)) != KW_OK ||
	    (r = kw_csr_make(key, &creq, &csr, &csr_len)) != KW_OK)
		goto out;
	if (a->http01 != NULL) {
		if ((r = acme_http01_start(a->http01, &h)) != KW_OK)
			goto out;
		acme_http01_responder(h, &resp);
		rp = &resp;
	} else if (a->tlsalpn != NULL) {
		if ((r = acme_tlsalpn_start(a->tlsalpn, key, &t)) !=
		    KW_OK)
			goto out;
		acme_tlsalpn_responder(t, &resp);
		rp = &resp;
	}
	r = acme_order(c, a->sans, a->nsans, rp, csr, csr_len, &res.certs);
	acme_http01_stop(h);
	acme_tlsalpn_stop(t);
	if (r != KW_OK)
		goto out;
	if ((r = acme_check_chain(a, key, &res)) != KW_OK ||
	    (r = kw_enroll_store(&res, a->out, a->chain_out)) != KW_OK)
		goto out;
	kw_info("certificate for %s stored in %s", a->sans[0], a->out);
out:
	kw_enroll_res_clear(&res);
	free(csr);
	kw_key_close(key);
	return r;
}

int
cmd_enroll_acme(int argc, char **argv)
{
	struct kw_acme_args a;
	struct acme_conf conf;
	struct acme_client *c = NULL;
	struct kw_key *acct = NULL;
	uint8_t *mac = NULL;
	size_t mac_len = 0;
	int r, wolf = 0;

	if ((r = acme_parse_args(argc, argv, &a)) != KW_OK)
		return r == 1 ? KW_EXIT_OK : r;
	/* a validation server may close mid-handshake: an error, not a
	 * reason to die */
	signal(SIGPIPE, SIG_IGN);
	if ((r = kw_wolf_init()) != KW_OK)
		goto out;
	wolf = 1;
	if (a.eab_file != NULL &&
	    (r = acme_read_eab(a.eab_file, &mac, &mac_len)) != KW_OK)
		goto out;
	if ((r = acme_open_or_create(a.account_key, &a.kopts, &acct)) != KW_OK)
		goto out;
	memset(&conf, 0, sizeof(conf));
	conf.directory_url = a.server;
	conf.ca_file = a.ca;
	conf.account_key = acct;
	conf.contacts = a.contacts;
	conf.ncontacts = a.ncontacts;
	conf.eab_kid = a.eab_kid;
	conf.eab_hmac = mac;
	conf.eab_hmac_len = mac_len;
	conf.timeout_ms = a.timeout_ms;
	conf.wait_s = a.wait_s;
	if ((r = acme_client_new(&conf, &c)) != KW_OK)
		goto out;
	if ((r = acme_account(c)) != KW_OK)
		goto out;
	r = a.deactivate ? acme_deactivate(c) : acme_enroll(&a, c);
out:
	acme_client_free(c);
	kw_key_close(acct);
	if (mac != NULL)
		kw_freezero(mac, mac_len);
	kw_keyref_shutdown();
	if (wolf)
		kw_wolf_cleanup();
	return kw_exit_code(r);
}
