#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""TCP servers for the e2e tests (stdlib only), on every given port (IPv4 and IPv6 through one
dual-stack socket per port).

  --mode reply       (default) each connection: read one request line, answer one line that echoes
                     it, then close. The server closes first on purpose, after reading the whole
                     request, so every connection ends with a FIN from both sides and never with a
                     RST (unread data on close would turn the FIN into a RST). One connection at a
                     time per port: the clients are sequential, and a thread per connection would
                     only add scheduling noise on a 2-core CI machine.
  --mode echo-lines  keep-alive: every line read is written back, until the client closes (a
                     thread per connection): lets a test hold one long-lived connection open.
--ready-file is created once every port listens.
"""
import argparse
import socket
import sys
import threading

from toollib import listen, write_ready


def reply(conn: socket.socket) -> None:
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


def echo_lines(conn: socket.socket) -> None:
    with conn:
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                conn.sendall(line + b"\n")


def serve(listener: socket.socket, mode: str) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        if mode == "reply":
            reply(conn)
        else:
            threading.Thread(target=echo_lines, args=(conn,), daemon=True).start()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ports", required=True, help="comma separated ports")
    ap.add_argument("--mode", choices=("reply", "echo-lines"), default="reply")
    ap.add_argument("--ready-file", required=True, help="written once every port listens")
    args = ap.parse_args()
    threads = []
    for port in (int(p) for p in args.ports.split(",")):
        t = threading.Thread(target=serve, args=(listen("::", port, 256, dual_stack=True), args.mode), daemon=True)
        t.start()
        threads.append(t)
    write_ready(args.ready_file)
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
