#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Sends crafted TCP connections whose skbs are non-linear, for the headers-beyond-the-linear-area
e2e test (stdlib only).

  vnet_inject.py --iface IF --src IP --dst IP --dport P --out-conns C.jsonl [--conns N]
                 [--segment BYTES] [--segments K] [--bad-duplicate] [--dst-mac MAC]
                 [--server-netns NAME --server-iface IF]

Each frame is written to an AF_PACKET socket with PACKET_VNET_HDR and an all-zero virtio_net_hdr
(hdr_len 0, no GSO, no checksum offload). The kernel then builds the skb with only the link-layer
header (14 bytes) in its linear part and everything else in page fragments, as long as the frame
is larger than a page (packet_alloc_skb keeps smaller frames linear): the data segments are
--segment bytes of payload (default 6000, so the interface needs an MTU above that). Those skbs
cross the veth as they are, so a tc program on the peer sees its IP and TCP headers outside the
linear area.

A connection is the client's half: SYN, --segments data segments of --segment bytes, FIN. With
--server-netns/--server-iface it also plays the server's half of what a tap sees, on the server's
interface (a second packet socket opened in that namespace, sent through its egress hooks): the
SYN-ACK, an ACK for every data segment and the FIN-ACK, so the agent sees the handshake and the
acknowledgements it needs before it replays anything (it replays only what a server accepted).
Checksums are correct (IP and TCP). The destination MAC is not the peer's (--dst-mac, a locally
administered one by default): the peer's stack drops the frames as PACKET_OTHERHOST after its tc
hooks, so no answer (and no RST) ever comes back, while a tap on the peer's ingress sees them.
With --bad-duplicate, segment 1 is sent first as a copy with DIFFERENT payload bytes and a wrong
TCP checksum: a receiver that honours the checksum drops it, one that does not would take it as
the first copy of those bytes. The server never acknowledges the bad copy's bytes before the good
copy is sent. Each stream starts with "CID <cid>\\n" (tests/tools/compare.py).

C.jsonl gets one line per connection: cid, bytes, sha256 of the exact client stream. Prints a JSON
summary: frames sent, of which larger than a page, and bad-checksum duplicates.
"""
import argparse
import ctypes
import fcntl
import hashlib
import json
import os
import random
import socket
import struct
import sys
from toollib import csum

SOL_PACKET = 263
PACKET_VNET_HDR = 15
SIOCGIFHWADDR = 0x8927
SYN, FIN, PSH, ACK = 0x02, 0x01, 0x08, 0x10



def frame(dst_mac, src_mac, src, dst, sport, dport, seq, flags, payload, bad_csum=False, ack=1):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    check = csum(pseudo + tcp)
    if bad_csum:
        check ^= 0x5A5A
    tcp = tcp[:16] + struct.pack("!H", check) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp


def packet_socket(iface):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    sock.bind((iface, 0))
    ifreq = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("256s", iface.encode()[:15]))
    return sock, ifreq[18:24]


def enter_netns(name):
    """setns(2) into /run/netns/NAME (Python 3.11 has no os.setns); sockets made before stay where they are."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns " + name)
    finally:
        os.close(fd)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iface", required=True)
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, required=True)
    p.add_argument("--out-conns", required=True)
    p.add_argument("--conns", type=int, default=3)
    p.add_argument("--segment", type=int, default=6000)
    p.add_argument("--segments", type=int, default=5)
    p.add_argument("--bad-duplicate", action="store_true")
    p.add_argument("--dst-mac", default="02:53:54:00:00:99")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--server-netns", help="namespace of --server-iface (/run/netns/NAME)")
    p.add_argument("--server-iface", help="send the server's half out of this interface")
    args = p.parse_args()
    if bool(args.server_netns) != bool(args.server_iface):
        p.error("--server-netns and --server-iface go together")
    rnd = random.Random(args.seed)

    sock, src_mac = packet_socket(args.iface)
    server = None
    if args.server_iface:
        enter_netns(args.server_netns)
        server, server_mac = packet_socket(args.server_iface)
    dst_mac = bytes(int(x, 16) for x in args.dst_mac.split(":"))
    src, dst = socket.inet_aton(args.src), socket.inet_aton(args.dst)
    vnet = bytes(10)  # struct virtio_net_hdr, all zero: no GSO, no csum offload, hdr_len 0

    sent = big = bad = 0
    with open(args.out_conns, "a") as out:
        for c in range(args.conns):
            cid = "vn%d" % c
            body = ("CID %s\n" % cid).encode()
            total = args.segment * args.segments
            body += bytes(rnd.randrange(256) for _ in range(total - len(body)))
            sport = 41000 + c
            isn = rnd.randrange(1 << 32)
            sisn = rnd.randrange(1 << 32)
            # (socket, frame) in wire order; the server's frames answer the client's.
            def client(seq, flags, payload=b"", bad=False, ack=sisn + 1):
                frames.append((sock, frame(dst_mac, src_mac, src, dst, sport, args.dport, seq, flags, payload, bad,
                                           ack=ack & 0xFFFFFFFF if flags & ACK else 0)))

            def answer(seq, ack, flags):
                if server:
                    frames.append((server, frame(dst_mac, server_mac, dst, src, args.dport, sport, seq & 0xFFFFFFFF,
                                                 flags, b"", ack=ack & 0xFFFFFFFF)))

            frames = []
            client(isn, SYN)
            answer(sisn, isn + 1, SYN | ACK)
            client((isn + 1) & 0xFFFFFFFF, ACK)
            for i in range(args.segments):
                chunk = body[i * args.segment:(i + 1) * args.segment]
                seq = (isn + 1 + i * args.segment) & 0xFFFFFFFF
                if args.bad_duplicate and i == 1:
                    client(seq, ACK | PSH, bytes((b ^ 0xFF) for b in chunk), True)
                    bad += 1
                client(seq, ACK | PSH, chunk)
                answer(sisn + 1, isn + 1 + (i + 1) * args.segment, ACK)
            client((isn + 1 + total) & 0xFFFFFFFF, ACK | FIN)
            answer(sisn + 1, isn + 2 + total, ACK | FIN)
            client((isn + 2 + total) & 0xFFFFFFFF, ACK, ack=sisn + 2)
            for s, f in frames:
                s.send(vnet + f)
                sent += 1
                big += len(f) > 4096
            out.write(json.dumps({"cid": cid, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}) + "\n")
    print(json.dumps({"frames": sent, "frames_over_a_page": big, "bad_checksum_duplicates": bad}))


if __name__ == "__main__":
    sys.exit(main())
