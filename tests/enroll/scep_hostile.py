#!/usr/bin/env python3
"""A hostile SCEP server (RFC 8894) for tests/enroll/scep_hostile.sh.

Speaks just enough SCEP to answer keyward: GetCACaps, GetCACert (the CA
certificate, DER) and POST PKIOperation.  The request is read with a small
DER reader, its envelope opened with python3-cryptography, and the CertRep
is built by hand (cryptography cannot add SCEP's signed attributes) and
signed with the CA key.  --mode picks the misbehaviour:

  ok          SUCCESS with a certificate for the request's key
  otherkey    SUCCESS with a certificate for another key
  garbage     a body that is not DER
  failure     FAILURE, failInfo badCertId
  pending     PENDING, then SUCCESS on the first CertPoll
  pending-forever  PENDING every time
  badsig      SUCCESS signed by a key that is not the CA's
  wrongnonce  SUCCESS with a recipientNonce that is not ours
  get         as ok, but without POSTPKIOperation: the message comes by GET
"""
import argparse
import base64
import datetime
import hashlib
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID


# ---- DER ---------------------------------------------------------------------

def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + body


def read(d, off=0):
    """(tag, contents, next offset) of the element at off."""
    tag = d[off]
    n = d[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(d[off:off + k], "big")
        off += k
    return tag, d[off:off + n], off + n


def children(d):
    out, off = [], 0
    while off < len(d):
        tag, val, nxt = read(d, off)
        out.append((tag, val, d[off:nxt]))
        off = nxt
    return out


def oid(dotted):
    parts = [int(x) for x in dotted.split(".")]
    body = bytes([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(enc))
    return tlv(0x06, body)


SCEP = "2.16.840.1.113733.1.9."
OID_DATA = oid("1.2.840.113549.1.7.1")
OID_SIGNED = oid("1.2.840.113549.1.7.2")


def seq(*xs):
    return tlv(0x30, b"".join(xs))


def attr(o, value):
    return seq(oid(o), tlv(0x31, value))


# ---- the request ------------------------------------------------------------

def parse_request(der):
    """transactionID, senderNonce, messageType, signer cert, eContent."""
    _, ci, _ = read(der)
    kids = children(ci)
    _, sd, _ = read(kids[1][1])
    sdk = children(sd)
    encap = children(sdk[2][1])
    _, econtent, _ = read(encap[1][1])
    certs = children(sdk[3][1])
    signer = certs[0][2]
    si = children(children(sdk[4][1])[0][1])
    attrs = {}
    for _, a, _ in children(si[3][1]):
        k = children(a)
        attrs[k[0][2]] = children(k[1][1])[0][1]
    return (attrs[oid(SCEP + "7")].decode(), attrs[oid(SCEP + "5")],
            int(attrs[oid(SCEP + "2")]), signer, econtent)


# ---- the answer --------------------------------------------------------------

def certrep(ca_cert, sign_key, tid, recipient_nonce, status, fail=None,
            content=b""):
    md = hashlib.sha256(content).digest()
    attrs = [
        attr("1.2.840.113549.1.9.3", OID_DATA),
        attr("1.2.840.113549.1.9.4", tlv(0x04, md)),
        attr(SCEP + "2", tlv(0x13, b"3")),
        attr(SCEP + "3", tlv(0x13, str(status).encode())),
        attr(SCEP + "7", tlv(0x13, tid.encode())),
        attr(SCEP + "5", tlv(0x04, os.urandom(16))),
        attr(SCEP + "6", tlv(0x04, recipient_nonce)),
    ]
    if fail is not None:
        attrs.append(attr(SCEP + "4", tlv(0x13, str(fail).encode())))
    attrs.sort()
    signed = tlv(0x31, b"".join(attrs))
    sig = sign_key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    sha256 = seq(oid("2.16.840.1.101.3.4.2.1"), tlv(0x05, b""))
    cad = ca_cert.public_bytes(serialization.Encoding.DER)
    tbs = children(children(read(cad)[1])[0][1])
    # TBSCertificate: [0] version, serial, sigalg, issuer, ...
    serial, issuer = tbs[1][2], tbs[3][2]
    si = seq(tlv(0x02, b"\x01"), seq(issuer, serial), sha256,
             b"\xa0" + signed[1:],
             seq(oid("1.2.840.113549.1.1.1"), tlv(0x05, b"")),
             tlv(0x04, sig))
    encap = seq(OID_DATA, tlv(0xA0, tlv(0x04, content))) if content else \
        seq(OID_DATA)
    sd = seq(tlv(0x02, b"\x01"), tlv(0x31, sha256), encap,
             tlv(0xA0, cad), tlv(0x31, si))
    return seq(OID_SIGNED, tlv(0xA0, sd))


def issue(ca_cert, ca_key, pub, cn, seconds=30 * 86400):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        cn)]))
            .issuer_name(ca_cert.subject)
            .public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(seconds=1))
            .not_valid_after(now + datetime.timedelta(seconds=seconds))
            .sign(ca_key, hashes.SHA256()))
    return cert


def degenerate(cert):
    """certs-only SignedData (ContentInfo) holding cert."""
    sd = seq(tlv(0x02, b"\x01"), tlv(0x31, b""), seq(OID_DATA),
             tlv(0xA0, cert.public_bytes(serialization.Encoding.DER)),
             tlv(0x31, b""))
    return seq(OID_SIGNED, tlv(0xA0, sd))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("scep_hostile: " + (fmt % args) + "\n")

    def send(self, ctype, body):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        qs = parse_qs(urlparse(self.path).query)
        op = qs.get("operation", [""])[0]
        srv = self.server
        if op == "GetCACaps":
            self.send("text/plain", b"AES\nSHA-256\nRenewal\n"
                      if srv.mode == "get" else
                      b"AES\nSHA-256\nPOSTPKIOperation\nRenewal\n")
        elif op == "PKIOperation" and srv.mode == "get":
            sys.stderr.write("scep_hostile: PKIOperation by GET\n")
            self.pki(base64.b64decode(qs["message"][0], validate=True))
        elif op == "GetCACert":
            self.send("application/x-x509-ca-cert",
                      srv.ca.public_bytes(serialization.Encoding.DER))
        else:
            self.send_error(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.mode == "get":
            self.send_error(405)
            return
        self.pki(body)

    def pki(self, body):
        srv = self.server
        mode = srv.mode
        if mode == "garbage":
            self.send("application/x-pki-message", b"\x30\x03garbage!")
            return
        tid, nonce, mtype, signer, env = parse_request(body)
        srv.count += 1
        sys.stderr.write("scep_hostile: messageType %d #%d\n" %
                         (mtype, srv.count))
        sys.stderr.flush()
        if mode == "failure":
            rep = certrep(srv.ca, srv.ca_key, tid, nonce, 2, fail=4)
        elif mode == "pending-forever" or (mode == "pending" and mtype != 20):
            rep = certrep(srv.ca, srv.ca_key, tid, nonce, 3)
        else:
            signer_cert = x509.load_der_x509_certificate(signer)
            if mtype == 20:
                pub = signer_cert.public_key()
            else:
                csr_der = pkcs7.pkcs7_decrypt_der(
                    env, srv.ca, srv.ca_key, [])
                pub = x509.load_der_x509_csr(csr_der).public_key()
            if mode == "otherkey":
                pub = rsa.generate_private_key(65537, 2048).public_key()
            cert = issue(srv.ca, srv.ca_key, pub, "hostile", srv.seconds)
            enc = (pkcs7.PKCS7EnvelopeBuilder()
                   .set_data(degenerate(cert))
                   .add_recipient(signer_cert)
                   .encrypt(serialization.Encoding.DER,
                            [pkcs7.PKCS7Options.Binary]))
            key = srv.ca_key
            if mode == "badsig":
                key = rsa.generate_private_key(65537, 2048)
            if mode == "wrongnonce":
                nonce = os.urandom(16)
            rep = certrep(srv.ca, key, tid, nonce, 0, content=enc)
        self.send("application/x-pki-message", rep)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True, help="CA cert (PEM)")
    ap.add_argument("--ca-key", required=True, help="CA key (PEM, RSA)")
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--seconds", type=int, default=30 * 86400,
                    help="lifetime of the certificates issued")
    a = ap.parse_args()
    srv = HTTPServer(("127.0.0.1", a.port), Handler)
    with open(a.ca, "rb") as f:
        srv.ca = x509.load_pem_x509_certificate(f.read())
    with open(a.ca_key, "rb") as f:
        srv.ca_key = serialization.load_pem_private_key(f.read(), None)
    srv.mode = a.mode
    srv.count = 0
    srv.seconds = a.seconds
    srv.serve_forever()


if __name__ == "__main__":
    main()
