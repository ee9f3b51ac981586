/* What every subcommand shares: the key options, the one-line usage
 * error, the options enroll acme and scep have in common.  (main.c holds
 * only main() and the table of subcommands; it is built into each binary,
 * this file into the library they share.) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_redact.h"
#include "agent/cli/cli.h"
#include "agent/identity/identity.h"
#include "enroll/est_sched.h"

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

void
kw_cli_enroll_init(struct kw_cli_enroll *e)
{
	memset(e, 0, sizeof(*e));
	e->timeout_ms = 30000;
	e->wait_s = 300;
}

/* --timeout (1..86400) and --wait (wait_min..86400), in seconds. */
static int
kw_cli_enroll_secs(const char *cmd, unsigned wait_min, int c, const char *arg,
    struct kw_cli_enroll *e)
{
	unsigned long min = c == KW_OPT_TIMEOUT ? 1 : wait_min, v;
	char *end;

	v = strtoul(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || v < min || v > 86400)
		return kw_cli_usage_error(cmd, "%s takes %lu..86400 seconds",
		    c == KW_OPT_TIMEOUT ? "--timeout" : "--wait", min);
	if (c == KW_OPT_TIMEOUT)
		e->timeout_ms = (int)(v * 1000);
	else
		e->wait_s = (unsigned)v;
	return KW_EXIT_OK;
}

int
kw_cli_enroll_opt(const char *cmd, unsigned wait_min, int c,
    const char *arg, struct kw_cli_enroll *e)
{
	if (kw_cli_keyopt(c, arg, &e->kopts))
		return KW_EXIT_OK;
	switch (c) {
	case 'k': e->key = arg; break;
	case 's': e->server = arg; break;
	case 'o': e->out = arg; break;
	case KW_OPT_CHAIN_OUT: e->chain_out = arg; break;
	case KW_OPT_STATE: e->state = arg; break;
	case KW_OPT_SAME_KEY: e->same_key = 1; break;
	case KW_OPT_RENEW: e->renew = 1; break;
	case KW_OPT_SAN:
		if (e->nsans >= KW_CLI_MAX_SANS)
			return kw_cli_usage_error(cmd, "at most %d --san",
			    KW_CLI_MAX_SANS);
		e->sans[e->nsans++] = arg;
		break;
	case KW_OPT_RENEW_AT:
		if (est_sched_parse_pct(arg, &e->renew_at) != 0)
			return kw_cli_usage_error(cmd,
			    "--renew-at takes a percentage 1..99");
		break;
	case KW_OPT_TIMEOUT:
	case KW_OPT_WAIT:
		return kw_cli_enroll_secs(cmd, wait_min, c, arg, e);
	default:
		return -1;
	}
	return KW_EXIT_OK;
}

int
kw_cli_enroll_identity(const struct kw_cli_enroll *e, const char *subject,
    struct kw_identity *id)
{
	const char *module = e->kopts.module;
	size_t i;
	int r;

	if ((r = kw_identity_set(&id->server, e->server)) != KW_OK ||
	    (r = kw_identity_set_keyref(&id->key_ref, e->key)) != KW_OK ||
	    (r = kw_identity_set_path(&id->cert_out, e->out)) != KW_OK ||
	    (r = kw_identity_set_path(&id->cert_file, e->out)) != KW_OK ||
	    (r = kw_identity_set_path(&id->chain_file, e->chain_out)) !=
	    KW_OK ||
	    (r = kw_identity_set(&id->subject, subject)) != KW_OK ||
	    (r = kw_identity_set(&id->tcti, e->kopts.tcti)) != KW_OK ||
	    (r = kw_identity_set(&id->module, module)) != KW_OK ||
	    (module != NULL && strchr(module, '/') != NULL &&
	    (r = kw_identity_set_path(&id->module, module)) != KW_OK) ||
	    (r = kw_identity_set_path(&id->auth_file, e->kopts.auth_file)) !=
	    KW_OK)
		return r;
	for (i = 0; i < e->nsans; i++)
		if ((id->sans[id->nsans++] = strdup(e->sans[i])) == NULL)
			return KW_ERR_NOMEM;
	id->allow_exportable = e->kopts.allow_exportable;
	id->rekey = !e->same_key;
	if (e->renew_at)
		id->renew_at_pct = e->renew_at;
	return KW_OK;
}
