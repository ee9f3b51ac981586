/* The posture exchange at the tunnel (issue 12; keyward-attestation(7)):
 * between "handshake done" and "relay starts", on both sides.
 *
 * Signal: a client tunnel with an AK offers ALPN "keyward-posture/1"; a
 * server tunnel with require-posture selects it (and only then asks).
 * Then, as TLS application data (attest/posture_msg.h):
 *   server REQ(nonce) -> client EV(evidence) [-> server ACT -> client
 *   ACTD] -> server OK | NO(reason), or OK at once from the verdict cache.
 * The evidence's qualifying data is SHA-256(nonce || exporter), exporter
 * the TLS exporter (RFC 8446 7.5 / RFC 5705) with label
 * "EXPORTER-keyward-posture", no context, 32 bytes: it binds this TLS
 * session.
 *
 * What needs the TPM or verifies evidence goes through struct
 * kw_posture_ops (the seam to tpm/tpm_attest and attest/), run as a
 * "work" step: on a handshake thread when the tunnel has them, never
 * between two reads of the loop otherwise.  Include wolfSSL's options.h
 * before this header. */
#ifndef KW_TUNNEL_POSTURE_H
#define KW_TUNNEL_POSTURE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kw_key.h"
#include "agent/tunnel/tunnel.h"

struct WOLFSSL;
struct kw_posture_conn;
struct kw_posture_srv;

#define KW_POSTURE_ALPN		"keyward-posture/1"
#define KW_POSTURE_EXPORTER	"EXPORTER-keyward-posture"
#define KW_POSTURE_QD_LEN	32

/* What the verifier concluded about one piece of evidence. */
struct kw_posture_verdict {
	int ok;				/* every claim met the policy */
	int need_activation;		/* EK -> AK binding not known yet */
	enum kw_posture_reason why;	/* when !ok */
	char reason[160];		/* the failing claim, one line */
	uint8_t ek_spki[KW_MAX_PUBKEY_DER];	/* the EK's public key */
	size_t ek_spki_len;
	uint8_t ak_name[68];		/* the AK's name (alg || digest) */
	size_t ak_name_len;
};

/* The client's side of one exchange, for the producer. */
struct kw_posture_client_in {
	const char *ak_ref;		/* "tpm:PATH" */
	const char *event_log;		/* NULL: the firmware's */
	const char *tcti;		/* NULL: the default */
	const char *tls_key_ref;	/* "tpm:PATH" of the key to certify */
	const char *auth_file;		/* its auth value's file, or NULL */
	struct kw_key *tls_key;		/* the same key, open (its TPM) */
	const uint8_t *qd;		/* qualifying data, KW_POSTURE_QD_LEN */
};

/* The seam to the TPM (client) and the verifier (server).  Every slot
 * returns a KW_ERR_* and logs its own failure; *tpm_cmds counts the TPM
 * commands a client slot sent. */
struct kw_posture_ops {
	/* client: Certify(tls_key by the AK) + Quote(PCRs) with in->qd,
	 * the event log, EK certificate and AK public, as CBOR */
	int (*evidence)(const struct kw_posture_client_in *in, uint8_t **ev,
	    size_t *ev_len, unsigned *tpm_cmds);
	/* client: ActivateCredential(blob, secret) with the EK */
	int (*activate)(const struct kw_posture_client_in *in,
	    const uint8_t *blob, size_t blob_len, const uint8_t *secret,
	    size_t secret_len, uint8_t *cred, size_t *cred_len,
	    unsigned *tpm_cmds);
	/* server: the policy file (recheck in seconds, 0: no cache) */
	int (*policy_load)(const char *file, void **pol, unsigned *recheck_s);
	void (*policy_free)(void *pol);
	/* server: the EK -> AK bindings proven by activation (shared by
	 * the tunnel's generations; calls are serialized by the caller) */
	int (*store_new)(void **store);
	void (*store_free)(void *store);
	/* server: evidence against the policy, our nonce and this
	 * session's exporter (qualifying data: SHA-256(nonce || exporter),
	 * qd) and the client certificate's SubjectPublicKeyInfo; KW_OK
	 * with the verdict in *v (v->ok 0 is a refusal, not an error) */
	int (*verify)(void *pol, void *store, const uint8_t *ev,
	    size_t ev_len, const uint8_t *nonce, const uint8_t *exporter,
	    const uint8_t *qd, const uint8_t *spki, size_t spki_len,
	    struct kw_posture_verdict *v);
	/* server: MakeCredential to v's EK for v's AK name: blob and
	 * secret for the client (malloc'd), the credential to expect */
	int (*challenge)(void *pol, const struct kw_posture_verdict *v,
	    uint8_t **blob, size_t *blob_len, uint8_t **secret,
	    size_t *secret_len, uint8_t *cred, size_t *cred_len);
	/* server: the client answered with the credential: remember */
	int (*bind)(void *store, const struct kw_posture_verdict *v);
};

/* The ops in use: keyward-test's (KEYWARD_TEST_POSTURE) or the real. */
const struct kw_posture_ops *kw_posture_ops(void);
/* keyward-test only (posture_test_ops.c): test ops, or NULL. */
const struct kw_posture_ops *kw_posture_test_ops(void);
/* The real ones (tunnel_posture_ops.c). */
extern const struct kw_posture_ops kw_posture_real_ops;

/* ---- server state kept by a tunnel across reloads ---- */

int kw_posture_srv_new(const struct kw_posture_ops *ops,
    struct kw_posture_srv **out);
void kw_posture_srv_free(struct kw_posture_srv *ps);
/* A new policy (reload): verdicts made under the old one are dropped. */
void kw_posture_srv_new_policy(struct kw_posture_srv *ps);
size_t kw_posture_srv_seen(const struct kw_posture_srv *ps,
    struct kw_posture_seen *out, size_t max);

/* ---- one connection's exchange ---- */

enum kw_pc_step {
	KW_PC_WAIT,		/* for the socket: *want_r / *want_w */
	KW_PC_WORK,		/* run kw_posture_conn_work (TPM, verify) */
	KW_PC_OK,		/* relay may start */
	KW_PC_FAIL,		/* close: kw_posture_conn_why */
};

/* Server, after the handshake (ssl done, the client certificate
 * admitted).  policy/recheck from the generation.  KW_OK with *out, or
 * KW_ERR_PERM when the client offered no posture (reason logged by the
 * caller from *why). */
int kw_posture_server_start(struct kw_posture_srv *ps, void *policy,
    unsigned recheck_s, struct WOLFSSL *ssl, const char *who,
    struct kw_posture_conn **out);
/* Client, after the handshake: *out NULL when the server did not select
 * keyward-posture/1 (relay as usual). */
int kw_posture_client_start(const struct kw_posture_ops *ops,
    const struct kw_posture_client_in *in, struct WOLFSSL *ssl,
    struct kw_posture_conn **out);
/* Make every step that can be made without blocking. */
enum kw_pc_step kw_posture_conn_pump(struct kw_posture_conn *pc,
    struct WOLFSSL *ssl, int *want_r, int *want_w);
/* The step KW_PC_WORK asked for (any thread; the caller holds the key's
 * lock on the client). */
void kw_posture_conn_work(struct kw_posture_conn *pc);
/* After KW_PC_FAIL (or a timeout: kw_posture_conn_timeout first). */
enum kw_posture_reason kw_posture_conn_why(const struct kw_posture_conn *pc,
    const char **reason);
void kw_posture_conn_timeout(struct kw_posture_conn *pc);
int kw_posture_conn_cached(const struct kw_posture_conn *pc);
/* Client: TPM commands and microseconds the work took. */
void kw_posture_conn_cost(const struct kw_posture_conn *pc,
    unsigned *tpm_cmds, uint64_t *usec);
/* Server: the verdict goes into the tunnel's record (loop thread). */
void kw_posture_conn_record(struct kw_posture_conn *pc);
void kw_posture_conn_free(struct kw_posture_conn *pc);

#endif
