#!/usr/bin/env python3
"""A hostile ACME server for keyward's tests (tests/ only).

It follows the happy path of RFC 8555 just far enough to reach the step
where it misbehaves; it does not check JWS signatures (keyward's JWS is
checked against pebble).  Modes (--mode):
  ok          issue a certificate for the CSR's key from --ca
  wrongkey    issue a certificate for another key (from --ca)
  wrongchain  a certificate for the CSR's key from --other-ca
  badjson     the order answer is not JSON
  problem     the order is refused with a problem document whose detail
              holds control characters and two subproblems
  badpem      the certificate download is not PEM
  huge        the certificate download never ends (chunked)
  badnonce    every POST is refused with badNonce
  trickle     the directory arrives one byte every 0.5 s (never whole)
Renewal information (RFC 9773): with --ari-file, the file's first word,
read at each request, chooses what renewalInfo/CERTID answers:
  none (or no file)  the directory offers no renewalInfo
  past      a window that has ended        future    a window 2..3 days ahead
  reversed  end before start               garbage   not JSON
  error     HTTP 500                       refuse-replaces  past, and a
            newOrder carrying "replaces" is refused (malformed)
With --log, every renewalInfo GET and newOrder payload is one JSON line.
Issued certificates carry an authorityKeyIdentifier when --ari-file is
given.
"""
import argparse
import base64
import http.server
import json
import os
import socketserver
import ssl
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def sign(csr_der, ca, workdir, aki=False):
    csr = os.path.join(workdir, "req.der")
    out = os.path.join(workdir, "leaf.pem")
    with open(csr, "wb") as f:
        f.write(csr_der)
    cmd = ["openssl", "x509", "-req", "-inform", "DER", "-in", csr,
           "-CA", ca + "/ca.pem", "-CAkey", ca + "/ca.key",
           "-CAcreateserial", "-days", "7", "-out", out]
    if aki:
        ext = os.path.join(workdir, "aki.cnf")
        with open(ext, "w") as f:
            f.write("authorityKeyIdentifier=keyid:always\n")
        cmd += ["-extfile", ext]
    subprocess.run(cmd, check=True, capture_output=True)
    with open(out) as f:
        return f.read()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body=b"", ctype="application/json", extra=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Replay-Nonce", uuid.uuid4().hex)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def url(self, p):
        return "https://localhost:%d%s" % (self.server.server_address[1], p)

    def ari_mode(self):
        try:
            with open(self.server.ari_file) as f:
                return (f.read().split() or ["none"])[0]
        except (OSError, TypeError):
            return "none"

    def log(self, **kw):
        if self.server.log:
            with open(self.server.log, "a") as f:
                f.write(json.dumps(kw) + "\n")

    def ari(self, certid):
        mode = self.ari_mode()
        self.log(ari=certid, mode=mode)
        now = datetime.now(timezone.utc)

        def t(d):
            return (now + timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if mode == "error":
            return self.send(500, "oops", "text/plain")
        if mode == "garbage":
            return self.send(200, "{suggestedWindow: soon", "text/plain")
        win = {"past": (-3, -2), "refuse-replaces": (-3, -2),
               "future": (2, 3), "reversed": (3, 2)}[mode]
        return self.send(200, json.dumps({"suggestedWindow": {
            "start": t(win[0]), "end": t(win[1])}}),
            extra={"Retry-After": "7200"})

    def do_GET(self):
        if self.path == "/dir" and self.server.mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(600):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass
            return
        if self.path == "/dir":
            d = {"newNonce": self.url("/nonce"),
                 "newAccount": self.url("/acct"),
                 "newOrder": self.url("/order")}
            if self.ari_mode() != "none":
                d["renewalInfo"] = self.url("/ari/")
            self.send(200, json.dumps(d))
        elif self.path.startswith("/ari/"):
            self.ari(self.path[5:])
        else:
            self.send(204, ctype="text/plain")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        jws = json.loads(self.rfile.read(n))
        payload = b64url_dec(jws["payload"]) if jws["payload"] else b""
        mode = self.server.mode
        if mode == "badnonce":
            return self.send(400, json.dumps({
                "type": "urn:ietf:params:acme:error:badNonce",
                "detail": "no"}), "application/problem+json")
        if self.path == "/acct":
            return self.send(201, json.dumps({"status": "valid"}),
                             extra={"Location": self.url("/acct/1")})
        if self.path == "/order":
            order = json.loads(payload)
            self.log(order=order)
            if "replaces" in order and self.ari_mode() == "refuse-replaces":
                return self.send(400, json.dumps({
                    "type": "urn:ietf:params:acme:error:malformed",
                    "detail": "replaces: no such certificate"}),
                    "application/problem+json")
            if mode == "badjson":
                return self.send(201, "{not json", extra={
                    "Location": self.url("/order/1")})
            if mode == "problem":
                return self.send(403, json.dumps({
                    "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                    "detail": "policy\x1b[31m forbids\nthis",
                    "subproblems": [
                        {"type": "urn:ietf:params:acme:error:caa",
                         "detail": "CAA forbids",
                         "identifier": {"type": "dns", "value": "a.example"}},
                        {"type": "urn:ietf:params:acme:error:dns",
                         "detail": "NXDOMAIN",
                         "identifier": {"type": "dns", "value": "b.example"}},
                    ]}), "application/problem+json")
            return self.send(201, json.dumps({
                "status": "ready", "authorizations": [],
                "finalize": self.url("/fin")}),
                extra={"Location": self.url("/order/1")})
        if self.path == "/fin":
            csr = b64url_dec(json.loads(payload)["csr"])
            if mode == "wrongkey":
                k = os.path.join(self.server.workdir, "other.key")
                csr = subprocess.run(
                    ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout", k,
                     "-subj", "/CN=other", "-outform", "DER"],
                    check=True, capture_output=True).stdout
            ca = self.server.other_ca if mode == "wrongchain" else \
                self.server.ca
            self.server.pem = sign(csr, ca, self.server.workdir,
                                   self.server.ari_file is not None)
            return self.send(200, json.dumps({"status": "processing"}))
        if self.path == "/order/1":
            return self.send(200, json.dumps({
                "status": "valid", "certificate": self.url("/cert")}))
        if self.path == "/cert":
            if mode == "badpem":
                return self.send(200, "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                 "-----END CERTIFICATE-----\n",
                                 "application/pem-certificate-chain")
            if mode == "huge":
                self.send_response(200)
                self.send_header("Content-Type",
                                 "application/pem-certificate-chain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"A" * 65536
                try:
                    while True:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except OSError:
                    return
            with open(self.server.ca + "/ca.pem") as f:
                chain = self.server.pem + f.read()
            return self.send(200, chain, "application/pem-certificate-chain")
        self.send(404, ctype="text/plain")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True, help="issuing CA dir")
    ap.add_argument("--other-ca", required=True)
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--ari-file")
    ap.add_argument("--log")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.mode, srv.ca, srv.other_ca = a.mode, a.ca, a.other_ca
    srv.ari_file, srv.log = a.ari_file, a.log
    srv.workdir = tempfile.mkdtemp(dir=os.path.dirname(a.cert))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
