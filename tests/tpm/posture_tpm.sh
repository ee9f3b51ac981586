#!/bin/bash
# keyward posture --ak (issue 12): the TPM side of the device's posture on
# a swtpm provisioned with EK certificates from a local CA: its identity
# (the EK certificate's chain verified against --ek-ca or the policy's
# ek-ca, the vendor it names), a quote by the AK over PCRs 0-7 with a
# fresh nonce, checked, and the event log replayed against the quoted
# values (a log played into the TPM matches; a log of another boot does
# not); an EK CA that did not issue the certificate is refused; Secure
# Boot off under secure-boot = required is refused on attested values;
# human and --json output.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm tpm2_pcrextend python3
MK="$KW_SRCDIR/tests/tpm/make_eventlog.py"

play() {
	local pcr hex args=()
	while read -r pcr hex; do
		args+=("$pcr:sha256=$hex")
	done <"$1"
	tpm2_pcrextend "${args[@]}" || kw_fail "tpm2_pcrextend failed"
}
json() {
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)' "$1" "$2"
}

cd "$KW_T" || exit 1
python3 "$MK" good.log --app shimx64.efi --app grubx64.efi --extends good.ext \
	>/dev/null || kw_fail "make_eventlog.py failed"
python3 "$MK" evil.log --app shimx64.efi --app evil.efi >/dev/null
python3 "$MK" sboff.log --app shimx64.efi --app grubx64.efi --secure-boot 0 \
	--extends sboff.ext >/dev/null
# another TPM's CA: did not issue this TPM's EK certificate
kw_start_swtpm_ek other
OTHER_CA=$KW_EK_CA
kw_stop "$KW_SWTPM_PID"
kw_start_swtpm_ek tpm
"$KEYWARD" attest init --ak "tpm:$KW_T/ak.tpmkey" >ak.out 2>&1 ||
	kw_fail "attest init: $(cat ak.out)"
play good.ext

echo "== the TPM quotes, the quote verifies, the log replays to it"
"$KEYWARD" posture --ak "tpm:$KW_T/ak.tpmkey" --tcti "$KW_TCTI" \
	--ek-ca "$KW_EK_CA" --event-log good.log >out 2>err ||
	kw_fail "posture --ak: exit $?: $(cat out err)"
grep -q "^TPM: IBM" out && grep -q "EK certificate: .* at 0x01c0000[2a]: verified against $KW_EK_CA" out &&
	grep -q "Quote: *PCRs 0-7, fresh nonce: verified" out &&
	grep -q "PCR values (the TPM's quote): the log matches every PCR given" out &&
	grep -q "Secure Boot: *on" out || kw_fail "$(cat out)"
echo "ok $(grep "^TPM:" out); $(grep "EK certificate" out | sed 's/^ *//')"
"$KEYWARD" posture --ak "tpm:$KW_T/ak.tpmkey" --event-log good.log \
	--ek-ca "$KW_EK_CA" --json >a.json 2>err || kw_fail "--json: $(cat err)"
"$KEYWARD" posture --ak "tpm:$KW_T/ak.tpmkey" --event-log good.log \
	--ek-ca "$KW_EK_CA" --json >b.json 2>err || kw_fail "--json: $(cat err)"
[ "$(json a.json "j['tpm']['quote']['verified']")" = true ] &&
	[ "$(json a.json "j['tpm']['ek']['chain']")" = verified ] &&
	[ "$(json a.json "j['pcr_check']['result']")" = match ] &&
	[ "$(json a.json "j['pcr_check']['matched']")" = "[0, 1, 2, 3, 4, 5, 6, 7]" ] &&
	AKN=$(json a.json "j['tpm']['ak_name']") && [ ${#AKN} = 68 ] ||
	kw_fail "JSON: $(cat a.json)"
[ "$(json a.json "j['tpm']['quote']['nonce']")" != "$(json b.json "j['tpm']['quote']['nonce']")" ] ||
	kw_fail "two runs quoted with the same nonce"
# the vendor the EK certificate names (swtpm_localca: id:00001014 IBM)
[ -n "$(json a.json "j['tpm']['manufacturer']")" ] || kw_fail "no manufacturer: $(cat a.json)"
echo "ok --json: quote verified, EK chain verified, log matches PCRs 0-7, fresh nonces"

echo "== a log of another boot does not match the quote"
"$KEYWARD" posture --ak "tpm:$KW_T/ak.tpmkey" --event-log evil.log >out 2>err &&
	kw_fail "another boot's log matched the quote"
[ $? -eq 4 ] || kw_fail "exit $? (want 4): $(cat err)"
grep -q "the log does not match PCR 4" out || kw_fail "$(cat out)"
echo "ok another boot's log: does not match PCR 4 (exit 4)"

echo "== an EK CA that did not issue the certificate"
"$KEYWARD" posture --ak "tpm:$KW_T/ak.tpmkey" --event-log good.log \
	--ek-ca "$OTHER_CA" >out 2>err && kw_fail "another CA accepted"
[ $? -eq 4 ] || kw_fail "exit $? (want 4): $(cat err)"
grep -q "EK certificate: .*: refused against $OTHER_CA" out &&
	grep -q "EK certificate does not chain" err || kw_fail "$(cat out err)"
echo "ok EK certificate refused against another CA (exit 4)"

echo "== Secure Boot off, attested: the policy refuses it"
kw_stop "$KW_SWTPM_PID"
kw_start_swtpm_ek tpm "${KW_TCTI##*port=}"
play sboff.ext
printf 'ek-ca = %s\nsecure-boot = required\n' "$KW_EK_CA" >required.policy
"$KEYWARD" posture --ak "tpm:$KW_T/ak.tpmkey" --event-log sboff.log \
	--policy required.policy --json >sb.json 2>err && kw_fail "Secure Boot off accepted"
[ $? -eq 4 ] || kw_fail "exit $? (want 4): $(cat err)"
[ "$(json sb.json "j['policy']['verdict']")" = refused ] &&
	[ "$(json sb.json "j['policy']['reason']")" = "secure boot off" ] &&
	[ "$(json sb.json "j['policy']['attested']")" = true ] &&
	[ "$(json sb.json "j['tpm']['ek']['chain']")" = verified ] || kw_fail "$(cat sb.json)"
echo "ok Secure Boot off on attested PCRs: refused by the policy (EK chain from the policy's ek-ca)"

echo "== usage"
"$KEYWARD" posture --ak "$KW_T/ak.tpmkey" >/dev/null 2>err && kw_fail "--ak without tpm:"
[ $? -eq 2 ] || kw_fail "--ak without tpm: exit $?"
"$KEYWARD" posture --ak "tpm:$KW_T/ak.tpmkey" --pcr-values x >/dev/null 2>err &&
	kw_fail "--ak with --pcr-values"
[ $? -eq 2 ] || kw_fail "--ak with --pcr-values: exit $?"
echo "PASS"
