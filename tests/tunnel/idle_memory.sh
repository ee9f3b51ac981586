#!/bin/bash
# What an idle tunneled connection costs (issue 13, memory and scale):
#   500 idle connections through a client tunnel (key in swtpm) to nginx
#   with mutual TLS, and 500 through a client tunnel and a server tunnel
#   (key in another swtpm) to nginx in plaintext; each connection carried
#   a request and its answer, then went idle.  The tunnel process's RSS
#   (the server's in the second case) grows by at most KW_IDLE_BOUND bytes
#   (32 KiB, the goal) per connection; afterwards a request on every one of them is
#   still answered.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/tunnel/lib.sh"

cd "$KW_T" || exit 1
N=500
BOUND=${KW_IDLE_BOUND:-32768}
# Under ASan or TSan every allocation carries the sanitizer's own memory
# (redzones, quarantine, shadow): the connections are carried and checked
# all the same, the bound is not.
if ldd "$KEYWARD" 2>/dev/null | grep -qE 'lib(a|t)san'; then
	echo "note: a sanitizer build: RSS reported, the bound not checked"
	BOUND=999999999
fi
ulimit -n 4096 2>/dev/null || true
[ "$(ulimit -n)" -ge $((N * 2 + 200)) ] ||
	kw_fail "ulimit -n is $(ulimit -n): too low for $N connections"
kw_make_ca ca
kw_make_server_cert server 7
kw_start_swtpm tpm1
TCTI1=$KW_TCTI
tpm_identity laptop "CN=laptop" "DNS:laptop.example.com"
kw_start_swtpm tpm2
TCTI2=$KW_TCTI
tpm_identity tserver "CN=tunnel-server" "DNS:localhost,IP:127.0.0.1"
start_nginx
IDLE="python3 $KW_SRCDIR/tests/tunnel/idle.py"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# measure TAG PID PORT [idle.py options]: N idle connections to PORT, the
# growth of PID's RSS per connection in $per; then a request on each.
measure() {
	local tag=$1 pid=$2 port=$3 before after res
	shift 3
	# warm: the TLS context, the key, a resumable session, malloc's arenas
	$IDLE hold "$port" 20 "$tag.warm" "$@" </dev/null >"$tag.warm.json" ||
		kw_fail "$tag: warm-up: $(cat "$tag.warm.json")"
	sleep 0.3
	before=$(rss_kib "$pid")
	mkfifo "$tag.in"
	exec 5<>"$tag.in"
	$IDLE hold "$port" "$N" "$tag.ready" "$@" <"$tag.in" >"$tag.json" &
	kw_track $!
	wait_for "$tag.ready" "held" || kw_fail "$tag: connections not opened"
	grep -q "^held $N\$" "$tag.ready" ||
		kw_fail "$tag: $(cat "$tag.ready") of $N opened: $(tail -3 "$tag.log")"
	sleep 1.5	# idle: a connection open for 1 s gives back its zero pages
	after=$(rss_kib "$pid")
	echo >&5
	wait_for "$tag.json" '"held"' || kw_fail "$tag: no answers"
	exec 5>&-
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert d["held"] == n and d["sampled"] == n and d["ok"] == n, d' \
		"$tag.json" "$N" ||
		kw_fail "$tag: not every idle connection answered afterwards: $(cat "$tag.json")"
	per=$(( (after - before) * 1024 / N ))
	echo "$tag: RSS $before -> $after KiB with $N idle connections: $per bytes each; all $N answered afterwards"
}

echo "== client tunnel -> nginx (mutual TLS), $N idle connections"
CPORT=$(kw_free_port)
start_keyward client tunnel client --listen "127.0.0.1:$CPORT" \
	--target "127.0.0.1:$NGX_TLS" --servername localhost --ca ca/ca.pem \
	--key "tpm:$KW_T/laptop.tpmkey" --cert laptop.pem --tcti "$TCTI1" \
	--idle-timeout 0 --status-socket "$KW_T/client.ctl"
CPID=$KPID
wait_listen "$CPORT"
measure client "$CPID" "$CPORT"
echo "handshakes: full $(status_get client.ctl client handshakes.full), resumed $(status_get client.ctl client handshakes.resumed)"
[ "$per" -le "$BOUND" ] ||
	kw_fail "client tunnel: $per bytes per idle connection (want <= $BOUND)"
echo "ok client tunnel: $per bytes per idle connection (<= $BOUND)"
kw_stop "$CPID"

echo "== client tunnel -> server tunnel -> nginx, $N idle connections"
SPORT=$(kw_free_port)
start_keyward server tunnel server --listen "127.0.0.1:$SPORT" \
	--target "127.0.0.1:$NGX_PLAIN" --ca ca/ca.pem \
	--key "tpm:$KW_T/tserver.tpmkey" --cert tserver.pem --tcti "$TCTI2" \
	--allow-cn laptop --idle-timeout 0 --status-socket "$KW_T/server.ctl"
SPID=$KPID
wait_listen "$SPORT"
start_keyward client2 tunnel client --listen "127.0.0.1:$CPORT" \
	--target "127.0.0.1:$SPORT" --servername localhost --ca ca/ca.pem \
	--key "tpm:$KW_T/laptop.tpmkey" --cert laptop.pem --tcti "$TCTI1" \
	--idle-timeout 0
CPID=$KPID
wait_listen "$CPORT"
# 16 at a time: below max-pending-per-source (32) from one address
measure server "$SPID" "$CPORT" --conc 16
echo "handshakes: full $(status_get server.ctl server handshakes.full), resumed $(status_get server.ctl server handshakes.resumed)"
[ "$per" -le "$BOUND" ] ||
	kw_fail "server tunnel: $per bytes per idle connection (want <= $BOUND)"
echo "ok server tunnel: $per bytes per idle connection (<= $BOUND)"
kw_stop "$CPID"
kw_stop "$SPID"
kw_no_sanitizer_reports ./*.log
exit 0
