#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A steady keep-alive HTTP/1.1 load (stdlib only), for tests/deploy/measure_resources.sh.

  http_load.py HOST PORT RATE SECONDS REQS

Starts RATE/REQS connections per second for SECONDS; each sends REQS `GET /index.html` one after
the other (pausing a quarter of the connection interval between them) and reads every response
(Content-Length). Prints one line: requests ok, failed connections, connections, elapsed, rate.
"""
import asyncio
import sys
import time

REQ = b"GET /index.html HTTP/1.1\r\nHost: svc\r\n\r\n"


async def conn(host, port, rate, reqs, counts):
    try:
        r, w = await asyncio.open_connection(host, port)
        for _ in range(reqs):
            w.write(REQ)
            head = await r.readuntil(b"\r\n\r\n")
            n = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")][0].split(b":")[1])
            await r.readexactly(n)
            counts["ok"] += 1
            await asyncio.sleep(reqs / rate / 4)
        w.close()
        await w.wait_closed()
    except Exception:  # noqa: BLE001 - every failure counts, whatever its kind
        counts["failed"] += 1


async def main():
    host, port, rate, secs, reqs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    counts = {"ok": 0, "failed": 0}
    interval = reqs / rate
    start = time.monotonic()
    tasks = set()
    i = 0
    while time.monotonic() - start < secs:
        t = asyncio.create_task(conn(host, port, rate, reqs, counts))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        i += 1
        await asyncio.sleep(max(0, start + i * interval - time.monotonic()))
    await asyncio.gather(*tasks)
    el = time.monotonic() - start
    print(f"requests ok={counts['ok']} failed_conns={counts['failed']} conns={i} elapsed={el:.1f}s rate={counts['ok'] / el:.0f} req/s")


if __name__ == "__main__":
    asyncio.run(main())
