/* keyward tunnel: one mTLS tunnel from the command line (ghostunnel-like);
 * the same engine and checks as a [tunnel] section of `keyward run`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/cli/cli.h"
#include "agent/conf/config.h"
#include "agent/daemon/daemon.h"

static const char kw_tunnel_help[] =
"usage: keyward tunnel client --listen ADDR --target HOST:PORT --key REF\n"
"                             [--cert FILE|URI] --ca FILE [--servername NAME]\n"
"                             [--ak tpm:PATH [--event-log FILE]]\n"
"       keyward tunnel server --listen ADDR --target ADDR --key REF\n"
"                             [--cert FILE|URI] --ca FILE --allow-... [...]\n"
"                             [--require-posture POLICYFILE]\n"
"\n"
"client: accept plaintext on ADDR and carry it over mutual TLS to\n"
"HOST:PORT, signing with the hardware key; the server's certificate must\n"
"chain to --ca and match --servername (default: HOST), sent as SNI.\n"
"server: accept mutual TLS on ADDR, require a client certificate that\n"
"chains to --ca and passes the allow-list, forward the plaintext to ADDR.\n"
"ADDR is HOST:PORT, [IPv6]:PORT or unix:/PATH.  TLS 1.3 preferred, 1.2\n"
"allowed, AEAD suites only.  SIGHUP reloads certificate, key, CA and CRL\n"
"without dropping connections.\n"
"\n"
"      --listen ADDR        where to accept connections\n"
"      --target ADDR        where to connect\n"
"  -c, --cert FILE|URI      our certificate: a file (PEM, leaf first, then\n"
"                           chain) or a pkcs11: URI of one on a token; for a\n"
"                           pkcs11: key, default: the one with the key's id\n"
"      --ca FILE            CA certificates (PEM) the peer's must chain to\n"
"      --servername NAME    client: name to send and verify\n"
"      --crl FILE           check peer chains against CRLs (PEM/DER)\n"
"      --crl-soft           accept a certificate whose issuer has no CRL\n"
"      --ocsp-stapling MODE client: off, request (default: check a stapled\n"
"                           OCSP response when the server sends one) or\n"
"                           require (refuse a server that staples none)\n"
"      --tls-min 1.2|1.3    lowest TLS version (default 1.2)\n"
"      --ciphers LIST       wolfSSL suite list (default: keyward's order)\n"
"      --no-resume          client: no TLS session resumption\n"
"      --allow-cn NAME      server: admit this subject CN (repeatable)\n"
"      --allow-san-dns NAME server: admit this DNS SAN (repeatable)\n"
"      --allow-san-uri URI  server: admit this URI SAN, e.g. a SPIFFE ID\n"
"      --allow-ou NAME      server: admit this subject OU (repeatable)\n"
"      --allow-all          server: admit every client the CA vouches for\n"
"      --ak tpm:PATH        client: answer posture requests with this\n"
"                           attestation key (`keyward attest init`; same\n"
"                           TPM as --key); offers ALPN keyward-posture/1\n"
"      --event-log FILE     client: the UEFI event log sent with the quote\n"
"                           (default: the firmware's)\n"
"      --require-posture FILE  server: relay only for clients whose TPM\n"
"                           posture meets this policy (keyward.conf(5));\n"
"                           refuses clients that offer none\n"
"      --connect-timeout S  connecting to the target (default 10)\n"
"      --idle-timeout S     close idle connections (default 3600, 0 never)\n"
"      --max-connections N  at most N at once (default 10000)\n"
"      --handshake-threads auto|N  make handshakes (and the key's\n"
"                           signatures) on N threads (0: in the loop); auto\n"
"                           (default): on 2 threads while the key takes 0.3\n"
"                           ms or more to sign (a TPM, a smart card)\n"
"      --status-socket PATH answer `keyward status --socket PATH`\n"
"      --metrics HOST:PORT  serve Prometheus metrics there\n"
KW_KEY_HELP
"\n"
KW_EXIT_HELP;

enum {
	KW_OPT_LISTEN = KW_OPT_FIRST_FREE,
	KW_OPT_TARGET,
	KW_OPT_CA,
	KW_OPT_SERVERNAME,
	KW_OPT_CRL,
	KW_OPT_CRL_SOFT,
	KW_OPT_OCSP,
	KW_OPT_TLS_MIN,
	KW_OPT_CIPHERS,
	KW_OPT_NO_RESUME,
	KW_OPT_ALLOW_CN,
	KW_OPT_ALLOW_DNS,
	KW_OPT_ALLOW_URI,
	KW_OPT_ALLOW_OU,
	KW_OPT_ALLOW_ALL,
	KW_OPT_CONNECT_TIMEOUT,
	KW_OPT_IDLE_TIMEOUT,
	KW_OPT_MAX_CONNS,
	KW_OPT_HS_THREADS,
	KW_OPT_STATUS_SOCKET,
	KW_OPT_METRICS,
	KW_OPT_AK,
	KW_OPT_EVENT_LOG,
	KW_OPT_REQUIRE_POSTURE,
};

/* Option -> config key (same validation as the config file). */
static const struct {
	int opt;
	const char *key;
	const char *value;	/* fixed value for flags */
} kw_tunnel_optkeys[] = {
	{ KW_OPT_LISTEN, "listen", NULL },
	{ KW_OPT_TARGET, "target", NULL },
	{ 'k', "key", NULL },
	{ 'c', "cert", NULL },
	{ KW_OPT_CA, "ca", NULL },
	{ KW_OPT_SERVERNAME, "servername", NULL },
	{ KW_OPT_CRL, "crl", NULL },
	{ KW_OPT_CRL_SOFT, "crl-check", "soft" },
	{ KW_OPT_OCSP, "ocsp-stapling", NULL },
	{ KW_OPT_TLS_MIN, "tls-min", NULL },
	{ KW_OPT_CIPHERS, "ciphers", NULL },
	{ KW_OPT_NO_RESUME, "resume", "no" },
	{ KW_OPT_ALLOW_CN, "allow-cn", NULL },
	{ KW_OPT_ALLOW_DNS, "allow-san-dns", NULL },
	{ KW_OPT_ALLOW_URI, "allow-san-uri", NULL },
	{ KW_OPT_ALLOW_OU, "allow-ou", NULL },
	{ KW_OPT_ALLOW_ALL, "allow-all", "yes" },
	{ KW_OPT_CONNECT_TIMEOUT, "connect-timeout", NULL },
	{ KW_OPT_IDLE_TIMEOUT, "idle-timeout", NULL },
	{ KW_OPT_MAX_CONNS, "max-connections", NULL },
	{ KW_OPT_HS_THREADS, "handshake-threads", NULL },
	{ KW_OPT_TCTI, "tcti", NULL },
	{ KW_OPT_MODULE, "module", NULL },
	{ KW_OPT_AUTH_FILE, "auth-file", NULL },
	{ KW_OPT_ALLOW_EXPORTABLE, "allow-exportable-key", "yes" },
	{ KW_OPT_AK, "ak", NULL },
	{ KW_OPT_EVENT_LOG, "event-log", NULL },
	{ KW_OPT_REQUIRE_POSTURE, "require-posture", NULL },
};

int
cmd_tunnel(int argc, char **argv)
{
	static const struct option longopts[] = {
		KW_KEY_LONGOPTS,
		{ "listen", required_argument, NULL, KW_OPT_LISTEN },
		{ "target", required_argument, NULL, KW_OPT_TARGET },
		{ "cert", required_argument, NULL, 'c' },
		{ "ca", required_argument, NULL, KW_OPT_CA },
		{ "servername", required_argument, NULL, KW_OPT_SERVERNAME },
		{ "crl", required_argument, NULL, KW_OPT_CRL },
		{ "crl-soft", no_argument, NULL, KW_OPT_CRL_SOFT },
		{ "ocsp-stapling", required_argument, NULL, KW_OPT_OCSP },
		{ "tls-min", required_argument, NULL, KW_OPT_TLS_MIN },
		{ "ciphers", required_argument, NULL, KW_OPT_CIPHERS },
		{ "no-resume", no_argument, NULL, KW_OPT_NO_RESUME },
		{ "allow-cn", required_argument, NULL, KW_OPT_ALLOW_CN },
		{ "allow-san-dns", required_argument, NULL, KW_OPT_ALLOW_DNS },
		{ "allow-san-uri", required_argument, NULL, KW_OPT_ALLOW_URI },
		{ "allow-ou", required_argument, NULL, KW_OPT_ALLOW_OU },
		{ "allow-all", no_argument, NULL, KW_OPT_ALLOW_ALL },
		{ "connect-timeout", required_argument, NULL,
		    KW_OPT_CONNECT_TIMEOUT },
		{ "idle-timeout", required_argument, NULL, KW_OPT_IDLE_TIMEOUT },
		{ "max-connections", required_argument, NULL,
		    KW_OPT_MAX_CONNS },
		{ "handshake-threads", required_argument, NULL,
		    KW_OPT_HS_THREADS },
		{ "status-socket", required_argument, NULL,
		    KW_OPT_STATUS_SOCKET },
		{ "metrics", required_argument, NULL, KW_OPT_METRICS },
		{ "ak", required_argument, NULL, KW_OPT_AK },
		{ "event-log", required_argument, NULL, KW_OPT_EVENT_LOG },
		{ "require-posture", required_argument, NULL,
		    KW_OPT_REQUIRE_POSTURE },
		{ NULL, 0, NULL, 0 },
	};
	struct kw_daemon_opts opts;
	struct kw_config *conf = NULL;
	struct kw_tunnel_conf *t = NULL;
	enum kw_tunnel_mode mode;
	const char *metrics = NULL;
	size_t i;
	int c, r, ex = KW_EXIT_USAGE;

	memset(&opts, 0, sizeof(opts));
	opts.no_control = 1;
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(kw_tunnel_help, stdout);
		return KW_EXIT_OK;
	}
	if (argc < 2 || (strcmp(argv[1], "client") != 0 &&
	    strcmp(argv[1], "server") != 0))
		return kw_cli_usage_error("tunnel", "say 'client' or 'server' "
		    "first");
	mode = strcmp(argv[1], "client") == 0 ? KW_TUNNEL_CLIENT :
	    KW_TUNNEL_SERVER;
	if (kw_tunnel_conf_new(argv[1], mode, &t) != KW_OK)
		return KW_EXIT_FAIL;
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "k:c:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(kw_tunnel_help, stdout);
			ex = KW_EXIT_OK;
			goto out;
		}
		if (c == KW_OPT_VERBOSE) {
			kw_log_setup(KW_LOG_DEBUG, 0);
			continue;
		}
		if (c == KW_OPT_STATUS_SOCKET) {
			opts.control_socket = optarg;
			opts.no_control = 0;
			continue;
		}
		if (c == KW_OPT_METRICS) {
			metrics = optarg;
			continue;
		}
		for (i = 0; i < sizeof(kw_tunnel_optkeys) /
		    sizeof(kw_tunnel_optkeys[0]); i++)
			if (kw_tunnel_optkeys[i].opt == c)
				break;
		if (i == sizeof(kw_tunnel_optkeys) /
		    sizeof(kw_tunnel_optkeys[0])) {
			kw_cli_usage_error("tunnel", "bad option");
			goto out;
		}
		if (kw_tunnel_conf_set(t, kw_tunnel_optkeys[i].key,
		    kw_tunnel_optkeys[i].value ? kw_tunnel_optkeys[i].value :
		    optarg, NULL, 0) != KW_OK)
			goto out;
	}
	if (optind != argc) {
		kw_cli_usage_error("tunnel", "unexpected argument '%s'",
		    argv[optind]);
		goto out;
	}
	if (kw_tunnel_conf_check(t, NULL) != KW_OK) {
		fprintf(stderr, "(see 'keyward tunnel --help')\n");
		goto out;
	}
	if ((conf = calloc(1, sizeof(*conf))) == NULL ||
	    (conf->tunnels = calloc(1, sizeof(*conf->tunnels))) == NULL ||
	    (conf->file = strdup("command line")) == NULL) {
		ex = KW_EXIT_FAIL;
		goto out;
	}
	conf->log_level = -1;
	conf->watch_interval_s = KW_DEF_WATCH_INTERVAL_S;
	conf->tunnels[0] = t;
	conf->ntunnels = 1;
	t = NULL;
	if (metrics != NULL) {
		if (kw_addr_parse(metrics, &conf->metrics) != KW_OK ||
		    conf->metrics.is_unix) {
			kw_cli_usage_error("tunnel", "--metrics wants HOST:PORT, "
			    "not '%s'", metrics);
			goto out;
		}
		conf->has_metrics = 1;
	}
	r = kw_daemon_run(conf, &opts);
	conf = NULL;
	ex = kw_exit_code(r);
out:
	kw_tunnel_conf_free(t);
	kw_config_free(conf);
	return ex;
}
