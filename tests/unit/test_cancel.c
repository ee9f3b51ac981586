/* kw_cancel (common/kw_cancel.c): a wait ends when the socket is ready,
 * when the deadline passes, or at once when another thread fires the
 * cancellation; re-armed, it no longer stops a wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kw_cancel.h"
#include "kw_error.h"

static void
test_ready(void **state)
{
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_int_equal(kw_cancel_wait(NULL, sv[0], POLLIN, kw_deadline(1000)),
	    KW_OK);
	close(sv[0]);
	close(sv[1]);
}

static void
test_deadline(void **state)
{
	int64_t t0;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t0 = kw_now_ms();
	assert_int_equal(kw_cancel_wait(NULL, sv[0], POLLIN, kw_deadline(150)),
	    KW_ERR_TIMEOUT);
	assert_true(kw_now_ms() - t0 >= 140);
	assert_true(kw_now_ms() - t0 < 2000);
	/* no fd: a sleep that ends at the deadline */
	assert_int_equal(kw_cancel_wait(NULL, -1, 0, kw_deadline(20)), KW_OK);
	close(sv[0]);
	close(sv[1]);
}

static void *
fire_later(void *arg)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	kw_cancel_fire(arg);
	return NULL;
}

static void
test_cancel_from_another_thread(void **state)
{
	struct kw_cancel *c;
	pthread_t th;
	int64_t t0;
	int sv[2];

	(void)state;
	assert_int_equal(kw_cancel_new(&c), KW_OK);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_false(kw_cancel_fired(c));
	t0 = kw_now_ms();
	assert_int_equal(pthread_create(&th, NULL, fire_later, c), 0);
	assert_int_equal(kw_cancel_wait(c, sv[0], POLLIN, kw_deadline(30000)),
	    KW_ERR_CANCELLED);
	assert_true(kw_now_ms() - t0 < 5000);
	pthread_join(th, NULL);
	assert_true(kw_cancel_fired(c));
	/* fired stays fired (a sleep stops too) until re-armed */
	assert_int_equal(kw_cancel_wait(c, -1, 0, kw_deadline(30000)),
	    KW_ERR_CANCELLED);
	kw_cancel_rearm(c);
	assert_false(kw_cancel_fired(c));
	assert_int_equal(kw_cancel_wait(c, sv[0], POLLIN, kw_deadline(20)),
	    KW_ERR_TIMEOUT);
	close(sv[0]);
	close(sv[1]);
	kw_cancel_free(c);
}

/* name lookups: an answer, and a cancelled lookup that returns at once
 * (its thread frees what it finds: nothing leaks under LeakSanitizer) */
static void
test_getaddrinfo(void **state)
{
	struct addrinfo hints, *res = NULL;
	struct kw_cancel *c;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int err = 0;

	(void)state;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	assert_int_equal(kw_cancel_getaddrinfo(NULL, "127.0.0.1", "443",
	    &hints, kw_deadline(5000), &res, &err), KW_OK);
	assert_non_null(res);
	assert_int_equal(res->ai_family, AF_INET);
	freeaddrinfo(res);
	assert_int_equal(kw_cancel_getaddrinfo(NULL, "not an address", "443",
	    &hints, kw_deadline(5000), &res, &err), KW_ERR_NETWORK);
	assert_null(res);
	assert_int_not_equal(err, 0);
	assert_int_equal(kw_cancel_new(&c), KW_OK);
	kw_cancel_fire(c);
	assert_int_equal(kw_cancel_getaddrinfo(c, "::1", "443", &hints,
	    kw_deadline(5000), &res, &err), KW_ERR_CANCELLED);
	assert_null(res);
	kw_cancel_free(c);
	nanosleep(&ts, NULL);	/* let the lookup thread finish and free */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_cancel_from_another_thread),
		cmocka_unit_test(test_getaddrinfo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
