/* Test driver for the key interface's decryption (issue 11, SCEP), through
 * the key references every keyward command uses (agent/keys/keyref.c):
 *
 *   decrypt_probe REF MODULE|- [CIPHERTEXT OUT]...
 *
 * opens the key once and prints, one line each:
 *   can: ok | can: err CODE TEXT          kw_key_can_decrypt
 *   CIPHERTEXT: ok N | CIPHERTEXT: err CODE TEXT
 *                                         kw_key_decrypt; OUT gets the
 *                                         plaintext (0600) on success
 *   sign: ok | sign: err CODE TEXT        one signature with the same key
 *   counts: decrypts=N failures=N signs=N
 * The key's own messages go to stderr.  MODULE is the PKCS#11 module ("-":
 * none); the TPM comes from $TPM2TOOLS_TCTI, a TPM key's auth value from
 * the file $KW_PROBE_AUTH_FILE.  Exit 0 once the key opened
 * (the test reads the lines), 1 if it did not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "agent/keys/keyref.h"

static void
result(const char *what, int r)
{
	if (r == KW_OK)
		printf("%s: ok\n", what);
	else
		printf("%s: err %d %s\n", what, r, kw_strerror(r));
}

static void
decrypt_one(struct kw_key *key, const char *in_path, const char *out_path)
{
	uint8_t *in = NULL, out[KW_MAX_SIG];
	size_t in_len = 0, out_len = sizeof(out);
	int r;

	if ((r = kw_file_read(in_path, 4096, &in, &in_len)) == KW_OK)
		r = kw_key_decrypt(key, in, in_len, out, &out_len);
	if (r == KW_OK)
		r = kw_file_write_atomic(out_path, out, out_len, 0600, 0);
	if (r == KW_OK)
		printf("%s: ok %zu\n", in_path, out_len);
	else
		result(in_path, r);
	explicit_bzero(out, sizeof(out));
	free(in);
}

int
main(int argc, char **argv)
{
	struct kw_keyref_opts o;
	struct kw_key *key = NULL;
	uint8_t digest[32], sig[KW_MAX_SIG];
	size_t sig_len = sizeof(sig);
	int i, r;

	if (argc < 3 || argc % 2 != 1) {
		fprintf(stderr, "usage: decrypt_probe REF MODULE|- "
		    "[CIPHERTEXT OUT]...\n");
		return 2;
	}
	kw_log_setup(getenv("KW_DEBUG") ? KW_LOG_DEBUG : KW_LOG_INFO, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&o, 0, sizeof(o));
	o.module = strcmp(argv[2], "-") != 0 ? argv[2] : NULL;
	o.auth_file = getenv("KW_PROBE_AUTH_FILE");
	if ((r = kw_keyref_open(argv[1], &o, &key)) != KW_OK) {
		result("open", r);
		kw_keyref_shutdown();
		return 1;
	}
	result("can", kw_key_can_decrypt(key));
	for (i = 3; i + 1 < argc; i += 2)
		decrypt_one(key, argv[i], argv[i + 1]);
	memset(digest, 0x5a, sizeof(digest));
	result("sign", kw_key_sign(key, kw_alg_is_rsa(kw_key_alg(key)) ?
	    KW_SIG_RSA_PKCS1 : KW_SIG_ECDSA, KW_HASH_SHA256, digest,
	    sizeof(digest), sig, &sig_len));
	printf("counts: decrypts=%llu failures=%llu signs=%llu\n",
	    (unsigned long long)kw_key_decrypt_count(key),
	    (unsigned long long)kw_key_decrypt_failures(key),
	    (unsigned long long)kw_key_sign_count(key));
	kw_key_close(key);
	kw_keyref_shutdown();
	return 0;
}
