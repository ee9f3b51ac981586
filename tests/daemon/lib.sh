# Shared set-up for the daemon tests (control socket, --check): a SoftHSM2
# key with a certificate from the test CA, and a one-tunnel config.
# Source after tests/lib/fixtures.sh.
#   daemon_identity            $KW_T/laptop.pem for $KEY (module $MOD)
#   daemon_conf FILE [LINES]   a client tunnel config; LINES go to [global]

daemon_identity() {
	kw_need openssl
	kw_start_softhsm kwdaemon
	MOD=$KW_SOFTHSM_MODULE
	KEY="pkcs11:token=kwdaemon;object=laptop?pin-source=file:$KW_T/pin"
	kw_make_ca ca
	"$KEYWARD" keygen --module "$MOD" --key "$KEY" >/dev/null 2>"$KW_T/keygen.err" ||
		kw_fail "keygen: $(cat "$KW_T/keygen.err")"
	"$KEYWARD" csr --module "$MOD" --key "$KEY" --subject CN=laptop \
		--out "$KW_T/laptop.csr" 2>"$KW_T/csr.err" ||
		kw_fail "csr: $(cat "$KW_T/csr.err")"
	kw_sign_csr "$KW_T/laptop.csr" "$KW_T/laptop.pem" 7
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
