#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Short-response TCP server for the e2e tests.

Listens on every given port (IPv4 and IPv6 through one dual-stack socket per port). Each
connection: read one request line, answer one line that echoes it, then close. The server closes
first on purpose, after reading the whole request, so every connection ends with a FIN from both
sides and never with a RST (unread data on close would turn the FIN into a RST).
"""
import argparse
import os
import socket
import sys
import threading


def serve(listener: socket.socket) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        # One connection at a time per port: the clients are sequential, and a thread per
        # connection would only add scheduling noise on a 2-core CI machine.
        with conn:
            conn.settimeout(5)
            try:
                data = b""
                while not data.endswith(b"\n") and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    conn.sendall(b"RESP " + data)
                conn.shutdown(socket.SHUT_WR)
                # Drain until the client's FIN so the close never discards unread bytes.
                while conn.recv(4096):
                    pass
            except OSError:
                pass


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", required=True, help="comma separated ports")
    ap.add_argument("--ready-file", required=True, help="written once every port listens")
    args = ap.parse_args()

    threads = []
    for port in (int(p) for p in args.ports.split(",")):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        s.listen(256)
        t = threading.Thread(target=serve, args=(s,), daemon=True)
        t.start()
        threads.append(t)
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(tmp, args.ready_file)
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
