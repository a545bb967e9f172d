#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Shadow stand-in: records, per accepted connection, the SHA-256 and length of every byte it
received, as one JSON line {"sha", "bytes", "peer"} appended to --out when the peer half-closes."""
import argparse
import hashlib
import json
import socket
import threading

lock = threading.Lock()


def handle(conn: socket.socket, peer, out: str) -> None:
    digest, n = hashlib.sha256(), 0
    with conn:
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                digest.update(data)
                n += len(data)
        except OSError:  # reset by the replayer (aborted replay): recorded as such
            peer = f"{peer} reset"
    with lock, open(out, "a") as f:
        f.write(json.dumps({"sha": digest.hexdigest(), "bytes": n, "peer": str(peer)}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready-file", required=True)
    args = ap.parse_args()
    s = socket.socket(socket.AF_INET6 if ":" in args.listen else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.listen, args.port))
    s.listen(256)
    open(args.out, "a").close()
    open(args.ready_file, "w").close()
    while True:
        conn, peer = s.accept()
        threading.Thread(target=handle, args=(conn, peer[1], args.out), daemon=True).start()


if __name__ == "__main__":
    main()
