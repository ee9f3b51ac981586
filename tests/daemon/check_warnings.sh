#!/bin/bash
# `keyward run --check` speaks up about settings that expose the agent
# (issue 9, item 26): metrics on a public address are refused unless
# metrics-public = yes (then a warning), a client tunnel listening on a
# non-loopback address and a relative control-socket path are warned about
# as FILE:LINE; a loopback-only config stays silent.
. "$KW_SRCDIR/tests/lib/fixtures.sh"
set -e
P=$(kw_free_port)

conf() {	# conf FILE GLOBAL-LINES LISTEN
	cat >"$KW_T/$1" <<CONF
[global]
$2

[tunnel intranet]
mode = client
listen = $3
target = 127.0.0.1:9
servername = localhost
key = pkcs11:token=t;object=k
cert = $KW_T/laptop.pem
ca = $KW_T/ca.pem
CONF
}
check() {	# check FILE: sets RC, $KW_T/FILE.out/.err
	RC=0
	"$KEYWARD" run --check --config "$KW_T/$1" >"$KW_T/$1.out" 2>"$KW_T/$1.err" || RC=$?
}

conf clean.conf "metrics = 127.0.0.1:$P
control-socket = $KW_T/control" "127.0.0.1:$((P + 1))"
check clean.conf
[ $RC = 0 ] || kw_fail "clean config: exit $RC: $(cat "$KW_T/clean.conf.err")"
[ ! -s "$KW_T/clean.conf.err" ] || kw_fail "clean config warned: $(cat "$KW_T/clean.conf.err")"

conf public.conf "metrics = 0.0.0.0:$P" "127.0.0.1:$((P + 1))"
check public.conf
[ $RC = 2 ] || kw_fail "metrics on 0.0.0.0 accepted (exit $RC)"
grep -q "public.conf:2: metrics on 0.0.0.0:$P can be reached from the network.*metrics-public = yes" \
	"$KW_T/public.conf.err" || kw_fail "public metrics message: $(cat "$KW_T/public.conf.err")"
rc=0
timeout 10 "$KEYWARD" run --config "$KW_T/public.conf" --socket "$KW_T/ctl" \
	>/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || kw_fail "keyward run started with public metrics (exit $rc)"

conf v6.conf "metrics = [::]:$P" "127.0.0.1:$((P + 1))"
check v6.conf
[ $RC = 2 ] || kw_fail "metrics on [::] accepted (exit $RC)"

conf asked.conf "metrics = 0.0.0.0:$P
metrics-public = yes" "127.0.0.1:$((P + 1))"
check asked.conf
[ $RC = 0 ] || kw_fail "metrics-public = yes refused: $(cat "$KW_T/asked.conf.err")"
grep -q "asked.conf:2: metrics on 0.0.0.0:$P can be reached" "$KW_T/asked.conf.err" ||
	kw_fail "no warning with metrics-public: $(cat "$KW_T/asked.conf.err")"

conf listen.conf "" "0.0.0.0:$((P + 1))"
check listen.conf
[ $RC = 0 ] || kw_fail "open listener: exit $RC: $(cat "$KW_T/listen.conf.err")"
grep -q "listen.conf:4: client tunnel 'intranet' listens on 0.0.0.0:$((P + 1))" \
	"$KW_T/listen.conf.err" || kw_fail "no warning for 0.0.0.0: $(cat "$KW_T/listen.conf.err")"
grep -q "1 warning" "$KW_T/listen.conf.out" || kw_fail "summary: $(cat "$KW_T/listen.conf.out")"

conf rel.conf "control-socket = run/control" "[::1]:$((P + 1))"
check rel.conf
[ $RC = 0 ] || kw_fail "relative socket: exit $RC"
grep -q "rel.conf:2: control-socket 'run/control' is not an absolute path" \
	"$KW_T/rel.conf.err" || kw_fail "no warning for a relative socket: $(cat "$KW_T/rel.conf.err")"
grep -q "listens on" "$KW_T/rel.conf.err" && kw_fail "[::1] taken for a public address"
echo "PASS: --check warns about exposure, refuses public metrics unless asked"
