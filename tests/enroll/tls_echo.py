#!/usr/bin/env python3
"""A mutual-TLS line echo server for the renewal tests (tests/ only).

Requires a client certificate from --ca; logs one JSON line per
connection to --log with the SHA-256 of the client's public key, so a
test can tell which certificate each new connection presented."""
import argparse
import hashlib
import json
import socket
import ssl
import subprocess
import sys
import threading


def spki_sha(der):
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-pubkey"],
                       input=der, capture_output=True, check=True)
    q = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                       input=p.stdout, capture_output=True, check=True)
    return hashlib.sha256(q.stdout).hexdigest()


def serve(conn, args, lock):
    try:
        der = conn.getpeercert(binary_form=True)
        with lock, open(args.log, "a") as f:
            f.write(json.dumps({"event": "connect", "spki": spki_sha(der)}) + "\n")
        while True:
            data = conn.recv(4096)
            if not data:
                break
            conn.sendall(data)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(args.ca)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", args.port))
    s.listen(16)
    lock = threading.Lock()
    while True:
        c, _ = s.accept()
        try:
            t = ctx.wrap_socket(c, server_side=True)
        except (OSError, ssl.SSLError):
            c.close()
            continue
        threading.Thread(target=serve, args=(t, args, lock), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
