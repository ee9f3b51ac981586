/* Cancellation and deadlines for blocking work done off an event loop
 * (an EST exchange inside a renewal).  A kw_cancel is an eventfd that one
 * thread fires and another polls next to its socket: a reload or a
 * shutdown stops a renewal that waits on a slow CA within milliseconds.
 * Deadlines are CLOCK_MONOTONIC milliseconds (kw_deadline).  A NULL
 * kw_cancel is valid everywhere and never fires. */
#ifndef KW_CANCEL_H
#define KW_CANCEL_H

#include <stdint.h>

struct kw_cancel;

int kw_cancel_new(struct kw_cancel **out);
void kw_cancel_free(struct kw_cancel *c);
/* Fire (any thread; idempotent) and re-arm (before the next job). */
void kw_cancel_fire(struct kw_cancel *c);
void kw_cancel_rearm(struct kw_cancel *c);
int kw_cancel_fired(const struct kw_cancel *c);

/* Monotonic now in ms and in us, and now + ms. */
int64_t kw_now_ms(void);
uint64_t kw_now_usec(void);
int64_t kw_deadline(int ms);

/* Wait until fd has one of events (POLLIN/POLLOUT), c fires, or the
 * deadline passes: KW_OK, KW_ERR_CANCELLED, KW_ERR_TIMEOUT (KW_ERR_IO on a
 * poll failure).  fd < 0: only sleep until deadline or cancellation
 * (KW_OK when the deadline was reached). */
int kw_cancel_wait(const struct kw_cancel *c, int fd, short events,
    int64_t deadline);

/* getaddrinfo(3) within the deadline, and cancellable: the lookup runs
 * on a detached thread that frees its own result when the caller has
 * given up, so a resolver that never answers cannot hold a renewal or a
 * shutdown.  KW_OK with *res (freeaddrinfo it); KW_ERR_NETWORK with
 * *gai_err (for gai_strerror); KW_ERR_TIMEOUT, KW_ERR_CANCELLED,
 * KW_ERR_NOMEM. */
struct addrinfo;
int kw_cancel_getaddrinfo(const struct kw_cancel *c, const char *host,
    const char *port, const struct addrinfo *hints, int64_t deadline,
    struct addrinfo **res, int *gai_err);

#endif
