/* keyward posture: the device's boot claims from the UEFI event log, the
 * OS facts the TPM does not measure (marked unattested), and optionally a
 * check against PCR values and a posture policy (keyward-posture(7)).
 *
 * The TPM side (an attestation key, a quote over the PCRs, the EK chain)
 * plugs in at kw_posture_tpm() below: until then the PCR values to check
 * come from --pcr-values and "tpm" is reported as not checked. */
#include <jansson.h>

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

#define KW_PCRFILE_MAX	(64 * 1024)

static const char kw_posture_help[] =
"usage: keyward posture [--event-log FILE] [--pcr-values FILE]\n"
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
"      --policy FILE      check the claims against a posture policy\n"
"                         (keyward-posture(7)); without --pcr-values the\n"
"                         log's own values stand in for the TPM's\n"
"      --json             one JSON object (keyward-posture(7))\n"
"      --verbose          log debug detail\n"
"  -h, --help             this help\n"
"\n"
"Exit status: 0 printed (and the checks asked for passed), 1 the event log\n"
"is malformed or unreadable, 2 usage or policy file error, 4 the log does\n"
"not match the PCR values or the policy refused the claims.\n";

enum {
	KW_OPT_EVENT_LOG = KW_OPT_FIRST_FREE,
	KW_OPT_PCR_VALUES,
	KW_OPT_POLICY,
	KW_OPT_JSON,
};

struct kw_posture {
	const char *log_path;
	const char *pcr_path;
	const char *policy_path;
	int json;
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

/* The place for the TPM side: an attestation key quoting the PCRs with
 * a nonce, the EK certificate chain, credential activation.  It will
 * fill the PCR values from a verified quote (instead of --pcr-values) and
 * report the TPM identity in the "tpm" member; today it reports that the
 * identity was not checked. */
static json_t *
kw_posture_tpm(const struct kw_posture *ps)
{
	(void)ps;
	return json_null();
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
		json_object_set_new(o, "attested", json_false());
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
	printf("TPM identity: not checked\n");
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
	else if (ps.pcr_checked && ps.first_mismatch >= 0)
		kw_err("event log %s does not match the PCR values of %s at "
		    "PCR %d", ps.log_path, ps.pcr_path, ps.first_mismatch);
out:
	kw_evlog_claims_clear(&ps.claims);
	kw_attest_policy_clear(&pol);
	return ex;
}
