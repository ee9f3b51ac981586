/* The daemon's local control socket: a unix socket, mode 0600, and only
 * peers with the daemon's own uid (or root) are answered.  One request
 * line per connection ("status"), one answer (JSON), then close. */
#ifndef KW_CONTROL_H
#define KW_CONTROL_H

struct event_base;
struct kw_control;

/* Returns a malloc'd answer for one request line (NULL: out of memory). */
typedef char *(*kw_control_fn)(void *arg, const char *request);

int kw_control_new(struct event_base *base, const char *path,
    kw_control_fn fn, void *arg, struct kw_control **out);
void kw_control_free(struct kw_control *c);

/* Client side (`keyward status`): send request, read the whole answer
 * (at most 4 MiB) into *answer (malloc'd, NUL-terminated). */
int kw_control_request(const char *path, const char *request, char **answer);

#endif
