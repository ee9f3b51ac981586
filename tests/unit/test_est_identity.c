/* Unit tests for identity state files and [identity NAME] config
 * sections (agent/identity.c, agent/identity_conf.c): round trip, strict
 * parsing of damaged files, crash recovery of an interrupted renewal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kw_error.h"
#include "kw_mem.h"
#include "agent/identity/identity.h"
#include "agent/identity/renew.h"

static char tmpdir[] = "/tmp/kw-est-unit.XXXXXX";

static void
path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void
write_file(const char *path, const char *text)
{
	assert_int_equal(kw_file_write_atomic(path, text, strlen(text), 0600, 0),
	    KW_OK);
}

static struct kw_identity *
sample(const char *state)
{
	struct kw_identity *id;

	assert_int_equal(kw_identity_new(&id), KW_OK);
	assert_int_equal(kw_identity_set(&id->path, state), KW_OK);
	assert_int_equal(kw_identity_set(&id->server, "https://est.example"), KW_OK);
	assert_int_equal(kw_identity_set(&id->ca_file, "/etc/ca.pem"), KW_OK);
	assert_int_equal(kw_identity_set(&id->key_ref, "tpm:/k/a.pem"), KW_OK);
	assert_int_equal(kw_identity_set(&id->cert_file, "/c/a.pem"), KW_OK);
	assert_int_equal(kw_identity_set(&id->cert_out, "/c/a.pem"), KW_OK);
	assert_int_equal(kw_identity_set(&id->subject, "CN=a"), KW_OK);
	id->sans[id->nsans++] = strdup("dns:a.example");
	id->not_before = 1000;
	id->not_after = 91000;
	return id;
}

static void
test_roundtrip(void **state)
{
	struct kw_identity *id, *back;
	char p[256];
	struct stat st;

	(void)state;
	path_in(p, sizeof(p), "rt.state");
	id = sample(p);
	id->failures = 2;
	id->last_failure = 5000;
	id->phase = KW_PHASE_PENDING;
	assert_int_equal(kw_identity_set(&id->new_key_ref, "tpm:/k/a.2.pem"), KW_OK);
	assert_int_equal(kw_identity_set(&id->new_csr, "QUJD"), KW_OK);
	id->old[0].key_ref = strdup("tpm:/k/old.pem");
	id->old[0].delete_after = 7;
	id->nold = 1;
	assert_int_equal(kw_identity_save(id), KW_OK);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(kw_identity_read(p, &back), KW_OK);
	assert_string_equal(kw_identity_key_ref(back), "tpm:/k/a.pem");
	assert_string_equal(kw_identity_cert_file(back), "/c/a.pem");
	assert_int_equal(kw_identity_not_after(back), 91000);
	assert_int_equal(back->nsans, 1);
	assert_string_equal(back->sans[0], "dns:a.example");
	assert_int_equal(back->phase, KW_PHASE_PENDING);
	assert_string_equal(back->new_csr, "QUJD");
	assert_int_equal(back->failures, 2);
	assert_int_equal(back->nold, 1);
	assert_int_equal(back->old[0].delete_after, 7);
	assert_int_equal(back->renew_at_pct, 66);
	assert_true(back->rekey);
	kw_identity_free(id);
	kw_identity_free(back);
}

/* Paths go into the state absolute (the daemon works in /); TPM handles
 * and PKCS#11 URIs stay as they are; pop_linking survives a round trip. */
static void
test_abspath(void **state)
{
	struct kw_identity *id, *back;
	char cwd[4096], want[4200], p[256];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(kw_identity_new(&id), KW_OK);
	assert_int_equal(kw_identity_set_path(&id->cert_file, "./sub/c.pem"),
	    KW_OK);
	snprintf(want, sizeof(want), "%s/sub/c.pem", cwd);
	assert_string_equal(id->cert_file, want);
	assert_int_equal(kw_identity_set_path(&id->ca_file, "/etc/ca.pem"),
	    KW_OK);
	assert_string_equal(id->ca_file, "/etc/ca.pem");
	assert_int_equal(kw_identity_set_path(&id->chain_file, NULL), KW_OK);
	assert_null(id->chain_file);
	assert_int_equal(kw_identity_set_keyref(&id->key_ref, "tpm:k.pem"),
	    KW_OK);
	snprintf(want, sizeof(want), "tpm:%s/k.pem", cwd);
	assert_string_equal(id->key_ref, want);
	assert_int_equal(kw_identity_set_keyref(&id->new_key_ref,
	    "tpm:0x81000001"), KW_OK);
	assert_string_equal(id->new_key_ref, "tpm:0x81000001");
	assert_int_equal(kw_identity_set_keyref(&id->new_key_ref,
	    "pkcs11:token=t;object=o"), KW_OK);
	assert_string_equal(id->new_key_ref, "pkcs11:token=t;object=o");
	/* a relative pin-source file in a URI is made absolute too */
	assert_int_equal(kw_identity_set_keyref(&id->new_key_ref,
	    "pkcs11:token=t;object=o?module-path=/m.so&pin-source=file:./p/pin"),
	    KW_OK);
	snprintf(want, sizeof(want), "pkcs11:token=t;object=o?module-path="
	    "/m.so&pin-source=file:%s/p/pin", cwd);
	assert_string_equal(id->new_key_ref, want);
	assert_int_equal(kw_identity_set_keyref(&id->new_key_ref,
	    "pkcs11:object=o?pin-source=pin&module-path=/m.so"), KW_OK);
	snprintf(want, sizeof(want), "pkcs11:object=o?pin-source=file:%s/pin"
	    "&module-path=/m.so", cwd);
	assert_string_equal(id->new_key_ref, want);
	assert_int_equal(kw_identity_set_keyref(&id->new_key_ref,
	    "pkcs11:object=o?pin-source=file:/abs/pin"), KW_OK);
	assert_string_equal(id->new_key_ref,
	    "pkcs11:object=o?pin-source=file:/abs/pin");
	assert_int_equal(kw_identity_set_keyref(&id->new_key_ref,
	    "pkcs11:object=o?pin-source=file:///abs/pin"), KW_OK);
	assert_string_equal(id->new_key_ref,
	    "pkcs11:object=o?pin-source=file:///abs/pin");
	assert_int_equal(kw_identity_abspath("x", want, 4), KW_ERR_SPACE);
	/* round trip of the PoP-linking choice */
	path_in(p, sizeof(p), "pop.state");
	assert_int_equal(kw_identity_set(&id->path, p), KW_OK);
	assert_int_equal(kw_identity_set(&id->server, "https://e"), KW_OK);
	id->pop_linking = 1;
	assert_int_equal(kw_identity_save(id), KW_OK);
	assert_int_equal(kw_identity_read(p, &back), KW_OK);
	assert_true(back->pop_linking);
	kw_identity_free(back);
	kw_identity_free(id);
}

static void
test_damaged(void **state)
{
	static const char *bad[] = {
		"",
		"{",
		"[]",
		"{\"version\": 2, \"key\": \"tpm:/k\", \"cert\": \"/c\", "
		    "\"server\": \"https://e\", \"ca\": \"/ca\"}",
		"{\"version\": 1, \"cert\": \"/c\", \"server\": \"https://e\", "
		    "\"ca\": \"/ca\"}",
		"{\"version\": 1, \"key\": 5, \"cert\": \"/c\", "
		    "\"server\": \"https://e\", \"ca\": \"/ca\"}",
		"{\"version\": 1, \"key\": \"a\", \"key\": \"b\", \"cert\": \"/c\", "
		    "\"server\": \"https://e\", \"ca\": \"/ca\"}",
		"{\"version\": 1, \"key\": \"tpm:/k\", \"cert\": \"/c\", "
		    "\"server\": \"https://e\", \"ca\": \"/ca\", \"renew_at\": 100}",
		"{\"version\": 1, \"key\": \"tpm:/k\", \"cert\": \"/c\", "
		    "\"server\": \"https://e\", \"ca\": \"/ca\", "
		    "\"renewing\": {\"phase\": \"bogus\", \"key\": \"tpm:/n\"}}",
		"{\"version\": 1, \"key\": \"tpm:/k\", \"cert\": \"/c\", "
		    "\"server\": \"https://e\", \"ca\": \"/ca\", "
		    "\"renewing\": {\"phase\": \"pending\", \"key\": \"tpm:/n\"}}",
	};
	struct kw_identity *id;
	char p[256];
	size_t i;

	(void)state;
	path_in(p, sizeof(p), "bad.state");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (bad[i][0] == '\0') {
			FILE *f = fopen(p, "w");

			assert_non_null(f);
			fclose(f);
		} else
			write_file(p, bad[i]);
		assert_int_equal(kw_identity_read(p, &id), KW_ERR_PARSE);
		assert_null(id);
	}
	path_in(p, sizeof(p), "absent.state");
	assert_int_equal(kw_identity_read(p, &id), KW_ERR_NOT_FOUND);
}

/* A renewal killed after its intent: the half-made key file is deleted
 * (a file that is not a TSS2 key is never deleted), the intent dropped,
 * CERT.next removed; the old identity stays. */
static void
test_recover_intent(void **state)
{
	struct kw_identity *id, *back;
	char p[256], next[300], newkey[256], cert[256];

	(void)state;
	path_in(p, sizeof(p), "rec.state");
	path_in(cert, sizeof(cert), "rec.pem");
	path_in(newkey, sizeof(newkey), "rec-new.pem");
	snprintf(next, sizeof(next), "%s.next", cert);
	write_file(next, "x");
	id = sample(p);
	assert_int_equal(kw_identity_set(&id->cert_file, cert), KW_OK);
	assert_int_equal(kw_identity_set(&id->cert_out, cert), KW_OK);
	id->phase = KW_PHASE_INTENT;
	{
		char ref[300];

		snprintf(ref, sizeof(ref), "tpm:%s", newkey);
		assert_int_equal(kw_identity_set(&id->new_key_ref, ref), KW_OK);
	}
	assert_int_equal(kw_identity_save(id), KW_OK);
	/* something that is not a TSS2 key sits at the new key's name: it is
	 * never deleted, and the intent stays to be retried */
	write_file(newkey, "not a key\n");
	assert_int_equal(kw_identity_recover(id, 0), KW_OK);
	assert_int_equal(id->phase, KW_PHASE_INTENT);
	assert_int_equal(access(newkey, F_OK), 0);
	assert_int_equal(unlink(newkey), 0);
	/* no key file was made yet: recovery simply forgets the intent */
	assert_int_equal(kw_identity_recover(id, 0), KW_OK);
	assert_int_equal(id->phase, KW_PHASE_NONE);
	assert_null(id->new_key_ref);
	assert_int_equal(access(next, F_OK), -1);
	assert_int_equal(kw_identity_read(p, &back), KW_OK);
	assert_int_equal(back->phase, KW_PHASE_NONE);
	assert_string_equal(kw_identity_key_ref(back), "tpm:/k/a.pem");
	kw_identity_free(back);
	kw_identity_free(id);
}

/* Killed after the switch, before the copy: the copy is finished. */
static void
test_recover_copy(void **state)
{
	struct kw_identity *id;
	char p[256], next[300], cert[256];
	uint8_t *data;
	size_t len;

	(void)state;
	path_in(p, sizeof(p), "copy.state");
	path_in(cert, sizeof(cert), "copy.pem");
	snprintf(next, sizeof(next), "%s.next", cert);
	write_file(cert, "old");
	write_file(next, "new");
	id = sample(p);
	assert_int_equal(kw_identity_set(&id->cert_file, next), KW_OK);
	assert_int_equal(kw_identity_set(&id->cert_out, cert), KW_OK);
	assert_int_equal(kw_identity_save(id), KW_OK);
	kw_identity_free(id);
	assert_int_equal(kw_identity_load(p, &id), KW_OK);
	assert_string_equal(kw_identity_cert_file(id), cert);
	assert_int_equal(kw_file_read(cert, 100, &data, &len), KW_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "new", 3);
	free(data);
	assert_int_equal(access(next, F_OK), -1);
	kw_identity_free(id);
}

static void
test_conf(void **state)
{
	struct kw_identity_conf *c;
	struct kw_identity *id;
	struct kw_renew_opts ro;
	char p[256];

	(void)state;
	assert_int_equal(kw_identity_conf_new("laptop", &c), KW_OK);
	assert_string_equal(kw_identity_conf_name(c), "laptop");
	assert_int_equal(kw_identity_open(c, &id, &ro), KW_ERR_CONFIG);
	assert_int_equal(kw_identity_conf_set(c, "state", "rel/path", "f", 3),
	    KW_ERR_CONFIG);
	assert_int_equal(kw_identity_conf_set(c, "renew-at", "150%", "f", 4),
	    KW_ERR_CONFIG);
	assert_int_equal(kw_identity_conf_set(c, "rekey", "maybe", "f", 5),
	    KW_ERR_CONFIG);
	assert_int_equal(kw_identity_conf_set(c, "grace", "1x", "f", 6),
	    KW_ERR_CONFIG);
	assert_int_equal(kw_identity_conf_set(c, "colour", "blue", "f", 7),
	    KW_ERR_CONFIG);
	path_in(p, sizeof(p), "conf.state");
	id = sample(p);
	assert_int_equal(kw_identity_save(id), KW_OK);
	kw_identity_free(id);
	assert_int_equal(kw_identity_conf_set(c, "state", p, "f", 8), KW_OK);
	assert_int_equal(kw_identity_conf_set(c, "renew-at", "50%", "f", 9), KW_OK);
	assert_int_equal(kw_identity_conf_set(c, "rekey", "no", "f", 10), KW_OK);
	assert_int_equal(kw_identity_conf_set(c, "grace", "2h", "f", 11), KW_OK);
	assert_int_equal(kw_identity_conf_set(c, "wait", "30", "f", 12), KW_OK);
	assert_int_equal(kw_identity_open(c, &id, &ro), KW_OK);
	assert_int_equal(id->renew_at_pct, 50);
	assert_false(id->rekey);
	assert_int_equal(id->grace, 7200);
	assert_true(ro.same_key);
	assert_int_equal(ro.wait_s, 30);
	/* renewal due at half of 90000 s after not_before */
	assert_int_equal(kw_renew_due(id, 0), 1000 + 45000);
	assert_false(kw_renew_alarm(id, 1000 + 85000));
	kw_identity_free(id);
	kw_identity_conf_free(c);
}

/* ACME identities: protocol and settings survive the state file; a state
 * that names an unknown protocol, or ACME without an account key, is
 * refused; a section's protocol must match its state. */
static void
test_acme_state(void **state)
{
	static const char *bad[] = {
		"{\"version\": 1, \"protocol\": \"cmp\", \"key\": \"tpm:/k\", "
		    "\"cert\": \"/c\", \"server\": \"https://e\", \"ca\": \"/ca\"}",
		"{\"version\": 1, \"protocol\": \"acme\", \"key\": \"tpm:/k\", "
		    "\"cert\": \"/c\", \"server\": \"https://e\", \"ca\": \"/ca\"}",
		"{\"version\": 1, \"protocol\": \"acme\", \"acme\": [], "
		    "\"key\": \"tpm:/k\", \"cert\": \"/c\", \"server\": "
		    "\"https://e\", \"ca\": \"/ca\"}",
	};
	struct kw_identity_conf *c;
	struct kw_identity *id, *back;
	time_t lifetime;
	char p[256];
	size_t i;
	FILE *f;

	(void)state;
	path_in(p, sizeof(p), "acme.state");
	id = sample(p);
	assert_int_equal(kw_identity_set(&id->protocol, "acme"), KW_OK);
	assert_int_equal(kw_identity_set(&id->acme.account_key_ref,
	    "pkcs11:token=t;object=acct"), KW_OK);
	assert_int_equal(kw_identity_set(&id->acme.challenge,
	    "tls-alpn-01 127.0.0.1:443"), KW_OK);
	assert_int_equal(kw_identity_set(&id->acme.eab_kid, "kid-1"), KW_OK);
	assert_int_equal(kw_identity_save(id), KW_OK);
	kw_identity_free(id);
	assert_int_equal(kw_identity_read(p, &back), KW_OK);
	assert_string_equal(back->protocol, "acme");
	assert_string_equal(back->acme.account_key_ref,
	    "pkcs11:token=t;object=acct");
	assert_string_equal(back->acme.challenge, "tls-alpn-01 127.0.0.1:443");
	assert_string_equal(back->acme.eab_kid, "kid-1");
	assert_null(back->acme.issuer_ca);
	/* ACME renewal information: the window and the time picked in it
	 * survive the state file and move the renewal, never past expiry;
	 * after a failure the backoff rules; no window: the lifetime share */
	assert_int_equal(back->ari_checked, 0);
	lifetime = kw_renew_due(back, 0);
	back->ari_start = 5000;
	back->ari_end = 6000;
	back->ari_at = 5500;
	back->ari_checked = 4000;
	back->ari_next = 7600;
	assert_int_equal(kw_identity_save(back), KW_OK);
	kw_identity_free(back);
	assert_int_equal(kw_identity_read(p, &back), KW_OK);
	assert_int_equal(back->ari_start, 5000);
	assert_int_equal(back->ari_end, 6000);
	assert_int_equal(back->ari_next, 7600);
	assert_int_equal(kw_renew_due(back, 0), 5500);
	back->ari_at = back->not_after + 10;
	assert_int_equal(kw_renew_due(back, 0), back->not_after - 1);
	back->failures = 1;
	back->last_failure = 5600;
	assert_true(kw_renew_due(back, 0) >= lifetime);
	back->failures = 0;
	back->ari_end = 0;
	assert_int_equal(kw_renew_due(back, 0), lifetime);
	/* a window that ends before it starts is forgotten (asked again) */
	back->ari_end = 4000;
	assert_int_equal(kw_identity_save(back), KW_OK);
	kw_identity_free(back);
	assert_int_equal(kw_identity_read(p, &back), KW_OK);
	assert_int_equal(back->ari_end, 0);
	assert_int_equal(back->ari_next, 0);
	assert_int_equal(kw_renew_due(back, 0), lifetime);
	kw_identity_free(back);

	assert_int_equal(kw_identity_conf_new("a", &c), KW_OK);
	assert_int_equal(kw_identity_conf_set(c, "protocol", "x400", "f", 1),
	    KW_ERR_CONFIG);
	assert_int_equal(kw_identity_conf_set(c, "state", p, "f", 2), KW_OK);
	assert_int_equal(kw_identity_conf_set(c, "protocol", "est", "f", 3),
	    KW_OK);
	assert_int_equal(kw_identity_open(c, &id, NULL), KW_ERR_CONFIG);
	assert_int_equal(kw_identity_conf_set(c, "protocol", "acme", "f", 4),
	    KW_OK);
	assert_int_equal(kw_identity_open(c, &id, NULL), KW_OK);
	kw_identity_free(id);
	kw_identity_conf_free(c);

	assert_int_equal(kw_acme_challenge_check("http-01 127.0.0.1:80"), KW_OK);
	assert_int_equal(kw_acme_challenge_check("tls-alpn-01 [::1]:443"),
	    KW_OK);
	assert_int_equal(kw_acme_challenge_check("dns-01 x:1"), KW_ERR_CONFIG);
	assert_int_equal(kw_acme_challenge_check("http-01"), KW_ERR_CONFIG);
	assert_int_equal(kw_acme_challenge_check("http-01 "), KW_ERR_CONFIG);
	assert_int_equal(kw_acme_challenge_check("http-01x 1:2"),
	    KW_ERR_CONFIG);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		path_in(p, sizeof(p), "acme-bad.state");
		assert_non_null(f = fopen(p, "w"));
		fputs(bad[i], f);
		fclose(f);
		assert_int_equal(kw_identity_read(p, &back), KW_ERR_PARSE);
	}
}

/* SCEP identities: the challenge file survives the state file, renewal
 * keys are made sign+decrypt, a section may say protocol = scep. */
static void
test_scep_state(void **state)
{
	struct kw_identity_conf *c;
	struct kw_identity *id, *back;
	struct kw_keyref_opts o;
	char p[256];

	(void)state;
	path_in(p, sizeof(p), "scep.state");
	id = sample(p);
	kw_identity_keyopts(id, &o);
	assert_int_equal(o.usage, 0);
	assert_int_equal(kw_identity_set(&id->protocol, "scep"), KW_OK);
	assert_int_equal(kw_identity_set(&id->scep.challenge_file, "/etc/chal"),
	    KW_OK);
	assert_int_equal(kw_identity_save(id), KW_OK);
	kw_identity_free(id);
	assert_int_equal(kw_identity_read(p, &back), KW_OK);
	assert_string_equal(back->protocol, "scep");
	assert_string_equal(back->scep.challenge_file, "/etc/chal");
	kw_identity_keyopts(back, &o);
	assert_int_equal(o.usage, KW_USAGE_SIGN | KW_USAGE_DECRYPT);
	kw_identity_free(back);

	assert_int_equal(kw_identity_conf_new("s", &c), KW_OK);
	assert_int_equal(kw_identity_conf_set(c, "state", p, "f", 1), KW_OK);
	assert_int_equal(kw_identity_conf_set(c, "protocol", "acme", "f", 2),
	    KW_OK);
	assert_int_equal(kw_identity_open(c, &id, NULL), KW_ERR_CONFIG);
	assert_int_equal(kw_identity_conf_set(c, "protocol", "scep", "f", 3),
	    KW_OK);
	assert_int_equal(kw_identity_open(c, &id, NULL), KW_OK);
	kw_identity_free(id);
	kw_identity_conf_free(c);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_abspath),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_recover_intent),
		cmocka_unit_test(test_recover_copy),
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_acme_state),
		cmocka_unit_test(test_scep_state),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
