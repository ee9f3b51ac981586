# Shared setup for the tunnel tests: sourced after tests/lib/fixtures.sh.
# Makes TPM keys and certificates, software peers' certificates, and
# starts nginx / openssl s_server / stunnel on free ports.
# shellcheck shell=bash

kw_need swtpm openssl curl nginx python3 ss

# Wait until FILE contains TEXT (extended regexp).
wait_for() {
	local file=$1 text=$2 n=0
	while ! grep -qE -- "$text" "$file" 2>/dev/null; do
		sleep 0.1; n=$((n + 1))
		[ $n -ge 150 ] && return 1
	done
	return 0
}

wait_listen() {
	local port=$1 n=0
	while ! ss -Hltn "sport = :$port" | grep -q .; do
		sleep 0.1; n=$((n + 1))
		[ $n -ge 150 ] && kw_fail "nothing listens on port $port"
	done
}

# A TPM key and a certificate for it: tpm_identity NAME SUBJECT SAN
# (the key in the swtpm of $KW_TCTI; writes NAME.tpmkey, NAME.pem).
tpm_identity() {
	local name=$1 subj=$2 san=$3
	"$KEYWARD" keygen --key "tpm:$KW_T/$name.tpmkey" --alg ec-p256 \
		--tcti "$KW_TCTI" >"$KW_T/$name.pub" 2>"$KW_T/$name.err" ||
		kw_fail "keygen $name: $(cat "$KW_T/$name.err")"
	"$KEYWARD" csr --key "tpm:$KW_T/$name.tpmkey" --tcti "$KW_TCTI" \
		--subject "$subj" --out "$KW_T/$name.csr" 2>"$KW_T/$name.err" ||
		kw_fail "csr $name: $(cat "$KW_T/$name.err")"
	kw_sign_csr "$KW_T/$name.csr" "$KW_T/$name.pem" 7 "subjectAltName=$san"
}

# A software client identity (for curl, stunnel, s_client):
# soft_client NAME SUBJECT SAN [days] [ca]
soft_client() {
	local name=$1 subj=$2 san=$3 days=${4:-7} ca=${5:-ca}
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$KW_T/$name.key" -out "$KW_T/$name.csr" \
		-subj "$subj" 2>/dev/null || kw_fail "openssl req $name"
	kw_sign_csr "$KW_T/$name.csr" "$KW_T/$name.pem" "$days" \
		"subjectAltName=$san" "$ca"
}

# openssl ca database for expired certificates and CRLs.
ca_db() {
	mkdir -p "$KW_T/ca/db"
	: >"$KW_T/ca/db/index.txt"
	echo 1000 >"$KW_T/ca/db/serial"
	cat >"$KW_T/ca/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
database = $KW_T/ca/db/index.txt
serial = $KW_T/ca/db/serial
new_certs_dir = $KW_T/ca/db
certificate = $KW_T/ca/ca.pem
private_key = $KW_T/ca/ca.key
default_md = sha256
default_crl_days = 7
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
[ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth,serverAuth
EOF
}

# nginx on three free ports: NGX_TLS (mTLS, ssl_verify_client on, answers
# "hello <client DN>"), NGX_TLS_NR (the same without session resumption)
# and NGX_PLAIN ("plain hello").  Keep-alive on.
start_nginx() {
	local d=$KW_T/nginx
	mkdir -p "$d/tmp"
	NGX_TLS=$(kw_free_port)
	NGX_PLAIN=$(kw_free_port)
	NGX_TLS_NR=$(kw_free_port)
	head -c 1048576 /dev/urandom >"$d/big"
	cat >"$d/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile 8192;
error_log $d/error.log info;
events { worker_connections 8192; }
http {
	access_log $d/access.log;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	keepalive_requests 1000000;
	keepalive_timeout 300s;
	default_type text/plain;
	server {
		listen 127.0.0.1:$NGX_TLS ssl;
		ssl_certificate $KW_T/server.pem;
		ssl_certificate_key $KW_T/server.key;
		ssl_client_certificate $KW_T/ca/ca.pem;
		ssl_verify_client on;
		ssl_protocols TLSv1.2 TLSv1.3;
		location / { return 200 "hello \$ssl_client_s_dn\n"; }
		location /big { alias $d/big; }
	}
	# the same without session resumption: every handshake is full
	server {
		listen 127.0.0.1:$NGX_TLS_NR ssl;
		ssl_certificate $KW_T/server.pem;
		ssl_certificate_key $KW_T/server.key;
		ssl_client_certificate $KW_T/ca/ca.pem;
		ssl_verify_client on;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_session_tickets off;
		ssl_session_cache off;
		location / { return 200 "hello \$ssl_client_s_dn\n"; }
	}
	server {
		listen 127.0.0.1:$NGX_PLAIN;
		location / { return 200 "plain hello\n"; }
		location /big { alias $d/big; }
	}
}
EOF
	nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
		-g "daemon off; pid $d/nginx.pid;" >"$d/stderr" 2>&1 &
	NGX_PID=$!
	kw_track "$NGX_PID"
	wait_listen "$NGX_TLS"
	wait_listen "$NGX_PLAIN"
}

# keyward in the background: start_keyward TAG ARGS... (sets KPID; log
# in $KW_T/TAG.log)
start_keyward() {
	local tag=$1
	shift
	"$KEYWARD" "$@" >"$KW_T/$tag.log" 2>&1 &
	KPID=$!
	kw_track "$KPID"
}

# Status counter from `keyward status --json`: status_get SOCKET TUNNEL PATH
# e.g. status_get ctl web handshakes.full
status_get() {
	"$KEYWARD" status --json --socket "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
t = [t for t in d["tunnels"] if t["name"] == sys.argv[1]][0]
for k in sys.argv[2].split("."):
    t = t[k]
print(t)' "$2" "$3"
}
