/* The http-01 responder (RFC 8555 8.3): a small HTTP/1.x server that lives
 * only for the length of an order.  It answers
 * GET /.well-known/acme-challenge/TOKEN with the key authorization of a
 * published token and 404 for anything else.  One thread, one connection
 * at a time, each bounded in size (4 KiB) and time (5 s): the validation
 * server is the only expected client, and nothing else is served. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "acme.h"

#define HTTP01_MAX_TOKENS	16
#define HTTP01_MAX_REQ		4096
#define HTTP01_IO_MS		5000
#define HTTP01_PREFIX		"/.well-known/acme-challenge/"

struct acme_http01 {
	int lfd;
	int stop[2];			/* pipe: write end wakes the thread */
	pthread_t thread;
	int running;
	pthread_mutex_t mu;
	struct {
		char *token;
		char *keyauth;
	} t[HTTP01_MAX_TOKENS];
	unsigned long served, refused;
};

static int
http01_split(const char *addr, char *host, size_t hl, char *port, size_t pl)
{
	const char *colon;
	size_t n;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (end == NULL || end[1] != ':')
			return KW_ERR_PARSE;
		n = (size_t)(end - addr - 1);
		colon = end + 1;
		addr++;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL)
			return KW_ERR_PARSE;
		n = (size_t)(colon - addr);
	}
	if (n == 0 || n >= hl || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= pl)
		return KW_ERR_PARSE;
	memcpy(host, addr, n);
	host[n] = '\0';
	snprintf(port, pl, "%s", colon + 1);
	return KW_OK;
}

int
acme_listen(const char *addr, const char *what, int *out)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], port[16];
	int fd = -1, one = 1, e;

	*out = -1;
	if (http01_split(addr, host, sizeof(host), port, sizeof(port)) != 0) {
		kw_err("--%s %s: expected HOST:PORT", what, addr);
		return KW_ERR_CONFIG;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		kw_err("--%s %s: %s", what, addr, gai_strerror(e));
		return KW_ERR_CONFIG;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 16) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		kw_err("cannot listen for %s on %s: %s (is the port in "
		    "use, or below 1024 without privilege?)", what, addr,
		    strerror(errno));
		return KW_ERR_NETWORK;
	}
	*out = fd;
	return KW_OK;
}

static void
http01_send(int fd, int status, const char *body)
{
	char buf[1024];
	int n;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
	    status == 200 ? "OK" : status == 404 ? "Not Found" :
	    "Bad Request", strlen(body), body);
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)send(fd, buf, (size_t)n, MSG_NOSIGNAL);
}

/* Read the request head (up to the blank line) and answer it. */
static void
http01_serve(struct acme_http01 *h, int fd)
{
	char req[HTTP01_MAX_REQ + 1], path[HTTP01_MAX_REQ];
	const char *ka = NULL;
	size_t len = 0, i;
	ssize_t n;
	struct timeval tv = { HTTP01_IO_MS / 1000, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (;;) {
		if (len == HTTP01_MAX_REQ) {
			http01_send(fd, 400, "");
			return;
		}
		n = recv(fd, req + len, HTTP01_MAX_REQ - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n"))
			break;
	}
	if (sscanf(req, "GET %4095s HTTP/1.", path) != 1 ||
	    strncmp(path, HTTP01_PREFIX, strlen(HTTP01_PREFIX)) != 0) {
		h->refused++;
		http01_send(fd, 404, "");
		return;
	}
	pthread_mutex_lock(&h->mu);
	for (i = 0; i < HTTP01_MAX_TOKENS; i++)
		if (h->t[i].token != NULL && strcmp(h->t[i].token,
		    path + strlen(HTTP01_PREFIX)) == 0) {
			ka = h->t[i].keyauth;
			break;
		}
	if (ka != NULL) {
		h->served++;
		http01_send(fd, 200, ka);
	} else {
		h->refused++;
		http01_send(fd, 404, "");
	}
	pthread_mutex_unlock(&h->mu);
}

static void *
http01_main(void *arg)
{
	struct acme_http01 *h = arg;
	struct pollfd p[2];
	int fd;

	p[0].fd = h->lfd;
	p[0].events = POLLIN;
	p[1].fd = h->stop[0];
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		if ((fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		http01_serve(h, fd);
		close(fd);
	}
	return NULL;
}

int
acme_http01_start(const char *addr, struct acme_http01 **out)
{
	struct acme_http01 *h;
	int r;

	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return KW_ERR_NOMEM;
	h->stop[0] = h->stop[1] = -1;
	pthread_mutex_init(&h->mu, NULL);
	if ((r = acme_listen(addr, "http-01", &h->lfd)) != KW_OK)
		goto out;
	if (pipe2(h->stop, O_CLOEXEC) != 0) {
		r = KW_ERR_IO;
		goto out;
	}
	if (pthread_create(&h->thread, NULL, http01_main, h) != 0) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	h->running = 1;
	kw_info("http-01 responder listening on %s", addr);
	*out = h;
	h = NULL;
out:
	if (h != NULL) {
		if (h->lfd >= 0)
			close(h->lfd);
		acme_http01_stop(h);
	}
	return r;
}

void
acme_http01_stop(struct acme_http01 *h)
{
	size_t i;

	if (h == NULL)
		return;
	if (h->running) {
		(void)!write(h->stop[1], "x", 1);
		pthread_join(h->thread, NULL);
		close(h->lfd);
		kw_debug("http-01 responder: %lu served, %lu refused",
		    h->served, h->refused);
	}
	if (h->stop[0] >= 0)
		close(h->stop[0]);
	if (h->stop[1] >= 0)
		close(h->stop[1]);
	for (i = 0; i < HTTP01_MAX_TOKENS; i++) {
		free(h->t[i].token);
		free(h->t[i].keyauth);
	}
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static int
http01_publish(void *arg, const char *ident, const char *token,
    const char *keyauth)
{
	struct acme_http01 *h = arg;
	size_t i;
	int r = KW_ERR_SPACE;

	pthread_mutex_lock(&h->mu);
	for (i = 0; i < HTTP01_MAX_TOKENS; i++)
		if (h->t[i].token == NULL) {
			h->t[i].token = strdup(token);
			h->t[i].keyauth = strdup(keyauth);
			r = h->t[i].token && h->t[i].keyauth ? KW_OK :
			    KW_ERR_NOMEM;
			break;
		}
	pthread_mutex_unlock(&h->mu);
	return r;
}

static void
http01_withdraw(void *arg, const char *token)
{
	struct acme_http01 *h = arg;
	size_t i;

	pthread_mutex_lock(&h->mu);
	for (i = 0; i < HTTP01_MAX_TOKENS; i++)
		if (h->t[i].token != NULL && strcmp(h->t[i].token, token) == 0) {
			free(h->t[i].token);
			free(h->t[i].keyauth);
			h->t[i].token = h->t[i].keyauth = NULL;
		}
	pthread_mutex_unlock(&h->mu);
}

void
acme_http01_responder(struct acme_http01 *h, struct acme_responder *r)
{
	r->type = "http-01";
	r->publish = http01_publish;
	r->withdraw = http01_withdraw;
	r->arg = h;
}
