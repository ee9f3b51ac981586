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
	/* kw_cli_enroll_opt's */
	KW_OPT_SAN = 0x120,
	KW_OPT_CHAIN_OUT,
	KW_OPT_TIMEOUT,
	KW_OPT_WAIT,
	KW_OPT_STATE,
	KW_OPT_SAME_KEY,
	KW_OPT_RENEW_AT,
	KW_OPT_RENEW,
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

/* The options `enroll acme` and `enroll scep` share (their longopts:
 * KW_KEY_LONGOPTS, KW_ENROLL_LONGOPTS; --renew where it is offered). */
#define KW_CLI_MAX_SANS	16

#define KW_ENROLL_LONGOPTS \
	{ "server", required_argument, NULL, 's' }, \
	{ "out", required_argument, NULL, 'o' }, \
	{ "san", required_argument, NULL, KW_OPT_SAN }, \
	{ "chain-out", required_argument, NULL, KW_OPT_CHAIN_OUT }, \
	{ "timeout", required_argument, NULL, KW_OPT_TIMEOUT }, \
	{ "wait", required_argument, NULL, KW_OPT_WAIT }, \
	{ "state", required_argument, NULL, KW_OPT_STATE }, \
	{ "same-key", no_argument, NULL, KW_OPT_SAME_KEY }, \
	{ "renew-at", required_argument, NULL, KW_OPT_RENEW_AT }

struct kw_cli_enroll {
	struct kw_keyref_opts kopts;
	const char *server, *key, *out, *chain_out, *state;
	const char *sans[KW_CLI_MAX_SANS];
	size_t nsans;
	int timeout_ms, same_key, renew;
	unsigned wait_s, renew_at;
};

/* Defaults: --timeout 30, --wait 300. */
void kw_cli_enroll_init(struct kw_cli_enroll *e);

/* Handle one of the shared enroll options (the key options too) for the
 * subcommand cmd; --wait takes wait_min..86400 seconds.  Returns -1 when
 * c is not one of them, else KW_EXIT_OK or KW_EXIT_USAGE (printed). */
int kw_cli_enroll_opt(const char *cmd, unsigned wait_min, int c,
    const char *arg, struct kw_cli_enroll *e);

/* Into a new identity: what the shared options say (server, key, out,
 * chain-out, SANs, key options, same-key, renew-at; paths absolute) and
 * subject. */
struct kw_identity;
int kw_cli_enroll_identity(const struct kw_cli_enroll *e, const char *subject,
    struct kw_identity *id);

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
