#!/bin/bash
# keyward keygen against swtpm: every algorithm, checked with tpm2-tools and
# openssl; no overwrite; persistent handles; auth values and lockout; a TPM
# restart mid-life; the key file on a second TPM and after TPM2_Clear; an
# unreachable TCTI; and no transient object left behind.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm tpm2_load tpm2_readpublic tpm2_getcap tpm2_flushcontext openssl
SIGN="$KW_BUILDDIR/tests/tpm/tpm_sign"
[ -x "$SIGN" ] || kw_fail "$SIGN not built"

kw_start_swtpm tpm
T1=$KW_TCTI
SWTPM1_PID=$KW_SWTPM_PID

# No resource manager on swtpm: tpm2-tools leave objects and sessions loaded.
flush_all() {
	tpm2_flushcontext -t >/dev/null 2>&1
	tpm2_flushcontext -l >/dev/null 2>&1
	tpm2_flushcontext -s >/dev/null 2>&1
}

# Everything after the first match of the attribute line.
attrs_of() {
	sed -n '/^attributes:/{n;s/^ *value: *//p;q}' "$1"
}

spki_der() { openssl pkey -pubin -in "$1" -outform der 2>/dev/null; }

printf 'hello keyward' >"$KW_T/msg"
for h in sha256 sha384 sha512; do
	openssl dgst -"$h" -binary "$KW_T/msg" >"$KW_T/msg.$h"
done

# verify KEYPUB SCHEME HASH SIG
verify() {
	local pub=$1 scheme=$2 h=$3 sig=$4
	case $scheme in
	ecdsa)	openssl pkeyutl -verify -pubin -inkey "$pub" \
		    -in "$KW_T/msg.$h" -sigfile "$sig" ;;
	pkcs1)	openssl pkeyutl -verify -pubin -inkey "$pub" \
		    -in "$KW_T/msg.$h" -sigfile "$sig" -pkeyopt digest:"$h" ;;
	pss)	openssl pkeyutl -verify -pubin -inkey "$pub" \
		    -in "$KW_T/msg.$h" -sigfile "$sig" -pkeyopt digest:"$h" \
		    -pkeyopt rsa_padding_mode:pss \
		    -pkeyopt rsa_pss_saltlen:digest ;;
	esac >/dev/null 2>&1
}

echo "== keygen, each algorithm"
for alg in ec-p256 ec-p384 rsa2048 rsa3072; do
	key=$KW_T/$alg.pem
	"$KEYWARD" keygen --tcti "$T1" --key "tpm:$key" --alg "$alg" \
		>"$KW_T/$alg.pub" 2>"$KW_T/$alg.err" ||
		kw_fail "keygen $alg: $(cat "$KW_T/$alg.err")"
	grep -q -- '-----BEGIN PUBLIC KEY-----' "$KW_T/$alg.pub" ||
		kw_fail "keygen $alg printed no PEM public key"
	head -1 "$key" | grep -qx -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
		kw_fail "$key is not a TSS2 PRIVATE KEY file"
	[ "$(stat -c %a "$key")" = 600 ] || kw_fail "$key is not mode 0600"
	text=$(openssl pkey -pubin -in "$KW_T/$alg.pub" -noout -text)
	case $alg in
	ec-p256) want="256 bit" ;; ec-p384) want="384 bit" ;;
	rsa2048) want="2048 bit" ;; rsa3072) want="3072 bit" ;;
	esac
	echo "$text" | grep -q "$want" || kw_fail "$alg public key: $text"

	# tpm2-tools reads the file on its own (its SRK from the same
	# template), and sees what keygen claims.
	tpm2_load -r "$key" -c "$KW_T/$alg.ctx" >/dev/null 2>"$KW_T/load.err" ||
		kw_fail "tpm2_load cannot load $key: $(tail -1 "$KW_T/load.err")"
	flush_all
	tpm2_readpublic -c "$KW_T/$alg.ctx" -f pem -o "$KW_T/$alg.tools.pub" \
		>"$KW_T/$alg.rp" 2>/dev/null || kw_fail "tpm2_readpublic $alg"
	flush_all
	a=$(attrs_of "$KW_T/$alg.rp")
	[ "$a" = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|sign" ] ||
		kw_fail "$alg attributes are '$a'"
	cmp -s <(spki_der "$KW_T/$alg.pub") <(spki_der "$KW_T/$alg.tools.pub") ||
		kw_fail "$alg: tpm2_readpublic's public key differs from keygen's"

	# signatures verify with openssl
	if [ "${alg#ec}" != "$alg" ]; then
		schemes=ecdsa; hashes="sha256 sha384"
	else
		schemes="pkcs1 pss"; hashes="sha256 sha384 sha512"
	fi
	for s in $schemes; do
		for h in $hashes; do
			"$SIGN" sign "$key" "$s" "$h" "$KW_T/msg.$h" "$KW_T/sig" \
				2>"$KW_T/sign.err" ||
				kw_fail "sign $alg $s $h: $(cat "$KW_T/sign.err")"
			verify "$KW_T/$alg.pub" "$s" "$h" "$KW_T/sig" ||
				kw_fail "openssl rejects the $alg $s/$h signature"
		done
	done
	echo "ok $alg: tpm2-tools agrees, signatures verify"
done

echo "== tpm2-openssl reads keyward's files, keyward reads tpm2-openssl's"
export TPM2OPENSSL_TCTI=$T1
P=(-provider tpm2 -provider default)
if openssl list -providers "${P[@]}" >/dev/null 2>&1; then
	for alg in ec-p256 rsa2048; do
		openssl pkey "${P[@]}" -in "$KW_T/$alg.pem" -pubout -out "$KW_T/o.pub" \
			2>"$KW_T/err" || kw_fail "tpm2-openssl cannot read $alg.pem: $(cat "$KW_T/err")"
		flush_all
		cmp -s <(spki_der "$KW_T/$alg.pub") <(spki_der "$KW_T/o.pub") ||
			kw_fail "tpm2-openssl sees another public key in $alg.pem"
	done
	openssl pkeyutl "${P[@]}" -sign -inkey "$KW_T/ec-p256.pem" -in "$KW_T/msg.sha256" \
		-out "$KW_T/sig" 2>/dev/null || kw_fail "tpm2-openssl cannot sign with ec-p256.pem"
	flush_all
	verify "$KW_T/ec-p256.pub" ecdsa sha256 "$KW_T/sig" || kw_fail "tpm2-openssl signature"
	openssl genpkey "${P[@]}" -algorithm EC -pkeyopt group:P-256 -out "$KW_T/ossl.pem" \
		2>/dev/null || kw_fail "tpm2-openssl genpkey"
	flush_all
	openssl pkey "${P[@]}" -in "$KW_T/ossl.pem" -pubout -out "$KW_T/ossl.pub" 2>/dev/null
	flush_all
	"$SIGN" sign "$KW_T/ossl.pem" ecdsa sha256 "$KW_T/msg.sha256" "$KW_T/sig" \
		2>"$KW_T/err" || kw_fail "keyward cannot use tpm2-openssl's key: $(cat "$KW_T/err")"
	verify "$KW_T/ossl.pub" ecdsa sha256 "$KW_T/sig" || kw_fail "signature with tpm2-openssl's key"
	echo "ok both ways"
else
	echo "tpm2-openssl not installed (scripts/install-deps adds it): not checked"
fi

echo "== RSA-PSS salt length (TLS 1.3 needs salt = digest length)"
# openssl: the TPM's PSS signature has a salt exactly as long as the hash
"$SIGN" sign "$KW_T/rsa2048.pem" pss sha256 "$KW_T/msg.sha256" "$KW_T/sig" ||
	kw_fail "pss sign"
openssl pkeyutl -verify -pubin -inkey "$KW_T/rsa2048.pub" \
	-in "$KW_T/msg.sha256" -sigfile "$KW_T/sig" -pkeyopt digest:sha256 \
	-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 \
	>/dev/null 2>&1 || kw_fail "swtpm's PSS salt is not 32 bytes for SHA-256"
# and the backend's own probe agrees, so TLS 1.3 may use this key
for h in sha256 sha384 sha512; do
	"$SIGN" supports "$KW_T/rsa2048.pem" pss "$h" 2>"$KW_T/sup.err" ||
		kw_fail "supports(pss,$h) refused: $(cat "$KW_T/sup.err")"
done
"$SIGN" supports "$KW_T/ec-p256.pem" pss sha256 2>/dev/null &&
	kw_fail "an EC key claims RSA-PSS"
echo "ok PSS salt = digest length"

echo "== no overwrite"
cp "$KW_T/ec-p256.pem" "$KW_T/before"
"$KEYWARD" keygen --tcti "$T1" --key "tpm:$KW_T/ec-p256.pem" --alg rsa2048 \
	>"$KW_T/out" 2>"$KW_T/err"
rc=$?
[ $rc -eq 3 ] || kw_fail "second keygen exit $rc, want 3"
cmp -s "$KW_T/before" "$KW_T/ec-p256.pem" || kw_fail "key file was changed"
grep -q "already exists" "$KW_T/err" || kw_fail "no clear message: $(cat "$KW_T/err")"
[ -s "$KW_T/out" ] && kw_fail "refused keygen printed a public key"
echo "ok refused, exit 3, file intact"

echo "== persistent handle"
H=0x81000123
"$KEYWARD" keygen --tcti "$T1" --key "tpm:$H" >"$KW_T/h.pub" 2>"$KW_T/err" ||
	kw_fail "keygen $H: $(cat "$KW_T/err")"
tpm2_getcap handles-persistent | grep -q "$H" || kw_fail "$H not persistent"
tpm2_readpublic -c "$H" -f pem -o "$KW_T/h.tools.pub" >"$KW_T/h.rp" 2>/dev/null ||
	kw_fail "tpm2_readpublic $H"
flush_all
[ "$(attrs_of "$KW_T/h.rp")" = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|sign" ] ||
	kw_fail "$H attributes are '$(attrs_of "$KW_T/h.rp")'"
cmp -s <(spki_der "$KW_T/h.pub") <(spki_der "$KW_T/h.tools.pub") ||
	kw_fail "$H: public keys differ"
"$SIGN" sign "$H" ecdsa sha256 "$KW_T/msg.sha256" "$KW_T/sig" &&
	verify "$KW_T/h.pub" ecdsa sha256 "$KW_T/sig" || kw_fail "sign with $H"
"$KEYWARD" keygen --tcti "$T1" --key "tpm:$H" >/dev/null 2>&1
[ $? -eq 3 ] || kw_fail "keygen over an occupied handle was not refused"
"$SIGN" delete "$H" || kw_fail "delete $H"
tpm2_getcap handles-persistent | grep -q "$H" && kw_fail "$H still there"
echo "ok $H: create, sign, refuse overwrite, delete"

echo "== auth value, wrong auth, lockout"
printf 'open sesame\n' >"$KW_T/auth"
printf 'wrong\n' >"$KW_T/wrong"
chmod 600 "$KW_T/auth" "$KW_T/wrong"	# secret files: refused otherwise
"$KEYWARD" keygen --tcti "$T1" --key "tpm:$KW_T/auth.pem" \
	--auth-file "$KW_T/auth" >"$KW_T/auth.pub" 2>"$KW_T/err" ||
	kw_fail "keygen with auth: $(cat "$KW_T/err")"
tpm2_load -r "$KW_T/auth.pem" -c "$KW_T/auth.ctx" >/dev/null 2>&1 || kw_fail "tpm2_load auth.pem"
flush_all
tpm2_readpublic -c "$KW_T/auth.ctx" >"$KW_T/auth.rp" 2>/dev/null
flush_all
[ "$(attrs_of "$KW_T/auth.rp")" = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign" ] ||
	kw_fail "key with auth: attributes '$(attrs_of "$KW_T/auth.rp")' (want DA protection)"
KW_TPM_AUTH_FILE=$KW_T/auth "$SIGN" sign "$KW_T/auth.pem" ecdsa sha256 \
	"$KW_T/msg.sha256" "$KW_T/sig" && verify "$KW_T/auth.pub" ecdsa sha256 "$KW_T/sig" ||
	kw_fail "sign with the right auth"
"$SIGN" sign "$KW_T/auth.pem" ecdsa sha256 "$KW_T/msg.sha256" "$KW_T/sig" 2>"$KW_T/err"
[ $? -eq 3 ] && grep -q "needs an auth value" "$KW_T/err" ||
	kw_fail "no auth given: $(cat "$KW_T/err")"
max=$(tpm2_getcap properties-variable | sed -n 's/^TPM2_PT_MAX_AUTH_FAIL: *//p')
max=$((max))
for _ in $(seq 1 "$max"); do
	KW_TPM_AUTH_FILE=$KW_T/wrong "$SIGN" sign "$KW_T/auth.pem" ecdsa sha256 \
		"$KW_T/msg.sha256" "$KW_T/sig" 2>"$KW_T/err"
	[ $? -eq 3 ] && grep -q "rejected the auth value" "$KW_T/err" ||
		kw_fail "wrong auth: $(cat "$KW_T/err")"
done
KW_TPM_AUTH_FILE=$KW_T/auth "$SIGN" sign "$KW_T/auth.pem" ecdsa sha256 \
	"$KW_T/msg.sha256" "$KW_T/sig" 2>"$KW_T/err"
[ $? -eq 3 ] && grep -q "dictionary-attack lockout" "$KW_T/err" ||
	kw_fail "lockout: $(cat "$KW_T/err")"
# keys without an auth value are noDA: they keep signing during lockout
"$SIGN" sign "$KW_T/ec-p256.pem" ecdsa sha256 "$KW_T/msg.sha256" "$KW_T/sig" ||
	kw_fail "a noDA key was refused during lockout"
tpm2_dictionarylockout -c >/dev/null 2>&1 || kw_fail "tpm2_dictionarylockout -c"
echo "ok wrong auth and lockout reported, never retried"

echo "== the TPM restarts while a key is open"
port=${T1##*port=}
mkfifo "$KW_T/fifo"
"$SIGN" sign2 "$KW_T/ec-p256.pem" ecdsa sha256 "$KW_T/msg.sha256" \
	"$KW_T/sig2" <"$KW_T/fifo" >"$KW_T/sign2.out" 2>"$KW_T/sign2.err" &
SIGN2_PID=$!
kw_track $SIGN2_PID
exec 7>"$KW_T/fifo"
n=0
until grep -q "signed once" "$KW_T/sign2.out" 2>/dev/null; do
	sleep 0.1; n=$((n + 1))
	[ $n -lt 100 ] || kw_fail "sign2 did not sign: $(cat "$KW_T/sign2.err")"
done
kw_stop "$SWTPM1_PID"
kw_start_swtpm tpm "$port"
SWTPM1_PID=$KW_SWTPM_PID
echo go >&7
exec 7>&-
wait $SIGN2_PID || kw_fail "no signature after the TPM restarted: $(cat "$KW_T/sign2.err")"
verify "$KW_T/ec-p256.pub" ecdsa sha256 "$KW_T/sig2" || kw_fail "sig after restart"
grep -q reconnecting "$KW_T/sign2.err" || kw_fail "reconnect not logged"
echo "ok reconnected and reloaded the key"

echo "== unreachable or unknown TCTI"
dead=$(kw_free_port)
"$KEYWARD" keygen --tcti "swtpm:host=127.0.0.1,port=$dead" \
	--key "tpm:$KW_T/none.pem" >/dev/null 2>"$KW_T/err"
rc=$?
[ $rc -eq 3 ] || kw_fail "unreachable TPM: exit $rc"
grep -q "cannot reach the TPM at swtpm:host=127.0.0.1,port=$dead: .*start swtpm/tpm2-abrmd or pass --tcti" \
	"$KW_T/err" || kw_fail "unreachable TPM message: $(cat "$KW_T/err")"
[ -e "$KW_T/none.pem" ] && kw_fail "a key file was written without a TPM"
grep -q -i 'esys\|WARNING:' "$KW_T/err" && kw_fail "tpm2-tss noise on stderr"
"$KEYWARD" keygen --tcti "nosuchtcti:foo" --key "tpm:$KW_T/none.pem" \
	>/dev/null 2>"$KW_T/err"
rc=$?
[ $rc -eq 2 ] && grep -q "cannot use the TCTI 'nosuchtcti:foo'" "$KW_T/err" ||
	kw_fail "unknown TCTI: exit $rc: $(cat "$KW_T/err")"
echo "ok"

echo "== files that are not keys"
"$SIGN" sign "$KW_T/missing.pem" ecdsa sha256 "$KW_T/msg.sha256" "$KW_T/sig" 2>"$KW_T/err"
[ $? -eq 3 ] && grep -q "key file $KW_T/missing.pem does not exist" "$KW_T/err" ||
	kw_fail "missing key file: $(cat "$KW_T/err")"
cp "$KW_T/ec-p256.pub" "$KW_T/notakey.pem"
"$SIGN" sign "$KW_T/notakey.pem" ecdsa sha256 "$KW_T/msg.sha256" "$KW_T/sig" 2>"$KW_T/err"
[ $? -eq 1 ] && grep -q "is not a TSS2 PRIVATE KEY file" "$KW_T/err" ||
	kw_fail "a public key as key file: $(cat "$KW_T/err")"
"$SIGN" delete "$KW_T/notakey.pem" 2>/dev/null && kw_fail "deleted a file that is no key"
[ -f "$KW_T/notakey.pem" ] || kw_fail "notakey.pem was removed"
echo "ok"

echo "== no transient objects left"
[ -z "$(tpm2_getcap handles-transient)" ] ||
	kw_fail "transient objects left: $(tpm2_getcap handles-transient)"
echo "ok"

echo "== the key file on another TPM, and after TPM2_Clear"
kw_start_swtpm tpm2
"$SIGN" sign "$KW_T/ec-p256.pem" ecdsa sha256 "$KW_T/msg.sha256" "$KW_T/sig" \
	2>"$KW_T/err"
rc=$?
[ $rc -eq 3 ] || kw_fail "other TPM: exit $rc"
grep -q "key file $KW_T/ec-p256.pem was made by a different TPM (or this TPM was cleared): generate a new key" \
	"$KW_T/err" || kw_fail "other TPM message: $(cat "$KW_T/err")"
[ -z "$(tpm2_getcap handles-transient)" ] || kw_fail "second TPM: transient objects left"
TPM2TOOLS_TCTI=$T1 tpm2_clear -c p >/dev/null 2>&1 || kw_fail "tpm2_clear"
TPM2TOOLS_TCTI=$T1 "$SIGN" sign "$KW_T/rsa2048.pem" pkcs1 sha256 \
	"$KW_T/msg.sha256" "$KW_T/sig" 2>"$KW_T/err"
[ $? -eq 3 ] && grep -q "was made by a different TPM (or this TPM was cleared)" "$KW_T/err" ||
	kw_fail "after TPM2_Clear: $(cat "$KW_T/err")"
echo "ok wrong TPM reported clearly"
exit 0
