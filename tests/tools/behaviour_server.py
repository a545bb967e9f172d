#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An HTTP/1.1 service with a chosen misbehaviour, for the HTTP e2e test (stdlib only).

Routes: GET /items/{id} and GET /items/{id}/reviews, answered 200 with a small JSON body.
  --behaviour ok    : always 200, fast (the primary, or an identical shadow)
  --behaviour slow  : adds --delay-ms to /items/{id}/reviews
  --behaviour fail  : 500 for /items/{even id}
  --behaviour flip  : like ok, but its JSON says "in_stock": false for ids divisible by 3
                      (a candidate with a bug in one field)
--random-field adds "nonce": a random number to every body (noise: a timestamp, a request id).
--same-body leaves out "by" (the server's --name), so that every server's bodies agree.
--think-ms N answers every request after N ms, as a server doing some work does.
Every response goes out in one write (head and body together).
Keep-alive and pipelining work (requests are answered in order); after answering a request with
`Connection: close` the server closes the connection. Every request is logged as a
JSON line (method, path, headers, and conn: the peer's address:port) to --log. A connection whose first bytes are not an HTTP request
line is recorded raw instead: its bytes' sha256 and length are logged when it closes — how the
test proves a non-HTTP protocol on the HTTP port still reaches the shadow byte for byte.
"""
import argparse
import json
import random
import re
import socket
import socketserver
import time

from toollib import JsonLines, Stream, read_request, recv_stream, write_ready

REQUEST_LINE = re.compile(rb"^[A-Z]{3,10} \S+ HTTP/1\.[01]\r\n")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        args, log = self.server.args, self.server.log
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        while len(buf) < 16 and b"\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
        if buf and not REQUEST_LINE.match(bytes(buf[:64])):
            stream = Stream(bytes(buf))
            recv_stream(sock, stream)
            log.emit({"raw_sha256": stream.digest.hexdigest(), "raw_len": stream.total})
            return
        while True:
            req = read_request(sock, buf)
            if req is None:
                return
            line, headers, _ = req
            method, path, _ = line.split(" ", 2)
            log.emit({"method": method, "path": path, "headers": headers, "conn": "%s:%d" % self.client_address[:2]})
            code = 200
            m = re.match(r"^/items/(\d+)(/reviews)?$", path)
            if not m:
                code = 404
            elif args.behaviour == "fail" and not m.group(2) and int(m.group(1)) % 2 == 0:
                code = 500
            elif args.behaviour == "slow" and m.group(2):
                time.sleep(args.delay_ms / 1000.0)
            if args.think_ms:
                time.sleep(args.think_ms / 1000.0)
            doc = {"path": path} if args.same_body else {"path": path, "by": args.name}
            if m:
                ident = int(m.group(1))
                doc["id"] = ident
                doc["in_stock"] = not (args.behaviour == "flip" and ident % 3 == 0)
            if args.random_field:
                doc["nonce"] = random.randrange(1 << 40)
            body = json.dumps(doc).encode()
            reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}[code]
            sock.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (code, reason.encode(), len(body), body))
            if any("close" in v.lower() for v in headers.get("connection", [])):
                return  # the client asked to close after this answer: the server closes first


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096  # the default 5 drops SYNs when a busy CI box is slow to accept


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="0.0.0.0")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--behaviour", choices=["ok", "slow", "fail", "flip"], default="ok")
    p.add_argument("--random-field", action="store_true", help='add "nonce": a random number to every body')
    p.add_argument("--same-body", action="store_true", help='leave "by" (the --name) out of the bodies')
    p.add_argument("--delay-ms", type=int, default=300)
    p.add_argument("--think-ms", type=float, default=0.0, help="every answer after this many ms")
    p.add_argument("--name", default="service")
    p.add_argument("--log", required=True)
    p.add_argument("--ready-file")
    args = p.parse_args()
    server = Server((args.listen, args.port), Handler)
    server.args = args
    server.log = JsonLines(args.log)
    write_ready(args.ready_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
