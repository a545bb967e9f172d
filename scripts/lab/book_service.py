#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The release-safety lab's book service: one program, four versions (Python 3 stdlib only).

  v1  the version users see (the primary)
  v2  identical to v1 (a new build with no behaviour change)
  v3  adds 1.2 s to GET /books/{id}/reviews (a performance regression)
  v4  answers 500 for even ids on GET /books/{id} and GET /books/{id}/reviews (a fault)

Routes: GET /books, GET /books/{id} (ids 1..50), GET /books/{id}/reviews; anything else 404, any
other method 405. HTTP/1.1 with keep-alive, JSON bodies with Content-Length.

--log FILE appends one JSON line per request it answered: time, version, client, method, path,
Host, the end-user header, status and duration. That is how the lab proves which requests reached
which version, and with which Host header.

usage: book_service.py --version v1|v2|v3|v4 [--bind ADDR] [--port 8080] [--log FILE] [--ready-file FILE]
"""
import argparse
import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOOK_COUNT = 50
V3_DELAY_S = 1.2
ID_ROUTE = re.compile(r"^/books/([0-9]+)(/reviews)?/?$")

FIRST = ["The Quiet", "A Brief", "The Last", "Under the", "The Long", "Notes on", "The Hidden", "After the",
         "The Silent", "Beyond the"]
SECOND = ["Harbour", "Mirror", "Orchard", "Signal", "Meridian", "Lantern", "Archive", "Frontier", "Garden",
          "Protocol"]
AUTHORS = ["A. Moreau", "B. Okafor", "C. Lindqvist", "D. Tanaka", "E. Rossi", "F. Haddad", "G. Novak"]
REVIEWERS = ["reader1", "bookworm", "nightowl", "critic42", "librarian"]


def book(book_id):
    return {
        "id": book_id,
        "title": f"{FIRST[book_id % 10]} {SECOND[(book_id * 7) % 10]}",
        "author": AUTHORS[book_id % len(AUTHORS)],
        "year": 1950 + (book_id * 13) % 74,
        "pages": 120 + (book_id * 37) % 600,
    }


def reviews(book_id):
    return {
        "id": book_id,
        "reviews": [
            {"reviewer": REVIEWERS[(book_id + k) % len(REVIEWERS)],
             "stars": 1 + (book_id * (k + 3)) % 5,
             "text": f"Review {k + 1} of book {book_id}."}
            for k in range(1 + book_id % 3)
        ],
    }


class LabServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address, version, log_file):
        super().__init__(address, Handler)
        self.version = version
        self.log_file = log_file
        self.log_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client says close
    server_version = "BookService"
    timeout = 30  # an idle keep-alive connection is closed after this

    def version_string(self):
        return f"BookService/{self.server.version}"

    def log_message(self, format, *args):  # no per-request line on stderr: --log is the record
        pass

    def do_GET(self):
        start = time.monotonic()
        status, body = self.route()
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Book-Service-Version", self.server.version)
        self.end_headers_with(payload)
        self.record(status, start)

    def end_headers_with(self, payload):
        """end_headers() and the body in ONE write: a response in two writes can wait for the
        client's ACK of the first (Nagle), and the lab would measure that instead of the service."""
        self._headers_buffer.append(b"\r\n" + payload)
        self.flush_headers()

    def do_other(self):
        start = time.monotonic()
        payload = json.dumps({"error": "method not allowed"}).encode()
        # The body (if any) is not read: close so that it is not taken for the next request.
        self.close_connection = True
        self.send_response(405)
        self.send_header("Allow", "GET")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers_with(payload)
        self.record(405, start)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_other

    def route(self):
        version = self.server.version
        path = self.path.split("?", 1)[0]
        if path in ("/books", "/books/"):
            return 200, {"version": version, "books": [book(i) for i in range(1, BOOK_COUNT + 1)]}
        m = ID_ROUTE.match(path)
        if not m:
            return 404, {"error": "not found", "path": path}
        book_id = int(m.group(1))
        wants_reviews = m.group(2) is not None
        if not 1 <= book_id <= BOOK_COUNT:
            return 404, {"error": "no such book", "id": book_id}
        if version == "v4" and book_id % 2 == 0:
            return 500, {"error": "internal error", "id": book_id}
        if wants_reviews:
            if version == "v3":
                time.sleep(V3_DELAY_S)
            return 200, dict(reviews(book_id), version=version)
        return 200, dict(book(book_id), version=version)

    def record(self, status, start):
        log_file = self.server.log_file
        if log_file is None:
            return
        line = json.dumps({
            "ts": round(time.time(), 3),
            "version": self.server.version,
            "client": self.client_address[0],
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "end_user": self.headers.get("end-user"),
            "status": status,
            "ms": round((time.monotonic() - start) * 1000, 1),
        })
        with self.server.log_lock:
            log_file.write(line + "\n")
            log_file.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", required=True, choices=["v1", "v2", "v3", "v4"])
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log", help="append one JSON line per request to this file")
    parser.add_argument("--ready-file", help="created once the service listens")
    args = parser.parse_args()

    log_file = open(args.log, "a", encoding="utf-8") if args.log else None
    server = LabServer((args.bind, args.port), args.version, log_file)
    # SIGTERM: leave serve_forever cleanly (from another thread: shutdown() waits for the loop).
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    if args.ready_file:
        with open(args.ready_file, "w", encoding="utf-8") as f:
            f.write(f"{args.version} {args.bind}:{args.port}\n")
    print(f"book service {args.version} listening on {args.bind}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if log_file:
            log_file.close()


if __name__ == "__main__":
    main()
