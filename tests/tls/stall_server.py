#!/usr/bin/env python3
"""A TLS server that stalls the handshake: it accepts one connection, reads
the ClientHello, then sends the start of a large handshake record one byte
at a time, one byte every INTERVAL seconds, for at most LIMIT seconds (so a
client that times out each read, not the whole handshake, never gives up
before LIMIT).  Usage: stall_server.py PORT [INTERVAL [LIMIT]].  Prints
"listening" when ready and, at the end, "client left after N s" or
"gave up after N s"."""
import socket
import sys
import time

port = int(sys.argv[1])
interval = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0

lis = socket.socket()
lis.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lis.bind(("127.0.0.1", port))
lis.listen(1)
print("listening", flush=True)
conn, _ = lis.accept()
start = time.monotonic()
conn.recv(65536)                        # the ClientHello
# handshake record, TLS 1.2, 16384 bytes: ServerHello... never complete
stream = bytes([0x16, 0x03, 0x03, 0x40, 0x00, 0x02, 0x00, 0x3f, 0xfc])
stream += bytes(16384)
i = 0
conn.settimeout(interval)
while time.monotonic() - start < limit:
    try:
        conn.send(stream[i:i + 1])
    except OSError:
        break
    i = (i + 1) % len(stream)
    try:
        if conn.recv(1) == b"":         # the client closed
            break
    except socket.timeout:
        continue
    except OSError:
        break
took = time.monotonic() - start
print("%s after %.1f s" % ("gave up" if took >= limit else "client left",
                            took), flush=True)
