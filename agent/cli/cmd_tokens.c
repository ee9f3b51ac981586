/* keyward tokens: list PKCS#11 slots, tokens, keys and certificates with
 * their pkcs11: URIs; export a certificate from a token as PEM. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/cli/cli.h"
#include "agent/keys/keyref.h"
#include "agent/keys/pin.h"
#include "pkcs11/p11_key.h"

static const char kw_tokens_help[] =
"usage: keyward tokens [--module PATH] [--login [--pin-file FILE]]\n"
"       keyward tokens [--module PATH] --export-cert URI\n"
"\n"
"List the slots of a PKCS#11 module, the tokens in them (label,\n"
"manufacturer, model, serial, flags such as login required, PIN count low,\n"
"PIN final try, PIN locked) and each token's keys and certificates with the\n"
"full pkcs11: URI to use as --key.  Public objects need no PIN; --login\n"
"logs in (once per token) to show the private keys as well.\n"
"--export-cert prints a certificate on a token as PEM: URI names the\n"
"certificate (object=, id=), or a key (type=private) whose certificate it is.\n"
"\n"
"      --module PATH        PKCS#11 module (default: OpenSC's opensc-pkcs11.so)\n"
"      --login              log in to list private objects too\n"
"      --pin-file FILE      PIN for --login, first line of FILE (else a\n"
"                           no-echo prompt on the terminal)\n"
"      --ask-password       ask for the PIN with systemd-ask-password\n"
"      --export-cert URI    print that certificate (PEM) and exit\n"
"      --verbose            log debug detail (never secrets)\n"
"  -h, --help               this help\n"
"\n"
KW_EXIT_HELP;

enum {
	KW_OPT_LOGIN = KW_OPT_FIRST_FREE,
	KW_OPT_PIN_FILE,
	KW_OPT_ASK_PASSWORD,
	KW_OPT_EXPORT_CERT,
};

/* The certificate a URI names, as PEM on stdout. */
static int
kw_tokens_export(const char *uri, const char *module)
{
	struct kw_keyref_opts ko;
	uint8_t *der = NULL, *pem = NULL;
	size_t der_len = 0, cap;
	int r, n;

	memset(&ko, 0, sizeof(ko));
	ko.module = module;
	if ((r = kw_keyref_cert_load(uri, NULL, &ko, &der, &der_len))
	    != KW_OK)
		goto out;
	cap = der_len * 2 + 128;
	if ((pem = malloc(cap)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	n = wc_DerToPem(der, (word32)der_len, pem, (word32)cap, CERT_TYPE);
	if (n <= 0) {
		kw_err("the certificate on the token cannot be written as PEM");
		r = KW_ERR_CERT;
		goto out;
	}
	if (fwrite(pem, 1, (size_t)n, stdout) != (size_t)n) {
		r = KW_ERR_IO;
		goto out;
	}
	r = KW_OK;
out:
	free(der);
	free(pem);
	return r;
}

int
cmd_tokens(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "module", required_argument, NULL, KW_OPT_MODULE },
		{ "login", no_argument, NULL, KW_OPT_LOGIN },
		{ "pin-file", required_argument, NULL, KW_OPT_PIN_FILE },
		{ "ask-password", no_argument, NULL, KW_OPT_ASK_PASSWORD },
		{ "export-cert", required_argument, NULL, KW_OPT_EXPORT_CERT },
		{ "verbose", no_argument, NULL, KW_OPT_VERBOSE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kw_pin_opts pin;
	struct p11_opts p;
	const char *risk = getenv("KEYWARD_RISK_FINAL_PIN_TRY"), *export = NULL;
	char dir[4096];
	int c, r;

	memset(&p, 0, sizeof(p));
	memset(&pin, 0, sizeof(pin));
	p.pin_fn = kw_pin_ask;
	p.pin_arg = &pin;
	p.risk_final_try = risk != NULL && strcmp(risk, "1") == 0;
	p.state_dir = kw_keyref_state_dir(dir, sizeof(dir));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case KW_OPT_MODULE:
			p.module = optarg;
			break;
		case KW_OPT_LOGIN:
			p.login = 1;
			break;
		case KW_OPT_PIN_FILE:
			p.pin_file = optarg;
			break;
		case KW_OPT_ASK_PASSWORD:
			pin.ask_password = 1;
			break;
		case KW_OPT_EXPORT_CERT:
			export = optarg;
			break;
		case KW_OPT_VERBOSE:
			kw_log_setup(KW_LOG_DEBUG, 0);
			break;
		case 'h':
			fputs(kw_tokens_help, stdout);
			return KW_EXIT_OK;
		default:
			return kw_cli_usage_error("tokens", "bad option");
		}
	}
	if (optind != argc)
		return kw_cli_usage_error("tokens", "unexpected argument '%s'",
		    argv[optind]);
	if (p.pin_file != NULL && !p.login)
		return kw_cli_usage_error("tokens", "--pin-file needs --login");
	if (export != NULL) {
		if (p.login || p.pin_file != NULL)
			return kw_cli_usage_error("tokens", "--export-cert takes "
			    "the PIN from the URI (?pin-source=), not --login");
		r = kw_tokens_export(export, p.module);
		fflush(stdout);
		kw_keyref_shutdown();
		return kw_exit_code(r);
	}
	r = p11_list(&p, stdout);
	fflush(stdout);
	p11_shutdown();
	return kw_exit_code(r);
}
