/* Logging is process-wide by nature (like syslog's openlog), so its two
 * settings are the one exception to "no mutable globals": they are written
 * once at start-up and only read afterwards. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <systemd/sd-journal.h>

#include "kw_log.h"
#include "kw_redact.h"

static enum kw_log_level kw_log_level = KW_LOG_INFO;
static int kw_log_journald;
static char kw_log_prefix[32];
/* kw_log_hold: per thread, so only the holding thread is affected. */
static __thread char *kw_log_held;
static __thread size_t kw_log_held_len;
static __thread enum kw_log_level kw_log_held_level;

void
kw_log_hold(char *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return;
	buf[0] = '\0';
	kw_log_held = buf;
	kw_log_held_len = len;
	kw_log_held_level = KW_LOG_DEBUG;
}

const char *
kw_log_unhold(void)
{
	const char *b = kw_log_held;

	kw_log_held = NULL;
	kw_log_held_len = 0;
	return b;
}

void
kw_log_setup(enum kw_log_level level, int journald)
{
	kw_log_level = level;
	kw_log_journald = journald;
}

void
kw_log_set_prefix(const char *prefix)
{
	snprintf(kw_log_prefix, sizeof(kw_log_prefix), "%s",
	    prefix != NULL ? prefix : "");
}

enum kw_log_level
kw_log_get_level(void)
{
	return kw_log_level;
}

void
kw_log(enum kw_log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *const tag[] = { "error: ", "warning: ", "", "debug: " };
	char line[1024];
	va_list ap;
	size_t i;

	if (level > kw_log_level && (kw_log_held == NULL ||
	    level > KW_LOG_WARN))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Never a secret: a key URI's pin-value, wherever a caller put
	 * the URI in a message. */
	kw_redact_text(line, sizeof(line));
	if (kw_log_held != NULL && level < KW_LOG_DEBUG) {
		if (level <= KW_LOG_WARN && level < kw_log_held_level) {
			snprintf(kw_log_held, kw_log_held_len, "%s", line);
			kw_log_held_level = level;
		}
		level = KW_LOG_DEBUG;
		if (level > kw_log_level)
			return;
	}
	/* One event, one line: never let input split a record. */
	for (i = 0; line[i] != '\0'; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (kw_log_journald)
		sd_journal_print(prio[level], "%s%s", kw_log_prefix, line);
	else
		fprintf(stderr, "keyward: %s%s%s\n", kw_log_prefix, tag[level],
		    line);
}
