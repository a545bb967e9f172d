#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Shadow-service recorder for the replay e2e tests (stdlib only).

Listens on one or more TCP ports and writes one JSON line per connection to --out when the
connection ends: which port it came in on, the peer address and port (so --copies can be checked
to use distinct source ports), the exact byte count and SHA-256 of everything received, the first
bytes (the tests put a connection id there), and how the stream ended:
  "eof"  the peer half-closed (FIN) after its last byte: a complete replay
  "rst"  the peer reset the connection (ECONNRESET): an aborted replay
Modes (--mode):
  record  read everything as fast as possible (asyncio); on EOF answer a short HTTP response.
  slow    accept, then sleep --delay seconds before every recv() of at most --chunk bytes.
  noread  accept and never read (an "accept" line is written at once); the socket is kept open.
slow and noread use plain blocking sockets, one thread per connection, and a small --rcvbuf can be
set: asyncio would read ahead into its own buffer and hide the slowness from the sender's TCP.
--ready-file is created once every port listens.
"""
import argparse
import asyncio
import hashlib
import json
import os
import socket
import sys
import threading
import time

HEAD_BYTES = 256


class Recorder:
    def __init__(self, args):
        self.args = args
        self.out = open(args.out, "a", buffering=1)
        self.held = []  # noread mode: keep the sockets open

    def emit(self, record):
        self.out.write(json.dumps(record, sort_keys=True) + "\n")
        self.out.flush()

    async def handle(self, port, reader, writer):
        peer = writer.get_extra_info("peername")
        opened = time.time()
        base = {"port": port, "peer": peer[0], "peer_port": peer[1], "t_open": opened}
        digest = hashlib.sha256()
        total = 0
        head = b""
        end = "eof"
        try:
            while True:
                data = await reader.read(self.args.chunk)
                if not data:
                    break
                digest.update(data)
                total += len(data)
                if len(head) < HEAD_BYTES:
                    head += data[: HEAD_BYTES - len(head)]
        except (ConnectionResetError, BrokenPipeError):
            end = "rst"
        except OSError as e:  # e.g. ETIMEDOUT: recorded as such, never silently dropped
            end = "error:%s" % e.errno
        self.emit(dict(base, event="close", end=end, bytes=total, sha256=digest.hexdigest(),
                       head=head.decode("latin-1"), t_close=time.time()))
        if end == "eof":
            try:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nrecorded")
                await writer.drain()
            except OSError:
                pass
        try:
            writer.close()
        except OSError:
            pass

    def listen(self, port):
        sock = socket.socket(socket.AF_INET6 if ":" in self.args.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.args.rcvbuf:  # inherited by accepted sockets (and locks out autotuning)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.args.rcvbuf)
        sock.bind((self.args.host, port))
        sock.listen(4096)
        return sock

    def ready(self):
        if self.args.ready_file:
            with open(self.args.ready_file + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(self.args.ready_file + ".tmp", self.args.ready_file)

    async def main(self):
        servers = []
        for port in self.args.port:
            def factory(r, w, port=port):
                return self.handle(port, r, w)
            servers.append(await asyncio.start_server(factory, sock=self.listen(port), limit=1 << 20))
        self.ready()
        await asyncio.gather(*(s.serve_forever() for s in servers))

    # --- slow / noread: blocking sockets, a thread per connection ------------------------------
    def blocking_conn(self, port, conn, peer):
        base = {"port": port, "peer": peer[0], "peer_port": peer[1], "t_open": time.time()}
        if self.args.mode == "noread":
            self.held.append(conn)
            with self.lock:
                self.emit(dict(base, event="accept"))
            return
        digest, total, head, end = hashlib.sha256(), 0, b"", "eof"
        try:
            while True:
                time.sleep(self.args.delay)
                data = conn.recv(self.args.chunk)
                if not data:
                    break
                digest.update(data)
                total += len(data)
                if len(head) < HEAD_BYTES:
                    head += data[: HEAD_BYTES - len(head)]
        except (ConnectionResetError, BrokenPipeError):
            end = "rst"
        except OSError as e:
            end = "error:%s" % e.errno
        with self.lock:
            self.emit(dict(base, event="close", end=end, bytes=total, sha256=digest.hexdigest(),
                           head=head.decode("latin-1"), t_close=time.time()))
        conn.close()

    def accept_loop(self, port, sock):
        while True:
            conn, peer = sock.accept()
            threading.Thread(target=self.blocking_conn, args=(port, conn, peer), daemon=True).start()

    def main_blocking(self):
        self.lock = threading.Lock()
        threads = [threading.Thread(target=self.accept_loop, args=(port, self.listen(port)), daemon=True)
                   for port in self.args.port]
        for t in threads:
            t.start()
        self.ready()
        for t in threads:
            t.join()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, action="append", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=("record", "slow", "noread"), default="record")
    p.add_argument("--delay", type=float, default=2.0, help="slow mode: seconds before each read")
    p.add_argument("--chunk", type=int, default=1 << 20, help="bytes per read")
    p.add_argument("--rcvbuf", type=int, default=0, help="SO_RCVBUF of the listening socket (0: default)")
    p.add_argument("--ready-file")
    args = p.parse_args()
    try:
        if args.mode == "record":
            asyncio.run(Recorder(args).main())
        else:
            Recorder(args).main_blocking()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
