#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Wraps every frame of a capture in VXLAN, as AWS VPC Traffic Mirroring delivers mirrored packets
to its target (stdlib only), for the collector e2e test.

  vxlan_wrap.py --in CAP.pcap --out OUT.pcap --src IP --dst IP --dst-mac MAC --vni N[,N...]
                [--port 4789] [--junk]

Each frame becomes Ethernet / IPv4 (src -> dst) / UDP (a source port per inner connection, dport
--port, checksum 0 as RFC 7348 allows) / VXLAN (I flag, --vni) / the original frame, with the
original timestamps. With several VNIs each frame is sent once per VNI, interleaved (frame 1 in
every VNI, then frame 2...): the same connections mirrored from several nodes at once, which a
collector must keep apart. --junk appends, after them, one UDP datagram to the port that is not VXLAN
(no I flag) and one frame of another VNI (the largest given + 1): a collector must count both and replay
neither. Prints one JSON line: {"frames": N, "junk": 2 or 0}. Classic pcap in and out.
"""
import argparse
import json
import struct
import zlib

from toollib import csum


def ipv4_header(src, dst, payload_len, ident):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident & 0xFFFF, 0x4000, 64, 17, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):  # micro- or nanosecond, little-endian (what tcpdump writes here)
        raise SystemExit(f"{path}: not a little-endian classic pcap file")
    endian = "<"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise SystemExit(f"{path}: link type {linktype}, expected Ethernet (1)")
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(endian + "IIII", data[off:off + 16])
        out.append((sec, frac, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return data[:24], out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--in", dest="inp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--dst-mac", required=True)
    p.add_argument("--vni", required=True, help="one VNI, or several comma separated")
    p.add_argument("--port", type=int, default=4789)
    p.add_argument("--junk", action="store_true")
    a = p.parse_args()
    src, dst = bytes(map(int, a.src.split("."))), bytes(map(int, a.dst.split(".")))
    eth = bytes.fromhex(a.dst_mac.replace(":", "")) + bytes.fromhex("02aa00000001") + b"\x08\x00"
    header, frames = read_pcap(a.inp)
    records = []

    def wrap(frame, vni, flags=0x08):
        # The source port from the inner frame's addresses and ports, as VXLAN senders choose it.
        sport = 49152 + (zlib.crc32(frame[26:38]) % 16384)
        vxlan = struct.pack("!B3xI", flags, vni << 8) + frame
        udp = struct.pack("!HHHH", sport, a.port, 8 + len(vxlan), 0) + vxlan
        return eth + ipv4_header(src, dst, len(udp), len(records)) + udp

    vnis = [int(v) for v in a.vni.split(",")]
    for sec, frac, frame in frames:
        for vni in vnis:
            records.append((sec, frac, wrap(frame, vni)))
    junk = 0
    if a.junk and frames:
        sec, frac, frame = frames[-1]
        records.append((sec, frac + 1, wrap(frame, vnis[0], flags=0)))
        records.append((sec, frac + 2, wrap(frame, max(vnis) + 1)))
        junk = 2
    with open(a.out, "wb") as f:
        f.write(header[:16] + struct.pack("<I", 262144) + header[20:])  # same timestamp unit; room for 50 more bytes
        for sec, frac, rec in records:
            f.write(struct.pack("<IIII", sec, frac, len(rec), len(rec)) + rec)
    print(json.dumps({"frames": len(frames) * len(vnis), "junk": junk}))


if __name__ == "__main__":
    main()
