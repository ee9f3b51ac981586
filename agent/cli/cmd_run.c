/* keyward run: the daemon, tunnels (and identity renewal) from a config
 * file (keyward.conf(5)). */
#include <sys/mman.h>
#include <sys/random.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/cli/cli.h"
#include "agent/conf/config.h"
#include "agent/daemon/daemon.h"
#include "agent/daemon/workers.h"
#include "agent/keys/keyref.h"
#include "agent/signer/signer.h"
#include "kw_signer.h"

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
"      --no-sandbox         one process holding keys and network (no signer\n"
"                           process, no seccomp, no Landlock): for\n"
"                           debugging only\n"
"  -h, --help               this help\n"
"\n"
"Keys live in a separate signer process; the process that talks to the\n"
"network holds no key, PIN or module and runs under seccomp; Landlock\n"
"lets it write only where its identities, control socket and unix\n"
"listeners are.  A crashed process is restarted (the signer keeps tokens\n"
"logged in), so is one whose reload needs to write somewhere new.\n"
"`workers = N` in [global]: N network processes share the signer and\n"
"the TCP listeners (SO_REUSEPORT); `keyward status` counts them all.\n"
"\n"
KW_EXIT_HELP;

enum { KW_OPT_CHECK = KW_OPT_FIRST_FREE, KW_OPT_SOCKET, KW_OPT_NO_SANDBOX };

struct kw_run_net {
	const char *path;
	struct kw_daemon_opts *opts;
	unsigned workers;
	void *shared;		/* workers > 1: workers.h's region */
	/* workers > 1: their shared TLS 1.3 session-ticket key, made
	 * before they fork (a restart of `keyward run` makes a new one) */
	unsigned char ticket_key[KW_TICKET_KEY_LEN];
};

/* The supervisor: worker w has ended; its counts leave the sums. */
static void
kw_run_gone(void *arg, unsigned w)
{
	struct kw_run_net *n = arg;

	kw_wk_clear(n->shared, n->workers, w);
}

/* A network process (forked by the supervisor): the config read again (a
 * restart picks up what changed), keys through the signer. */
static int
kw_run_network(void *arg, unsigned worker, int signer_fd, int ctl_fd)
{
	struct kw_run_net *n = arg;
	struct kw_config *conf = NULL;
	struct kw_signer *s = NULL;
	char prefix[32];
	int r, restart = 0;

	if (n->workers > 1) {
		snprintf(prefix, sizeof(prefix), "worker %u: ", worker);
		kw_log_set_prefix(prefix);
	}
	/* systemd hears from the primary only (READY, RELOADING...) */
	if (worker > 0)
		(void)unsetenv("NOTIFY_SOCKET");
	n->opts->worker = worker;
	n->opts->workers = n->workers;
	n->opts->shared = n->shared;
	n->opts->ticket_key = n->ticket_key;
	if ((r = kw_config_load(n->path, &conf)) != KW_OK)
		return KW_EXIT_USAGE;
	if ((r = kw_signer_new(signer_fd, ctl_fd, &s)) != KW_OK) {
		kw_config_free(conf);
		return kw_exit_code(r);
	}
	kw_keyref_use_signer(s);
	n->opts->sandbox = 1;
	n->opts->restart = &restart;
	r = kw_daemon_run(conf, n->opts);
	kw_keyref_use_signer(NULL);
	kw_signer_free(s);
	return r == KW_OK && restart ? KW_SUP_EXIT_RESTART : kw_exit_code(r);
}

/* keyward __signer --config FILE [--verbose]: the signer process, started
 * by `keyward run` with its sockets on fds 3 (the network process) and 4
 * (the supervisor).  Not for people: not in the command list. */
int
cmd_signer(int argc, char **argv)
{
	const char *path = NULL;
	int i, r;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--verbose") == 0)
			kw_log_setup(KW_LOG_DEBUG, 0);
		else
			break;
	}
	if (i != argc || path == NULL || fcntl(3, F_GETFD) < 0 ||
	    fcntl(4, F_GETFD) < 0) {
		fprintf(stderr, "keyward __signer: started by `keyward run` "
		    "only\n");
		return KW_EXIT_USAGE;
	}
	(void)fcntl(3, F_SETFD, FD_CLOEXEC);
	(void)fcntl(4, F_SETFD, FD_CLOEXEC);
	r = kw_signer_serve(path, 3, 4, 1);
	return kw_exit_code(r);
}

int
cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, KW_OPT_CHECK },
		{ "socket", required_argument, NULL, KW_OPT_SOCKET },
		{ "verbose", no_argument, NULL, KW_OPT_VERBOSE },
		{ "no-sandbox", no_argument, NULL, KW_OPT_NO_SANDBOX },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kw_daemon_opts opts;
	struct kw_config *conf = NULL;
	const char *path = NULL;
	struct kw_supervise_opts so;
	struct kw_run_net net;
	size_t shared_len = 0;
	int c, check = 0, r, verbose = 0, sandbox = 1;

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
			verbose = 1;
			break;
		case KW_OPT_NO_SANDBOX:
			sandbox = 0;
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
	if (!sandbox && conf->workers > 1) {
		kw_err("%s: workers = %u needs the signer process, which "
		    "--no-sandbox turns off: drop --no-sandbox or set "
		    "workers = 1", path, conf->workers);
		kw_config_free(conf);
		return KW_EXIT_USAGE;
	}
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
	if (!sandbox || !conf->sandbox) {
		kw_warn("WARNING: running WITHOUT the sandbox (%s): keys, "
		    "PINs and the network share one process and nothing "
		    "limits its system calls; for debugging only",
		    sandbox ? "sandbox = no in the config" : "--no-sandbox");
		r = kw_daemon_run(conf, &opts);
		return kw_exit_code(r);
	}
	memset(&net, 0, sizeof(net));
	net.path = path;
	net.opts = &opts;
	net.workers = conf->workers > 0 ? conf->workers : 1;
	kw_config_free(conf);
	/* the workers' counters: shared with them, made before they fork */
	if (net.workers > 1) {
		if (getrandom(net.ticket_key, sizeof(net.ticket_key), 0) !=
		    (ssize_t)sizeof(net.ticket_key)) {
			kw_err("cannot make the workers' session-ticket key: %s",
			    strerror(errno));
			return KW_EXIT_FAIL;
		}
		shared_len = kw_wk_region_size(net.workers);
		net.shared = mmap(NULL, shared_len, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (net.shared == MAP_FAILED) {
			kw_err("cannot map the workers' counters (%zu bytes): "
			    "%s", shared_len, strerror(errno));
			return KW_EXIT_FAIL;
		}
	}
	memset(&so, 0, sizeof(so));
	so.config_path = path;
	so.verbose = verbose;
	so.workers = net.workers;
	so.network = kw_run_network;
	so.gone = kw_run_gone;
	so.arg = &net;
	r = kw_supervise(&so);
	if (net.shared != NULL)
		(void)munmap(net.shared, shared_len);
	explicit_bzero(net.ticket_key, sizeof(net.ticket_key));
	return r;
}
