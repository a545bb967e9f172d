#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The shadow service of the e2e tests: records what every connection delivered, and can
misbehave on purpose (stdlib only).

Listens on one or more TCP ports and writes one JSON line per connection to --out: which port it
came in on, the peer address and port (so --copies can be checked to use distinct source ports),
t_open, and when it ends (event "close"): the exact byte count and SHA-256 of everything received,
the first bytes (the tests put a connection id there) and how the stream ended:
  "eof"  the peer half-closed (FIN) after its last byte: a complete replay
  "rst"  the peer reset the connection (ECONNRESET): an aborted replay
  "error:ERRNO" anything else (e.g. ETIMEDOUT), never silently dropped
Modes (--mode):
  record   read everything as fast as possible (asyncio); on EOF answer a short HTTP response.
           --keep N adds the first N bytes of the stream, whole, to its "close" line ("data").
  slow     sleep --delay seconds before every recv() of at most --chunk bytes.
  noread   never read (an "accept" line is written at once); the socket is kept open.
  reset    read until --reset-after bytes arrived, wait --reset-delay seconds (not reading), then
           close with SO_LINGER {on, 0}: the kernel sends a RST. One line, event "reset", with the
           bytes read and unread_at_reset (bytes still in the receive queue). If the peer ends
           first (it sent fewer bytes), the line is event "close" instead: no reset was done.
  earlyclose  read until the end of the first request head, then close (FIN, nothing unread) without
           answering, as a server shedding idle keep-alive connections does (nginx past
           worker_connections): bytes that arrive later are answered with a RST by the kernel.
           One line, event "earlyclose", with the bytes read.
  garbage  read everything; after every request line seen in the stream ("... HTTP/1.1\\r\\n"),
           answer with 1..--garbage-max random bytes that are not HTTP (the first byte is NUL), and
           keep reading; on the peer's FIN close (FIN). The "close" line adds requests,
           garbage_bytes and garbage_writes.
Every mode but record uses plain blocking sockets, one thread per connection, and a small --rcvbuf
can be set: asyncio would read ahead into its own buffer and hide the slowness from the sender's
TCP. --ready-file is created once every port listens.
"""
import argparse
import asyncio
import fcntl
import os
import random
import socket
import struct
import sys
import termios
import threading
import time

from toollib import JsonLines, Stream, end_of, listen, recv_stream, write_ready

REQUEST_MARK = b" HTTP/1.1\r\n"


class Recorder:
    def __init__(self, args):
        self.args = args
        self.out = JsonLines(args.out)
        self.held = []  # noread mode: keep the sockets open

    def closed(self, base, stream, end, **extra):
        self.out.emit(dict(base, event="close", end=end, t_close=time.time(), **stream.record(), **extra))

    # --- record: asyncio, as fast as possible ----------------------------------------------
    async def handle(self, port, reader, writer):
        peer = writer.get_extra_info("peername")
        base = {"port": port, "peer": peer[0], "peer_port": peer[1], "t_open": time.time()}
        stream, end = Stream(keep=self.args.keep), "eof"
        try:
            while True:
                data = await reader.read(self.args.chunk)
                if not data:
                    break
                stream.update(data)
        except OSError as e:
            end = end_of(e)
        self.closed(base, stream, end)
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

    async def main_async(self, socks):
        servers = []
        for port, sock in socks:
            def factory(r, w, port=port):
                return self.handle(port, r, w)
            servers.append(await asyncio.start_server(factory, sock=sock, limit=1 << 20))
        write_ready(self.args.ready_file)
        await asyncio.gather(*(s.serve_forever() for s in servers))

    # --- the blocking modes: a thread per connection ----------------------------------------
    def slow(self, conn, base):
        stream = Stream()
        end = recv_stream(conn, stream, self.args.chunk, self.args.delay)
        self.closed(base, stream, end)
        conn.close()

    def noread(self, conn, base):
        self.held.append(conn)
        self.out.emit(dict(base, event="accept"))

    def reset(self, conn, base):
        stream = Stream()
        try:
            while stream.total < self.args.reset_after:
                data = conn.recv(min(65536, self.args.reset_after - stream.total))
                if not data:
                    self.closed(base, stream, "eof")
                    conn.close()
                    return
                stream.update(data)
        except OSError as e:
            self.closed(base, stream, end_of(e))
            conn.close()
            return
        if self.args.reset_delay:
            time.sleep(self.args.reset_delay)
        # Unread bytes may wait in the receive queue: say how many, the test reports it.
        try:
            unread = struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            unread = -1
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # linger {1, 0}: RST, not FIN
        self.out.emit(dict(base, event="reset", bytes=stream.total, unread_at_reset=unread,
                           head=stream.head.decode("latin-1"), t_reset=time.time()))

    def earlyclose(self, conn, base):
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        conn.close()
        self.out.emit(dict(base, event="earlyclose", bytes=len(data), t_close=time.time()))

    def garbage(self, conn, base):
        rng = random.Random(base["peer_port"])
        stream = Stream()
        seen = {"tail": b"", "requests": 0, "bytes": 0, "writes": 0}

        def answer(data):
            scan = seen["tail"] + data
            new = scan.count(REQUEST_MARK)
            seen["tail"] = scan[-(len(REQUEST_MARK) - 1):]
            for _ in range(new):
                n = rng.randint(1, self.args.garbage_max)
                conn.sendall(b"\0" + os.urandom(n - 1))
                seen["bytes"] += n
                seen["writes"] += 1
            seen["requests"] += new

        end = recv_stream(conn, stream, 65536, on_data=answer)
        self.closed(base, stream, end, requests=seen["requests"], garbage_bytes=seen["bytes"],
                    garbage_writes=seen["writes"])
        conn.close()  # after the peer's FIN: a FIN back (nothing unread)

    def accept_loop(self, port, sock, handler):
        while True:
            conn, peer = sock.accept()
            base = {"port": port, "peer": peer[0], "peer_port": peer[1], "t_open": time.time()}
            threading.Thread(target=handler, args=(conn, base), daemon=True).start()

    def main_blocking(self, socks):
        handler = getattr(self, self.args.mode)
        threads = [threading.Thread(target=self.accept_loop, args=(port, sock, handler), daemon=True)
                   for port, sock in socks]
        for t in threads:
            t.start()
        write_ready(self.args.ready_file)
        for t in threads:
            t.join()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, action="append", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=("record", "slow", "noread", "reset", "earlyclose", "garbage"), default="record")
    p.add_argument("--delay", type=float, default=2.0, help="slow mode: seconds before each read")
    p.add_argument("--chunk", type=int, default=1 << 20, help="bytes per read")
    p.add_argument("--rcvbuf", type=int, default=0, help="SO_RCVBUF of the listening socket (0: default)")
    p.add_argument("--reset-after", type=int, default=4096, help="reset mode: bytes read before the RST")
    p.add_argument("--reset-delay", type=float, default=0.0, help="reset mode: seconds between the read and the RST")
    p.add_argument("--garbage-max", type=int, default=16384, help="garbage mode: largest answer, bytes")
    p.add_argument("--keep", type=int, default=0, help="record mode: bytes of each stream kept whole in its line")
    p.add_argument("--ready-file")
    args = p.parse_args()
    rec = Recorder(args)
    socks = [(port, listen(args.host, port, rcvbuf=args.rcvbuf)) for port in args.port]
    try:
        if args.mode == "record":
            asyncio.run(rec.main_async(socks))
        else:
            rec.main_blocking(socks)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
