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

#endif
