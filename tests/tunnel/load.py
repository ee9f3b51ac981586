#!/usr/bin/env python3
"""Load client for the tunnel tests (HTTP/1.1 over plain TCP).

  load.py conc HOST PORT N [PATH]
      N connections at once, one GET each, all answers checked.
  load.py hold HOST PORT N GOFILE
      N keep-alive connections, one GET each; then wait until GOFILE
      exists (the test reloads meanwhile) and GET again on each.
Prints "ok N" or the errors; exit status 0 only if every request worked.
"""
import asyncio
import os
import sys


async def get(reader, writer, path):
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("status: " + head.split(b"\r\n")[0].decode())
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length)
    return body


async def one(host, port, path, errors):
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), 30)
        await asyncio.wait_for(get(reader, writer, path), 60)
        writer.close()
        return 1
    except Exception as e:  # noqa: BLE001 - report every failure
        errors.append(repr(e))
        return 0


async def conc(host, port, n, path):
    errors = []
    got = await asyncio.gather(*[one(host, port, path, errors)
                                 for _ in range(n)])
    return sum(got), errors


async def hold(host, port, n, gofile):
    errors = []
    conns = []
    for _ in range(n):
        conns.append(await asyncio.open_connection(host, port))
    for r, w in conns:
        await get(r, w, "/")
    print("held", n, flush=True)
    while not os.path.exists(gofile):
        await asyncio.sleep(0.05)
    ok = 0
    for r, w in conns:
        try:
            await asyncio.wait_for(get(r, w, "/"), 20)
            ok += 1
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        w.close()
    return ok, errors


def main():
    mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4])
    if mode == "conc":
        path = sys.argv[5] if len(sys.argv) > 5 else "/"
        ok, errors = asyncio.run(conc(host, port, n, path))
    else:
        ok, errors = asyncio.run(hold(host, port, n, sys.argv[5]))
    if errors:
        print(f"{ok} of {n} ok; errors: {sorted(set(errors))[:5]}")
        return 1
    print("ok", ok)
    return 0


if __name__ == "__main__":
    sys.exit(main())
