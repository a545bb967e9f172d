# SPDX-License-Identifier: Apache-2.0
"""What the test tools of tests/tools/ share (stdlib only; the tools import it from their folder).

  write_ready(path)      the ready-file contract of every server: created (atomically, holding the
                         pid) once everything listens; the harness (h_serve) waits for it
  listen(...)            a listening TCP socket (IPv4, IPv6 or dual-stack), optional SO_RCVBUF
  Stream                 the record of a received byte stream: length, SHA-256, first bytes
  recv_stream(...)       the one receive loop: reads to EOF into a Stream, says how it ended
  read_to_eof(sock)      the bytes themselves, when they are few (a reply)
  JsonLines              a thread-safe JSON-lines writer (one record per line, flushed)
  read_request(...)      one HTTP/1.1 request off a socket (head parsed, body read)
  load_json / load_jsonl readers of what the tools and the agent write
  Problems               what a check script found wrong, printed as found; its exit status
                         (also used by tests/deploy/observability_checks.py)
"""
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time

HEAD_BYTES = 256  # first bytes kept per stream: the tests put a connection id there
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def write_ready(path):
    """Creates PATH (holding this pid) atomically: a reader never sees a half-written file."""
    if not path:
        return
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(path + ".tmp", path)


def listen(host, port, backlog=4096, rcvbuf=0, dual_stack=False):
    """A listening socket. dual_stack: "::" for IPv4 and IPv6 alike. rcvbuf: SO_RCVBUF of the
    listening socket, inherited by accepted ones (and locking out autotuning); FORCE (root) is not
    capped by net.core.rmem_max."""
    family = socket.AF_INET6 if dual_stack or ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if dual_stack:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    if rcvbuf:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind(("::" if dual_stack else host, port))
    sock.listen(backlog)
    return sock


class Stream:
    """Length, SHA-256 and first bytes of everything received on one connection (keep: up to
    that many bytes of it whole, for tests that look for what must never arrive)."""

    def __init__(self, data=b"", keep=0):
        self.digest = hashlib.sha256()
        self.total = 0
        self.head = b""
        self.keep = keep
        self.kept = b""
        self.update(data)

    def update(self, data):
        self.digest.update(data)
        self.total += len(data)
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        if len(self.kept) < self.keep:
            self.kept += data[: self.keep - len(self.kept)]

    def record(self):
        out = {"bytes": self.total, "sha256": self.digest.hexdigest(), "head": self.head.decode("latin-1")}
        if self.keep:
            out["data"] = self.kept.decode("latin-1")
        return out


def end_of(exc):
    """How a stream ended, from the exception that ended it: "rst" (reset), or "error:ERRNO"
    (e.g. ETIMEDOUT): recorded as such, never silently dropped."""
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "rst"
    return "error:%s" % exc.errno


def recv_stream(sock, stream, chunk=65536, delay=0.0, on_data=None):
    """Reads SOCK to its end into STREAM: "eof" when the peer half-closed (FIN) after its last
    byte, else what end_of says. delay: seconds before every recv() (a slow reader). on_data(data)
    sees every piece as it arrives (e.g. to answer it)."""
    try:
        while True:
            if delay:
                time.sleep(delay)
            data = sock.recv(chunk)
            if not data:
                return "eof"
            stream.update(data)
            if on_data:
                on_data(data)
    except OSError as e:
        return end_of(e)


def read_to_eof(sock, chunk=65536):
    """Everything SOCK delivers until the peer's FIN."""
    data = b""
    while True:
        piece = sock.recv(chunk)
        if not piece:
            return data
        data += piece


class JsonLines:
    """Appends one JSON record per line to a file, from any thread, flushed at once."""

    def __init__(self, path):
        self.out = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def emit(self, record):
        with self.lock:
            self.out.write(json.dumps(record, sort_keys=True) + "\n")
            self.out.flush()


def read_request(sock, buf, chunk=65536):
    """One HTTP/1.1 request from SOCK (BUF: a bytearray of bytes already read, kept across calls
    for keep-alive and pipelining). Returns (request line, {lower-case name: [values]}, body
    length), the body consumed; None when the peer closed first."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(chunk)
        if not data:
            return None
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[:end]
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    length = int(headers.get("content-length", ["0"])[0])
    while len(buf) < length:
        data = sock.recv(max(chunk, length - len(buf)))
        if not data:
            return None
        buf += data
    del buf[:length]
    return lines[0], headers, length


def load_json(path):
    with open(path) as f:
        return json.load(f)


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def csum(data):
    """The Internet checksum (RFC 1071) of data, for crafted IP and TCP headers."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Problems:
    """What a check script found wrong: `problem = Problems("PROBLEM: ")`, `problem(text)` for each
    (printed to stderr as it is found, unless quiet), and `return problem.exit_status()` from main:
    0, or the count on stderr and 1. quiet: recorded only (a self-test that expects problems)."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.found = []
        self.quiet = False

    def __call__(self, text):
        self.found.append(text)
        if not self.quiet:
            print(self.prefix + text, file=sys.stderr)

    def exit_status(self):
        if not self.found:
            return 0
        print("%d problem(s)" % len(self.found), file=sys.stderr)
        return 1
