/* keyward keygen: create a key inside the token named by --key. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_wolf.h"
#include "agent/cli/cli.h"
#include "agent/keys/keyref.h"

static const char kw_keygen_help[] =
"usage: keyward keygen --key REF [--alg ec-p256|ec-p384|rsa2048|rsa3072]\n"
"                      [--usage sign|sign,decrypt]\n"
"\n"
"Create a private key inside a TPM or PKCS#11 token and print its public key\n"
"(PEM).  The private key cannot leave the token.  An existing key file or\n"
"token object is never overwritten.\n"
"\n"
"  -a, --alg ALG            ec-p256 (default), ec-p384, rsa2048, rsa3072\n"
"  -u, --usage USAGE        sign (default), or sign,decrypt: an RSA key that the\n"
"                           token may also decrypt with (SCEP needs it)\n"
KW_KEY_HELP
"\n"
KW_EXIT_HELP;

/* --usage: a comma-separated list of "sign" and "decrypt" that names
 * sign (keyward keys always sign).  0 if not. */
static unsigned
kw_parse_usage(const char *arg)
{
	const char *p = arg, *end;
	unsigned u = 0;
	size_t n;

	while (*p != '\0') {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == 4 && strncmp(p, "sign", 4) == 0)
			u |= KW_USAGE_SIGN;
		else if (n == 7 && strncmp(p, "decrypt", 7) == 0)
			u |= KW_USAGE_DECRYPT;
		else
			return 0;
		if (end == NULL)
			break;
		p = end + 1;
		if (*p == '\0')
			return 0;	/* trailing comma */
	}
	return (u & KW_USAGE_SIGN) ? u : 0;
}

/* Print a DER SubjectPublicKeyInfo as PEM. */
static int
kw_print_pubkey(struct kw_key *key, FILE *f)
{
	uint8_t der[KW_MAX_PUBKEY_DER];
	unsigned char pem[2 * KW_MAX_PUBKEY_DER];
	size_t der_len = sizeof(der);
	int r, n;

	if ((r = kw_key_public_der(key, der, &der_len)) != KW_OK)
		return r;
	n = wc_DerToPem(der, (word32)der_len, pem, sizeof(pem), PUBLICKEY_TYPE);
	if (n <= 0)
		return kw_wolf_err(n, "encoding the public key as PEM");
	fwrite(pem, 1, (size_t)n, f);
	return KW_OK;
}

int
cmd_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		KW_KEY_LONGOPTS,
		{ "alg", required_argument, NULL, 'a' },
		{ "usage", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	struct kw_keyref_opts kopts;
	struct kw_key *key = NULL;
	enum kw_key_alg alg = KW_ALG_EC_P256;
	const char *ref = NULL;
	char desc[256];
	int c, r;

	memset(&kopts, 0, sizeof(kopts));
	while ((c = getopt_long(argc, argv, "k:a:u:h", longopts, NULL)) !=
	    -1) {
		if (kw_cli_keyopt(c, optarg, &kopts))
			continue;
		switch (c) {
		case 'k':
			ref = optarg;
			break;
		case 'a':
			if ((alg = kw_alg_from_name(optarg)) == KW_ALG_NONE)
				return kw_cli_usage_error("keygen",
				    "unknown algorithm '%s': use ec-p256, "
				    "ec-p384, rsa2048 or rsa3072", optarg);
			break;
		case 'u':
			if ((kopts.usage = kw_parse_usage(optarg)) == 0)
				return kw_cli_usage_error("keygen",
				    "--usage '%s': use sign, or sign,decrypt "
				    "(keyward keys always sign)", optarg);
			break;
		case 'h':
			fputs(kw_keygen_help, stdout);
			return KW_EXIT_OK;
		default:
			return kw_cli_usage_error("keygen", "bad option");
		}
	}
	if (ref == NULL)
		return kw_cli_usage_error("keygen", "--key is required");
	if (optind != argc)
		return kw_cli_usage_error("keygen", "unexpected argument '%s'",
		    argv[optind]);
	if ((kopts.usage & KW_USAGE_DECRYPT) && !kw_alg_is_rsa(alg))
		return kw_cli_usage_error("keygen", "--usage decrypt needs an "
		    "RSA key: %s keys cannot decrypt (SCEP: --alg rsa2048)",
		    kw_alg_name(alg));

	if ((r = kw_wolf_init()) != KW_OK)
		goto out;
	if ((r = kw_keyref_generate(ref, alg, &kopts, &key)) != KW_OK) {
		if (r == KW_ERR_EXISTS)
			kw_err("keygen: %s already exists; refusing to "
			    "overwrite it (choose another name or delete it)", ref);
		else if (strncmp(ref, "tpm:", 4) == 0)
			/* the TPM backend has said what failed and what to
			 * do; its codes (e.g. "PIN incorrect" for a TPM
			 * auth value) would only confuse here */
			kw_err("keygen: no %s key was created at %s",
			    kw_alg_name(alg), ref);
		else
			kw_err("keygen: cannot create the %s key %s: %s",
			    kw_alg_name(alg), ref, kw_strerror(r));
		goto out;
	}
	if (kw_key_describe(key, desc, sizeof(desc)) == KW_OK)
		kw_info("created %s%s", desc, (kopts.usage & KW_USAGE_DECRYPT) ?
		    " (sign and decrypt)" : "");
	if ((r = kw_print_pubkey(key, stdout)) != KW_OK)
		kw_err("keygen: cannot read the new key's public part: %s",
		    kw_strerror(r));
out:
	kw_key_close(key);
	kw_keyref_shutdown();
	kw_wolf_cleanup();
	return kw_exit_code(r);
}
