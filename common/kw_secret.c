/* Secret files, URI redaction and the memory of refused secrets (see
 * kw_secret.h). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_hex.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_secret.h"

#define KW_SECRET_FILE_MAX	4096
#define KW_FAILMEM_MAX		16	/* refused secrets kept per subject */
#define KW_FAILMEM_KEY		"secret-memory.key"

/* Is the open file fd safe to hold a secret?  Logs why not. */
static int
kw_secret_file_safe(int fd, const char *path, const char *what)
{
	struct stat st;
	struct passwd *pw;
	uid_t me = geteuid();

	if (fstat(fd, &st) != 0) {
		kw_err("cannot read %s %s: %s", what, path, strerror(errno));
		return KW_ERR_IO;
	}
	if (!S_ISREG(st.st_mode)) {
		kw_err("%s %s is not a regular file", what, path);
		return KW_ERR_IO;
	}
	if (st.st_uid != me && st.st_uid != 0) {
		pw = getpwuid(me);
		kw_err("%s %s belongs to uid %lu, not to the user keyward runs "
		    "as (uid %lu): another user could change it; refusing it "
		    "(fix: chown %s %s, or give keyward its own copy)", what,
		    path, (unsigned long)st.st_uid, (unsigned long)me,
		    pw != NULL ? pw->pw_name : "USER", path);
		return KW_ERR_UNSAFE_FILE;
	}
	if ((st.st_mode & 077) != 0) {
		kw_err("%s %s is accessible by %s (mode %04o): refusing to use "
		    "a secret others can read (fix: chmod 600 %s)", what, path,
		    (st.st_mode & 007) ? "every user" : "its group",
		    (unsigned)(st.st_mode & 07777), path);
		return KW_ERR_UNSAFE_FILE;
	}
	return KW_OK;
}

int
kw_secret_file_read(const char *path, const char *what, char **out)
{
	char buf[KW_SECRET_FILE_MAX + 1];
	size_t len = 0, n;
	ssize_t got;
	int fd = -1, r;

	*out = NULL;
	if (what == NULL)
		what = "secret file";
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		r = errno == ENOENT ? KW_ERR_NOT_FOUND :
		    errno == EACCES ? KW_ERR_PERM : KW_ERR_IO;
		kw_err("cannot read %s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if ((r = kw_secret_file_safe(fd, path, what)) != KW_OK)
		goto out;
	for (;;) {
		got = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			kw_err("cannot read %s %s: %s", what, path,
			    strerror(errno));
			r = KW_ERR_IO;
			goto out;
		}
		if (got == 0 || (len += (size_t)got) == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	n = strcspn(buf, "\r\n");
	if (n == 0 || n > 255 || len == sizeof(buf) - 1) {
		kw_err("%s %s: the first line must hold 1 to 255 bytes (and "
		    "the file at most %d)", what, path, KW_SECRET_FILE_MAX - 1);
		r = KW_ERR_PARSE;
		goto out;
	}
	if ((*out = strndup(buf, n)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	r = KW_OK;
out:
	explicit_bzero(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return r;
}

int
kw_secret_from_file(const char *path, char **out)
{
	return kw_secret_file_read(path, "secret file", out);
}

/* ---- refused-secret memory ---- */

int
kw_secret_hmac(const uint8_t *key, size_t key_len, const void *a,
    size_t a_len, const void *b, size_t b_len,
    uint8_t out[KW_SECRET_DIGEST_LEN])
{
	static const uint8_t zero = 0;
	Hmac h;
	int r = KW_ERR_CRYPTO;

	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return KW_ERR_CRYPTO;
	if (wc_HmacSetKey(&h, WC_SHA256, key, (word32)key_len) == 0 &&
	    wc_HmacUpdate(&h, a, (word32)a_len) == 0 &&
	    wc_HmacUpdate(&h, &zero, 1) == 0 &&
	    wc_HmacUpdate(&h, b, (word32)b_len) == 0 &&
	    wc_HmacFinal(&h, out) == 0)
		r = KW_OK;
	wc_HmacFree(&h);
	explicit_bzero(&h, sizeof(h));
	return r;
}

/* mkdir -p with mode 0700 for what is created. */
static int
kw_mkdirs(const char *dir)
{
	char tmp[4096], *p;

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return KW_ERR_SPACE;
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return KW_ERR_IO;
		*p = '/';
	}
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
		return KW_ERR_IO;
	return KW_OK;
}

static int
kw_failmem_path(const char *dir, const char *subject, char *out, size_t len)
{
	char name[80];
	size_t i;
	int k;

	for (i = 0; subject[i] != '\0' && i < sizeof(name) - 1; i++)
		name[i] = (isalnum((unsigned char)subject[i]) ||
		    strchr("._-", subject[i]) != NULL) ? subject[i] : '_';
	name[i] = '\0';
	k = snprintf(out, len, "%s/failed-%s", dir, name);
	return k < 0 || (size_t)k >= len ? KW_ERR_SPACE : KW_OK;
}

/* The per-machine key; created (32 random bytes, hex, 0600) when create
 * is set and it does not exist. */
static int
kw_failmem_key(const char *dir, int create, uint8_t key[32])
{
	char path[4200], hex[65], *s = NULL;
	uint8_t fresh[32];
	size_t n;
	int r;

	if (snprintf(path, sizeof(path), "%s/%s", dir, KW_FAILMEM_KEY) >=
	    (int)sizeof(path))
		return KW_ERR_SPACE;
	if (access(path, F_OK) != 0 && create) {
		if ((r = kw_mkdirs(dir)) != KW_OK) {
			kw_warn("cannot create %s: %s", dir, strerror(errno));
			return r;
		}
		if (getrandom(fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh))
			return KW_ERR_CRYPTO;
		kw_hex_encode(fresh, sizeof(fresh), hex);
		explicit_bzero(fresh, sizeof(fresh));
		r = kw_file_write_atomic(path, hex, 64, 0600, 1);
		explicit_bzero(hex, sizeof(hex));
		if (r != KW_OK && r != KW_ERR_EXISTS)	/* EXISTS: raced */
			return r;
	}
	if ((r = kw_secret_file_read(path, "key file", &s)) != KW_OK)
		return r;
	if ((r = kw_hex_decode(s, key, 32, &n)) == KW_OK && n != 32)
		r = KW_ERR_PARSE;
	if (r != KW_OK)
		kw_err("%s is not 64 hex digits: delete it (keyward makes a "
		    "new one)", path);
	kw_free_secret(s);
	return r;
}

static int
kw_failmem_digest(const char *dir, int create, const char *bind,
    const char *secret, char hex[2 * KW_SECRET_DIGEST_LEN + 1])
{
	uint8_t key[32], d[KW_SECRET_DIGEST_LEN];
	int r;

	if ((r = kw_failmem_key(dir, create, key)) == KW_OK &&
	    (r = kw_secret_hmac(key, sizeof(key), bind, strlen(bind), secret,
	    strlen(secret), d)) == KW_OK)
		kw_hex_encode(d, sizeof(d), hex);
	explicit_bzero(key, sizeof(key));
	explicit_bzero(d, sizeof(d));
	return r;
}

/* The record's lines (hex digests), NUL-separated in *buf. */
static int
kw_failmem_load(const char *path, uint8_t **buf, size_t *len)
{
	int r;

	if ((r = kw_file_read(path, 4096, buf, len)) == KW_ERR_NOT_FOUND)
		return KW_OK;
	return r;
}

int
kw_failmem_seen(const char *dir, const char *subject, const char *bind,
    const char *secret, int *seen, char *file, size_t file_len)
{
	char path[4200], hex[2 * KW_SECRET_DIGEST_LEN + 1];
	uint8_t *buf = NULL;
	size_t len = 0;
	char *line, *save = NULL;
	int r;

	*seen = 0;
	if (file != NULL && file_len > 0)
		file[0] = '\0';
	if (dir == NULL)
		return KW_OK;
	if ((r = kw_failmem_path(dir, subject, path, sizeof(path))) != KW_OK ||
	    (r = kw_failmem_load(path, &buf, &len)) != KW_OK || buf == NULL)
		goto out;
	if (file != NULL)
		snprintf(file, file_len, "%s", path);
	if ((r = kw_failmem_digest(dir, 0, bind, secret, hex)) != KW_OK)
		goto out;
	for (line = strtok_r((char *)buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (strlen(line) == strlen(hex) &&
		    kw_memeq_ct(line, hex, strlen(hex)))
			*seen = 1;
out:
	free(buf);
	explicit_bzero(hex, sizeof(hex));
	return r;
}

int
kw_failmem_add(const char *dir, const char *subject, const char *bind,
    const char *secret)
{
	char path[4200], hex[2 * KW_SECRET_DIGEST_LEN + 1];
	char out[(KW_FAILMEM_MAX + 1) * (sizeof(hex) + 1)];
	uint8_t *buf = NULL;
	size_t len = 0, used = 0, lines = 0, skip = 0;
	char *p, *nl;
	int r;

	if (dir == NULL)
		return KW_ERR_ARG;
	if ((r = kw_failmem_path(dir, subject, path, sizeof(path))) != KW_OK ||
	    (r = kw_failmem_digest(dir, 1, bind, secret, hex)) != KW_OK ||
	    (r = kw_failmem_load(path, &buf, &len)) != KW_OK)
		goto out;
	/* keep the newest KW_FAILMEM_MAX - 1 old ones, then the new one */
	for (p = (char *)buf; buf != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		lines++;
	}
	if (lines >= KW_FAILMEM_MAX)
		skip = lines - (KW_FAILMEM_MAX - 1);
	for (p = (char *)buf; buf != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		if (skip > 0) {
			skip--;
			continue;
		}
		if ((size_t)(nl - p) != strlen(hex) ||
		    used + strlen(hex) + 1 >= sizeof(out))
			continue;
		memcpy(out + used, p, strlen(hex) + 1);
		used += strlen(hex) + 1;
	}
	memcpy(out + used, hex, strlen(hex));
	used += strlen(hex);
	out[used++] = '\n';
	r = kw_file_write_atomic(path, out, used, 0600, 0);
out:
	if (r != KW_OK)
		kw_warn("cannot remember the refused secret in %s (%s): "
		    "keyward only avoids it until it exits", dir,
		    kw_strerror(r));
	free(buf);
	explicit_bzero(hex, sizeof(hex));
	return r;
}
