# Shared set-up for the daemon tests (control socket, --check, the
# signer's): a SoftHSM2 key with a certificate from the test CA, and
# configs.  Source after tests/lib/fixtures.sh.
#   daemon_identity            $KW_T/laptop.pem for $KEY (module $MOD)
#   daemon_card TOKEN NAME     after kw_make_ca: a SoftHSM2 token TOKEN with
#                              key NAME and $KW_T/NAME.pem (CN=NAME) for it;
#                              sets MOD and KEY
#   daemon_conf FILE [LINES]   a client tunnel config; LINES go to [global]
#   daemon_global [LINES...]   a [global] section on stdout: the control
#                              socket $KW_T/control, the test's TPM and
#                              SoftHSM2 module, info logs; then LINES
#   daemon_nginx_tunnel NAME PORT KEY CERT
#                              a [tunnel] section: a client tunnel on PORT
#                              to the test nginx (kw_start_nginx), full
#                              handshakes only (resume = no)

daemon_card() { kw_card "$@"; }

daemon_identity() {
	kw_need openssl
	kw_make_ca ca
	daemon_card kwdaemon laptop
}

daemon_nginx_tunnel() {
	cat <<CONF

[tunnel $1]
mode = client
listen = 127.0.0.1:$2
target = 127.0.0.1:$NGX_TLS_NR
servername = localhost
key = $3
cert = $4
ca = $KW_T/ca/ca.pem
resume = no
CONF
}

daemon_global() {
	printf '%s\n' "[global]" "control-socket = $KW_T/control" \
		"tcti = $KW_TCTI" "module = $MOD" "log-level = info" "$@"
}

daemon_conf() {
	local file=$1 extra=${2:-}
	LISTEN=${LISTEN:-$(kw_free_port)}
	cat >"$file" <<CONF
[global]
module = $MOD
control-socket = $KW_T/control
$extra

[tunnel intranet]
mode = client
listen = 127.0.0.1:$LISTEN
target = 127.0.0.1:9
servername = localhost
key = $KEY
cert = $KW_T/laptop.pem
ca = $KW_T/ca/ca.pem
CONF
}
