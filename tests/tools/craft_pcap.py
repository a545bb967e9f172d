#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes crafted TCP captures for the reassembly e2e test (stdlib only).

  craft_pcap.py --out-pcap P --out-conns C.jsonl --out-hole H.json [--seed N]

Every connection is complete on the wire (SYN, SYN-ACK, ACK, client data, client FIN, server FIN,
last ACK) but its client segments are mangled the way real networks and TCP stacks mangle them:
  reorder   1000-byte segments in a shuffled order
  overlap   segments overlapping each other (same bytes), contained ones, a superset retransmission
  dup       every segment twice, some three times, interleaved
  wrap      ISN just below 2^32: the stream crosses the sequence wrap, reordered
  mixed     all of the above, and the client FIN sent before the last data segments
  tiny      1..7-byte segments, reordered and duplicated (many pending pieces)
  conflict  retransmissions of delivered and of buffered ranges with DIFFERENT bytes: the
            reassembler's policy is "first copy wins", so the original stream is still expected
  window    6 MiB sent past a segment lost before the tap, within the 16 MiB window the server
            advertised (window scale 8), then the retransmission
plus "hole": one segment in the middle is never sent (the capture lost it for good), later ones
and the FIN are. C.jsonl gets one line per complete connection (cid, bytes, sha256 of the exact
client stream: what the shadow must receive); H.json the hole connection's expected prefix (the
bytes before the hole: all the shadow may receive, followed by a reset).
Each stream starts with "CID <cid>\\n" so the recorder can tell them apart.
"""
import argparse
import hashlib
import json
import random
import struct
import sys
from toollib import csum

CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")
CLIENT_IP = bytes([10, 88, 9, 2])
SERVER_IP = bytes([10, 88, 9, 1])
SERVER_PORT = 18080
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10



def frame(src_mac, dst_mac, sip, dip, sport, dport, seq, ack, flags, payload=b"", options=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, (5 + len(options) // 4) << 4,
                      flags, 65535, 0, 0) + options
    pseudo = sip + dip + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp + payload)) + tcp[18:]
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, sip, dip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp + payload


class Conn:
    def __init__(self, cport, isn, sisn, window_scale=None):
        self.cport, self.isn, self.sisn = cport, isn, sisn
        # Both SYNs offer this window scale (NOP + kind 3): every later window of 65535 means 65535 << it.
        self.syn_options = b"" if window_scale is None else bytes([1, 3, 3, window_scale])

    def c(self, off, flags, payload=b""):  # client segment at stream offset `off`
        return frame(CLIENT_MAC, SERVER_MAC, CLIENT_IP, SERVER_IP, self.cport, SERVER_PORT,
                     self.isn + 1 + off, self.sisn + 1, flags, payload)

    def s(self, flags, ack_off, extra=0):
        return frame(SERVER_MAC, CLIENT_MAC, SERVER_IP, CLIENT_IP, SERVER_PORT, self.cport,
                     self.sisn + extra, self.isn + 1 + ack_off, flags,
                     options=self.syn_options if flags & SYN else b"")

    def open(self):
        return [frame(CLIENT_MAC, SERVER_MAC, CLIENT_IP, SERVER_IP, self.cport, SERVER_PORT, self.isn, 0, SYN,
                      options=self.syn_options),
                self.s(SYN | ACK, 0, 0), self.c(0, ACK)]

    def close(self, n):
        # client FIN at offset n; server ACKs data+FIN and sends its own FIN; client ACKs it.
        return [self.s(ACK, n + 1, 1), self.s(FIN | ACK, n + 1, 1),
                frame(CLIENT_MAC, SERVER_MAC, CLIENT_IP, SERVER_IP, self.cport, SERVER_PORT,
                      self.isn + 2 + n, self.sisn + 2, ACK)]


def segments(data, size):
    return [(off, data[off:off + size]) for off in range(0, len(data), size)]


def build(rng):
    conns, frames, hole = [], [], None

    def payload(cid, n):
        head = b"CID %s\n" % cid.encode()
        return head + bytes(rng.randrange(256) for _ in range(n - len(head)))

    def emit(cid, cport, isn, data, client_segs, fin_first=False):
        c = Conn(cport, isn, rng.randrange(1 << 32))
        out = c.open()
        segs = [c.c(off, PSH | ACK, chunk) for off, chunk in client_segs]
        fin = c.c(len(data), FIN | ACK)
        if fin_first:
            out += segs[:-3] + [fin] + segs[-3:]
        else:
            out += segs + [fin]
        out += c.close(len(data))
        conns.append({"cid": cid, "sport": cport, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        return out

    # reorder
    data = payload("reorder", 20000)
    segs = segments(data, 1000)
    rng.shuffle(segs)
    frames.append(emit("reorder", 41001, rng.randrange(1 << 31), data, segs))
    # overlap: ranges overlapping each other, contained ones, and one superset retransmission
    data = payload("overlap", 12000)
    segs = []
    off = 0
    while off < len(data):
        end = min(len(data), off + rng.randrange(800, 1400))
        segs.append((off, data[off:end]))
        if off > 300:
            a = off - rng.randrange(1, 300)
            segs.append((a, data[a:min(len(data), a + rng.randrange(50, 900))]))
        off = end - rng.randrange(0, 200) if end < len(data) else end
    segs.append((2000, data[2000:3400]))  # <= MTU: spans several earlier segments
    segs.append((2500, data[2500:2600]))
    rng.shuffle(segs)
    frames.append(emit("overlap", 41002, rng.randrange(1 << 31), data, segs))
    # dup
    data = payload("dup", 15000)
    segs = []
    for s in segments(data, 1000):
        segs += [s] * rng.choice((2, 2, 3))
    rng.shuffle(segs)
    frames.append(emit("dup", 41003, rng.randrange(1 << 31), data, segs))
    # wrap: ISN 5000 bytes below 2^32
    data = payload("wrap", 16000)
    segs = segments(data, 1000)
    rng.shuffle(segs)
    frames.append(emit("wrap", 41004, (1 << 32) - 5000, data, segs))
    # mixed: overlaps + dups + reorder + FIN before the last data
    data = payload("mixed", 30000)
    segs = []
    for off, chunk in segments(data, 900):
        segs.append((off, chunk))
        if rng.random() < 0.3:
            segs.append((off, chunk))
        if rng.random() < 0.3 and off >= 400:
            segs.append((off - 400, data[off - 400:off + 200]))
    rng.shuffle(segs)
    frames.append(emit("mixed", 41005, (1 << 32) - 20000, data, segs, fin_first=True))
    # tiny segments
    data = payload("tiny", 3000)
    segs = []
    off = 0
    while off < len(data):
        n = rng.randrange(1, 8)
        segs.append((off, data[off:off + n]))
        off += n
    segs += rng.sample(segs, len(segs) // 4)
    rng.shuffle(segs)
    frames.append(emit("tiny", 41006, rng.randrange(1 << 31), data, segs))
    # conflict: later copies of already delivered / already buffered ranges carry DIFFERENT bytes;
    # first copy wins, so the shadow must still get the original stream.
    data = payload("conflict", 6000)
    junk = bytes(rng.randrange(256) for _ in range(len(data)))
    segs = [(0, data[0:1000]), (2000, data[2000:3000]),          # delivered, buffered (hole at 1000)
            (200, junk[200:900]), (2100, junk[2100:2900]),         # rewrites of both: ignored
            (1000, data[1000:2000]), (3000, data[3000:4400]), (4400, data[4400:5400]),
            (2500, junk[2500:3500]),                               # straddles delivered bytes
            (5400, data[5400:6000])]
    frames.append(emit("conflict", 41008, rng.randrange(1 << 31), data, segs))

    # window: a line-rate upload whose second segment is lost before the tap. Both SYNs offer window
    # scale 8, so the server's windows of 65535 advertise 16 MiB, and the client sends 6 MiB past the
    # hole (the server acknowledging only the first segment) before the retransmission. More than
    # the fixed per-direction bound (4 MiB), less than the window: replayed whole.
    data = b"CID window\n" + rng.randbytes((6 << 20) + 2 * 1448 - 11)
    c = Conn(41009, rng.randrange(1 << 31), rng.randrange(1 << 32), window_scale=8)
    segs = segments(data, 1448)
    out = c.open() + [c.c(0, PSH | ACK, segs[0][1]), c.s(ACK, 1448, 1)]
    for i, (off, chunk) in enumerate(segs[2:]):
        out.append(c.c(off, PSH | ACK, chunk))
        if i % 64 == 63:
            out.append(c.s(ACK, 1448, 1))  # duplicate ACKs: the hole is still there
    out.append(c.c(segs[1][0], PSH | ACK, segs[1][1]))  # the retransmission
    out.append(c.c(len(data), FIN | ACK))
    out += c.close(len(data))
    frames.append(out)
    conns.append({"cid": "window", "sport": 41009, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    # hole: segment 5 (bytes 5000..6000) never sent; later ones and the FIN are.
    data = payload("hole", 12000)
    c = Conn(41007, rng.randrange(1 << 31), rng.randrange(1 << 32))
    segs = segments(data, 1000)
    out = c.open() + [c.c(off, PSH | ACK, chunk) for off, chunk in segs if off != 5000]
    out.append(c.c(len(data), FIN | ACK))
    # the server only ever acknowledges up to the hole
    out.append(c.s(ACK, 5000, 1))
    frames.append(out)
    prefix = data[:5000]
    hole = {"cid": "hole", "sport": 41007, "bytes": len(prefix), "sha256": hashlib.sha256(prefix).hexdigest(),
            "sent_bytes": len(data) - 1000}
    return conns, frames, hole


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        t = 1_700_000_000.0
        for conn in frames:
            for fr in conn:
                t += 0.0001
                sec = int(t)
                f.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(fr), len(fr)))
                f.write(fr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-pcap", required=True)
    p.add_argument("--out-conns", required=True)
    p.add_argument("--out-hole", required=True)
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args()
    conns, frames, hole = build(random.Random(args.seed))
    write_pcap(args.out_pcap, frames)
    with open(args.out_conns, "w") as f:
        for c in conns:
            f.write(json.dumps(c, sort_keys=True) + "\n")
    with open(args.out_hole, "w") as f:
        json.dump(hole, f)
    print(json.dumps({"connections": len(conns) + 1, "frames": sum(len(c) for c in frames)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
