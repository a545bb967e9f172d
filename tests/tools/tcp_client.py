#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Short-connection TCP client for the e2e tests.

Each connection: connect, send one request line, read the reply to EOF, close. Runs --count
connections back to back, or (with --until-file) keeps making one every --interval seconds until
that file exists. Prints a JSON summary {"ok": n, "failed": n, "errors": [...]} and exits 1 if
any connection failed, so a broken primary path is always visible.
"""
import argparse
import json
import os
import socket
import sys
import time

from toollib import read_to_eof


def one(host: str, port: int, bind: str | None, seq: int, timeout: float) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        if bind:
            s.bind((bind, 0))
        s.connect((host, port))
        req = f"REQ {seq} shadowtap-e2e\n".encode()
        s.sendall(req)
        data = read_to_eof(s, 4096)
        if data != b"RESP " + req:
            raise RuntimeError(f"connection {seq}: unexpected reply {data[:80]!r}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", help="source address")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--until-file", help="loop until this file exists")
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--max-seconds", type=float, default=100, help="hard bound for --until-file")
    ap.add_argument("--timeout", type=float, default=5)
    args = ap.parse_args()

    ok, failed, errors = 0, 0, []

    def attempt(seq: int) -> None:
        nonlocal ok, failed
        try:
            one(args.host, args.port, args.bind, seq, args.timeout)
            ok += 1
        except Exception as e:  # noqa: BLE001 - every failure counts, whatever its kind
            failed += 1
            if len(errors) < 5:
                errors.append(f"{seq}: {e!r}")

    if args.until_file:
        deadline = time.monotonic() + args.max_seconds
        seq = 0
        while not os.path.exists(args.until_file) and time.monotonic() < deadline:
            attempt(seq)
            seq += 1
            time.sleep(args.interval)
    else:
        for seq in range(args.count):
            attempt(seq)
    print(json.dumps({"ok": ok, "failed": failed, "errors": errors}))
    return 0 if failed == 0 and ok > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
