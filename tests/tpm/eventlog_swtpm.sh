#!/bin/bash
# keyward's event-log replay against a real TPM's PCRs (issue 12).  swtpm
# has no firmware, so each test log (tests/tpm/make_eventlog.py) is played
# into a fresh swtpm's sha256 bank with tpm2_pcrextend, read back with
# tpm2_pcrread and given to `keyward posture --pcr-values`: the log that
# was played matches; a log with another boot application is reported at
# PCR 4; a Secure Boot off log that matches its TPM is refused by a
# `secure-boot = required` policy with that reason; the JSON output's
# fields; a missing, a damaged log and a bad policy file (also in
# verify-attestation --policy).
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm tpm2_pcrextend tpm2_pcrread python3
MK="$KW_SRCDIR/tests/tpm/make_eventlog.py"

# Play a log's sha256 extensions ("PCR HEX" lines) into the current TPM,
# in log order (one tpm2_pcrextend extends its arguments in turn).
play() {
	local pcr hex args=()
	while read -r pcr hex; do
		args+=("$pcr:sha256=$hex")
	done <"$1"
	tpm2_pcrextend "${args[@]}" || kw_fail "tpm2_pcrextend failed"
}

# The TPM's sha256 PCRs 0-7 as INDEX:HEX lines (lowercase).
read_pcrs() {
	tpm2_pcrread sha256:0,1,2,3,4,5,6,7 >"$KW_T/pcrread.out" ||
		kw_fail "tpm2_pcrread failed"
	awk '/^ *[0-9]+ *: *0x/ { gsub(/ /, ""); split($0, a, ":");
		print a[1] ":" tolower(substr(a[2], 3)) }' "$KW_T/pcrread.out"
}

# json FILE PYTHON-EXPRESSION-ON-j: prints its value
json() {
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)' "$1" "$2"
}

echo "== a log played into the TPM replays to the TPM's PCRs"
python3 "$MK" "$KW_T/good.log" --app shimx64.efi --app grubx64.efi \
	--extends "$KW_T/good.ext" >"$KW_T/good.want" ||
	kw_fail "make_eventlog.py failed"
kw_start_swtpm tpm
read_pcrs >"$KW_T/fresh.pcrs"
# before the log is played, the TPM's PCRs are its reset values
"$KEYWARD" posture --event-log "$KW_T/good.log" --pcr-values "$KW_T/fresh.pcrs" \
	>"$KW_T/out" 2>"$KW_T/err" && kw_fail "a fresh TPM's PCRs matched the log"
[ $? -eq 4 ] || kw_fail "mismatch: exit $? (want 4): $(cat "$KW_T/err")"
grep -q "the log does not match PCR 0" "$KW_T/out" ||
	kw_fail "fresh TPM: $(cat "$KW_T/out")"
play "$KW_T/good.ext"
read_pcrs >"$KW_T/tpm.pcrs"
[ "$(wc -l <"$KW_T/tpm.pcrs")" -eq 8 ] || kw_fail "tpm2_pcrread: $(cat "$KW_T/pcrread.out")"
diff "$KW_T/tpm.pcrs" "$KW_T/good.want" >/dev/null ||
	kw_fail "the builder's PCR values differ from the TPM's"
"$KEYWARD" posture --event-log "$KW_T/good.log" --pcr-values "$KW_T/tpm.pcrs" \
	>"$KW_T/out" 2>"$KW_T/err" || kw_fail "posture on the played log: exit $?: $(cat "$KW_T/err")"
grep -q "the log matches every PCR given" "$KW_T/out" || kw_fail "$(cat "$KW_T/out")"
grep -q "Secure Boot: *on" "$KW_T/out" || kw_fail "$(cat "$KW_T/out")"
# the JSON's PCR values are the TPM's, one by one
"$KEYWARD" posture --event-log "$KW_T/good.log" --pcr-values "$KW_T/tpm.pcrs" \
	--json >"$KW_T/good.json" 2>"$KW_T/err" || kw_fail "posture --json: $(cat "$KW_T/err")"
while IFS=: read -r i hex; do
	[ "$(json "$KW_T/good.json" "j['claims']['pcrs']['sha256']['$i']")" = "$hex" ] ||
		kw_fail "JSON PCR $i is not the TPM's $hex"
done <"$KW_T/tpm.pcrs"
[ "$(json "$KW_T/good.json" "j['pcr_check']['result']")" = match ] || kw_fail "pcr_check"
[ "$(json "$KW_T/good.json" "j['pcr_check']['matched']")" = "[0, 1, 2, 3, 4, 5, 6, 7]" ] ||
	kw_fail "pcr_check.matched: $(json "$KW_T/good.json" "j['pcr_check']")"
[ "$(json "$KW_T/good.json" "j['claims']['secure_boot']")" = on ] || kw_fail "secure_boot"
[ "$(json "$KW_T/good.json" "j['event_log']['status']")" = ok ] || kw_fail "event_log.status"
[ "$(json "$KW_T/good.json" "j['event_log']['events']")" = 20 ] || kw_fail "event_log.events"
[ "$(json "$KW_T/good.json" "[c['type'] for c in j['claims']['boot_components'] if c['pcr'] == 4]")" = \
	'["EV_EFI_BOOT_SERVICES_APPLICATION", "EV_EFI_BOOT_SERVICES_APPLICATION"]' ] ||
	kw_fail "boot components: $(json "$KW_T/good.json" "j['claims']['boot_components']")"
[ "$(json "$KW_T/good.json" "j['claims']['boot_components'][3]['sha256']")" = \
	"$(printf grubx64.efi | sha256sum | cut -d' ' -f1)" ] || kw_fail "grub's digest"
[ "$(json "$KW_T/good.json" "j['tpm']")" = null ] || kw_fail "tpm"
[ "$(json "$KW_T/good.json" "j['unattested']['kernel']")" = "$(uname -r)" ] ||
	kw_fail "unattested.kernel"
[ "$(json "$KW_T/good.json" "j['unattested']['disk_encryption']")" != "" ] ||
	kw_fail "unattested.disk_encryption"

echo "== a log with another boot application is reported at PCR 4"
python3 "$MK" "$KW_T/evil.log" --app shimx64.efi --app evil.efi >/dev/null
"$KEYWARD" posture --event-log "$KW_T/evil.log" --pcr-values "$KW_T/tpm.pcrs" \
	--json >"$KW_T/evil.json" 2>"$KW_T/err" && kw_fail "the edited log matched"
[ $? -eq 4 ] || kw_fail "edited log: exit $? (want 4)"
grep -q "does not match the PCR values of .* at PCR 4" "$KW_T/err" || kw_fail "$(cat "$KW_T/err")"
[ "$(json "$KW_T/evil.json" "j['pcr_check']['first_mismatch']")" = 4 ] || kw_fail "first_mismatch"
[ "$(json "$KW_T/evil.json" "j['pcr_check']['matched']")" = "[0, 1, 2, 3, 5, 6, 7]" ] ||
	kw_fail "matched: $(json "$KW_T/evil.json" "j['pcr_check']")"

echo "== Secure Boot off: the log matches its TPM, the policy refuses it"
python3 "$MK" "$KW_T/sboff.log" --app shimx64.efi --app grubx64.efi \
	--secure-boot 0 --extends "$KW_T/sboff.ext" >/dev/null
kw_stop "$KW_SWTPM_PID"
kw_start_swtpm tpm2
play "$KW_T/sboff.ext"
read_pcrs >"$KW_T/tpm2.pcrs"
printf '# posture\nek-ca = ek-roots.pem\nsecure-boot = required\n' >"$KW_T/required.policy"
"$KEYWARD" posture --event-log "$KW_T/sboff.log" --pcr-values "$KW_T/tpm2.pcrs" \
	--policy "$KW_T/required.policy" >"$KW_T/out" 2>"$KW_T/err" &&
	kw_fail "secure-boot = required accepted a Secure Boot off log"
[ $? -eq 4 ] || kw_fail "policy refusal: exit $? (want 4): $(cat "$KW_T/err")"
grep -q "the log matches every PCR given" "$KW_T/out" || kw_fail "$(cat "$KW_T/out")"
grep -q "Policy (.*required.policy): refused: secure boot off" "$KW_T/out" ||
	kw_fail "$(cat "$KW_T/out")"
grep -q "posture refused by .*required.policy: secure boot off" "$KW_T/err" ||
	kw_fail "$(cat "$KW_T/err")"
"$KEYWARD" posture --event-log "$KW_T/sboff.log" --pcr-values "$KW_T/tpm2.pcrs" \
	--policy "$KW_T/required.policy" --json >"$KW_T/sboff.json" 2>/dev/null
[ "$(json "$KW_T/sboff.json" "j['policy']['verdict']")" = refused ] || kw_fail "verdict"
[ "$(json "$KW_T/sboff.json" "j['policy']['reason']")" = "secure boot off" ] || kw_fail "reason"
[ "$(json "$KW_T/sboff.json" "j['claims']['secure_boot']")" = off ] || kw_fail "secure_boot off"
# the good log against this TPM: its mismatch is named before Secure Boot
"$KEYWARD" posture --event-log "$KW_T/good.log" --pcr-values "$KW_T/tpm2.pcrs" \
	--policy "$KW_T/required.policy" >"$KW_T/out" 2>&1 && kw_fail "another TPM's log accepted"
grep -q "refused: event log does not match the quote at PCR 7" "$KW_T/out" ||
	kw_fail "$(cat "$KW_T/out")"
# secure-boot = ignore with PCR 7 pinned: this TPM's value passes, the
# first TPM's does not
pcr7=$(sed -n 's/^7://p' "$KW_T/tpm2.pcrs")
other7=$(sed -n 's/^7://p' "$KW_T/tpm.pcrs")
printf 'ek-ca = /etc/ek.pem\nsecure-boot = ignore\npcr = 7:%s\n' "$pcr7" >"$KW_T/pin.policy"
"$KEYWARD" posture --event-log "$KW_T/sboff.log" --pcr-values "$KW_T/tpm2.pcrs" \
	--policy "$KW_T/pin.policy" >"$KW_T/out" 2>&1 || kw_fail "pinned PCR 7 refused: $(cat "$KW_T/out")"
grep -q "Policy (.*pin.policy): accepted" "$KW_T/out" || kw_fail "$(cat "$KW_T/out")"
printf 'ek-ca = /etc/ek.pem\npcr = 7:%s\n' "$other7" >"$KW_T/pin.policy"
"$KEYWARD" posture --event-log "$KW_T/sboff.log" --pcr-values "$KW_T/tpm2.pcrs" \
	--policy "$KW_T/pin.policy" >"$KW_T/out" 2>&1 && kw_fail "another PCR 7 accepted"
grep -q "refused: PCR 7 not allowed" "$KW_T/out" || kw_fail "$(cat "$KW_T/out")"

echo "== no log, a damaged log, a bad policy file"
"$KEYWARD" posture --event-log "$KW_T/none.log" --json >"$KW_T/none.json" 2>"$KW_T/err" ||
	kw_fail "a missing log failed posture: $(cat "$KW_T/err")"
[ "$(json "$KW_T/none.json" "j['event_log']['status']")" = absent ] || kw_fail "absent"
[ "$(json "$KW_T/none.json" "j['claims']")" = null ] || kw_fail "claims of no log"
[ "$(json "$KW_T/none.json" "j['unattested']['kernel']")" = "$(uname -r)" ] || kw_fail "kernel"
"$KEYWARD" posture --event-log "$KW_T/none.log" >"$KW_T/out" 2>&1 || kw_fail "missing log (text)"
[ "$(grep -c "Event log" "$KW_T/out")" = 1 ] && grep -q "Event log: none at .*none.log" "$KW_T/out" &&
	grep -q "Kernel: *$(uname -r)" "$KW_T/out" || kw_fail "$(cat "$KW_T/out")"
head -c $(($(stat -c %s "$KW_T/good.log") - 10)) "$KW_T/good.log" >"$KW_T/cut.log"
"$KEYWARD" posture --event-log "$KW_T/cut.log" >"$KW_T/out" 2>"$KW_T/err" && kw_fail "a cut log accepted"
[ $? -eq 1 ] || kw_fail "cut log: exit $? (want 1)"
grep -q "event log .*cut.log: offset [0-9]*: .*runs past the end" "$KW_T/err" ||
	kw_fail "$(cat "$KW_T/err")"
printf 'ek-ca = a.pem\nsecure-boot = yes\n' >"$KW_T/bad.policy"
"$KEYWARD" posture --event-log "$KW_T/good.log" --policy "$KW_T/bad.policy" \
	>/dev/null 2>"$KW_T/err" && kw_fail "a bad policy accepted"
[ $? -eq 2 ] || kw_fail "bad policy: exit $? (want 2)"
grep -q "bad.policy:2: secure-boot = 'yes'" "$KW_T/err" || kw_fail "$(cat "$KW_T/err")"
# the same policy files drive verify-attestation (attest/policy.c)
"$KEYWARD" verify-attestation --policy "$KW_T/bad.policy" "$KW_T/good.log" \
	>/dev/null 2>"$KW_T/err" && kw_fail "verify-attestation: a bad policy accepted"
[ $? -eq 2 ] || kw_fail "verify-attestation bad policy: exit $? (want 2)"
grep -q "bad.policy:2: secure-boot = 'yes'" "$KW_T/err" || kw_fail "$(cat "$KW_T/err")"
: >"$KW_T/empty.cbor"
"$KEYWARD" verify-attestation --policy "$KW_T/required.policy" "$KW_T/empty.cbor" \
	>/dev/null 2>"$KW_T/err" && kw_fail "verify-attestation accepted empty evidence"
grep -q "refused: .*(malformed)" "$KW_T/err" || kw_fail "$(cat "$KW_T/err")"
echo "PASS"
