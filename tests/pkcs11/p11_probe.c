/* A long-running user of one PKCS#11 key, driven line by line on stdin:
 *   p11_probe URI [MODULE]
 * opens the key (the PIN from the URI's pin-source), prints "ready", then
 * for each line: "sign" -> "ok" or "err CODE TEXT"; "cert FILE" writes the
 * key's certificate read from the token (p11_cert_read); "store FILE"
 * stores a DER certificate next to the key (p11_cert_store); "quit" ends.
 * Used by the tests in tests/pkcs11/ to pull a token away under a running
 * process.
 *   p11_probe --read-value URI MODULE
 * asks the token for the private key's value (CKA_VALUE, or
 * CKA_PRIVATE_EXPONENT for RSA) with a plain C_GetAttributeValue and prints
 * the CK_RV name: what a token says to anyone who tries to export it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "pkcs11/p11_internal.h"

static int
read_value(const char *uri, const char *module)
{
	struct p11_opts o;
	struct p11_uri *u = NULL;
	struct p11_module *m = NULL;
	struct p11_token t;
	struct p11_auth a;
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;
	uint8_t buf[1024];
	char err[256];
	int failed = 0;

	memset(&o, 0, sizeof(o));
	o.module = module;
	if (p11_uri_parse(uri, &u, err, sizeof(err)) != KW_OK ||
	    p11_module_get(u, &o, &m) != KW_OK ||
	    p11_token_find(m, u, NULL, NULL, &t) != KW_OK) {
		printf("setup failed\n");
		return 1;
	}
	memset(&a, 0, sizeof(a));
	a.uri = u;
	a.pin_failed = &failed;
	{
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_LABEL, u->object, strlen(u->object) },
		};
		CK_ATTRIBUTE v[] = {
			{ CKA_VALUE, buf, sizeof(buf) },
			{ CKA_PRIVATE_EXPONENT, buf, sizeof(buf) },
		};
		CK_FUNCTION_LIST *f = p11_module_fn(m);
		CK_RV rv1, rv2;

		if (p11_session_login(m, &t, 0, &a, &s) != KW_OK ||
		    p11_find(f, s, tmpl, 2, &h, 1, &n) != KW_OK || n != 1) {
			printf("no key\n");
			return 1;
		}
		rv1 = f->C_GetAttributeValue(s, h, &v[0], 1);
		rv2 = f->C_GetAttributeValue(s, h, &v[1], 1);
		printf("CKA_VALUE: %s\nCKA_PRIVATE_EXPONENT: %s\n",
		    p11_rv_name(rv1), p11_rv_name(rv2));
		explicit_bzero(buf, sizeof(buf));
	}
	p11_uri_free(u);
	p11_shutdown();
	return 0;
}

int
main(int argc, char **argv)
{
	struct p11_opts o;
	struct kw_key *key = NULL;
	uint8_t digest[32], sig[KW_MAX_SIG];
	size_t sig_len;
	char line[64];
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: p11_probe URI [MODULE]\n");
		return 2;
	}
	if (strcmp(argv[1], "--read-value") == 0 && argc == 4)
		return read_value(argv[2], argv[3]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&o, 0, sizeof(o));
	o.module = argc > 2 ? argv[2] : NULL;
	o.state_dir = getenv("KEYWARD_STATE_DIR");
	if ((r = p11_key_open(argv[1], &o, &key)) != KW_OK) {
		printf("open err %d %s\n", r, kw_strerror(r));
		p11_shutdown();
		return 1;
	}
	printf("ready\n");
	memset(digest, 0x5a, sizeof(digest));
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (strncmp(line, "quit", 4) == 0)
			break;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "cert ", 5) == 0 ||
		    strncmp(line, "store ", 6) == 0) {
			uint8_t *der = NULL;
			size_t der_len = 0;

			if (line[0] == 'c') {
				r = p11_cert_read(argv[1], &o, &der, &der_len);
				if (r == KW_OK)
					r = kw_file_write_atomic(line + 5, der,
					    der_len, 0644, 0);
			} else if ((r = kw_file_read(line + 6, 65536, &der,
			    &der_len)) == KW_OK)
				r = p11_cert_store(argv[1], &o, der, der_len);
			free(der);
			printf("%s %d %s\n", r == KW_OK ? "ok" : "err", r,
			    kw_strerror(r));
			continue;
		}
		if (strncmp(line, "sign", 4) != 0)
			continue;
		sig_len = sizeof(sig);
		r = kw_key_sign(key, kw_alg_is_rsa(kw_key_alg(key)) ?
		    KW_SIG_RSA_PKCS1 : KW_SIG_ECDSA, KW_HASH_SHA256, digest,
		    sizeof(digest), sig, &sig_len);
		if (r == KW_OK)
			printf("ok\n");
		else
			printf("err %d %s\n", r, kw_strerror(r));
	}
	kw_key_close(key);
	p11_shutdown();
	return 0;
}
