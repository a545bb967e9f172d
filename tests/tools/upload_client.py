#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Line-rate upload client for the e2e tests (a byte sink on the other end: st_load serve).

--streams connections in parallel, each sends --bytes of data at up to --mbit Mbit/s, then
shuts its sending side and waits for the server to close: a stream ends only once the server
has read every byte (st_load serve closes after the client's EOF), so "sent" here is what the
server received, not what a socket buffer took. Prints {"streams", "ok", "sent", "errors",
"elapsed"}; exits 1 if a stream failed.
"""
import argparse
import json
import socket
import sys
import threading
import time

CHUNK = 256 * 1024


def upload(host: str, port: int, total: int, mbit: float, timeout: float) -> int:
    payload = memoryview(bytes(range(256)) * (CHUNK // 256))
    sent = 0
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as s:
        while sent < total:
            n = min(CHUNK, total - sent)
            s.sendall(payload[:n])
            sent += n
            if mbit > 0:  # paced: never ahead of the rate
                ahead = sent * 8 / (mbit * 1e6) - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    return sent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--bytes", type=int, required=True, help="per stream")
    ap.add_argument("--mbit", type=float, default=0, help="per stream; 0: as fast as it goes")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    results: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            n = upload(args.host, args.port, args.bytes, args.mbit, args.timeout)
            with lock:
                results.append(n)
        except OSError as e:
            with lock:
                errors.append(f"{type(e).__name__}: {e}")

    start = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(args.streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {"streams": args.streams, "ok": len(results), "sent": sum(results), "errors": errors,
           "elapsed": round(time.monotonic() - start, 3)}
    print(json.dumps(out))
    return 0 if not errors and len(results) == args.streams else 1


if __name__ == "__main__":
    sys.exit(main())
