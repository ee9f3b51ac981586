/* PIN entry for PKCS#11 tokens when the URI has no pin-source: a no-echo
 * prompt on the controlling TTY, or systemd-ask-password for a service.
 * Never argv, never logged. */
#ifndef KW_PIN_H
#define KW_PIN_H

/* What kw_pin_ask's arg points to (NULL: defaults). */
struct kw_pin_opts {
	int ask_password;	/* always use systemd-ask-password */
};

/* p11_pin_fn: returns a fresh secret (free with kw_free_secret) or NULL
 * with *err = KW_ERR_PIN_REQUIRED when no source is available.  arg is a
 * struct kw_pin_opts * or NULL.  On a terminal (stdin a TTY) it prompts on
 * /dev/tty with echo off; as a service (NOTIFY_SOCKET or INVOCATION_ID set,
 * or ask_password) it runs systemd-ask-password. */
char *kw_pin_ask(void *arg, const char *prompt, int *err);

#endif
