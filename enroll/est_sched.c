/* Renewal scheduling math (see est_sched.h). */
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "est_sched.h"

static time_t
est_sched_lifetime(const struct est_sched *s)
{
	return s->not_after > s->not_before ? s->not_after - s->not_before : 0;
}

time_t
est_sched_renew_point(const struct est_sched *s)
{
	unsigned pct = s->renew_at_pct ? s->renew_at_pct : EST_SCHED_RENEW_PCT;
	time_t life = est_sched_lifetime(s);

	if (pct > 99)
		pct = 99;
	return s->not_before + (time_t)((long long)life * pct / 100);
}

unsigned
est_sched_backoff(const struct est_sched *s, unsigned n)
{
	long long life = est_sched_lifetime(s), base, cap, b;
	unsigned i;

	base = life / 64;
	if (base < 5)
		base = 5;
	if (base > 600)
		base = 600;
	cap = life / 8;
	if (cap > 6 * 3600)
		cap = 6 * 3600;
	if (cap < base)
		cap = base;
	b = base;
	for (i = 1; i < n && b < cap; i++)
		b *= 2;
	if (b > cap)
		b = cap;
	return (unsigned)b;
}

time_t
est_sched_next(const struct est_sched *s, uint32_t rnd)
{
	time_t point = est_sched_renew_point(s), t;
	long long b, j;

	if (s->failures == 0)
		return point;
	b = est_sched_backoff(s, s->failures);
	/* jitter in [-25 %, +25 %] */
	j = (long long)(rnd % 1001) - 500;
	b += b * j / 2000;
	if (b < 1)
		b = 1;
	t = s->last_failure + (time_t)b;
	if (t < point)
		t = point;
	if (t >= s->not_after && s->last_failure < s->not_after - 1)
		t = s->not_after - 1;
	return t;
}

int
est_sched_alarm(const struct est_sched *s, time_t now)
{
	unsigned pct = s->alarm_at_pct ? s->alarm_at_pct : EST_SCHED_ALARM_PCT;
	time_t life = est_sched_lifetime(s);

	if (now >= s->not_after)
		return 1;
	if (s->failures == 0)
		return 0;
	return now >= s->not_before + (time_t)((long long)life * pct / 100);
}

int
est_sched_parse_pct(const char *s, unsigned *pct)
{
	char *end;
	double v;

	*pct = 0;
	if (s == NULL || *s == '\0')
		return KW_ERR_PARSE;
	v = strtod(s, &end);
	if (end == s)
		return KW_ERR_PARSE;
	if (*end == '%' && end[1] == '\0')
		;
	else if (*end == '\0' && v > 0 && v < 1)
		v *= 100;
	else if (*end != '\0')
		return KW_ERR_PARSE;
	if (v < 1 || v > 99)
		return KW_ERR_PARSE;
	*pct = (unsigned)(v + 0.5);
	return KW_OK;
}
