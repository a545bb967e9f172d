#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reads `wrk --latency` output and prints "requests_per_s p50_us p99_us errors".

errors counts socket errors (connect, read, write, timeout) plus non-2xx/3xx responses.
Exits 1 when the output holds no requests/s or latency distribution (wrk failed)."""
import re
import sys

UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def to_us(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unknown latency '{text}'")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse(text):
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (rps and p50 and p99):
        raise ValueError("no Requests/sec or latency distribution in wrk output")
    errors = 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        errors += int(non2xx.group(1))
    return float(rps.group(1)), to_us(p50.group(1)), to_us(p99.group(1)), errors


def main():
    with open(sys.argv[1]) as f:
        text = f.read()
    try:
        rps, p50, p99, errors = parse(text)
    except ValueError as e:
        print(f"parse_wrk: {e}\n{text}", file=sys.stderr)
        return 1
    print(f"{rps:.2f} {p50:.1f} {p99:.1f} {errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
