/* Redaction of secrets written in key URIs (pin-value).  Pure string
 * work: the logger runs every line through it, so it logs nothing. */
#ifndef KW_REDACT_H
#define KW_REDACT_H

#include <stddef.h>

/* Copy ref to out with the value of every pin-value attribute replaced by
 * "<redacted>" ('<' is not a URI character, so a copy pasted back fails to
 * parse instead of sending a wrong PIN).  Anything else is copied
 * unchanged.  Truncates to len - 1 bytes, never leaving a part of the
 * value; returns out. */
char *kw_uri_redact(const char *ref, char *out, size_t len);
/* The same for free text (a log line) in a buffer of cap bytes: every
 * "pin-value=VALUE" is redacted in place, VALUE ending at '&', whitespace,
 * a quote or the end (a short VALUE becomes '*'s when the marker does not
 * fit). */
void kw_redact_text(char *s, size_t cap);

#endif
