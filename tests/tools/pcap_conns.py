#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Groups the TCP packets of a pcap file into connections and says which are complete.

Pure struct parsing (no scapy) of classic pcap (micro- or nanosecond, either byte order) with
Ethernet (802.1Q/802.1ad tags allowed), Linux cooked v1/v2 or raw IP link types; IPv4 and IPv6
(extension headers walked). A connection is complete when the capture holds its client SYN, the
server's SYN-ACK, a FIN from each side and payload in each direction: that is what "mirrored whole,
both directions" means for a short request/response connection.

Prints one JSON object: totals, per-port and per-client counts, a few incomplete examples, the
longest frame on the wire and (--count-over N) how many frames were longer than N bytes.
"""
import argparse
import ipaddress
import json
import struct
import sys

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
IPV6_EXT = {0, 43, 44, 51, 60, 135, 139, 140}


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError(f"{path}: {len(data)} bytes, not a pcap file")
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise ValueError(f"{path}: bad pcap magic 0x{magic:08x} (pcapng is not supported)")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    off, truncated = 24, False
    while off < len(data):
        if off + 16 > len(data):
            truncated = True
            break
        _, _, caplen, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        if off + caplen > len(data):
            truncated = True
            break
        yield linktype, data[off:off + caplen], orig
        off += caplen
    if truncated:
        # A torn last record means the writer did not flush: worth a loud line, not a crash.
        print(f"pcap_conns: {path}: last record truncated", file=sys.stderr)


def l3_of(linktype, frame):
    """(ethertype, offset of the IP header) or None."""
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        off, etype = 14, struct.unpack("!H", frame[12:14])[0]
        for _ in range(2):
            if etype in (0x8100, 0x88A8) and len(frame) >= off + 4:
                etype = struct.unpack("!H", frame[off + 2:off + 4])[0]
                off += 4
        return etype, off
    if linktype == LINKTYPE_LINUX_SLL:
        return (struct.unpack("!H", frame[14:16])[0], 16) if len(frame) >= 16 else None
    if linktype == LINKTYPE_LINUX_SLL2:
        return (struct.unpack("!H", frame[0:2])[0], 20) if len(frame) >= 20 else None
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not frame:
            return None
        return (0x0800 if frame[0] >> 4 == 4 else 0x86DD), 0
    if linktype == LINKTYPE_NULL:
        return (0x0800 if len(frame) > 4 and frame[4] >> 4 == 4 else 0x86DD), 4
    raise ValueError(f"unsupported link type {linktype}")


def parse_tcp(linktype, frame):
    """(src, sport, dst, dport, flags, seq, payload_len) or None for anything but TCP."""
    l3 = l3_of(linktype, frame)
    if not l3:
        return None
    etype, off = l3
    if etype == 0x0800:
        if len(frame) < off + 20 or frame[off] >> 4 != 4:
            return None
        ihl = (frame[off] & 0x0F) * 4
        total = struct.unpack("!H", frame[off + 2:off + 4])[0]
        frag = struct.unpack("!H", frame[off + 6:off + 8])[0]
        if frame[off + 9] != 6 or frag & 0x1FFF:
            return None
        src = ipaddress.IPv4Address(frame[off + 12:off + 16])
        dst = ipaddress.IPv4Address(frame[off + 16:off + 20])
        l4, l4_end = off + ihl, off + total
    elif etype == 0x86DD:
        if len(frame) < off + 40:
            return None
        nh = frame[off + 6]
        plen = struct.unpack("!H", frame[off + 4:off + 6])[0]
        src = ipaddress.IPv6Address(frame[off + 8:off + 24])
        dst = ipaddress.IPv6Address(frame[off + 24:off + 40])
        l4, l4_end = off + 40, off + 40 + plen
        for _ in range(8):
            if nh not in IPV6_EXT or len(frame) < l4 + 2:
                break
            if nh == 44:  # fragment header: only the first fragment carries TCP
                if struct.unpack("!H", frame[l4 + 2:l4 + 4])[0] & 0xFFF8:
                    return None
                nh, l4 = frame[l4], l4 + 8
            elif nh == 51:
                nh, l4 = frame[l4], l4 + (frame[l4 + 1] + 2) * 4
            else:
                nh, l4 = frame[l4], l4 + (frame[l4 + 1] + 1) * 8
        if nh != 6:
            return None
    else:
        return None
    if len(frame) < l4 + 20:
        return None
    sport, dport, seq = struct.unpack("!HHI", frame[l4:l4 + 8])
    doff = (frame[l4 + 12] >> 4) * 4
    flags = frame[l4 + 13]
    # Payload from the IP lengths, not the capture: a snaplen-cut frame still counts its data.
    payload = max(0, l4_end - l4 - doff)
    return str(src), sport, str(dst), dport, flags, seq, payload


class Conn:
    def __init__(self, key):
        self.key = key
        self.client = None  # (addr, port), known from the SYN or guessed from the service port
        self.server = None
        self.syn_seq = None
        self.syn = self.synack = self.fin_c = self.fin_s = self.rst = False
        self.data_c = self.data_s = 0
        self.packets = 0

    def complete(self):
        return (self.syn and self.synack and self.fin_c and self.fin_s and self.data_c > 0
                and self.data_s > 0 and not self.rst)

    def describe(self):
        c = self.client or self.key[0]
        s = self.server or self.key[1]
        missing = [n for n, v in (("client SYN", self.syn), ("server SYN-ACK", self.synack),
                                  ("client FIN", self.fin_c), ("server FIN", self.fin_s),
                                  ("client data", self.data_c), ("server data", self.data_s)) if not v]
        return (f"{c[0]}:{c[1]} -> {s[0]}:{s[1]}: {self.packets} packets"
                + (f", missing {', '.join(missing)}" if missing else "") + (", RST" if self.rst else ""))


def analyse(path, service_ports, over=()):
    conns, order = {}, []
    frames = tcp = max_len = 0
    frames_over = {str(n): 0 for n in over}
    for linktype, frame, orig in read_pcap(path):
        frames += 1
        max_len = max(max_len, orig)
        for n in over:
            frames_over[str(n)] += orig > n
        p = parse_tcp(linktype, frame)
        if not p:
            continue
        tcp += 1
        src, sport, dst, dport, flags, seq, payload = p
        a, b = (src, sport), (dst, dport)
        key = (min(a, b), max(a, b))
        conn = conns.get(key)
        is_syn = flags & TCP_SYN and not flags & TCP_ACK
        # A fresh SYN (new ISN) on a 4-tuple already seen starts a new connection: ephemeral
        # ports can be reused within one capture. A retransmitted SYN keeps its ISN.
        if conn is None or (is_syn and conn.syn and conn.syn_seq != seq):
            conn = Conn(key)
            conns[key] = conn
            order.append(conn)
        conn.packets += 1
        if is_syn:
            conn.syn, conn.syn_seq = True, seq
            conn.client, conn.server = a, b
        if conn.client is None:
            if flags & TCP_SYN and flags & TCP_ACK:
                conn.client, conn.server = b, a
            elif dport in service_ports:
                conn.client, conn.server = a, b
            elif sport in service_ports:
                conn.client, conn.server = b, a
        from_client = conn.client == a if conn.client else True
        if flags & TCP_SYN and flags & TCP_ACK and not from_client:
            conn.synack = True
        if flags & TCP_FIN:
            if from_client:
                conn.fin_c = True
            else:
                conn.fin_s = True
        if flags & TCP_RST:
            conn.rst = True
        if payload:
            if from_client:
                conn.data_c += payload
            else:
                conn.data_s += payload

    by_port, by_client = {}, {}
    for c in order:
        port = str((c.server or c.key[1])[1])
        addr = (c.client or c.key[0])[0]
        bp = by_port.setdefault(port, {"connections": 0, "complete": 0})
        bp["connections"] += 1
        bp["complete"] += c.complete()
        by_client[addr] = by_client.get(addr, 0) + 1
    incomplete = [c for c in order if not c.complete()]
    return {
        "file": path,
        "frames": frames,
        "max_frame_len": max_len,
        "frames_over": frames_over,
        "tcp_packets": tcp,
        "connections": len(order),
        "complete": len(order) - len(incomplete),
        "incomplete": len(incomplete),
        "with_rst": sum(c.rst for c in order),
        "by_port": by_port,
        "by_client": by_client,
        "incomplete_examples": [c.describe() for c in incomplete[:5]],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pcap")
    ap.add_argument("--port", action="append", type=int, default=[],
                    help="service port: tells client from server when a SYN is missing")
    ap.add_argument("--count-over", action="append", type=int, default=[],
                    help="also count the frames longer than this on the wire (original length)")
    args = ap.parse_args()
    print(json.dumps(analyse(args.pcap, set(args.port), args.count_over), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
