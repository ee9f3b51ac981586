/* Cancellation and deadlines (see kw_cancel.h). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "kw_cancel.h"
#include "kw_error.h"

struct kw_cancel {
	int fd;				/* eventfd: readable once fired */
};

int
kw_cancel_new(struct kw_cancel **out)
{
	struct kw_cancel *c;
	int r;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KW_ERR_NOMEM;
	if ((c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	*out = c;
	c = NULL;
	r = KW_OK;
out:
	free(c);
	return r;
}

void
kw_cancel_free(struct kw_cancel *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c);
}

void
kw_cancel_fire(struct kw_cancel *c)
{
	uint64_t one = 1;

	if (c != NULL)
		(void)!write(c->fd, &one, sizeof(one));
}

void
kw_cancel_rearm(struct kw_cancel *c)
{
	uint64_t v;

	if (c != NULL)
		(void)!read(c->fd, &v, sizeof(v));
}

int
kw_cancel_fired(const struct kw_cancel *c)
{
	struct pollfd p;

	if (c == NULL)
		return 0;
	p.fd = c->fd;
	p.events = POLLIN;
	p.revents = 0;
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

int64_t
kw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
kw_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t
kw_deadline(int ms)
{
	return kw_now_ms() + (ms > 0 ? ms : 0);
}

int
kw_cancel_wait(const struct kw_cancel *c, int fd, short events,
    int64_t deadline)
{
	struct pollfd p[2];
	int64_t left;
	nfds_t n = 0, ci = 0;
	int k;

	for (;;) {
		n = 0;
		if (fd >= 0) {
			p[n].fd = fd;
			p[n].events = events;
			p[n].revents = 0;
			n++;
		}
		if (c != NULL) {
			ci = n;
			p[n].fd = c->fd;
			p[n].events = POLLIN;
			p[n].revents = 0;
			n++;
		}
		left = deadline - kw_now_ms();
		if (left <= 0)
			return fd >= 0 ? KW_ERR_TIMEOUT : KW_OK;
		k = poll(p, n, left > 60000 ? 60000 : (int)left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return KW_ERR_IO;
		if (c != NULL && (p[ci].revents & POLLIN))
			return KW_ERR_CANCELLED;
		/* errors and hang-ups count as ready: the next I/O call says */
		if (fd >= 0 && p[0].revents != 0)
			return KW_OK;
	}
}

/* One lookup, shared by the caller and the thread: whoever leaves last
 * frees it. */
struct kw_lookup {
	pthread_mutex_t lock;
	int refs;
	int done_fd;			/* eventfd: readable when done */
	int err;			/* getaddrinfo's return */
	struct addrinfo *res;
	struct addrinfo hints;
	char *host;
	char *port;
};

static void
kw_lookup_unref(struct kw_lookup *l)
{
	int last;

	pthread_mutex_lock(&l->lock);
	last = --l->refs == 0;
	pthread_mutex_unlock(&l->lock);
	if (!last)
		return;
	if (l->res != NULL)
		freeaddrinfo(l->res);
	if (l->done_fd >= 0)
		close(l->done_fd);
	pthread_mutex_destroy(&l->lock);
	free(l->host);
	free(l->port);
	free(l);
}

static void *
kw_lookup_main(void *arg)
{
	struct kw_lookup *l = arg;
	struct addrinfo *res = NULL;
	uint64_t one = 1;
	int err;

	err = getaddrinfo(l->host, l->port, &l->hints, &res);
	pthread_mutex_lock(&l->lock);
	l->err = err;
	l->res = res;
	pthread_mutex_unlock(&l->lock);
	(void)!write(l->done_fd, &one, sizeof(one));
	kw_lookup_unref(l);
	return NULL;
}

int
kw_cancel_getaddrinfo(const struct kw_cancel *c, const char *host,
    const char *port, const struct addrinfo *hints, int64_t deadline,
    struct addrinfo **res, int *gai_err)
{
	struct kw_lookup *l;
	pthread_attr_t attr;
	pthread_t th;
	int r;

	*res = NULL;
	*gai_err = 0;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&l->lock, NULL);
	l->refs = 1;
	l->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->hints = *hints;
	l->host = strdup(host);
	l->port = strdup(port);
	if (l->done_fd < 0 || l->host == NULL || l->port == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	l->refs = 2;			/* ours and the thread's */
	if (pthread_attr_init(&attr) != 0) {
		l->refs = 1;
		r = KW_ERR_NOMEM;
		goto out;
	}
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&th, &attr, kw_lookup_main, l);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		l->refs = 1;
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = kw_cancel_wait(c, l->done_fd, POLLIN, deadline)) != KW_OK)
		goto out;
	pthread_mutex_lock(&l->lock);
	if (l->err != 0) {
		*gai_err = l->err;
		r = KW_ERR_NETWORK;
	} else {
		*res = l->res;
		l->res = NULL;
	}
	pthread_mutex_unlock(&l->lock);
out:
	kw_lookup_unref(l);
	return r;
}
