/* Signatures/s on one SoftHSM2 (or any PKCS#11) EC key: raw C_SignInit +
 * C_Sign in a loop on one logged-in session, versus kw_key_sign() through
 * keyward's PKCS#11 backend (its own single logged-in session), same key,
 * same module instance, same process.  Prints both rates and the ratio.
 *   p11_sign_rate URI MODULE [SECONDS]
 * Not a test: run by bench/p11_sign_rate.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kw_error.h"
#include "kw_key.h"
#include "pkcs11/p11_internal.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct p11_opts o;
	struct p11_uri *u = NULL;
	struct p11_module *m = NULL;
	struct p11_token t;
	struct p11_auth a;
	struct kw_key *key = NULL;
	CK_FUNCTION_LIST *f;
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_OBJECT_HANDLE h;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_ULONG n = 0, sl;
	uint8_t dg[32], sig[KW_MAX_SIG];
	size_t sig_len;
	double secs = argc > 3 ? atof(argv[3]) : 3.0, t0, raw, kw;
	unsigned long i, nraw = 0, nkw = 0;
	char err[256];
	int failed = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: p11_sign_rate URI MODULE [SECONDS]\n");
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.module = argv[2];
	memset(dg, 0x42, sizeof(dg));
	if (p11_uri_parse(argv[1], &u, err, sizeof(err)) != KW_OK ||
	    p11_module_get(u, &o, &m) != KW_OK ||
	    p11_token_find(m, u, NULL, NULL, &t) != KW_OK) {
		fprintf(stderr, "p11_sign_rate: setup failed %s\n", err);
		return 1;
	}
	f = p11_module_fn(m);
	memset(&a, 0, sizeof(a));
	a.uri = u;
	a.pin_failed = &failed;
	{
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_LABEL, u->object, strlen(u->object) },
		};

		if (p11_session_login(m, &t, 0, &a, &s) != KW_OK ||
		    p11_find(f, s, tmpl, 2, &h, 1, &n) != KW_OK || n != 1) {
			fprintf(stderr, "p11_sign_rate: no key\n");
			return 1;
		}
	}
	/* raw: the ceiling */
	t0 = now();
	do {
		for (i = 0; i < 50; i++) {
			sl = sizeof(sig);
			if (f->C_SignInit(s, &mech, h) != CKR_OK ||
			    f->C_Sign(s, dg, sizeof(dg), sig, &sl) != CKR_OK) {
				fprintf(stderr, "raw C_Sign failed\n");
				return 1;
			}
			nraw++;
		}
	} while (now() - t0 < secs);
	raw = (double)nraw / (now() - t0);
	/* through keyward's backend */
	if (p11_key_open(argv[1], &o, &key) != KW_OK) {
		fprintf(stderr, "p11_key_open failed\n");
		return 1;
	}
	t0 = now();
	do {
		for (i = 0; i < 50; i++) {
			sig_len = sizeof(sig);
			if (kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256, dg,
			    sizeof(dg), sig, &sig_len) != KW_OK) {
				fprintf(stderr, "kw_key_sign failed\n");
				return 1;
			}
			nkw++;
		}
	} while (now() - t0 < secs);
	kw = (double)nkw / (now() - t0);
	printf("raw C_Sign (one session):          %8.0f signatures/s (%lu)\n",
	    raw, nraw);
	printf("keyward p11 backend (kw_key_sign): %8.0f signatures/s (%lu)\n",
	    kw, nkw);
	printf("ratio keyward/raw: %.3f (goal >= 0.9)\n", kw / raw);
	kw_key_close(key);
	(void)f->C_CloseSession(s);
	p11_uri_free(u);
	p11_shutdown();
	return 0;
}
