/* keyward logging: one line per event, to stderr or to journald.
 *
 * Never pass a PIN, an auth value or any secret to these functions. */
#ifndef KW_LOG_H
#define KW_LOG_H

#include <stddef.h>

enum kw_log_level {
	KW_LOG_ERROR = 0,
	KW_LOG_WARN,
	KW_LOG_INFO,
	KW_LOG_DEBUG,
};

/* Set once at start-up (CLI flags or config); the default is KW_LOG_INFO to
 * stderr, prefixed "keyward: ".  journald=1 sends records to the journal
 * with a PRIORITY field (used by the daemon when JOURNAL_STREAM is set). */
void kw_log_setup(enum kw_log_level level, int journald);
enum kw_log_level kw_log_get_level(void);
/* Every line of this process starts with prefix (e.g. "worker 1: ", at
 * most 31 bytes; NULL or "": none).  Set once, before any thread. */
void kw_log_set_prefix(const char *prefix);

void kw_log(enum kw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Holding a thread's messages while it tries something that may fail in
 * many layers (a renewal: network, TLS, EST, token), to say it in one line
 * at the end: between kw_log_hold and kw_log_unhold, this thread's
 * errors, warnings and notes go to the debug level, and the first error
 * (else the first warning) is kept in buf.  kw_log_unhold returns buf,
 * or NULL when this thread held nothing.  Other threads log as usual. */
void kw_log_hold(char *buf, size_t len);
const char *kw_log_unhold(void);

#define kw_err(...)	kw_log(KW_LOG_ERROR, __VA_ARGS__)
#define kw_warn(...)	kw_log(KW_LOG_WARN, __VA_ARGS__)
#define kw_info(...)	kw_log(KW_LOG_INFO, __VA_ARGS__)
#define kw_debug(...)	kw_log(KW_LOG_DEBUG, __VA_ARGS__)

#endif
