/* A plain wolfSSL TLS 1.3 client for bench/bulk: fetch one URL path from an
 * HTTPS server on 127.0.0.1 and throw the body away, timing the transfer.
 * It stands in for `keyward tunnel client` while the tunnel does not exist,
 * and shows what the wolfSSL build alone does.  No client certificate.
 *
 * usage: wolfssl_tls_client PORT CA-FILE SUITE PATH
 *   SUITE is a wolfSSL TLS 1.3 suite name, e.g. TLS13-AES128-GCM-SHA256
 * Output: BODY-BYTES WALL-SECONDS CPU-SECONDS NEGOTIATED-SUITE */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double
wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	static unsigned char buf[65536];
	WOLFSSL_CTX *ctx = NULL;
	WOLFSSL *ssl = NULL;
	struct sockaddr_in sa;
	unsigned long long bytes = 0;
	char req[512];
	double t0, c0;
	int fd = -1, n, i, hdr = 0, rc = 1, one = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: wolfssl_tls_client PORT CA-FILE SUITE "
		    "PATH\n");
		return 2;
	}
	wolfSSL_Init();
	if ((ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method())) == NULL)
		goto out;
	if (wolfSSL_CTX_load_verify_locations(ctx, argv[2], NULL) !=
	    WOLFSSL_SUCCESS) {
		fprintf(stderr, "wolfssl_tls_client: cannot load %s\n", argv[2]);
		goto out;
	}
	if (wolfSSL_CTX_set_cipher_list(ctx, argv[3]) != WOLFSSL_SUCCESS) {
		fprintf(stderr, "wolfssl_tls_client: unknown suite %s\n", argv[3]);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t0 = wall();
	c0 = cpu();
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("wolfssl_tls_client: connect");
		goto out;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((ssl = wolfSSL_new(ctx)) == NULL ||
	    wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS ||
	    wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, "localhost", 9) !=
	    WOLFSSL_SUCCESS ||
	    wolfSSL_check_domain_name(ssl, "localhost") != WOLFSSL_SUCCESS)
		goto out;
	if (wolfSSL_connect(ssl) != WOLFSSL_SUCCESS) {
		fprintf(stderr, "wolfssl_tls_client: handshake failed: %d\n",
		    wolfSSL_get_error(ssl, 0));
		goto out;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n"
	    "Connection: close\r\n\r\n", argv[4]);
	if (wolfSSL_write(ssl, req, n) != n)
		goto out;
	/* Count the body only: skip the response header up to CRLF CRLF. */
	while ((n = wolfSSL_read(ssl, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n && hdr < 4; i++)
			hdr = buf[i] == "\r\n\r\n"[hdr] ? hdr + 1 :
			    buf[i] == '\r' ? 1 : 0;
		bytes += (unsigned long long)(n - i);
	}
	printf("%llu %.3f %.3f %s\n", bytes, wall() - t0, cpu() - c0,
	    wolfSSL_get_cipher(ssl));
	rc = 0;
out:
	if (ssl != NULL)
		wolfSSL_free(ssl);
	if (fd >= 0)
		close(fd);
	if (ctx != NULL)
		wolfSSL_CTX_free(ctx);
	wolfSSL_Cleanup();
	return rc;
}
