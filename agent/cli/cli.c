/* What every subcommand shares: the key options and the one-line usage
 * error.  (main.c holds only main() and the table of subcommands; it is
 * built into each binary, this file into the library they share.) */
#include <stdarg.h>
#include <stdio.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_redact.h"
#include "agent/cli/cli.h"

int
kw_cli_keyopt(int c, const char *arg, struct kw_keyref_opts *opts)
{
	switch (c) {
	case KW_OPT_TCTI:
		opts->tcti = arg;
		return 1;
	case KW_OPT_MODULE:
		opts->module = arg;
		return 1;
	case KW_OPT_AUTH_FILE:
		opts->auth_file = arg;
		return 1;
	case KW_OPT_ALLOW_EXPORTABLE:
		opts->allow_exportable = 1;
		return 1;
	case KW_OPT_VERBOSE:
		kw_log_setup(KW_LOG_DEBUG, 0);
		return 1;
	default:
		return 0;
	}
}

int
kw_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kw_redact_text(msg, sizeof(msg));	/* an argument may be a URI */
	fprintf(stderr, "keyward %s: %s (see 'keyward %s --help')\n", cmd,
	    msg, cmd);
	return KW_EXIT_USAGE;
}
