/* Identities and their renewal: the contract between enrollment (issue 5)
 * and the daemon (issue 4).
 *
 * An identity is a key reference + certificate (+ chain) + how to renew it,
 * kept in a small state file next to the certificate.  The daemon names
 * identities in its config and asks this module when and how to renew. */
#ifndef KW_RENEW_H
#define KW_RENEW_H

#include <time.h>

struct kw_identity;
struct kw_cancel;

/* Load an identity's state file (written by `keyward enroll`). */
int kw_identity_load(const char *state_file, struct kw_identity **out);
void kw_identity_free(struct kw_identity *id);
/* Current key reference and certificate/chain files (valid until the
 * next successful kw_renew_run). */
const char *kw_identity_key_ref(const struct kw_identity *id);
const char *kw_identity_cert_file(const struct kw_identity *id);
const char *kw_identity_chain_file(const struct kw_identity *id);
time_t kw_identity_not_after(const struct kw_identity *id);

/* When the next renewal attempt is due (0: never, e.g. no EST server). */
time_t kw_renew_due(const struct kw_identity *id, time_t now);
/* One renewal attempt, blocking (call it off the event loop).  KW_OK: the
 * new key and certificate are verified and the state file switched; the
 * caller reloads TLS contexts.  On failure the old identity is untouched
 * and the next attempt is scheduled with jittered backoff. */
int kw_renew_run(struct kw_identity *id, time_t now);
/* Alarm: renewal keeps failing and expiry is near. */
int kw_renew_alarm(const struct kw_identity *id, time_t now);

/* ---- additions (issue 5) ---- */
#include <stddef.h>

struct kw_renew_opts {
	int same_key;		/* 1: keep the key (default: the state's rekey) */
	unsigned wait_s;	/* wait on 202 up to this long (0: don't) */
	int timeout_ms;		/* network timeout (0: 30 s) */
	int force;		/* renew even if another process just did */
	const struct kw_cancel *cancel;	/* fired: stop the renewal now
					 * (KW_ERR_CANCELLED, not a failure) */
	const char *user;	/* HTTP Basic on top of the client cert */
	const char *password;	/* (both or neither; not copied) */
	int pop_linking;	/* link the CSR to the TLS session */
};
/* kw_renew_run with options (kw_renew_run = defaults: no waiting).  Both
 * take a lock on the identity (KW_ERR_STATE when another process is
 * renewing it) and re-read the state file first: if another process has
 * renewed it meanwhile, they return KW_OK without a new renewal, so the
 * caller reloads the files the state now names. */
int kw_renew_run_opts(struct kw_identity *id, time_t now,
    const struct kw_renew_opts *opts);
/* ACME identities whose server offers Renewal Information (RFC 9773):
 * when the last check is older than its Retry-After (1 h .. 1 day; 6 h
 * without one), GET the suggested window for the current certificate,
 * pick the renewal time inside it and record both in the state file
 * (kw_renew_due then follows it).  A malformed or failed answer: one
 * warning, the window dropped (the lifetime share rules).  Other
 * identities: nothing.  Returns KW_OK unless the state cannot be saved. */
int kw_renew_ari_refresh(struct kw_identity *id, time_t now,
    int timeout_ms, const struct kw_cancel *cancel);
/* One line for `keyward status` / logs: key, cert, expiry, next renewal,
 * failures, "ALARM" when kw_renew_alarm. */
int kw_identity_status(const struct kw_identity *id, time_t now, char *buf,
    size_t len);

/* ---- [identity NAME] sections of the daemon's config (issue 5) ----
 *   [identity laptop]
 *   state = /var/lib/keyward/laptop.state   (required; `keyward enroll est
 *                                            --state` wrote it)
 *   renew-at = 66%          share of the lifetime when renewal starts
 *   alarm-at = 90%          alarm when still failing at this share
 *   rekey = yes|no          new key at each renewal (default: as enrolled)
 *   grace = 3600            seconds an old key is kept after a rekey
 *   wait = 0                seconds to wait on 202 inside one attempt
 * The daemon's config parser hands every key of such a section to
 * kw_identity_conf_set (which logs "file:line: ..." itself when given the
 * position) and opens the identity with kw_identity_open.  Tunnels name
 * the identity (identity = laptop) and take key + certificate from it. */
struct kw_identity_conf;
int kw_identity_conf_new(const char *name, struct kw_identity_conf **out);
void kw_identity_conf_free(struct kw_identity_conf *conf);
const char *kw_identity_conf_name(const struct kw_identity_conf *conf);
/* Posture (issue 12): the AK (tpm:PATH) and event log the identity's
 * client tunnels answer posture requests with (a tunnel's own `ak`
 * wins); NULL when not set. */
const char *kw_identity_conf_ak(const struct kw_identity_conf *conf);
const char *kw_identity_conf_event_log(const struct kw_identity_conf *conf);
const char *kw_identity_conf_state(const struct kw_identity_conf *conf);
/* Test hook (agent/keyward-test only, test_hooks.c): once sandboxed, the
 * network process creates the files KEYWARD_TEST_WRITE_PROBE names (':'
 * between them), opens the key KEYWARD_TEST_OPEN_REF names (through the
 * signer) and, with KEYWARD_TEST_EXEC_PROBE=1, tries execve; it logs what
 * happened.  Empty in the product. */
void kw_test_sandbox_probe(void);
/* KW_OK, or KW_ERR_CONFIG after logging "file:line: what is wrong". */
int kw_identity_conf_set(struct kw_identity_conf *conf, const char *key,
    const char *value, const char *file, int line);
/* Load the state file (crash recovery included) and apply the section's
 * overrides.  Renewal options for kw_renew_run_opts come with it. */
int kw_identity_open(const struct kw_identity_conf *conf,
    struct kw_identity **out, struct kw_renew_opts *ropts);

/* ---- the renewal runner: one thread renewing identities when due ----
 * The daemon creates it from its [identity] sections, starts it, and
 * passes its reload function as cb: cb runs on the runner's thread after
 * each successful renewal with the identity's new key reference and
 * certificate (the state file has already switched), so it must only
 * hand the reload to the event loop (e.g. event_active on a libevent
 * event made with EVTHREAD).  Failures back off (jittered) and raise the
 * alarm (logged once, in kw_renewer_get) when expiry is near. */
#include <stdint.h>

struct kw_renewer;
typedef void (*kw_renew_cb)(void *arg, const char *name, const char *key_ref,
    const char *cert_file, const char *chain_file);

struct kw_renewer_info {
	char name[128];
	char key_ref[1024];
	char cert_file[1024];
	char chain_file[1024];		/* "" when none */
	char status[768];		/* kw_identity_status line */
	time_t not_after;
	int alarm;
	uint64_t renewals;		/* successful, since start */
	uint64_t failures;		/* failed attempts, since start */
};

/* Open every identity (state files, crash recovery) without starting. */
int kw_renewer_new(struct kw_identity_conf *const *confs, size_t n,
    kw_renew_cb cb, void *arg, struct kw_renewer **out);
int kw_renewer_start(struct kw_renewer *rn);
/* Re-check every identity now (e.g. on SIGHUP or after resume). */
void kw_renewer_kick(struct kw_renewer *rn);
/* Ask the thread to stop without waiting: a renewal in progress is
 * cancelled (its network exchange or its wait on a 202 ends at once; a
 * token operation finishes first).  Safe on the event loop. */
void kw_renewer_stop(struct kw_renewer *rn);
/* 1 once the thread has stopped (or never started): kw_renewer_free will
 * not block. */
int kw_renewer_stopped(struct kw_renewer *rn);
/* Stops the thread (cancelling a renewal in progress, then waiting for
 * it) and frees. */
void kw_renewer_free(struct kw_renewer *rn);
size_t kw_renewer_count(const struct kw_renewer *rn);
/* A consistent snapshot of identity i (status, metrics, files). */
int kw_renewer_get(struct kw_renewer *rn, size_t i,
    struct kw_renewer_info *info);

#endif
