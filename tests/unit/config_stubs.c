/* Link stubs for the config parser's tests and fuzz harness: the
 * [identity] setters (agent/identity_conf.c) call into the state-file
 * module, which the parser itself never reaches (no file I/O). */
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "agent/identity/identity.h"

int
kw_identity_set(char **field, const char *value)
{
	char *v = NULL;

	if (value != NULL && (v = strdup(value)) == NULL)
		return KW_ERR_NOMEM;
	free(*field);
	*field = v;
	return KW_OK;
}

int
kw_identity_load(const char *state_file, struct kw_identity **out)
{
	(void)state_file;
	*out = NULL;
	return KW_ERR_UNSUPPORTED;
}

void
kw_identity_free(struct kw_identity *id)
{
	(void)id;
}
