#!/usr/bin/env python3
"""Half-close check through a tunnel.

  halfclose.py server PORT      reads until EOF, then answers with the
                                SHA-256 of what it got and N bytes after it,
                                then closes (one connection at a time)
  halfclose.py client PORT N    sends N random bytes, shuts down writing,
                                reads the answer until EOF; checks the hash
                                and the length; prints "ok"
"""
import hashlib
import os
import socket
import sys


def server(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    while True:
        c, _ = ls.accept()
        h = hashlib.sha256()
        n = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            h.update(d)
            n += len(d)
        c.sendall(h.hexdigest().encode() + b"\n" + b"x" * n)
        c.close()


def client(port, n):
    data = os.urandom(n)
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    head, _, rest = got.partition(b"\n")
    if head.decode() != hashlib.sha256(data).hexdigest() or len(rest) != n:
        print(f"bad answer: {head[:64]!r}, {len(rest)} of {n} bytes back")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        sys.exit(client(int(sys.argv[2]), int(sys.argv[3])))
