/* Shared pieces of the multi-call CLI: one table of subcommands in main.c,
 * one file per subcommand (cmd_NAME.c), each with --help. */
#ifndef KW_CLI_H
#define KW_CLI_H

#include <getopt.h>

#include "agent/keys/keyref.h"

struct kw_cmd {
	const char *name;
	int (*run)(int argc, char **argv);	/* returns an exit code */
	const char *summary;
};

/* Long options every key-using subcommand accepts. */
enum {
	KW_OPT_TCTI = 0x100,
	KW_OPT_MODULE,
	KW_OPT_AUTH_FILE,
	KW_OPT_ALLOW_EXPORTABLE,
	KW_OPT_VERBOSE,
	KW_OPT_FIRST_FREE = 0x140,	/* subcommands number theirs from here */
};

#define KW_KEY_LONGOPTS \
	{ "key", required_argument, NULL, 'k' }, \
	{ "tcti", required_argument, NULL, KW_OPT_TCTI }, \
	{ "module", required_argument, NULL, KW_OPT_MODULE }, \
	{ "auth-file", required_argument, NULL, KW_OPT_AUTH_FILE }, \
	{ "allow-exportable-key", no_argument, NULL, KW_OPT_ALLOW_EXPORTABLE }, \
	{ "verbose", no_argument, NULL, KW_OPT_VERBOSE }, \
	{ "help", no_argument, NULL, 'h' }

#define KW_KEY_HELP \
"  -k, --key REF            key reference: tpm:PATH, tpm:0x81XXXXXX, pkcs11:URI\n" \
"                           (a token's PIN: pkcs11:...?pin-source=file:PATH)\n" \
"      --tcti CONF          TPM TCTI (default: $TPM2TOOLS_TCTI, $TCTI, tctildr default)\n" \
"      --auth-file FILE     TPM key auth value, first line of FILE\n" \
"      --module PATH        PKCS#11 module (default: URI module-path, then OpenSC)\n" \
"      --allow-exportable-key  accept a PKCS#11 key that is extractable (warns)\n" \
"      --verbose            log debug detail (never secrets)\n" \
"  -h, --help               this help\n"

#define KW_EXIT_HELP \
"Exit status: 0 success, 1 failure, 2 usage or configuration error,\n" \
"3 key/token/PIN problem, 4 network/TLS/peer failure, 5 enrollment pending.\n"

/* Handle one of the KW_KEY_LONGOPTS (except --key and --help).
 * Returns 1 when c was one of them. */
int kw_cli_keyopt(int c, const char *arg, struct kw_keyref_opts *opts);

/* Print "keyward CMD: msg" style usage error and return KW_EXIT_USAGE. */
int kw_cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Subcommands. */
int cmd_keygen(int argc, char **argv);
int cmd_csr(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_tokens(int argc, char **argv);
int cmd_tunnel(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_signer(int argc, char **argv);
int cmd_signer(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_enroll(int argc, char **argv);
int cmd_enroll_acme(int argc, char **argv);
int cmd_attest(int argc, char **argv);
int cmd_enroll_scep(int argc, char **argv);
int cmd_verify_attestation(int argc, char **argv);
int cmd_posture(int argc, char **argv);

#endif
