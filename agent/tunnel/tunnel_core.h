/* tunnel_core.c: a tunnel connection's life and state transitions, what
 * the phases (tunnel_admit.c, tunnel_hs.c, tunnel_posture_conn.c,
 * tunnel_relay.c), the pump (tunnel_conn.c) and the listener (tunnel.c)
 * call.  Private to agent/tunnel; include tunnel_int.h too. */
#ifndef KW_TUNNEL_CORE_H
#define KW_TUNNEL_CORE_H

#include <sys/socket.h>
#include <stdint.h>

#include <event2/util.h>

struct event;
struct kw_conn;
struct kw_conn_q;
struct kw_hs_pool;
struct kw_src;
struct kw_tunnel;

/* the tunnel's basics */
void tunnel_error(struct kw_tunnel *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void kw_peer_text(const struct sockaddr *sa, char *buf, size_t len);
void tunnel_conn_gone(struct kw_tunnel *t);

/* events, timers, close and free */
void conn_apply_events(struct kw_conn *c, int pr, int pw, int tr, int tw);
void conn_set_timer(struct kw_conn *c, uint64_t ms);
void conn_free(struct kw_conn *c);
void conn_close(struct kw_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int conn_events_for(struct kw_conn *c, int fd, struct event **r,
    struct event **w);
const char *conn_target_text(const struct kw_conn *c);

/* transitions: each returns 1 when c was closed */
int conn_start_connect(struct kw_conn *c);
int conn_reconnect(struct kw_conn *c);
int conn_posture_client(struct kw_conn *c);
int conn_posture_server(struct kw_conn *c);
int conn_relay_start(struct kw_conn *c);

/* the client's session pool */
uint64_t conn_ticket_id(WOLFSSL *ssl);
void conn_give_session(struct kw_conn *c, int closing);

/* the handshake threads' queue */
void hs_pool_submit(struct kw_hs_pool *pool, struct kw_conn *c);
int hs_pool_cancel(struct kw_hs_pool *pool, struct kw_conn *c);

/* sources, queues and handshake slots (server tunnels) */
size_t src_bucket(const struct kw_tunnel *t, const unsigned char key[16]);
void src_put(struct kw_tunnel *t, struct kw_src *s);
void tunnel_kick_slots(struct kw_tunnel *t);
void conn_q_add(struct kw_conn_q *q, struct kw_conn *c);
void conn_q_del(struct kw_conn_q *q, struct kw_conn *c);
void conn_wait_unlink(struct kw_conn *c);
void conn_key_slot_release(struct kw_conn *c);
void conn_slot_release(struct kw_conn *c);
void conn_hs_forget(struct kw_conn *c);

#endif
