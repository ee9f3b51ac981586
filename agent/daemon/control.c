/* The daemon's control socket (see control.h). */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/daemon/control.h"

#define KW_CTL_MAX_REQ		256
#define KW_CTL_MAX_ANSWER	(4u << 20)
#define KW_CTL_TIMEOUT_S	5
#define KW_CTL_MAX_CLIENTS	32

/* A connected client; the control keeps every one in a list so that
 * kw_control_free releases those still connected. */
struct ctl_client {
	struct kw_control *c;
	struct bufferevent *bev;
	struct ctl_client *prev, *next;
};

struct kw_control {
	struct event_base *base;
	struct evconnlistener *lis;
	char *path;
	kw_control_fn fn;
	void *arg;
	struct ctl_client *clients;
	unsigned nclients;
};

static void
ctl_client_free(struct ctl_client *cl)
{
	struct kw_control *c = cl->c;

	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	c->nclients--;
	bufferevent_free(cl->bev);
	free(cl);
}

static void
ctl_write_cb(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		ctl_client_free(arg);
}

static void
ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	ctl_client_free(arg);
}

static void
ctl_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;
	struct kw_control *c = cl->c;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line, *answer;
	size_t n;

	line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > KW_CTL_MAX_REQ)
			ctl_client_free(cl);
		return;
	}
	answer = c->fn(c->arg, line);
	free(line);
	bufferevent_disable(bev, EV_READ);
	if (answer == NULL) {
		ctl_client_free(cl);
		return;
	}
	bufferevent_write(bev, answer, strlen(answer));
	free(answer);
	bufferevent_setcb(bev, NULL, ctl_write_cb, ctl_event_cb, cl);
}

static void
ctl_accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct kw_control *c = arg;
	struct ctl_client *cl;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct timeval tv = { KW_CTL_TIMEOUT_S, 0 };

	(void)lis;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		kw_warn("control socket: refusing a client with uid %ld",
		    (long)cred.uid);
		close(fd);
		return;
	}
	if (c->nclients >= KW_CTL_MAX_CLIENTS) {
		kw_warn("control socket: %u clients connected; refusing more",
		    c->nclients);
		close(fd);
		return;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL ||
	    (cl->bev = bufferevent_socket_new(c->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(cl);
		close(fd);
		return;
	}
	cl->c = c;
	cl->next = c->clients;
	if (c->clients != NULL)
		c->clients->prev = cl;
	c->clients = cl;
	c->nclients++;
	bufferevent_setcb(cl->bev, ctl_read_cb, NULL, ctl_event_cb, cl);
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	bufferevent_enable(cl->bev, EV_READ);
}

/* Is a daemon answering on path? */
static int
ctl_in_use(const char *path)
{
	struct sockaddr_un sun;
	int fd, used;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	used = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return used;
}

int
kw_control_new(struct event_base *base, const char *path, kw_control_fn fn,
    void *arg, struct kw_control **out)
{
	struct kw_control *c = NULL;
	struct sockaddr_un sun;
	struct stat st;
	char dir[sizeof(sun.sun_path)], *slash;
	mode_t old;
	int fd = -1, r;

	*out = NULL;
	if (strlen(path) >= sizeof(sun.sun_path) || path[0] != '/') {
		kw_err("control socket path %s: must be absolute and shorter "
		    "than %zu bytes", path, sizeof(sun.sun_path));
		return KW_ERR_CONFIG;
	}
	/* Create the socket's directory (owner-only) if missing. */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			kw_err("cannot create %s for the control socket: %s",
			    dir, strerror(errno));
			return KW_ERR_IO;
		}
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			kw_err("control socket path %s exists and is not a "
			    "socket; remove it or set control-socket", path);
			return KW_ERR_EXISTS;
		}
		if (ctl_in_use(path)) {
			kw_err("another keyward answers on %s; stop it or set "
			    "another control-socket", path);
			return KW_ERR_EXISTS;
		}
		(void)unlink(path);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	c->base = base;
	c->fn = fn;
	c->arg = arg;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r != 0 || chmod(path, 0600) != 0 || listen(fd, 16) != 0) {
		kw_err("cannot listen on control socket %s: %s", path,
		    strerror(errno));
		r = KW_ERR_IO;
		goto out;
	}
	c->lis = evconnlistener_new(base, ctl_accept_cb, c,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (c->lis == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	fd = -1;
	kw_info("control socket %s", path);
	*out = c;
	c = NULL;
	r = KW_OK;
out:
	if (fd >= 0)
		close(fd);
	kw_control_free(c);
	return r;
}

void
kw_control_free(struct kw_control *c)
{
	if (c == NULL)
		return;
	while (c->clients != NULL)
		ctl_client_free(c->clients);
	if (c->lis != NULL) {
		evconnlistener_free(c->lis);
		(void)unlink(c->path);
	}
	free(c->path);
	free(c);
}

int
kw_control_request(const char *path, const char *request, char **answer)
{
	struct sockaddr_un sun;
	struct timeval tv = { 10, 0 };
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd = -1, r;

	*answer = NULL;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		kw_err("control socket path %s is too long", path);
		return KW_ERR_ARG;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		kw_err("cannot reach the keyward daemon on %s: %s (is `keyward "
		    "run` running? see --socket)", path, strerror(errno));
		r = errno == EACCES ? KW_ERR_PERM : KW_ERR_NETWORK;
		goto out;
	}
	if (dprintf(fd, "%s\n", request) < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			if (cap >= KW_CTL_MAX_ANSWER) {
				r = KW_ERR_SPACE;
				goto out;
			}
			cap = cap ? cap * 2 : 16384;
			if ((nb = realloc(buf, cap)) == NULL) {
				r = KW_ERR_NOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kw_err("reading from the daemon on %s: %s", path,
			    strerror(errno));
			r = errno == EAGAIN ? KW_ERR_TIMEOUT : KW_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (buf == NULL || len == 0) {
		kw_err("the daemon on %s closed without answering (not the "
		    "same user?)", path);
		r = KW_ERR_PROTOCOL;
		goto out;
	}
	buf[len] = '\0';
	*answer = buf;
	buf = NULL;
	r = KW_OK;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}
