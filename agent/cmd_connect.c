/* keyward connect: PLACEHOLDER until its issue lands (replace this whole file). */
#include <stdio.h>

#include "kw_error.h"
#include "cli.h"

int
cmd_connect(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "keyward connect: not built yet\n");
	return KW_EXIT_FAIL;
}
