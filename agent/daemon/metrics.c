/* Prometheus metrics endpoint (see metrics.h), served with libevent's
 * evhttp in the daemon's loop. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/conf/config.h"
#include "agent/daemon/metrics.h"

struct kw_metrics {
	struct evhttp *http;
	kw_metrics_fn fn;
	void *arg;
};

static void
kw_metrics_cb(struct evhttp_request *req, void *arg)
{
	struct kw_metrics *m = arg;
	struct evbuffer *b;
	const char *uri = evhttp_request_get_uri(req);
	char *text;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET ||
	    uri == NULL || (strcmp(uri, "/metrics") != 0 &&
	    strncmp(uri, "/metrics?", 9) != 0)) {
		evhttp_send_error(req, HTTP_NOTFOUND, "try /metrics");
		return;
	}
	if ((text = m->fn(m->arg)) == NULL ||
	    (b = evbuffer_new()) == NULL) {
		free(text);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add(b, text, strlen(text));
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

int
kw_metrics_new(struct event_base *base, const struct kw_addr *addr,
    kw_metrics_fn fn, void *arg, struct kw_metrics **out)
{
	struct kw_metrics *m;
	unsigned long port = strtoul(addr->port, NULL, 10);

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return KW_ERR_NOMEM;
	m->fn = fn;
	m->arg = arg;
	if ((m->http = evhttp_new(base)) == NULL) {
		free(m);
		return KW_ERR_NOMEM;
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
	evhttp_set_max_headers_size(m->http, 8192);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_gencb(m->http, kw_metrics_cb, m);
	if (evhttp_bind_socket(m->http, addr->host, (unsigned short)port)
	    != 0) {
		kw_err("cannot serve metrics on %s: %s", addr->text,
		    strerror(errno));
		kw_metrics_free(m);
		return KW_ERR_NETWORK;
	}
	kw_info("metrics on http://%s/metrics", addr->text);
	*out = m;
	return KW_OK;
}

void
kw_metrics_free(struct kw_metrics *m)
{
	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m);
}
