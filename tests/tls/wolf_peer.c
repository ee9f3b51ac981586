/* A plain wolfSSL peer for the strict-TLS tests (tests/tls/strict.sh): a
 * client or server with a software key and certificate from files, so
 * keyward meets a third TLS stack besides OpenSSL and GnuTLS.  It does not
 * check the other side's name (keyward's checks are what is tested).
 *
 *   wolf_peer server PORT CERT KEY CA [SIGALGS [TLS12]]
 *   wolf_peer client PORT CERT KEY CA [SIGALGS [TLS12|PSK_KE]]
 *
 * PSK_KE: the client connects twice, the second time resuming the first
 * session (TLS 1.3) and offering only psk_ke (wolfSSL_no_dhe_psk).
 *
 * The server listens on 127.0.0.1:PORT and accepts one connection; either
 * side prints "handshake ok VERSION" or "handshake failed N" and exits 0
 * or 1 once the handshake is over.  SIGALGS ("-": wolfSSL's default) is a
 * wolfSSL signature algorithm list; TLS12 limits it to TLS 1.2. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
tcp_socket(int server, int port)
{
	struct sockaddr_in sa;
	int fd, c, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!server)
		return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ?
		    fd : -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 1) != 0)
		return -1;
	printf("listening\n");
	fflush(stdout);
	c = accept(fd, NULL, NULL);
	close(fd);
	return c;
}

/* Wait (1 s at most) for what the server sends after the handshake: a
 * TLS 1.3 ticket, or the end of the connection. */
static void
drain(WOLFSSL *ssl, int fd)
{
	struct timeval tv = { 1, 0 };
	char buf[64];

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)wolfSSL_read(ssl, buf, sizeof(buf));
}

/* PSK_KE: take the first connection's session, connect again offering
 * only psk_ke, report "resumed handshake ok" / "failed" and whether the
 * server then kept the connection ("connection kept" / "closed"). */
static int
resume_psk_ke(WOLFSSL_CTX *ctx, WOLFSSL **sslp, int *fdp, int port)
{
	struct timeval tv = { 1, 0 };
	WOLFSSL_SESSION *sess;
	WOLFSSL *ssl;
	char buf[64];
	int fd, w, n;

	drain(*sslp, *fdp);
	if ((sess = wolfSSL_get1_session(*sslp)) == NULL) {
		printf("no session to resume\n");
		return -1;
	}
	wolfSSL_free(*sslp);
	close(*fdp);
	*sslp = NULL;
	*fdp = -1;
	if ((fd = tcp_socket(0, port)) < 0) {
		printf("cannot connect again\n");
		wolfSSL_SESSION_free(sess);
		return -1;
	}
	*fdp = fd;
	if ((ssl = wolfSSL_new(ctx)) == NULL) {
		wolfSSL_SESSION_free(sess);
		return -1;
	}
	*sslp = ssl;
	if (wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS ||
	    wolfSSL_no_dhe_psk(ssl) < 0 ||
	    wolfSSL_set_session(ssl, sess) != WOLFSSL_SUCCESS) {
		printf("cannot offer the session with psk_ke only\n");
		wolfSSL_SESSION_free(sess);
		return -1;
	}
	wolfSSL_SESSION_free(sess);
	if ((w = wolfSSL_connect(ssl)) != WOLFSSL_SUCCESS) {
		printf("resumed handshake failed %d\n",
		    wolfSSL_get_error(ssl, w));
		return -1;
	}
	printf("resumed handshake ok, %s\n", wolfSSL_session_reused(ssl) ?
	    "resumed" : "not resumed");
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = wolfSSL_read(ssl, buf, sizeof(buf));
	w = n < 0 ? wolfSSL_get_error(ssl, n) : 0;
	printf("connection %s\n", n > 0 || w == WOLFSSL_ERROR_WANT_READ ?
	    "kept" : "closed");
	return 0;
}

int
main(int argc, char **argv)
{
	WOLFSSL_CTX *ctx = NULL;
	WOLFSSL *ssl = NULL;
	int server, fd = -1, w, rc = 1, tls12, psk_ke;

	if (argc < 6 || (strcmp(argv[1], "server") != 0 &&
	    strcmp(argv[1], "client") != 0)) {
		fprintf(stderr, "usage: wolf_peer server|client PORT CERT KEY "
		    "CA [SIGALGS [TLS12]]\n");
		return 2;
	}
	server = strcmp(argv[1], "server") == 0;
	tls12 = argc > 7 && strcmp(argv[7], "TLS12") == 0;
	psk_ke = argc > 7 && strcmp(argv[7], "PSK_KE") == 0;
	wolfSSL_Init();
	ctx = wolfSSL_CTX_new(server ? (tls12 ? wolfTLSv1_2_server_method() :
	    wolfSSLv23_server_method()) : (tls12 ? wolfTLSv1_2_client_method() :
	    wolfSSLv23_client_method()));
	if (ctx == NULL ||
	    wolfSSL_CTX_use_certificate_chain_file(ctx, argv[3]) !=
	    WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_use_PrivateKey_file(ctx, argv[4],
	    WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_load_verify_locations(ctx, argv[5], NULL) !=
	    WOLFSSL_SUCCESS) {
		fprintf(stderr, "wolf_peer: cannot load %s, %s, %s\n", argv[3],
		    argv[4], argv[5]);
		goto out;
	}
	if (argc > 6 && strcmp(argv[6], "-") != 0 &&
	    wolfSSL_CTX_set1_sigalgs_list(ctx, argv[6]) != WOLFSSL_SUCCESS) {
		fprintf(stderr, "wolf_peer: bad sigalgs %s\n", argv[6]);
		goto out;
	}
	/* The test checks keyward, not us: accept any server name. */
	wolfSSL_CTX_set_verify(ctx, server ? WOLFSSL_VERIFY_PEER |
	    WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT : WOLFSSL_VERIFY_PEER, NULL);
	if ((fd = tcp_socket(server, atoi(argv[2]))) < 0) {
		perror("wolf_peer: socket");
		goto out;
	}
	if ((ssl = wolfSSL_new(ctx)) == NULL ||
	    wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS)
		goto out;
	w = server ? wolfSSL_accept(ssl) : wolfSSL_connect(ssl);
	if (w != WOLFSSL_SUCCESS) {
		printf("handshake failed %d\n", wolfSSL_get_error(ssl, w));
		goto out;
	}
	printf("handshake ok %s\n", wolfSSL_get_version(ssl));
	if (!server && psk_ke && resume_psk_ke(ctx, &ssl, &fd, atoi(argv[2]))
	    != 0)
		goto out;
	rc = 0;
out:
	fflush(stdout);
	if (ssl != NULL)
		wolfSSL_free(ssl);
	if (ctx != NULL)
		wolfSSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	wolfSSL_Cleanup();
	return rc;
}
