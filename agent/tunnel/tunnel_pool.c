/* Handshake threads (handshake-threads = N): the workers that make a
 * connection's signing step (tunnel_hs.c) or posture step
 * (tunnel_posture_conn.c) off the loop, and the loop's side that takes
 * the connections back and pumps them on.  The queue itself (submit,
 * cancel) is in tunnel_core.c, where the phases reach it. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include <event2/event.h>
#include <event2/util.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_tls.h"
#include "agent/tunnel/tunnel_core.h"
#include "agent/tunnel/tunnel_int.h"

static void *
hs_pool_main(void *arg)
{
	struct kw_hs_pool *pool = arg;
	struct kw_conn *c;
	char b = 'd';

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->todo == NULL && !pool->stop)
			pthread_cond_wait(&pool->cond, &pool->lock);
		if (pool->stop)
			break;
		c = pool->todo;
		if ((pool->todo = c->hs_next) == NULL)
			pool->todo_tail = NULL;
		pthread_mutex_unlock(&pool->lock);
		if (c->job == KW_JOB_POSTURE)
			conn_posture_work(c);
		else
			conn_hs_step(c);
		pthread_mutex_lock(&pool->lock);
		c->hs_next = NULL;
		if (pool->done_tail != NULL)
			pool->done_tail->hs_next = c;
		else
			pool->done = c;
		pool->done_tail = c;
		if (write(pool->pipe_fd[1], &b, 1) < 0) {
			/* the pipe is full: a wake-up is pending */
		}
	}
	pthread_mutex_unlock(&pool->lock);
#ifdef FP_ECC
	/* wolfSSL's ECC fixed-point cache is per thread */
	wc_ecc_fp_free();
#endif
	return NULL;
}

/* A connection whose step a worker made, back in the loop. */
void
hs_pool_back(struct kw_conn *c)
{
	c->in_worker = 0;
	c->pool = NULL;
	if (c->free_pending)
		conn_free(c);
	else if (c->job == KW_JOB_POSTURE) {
		c->job = KW_JOB_HANDSHAKE;
		if (c->expired)
			conn_posture_expired(c);
		else
			(void)conn_pump(c);
	} else if (conn_hs_result(c) == 0)
		(void)conn_pump(c);
}

/* Loop thread: take back the connections whose step is made. */
static void
hs_pool_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_hs_pool *pool = arg;
	struct kw_conn *c, *next;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&pool->lock);
	c = pool->done;
	pool->done = pool->done_tail = NULL;
	pthread_mutex_unlock(&pool->lock);
	for (; c != NULL; c = next) {
		next = c->hs_next;
		hs_pool_back(c);
	}
}

/* Stops the threads (each ends the step it is making: one signature at
 * most).  The connections still queued (*todo) and those whose step was
 * made (*done) are handed back, oldest first; with NULL for both, they
 * are only let go (those closed meanwhile freed). */
void
hs_pool_free(struct kw_hs_pool *pool, struct kw_conn **todo,
    struct kw_conn **done)
{
	struct kw_conn *c, *next;
	size_t i;

	if (todo != NULL)
		*todo = NULL;
	if (done != NULL)
		*done = NULL;
	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = 1;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	if (todo != NULL) {
		*todo = pool->todo;
		*done = pool->done;
	} else {
		for (c = pool->todo; c != NULL; c = next) {
			next = c->hs_next;
			c->in_worker = 0;
			c->pool = NULL;
			if (c->free_pending)
				conn_free(c);
		}
		for (c = pool->done; c != NULL; c = next) {
			next = c->hs_next;
			c->in_worker = 0;
			c->pool = NULL;
			if (c->free_pending)
				conn_free(c);
		}
	}
	if (pool->ev_done != NULL)
		event_free(pool->ev_done);
	if (pool->pipe_fd[0] >= 0)
		close(pool->pipe_fd[0]);
	if (pool->pipe_fd[1] >= 0)
		close(pool->pipe_fd[1]);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}

int
hs_pool_new(struct event_base *base, const char *name, unsigned n,
    struct kw_hs_pool **out)
{
	struct kw_hs_pool *pool;
	int r = KW_ERR_NOMEM;

	*out = NULL;
	if ((pool = calloc(1, sizeof(*pool))) == NULL)
		return KW_ERR_NOMEM;
	pool->pipe_fd[0] = pool->pipe_fd[1] = -1;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	if ((pool->threads = calloc(n, sizeof(*pool->threads))) == NULL)
		goto out;
	if (pipe2(pool->pipe_fd, O_NONBLOCK | O_CLOEXEC) != 0) {
		r = KW_ERR_IO;
		goto out;
	}
	pool->ev_done = event_new(base, pool->pipe_fd[0],
	    EV_READ | EV_PERSIST, hs_pool_done_cb, pool);
	if (pool->ev_done == NULL || event_add(pool->ev_done, NULL) != 0)
		goto out;
	for (; pool->nthreads < n; pool->nthreads++)
		if (pthread_create(&pool->threads[pool->nthreads], NULL,
		    hs_pool_main, pool) != 0) {
			kw_err("tunnel %s: cannot start handshake threads",
			    name);
			r = KW_ERR_NOMEM;
			goto out;
		} else	/* as ps -L and top -H show it */
			(void)pthread_setname_np(pool->threads[pool->nthreads],
			    "kw-handshake");
	*out = pool;
	pool = NULL;
	r = KW_OK;
out:
	hs_pool_free(pool, NULL, NULL);
	return r;
}
