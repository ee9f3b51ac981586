/* PIN entry for PKCS#11 tokens when the key URI has no pin-source:
 *  - on a terminal (stdin is a TTY): a no-echo prompt on /dev/tty;
 *  - as a service (NOTIFY_SOCKET or INVOCATION_ID set, or asked for):
 *    systemd-ask-password, whose answer comes back on a pipe;
 *  - otherwise no PIN: KW_ERR_PIN_REQUIRED.
 * The PIN is never on argv, never logged, and every buffer that held it is
 * wiped (explicit_bzero) on every path. */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "agent/keys/pin.h"

#define KW_PIN_MAX	256

/* Read one line (without its newline) from fd into buf. */
static int
kw_pin_read_line(int fd, char *buf, size_t len, size_t *n)
{
	ssize_t k;
	char c;

	*n = 0;
	for (;;) {
		k = read(fd, &c, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return *n > 0 ? KW_OK : KW_ERR_PIN_REQUIRED;
		if (c == '\n' || c == '\r')
			return KW_OK;
		if (*n + 1 >= len)
			return KW_ERR_PARSE;
		buf[(*n)++] = c;
	}
}

static char *
kw_pin_tty(const char *prompt, int *err)
{
	struct termios old, noecho;
	char buf[KW_PIN_MAX], *pin = NULL;
	size_t n = 0;
	int fd, restore = 0, r;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0) {
		*err = KW_ERR_PIN_REQUIRED;
		return NULL;
	}
	if (tcgetattr(fd, &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		noecho.c_lflag |= ICANON;
		if (tcsetattr(fd, TCSAFLUSH, &noecho) == 0)
			restore = 1;
	}
	if (!restore) {
		/* never read a PIN with echo on */
		kw_err("cannot turn off echo on the terminal: not reading "
		    "the PIN there");
		r = KW_ERR_PIN_REQUIRED;
		goto out;
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	r = kw_pin_read_line(fd, buf, sizeof(buf), &n);
	if (write(fd, "\n", 1) < 0)
		kw_debug("cannot end the PIN prompt line");
	if (r == KW_ERR_PARSE)
		kw_err("the PIN is too long (at most %d bytes)", KW_PIN_MAX - 1);
	if (r == KW_OK && n == 0)
		r = KW_ERR_PIN_REQUIRED;
	if (r == KW_OK && (pin = strndup(buf, n)) == NULL)
		r = KW_ERR_NOMEM;
out:
	if (restore)
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	close(fd);
	explicit_bzero(buf, sizeof(buf));
	*err = r;
	return pin;
}

/* systemd-ask-password PROMPT: the answer arrives on its stdout (a pipe),
 * so the PIN is in no argv and no environment. */
static char *
kw_pin_ask_password(const char *prompt, int *err)
{
	char buf[KW_PIN_MAX], *pin = NULL;
	int fds[2] = { -1, -1 }, status = 0, r;
	size_t n = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		*err = KW_ERR_IO;
		return NULL;
	}
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(fds[1], 1);
		execlp("systemd-ask-password", "systemd-ask-password",
		    "--id=keyward", "--timeout=120", prompt, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	fds[1] = -1;
	if (pid < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	r = kw_pin_read_line(fds[0], buf, sizeof(buf), &n);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		kw_err("systemd-ask-password gave no PIN (exit %d)",
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		r = KW_ERR_PIN_REQUIRED;
		goto out;
	}
	if (r == KW_OK && n == 0)
		r = KW_ERR_PIN_REQUIRED;
	if (r == KW_OK && (pin = strndup(buf, n)) == NULL)
		r = KW_ERR_NOMEM;
out:
	if (fds[0] >= 0)
		close(fds[0]);
	explicit_bzero(buf, sizeof(buf));
	*err = r;
	return pin;
}

static int
kw_pin_is_service(const struct kw_pin_opts *o)
{
	const char *a = getenv("NOTIFY_SOCKET"), *b = getenv("INVOCATION_ID");

	return (o != NULL && o->ask_password) || (a != NULL && *a != '\0') ||
	    (b != NULL && *b != '\0');
}

char *
kw_pin_ask(void *arg, const char *prompt, int *err)
{
	const struct kw_pin_opts *o = arg;

	*err = KW_ERR_PIN_REQUIRED;
	if (isatty(0) && !(o != NULL && o->ask_password))
		return kw_pin_tty(prompt, err);
	if (kw_pin_is_service(o))
		return kw_pin_ask_password(prompt, err);
	return NULL;
}
