#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""One paced TCP connection for the load e2e tests (stdlib only).

Sends "CID <id>\\n" and then --chunk random bytes every --interval seconds:
  --mode active   until --until-file exists (bounded by --max-seconds);
  --mode sleeper  one chunk, then creates --idle-file and sends nothing until --go-file exists
                  (bounded by --max-seconds), then one more chunk.
Then half-closes and waits for the server's FIN. Prints one JSON line: cid, sport, bytes and
sha256 of everything sent, chunks, and (sleeper) bytes and sha256 of what was sent before going idle.
"""
import argparse
import hashlib
import json
import os
import random
import socket
import sys
import time


def wait_file(path, limit):
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError("%s did not appear within %.0f s" % (path, limit))
        time.sleep(0.02)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--mode", choices=("active", "sleeper"), required=True)
    p.add_argument("--chunk", type=int, default=1024)
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--until-file")
    p.add_argument("--idle-file")
    p.add_argument("--go-file")
    p.add_argument("--max-seconds", type=float, default=90)
    args = p.parse_args()

    rng = random.Random(args.id)
    digest, total, chunks = hashlib.sha256(), 0, 0
    sock = socket.create_connection((args.host, args.port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(data):
        nonlocal total
        sock.sendall(data)
        digest.update(data)
        total += len(data)

    send(("CID %s\n" % args.id).encode())
    send(rng.randbytes(args.chunk))
    chunks = 1
    before_idle = before_idle_sha = None
    start = time.monotonic()
    if args.mode == "active":
        while not os.path.exists(args.until_file):
            if time.monotonic() - start > args.max_seconds:
                raise TimeoutError("%s did not appear within %.0f s" % (args.until_file, args.max_seconds))
            time.sleep(args.interval)
            send(rng.randbytes(args.chunk))
            chunks += 1
    else:
        before_idle, before_idle_sha = total, digest.hexdigest()
        with open(args.idle_file, "w") as f:
            f.write(str(time.time()))
        wait_file(args.go_file, args.max_seconds)
        send(rng.randbytes(args.chunk))
        chunks += 1
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass
    print(json.dumps({"cid": args.id, "sport": sock.getsockname()[1], "bytes": total, "sha256": digest.hexdigest(),
                      "chunks": chunks, "bytes_before_idle": before_idle,
                      "sha256_before_idle": before_idle_sha}))
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
