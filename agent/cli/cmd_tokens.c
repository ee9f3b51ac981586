/* keyward tokens: list PKCS#11 slots, tokens, keys and certificates with
 * their pkcs11: URIs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/cli/cli.h"
#include "agent/keys/pin.h"
#include "pkcs11/p11_key.h"

static const char kw_tokens_help[] =
"usage: keyward tokens [--module PATH] [--login [--pin-file FILE]]\n"
"\n"
"List the slots of a PKCS#11 module, the tokens in them (label,\n"
"manufacturer, model, serial, flags such as login required, PIN count low,\n"
"PIN final try, PIN locked) and each token's keys and certificates with the\n"
"full pkcs11: URI to use as --key.  Public objects need no PIN; --login\n"
"logs in (once per token) to show the private keys as well.\n"
"\n"
"      --module PATH        PKCS#11 module (default: OpenSC's opensc-pkcs11.so)\n"
"      --login              log in to list private objects too\n"
"      --pin-file FILE      PIN for --login, first line of FILE (else a\n"
"                           no-echo prompt on the terminal)\n"
"      --ask-password       ask for the PIN with systemd-ask-password\n"
"      --verbose            log debug detail (never secrets)\n"
"  -h, --help               this help\n"
"\n"
KW_EXIT_HELP;

enum {
	KW_OPT_LOGIN = KW_OPT_FIRST_FREE,
	KW_OPT_PIN_FILE,
	KW_OPT_ASK_PASSWORD,
};

int
cmd_tokens(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "module", required_argument, NULL, KW_OPT_MODULE },
		{ "login", no_argument, NULL, KW_OPT_LOGIN },
		{ "pin-file", required_argument, NULL, KW_OPT_PIN_FILE },
		{ "ask-password", no_argument, NULL, KW_OPT_ASK_PASSWORD },
		{ "verbose", no_argument, NULL, KW_OPT_VERBOSE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kw_pin_opts pin;
	struct p11_opts p;
	const char *risk = getenv("KEYWARD_RISK_FINAL_PIN_TRY");
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
	r = p11_list(&p, stdout);
	fflush(stdout);
	p11_shutdown();
	return kw_exit_code(r);
}
