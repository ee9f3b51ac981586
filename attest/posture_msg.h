/* The posture exchange's messages at the tunnel (keyward-attestation(7),
 * version 1): after the mutual-TLS handshake, as TLS application data,
 * each a 4-byte big-endian length (at most KW_PMSG_MAX) and a CBOR map
 * with text keys:
 *
 *   REQ   server -> client  {v:1, t:"req", nonce: 32 bytes}
 *   EV    client -> server  {v:1, t:"ev", evidence: bytes}
 *   ACT   server -> client  {v:1, t:"act", blob: bytes, secret: bytes}
 *   ACTD  client -> server  {v:1, t:"actd", secret: bytes}
 *   OK    server -> client  {v:1, t:"ok"}
 *   NO    server -> client  {v:1, t:"no", reason: text}
 *
 * The decoder is strict: a definite-length map holding exactly the keys
 * of its type, once each, no trailing bytes, every size bounded. */
#ifndef KW_POSTURE_MSG_H
#define KW_POSTURE_MSG_H

#include <stddef.h>
#include <stdint.h>

#define KW_PMSG_MAX		65536	/* CBOR map, length prefix excluded */
#define KW_PMSG_NONCE_LEN	32
#define KW_PMSG_EVIDENCE_MAX	(KW_PMSG_MAX - 64)
#define KW_PMSG_BLOB_MAX	1024	/* TPM2B_ID_OBJECT and the like */
#define KW_PMSG_SECRET_MAX	1024	/* TPM2B_ENCRYPTED_SECRET */
#define KW_PMSG_CRED_MAX	64	/* the activated credential */
#define KW_PMSG_REASON_MAX	200

enum kw_pmsg_type {
	KW_PMSG_REQ = 1,
	KW_PMSG_EV,
	KW_PMSG_ACT,
	KW_PMSG_ACTD,
	KW_PMSG_OK,
	KW_PMSG_NO,
};

/* One message.  a/b are malloc'd by the decoder: REQ nonce (a), EV
 * evidence (a), ACT blob (a) and secret (b), ACTD secret (a); NO's reason
 * is printable ASCII. */
struct kw_pmsg {
	enum kw_pmsg_type type;
	uint8_t *a;
	size_t a_len;
	uint8_t *b;
	size_t b_len;
	char reason[KW_PMSG_REASON_MAX + 1];
};

/* The message's name on the wire ("req", ...), NULL if unknown. */
const char *kw_pmsg_type_name(enum kw_pmsg_type type);

/* Encode m with its length prefix into *out (malloc'd).  KW_ERR_ARG when a
 * field is missing or over its bound. */
int kw_pmsg_encode(const struct kw_pmsg *m, uint8_t **out, size_t *out_len);

/* How many bytes the frame starting at b (len bytes so far) still lacks:
 * 0 when b holds all of it (its total length in *total), 1 with the number
 * missing in *need, KW_ERR_PARSE for a length of 0 or over KW_PMSG_MAX. */
int kw_pmsg_frame_need(const uint8_t *b, size_t len, size_t *need,
    size_t *total);

/* Decode one CBOR map (the frame without its length prefix) into *m
 * (cleared on entry; free with kw_pmsg_clear).  KW_ERR_PARSE for anything
 * but a well-formed version 1 message. */
int kw_pmsg_decode(const uint8_t *b, size_t len, struct kw_pmsg *m);

/* Wipe and free what m holds. */
void kw_pmsg_clear(struct kw_pmsg *m);

#endif
