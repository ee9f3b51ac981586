/* keyward status: ask the daemon (over its control socket) how its
 * tunnels and identities are doing. */
#include <jansson.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/cli/cli.h"
#include "agent/daemon/control.h"
#include "agent/daemon/daemon.h"

static const char kw_status_help[] =
"usage: keyward status [--json] [--socket PATH]\n"
"\n"
"Show the running daemon's tunnels (connections active/total, full and\n"
"resumed handshakes, hardware signatures, certificate expiry, token\n"
"state, last error) and identities.\n"
"\n"
"      --json               the daemon's answer as JSON\n"
"      --socket PATH        control socket (default: $RUNTIME_DIRECTORY/control,\n"
"                           /run/keyward/control for root,\n"
"                           $XDG_RUNTIME_DIR/keyward/control)\n"
"  -h, --help               this help\n"
"\n"
KW_EXIT_HELP;

enum { KW_OPT_JSON = KW_OPT_FIRST_FREE, KW_OPT_SOCKET };

static const char *
js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static long long
ji(json_t *o, const char *path)
{
	char buf[64], *dot;
	json_t *v = o;

	snprintf(buf, sizeof(buf), "%s", path);
	if ((dot = strchr(buf, '.')) != NULL) {
		*dot = '\0';
		v = json_object_get(v, buf);
		path = dot + 1;
		return (long long)json_integer_value(json_object_get(v, path));
	}
	return (long long)json_integer_value(json_object_get(v, buf));
}

static void
print_expiry(long long na)
{
	long long left = na - (long long)time(NULL);

	if (na == 0)
		printf("unknown");
	else if (left < 0)
		printf("EXPIRED %lld days ago", -left / 86400);
	else
		printf("in %lld days %lld h", left / 86400, (left % 86400) / 3600);
}

static void
print_posture(json_t *p)
{
	json_t *refused, *c, *v;
	const char *k;
	size_t i;

	if (p == NULL)
		return;
	if (*js(p, "ak")) {
		printf("  posture      AK %s: %lld answers, %lld TPM commands "
		    "(%.1f ms)\n", js(p, "ak"), ji(p, "answers"),
		    ji(p, "tpm_commands"),
		    json_real_value(json_object_get(p, "tpm_ms")));
		return;
	}
	printf("  posture      policy %s: ok %lld, cached %lld", js(p, "policy"),
	    ji(p, "ok"), ji(p, "cached"));
	refused = json_object_get(p, "refused");
	json_object_foreach(refused, k, v)
		printf(", refused %s %lld", k, (long long)json_integer_value(v));
	printf("\n");
	json_array_foreach(json_object_get(p, "clients"), i, c)
		printf("    %s  %s%s%s%s%s%s  %s\n", js(c, "time"),
		    js(c, "verdict"),
		    json_is_true(json_object_get(c, "cached")) ? " (cached)" : "",
		    *js(c, "reason_kind") ? " " : "", js(c, "reason_kind"),
		    *js(c, "reason") ? ": " : "", js(c, "reason"),
		    js(c, "client"));
}

static void
print_text(json_t *root)
{
	json_t *arr, *t, *sig;
	size_t i;

	printf("keyward %s, pid %lld, up %lld s, config %s\n",
	    js(root, "version"), ji(root, "pid"), ji(root, "uptime_s"),
	    js(root, "config"));
	printf("reloads %lld, failed %lld%s%s\n", ji(root, "reloads"),
	    ji(root, "reload_failures"),
	    *js(root, "last_reload_error") ? ", last failure: " : "",
	    js(root, "last_reload_error"));
	if ((sig = json_object_get(root, "signer")) != NULL)
		printf("signer %s, %lld signatures refused by sign-rate, "
		    "%lld restarts\n", json_is_true(json_object_get(sig, "up"))
		    ? "up" : "DOWN", ji(sig, "refused"), ji(sig, "restarts"));
	arr = json_object_get(root, "workers");
	json_array_foreach(arr, i, t) {
		if (!json_is_true(json_object_get(t, "running")))
			printf("worker %lld: not running\n", ji(t, "worker"));
		else
			printf("worker %lld: pid %lld, %lld connections open, "
			    "%lld accepted\n", ji(t, "worker"), ji(t, "pid"),
			    ji(t, "connections_active"),
			    ji(t, "connections_total"));
	}
	arr = json_object_get(root, "tunnels");
	json_array_foreach(arr, i, t) {
		sig = json_object_get(t, "signatures");
		printf("\ntunnel %s (%s, %s): %s -> %s\n", js(t, "name"),
		    js(t, "mode"), js(t, "state"), js(t, "listen"),
		    js(t, "target"));
		printf("  key          %s (%s); token %s\n", js(t, "key"),
		    js(t, "key_description"), js(t, "token"));
		printf("  certificate  %s, not after %s (", js(t, "certificate"),
		    js(t, "not_after"));
		print_expiry(ji(t, "not_after_unix"));
		printf(")\n");
		printf("  connections  active %lld, total %lld, failed %lld, "
		    "refused %lld\n", ji(t, "connections.active"),
		    ji(t, "connections.total"), ji(t, "connections.failed"),
		    ji(t, "connections.refused"));
		printf("  handshakes   full %lld, resumed %lld, on threads "
		    "%lld; hardware signatures %lld (failed %lld, avg %.2f "
		    "ms)\n",
		    ji(t, "handshakes.full"), ji(t, "handshakes.resumed"),
		    ji(t, "handshakes.threaded"),
		    ji(t, "signatures.count"), ji(t, "signatures.failures"),
		    json_real_value(json_object_get(sig, "avg_ms")));
		printf("  bytes        up %lld, down %lld\n", ji(t, "bytes.up"),
		    ji(t, "bytes.down"));
		if (*js(t, "last_error"))
			printf("  last error   %s (%s)\n", js(t, "last_error"),
			    js(t, "last_error_time"));
		print_posture(json_object_get(t, "posture"));
	}
	arr = json_object_get(root, "identities");
	json_array_foreach(arr, i, t) {
		printf("\nidentity %s: %s\n", js(t, "name"), js(t, "status"));
	}
}

int
cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, KW_OPT_JSON },
		{ "socket", required_argument, NULL, KW_OPT_SOCKET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	char def[256], *answer = NULL;
	json_t *root = NULL;
	json_error_t jerr;
	int c, as_json = 0, r;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case KW_OPT_JSON:
			as_json = 1;
			break;
		case KW_OPT_SOCKET:
			path = optarg;
			break;
		case 'h':
			fputs(kw_status_help, stdout);
			return KW_EXIT_OK;
		default:
			return kw_cli_usage_error("status", "bad option");
		}
	}
	if (optind != argc)
		return kw_cli_usage_error("status", "unexpected argument '%s'",
		    argv[optind]);
	if (path == NULL) {
		if ((r = kw_control_default_path(def, sizeof(def))) != KW_OK)
			return KW_EXIT_USAGE;
		path = def;
	}
	if ((r = kw_control_request(path, "status", &answer)) != KW_OK)
		goto out;
	if (as_json) {
		fputs(answer, stdout);
		goto out;
	}
	if ((root = json_loads(answer, 0, &jerr)) == NULL) {
		kw_err("the daemon's answer is not JSON: %s", jerr.text);
		r = KW_ERR_PROTOCOL;
		goto out;
	}
	print_text(root);
out:
	json_decref(root);
	free(answer);
	return kw_exit_code(r);
}
