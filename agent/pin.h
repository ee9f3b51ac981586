/* PIN entry for PKCS#11 tokens when the URI has no pin-source: a no-echo
 * prompt on the controlling TTY, or systemd-ask-password for a service.
 * Never argv, never logged. */
#ifndef KW_PIN_H
#define KW_PIN_H

/* p11_pin_fn: returns a fresh secret (free with kw_free_secret) or NULL
 * with *err = KW_ERR_PIN_REQUIRED when no source is available. */
char *kw_pin_ask(void *arg, const char *prompt, int *err);

#endif
