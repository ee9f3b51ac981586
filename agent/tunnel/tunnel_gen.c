/* Tunnel generations (settings + TLS context + key) and the key cache,
 * and the server tunnels' allow-list (see tunnel.h). */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/x509v3.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_tls.h"
#include "agent/keys/keyref.h"
#include "agent/tunnel/tunnel_int.h"
#include "agent/tunnel/tunnel_posture.h"

struct kw_keyent {
	struct kw_keycache *kc;
	struct kw_keyent *next;
	unsigned refs;
	char *ref, *tcti, *module, *auth_file;
	int allow_exportable;
	struct kw_key *key;
	pthread_mutex_t lock;
	unsigned slots;		/* signing steps in flight (loop thread) */
};

struct kw_keycache {
	struct kw_keyent *head;
};

const uint64_t kw_sign_bucket_usec[KW_SIGN_BUCKETS] = {
	250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000,
	512000, UINT64_MAX,
};

int
kw_keycache_new(struct kw_keycache **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? KW_OK : KW_ERR_NOMEM;
}

static void
kw_keyent_free(struct kw_keyent *e)
{
	if (e == NULL)
		return;
	kw_key_close(e->key);
	pthread_mutex_destroy(&e->lock);
	free(e->ref);
	free(e->tcti);
	free(e->module);
	free(e->auth_file);
	free(e);
}

/* Keys still referenced by generations stay open until those go. */
void
kw_keycache_free(struct kw_keycache *kc)
{
	struct kw_keyent *e;

	if (kc == NULL)
		return;
	for (e = kc->head; e != NULL; e = e->next)
		e->kc = NULL;
	free(kc);
}

static int
kw_streq0(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
kw_dup0(const char *s, char **out)
{
	*out = NULL;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return KW_ERR_NOMEM;
	return KW_OK;
}

static int
kw_keycache_get(struct kw_keycache *kc, const char *ref,
    const struct kw_keyref_opts *o, struct kw_keyent **out)
{
	struct kw_keyent *e;
	int r;

	*out = NULL;
	for (e = kc->head; e != NULL; e = e->next)
		if (strcmp(e->ref, ref) == 0 && kw_streq0(e->tcti, o->tcti) &&
		    kw_streq0(e->module, o->module) &&
		    kw_streq0(e->auth_file, o->auth_file) &&
		    e->allow_exportable == o->allow_exportable) {
			e->refs++;
			*out = e;
			return KW_OK;
		}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&e->lock, NULL);
	if ((r = kw_dup0(ref, &e->ref)) != KW_OK ||
	    (r = kw_dup0(o->tcti, &e->tcti)) != KW_OK ||
	    (r = kw_dup0(o->module, &e->module)) != KW_OK ||
	    (r = kw_dup0(o->auth_file, &e->auth_file)) != KW_OK)
		goto out;
	e->allow_exportable = o->allow_exportable;
	if ((r = kw_keyref_open(ref, o, &e->key)) != KW_OK) {
		kw_err("cannot open key %s", ref);
		goto out;
	}
	e->refs = 1;
	e->kc = kc;
	e->next = kc->head;
	kc->head = e;
	*out = e;
	e = NULL;
out:
	kw_keyent_free(e);
	return r;
}

static void
kw_keyent_unref(struct kw_keyent *e)
{
	struct kw_keyent **pp;

	if (e == NULL || --e->refs > 0)
		return;
	if (e->kc != NULL)
		for (pp = &e->kc->head; *pp != NULL; pp = &(*pp)->next)
			if (*pp == e) {
				*pp = e->next;
				break;
			}
	kw_keyent_free(e);
}

static time_t
kw_cert_der_not_after(const uint8_t *der, size_t len)
{
	WOLFSSL_X509 *x = NULL;
	WOLFSSL_ASN1_TIME *t;
	struct tm tm;
	time_t na = 0;

	x = wolfSSL_X509_load_certificate_buffer(der, (int)len,
	    WOLFSSL_FILETYPE_ASN1);
	memset(&tm, 0, sizeof(tm));
	if (x != NULL && (t = wolfSSL_X509_get_notAfter(x)) != NULL &&
	    wolfSSL_ASN1_TIME_to_tm(t, &tm) == WOLFSSL_SUCCESS)
		na = timegm(&tm);
	wolfSSL_X509_free(x);
	return na;
}

static time_t
kw_cert_not_after(const char *file)
{
	uint8_t *der = NULL;
	size_t len = 0;
	time_t na;

	if (kw_cert_read_file(file, &der, &len) != KW_OK)
		return 0;
	na = kw_cert_der_not_after(der, len);
	free(der);
	return na;
}

static int
kw_gen_resolve(struct kw_tunnel_gen *g)
{
	const struct kw_addr *a = &g->conf->target;
	struct sockaddr_un *sun;
	struct addrinfo hints, *res = NULL;

	if (a->is_unix) {
		sun = (struct sockaddr_un *)&g->target_sa;
		memset(sun, 0, sizeof(*sun));
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", a->path);
		g->target_salen = sizeof(*sun);
		g->target_resolved = 1;
		return KW_OK;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(a->host, a->port, &hints, &res) != 0)
		return KW_OK;	/* a name: resolved per connection */
	memcpy(&g->target_sa, res->ai_addr, res->ai_addrlen);
	g->target_salen = res->ai_addrlen;
	g->target_resolved = 1;
	freeaddrinfo(res);
	return KW_OK;
}

/* Send cert_file's certificates followed by chain_file's. */
static int
kw_gen_add_chain(struct kw_tunnel_gen *g, const char *chain_file)
{
	uint8_t *a = NULL, *b = NULL, *both = NULL;
	size_t alen = 0, blen = 0;
	int r, w;

	if ((r = kw_file_read(g->cert_file, 1u << 20, &a, &alen)) != KW_OK ||
	    (r = kw_file_read(chain_file, 1u << 20, &b, &blen)) != KW_OK) {
		kw_err("tunnel %s: cannot read certificate chain %s",
		    g->conf->name, chain_file);
		goto out;
	}
	if ((both = malloc(alen + blen + 2)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	memcpy(both, a, alen);
	both[alen] = '\n';
	memcpy(both + alen + 1, b, blen);
	w = wolfSSL_CTX_use_certificate_chain_buffer(kw_tls_ctx_wolf(g->tls),
	    both, (long)(alen + 1 + blen));
	if (w != WOLFSSL_SUCCESS) {
		kw_err("tunnel %s: certificate chain %s cannot be loaded",
		    g->conf->name, chain_file);
		r = KW_ERR_CERT;
		goto out;
	}
	r = KW_OK;
out:
	free(a);
	free(b);
	free(both);
	return r;
}

/* TLS 1.3 session tickets sealed with the key every worker shares
 * (conf->ticket_key): ChaCha20-Poly1305, a random nonce per ticket, the
 * key name and nonce authenticated with it.  A ticket of another key
 * (before a restart of `keyward run`) is rejected: a full handshake. */
static int
gen_ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
    unsigned char iv[WOLFSSL_TICKET_IV_SZ],
    unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
    int in_len, int *out_len, void *arg)
{
	const unsigned char *k = arg;
	unsigned char aad[WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ];

	(void)ssl;
	if (k == NULL || in_len < 0)
		return WOLFSSL_TICKET_RET_FATAL;
	if (enc) {
		memcpy(name, k, WOLFSSL_TICKET_NAME_SZ);
		if (getrandom(iv, WOLFSSL_TICKET_IV_SZ, 0) !=
		    WOLFSSL_TICKET_IV_SZ)
			return WOLFSSL_TICKET_RET_FATAL;
		memcpy(aad, name, WOLFSSL_TICKET_NAME_SZ);
		memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
		memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
		if (wc_ChaCha20Poly1305_Encrypt(k + WOLFSSL_TICKET_NAME_SZ, iv,
		    aad, sizeof(aad), ticket, (word32)in_len, ticket, mac) != 0)
			return WOLFSSL_TICKET_RET_FATAL;
		*out_len = in_len;
		return WOLFSSL_TICKET_RET_OK;
	}
	if (memcmp(name, k, WOLFSSL_TICKET_NAME_SZ) != 0)
		return WOLFSSL_TICKET_RET_REJECT;
	memcpy(aad, name, WOLFSSL_TICKET_NAME_SZ);
	memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
	if (wc_ChaCha20Poly1305_Decrypt(k + WOLFSSL_TICKET_NAME_SZ, iv, aad,
	    sizeof(aad), ticket, (word32)in_len, mac, ticket) != 0)
		return WOLFSSL_TICKET_RET_REJECT;
	*out_len = in_len;
	return WOLFSSL_TICKET_RET_OK;
}

int
kw_tunnel_gen_new(struct kw_tunnel_conf *conf, const char *key_ref,
    const char *cert_file, const char *chain_file, const char *global_tcti, const char *global_module,
    const char *global_auth_file, struct kw_keycache *kc,
    struct kw_tunnel_gen **out)
{
	struct kw_tunnel_gen *g = NULL;
	struct kw_keyref_opts ko;
	struct kw_tls_conf tc;
	WOLFSSL_CTX *wctx;
	uint8_t *cert_der = NULL;
	size_t cert_len = 0;
	int r, on_token;

	*out = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		kw_tunnel_conf_free(conf);
		return KW_ERR_NOMEM;
	}
	g->refs = 1;
	g->conf = conf;
	if ((r = kw_dup0(key_ref ? key_ref : conf->key, &g->key_ref)) != KW_OK ||
	    (r = kw_dup0(cert_file ? cert_file : conf->cert, &g->cert_file))
	    != KW_OK)
		goto out;
	/* a pkcs11: certificate, or none with a pkcs11: key: on the token */
	on_token = g->key_ref != NULL &&
	    kw_keyref_cert_on_token(g->cert_file, g->key_ref);
	if (g->key_ref == NULL || (g->cert_file == NULL && !on_token)) {
		kw_err("tunnel %s: no key or certificate", conf->name);
		r = KW_ERR_CONFIG;
		goto out;
	}
	memset(&ko, 0, sizeof(ko));
	ko.tcti = conf->tcti ? conf->tcti : global_tcti;
	ko.module = conf->module ? conf->module : global_module;
	ko.auth_file = conf->auth_file ? conf->auth_file : global_auth_file;
	ko.allow_exportable = conf->allow_exportable;
	if ((r = kw_keycache_get(kc, g->key_ref, &ko, &g->kent)) != KW_OK) {
		kw_err("tunnel %s: cannot open its key %s", conf->name,
		    g->key_ref);
		goto out;
	}
	g->key = g->kent->key;
	memset(&tc, 0, sizeof(tc));
	tc.side = conf->mode == KW_TUNNEL_CLIENT ? KW_TLS_CLIENT :
	    KW_TLS_SERVER;
	tc.key = g->key;
	tc.cert_file = g->cert_file;
	if (on_token) {
		if ((r = kw_keyref_cert_load(g->cert_file, g->key_ref, &ko,
		    &cert_der, &cert_len)) != KW_OK) {
			kw_err("tunnel %s: cannot read its certificate from "
			    "the token", conf->name);
			goto out;
		}
		tc.cert_file = NULL;
		tc.cert_der = cert_der;
		tc.cert_der_len = cert_len;
	}
	tc.ca_file = conf->ca;
	tc.crl_file = conf->crl;
	tc.crl_hard_fail = conf->crl_hard_fail;
	tc.min_version = conf->tls_min ? conf->tls_min : 12;
	tc.max_version = conf->tls_max ? conf->tls_max : 13;
	tc.require_client_cert = 1;
	/* Sessions are kept here (tunnel_hs.c), not by kw_tls: a TLS 1.3
	 * session is only worth offering once its ticket has arrived. */
	tc.session_cache = 0;
	tc.cipher_list = conf->ciphers;
	if ((r = kw_tls_ctx_new(&tc, &g->tls)) != KW_OK) {
		kw_err("tunnel %s: cannot set up TLS", conf->name);
		goto out;
	}
	g->posture_ops = kw_posture_ops();
	if (conf->require_posture != NULL && (r = g->posture_ops->policy_load(
	    conf->require_posture, &g->posture_pol, &g->posture_recheck)) !=
	    KW_OK) {
		kw_err("tunnel %s: cannot use the posture policy %s",
		    conf->name, conf->require_posture);
		goto out;
	}
	if (conf->ak != NULL && ((r = kw_dup0(ko.tcti, &g->posture_tcti)) !=
	    KW_OK || (r = kw_dup0(ko.auth_file, &g->posture_auth_file)) !=
	    KW_OK))
		goto out;
	wctx = kw_tls_ctx_wolf(g->tls);
	if (conf->mode == KW_TUNNEL_SERVER) {
		/* No stateful session cache (it is process-wide in wolfSSL,
		 * so a session could outlive a reload's new allow-list);
		 * TLS 1.3 tickets are sealed with this context's own key. */
		(void)wolfSSL_CTX_set_session_cache_mode(wctx,
		    WOLFSSL_SESS_CACHE_OFF);
		(void)wolfSSL_CTX_NoTicketTLSv12(wctx);
		if (conf->has_ticket_key && (wolfSSL_CTX_set_TicketEncCb(
		    wctx, gen_ticket_cb) != WOLFSSL_SUCCESS ||
		    wolfSSL_CTX_set_TicketEncCtx(wctx, conf->ticket_key) !=
		    WOLFSSL_SUCCESS)) {
			kw_err("tunnel %s: cannot set the shared session-ticket "
			    "key", conf->name);
			r = KW_ERR_TLS;
			goto out;
		}
	} else {
		if (conf->resume)
			(void)wolfSSL_CTX_UseSessionTicket(wctx);
		/* OCSP stapling: a stapled response is checked against the
		 * CA file (a revoked server is refused); "require" also
		 * refuses a server that staples none. */
		if (conf->ocsp_stapling != KW_OCSP_OFF &&
		    wolfSSL_CTX_EnableOCSPStapling(wctx) != WOLFSSL_SUCCESS) {
			kw_err("tunnel %s: cannot enable OCSP stapling",
			    conf->name);
			r = KW_ERR_TLS;
			goto out;
		}
		if (conf->ocsp_stapling == KW_OCSP_REQUIRE &&
		    wolfSSL_CTX_EnableOCSPMustStaple(wctx) != WOLFSSL_SUCCESS) {
			kw_err("tunnel %s: cannot require OCSP stapling",
			    conf->name);
			r = KW_ERR_TLS;
			goto out;
		}
	}
	if (chain_file != NULL && *chain_file != '\0' && on_token) {
		kw_err("tunnel %s: a chain file needs the certificate in a "
		    "file too", conf->name);
		r = KW_ERR_CONFIG;
		goto out;
	}
	if (chain_file != NULL && *chain_file != '\0' &&
	    (r = kw_gen_add_chain(g, chain_file)) != KW_OK)
		goto out;
	g->not_after = on_token ? kw_cert_der_not_after(cert_der, cert_len) :
	    kw_cert_not_after(g->cert_file);
	if ((r = kw_gen_resolve(g)) != KW_OK)
		goto out;
	*out = g;
	g = NULL;
	r = KW_OK;
out:
	free(cert_der);
	kw_tunnel_gen_unref(g);
	return r;
}

void
kw_tunnel_gen_ref(struct kw_tunnel_gen *g)
{
	g->refs++;
}

int
kw_tunnel_gen_posture_alpn(const struct kw_tunnel_gen *g, WOLFSSL *ssl)
{
	char proto[] = KW_POSTURE_ALPN;

	if ((g->conf->mode == KW_TUNNEL_CLIENT && (g->conf->ak == NULL ||
	    g->posture_alpn_off)) ||
	    (g->conf->mode == KW_TUNNEL_SERVER && g->posture_pol == NULL))
		return KW_OK;
	if (wolfSSL_UseALPN(ssl, proto, (unsigned)strlen(proto),
	    WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) != WOLFSSL_SUCCESS)
		return KW_ERR_TLS;
	return KW_OK;
}

void
kw_tunnel_gen_key_lock(struct kw_tunnel_gen *g)
{
	pthread_mutex_lock(&g->kent->lock);
}

void
kw_tunnel_gen_key_unlock(struct kw_tunnel_gen *g)
{
	pthread_mutex_unlock(&g->kent->lock);
}

unsigned *
kw_tunnel_gen_key_slots(struct kw_tunnel_gen *g)
{
	return &g->kent->slots;
}

void
kw_tunnel_gen_unref(struct kw_tunnel_gen *g)
{
	if (g == NULL || --g->refs > 0)
		return;
	while (g->nsessions > 0)
		wolfSSL_SESSION_free(g->sessions[--g->nsessions]);
	if (g->posture_pol != NULL)
		g->posture_ops->policy_free(g->posture_pol);
	free(g->posture_tcti);
	free(g->posture_auth_file);
	kw_tls_ctx_free(g->tls);
	kw_keyent_unref(g->kent);
	kw_tunnel_conf_free(g->conf);
	free(g->key_ref);
	free(g->cert_file);
	free(g);
}

const struct kw_tunnel_conf *
kw_tunnel_gen_conf(const struct kw_tunnel_gen *g)
{
	return g->conf;
}

time_t
kw_tunnel_gen_not_after(const struct kw_tunnel_gen *g)
{
	return g->not_after;
}

const char *
kw_tunnel_gen_key_ref(const struct kw_tunnel_gen *g)
{
	return g->key_ref;
}

const char *
kw_tunnel_gen_cert_file(const struct kw_tunnel_gen *g)
{
	return g->cert_file != NULL ? g->cert_file :
	    "(on the token, next to the key)";
}

void
kw_tunnel_gen_key_desc(const struct kw_tunnel_gen *g, char *buf, size_t len)
{
	if (kw_key_describe(g->key, buf, len) != KW_OK)
		snprintf(buf, len, "%s key %s", kw_key_backend(g->key),
		    g->key_ref);
}

void
kw_tunnel_gen_token_state(const struct kw_tunnel_gen *g, char *buf,
    size_t len)
{
	uint64_t ok = kw_key_sign_count(g->key);
	uint64_t bad = kw_key_sign_failures(g->key);

	/* presence from the slot, not from past signatures */
	if (kw_key_present(g->key) == KW_ERR_TOKEN_ABSENT)
		snprintf(buf, len, "absent (not in its slot: insert it)");
	else if (bad == 0)
		snprintf(buf, len, "ok");
	else
		snprintf(buf, len, "%llu of %llu signatures failed",
		    (unsigned long long)bad, (unsigned long long)(ok + bad));
}

/* ---- allow-list ---- */

static int
kw_list_has(const struct kw_strlist *l, const unsigned char *s, int len)
{
	size_t i;

	if (s == NULL || len <= 0 || memchr(s, '\0', (size_t)len) != NULL)
		return 0;
	for (i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == (size_t)len &&
		    memcmp(l->v[i], s, (size_t)len) == 0)
			return 1;
	return 0;
}

static void
kw_who_add(char *who, size_t wholen, const char *tag,
    const unsigned char *s, int len)
{
	size_t used = strlen(who);

	if (s == NULL || len <= 0 || used + 8 >= wholen)
		return;
	snprintf(who + used, wholen - used, "%s%s%.*s", used ? ", " : "",
	    tag, len > 200 ? 200 : len, (const char *)s);
}

/* Any one entry of a name attribute matching the list. */
static int
kw_name_match(WOLFSSL_X509_NAME *name, int nid, const struct kw_strlist *l,
    const char *tag, char *who, size_t wholen)
{
	WOLFSSL_X509_NAME_ENTRY *ent;
	WOLFSSL_ASN1_STRING *s;
	int idx = -1, hit = 0;

	if (name == NULL)
		return 0;
	while ((idx = wolfSSL_X509_NAME_get_index_by_NID(name, nid, idx)) >= 0) {
		if ((ent = wolfSSL_X509_NAME_get_entry(name, idx)) == NULL ||
		    (s = wolfSSL_X509_NAME_ENTRY_get_data(ent)) == NULL)
			continue;
		kw_who_add(who, wholen, tag, wolfSSL_ASN1_STRING_data(s),
		    wolfSSL_ASN1_STRING_length(s));
		if (kw_list_has(l, wolfSSL_ASN1_STRING_data(s),
		    wolfSSL_ASN1_STRING_length(s)))
			hit = 1;
	}
	return hit;
}

int
kw_tunnel_gen_admit(const struct kw_tunnel_gen *g, WOLFSSL_X509 *x,
    char *who, size_t wholen)
{
	const struct kw_tunnel_conf *c = g->conf;
	WOLFSSL_X509_NAME *subj;
	WOLFSSL_GENERAL_NAMES *sans;
	WOLFSSL_GENERAL_NAME *gn;
	WOLFSSL_ASN1_STRING *s;
	int i, n, hit = 0;

	who[0] = '\0';
	if (x == NULL)
		return KW_ERR_PERM;
	subj = wolfSSL_X509_get_subject_name(x);
	hit |= kw_name_match(subj, NID_commonName, &c->allow_cn, "CN=", who,
	    wholen);
	hit |= kw_name_match(subj, NID_organizationalUnitName, &c->allow_ou,
	    "OU=", who, wholen);
	sans = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	n = sans ? wolfSSL_sk_GENERAL_NAME_num(sans) : 0;
	for (i = 0; i < n; i++) {
		gn = wolfSSL_sk_GENERAL_NAME_value(sans, i);
		if (gn == NULL)
			continue;
		if (gn->type == GEN_DNS && (s = gn->d.dNSName) != NULL) {
			kw_who_add(who, wholen, "DNS:",
			    wolfSSL_ASN1_STRING_data(s),
			    wolfSSL_ASN1_STRING_length(s));
			hit |= kw_list_has(&c->allow_san_dns,
			    wolfSSL_ASN1_STRING_data(s),
			    wolfSSL_ASN1_STRING_length(s));
		} else if (gn->type == GEN_URI &&
		    (s = gn->d.uniformResourceIdentifier) != NULL) {
			kw_who_add(who, wholen, "URI:",
			    wolfSSL_ASN1_STRING_data(s),
			    wolfSSL_ASN1_STRING_length(s));
			hit |= kw_list_has(&c->allow_san_uri,
			    wolfSSL_ASN1_STRING_data(s),
			    wolfSSL_ASN1_STRING_length(s));
		}
	}
	if (sans != NULL)
		wolfSSL_GENERAL_NAMES_free(sans);
	if (c->allow_all)
		hit = 1;
	return hit ? KW_OK : KW_ERR_PERM;
}
