#!/usr/bin/env python3
"""Hostile peers and a timed client for tests/tunnel/flood.sh.

  flood.py hold PORT N NET PER_SRC KIND READYFILE SECONDS
      N TCP connections to 127.0.0.1:PORT, PER_SRC of them from each
      source address 127.NET.x.y (x.y counting up from 0.1).  KIND:
        idle     send nothing
        partial  all of a TLS 1.3 ClientHello but its last 8 bytes
        hello    a whole ClientHello, then nothing (the server signs)
      Writes READYFILE once all are open and sent; then watches them for
      SECONDS (or until every one was closed) and prints one JSON line:
      {"opened": N, "refused": closed by the server within 0.5 s,
       "open": still open at the end, "ages": [seconds from connect to the
       server's close, for each one closed]}.
  flood.py client PORT SRC CA CERT KEY
      One HTTPS GET through a server tunnel, from source address SRC with
      a client certificate; prints the seconds it took (exit 1 on error).
"""
import json
import os
import selectors
import socket
import ssl
import sys
import time


def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inb, outb, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outb.read()


def source(net, i):
    n = i + 1
    return "127.%d.%d.%d" % (net, n // 256, n % 256)


def hold(port, n, net, per_src, kind, readyfile, seconds):
    hello = client_hello()
    data = {"idle": b"", "partial": hello[:-8], "hello": hello}[kind]
    sel = selectors.DefaultSelector()
    born = {}
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source(net, i // per_src), 0))
        s.connect(("127.0.0.1", port))
        if data:
            s.sendall(data)
        s.setblocking(False)
        born[s] = time.monotonic()
        sel.register(s, selectors.EVENT_READ)
    with open(readyfile, "w") as f:
        f.write("%d\n" % n)
    ages, refused = [], 0
    end = time.monotonic() + seconds
    while born and time.monotonic() < end:
        for key, _ in sel.select(0.05):
            s = key.fileobj
            try:
                more = s.recv(65536)
            except (ConnectionResetError, BlockingIOError) as e:
                more = b"" if isinstance(e, ConnectionResetError) else None
            if more is None or more:
                continue        # the server's flight after a hello
            age = time.monotonic() - born.pop(s)
            sel.unregister(s)
            s.close()
            ages.append(round(age, 2))
            if age < 0.5:
                refused += 1
    print(json.dumps({"opened": n, "refused": refused, "open": len(born),
                      "ages": sorted(ages)}), flush=True)
    for s in born:
        s.close()


def client(port, src, ca, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    t0 = time.monotonic()
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(30)
    raw.bind((src, 0))
    raw.connect(("127.0.0.1", port))
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        body = b""
        while True:
            more = s.recv(4096)
            if not more:
                break
            body += more
    if b"plain hello" not in body:
        print("bad answer: %r" % body[:200])
        return 1
    print("%.2f" % (time.monotonic() - t0))
    return 0


def main():
    a = sys.argv[1:]
    if a and a[0] == "hold" and len(a) == 8:
        hold(int(a[1]), int(a[2]), int(a[3]), int(a[4]), a[5], a[6],
             float(a[7]))
        return 0
    if a and a[0] == "client" and len(a) == 6:
        try:
            return client(int(a[1]), a[2], a[3], a[4], a[5])
        except (OSError, ssl.SSLError) as e:
            print("error: %r" % e)
            return 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
