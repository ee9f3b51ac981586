#!/bin/bash
# The installed daemon runs as the package's system user keyward, not root
# (keyward.service has User=keyward): keyward makes its TPM key and CSR, and
# `keyward run` serves a server tunnel whose handshakes the TPM signs, all
# under keyward's uid with its groups (tss), files in a dir of its own under
# /var/lib/keyward.  Root asks it over the control socket.
# Needs the installed package and root: scripts/package-test runs it with
#   make check TESTS=tests/package/unprivileged.sh KEYWARD=/usr/bin/keyward
# (not part of the plain suite).
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
kw_need swtpm openssl curl python3 ss setpriv
[ "$(id -u)" = 0 ] || kw_skip "needs root and the installed package (scripts/package-test)"
getent passwd keyward >/dev/null ||
	kw_skip "no user keyward: install the package first (scripts/package-test)"

# keyward's files: a dir of our own under its state dir, removed at exit
# (before the fixtures' cleanup of $KW_T).
D=$(mktemp -d /var/lib/keyward/kwpkgtest.XXXXXX) || kw_fail "mktemp in /var/lib/keyward"
trap 'kw_cleanup; [ "${KW_KEEP:-0}" = 1 ] || rm -rf "$D"' EXIT
chown keyward:keyward "$D"
as_keyward() { setpriv --reuid=keyward --regid=keyward --init-groups -- "$@"; }

cd "$KW_T" || exit 1
kw_make_ca ca
kw_start_swtpm tpm

# Key and CSR as keyward: the key file is keyward's and private.
as_keyward "$KEYWARD" keygen --key "tpm:$D/server.tpmkey" --tcti "$KW_TCTI" \
	>keygen.out 2>&1 || kw_fail "keygen as keyward: $(cat keygen.out)"
[ "$(stat -c '%U %a' "$D/server.tpmkey")" = "keyward 600" ] ||
	kw_fail "key file is $(stat -c '%U %a' "$D/server.tpmkey"), not keyward 600"
as_keyward "$KEYWARD" csr --key "tpm:$D/server.tpmkey" --tcti "$KW_TCTI" \
	--subject CN=localhost --out "$D/server.csr" >csr.out 2>&1 ||
	kw_fail "csr as keyward: $(cat csr.out)"
kw_sign_csr "$D/server.csr" server.pem 7 "subjectAltName=DNS:localhost,IP:127.0.0.1"
install -m 0644 server.pem ca/ca.pem "$D/"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout alice.key -out alice.csr -subj /CN=alice 2>/dev/null ||
	kw_fail "openssl req alice"
kw_sign_csr alice.csr alice.pem 7
echo "ok keygen and csr as keyward (key file keyward 0600)"

# The plaintext service behind the tunnel.
mkdir www && echo "behind keyward" >www/index.html
HP=$(kw_free_port)
python3 -m http.server --bind 127.0.0.1 --directory www "$HP" >http.log 2>&1 &
kw_track $!
kw_wait_port "$HP" 10 || kw_fail "http.server did not start"

LP=$(kw_free_port)
cat >"$D/keyward.conf" <<EOF
[global]
control-socket = $D/control
tcti = $KW_TCTI

[tunnel api]
mode = server
listen = 127.0.0.1:$LP
target = 127.0.0.1:$HP
key = tpm:$D/server.tpmkey
cert = $D/server.pem
ca = $D/ca.pem
allow-cn = alice
EOF
chmod 0644 "$D/keyward.conf"
# setpriv execs keyward: $! is the daemon itself.
setpriv --reuid=keyward --regid=keyward --init-groups -- \
	"$KEYWARD" run --config "$D/keyward.conf" >daemon.log 2>&1 &
DPID=$!
kw_track "$DPID"
n=0
while ! ss -Hltn "sport = :$LP" | grep -q .; do
	kill -0 "$DPID" 2>/dev/null || kw_fail "the daemon exited as keyward: $(cat daemon.log)"
	sleep 0.1; n=$((n + 1))
	[ $n -lt 150 ] || kw_fail "the daemon does not listen on $LP: $(cat daemon.log)"
done

# It is keyward's process, with the group tss.
[ "$(ps -o user= -p "$DPID")" = keyward ] ||
	kw_fail "the daemon runs as $(ps -o user= -p "$DPID")"
tss=$(getent group tss | cut -d: -f3)
grep '^Groups:' "/proc/$DPID/status" | tr -s '\t ' '\n' | grep -qx "$tss" ||
	kw_fail "the daemon is not in group tss: $(grep '^Groups:' "/proc/$DPID/status")"

out=$(curl -sS --max-time 10 --cacert ca/ca.pem --cert alice.pem --key alice.key \
	"https://localhost:$LP/" 2>curl.err) || kw_fail "curl: $(cat curl.err) $(cat daemon.log)"
[ "$out" = "behind keyward" ] || kw_fail "through the tunnel: '$out'"
echo "ok keyward run as keyward (groups incl. tss): mTLS with the TPM key to the service"

"$KEYWARD" status --socket "$D/control" >status.txt 2>&1 ||
	kw_fail "keyward status (root) to keyward's daemon: $(cat status.txt)"
grep -q "tunnel api (server" status.txt || kw_fail "status: $(cat status.txt)"
[ "$(stat -c %U "$D/control")" = keyward ] || kw_fail "control socket not keyward's"
echo "ok root asks keyward's daemon over its control socket"
