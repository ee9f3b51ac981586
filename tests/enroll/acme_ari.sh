#!/bin/bash
# ACME Renewal Information (RFC 9773) against the scripted ACME server
# (tests/enroll/acme_hostile.py --ari-file): a window that has passed
# renews now although the lifetime share is far, and the newOrder names
# the old certificate's CertID (computed here independently with python's
# cryptography); a window ahead is not due and the renewal time lies in
# it; a malformed window, garbage or HTTP 500 is one warning and the
# lifetime schedule; a server without renewalInfo is never asked.
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
set -e
kw_need python3 openssl
python3 -c 'import cryptography' 2>/dev/null || kw_skip "python3-cryptography"
kw_start_softhsm kwari
MOD=$KW_SOFTHSM_MODULE
P="?pin-source=file:$KW_T/pin"
kw_make_ca
kw_make_ca other
kw_make_server_cert acme
"$KEYWARD" keygen --module "$MOD" --key "pkcs11:token=kwari;object=dev$P" \
	>/dev/null || kw_fail "SoftHSM keygen failed"
ARI=$KW_T/ari.mode
LOG=$KW_T/srv.jsonl
echo none >"$ARI"
PORT=$(kw_free_port)
python3 "$KW_SRCDIR/tests/enroll/acme_hostile.py" --port "$PORT" \
	--cert "$KW_T/acme.pem" --key "$KW_T/acme.key" --ca "$KW_T/ca" \
	--other-ca "$KW_T/other" --ari-file "$ARI" --log "$LOG" \
	2>"$KW_T/srv.log" &
SRV=$!
kw_track "$SRV"
kw_wait_port "$PORT" 10 || kw_fail "scripted ACME server did not start"

ST=$KW_T/dev.pem.state
run_kw first enroll acme --module "$MOD" --server "https://localhost:$PORT/dir" \
	--ca "$KW_T/ca/ca.pem" --key "pkcs11:token=kwari;object=dev$P" \
	--account-key "pkcs11:token=kwari;object=acct$P" \
	--san dns:laptop.example --timeout 5 --out "$KW_T/dev.pem" --state "$ST"
expect_rc 0 "first enrollment" first

# CertID = b64url(AKI keyIdentifier) "." b64url(serial's DER content)
certid() {
	python3 - "$1" <<'PY'
import base64, sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
aki = c.extensions.get_extension_for_class(
    x509.AuthorityKeyIdentifier).value.key_identifier
n = c.serial_number
ser = n.to_bytes(n.bit_length() // 8 + 1, "big")  # DER: a leading 0 when the top bit is set
b = lambda v: base64.urlsafe_b64encode(v).rstrip(b"=").decode()
print(b(aki) + "." + b(ser))
PY
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' "$ST" "$1"; }
# let the next run ask again (Retry-After was honoured: see below)
reask() { python3 - "$ST" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["ari_next"] = 0
open(sys.argv[1], "w").write(json.dumps(s))
PY
}
renew() { run_kw "$1" enroll acme --renew --state "$ST" --timeout 5; }
ID1=$(certid "$KW_T/dev.pem")

# 1. no renewalInfo in the directory: no ARI request, lifetime schedule
renew none
expect_rc 0 "no ARI" none
grep -q 'not due' "$KW_T/none.err" || kw_fail "none: not reported as not due: $(cat "$KW_T/none.err")"
! grep -q '"ari"' "$LOG" || kw_fail "none: renewalInfo was asked although not offered"

# 2. a window ahead: not due, the renewal time inside the window, the
# Retry-After (2 h) respected
echo future >"$ARI"
reask		# without renewalInfo the directory is read again a day later
now=$(date +%s)
renew future
expect_rc 0 "future window" future
grep -q 'not due.*ARI window' "$KW_T/future.err" ||
	kw_fail "future: the window is not reported: $(cat "$KW_T/future.err")"
grep -q "\"ari\": \"$ID1\"" "$LOG" || kw_fail "future: renewalInfo not asked for $ID1: $(cat "$LOG")"
at=$(field ari_at); s=$(field ari_start); e=$(field ari_end); nx=$(field ari_next)
[ "$at" -ge "$s" ] && [ "$at" -lt "$e" ] || kw_fail "future: renewal at $at outside [$s, $e)"
[ "$s" -ge $((now + 2 * 86400 - 60)) ] || kw_fail "future: window start $s is not the server's"
[ "$nx" -ge $((now + 7200 - 5)) ] && [ "$nx" -le $((now + 7200 + 60)) ] ||
	kw_fail "future: next check $nx not now+Retry-After (7200)"
n=$(grep -c '"ari"' "$LOG")
renew again
[ "$(grep -c '"ari"' "$LOG")" = "$n" ] || kw_fail "asked again before Retry-After"
run_kw check enroll acme --check --state "$ST" --timeout 5
grep -q 'ARI window' "$KW_T/check.out" || kw_fail "--check does not show the window: $(cat "$KW_T/check.out")"

# 3. malformed answers: one warning, the window dropped, lifetime share
for m in reversed garbage error; do
	echo "$m" >"$ARI"
	reask
	renew "$m"
	expect_rc 0 "$m" "$m"
	[ "$(grep -c 'renewal information' "$KW_T/$m.err")" = 1 ] ||
		kw_fail "$m: not exactly one warning: $(cat "$KW_T/$m.err")"
	grep -q 'not due' "$KW_T/$m.err" || kw_fail "$m: renewed: $(cat "$KW_T/$m.err")"
	! grep -q 'ARI window' "$KW_T/$m.err" || kw_fail "$m: a window kept"
	[ "$(field ari_end)" = 0 ] || kw_fail "$m: window recorded"
done

# 4. a window that has passed: renewed now (the lifetime share is days
# away), the order names the old certificate
echo past >"$ARI"
reask
renew past
expect_rc 0 "past window" past
grep -q '^renewed' "$KW_T/past.out" || kw_fail "past: not renewed: $(cat "$KW_T/past.err")"
python3 - "$LOG" "$ID1" <<'PY' || kw_fail "past: newOrder did not carry replaces=$ID1"
import json, sys
orders = [l["order"] for l in map(json.loads, open(sys.argv[1])) if "order" in l]
assert orders[-1].get("replaces") == sys.argv[2], orders[-1]
assert "replaces" not in orders[0]
PY
ID2=$(certid "$KW_T/dev.pem")
[ "$ID2" != "$ID1" ] || kw_fail "past: the certificate was not replaced"

# 5. a server refusing the order over replaces: once more without it
echo refuse-replaces >"$ARI"
reask
renew refuse
expect_rc 0 "replaces refused" refuse
grep -q 'without "replaces"' "$KW_T/refuse.err" || kw_fail "refuse: retry not logged: $(cat "$KW_T/refuse.err")"
python3 - "$LOG" "$ID2" <<'PY' || kw_fail "refuse: not one order with replaces then one without"
import json, sys
orders = [l["order"] for l in map(json.loads, open(sys.argv[1])) if "order" in l]
assert orders[-2].get("replaces") == sys.argv[2] and "replaces" not in orders[-1], orders[-2:]
PY
echo "PASS: ACME renewal information moves the renewal, names the certificate replaced, and a bad answer falls back"
