/* keyward: hardware-held keys, enrollment and mutual-TLS tunnels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/cli/cli.h"

static const struct kw_cmd kw_cmds[] = {
	{ "keygen", cmd_keygen, "create a key inside a TPM or PKCS#11 token" },
	{ "csr", cmd_csr, "make a PKCS#10 request signed by a hardware key" },
	{ "connect", cmd_connect, "one mutual-TLS connection, stdin/stdout bridged" },
	{ "tokens", cmd_tokens, "list PKCS#11 slots, tokens, keys and certificates" },
	{ "tunnel", cmd_tunnel, "run one mTLS tunnel (client or server side)" },
	{ "run", cmd_run, "run the daemon: tunnels and renewal from a config file" },
	{ "status", cmd_status, "show the daemon's tunnels, counters and identities" },
	{ "enroll", cmd_enroll, "get a certificate for a hardware key (EST, ACME, SCEP)" },
	{ "attest", cmd_attest, "the TPM's attestation key, EK, quotes and certifications" },
	{ "posture", cmd_posture, "boot claims from the event log, OS facts, policy check" },
	{ "verify-attestation", cmd_verify_attestation,
	    "verify a device's TPM evidence against a policy" },
};

#define KW_NCMDS (sizeof(kw_cmds) / sizeof(kw_cmds[0]))

static void
kw_usage(FILE *f)
{
	size_t i;
	int w = 9;

	for (i = 0; i < KW_NCMDS; i++)
		if ((int)strlen(kw_cmds[i].name) > w)
			w = (int)strlen(kw_cmds[i].name);
	fprintf(f, "usage: keyward COMMAND [OPTIONS]\n\nCommands:\n");
	for (i = 0; i < KW_NCMDS; i++)
		fprintf(f, "  %-*s %s\n", w, kw_cmds[i].name,
		    kw_cmds[i].summary);
	fprintf(f, "\nRun 'keyward COMMAND --help' for a command's options.\n"
	    KW_EXIT_HELP);
}

static void
kw_harden(void)
{
	struct rlimit rl = { 0, 0 };

	/* No core dumps: a dump could hold PINs or session keys. */
	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int
main(int argc, char **argv)
{
	const char *journal = getenv("JOURNAL_STREAM");
	size_t i;

	kw_harden();
	kw_log_setup(KW_LOG_INFO, journal != NULL && *journal != '\0');
	if (argc < 2) {
		kw_usage(stderr);
		return KW_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		kw_usage(stdout);
		return KW_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("keyward %s\n", PACKAGE_VERSION);
		return KW_EXIT_OK;
	}
	if (strcmp(argv[1], "__signer") == 0)	/* hidden: see cmd_run.c */
		return cmd_signer(argc - 1, argv + 1);
	for (i = 0; i < KW_NCMDS; i++)
		if (strcmp(argv[1], kw_cmds[i].name) == 0)
			return kw_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "keyward: unknown command '%s' (see 'keyward --help')\n",
	    argv[1]);
	return KW_EXIT_USAGE;
}
