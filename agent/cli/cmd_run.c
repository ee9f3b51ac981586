/* keyward run: the daemon, tunnels (and identity renewal) from a config
 * file (keyward.conf(5)). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/cli/cli.h"
#include "agent/conf/config.h"
#include "agent/daemon/daemon.h"

static const char kw_run_help[] =
"usage: keyward run --config FILE [--check] [--socket PATH] [--verbose]\n"
"\n"
"Run the tunnels and identities of FILE (see keyward.conf(5)) until\n"
"SIGTERM.  SIGHUP re-reads FILE, certificates and keys without dropping\n"
"established connections; a reload that fails keeps the running state.\n"
"Changed certificate, key, CA or CRL files are picked up by themselves.\n"
"Under systemd (Type=notify) it reports READY/RELOADING/STOPPING and\n"
"feeds the watchdog.  `keyward status` asks it how it is doing.\n"
"\n"
"  -c, --config FILE        the configuration (required)\n"
"      --check              only check FILE: print problems as FILE:LINE\n"
"      --socket PATH        control socket (default: the config's\n"
"                           control-socket, else $RUNTIME_DIRECTORY/control,\n"
"                           /run/keyward/control for root,\n"
"                           $XDG_RUNTIME_DIR/keyward/control)\n"
"      --verbose            log debug detail (never secrets)\n"
"  -h, --help               this help\n"
"\n"
KW_EXIT_HELP;

enum { KW_OPT_CHECK = KW_OPT_FIRST_FREE, KW_OPT_SOCKET };

int
cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, KW_OPT_CHECK },
		{ "socket", required_argument, NULL, KW_OPT_SOCKET },
		{ "verbose", no_argument, NULL, KW_OPT_VERBOSE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kw_daemon_opts opts;
	struct kw_config *conf = NULL;
	const char *path = NULL;
	int c, check = 0, r;

	memset(&opts, 0, sizeof(opts));
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case KW_OPT_CHECK:
			check = 1;
			break;
		case KW_OPT_SOCKET:
			opts.control_socket = optarg;
			break;
		case KW_OPT_VERBOSE:
			kw_log_setup(KW_LOG_DEBUG, 0);
			break;
		case 'h':
			fputs(kw_run_help, stdout);
			return KW_EXIT_OK;
		default:
			return kw_cli_usage_error("run", "bad option");
		}
	}
	if (path == NULL)
		return kw_cli_usage_error("run", "--config FILE is required");
	if (optind != argc)
		return kw_cli_usage_error("run", "unexpected argument '%s'",
		    argv[optind]);
	if ((r = kw_config_load(path, &conf)) != KW_OK)
		return KW_EXIT_USAGE;
	if (check) {
		printf("%s: OK, %zu tunnels, %zu identities", path,
		    conf->ntunnels, conf->nids);
		if (conf->warnings > 0)
			printf(", %u warning%s (see above)", conf->warnings,
			    conf->warnings == 1 ? "" : "s");
		printf("\n");
		kw_config_free(conf);
		return KW_EXIT_OK;
	}
	opts.config_path = path;
	r = kw_daemon_run(conf, &opts);
	return kw_exit_code(r);
}
