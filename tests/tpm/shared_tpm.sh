#!/bin/bash
# Several keyward processes on one TPM without a resource manager (swtpm has
# 3 transient object slots): a tunnel server daemon and a tunnel client
# daemon, each with its own TPM key, while `keyward connect`, `csr` and
# `keygen` run in loops beside them, all at once.  Each process holds no
# slot between signatures (tpm2_getcap handles-transient: none while
# idle), waits for a slot when the others hold them all, and never fails
# with 0x902.  Then the same through tpm2-abrmd, the resource manager.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm tpm2_getcap openssl python3
cd "$KW_T" || exit 1
kw_make_ca ca
kw_start_swtpm tpm
kw_tpm_identity srv "CN=srv" "DNS:localhost"
kw_tpm_identity cli "CN=cli" "DNS:cli"
kw_tpm_identity one "CN=one" "DNS:one"

# The plaintext service behind the server tunnel: "hi N" per connection.
APP=$(kw_free_port)
python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
n = 0
while True:
    c, _ = s.accept()
    n += 1
    c.sendall(b"hi %d\n" % n)
    c.close()' "$APP" &
kw_track $!
kw_wait_listen "$APP"

transients() {
	tpm2_getcap -T "$KW_TCTI" handles-transient | grep -c 0x80 || true
}

# run_all TCTI ROUNDS: both daemons up, three loops at once, ROUNDS each:
# connect (key one), csr + keygen (new keys), handshakes through the client
# tunnel.  Fails naming the first failure.
run_all() {
	local tcti=$1 rounds=$2 s c p1 p2 p3 i rc=0
	s=$(kw_free_port)
	c=$(kw_free_port)
	kw_start_keyward srvd tunnel server --listen "127.0.0.1:$s" \
		--target "127.0.0.1:$APP" --key "tpm:$KW_T/srv.tpmkey" \
		--cert srv.pem --ca ca/ca.pem --tcti "$tcti" --allow-all
	SRV_PID=$KPID
	kw_start_keyward clid tunnel client --listen "127.0.0.1:$c" \
		--target "127.0.0.1:$s" --servername localhost \
		--key "tpm:$KW_T/cli.tpmkey" --cert cli.pem --ca ca/ca.pem \
		--tcti "$tcti" --handshake-threads 2
	CLI_PID=$KPID
	kw_wait_listen "$s"
	kw_wait_listen "$c"
	: >fail.log
	(
		for i in $(seq "$rounds"); do
			echo x | "$KEYWARD" connect "127.0.0.1:$s" \
				--servername localhost --key "tpm:$KW_T/one.tpmkey" \
				--cert one.pem --ca ca/ca.pem --tcti "$tcti" \
				>conn.out 2>conn.err && grep -q '^hi ' conn.out ||
				{ echo "connect $i: $(grep -v warning conn.err)" >>fail.log; break; }
		done
	) &
	p1=$!
	(
		for i in $(seq "$rounds"); do
			"$KEYWARD" csr --key "tpm:$KW_T/one.tpmkey" --tcti "$tcti" \
				--subject "CN=one" --out one.csr 2>csr.err ||
				{ echo "csr $i: $(cat csr.err)" >>fail.log; break; }
			rm -f new.tpmkey
			"$KEYWARD" keygen --key "tpm:$KW_T/new.tpmkey" --tcti "$tcti" \
				>/dev/null 2>keygen.err ||
				{ echo "keygen $i: $(cat keygen.err)" >>fail.log; break; }
		done
	) &
	p2=$!
	(
		for i in $(seq "$rounds"); do
			python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 20)
s.settimeout(20)
d = s.recv(100)
sys.exit(0 if d.startswith(b"hi ") else 1)' "$c" ||
				{ echo "tunnel $i: no answer through the client tunnel" >>fail.log; break; }
		done
	) &
	p3=$!
	wait "$p1" "$p2" "$p3"
	kill -0 "$SRV_PID" && kill -0 "$CLI_PID" ||
		kw_fail "$tcti: a daemon died: $(cat srvd.log clid.log)"
	[ -s fail.log ] && rc=1
	grep -h "0x902\|error" srvd.log clid.log >>fail.log
	[ "$rc" = 0 ] && [ ! -s fail.log ] ||
		kw_fail "$tcti: $(head -c 2000 fail.log)"
}

echo "== swtpm, no resource manager: 2 daemons + connect + csr + keygen at once"
t0=$(date +%s)
run_all "$KW_TCTI" 8
# Idle daemons with a key each hold no slot (the key's context is saved).
n=$(transients)
[ "$n" = 0 ] || kw_fail "$n transient objects left loaded by 2 idle daemons: $(tpm2_getcap -T "$KW_TCTI" handles-transient)"
echo "ok 8 rounds each in $(( $(date +%s) - t0 )) s; 0 transient handles while idle"
# And they still sign after the others have gone.
python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 20)
sys.exit(0 if s.recv(100).startswith(b"hi ") else 1)' "$(ss -ltnp | grep "pid=$CLI_PID," | grep -o '127.0.0.1:[0-9]*' | head -1 | cut -d: -f2)" ||
	kw_fail "the client tunnel stopped working"
kw_stop "$CLI_PID"
kw_stop "$SRV_PID"
[ "$(transients)" = 0 ] || kw_fail "objects left after the daemons stopped"

echo "== the same through tpm2-abrmd"
kw_start_abrmd
t0=$(date +%s)
run_all "$KW_ABRMD_TCTI" 4
echo "ok 4 rounds each through tpm2-abrmd in $(( $(date +%s) - t0 )) s"
kw_stop "$CLI_PID"
kw_stop "$SRV_PID"
kw_no_sanitizer_reports srvd.log clid.log
echo "PASS"
