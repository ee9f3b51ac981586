#!/usr/bin/env python3
"""A hostile TLS 1.2 peer that signs with a signature algorithm of its own
choosing, whatever the other side offered (tests/tls/strict.sh, item 8).

  sigalg_peer.py server PORT CERT KEY SIGALG [GROUP]
      ECDHE server: signs its ServerKeyExchange with SIGALG, over an
      ephemeral key on GROUP (x25519, the default, or secp256k1, which no
      keyward client offers), asks for no client certificate, and reports
      whether the client went on (ClientKeyExchange) or refused (alert).
  sigalg_peer.py client PORT CERT KEY SIGALG
      ECDHE-ECDSA client with a certificate: signs its CertificateVerify
      with SIGALG and reports whether the server refused it (alert) or
      waited for our Finished.

SIGALG: ecdsa_sha1, ecdsa_sha224, ecdsa_sha256 (EC key) or rsa_pkcs1_sha1,
rsa_pkcs1_sha224, rsa_pkcs1_sha256 (RSA key).  Prints one line,
"accepted ..." or "refused ...", and exits 0.  Needs python3-cryptography.
Only as much TLS as it takes to reach the signature check."""
import os
import socket
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, \
    x25519

SIGALGS = {"ecdsa_sha1": (0x0203, hashes.SHA1),
           "ecdsa_sha224": (0x0303, hashes.SHA224),
           "ecdsa_sha256": (0x0403, hashes.SHA256),
           "rsa_pkcs1_sha1": (0x0201, hashes.SHA1),
           "rsa_pkcs1_sha224": (0x0301, hashes.SHA224),
           "rsa_pkcs1_sha256": (0x0401, hashes.SHA256)}
X25519 = 0x001D


def suite(key):
    """TLS_ECDHE_{ECDSA,RSA}_WITH_AES_128_GCM_SHA256"""
    return 0xC02F if isinstance(key, rsa.RSAPrivateKey) else 0xC02B


def sign(key, data, halg):
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), halg())
    return key.sign(data, ec.ECDSA(halg()))


def record(ctype, body):
    return struct.pack(">BHH", ctype, 0x0303, len(body)) + body


def hs(htype, body):
    return struct.pack(">B", htype) + struct.pack(">I", len(body))[1:] + body


def vec(n, data):
    return len(data).to_bytes(n, "big") + data


class Reader:
    """Handshake messages (and alerts) from a socket."""

    def __init__(self, sock):
        self.sock, self.buf, self.hbuf = sock, b"", b""

    def _recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next(self):
        """("hs", type, raw message) or ("alert", level, code)."""
        while True:
            if len(self.hbuf) >= 4:
                n = int.from_bytes(self.hbuf[1:4], "big")
                if len(self.hbuf) >= 4 + n:
                    msg, self.hbuf = self.hbuf[:4 + n], self.hbuf[4 + n:]
                    return ("hs", msg[0], msg)
            ctype, _, length = struct.unpack(">BHH", self._recv_exact(5))
            body = self._recv_exact(length)
            if ctype == 21:
                return ("alert", body[0], body[1])
            if ctype == 22:
                self.hbuf += body
            else:
                return ("other", ctype, body)


def load(cert_file, key_file):
    with open(cert_file, "rb") as f:
        certs = x509.load_pem_x509_certificates(f.read()) \
            if hasattr(x509, "load_pem_x509_certificates") \
            else [x509.load_pem_x509_certificate(f.read())]
    with open(key_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    chain = b"".join(vec(3, c.public_bytes(serialization.Encoding.DER))
                     for c in certs)
    return hs(11, vec(3, chain)), key


def server(sock, cert_msg, key, code, halg, group):
    rd = Reader(sock)
    kind, htype, ch = rd.next()
    if kind != "hs" or htype != 1:
        return "refused: no ClientHello"
    client_random = ch[6:38]
    server_random = os.urandom(32)
    sh = hs(2, struct.pack(">H", 0x0303) + server_random + b"\x00" +
            struct.pack(">HB", suite(key), 0) + vec(2, b""))
    if group == "secp256k1":
        eph = ec.generate_private_key(ec.SECP256K1())
        pub = eph.public_key().public_bytes(
            serialization.Encoding.X962,
            serialization.PublicFormat.UncompressedPoint)
        params = struct.pack(">BH", 3, 0x0016) + vec(1, pub)
    else:
        eph = x25519.X25519PrivateKey.generate()
        pub = eph.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        params = struct.pack(">BH", 3, X25519) + vec(1, pub)
    sig = sign(key, client_random + server_random + params, halg)
    ske = hs(12, params + struct.pack(">H", code) + vec(2, sig))
    sock.sendall(record(22, sh + cert_msg + ske + hs(14, b"")))
    try:
        kind, a, b = rd.next()
    except (EOFError, ConnectionResetError):
        return "refused (connection closed)"
    if kind == "alert":
        return "refused (alert %d)" % b
    return "accepted (the client went on with handshake message %d)" % a


def client(sock, cert_msg, key, code, halg):
    client_random = os.urandom(32)
    exts = (struct.pack(">H", 13) + vec(2, vec(2, struct.pack(">H", 0x0403)))
            + struct.pack(">H", 10) + vec(2, vec(2, struct.pack(">H", X25519)))
            + struct.pack(">H", 11) + vec(2, vec(1, b"\x00")))
    ch = hs(1, struct.pack(">H", 0x0303) + client_random + b"\x00" +
            vec(2, struct.pack(">HH", 0xC02B, 0xC02F)) + b"\x01\x00" +
            vec(2, exts))
    sock.sendall(record(22, ch))
    transcript = ch
    rd = Reader(sock)
    server_pub = None
    while True:
        kind, htype, msg = rd.next()
        if kind != "hs":
            return "refused before our CertificateVerify (%s %s)" % (
                kind, msg)
        transcript += msg
        if htype == 12:                 # ServerKeyExchange: x25519 point
            server_pub = msg[4 + 4:4 + 4 + msg[4 + 3]]
        if htype == 14:
            break
    if server_pub is None:
        return "refused: no ServerKeyExchange"
    eph = x25519.X25519PrivateKey.generate()
    pub = eph.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    cke = hs(16, vec(1, pub))
    transcript += cert_msg + cke
    sig = sign(key, transcript, halg)
    cv = hs(15, struct.pack(">H", code) + vec(2, sig))
    sock.sendall(record(22, cert_msg + cke + cv))
    sock.settimeout(2)
    try:
        kind, a, b = rd.next()
    except socket.timeout:
        return "accepted (the server waits for our Finished)"
    except (EOFError, ConnectionResetError):
        return "refused (connection closed)"
    if kind == "alert":
        return "refused (alert %d)" % b
    return "accepted (%s)" % kind


def main():
    mode, port, cert_file, key_file, alg = sys.argv[1:6]
    code, halg = SIGALGS[alg]
    cert_msg, key = load(cert_file, key_file)
    if mode == "server":
        lis = socket.socket()
        lis.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lis.bind(("127.0.0.1", int(port)))
        lis.listen(1)
        print("listening", flush=True)
        sock, _ = lis.accept()
        group = sys.argv[6] if len(sys.argv) > 6 else "x25519"
        result = server(sock, cert_msg, key, code, halg, group)
    else:
        sock = socket.create_connection(("127.0.0.1", int(port)))
        result = client(sock, cert_msg, key, code, halg)
    print(result, flush=True)
    sock.close()


if __name__ == "__main__":
    main()
