#!/usr/bin/env python3
"""A hostile posture client for tests/tunnel/posture.sh: mutual TLS with a
software certificate, offering ALPN keyward-posture/1, then

  posture_client.py replay PORT CERT KEY CA EVIDENCE
      answers the gateway's REQ with EVIDENCE (bytes captured from another
      TLS session) and prints the gateway's verdict;
  posture_client.py garbage PORT CERT KEY CA
      answers with a frame that is no CBOR map and prints what follows;
  posture_client.py hang PORT CERT KEY CA
      reads the request and says nothing until the gateway closes.

Prints "verdict ok", "verdict no: REASON" or "closed"."""
import socket
import ssl
import struct
import sys


def head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    return bytes([major << 5 | 25]) + struct.pack(">H", n)


def cbor(v):
    if isinstance(v, int):
        return head(0, v)
    if isinstance(v, str):
        return head(3, len(v.encode())) + v.encode()
    if isinstance(v, bytes):
        return head(2, len(v)) + v
    return head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b


def main():
    mode, port, cert, key, ca = sys.argv[1:6]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["keyward-posture/1"])
    raw = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    if s.selected_alpn_protocol() != "keyward-posture/1":
        print("no posture selected")
        return 1
    try:
        n = struct.unpack(">I", recv_exact(s, 4))[0]
        req = recv_exact(s, n)
        if b"req" not in req:
            print("no request")
            return 1
        if mode == "hang":
            s.settimeout(30)
            while s.recv(4096):
                pass
            raise EOFError
        if mode == "replay":
            ev = open(sys.argv[6], "rb").read()
            m = cbor({"v": 1, "t": "ev", "evidence": ev})
        else:
            m = b"\x82\x01\x02"          # an array, not a map
        s.sendall(struct.pack(">I", len(m)) + m)
        n = struct.unpack(">I", recv_exact(s, 4))[0]
        ans = recv_exact(s, n)
    except (EOFError, ssl.SSLError, ConnectionError):
        print("closed")
        return 0
    if b"\x62ok" in ans:
        print("verdict ok")
    else:
        i = ans.find(b"reason")
        print("verdict no: " + ans[i + 8:].decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
