/* Hex digits (see kw_hex.h). */
#include <string.h>

#include "kw_error.h"
#include "kw_hex.h"

int
kw_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
kw_hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char x[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = x[p[i] >> 4];
		out[2 * i + 1] = x[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int
kw_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(s), i;
	int hi, lo;

	*len = 0;
	if (n % 2 != 0 || n / 2 > cap)
		return KW_ERR_PARSE;
	for (i = 0; i < n / 2; i++) {
		if ((hi = kw_hex_digit((unsigned char)s[2 * i])) < 0 ||
		    (lo = kw_hex_digit((unsigned char)s[2 * i + 1])) < 0)
			return KW_ERR_PARSE;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return KW_OK;
}
