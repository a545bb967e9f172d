#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compares what the shadow recorder received with what the clients sent (stdlib only).

  compare.py --client C.jsonl [--client ...] --shadow S.jsonl [--port P] [--copies K]
             [--expect-cids FILE] [--allow-missing]

Client records (http_client.py / craft_pcap.py): cid, bytes, sha256. Shadow records (recorder.py,
event "close"): port, peer_port, end, bytes, sha256, head; the cid is read from the head (request
line "METHOD /<cid>/...", or "CID <cid>" for crafted streams). Expected: every client connection
(or only those listed in --expect-cids) arrives on port P exactly K times, each copy ended by a FIN
("eof") and byte-identical (same length and SHA-256), the K copies from K distinct source ports;
no other connection arrives. The multiset of (length, sha256) is compared as well, so a stream
whose head was damaged is still caught. --allow-missing: a connection may also not arrive at all
(shed whole under overload); one that arrives must still be complete and exact ("missing" in the
report counts those that did not). With it, a connection that reached the shadow carrying no byte at
all and ended by a reset is not a stream of anyone's: it is a replay the agent gave up before its
first byte left (a connect that timed out while the shadow's accept queue overflowed, then accepted
late), counted by the agent as a failure; the report counts these "empty_resets". Prints a JSON
report; exit 1 on any difference.
"""
import argparse
import collections
import json
import re
import sys

from toollib import load_jsonl as load

CID_RE = re.compile(r"^(?:[A-Z]+ /([^/ ]+)/|CID ([^\s]+))")


def cid_of(head):
    m = CID_RE.match(head or "")
    return (m.group(1) or m.group(2)) if m else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--client", action="append", required=True)
    p.add_argument("--shadow", required=True)
    p.add_argument("--port", type=int)
    p.add_argument("--copies", type=int, default=1)
    p.add_argument("--expect-cids")
    p.add_argument("--allow-missing", action="store_true")
    args = p.parse_args()

    client = {}
    for path in args.client:
        for c in load(path):
            client[c["cid"]] = c
    expected = set(client)
    if args.expect_cids:
        with open(args.expect_cids) as f:
            expected = {line.strip() for line in f if line.strip()}
    shadow = [r for r in load(args.shadow) if r.get("event") == "close" and (args.port is None or r["port"] == args.port)]

    problems = []
    by_cid = collections.defaultdict(list)
    unknown = []
    empty_resets = 0
    for r in shadow:
        cid = cid_of(r.get("head"))
        if cid in client:
            by_cid[cid].append(r)
        elif args.allow_missing and r["bytes"] == 0 and r["end"] == "rst":
            empty_resets += 1
        else:
            unknown.append(r)
    for r in unknown[:5]:
        problems.append("shadow stream from no known client connection: %s" % json.dumps(
            {k: r.get(k) for k in ("port", "peer_port", "end", "bytes", "head")})[:300])
    identical = 0
    missing = 0
    for cid in sorted(set(client) | set(by_cid)):
        got = by_cid.get(cid, [])
        want = args.copies if cid in expected else 0
        if not got and want and args.allow_missing:
            missing += 1
            continue
        if len(got) != want:
            problems.append("%s: expected %d shadow copies, got %d (%s)" % (
                cid, want, len(got), [(g["end"], g["bytes"]) for g in got][:6]))
        c = client[cid]
        for g in got:
            if g["end"] != "eof" or g["bytes"] != c["bytes"] or g["sha256"] != c["sha256"]:
                problems.append("%s: shadow copy from port %s ended %s with %d bytes sha %s..., client sent %d bytes sha %s..." % (
                    cid, g["peer_port"], g["end"], g["bytes"], g["sha256"][:12], c["bytes"], c["sha256"][:12]))
            else:
                identical += 1
        ports = [g["peer_port"] for g in got]
        if len(set(ports)) != len(ports):
            problems.append("%s: copies share a source port: %s" % (cid, ports))
    want_ms = collections.Counter()
    for cid in expected:
        if cid in client:
            want_ms[(client[cid]["bytes"], client[cid]["sha256"])] += args.copies
        else:
            problems.append("%s: expected cid has no client record" % cid)
    got_ms = collections.Counter((r["bytes"], r["sha256"]) for r in shadow if r["end"] == "eof")
    if args.allow_missing:  # only what did arrive must match: no stream the clients did not send
        want_ms = collections.Counter({k: v for k, v in want_ms.items() if k in got_ms})
    multiset_equal = want_ms == got_ms
    if not multiset_equal:
        absent = want_ms - got_ms  # not `missing`: that one is the --allow-missing count reported below
        extra = got_ms - want_ms
        problems.append("multiset of (bytes, sha256) differs: %d expected streams missing, %d unexpected (e.g. missing %s, extra %s)" % (
            sum(absent.values()), sum(extra.values()), list(absent)[:2], list(extra)[:2]))
    report = {
        "client_connections": len(client), "expected_connections": len(expected & set(client)),
        "copies": args.copies, "shadow_streams": len(shadow), "identical_streams": identical, "missing": missing, "empty_resets": empty_resets,
        "shadow_ends": dict(collections.Counter(r["end"] for r in shadow)),
        "multiset_equal": multiset_equal, "problems": len(problems), "examples": problems[:12],
    }
    print(json.dumps(report))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
