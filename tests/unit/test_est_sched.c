/* Unit tests for the renewal scheduling math (enroll/est_sched.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kw_error.h"
#include "enroll/est_sched.h"

static void
test_renew_point(void **state)
{
	struct est_sched s = { .not_before = 1000, .not_after = 1000 + 90 * 86400 };

	(void)state;
	/* default two thirds (66 %) */
	assert_int_equal(est_sched_renew_point(&s), 1000 + 90 * 86400 * 66 / 100);
	s.renew_at_pct = 50;
	assert_int_equal(est_sched_renew_point(&s), 1000 + 45 * 86400);
	assert_int_equal(est_sched_next(&s, 12345), 1000 + 45 * 86400);
	/* a two-minute certificate renews after 79 s */
	s.not_before = 0;
	s.not_after = 120;
	s.renew_at_pct = 66;
	assert_int_equal(est_sched_renew_point(&s), 79);
}

static void
test_backoff(void **state)
{
	struct est_sched s = { .not_before = 0, .not_after = 90 * 86400 };

	(void)state;
	/* 90 days: base 10 min (capped), cap 6 h */
	assert_int_equal(est_sched_backoff(&s, 1), 600);
	assert_int_equal(est_sched_backoff(&s, 2), 1200);
	assert_int_equal(est_sched_backoff(&s, 3), 2400);
	assert_int_equal(est_sched_backoff(&s, 10), 6 * 3600);
	assert_int_equal(est_sched_backoff(&s, 1000), 6 * 3600);
	/* 2 minutes: base 5 s, cap 15 s */
	s.not_after = 120;
	assert_int_equal(est_sched_backoff(&s, 1), 5);
	assert_int_equal(est_sched_backoff(&s, 2), 10);
	assert_int_equal(est_sched_backoff(&s, 3), 15);
	assert_int_equal(est_sched_backoff(&s, 30), 15);
	/* degenerate lifetime */
	s.not_after = 0;
	assert_int_equal(est_sched_backoff(&s, 3), 5);
}

static void
test_jitter(void **state)
{
	struct est_sched s = { .not_before = 0, .not_after = 90 * 86400,
	    .failures = 2 };
	time_t t, lo = 0, hi = 0;
	uint32_t rnd;

	(void)state;
	s.last_failure = est_sched_renew_point(&s) + 100;
	for (rnd = 0; rnd < 5000; rnd += 7) {
		t = est_sched_next(&s, rnd);
		assert_true(t >= s.last_failure + 900);	/* 1200 - 25 % */
		assert_true(t <= s.last_failure + 1500);	/* 1200 + 25 % */
		if (lo == 0 || t < lo)
			lo = t;
		if (t > hi)
			hi = t;
	}
	/* the jitter actually spreads */
	assert_true(hi - lo >= 500);
	/* never past expiry: one last attempt before not_after */
	s.last_failure = s.not_after - 10;
	s.failures = 20;
	assert_int_equal(est_sched_next(&s, 0), s.not_after - 1);
	/* never before the renew point */
	s.failures = 1;
	s.last_failure = 0;
	assert_int_equal(est_sched_next(&s, 0), est_sched_renew_point(&s));
}

static void
test_alarm(void **state)
{
	struct est_sched s = { .not_before = 0, .not_after = 1000 };

	(void)state;
	assert_false(est_sched_alarm(&s, 950));		/* no failure yet */
	s.failures = 1;
	assert_false(est_sched_alarm(&s, 899));
	assert_true(est_sched_alarm(&s, 900));
	s.failures = 0;
	assert_true(est_sched_alarm(&s, 1000));		/* expired */
	s.alarm_at_pct = 50;
	s.failures = 3;
	assert_true(est_sched_alarm(&s, 500));
}

static void
test_parse_pct(void **state)
{
	unsigned p;

	(void)state;
	assert_int_equal(est_sched_parse_pct("66%", &p), KW_OK);
	assert_int_equal(p, 66);
	assert_int_equal(est_sched_parse_pct("50", &p), KW_OK);
	assert_int_equal(p, 50);
	assert_int_equal(est_sched_parse_pct("0.75", &p), KW_OK);
	assert_int_equal(p, 75);
	assert_int_equal(est_sched_parse_pct("100%", &p), KW_ERR_PARSE);
	assert_int_equal(est_sched_parse_pct("0", &p), KW_ERR_PARSE);
	assert_int_equal(est_sched_parse_pct("66%%", &p), KW_ERR_PARSE);
	assert_int_equal(est_sched_parse_pct("abc", &p), KW_ERR_PARSE);
	assert_int_equal(est_sched_parse_pct("", &p), KW_ERR_PARSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_renew_point),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_alarm),
		cmocka_unit_test(test_parse_pct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
