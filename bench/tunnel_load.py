#!/usr/bin/env python3
"""Load generator for bench/tunnel (HTTP/1.1 over plain TCP to a tunnel).

  tunnel_load.py rate HOST PORT SECONDS CONC
      CONC workers, each: connect, GET /, read the answer, close; prints
      "conns N errors E rate R" (connections per second).
  tunnel_load.py latency HOST PORT N
      one keep-alive connection, N small GETs; prints "p50 US p99 US".
  tunnel_load.py hold HOST PORT N
      N keep-alive connections, one GET each, then prints "held N" and
      waits for a line on stdin before closing them.
  tunnel_load.py ping HOST PORT TAG
      one keep-alive connection: a GET, then "ready" in the file TAG.ready,
      then a GET every 10 ms until the file TAG.stop exists; writes
      "COUNT WORST_MS" (answers, the slowest) to TAG.out
      (tests/tunnel/slow_token.sh).
"""
import os
import socket
import sys
import threading
import time

REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def get(s):
    s.sendall(REQ)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("closed")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    while len(body) < n:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("closed")
        body += d
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(head.split(b"\r\n")[0].decode())


def rate(host, port, seconds, conc):
    stop = time.monotonic() + seconds
    counts = [0] * conc
    errors = [0] * conc

    def worker(i):
        while time.monotonic() < stop:
            try:
                s = socket.create_connection((host, port), timeout=10)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                get(s)
                s.close()
                counts[i] += 1
            except OSError:
                errors[i] += 1
    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    print(f"conns {sum(counts)} errors {sum(errors)} "
          f"rate {sum(counts) / dt:.1f}")


def latency(host, port, n):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(50):
        get(s)
    lat = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        get(s)
        lat.append((time.perf_counter_ns() - t0) / 1000)
    lat.sort()
    print(f"p50 {lat[len(lat) // 2]:.0f} p99 {lat[int(len(lat) * 0.99)]:.0f}")


def hold(host, port, n):
    conns = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=30)
        get(s)
        conns.append(s)
    print(f"held {n}", flush=True)
    sys.stdin.readline()
    for s in conns:
        s.close()


def ping(host, port, tag):
    s = socket.create_connection((host, port), timeout=30)
    get(s)
    with open(tag + ".ready", "w") as f:
        f.write("ready\n")
    count, worst = 0, 0.0
    while not os.path.exists(tag + ".stop"):
        t0 = time.monotonic()
        get(s)
        worst = max(worst, time.monotonic() - t0)
        count += 1
        time.sleep(0.01)
    with open(tag + ".out", "w") as f:
        f.write(f"{count} {worst * 1000:.0f}\n")


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "rate":
        rate(host, port, float(sys.argv[4]), int(sys.argv[5]))
    elif mode == "latency":
        latency(host, port, int(sys.argv[4]))
    elif mode == "ping":
        ping(host, port, sys.argv[4])
    else:
        hold(host, port, int(sys.argv[4]))


if __name__ == "__main__":
    main()
