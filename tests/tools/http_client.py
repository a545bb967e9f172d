#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""HTTP/1.1 load client for the replay e2e tests (stdlib only).

Opens --conns keep-alive connections (--concurrency at a time), sends --reqs requests on each
(GET, or POST with a --body byte body), --pipeline requests per write (written back to back before
any response is read), reads every response completely, then half-closes and waits for the
server's FIN, so every connection ends cleanly (FIN both ways, no RST).

For every connection it records the SHA-256 and length of the EXACT byte stream it sent (what a
faithful replay must deliver to the shadow) in --out-conns (one JSON line each): cid, client
source port, bytes, sha256. Every request line starts with "/<cid>/" so a shadow recorder can tell
which connection it got. Prints a JSON summary on stdout: ok/failed connections, elapsed time,
request latency median / p95 / max (for pipelined writes: per batch). With --stop-file, the load
runs until the test creates that file (connections not started by then are counted "skipped").
"""
import argparse
import hashlib
import json
import os
import random
import socket
import statistics
import sys
import threading
import time


def read_response(sock, buf):
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("server closed before a response header")
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:end]).decode("latin-1")
    del buf[:end]
    if not head.startswith("HTTP/1.1 200"):
        raise ConnectionError("unexpected response: %r" % head[:80])
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(buf) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("server closed inside a response body")
        buf += data
    del buf[:length]


SKIPPED = "skipped"
STOPPED = threading.Event()  # the stop file was seen: the rest are skipped without a look


def run_conn(args, index, latencies, lock):
    cid = "%s%05d" % (args.id, index)
    if args.stop_file and (STOPPED.is_set() or os.path.exists(args.stop_file)):
        STOPPED.set()
        return None, [], SKIPPED  # the test has seen what it waited for: no new connection
    if args.pace:
        time.sleep(args.pace)  # spreads a light workload over time (e.g. to overlap an agent stall)
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.settimeout(args.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if args.bind or args.sport_base:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.bind or "", args.sport_base + index if args.sport_base else 0))
    digest = hashlib.sha256()
    total = 0
    lats = []
    try:
        sock.connect((args.host, args.port))
        sport = sock.getsockname()[1]
        rng = random.Random("%s/%d" % (args.id, index))
        buf = bytearray()
        r = 0
        while r < args.reqs:
            if r and args.req_pace:
                time.sleep(args.req_pace)  # keep-alive connections of paced requests (recording timing)
            batch = min(args.pipeline, args.reqs - r)
            parts = []
            for k in range(batch):
                body = rng.randbytes(args.body) if args.body else b""
                method = "POST" if args.body else "GET"
                head = ("%s /%s/%d HTTP/1.1\r\nHost: shadowtap-e2e\r\nX-Conn: %s\r\nX-Sport: %d\r\n"
                        "User-Agent: shadowtap-e2e/%d\r\n" % (method, cid, r + k, cid, sport, rng.randrange(1 << 30)))
                if args.body:
                    head += "Content-Length: %d\r\n" % len(body)
                parts.append(head.encode() + b"\r\n" + body)
            data = b"".join(parts)
            t0 = time.monotonic()
            # Large bodies are written in pieces, like a real upload; hashed exactly as sent.
            for off in range(0, len(data), 1 << 20):
                piece = data[off:off + (1 << 20)]
                sock.sendall(piece)
            digest.update(data)
            total += len(data)
            for _ in range(batch):
                read_response(sock, buf)
            lats.append(time.monotonic() - t0)
            r += batch
        sock.shutdown(socket.SHUT_WR)
        while True:  # wait for the server's FIN: the connection is complete on both sides
            data = sock.recv(65536)
            if not data:
                break
        return {"cid": cid, "sport": sport, "bytes": total, "sha256": digest.hexdigest()}, lats, None
    except Exception as e:  # reported, never hidden: the test fails on any failed connection
        return None, lats, "%s: %s: %s" % (cid, type(e).__name__, e)
    finally:
        sock.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bind", default="", help="source address")
    p.add_argument("--sport-base", type=int, default=0, help="connection i uses source port BASE+i")
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--reqs", type=int, default=1, help="requests per connection")
    p.add_argument("--pipeline", type=int, default=1, help="requests written back to back per batch")
    p.add_argument("--body", type=int, default=0, help="POST body bytes per request (0: GET)")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--id", default="c", help="connection id prefix")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--pace", type=float, default=0.0, help="seconds each worker waits before each connection")
    p.add_argument("--req-pace", type=float, default=0.0, help="seconds between the requests (batches) of a connection")
    p.add_argument("--stop-file", default="",
                   help="once this file exists, connections not yet started are skipped (load until an event)")
    p.add_argument("--out-conns", required=True, help="append one JSON line per connection here")
    args = p.parse_args()

    latencies, errors, conns, skipped = [], [], [], 0
    lock = threading.Lock()
    t0 = time.monotonic()
    # Each of --concurrency threads takes the next connection index until none is left: no queue of
    # --conns futures built up front (200,000 of them took seconds to submit and, after the stop
    # file, seconds to skip one by one, while the load had long stopped).
    results = [None] * args.conns
    next_index = iter(range(args.conns))

    def worker():
        while True:
            with lock:
                i = next(next_index, None)
            if i is None or STOPPED.is_set():
                return
            results[i] = run_conn(args, i, latencies, lock)

    threads = [threading.Thread(target=worker) for _ in range(max(1, args.concurrency))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for rec, lats, err in (r or (None, [], SKIPPED) for r in results):
        latencies.extend(lats)
        if err == SKIPPED:
            skipped += 1
        elif err:
            errors.append(err)
        else:
            conns.append(rec)
    elapsed = time.monotonic() - t0
    with open(args.out_conns, "a") as out:
        for rec in conns:
            out.write(json.dumps(rec, sort_keys=True) + "\n")
    lat = sorted(latencies)
    summary = {
        "ok": len(conns), "failed": len(errors), "skipped": skipped, "errors": errors[:5], "elapsed": round(elapsed, 4),
        "requests": (args.conns - skipped) * args.reqs, "bytes": sum(c["bytes"] for c in conns),
        "lat_median": round(statistics.median(lat), 6) if lat else None,
        "lat_p95": round(lat[int(0.95 * (len(lat) - 1))], 6) if lat else None,
        "lat_max": round(lat[-1], 6) if lat else None,
    }
    print(json.dumps(summary))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
