/* keyward connect: one mutual-TLS connection signed by the hardware key,
 * stdin/stdout bridged like `openssl s_client -quiet`. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_tls.h"
#include "kw_wolf.h"
#include "agent/cli/cli.h"
#include "agent/keys/keyref.h"

#define KW_CONNECT_TIMEOUT_MS	10000

static const char kw_connect_help[] =
"usage: keyward connect --key REF [--cert FILE|URI] --ca FILE [--servername NAME]\n"
"                       [--tls1.2] [--crl FILE] HOST:PORT\n"
"\n"
"Open one mutual-TLS connection to HOST:PORT, signing with the hardware key,\n"
"and copy stdin to the server and the server's data to stdout (like\n"
"`openssl s_client -quiet`).  At the end of stdin keyward sends close_notify\n"
"and keeps reading until the server closes.  TLS 1.3 is preferred and 1.2\n"
"allowed; only ECDHE with AES-GCM or ChaCha20-Poly1305.  The server's\n"
"certificate must chain to --ca and match the server name.\n"
"\n"
"  -c, --cert FILE|URI      our certificate: a file (PEM, leaf first, then\n"
"                           chain) or a pkcs11: URI of one on a token; for a\n"
"                           pkcs11: key, default: the one with the key's id\n"
"      --ca FILE            CA certificates (PEM) that the server's must chain to\n"
"      --servername NAME    name to send (SNI) and verify (default: HOST);\n"
"                           an IP address is verified against IP SANs\n"
"      --tls1.2             use TLS 1.2 only\n"
"      --crl FILE           check the server's chain against CRLs (PEM/DER);\n"
"                           a certificate without a CRL is refused\n"
KW_KEY_HELP
"\n"
KW_EXIT_HELP;

enum {
	KW_OPT_CA = KW_OPT_FIRST_FREE,
	KW_OPT_SERVERNAME,
	KW_OPT_TLS12,
	KW_OPT_CRL,
};

/* "TPM" reads better than "tpm" in "signatures made by the TPM". */
static const char *
kw_backend_title(const struct kw_key *key)
{
	const char *b = kw_key_backend(key);

	if (strcmp(b, "tpm") == 0)
		return "TPM";
	if (strcmp(b, "pkcs11") == 0)
		return "PKCS#11 token";
	return b;
}

static int
kw_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
kw_wait_fd(int fd, short events)
{
	struct pollfd p;

	p.fd = fd;
	p.events = events;
	p.revents = 0;
	(void)poll(&p, 1, -1);
}

/* Copy both ways until the server closes.  Returns KW_OK on a clean end.
 * The socket is non-blocking, so that a read that only finds a TLS 1.3
 * session ticket cannot block waiting for data while stdin has some. */
static int
kw_bridge(struct kw_tls_ctx *ctx, WOLFSSL *ssl, const char *peer)
{
	struct pollfd pfd[2];
	char buf[16384];
	int stdin_open = 1, n, w, e, off, fl;
	ssize_t got;

	pfd[0].fd = wolfSSL_get_fd(ssl);
	pfd[0].events = POLLIN;
	if ((fl = fcntl(pfd[0].fd, F_GETFL)) < 0 ||
	    fcntl(pfd[0].fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		kw_err("connect: fcntl: %s", strerror(errno));
		return KW_ERR_IO;
	}
	pfd[1].fd = STDIN_FILENO;
	pfd[1].events = POLLIN;
	for (;;) {
		pfd[0].revents = pfd[1].revents = 0;
		if (wolfSSL_pending(ssl) == 0 &&
		    poll(pfd, stdin_open ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			kw_err("connect: poll: %s", strerror(errno));
			return KW_ERR_IO;
		}
		if (wolfSSL_pending(ssl) > 0 || pfd[0].revents != 0) {
			n = wolfSSL_read(ssl, buf, (int)sizeof(buf));
			if (n > 0) {
				if (kw_write_all(STDOUT_FILENO, buf, (size_t)n)
				    != 0) {
					kw_err("connect: cannot write to "
					    "stdout: %s", strerror(errno));
					return KW_ERR_IO;
				}
				continue;
			}
			e = wolfSSL_get_error(ssl, n);
			if (e == WOLFSSL_ERROR_WANT_READ)
				continue;	/* e.g. a session ticket */
			if (e == WOLFSSL_ERROR_ZERO_RETURN ||
			    e == SOCKET_PEER_CLOSED_E) {
				kw_debug("connect: %s closed the connection",
				    peer);
				return KW_OK;
			}
			return kw_tls_explain(ctx, ssl, n, peer);
		}
		if (stdin_open && (pfd[1].revents & (POLLIN | POLLHUP |
		    POLLERR)) != 0) {
			got = read(STDIN_FILENO, buf, sizeof(buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				/* Half-close: our close_notify, then read on
				 * until the server closes. */
				stdin_open = 0;
				(void)wolfSSL_shutdown(ssl);
				continue;
			}
			for (off = 0; off < (int)got; off += w) {
				w = wolfSSL_write(ssl, buf + off,
				    (int)got - off);
				if (w > 0)
					continue;
				e = wolfSSL_get_error(ssl, w);
				if (e != WOLFSSL_ERROR_WANT_WRITE &&
				    e != WOLFSSL_ERROR_WANT_READ)
					return kw_tls_explain(ctx, ssl, w,
					    peer);
				/* the socket is full: wait, then retry the
				 * same bytes (wolfSSL requires it) */
				kw_wait_fd(pfd[0].fd, e ==
				    WOLFSSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN);
				w = 0;
			}
		}
	}
}

int
cmd_connect(int argc, char **argv)
{
	static const struct option longopts[] = {
		KW_KEY_LONGOPTS,
		{ "cert", required_argument, NULL, 'c' },
		{ "ca", required_argument, NULL, KW_OPT_CA },
		{ "servername", required_argument, NULL, KW_OPT_SERVERNAME },
		{ "tls1.2", no_argument, NULL, KW_OPT_TLS12 },
		{ "crl", required_argument, NULL, KW_OPT_CRL },
		{ NULL, 0, NULL, 0 },
	};
	struct kw_keyref_opts kopts;
	struct kw_tls_conf conf;
	struct kw_tls_ctx *ctx = NULL;
	struct kw_key *key = NULL;
	uint8_t *cert_der = NULL;
	size_t cert_len = 0;
	WOLFSSL *ssl = NULL;
	const char *ref = NULL, *servername = NULL, *hostport;
	int c, r, fd = -1;

	memset(&kopts, 0, sizeof(kopts));
	memset(&conf, 0, sizeof(conf));
	conf.side = KW_TLS_CLIENT;
	conf.min_version = 12;
	conf.max_version = 13;
	while ((c = getopt_long(argc, argv, "k:c:h", longopts, NULL)) != -1) {
		if (kw_cli_keyopt(c, optarg, &kopts))
			continue;
		switch (c) {
		case 'k':
			ref = optarg;
			break;
		case 'c':
			conf.cert_file = optarg;
			break;
		case KW_OPT_CA:
			conf.ca_file = optarg;
			break;
		case KW_OPT_SERVERNAME:
			servername = optarg;
			break;
		case KW_OPT_TLS12:
			conf.max_version = 12;
			break;
		case KW_OPT_CRL:
			conf.crl_file = optarg;
			conf.crl_hard_fail = 1;
			break;
		case 'h':
			fputs(kw_connect_help, stdout);
			return KW_EXIT_OK;
		default:
			return kw_cli_usage_error("connect", "bad option");
		}
	}
	if (ref == NULL)
		return kw_cli_usage_error("connect", "--key is required");
	if (conf.cert_file == NULL && !kw_keyref_cert_on_token(NULL, ref))
		return kw_cli_usage_error("connect", "--cert is required (for "
		    "a pkcs11: key it defaults to the certificate on the "
		    "token)");
	if (conf.ca_file == NULL)
		return kw_cli_usage_error("connect", "--ca is required");
	if (optind + 1 != argc)
		return kw_cli_usage_error("connect", "give exactly one "
		    "HOST:PORT");
	hostport = argv[optind];
	if (strchr(hostport, ':') == NULL)
		return kw_cli_usage_error("connect", "'%s' is not HOST:PORT",
		    hostport);

	/* Writes to a closed peer or stdout return EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	if ((r = kw_wolf_init()) != KW_OK)
		goto out;
	if ((r = kw_keyref_open(ref, &kopts, &key)) != KW_OK) {
		kw_err("connect: cannot open key %s", ref);
		goto out;
	}
	conf.key = key;
	if (kw_keyref_cert_on_token(conf.cert_file, ref)) {
		if ((r = kw_keyref_cert_load(conf.cert_file, ref, &kopts,
		    &cert_der, &cert_len)) != KW_OK)
			goto out;
		conf.cert_file = NULL;
		conf.cert_der = cert_der;
		conf.cert_der_len = cert_len;
	}
	if ((r = kw_tls_ctx_new(&conf, &ctx)) != KW_OK)
		goto out;
	if ((r = kw_tls_connect(ctx, hostport, servername,
	    KW_CONNECT_TIMEOUT_MS, &ssl)) != KW_OK)
		goto out;
	fd = wolfSSL_get_fd(ssl);
	kw_info("connected to %s: %s, %s", hostport, wolfSSL_get_version(ssl),
	    wolfSSL_get_cipher_name(ssl));
	r = kw_bridge(ctx, ssl, hostport);
out:
	if (key != NULL)
		kw_info("signatures made by the %s: %llu",
		    kw_backend_title(key),
		    (unsigned long long)kw_key_sign_count(key));
	kw_tls_ssl_free(ctx, ssl);
	if (fd >= 0)
		close(fd);
	kw_tls_ctx_free(ctx);
	free(cert_der);
	kw_key_close(key);
	kw_keyref_shutdown();
	kw_wolf_cleanup();
	return kw_exit_code(r);
}
