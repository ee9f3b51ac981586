#!/usr/bin/env python3
"""A slow TPM for tests (tests/tunnel/slow_token.sh): a proxy in front of
swtpm's two TCP ports that holds every TPM response back DELAY_MS, the way
a hardware TPM takes tens of milliseconds per command.

  slow_tpm.py LISTEN_PORT SWTPM_PORT DELAY_MS READY

Listens on 127.0.0.1:LISTEN_PORT (commands) and LISTEN_PORT+1 (swtpm's
control channel, passed through undelayed), forwards to SWTPM_PORT and
SWTPM_PORT+1, writes "ready" to the file READY, and runs until killed.
On the command channel the first bytes of each response (after the
client has sent something) wait DELAY_MS; the rest of it follows at once.
"""
import asyncio
import sys


async def pipe(reader, writer, delay, state):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if delay is None:
                state["sent"] = True
            elif state["sent"]:
                state["sent"] = False
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, OSError):
            pass


def handler(target_port, delay):
    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            cw.close()
            return
        state = {"sent": False}
        await asyncio.gather(pipe(cr, sw, None, state),
                             pipe(sr, cw, delay, state))
    return handle


async def main():
    lport, tport = int(sys.argv[1]), int(sys.argv[2])
    delay = int(sys.argv[3]) / 1000.0
    cmd = await asyncio.start_server(handler(tport, delay), "127.0.0.1",
                                     lport)
    ctl = await asyncio.start_server(handler(tport + 1, 0), "127.0.0.1",
                                     lport + 1)
    with open(sys.argv[4], "w") as f:
        f.write("ready\n")
    async with cmd, ctl:
        await asyncio.gather(cmd.serve_forever(), ctl.serve_forever())


asyncio.run(main())
