/* Redaction of secrets written in key URIs (see kw_redact.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "kw_redact.h"

#define KW_REDACTED	"<redacted>"

static int
kw_value_end(char c)
{
	return c == '\0' || c == '&' || c == '"' || c == '\'' ||
	    isspace((unsigned char)c);
}

void
kw_redact_text(char *s, size_t cap)
{
	static const char attr[] = "pin-value=";
	const size_t alen = sizeof(attr) - 1, rlen = sizeof(KW_REDACTED) - 1;
	char *p = s, *v, *e;
	size_t vlen;

	while ((p = strstr(p, attr)) != NULL) {
		v = p + alen;
		for (e = v; !kw_value_end(*e); e++)
			;
		vlen = (size_t)(e - v);
		if (vlen >= rlen ||
		    (size_t)(v - s) + rlen + strlen(e) + 1 <= cap) {
			/* the marker fits: move the rest, write it */
			memmove(v + rlen, e, strlen(e) + 1);
			memcpy(v, KW_REDACTED, rlen);
		} else {
			/* shorter than the marker: mask what is there */
			memset(v, '*', vlen);
		}
		p = v;
	}
}

char *
kw_uri_redact(const char *ref, char *out, size_t len)
{
	if (len == 0)
		return out;
	snprintf(out, len, "%s", ref != NULL ? ref : "");
	kw_redact_text(out, len);
	return out;
}

