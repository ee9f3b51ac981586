/* keyward verify-attestation: check a device's TPM evidence (key
 * attestation and/or posture) against a policy, for a CA hook, a gateway
 * or an auditor.  The library call is kw_attest_verify (attest/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_hex.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "agent/cli/cli.h"
#include "attest/attest.h"
#include "attest/policy.h"

static const char kw_va_help[] =
"usage: keyward verify-attestation (--policy FILE | --ek-ca FILE) [OPTIONS]\n"
"                                  EVIDENCE\n"
"\n"
"Verify TPM 2.0 evidence (keyward-attestation(7): CBOR, the WebAuthn \"tpm\"\n"
"statement plus keyward's posture map): the EK certificate chains to the\n"
"EK CA bundle, the attestation key (AK) is bound to that EK, a TPM2_Certify\n"
"shows the device key was born in and cannot leave that TPM, a TPM2_Quote\n"
"carries the nonce and PCR values the policy allows.  Prints the claims.\n"
"\n"
"      --policy FILE        policy file (keyward.conf syntax: ek-ca,\n"
"                           secure-boot, pcr, recheck, max-age)\n"
"      --ek-ca FILE         PEM bundle of TPM makers' EK CAs\n"
"      --nonce HEX          the nonce the device was given (default: none)\n"
"      --exporter HEX       TLS exporter value the evidence is bound to\n"
"      --key-spki FILE      the certified key must be this one: a certificate,\n"
"                           a PKCS#10 request or a public key (PEM or DER)\n"
"      --binding-store FILE EK-to-AK bindings proved by credential activation;\n"
"                           an AK not recorded there is refused (without it\n"
"                           the binding is not checked, and the claims say so)\n"
"      --pcrs LIST          the quote must cover exactly these PCRs (0-7,10)\n"
"      --pcr INDEX:SHA256HEX  an allowed PCR value (repeatable)\n"
"      --max-age SECONDS    oldest evidence accepted (posture time)\n"
"      --require-certify    refuse evidence without key attestation\n"
"      --require-quote      refuse evidence without a quote\n"
"      --verbose            log debug detail\n"
"  -h, --help               this help\n"
"\n"
"Exit status: 0 verified, 1 refused (the reason on stderr) or failed,\n"
"2 usage or configuration error.\n";

enum {
	KW_OPT_POLICY = KW_OPT_FIRST_FREE,
	KW_OPT_EK_CA,
	KW_OPT_NONCE,
	KW_OPT_EXPORTER,
	KW_OPT_KEY_SPKI,
	KW_OPT_BINDING,
	KW_OPT_PCRS,
	KW_OPT_PCR,
	KW_OPT_MAX_AGE,
	KW_OPT_REQ_CERTIFY,
	KW_OPT_REQ_QUOTE,
};

/* "0-7,10" to a mask: 1 on success. */
static int
kw_va_pcrs(const char *s, uint32_t *mask)
{
	unsigned long a, b;
	char *end;

	*mask = 0;
	while (*s != '\0') {
		a = strtoul(s, &end, 10);
		if (end == s || a > 23)
			return 0;
		b = a;
		if (*end == '-') {
			s = end + 1;
			b = strtoul(s, &end, 10);
			if (end == s || b > 23 || b < a)
				return 0;
		}
		for (; a <= b; a++)
			*mask |= 1u << a;
		if (*end == ',')
			end++;
		else if (*end != '\0')
			return 0;
		s = end;
	}
	return *mask != 0;
}

static void
kw_va_print(const struct kw_attest_claims *c)
{
	size_t i;

	printf("verified\n");
	printf("tpm: %s (%s) model %s firmware %s\n",
	    c->tpm.vendor[0] ? c->tpm.vendor : "unknown",
	    c->tpm.manufacturer[0] ? c->tpm.manufacturer : "-",
	    c->tpm.model[0] ? c->tpm.model : "-",
	    c->tpm.firmware[0] ? c->tpm.firmware : "-");
	printf("ak-name: ");
	for (i = 0; i < c->ak_name_len; i++)
		printf("%02x", c->ak_name[i]);
	printf("\nak-bound-to-ek: %s\nkey-attested: %s\nposture: %s\n",
	    c->ak_bound ? "yes" : "not checked (no --binding-store)",
	    c->key_attested ? "yes" : "no", c->posture ? "yes" : "no");
	for (i = 0; i < 24; i++) {
		size_t j;

		if (!(c->pcrs.mask & (1u << i)))
			continue;
		printf("pcr %zu: ", i);
		for (j = 0; j < 32; j++)
			printf("%02x", c->pcrs.val[i][j]);
		printf("\n");
	}
	for (i = 0; i < c->nos; i++)
		printf("os (unattested): %s=%s\n", c->os[i].key, c->os[i].val);
}

int
cmd_verify_attestation(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, KW_OPT_POLICY },
		{ "ek-ca", required_argument, NULL, KW_OPT_EK_CA },
		{ "nonce", required_argument, NULL, KW_OPT_NONCE },
		{ "exporter", required_argument, NULL, KW_OPT_EXPORTER },
		{ "key-spki", required_argument, NULL, KW_OPT_KEY_SPKI },
		{ "binding-store", required_argument, NULL, KW_OPT_BINDING },
		{ "pcrs", required_argument, NULL, KW_OPT_PCRS },
		{ "pcr", required_argument, NULL, KW_OPT_PCR },
		{ "max-age", required_argument, NULL, KW_OPT_MAX_AGE },
		{ "require-certify", no_argument, NULL, KW_OPT_REQ_CERTIFY },
		{ "require-quote", no_argument, NULL, KW_OPT_REQ_QUOTE },
		{ "verbose", no_argument, NULL, KW_OPT_VERBOSE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum kw_attest_reason reason = KW_ATTEST_OK;
	struct kw_attest_policy *pol = NULL;
	int pol_loaded = 0;
	struct kw_attest_request req;
	struct kw_attest_claims claims;
	uint8_t nonce[64], exporter[64], *ev = NULL, *kbuf = NULL,
	    *spki = NULL;
	const char *key_file = NULL, *policy_file = NULL, *colon;
	size_t ev_len = 0, kbuf_len = 0, spki_len = 0, n;
	unsigned long v;
	char *end;
	int c, r, rc = KW_EXIT_FAIL;

	memset(&req, 0, sizeof(req));
	if ((pol = calloc(1, sizeof(*pol))) == NULL)
		return KW_EXIT_FAIL;
	pol->recheck = 600;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case KW_OPT_POLICY:
			policy_file = optarg;
			break;
		case KW_OPT_EK_CA:
			pol->ek_ca = optarg;
			break;
		case KW_OPT_NONCE:
			if (kw_hex_decode(optarg, nonce, sizeof(nonce),
			    &req.nonce_len) != KW_OK) {
				rc = kw_cli_usage_error("verify-attestation",
				    "--nonce: at most 64 bytes of hex");
				goto out;
			}
			req.nonce = nonce;
			break;
		case KW_OPT_EXPORTER:
			if (kw_hex_decode(optarg, exporter, sizeof(exporter),
			    &req.exporter_len) != KW_OK) {
				rc = kw_cli_usage_error("verify-attestation",
				    "--exporter: at most 64 bytes of hex");
				goto out;
			}
			req.exporter = exporter;
			break;
		case KW_OPT_KEY_SPKI:
			key_file = optarg;
			break;
		case KW_OPT_BINDING:
			req.binding_store = optarg;
			break;
		case KW_OPT_PCRS:
			if (!kw_va_pcrs(optarg, &req.pcr_mask)) {
				rc = kw_cli_usage_error("verify-attestation",
				    "--pcrs: a list like 0-7,10 (PCRs 0-23)");
				goto out;
			}
			break;
		case KW_OPT_PCR:
			v = strtoul(optarg, &end, 10);
			colon = end;
			if (pol->npcr == KW_ATTEST_MAX_PCR_RULES ||
			    end == optarg || *colon != ':' || v > 23 ||
			    kw_hex_decode(colon + 1, pol->pcr[pol->npcr].sha256,
			    32, &n) != KW_OK || n != 32) {
				rc = kw_cli_usage_error("verify-attestation",
				    "--pcr: INDEX:SHA256HEX (64 hex digits), at "
				    "most %d", KW_ATTEST_MAX_PCR_RULES);
				goto out;
			}
			pol->pcr[pol->npcr++].index = (uint32_t)v;
			break;
		case KW_OPT_MAX_AGE:
			v = strtoul(optarg, &end, 10);
			if (end == optarg || *end != '\0' || v > UINT32_MAX) {
				rc = kw_cli_usage_error("verify-attestation",
				    "--max-age: seconds");
				goto out;
			}
			pol->max_age = (uint32_t)v;
			break;
		case KW_OPT_REQ_CERTIFY:
			req.require_certify = 1;
			break;
		case KW_OPT_REQ_QUOTE:
			req.require_quote = 1;
			break;
		case KW_OPT_VERBOSE:
			kw_log_setup(KW_LOG_DEBUG, 0);
			break;
		case 'h':
			fputs(kw_va_help, stdout);
			rc = KW_EXIT_OK;
			goto out;
		default:
			rc = kw_cli_usage_error("verify-attestation",
			    "bad option");
			goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = kw_cli_usage_error("verify-attestation",
		    "one EVIDENCE file is required");
		goto out;
	}
	if (policy_file != NULL) {
		uint32_t cli_max_age = pol->max_age;

		if (pol->ek_ca != NULL || pol->npcr > 0) {
			rc = kw_cli_usage_error("verify-attestation", "--policy "
			    "%s gives ek-ca and pcr: not with --ek-ca or --pcr",
			    policy_file);
			goto out;
		}
		/* file:line errors are logged by the parser */
		if (kw_attest_policy_load(policy_file, pol) != KW_OK) {
			rc = KW_EXIT_USAGE;
			goto out;
		}
		pol_loaded = 1;
		if (cli_max_age != 0)
			pol->max_age = cli_max_age;	/* the option wins */
	}
	if (pol->ek_ca == NULL) {
		rc = kw_cli_usage_error("verify-attestation",
		    "--ek-ca (or --policy) is required");
		goto out;
	}
	if (key_file != NULL) {
		if ((r = kw_file_read(key_file, 1u << 20, &kbuf, &kbuf_len)) !=
		    KW_OK || (r = kw_attest_spki_of(kbuf, kbuf_len, &spki,
		    &spki_len)) != KW_OK) {
			fprintf(stderr, "keyward verify-attestation: --key-spki "
			    "%s: not a certificate, request or public key (%s)\n",
			    key_file, kw_strerror(r));
			rc = KW_EXIT_USAGE;
			goto out;
		}
		req.key_spki = spki;
		req.key_spki_len = spki_len;
	}
	if ((r = kw_file_read(argv[optind], KW_ATTEST_EVIDENCE_MAX, &ev,
	    &ev_len)) != KW_OK) {
		fprintf(stderr, "keyward verify-attestation: cannot read the "
		    "evidence %s: %s\n", argv[optind], kw_strerror(r));
		rc = KW_EXIT_FAIL;
		goto out;
	}
	req.policy = pol;
	r = kw_attest_verify(&req, ev, ev_len, &claims, &reason);
	if (r == KW_OK) {
		kw_va_print(&claims);
		rc = KW_EXIT_OK;
	} else if (r == KW_ERR_ATTEST) {
		fprintf(stderr, "keyward verify-attestation: %s refused: %s "
		    "(%s)\n", argv[optind], kw_attest_reason_str(reason),
		    kw_attest_reason_name(reason));
		rc = KW_EXIT_FAIL;
	} else {
		fprintf(stderr, "keyward verify-attestation: cannot verify %s: "
		    "%s\n", argv[optind], kw_strerror(r));
		rc = r == KW_ERR_CONFIG ? KW_EXIT_USAGE : KW_EXIT_FAIL;
	}
out:
	free(ev);
	free(kbuf);
	free(spki);
	explicit_bzero(nonce, sizeof(nonce));
	if (pol_loaded)
		kw_attest_policy_clear(pol);	/* its ek_ca is the file's */
	free(pol);
	return rc;
}
