/* The daemon's config parser (agent/config.c): a good file parses into the
 * expected settings; every file in tests/tunnel/bad-configs/ is refused
 * with the "file:line: message" its first line announces
 * ("# expect: LINE: TEXT"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "agent/conf/config.h"

/* Run fn with stderr captured into buf. */
static int
parse_captured(const char *text, size_t len, const char *file,
    struct kw_config **out, char *buf, size_t buflen)
{
	char path[] = "/tmp/kw-test-config.XXXXXX";
	int fd, saved, r;
	ssize_t n;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	r = kw_config_parse(text, len, file, out);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, buflen - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return r;
}

/* want is "FILE:LINE: TEXT": some line of log has FILE:LINE: and TEXT. */
static int
log_has(const char *log, const char *want)
{
	const char *text = strstr(want, ": ") + 2, *l, *nl, *hit;
	size_t plen = (size_t)(text - want);

	for (l = log; *l != '\0'; l = nl + 1) {
		if ((nl = strchr(l, '\n')) == NULL)
			nl = l + strlen(l);
		hit = strstr(l, want);
		if (hit == NULL || hit > nl) {
			hit = memmem(l, (size_t)(nl - l), want, plen);
			if (hit != NULL && memmem(hit, (size_t)(nl - hit), text,
			    strlen(text)) != NULL)
				return 1;
		} else
			return 1;
		if (*nl == '\0')
			break;
	}
	return 0;
}

static const char good[] =
"# a comment\n"
"[global]\n"
"control-socket = /run/kw/control\n"
"metrics = 127.0.0.1:9555\n"
"log-level = debug\n"
"tcti = swtpm:host=127.0.0.1,port=2321\n"
"\n"
"[identity laptop]\n"
"state = /var/lib/keyward/laptop.state\n"
"\n"
"[tunnel web]\n"
"mode = client\n"
"listen = 127.0.0.1:8080\n"
"target = service.example.com:443\n"
"servername = service.example.com\n"
"identity = laptop\n"
"ca = /etc/keyward/ca.pem ; inline comment\n"
"tls-min = 1.3\n"
"idle-timeout = 60\n"
"connect-timeout = 3\n"
"\n"
"[tunnel api]\r\n"
"mode = server\n"
"listen = [::1]:8443\n"
"target = unix:/run/app.sock\n"
"key = pkcs11:token=a;object=b\n"
"cert = /etc/keyward/api.pem\n"
"ca = /etc/keyward/ca.pem\n"
"crl = /etc/keyward/ca.crl\n"
"crl-check = soft\n"
"allow-san-uri = spiffe://example.org/laptop\n"
"allow-san-uri = spiffe://example.org/ci\n"
"allow-cn = alice\n"
"max-connections = 100\n"
"handshake-threads = auto\n";

static void
test_good(void **state)
{
	struct kw_config *c = NULL;
	struct kw_tunnel_conf *t;
	char log[4096];

	(void)state;
	assert_int_equal(parse_captured(good, sizeof(good) - 1, "good.conf",
	    &c, log, sizeof(log)), KW_OK);
	assert_string_equal(log, "");
	assert_string_equal(c->control_socket, "/run/kw/control");
	assert_true(c->has_metrics);
	assert_string_equal(c->metrics.host, "127.0.0.1");
	assert_string_equal(c->metrics.port, "9555");
	assert_int_equal(c->log_level, KW_LOG_DEBUG);
	assert_int_equal(c->workers, 1);	/* the default */
	assert_int_equal(c->nids, 1);
	assert_int_equal(c->ntunnels, 2);
	t = c->tunnels[0];
	assert_string_equal(t->name, "web");
	assert_int_equal(t->line, 11);
	assert_int_equal(t->mode, KW_TUNNEL_CLIENT);
	assert_string_equal(t->target.host, "service.example.com");
	assert_string_equal(t->target.port, "443");
	assert_string_equal(t->identity, "laptop");
	assert_string_equal(t->ca, "/etc/keyward/ca.pem");
	assert_int_equal(t->tls_min, 13);
	assert_int_equal(t->idle_timeout_s, 60);
	assert_int_equal(t->connect_timeout_ms, 3000);
	assert_int_equal(t->crl_hard_fail, 1);
	assert_int_equal(t->resume, 1);
	t = c->tunnels[1];
	assert_string_equal(t->name, "api");
	assert_int_equal(t->mode, KW_TUNNEL_SERVER);
	assert_string_equal(t->listen.host, "::1");
	assert_true(t->target.is_unix);
	assert_string_equal(t->target.path, "/run/app.sock");
	assert_string_equal(t->key, "pkcs11:token=a;object=b");
	assert_int_equal(t->crl_hard_fail, 0);
	assert_int_equal(t->allow_san_uri.n, 2);
	assert_string_equal(t->allow_san_uri.v[1], "spiffe://example.org/ci");
	assert_int_equal(t->allow_cn.n, 1);
	assert_int_equal(t->max_conns, 100);
	assert_int_equal(t->handshake_threads, KW_HS_AUTO);
	assert_int_equal(c->tunnels[0]->handshake_threads, KW_DEF_HS_THREADS);
	kw_config_free(c);
}

static void
test_bad_corpus(void **state)
{
	const char *src = getenv("KW_SRCDIR");
	char dir[1024], path[1400], log[8192], want[512], *nl;
	struct kw_config *c;
	struct dirent *de;
	uint8_t *buf;
	size_t len;
	int line, n = 0;
	DIR *d;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/tunnel/bad-configs",
	    src ? src : ".");
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(kw_file_read(path, 1 << 20, &buf, &len),
		    KW_OK);
		assert_true(sscanf((char *)buf, "# expect: %d:", &line) == 1);
		nl = strchr((char *)buf, '\n');
		assert_non_null(nl);
		*nl = '\0';
		snprintf(want, sizeof(want), "%s:%d: %s", de->d_name, line,
		    strchr(strchr((char *)buf, ':') + 1, ':') + 2);
		*nl = '\n';
		c = NULL;
		if (parse_captured((char *)buf, len, de->d_name, &c, log,
		    sizeof(log)) != KW_ERR_CONFIG || !log_has(log, want))
			fail_msg("%s: want '%s' in:\n%s", de->d_name, want,
			    log);
		assert_null(c);
		free(buf);
		n++;
	}
	closedir(d);
	assert_true(n >= 20);
}

static void
test_addr(void **state)
{
	struct kw_addr a;

	(void)state;
	assert_int_equal(kw_addr_parse("127.0.0.1:80", &a), KW_OK);
	assert_false(a.is_unix);
	assert_int_equal(kw_addr_parse("[::1]:443", &a), KW_OK);
	assert_string_equal(a.host, "::1");
	assert_int_equal(kw_addr_parse("unix:/run/x.sock", &a), KW_OK);
	assert_true(a.is_unix);
	assert_string_equal(a.path, "/run/x.sock");
	assert_int_equal(kw_addr_parse("unix:relative", &a), KW_ERR_PARSE);
	assert_int_equal(kw_addr_parse("::1:443", &a), KW_ERR_PARSE);
	assert_int_equal(kw_addr_parse("host:", &a), KW_ERR_PARSE);
	assert_int_equal(kw_addr_parse(":80", &a), KW_ERR_PARSE);
	assert_int_equal(kw_addr_parse("host:0", &a), KW_ERR_PARSE);
	assert_int_equal(kw_addr_parse("host:65536", &a), KW_ERR_PARSE);
	assert_int_equal(kw_addr_parse("ho st:80", &a), KW_ERR_PARSE);
}

/* Long lines, NUL bytes and many errors do not crash and are reported. */
static void
test_hostile(void **state)
{
	struct kw_config *c = NULL;
	char *big, log[8192];
	size_t i;

	(void)state;
	big = malloc(20000);
	assert_non_null(big);
	memcpy(big, "[tunnel a]\nkey = ", 17);
	memset(big + 17, 'x', 9000);
	memcpy(big + 9017, "\nca\0= x\n", 8);
	assert_int_equal(parse_captured(big, 9025, "big.conf", &c, log,
	    sizeof(log)), KW_ERR_CONFIG);
	assert_non_null(strstr(log, "big.conf:2: line too long"));
	assert_non_null(strstr(log, "big.conf:3: NUL byte"));
	for (i = 0; i + 6 < 20000; i += 6)
		memcpy(big + i, "[x]\nx\n", 6);
	assert_int_equal(parse_captured(big, i, "many.conf", &c, log,
	    sizeof(log)), KW_ERR_CONFIG);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad_corpus),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_hostile),
	};

	kw_log_setup(KW_LOG_INFO, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
