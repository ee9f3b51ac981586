/* The shape both challenge responders share: one listening socket served
 * one connection at a time by a thread, for the life of an order, until
 * acme_srv_stop().  The validation server is the only expected client. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "acme.h"

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

static void *
acme_srv_main(void *arg)
{
	struct acme_srv *s = arg;
	struct pollfd p[2];
	int fd;

	p[0].fd = s->lfd;
	p[0].events = POLLIN;
	p[1].fd = s->stop[0];
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		if ((fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		s->serve(s->arg, fd);
		close(fd);
	}
	return NULL;
}

int
acme_srv_start(struct acme_srv *s, const char *addr, const char *what,
    void (*serve)(void *arg, int fd), void *arg)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->lfd = s->stop[0] = s->stop[1] = -1;
	s->serve = serve;
	s->arg = arg;
	if ((r = acme_listen(addr, what, &s->lfd)) != KW_OK)
		goto out;
	if (pipe2(s->stop, O_CLOEXEC) != 0) {
		r = KW_ERR_IO;
		goto out;
	}
	if (pthread_create(&s->thread, NULL, acme_srv_main, s) != 0) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	s->running = 1;
	kw_info("%s responder listening on %s", what, addr);
	r = KW_OK;
out:
	if (r != KW_OK)
		acme_srv_stop(s);
	return r;
}

void
acme_srv_stop(struct acme_srv *s)
{
	if (s->running) {
		(void)!write(s->stop[1], "x", 1);
		pthread_join(s->thread, NULL);
		s->running = 0;
	}
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->stop[0] >= 0)
		close(s->stop[0]);
	if (s->stop[1] >= 0)
		close(s->stop[1]);
	s->lfd = s->stop[0] = s->stop[1] = -1;
}
