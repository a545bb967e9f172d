#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An HTTP/1.1 service with a chosen misbehaviour, for the HTTP e2e test (stdlib only).

Routes: GET /items/{id} and GET /items/{id}/reviews, answered 200 with a small JSON body.
  --behaviour ok    : always 200, fast (the primary, or an identical shadow)
  --behaviour slow  : adds --delay-ms to /items/{id}/reviews
  --behaviour fail  : 500 for /items/{even id}
Keep-alive and pipelining work (requests are answered in order). Every request is logged as a
JSON line (method, path, headers) to --log. A connection whose first bytes are not an HTTP request
line is recorded raw instead: its bytes' sha256 and length are logged when it closes — how the
test proves a non-HTTP protocol on the HTTP port still reaches the shadow byte for byte.
"""
import argparse
import hashlib
import json
import re
import socket
import socketserver
import threading
import time

REQUEST_LINE = re.compile(rb"^[A-Z]{3,10} \S+ HTTP/1\.[01]\r\n")
LOCK = threading.Lock()


def log(args, record):
    with LOCK, open(args.log, "a") as f:
        f.write(json.dumps(record) + "\n")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        args = self.server.args
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        while len(buf) < 16 and b"\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
        if buf and not REQUEST_LINE.match(bytes(buf[:64])):
            digest = hashlib.sha256(buf)
            total = len(buf)
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                digest.update(data)
                total += len(data)
            log(args, {"raw_sha256": digest.hexdigest(), "raw_len": total})
            return
        while True:
            while b"\r\n\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            end = buf.index(b"\r\n\r\n") + 4
            head = bytes(buf[:end]).decode("latin-1")
            del buf[:end]
            lines = head.split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            length = 0
            for line in lines[1:]:
                if not line:
                    continue
                name, _, value = line.partition(":")
                headers.setdefault(name.strip().lower(), []).append(value.strip())
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            while len(buf) < length:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            del buf[:length]
            log(args, {"method": method, "path": path, "headers": headers})
            code = 200
            m = re.match(r"^/items/(\d+)(/reviews)?$", path)
            if not m:
                code = 404
            elif args.behaviour == "fail" and not m.group(2) and int(m.group(1)) % 2 == 0:
                code = 500
            elif args.behaviour == "slow" and m.group(2):
                time.sleep(args.delay_ms / 1000.0)
            body = json.dumps({"path": path, "by": args.name}).encode()
            reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}[code]
            sock.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (code, reason.encode(), len(body), body))


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096  # the default 5 drops SYNs when a busy CI box is slow to accept


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="0.0.0.0")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--behaviour", choices=["ok", "slow", "fail"], default="ok")
    p.add_argument("--delay-ms", type=int, default=300)
    p.add_argument("--name", default="service")
    p.add_argument("--log", required=True)
    p.add_argument("--ready-file")
    args = p.parse_args()
    server = Server((args.listen, args.port), Handler)
    server.args = args
    if args.ready_file:
        open(args.ready_file, "w").close()
    server.serve_forever()


if __name__ == "__main__":
    main()
