/* The server tunnels' first reader of untrusted bytes: how much of a TLS
 * ClientHello has arrived (read before any TLS state is made). */
#ifndef KW_TUNNEL_HELLO_H
#define KW_TUNNEL_HELLO_H

#include <stddef.h>

/* A ClientHello is held in at most this many bytes (its records'
 * headers included). */
#define KW_HELLO_MAX		6144

/* How far b (len bytes from the start of the connection) is from holding
 * a whole ClientHello: 0 when it does; 1 with the number of bytes to read
 * next in *need (never more than the current record still lacks); -1
 * when b is no ClientHello (not a TLS handshake record, not a
 * client_hello, an empty or oversized record) or one larger than
 * KW_HELLO_MAX.  The handshake message may span records. */
int kw_hello_need(const unsigned char *b, size_t len, size_t *need);

#endif
