/* [identity NAME] config sections: a keyword table and one setter per
 * key (see renew.h).  No file I/O here: the daemon's parser feeds it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/identity/identity.h"
#include "agent/identity/renew.h"
#include "enroll/est_sched.h"

struct kw_identity_conf {
	char *name;
	char *state;
	unsigned renew_at_pct;		/* 0: as in the state */
	unsigned alarm_at_pct;
	int rekey;			/* -1: as in the state */
	long grace;			/* -1: as in the state */
	unsigned wait_s;
	char *protocol;			/* NULL: whatever the state says */
	char *ak;			/* posture: AK for its tunnels */
	char *event_log;
};

const char *
kw_identity_conf_state(const struct kw_identity_conf *c)
{
	return c->state;
}

int
kw_identity_conf_new(const char *name, struct kw_identity_conf **out)
{
	struct kw_identity_conf *c;

	*out = NULL;
	if (name == NULL || *name == '\0')
		return KW_ERR_CONFIG;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->name = strdup(name)) == NULL) {
		free(c);
		return KW_ERR_NOMEM;
	}
	c->rekey = -1;
	c->grace = -1;
	*out = c;
	return KW_OK;
}

void
kw_identity_conf_free(struct kw_identity_conf *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->state);
	free(c->protocol);
	free(c->ak);
	free(c->event_log);
	free(c);
}

const char *
kw_identity_conf_name(const struct kw_identity_conf *c)
{
	return c->name;
}

const char *
kw_identity_conf_ak(const struct kw_identity_conf *c)
{
	return c->ak;
}

const char *
kw_identity_conf_event_log(const struct kw_identity_conf *c)
{
	return c->event_log;
}

static int
kw_conf_seconds(const char *v, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || n < 0 || n > max)
		return -1;
	if (*end == 's' || *end == '\0')
		;
	else if (*end == 'm' && n <= max / 60)
		n *= 60;
	else if (*end == 'h' && n <= max / 3600)
		n *= 3600;
	else if (*end == 'd' && n <= max / 86400)
		n *= 86400;
	else
		return -1;
	if (*end != '\0' && end[1] != '\0')
		return -1;
	*out = n;
	return 0;
}

static int
kw_conf_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
	    !strcmp(v, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

int
kw_identity_conf_set(struct kw_identity_conf *c, const char *key,
    const char *value, const char *file, int line)
{
	const char *what;
	long n;
	int b;

	if (file == NULL)
		file = "config";
	if (strcmp(key, "state") == 0) {
		if (value[0] != '/') {
			what = "state must be an absolute path";
			goto bad;
		}
		if (kw_identity_set(&c->state, value) != 0)
			return KW_ERR_NOMEM;
	} else if (strcmp(key, "protocol") == 0) {
		if (strcmp(value, "est") != 0 && strcmp(value, "acme") != 0 &&
		    strcmp(value, "scep") != 0) {
			what = "protocol takes est, acme or scep";
			goto bad;
		}
		if (kw_identity_set(&c->protocol, value) != 0)
			return KW_ERR_NOMEM;
	} else if (strcmp(key, "renew-at") == 0) {
		if (est_sched_parse_pct(value, &c->renew_at_pct) != 0) {
			what = "renew-at takes a percentage 1..99 (e.g. 66%)";
			goto bad;
		}
	} else if (strcmp(key, "alarm-at") == 0) {
		if (est_sched_parse_pct(value, &c->alarm_at_pct) != 0) {
			what = "alarm-at takes a percentage 1..99 (e.g. 90%)";
			goto bad;
		}
	} else if (strcmp(key, "rekey") == 0) {
		if (kw_conf_bool(value, &b) != 0) {
			what = "rekey takes yes or no";
			goto bad;
		}
		c->rekey = b;
	} else if (strcmp(key, "grace") == 0) {
		if (kw_conf_seconds(value, 365L * 86400, &n) != 0) {
			what = "grace takes a duration (3600, 60m, 1h, 1d)";
			goto bad;
		}
		c->grace = n;
	} else if (strcmp(key, "ak") == 0) {
		if (strncmp(value, "tpm:", 4) != 0 || value[4] == '\0') {
			what = "ak takes tpm:PATH (made by `keyward attest init`)";
			goto bad;
		}
		if (kw_identity_set(&c->ak, value) != 0)
			return KW_ERR_NOMEM;
	} else if (strcmp(key, "event-log") == 0) {
		if (kw_identity_set(&c->event_log, value) != 0)
			return KW_ERR_NOMEM;
	} else if (strcmp(key, "wait") == 0) {
		if (kw_conf_seconds(value, 86400, &n) != 0) {
			what = "wait takes a duration up to 1d";
			goto bad;
		}
		c->wait_s = (unsigned)n;
	} else {
		kw_err("%s:%d: [identity %s]: unknown key '%s' (known: state, "
		    "protocol, renew-at, alarm-at, rekey, grace, wait, ak, "
		    "event-log)", file, line,
		    c->name, key);
		return KW_ERR_CONFIG;
	}
	return KW_OK;
bad:
	kw_err("%s:%d: [identity %s]: %s, not '%s'", file, line, c->name,
	    what, value);
	return KW_ERR_CONFIG;
}

int
kw_identity_open(const struct kw_identity_conf *c, struct kw_identity **out,
    struct kw_renew_opts *ropts)
{
	struct kw_identity *id = NULL;
	int r;

	*out = NULL;
	if (ropts != NULL)
		memset(ropts, 0, sizeof(*ropts));
	if (c->state == NULL) {
		kw_err("[identity %s]: 'state = FILE' is required (the file "
		    "'keyward enroll est --state FILE' wrote)", c->name);
		return KW_ERR_CONFIG;
	}
	if ((r = kw_identity_load(c->state, &id)) != 0)
		return r;
	if (c->protocol != NULL && strcmp(c->protocol, id->protocol != NULL ?
	    id->protocol : "est") != 0) {
		kw_err("[identity %s]: protocol = %s, but %s was enrolled over "
		    "%s: enroll it again with 'keyward enroll %s --state %s'",
		    c->name, c->protocol, c->state, id->protocol != NULL ?
		    id->protocol : "est", c->protocol, c->state);
		kw_identity_free(id);
		return KW_ERR_CONFIG;
	}
	if (c->renew_at_pct)
		id->renew_at_pct = c->renew_at_pct;
	if (c->alarm_at_pct)
		id->alarm_at_pct = c->alarm_at_pct;
	if (c->rekey >= 0)
		id->rekey = c->rekey;
	if (c->grace >= 0)
		id->grace = c->grace;
	if (ropts != NULL) {
		ropts->same_key = !id->rekey;
		ropts->wait_s = c->wait_s;
	}
	*out = id;
	return KW_OK;
}
