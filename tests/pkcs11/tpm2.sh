#!/bin/bash
# keyward with the TPM reached through PKCS#11: tpm2-pkcs11 over swtpm
# (TPM2_PKCS11_TCTI, store in a temp dir, token made with the module's own
# C_InitToken via pkcs11-tool).  keygen EC and RSA, CSR verified by openssl,
# mutual TLS with `openssl s_server -Verify 1`, data both ways.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
# sanitizer builds: leaks inside the foreign modules are not ours
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KW_SRCDIR/tests/pkcs11/lsan.supp"

kw_need swtpm pkcs11-tool tpm2_flushcontext openssl ss
TMOD=$(ls /usr/lib/*/pkcs11/libtpm2_pkcs11.so /usr/lib/*/libtpm2_pkcs11.so.1 2>/dev/null | head -1)
[ -n "$TMOD" ] || kw_skip "libtpm2_pkcs11 not installed"
cd "$KW_T" || exit 1
kw_start_swtpm tpm
export TPM2_PKCS11_TCTI=$KW_TCTI TPM2_PKCS11_STORE=$KW_T/store TPM2_PKCS11_LOG_LEVEL=0
mkdir -p store
# No resource manager on swtpm: clear what a tool may leave loaded.
flush() { tpm2_flushcontext -t >/dev/null 2>&1; tpm2_flushcontext -s >/dev/null 2>&1; }
pkcs11-tool --module "$TMOD" --init-token --label tpmtok --so-pin 2222 >init.log 2>&1 ||
	kw_fail "cannot make a tpm2-pkcs11 token: $(cat init.log)"
flush
pkcs11-tool --module "$TMOD" --token-label tpmtok --login --login-type so \
	--so-pin 2222 --init-pin --pin 1111 >>init.log 2>&1 ||
	kw_fail "cannot set the user PIN: $(cat init.log)"
flush
printf '1111\n' >pin
chmod 600 pin
PS="?pin-source=file:$KW_T/pin"

kw_make_ca ca
kw_make_server_cert server 7
PORT=$(kw_free_port)
mkfifo srv.in
openssl s_server -accept "$PORT" -quiet -Verify 1 -verify_return_error \
	-cert server.pem -key server.key -CAfile ca/ca.pem <srv.in >srv.out 2>&1 &
kw_track $!
exec 7<>srv.in
n=0
while ! ss -Hltn "sport = :$PORT" | grep -q .; do
	sleep 0.1; n=$((n + 1)); [ $n -ge 100 ] && kw_fail "s_server did not start"
done
wait_for() {
	local n=0
	while ! grep -qF -- "$2" "$1" 2>/dev/null; do
		sleep 0.1; n=$((n + 1)); [ $n -ge 200 ] && return 1
	done
	return 0
}

for alg in ec-p256 rsa2048; do
	KEY="pkcs11:token=tpmtok;object=tpm-$alg$PS"
	flush
	"$KEYWARD" keygen --module "$TMOD" --alg "$alg" --key "$KEY" >"$alg.pub" 2>"$alg.err" ||
		kw_fail "keygen $alg in tpm2-pkcs11: $(cat "$alg.err")"
	flush
	"$KEYWARD" keygen --module "$TMOD" --alg "$alg" --key "$KEY" >/dev/null 2>"$alg.err2" &&
		kw_fail "a second keygen $alg was not refused"
	grep -q "already has an object labelled" "$alg.err2" ||
		kw_fail "second keygen: $(cat "$alg.err2")"
	flush
	"$KEYWARD" csr --module "$TMOD" --key "$KEY" --subject "CN=tpm-$alg" \
		--out "$alg.csr" 2>"$alg.err" || kw_fail "csr $alg: $(cat "$alg.err")"
	openssl req -in "$alg.csr" -verify -noout 2>&1 | grep -q 'verify OK' ||
		kw_fail "openssl rejects the $alg CSR"
	openssl req -in "$alg.csr" -pubkey -noout | cmp -s - "$alg.pub" ||
		kw_fail "$alg: the CSR's key is not the token's"
	kw_sign_csr "$alg.csr" "$alg.crt" 7
	flush
	rm -f "$alg.cin"
	mkfifo "$alg.cin"
	"$KEYWARD" connect --module "$TMOD" --key "$KEY" --cert "$alg.crt" \
		--ca ca/ca.pem --servername localhost "127.0.0.1:$PORT" \
		<"$alg.cin" >"$alg.cout" 2>"$alg.cerr" &
	kpid=$!
	exec 8>"$alg.cin"
	echo "client says $alg" >&8
	wait_for srv.out "client says $alg" ||
		kw_fail "$alg: s_server never got the data: $(cat "$alg.cerr")"
	echo "server says $alg" >&7
	wait_for "$alg.cout" "server says $alg" ||
		kw_fail "$alg: no data from the server: $(cat "$alg.cerr")"
	exec 8>&-
	rc=0
	wait "$kpid" || rc=$?
	[ "$rc" = 0 ] || kw_fail "$alg: connect exited $rc: $(cat "$alg.cerr")"
	grep -q "signatures made by the .*: 1$" "$alg.cerr" ||
		kw_fail "$alg: no signature count: $(cat "$alg.cerr")"
	if grep -q TLSv1.2 "$alg.cerr"; then
		# a token without CKM_RSA_PKCS_PSS: said clearly, not hidden
		grep -q "does not offer CKM_RSA_PKCS_PSS.*TLS 1.3 requires" "$alg.cerr" ||
			kw_fail "$alg: TLS 1.2 without an explanation: $(cat "$alg.cerr")"
	fi
	echo "ok $alg in the TPM through tpm2-pkcs11: keygen, CSR, mutual TLS ($(grep -o 'TLSv1\.[23]' "$alg.cerr" | head -1))"
done
echo "PASS: tpm2-pkcs11 over swtpm"
