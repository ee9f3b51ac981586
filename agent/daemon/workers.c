/* The workers' shared counters (see workers.h). */
#include <sched.h>
#include <string.h>

#include "agent/daemon/workers.h"

size_t
kw_wk_region_size(unsigned n)
{
	return (size_t)n * sizeof(struct kw_wk_slot);
}

struct kw_wk_slot *
kw_wk_slot(void *region, unsigned n, unsigned w)
{
	if (region == NULL || w >= n)
		return NULL;
	return (struct kw_wk_slot *)region + w;
}

void
kw_wk_begin(struct kw_wk_slot *slot)
{
	uint32_t s = __atomic_load_n(&slot->seq, __ATOMIC_RELAXED);

	/* odd before any write of the slot: an exchange (acquire and
	 * release), not a fence, which ThreadSanitizer cannot follow */
	(void)__atomic_exchange_n(&slot->seq, (s | 1) + ((s & 1) ? 2 : 0),
	    __ATOMIC_SEQ_CST);
}

void
kw_wk_end(struct kw_wk_slot *slot)
{
	uint32_t s = __atomic_load_n(&slot->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&slot->seq, (s | 1) + 1, __ATOMIC_RELEASE);
}

void
kw_wk_clear(void *region, unsigned n, unsigned w)
{
	struct kw_wk_slot *slot = kw_wk_slot(region, n, w);

	if (slot == NULL)
		return;
	kw_wk_begin(slot);
	slot->pid = 0;
	slot->ntunnels = 0;
	kw_wk_end(slot);
}

int
kw_wk_read(void *region, unsigned n, unsigned w, struct kw_wk_slot *out)
{
	struct kw_wk_slot *slot = kw_wk_slot(region, n, w);
	uint32_t s1, s2, i;
	int tries;

	memset(out, 0, sizeof(*out));
	if (slot == NULL)
		return 0;
	for (tries = 0; tries < 100; tries++) {
		s1 = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		memcpy(out, slot, sizeof(*out));
		/* the copy done before seq is read again: a read-modify-write
		 * of nothing (release), not a fence (see kw_wk_begin) */
		s2 = __atomic_fetch_add(&slot->seq, 0, __ATOMIC_ACQ_REL);
		if (s1 == s2)
			break;
	}
	if (tries == 100) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	/* untrusted from here: bound what is used */
	if (out->ntunnels > KW_WK_TUNNELS)
		out->ntunnels = KW_WK_TUNNELS;
	if (out->pid < 0)
		out->pid = 0;
	for (i = 0; i < out->ntunnels; i++) {
		out->t[i].name[KW_WK_NAME - 1] = '\0';
		out->t[i].draining = out->t[i].draining != 0;
		out->t[i].st.last_error[sizeof(out->t[i].st.last_error) - 1] =
		    '\0';
	}
	return 1;
}

void
kw_tunnel_stats_add(struct kw_tunnel_stats *d, const struct kw_tunnel_stats *s)
{
	size_t b;

	d->conns_active += s->conns_active;
	d->conns_total += s->conns_total;
	d->conns_failed += s->conns_failed;
	d->refused += s->refused;
	d->hs_full += s->hs_full;
	d->hs_resumed += s->hs_resumed;
	d->hs_threaded += s->hs_threaded;
	d->signatures += s->signatures;
	d->sign_failures += s->sign_failures;
	d->sign_usec += s->sign_usec;
	for (b = 0; b < KW_SIGN_BUCKETS; b++)
		d->sign_hist[b] += s->sign_hist[b];
	d->bytes_up += s->bytes_up;
	d->bytes_down += s->bytes_down;
	d->hs_slots += s->hs_slots;
	d->hs_waiting += s->hs_waiting;
	d->sign_deferred += s->sign_deferred;
	d->sign_unauth += s->sign_unauth;
	d->src_refused += s->src_refused;
	d->posture_ok += s->posture_ok;
	d->posture_cached += s->posture_cached;
	for (b = 0; b < KW_PR_COUNT; b++)
		d->posture_refused[b] += s->posture_refused[b];
	d->posture_answers += s->posture_answers;
	d->posture_tpm_cmds += s->posture_tpm_cmds;
	d->posture_usec += s->posture_usec;
	/* reloads: every worker reloads; the primary's count stays */
	if (s->last_error_time > d->last_error_time) {
		d->last_error_time = s->last_error_time;
		memcpy(d->last_error, s->last_error, sizeof(d->last_error));
		d->last_error[sizeof(d->last_error) - 1] = '\0';
	}
}
