/* The signer protocol (issue 13) and the "signer" key backend.
 *
 * `keyward run` keeps its keys in a separate signer process (agent/signer/)
 * and reaches them over one socketpair.  Every message is a frame:
 *
 *   u32 length (big endian, of what follows; at most KW_SGN_MAX_FRAME)
 *   u8  op          request: KW_SGN_OP_*; reply: op | KW_SGN_REPLY
 *   i32 status      request: 0; reply: a kw_error.h code
 *   u32 handle      a key the signer opened (0: none)
 *   u32 a, b, c     per op (alg, scheme, hash, usage, purpose, flags)
 *   u16 str_len     then str_len bytes: a key reference or a text
 *                   (printable ASCII, no NUL, at most KW_SGN_MAX_STR)
 *   u16 data_len    then data_len bytes: a digest, signature, public key,
 *                   ciphertext, plaintext or certificate
 *
 * An error reply carries only its status and, in str, what the key's
 * backend said (at most KW_SGN_MAX_WHY bytes): the signer logs it at debug
 * level, the network process as its own error, so a renewal that fails
 * still says so in one line.
 *
 * The layout is the same for every op; kw_sgn_decode also checks what
 * each op may carry (sizes, enum values), so both sides refuse anything
 * else.  Nothing in a message is a path, a module or a PIN the signer
 * would use: a key reference is only looked up in the list the signer
 * made from its own configuration.
 *
 * The backend (kw_signer_open and friends) wraps a remote key in a
 * struct kw_key with ops named "signer": TLS, CSR, ACME and tunnel code
 * see no difference. */
#ifndef KW_SIGNER_H
#define KW_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "kw_key.h"

#define KW_SGN_MAX_FRAME	20000
#define KW_SGN_MAX_STR		4096
#define KW_SGN_MAX_DATA		12000	/* a certificate on a token */
#define KW_SGN_HDR		21	/* op, status, handle, a, b, c */
#define KW_SGN_REPLY		0x80u
#define KW_SGN_MAX_WHY		512	/* an error reply's message */

enum kw_sgn_op {
	KW_SGN_OP_LIST = 1,	/* a = index -> str = reference (NOT_FOUND: end) */
	KW_SGN_OP_OPEN,		/* str = ref -> handle, a = alg, b = scheme
				 * mask, c = flags, str = describe, data = SPKI */
	KW_SGN_OP_PUBKEY,	/* handle -> data = SPKI */
	KW_SGN_OP_DESCRIBE,	/* handle -> str */
	KW_SGN_OP_SIGN,		/* handle, a = scheme, b = hash, c = purpose,
				 * str = who (tunnel, peer), data = digest
				 * -> data = signature */
	KW_SGN_OP_DECRYPT,	/* handle, data = ciphertext -> data = plain */
	KW_SGN_OP_PRESENT,	/* handle -> status */
	KW_SGN_OP_GENERATE,	/* str = ref, a = alg, b = usage -> as OPEN */
	KW_SGN_OP_EXISTS,	/* str = ref -> a = 0/1 */
	KW_SGN_OP_DELETE,	/* str = ref -> status */
	KW_SGN_OP_STORE_CERT,	/* str = ref, data = DER -> status */
	KW_SGN_OP_CERT_LOAD,	/* str = ref -> data = DER */
	/* posture (issue 12), with the AK the signer's configuration gives
	 * the key (`ak =` of its tunnel or identity); a = TPM commands sent */
	KW_SGN_OP_POSTURE_EV,	/* handle, data = qualifying data (32) ->
				 * data = CBOR evidence without event log */
	KW_SGN_OP_POSTURE_ACT,	/* handle, a = blob length, data = blob ||
				 * secret (TPM2Bs) -> data = credential */
	KW_SGN_OP_MAX = KW_SGN_OP_POSTURE_ACT,
};

/* OPEN/GENERATE reply flags (c). */
#define KW_SGN_F_PRESENT	0x1u	/* the backend can tell presence */
#define KW_SGN_F_DECRYPT	0x2u	/* the backend has a decrypt slot */

struct kw_sgn_msg {
	uint8_t op;		/* with KW_SGN_REPLY in a reply */
	int32_t status;
	uint32_t handle;
	uint32_t a, b, c;
	const char *str;	/* not NUL-terminated: str_len bytes */
	size_t str_len;
	const uint8_t *data;
	size_t data_len;
};

/* Encode m into buf (the length prefix included).  KW_ERR_ARG for a
 * message kw_sgn_decode would refuse, KW_ERR_SPACE if cap is too small. */
int kw_sgn_encode(const struct kw_sgn_msg *m, uint8_t *buf, size_t cap,
    size_t *len);
/* Decode one frame body (after the length prefix).  reply: 1 when a
 * reply is expected, 0 for a request.  m points into body.
 * KW_ERR_PROTOCOL for anything but a well-formed message of that kind. */
int kw_sgn_decode(const uint8_t *body, size_t len, int reply,
    struct kw_sgn_msg *m);
const char *kw_sgn_op_name(unsigned op);
const char *kw_sgn_purpose_name(unsigned purpose);
/* Bit of (scheme, hash) in OPEN's scheme mask. */
uint32_t kw_sgn_scheme_bit(enum kw_sig_scheme scheme, enum kw_hash hash);

/* Blocking frame I/O on a stream socket: a whole frame or an error
 * (KW_ERR_IO: closed or broken; KW_ERR_PROTOCOL: bad length;
 * KW_ERR_TIMEOUT: nothing within timeout_ms, -1 waits forever).
 * kw_sgn_read_frame returns the body length in *len. */
int kw_sgn_write_frame(int fd, const uint8_t *buf, size_t len);
int kw_sgn_read_frame(int fd, uint8_t *buf, size_t cap, int timeout_ms,
    size_t *len);

/* Polls fd without sleeping (recv MSG_PEEK, yielding the CPU between
 * tries) for up to spin_us: 1 as soon as something is waiting (or the
 * socket ended), 0 when the time is up.  For replies that come faster than
 * a sleeping process is woken (see kw_signer_client.c). */
int kw_sgn_spin_readable(int fd, unsigned spin_us);

/* Descriptor passing on a unix socket (SCM_RIGHTS with one byte of data),
 * how the supervisor hands socketpair ends to the signer and the network
 * process.  kw_sgn_send_fd: the caller keeps its own copy of fd.
 * kw_sgn_recv_fd takes one (close-on-exec) into *fd; flags go to recvmsg
 * (MSG_DONTWAIT).  KW_ERR_IO: closed, broken or nothing waiting;
 * KW_ERR_PROTOCOL: a message without exactly one descriptor (dropped). */
int kw_sgn_send_fd(int sock, int fd);
int kw_sgn_recv_fd(int sock, int flags, int *fd);

/* ---- the client: the network process's end ---- */
struct kw_signer;

/* fd: the socketpair end to the signer (taken over).  ctl: where a new
 * end arrives (SCM_RIGHTS) after the signer restarted, or -1. */
int kw_signer_new(int fd, int ctl, struct kw_signer **out);
void kw_signer_free(struct kw_signer *s);
/* Open a key the signer's configuration names. */
int kw_signer_open(struct kw_signer *s, const char *ref, struct kw_key **out);
int kw_signer_generate(struct kw_signer *s, const char *ref,
    enum kw_key_alg alg, unsigned usage, struct kw_key **out);
/* 1 exists, 0 not, negative: error. */
int kw_signer_exists(struct kw_signer *s, const char *ref);
int kw_signer_delete(struct kw_signer *s, const char *ref);
int kw_signer_store_cert(struct kw_signer *s, const char *ref,
    const uint8_t *der, size_t der_len);
/* *der malloc'd. */
int kw_signer_cert_load(struct kw_signer *s, const char *ref, uint8_t **der,
    size_t *der_len);
/* The i-th key reference the signer knows (KW_ERR_NOT_FOUND past the end). */
int kw_signer_list(struct kw_signer *s, unsigned i, char *buf, size_t len);
/* 1 if key is a signer key (kw_signer_open). */
int kw_signer_is_key(const struct kw_key *key);
/* Posture through the signer (see KW_SGN_OP_POSTURE_*): *ev malloc'd. */
int kw_signer_key_posture(struct kw_key *key, const uint8_t *qd,
    size_t qd_len, uint8_t **ev, size_t *ev_len, unsigned *tpm_cmds);
int kw_signer_key_activate(struct kw_key *key, const uint8_t *blob,
    size_t blob_len, const uint8_t *secret, size_t secret_len,
    uint8_t *cred, size_t *cred_len, unsigned *tpm_cmds);
/* 1 while connected to a live signer. */
int kw_signer_up(struct kw_signer *s);
/* Signatures the signer refused by its rate limit (KW_ERR_BUSY). */
uint64_t kw_signer_refused(struct kw_signer *s);
uint64_t kw_signer_restarts(struct kw_signer *s);

#endif
