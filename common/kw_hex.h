/* Hex digits: one digit's value, bytes to lower-case hex and back.  Pure
 * string work, no allocation. */
#ifndef KW_HEX_H
#define KW_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (either case), -1 when c is not one. */
int kw_hex_digit(int c);

/* p[0..n) as 2n lower-case hex digits and a NUL into out (2n + 1). */
void kw_hex_encode(const uint8_t *p, size_t n, char *out);

/* The whole of s (an even number of hex digits, at most 2 * cap) into
 * out; the byte count in *len.  KW_ERR_PARSE otherwise (*len 0). */
int kw_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len);

#endif
