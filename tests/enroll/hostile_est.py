#!/usr/bin/env python3
"""A hostile EST server for keyward's deadline and cancellation tests.
tests/ only; python3 stdlib.

TLS with the given certificate, then, per connection, the behaviour named
in --mode-file (re-read for each connection):
  stall      read the request, never answer
  continue   read the request, then "HTTP/1.1 100 Continue" every 0.4 s
  continue-flood  the same every 0.01 s
  trickle    read the request, then a valid-looking answer one byte every
             0.5 s (each read gets something: only an overall deadline helps)
  pending    /cacerts answered from --cacerts (DER PKCS#7), no /csrattrs,
             every enroll answered 202 with Retry-After: 30
Each connection is dropped after --conn-life seconds and the server exits
after --lifetime seconds, so nothing it starts outlives the test.
"""
import argparse
import base64
import os
import socket
import ssl
import sys
import threading
import time


def read_head(s, limit):
    buf = b""
    while b"\r\n\r\n" not in buf and len(buf) < 65536:
        if time.time() > limit:
            return None
        d = s.recv(4096)
        if not d:
            return None
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length and time.time() < limit:
        d = s.recv(4096)
        if not d:
            break
        rest += d
    return head.split(b"\r\n")[0].decode("latin-1")


def answer(s, status, ctype, body, extra=b""):
    s.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype +
              b"\r\nContent-Length: " + str(len(body)).encode() +
              b"\r\n" + extra + b"Connection: close\r\n\r\n" + body)


def handle(conn, args, ctx):
    limit = time.time() + args.conn_life
    try:
        conn.settimeout(args.conn_life)
        s = ctx.wrap_socket(conn, server_side=True)
        line = read_head(s, limit)
        if line is None:
            return
        with open(args.mode_file) as f:
            mode = f.read().strip()
        with open(args.log, "a") as f:
            f.write("%s %s\n" % (mode, line))
        if mode == "stall":
            while time.time() < limit:
                time.sleep(0.2)
        elif mode in ("continue", "continue-flood"):
            while time.time() < limit:
                s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                time.sleep(0.4 if mode == "continue" else 0.01)
        elif mode == "trickle":
            msg = (b"HTTP/1.1 200 OK\r\nContent-Type: application/pkcs7-mime"
                   b"\r\nContent-Length: 100000\r\n\r\n" + b"A" * 100000)
            for i in range(len(msg)):
                if time.time() >= limit:
                    break
                s.sendall(msg[i:i + 1])
                time.sleep(0.5)
        elif mode == "pending":
            if "/cacerts" in line:
                with open(args.cacerts, "rb") as f:
                    body = base64.encodebytes(f.read())
                answer(s, b"200 OK", b"application/pkcs7-mime", body)
            elif "/csrattrs" in line:
                answer(s, b"204 No Content", b"text/plain", b"")
            else:
                answer(s, b"202 Accepted", b"text/plain", b"pending\n",
                       b"Retry-After: 30\r\n")
            time.sleep(0.2)
    except (OSError, ssl.SSLError, ValueError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cacerts")
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--log", default=os.devnull)
    ap.add_argument("--conn-life", type=float, default=60)
    ap.add_argument("--lifetime", type=float, default=120)
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.port))
    ls.listen(16)
    ls.settimeout(0.5)
    end = time.time() + args.lifetime
    print("hostile_est listening on 127.0.0.1:%d" % args.port, flush=True)
    while time.time() < end:
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(conn, args, ctx),
                         daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
