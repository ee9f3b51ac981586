/* Secure memory and careful file helpers. */
#ifndef KW_MEM_H
#define KW_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Wipe then free; NULL is fine. */
void kw_freezero(void *p, size_t len);
/* Wipe and free a NUL-terminated secret string; NULL is fine. */
void kw_free_secret(char *s);
/* Constant-time comparison: 1 when equal, 0 otherwise. */
int kw_memeq_ct(const void *a, const void *b, size_t len);

/* Read a whole file (at most max bytes) into a fresh NUL-terminated buffer.
 * *out is NULL on failure. */
int kw_file_read(const char *path, size_t max, uint8_t **out, size_t *out_len);

/* Replace path atomically: write a temp file in the same directory with
 * mode, fsync it, rename over path, fsync the directory.  With excl set the
 * call fails with KW_ERR_EXISTS if path already exists (checked with link(2),
 * so two racing writers cannot both win). */
int kw_file_write_atomic(const char *path, const void *data, size_t len,
    unsigned int mode, int excl);

/* Old name of kw_secret_file_read(path, "secret file", out) (kw_secret.h):
 * the same checks of the file's owner and mode. */
int kw_secret_from_file(const char *path, char **out);

/* The next line of text[*pos..len) for an inih reader over a file held
 * in memory (*pos < len): *pos moves past its newline, a CR before it is
 * dropped.  The line is copied into str (cap bytes) and *t points at it
 * inside str, the white space around it removed.  KW_ERR_PARSE: a NUL
 * byte in the line; KW_ERR_SPACE: longer than max or than cap - 2. */
int kw_text_line(const char *text, size_t len, size_t *pos, size_t max,
    char *str, size_t cap, char **t);

#endif
