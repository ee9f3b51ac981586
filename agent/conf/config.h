/* The daemon's configuration file (see keyward.conf(5)): INI sections
 * [global], [tunnel NAME] and [identity NAME], parsed with libinih through
 * a keyword table.  Errors are logged as "file:line: what is wrong".
 *
 * The parser does no I/O besides logging: kw_config_parse() takes the
 * text, so it can be fuzzed on its own (tests/fuzz/fuzz_config.c). */
#ifndef KW_CONFIG_H
#define KW_CONFIG_H

#include <stddef.h>

struct kw_identity_conf;

enum kw_tunnel_mode {
	KW_TUNNEL_CLIENT = 1,	/* plaintext in, mTLS out */
	KW_TUNNEL_SERVER,	/* mTLS in, plaintext out */
};

/* host:port, [v6]:port or unix:PATH. */
struct kw_addr {
	int is_unix;
	char host[256];
	char port[8];
	char path[108];		/* sun_path */
	char text[300];		/* as written */
};

struct kw_strlist {
	char **v;
	size_t n;
};

enum kw_ocsp_mode {
	KW_OCSP_OFF = 0,
	KW_OCSP_REQUEST,	/* ask for a staple, check it when sent */
	KW_OCSP_REQUIRE,	/* refuse a server that staples nothing */
};

struct kw_tunnel_conf {
	char *name;
	int line;			/* of the section header */
	enum kw_tunnel_mode mode;
	struct kw_addr listen;
	struct kw_addr target;
	char *servername;		/* client: SNI + name verified */
	char *identity;			/* [identity NAME] for key + cert */
	char *key;			/* or: key reference ... */
	char *cert;			/* ... and certificate (PEM) */
	char *ca;
	char *crl;
	int crl_hard_fail;		/* default 1 */
	int ocsp_stapling;		/* client: KW_OCSP_* */
	int tls_min;			/* 12 or 13 (default 12) */
	int tls_max;			/* 12 or 13 (default 13) */
	char *ciphers;			/* NULL: keyward's order */
	int resume;			/* client: session resumption (1) */
	unsigned connect_timeout_ms;
	unsigned handshake_timeout_ms;
	unsigned idle_timeout_s;	/* 0: none */
	unsigned max_conns;
	unsigned handshake_threads;	/* 0: handshakes in the event loop;
					 * KW_HS_AUTO: by the key's speed */
	/* server: connections from one address without a handshake slot
	 * (ClientHello not finished, or waiting); handshake slots (the key
	 * signs before the client has proven its certificate) per address
	 * and per key */
	unsigned max_pending_per_source;
	unsigned max_signing_per_source;
	unsigned max_signing;
	/* key options (default: the [global] ones) */
	char *tcti;
	char *module;
	char *auth_file;
	int allow_exportable;
	/* server: who may connect (any one match admits) */
	struct kw_strlist allow_cn;
	struct kw_strlist allow_san_dns;
	struct kw_strlist allow_san_uri;
	struct kw_strlist allow_ou;
	int allow_all;
	/* posture (issue 12): client: the AK that answers posture requests
	 * (tpm:PATH) and the event log sent with them; server: the policy
	 * file a client's posture must meet */
	char *ak;
	char *event_log;
	char *require_posture;
	/* not from the file: the daemon sets it with workers > 1, so that
	 * every network process listens on the address (SO_REUSEPORT) */
	int reuse_port;
	/* not from the file either: with workers > 1, the key every
	 * network process seals and opens this tunnel's TLS 1.3 session
	 * tickets with (name, then key), derived from a secret they share
	 * and from everything the generation was built from, so that a
	 * client resumes whichever worker the kernel hands it to, and a
	 * reload that changes what a client must pass (allow-list, CA, CRL,
	 * TLS settings) still voids the tickets issued before, as a new
	 * context's own key does with one worker */
	int has_ticket_key;
	unsigned char ticket_key[48];
};
#define KW_TICKET_KEY_LEN	48	/* 16 name + 32 ChaCha20-Poly1305 */

struct kw_config {
	char *file;
	char *control_socket;		/* NULL: default path */
	int control_socket_line;
	int has_metrics;
	struct kw_addr metrics;
	int metrics_line;
	int metrics_public;		/* metrics on a non-loopback address */
	unsigned warnings;		/* risky settings logged at parse */
	int log_level;			/* -1: unset */
	unsigned watch_interval_s;	/* files checked for changes; 0: off */
	char *tcti;
	char *module;
	char *auth_file;
	unsigned sign_rate;		/* signatures/s per key in the signer;
					 * 0: no limit */
	int sandbox;			/* signer + seccomp (default 1) */
	unsigned workers;		/* network processes (1..KW_MAX_WORKERS,
					 * default 1; > 1 needs the sandbox) */
	int workers_line;
	struct kw_tunnel_conf **tunnels;
	size_t ntunnels;
	struct kw_identity_conf **ids;
	size_t nids;
};

/* Defaults. */
#define KW_DEF_CONNECT_TIMEOUT_MS	10000
#define KW_DEF_HANDSHAKE_TIMEOUT_MS	15000
#define KW_DEF_IDLE_TIMEOUT_S		3600
/* handshake-threads = auto: KW_HS_AUTO_THREADS threads, used for the
 * handshakes of a key whose recent signatures took KW_HS_SLOW_USEC or more
 * (a hardware TPM or smart card, 5-500 ms, swtpm ~0.5 ms: the loop would
 * wait for them), until they take less than KW_HS_FAST_USEC again
 * (SoftHSM2 signing hot, 0.04-0.1 ms: a thread's hand-off costs more
 * than the loop would wait).  A key not measured yet counts as slow.
 * bench/signer, 8 clients, swtpm through the signer: 838-845
 * handshakes/s in the loop, 940-973 on 2 threads. */
#define KW_HS_AUTO			0xffffffffu
#define KW_HS_AUTO_THREADS		2
#define KW_HS_SLOW_USEC			300
#define KW_HS_FAST_USEC			150
/* handshake-threads when a tunnel does not say: auto.  A ThreadSanitizer
 * build (configure --enable-tsan) makes it 2, so that every tunnel the
 * test suite starts makes every handshake on threads. */
#ifndef KW_DEF_HS_THREADS
#define KW_DEF_HS_THREADS		KW_HS_AUTO
#endif
#define KW_DEF_MAX_CONNS		10000
#define KW_DEF_MAX_PENDING_PER_SOURCE	32
#define KW_DEF_MAX_SIGNING_PER_SOURCE	4
#define KW_DEF_MAX_SIGNING		32
#define KW_DEF_WATCH_INTERVAL_S		5
#define KW_DEF_SIGN_RATE		20000	/* per key, per second */
#define KW_MAX_WORKERS			16	/* [global] workers */

/* Parse text (len bytes, need not be NUL-terminated) named file in
 * messages.  KW_OK or KW_ERR_CONFIG after logging every problem found as
 * "file:line: ...". */
int kw_config_parse(const char *text, size_t len, const char *file,
    struct kw_config **out);
/* Read and parse a file (at most 1 MiB). */
int kw_config_load(const char *path, struct kw_config **out);
void kw_config_free(struct kw_config *conf);

/* A tunnel's settings from the command line (`keyward tunnel`): same
 * validation as a [tunnel] section, errors without file:line. */
int kw_tunnel_conf_new(const char *name, enum kw_tunnel_mode mode,
    struct kw_tunnel_conf **out);
/* Set one key as the config file would (KW_ERR_CONFIG: logged with
 * file:line when file is not NULL). */
int kw_tunnel_conf_set(struct kw_tunnel_conf *t, const char *key,
    const char *value, const char *file, int line);
/* Required keys present, allow-list given for servers...  */
int kw_tunnel_conf_check(const struct kw_tunnel_conf *t, const char *file);
void kw_tunnel_conf_free(struct kw_tunnel_conf *t);
/* A deep copy (each generation of a tunnel owns its settings). */
int kw_tunnel_conf_dup(const struct kw_tunnel_conf *t,
    struct kw_tunnel_conf **out);

/* "host:port", "[v6]:port" or "unix:PATH". */
int kw_addr_parse(const char *s, struct kw_addr *out);

#endif
