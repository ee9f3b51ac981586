/* Fuzz harness for the daemon's config parser (agent/config.c).
 *
 * libFuzzer, from the top of a configured build tree (see tests/tunnel.mk,
 * `make fuzz-config CC=clang`):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DKW_LIBFUZZER ...
 *   ./fuzz_config -max_len=8192 $SRC/tests/tunnel/bad-configs
 * Without libFuzzer (the build's check program) it runs every file named
 * on the command line, or every file of the directories named, through the
 * parser: a corpus regression runner. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "agent/conf/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_config *c = NULL;
	size_t i;

	kw_log_setup(KW_LOG_ERROR + 0, 0);
	if (kw_config_parse((const char *)data, size, "fuzz", &c) == KW_OK) {
		/* Whatever parses must be self-consistent. */
		for (i = 0; i < c->ntunnels; i++)
			if (kw_tunnel_conf_check(c->tunnels[i], NULL) != KW_OK)
				abort();
		kw_config_free(c);
	}
	return 0;
}

#ifndef KW_LIBFUZZER
static int
run_file(const char *path)
{
	uint8_t *buf;
	size_t len;

	if (kw_file_read(path, 1u << 20, &buf, &len) != KW_OK) {
		fprintf(stderr, "fuzz_config: cannot read %s\n", path);
		return 1;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	int i, bad = 0;
	DIR *d;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if ((d = opendir(argv[i])) == NULL) {
				bad = 1;
				continue;
			}
			while ((de = readdir(d)) != NULL) {
				if (de->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "%s/%s", argv[i],
				    de->d_name);
				bad |= run_file(path);
			}
			closedir(d);
		} else
			bad |= run_file(argv[i]);
	}
	return bad;
}
#endif
