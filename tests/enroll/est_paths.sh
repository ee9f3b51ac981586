#!/bin/bash
# The identity state file names its files by absolute path, so that the
# daemon (which works in /) and any later command, from any directory, can
# renew it: enrolled with relative paths (a TPM key file, --out,
# --chain-out, --ca, --ca-out, --state), then checked and renewed from /.
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
set -e
kw_need tpm2_flushcontext
kw_start_swtpm
est_setup_pki
est_start
mkdir -p "$KW_T/work/sub" "$KW_T/work/keys"
cd "$KW_T/work"
"$KEYWARD" keygen --tcti "$KW_TCTI" --key tpm:keys/k.pem >k.pub ||
	kw_fail "keygen failed"

# absolute FILE KEY...: every named field of the state is an absolute path
# that exists (the key as tpm:/...)
absolute() {
	python3 - "$@" <<'PY'
import json, os, sys
st = json.load(open(sys.argv[1]))
bad = []
for k in sys.argv[2:]:
    v = st.get(k)
    p = v[4:] if k == "key" else v
    if not p or not p.startswith("/") or not os.path.exists(p):
        bad.append("%s=%r" % (k, v))
sys.exit("not absolute or missing: " + ", ".join(bad) if bad else 0)
PY
}

# 1. --ca FILE, relative everything.
run_kw enroll enroll est --tcti "$KW_TCTI" --key tpm:keys/k.pem \
	--server "$EST_URL" --ca ../ca/ca.pem --subject CN=paths \
	--user alice --password-file ../est.pw --out c.pem \
	--chain-out sub/chain.pem --state sub/id.state --grace 0
expect_rc 0 "enroll with relative paths" enroll
absolute sub/id.state key cert cert_out chain ca ||
	kw_fail "relative paths in the state: $(cat sub/id.state)"

# 2. --ca-fingerprint: the pinned CA's file is named absolutely too.
"$KEYWARD" keygen --tcti "$KW_TCTI" --key tpm:keys/k2.pem >/dev/null ||
	kw_fail "keygen 2 failed"
run_kw pin enroll est --tcti "$KW_TCTI" --key tpm:./keys/k2.pem \
	--server "$EST_URL" --ca-fingerprint "$EST_CA_FP" --subject CN=pin \
	--user alice --password-file ../est.pw --out ./c2.pem --ca-out pinned.pem
expect_rc 0 "enroll with a pinned CA" pin
absolute c2.pem.state key cert cert_out ca ||
	kw_fail "relative paths in the state: $(cat c2.pem.state)"

# 3. From /, as the daemon would: usable and renewable.
cd /
run_kw check enroll est --check --state "$KW_T/work/sub/id.state"
expect_rc 0 "--check from /" check
run_kw renew enroll est --renew --force --state "$KW_T/work/sub/id.state"
expect_rc 0 "renewal from /" renew
grep -q "\"key\": \"tpm:$KW_T/work/keys/k.2.pem\"" "$KW_T/work/sub/id.state" ||
	kw_fail "no rekey next to the old key: $(cat "$KW_T/work/sub/id.state")"
[ "$(cert_pub "$KW_T/work/c.pem")" != "$(pem_pub "$KW_T/work/k.pub")" ] ||
	kw_fail "the certificate in the working directory was not replaced"
run_kw renew2 enroll est --renew --force --state "$KW_T/work/c2.pem.state"
expect_rc 0 "renewal of the pinned identity from /" renew2
grep -q 'relative path' "$KW_T"/*.err && kw_fail "warned about relative paths"
echo "PASS: identity state with absolute paths, renewed from /"
