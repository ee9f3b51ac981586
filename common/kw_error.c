#include <stddef.h>

#include "kw_error.h"

static const struct {
	int code;
	const char *text;
} kw_errors[] = {
	{ KW_OK, "success" },
	{ KW_ERR_NOMEM, "out of memory" },
	{ KW_ERR_ARG, "invalid argument" },
	{ KW_ERR_UNSUPPORTED, "operation not supported by this key or token" },
	{ KW_ERR_IO, "input/output error" },
	{ KW_ERR_PARSE, "malformed input" },
	{ KW_ERR_EXISTS, "already exists (refusing to overwrite)" },
	{ KW_ERR_NOT_FOUND, "not found" },
	{ KW_ERR_TPM, "TPM operation failed" },
	{ KW_ERR_WRONG_TPM, "key belongs to a different TPM" },
	{ KW_ERR_PKCS11, "PKCS#11 operation failed" },
	{ KW_ERR_TOKEN_ABSENT, "token not present" },
	{ KW_ERR_PIN_INCORRECT, "PIN incorrect" },
	{ KW_ERR_PIN_LOCKED, "PIN locked" },
	{ KW_ERR_PIN_REQUIRED, "PIN required but no PIN source available" },
	{ KW_ERR_KEY_EXPORTABLE, "private key is exportable" },
	{ KW_ERR_TLS, "TLS library error" },
	{ KW_ERR_HANDSHAKE, "TLS handshake failed" },
	{ KW_ERR_PEER_VERIFY, "peer certificate verification failed" },
	{ KW_ERR_NETWORK, "network error" },
	{ KW_ERR_TIMEOUT, "timed out" },
	{ KW_ERR_CONFIG, "invalid configuration" },
	{ KW_ERR_CERT, "certificate malformed or unusable" },
	{ KW_ERR_PROTOCOL, "unexpected response from peer" },
	{ KW_ERR_AUTH, "authentication refused by peer" },
	{ KW_ERR_PENDING, "request pending approval" },
	{ KW_ERR_KEY_MISMATCH, "certificate does not match the key" },
	{ KW_ERR_CRYPTO, "cryptographic operation failed" },
	{ KW_ERR_SPACE, "buffer too small" },
	{ KW_ERR_PSS_SALT, "token's RSA-PSS salt length is not accepted by TLS 1.3" },
	{ KW_ERR_PIN_LOW, "PIN retry counter low" },
	{ KW_ERR_STATE, "operation not valid in this state" },
	{ KW_ERR_PERM, "permission denied" },
	{ KW_ERR_CANCELLED, "cancelled (shutdown or reload)" },
	{ KW_ERR_BUSY, "limit reached, try again later" },
	{ KW_ERR_UNSAFE_FILE, "file is readable by others or owned by another user" },
	{ KW_ERR_PIN_FAILED_BEFORE, "this PIN failed before and is not sent again" },
	{ KW_ERR_ATTEST, "attestation evidence refused" },
};

const char *
kw_strerror(int err)
{
	size_t i;

	for (i = 0; i < sizeof(kw_errors) / sizeof(kw_errors[0]); i++)
		if (kw_errors[i].code == err)
			return kw_errors[i].text;
	return "unknown error";
}

int
kw_exit_code(int err)
{
	switch (err) {
	case KW_OK:
		return KW_EXIT_OK;
	case KW_ERR_ARG:
	case KW_ERR_CONFIG:
		return KW_EXIT_USAGE;
	case KW_ERR_EXISTS:
	case KW_ERR_NOT_FOUND:
	case KW_ERR_TPM:
	case KW_ERR_WRONG_TPM:
	case KW_ERR_PKCS11:
	case KW_ERR_TOKEN_ABSENT:
	case KW_ERR_PIN_INCORRECT:
	case KW_ERR_PIN_LOCKED:
	case KW_ERR_PIN_REQUIRED:
	case KW_ERR_PIN_LOW:
	case KW_ERR_PIN_FAILED_BEFORE:
	case KW_ERR_UNSAFE_FILE:
	case KW_ERR_KEY_EXPORTABLE:
	case KW_ERR_KEY_MISMATCH:
	case KW_ERR_PSS_SALT:
		return KW_EXIT_KEY;
	case KW_ERR_HANDSHAKE:
	case KW_ERR_PEER_VERIFY:
	case KW_ERR_NETWORK:
	case KW_ERR_TIMEOUT:
	case KW_ERR_PROTOCOL:
	case KW_ERR_AUTH:
		return KW_EXIT_PEER;
	case KW_ERR_PENDING:
		return KW_EXIT_PENDING;
	default:
		return KW_EXIT_FAIL;
	}
}
