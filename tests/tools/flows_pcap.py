#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes a synthetic capture of whole TCP connections, fast, for benchmarks (bench/pipeline.sh).

  flows_pcap.py bulk  --out FILE --bytes N [--segment 64000] [--streams K]
      K connections (interleaved) carrying N client bytes in total, in segments of SEGMENT bytes
      (GSO-sized by default, as a tap on a real NIC sees them), each acknowledged by the server.
  flows_pcap.py churn --out FILE --conns N [--request 100] [--response 200] [--http]
      N one-request connections, one after the other: handshake, request, response, FINs.
      --http: the request is an HTTP/1.1 GET with `Connection: close` (padded to --request bytes
      by a header) and the response a 200 with a body of zeros (about --response bytes in all).
  flows_pcap.py paced --out FILE --conns N --conn-rate R --reqs K --gap-ms G [--request 100] [--response 200]
      A load with a clock (bench/replay_rate.sh): connection i opens at i/R seconds and sends K
      requests G ms apart, each answered at once, then closes. K=1 is churn at R connections/s;
      K>1 keep-alive, R*K/(K*G/1000) requests/s once all are open. Frames 1 us apart otherwise.

Client 10.200.x.y:port -> server 10.200.0.1:8080, Ethernet + IPv4 + TCP, valid checksums, payload
bytes all zero (so checksums cost only the headers: the generator is not the bottleneck), but for
churn --http. Prints
one JSON line: {"connections": N, "client_bytes": N, "frames": N}. Stdlib only (no scapy).
"""
import argparse
import json
import struct
import sys

from toollib import csum

SERVER = bytes([10, 200, 0, 1])
SERVER_PORT = 8080
ETH = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb", buffering=1 << 22)
        # Classic pcap, microsecond timestamps, Ethernet, snaplen 262144.
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        self.t = 1_700_000_000_000_000  # microseconds
        self.frames = 0
        self.zeros = b""
        self.due = 0  # the next packet's time at the earliest (paced): microseconds
        self.start = self.t

    def packet(self, src, sport, dst, dport, seq, ack, flags, length, payload=None):
        if payload is None and len(self.zeros) < length:
            self.zeros = bytes(length)
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
        # A payload of zeros adds nothing to the sum, only its length to the pseudo-header.
        pseudo = src + dst + struct.pack("!BBH", 0, 6, 20 + length)
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp + (payload or b""))) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 20 + length, 0, 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        frame_len = 14 + 40 + length
        self.t = max(self.t + 1, self.due)
        self.f.write(struct.pack("<IIII", self.t // 1_000_000, self.t % 1_000_000, frame_len, frame_len))
        self.f.write(ETH)
        self.f.write(ip)
        self.f.write(tcp)
        self.f.write(payload if payload is not None else self.zeros[:length])
        self.frames += 1

    def close(self):
        self.f.close()


class Conn:
    """One connection's sequence numbers; c2s/s2c write its packets."""

    def __init__(self, w, index):
        self.w = w
        self.client = bytes([10, 200, 1 + (index // 60000) % 250, 2])
        self.port = 1024 + index % 60000
        self.cseq = 1000 + index
        self.sseq = 900000 + index

    def open(self):
        self.w.packet(self.client, self.port, SERVER, SERVER_PORT, self.cseq, 0, SYN, 0)
        self.w.packet(SERVER, SERVER_PORT, self.client, self.port, self.sseq, self.cseq + 1, SYN | ACK, 0)
        self.cseq += 1
        self.sseq += 1
        self.w.packet(self.client, self.port, SERVER, SERVER_PORT, self.cseq, self.sseq, ACK, 0)

    def send(self, n, payload=None):  # client data, then the server's ACK of it
        n = len(payload) if payload is not None else n
        self.w.packet(self.client, self.port, SERVER, SERVER_PORT, self.cseq, self.sseq, PSH | ACK, n, payload)
        self.cseq += n
        self.w.packet(SERVER, SERVER_PORT, self.client, self.port, self.sseq, self.cseq, ACK, 0)

    def answer(self, n, payload=None):  # server data, acknowledging all the client sent
        n = len(payload) if payload is not None else n
        self.w.packet(SERVER, SERVER_PORT, self.client, self.port, self.sseq, self.cseq, PSH | ACK, n, payload)
        self.sseq += n

    def close(self):
        self.w.packet(self.client, self.port, SERVER, SERVER_PORT, self.cseq, self.sseq, FIN | ACK, 0)
        self.cseq += 1
        self.w.packet(SERVER, SERVER_PORT, self.client, self.port, self.sseq, self.cseq, FIN | ACK, 0)
        self.sseq += 1
        self.w.packet(self.client, self.port, SERVER, SERVER_PORT, self.cseq, self.sseq, ACK, 0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shape", choices=("bulk", "churn", "paced"))
    p.add_argument("--out", required=True)
    p.add_argument("--bytes", type=int, default=1 << 30, help="bulk: client bytes in total")
    p.add_argument("--segment", type=int, default=64000, help="bulk: bytes per segment (at most 65495)")
    p.add_argument("--streams", type=int, default=1, help="bulk: connections, interleaved")
    p.add_argument("--conns", type=int, default=100000, help="churn: connections")
    p.add_argument("--request", type=int, default=100, help="churn: request bytes")
    p.add_argument("--response", type=int, default=200, help="churn: response bytes")
    p.add_argument("--http", action="store_true", help="churn: an HTTP/1.1 request and a 200 response")
    p.add_argument("--conn-rate", type=float, default=1000.0, help="paced: connections opened per second")
    p.add_argument("--reqs", type=int, default=1, help="paced: requests per connection")
    p.add_argument("--gap-ms", type=float, default=100.0, help="paced: between a connection's requests")
    a = p.parse_args()
    if not 1 <= a.segment <= 65495 or a.streams < 1 or a.conns < 1 or a.bytes < 1:
        p.error("--segment must be 1..65495 and --streams, --conns, --bytes at least 1")
    w = Writer(a.out)
    if a.shape == "bulk":
        conns = [Conn(w, i) for i in range(a.streams)]
        for c in conns:
            c.open()
        left, i = a.bytes, 0
        while left > 0:
            n = min(a.segment, left)
            conns[i % a.streams].send(n)
            left -= n
            i += 1
        for c in conns:
            c.close()
        total, count = a.bytes, a.streams
    elif a.shape == "paced":
        if a.conn_rate <= 0 or a.reqs < 1 or a.gap_ms < 0:
            p.error("--conn-rate must be above 0, --reqs at least 1, --gap-ms 0 or more")
        # (time us, order, connection, step): step 0 opens and sends the first request, step K closes.
        events = []
        for i in range(a.conns):
            t0 = int(i * 1e6 / a.conn_rate)
            for step in range(a.reqs + 1):
                events.append((t0 + int(step * a.gap_ms * 1000), i, step))
        events.sort()
        conns = {}
        for t, i, step in events:
            w.due = w.start + t
            if step == 0:
                conns[i] = Conn(w, i)
                conns[i].open()
            if step < a.reqs:
                conns[i].send(a.request)
                conns[i].answer(a.response)
            else:
                conns.pop(i).close()
        total, count = a.conns * a.reqs * a.request, a.conns
    else:
        request = response = None
        if a.http:
            head = b"GET / HTTP/1.1\r\nHost: pipeline\r\nConnection: close\r\nX-Pad: "
            request = head + b"p" * max(0, a.request - len(head) - 4) + b"\r\n\r\n"
            status = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
            body = max(0, a.response - len(status % 0) - 4)
            response = status % body + bytes(body)
        for i in range(a.conns):
            c = Conn(w, i)
            c.open()
            c.send(a.request, request)
            c.answer(a.response, response)
            c.close()
        total, count = a.conns * (len(request) if request else a.request), a.conns
    w.close()
    json.dump({"connections": count, "client_bytes": total, "frames": w.frames}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
