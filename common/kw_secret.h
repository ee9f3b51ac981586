/* Secrets kept outside keyward: PIN, password and auth-value files, and
 * the memory of secrets that were refused once (so that keyward never sends
 * them again).  The redaction of secrets written in key URIs is in
 * kw_redact.h (the logger uses it; it logs nothing itself). */
#ifndef KW_SECRET_H
#define KW_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "kw_redact.h"	/* kw_uri_redact, kw_redact_text */

/* Read a secret from a file: its first line, without the newline, 1 to 255
 * bytes.  Like OpenSSH with private keys, the file must belong to the user
 * keyward runs as (or root) and grant nothing to group or others:
 * otherwise KW_ERR_UNSAFE_FILE, with a message naming the file (what says
 * which: "PIN file", "password file", "auth-value file") and the chmod or
 * chown that fixes it.  Free *out with kw_free_secret(). */
int kw_secret_file_read(const char *path, const char *what, char **out);

#define KW_SECRET_DIGEST_LEN	32

/* HMAC-SHA256 over a || 0x00 || b with key. */
int kw_secret_hmac(const uint8_t *key, size_t key_len, const void *a,
    size_t a_len, const void *b, size_t b_len,
    uint8_t out[KW_SECRET_DIGEST_LEN]);

/* Memory of refused secrets, per subject (e.g. "p11-SERIAL": characters
 * other than [A-Za-z0-9._-] become '_'), in directory dir (created 0700):
 *   dir/failed-SUBJECT   one hex HMAC-SHA256 per refused secret (0600)
 *   dir/secret-memory.key  the random per-machine HMAC key (0600)
 * The files hold keyed digests, so they do not help anyone guess a PIN
 * offline without the key, which is as protected as they are.
 * kw_failmem_seen: *seen = 1 when secret was refused before; file (if not
 * NULL) gets the record's path for messages. */
int kw_failmem_seen(const char *dir, const char *subject, const char *bind,
    const char *secret, int *seen, char *file, size_t file_len);
/* Remember secret as refused (the oldest of more than 16 is dropped). */
int kw_failmem_add(const char *dir, const char *subject, const char *bind,
    const char *secret);

#endif
