/* Landlock for the network process of `keyward run` (issue 13): "no new
 * files outside its state directory", which seccomp cannot say. */
#ifndef KW_LANDLOCK_H
#define KW_LANDLOCK_H

struct kw_config;

/* The directories the network process must write beneath, found from the
 * config: each identity's state file, certificate, its copy and chain
 * (renewal writes them atomically: temp file + rename), the control
 * socket's directory and the unix-socket listeners' (bind + unlink
 * only), keyward's state directory when a tunnel requires posture (the
 * EK -> AK bindings).  control: the control socket's path, or NULL. */
struct kw_landlock;
int kw_landlock_plan(const struct kw_config *conf, const char *control,
    struct kw_landlock **out);
void kw_landlock_free(struct kw_landlock *ll);

/* Restrict this process (call it while it has a single thread: Landlock
 * binds the calling thread and the threads it creates later) to writing
 * only what ll names (and the names of its own threads: ll keeps
 * /proc/self/task open for that); reads stay allowed everywhere.  Best effort by the
 * kernel's Landlock ABI, logged once at info level.  *in_force is set to
 * 1 when the rules apply, 0 when the kernel has no Landlock (one warning
 * line, KW_OK).  KW_ERR_PERM if the kernel has Landlock and refused. */
int kw_landlock_apply(struct kw_landlock *ll, int *in_force);

/* Whether the rules of have allow everything want needs; if not, *missing
 * is the first directory they do not allow (it points into want). */
int kw_landlock_covers(const struct kw_landlock *have,
    const struct kw_landlock *want, const char **missing);

#endif
