/* Several network processes (`workers = N` in [global], issue 13): the
 * counters each publishes for the primary (worker 0) to sum when it
 * answers `keyward status` and the metrics.
 *
 * The region is an anonymous MAP_SHARED mapping the supervisor makes
 * before forking the workers: one slot per worker, written only by that
 * worker (about once a second, under a sequence counter) and by the
 * supervisor when the worker has ended (cleared).  A reader copies a
 * slot and treats the copy as untrusted input: a worker is as exposed to
 * the network as the reader, so counts, names and strings are bounded
 * before use. */
#ifndef KW_DAEMON_WORKERS_H
#define KW_DAEMON_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "agent/tunnel/tunnel.h"

#define KW_WK_TUNNELS	64	/* tunnels a worker publishes (more: not
				 * summed, said once) */
#define KW_WK_NAME	128

struct kw_wk_tunnel {
	char name[KW_WK_NAME];
	uint32_t draining;		/* left the config, conns remain */
	uint32_t pad;
	struct kw_tunnel_stats st;
};

struct kw_wk_slot {
	uint32_t seq;			/* odd while being written */
	int32_t pid;			/* 0: not running */
	uint64_t updated_ms;		/* CLOCK_MONOTONIC of the writer */
	uint32_t ntunnels;
	uint32_t pad;
	struct kw_wk_tunnel t[KW_WK_TUNNELS];
};

/* Bytes for n workers. */
size_t kw_wk_region_size(unsigned n);
/* A slot of the region (NULL when w >= n). */
struct kw_wk_slot *kw_wk_slot(void *region, unsigned n, unsigned w);
/* The supervisor: worker w has ended (its counts leave the sums). */
void kw_wk_clear(void *region, unsigned n, unsigned w);
/* Publish: begin (odd), fill slot->t and ntunnels, end (even). */
void kw_wk_begin(struct kw_wk_slot *slot);
void kw_wk_end(struct kw_wk_slot *slot);
/* A consistent, bounded copy of slot w into out.  0 when it was being
 * written every time it was tried (out is then empty). */
int kw_wk_read(void *region, unsigned n, unsigned w, struct kw_wk_slot *out);
/* dst += src (counters and gauges; the newer last error). */
void kw_tunnel_stats_add(struct kw_tunnel_stats *dst,
    const struct kw_tunnel_stats *src);

#endif
