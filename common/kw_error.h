/* keyward: one error enum for every module.
 *
 * 0 is success, failures are negative.  Values are only ever appended, never
 * renumbered.  Each foreign code family (TSS2_RC, CK_RV, wolfSSL) has exactly
 * one translator, in the module that speaks it, which logs the raw value and
 * returns one of these. */
#ifndef KW_ERROR_H
#define KW_ERROR_H

enum kw_err {
	KW_OK = 0,
	KW_ERR_NOMEM = -1,		/* out of memory */
	KW_ERR_ARG = -2,		/* invalid argument (a bug or bad usage) */
	KW_ERR_UNSUPPORTED = -3,	/* the backend or token cannot do this */
	KW_ERR_IO = -4,			/* file or socket I/O failed */
	KW_ERR_PARSE = -5,		/* malformed input: config, PEM, DER, URI */
	KW_ERR_EXISTS = -6,		/* refusing to overwrite a key or file */
	KW_ERR_NOT_FOUND = -7,		/* key, object, file or token not found */
	KW_ERR_TPM = -8,		/* the TPM refused or failed */
	KW_ERR_WRONG_TPM = -9,		/* key file belongs to another TPM */
	KW_ERR_PKCS11 = -10,		/* the PKCS#11 module refused or failed */
	KW_ERR_TOKEN_ABSENT = -11,	/* token or card not present */
	KW_ERR_PIN_INCORRECT = -12,	/* wrong PIN: never retried */
	KW_ERR_PIN_LOCKED = -13,	/* PIN locked: needs the SO / IT */
	KW_ERR_PIN_REQUIRED = -14,	/* no PIN source available */
	KW_ERR_KEY_EXPORTABLE = -15,	/* key is extractable or not sensitive */
	KW_ERR_TLS = -16,		/* TLS library failure */
	KW_ERR_HANDSHAKE = -17,		/* TLS handshake failed */
	KW_ERR_PEER_VERIFY = -18,	/* peer certificate or name rejected */
	KW_ERR_NETWORK = -19,		/* connect/listen/resolve failed */
	KW_ERR_TIMEOUT = -20,		/* operation timed out */
	KW_ERR_CONFIG = -21,		/* configuration is invalid */
	KW_ERR_CERT = -22,		/* certificate malformed or unusable */
	KW_ERR_PROTOCOL = -23,		/* peer (CA, server) answered badly */
	KW_ERR_AUTH = -24,		/* peer refused our credentials */
	KW_ERR_PENDING = -25,		/* enrollment awaits approval */
	KW_ERR_KEY_MISMATCH = -26,	/* certificate is for another key */
	KW_ERR_CRYPTO = -27,		/* local crypto operation failed */
	KW_ERR_SPACE = -28,		/* output buffer too small */
	KW_ERR_PSS_SALT = -29,		/* token's PSS salt unfit for TLS 1.3 */
	KW_ERR_PIN_LOW = -30,		/* PIN tries low: refused to risk one */
	KW_ERR_STATE = -31,		/* wrong state for this operation */
	KW_ERR_PERM = -32,		/* permission denied */
	KW_ERR_CANCELLED = -33,		/* stopped: shutdown or reload asked */
	KW_ERR_BUSY = -34,		/* a limit was reached: try later */
	KW_ERR_UNSAFE_FILE = -35,	/* secret file readable by others */
	KW_ERR_PIN_FAILED_BEFORE = -36,	/* this PIN failed once: not resent */
	KW_ERR_ATTEST = -37,		/* attestation evidence refused */
};

/* A short, static description of an error code. */
const char *kw_strerror(int err);

/* Process exit code for an error, as documented in `keyward --help`. */
int kw_exit_code(int err);

/* Exit codes. */
#define KW_EXIT_OK	0	/* success */
#define KW_EXIT_FAIL	1	/* operation failed */
#define KW_EXIT_USAGE	2	/* bad command line or configuration */
#define KW_EXIT_KEY	3	/* key, token or PIN problem */
#define KW_EXIT_PEER	4	/* network, TLS or peer verification failure */
#define KW_EXIT_PENDING	5	/* enrollment pending approval at the CA */

#endif
