/* Prometheus metrics over HTTP (text format 0.0.4) on an opt-in local
 * address: GET /metrics. */
#ifndef KW_METRICS_H
#define KW_METRICS_H

struct event_base;
struct kw_metrics;
struct kw_addr;

/* Returns the malloc'd exposition text (NULL: out of memory). */
typedef char *(*kw_metrics_fn)(void *arg);

int kw_metrics_new(struct event_base *base, const struct kw_addr *addr,
    kw_metrics_fn fn, void *arg, struct kw_metrics **out);
void kw_metrics_free(struct kw_metrics *m);

#endif
