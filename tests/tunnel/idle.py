#!/usr/bin/env python3
"""Many idle connections through a tunnel (tests/tunnel/idle_memory.sh,
bench/tunnel-scale).

  idle.py hold PORT N READY [--tls CA CERT KEY] [--conc C] [--sample K]
      Opens N keep-alive connections to 127.0.0.1:PORT (C at a time,
      default 64), each with one GET / answered 200, so every one has
      carried data both ways and is then idle.  Writes "held N" to the
      file READY and waits for a line on stdin; then sends one more GET on
      every K-th connection (default 1: all) and checks each answer; prints
      one JSON line {"held": N, "sampled": S, "ok": OK, "errors": [...]}
      and closes them all.  With --tls the connections are TLS with a
      client certificate (a server tunnel's clients).
"""
import asyncio
import json
import ssl
import sys

REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


async def get(reader, writer):
    writer.write(REQ)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    if n:
        await reader.readexactly(n)
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(head.split(b"\r\n")[0].decode())


async def open_one(port, ctx, sem, conns, errors):
    async with sem:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx,
                server_hostname="localhost" if ctx else None), 60)
            await asyncio.wait_for(get(r, w), 60)
            conns.append((r, w))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                ConnectionError) as e:
            errors.append(f"open: {type(e).__name__}: {e}")


async def check_one(rw, errors):
    try:
        await asyncio.wait_for(get(*rw), 60)
        return 1
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
            ConnectionError) as e:
        errors.append(f"get: {type(e).__name__}: {e}")
        return 0


async def hold(port, n, ready, ctx, conc, sample):
    sem = asyncio.Semaphore(conc)
    conns, errors = [], []
    await asyncio.gather(*(open_one(port, ctx, sem, conns, errors)
                           for _ in range(n)))
    with open(ready, "w") as f:
        f.write(f"held {len(conns)}\n")
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    picked = conns[::sample]
    oks = await asyncio.gather(*(check_one(rw, errors) for rw in picked))
    for _, w in conns:
        w.close()
    print(json.dumps({"held": len(conns), "sampled": len(picked),
                      "ok": sum(oks), "errors": errors[:5]}), flush=True)


def main():
    a = sys.argv[1:]
    if len(a) < 4 or a[0] != "hold":
        sys.exit(__doc__)
    port, n, ready = int(a[1]), int(a[2]), a[3]
    ctx, conc, sample = None, 64, 1
    i = 4
    while i < len(a):
        if a[i] == "--tls":
            ctx = ssl.create_default_context(cafile=a[i + 1])
            ctx.load_cert_chain(a[i + 2], a[i + 3])
            i += 4
        elif a[i] == "--conc":
            conc = int(a[i + 1])
            i += 2
        elif a[i] == "--sample":
            sample = int(a[i + 1])
            i += 2
        else:
            sys.exit(__doc__)
    asyncio.run(hold(port, n, ready, ctx, conc, sample))


if __name__ == "__main__":
    main()
