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

void
kw_log_setup(enum kw_log_level level, int journald)
{
	kw_log_level = level;
	kw_log_journald = journald;
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

	if (level > kw_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Never a secret: a key URI's pin-value, wherever a caller put
	 * the URI in a message. */
	kw_redact_text(line, sizeof(line));
	/* One event, one line: never let input split a record. */
	for (i = 0; line[i] != '\0'; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (kw_log_journald)
		sd_journal_print(prio[level], "%s", line);
	else
		fprintf(stderr, "keyward: %s%s\n", tag[level], line);
}
