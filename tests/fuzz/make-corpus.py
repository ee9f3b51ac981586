#!/usr/bin/env python3
"""Write the fuzz harnesses' seed corpora (tests/fuzz/corpus/NAME/).

Run once by hand (python3 tests/fuzz/make-corpus.py) and the output
committed; the certificates come from openssl (fresh keys each run), the
TLS hellos from Python's ssl module, the rest is written out here.  The
harnesses whose first input byte steers the cutting (http, hello) get
seeds with a leading selector byte."""
import base64
import os
import pathlib
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile

top = pathlib.Path(__file__).resolve().parent / "corpus"


def put(name, fname, data):
    d = top / name
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / fname).write_bytes(data)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, body):
    return bytes([tag]) + der_len(len(body)) + body


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    if n < 65536:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    return bytes([major << 5 | 26]) + struct.pack(">I", n)


def cbor(v):
    """The CBOR of ints, text, bytes and dicts (definite lengths)."""
    if isinstance(v, int):
        return cbor_head(0, v)
    if isinstance(v, str):
        return cbor_head(3, len(v.encode())) + v.encode()
    if isinstance(v, bytes):
        return cbor_head(2, len(v)) + v
    return cbor_head(5, len(v)) + b"".join(cbor(k) + cbor(x)
                                           for k, x in v.items())


def posture():
    """The posture messages (attest/posture_msg.c), framed."""
    msgs = {
        "req": {"v": 1, "t": "req", "nonce": bytes(range(32))},
        "ev": {"v": 1, "t": "ev", "evidence": cbor({"fmt": "tpm",
                                                    "x": b"\1" * 90})},
        "act": {"v": 1, "t": "act", "blob": b"\2" * 68,
                "secret": b"\3" * 256},
        "actd": {"v": 1, "t": "actd", "secret": b"\4" * 32},
        "ok": {"v": 1, "t": "ok"},
        "no": {"t": "no", "v": 1, "reason": "secure boot off"},
    }
    for name, m in msgs.items():
        b = cbor(m)
        put("posture", name, struct.pack(">I", len(b)) + b)
    # libcbor 0.8 allocates what an array head declares before reading
    # its items: 0x6e313737 elements in 9 bytes (found under ASan)
    put("posture", "regress-huge-array",
        struct.pack(">I", 5) + bytes.fromhex("9a6e313737"))


def main():
    tmp = tempfile.mkdtemp(prefix="kwcorpus.")
    try:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                "-out", "ca.pem", "-subj", "/CN=Fuzz CA", "-days", "3650",
                cwd=tmp)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
                "-subj", "/CN=host.example", cwd=tmp)
        with open(os.path.join(tmp, "ext"), "w") as f:
            f.write("subjectAltName=DNS:host.example,IP:192.0.2.1\n"
                    "extendedKeyUsage=clientAuth,serverAuth\n")
        openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey",
                "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "30",
                "-extfile", "ext", cwd=tmp)
        openssl("crl2pkcs7", "-nocrl", "-certfile", "leaf.pem", "-certfile",
                "ca.pem", "-outform", "DER", "-out", "chain.p7", cwd=tmp)
        openssl("x509", "-in", "leaf.pem", "-outform", "DER", "-out",
                "leaf.der", cwd=tmp)
        openssl("pkey", "-in", "leaf.key", "-pubout", "-outform", "DER",
                "-out", "spki.der", cwd=tmp)
        rd = lambda n: pathlib.Path(tmp, n).read_bytes()
        leaf_pem, ca_pem = rd("leaf.pem"), rd("ca.pem")
        p7, leaf_der, spki = rd("chain.p7"), rd("leaf.der"), rd("spki.der")
        p7_b64 = base64.encodebytes(p7)

        # ---- TLS hellos (Python's ssl, memory BIOs) ----
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.check_hostname = False
        cctx.verify_mode = ssl.CERT_NONE
        cin, cout = ssl.MemoryBIO(), ssl.MemoryBIO()
        cli = cctx.wrap_bio(cin, cout, server_hostname="host.example")
        try:
            cli.do_handshake()
        except ssl.SSLWantReadError:
            pass
        client_hello = cout.read()
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(os.path.join(tmp, "leaf.pem"),
                             os.path.join(tmp, "leaf.key"))
        sin, sout = ssl.MemoryBIO(), ssl.MemoryBIO()
        srv = sctx.wrap_bio(sin, sout, server_side=True)
        sin.write(client_hello)
        try:
            srv.do_handshake()
        except ssl.SSLWantReadError:
            pass
        server_hello = sout.read()
    finally:
        shutil.rmtree(tmp)

    # ---- http: selector byte + an answer ----
    body = p7_b64
    put("http", "p7-chunked", b"\x05HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/pkcs7-mime; smime-type=certs-only\r\n"
        b"Content-Transfer-Encoding: base64\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    put("http", "p7-length", b"\x00HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/pkcs7-mime\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body)
    put("http", "retry", "\x11HTTP/1.1 202 Accepted\r\nRetry-After: "
        "Sun, 06 Nov 2094 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n")
    put("http", "interim", "\x02HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"est\"\r\n"
        "Retry-After: 120\r\n\r\nno")
    put("http", "close", "\x03HTTP/1.0 200 OK\r\nContent-Type: "
        "application/problem+json\r\n\r\n{\"type\":\"x\"}")

    # ---- acme: JSON answers, problem documents, PEM, base64url ----
    put("acme", "directory.json", """{
  "keyChange": "https://127.0.0.1:14000/rollover-account-key",
  "meta": {"externalAccountRequired": false,
           "termsOfService": "data:text/plain,Do%20what%20thou%20wilt"},
  "newAccount": "https://127.0.0.1:14000/sign-me-up",
  "newNonce": "https://127.0.0.1:14000/nonce-plz",
  "newOrder": "https://127.0.0.1:14000/order-plz",
  "revokeCert": "https://127.0.0.1:14000/revoke-cert"
}
""")
    put("acme", "problem-simple.json", '{"type":"urn:ietf:params:acme:error:'
        'badNonce","detail":"JWS has an invalid anti-replay nonce","status":400}')
    put("acme", "problem-subs.json", """{
  "type": "urn:ietf:params:acme:error:rejectedIdentifier",
  "detail": "Some of the identifiers requested were rejected",
  "subproblems": [
    {"type": "urn:ietf:params:acme:error:malformed",
     "detail": "Invalid underscore in DNS name \\"_example.org\\"",
     "identifier": {"type": "dns", "value": "_example.org"}},
    {"type": "urn:ietf:params:acme:error:rejectedIdentifier",
     "detail": "This CA will not issue for \\"example.net\\"\\n\\u0007",
     "identifier": {"type": "dns", "value": "example.net"}}
  ]
}
""")
    put("acme", "order.json", '{"status":"valid","expires":"2026-01-01T00:00:00Z",'
        '"identifiers":[{"type":"dns","value":"host.example"}],'
        '"authorizations":["https://127.0.0.1:14000/authZ/x"],'
        '"finalize":"https://127.0.0.1:14000/finalize-order/y",'
        '"certificate":"https://127.0.0.1:14000/certZ/z"}')
    put("acme", "chain.pem", leaf_pem + ca_pem)
    put("acme", "b64url", base64.urlsafe_b64encode(spki).rstrip(b"="))

    # ---- est: PKCS#7, certificate, csrattrs ----
    put("est", "chain.p7", p7)
    put("est", "leaf.der", leaf_der)
    oid = lambda b: tlv(0x06, b)
    attrs = tlv(0x30, oid(bytes.fromhex("2a864886f70d010907")) +
                tlv(0x30, oid(bytes.fromhex("2a864886f70d01090e")) +
                    tlv(0x31, tlv(0x06, bytes.fromhex("551d11")))) +
                oid(bytes.fromhex("2a8648ce3d040303")))
    put("est", "csrattrs.der", attrs)
    put("est", "csrattrs.b64", base64.encodebytes(attrs))
    put("est", "chunked.http", "HTTP/1.1 200 OK\r\nContent-Type: application/pkcs7-mime\r\n"
        "Transfer-Encoding: chunked\r\nRetry-After: 5\r\n\r\n"
        "5\r\nQUJD\n\r\n0\r\n\r\n")

    # ---- der: certificate, SPKI ----
    put("der", "leaf.der", leaf_der)
    put("der", "spki.der", spki)
    put("der", "chain.p7", p7)
    put("der", "csrattrs.der", attrs)
    put("der", "leaf.b64", base64.encodebytes(leaf_der))

    # ---- keyfile: a TSS2 PRIVATE KEY (P-256, made-up key bytes) ----
    b2 = lambda b: struct.pack(">H", len(b)) + b
    pub = (struct.pack(">HHI", 0x0023, 0x000B, 0x00040072) + b2(b"") +
           struct.pack(">HHHH", 0x0010, 0x0010, 0x0003, 0x0010) +
           b2(bytes(range(1, 33))) + b2(bytes(range(33, 65))))
    tss = tlv(0x30, oid(bytes.fromhex("6781050a0103")) +
              tlv(0xa0, tlv(0x01, b"\xff")) + tlv(0x02, b"\x40\x00\x00\x01") +
              tlv(0x04, b2(pub)) + tlv(0x04, b2(bytes(range(120)))))
    put("keyfile", "p256.tss", b"-----BEGIN TSS2 PRIVATE KEY-----\n" +
        base64.encodebytes(tss) + b"-----END TSS2 PRIVATE KEY-----\n")

    # ---- p11uri ----
    for i, u in enumerate([
            "pkcs11:token=My%20Token;object=key1;type=private;id=%01%02%ff",
            "pkcs11:model=PKCS%2315%20emulated;manufacturer=piv_II;"
            "serial=0123456789abcdef;token=PIV_II;object=SIGN%20key;"
            "type=private?pin-source=file:/etc/keyward/pin&"
            "module-path=/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
            "pkcs11:library-manufacturer=OpenSC%20Project;"
            "library-description=OpenSC%20smartcard%20framework;"
            "library-version=0.23;slot-id=1;slot-description=Reader;"
            "slot-manufacturer=x?module-name=softhsm2&x-vendor=1",
            "pkcs11:id=%AB;object=a?pin-value=1234",
            "pkcs11:"]):
        put("p11uri", "uri%d" % i, u)

    # ---- hello: selector byte + ClientHello / ServerHello records ----
    put("hello", "client", b"\x07" + client_hello)
    put("hello", "server", b"\x09" + server_hello)
    put("hello", "client-split", b"\x00" + client_hello[:5] +
        client_hello[5:60] + client_hello[60:])

    # ---- signer: selector byte (even request, odd reply) + frame body:
    # op, status, handle, a, b, c, u16 string, u16 data (kw_signer.h) ----
    def sgn(op, status=0, handle=0, a=0, b=0, c=0, s=b"", d=b""):
        return (struct.pack(">BiIIII", op, status, handle, a, b, c) +
                struct.pack(">H", len(s)) + s + struct.pack(">H", len(d)) + d)
    for name, sel, b in [
            ("req-list", 0, sgn(1)),
            ("req-open-tpm", 0, sgn(2, s=b"tpm:/var/lib/keyward/k.pem")),
            ("req-open-p11", 0, sgn(2, s=b"pkcs11:token=t;object=k?"
                                      b"pin-source=file:/etc/keyward/pin")),
            ("req-sign", 0, sgn(5, handle=1, a=1, b=1, c=1,
                                s=b"tunnel web, peer 127.0.0.1:4433",
                                d=bytes(range(32)))),
            ("req-decrypt", 0, sgn(6, handle=3, d=bytes(256))),
            ("req-generate", 0, sgn(8, s=b"tpm:/var/lib/keyward/k.2.pem",
                                    a=3, b=3)),
            ("req-store-cert", 0, sgn(11, s=b"pkcs11:token=t;object=k",
                                      d=b"\x30\x82\x01\x00" + bytes(256))),
            ("req-present", 0, sgn(7, handle=9)),
            ("rep-open", 1, sgn(0x82, handle=1, a=1, b=2, c=1,
                                s=b"tpm: k.pem, ec-p256",
                                d=b"\x30\x59" + bytes(89))),
            ("rep-sign", 1, sgn(0x85, d=bytes(64))),
            ("rep-error", 1, sgn(0x85, status=-34)),
            ("rep-exists", 1, sgn(0x89, a=1)),
            ("rep-cert", 1, sgn(0x8c, d=b"\x30\x82" + bytes(500)))]:
        put("signer", name, bytes([sel]) + b)

    scep_corpus()
    posture()
    eventlog_policy()
    return 0


def scep_corpus():
    """CertReps (SUCCESS, FAILURE, PENDING) from the hostile SCEP server's
    builder, each after its signer certificate (2-byte length), and an
    envelope alone."""
    import datetime
    sys.path.insert(0, str(top.parent.parent / "enroll"))
    import scep_hostile as sh
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(key.public_key()).serial_number(1)
          .not_valid_before(now).not_valid_after(now +
                                                 datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(True, None), True)
          .sign(key, hashes.SHA256()))
    cad = ca.public_bytes(serialization.Encoding.DER)
    leaf = sh.issue(ca, key, key.public_key(), "leaf")
    env = (pkcs7.PKCS7EnvelopeBuilder().set_data(sh.degenerate(leaf))
           .add_recipient(ca).encrypt(serialization.Encoding.DER,
                                      [pkcs7.PKCS7Options.Binary]))
    nonce = bytes(range(16))
    pre = struct.pack(">H", len(cad)) + cad
    put("scep", "success", pre + sh.certrep(ca, key, "TID1", nonce, 0,
                                            content=env))
    put("scep", "failure", pre + sh.certrep(ca, key, "TID1", nonce, 2,
                                            fail=2))
    put("scep", "pending", pre + sh.certrep(ca, key, "TID1", nonce, 3))
    put("scep", "envelope", env)
    put("scep", "caps", "AES\nDES3\nSHA-256\nPOSTPKIOperation\nRenewal\n")


def eventlog_policy():
    """eventlog: UEFI event logs from tests/tpm/make_eventlog.py;
    policy: posture policy files."""
    mk = top.parent.parent / "tpm" / "make_eventlog.py"
    tmp = tempfile.mkdtemp(prefix="kwcorpus.")
    try:
        for name, args in (("default", []), ("sb-off", ["--secure-boot", "0"]),
                           ("no-sb", ["--secure-boot", "none"]),
                           ("locality3", ["--locality", "3"]),
                           ("unknown-alg", ["--unknown-alg", "0x7777:48"]),
                           ("two-apps", ["--app", "shim", "--app", "grub"]),
                           ("forged-sb", ["--forge-secure-boot"])):
            out = os.path.join(tmp, name)
            subprocess.run([sys.executable, str(mk), out, *args], check=True,
                           stdout=subprocess.DEVNULL)
            with open(out, "rb") as f:
                put("eventlog", name, f.read())
    finally:
        shutil.rmtree(tmp)
    h = "ab" * 32
    put("policy", "full", "# posture\nek-ca = ek-roots.pem\n"
        "secure-boot = required\npcr = 7:%s\npcr = 7:0x%s\npcr = 0:%s\n"
        "recheck = 600\nmax-age = 300\n" % (h, h.upper(), h))
    put("policy", "minimal", "ek-ca = /etc/keyward/ek.pem\n")
    put("policy", "errors", "[policy]\nek-ca = a\n  x = 1\nsecure-boot: no\n"
        "pcr = 24:00\nrecheck = 99999999999\nek-ca = b\r\n")


if __name__ == "__main__":
    sys.exit(main())
