/* keyward enroll scep: get a certificate for a hardware key over SCEP
 * (RFC 8894).  The key must be RSA and allowed to decrypt (the CA encrypts
 * its answer to it; the token decrypts).  The issued certificate must
 * carry the key's public key and chain to the CA, or nothing is stored. */
#include <limits.h>
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
#include "enroll/est.h"
#include "enroll/est_der.h"
#include "enroll/est_sched.h"

static const char kw_scep_help[] =
"usage: keyward enroll scep --server URL (--ca FILE | --ca-fingerprint SHA256)\n"
"           --key REF --subject DN [--san NAME...] --challenge-file FILE\n"
"           --out CERTFILE [--chain-out FILE] [--state FILE]\n"
"           [--renew-at PCT] [--same-key] [--timeout SECONDS] [--wait SECONDS]\n"
"       keyward enroll scep --renew --state FILE [--force] [--same-key]\n"
"       keyward enroll scep --watch --state FILE\n"
"       keyward enroll scep --check --state FILE\n"
"\n"
"Enroll a hardware key for a certificate over SCEP (RFC 8894).  The key\n"
"must be RSA and made with `keyward keygen --alg rsa2048 --usage\n"
"sign,decrypt`: the request is signed by it (through a transient\n"
"self-signed certificate) and the CA's answer is encrypted to it and\n"
"decrypted inside the token.  The request's envelope uses AES and SHA-256\n"
"when the CA's GetCACaps allows; weaker algorithms in the CA's answer are\n"
"accepted with a warning because the issued certificate is checked on its\n"
"own: it must carry the key's public key and chain to the CA, else nothing\n"
"is stored.  Renewal sends a RenewalReq signed with the current\n"
"certificate and key.\n"
"\n"
"  -s, --server URL         the SCEP URL, http:// or https://\n"
"                           (e.g. http://ca.example:8080/scep)\n"
"      --ca FILE            the CA certificate (PEM or DER)\n"
"      --ca-fingerprint FP  or its SHA-256 (hex); checked against GetCACert\n"
"                           and kept next to the certificate (CERTFILE.ca.pem)\n"
"      --subject DN         CSR subject, e.g. CN=device-17,O=Example\n"
"      --san NAME           dns:NAME, ip:ADDR, uri:URI, email:ADDR (repeatable)\n"
"      --challenge-file FILE  the challenge password (first line; mode 0600)\n"
"  -o, --out CERTFILE       issued certificate (PEM, 0644)\n"
"      --chain-out FILE     the CA chain (PEM)\n"
"      --state FILE         identity state for renewal (default CERTFILE.state)\n"
"      --renew-at PCT       renew at this share of the lifetime (default 66%)\n"
"      --same-key           renew without a new key (default: a new key each time)\n"
"      --renew, --watch, --check  with --state: as for 'keyward enroll est'\n"
"                           (the state file says which protocol to speak)\n"
"      --timeout SECONDS    per request (default 30)\n"
"      --wait SECONDS       how long to poll a PENDING request (default 300)\n"
KW_KEY_HELP
"\n"
KW_EXIT_HELP;

enum {
	OPT_CA = KW_OPT_FIRST_FREE,
	OPT_CA_FP,
	OPT_SUBJECT,
	OPT_CHALLENGE,
};

struct kw_scep_args {
	struct kw_cli_enroll e;	/* key, server, out, sans, timeouts... */
	const char *ca, *ca_fp, *subject, *challenge;
};

static int
scep_parse_args(int argc, char **argv, struct kw_scep_args *a)
{
	static const struct option longopts[] = {
		KW_KEY_LONGOPTS,
		KW_ENROLL_LONGOPTS,
		{ "ca", required_argument, NULL, OPT_CA },
		{ "ca-fingerprint", required_argument, NULL, OPT_CA_FP },
		{ "subject", required_argument, NULL, OPT_SUBJECT },
		{ "challenge-file", required_argument, NULL, OPT_CHALLENGE },
		{ "renew", no_argument, NULL, KW_OPT_RENEW },
		{ NULL, 0, NULL, 0 },
	};
	int c, e;

	memset(a, 0, sizeof(*a));
	kw_cli_enroll_init(&a->e);
	while ((c = getopt_long(argc, argv, "k:s:o:h", longopts, NULL)) != -1) {
		if ((e = kw_cli_enroll_opt("enroll scep", 0, c, optarg,
		    &a->e)) != -1) {
			if (e != KW_EXIT_OK)
				return e;
			continue;
		}
		switch (c) {
		case 'h':
			fputs(kw_scep_help, stdout);
			return 1;
		case OPT_CA: a->ca = optarg; break;
		case OPT_CA_FP: a->ca_fp = optarg; break;
		case OPT_SUBJECT: a->subject = optarg; break;
		case OPT_CHALLENGE: a->challenge = optarg; break;
		default:
			return kw_cli_usage_error("enroll scep",
			    "unknown option");
		}
	}
	if (optind != argc)
		return kw_cli_usage_error("enroll scep", "unexpected argument "
		    "'%s'", argv[optind]);
	if (a->e.renew)
		return kw_cli_usage_error("enroll scep", "--renew goes with "
		    "--state FILE (the identity the first enrollment wrote)");
	if (a->e.server == NULL || a->e.key == NULL || a->e.out == NULL ||
	    a->subject == NULL)
		return kw_cli_usage_error("enroll scep", "--server, --key, "
		    "--subject and --out are required");
	if ((a->ca == NULL) == (a->ca_fp == NULL))
		return kw_cli_usage_error("enroll scep", "give --ca FILE or "
		    "--ca-fingerprint SHA256 (one of them)");
	if (kw_keyref_has_pin(a->e.key))
		return kw_cli_usage_error("enroll scep", "a key URI holds its "
		    "PIN (pin-value), which would be written into the state "
		    "file: put the PIN in a file (mode 0600) and use "
		    "?pin-source=file:PATH");
	return KW_OK;
}

/* The CA the identity trusts from now on: --ca, or what the pin proved,
 * written next to the certificate. */
static int
scep_keep_ca(const struct kw_scep_args *a, const struct kw_enroll_res *res,
    struct kw_identity *id)
{
	char path[PATH_MAX], *pem = NULL;
	size_t len;
	int r;

	if (a->ca != NULL)
		return kw_identity_set_path(&id->ca_file, a->ca);
	snprintf(path, sizeof(path), "%s.ca.pem", a->e.out);
	if ((r = est_certs_pem(&res->cacerts, 0, &pem, &len)) == KW_OK &&
	    (r = kw_file_write_atomic(path, pem, len, 0644, 0)) == KW_OK)
		r = kw_identity_set_path(&id->ca_file, path);
	free(pem);
	return r;
}

static int
scep_enroll_first(const struct kw_scep_args *a)
{
	struct kw_identity *id = NULL;
	struct kw_enroll_req req;
	struct kw_enroll_res res;
	struct kw_scep_id sc;
	struct est_cert_info ci;
	struct kw_key *key = NULL;
	char state_path[PATH_MAX], when[40];
	int r;

	memset(&res, 0, sizeof(res));
	snprintf(state_path, sizeof(state_path), "%s%s",
	    a->e.state ? a->e.state : a->e.out, a->e.state ? "" : ".state");
	if (access(state_path, F_OK) == 0) {
		kw_err("%s already holds an enrolled identity: renew it with "
		    "'keyward enroll scep --renew --state %s', or remove it to "
		    "start over", state_path, state_path);
		return KW_ERR_EXISTS;
	}
	sc.challenge_file = (char *)a->challenge;
	if ((r = kw_keyref_open(a->e.key, &a->e.kopts, &key)) != KW_OK) {
		kw_err("cannot open key %s: %s", a->e.key, kw_strerror(r));
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.protocol = "scep";
	req.scep = &sc;
	req.kopts = &a->e.kopts;
	req.server = a->e.server;
	req.ca_file = a->ca;
	req.ca_fingerprint = a->ca_fp;
	req.key = key;
	req.subject = a->subject;
	req.sans = a->e.sans;
	req.nsans = a->e.nsans;
	req.wait_s = a->e.wait_s;
	req.timeout_ms = a->e.timeout_ms;
	if ((r = kw_enroll_run(&req, &res)) == KW_ERR_PENDING)
		kw_err("SCEP: the request is still PENDING at the CA after %u s: "
		    "nothing stored; run the same command again later (same "
		    "key, same transaction)", a->e.wait_s);
	if (r != KW_OK ||
	    (r = kw_enroll_store(&res, a->e.out, a->e.chain_out)) != KW_OK ||
	    (r = est_cert_info(res.certs.c[0].der, res.certs.c[0].len, &ci)) !=
	    KW_OK)
		goto out;
	if ((r = kw_identity_new(&id)) != KW_OK)
		goto out;
	if ((r = kw_identity_set_path(&id->path, state_path)) != KW_OK ||
	    (r = kw_identity_set(&id->protocol, "scep")) != KW_OK ||
	    (r = kw_identity_set_path(&id->scep.challenge_file,
	    a->challenge)) != KW_OK ||
	    (r = scep_keep_ca(a, &res, id)) != KW_OK ||
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

int
cmd_enroll_scep(int argc, char **argv)
{
	struct kw_scep_args a;
	int r, wolf = 0;

	if ((r = scep_parse_args(argc, argv, &a)) != KW_OK)
		return r == 1 ? KW_EXIT_OK : r;
	if ((r = kw_wolf_init()) != KW_OK)
		goto out;
	wolf = 1;
	r = scep_enroll_first(&a);
out:
	kw_keyref_shutdown();
	if (wolf)
		kw_wolf_cleanup();
	return kw_exit_code(r);
}
