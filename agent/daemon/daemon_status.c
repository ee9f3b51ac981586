/* What the daemon shows: `keyward status` (JSON over the control socket)
 * and Prometheus metrics.  Both read the same counters. */
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_secret.h"
#include "kw_signer.h"
#include "agent/conf/config.h"
#include "agent/daemon/daemon_int.h"
#include "agent/daemon/workers.h"
#include "agent/identity/renew.h"
#include "agent/keys/keyref.h"
#include "agent/tunnel/tunnel.h"

static void
kw_iso_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

#define KW_STATUS_POSTURE_MAX	64	/* clients shown per tunnel */

struct kw_wk_slot *
kw_daemon_snapshot(const struct kw_daemon *d)
{
	struct kw_wk_slot *snap;
	unsigned w;

	if (d->shared == NULL || d->worker != 0 || d->workers < 2 ||
	    (snap = calloc(d->workers, sizeof(*snap))) == NULL)
		return NULL;
	for (w = 1; w < d->workers; w++)
		(void)kw_wk_read(d->shared, d->workers, w, &snap[w]);
	return snap;
}

void
kw_daemon_tunnel_stats(const struct kw_daemon *d,
    const struct kw_wk_slot *snap, struct kw_tunnel *t, int draining,
    struct kw_tunnel_stats *st)
{
	const char *name = kw_tunnel_name(t);
	unsigned w;
	uint32_t i;

	kw_tunnel_stats(t, st);
	if (snap == NULL)
		return;
	for (w = 1; w < d->workers; w++)
		for (i = 0; i < snap[w].ntunnels; i++)
			if ((int)snap[w].t[i].draining == (draining != 0) &&
			    strcmp(snap[w].t[i].name, name) == 0)
				kw_tunnel_stats_add(st, &snap[w].t[i].st);
}

/* Connections open now and accepted, over this process's tunnels. */
static void
own_conns(const struct kw_daemon *d, uint64_t *active, uint64_t *total)
{
	struct kw_tunnel_stats st;
	size_t i;

	*active = *total = 0;
	for (i = 0; i < d->ntunnels + d->ndraining; i++) {
		kw_tunnel_stats(i < d->ntunnels ? d->tunnels[i] :
		    d->draining[i - d->ntunnels], &st);
		*active += st.conns_active;
		*total += st.conns_total;
	}
}

/* The network processes: pid, connections open and accepted. */
static json_t *
workers_json(const struct kw_daemon *d, const struct kw_wk_slot *snap)
{
	json_t *arr = json_array(), *o;
	uint64_t active, total;
	unsigned w;
	uint32_t i;
	int pid;

	if (arr == NULL)
		return NULL;
	for (w = 0; w < d->workers; w++) {
		if (w == 0) {
			own_conns(d, &active, &total);
			pid = (int)getpid();
		} else {
			active = total = 0;
			for (i = 0; i < snap[w].ntunnels; i++) {
				active += snap[w].t[i].st.conns_active;
				total += snap[w].t[i].st.conns_total;
			}
			pid = (int)snap[w].pid;
		}
		o = json_pack("{s:i, s:i, s:b, s:I, s:I}", "worker", (int)w,
		    "pid", pid, "running", pid > 0,
		    "connections_active", (json_int_t)active,
		    "connections_total", (json_int_t)total);
		if (o != NULL)
			json_array_append_new(arr, o);
	}
	return arr;
}

/* Posture: a server's verdicts and each client's last one; a client's
 * answers and their TPM cost.  NULL when the tunnel has none. */
static json_t *
posture_json(struct kw_tunnel *t, const struct kw_tunnel_conf *tc,
    const struct kw_tunnel_stats *st)
{
	struct kw_posture_seen *seen;
	json_t *o, *refused, *clients, *c;
	char when[32];
	size_t i, n;

	if (tc->mode == KW_TUNNEL_CLIENT) {
		if (tc->ak == NULL)
			return NULL;
		return json_pack("{s:s, s:s, s:I, s:I, s:f}", "ak", tc->ak,
		    "event_log", tc->event_log ? tc->event_log : "",
		    "answers", (json_int_t)st->posture_answers,
		    "tpm_commands", (json_int_t)st->posture_tpm_cmds,
		    "tpm_ms", (double)st->posture_usec / 1000.0);
	}
	if (tc->require_posture == NULL)
		return NULL;
	if ((o = json_pack("{s:s, s:I, s:I}", "policy", tc->require_posture,
	    "ok", (json_int_t)st->posture_ok, "cached",
	    (json_int_t)st->posture_cached)) == NULL)
		return NULL;
	refused = json_object();
	clients = json_array();
	seen = calloc(KW_STATUS_POSTURE_MAX, sizeof(*seen));
	if (refused == NULL || clients == NULL || seen == NULL)
		goto out;
	for (i = 0; i < KW_PR_COUNT; i++)
		if (st->posture_refused[i] > 0)
			json_object_set_new(refused, kw_posture_reason_name(
			    (enum kw_posture_reason)i),
			    json_integer((json_int_t)st->posture_refused[i]));
	n = kw_tunnel_posture_seen(t, seen, KW_STATUS_POSTURE_MAX);
	for (i = 0; i < n; i++) {
		kw_iso_time(seen[i].time, when, sizeof(when));
		c = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "client",
		    seen[i].who, "time", when, "verdict", seen[i].ok ? "ok" :
		    "refused", "cached", seen[i].cached, "reason",
		    seen[i].reason, "reason_kind", seen[i].ok ? "" :
		    kw_posture_reason_name(seen[i].why));
		if (c != NULL)
			json_array_append_new(clients, c);
	}
out:
	free(seen);
	json_object_set_new(o, "refused", refused ? refused : json_object());
	json_object_set_new(o, "clients", clients ? clients : json_array());
	return o;
}

static json_t *
tunnel_json(const struct kw_daemon *d, const struct kw_wk_slot *snap,
    struct kw_tunnel *t, const char *state)
{
	struct kw_tunnel_gen *g = kw_tunnel_gen(t);
	const struct kw_tunnel_conf *tc = kw_tunnel_gen_conf(g);
	struct kw_tunnel_stats st;
	char na[32], le[32], desc[256], token[128];
	json_t *o;

	kw_daemon_tunnel_stats(d, snap, t, strcmp(state, "draining") == 0,
	    &st);
	kw_iso_time(kw_tunnel_gen_not_after(g), na, sizeof(na));
	kw_iso_time(st.last_error_time, le, sizeof(le));
	kw_tunnel_gen_key_desc(g, desc, sizeof(desc));
	kw_tunnel_gen_token_state(g, token, sizeof(token));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, "
	    "s:s, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}, "
	    "s:{s:I, s:I, s:I, s:f}, "
	    "s:{s:I, s:I}, s:I, s:s, s:s}",
	    "name", kw_tunnel_name(t),
	    "state", state,
	    "mode", tc->mode == KW_TUNNEL_CLIENT ? "client" : "server",
	    "listen", tc->listen.text,
	    "target", tc->target.text,
	    "identity", tc->identity ? tc->identity : "",
	    "key", kw_tunnel_gen_key_ref(g),
	    "key_description", desc,
	    "certificate", kw_tunnel_gen_cert_file(g),
	    "not_after_unix", (json_int_t)kw_tunnel_gen_not_after(g),
	    "not_after", na,
	    "connections",
	    "active", (json_int_t)st.conns_active,
	    "total", (json_int_t)st.conns_total,
	    "failed", (json_int_t)st.conns_failed,
	    "refused", (json_int_t)st.refused,
	    "handshakes",
	    "full", (json_int_t)st.hs_full,
	    "resumed", (json_int_t)st.hs_resumed,
	    "threaded", (json_int_t)st.hs_threaded,
	    "in_progress", (json_int_t)st.hs_slots,
	    "waiting", (json_int_t)st.hs_waiting,
	    "signatures",
	    "count", (json_int_t)st.signatures,
	    "failures", (json_int_t)st.sign_failures,
	    "unauthenticated", (json_int_t)st.sign_unauth,
	    "avg_ms", st.signatures ? (double)st.sign_usec /
	    (double)st.signatures / 1000.0 : 0.0,
	    "bytes",
	    "up", (json_int_t)st.bytes_up,
	    "down", (json_int_t)st.bytes_down,
	    "reloads", (json_int_t)st.reloads,
	    "token", token,
	    "last_error", st.last_error);
	if (o != NULL) {
		json_object_set_new(o, "last_error_time", json_string(le));
		json_t *p = posture_json(t, tc, &st);

		if (p != NULL)
			json_object_set_new(o, "posture", p);
	}
	return o;
}

char *
kw_daemon_status_json(struct kw_daemon *d)
{
	struct kw_renewer_info *info = NULL;
	struct kw_wk_slot *snap = kw_daemon_snapshot(d);
	json_t *root, *arr, *ids, *o;
	char *s = NULL, na[32];
	size_t i, n;

	root = json_pack("{s:i, s:s, s:I, s:s, s:I, s:I, s:s}",
	    "pid", (int)getpid(), "version", PACKAGE_VERSION,
	    "uptime_s", (json_int_t)(time(NULL) - d->started),
	    "config", d->config_path ? d->config_path : "(command line)",
	    "reloads", (json_int_t)d->reloads,
	    "reload_failures", (json_int_t)d->reload_failures,
	    "last_reload_error", d->last_reload_error);
	arr = json_array();
	ids = json_array();
	if (root == NULL || arr == NULL || ids == NULL)
		goto out;
	for (i = 0; i < d->ntunnels; i++)
		if ((o = tunnel_json(d, snap, d->tunnels[i], "listening")) !=
		    NULL)
			json_array_append_new(arr, o);
	for (i = 0; i < d->ndraining; i++)
		if ((o = tunnel_json(d, snap, d->draining[i], "draining")) !=
		    NULL)
			json_array_append_new(arr, o);
	n = d->rn ? kw_renewer_count(d->rn) : 0;
	if (n > 0 && (info = calloc(1, sizeof(*info))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (kw_renewer_get(d->rn, i, info) != KW_OK)
			continue;
		kw_iso_time(info->not_after, na, sizeof(na));
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:I, s:s}",
		    "name", info->name, "key", info->key_ref,
		    "certificate", info->cert_file, "not_after", na,
		    "not_after_unix", (json_int_t)info->not_after,
		    "alarm", info->alarm,
		    "renewals", (json_int_t)info->renewals,
		    "failures", (json_int_t)info->failures,
		    "status", info->status);
		if (o != NULL)
			json_array_append_new(ids, o);
	}
	json_object_set(root, "tunnels", arr);
	json_object_set(root, "identities", ids);
	if (snap != NULL && (o = workers_json(d, snap)) != NULL)
		json_object_set_new(root, "workers", o);
	if (kw_keyref_signer() != NULL)
		json_object_set_new(root, "signer", json_pack(
		    "{s:b, s:I, s:I}", "up", kw_signer_up(kw_keyref_signer()),
		    "refused", (json_int_t)kw_signer_refused(
		    kw_keyref_signer()), "restarts", (json_int_t)
		    kw_signer_restarts(kw_keyref_signer())));
	s = json_dumps(root, JSON_INDENT(2));
	if (s != NULL) {
		/* key URIs: never a pin-value (room for the markers) */
		size_t cap = 2 * strlen(s) + 16;
		char *t = realloc(s, cap);

		if (t != NULL)
			s = t;
		kw_redact_text(s, t != NULL ? cap : strlen(s) + 1);
	}
out:
	free(info);
	free(snap);
	json_decref(arr);
	json_decref(ids);
	json_decref(root);
	if (s != NULL) {
		char *t = realloc(s, strlen(s) + 2);

		if (t != NULL) {
			s = t;
			strcat(s, "\n");
		}
	}
	return s;
}

static void
metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *
kw_daemon_metrics_text(void *arg)
{
	struct kw_daemon *d = arg;
	struct kw_tunnel_stats *st = NULL;
	struct kw_renewer_info *info = NULL;
	struct kw_tunnel **all = NULL;
	struct kw_wk_slot *snap = kw_daemon_snapshot(d);
	char *out = NULL;
	size_t len = 0, n, i, b;
	uint64_t cum;
	FILE *f;

	n = d->ntunnels + d->ndraining;
	if ((all = calloc(n + 1, sizeof(*all))) == NULL ||
	    (st = calloc(n + 1, sizeof(*st))) == NULL ||
	    (f = open_memstream(&out, &len)) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		all[i] = i < d->ntunnels ? d->tunnels[i] :
		    d->draining[i - d->ntunnels];
		kw_daemon_tunnel_stats(d, snap, all[i], i >= d->ntunnels,
		    &st[i]);
	}
#define EACH(metric, type, help, expr) do { \
	metric_head(f, metric, type, help); \
	for (i = 0; i < n; i++) \
		fprintf(f, "%s{tunnel=\"%s\"} %llu\n", metric, \
		    kw_tunnel_name(all[i]), (unsigned long long)(expr)); \
} while (0)
	EACH("keyward_tunnel_connections_active", "gauge",
	    "Connections open now.", st[i].conns_active);
	EACH("keyward_tunnel_connections_total", "counter",
	    "Connections accepted.", st[i].conns_total);
	EACH("keyward_tunnel_connections_failed_total", "counter",
	    "Connections closed on an error before data could flow.",
	    st[i].conns_failed);
	EACH("keyward_tunnel_refused_total", "counter",
	    "Handshakes refused: peer certificate, name or allow-list.",
	    st[i].refused);
	metric_head(f, "keyward_tunnel_handshakes_total", "counter",
	    "Completed TLS handshakes by kind.");
	for (i = 0; i < n; i++)
		fprintf(f, "keyward_tunnel_handshakes_total{tunnel=\"%s\","
		    "kind=\"full\"} %llu\nkeyward_tunnel_handshakes_total{"
		    "tunnel=\"%s\",kind=\"resumed\"} %llu\n",
		    kw_tunnel_name(all[i]), (unsigned long long)st[i].hs_full,
		    kw_tunnel_name(all[i]),
		    (unsigned long long)st[i].hs_resumed);
	EACH("keyward_tunnel_handshakes_threaded_total", "counter",
	    "Completed handshakes whose key signed on a handshake thread.",
	    st[i].hs_threaded);
	EACH("keyward_tunnel_signatures_total", "counter",
	    "Signatures made by the hardware key for handshakes.",
	    st[i].signatures);
	EACH("keyward_tunnel_sign_failures_total", "counter",
	    "Signatures the hardware key failed to make.",
	    st[i].sign_failures);
	EACH("keyward_tunnel_signatures_unauthenticated_total", "counter",
	    "Signatures for clients that never proved their certificate.",
	    st[i].sign_unauth);
	EACH("keyward_tunnel_handshakes_in_progress", "gauge",
	    "Server handshakes holding a slot (max-signing).",
	    st[i].hs_slots);
	EACH("keyward_tunnel_handshakes_waiting", "gauge",
	    "ClientHellos waiting for a handshake slot.", st[i].hs_waiting);
	EACH("keyward_tunnel_signing_deferred_total", "counter",
	    "Handshakes that waited for a slot (max-signing, "
	    "max-signing-per-source).", st[i].sign_deferred);
	EACH("keyward_tunnel_source_refused_total", "counter",
	    "Connections refused by max-pending-per-source.",
	    st[i].src_refused);
	metric_head(f, "keyward_tunnel_sign_seconds", "histogram",
	    "Time the hardware key took per signature.");
	for (i = 0; i < n; i++) {
		for (b = 0, cum = 0; b < KW_SIGN_BUCKETS; b++) {
			cum += st[i].sign_hist[b];
			if (b + 1 < KW_SIGN_BUCKETS)
				fprintf(f, "keyward_tunnel_sign_seconds_bucket{"
				    "tunnel=\"%s\",le=\"%g\"} %llu\n",
				    kw_tunnel_name(all[i]),
				    (double)kw_sign_bucket_usec[b] / 1e6,
				    (unsigned long long)cum);
			else
				fprintf(f, "keyward_tunnel_sign_seconds_bucket{"
				    "tunnel=\"%s\",le=\"+Inf\"} %llu\n",
				    kw_tunnel_name(all[i]),
				    (unsigned long long)cum);
		}
		fprintf(f, "keyward_tunnel_sign_seconds_sum{tunnel=\"%s\"} "
		    "%.6f\nkeyward_tunnel_sign_seconds_count{tunnel=\"%s\"} "
		    "%llu\n", kw_tunnel_name(all[i]),
		    (double)st[i].sign_usec / 1e6, kw_tunnel_name(all[i]),
		    (unsigned long long)st[i].signatures);
	}
	metric_head(f, "keyward_tunnel_bytes_total", "counter",
	    "Plaintext bytes carried, up (to the TLS side) and down.");
	for (i = 0; i < n; i++)
		fprintf(f, "keyward_tunnel_bytes_total{tunnel=\"%s\","
		    "direction=\"up\"} %llu\nkeyward_tunnel_bytes_total{"
		    "tunnel=\"%s\",direction=\"down\"} %llu\n",
		    kw_tunnel_name(all[i]), (unsigned long long)st[i].bytes_up,
		    kw_tunnel_name(all[i]),
		    (unsigned long long)st[i].bytes_down);
	metric_head(f, "keyward_tunnel_posture_total", "counter",
	    "Server tunnels with require-posture: clients admitted, from "
	    "evidence or from the verdict cache.");
	for (i = 0; i < n; i++)
		if (kw_tunnel_gen_conf(kw_tunnel_gen(all[i]))->require_posture)
			fprintf(f, "keyward_tunnel_posture_total{tunnel=\"%s\","
			    "verdict=\"ok\"} %llu\nkeyward_tunnel_posture_total{"
			    "tunnel=\"%s\",verdict=\"cached\"} %llu\n",
			    kw_tunnel_name(all[i]),
			    (unsigned long long)st[i].posture_ok,
			    kw_tunnel_name(all[i]),
			    (unsigned long long)st[i].posture_cached);
	metric_head(f, "keyward_tunnel_posture_refused_total", "counter",
	    "Clients refused by require-posture, by the failing claim.");
	for (i = 0; i < n; i++)
		for (b = 0; b < KW_PR_COUNT; b++)
			if (kw_tunnel_gen_conf(kw_tunnel_gen(all[i]))->
			    require_posture)
				fprintf(f, "keyward_tunnel_posture_refused_total{"
				    "tunnel=\"%s\",reason=\"%s\"} %llu\n",
				    kw_tunnel_name(all[i]),
				    kw_posture_reason_name(
				    (enum kw_posture_reason)b),
				    (unsigned long long)st[i].posture_refused[b]);
	EACH("keyward_tunnel_posture_answers_total", "counter",
	    "Client tunnels: posture requests answered with fresh evidence.",
	    st[i].posture_answers);
	EACH("keyward_tunnel_posture_tpm_commands_total", "counter",
	    "Client tunnels: TPM commands sent for posture evidence.",
	    st[i].posture_tpm_cmds);
	EACH("keyward_tunnel_certificate_not_after_seconds", "gauge",
	    "Expiry of the tunnel's certificate (Unix time).",
	    kw_tunnel_gen_not_after(kw_tunnel_gen(all[i])));
#undef EACH
	if (kw_keyref_signer() != NULL) {
		metric_head(f, "keyward_signer_up", "gauge",
		    "1 while the signer process answers.");
		fprintf(f, "keyward_signer_up %d\n",
		    kw_signer_up(kw_keyref_signer()));
		metric_head(f, "keyward_signer_refused_total", "counter",
		    "Signatures the signer refused by its sign-rate.");
		fprintf(f, "keyward_signer_refused_total %llu\n",
		    (unsigned long long)kw_signer_refused(kw_keyref_signer()));
		metric_head(f, "keyward_signer_restarts_total", "counter",
		    "Times the signer process came back after dying.");
		fprintf(f, "keyward_signer_restarts_total %llu\n",
		    (unsigned long long)kw_signer_restarts(
		    kw_keyref_signer()));
	}
	if (snap != NULL) {
		json_t *wk = workers_json(d, snap), *o;

		metric_head(f, "keyward_worker_connections_active", "gauge",
		    "Connections open now, by network process (workers).");
		for (i = 0; i < json_array_size(wk); i++) {
			o = json_array_get(wk, i);
			fprintf(f, "keyward_worker_connections_active{worker="
			    "\"%zu\"} %lld\n", i, (long long)json_integer_value(
			    json_object_get(o, "connections_active")));
		}
		json_decref(wk);
	}
	metric_head(f, "keyward_reloads_total", "counter",
	    "Successful reloads.");
	fprintf(f, "keyward_reloads_total %llu\n",
	    (unsigned long long)d->reloads);
	metric_head(f, "keyward_reload_failures_total", "counter",
	    "Reloads that failed (the old state stayed).");
	fprintf(f, "keyward_reload_failures_total %llu\n",
	    (unsigned long long)d->reload_failures);
	if (d->rn != NULL && kw_renewer_count(d->rn) > 0 &&
	    (info = calloc(1, sizeof(*info))) != NULL) {
		metric_head(f, "keyward_identity_not_after_seconds", "gauge",
		    "Expiry of the identity's certificate (Unix time).");
		for (i = 0; i < kw_renewer_count(d->rn); i++)
			if (kw_renewer_get(d->rn, i, info) == KW_OK)
				fprintf(f, "keyward_identity_not_after_seconds{"
				    "identity=\"%s\"} %lld\n", info->name,
				    (long long)info->not_after);
		metric_head(f, "keyward_identity_renewal_alarm", "gauge",
		    "1 when renewal keeps failing and expiry is near.");
		for (i = 0; i < kw_renewer_count(d->rn); i++)
			if (kw_renewer_get(d->rn, i, info) == KW_OK)
				fprintf(f, "keyward_identity_renewal_alarm{"
				    "identity=\"%s\"} %d\n", info->name,
				    info->alarm ? 1 : 0);
	}
	fclose(f);
	free(info);
	free(all);
	free(st);
	free(snap);
	return out;
fail:
	free(all);
	free(st);
	free(snap);
	return NULL;
}
