/* PLACEHOLDER: start-up self-check of the wolfSSL we run with (issue 6
 * replaces this whole file). */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/version.h>

#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_wolf.h"

int
kw_wolf_selfcheck(void)
{
	const char *lib = wolfSSL_lib_version();

	if (strcmp(lib, LIBWOLFSSL_VERSION_STRING) != 0) {
		kw_err("wolfSSL library %s does not match the %s keyward was "
		    "built with; rebuild keyward", lib, LIBWOLFSSL_VERSION_STRING);
		return KW_ERR_TLS;
	}
	return KW_OK;
}
