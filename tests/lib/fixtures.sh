# Shell fixtures shared by the integration tests.  Source it:
#   . "$KW_SRCDIR/tests/lib/fixtures.sh"
# Every daemon is started on 127.0.0.1 with a free port inside a per-test
# temp dir and stopped by PID (never pkill/killall) when the test exits.
# Exit 77 (skip) only when a tool is truly absent.

set -u
: "${KW_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${KW_BUILDDIR:=$KW_SRCDIR}"
: "${KEYWARD:=$KW_BUILDDIR/agent/keyward}"

KW_T=$(mktemp -d "${TMPDIR:-/tmp}/kwtest.XXXXXX")
# What keyward remembers between runs (refused PINs) stays in the test dir.
export KEYWARD_STATE_DIR="$KW_T/state"
KW_PIDS=""

kw_cleanup() {
	local pid
	for pid in $KW_PIDS; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $KW_PIDS; do
		# wait only works for our children; poll for the others
		local n=0
		while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
			sleep 0.1; n=$((n + 1))
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	if [ "${KW_KEEP:-0}" = 1 ]; then
		echo "kept $KW_T" >&2
	else
		rm -rf "$KW_T"
	fi
}
trap kw_cleanup EXIT
trap 'exit 1' INT TERM

# Remember a PID to stop at exit.
kw_track() { KW_PIDS="$KW_PIDS $1"; }

# Stop one tracked process now.
kw_stop() {
	local pid=$1 n=0
	kill "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
		sleep 0.1; n=$((n + 1))
	done
	kill -9 "$pid" 2>/dev/null || true
}

kw_fail() { echo "FAIL: $*" >&2; exit 1; }
kw_skip() { echo "SKIP: $*" >&2; exit 77; }
kw_need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || kw_skip "$t not installed"
	done
}

# A free TCP port on 127.0.0.1 (N consecutive free ports with kw_free_port N).
kw_free_port() {
	python3 - "${1:-1}" <<'PY'
import socket, sys, random
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 60000 - n)
    socks = []
    try:
        for i in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", base + i))
            socks.append(s)
    except OSError:
        for s in socks: s.close()
        continue
    for s in socks: s.close()
    print(base)
    break
PY
}

# Wait until something listens on 127.0.0.1:PORT (timeout seconds).
kw_wait_port() {
	local port=$1 timeout=${2:-10} n=0
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		sleep 0.1; n=$((n + 1))
		[ $n -ge $((timeout * 10)) ] && return 1
	done
	return 0
}

# Start a swtpm in $KW_T/$1 (default "tpm"); sets KW_TCTI and exports
# TPM2TOOLS_TCTI so tpm2-tools talk to it too.
kw_start_swtpm() {
	local name=${1:-tpm} port dir
	kw_need swtpm
	dir="$KW_T/$name"
	mkdir -p "$dir"
	port=$(kw_free_port 2)
	swtpm socket --tpm2 \
		--server type=tcp,port="$port",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
		--tpmstate dir="$dir" --flags not-need-init,startup-clear \
		>"$dir/swtpm.log" 2>&1 &
	kw_track $!
	kw_wait_port "$port" 10 || kw_fail "swtpm did not start (see $dir/swtpm.log)"
	KW_TCTI="swtpm:host=127.0.0.1,port=$port"
	TPM2TOOLS_TCTI=$KW_TCTI
	export TPM2TOOLS_TCTI KW_TCTI
}

# A test CA in $KW_T/ca: ca.pem / ca.key (EC P-256, openssl).
kw_make_ca() {
	local dir="$KW_T/${1:-ca}"
	mkdir -p "$dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" -days 30 \
		-subj "/CN=keyward test CA ${1:-ca}" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null ||
		kw_fail "openssl could not make a test CA"
}

# Sign a CSR with the test CA: kw_sign_csr CSR OUT [days] [ext-lines] [ca]
# ext-lines are extra openssl x509 extension lines (e.g. subjectAltName=...).
kw_sign_csr() {
	local csr=$1 out=$2 days=${3:-7} ext=${4:-} dir="$KW_T/${5:-ca}"
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth,serverAuth\n%s\n' "$ext" >"$out.ext"
	openssl x509 -req -in "$csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
		-CAcreateserial -days "$days" -out "$out" -extfile "$out.ext" \
		2>"$out.err" || kw_fail "openssl could not sign $csr: $(cat "$out.err")"
}

# A software server identity signed by the test CA, for peers that are not
# keyward (openssl s_server, nginx): kw_make_server_cert NAME [days] [san]
# writes $KW_T/NAME.pem and $KW_T/NAME.key.
kw_make_server_cert() {
	local name=$1 days=${2:-7} san=${3:-DNS:localhost,IP:127.0.0.1}
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$KW_T/$name.key" -out "$KW_T/$name.csr" \
		-subj "/CN=$name" 2>/dev/null || kw_fail "openssl req failed"
	kw_sign_csr "$KW_T/$name.csr" "$KW_T/$name.pem" "$days" \
		"subjectAltName=$san" "${4:-ca}"
}

# A SoftHSM2 token in $KW_T/softhsm labelled $1 with user PIN 123456, the PIN
# in the 0600 file $KW_T/pin.  Sets KW_SOFTHSM_MODULE and exports SOFTHSM2_CONF.
kw_start_softhsm() {
	local label=$1
	kw_need softhsm2-util pkcs11-tool
	KW_SOFTHSM_MODULE=$(ls /usr/lib/softhsm/libsofthsm2.so \
		/usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1)
	[ -n "$KW_SOFTHSM_MODULE" ] || kw_skip "libsofthsm2.so not installed"
	mkdir -p "$KW_T/softhsm"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\n' \
		"$KW_T/softhsm" >"$KW_T/softhsm2.conf"
	SOFTHSM2_CONF=$KW_T/softhsm2.conf
	export SOFTHSM2_CONF
	softhsm2-util --init-token --free --label "$label" --pin 123456 \
		--so-pin 654321 >/dev/null ||
		kw_fail "softhsm2-util could not create a token"
	printf '123456\n' >"$KW_T/pin"
	chmod 600 "$KW_T/pin"
}
