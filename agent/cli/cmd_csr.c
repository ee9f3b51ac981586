/* keyward csr: a PKCS#10 request signed by the hardware key. */
#include <wolfssl/options.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_wolf.h"
#include "agent/cli/cli.h"
#include "agent/keys/keyref.h"
#include "enroll/csr.h"

#define KW_CSR_MAX_SANS	64

static const char kw_csr_help[] =
"usage: keyward csr --key REF --subject 'CN=...,O=...' [--san TYPE:VALUE ...]\n"
"                   [--out FILE]\n"
"\n"
"Make a PKCS#10 certificate request signed by the hardware key (ECDSA-SHA256\n"
"or -SHA384 for EC keys, sha256WithRSAEncryption for RSA keys) and write it\n"
"as PEM to stdout or FILE.\n"
"\n"
"  -s, --subject DN         comma-separated CN, O, OU, C, L, ST (each at most\n"
"                           once, CN required); escape , + = \" \\ < > ; # in a\n"
"                           value with a backslash (RFC 4514)\n"
"      --san TYPE:VALUE     subjectAltName, repeatable: dns:NAME, uri:URI,\n"
"                           email:ADDR, ip:ADDR (IPv4 or IPv6)\n"
"  -o, --out FILE           write the PEM to FILE (replaced atomically, 0644)\n"
KW_KEY_HELP
"\n"
KW_EXIT_HELP;

int
cmd_csr(int argc, char **argv)
{
	static const struct option longopts[] = {
		KW_KEY_LONGOPTS,
		{ "subject", required_argument, NULL, 's' },
		{ "san", required_argument, NULL, KW_OPT_SAN },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sans[KW_CSR_MAX_SANS];
	struct kw_keyref_opts kopts;
	struct kw_csr_req req;
	struct kw_key *key = NULL;
	const char *ref = NULL, *out = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	char *pem = NULL;
	int c, r;

	memset(&kopts, 0, sizeof(kopts));
	memset(&req, 0, sizeof(req));
	req.sans = sans;
	while ((c = getopt_long(argc, argv, "k:s:o:h", longopts, NULL)) != -1) {
		if (kw_cli_keyopt(c, optarg, &kopts))
			continue;
		switch (c) {
		case 'k':
			ref = optarg;
			break;
		case 's':
			req.subject = optarg;
			break;
		case KW_OPT_SAN:
			if (req.nsans == KW_CSR_MAX_SANS)
				return kw_cli_usage_error("csr", "at most %d "
				    "--san options", KW_CSR_MAX_SANS);
			sans[req.nsans++] = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(kw_csr_help, stdout);
			return KW_EXIT_OK;
		default:
			return kw_cli_usage_error("csr", "bad option");
		}
	}
	if (ref == NULL)
		return kw_cli_usage_error("csr", "--key is required");
	if (req.subject == NULL)
		return kw_cli_usage_error("csr", "--subject is required");
	if (optind != argc)
		return kw_cli_usage_error("csr", "unexpected argument '%s'",
		    argv[optind]);
	/* Bad names are a usage error, found before the token is touched. */
	if (kw_csr_check(&req) != KW_OK)
		return kw_cli_usage_error("csr", "bad --subject or --san");

	if ((r = kw_wolf_init()) != KW_OK)
		goto out;
	if ((r = kw_keyref_open(ref, &kopts, &key)) != KW_OK) {
		kw_err("csr: cannot open key %s", ref);
		goto out;
	}
	if ((r = kw_csr_make(key, &req, &der, &der_len)) != KW_OK)
		goto out;
	if ((r = kw_csr_pem(der, der_len, &pem)) != KW_OK)
		goto out;
	if (out == NULL) {
		if (fputs(pem, stdout) == EOF || fflush(stdout) != 0) {
			kw_err("csr: cannot write to stdout");
			r = KW_ERR_IO;
		}
	} else if ((r = kw_file_write_atomic(out, pem, strlen(pem), 0644, 0))
	    != KW_OK)
		kw_err("csr: cannot write %s: %s", out, kw_strerror(r));
	else
		kw_info("wrote the request for %s to %s", ref, out);
	if (r == KW_OK)
		kw_debug("signatures made by the %s: %llu",
		    kw_key_backend(key),
		    (unsigned long long)kw_key_sign_count(key));
out:
	free(pem);
	free(der);
	kw_key_close(key);
	kw_keyref_shutdown();
	kw_wolf_cleanup();
	return kw_exit_code(r);
}
