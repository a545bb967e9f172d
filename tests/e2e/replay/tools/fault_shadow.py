#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Misbehaving shadow services for shadow_faults_test.sh (stdlib only).

Listens on --port and writes one JSON line per connection to --out (same fields as recorder.py
where they apply: port, peer, peer_port, t_open, bytes, head, so compare.py can read "close" lines).
Modes (--mode):
  reset    accept, read until --reset-after bytes arrived, wait --reset-delay seconds (not reading),
           then close with SO_LINGER {on, 0}: the kernel sends a RST. One line, event "reset", with
           the bytes read before the reset. If the peer ends first (it sent fewer bytes), the line is
           event "close" with end "eof"/"rst" instead: the test sees that no reset was done.
  garbage  read everything; after every request line seen in the stream ("... HTTP/1.1\r\n"),
           answer with 1..--garbage-max random bytes that are not HTTP (the first byte is NUL), and
           keep reading. On the peer's FIN: close (FIN). One line, event "close", with end, bytes,
           sha256 of everything received, requests seen, garbage_bytes / garbage_writes sent.
Blocking sockets, a thread per connection; --rcvbuf sets SO_RCVBUF on the listening socket
(inherited by accepted ones). --ready-file is created once the port listens.
"""
import argparse
import fcntl
import hashlib
import json
import os
import random
import socket
import struct
import sys
import termios
import threading
import time

HEAD_BYTES = 256
REQUEST_MARK = b" HTTP/1.1\r\n"
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


class Shadow:
    def __init__(self, args):
        self.args = args
        self.out = open(args.out, "a", buffering=1)
        self.lock = threading.Lock()

    def emit(self, record):
        with self.lock:
            self.out.write(json.dumps(record, sort_keys=True) + "\n")
            self.out.flush()

    def reset_conn(self, conn, base):
        total, head = 0, b""
        try:
            while total < self.args.reset_after:
                data = conn.recv(min(65536, self.args.reset_after - total))
                if not data:
                    self.emit(dict(base, event="close", end="eof", bytes=total, head=head.decode("latin-1"),
                                   t_close=time.time()))
                    conn.close()
                    return
                total += len(data)
                if len(head) < HEAD_BYTES:
                    head += data[: HEAD_BYTES - len(head)]
        except OSError as e:
            self.emit(dict(base, event="close", end="rst" if isinstance(e, ConnectionResetError) else "error:%s" % e.errno,
                           bytes=total, head=head.decode("latin-1"), t_close=time.time()))
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
        self.emit(dict(base, event="reset", bytes=total, unread_at_reset=unread, head=head.decode("latin-1"),
                       t_reset=time.time()))

    def garbage_conn(self, conn, base):
        rng = random.Random(base["peer_port"])
        digest, total, head, end = hashlib.sha256(), 0, b"", "eof"
        tail, requests, gbytes, gwrites = b"", 0, 0, 0
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                digest.update(data)
                total += len(data)
                if len(head) < HEAD_BYTES:
                    head += data[: HEAD_BYTES - len(head)]
                scan = tail + data
                new = scan.count(REQUEST_MARK)
                tail = scan[-(len(REQUEST_MARK) - 1):]
                for _ in range(new):
                    n = rng.randint(1, self.args.garbage_max)
                    blob = b"\0" + os.urandom(n - 1)
                    conn.sendall(blob)
                    gbytes += n
                    gwrites += 1
                requests += new
        except ConnectionResetError:
            end = "rst"
        except OSError as e:
            end = "error:%s" % e.errno
        self.emit(dict(base, event="close", end=end, bytes=total, sha256=digest.hexdigest(),
                       head=head.decode("latin-1"), requests=requests, garbage_bytes=gbytes,
                       garbage_writes=gwrites, t_close=time.time()))
        conn.close()  # after the peer's FIN: a FIN back (nothing unread)

    def serve(self):
        sock = socket.socket(socket.AF_INET6 if ":" in self.args.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.args.rcvbuf:  # FORCE (root) is not capped by net.core.rmem_max
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.args.rcvbuf)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.args.rcvbuf)
        sock.bind((self.args.host, self.args.port))
        sock.listen(4096)
        if self.args.ready_file:
            with open(self.args.ready_file + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(self.args.ready_file + ".tmp", self.args.ready_file)
        handler = self.reset_conn if self.args.mode == "reset" else self.garbage_conn
        while True:
            conn, peer = sock.accept()
            base = {"port": self.args.port, "peer": peer[0], "peer_port": peer[1], "t_open": time.time()}
            threading.Thread(target=handler, args=(conn, base), daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=("reset", "garbage"), required=True)
    p.add_argument("--reset-after", type=int, default=4096, help="reset mode: bytes read before the RST")
    p.add_argument("--reset-delay", type=float, default=0.0, help="reset mode: seconds between the read and the RST")
    p.add_argument("--garbage-max", type=int, default=16384, help="garbage mode: largest answer, bytes")
    p.add_argument("--rcvbuf", type=int, default=0, help="SO_RCVBUF of the listening socket (0: default)")
    p.add_argument("--ready-file")
    args = p.parse_args()
    try:
        Shadow(args).serve()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
