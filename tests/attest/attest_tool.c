/* Test-only helper for tests/attest/ scripts: the device's and the verifier's
 * halves that keyward's CLI does not (yet) offer, over attest/'s library.
 *
 *   attest_tool evidence OUT --ek DER [--chain DER]... --ak-pub TPMT_PUBLIC
 *       [--certify ATTEST SIG PUBAREA] [--quote ATTEST SIG PCRVALUES]
 *       [--time SECONDS] [--event-log FILE] [--os KEY=VALUE]...
 *     encode an evidence message from tpm2-tools' outputs
 *   attest_tool challenge EKDER AKNAME CREDFILE SECRETFILE
 *     MakeCredential for EK (certificate) and AK name: CREDFILE in
 *     tpm2_activatecredential's -i format, the secret kept in SECRETFILE
 *   attest_tool answer STORE EKDER AKNAME SECRETFILE ANSWERFILE
 *     check the activated secret; record the binding in STORE
 *   attest_tool name TPMT_PUBLIC       print the object's name (hex) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "attest/attest.h"

#define TOOL_MAX	(1024u * 1024u)
#define TOOL_FILES	64

struct tool_files {
	uint8_t *p[TOOL_FILES];
	size_t n;
};

static int
tool_read(struct tool_files *f, const char *path, struct kw_attest_bytes *b)
{
	size_t len = 0;

	if (f->n == TOOL_FILES || kw_file_read(path, TOOL_MAX, &f->p[f->n],
	    &len) != KW_OK) {
		fprintf(stderr, "attest_tool: cannot read %s\n", path);
		return KW_ERR_IO;
	}
	b->p = f->p[f->n++];
	b->len = len;
	return KW_OK;
}

/* The COSE algorithm of a marshalled TPMT_SIGNATURE (ECDSA/RSASSA/PSS). */
static int64_t
tool_cose_alg(const struct kw_attest_bytes *sig)
{
	unsigned int alg, hash;

	if (sig->len < 4)
		return 0;
	alg = (unsigned int)sig->p[0] << 8 | sig->p[1];
	hash = (unsigned int)sig->p[2] << 8 | sig->p[3];
	if (alg == 0x18)		/* ECDSA */
		return hash == 0x0c ? -35 : -7;
	if (alg == 0x14)		/* RSASSA */
		return -257;
	if (alg == 0x16)		/* RSAPSS */
		return -37;
	return 0;
}

static int
tool_evidence(int argc, char **argv)
{
	struct kw_attest_evidence ev;
	struct tool_files f;
	uint8_t *out = NULL;
	size_t out_len = 0;
	char *eq;
	int i, r = KW_OK;

	memset(&ev, 0, sizeof(ev));
	memset(&f, 0, sizeof(f));
	ev.time = (uint64_t)time(NULL);
	for (i = 1; i < argc && r == KW_OK; i++) {
		if (strcmp(argv[i], "--ek") == 0 && i + 1 < argc) {
			r = tool_read(&f, argv[++i], &ev.x5c[0]);
			if (ev.nx5c == 0)
				ev.nx5c = 1;
		} else if (strcmp(argv[i], "--chain") == 0 && i + 1 < argc &&
		    ev.nx5c > 0 && ev.nx5c < KW_ATTEST_X5C_MAX) {
			r = tool_read(&f, argv[++i], &ev.x5c[ev.nx5c++]);
		} else if (strcmp(argv[i], "--ak-pub") == 0 && i + 1 < argc) {
			r = tool_read(&f, argv[++i], &ev.ak_pub);
		} else if (strcmp(argv[i], "--certify") == 0 && i + 3 < argc) {
			ev.has_certify = 1;
			if ((r = tool_read(&f, argv[++i], &ev.cert_info)) ==
			    KW_OK && (r = tool_read(&f, argv[++i],
			    &ev.cert_sig)) == KW_OK)
				r = tool_read(&f, argv[++i], &ev.pub_area);
			ev.alg = tool_cose_alg(&ev.cert_sig);
		} else if (strcmp(argv[i], "--quote") == 0 && i + 3 < argc) {
			ev.has_posture = 1;
			if ((r = tool_read(&f, argv[++i], &ev.quote)) ==
			    KW_OK && (r = tool_read(&f, argv[++i],
			    &ev.quote_sig)) == KW_OK)
				r = tool_read(&f, argv[++i], &ev.pcr_values);
		} else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
			ev.time = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--event-log") == 0 &&
		    i + 1 < argc) {
			r = tool_read(&f, argv[++i], &ev.event_log);
		} else if (strcmp(argv[i], "--os") == 0 && i + 1 < argc &&
		    ev.nos < KW_ATTEST_OS_MAX &&
		    (eq = strchr(argv[i + 1], '=')) != NULL) {
			i++;
			ev.os_key[ev.nos].p = (const uint8_t *)argv[i];
			ev.os_key[ev.nos].len = (size_t)(eq - argv[i]);
			ev.os_val[ev.nos].p = (const uint8_t *)eq + 1;
			ev.os_val[ev.nos++].len = strlen(eq + 1);
		} else if (i == 1) {
			continue;	/* OUT */
		} else {
			fprintf(stderr, "attest_tool: bad argument %s\n",
			    argv[i]);
			r = KW_ERR_ARG;
		}
	}
	if (r == KW_OK && (r = kw_attest_evidence_encode(&ev, &out,
	    &out_len)) != KW_OK)
		fprintf(stderr, "attest_tool: encode: %s\n", kw_strerror(r));
	if (r == KW_OK)
		r = kw_file_write_atomic(argv[1], out, out_len, 0644, 0);
	free(out);
	while (f.n > 0)
		free(f.p[--f.n]);
	return r == KW_OK ? 0 : 1;
}

/* The SPKI of an EK: its certificate or its public key (PEM or DER). */
static int
tool_ek_spki(const char *path, uint8_t **spki, size_t *spki_len)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = kw_file_read(path, TOOL_MAX, &buf, &len)) == KW_OK)
		r = kw_attest_spki_of(buf, len, spki, spki_len);
	if (r != KW_OK)
		fprintf(stderr, "attest_tool: %s: not a certificate or public "
		    "key\n", path);
	free(buf);
	return r;
}

static int
tool_challenge(int argc, char **argv)
{
	static const uint8_t hdr[8] = { 0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1 };
	struct kw_attest_challenge ch;
	uint8_t *ek = NULL, *name = NULL, *blob = NULL;
	size_t name_len = 0, n, ek_len = 0;
	int r;

	memset(&ch, 0, sizeof(ch));
	if (argc != 5)
		return 2;
	if ((r = tool_ek_spki(argv[1], &ek, &ek_len)) != KW_OK ||
	    (r = kw_file_read(argv[2], TOOL_MAX, &name, &name_len)) != KW_OK)
		goto out;
	if ((r = kw_attest_challenge_make(ek, ek_len, name,
	    name_len, &ch)) != KW_OK) {
		fprintf(stderr, "attest_tool: challenge: %s\n", kw_strerror(r));
		goto out;
	}
	n = sizeof(hdr) + ch.id_object_len + ch.enc_secret_len;
	if ((blob = malloc(n)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	memcpy(blob, hdr, sizeof(hdr));
	memcpy(blob + sizeof(hdr), ch.id_object, ch.id_object_len);
	memcpy(blob + sizeof(hdr) + ch.id_object_len, ch.enc_secret,
	    ch.enc_secret_len);
	if ((r = kw_file_write_atomic(argv[3], blob, n, 0600, 0)) == KW_OK)
		r = kw_file_write_atomic(argv[4], ch.secret,
		    sizeof(ch.secret), 0600, 0);
out:
	kw_attest_challenge_clear(&ch);
	free(ek);
	free(name);
	free(blob);
	return r == KW_OK ? 0 : 1;
}

static int
tool_answer(int argc, char **argv)
{
	enum kw_attest_reason reason = KW_ATTEST_OK;
	struct kw_attest_challenge ch;
	uint8_t *ek = NULL, *name = NULL, *sec = NULL, *ans = NULL;
	size_t name_len = 0, sec_len = 0, ans_len = 0, ek_len = 0;
	int r;

	memset(&ch, 0, sizeof(ch));
	if (argc != 6)
		return 2;
	if ((r = tool_ek_spki(argv[2], &ek, &ek_len)) != KW_OK ||
	    (r = kw_file_read(argv[3], TOOL_MAX, &name, &name_len)) != KW_OK ||
	    (r = kw_file_read(argv[4], TOOL_MAX, &sec, &sec_len)) != KW_OK ||
	    (r = kw_file_read(argv[5], TOOL_MAX, &ans, &ans_len)) != KW_OK)
		goto out;
	if (sec_len != sizeof(ch.secret)) {
		r = KW_ERR_PARSE;
		goto out;
	}
	memcpy(ch.secret, sec, sizeof(ch.secret));
	r = kw_attest_bind_answer(argv[1], ek, ek_len, name,
	    name_len, &ch, ans, ans_len, &reason);
	if (r == KW_ERR_ATTEST)
		printf("refused: %s\n", kw_attest_reason_str(reason));
out:
	kw_attest_challenge_clear(&ch);
	free(ek);
	free(name);
	kw_freezero(sec, sec_len);
	kw_freezero(ans, ans_len);
	return r == KW_OK ? 0 : 1;
}

static int
tool_name(int argc, char **argv)
{
	uint8_t *pub = NULL, name[2 + 64];
	size_t len = 0, nl = sizeof(name), i;
	int r;

	if (argc != 2)
		return 2;
	if ((r = kw_file_read(argv[1], TOOL_MAX, &pub, &len)) == KW_OK &&
	    (r = kw_attest_name(pub, len, name, &nl)) == KW_OK) {
		for (i = 0; i < nl; i++)
			printf("%02x", name[i]);
		printf("\n");
	}
	free(pub);
	return r == KW_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
	kw_log_setup(KW_LOG_ERROR, 0);
	if (argc >= 2 && strcmp(argv[1], "evidence") == 0 && argc >= 3)
		return tool_evidence(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "challenge") == 0)
		return tool_challenge(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "answer") == 0)
		return tool_answer(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "name") == 0)
		return tool_name(argc - 1, argv + 1);
	fprintf(stderr, "usage: attest_tool evidence|challenge|answer|name ...\n");
	return 2;
}
