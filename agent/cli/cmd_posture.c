/* keyward posture: the device's boot claims from the UEFI event log, the
 * OS facts the TPM does not measure (marked unattested), and optionally a
 * check against PCR values and a posture policy (keyward-posture(7)).
 *
 * With --ak, the TPM side: the TPM's identity (its EK certificate, the
 * chain verified against --ek-ca or the policy's ek-ca, the vendor it
 * names) and a quote by the AK over PCRs 0-7 with a fresh nonce, checked
 * here (signature, nonce, digest) and then taking the place of
 * --pcr-values: the log is replayed against what the TPM signed. */
#include <jansson.h>

#include <sys/random.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_hex.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "agent/cli/cli.h"
#include "attest/eventlog.h"
#include "attest/osfacts.h"
#include "attest/policy.h"
#include "tpm/tpm_attest.h"
#include "tpm/tpm_key.h"

#define KW_PCRFILE_MAX	(64 * 1024)

static const char kw_posture_help[] =
"usage: keyward posture [--event-log FILE] [--pcr-values FILE]\n"
"                       [--ak tpm:PATH [--tcti CONF] [--ek-ca FILE]]\n"
"                       [--policy FILE] [--json]\n"
"\n"
"Print this device's posture: the claims replayed from the UEFI firmware\n"
"event log (Secure Boot, boot components' digests, the sha256 PCR values\n"
"the log produces) and, apart and marked unattested, what the OS says of\n"
"itself (kernel release, OS name, whether / is on a dm-crypt device).\n"
"A missing event log is reported in one line; the OS facts still print.\n"
"\n"
"      --event-log FILE   the firmware log (default\n"
"                         " KW_EVLOG_DEFAULT_PATH ")\n"
"      --pcr-values FILE  PCR values to replay the log against, one\n"
"                         INDEX:SHA256HEX a line (e.g. from tpm2_pcrread);\n"
"                         the first PCR that differs is reported\n"
"      --ak tpm:PATH      the attestation key (keyward attest init): the\n"
"                         TPM quotes PCRs 0-7 with a fresh nonce, the quote\n"
"                         is checked and the log replayed against it (in\n"
"                         place of --pcr-values); the TPM's EK certificate\n"
"                         names its vendor\n"
"      --tcti CONF        the TPM (default: $TPM2TOOLS_TCTI, $TCTI, tctildr)\n"
"      --ek-ca FILE       verify the EK certificate's chain against this PEM\n"
"                         bundle (default: the policy's ek-ca)\n"
"      --policy FILE      check the claims against a posture policy\n"
"                         (keyward-posture(7)); without --pcr-values the\n"
"                         log's own values stand in for the TPM's\n"
"      --json             one JSON object (keyward-posture(7))\n"
"      --verbose          log debug detail\n"
"  -h, --help             this help\n"
"\n"
"Exit status: 0 printed (and the checks asked for passed), 1 the event log\n"
"is malformed or unreadable or the TPM failed, 2 usage or policy file\n"
"error, 4 the log does not match the PCR values (or the quote), the\n"
"quote or the EK certificate chain did not verify, or the policy refused\n"
"the claims.\n";

enum {
	KW_OPT_EVENT_LOG = KW_OPT_FIRST_FREE,
	KW_OPT_PCR_VALUES,
	KW_OPT_POLICY,
	KW_OPT_JSON,
	KW_OPT_AK,
	KW_OPT_EK_CA,
};

struct kw_posture {
	const char *log_path;
	const char *pcr_path;
	const char *policy_path;
	int json;
	const char *ak;			/* --ak, "tpm:" stripped */
	const char *tcti;
	const char *ek_ca;		/* --ek-ca, else the policy's */
	/* results */
	int log_status;			/* KW_OK, or why there are no claims */
	char log_why[256];
	struct kw_evlog_claims claims;
	struct kw_attest_pcrs pcrs;	/* --pcr-values */
	int pcr_checked;
	uint32_t matched;
	int first_mismatch;
	int policy_checked;
	int policy_r;
	char reason[256];
	struct kw_os_facts os;
	/* --ak: the TPM's identity and quote */
	int tpm_done;			/* the TPM answered */
	char tpm_desc[160];
	struct kw_attest_tpm_id id;
	uint32_t ek_nv;
	const char *ek_profile;
	int ek_chain;			/* 1 verified, 0 not asked, -1 refused */
	enum kw_attest_reason ek_why;
	uint8_t ak_name[TPM_ATTEST_NAME_MAX];
	size_t ak_name_len;
	uint8_t nonce[32];
	int quote_ok;
	enum kw_attest_reason quote_why;
};

/* The PCR values file: INDEX:SHA256HEX lines, '#' comments. */
static int
kw_posture_pcrfile(const char *path, struct kw_attest_pcrs *v)
{
	uint8_t *buf = NULL;
	char *line, *save = NULL, *t, *e, why[160];
	uint8_t val[KW_SHA256_LEN];
	unsigned idx, n = 0;
	size_t len = 0;
	int r;

	memset(v, 0, sizeof(*v));
	if ((r = kw_file_read(path, KW_PCRFILE_MAX, &buf, &len)) != KW_OK) {
		kw_err("PCR values %s: cannot read it: %s", path,
		    kw_strerror(r));
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		kw_err("PCR values %s: a NUL byte: not a text file", path);
		r = KW_ERR_PARSE;
		goto out;
	}
	for (line = (char *)buf; line != NULL; line = save) {
		n++;
		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		for (t = line; isspace((unsigned char)*t); t++)
			;
		for (e = t + strlen(t); e > t && isspace((unsigned char)e[-1]);
		    e--)
			;
		*e = '\0';
		if (*t == '\0' || *t == '#')
			continue;
		if (kw_attest_pcr_parse(t, &idx, val, why, sizeof(why))
		    != KW_OK) {
			kw_err("%s:%u: %s", path, n, why);
			r = KW_ERR_PARSE;
			goto out;
		}
		if (v->mask & (1u << idx)) {
			kw_err("%s:%u: PCR %u given twice", path, n, idx);
			r = KW_ERR_PARSE;
			goto out;
		}
		memcpy(v->val[idx], val, KW_SHA256_LEN);
		v->mask |= 1u << idx;
	}
	if (v->mask == 0) {
		kw_err("PCR values %s: no INDEX:SHA256HEX line", path);
		r = KW_ERR_PARSE;
		goto out;
	}
	r = KW_OK;
out:
	free(buf);
	return r;
}

/* --ak: describe the TPM, read its EK certificate (and verify its chain
 * when there is an ek-ca), quote PCRs 0-7 with a fresh nonce and check
 * the quote: its PCR values become ps->pcrs.  KW_OK when the TPM
 * answered (the checks' results are in ps); a TPM failure otherwise. */
static int
kw_posture_tpm_run(struct kw_posture *ps)
{
	struct tpm_opts o;
	struct tpm_attest *a = NULL;
	struct tpm_ek_cert *ek = NULL;
	struct tpm_evidence *q = NULL;
	uint8_t akpub[TPM_ATTEST_PUB_MAX], vals[TPM_PCR_COUNT * 32];
	size_t nek = 0, akpub_len = sizeof(akpub), nv = 0, i;
	int r;

	memset(&o, 0, sizeof(o));
	o.tcti = ps->tcti;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return KW_ERR_NOMEM;
	if (getrandom(ps->nonce, sizeof(ps->nonce), 0) !=
	    (ssize_t)sizeof(ps->nonce)) {
		r = KW_ERR_IO;
		goto out;
	}
	ps->ak_name_len = sizeof(ps->ak_name);
	if ((r = tpm_attest_open(&o, &a)) != KW_OK ||
	    (r = tpm_attest_describe(a, ps->tpm_desc,
	    sizeof(ps->tpm_desc))) != KW_OK ||
	    (r = tpm_attest_ek_certs(a, &ek, &nek)) != KW_OK ||
	    (r = tpm_attest_ak_public(a, ps->ak, akpub, &akpub_len,
	    ps->ak_name, &ps->ak_name_len, NULL, NULL)) != KW_OK ||
	    (r = tpm_attest_quote(a, ps->ak, TPM_PCR_DEFAULT_MASK, ps->nonce,
	    sizeof(ps->nonce), q)) != KW_OK)
		goto out;
	ps->tpm_done = 1;
	if (nek > 0) {
		ps->ek_nv = ek[0].nv_index;
		ps->ek_profile = ek[0].profile;
		if (ps->ek_ca != NULL) {
			r = kw_attest_ek_verify(ps->ek_ca, ek[0].der,
			    ek[0].der_len, NULL, NULL, 0, &ps->id, &ps->ek_why);
			if (r == KW_ERR_ATTEST)
				ps->ek_chain = -1;
			else if (r != KW_OK)
				goto out;
			else
				ps->ek_chain = 1;
			if (ps->ek_chain < 0)
				(void)kw_attest_ek_id(ek[0].der, ek[0].der_len,
				    &ps->id);
		} else
			(void)kw_attest_ek_id(ek[0].der, ek[0].der_len,
			    &ps->id);
	}
	for (i = 0; i < TPM_PCR_COUNT; i++)
		if (q->pcr_mask & (1u << i))
			memcpy(vals + 32 * nv++, q->pcr[i], 32);
	r = kw_attest_check_quote(akpub, akpub_len, q->attest, q->attest_len,
	    q->sig, q->sig_len, ps->nonce, sizeof(ps->nonce),
	    TPM_PCR_DEFAULT_MASK, vals, 32 * nv, &ps->pcrs, &ps->quote_why);
	if (r == KW_OK)
		ps->quote_ok = 1;
	else if (r == KW_ERR_ATTEST)
		memset(&ps->pcrs, 0, sizeof(ps->pcrs));
	else
		goto out;
	r = KW_OK;
out:
	tpm_attest_ek_certs_free(ek, nek);
	tpm_attest_close(a);
	free(q);
	return r;
}

static const char *
kw_posture_ek_chain(const struct kw_posture *ps)
{
	return ps->ek_profile == NULL ? "no EK certificate" :
	    ps->ek_chain > 0 ? "verified" : ps->ek_chain < 0 ? "refused" :
	    "not checked (no --ek-ca)";
}

/* The "tpm" member: null without --ak. */
static json_t *
kw_posture_tpm(const struct kw_posture *ps)
{
	json_t *o, *e, *q;
	char hex[2 * TPM_ATTEST_NAME_MAX + 1], nv[16];

	if (!ps->tpm_done)
		return json_null();
	o = json_object();
	json_object_set_new(o, "description", json_string(ps->tpm_desc));
	json_object_set_new(o, "manufacturer",
	    json_string(ps->id.manufacturer));
	json_object_set_new(o, "vendor", json_string(ps->id.vendor));
	json_object_set_new(o, "model", json_string(ps->id.model));
	json_object_set_new(o, "firmware", json_string(ps->id.firmware));
	e = json_object();
	if (ps->ek_profile != NULL) {
		snprintf(nv, sizeof(nv), "0x%08x", ps->ek_nv);
		json_object_set_new(e, "nv_index", json_string(nv));
		json_object_set_new(e, "profile", json_string(ps->ek_profile));
	}
	json_object_set_new(e, "chain", json_string(ps->ek_chain > 0 ?
	    "verified" : ps->ek_chain < 0 ? "refused" : "not checked"));
	if (ps->ek_ca != NULL)
		json_object_set_new(e, "ca", json_string(ps->ek_ca));
	if (ps->ek_chain < 0)
		json_object_set_new(e, "reason",
		    json_string(kw_attest_reason_str(ps->ek_why)));
	json_object_set_new(o, "ek", e);
	kw_hex_encode(ps->ak_name, ps->ak_name_len, hex);
	json_object_set_new(o, "ak_name", json_string(hex));
	q = json_object();
	json_object_set_new(q, "verified", json_boolean(ps->quote_ok));
	if (!ps->quote_ok)
		json_object_set_new(q, "reason",
		    json_string(kw_attest_reason_str(ps->quote_why)));
	kw_hex_encode(ps->nonce, sizeof(ps->nonce), hex);
	json_object_set_new(q, "nonce", json_string(hex));
	json_object_set_new(q, "pcr_mask", json_integer(TPM_PCR_DEFAULT_MASK));
	json_object_set_new(o, "quote", q);
	return o;
}

static void
kw_posture_tpm_text(const struct kw_posture *ps)
{
	char hex[2 * TPM_ATTEST_NAME_MAX + 1];

	if (!ps->tpm_done) {
		printf("TPM identity: not checked (no --ak)\n");
		return;
	}
	printf("TPM: %s\n", ps->tpm_desc);
	if (ps->ek_profile != NULL)
		printf("  EK certificate:    %s at 0x%08x: %s%s%s\n",
		    ps->ek_profile, ps->ek_nv, kw_posture_ek_chain(ps),
		    ps->ek_chain != 0 ? " against " : "",
		    ps->ek_chain != 0 ? ps->ek_ca : "");
	else
		printf("  EK certificate:    none in NV: the TPM cannot be "
		    "told from software\n");
	if (ps->ek_chain < 0)
		printf("  EK refused:        %s\n",
		    kw_attest_reason_str(ps->ek_why));
	if (ps->id.vendor[0] != '\0' || ps->id.manufacturer[0] != '\0')
		printf("  Vendor:            %s (%s) model %s firmware %s\n",
		    ps->id.vendor[0] ? ps->id.vendor : "unknown",
		    ps->id.manufacturer, ps->id.model[0] ? ps->id.model : "?",
		    ps->id.firmware[0] ? ps->id.firmware : "?");
	kw_hex_encode(ps->ak_name, ps->ak_name_len, hex);
	printf("  AK name:           %s\n", hex);
	if (ps->quote_ok)
		printf("  Quote:             PCRs 0-7, fresh nonce: verified\n");
	else
		printf("  Quote:             refused: %s\n",
		    kw_attest_reason_str(ps->quote_why));
}

static const char *
kw_posture_sb(enum kw_secure_boot sb)
{
	return sb == KW_SB_ON ? "on" : sb == KW_SB_OFF ? "off" : "unknown";
}

static const char *
kw_posture_disk(int enc)
{
	return enc > 0 ? "yes" : enc == 0 ? "no" : "unknown";
}

static const char *
kw_posture_log_status(int r)
{
	return r == KW_OK ? "ok" : r == KW_ERR_NOT_FOUND ? "absent" :
	    r == KW_ERR_PARSE ? "refused" : "unreadable";
}

static int
kw_posture_json(const struct kw_posture *ps)
{
	const struct kw_evlog_claims *c = &ps->claims;
	json_t *root = NULL, *o, *a, *bank;
	char hex[2 * KW_SHA256_LEN + 1], key[8], tb[16];
	unsigned i;
	size_t j;
	int r = KW_ERR_NOMEM;

	if ((root = json_object()) == NULL)
		goto out;
	json_object_set_new(root, "version", json_integer(1));
	o = json_object();
	json_object_set_new(o, "path", json_string(ps->log_path));
	json_object_set_new(o, "status",
	    json_string(kw_posture_log_status(ps->log_status)));
	if (ps->log_status != KW_OK)
		json_object_set_new(o, "error", json_string(ps->log_why));
	else {
		json_object_set_new(o, "events", json_integer(
		    (json_int_t)c->n_events));
		json_object_set_new(o, "algorithms", json_integer(
		    (json_int_t)c->n_algs));
	}
	json_object_set_new(root, "event_log", o);
	if (ps->log_status == KW_OK) {
		o = json_object();
		json_object_set_new(o, "secure_boot",
		    json_string(kw_posture_sb(c->secure_boot)));
		json_object_set_new(o, "startup_locality",
		    json_integer(c->startup_locality));
		bank = json_object();
		for (i = 0; i < KW_PCR_COUNT; i++) {
			if (!(c->extended & (1u << i)))
				continue;
			snprintf(key, sizeof(key), "%u", i);
			kw_hex_encode(c->pcr.val[i], KW_SHA256_LEN, hex);
			json_object_set_new(bank, key, json_string(hex));
		}
		a = json_object();
		json_object_set_new(a, "sha256", bank);
		json_object_set_new(o, "pcrs", a);
		a = json_array();
		for (j = 0; j < c->n_comp; j++) {
			json_t *e = json_object();

			kw_hex_encode(c->comp[j].sha256, KW_SHA256_LEN, hex);
			json_object_set_new(e, "pcr",
			    json_integer(c->comp[j].pcr));
			json_object_set_new(e, "type", json_string(
			    kw_evlog_type_name(c->comp[j].type, tb,
			    sizeof(tb))));
			json_object_set_new(e, "sha256", json_string(hex));
			json_object_set_new(e, "offset", json_integer(
			    (json_int_t)c->comp[j].offset));
			json_array_append_new(a, e);
		}
		json_object_set_new(o, "boot_components", a);
		json_object_set_new(root, "claims", o);
	} else
		json_object_set_new(root, "claims", json_null());
	if (ps->pcr_checked) {
		o = json_object();
		json_object_set_new(o, "file", json_string(ps->pcr_path));
		a = json_array();
		for (i = 0; i < KW_PCR_COUNT; i++)
			if (ps->matched & (1u << i))
				json_array_append_new(a, json_integer(i));
		json_object_set_new(o, "matched", a);
		json_object_set_new(o, "first_mismatch", ps->first_mismatch < 0 ?
		    json_null() : json_integer(ps->first_mismatch));
		json_object_set_new(o, "result", json_string(
		    ps->first_mismatch < 0 ? "match" : "mismatch"));
		json_object_set_new(root, "pcr_check", o);
	}
	if (ps->policy_checked) {
		o = json_object();
		json_object_set_new(o, "file", json_string(ps->policy_path));
		json_object_set_new(o, "verdict", json_string(
		    ps->policy_r == KW_OK ? "accepted" : "refused"));
		if (ps->policy_r != KW_OK)
			json_object_set_new(o, "reason",
			    json_string(ps->reason));
		json_object_set_new(o, "attested",
		    json_boolean(ps->quote_ok));
		json_object_set_new(root, "policy", o);
	}
	json_object_set_new(root, "tpm", kw_posture_tpm(ps));
	o = json_object();
	json_object_set_new(o, "kernel", json_string(ps->os.kernel));
	json_object_set_new(o, "os", json_string(ps->os.os));
	json_object_set_new(o, "disk_encryption",
	    json_string(kw_posture_disk(ps->os.disk_encrypted)));
	json_object_set_new(o, "root_source", json_string(ps->os.root_source));
	json_object_set_new(o, "disk_note", json_string(ps->os.disk_note));
	json_object_set_new(root, "unattested", o);
	if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 ||
	    fputc('\n', stdout) == EOF) {
		r = KW_ERR_IO;
		goto out;
	}
	r = KW_OK;
out:
	json_decref(root);
	return r;
}

static void
kw_posture_text(const struct kw_posture *ps)
{
	const struct kw_evlog_claims *c = &ps->claims;
	char hex[2 * KW_SHA256_LEN + 1], tb[16];
	unsigned i;
	size_t j;

	if (ps->log_status == KW_ERR_NOT_FOUND)
		printf("Event log: none at %s: no boot claims\n", ps->log_path);
	else if (ps->log_status != KW_OK)
		printf("Event log: %s %s: %s\n", ps->log_path,
		    ps->log_status == KW_ERR_PARSE ? "refused" : "unreadable",
		    ps->log_why);
	else {
		printf("Event log: %s (%zu events, %zu digest algorithms)\n",
		    ps->log_path, c->n_events, c->n_algs);
		printf("  Secure Boot:       %s\n",
		    kw_posture_sb(c->secure_boot));
		printf("  Startup locality:  %u\n", c->startup_locality);
		for (i = 0; i < KW_PCR_COUNT; i++) {
			if (!(c->extended & (1u << i)))
				continue;
			kw_hex_encode(c->pcr.val[i], KW_SHA256_LEN, hex);
			printf("  PCR %-2u sha256:     %s\n", i, hex);
		}
		printf("  Boot components:   %zu\n", c->n_comp);
		for (j = 0; j < c->n_comp; j++) {
			kw_hex_encode(c->comp[j].sha256, KW_SHA256_LEN, hex);
			printf("    PCR %-2u %-34s %s\n", c->comp[j].pcr,
			    kw_evlog_type_name(c->comp[j].type, tb,
			    sizeof(tb)), hex);
		}
	}
	if (ps->pcr_checked) {
		if (ps->first_mismatch < 0)
			printf("PCR values (%s): the log matches every PCR "
			    "given\n", ps->pcr_path);
		else
			printf("PCR values (%s): the log does not match PCR "
			    "%d\n", ps->pcr_path, ps->first_mismatch);
	}
	if (ps->policy_checked) {
		if (ps->policy_r == KW_OK)
			printf("Policy (%s): accepted%s\n", ps->policy_path,
			    ps->pcr_checked ? "" : " (against the log's own "
			    "values)");
		else
			printf("Policy (%s): refused: %s\n", ps->policy_path,
			    ps->reason);
	}
	kw_posture_tpm_text(ps);
	printf("Unattested (what the OS says; the TPM does not measure it):\n");
	printf("  Kernel:            %s\n", ps->os.kernel);
	printf("  OS:                %s\n", ps->os.os[0] ? ps->os.os :
	    "unknown");
	printf("  Disk encryption:   %s (%s)\n",
	    kw_posture_disk(ps->os.disk_encrypted), ps->os.disk_note);
}

int
cmd_posture(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "event-log", required_argument, NULL, KW_OPT_EVENT_LOG },
		{ "pcr-values", required_argument, NULL, KW_OPT_PCR_VALUES },
		{ "policy", required_argument, NULL, KW_OPT_POLICY },
		{ "json", no_argument, NULL, KW_OPT_JSON },
		{ "ak", required_argument, NULL, KW_OPT_AK },
		{ "tcti", required_argument, NULL, KW_OPT_TCTI },
		{ "ek-ca", required_argument, NULL, KW_OPT_EK_CA },
		{ "verbose", no_argument, NULL, KW_OPT_VERBOSE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kw_attest_policy pol;
	struct kw_posture ps;
	const struct kw_attest_pcrs *against;
	int c, r, ex = KW_EXIT_OK;

	memset(&ps, 0, sizeof(ps));
	memset(&pol, 0, sizeof(pol));
	ps.log_path = KW_EVLOG_DEFAULT_PATH;
	ps.first_mismatch = -1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case KW_OPT_EVENT_LOG:
			ps.log_path = optarg;
			break;
		case KW_OPT_PCR_VALUES:
			ps.pcr_path = optarg;
			break;
		case KW_OPT_POLICY:
			ps.policy_path = optarg;
			break;
		case KW_OPT_JSON:
			ps.json = 1;
			break;
		case KW_OPT_AK:
			if (strncmp(optarg, "tpm:", 4) != 0 || optarg[4] == '\0')
				return kw_cli_usage_error("posture", "--ak "
				    "takes tpm:PATH (or tpm:0x81XXXXXX)");
			ps.ak = optarg + 4;
			break;
		case KW_OPT_TCTI:
			ps.tcti = optarg;
			break;
		case KW_OPT_EK_CA:
			ps.ek_ca = optarg;
			break;
		case KW_OPT_VERBOSE:
			kw_log_setup(KW_LOG_DEBUG, 0);
			break;
		case 'h':
			fputs(kw_posture_help, stdout);
			return KW_EXIT_OK;
		default:
			return kw_cli_usage_error("posture", "bad option");
		}
	}
	if (optind != argc)
		return kw_cli_usage_error("posture", "unexpected argument '%s'",
		    argv[optind]);
	if (ps.ak != NULL && ps.pcr_path != NULL)
		return kw_cli_usage_error("posture", "--ak quotes the PCRs: "
		    "leave out --pcr-values");
	if (ps.ak == NULL && (ps.tcti != NULL || ps.ek_ca != NULL))
		return kw_cli_usage_error("posture", "--tcti and --ek-ca go "
		    "with --ak");
	if (ps.policy_path != NULL &&
	    kw_attest_policy_load(ps.policy_path, &pol) != KW_OK) {
		ex = KW_EXIT_USAGE;
		goto out;
	}
	if (ps.pcr_path != NULL && kw_posture_pcrfile(ps.pcr_path, &ps.pcrs)
	    != KW_OK) {
		ex = KW_EXIT_USAGE;
		goto out;
	}
	if (ps.ak != NULL) {
		if (ps.ek_ca == NULL)
			ps.ek_ca = pol.ek_ca;
		if ((r = kw_posture_tpm_run(&ps)) != KW_OK) {
			kw_err("posture: the TPM could not quote with the AK %s: "
			    "%s", ps.ak, kw_strerror(r));
			ex = KW_EXIT_FAIL;
			goto out;
		}
		if (ps.quote_ok)
			ps.pcr_path = "the TPM's quote";
		else
			ex = KW_EXIT_PEER;
		if (ps.ek_chain < 0)
			ex = KW_EXIT_PEER;
	}
	ps.log_status = kw_evlog_load(ps.log_path, ps.log_why,
	    sizeof(ps.log_why), &ps.claims);
	if (ps.log_status != KW_OK && ps.log_status != KW_ERR_NOT_FOUND)
		ex = KW_EXIT_FAIL;
	if (ps.log_status == KW_OK && ps.pcr_path != NULL) {
		ps.pcr_checked = 1;
		if (kw_evlog_match(&ps.claims, &ps.pcrs, &ps.matched,
		    &ps.first_mismatch) != KW_OK)
			ex = KW_EXIT_PEER;
	}
	if (ps.log_status == KW_OK && ps.policy_path != NULL) {
		ps.policy_checked = 1;
		against = ps.pcr_path != NULL ? &ps.pcrs : &ps.claims.pcr;
		ps.policy_r = kw_attest_policy_check_claims(&pol, &ps.claims,
		    against, ps.reason, sizeof(ps.reason));
		if (ps.policy_r != KW_OK)
			ex = KW_EXIT_PEER;
	} else if (ps.log_status != KW_OK &&
	    (ps.policy_path != NULL || ps.pcr_path != NULL)) {
		/* nothing to check the PCRs or the policy against */
		ex = ex == KW_EXIT_OK ? KW_EXIT_PEER : ex;
	}
	kw_os_facts_collect(NULL, &ps.os);
	if (ps.json)
		r = kw_posture_json(&ps);
	else {
		kw_posture_text(&ps);
		r = KW_OK;
	}
	if (fflush(stdout) != 0 || r != KW_OK)
		ex = KW_EXIT_FAIL;
	if (ps.log_status != KW_OK && ps.log_status != KW_ERR_NOT_FOUND)
		kw_err("event log %s: %s", ps.log_path, ps.log_why);
	else if (ps.log_status == KW_ERR_NOT_FOUND &&
	    (ps.policy_path != NULL || ps.pcr_path != NULL))
		kw_err("event log %s: no such file: nothing to check the %s "
		    "against", ps.log_path, ps.policy_path != NULL ?
		    "policy" : "PCR values");
	else if (ps.policy_checked && ps.policy_r != KW_OK)
		kw_err("posture refused by %s: %s", ps.policy_path, ps.reason);
	else if (ps.ak != NULL && !ps.quote_ok)
		kw_err("posture: the TPM's quote did not verify: %s",
		    kw_attest_reason_str(ps.quote_why));
	else if (ps.ek_chain < 0)
		kw_err("posture: the EK certificate does not chain to %s: %s",
		    ps.ek_ca, kw_attest_reason_str(ps.ek_why));
	else if (ps.pcr_checked && ps.first_mismatch >= 0)
		kw_err("event log %s does not match the PCR values of %s at "
		    "PCR %d", ps.log_path, ps.pcr_path, ps.first_mismatch);
out:
	kw_evlog_claims_clear(&ps.claims);
	kw_attest_policy_clear(&pol);
	return ex;
}
