# Shared set-up for the EST integration tests: a test CA (and a wrong
# one), the EST server's TLS identity, and tests/enroll/est_server.py on a
# free port.  Sources tests/lib/fixtures.sh if the script has not yet.
#   est_start [extra est_server.py args...]   sets EST_URL, EST_PORT
#   est_mode MODE                             switch the server's behaviour
#   est_auth AUTH                             basic|cert|either|both|none
#   est_count PATH STATUS                     requests logged so far

. "${KW_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/lib/fixtures.sh"

kw_need openssl python3
EST_SERVER="$KW_SRCDIR/tests/enroll/est_server.py"
# the check-only build with the crash points (KEYWARD_TEST_KILL_AT)
: "${KEYWARD_HOOKS:=$KW_BUILDDIR/agent/keyward-test}"

est_setup_pki() {
	kw_make_ca ca
	kw_make_ca wrong
	kw_make_ca boot
	kw_make_server_cert est 7 DNS:localhost,IP:127.0.0.1
	printf 'correct horse\n' >"$KW_T/est.pw"
	chmod 600 "$KW_T/est.pw"
	EST_CA_FP=$(openssl x509 -in "$KW_T/ca/ca.pem" -noout -fingerprint \
		-sha256 | cut -d= -f2)
	WRONG_FP=$(openssl x509 -in "$KW_T/wrong/ca.pem" -noout -fingerprint \
		-sha256 | cut -d= -f2)
}

est_start() {
	EST_PORT=$(kw_free_port)
	: >"$KW_T/est.log"
	echo ok >"$KW_T/est.mode"
	echo basic >"$KW_T/est.auth"
	python3 "$EST_SERVER" --port "$EST_PORT" \
		--cert "$KW_T/est.pem" --key "$KW_T/est.key" \
		--ca-cert "$KW_T/ca/ca.pem" --ca-key "$KW_T/ca/ca.key" \
		--wrong-ca-cert "$KW_T/wrong/ca.pem" \
		--wrong-ca-key "$KW_T/wrong/ca.key" \
		--client-ca "$KW_T/boot/ca.pem" \
		--user alice --password-file "$KW_T/est.pw" \
		--mode-file "$KW_T/est.mode" --auth-file "$KW_T/est.auth" \
		--log "$KW_T/est.log" --workdir "$KW_T/estsrv" "$@" \
		>"$KW_T/est_server.out" 2>&1 &
	kw_track $!
	kw_wait_port "$EST_PORT" 15 ||
		kw_fail "EST test server did not start: $(cat "$KW_T/est_server.out")"
	EST_URL="https://localhost:$EST_PORT"
}

est_mode() { echo "$1" >"$KW_T/est.mode"; }
est_auth() { echo "$1" >"$KW_T/est.auth"; }

# est_count OP STATUS: number of logged requests to OP with STATUS (* any)
est_count() {
	python3 - "$KW_T/est.log" "$1" "$2" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["path"].endswith("/" + sys.argv[2]) and sys.argv[3] in ("*", str(e["status"])):
        n += 1
print(n)
PY
}

# The public key of a certificate and of a `keygen` output, comparable.
cert_pub() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
pem_pub() { openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }

# Run keyward and keep its stderr: run_kw NAME args...; sets RC.
run_kw() {
	local name=$1
	shift
	set +e
	"$KEYWARD" "$@" >"$KW_T/$name.out" 2>"$KW_T/$name.err"
	RC=$?
	set -e
}

expect_rc() {
	[ "$RC" = "$1" ] || kw_fail "$2: exit $RC, expected $1: $(cat "$KW_T/$3.err")"
}

# The service behind a tunnel: tests/enroll/tls_echo.py on a free port
# (ECHO), mutual TLS with client certificates from the test CA; the key of
# each client certificate it saw is logged in $KW_T/echo.log.
est_start_echo() {
	kw_make_server_cert service 7 DNS:localhost,IP:127.0.0.1
	ECHO=$(kw_free_port)
	python3 "$KW_SRCDIR/tests/enroll/tls_echo.py" --port "$ECHO" \
		--cert "$KW_T/service.pem" --key "$KW_T/service.key" \
		--ca "$KW_T/ca/ca.pem" --log "$KW_T/echo.log" &
	kw_track $!
	kw_wait_port "$ECHO" 10 || kw_fail "echo service did not start"
}

# $KW_T/keyward.conf for `keyward run`: identity laptop (its state file and
# more [identity] lines) and client tunnel intranet from a free port (LISTEN)
# to the echo service: est_daemon_conf KEY-LINE STATE IDENTITY-LINES, the
# first a [global] line naming the key's place ("module = ..." or
# "tcti = ...").
est_daemon_conf() {
	LISTEN=$(kw_free_port)
	cat >"$KW_T/keyward.conf" <<CONF
[global]
$1
control-socket = $KW_T/control

[identity laptop]
state = $2
$3

[tunnel intranet]
mode = client
listen = 127.0.0.1:$LISTEN
target = 127.0.0.1:$ECHO
servername = localhost
identity = laptop
ca = $KW_T/ca/ca.pem
CONF
}

# `keyward run` on $KW_T/keyward.conf, stderr in $KW_T/run.err, until it
# listens on LISTEN.  Sets RUN.
est_daemon_run() {
	"$KEYWARD" run --config "$KW_T/keyward.conf" 2>"$KW_T/run.err" &
	RUN=$!
	kw_track $RUN
	kw_wait_port "$LISTEN" 15 || kw_fail "keyward run did not listen: $(cat "$KW_T/run.err")"
}

# A TPM key (swtpm) in DIR/k.pem enrolled to DIR/c.pem (state
# DIR/c.pem.state), renewed at 10 % of its lifetime:
# est_tpm_enroll DIR GRACE
est_tpm_enroll() {
	"$KEYWARD" keygen --tcti "$KW_TCTI" --key "tpm:$1/k.pem" >/dev/null || kw_fail keygen
	run_kw enroll enroll est --tcti "$KW_TCTI" --server "$EST_URL" --subject CN=laptop \
		--user alice --password-file "$KW_T/est.pw" --ca "$KW_T/ca/ca.pem" \
		--key "tpm:$1/k.pem" --out "$1/c.pem" --renew-at 10% --grace "$2"
	expect_rc 0 "enroll" enroll
}

# One line through the tunnel (LISTEN) to the echo service and back.
est_talk() {
	python3 - "$LISTEN" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"hello\n")
sys.exit(0 if s.recv(100) == b"hello\n" else 1)
PY
}

# The daemon's failed renewals so far.
est_failures() { grep -c 'renewal failed' "$KW_T/run.err" || true; }

# est_wait_until SECONDS 'CONDITION': 1 if it never holds.
est_wait_until() {
	local n=0
	until eval "$2"; do
		sleep 0.5; n=$((n + 1))
		[ $n -lt $(($1 * 2)) ] || return 1
	done
}
