#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"

void
kw_freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

void
kw_free_secret(char *s)
{
	if (s != NULL)
		kw_freezero(s, strlen(s));
}

int
kw_memeq_ct(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	size_t i;

	for (i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int
kw_file_read(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1, r;
	struct stat st;

	*out = NULL;
	*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = errno == ENOENT ? KW_ERR_NOT_FOUND :
		    errno == EACCES ? KW_ERR_PERM : KW_ERR_IO;
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = KW_ERR_IO;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		r = KW_ERR_SPACE;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (len != (size_t)st.st_size) {
		r = KW_ERR_IO;
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	r = KW_OK;
out:
	if (buf != NULL)
		kw_freezero(buf, (size_t)st.st_size + 1);
	if (fd >= 0)
		close(fd);
	return r;
}

static int
kw_write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return KW_ERR_IO;
		p += n;
		len -= (size_t)n;
	}
	return KW_OK;
}

int
kw_file_write_atomic(const char *path, const void *data, size_t len,
    unsigned int mode, int excl)
{
	char *tmp = NULL, *dcopy = NULL;
	int fd = -1, dfd = -1, r;
	size_t plen = strlen(path);

	if ((tmp = malloc(plen + 16)) == NULL || (dcopy = strdup(path)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		r = errno == EACCES ? KW_ERR_PERM : KW_ERR_IO;
		kw_err("cannot create a file next to %s: %s", path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, (mode_t)mode) != 0 ||
	    (r = kw_write_all(fd, data, len)) != KW_OK || fsync(fd) != 0) {
		/* the file itself is untouched: name it, not the temporary */
		kw_err("cannot write %s: %s (left as it was)", path,
		    strerror(errno));
		r = KW_ERR_IO;
		goto out;
	}
	close(fd);
	fd = -1;
	if (excl) {
		/* link(2) fails if path exists: no window for a race. */
		if (link(tmp, path) != 0) {
			r = errno == EEXIST ? KW_ERR_EXISTS : KW_ERR_IO;
			if (r != KW_ERR_EXISTS)
				kw_err("cannot create %s: %s", path, strerror(errno));
			goto out;
		}
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		kw_err("cannot replace %s: %s", path, strerror(errno));
		r = KW_ERR_IO;
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if ((dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
		(void)fsync(dfd);
	r = KW_OK;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(dcopy);
	return r;
}

int
kw_text_line(const char *text, size_t len, size_t *pos, size_t max,
    char *str, size_t cap, char **t)
{
	const char *s = text + *pos, *nl;
	size_t n, take;
	char *b, *e;

	*t = NULL;
	nl = memchr(s, '\n', len - *pos);
	n = nl ? (size_t)(nl - s) : len - *pos;
	*pos += n + (nl ? 1 : 0);
	take = n;
	if (take > 0 && s[take - 1] == '\r')
		take--;
	if (memchr(s, '\0', take) != NULL)
		return KW_ERR_PARSE;
	if (take > max || take + 2 > cap)
		return KW_ERR_SPACE;
	memcpy(str, s, take);
	str[take] = '\0';
	for (b = str; isspace((unsigned char)*b); b++)
		;
	for (e = b + strlen(b); e > b && isspace((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	*t = b;
	return KW_OK;
}
