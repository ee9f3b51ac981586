/* A plain wolfSSL peer for the strict-TLS tests (tests/tls/strict.sh): a
 * client or server with a software key and certificate from files, so
 * keyward meets a third TLS stack besides OpenSSL and GnuTLS.  It does not
 * check the other side's name (keyward's checks are what is tested).
 *
 *   wolf_peer server PORT CERT KEY CA [SIGALGS [TLS12]]
 *   wolf_peer client PORT CERT KEY CA [SIGALGS [TLS12]]
 *
 * The server listens on 127.0.0.1:PORT and accepts one connection; either
 * side prints "handshake ok VERSION" or "handshake failed N" and exits 0
 * or 1 once the handshake is over.  SIGALGS ("-": wolfSSL's default) is a
 * wolfSSL signature algorithm list; TLS12 limits it to TLS 1.2. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <sys/socket.h>
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

int
main(int argc, char **argv)
{
	WOLFSSL_CTX *ctx = NULL;
	WOLFSSL *ssl = NULL;
	int server, fd = -1, w, rc = 1, tls12;

	if (argc < 6 || (strcmp(argv[1], "server") != 0 &&
	    strcmp(argv[1], "client") != 0)) {
		fprintf(stderr, "usage: wolf_peer server|client PORT CERT KEY "
		    "CA [SIGALGS [TLS12]]\n");
		return 2;
	}
	server = strcmp(argv[1], "server") == 0;
	tls12 = argc > 7 && strcmp(argv[7], "TLS12") == 0;
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
