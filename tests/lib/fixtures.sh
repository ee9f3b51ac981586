# Shell fixtures for every integration test, benchmark and the demo: the one
# place that starts swtpm, SoftHSM2, test CAs, openssl s_server, nginx,
# stunnel and keyward in the background.  Source it first:
#   . "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
# (tests/tunnel/lib.sh and tests/enroll/lib.sh source it themselves).
#
# Each test gets a private temp dir $KW_T (mktemp).  Everything listens on
# 127.0.0.1 on a free port.  At exit the test stops what it started, by PID
# and only if the process is still its own (never pkill/killall, never a
# name), then any process it left running (they carry KW_TEST_TMP=$KW_T in
# their environment), then removes $KW_T: that directory and nothing else
# (KW_KEEP=1 keeps it).  A test skips (exit 77) only when a tool is absent.
#
#   run:      kw_track kw_stop kw_fail kw_skip kw_need
#   wait:     kw_free_port kw_wait_port kw_wait_listen kw_wait_for
#   PKI:      kw_make_ca kw_ca_db kw_sign_csr kw_make_cert
#             kw_make_server_cert kw_tpm_identity
#   tokens:   kw_start_swtpm kw_start_swtpm_ek kw_start_abrmd
#             kw_start_softhsm kw_softhsm_card kw_start_tpm2_pkcs11
#   peers:    kw_start_s_server kw_stop_s_server kw_talk kw_nginx
#             kw_nginx_mtls kw_start_nginx kw_start_stunnel kw_start_pebble
#             kw_private_netns kw_start_scepserver
#   keyward:  kw_run kw_expect kw_start_keyward kw_status_get kw_stop_keywards
#             kw_no_sanitizer_reports kw_csr_matches
#   decrypt:  kw_encrypt kw_decrypt_inputs kw_decrypt_probe kw_probe_line

# Sourced twice (a lib.sh sources it too): the first time counts.
if command -v kw_cleanup >/dev/null 2>&1; then
	return 0
fi

set -u
# The source tree: the directory above tests/ from wherever the script is.
if [ -z "${KW_SRCDIR:-}" ]; then
	KW_SRCDIR=$(cd "$(dirname "$0")" && pwd)
	while [ "$KW_SRCDIR" != / ] && [ ! -f "$KW_SRCDIR/tests/lib/fixtures.sh" ]; do
		KW_SRCDIR=$(dirname "$KW_SRCDIR")
	done
fi
# The build tree: scripts/check's unless told (make check always tells).
if [ -z "${KW_BUILDDIR:-}" ]; then
	KW_BUILDDIR=$KW_SRCDIR
	[ -x "$KW_SRCDIR/agent/keyward" ] || [ ! -d "$KW_SRCDIR/_build/default" ] ||
		KW_BUILDDIR=$KW_SRCDIR/_build/default
fi
: "${KEYWARD:=$KW_BUILDDIR/agent/keyward}"

KW_T=$(mktemp -d "${TMPDIR:-/tmp}/kwtest.XXXXXX")
# What keyward remembers between runs (refused PINs) stays in the test dir.
export KEYWARD_STATE_DIR="$KW_T/state"
KW_PIDS=""
# Every process this test starts inherits the mark (see kw_leftovers).
KW_TEST_TMP=$KW_T
export KW_TEST_TMP

# Is PID still one of ours: a child of this shell, or started by this test?
# (A PID that exited may already belong to someone else's process.)
kw_owned() {
	[ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ] ||
		env -u KW_TEST_TMP grep -qszxF "KW_TEST_TMP=$KW_T" "/proc/$1/environ"
}

# The processes this test started that still run (this shell and its
# subshells do not carry the mark: it was exported after they started).
kw_leftovers() {
	local f
	for f in $(env -u KW_TEST_TMP grep -lszxF "KW_TEST_TMP=$KW_T" /proc/[0-9]*/environ); do
		f=${f#/proc/}
		echo "${f%/environ}"
	done
}

kw_cleanup() {
	local pid left
	for pid in $KW_PIDS; do
		if kw_owned "$pid"; then kill "$pid" 2>/dev/null || true; fi
	done
	for pid in $KW_PIDS; do
		kw_stop "$pid"
	done
	left=$(kw_leftovers)
	if [ -n "$left" ]; then
		echo "note: stopping what the test left running:" >&2
		# shellcheck disable=SC2086
		ps -o pid=,args= -p "$(echo $left | tr ' ' ,)" >&2 || true
		for pid in $left; do
			kw_stop "$pid"
		done
	fi
	if [ "${KW_KEEP:-0}" = 1 ]; then
		echo "kept $KW_T" >&2
	else
		rm -rf "$KW_T"
	fi
}
trap kw_cleanup EXIT
trap 'exit 1' HUP INT TERM

# Remember a PID to stop at exit.
kw_track() { KW_PIDS="$KW_PIDS $1"; }

# Stop one of our processes now: SIGTERM, up to 5 s, then SIGKILL.
kw_stop() {
	local pid=$1 n=0
	kw_owned "$pid" || return 0
	kill "$pid" 2>/dev/null || true
	# wait only works for our children; poll for the others
	while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
		sleep 0.1; n=$((n + 1))
	done
	if kw_owned "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
	return 0
}

kw_fail() { echo "FAIL: $*" >&2; exit 1; }
kw_skip() { echo "SKIP: $*" >&2; exit 77; }
kw_need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || kw_skip "$t not installed"
	done
}

# A free TCP port on 127.0.0.1 (N consecutive free ports with kw_free_port N),
# below the kernel's ephemeral range: no outgoing connection takes it before
# the daemon it is for listens on it.
kw_free_port() {
	python3 - "${1:-1}" <<'PY'
import socket, sys, random
n = int(sys.argv[1])
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 0
lo, hi = (10000, low - 1) if low > 12000 else (20000, 60000)
for _ in range(200):
    base = random.randint(lo, hi - n)
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

# Wait until something accepts on 127.0.0.1:PORT (timeout seconds); 1 if not.
kw_wait_port() {
	local port=$1 timeout=${2:-10} n=0
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		sleep 0.1; n=$((n + 1))
		[ $n -ge $((timeout * 10)) ] && return 1
	done
	return 0
}

# Wait until something listens on 127.0.0.1:PORT without connecting to it
# (a probe would be s_server's first client); fails after SECONDS (15).
kw_wait_listen() {
	local port=$1 timeout=${2:-15} n=0
	while ! ss -Hltn "sport = :$port" | grep -q .; do
		sleep 0.1; n=$((n + 1))
		[ $n -ge $((timeout * 10)) ] && kw_fail "nothing listens on port $port"
	done
	return 0
}

# Wait until FILE holds TEXT, an extended regexp or with -F a fixed string:
# kw_wait_for [-F] FILE TEXT [SECONDS (15)]; 1 if it never does.
kw_wait_for() {
	local how=-qE n=0
	if [ "$1" = -F ]; then how=-qF; shift; fi
	while ! grep "$how" -- "$2" "$1" 2>/dev/null; do
		sleep 0.1; n=$((n + 1))
		[ $n -ge $((${3:-15} * 10)) ] && return 1
	done
	return 0
}

# Start a swtpm with its state in $KW_T/NAME: kw_start_swtpm [NAME (tpm)]
# [PORT (a free one; given, the same TPM starts again where it was)].
# Sets KW_SWTPM_PID and KW_TCTI, exports TPM2TOOLS_TCTI for tpm2-tools.
kw_start_swtpm() {
	local name=${1:-tpm} port=${2:-} dir
	kw_need swtpm
	dir="$KW_T/$name"
	mkdir -p "$dir"
	[ -n "$port" ] || port=$(kw_free_port 2)
	swtpm socket --tpm2 \
		--server type=tcp,port="$port",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
		--tpmstate dir="$dir" --flags not-need-init,startup-clear \
		>>"$dir/swtpm.log" 2>&1 &
	KW_SWTPM_PID=$!
	kw_track "$KW_SWTPM_PID"
	kw_wait_port "$port" 10 || kw_fail "swtpm did not start (see $dir/swtpm.log)"
	KW_TCTI="swtpm:host=127.0.0.1,port=$port"
	TPM2TOOLS_TCTI=$KW_TCTI
	export TPM2TOOLS_TCTI KW_TCTI
}

# A swtpm provisioned like a real TPM (issue 12): EK certificates (RSA 2048
# in NV 0x01c00002, ECC P-384 in 0x01c00016) and a platform certificate,
# issued by swtpm_localca from a private local CA in $KW_T/NAME-ca (root and
# intermediate made on first use), then started as kw_start_swtpm does:
# kw_start_swtpm_ek [NAME (tpm)] [PORT].  Sets what kw_start_swtpm sets and
# exports KW_EK_CA (PEM bundle: the local CA's intermediate and root, what
# a verifier's ek-ca holds), KW_EK_CA_ROOT and KW_EK_CA_INTERMEDIATE (each
# alone).  Two TPMs made with two names have two CAs.
kw_start_swtpm_ek() {
	local name=${1:-tpm} port=${2:-} dir ca
	kw_need swtpm swtpm_setup swtpm_localca certtool
	dir="$KW_T/$name"
	ca="$KW_T/$name-ca"
	if [ ! -f "$dir/tpm2-00.permall" ]; then
		mkdir -p "$dir" "$ca"
		printf '%s\n' "statedir = $ca" "signingkey = $ca/signkey.pem" \
			"issuercert = $ca/issuercert.pem" \
			"certserial = $ca/certserial" >"$ca/localca.conf"
		printf '%s\n' '--platform-manufacturer keyward' \
			'--platform-version 2.1' '--platform-model test' \
			>"$ca/localca.options"
		printf '%s\n' 'create_certs_tool = /usr/bin/swtpm_localca' \
			"create_certs_tool_config = $ca/localca.conf" \
			"create_certs_tool_options = $ca/localca.options" \
			'active_pcr_banks = sha256' >"$ca/setup.conf"
		swtpm_setup --tpm2 --tpmstate "$dir" --config "$ca/setup.conf" \
			--create-ek-cert --create-platform-cert --ecc \
			--overwrite >"$ca/setup.log" 2>&1 ||
			kw_fail "swtpm_setup could not provision $name (see $ca/setup.log)"
		cat "$ca/issuercert.pem" "$ca/swtpm-localca-rootca-cert.pem" \
			>"$ca/ek-ca.pem"
	fi
	KW_EK_CA="$ca/ek-ca.pem"
	KW_EK_CA_ROOT="$ca/swtpm-localca-rootca-cert.pem"
	KW_EK_CA_INTERMEDIATE="$ca/issuercert.pem"
	export KW_EK_CA KW_EK_CA_ROOT KW_EK_CA_INTERMEDIATE
	kw_start_swtpm "$name" "$port"
}

# tpm2-abrmd, the resource manager, in front of the swtpm of $KW_TCTI, on a
# private D-Bus session bus in $KW_T/dbus (both stopped by PID at exit):
# kw_start_abrmd.  Sets KW_ABRMD_TCTI (what keyward's --tcti takes) and
# exports DBUS_SESSION_BUS_ADDRESS for tpm2-tools and keyward.
kw_start_abrmd() {
	local d="$KW_T/dbus" i
	kw_need tpm2-abrmd dbus-daemon
	ls /usr/lib/*/libtss2-tcti-tabrmd.so.0 >/dev/null 2>&1 ||
		kw_skip "no tabrmd TCTI (Debian package libtss2-tcti-tabrmd0)"
	mkdir -p "$d"
	printf '%s\n' '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"' \
		' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">' \
		'<busconfig><type>session</type>' \
		"<listen>unix:path=$d/bus</listen><auth>EXTERNAL</auth>" \
		'<policy context="default"><allow send_destination="*"/><allow own="*"/>' \
		'<allow receive_sender="*"/><allow send_type="method_call"/></policy>' \
		'</busconfig>' >"$d/bus.conf"
	dbus-daemon --config-file="$d/bus.conf" --nofork --nopidfile \
		>"$d/dbus.log" 2>&1 &
	kw_track $!
	for i in $(seq 100); do [ -S "$d/bus" ] && break; sleep 0.1; done
	[ -S "$d/bus" ] || kw_fail "dbus-daemon did not start: $(cat "$d/dbus.log")"
	DBUS_SESSION_BUS_ADDRESS="unix:path=$d/bus"
	export DBUS_SESSION_BUS_ADDRESS
	tpm2-abrmd --session --allow-root --flush-all --tcti="$KW_TCTI" \
		>"$d/abrmd.log" 2>&1 &
	kw_track $!
	KW_ABRMD_TCTI="tabrmd:bus_type=session"
	for i in $(seq 100); do
		TPM2TOOLS_TCTI=$KW_ABRMD_TCTI tpm2_getcap properties-fixed \
			>/dev/null 2>&1 && return 0
		sleep 0.1
	done
	kw_fail "tpm2-abrmd did not start: $(cat "$d/abrmd.log")"
}

# A SoftHSM2 token in $KW_T/softhsm labelled $1 with user PIN 123456, the PIN
# in the 0600 file $KW_T/pin.  Sets KW_SOFTHSM_MODULE and exports SOFTHSM2_CONF.
# kw_card TOKEN NAME: a SoftHSM2 token TOKEN (kw_start_softhsm) with a
# P-256 key NAME made by keyward and its certificate from the test CA
# ($KW_T/NAME.pem, CN=NAME); sets MOD (the module) and KEY (its URI, the
# PIN from $KW_T/pin).
kw_card() {
	kw_start_softhsm "$1"
	MOD=$KW_SOFTHSM_MODULE
	KEY="pkcs11:token=$1;object=$2?pin-source=file:$KW_T/pin"
	"$KEYWARD" keygen --module "$MOD" --key "$KEY" >/dev/null 2>"$KW_T/keygen.err" ||
		kw_fail "keygen: $(cat "$KW_T/keygen.err")"
	"$KEYWARD" csr --module "$MOD" --key "$KEY" --subject "CN=$2" \
		--out "$KW_T/$2.csr" 2>"$KW_T/csr.err" ||
		kw_fail "csr: $(cat "$KW_T/csr.err")"
	kw_sign_csr "$KW_T/$2.csr" "$KW_T/$2.pem" 7
}

kw_start_softhsm() {
	local label=$1
	kw_need softhsm2-util pkcs11-tool
	KW_SOFTHSM_MODULE=$(ls /usr/lib/softhsm/libsofthsm2.so \
		/usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1)
	[ -n "$KW_SOFTHSM_MODULE" ] || kw_skip "libsofthsm2.so not installed"
	mkdir -p "$KW_T/softhsm"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$KW_T/softhsm" >"$KW_T/softhsm2.conf"
	SOFTHSM2_CONF=$KW_T/softhsm2.conf
	export SOFTHSM2_CONF
	softhsm2-util --init-token --free --label "$label" --pin 123456 \
		--so-pin 654321 >/dev/null ||
		kw_fail "softhsm2-util could not create a token"
	printf '123456\n' >"$KW_T/pin"
	chmod 600 "$KW_T/pin"
}

# The TPM through PKCS#11: tpm2-pkcs11 over a new swtpm (kw_start_swtpm
# NAME), its store in $KW_T/store, a token labelled LABEL made with the
# module's own C_InitToken (pkcs11-tool), SO PIN 2222, user PIN 1111 in the
# 0600 file $KW_T/pin: kw_start_tpm2_pkcs11 LABEL [NAME (tpm)].  Skips
# without the module.  Sets KW_TPM2_PKCS11_MODULE and what kw_start_swtpm
# sets; exports the TPM2_PKCS11_* settings.  No resource manager on swtpm:
# kw_tpm_flush clears what a tool may leave loaded.
kw_start_tpm2_pkcs11() {
	local label=$1
	kw_need pkcs11-tool tpm2_flushcontext
	# shellcheck disable=SC2012  # fixed system paths
	KW_TPM2_PKCS11_MODULE=$(ls /usr/lib/*/pkcs11/libtpm2_pkcs11.so \
		/usr/lib/*/libtpm2_pkcs11.so.1 2>/dev/null | head -1)
	[ -n "$KW_TPM2_PKCS11_MODULE" ] || kw_skip "libtpm2_pkcs11 not installed"
	kw_start_swtpm "${2:-tpm}"
	TPM2_PKCS11_TCTI=$KW_TCTI
	TPM2_PKCS11_STORE=$KW_T/store
	TPM2_PKCS11_LOG_LEVEL=0
	export TPM2_PKCS11_TCTI TPM2_PKCS11_STORE TPM2_PKCS11_LOG_LEVEL
	mkdir -p "$KW_T/store"
	pkcs11-tool --module "$KW_TPM2_PKCS11_MODULE" --init-token \
		--label "$label" --so-pin 2222 >"$KW_T/init.log" 2>&1 ||
		kw_fail "cannot make a tpm2-pkcs11 token: $(cat "$KW_T/init.log")"
	kw_tpm_flush
	pkcs11-tool --module "$KW_TPM2_PKCS11_MODULE" --token-label "$label" \
		--login --login-type so --so-pin 2222 --init-pin --pin 1111 \
		>>"$KW_T/init.log" 2>&1 ||
		kw_fail "cannot set the user PIN: $(cat "$KW_T/init.log")"
	kw_tpm_flush
	printf '1111\n' >"$KW_T/pin"
	chmod 600 "$KW_T/pin"
}

# Flush the transient objects and sessions of the swtpm of $KW_TCTI.
kw_tpm_flush() {
	tpm2_flushcontext -t >/dev/null 2>&1
	tpm2_flushcontext -s >/dev/null 2>&1
}

# An employee card on the SoftHSM2 token TOKEN (kw_start_softhsm): an EC
# P-256 key made by pkcs11-tool (CKA_ID 42:01, label LABEL, sign only,
# sensitive) and a client certificate for it from a test CA, stored on the
# token next to the key: kw_softhsm_card TOKEN LABEL SUBJECT [CA (ca)].
# Writes $KW_T/card.pub.pem, card.crt (PEM) and card.der.
kw_softhsm_card() {
	local tool="pkcs11-tool --module $KW_SOFTHSM_MODULE --token-label $1 --login --pin 123456"
	local ca="$KW_T/${4:-ca}"
	$tool --keypairgen --key-type EC:prime256v1 --id 4201 --label "$2" \
		--usage-sign --sensitive --private >/dev/null 2>&1 ||
		kw_fail "pkcs11-tool could not generate the card key"
	$tool --read-object --type pubkey --id 4201 -o "$KW_T/card.pub.der" \
		>/dev/null 2>&1 || kw_fail "pkcs11-tool could not read the card's public key"
	openssl pkey -pubin -inform DER -in "$KW_T/card.pub.der" -out "$KW_T/card.pub.pem"
	printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' \
		>"$KW_T/card.ext"
	openssl x509 -new -force_pubkey "$KW_T/card.pub.pem" -subj "$3" -days 7 \
		-CA "$ca/ca.pem" -CAkey "$ca/ca.key" -out "$KW_T/card.crt" \
		-extfile "$KW_T/card.ext" 2>"$KW_T/card.x509.err" ||
		kw_fail "openssl x509 -new: $(cat "$KW_T/card.x509.err")"
	openssl x509 -in "$KW_T/card.crt" -outform DER -out "$KW_T/card.der"
	$tool --write-object "$KW_T/card.der" --type cert --id 4201 --label "$2" \
		>/dev/null 2>&1 || kw_fail "cannot write the card certificate"
}

# A test CA in $KW_T/NAME (default ca): ca.pem / ca.key (EC P-256, openssl).
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

# An `openssl ca` database for the test CA NAME (default ca), for expired
# certificates and CRLs: kw_ca_db [NAME [ext-lines...]] writes
# $KW_T/NAME/ca.cnf (section [ext]: client+server leaf, plus ext-lines).
kw_ca_db() {
	local dir="$KW_T/${1:-ca}" line
	[ $# -eq 0 ] || shift
	mkdir -p "$dir/db"
	: >"$dir/db/index.txt"
	echo 1000 >"$dir/db/serial"
	cat >"$dir/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
database = $dir/db/index.txt
serial = $dir/db/serial
new_certs_dir = $dir/db
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_crl_days = 7
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
[ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth,serverAuth
EOF
	for line in "$@"; do
		echo "$line" >>"$dir/ca.cnf"
	done
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

# A software identity signed by a test CA, for peers that are not keyward
# (curl, stunnel, s_server, nginx): kw_make_cert NAME SUBJECT SAN [days] [ca]
# writes $KW_T/NAME.pem, NAME.key and NAME.csr.
kw_make_cert() {
	local name=$1 subj=$2 san=$3 days=${4:-7} ca=${5:-ca}
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$KW_T/$name.key" -out "$KW_T/$name.csr" \
		-subj "$subj" 2>/dev/null || kw_fail "openssl req $name failed"
	kw_sign_csr "$KW_T/$name.csr" "$KW_T/$name.pem" "$days" \
		"subjectAltName=$san" "$ca"
}

# A server identity: kw_make_server_cert NAME [days] [san] [ca] (CN=NAME,
# SAN localhost and 127.0.0.1 unless given).
kw_make_server_cert() {
	kw_make_cert "$1" "/CN=$1" "${3:-DNS:localhost,IP:127.0.0.1}" \
		"${2:-7}" "${4:-ca}"
}

# A key in the swtpm of $KW_TCTI and a certificate for it from the test CA:
# kw_tpm_identity NAME SUBJECT SAN (writes NAME.tpmkey, .pub, .csr, .pem).
kw_tpm_identity() {
	local name=$1 subj=$2 san=$3
	"$KEYWARD" keygen --key "tpm:$KW_T/$name.tpmkey" --alg ec-p256 \
		--tcti "$KW_TCTI" >"$KW_T/$name.pub" 2>"$KW_T/$name.err" ||
		kw_fail "keygen $name: $(cat "$KW_T/$name.err")"
	"$KEYWARD" csr --key "tpm:$KW_T/$name.tpmkey" --tcti "$KW_TCTI" \
		--subject "$subj" --out "$KW_T/$name.csr" 2>"$KW_T/$name.err" ||
		kw_fail "csr $name: $(cat "$KW_T/$name.err")"
	kw_sign_csr "$KW_T/$name.csr" "$KW_T/$name.pem" 7 "subjectAltName=$san"
}

# openssl s_server on a free port that wants a client certificate and
# relays lines: kw_start_s_server NAME [s_server options...].  Its stdin is
# the fifo $KW_T/NAME.in, held open on fd 7 (`echo line >&7` sends to the
# client); what it prints is in $KW_T/NAME.out.  Sets KW_S_PORT, KW_S_PID.
kw_start_s_server() {
	local name=$1
	shift
	kw_need openssl ss
	KW_S_PORT=$(kw_free_port)
	rm -f "$KW_T/$name.in"
	mkfifo "$KW_T/$name.in"
	openssl s_server -accept "127.0.0.1:$KW_S_PORT" -quiet -Verify 1 \
		-verify_return_error "$@" <"$KW_T/$name.in" >"$KW_T/$name.out" 2>&1 &
	KW_S_PID=$!
	kw_track "$KW_S_PID"
	exec 7<>"$KW_T/$name.in"
	kw_wait_listen "$KW_S_PORT"
}

kw_stop_s_server() {
	exec 7>&-
	kw_stop "$KW_S_PID"
}

# One line each way between `keyward connect CONNECT-ARGS...` and the
# s_server NAME: kw_talk TAG NAME CONNECT-ARGS...  connect's output is in
# $KW_T/TAG.cout and TAG.cerr.  Fails unless both lines arrive, connect
# exits 0 once its stdin ends and reports exactly one hardware signature.
kw_talk() {
	local tag=$1 srv=$2 kpid rc=0
	shift 2
	rm -f "$KW_T/$tag.cin"
	mkfifo "$KW_T/$tag.cin"
	"$KEYWARD" connect "$@" <"$KW_T/$tag.cin" >"$KW_T/$tag.cout" \
		2>"$KW_T/$tag.cerr" &
	kpid=$!
	kw_track "$kpid"
	exec 8>"$KW_T/$tag.cin"
	echo "client says $tag" >&8
	kw_wait_for -F "$KW_T/$srv.out" "client says $tag" 20 ||
		kw_fail "$tag: s_server never got the client's data: $(cat "$KW_T/$tag.cerr")"
	echo "server says $tag" >&7
	kw_wait_for -F "$KW_T/$tag.cout" "server says $tag" 20 ||
		kw_fail "$tag: keyward connect never printed the server's data: $(cat "$KW_T/$tag.cerr")"
	exec 8>&-	# stdin EOF: keyward sends close_notify
	wait "$kpid" || rc=$?
	[ "$rc" = 0 ] || kw_fail "$tag: connect exited $rc: $(cat "$KW_T/$tag.cerr")"
	grep -q "signatures made by the .*: 1\$" "$KW_T/$tag.cerr" ||
		kw_fail "$tag: no signature count line: $(cat "$KW_T/$tag.cerr")"
}

# nginx in the foreground in $KW_T/NAME: kw_nginx NAME HTTP-BODY (server
# blocks; kw_nginx_mtls writes the usual one).  Sets KW_NGINX_PID.
# KW_NGINX_CONNS: its connection and file limit (default 8192).
kw_nginx() {
	local d="$KW_T/$1"
	kw_need nginx
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile ${KW_NGINX_CONNS:-8192};
error_log $d/error.log info;
events { worker_connections ${KW_NGINX_CONNS:-8192}; }
http {
	access_log $d/access.log;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	keepalive_requests 1000000;
	keepalive_timeout 300s;
	default_type text/plain;
$2
}
EOF
	nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
		-g "daemon off; pid $d/nginx.pid;" >"$d/stderr" 2>&1 &
	KW_NGINX_PID=$!
	kw_track "$KW_NGINX_PID"
}

# A server block for kw_nginx: TLS on 127.0.0.1:PORT with $KW_T/server.pem,
# client certificates from the test CA required: kw_nginx_mtls PORT DIRECTIVES
kw_nginx_mtls() {
	cat <<EOF
	server {
		listen 127.0.0.1:$1 ssl;
		ssl_certificate $KW_T/server.pem;
		ssl_certificate_key $KW_T/server.key;
		ssl_client_certificate $KW_T/ca/ca.pem;
		ssl_verify_client on;
		ssl_protocols TLSv1.2 TLSv1.3;
		$2
	}
EOF
}

# The usual nginx (needs $KW_T/server.pem and the test CA) on three free
# ports: NGX_TLS (mTLS, answers "hello <client DN>", /big is 1 MiB of
# $KW_T/nginx/big), NGX_TLS_NR (the same without session resumption) and
# NGX_PLAIN ("plain hello", /big).  Keep-alive on.  Sets NGX_PID.
kw_start_nginx() {
	local d=$KW_T/nginx hello
	NGX_TLS=$(kw_free_port)
	NGX_PLAIN=$(kw_free_port)
	NGX_TLS_NR=$(kw_free_port)
	mkdir -p "$d"
	head -c 1048576 /dev/urandom >"$d/big"
	hello="location / { return 200 \"hello \$ssl_client_s_dn\\n\"; }"
	kw_nginx nginx "$(kw_nginx_mtls "$NGX_TLS" "$hello
		location /big { alias $d/big; }")
	# the same without session resumption: every handshake is full
$(kw_nginx_mtls "$NGX_TLS_NR" "$hello
		ssl_session_tickets off;
		ssl_session_cache off;")
	server {
		listen 127.0.0.1:$NGX_PLAIN;
		location / { return 200 \"plain hello\\n\"; }
		location /big { alias $d/big; }
	}"
	NGX_PID=$KW_NGINX_PID
	kw_wait_listen "$NGX_TLS"
	kw_wait_listen "$NGX_PLAIN"
}

# stunnel in the foreground: kw_start_stunnel NAME ACCEPT-PORT CONNECT-PORT
# [service lines...] ("client = yes", "cert = ...").  $KW_T/NAME.conf,
# NAME.log; returns once it listens.
kw_start_stunnel() {
	local name=$1 accept=$2 connect=$3 line
	shift 3
	kw_need stunnel4
	{
		printf 'foreground = yes\npid =\ndebug = 4\n[%s]\n' "$name"
		printf 'accept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' \
			"$accept" "$connect"
		for line in "$@"; do echo "$line"; done
	} >"$KW_T/$name.conf"
	stunnel4 "$KW_T/$name.conf" >"$KW_T/$name.log" 2>&1 &
	kw_track $!
	kw_wait_listen "$accept"
}

# Run keyward on a closed stdin, its stdout and stderr in $KW_T/TAG.out and
# TAG.err: kw_run TAG WANT-EXIT ARGS...; fails on any other exit code.
kw_run() {
	local tag=$1 want=$2 rc=0
	shift 2
	"$KEYWARD" "$@" >"$KW_T/$tag.out" 2>"$KW_T/$tag.err" </dev/null || rc=$?
	[ "$rc" = "$want" ] ||
		kw_fail "$tag: exit $rc, want $want: $(cat "$KW_T/$tag.err")"
}

# kw_expect TAG TEXT: $KW_T/TAG.err (of kw_run) holds TEXT, a fixed string.
kw_expect() {
	grep -qF -- "$2" "$KW_T/$1.err" ||
		kw_fail "$1: no '$2' in: $(cat "$KW_T/$1.err")"
}

# kw_csr_matches CSR PUB: openssl verifies the signature of the PEM request
# CSR and finds in it the public key of the PEM file PUB.
kw_csr_matches() {
	openssl req -in "$1" -verify -noout 2>&1 | grep -q 'verify OK' ||
		kw_fail "openssl rejects the CSR $1"
	openssl req -in "$1" -pubkey -noout |
		openssl pkey -pubin -outform der >"$1.key.der" ||
		kw_fail "no public key in the CSR $1"
	openssl pkey -pubin -in "$2" -outform der >"$2.der" ||
		kw_fail "$2 is no public key"
	cmp -s "$1.key.der" "$2.der" || kw_fail "the CSR $1 is for another key than $2"
}

# Decryption by a token's key (issue 11, SCEP: tests/tpm/decrypt.sh,
# tests/pkcs11/decrypt.sh, decrypt_tpm2.sh), with the test program
# tests/tpm/decrypt_probe.  Files are named relative to the current
# directory ($KW_T).
# kw_encrypt PUB IN OUT: IN encrypted to the RSA public key PUB with PKCS#1
# v1.5 padding, as a SCEP CA makes it.
kw_encrypt() {
	openssl pkeyutl -encrypt -pubin -inkey "$1" -pkeyopt rsa_padding_mode:pkcs1 \
		-in "$2" -out "$3" || kw_fail "openssl pkeyutl -encrypt"
}

# kw_decrypt_inputs PUB: two 32-byte secrets (secret1, secret2) and their
# ciphertexts to the RSA-2048 key PUB (ct1, ct2), one with bad padding
# (badpad: deterministically, a block of PKCS#1 type 1, the signatures',
# encrypted raw) and ct1 cut to 255 bytes (short).
kw_decrypt_inputs() {
	head -c 32 /dev/urandom >secret1
	head -c 32 /dev/urandom >secret2
	kw_encrypt "$1" secret1 ct1
	kw_encrypt "$1" secret2 ct2
	{ printf '\000\001'; head -c 254 /dev/zero | tr '\0' '\377'; } >block
	openssl pkeyutl -encrypt -pubin -inkey "$1" -pkeyopt rsa_padding_mode:none \
		-in block -out badpad || kw_fail "openssl raw encryption"
	head -c 255 ct1 >short
}

# kw_probe_line TAG NAME: the probe's line for NAME in TAG.out.
kw_probe_line() { grep -F -- "$2:" "$1.out" | head -1; }

# kw_decrypt_probe KEY MODULE WHO: the probe, with KEY (a keyward key
# reference; MODULE: the PKCS#11 module, "-" for the TPM), decrypts ct1,
# badpad, short and ct2 of kw_decrypt_inputs (to pt1, pt3, pt4, pt2), then
# signs; output in probe.out and probe.err.  Fails, naming WHO (the key's
# holder: "the TPM"), unless both secrets come back in 0600 files, the two
# bad ciphertexts are refused with their messages and nothing written, the
# key still signs after them and the counters say so.
kw_decrypt_probe() {
	"$KW_BUILDDIR/tests/tpm/decrypt_probe" "$1" "$2" ct1 pt1 badpad pt3 \
		short pt4 ct2 pt2 >probe.out 2>probe.err ||
		kw_fail "probe: $(cat probe.out probe.err)"
	[ "$(kw_probe_line probe can)" = "can: ok" ] ||
		kw_fail "can: $(cat probe.out probe.err)"
	[ "$(kw_probe_line probe ct1)" = "ct1: ok 32" ] ||
		kw_fail "ct1: $(cat probe.out probe.err)"
	cmp -s secret1 pt1 || kw_fail "$3 decrypted ct1 to something else"
	[ "$(kw_probe_line probe ct2)" = "ct2: ok 32" ] ||
		kw_fail "ct2: $(cat probe.out probe.err)"
	cmp -s secret2 pt2 || kw_fail "$3 decrypted ct2 to something else"
	[ "$(stat -c %a pt1)" = 600 ] || kw_fail "plaintext file mode"
	kw_probe_line probe badpad | grep -q "^badpad: err -27 " ||
		kw_fail "bad padding: $(cat probe.out)"
	grep -q "could not decrypt the message" probe.err ||
		kw_fail "no message for the bad padding: $(cat probe.err)"
	kw_probe_line probe short | grep -q "^short: err -27 " ||
		kw_fail "short: $(cat probe.out)"
	grep -q "the ciphertext is 255 bytes, an rsa2048 key decrypts exactly 256" probe.err ||
		kw_fail "no message for the short ciphertext: $(cat probe.err)"
	if [ -e pt3 ] || [ -e pt4 ]; then
		kw_fail "a failed decryption wrote plaintext"
	fi
	[ "$(kw_probe_line probe sign)" = "sign: ok" ] ||
		kw_fail "sign after decrypt: $(cat probe.out probe.err)"
	[ "$(kw_probe_line probe counts)" = "counts: decrypts=2 failures=2 signs=1" ] ||
		kw_fail "counters: $(kw_probe_line probe counts)"
}

# keyward in the background: kw_start_keyward TAG ARGS... (sets KPID; log
# in $KW_T/TAG.log)
kw_start_keyward() {
	local tag=$1
	shift
	"$KEYWARD" "$@" >"$KW_T/$tag.log" 2>&1 &
	KPID=$!
	kw_track "$KPID"
}

# The network process of `keyward run` PID (its child that is not the
# signer; PID itself under --no-sandbox): kw_net_pid PID.
kw_net_pid() {
	local c
	c=$(ps -o pid=,args= --ppid "$1" 2>/dev/null | awk '!/__signer/ { print $1 }' | head -1)
	echo "${c:-$1}"
}

# A counter from `keyward status --json`: kw_status_get SOCKET TUNNEL PATH,
# e.g. kw_status_get ctl web handshakes.full
kw_status_get() {
	"$KEYWARD" status --json --socket "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
t = [t for t in d["tunnels"] if t["name"] == sys.argv[1]][0]
for k in sys.argv[2].split("."):
    t = t[k]
print(t)' "$2" "$3"
}

# Stop every keyward the test still runs (under --enable-sanitizers each
# writes its report into its log as it exits).
kw_stop_keywards() {
	local pid
	for pid in $KW_PIDS; do
		ps -o comm= -p "$pid" 2>/dev/null | grep -q keyward && kw_stop "$pid"
	done
	return 0
}

# Fail if any of FILES holds a sanitizer report.
kw_no_sanitizer_reports() {
	if grep -l "Sanitizer\|runtime error" "$@" >/dev/null 2>&1; then
		kw_fail "sanitizer report: $(grep -h -A5 "Sanitizer\|runtime error" "$@" | head -20)"
	fi
	return 0
}

# pebble, the ACME test CA, on 127.0.0.1 with a fresh TLS certificate from
# the test CA "pebble-tls":  kw_start_pebble [eab] [ENV=VALUE...]
# Sets KW_PEBBLE_DIR (directory URL), KW_PEBBLE_CA (trust for its TLS),
# KW_PEBBLE_ROOT (its issuing root, PEM), KW_PEBBLE_HTTP_PORT (where it
# validates http-01 for "localhost") and, with "eab", the key id "kid-1"
# with its MAC key in the 0600 file $KW_T/eab-hmac.
kw_start_pebble() {
	local eab=false port dir="$KW_T/pebble" macs=""
	kw_need pebble openssl curl
	if [ "${1:-}" = eab ]; then
		eab=true
		shift
	fi
	mkdir -p "$dir"
	kw_make_ca pebble-tls
	kw_make_server_cert pebble 7 DNS:localhost,IP:127.0.0.1 pebble-tls
	port=$(kw_free_port 3)
	KW_PEBBLE_HTTP_PORT=$(kw_free_port 2)
	if $eab; then
		# 48 random bytes, base64url
		openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n' >"$KW_T/eab-hmac"
		chmod 600 "$KW_T/eab-hmac"
		macs=", \"externalAccountMACKeys\": {\"kid-1\": \"$(cat "$KW_T/eab-hmac")\"}"
	fi
	cat >"$dir/config.json" <<JSON
{ "pebble": {
  "listenAddress": "127.0.0.1:$port",
  "managementListenAddress": "127.0.0.1:$((port + 1))",
  "certificate": "$KW_T/pebble.pem",
  "privateKey": "$KW_T/pebble.key",
  "httpPort": $KW_PEBBLE_HTTP_PORT,
  "tlsPort": $((KW_PEBBLE_HTTP_PORT + 1)),
  "ocspResponderURL": "",
  "externalAccountBindingRequired": $eab$macs
} }
JSON
	env PEBBLE_VA_NOSLEEP=1 "$@" pebble -config "$dir/config.json" \
		>"$dir/pebble.log" 2>&1 &
	kw_track $!
	kw_wait_port "$port" 20 || kw_fail "pebble did not start (see $dir/pebble.log)"
	kw_wait_port $((port + 1)) 10 || kw_fail "pebble management did not start"
	KW_PEBBLE_DIR="https://localhost:$port/dir"
	KW_PEBBLE_CA="$KW_T/pebble-tls/ca.pem"
	KW_PEBBLE_ROOT="$dir/root.pem"
	curl -sf --cacert "$KW_PEBBLE_CA" "https://localhost:$((port + 1))/roots/0" \
		-o "$KW_PEBBLE_ROOT" || kw_fail "cannot fetch pebble's root"
}

# A test re-runs itself in a private network namespace (root only), so
# servers that bind every address (scepserver) stay off the network:
# kw_private_netns "$0" "$@" at the top of the script, before anything starts.
# Skips when the namespace cannot be made.
kw_private_netns() {
	local self=$1
	shift
	[ -n "${KW_IN_NETNS:-}" ] && return 0
	kw_need unshare ip
	[ "$(id -u)" = 0 ] || kw_skip "a private network namespace needs root"
	unshare -n true 2>/dev/null || kw_skip "unshare -n is not allowed here"
	# the re-run makes its own temp dir; this one is still empty
	rmdir "$KW_T"
	trap - EXIT
	KW_IN_NETNS=1 exec unshare -n /bin/bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$self" "$@"
}

# micromdm's scepserver (Debian package scep) with a fresh CA (RSA 2048) in
# $KW_T/scep and challenge password $1; extra scepserver flags follow.
# Binds all addresses: run it only inside kw_private_netns.  Sets
# KW_SCEP_URL, KW_SCEP_CA (PEM) and KW_SCEP_FP (SHA-256 of the CA).
kw_start_scepserver() {
	local challenge=$1 port dir="$KW_T/scep"
	shift
	[ -n "${KW_IN_NETNS:-}" ] || kw_fail "kw_start_scepserver outside kw_private_netns"
	kw_need scepserver openssl
	mkdir -p "$dir"
	(cd "$dir" && scepserver ca -init -depot depot -keySize 2048 \
		-organization keyward-test >ca-init.log 2>&1) ||
		kw_fail "scepserver ca -init failed (see $dir/ca-init.log)"
	port=$(kw_free_port 1)
	(cd "$dir" && exec scepserver -depot depot -port "$port" \
		-challenge "$challenge" "$@") >"$dir/scepserver.log" 2>&1 &
	kw_track $!
	kw_wait_port "$port" 20 || kw_fail "scepserver did not start (see $dir/scepserver.log)"
	KW_SCEP_URL="http://127.0.0.1:$port/scep"
	KW_SCEP_CA="$dir/depot/ca.pem"
	KW_SCEP_FP=$(openssl x509 -in "$KW_SCEP_CA" -outform DER |
		openssl dgst -sha256 -r | cut -d' ' -f1)
}
