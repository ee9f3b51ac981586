# Shared set-up for the strict-TLS tests (tests/tls/names.sh, strict.sh):
# sourced after tests/lib/fixtures.sh, in $KW_T.  Makes a TPM identity
# (me.tpmkey, me.pem; client and server use) and software certificates
# from the test CA, and starts openssl s_server peers.
# shellcheck shell=bash

kw_need swtpm openssl ss timeout
WOLF_PEER=$KW_BUILDDIR/tests/tls/wolf_peer
[ -x "$WOLF_PEER" ] || kw_fail "$WOLF_PEER is not built (make check builds it)"

kw_start_swtpm tpm
kw_make_ca ca
cd "$KW_T" || exit 1

wait_listen() { kw_wait_listen "$1" 10; }
wait_for() { kw_wait_for -F "$1" "$2" 10; }	# FILE TEXT (fixed string)

# cert NAME SAN-LINE [CN] [EKU]: an EC server certificate from the test CA
# (SAN-LINE "" for none).
cert() {
	local name=$1 san=$2 cn=${3:-$1} eku=${4:-serverAuth}
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$name.key" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null ||
		kw_fail "openssl req $name"
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' \
		"$eku" "${san:+subjectAltName=$san}" >"$name.ext"
	openssl x509 -req -in "$name.csr" -CA ca/ca.pem -CAkey ca/ca.key \
		-CAcreateserial -days 7 -out "$name.pem" -extfile "$name.ext" \
		2>"$name.err" || kw_fail "openssl x509 $name: $(cat "$name.err")"
}

# Our TPM identity (client and server use), and the software peers'.
"$KEYWARD" keygen --key "tpm:$KW_T/me.tpmkey" --alg ec-p256 >me.pub \
	2>me.err || kw_fail "keygen: $(cat me.err)"
"$KEYWARD" csr --key "tpm:$KW_T/me.tpmkey" --subject "CN=laptop" \
	--out me.csr 2>me.err || kw_fail "csr: $(cat me.err)"
kw_sign_csr me.csr me.pem 7 "subjectAltName=DNS:localhost,IP:127.0.0.1"
ME=(--key "tpm:$KW_T/me.tpmkey" --cert me.pem --ca ca/ca.pem)
cert srv "DNS:localhost,IP:127.0.0.1"
cert alice "DNS:alice.example" alice clientAuth
cert serveronly "DNS:alice.example" alice serverAuth

# s_server NAME CERT [options...]: on a free port (PORT, SPID), stdin the
# fifo NAME.in held open on fd 7, output NAME.out.
s_server() {
	local name=$1 c=$2
	shift 2
	PORT=$(kw_free_port)
	rm -f "$name.in"
	mkfifo "$name.in"
	openssl s_server -accept "127.0.0.1:$PORT" -cert "$c.pem" -key "$c.key" \
		-CAfile ca/ca.pem -Verify 1 "$@" <"$name.in" >"$name.out" 2>&1 &
	SPID=$!
	kw_track "$SPID"
	exec 7<>"$name.in"
	wait_listen "$PORT"
}

s_server_stop() {
	exec 7>&-
	kw_stop "$SPID"
}

# connect TAG [connect options...] HOSTPORT: keyward connect, stdin empty;
# exit code in RC, stderr in TAG.err.
connect() {
	local tag=$1
	shift
	RC=0
	timeout 20 "$KEYWARD" connect "${ME[@]}" "$@" </dev/null \
		>"$tag.out" 2>"$tag.err" || RC=$?
}

# refused TAG PATTERN: connect exited 4 with PATTERN in its one error line
# and the TPM made no signature (refused before our CertificateVerify).
refused() {
	local tag=$1 pattern=$2
	[ "$RC" = 4 ] || kw_fail "$tag: exit $RC, want 4: $(cat "$tag.err")"
	grep -q -- "$pattern" "$tag.err" ||
		kw_fail "$tag: no '$pattern' in: $(cat "$tag.err")"
	grep -q "signatures made by the TPM: 0\$" "$tag.err" ||
		kw_fail "$tag: the TPM signed before the refusal: $(cat "$tag.err")"
	echo "ok $tag: $(grep -- "$pattern" "$tag.err" | head -1)"
}

accepted() {
	local tag=$1
	[ "$RC" = 0 ] || kw_fail "$tag: exit $RC: $(cat "$tag.err")"
	echo "ok $tag: accepted"
}

