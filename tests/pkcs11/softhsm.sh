#!/bin/bash
# keyward with PKCS#11 tokens: SoftHSM2 (a token in a temp dir), OpenSC
# without a reader, and a test-only shim module over SoftHSM2 for what a
# real token cannot be made to do on demand (locked PIN, final try, PIN pad,
# a card pulled under a running process, counting C_Login calls).
#   keygen for each algorithm: attributes as pkcs11-tool shows them, the
#   private value refused by the token, a second keygen refused;
#   `keyward tokens` with and without --login, its URIs usable as --key;
#   csr (openssl req -verify) and connect (openssl s_server -Verify 1) for
#   EC and RSA keys; an "employee card" provisioned with pkcs11-tool; an
#   extractable key refused unless --allow-exportable-key; wrong PIN (one
#   C_Login, exit 3), locked, final try, PIN pad, no PIN source; token
#   directory moved away under a running process and restored; OpenSC with
#   no reader.  PINs are in files, never on keyward's argv.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
# sanitizer builds: leaks inside the foreign modules are not ours
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KW_SRCDIR/tests/pkcs11/lsan.supp"

kw_need openssl ss
kw_start_softhsm kwtest
MOD=$KW_SOFTHSM_MODULE
PROBE=$KW_BUILDDIR/tests/pkcs11/p11_probe
SHIM=$KW_BUILDDIR/tests/pkcs11/libkwshim.so
[ -x "$PROBE" ] && [ -f "$SHIM" ] || kw_fail "build the test helpers first (make check)"
cd "$KW_T" || exit 1
printf '999999\n' >badpin
chmod 600 badpin
PS="?pin-source=file:$KW_T/pin"
P11TOOL="pkcs11-tool --module $MOD --token-label kwtest"

# obj TYPE LABEL: pkcs11-tool's block for the object with that label
# (--label does not filter --list-objects)
obj() {
	$P11TOOL --login --pin 123456 --list-objects --type "$1" 2>/dev/null |
		awk -v want="$2" '/Object;/ { if (hit) printf "%s", buf; buf = ""; hit = 0 }
			{ buf = buf $0 "\n" }
			$1 == "label:" && $2 == want && NF == 2 { hit = 1 }
			END { if (hit) printf "%s", buf }'
}

run() { kw_run "$@"; }		# TAG WANT-EXIT keyward-args...: TAG.out, TAG.err
expect() { kw_expect "$@"; }	# TAG TEXT: TAG.err holds TEXT (fixed string)

echo "== keygen on SoftHSM2"
for alg in ec-p256 ec-p384 rsa2048 rsa3072; do
	run "keygen-$alg" 0 keygen --module "$MOD" --alg "$alg" \
		--key "pkcs11:token=kwtest;object=k-$alg$PS"
	cp "keygen-$alg.out" "$alg.pub"
	openssl pkey -pubin -in "$alg.pub" -noout 2>/dev/null ||
		kw_fail "keygen $alg printed no public key"
	obj privkey "k-$alg" >"$alg.obj"
	grep -q "Access: *sensitive, always sensitive, never extractable" "$alg.obj" ||
		kw_fail "$alg: not sensitive/never extractable: $(cat "$alg.obj")"
	grep -q "Usage: *sign$" "$alg.obj" ||
		kw_fail "$alg: the key may do more than sign: $(cat "$alg.obj")"
	"$PROBE" --read-value "pkcs11:token=kwtest;object=k-$alg$PS" "$MOD" \
		>"$alg.value" 2>&1
	grep -q "CKR_ATTRIBUTE_SENSITIVE" "$alg.value" &&
	! grep -q ": CKR_OK" "$alg.value" ||
		kw_fail "$alg: the token did not refuse the private value: $(cat "$alg.value")"
	# the public and private objects share one fresh 16-byte CKA_ID
	obj pubkey "k-$alg" | grep -o 'ID: *[0-9a-f]*' >"$alg.pubid"
	grep -o 'ID: *[0-9a-f]*' "$alg.obj" | cmp -s - "$alg.pubid" ||
		kw_fail "$alg: public and private objects have different ids"
	[ "$(awk '{print length($2)}' "$alg.pubid")" = 32 ] ||
		kw_fail "$alg: the CKA_ID is not 16 bytes"
	echo "ok keygen $alg: sensitive, never extractable, sign only, value refused"
done
run keygen-again 3 keygen --module "$MOD" --key "pkcs11:token=kwtest;object=k-ec-p256$PS"
expect keygen-again "already has an object labelled 'k-ec-p256'"
run keygen-bad-uri 2 keygen --module "$MOD" --key "pkcs11:token=kwtest;objekt=x$PS"
expect keygen-bad-uri "unknown path attribute 'objekt'"
echo "ok keygen refuses an existing label and a bad URI"

echo "== keyward tokens"
run tokens 0 tokens --module "$MOD"
grep -q "token 'kwtest'.*serial" tokens.out || kw_fail "tokens: no token line"
grep -q "login required" tokens.out || kw_fail "tokens: no flags"
grep -q "public ec-p256: pkcs11:.*token=kwtest;id=%.*;object=k-ec-p256;type=public" tokens.out ||
	kw_fail "tokens: no public key URI: $(cat tokens.out)"
grep -q "^ *private" tokens.out && kw_fail "tokens listed private keys without --login"
grep -q "private keys are hidden: add --login" tokens.out || kw_fail "tokens: no --login hint"
run tokens-login 0 tokens --module "$MOD" --login --pin-file "$KW_T/pin"
grep -q "private rsa3072: pkcs11:.*object=k-rsa3072;type=private" tokens-login.out ||
	kw_fail "tokens --login: no private key URI: $(cat tokens-login.out)"
grep -A1 "private ec-p384" tokens-login.out | grep -q "sensitive, not extractable, never extractable" ||
	kw_fail "tokens --login: no key attributes"
# the listed URI (id and all) names the key
URI384=$(sed -n 's/^ *private ec-p384: //p' tokens-login.out)
run csr-listed 0 csr --module "$MOD" --key "$URI384$PS" --subject CN=listed
openssl req -in csr-listed.out -verify -noout 2>&1 | grep -q 'verify OK' ||
	kw_fail "the CSR made with the listed URI does not verify"
echo "ok tokens lists public objects, private ones with --login, URIs work as --key"

echo "== csr and connect with SoftHSM2 keys"
kw_make_ca ca
kw_make_server_cert server 7
kw_start_s_server srv -cert server.pem -key server.key -CAfile ca/ca.pem
PORT=$KW_S_PORT
wait_for() { kw_wait_for -F "$1" "$2"; }	# FILE TEXT (fixed string)
# talk TAG KEYURI CERT [connect options]: one line each way (TAG.cerr)
talk() {
	local tag=$1 key=$2 cert=$3
	shift 3
	kw_talk "$tag" srv --module "$MOD" --key "$key" --cert "$cert" \
		--ca ca/ca.pem --servername localhost "$@" "127.0.0.1:$PORT"
}
for alg in ec-p256 ec-p384 rsa2048 rsa3072; do
	run "csr-$alg" 0 csr --module "$MOD" --key "pkcs11:token=kwtest;object=k-$alg$PS" \
		--subject "CN=hsm-$alg" --out "$alg.csr"
	openssl req -in "$alg.csr" -verify -noout 2>&1 | grep -q 'verify OK' ||
		kw_fail "openssl rejects the $alg CSR"
	openssl req -in "$alg.csr" -pubkey -noout | cmp -s - "$alg.pub" ||
		kw_fail "$alg: the CSR's key is not the token's"
	kw_sign_csr "$alg.csr" "$alg.crt" 7
	case $alg in ec-p256|rsa2048)
		talk "tls13-$alg" "pkcs11:token=kwtest;object=k-$alg$PS" "$alg.crt"
		grep -q TLSv1.3 "tls13-$alg.cerr" || kw_fail "$alg: not TLS 1.3"
		talk "tls12-$alg" "pkcs11:token=kwtest;object=k-$alg$PS" "$alg.crt" --tls1.2
		echo "ok $alg: CSR verified, mutual TLS 1.3 and 1.2 signed by SoftHSM2";;
	*)	echo "ok $alg: CSR verified";;
	esac
done

echo "== employee card: key and certificate provisioned with pkcs11-tool"
kw_softhsm_card kwtest employee /CN=alice
CARD="pkcs11:token=kwtest;id=%42%01$PS"
talk card "$CARD" card.crt
grep -qF "CN = alice" srv.out || kw_fail "s_server did not see the card certificate"
# the certificate is read from the token (same CKA_ID, same public key)
printf 'cert %s\nquit\n' "$KW_T/card.fromtoken.der" |
	"$PROBE" "$CARD" "$MOD" >card.probe 2>&1
grep -q "^ok 0" card.probe || kw_fail "cannot read the card certificate: $(cat card.probe)"
cmp -s card.fromtoken.der card.der || kw_fail "the certificate read from the token differs"
echo "ok employee card: found by id, TLS with it, certificate read from the token"

# storing a certificate next to a key: replaces the older one with that id
printf 'store %s\nstore %s\nquit\n' "$KW_T/card.der" "$KW_T/card.der" |
	"$PROBE" "$CARD" "$MOD" >store.probe 2>&1
[ "$(grep -c '^ok 0' store.probe)" = 2 ] || kw_fail "cert store: $(cat store.probe)"
[ "$($P11TOOL --list-objects --type cert 2>/dev/null | grep -c 'ID: *4201')" = 1 ] ||
	kw_fail "cert store left more than one certificate with the key's id"
openssl x509 -in ec-p256.crt -outform DER -out other.der
printf 'store %s\nquit\n' "$KW_T/other.der" | "$PROBE" "$CARD" "$MOD" >store2.probe 2>&1
grep -q "is not for key 'employee'" store2.probe ||
	kw_fail "a certificate for another key was stored: $(cat store2.probe)"
echo "ok certificates stored next to the key (one per id), a foreign one refused"

echo "== extractable key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -outform DER -out soft.der 2>/dev/null
$P11TOOL --login --pin 123456 --write-object soft.der --type privkey --id 4301 \
	--label soft --usage-sign --extractable >/dev/null 2>&1 ||
	kw_fail "pkcs11-tool could not import the extractable key"
openssl pkey -inform DER -in soft.der -pubout -outform DER -out soft.pub.der
$P11TOOL --login --pin 123456 --write-object soft.pub.der --type pubkey --id 4301 \
	--label soft >/dev/null 2>&1 || kw_fail "cannot import the public key"
run exportable 3 csr --module "$MOD" --key "pkcs11:token=kwtest;object=soft$PS" --subject CN=x
expect exportable "is extractable"
expect exportable "--allow-exportable-key"
run exportable-ok 0 csr --module "$MOD" --key "pkcs11:token=kwtest;object=soft$PS" \
	--subject CN=x --allow-exportable-key
expect exportable-ok "warning: private key 'soft' on token 'kwtest' is extractable"
openssl req -in exportable-ok.out -verify -noout 2>&1 | grep -q 'verify OK' ||
	kw_fail "CSR with the allowed exportable key does not verify"
echo "ok an extractable key is refused, and used with a warning when allowed"

echo "== PINs (through the counting shim)"
export KW_SHIM_MODULE=$MOD KW_SHIM_LOG=$KW_T/logins
logins() { if [ -f "$KW_T/logins" ]; then wc -l <"$KW_T/logins"; else echo 0; fi; }
: >logins
run wrong-pin 3 csr --module "$SHIM" --key "pkcs11:token=kwtest;object=k-ec-p256?pin-source=file:$KW_T/badpin" --subject CN=x
expect wrong-pin "wrong PIN for token 'kwtest'"
expect wrong-pin "does not retry"
[ "$(logins)" = 1 ] || kw_fail "wrong PIN: $(logins) C_Login calls, want exactly 1"
[ "$(grep -c "wrong PIN" wrong-pin.err)" = 1 ] || kw_fail "wrong PIN reported more than once"
grep -q 999999 wrong-pin.err && kw_fail "the PIN appeared in a message"
echo "ok wrong PIN: one C_Login, reported once, exit 3"
: >logins
run good-pin 0 csr --module "$SHIM" --key "pkcs11:token=kwtest;object=k-ec-p256$PS" --subject CN=x
[ "$(logins)" = 1 ] || kw_fail "good PIN: $(logins) C_Login calls"
: >logins
KW_SHIM_FLAGS=locked run locked 3 csr --module "$SHIM" --key "pkcs11:token=kwtest;object=k-ec-p256$PS" --subject CN=x
expect locked "PIN of token 'kwtest' is locked"
[ "$(logins)" = 0 ] || kw_fail "locked: keyward tried C_Login"
echo "ok locked PIN: not tried, exit 3"
KW_SHIM_FLAGS=final run final 3 csr --module "$SHIM" --key "pkcs11:token=kwtest;object=k-ec-p256$PS" --subject CN=x
expect final "only one PIN try left"
[ "$(logins)" = 0 ] || kw_fail "final try: keyward tried C_Login"
KW_SHIM_FLAGS=final KEYWARD_RISK_FINAL_PIN_TRY=1 run final-risk 0 csr --module "$SHIM" \
	--key "pkcs11:token=kwtest;object=k-ec-p256$PS" --subject CN=x
expect final-risk "trying once as asked"
[ "$(logins)" = 1 ] || kw_fail "final try (risked): $(logins) C_Login calls"
: >logins
KW_SHIM_FLAGS=low run low 0 csr --module "$SHIM" --key "pkcs11:token=kwtest;object=k-ec-p256$PS" --subject CN=x
expect low "low PIN count"
echo "ok final try refused unless risked explicitly; PIN count low warned"
: >logins
KW_SHIM_FLAGS=pinpad KW_SHIM_PINPAD=$KW_T/pin run pinpad 0 csr --module "$SHIM" \
	--key "pkcs11:token=kwtest;object=k-ec-p256" --subject CN=x
expect pinpad "on the reader's PIN pad"
[ "$(logins)" = 1 ] || kw_fail "PIN pad: $(logins) C_Login calls"
echo "ok PIN pad: C_Login with no PIN from keyward"
run no-pin 3 csr --module "$MOD" --key "pkcs11:token=kwtest;object=k-ec-p256" --subject CN=x
expect no-pin "needs its user PIN and there is no way to ask for it"
run pin-value 0 csr --module "$MOD" --key "pkcs11:token=kwtest;object=k-ec-p256?pin-value=123456" --subject CN=x
expect pin-value "written in the key URI (pin-value)"
grep -q 123456 pin-value.err && kw_fail "pin-value leaked into a message"
echo "ok no PIN source: clear error; pin-value works with a warning"
if command -v script >/dev/null 2>&1; then
	# on a terminal: a no-echo prompt on /dev/tty
	(sleep 1; printf '123456\n') | timeout 20 script -qec "'$KEYWARD' csr --module '$MOD' \
		--key 'pkcs11:token=kwtest;object=k-ec-p256' --subject CN=tty --out '$KW_T/tty.csr'" \
		/dev/null >tty.log 2>&1 || kw_fail "PIN prompt on a terminal: $(cat tty.log)"
	grep -q "PIN for token 'kwtest': " tty.log || kw_fail "no PIN prompt: $(cat tty.log)"
	grep -q 123456 tty.log && kw_fail "the PIN was echoed on the terminal"
	openssl req -in tty.csr -verify -noout 2>&1 | grep -q 'verify OK' ||
		kw_fail "CSR after the terminal prompt does not verify"
	echo "ok PIN prompt on the terminal, not echoed"
fi

echo "== token removed under a running process, then back"
# (a) the shim pulls the "card": removal is reported, login again after
: >logins
export KW_SHIM_ABSENT=$KW_T/pulled
# start_probe URI MODULE: p11_probe reading commands from fd 9 (PPID_)
start_probe() {
	rm -f probe.in probe.out probe.err
	mkfifo probe.in
	"$PROBE" "$1" "$2" <probe.in >probe.out 2>probe.err &
	PPID_=$!
	kw_track $PPID_
	exec 9>probe.in
	wait_for probe.out ready || kw_fail "probe did not start: $(cat probe.err)"
}
start_probe "pkcs11:token=kwtest;object=k-ec-p256$PS" "$SHIM"
step() {	# step WANT-LINE-N TEXT
	echo sign >&9
	local n=0
	while [ "$(wc -l <probe.out)" -lt "$1" ]; do
		sleep 0.05; n=$((n + 1)); [ $n -ge 200 ] && kw_fail "probe hangs"
	done
	tail -1 probe.out | grep -q "^$2" || kw_fail "probe: want '$2', got '$(tail -1 probe.out)': $(cat probe.err)"
}
step 2 ok
touch pulled
step 3 "err -11"
step 4 "err -11"
rm pulled
step 5 ok
step 6 ok
grep -q "went away" probe.err || kw_fail "no 'went away' message"
grep -q "is not present" probe.err || kw_fail "no 'not present' message"
grep -q "is back: logged in again" probe.err || kw_fail "no 'logged in again'"
[ "$(logins)" = 2 ] || kw_fail "pulled card: $(logins) C_Login calls, want 2 (start, return)"
echo quit >&9
exec 9>&-
wait $PPID_ || kw_fail "probe failed"
unset KW_SHIM_ABSENT
echo "ok pulled card: clear error while absent, one new login when back"

# (b) SoftHSM2 token directory moved away and restored
start_probe "pkcs11:token=kwtest;object=k-rsa2048$PS" "$MOD"
TOKDIR=$(ls -d softhsm/*/ | head -1)
step 2 ok
mv "$TOKDIR" moved-token
step 3 "err -11"
mv moved-token "$TOKDIR"
sleep 1.1	# the module is restarted at most once a second
step 4 ok
step 5 ok
echo quit >&9
exec 9>&-
wait $PPID_ || kw_fail "probe failed"
grep -q "token 'kwtest' (serial .*) is not present" probe.err ||
	kw_fail "no clear 'not present' error: $(cat probe.err)"
echo "ok SoftHSM2 token deleted under a running process: clear error, usable again when restored"

echo "== OpenSC with no reader"
OPENSC=$(ls /usr/lib/*/opensc-pkcs11.so /usr/lib/opensc-pkcs11.so 2>/dev/null | head -1)
if [ -n "$OPENSC" ]; then
	OPENSC_CONF=/dev/null run opensc-tokens 3 tokens --module "$OPENSC"
	expect opensc-tokens "sees no slot at all"
	OPENSC_CONF=/dev/null run opensc-key 3 csr --key "pkcs11:token=card;object=auth" --subject CN=x
	expect opensc-key "opensc-pkcs11.so sees no slot at all"
	echo "ok OpenSC without a reader: clear error, exit 3 (OpenSC is the default module)"
else
	echo "skip OpenSC: not installed"
fi
echo "PASS: PKCS#11 with SoftHSM2"
