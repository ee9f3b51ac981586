#!/bin/bash
# Secrets around PKCS#11 keys (issue 9):
#   PIN, password and auth-value files that others can read, or that
#   another user owns, are refused with the chmod/chown that fixes them
#   (the PIN is then not sent at all);
#   a PIN written in a key URI (pin-value) never appears in a message, and
#   `enroll est --state` refuses to write one into its state file;
#   pin-source is a query attribute: the parser and the hints say so.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KW_SRCDIR/tests/pkcs11/lsan.supp"

SHIM=$KW_BUILDDIR/tests/pkcs11/libkwshim.so
[ -f "$SHIM" ] || kw_fail "build the test helpers first (make check)"
kw_need openssl
kw_start_softhsm kwsec
MOD=$KW_SOFTHSM_MODULE
cd "$KW_T" || exit 1
KEY="pkcs11:token=kwsec;object=k"
export KW_SHIM_MODULE=$MOD KW_SHIM_LOG=$KW_T/logins
logins() { if [ -f logins ]; then wc -l <logins; else echo 0; fi; }
run() { kw_run "$@"; }		# TAG WANT-EXIT keyward-args...: TAG.out, TAG.err
expect() { kw_expect "$@"; }	# TAG TEXT: TAG.err holds TEXT (fixed string)
run keygen 0 keygen --module "$MOD" --alg ec-p256 --key "$KEY?pin-source=file:$KW_T/pin"

echo "== secret files with unsafe modes or owners"
cp pin pin644 && chmod 644 pin644
cp pin pin640 && chmod 640 pin640
: >logins
run pin644 3 csr --module "$SHIM" --key "$KEY?pin-source=file:$KW_T/pin644" --subject CN=x
expect pin644 "PIN file $KW_T/pin644 is accessible by every user (mode 0644)"
expect pin644 "chmod 600 $KW_T/pin644"
run pin640 3 csr --module "$SHIM" --key "$KEY?pin-source=file:$KW_T/pin640" --subject CN=x
expect pin640 "accessible by its group (mode 0640)"
[ "$(logins)" = 0 ] || kw_fail "a PIN from an unsafe file was sent to the token"
if [ "$(id -u)" = 0 ]; then
	cp pin pinother && chmod 600 pinother && chown 65534 pinother
	run pinother 3 csr --module "$SHIM" --key "$KEY?pin-source=file:$KW_T/pinother" --subject CN=x
	expect pinother "belongs to uid 65534, not to the user keyward runs as"
	expect pinother "chown root $KW_T/pinother"
	echo "ok a PIN file another user owns is refused"
fi
run tokens644 3 tokens --module "$SHIM" --login --pin-file "$KW_T/pin644"
expect tokens644 "chmod 600"
[ "$(logins)" = 0 ] || kw_fail "tokens --login sent a PIN from an unsafe file"
run tokens600 0 tokens --module "$SHIM" --login --pin-file "$KW_T/pin"
grep -q "private ec-p256" tokens600.out || kw_fail "tokens --login with a 0600 PIN file"
printf 'secret\n' >auth644 && chmod 644 auth644
run auth644 3 csr --key "tpm:$KW_T/none.pem" --auth-file "$KW_T/auth644" --subject CN=x
expect auth644 "auth-value file $KW_T/auth644 is accessible by every user"
kw_make_ca ca
printf 'hunter2\n' >pw644 && chmod 644 pw644
run pw644 3 enroll est --server https://127.0.0.1:9/.well-known/est --ca ca/ca.pem \
	--key "$KEY?pin-source=file:$KW_T/pin" --subject CN=x --out x.pem \
	--user alice --password-file "$KW_T/pw644"
expect pw644 "password file $KW_T/pw644 is accessible by every user"
echo "ok PIN, auth-value and password files readable by others are refused, the PIN not sent"

echo "== pin-value never shown"
run pv-connect 3 connect --module "$MOD" --key "pkcs11:token=kwsec;object=nosuch?pin-value=24680135" \
	--cert x.pem --ca ca/ca.pem 127.0.0.1:9
expect pv-connect "pin-value=<redacted>"
run pv-absent 3 csr --module "$MOD" --key "pkcs11:token=nosuch;object=k?pin-value=24680135" \
	--subject CN=x
run pv-wrong 3 csr --module "$MOD" --key "$KEY?pin-value=24680135" --subject CN=x
expect pv-wrong "refused this PIN before"
run pv-state 2 enroll est --server https://127.0.0.1:9/.well-known/est --ca ca/ca.pem \
	--key "$KEY?pin-value=24680135" --subject CN=x --out x.pem --state "$KW_T/x.state"
expect pv-state "would be written into the state file"
run pv-state2 2 enroll est --server https://127.0.0.1:9/.well-known/est --ca ca/ca.pem \
	--key "$KEY?pin-value=24680135" --subject CN=x --out x.pem
expect pv-state2 "would be written into the state file"
[ -e x.state ] || [ -e x.pem.state ] && kw_fail "a state file was written for a pin-value URI"
run pv-usage 2 status "pkcs11:token=kwsec;object=k?pin-value=24680135"
expect pv-usage "pin-value=<redacted>"
grep -l 24680135 ./*.err ./*.out && kw_fail "pin-value shown in a message"
grep -rl 24680135 "$KEYWARD_STATE_DIR" 2>/dev/null && kw_fail "pin-value written to the state dir"
echo "ok pin-value redacted in every message, kept out of the state file"

echo "== pin-source is a query attribute"
run ps-path 2 csr --module "$MOD" --key "$KEY;pin-source=file:$KW_T/pin" --subject CN=x
expect ps-path "pin-source is a query attribute: write it after '?'"
run ps-none 3 csr --module "$MOD" --key "$KEY" --subject CN=x
expect ps-none "add ?pin-source=file:PATH to the key URI"
grep -q '?pin-source=file:' "$KW_SRCDIR/README.md" ||
	kw_fail "README does not show pin-source after '?'"
grep -q '[;|]pin-source' "$KW_SRCDIR/README.md" && kw_fail "README shows ;pin-source"
echo "ok pin-source: the parser, the hint and the README put it after '?'"
echo "PASS: secrets"
