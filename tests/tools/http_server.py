#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small real HTTP/1.1 server for the replay e2e tests (stdlib only).

Threaded, keep-alive, reads every request body (Content-Length), answers each request with one
write (status line, headers and body together, TCP_NODELAY) so response timing does not depend on
Nagle/delayed-ACK interplay: the no-tap and tap runs of a latency comparison see the same server.
Pipelined requests work: the per-connection buffer keeps whatever follows the current request.
"""
import argparse
import socket
import socketserver
import sys

from toollib import read_request, write_ready


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        served = 0
        while True:
            req = read_request(sock, buf, 262144)
            if req is None:
                return  # client closed (FIN): close too
            line, headers, length = req
            close = any(v.lower() == "close" for v in headers.get("connection", []))
            served += 1
            body = ("ok %s %d %d\n" % (line.split(" ")[1] if " " in line else "-", length, served)).encode()
            resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n" % (
                len(body), b"Connection: close\r\n" if close else b"") + body
            sock.sendall(resp)
            if close:
                return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ready-file")
    args = p.parse_args()
    if ":" in args.host:
        Server.address_family = socket.AF_INET6
    srv = Server((args.host, args.port), Handler)
    write_ready(args.ready_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
