/* Unit tests for common/kw_secret.c: secret files refused when others can
 * read them or another user owns them, URI and log-line redaction, the
 * memory of refused secrets (keyed digests, never the secret). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_mem.h"
#include "kw_secret.h"

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
test_secret_file_modes(void **state)
{
	char dir[] = "/tmp/kwsecret.XXXXXX", path[64];
	char *s = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pin", dir);
	write_file(path, "1234\nrest\n", 0600);
	assert_int_equal(kw_secret_file_read(path, "PIN file", &s), KW_OK);
	assert_string_equal(s, "1234");
	kw_free_secret(s);
	s = NULL;
	write_file(path, "1234\n", 0400);
	assert_int_equal(kw_secret_file_read(path, "PIN file", &s), KW_OK);
	kw_free_secret(s);
	s = NULL;
	/* readable by others, by the group, writable by the group */
	write_file(path, "1234\n", 0644);
	assert_int_equal(kw_secret_file_read(path, "PIN file", &s),
	    KW_ERR_UNSAFE_FILE);
	assert_null(s);
	write_file(path, "1234\n", 0640);
	assert_int_equal(kw_secret_file_read(path, "PIN file", &s),
	    KW_ERR_UNSAFE_FILE);
	write_file(path, "1234\n", 0620);
	assert_int_equal(kw_secret_file_read(path, "PIN file", &s),
	    KW_ERR_UNSAFE_FILE);
	/* the old name has the same checks */
	assert_int_equal(kw_secret_from_file(path, &s), KW_ERR_UNSAFE_FILE);
	/* owned by another user (only root can make one) */
	if (geteuid() == 0) {
		write_file(path, "1234\n", 0600);
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(kw_secret_file_read(path, "PIN file", &s),
		    KW_ERR_UNSAFE_FILE);
		assert_null(s);
	}
	/* an empty first line is not an empty PIN */
	write_file(path, "\n1234\n", 0600);
	assert_int_equal(kw_secret_file_read(path, "PIN file", &s),
	    KW_ERR_PARSE);
	assert_int_equal(kw_secret_file_read("/nonexistent/pin", "PIN file",
	    &s), KW_ERR_NOT_FOUND);
	unlink(path);
	rmdir(dir);
}

static void
test_uri_redact(void **state)
{
	char out[256], line[256];

	(void)state;
	assert_string_equal(kw_uri_redact("pkcs11:token=a;object=b?"
	    "module-name=softhsm2&pin-value=24680&x-y=1", out, sizeof(out)),
	    "pkcs11:token=a;object=b?module-name=softhsm2&"
	    "pin-value=<redacted>&x-y=1");
	assert_string_equal(kw_uri_redact("pkcs11:object=b?pin-value=1", out,
	    sizeof(out)), "pkcs11:object=b?pin-value=<redacted>");
	assert_string_equal(kw_uri_redact("pkcs11:object=b?pin-source="
	    "file:/p", out, sizeof(out)), "pkcs11:object=b?pin-source=file:/p");
	assert_string_equal(kw_uri_redact("tpm:/k.pem", out, sizeof(out)),
	    "tpm:/k.pem");
	/* in the path (a parse error, but shown as written) */
	assert_null(strstr(kw_uri_redact("pkcs11:object=b;pin-value=2468013579",
	    out, sizeof(out)), "2468"));
	/* truncation never shows a part of the PIN */
	kw_uri_redact("pkcs11:object=b?pin-value=2468013579", out, 30);
	assert_null(strstr(out, "2468"));
	snprintf(line, sizeof(line), "cannot open key pkcs11:object=b?"
	    "pin-value=2468013579&module-path=/m.so (x)");
	kw_redact_text(line, sizeof(line));
	assert_string_equal(line, "cannot open key pkcs11:object=b?"
	    "pin-value=<redacted>&module-path=/m.so (x)");
	snprintf(line, sizeof(line), "\"key\": \"pkcs11:o=b?pin-value=12\","
	    " pin-value=9876543210");
	kw_redact_text(line, sizeof(line));
	assert_null(strstr(line, "12\""));
	assert_null(strstr(line, "9876"));
}

static void
test_failmem(void **state)
{
	char dir[] = "/tmp/kwfailmem.XXXXXX", sub[80], file[200], key[120];
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	int seen = -1, i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/state", dir);
	assert_int_equal(kw_failmem_seen(sub, "p11-1234", "b", "999999", &seen,
	    file, sizeof(file)), KW_OK);
	assert_int_equal(seen, 0);
	assert_int_equal(kw_failmem_add(sub, "p11-1234", "b", "999999"),
	    KW_OK);
	assert_int_equal(kw_failmem_seen(sub, "p11-1234", "b", "999999", &seen,
	    file, sizeof(file)), KW_OK);
	assert_int_equal(seen, 1);
	assert_non_null(strstr(file, "/state/failed-p11-1234"));
	/* another PIN, another token, another binding: not seen */
	assert_int_equal(kw_failmem_seen(sub, "p11-1234", "b", "999998", &seen,
	    NULL, 0), KW_OK);
	assert_int_equal(seen, 0);
	assert_int_equal(kw_failmem_seen(sub, "p11-9999", "b", "999999", &seen,
	    NULL, 0), KW_OK);
	assert_int_equal(seen, 0);
	assert_int_equal(kw_failmem_seen(sub, "p11-1234", "c", "999999", &seen,
	    NULL, 0), KW_OK);
	assert_int_equal(seen, 0);
	/* the record is a keyed digest: not the PIN, files 0600 */
	assert_int_equal(kw_file_read(file, 4096, &buf, &len), KW_OK);
	assert_null(strstr((char *)buf, "999999"));
	assert_int_equal(len, 65);
	free(buf);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(key, sizeof(key), "%s/secret-memory.key", sub);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* at most 16 kept, the oldest dropped, the newest still seen */
	for (i = 0; i < 20; i++) {
		char pin[16];

		snprintf(pin, sizeof(pin), "1000%02d", i);
		assert_int_equal(kw_failmem_add(sub, "p11-1234", "b", pin),
		    KW_OK);
	}
	assert_int_equal(kw_file_read(file, 4096, &buf, &len), KW_OK);
	assert_int_equal(len, 16 * 65);
	free(buf);
	assert_int_equal(kw_failmem_seen(sub, "p11-1234", "b", "100019", &seen,
	    NULL, 0), KW_OK);
	assert_int_equal(seen, 1);
	/* an unsafe key file is not used */
	assert_int_equal(chmod(key, 0644), 0);
	assert_int_not_equal(kw_failmem_seen(sub, "p11-1234", "b", "100019",
	    &seen, NULL, 0), KW_OK);
	unlink(key);
	unlink(file);
	rmdir(sub);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_file_modes),
		cmocka_unit_test(test_uri_redact),
		cmocka_unit_test(test_failmem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
