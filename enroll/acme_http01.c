/* The http-01 responder (RFC 8555 8.3): a small HTTP/1.x server that lives
 * only for the length of an order.  It answers
 * GET /.well-known/acme-challenge/TOKEN with the key authorization of a
 * published token and 404 for anything else.  One thread, one connection
 * at a time, each bounded in size (4 KiB) and time (5 s): the validation
 * server is the only expected client, and nothing else is served. */
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
	struct acme_srv srv;
	pthread_mutex_t mu;
	struct {
		char *token;
		char *keyauth;
	} t[HTTP01_MAX_TOKENS];
	unsigned long served, refused;
};

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

static void
http01_serve_cb(void *arg, int fd)
{
	http01_serve(arg, fd);
}

int
acme_http01_start(const char *addr, struct acme_http01 **out)
{
	struct acme_http01 *h;
	int r;

	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&h->mu, NULL);
	if ((r = acme_srv_start(&h->srv, addr, "http-01", http01_serve_cb,
	    h)) != KW_OK) {
		acme_http01_stop(h);
		return r;
	}
	*out = h;
	return KW_OK;
}

void
acme_http01_stop(struct acme_http01 *h)
{
	size_t i;

	if (h == NULL)
		return;
	acme_srv_stop(&h->srv);
	kw_debug("http-01 responder: %lu served, %lu refused", h->served,
	    h->refused);
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
