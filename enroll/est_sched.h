/* Renewal scheduling math: when to renew, how long to back off after a
 * failure, when to raise the alarm.  Pure functions (the caller passes
 * the time and the random jitter), so they are unit-tested exactly. */
#ifndef EST_SCHED_H
#define EST_SCHED_H

#include <stdint.h>
#include <time.h>

struct est_sched {
	time_t not_before;
	time_t not_after;
	unsigned renew_at_pct;		/* % of the lifetime (default 66) */
	unsigned alarm_at_pct;		/* % of the lifetime (default 90) */
	unsigned failures;		/* consecutive failed attempts */
	time_t last_failure;		/* when the last one failed */
};

#define EST_SCHED_RENEW_PCT	66
#define EST_SCHED_ALARM_PCT	90

/* The point in the lifetime at which renewal starts. */
time_t est_sched_renew_point(const struct est_sched *s);
/* Backoff after n consecutive failures (n >= 1), before jitter: doubles
 * from lifetime/64 (at least 5 s, at most 10 min) up to lifetime/8 (at
 * most 6 h), never less than the first step. */
unsigned est_sched_backoff(const struct est_sched *s, unsigned n);
/* When the next attempt is due: the renew point, or after a failure
 * last_failure + backoff jittered by +-25 % (rnd: any 32-bit random).
 * Never later than not_after - 1 (one last try), never before the renew
 * point. */
time_t est_sched_next(const struct est_sched *s, uint32_t rnd);
/* 1 when renewal has failed at least once and now is past the alarm
 * point (or the certificate has expired). */
int est_sched_alarm(const struct est_sched *s, time_t now);
/* Parse "66%" / "66" / "0.66" into a percentage in [1, 99]. */
int est_sched_parse_pct(const char *s, unsigned *pct);

#endif
