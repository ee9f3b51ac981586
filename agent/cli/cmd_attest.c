/* keyward attest: the TPM's attestation identity (issue 12).
 *
 *   attest init      create the attestation key (AK)
 *   attest info      the TPM's vendor line and its EK certificates
 *   attest ek, quote, certify, activate
 *                    one TPM operation each, results written to files in
 *                    the TPM's own formats (what tpm2-tools reads): for
 *                    tests, debugging and scripts. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kw_error.h"
#include "kw_hex.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_secret.h"
#include "kw_wolf.h"
#include "agent/cli/cli.h"
#include "tpm/tpm_attest.h"
#include "tpm/tpm_key.h"

static const char kw_attest_help[] =
"usage: keyward attest init --ak tpm:PATH [--alg ec-p256|rsa2048|rsa2048-pss]\n"
"                           [--force] [--tcti CONF]\n"
"       keyward attest info [--tcti CONF]\n"
"       keyward attest ek --out-dir DIR [--ek-index NV]\n"
"       keyward attest quote --ak tpm:PATH --out-dir DIR [--nonce HEX]\n"
"                           [--pcrs LIST]\n"
"       keyward attest certify --ak tpm:PATH --key tpm:KEY --out-dir DIR\n"
"                           [--nonce HEX] [--auth-file FILE]\n"
"       keyward attest activate --ak tpm:PATH --credential FILE --out FILE\n"
"                           [--ek-index NV]\n"
"\n"
"init creates the TPM's attestation key (AK): a restricted signing key that\n"
"signs only what the TPM itself reports (quotes of its PCRs, certifications\n"
"of keys it holds).  It is kept like device keys: a TSS2 key file written\n"
"0600, or a persistent handle (tpm:0x81XXXXXX).  An existing AK is never\n"
"overwritten unless --force (files only).  Prints the AK's name.\n"
"info prints the TPM's manufacturer, model and firmware and lists its EK\n"
"certificates (TCG EK Credential Profile NV indices).\n"
"\n"
"The others run one TPM operation and write its results to DIR in the TPM's\n"
"formats (the files tpm2-tools reads):\n"
"  ek        ek-0xNV.der (each EK certificate), ek.pub (TPM2B_PUBLIC),\n"
"            ek.tpmt (TPMT_PUBLIC), ek.name\n"
"  quote     quote.msg (TPMS_ATTEST), quote.sig (TPMT_SIGNATURE),\n"
"            quote.pcrs (the quoted sha256 PCR values), ak.pem, ak.tpmt,\n"
"            ak.name\n"
"  certify   certify.msg, certify.sig, key.tpmt, key.name, ak.pem, ak.tpmt\n"
"  activate  decrypts a tpm2_makecredential credential file made for the\n"
"            AK's name and the EK; the secret goes to --out (0600)\n"
"\n"
"  -a, --ak tpm:PATH        the attestation key (file or persistent handle)\n"
"      --alg ALG            init: ec-p256 (default, ECDSA SHA-256), rsa2048\n"
"                           (RSASSA SHA-256) or rsa2048-pss (RSA-PSS SHA-256)\n"
"      --force              init: replace an existing AK file\n"
"  -k, --key tpm:KEY        certify: the device key\n"
"      --auth-file FILE     certify: the device key's auth value\n"
"      --nonce HEX          qualifying data, at most 64 bytes (default none)\n"
"      --pcrs LIST          quote: sha256 PCRs, e.g. 0,1,2,7 or 0-7 (default)\n"
"      --ek-index NV        the EK certificate's NV index (default: the first\n"
"                           present, RSA before ECC)\n"
"      --credential FILE    activate: tpm2_makecredential's output\n"
"  -o, --out FILE           activate: where the secret goes\n"
"  -d, --out-dir DIR        where results go (files written 0600)\n"
"      --tcti CONF          TPM TCTI (default: $TPM2TOOLS_TCTI, $TCTI, tctildr\n"
"                           default)\n"
"      --verbose            log debug detail\n"
"  -h, --help               this help\n"
"\n"
KW_EXIT_HELP;

enum {
	OPT_ALG = KW_OPT_FIRST_FREE,
	OPT_FORCE,
	OPT_NONCE,
	OPT_PCRS,
	OPT_EK_INDEX,
	OPT_CRED,
};

struct kw_attest_args {
	const char *sub;
	const char *ak;		/* without "tpm:" */
	const char *key;	/* without "tpm:" */
	const char *out_dir;
	const char *out;
	const char *cred;
	enum kw_key_alg alg;
	int pss;
	int force;
	uint8_t nonce[TPM_ATTEST_QUAL_MAX];
	size_t nonce_len;
	uint32_t pcrs;
	uint32_t ek_nv;
	struct kw_keyref_opts kopts;
};

/* "0,1,2,7" or "0-7,10": a mask of sha256 PCRs. */
static int
kw_parse_pcrs(const char *s, uint32_t *mask)
{
	unsigned long a, b;
	char *end;

	*mask = 0;
	if (strncmp(s, "sha256:", 7) == 0)
		s += 7;
	while (*s != '\0') {
		errno = 0;
		a = strtoul(s, &end, 10);
		if (end == s || errno != 0 || a >= TPM_PCR_COUNT)
			return KW_ERR_PARSE;
		b = a;
		if (*end == '-') {
			s = end + 1;
			b = strtoul(s, &end, 10);
			if (end == s || errno != 0 || b >= TPM_PCR_COUNT || b < a)
				return KW_ERR_PARSE;
		}
		for (; a <= b; a++)
			*mask |= 1u << a;
		if (*end == ',')
			end++;
		else if (*end != '\0')
			return KW_ERR_PARSE;
		s = end;
	}
	return *mask != 0 ? KW_OK : KW_ERR_PARSE;
}

static const char *
kw_tpm_spec(const char *ref)
{
	if (ref == NULL || strncmp(ref, "tpm:", 4) != 0 || ref[4] == '\0')
		return NULL;
	return ref + 4;
}

static void
kw_hex_print(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

/* DIR/NAME, written 0600 (replacing an older one). */
static int
kw_attest_write(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	int r;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return KW_ERR_ARG;
	if ((r = kw_file_write_atomic(path, p, n, 0600, 0)) != KW_OK)
		kw_err("attest: cannot write %s: %s", path, kw_strerror(r));
	return r;
}

/* ak.pem (SPKI), ak.tpmt, ak.name in dir. */
static int
kw_attest_write_ak(struct tpm_attest *a, const struct kw_attest_args *x)
{
	uint8_t pub[TPM_ATTEST_PUB_MAX], name[TPM_ATTEST_NAME_MAX];
	uint8_t spki[KW_MAX_PUBKEY_DER];
	unsigned char pem[2 * KW_MAX_PUBKEY_DER];
	size_t pub_len = sizeof(pub), name_len = sizeof(name);
	size_t spki_len = sizeof(spki);
	int n, r;

	if ((r = tpm_attest_ak_public(a, x->ak, pub, &pub_len, name,
	    &name_len, spki, &spki_len)) != KW_OK)
		return r;
	n = wc_DerToPem(spki, (word32)spki_len, pem, sizeof(pem),
	    PUBLICKEY_TYPE);
	if (n <= 0)
		return kw_wolf_err(n, "encoding the AK's public key as PEM");
	if ((r = kw_attest_write(x->out_dir, "ak.pem", pem, (size_t)n)) !=
	    KW_OK || (r = kw_attest_write(x->out_dir, "ak.tpmt", pub,
	    pub_len)) != KW_OK || (r = kw_attest_write(x->out_dir, "ak.name",
	    name, name_len)) != KW_OK)
		return r;
	return KW_OK;
}

static int
kw_attest_init(struct tpm_attest *a, const struct kw_attest_args *x,
    const char *ref)
{
	uint8_t name[TPM_ATTEST_NAME_MAX];
	size_t name_len = sizeof(name);
	char desc[256];
	int r;

	r = tpm_attest_ak_create(a, x->ak, x->alg, x->pss, x->force, name,
	    &name_len);
	if (r == KW_ERR_EXISTS) {
		kw_err("attest init: %s already exists; refusing to overwrite "
		    "an attestation key (verifiers may know it): use --force "
		    "to replace a file, or another name", ref);
		return r;
	}
	if (r != KW_OK) {
		kw_err("attest init: no attestation key was created at %s", ref);
		return r;
	}
	printf("attestation key: %s (%s%s, restricted signing)\n", ref,
	    kw_alg_name(x->alg), x->pss ? " PSS" : "");
	printf("name: ");
	kw_hex_print(stdout, name, name_len);
	printf("\n");
	if (tpm_attest_describe(a, desc, sizeof(desc)) == KW_OK)
		printf("tpm: %s\n", desc);
	return KW_OK;
}

static int
kw_attest_info(struct tpm_attest *a)
{
	struct tpm_ek_cert *certs = NULL;
	size_t n = 0, i;
	char desc[256];
	int r;

	if ((r = tpm_attest_describe(a, desc, sizeof(desc))) != KW_OK)
		return r;
	printf("tpm: %s\n", desc);
	if ((r = tpm_attest_ek_certs(a, &certs, &n)) != KW_OK)
		return r;
	if (n == 0)
		printf("ek certificates: none\n");
	for (i = 0; i < n; i++)
		printf("ek certificate: 0x%08x %s (%zu bytes)\n",
		    certs[i].nv_index, certs[i].profile, certs[i].der_len);
	tpm_attest_ek_certs_free(certs, n);
	return KW_OK;
}

static int
kw_attest_ek(struct tpm_attest *a, const struct kw_attest_args *x)
{
	struct tpm_ek_cert *certs = NULL;
	uint8_t pub[2 + TPM_ATTEST_PUB_MAX], name[TPM_ATTEST_NAME_MAX];
	size_t n = 0, i, pub_len = sizeof(pub) - 2, name_len = sizeof(name);
	uint32_t used = 0;
	char fn[64];
	int r;

	if ((r = tpm_attest_ek_certs(a, &certs, &n)) != KW_OK)
		goto out;
	for (i = 0; i < n; i++) {
		snprintf(fn, sizeof(fn), "ek-0x%08x.der", certs[i].nv_index);
		if ((r = kw_attest_write(x->out_dir, fn, certs[i].der,
		    certs[i].der_len)) != KW_OK)
			goto out;
	}
	if ((r = tpm_attest_ek_public(a, x->ek_nv, pub + 2, &pub_len, name,
	    &name_len, &used)) != KW_OK)
		goto out;
	if ((r = kw_attest_write(x->out_dir, "ek.tpmt", pub + 2, pub_len)) !=
	    KW_OK)
		goto out;
	/* TPM2B_PUBLIC: a big-endian size, then the TPMT_PUBLIC */
	pub[0] = (uint8_t)(pub_len >> 8);
	pub[1] = (uint8_t)pub_len;
	if ((r = kw_attest_write(x->out_dir, "ek.pub", pub, pub_len + 2)) !=
	    KW_OK || (r = kw_attest_write(x->out_dir, "ek.name", name,
	    name_len)) != KW_OK)
		goto out;
	printf("ek: 0x%08x, name ", used);
	kw_hex_print(stdout, name, name_len);
	printf("\n");
out:
	tpm_attest_ek_certs_free(certs, n);
	return r;
}

static int
kw_attest_quote(struct tpm_attest *a, const struct kw_attest_args *x)
{
	struct tpm_evidence *ev;
	uint8_t vals[TPM_PCR_COUNT * 32];
	size_t n = 0;
	int i, r;

	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return KW_ERR_NOMEM;
	if ((r = tpm_attest_quote(a, x->ak, x->pcrs, x->nonce, x->nonce_len,
	    ev)) != KW_OK)
		goto out;
	for (i = 0; i < TPM_PCR_COUNT; i++)
		if (ev->pcr_mask & (1u << i)) {
			memcpy(vals + n, ev->pcr[i], 32);
			n += 32;
		}
	if ((r = kw_attest_write(x->out_dir, "quote.msg", ev->attest,
	    ev->attest_len)) != KW_OK ||
	    (r = kw_attest_write(x->out_dir, "quote.sig", ev->sig,
	    ev->sig_len)) != KW_OK ||
	    (r = kw_attest_write(x->out_dir, "quote.pcrs", vals, n)) != KW_OK ||
	    (r = kw_attest_write_ak(a, x)) != KW_OK)
		goto out;
	printf("quote: %zu-byte TPMS_ATTEST over PCRs 0x%06x in %s\n",
	    ev->attest_len, ev->pcr_mask, x->out_dir);
out:
	free(ev);
	return r;
}

static int
kw_attest_certify(struct tpm_attest *a, const struct kw_attest_args *x)
{
	struct tpm_evidence *ev = NULL;
	struct tpm_opts o;
	char *auth = NULL;
	int r;

	memset(&o, 0, sizeof(o));
	if (x->kopts.auth_file != NULL) {
		if ((r = kw_secret_file_read(x->kopts.auth_file,
		    "auth-value file", &auth)) != KW_OK)
			goto out;
		o.auth = auth;
	}
	if ((ev = calloc(1, sizeof(*ev))) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = tpm_attest_certify(a, x->ak, x->key, &o, x->nonce,
	    x->nonce_len, ev)) != KW_OK)
		goto out;
	if ((r = kw_attest_write(x->out_dir, "certify.msg", ev->attest,
	    ev->attest_len)) != KW_OK ||
	    (r = kw_attest_write(x->out_dir, "certify.sig", ev->sig,
	    ev->sig_len)) != KW_OK ||
	    (r = kw_attest_write(x->out_dir, "key.tpmt", ev->pub,
	    ev->pub_len)) != KW_OK ||
	    (r = kw_attest_write(x->out_dir, "key.name", ev->name,
	    ev->name_len)) != KW_OK ||
	    (r = kw_attest_write_ak(a, x)) != KW_OK)
		goto out;
	printf("certify: key name ");
	kw_hex_print(stdout, ev->name, ev->name_len);
	printf("\n");
out:
	free(ev);
	kw_free_secret(auth);
	return r;
}

/* A tpm2-tools credential file: 0xBADCC0DE, version 1, then the
 * TPM2B_ID_OBJECT and the TPM2B_ENCRYPTED_SECRET. */
static int
kw_cred_parse(const uint8_t *p, size_t len, const uint8_t **blob,
    size_t *blob_len, const uint8_t **sec, size_t *sec_len)
{
	size_t off = 8, n;

	if (len < 12 || p[0] != 0xba || p[1] != 0xdc || p[2] != 0xc0 ||
	    p[3] != 0xde || p[4] != 0 || p[5] != 0 || p[6] != 0 || p[7] != 1)
		return KW_ERR_PARSE;
	n = (size_t)p[off] << 8 | p[off + 1];
	off += 2;
	if (n > len - off)
		return KW_ERR_PARSE;
	*blob = p + off;
	*blob_len = n;
	off += n;
	if (len - off < 2)
		return KW_ERR_PARSE;
	n = (size_t)p[off] << 8 | p[off + 1];
	off += 2;
	if (n != len - off)
		return KW_ERR_PARSE;
	*sec = p + off;
	*sec_len = n;
	return KW_OK;
}

static int
kw_attest_activate(struct tpm_attest *a, const struct kw_attest_args *x)
{
	uint8_t *file = NULL, cred[TPM_ATTEST_CRED_MAX];
	const uint8_t *blob = NULL, *sec = NULL;
	size_t len = 0, blob_len = 0, sec_len = 0, cred_len = sizeof(cred);
	int r;

	if ((r = kw_file_read(x->cred, 8192, &file, &len)) != KW_OK) {
		kw_err("attest activate: cannot read %s: %s", x->cred,
		    kw_strerror(r));
		goto out;
	}
	if ((r = kw_cred_parse(file, len, &blob, &blob_len, &sec,
	    &sec_len)) != KW_OK) {
		kw_err("attest activate: %s is not a credential file made by "
		    "tpm2_makecredential", x->cred);
		goto out;
	}
	if ((r = tpm_attest_activate(a, x->ak, x->ek_nv, blob, blob_len, sec,
	    sec_len, cred, &cred_len)) != KW_OK)
		goto out;
	if ((r = kw_file_write_atomic(x->out, cred, cred_len, 0600, 0)) !=
	    KW_OK) {
		kw_err("attest activate: cannot write %s: %s", x->out,
		    kw_strerror(r));
		goto out;
	}
	printf("activated: %zu-byte credential written to %s\n", cred_len,
	    x->out);
out:
	explicit_bzero(cred, sizeof(cred));
	free(file);
	return r;
}

int
cmd_attest(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ak", required_argument, NULL, 'a' },
		{ "key", required_argument, NULL, 'k' },
		{ "alg", required_argument, NULL, OPT_ALG },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "nonce", required_argument, NULL, OPT_NONCE },
		{ "pcrs", required_argument, NULL, OPT_PCRS },
		{ "ek-index", required_argument, NULL, OPT_EK_INDEX },
		{ "credential", required_argument, NULL, OPT_CRED },
		{ "out", required_argument, NULL, 'o' },
		{ "out-dir", required_argument, NULL, 'd' },
		{ "tcti", required_argument, NULL, KW_OPT_TCTI },
		{ "auth-file", required_argument, NULL, KW_OPT_AUTH_FILE },
		{ "verbose", no_argument, NULL, KW_OPT_VERBOSE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kw_attest_args x;
	struct tpm_opts topts;
	struct tpm_attest *a = NULL;
	const char *ak_ref = NULL, *key_ref = NULL;
	unsigned long v;
	char *end;
	int c, r;

	memset(&x, 0, sizeof(x));
	x.alg = KW_ALG_EC_P256;
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(kw_attest_help, stdout);
		return KW_EXIT_OK;
	}
	if (argc < 2 || argv[1][0] == '-')
		return kw_cli_usage_error("attest", "which one: init, info, "
		    "ek, quote, certify or activate");
	x.sub = argv[1];
	if (strcmp(x.sub, "init") != 0 && strcmp(x.sub, "info") != 0 &&
	    strcmp(x.sub, "ek") != 0 && strcmp(x.sub, "quote") != 0 &&
	    strcmp(x.sub, "certify") != 0 && strcmp(x.sub, "activate") != 0)
		return kw_cli_usage_error("attest", "unknown subcommand '%s'",
		    x.sub);
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "a:k:o:d:h", longopts, NULL)) !=
	    -1) {
		if (kw_cli_keyopt(c, optarg, &x.kopts))
			continue;
		switch (c) {
		case 'a':
			ak_ref = optarg;
			break;
		case 'k':
			key_ref = optarg;
			break;
		case OPT_ALG:
			x.pss = strcmp(optarg, "rsa2048-pss") == 0;
			x.alg = x.pss ? KW_ALG_RSA2048 :
			    kw_alg_from_name(optarg);
			if (x.alg != KW_ALG_EC_P256 && x.alg != KW_ALG_RSA2048)
				return kw_cli_usage_error("attest", "--alg "
				    "'%s': an attestation key is ec-p256, "
				    "rsa2048 or rsa2048-pss", optarg);
			break;
		case OPT_FORCE:
			x.force = 1;
			break;
		case OPT_NONCE:
			if (kw_hex_decode(optarg, x.nonce, sizeof(x.nonce),
			    &x.nonce_len) != KW_OK)
				return kw_cli_usage_error("attest", "--nonce: "
				    "hex digits, at most %d bytes",
				    TPM_ATTEST_QUAL_MAX);
			break;
		case OPT_PCRS:
			if (kw_parse_pcrs(optarg, &x.pcrs) != KW_OK)
				return kw_cli_usage_error("attest", "--pcrs "
				    "'%s': PCR numbers 0-23, e.g. 0,1,7 or "
				    "0-7", optarg);
			break;
		case OPT_EK_INDEX:
			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno != 0 || *end != '\0' || v > 0xffffffffUL)
				return kw_cli_usage_error("attest",
				    "--ek-index '%s': an NV index such as "
				    "0x01c00002", optarg);
			x.ek_nv = (uint32_t)v;
			break;
		case OPT_CRED:
			x.cred = optarg;
			break;
		case 'o':
			x.out = optarg;
			break;
		case 'd':
			x.out_dir = optarg;
			break;
		case 'h':
			fputs(kw_attest_help, stdout);
			return KW_EXIT_OK;
		default:
			return kw_cli_usage_error("attest", "bad option");
		}
	}
	if (optind != argc)
		return kw_cli_usage_error("attest", "unexpected argument '%s'",
		    argv[optind]);
	if (ak_ref != NULL && (x.ak = kw_tpm_spec(ak_ref)) == NULL)
		return kw_cli_usage_error("attest", "--ak '%s': the "
		    "attestation key is in a TPM: tpm:PATH or "
		    "tpm:0x81XXXXXX", ak_ref);
	if (key_ref != NULL && (x.key = kw_tpm_spec(key_ref)) == NULL)
		return kw_cli_usage_error("attest", "--key '%s': only TPM "
		    "keys can be certified by the TPM (tpm:PATH)", key_ref);
	if (x.ak == NULL && strcmp(x.sub, "info") != 0 &&
	    strcmp(x.sub, "ek") != 0)
		return kw_cli_usage_error("attest", "%s needs --ak tpm:PATH",
		    x.sub);
	if (x.out_dir == NULL && (strcmp(x.sub, "ek") == 0 ||
	    strcmp(x.sub, "quote") == 0 || strcmp(x.sub, "certify") == 0))
		return kw_cli_usage_error("attest", "%s needs --out-dir DIR",
		    x.sub);
	if (strcmp(x.sub, "certify") == 0 && x.key == NULL)
		return kw_cli_usage_error("attest", "certify needs --key "
		    "tpm:KEY");
	if (strcmp(x.sub, "activate") == 0 && (x.cred == NULL ||
	    x.out == NULL))
		return kw_cli_usage_error("attest", "activate needs "
		    "--credential FILE and --out FILE");

	if (x.out_dir != NULL && mkdir(x.out_dir, 0700) != 0 &&
	    errno != EEXIST) {
		kw_err("attest: cannot create %s: %s", x.out_dir,
		    strerror(errno));
		return KW_EXIT_FAIL;
	}
	if ((r = kw_wolf_init()) != KW_OK)
		goto out;
	memset(&topts, 0, sizeof(topts));
	topts.tcti = x.kopts.tcti;
	if ((r = tpm_attest_open(&topts, &a)) != KW_OK)
		goto out;
	if (strcmp(x.sub, "init") == 0)
		r = kw_attest_init(a, &x, ak_ref);
	else if (strcmp(x.sub, "info") == 0)
		r = kw_attest_info(a);
	else if (strcmp(x.sub, "ek") == 0)
		r = kw_attest_ek(a, &x);
	else if (strcmp(x.sub, "quote") == 0)
		r = kw_attest_quote(a, &x);
	else if (strcmp(x.sub, "certify") == 0)
		r = kw_attest_certify(a, &x);
	else
		r = kw_attest_activate(a, &x);
out:
	tpm_attest_close(a);
	kw_wolf_cleanup();
	explicit_bzero(&x, sizeof(x));
	return kw_exit_code(r);
}
