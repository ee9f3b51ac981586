#!/usr/bin/env python3
"""A small EST (RFC 7030) test server for keyward's tests.  tests/ only.

python3 stdlib only (http.server + ssl); certificates are issued by the
openssl CLI (`openssl ca`, so validity can be minutes).  Paths under
/.well-known/est[/LABEL]: cacerts, csrattrs, simpleenroll, simplereenroll.

Behaviour is chosen per request from --mode-file (one word, re-read on
every request, so a test can switch modes without a restart):
  ok          issue the certificate (default)
  pending     202 + Retry-After: 1 for the first --pending-count requests
              of each CSR, then issue
  pending-forever  always 202 + Retry-After: 1
  unauth      401 with WWW-Authenticate on every enroll
  forbidden   403
  error       500
  badp7       a PKCS#7 that is truncated / not DER
  badb64      a body that is not base64
  notp7       base64 of a bare certificate (not PKCS#7)
  wrongkey    a certificate for another key (right CA)
  wrongchain  a certificate for the right key from another CA
  empty       a PKCS#7 with no certificate
  chunked     issue, but send the body with chunked transfer encoding
  huge        an endless chunked body (the client must stop reading)
  slow        issue, after sleeping 5 s (for kill tests)
  mute        read the request, never answer (client timeouts)

Authentication of /simpleenroll (--auth, or --auth-file re-read per
request): basic, cert, either, both, none.
/simplereenroll always requires a client certificate issued by the CA, and
the CSR subject must equal the certificate's subject (RFC 7030 4.2.2);
with --reenroll-auth basic it also requires HTTP Basic.
Every request is logged as one JSON line to --log.

Proof-of-possession linking (RFC 7030 3.5): a challengePassword in a CSR
is always checked against this server's own view of the TLS session's
channel binding -- tls-unique (RFC 5929, ssl's get_channel_binding) under
TLS 1.2, tls-exporter (RFC 9266) under TLS 1.3 -- and the result logged
("pop": "ok", "absent", "mismatch").  With --pop a CSR without a matching
one is refused (400), and /csrattrs asks for the challengePassword unless
--csrattrs says otherwise.  --tls-max 1.2 caps the TLS version.
Python's ssl has no keying-material exporter, so for tls-exporter the
server calls OpenSSL's SSL_export_keying_material on the connection's SSL
object through ctypes, in the very libssl the ssl module uses, after
checking that it found the right object (see tls_exporter()).

Key attestation (--attest-policy EK_CA): a CA that issues only to keys held
in a TPM.  The CSR must carry the id-aa-evidence attribute of
draft-ietf-lamps-csr-attestation (an EvidenceBundle whose statement is
keyward's TPM evidence, see enroll/csr.h); the server runs
`keyward verify-attestation --ek-ca EK_CA --nonce SHA256(CSR's SPKI)
--key-spki CSR --require-certify [--binding-store FILE]` on it (--keyward
BIN, --attest-binding-store FILE: AKs bound to their EK beforehand by
credential activation, which EST has no round trip for) and refuses the
request (400, the verifier's reason as the body) when it fails or the
attribute is missing.  The DER is walked here by hand, independently of
keyward's encoder.
"""
import argparse
import base64
import binascii
import ctypes
import hmac
import http.server
import json
import os
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading


def der_to_pem(der, label):
    b = base64.encodebytes(der).decode()
    return "-----BEGIN %s-----\n%s-----END %s-----\n" % (label, b, label)


def run(cmd, inp=None):
    p = subprocess.run(cmd, input=inp, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr.decode()))
    return p.stdout


class Signer:
    """An `openssl ca` in a private directory."""

    def __init__(self, workdir, ca_cert, ca_key, name):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.ca_cert, self.ca_key = ca_cert, ca_key
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("%032x\n" % int.from_bytes(os.urandom(15), "big"))
        self.cnf = os.path.join(self.dir, "ca.cnf")
        with open(self.cnf, "w") as f:
            f.write("""[ ca ]
default_ca = est
[ est ]
dir = %s
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
x509_extensions = leaf
[ anything ]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
countryName = optional
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth,serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
""" % self.dir)
        self.lock = threading.Lock()

    def sign(self, csr_pem, minutes):
        with self.lock, tempfile.TemporaryDirectory(dir=self.dir) as t:
            cin, cout = os.path.join(t, "r.csr"), os.path.join(t, "c.pem")
            with open(cin, "w") as f:
                f.write(csr_pem)
            cmd = ["openssl", "ca", "-batch", "-notext", "-config", self.cnf,
                   "-cert", self.ca_cert, "-keyfile", self.ca_key,
                   "-in", cin, "-out", cout, "-preserveDN"]
            if minutes:
                import datetime
                now = datetime.datetime.now(datetime.timezone.utc)
                start = now - datetime.timedelta(seconds=30)
                end = now + datetime.timedelta(minutes=minutes)
                cmd += ["-startdate", start.strftime("%Y%m%d%H%M%SZ"),
                        "-enddate", end.strftime("%Y%m%d%H%M%SZ")]
            else:
                cmd += ["-days", "30"]
            run(cmd)
            return open(cout).read()


def pkcs7_of(pems):
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write("".join(pems))
        name = f.name
    try:
        args = ["openssl", "crl2pkcs7", "-nocrl", "-outform", "DER"]
        if pems:
            args += ["-certfile", name]
        return run(args)
    finally:
        os.unlink(name)


def pem_to_der(pem):
    lines = [l for l in pem.splitlines() if l and not l.startswith("-----")]
    return base64.b64decode("".join(lines))


OID_CHALLENGE = bytes.fromhex("06092a864886f70d010907")
# csrattrs asking for the challengePassword: SEQUENCE { OID 1.2.840.113549.1.9.7 }
CSRATTRS_POP = "300b" + OID_CHALLENGE.hex()


def csr_challenge(der):
    """The challengePassword of a DER CSR (str), or None."""
    i = der.find(OID_CHALLENGE)
    if i < 0:
        return None
    j = i + len(OID_CHALLENGE)
    # SET { DirectoryString }: short lengths only (a test server)
    if der[j] != 0x31 or der[j + 2] not in (0x13, 0x0c, 0x16):
        return None
    n = der[j + 3]
    return der[j + 4:j + 4 + n].decode("utf-8", "replace")


# id-aa-evidence (draft-ietf-lamps-csr-attestation, early-allocated value)
OID_EVIDENCE = "1.2.840.113549.1.9.16.2.59"
# keyward's TPM evidence statement type (enroll/csr.h)
OID_KW_EVIDENCE = "2.25.110632027566195786488229574112644488557"


def der_next(buf, i):
    """(tag, content start, end) of the DER element at buf[i]."""
    tag, n = buf[i], buf[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        if k == 0 or k > 4:
            raise ValueError("bad DER length")
        n = int.from_bytes(buf[i:i + k], "big")
        i += k
    if i + n > len(buf):
        raise ValueError("DER element runs past its end")
    return tag, i, i + n


def der_children(buf, start, end):
    out = []
    while start < end:
        t, s, e = der_next(buf, start)
        out.append((t, s, e, buf[start:e]))
        start = e
    return out


def oid_str(b):
    arcs, v = [], 0
    for c in b:
        v = v << 7 | (c & 0x7f)
        if not c & 0x80:
            arcs.append(v)
            v = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(x) for x in [first, arcs[0] - 40 * first] + arcs[1:])


def csr_evidence(der):
    """(SPKI DER, [evidence attribute values]) of a DER CSR."""
    _, s, e = der_next(der, 0)
    cri = der_children(der, s, e)[0]
    items = der_children(der, cri[1], cri[2])
    spki = items[2][3]
    found = []
    for t, s, e, _ in items[3:]:
        if t != 0xa0:
            continue
        for _, as_, ae, _ in der_children(der, s, e):
            attr = der_children(der, as_, ae)
            if attr[0][0] == 0x06 and \
                    oid_str(der[attr[0][1]:attr[0][2]]) == OID_EVIDENCE:
                found += [v[3] for v in der_children(der, attr[1][1],
                                                     attr[1][2])]
    return spki, found


def bundle_statement(bundle):
    """The CBOR of keyward's statement in an EvidenceBundle, or None."""
    _, s, e = der_next(bundle, 0)
    parts = der_children(bundle, s, e)
    for _, ss, se, _ in der_children(bundle, parts[0][1], parts[0][2]):
        st = der_children(bundle, ss, se)
        if st[0][0] == 0x06 and len(st) >= 2 and st[1][0] == 0x04 and \
                oid_str(bundle[st[0][1]:st[0][2]]) == OID_KW_EVIDENCE:
            return bundle[st[1][1]:st[1][2]]
    return None


def attest_check(args, csr_der):
    """None if the CSR's evidence verifies, else the reason (one line)."""
    import hashlib
    try:
        spki, values = csr_evidence(csr_der)
    except (ValueError, IndexError) as e:
        return "attestation: cannot read the CSR: %s" % e
    if not values:
        return "attestation required: the CSR carries no id-aa-evidence " \
            "attribute (enroll with --attest)"
    if len(values) != 1:
        return "attestation: id-aa-evidence with %d values" % len(values)
    try:
        cbor = bundle_statement(values[0])
    except (ValueError, IndexError) as e:
        return "attestation: bad EvidenceBundle: %s" % e
    if cbor is None:
        return "attestation: no keyward TPM evidence statement"
    with tempfile.TemporaryDirectory(dir=args.workdir) as d:
        ev, csr = os.path.join(d, "ev.cbor"), os.path.join(d, "csr.der")
        with open(ev, "wb") as f:
            f.write(cbor)
        with open(csr, "wb") as f:
            f.write(csr_der)
        p = subprocess.run([args.keyward, "verify-attestation", "--ek-ca",
                            args.attest_policy, "--nonce",
                            hashlib.sha256(spki).hexdigest(), "--key-spki",
                            csr, "--require-certify", ev] +
                           (["--binding-store", args.attest_binding_store]
                            if args.attest_binding_store else []),
                           capture_output=True, text=True)
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        why = lines[-1] if lines else "exit %d" % p.returncode
        # "keyward verify-attestation: FILE refused: REASON": the reason
        return "attestation refused: " + why.split(" refused: ", 1)[-1]
    return None


def _ssl_ptr(sock):
    """The SSL * of an ssl.SSLSocket: CPython's _ssl._SSLSocket starts
    with PyObject_HEAD, then the socket weakref, then SSL *ssl."""
    word = ctypes.sizeof(ctypes.c_void_p)
    return ctypes.c_void_p.from_address(id(sock._sslobj) + 3 * word).value


def tls_exporter(sock):
    """RFC 9266 tls-exporter of a server-side TLS 1.3 connection."""
    lib = ctypes.CDLL(ssl._ssl.__file__)   # its libssl, by dependency
    lib.SSL_version.argtypes = [ctypes.c_void_p]
    lib.SSL_is_server.argtypes = [ctypes.c_void_p]
    lib.SSL_get_peer_finished.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                          ctypes.c_size_t]
    lib.SSL_get_peer_finished.restype = ctypes.c_size_t
    lib.SSL_export_keying_material.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
        ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    ptr = _ssl_ptr(sock)
    # is it the right object?  version, side, and the client's Finished as
    # the ssl module itself reports it
    fin = ctypes.create_string_buffer(64)
    n = lib.SSL_get_peer_finished(ptr, fin, 64)
    if lib.SSL_version(ptr) != 0x0304 or lib.SSL_is_server(ptr) != 1 or \
            fin.raw[:n] != sock.get_channel_binding("tls-unique"):
        raise RuntimeError("tls_exporter: not the connection's SSL object")
    out = ctypes.create_string_buffer(32)
    label = b"EXPORTER-Channel-Binding"
    if lib.SSL_export_keying_material(ptr, out, 32, label, len(label),
                                      None, 0, 0) != 1:
        raise RuntimeError("SSL_export_keying_material failed")
    return out.raw


def channel_binding(sock):
    """(type, bytes) of the connection as this server sees it."""
    if sock.version() == "TLSv1.3":
        return "tls-exporter", tls_exporter(sock)
    return "tls-unique", sock.get_channel_binding("tls-unique")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "keyward-est-test/1"

    def log_message(self, fmt, *args):
        pass

    def record(self, status, **kw):
        ent = {"method": self.command, "path": self.path, "status": status,
               "auth": "basic" if self.headers.get("Authorization") else None,
               "client_cert": self.client_subject(),
               "ctype": self.headers.get("Content-Type"),
               "cte": self.headers.get("Content-Transfer-Encoding")}
        ent.update(kw)
        with self.server.loglock, open(self.server.args.log, "a") as f:
            f.write(json.dumps(ent) + "\n")

    def client_subject(self):
        try:
            c = self.connection.getpeercert()
        except (AttributeError, ValueError):
            return None
        if not c:
            return None
        return ",".join("%s=%s" % kv for rdn in c["subject"] for kv in rdn)

    def mode(self):
        try:
            with open(self.server.args.mode_file) as f:
                return f.read().strip() or "ok"
        except (OSError, TypeError):
            return "ok"

    def auth(self):
        try:
            with open(self.server.args.auth_file) as f:
                return f.read().strip() or self.server.args.auth
        except (OSError, TypeError):
            return self.server.args.auth

    def send(self, status, body=b"", ctype=None, headers=(), chunked=False):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if body and ctype and ctype.startswith("application/"):
            self.send_header("Content-Transfer-Encoding", "base64")
            body += binascii.unhexlify(self.server.args.b64_tail or "")
        for k, v in headers:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = 97
            for i in range(0, len(body), step):
                part = body[i:i + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.wfile.flush()

    def split(self):
        p = self.path.split("?")[0]
        pre = "/.well-known/est/"
        if not p.startswith(pre):
            return None, None
        parts = p[len(pre):].split("/")
        if len(parts) == 1:
            return None, parts[0]
        if len(parts) == 2:
            return parts[0], parts[1]
        return None, None

    def mute(self):
        """Mode mute: TLS done, request read, never an answer."""
        if self.mode() != "mute":
            return False
        import time
        time.sleep(60)
        self.close_connection = True
        return True

    def do_GET(self):
        label, op = self.split()
        a = self.server.args
        if self.mute():
            return
        if a.label and label != a.label:
            self.record(404)
            return self.send(404, b"no such CA label\n", "text/plain")
        if op == "cacerts":
            body = base64.encodebytes(self.server.cacerts_p7)
            self.record(200)
            return self.send(200, body, "application/pkcs7-mime",
                             chunked=self.mode() == "chunked")
        if op == "csrattrs":
            if a.csrattrs_body is not None:  # raw, e.g. garbage
                self.record(200)
                return self.send(200, a.csrattrs_body.encode(), "application/csrattrs")
            if a.pop and a.csrattrs is None:
                der = binascii.unhexlify(CSRATTRS_POP)
                self.record(200)
                return self.send(200, base64.encodebytes(der),
                                 "application/csrattrs")
            if not a.csrattrs:
                self.record(204)
                return self.send(204)
            der = binascii.unhexlify(a.csrattrs)
            self.record(200)
            return self.send(200, base64.encodebytes(der), "application/csrattrs")
        self.record(404)
        self.send(404, b"not found\n", "text/plain")

    def basic_ok(self):
        a = self.server.args
        h = self.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(h[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, a.user or "") and \
            hmac.compare_digest(pw, self.server.password or "")

    def do_POST(self):
        label, op = self.split()
        a = self.server.args
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(n) if 0 < n < 65536 else b""
        if a.label and label != a.label:
            self.record(404)
            return self.send(404, b"no such CA label\n", "text/plain")
        if self.mute():
            return
        if op not in ("simpleenroll", "simplereenroll"):
            self.record(404)
            return self.send(404, b"not found\n", "text/plain")
        mode = self.mode()
        subj = self.client_subject()
        if op == "simplereenroll":
            if not subj:
                self.record(401, why="reenroll without client cert")
                return self.send(401, b"client certificate required\n", "text/plain",
                                 [("WWW-Authenticate", 'Basic realm="est"')])
            if a.reenroll_auth == "basic" and not self.basic_ok():
                self.record(401, why="reenroll without basic")
                return self.send(401, b"authentication required\n", "text/plain",
                                 [("WWW-Authenticate", 'Basic realm="est-renew"')])
        else:
            basic, cert = self.basic_ok(), subj is not None
            ok = {"basic": basic, "cert": cert, "either": basic or cert,
                  "both": basic and cert, "none": True}[self.auth()]
            if not ok:
                self.record(401, why="auth")
                return self.send(401, b"authentication required\n", "text/plain",
                                 [("WWW-Authenticate", 'Basic realm="est"')])
        if mode == "unauth":
            self.record(401, why="mode")
            return self.send(401, b"go away\n", "text/plain",
                             [("WWW-Authenticate", 'Basic realm="est"')])
        if mode == "forbidden":
            self.record(403)
            return self.send(403, b"forbidden\n", "text/plain")
        if mode == "error":
            self.record(500)
            return self.send(500, b"internal error\n", "text/plain")
        if self.headers.get("Content-Type", "").split(";")[0] != "application/pkcs10":
            self.record(415)
            return self.send(415, b"want application/pkcs10\n", "text/plain")
        try:
            csr_der = base64.b64decode(b"".join(body.split()), validate=True)
        except binascii.Error:
            self.record(400, why="csr base64")
            return self.send(400, b"bad base64\n", "text/plain")
        csr_pem = der_to_pem(csr_der, "CERTIFICATE REQUEST")
        try:
            run(["openssl", "req", "-noout", "-verify"], csr_pem.encode())
            csr_subj = run(["openssl", "req", "-noout", "-subject", "-nameopt",
                            "compat"], csr_pem.encode()).decode().strip()
        except RuntimeError as e:
            self.record(400, why=str(e)[:200])
            return self.send(400, b"bad CSR\n", "text/plain")
        csr_sha = hashlib_sha256(csr_der)
        chal = csr_challenge(csr_der)
        cb_type = "tls-exporter" if self.connection.version() == "TLSv1.3" \
            else "tls-unique"
        pop = "absent"
        if chal is not None:
            cb_type, cb = channel_binding(self.connection)
            want = base64.b64encode(cb).decode()
            pop = "ok" if hmac.compare_digest(chal, want) else "mismatch"
        if a.pop and pop != "ok":
            self.record(400, why="pop " + pop, pop=pop, binding=cb_type)
            return self.send(400, ("challengePassword %s: the CSR must carry "
                                   "the %s channel binding\n" %
                                   (pop, cb_type)).encode(), "text/plain")
        if a.attest_policy:
            why = attest_check(a, csr_der)
            if why is not None:
                self.record(400, why=why, attest="refused")
                return self.send(400, (why + "\n").encode(), "text/plain")
        if mode in ("pending", "pending-forever"):
            # linked CSRs differ per connection: the same key is the same
            # request
            key = hashlib_sha256(run(["openssl", "req", "-noout", "-pubkey"],
                                     csr_pem.encode())) if a.pop else csr_sha
            with self.server.loglock:
                seen = self.server.pending.get(key, 0) + 1
                self.server.pending[key] = seen
            if mode == "pending-forever" or seen <= a.pending_count:
                self.record(202, seen=seen, csr_sha=csr_sha, pop=pop,
                            binding=cb_type)
                return self.send(202, b"pending approval\n", "text/plain",
                                 [("Retry-After", "1")])
        if mode == "slow":
            import time
            time.sleep(5)
        if mode == "huge":
            self.record(200, why="huge")
            self.send_response(200)
            self.send_header("Content-Type", "application/pkcs7-mime")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                chunk = b"A" * 4096
                for _ in range(4096):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass
            self.close_connection = True
            return
        try:
            if mode == "wrongkey":
                other = run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                             "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                             "/dev/null", "-subj", "/CN=someone-else"])
                cert = self.server.signer.sign(other.decode(), a.minutes)
            elif mode == "wrongchain":
                cert = self.server.wrong_signer.sign(csr_pem, a.minutes)
            else:
                cert = self.server.signer.sign(csr_pem, a.minutes)
        except RuntimeError as e:
            self.record(500, why=str(e)[:300])
            return self.send(500, b"signing failed\n", "text/plain")
        p7 = pkcs7_of([cert])
        if mode == "badp7":
            p7 = p7[:len(p7) // 2]
        elif mode == "notp7":
            p7 = pem_to_der(cert)
        elif mode == "empty":
            p7 = pkcs7_of([])
        body = base64.encodebytes(p7)
        if mode == "badb64":
            body = b"this is %% not base64 !!\n"
        self.record(200, mode=mode, subject=csr_subj, csr_sha=csr_sha,
                    pop=pop, binding=cb_type)
        self.send(200, body, "application/pkcs7-mime; smime-type=certs-only",
                  chunked=mode == "chunked")


def hashlib_sha256(b):
    import hashlib
    return hashlib.sha256(b).hexdigest()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True, help="server TLS cert (PEM, + chain)")
    ap.add_argument("--key", required=True, help="server TLS key")
    ap.add_argument("--ca-cert", required=True)
    ap.add_argument("--ca-key", required=True)
    ap.add_argument("--wrong-ca-cert")
    ap.add_argument("--wrong-ca-key")
    ap.add_argument("--client-ca", action="append", default=[],
                    help="extra CA for client certs (bootstrap), repeatable")
    ap.add_argument("--auth", default="basic",
                    choices=["basic", "cert", "either", "both", "none"])
    ap.add_argument("--auth-file", help="overrides --auth, re-read per request")
    ap.add_argument("--user")
    ap.add_argument("--password-file")
    ap.add_argument("--label")
    ap.add_argument("--csrattrs", help="hex DER of the csrattrs answer")
    ap.add_argument("--csrattrs-body", help="raw /csrattrs body (overrides --csrattrs)")
    ap.add_argument("--b64-tail", help="hex bytes appended to every base64 body")
    ap.add_argument("--pop", action="store_true",
                    help="require proof-of-possession linking (RFC 7030 3.5)")
    ap.add_argument("--tls-max", choices=["1.2", "1.3"], default="1.3")
    ap.add_argument("--reenroll-auth", choices=["cert", "basic"],
                    default="cert",
                    help="basic: /simplereenroll also needs HTTP Basic")
    ap.add_argument("--mode-file")
    ap.add_argument("--pending-count", type=int, default=1)
    ap.add_argument("--minutes", type=int, default=0,
                    help="validity of issued certs in minutes (0: 30 days)")
    ap.add_argument("--log", default=os.devnull)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--attest-policy", metavar="EK_CA",
                    help="require key-attestation evidence in the CSR, "
                    "verified against this EK CA bundle (PEM)")
    ap.add_argument("--attest-binding-store", metavar="FILE",
                    help="with --attest-policy: the AK must be bound to the "
                    "EK here (credential activation done beforehand)")
    ap.add_argument("--keyward", default=os.environ.get("KEYWARD", "keyward"),
                    help="the keyward binary that verifies the evidence")
    args = ap.parse_args()

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.args = args
    srv.loglock = threading.Lock()
    srv.pending = {}
    srv.password = None
    if args.password_file:
        with open(args.password_file) as f:
            srv.password = f.readline().rstrip("\n")
    srv.signer = Signer(args.workdir, args.ca_cert, args.ca_key, "ca")
    if args.wrong_ca_cert:
        srv.wrong_signer = Signer(args.workdir, args.wrong_ca_cert,
                                  args.wrong_ca_key, "wrongca")
    srv.cacerts_p7 = pkcs7_of([open(args.ca_cert).read()])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    if args.tls_max == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(args.ca_cert)
    for c in args.client_ca:
        ctx.load_verify_locations(c)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("est_server listening on 127.0.0.1:%d" % args.port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
