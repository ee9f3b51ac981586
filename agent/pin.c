/* PLACEHOLDER: PIN entry lands with the PKCS#11 issue. */
#include <stddef.h>

#include "kw_error.h"
#include "pin.h"

char *
kw_pin_ask(void *arg, const char *prompt, int *err)
{
	(void)arg;
	(void)prompt;
	*err = KW_ERR_PIN_REQUIRED;
	return NULL;
}
