# The tunnel tests' names for the shared fixtures (tests/lib/fixtures.sh,
# sourced here if the script has not yet): TPM keys and certificates,
# software peers' certificates, nginx, keyward in the background.
# shellcheck shell=bash
. "${KW_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/lib/fixtures.sh"

kw_need swtpm openssl curl nginx python3 ss

# wait_for FILE ERE: until FILE matches (15 s); 1 if it never does.
wait_for() { kw_wait_for "$1" "$2"; }
# wait_listen PORT: until something listens there (fails after 15 s).
wait_listen() { kw_wait_listen "$1"; }
# tpm_identity NAME SUBJECT SAN: a key in $KW_TCTI's swtpm and its cert.
tpm_identity() { kw_tpm_identity "$@"; }
# soft_client NAME SUBJECT SAN [days] [ca]: a software client identity.
soft_client() { kw_make_cert "$@"; }
# ca_db: the test CA's openssl ca database (expired certificates, CRLs).
ca_db() { kw_ca_db ca; }
# start_nginx: NGX_TLS, NGX_TLS_NR, NGX_PLAIN, NGX_PID (see kw_start_nginx).
start_nginx() { kw_start_nginx; }
# start_keyward TAG ARGS...: keyward in the background, KPID, $KW_T/TAG.log.
start_keyward() { kw_start_keyward "$@"; }
# status_get SOCKET TUNNEL PATH: one counter of `keyward status --json`.
status_get() { kw_status_get "$@"; }

# A fault under a tunnel, counted (tests/tpm/swtpm_restart.sh,
# tests/pkcs11/softhsm_tokendir.sh).  outage_loop_start: the caller's `get`
# (one request through the tunnel) in a loop until $KW_T/stop appears, "OK
# BAD" in $KW_T/loop.count, replaced whole so it is never read half-written;
# sets LOOP.
outage_loop_start() {
	( ok=0 bad=0
	  while [ ! -e "$KW_T/stop" ]; do
		if get; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
		echo "$ok $bad" >"$KW_T/loop.count.new" &&
			mv "$KW_T/loop.count.new" "$KW_T/loop.count"
	  done ) &
	LOOP=$!
	kw_track $LOOP
}
# outage_wait_failure MIN: after the fault, wait in 0.5 s steps (at least
# MIN of them, at most 20 s: a loaded machine may take a while) for the
# first failed request; sets ok1 and bad1.
outage_wait_failure() {
	local n=0
	while :; do
		sleep 0.5; n=$((n + 1))
		read -r ok1 bad1 <"$KW_T/loop.count"
		[ "$bad1" -gt 0 ] && [ "$n" -ge "$1" ] && break
		[ "$n" -lt 40 ] || break
	done
}
# outage_wait_recovery WHAT: 5 good requests more than ok1 within 20 s of
# WHAT ("the TPM's return"), else fail.
outage_wait_recovery() {
	local n=0
	until [ "$(cut -d' ' -f1 "$KW_T/loop.count" 2>/dev/null)" -ge $((ok1 + 5)) ] 2>/dev/null; do
		sleep 0.2; n=$((n + 1))
		[ $n -lt 100 ] || kw_fail "no handshakes within 20 s of $1: $(tail -5 "$KW_T/tun.log")"
	done
}
