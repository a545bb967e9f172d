#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hand-made TCP for the "replay only what the server accepted" e2e tests.

Client side (scapy, raw IP from the client namespace, TTL 63: the test drops the client kernel's
own RSTs (TTL 64) to the crafted port, since no socket of that kernel owns the connection):
  spoof-half  --src S --dst D --dport P --payload TEXT
              SYN, one data segment, FIN, never waiting for an answer (the server's firewall
              drops S): nothing of it may ever reach a shadow.
  badsum      --src S --dst D --dport P --good TEXT --bad TEXT
              a real handshake, then TEXT's segment first with BAD bytes and a wrong checksum
              (the server's kernel drops it), then the good retransmission; FIN exchange.
  rst-window  --src S --dst D --dport P --first TEXT --second TEXT
              handshake, FIRST, then two RSTs the server must ignore (one in window but not at
              the next sequence number, one far outside), then SECOND and a FIN exchange.
Kernel sockets:
  tfo-serve   --port P --ready-file F   a TCP Fast Open listener: reads each connection to EOF,
              answers "ok\\n", closes.
  tfo-client  --dst D --port P --count N --prefix TEXT   N connections with MSG_FASTOPEN; prints
              {"conns": N, "syn_data_acked": K, "streams": [{"bytes", "sha256"}]}.
  reset-serve --port P --ready-file F   reads a request (through its blank line), then closes with
              SO_LINGER {on, 0}: the kernel resets the connection.
Each client prints one JSON line about what it did and exits 1 if the server did not behave.
"""
import argparse
import hashlib
import json
import random
import socket
import struct
import sys
import time

from toollib import write_ready

TCPI_OPT_SYN_DATA = 32  # tcp_info.tcpi_options: the SYN's data was acknowledged
CRAFTED_TTL = 63        # the kernel's own packets leave with 64


def scapy():
    from scapy.all import IP, TCP, conf, send, sniff, sr1  # noqa: imported late: slow
    conf.verb = 0
    return IP, TCP, send, sniff, sr1


class Session:
    """A client connection written by hand: tracks the sequence numbers both ways."""

    def __init__(self, src, dst, dport):
        self.IP, self.TCP, self.send_, self.sniff, self.sr1 = scapy()
        self.src, self.dst, self.dport = src, dst, dport
        self.sport = random.randrange(40000, 60000)
        self.seq = random.randrange(1 << 31)
        self.ack = 0

    def pkt(self, flags, payload=b"", seq=None, **kw):
        ip = self.IP(src=self.src, dst=self.dst, ttl=CRAFTED_TTL)
        return ip / self.TCP(sport=self.sport, dport=self.dport, flags=flags,
                             seq=self.seq if seq is None else seq, ack=self.ack, window=65535, **kw) / payload

    def handshake(self):
        synack = self.sr1(self.pkt("S"), timeout=3)
        if synack is None or not (synack["TCP"].flags & 0x12 == 0x12):
            raise SystemExit(json.dumps({"error": "no SYN-ACK"}))
        self.seq += 1
        self.ack = synack["TCP"].seq + 1
        self.send_(self.pkt("A"))

    def data(self, payload, **kw):
        """Sends one data segment; True if the server acknowledged it (then the stream moves on)."""
        want = (self.seq + len(payload)) % (1 << 32)
        reply = self.sr1(self.pkt("PA", payload, **kw), timeout=1.5)
        acked = reply is not None and (reply["TCP"].ack - want) % (1 << 32) < (1 << 31)
        if acked:
            self.seq = want
        return acked

    def close(self):
        """FIN, then acknowledges the server's FIN (it may answer with data first). True if it came."""
        from scapy.all import AsyncSniffer, conf
        sniffer = AsyncSniffer(iface=conf.route.route(self.dst)[0], filter="tcp and src host %s and src port %d and dst port %d" % (self.dst, self.dport, self.sport))
        sniffer.start()
        time.sleep(0.3)  # the sniffer's socket must be open before the answers come
        self.send_(self.pkt("FA"))
        self.seq = (self.seq + 1) % (1 << 32)
        time.sleep(1.0)
        got = [p for p in sniffer.stop() if p["TCP"].flags & 0x01]
        if got:
            self.ack = (got[0]["TCP"].seq + len(got[0]["TCP"].payload) + 1) % (1 << 32)
            self.send_(self.pkt("A"))
        return bool(got)


def spoof_half(a):
    IP, TCP, send, _, _ = scapy()
    sport, seq = random.randrange(40000, 60000), random.randrange(1 << 31)
    base = IP(src=a.src, dst=a.dst, ttl=CRAFTED_TTL)
    payload = a.payload.encode()
    send(base / TCP(sport=sport, dport=a.dport, flags="S", seq=seq))
    send(base / TCP(sport=sport, dport=a.dport, flags="PA", seq=seq + 1, ack=1) / payload)
    send(base / TCP(sport=sport, dport=a.dport, flags="FA", seq=seq + 1 + len(payload), ack=1))
    print(json.dumps({"sent": ["SYN", "data", "FIN"], "sport": sport, "bytes": len(payload)}))
    return 0


def badsum(a):
    s = Session(a.src, a.dst, a.dport)
    s.handshake()
    bad_acked = s.data(a.bad.encode(), chksum=0xbad0)  # a wrong checksum: the kernel drops it
    good_acked = s.data(a.good.encode())
    closed = s.close()
    print(json.dumps({"sport": s.sport, "bad_acked": bad_acked, "good_acked": good_acked, "closed": closed}))
    return 0 if good_acked and not bad_acked and closed else 1


def rst_window(a):
    s = Session(a.src, a.dst, a.dport)
    s.handshake()
    first = s.data(a.first.encode())
    # In the window but not at the next sequence number (Linux answers with a challenge ACK),
    # and far outside it: the server's connection must survive both.
    s.send_(s.pkt("R", seq=(s.seq + 1000) % (1 << 32)))
    s.send_(s.pkt("R", seq=(s.seq + (1 << 30)) % (1 << 32)))
    second = s.data(a.second.encode())
    closed = s.close()
    print(json.dumps({"sport": s.sport, "first_acked": first, "second_acked": second, "closed": closed}))
    return 0 if first and second and closed else 1


def serve(a, fastopen=0):
    """The listener of a *-serve command on 0.0.0.0:--port (with a TCP Fast Open queue of
    `fastopen`), announced in --ready-file."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fastopen:
        srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, fastopen)
    srv.bind(("0.0.0.0", a.port))
    srv.listen(64)
    write_ready(a.ready_file)
    return srv


def tfo_serve(a):
    srv = serve(a, fastopen=16)
    while True:
        conn, _ = srv.accept()
        with conn:
            while conn.recv(65536):
                pass
            conn.sendall(b"ok\n")


def tfo_client(a):
    out = {"conns": a.count, "syn_data_acked": 0, "streams": []}
    for i in range(a.count):
        data = ("%s %d\n" % (a.prefix, i)).encode() + bytes(random.randrange(256) for _ in range(500))
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Blocking (a Python timeout makes the socket non-blocking: EINPROGRESS here).
        c.sendto(data, socket.MSG_FASTOPEN, (a.dst, a.port))  # connect + data in the SYN
        c.settimeout(5)
        info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        out["syn_data_acked"] += 1 if info[5] & TCPI_OPT_SYN_DATA else 0
        c.shutdown(socket.SHUT_WR)
        reply = c.recv(100)
        c.close()
        if reply != b"ok\n":
            out["error"] = "connection %d: reply %r" % (i, reply)
        out["streams"].append({"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "head": data[:data.index(b"\n")].decode()})
    print(json.dumps(out))
    return 1 if "error" in out else 0


def reset_serve(a):
    srv = serve(a)
    while True:
        conn, _ = srv.accept()
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # nothing unread and linger 0: a RST right after the request


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("spoof-half", "badsum", "rst-window"):
        c = sub.add_parser(name)
        c.add_argument("--src", required=True)
        c.add_argument("--dst", required=True)
        c.add_argument("--dport", type=int, required=True)
    sub.choices["spoof-half"].add_argument("--payload", required=True)
    sub.choices["badsum"].add_argument("--good", required=True)
    sub.choices["badsum"].add_argument("--bad", required=True)
    sub.choices["rst-window"].add_argument("--first", required=True)
    sub.choices["rst-window"].add_argument("--second", required=True)
    for name in ("tfo-serve", "reset-serve"):
        c = sub.add_parser(name)
        c.add_argument("--port", type=int, required=True)
        c.add_argument("--ready-file", required=True)
    c = sub.add_parser("tfo-client")
    c.add_argument("--dst", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--count", type=int, default=3)
    c.add_argument("--prefix", required=True)
    a = p.parse_args()
    return {"spoof-half": spoof_half, "badsum": badsum, "rst-window": rst_window, "tfo-serve": tfo_serve,
            "tfo-client": tfo_client, "reset-serve": reset_serve}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
