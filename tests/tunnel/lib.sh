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
