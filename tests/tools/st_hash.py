#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Python port of the kernel's sampling decision (include/shadowtap/shared.h), stdlib only.

st_flow_hash hashes the direction-normalised connection key: both endpoints as 16-byte addresses
(IPv4 mapped ::ffff:a.b.c.d) read as four 32-bit words exactly as they sit in the packet (network
byte order bytes, loaded by a little-endian CPU), ports in host order, and the seed; the endpoint
that compares smaller (words, then port) comes first. st_sampled(h, ppm) = h % 1000000 < ppm.

  st_hash.py predict --seed S --rate-ppm R --server IP --server-port P --conns CLIENT.jsonl [--client IP]
prints the cids of the connections in CLIENT.jsonl (http_client.py records) the kernel samples.
"""
import argparse
import ipaddress
import json
import struct
import sys

M32 = 0xFFFFFFFF


def rotl32(x, r):
    return ((x << r) | (x >> (32 - r))) & M32


def mix_word(h, k):
    k = (k * 0xCC9E2D51) & M32
    k = rotl32(k, 15)
    k = (k * 0x1B873593) & M32
    h ^= k
    h = rotl32(h, 13)
    return (h * 5 + 0xE6546B64) & M32


def fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def addr_words(text):
    """The four __u32 words of an address as the BPF program loads them (little-endian host)."""
    ip = ipaddress.ip_address(text)
    raw = (ipaddress.IPv6Address("::ffff:" + text).packed if ip.version == 4 else ip.packed)
    return list(struct.unpack("<4I", raw))


def flow_hash(src, sport, dst, dport, seed):
    a, b = addr_words(src), addr_words(dst)
    swap = (a, sport) > (b, dport)  # st_endpoint_after: word by word, then port
    lo, hi = (b, a) if swap else (a, b)
    plo, phi = (dport, sport) if swap else (sport, dport)
    h = seed & M32
    for w in lo + hi:
        h = mix_word(h, w)
    h = mix_word(h, ((plo << 16) | phi) & M32)
    h = mix_word(h, 6)
    return fmix32(h ^ 40)


def sampled(h, rate_ppm):
    return h % 1000000 < rate_ppm


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("predict")
    pr.add_argument("--seed", type=lambda s: int(s, 0), required=True)
    pr.add_argument("--rate-ppm", type=int, required=True)
    pr.add_argument("--client", required=True)
    pr.add_argument("--server", required=True)
    pr.add_argument("--server-port", type=int, required=True)
    pr.add_argument("--conns", required=True)
    h = sub.add_parser("hash")
    h.add_argument("src")
    h.add_argument("sport", type=int)
    h.add_argument("dst")
    h.add_argument("dport", type=int)
    h.add_argument("seed", type=lambda s: int(s, 0))
    args = p.parse_args()
    if args.cmd == "hash":
        print(flow_hash(args.src, args.sport, args.dst, args.dport, args.seed))
        return 0
    with open(args.conns) as f:
        for line in f:
            c = json.loads(line)
            if sampled(flow_hash(args.client, c["sport"], args.server, args.server_port, args.seed), args.rate_ppm):
                print(c["cid"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
