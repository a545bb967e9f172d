#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The harness's one reader of JSON files (the agent's `status --json`, the tools' summaries and
JSON lines), stdlib only.

  st_json.py get FILE EXPR     EXPR, a Python expression on `j` (the document); booleans print
                               as true/false, the way the shell scripts compare them
  st_json.py lines FILE EXPR   EXPR on `s`, the list of FILE's JSON lines
  st_json.py identities STATUS [--copies K] [--flows]
                               the replay counters of a `status --json` add up, per target:
                               opened + shed_backoff + shed_limit + skipped_empty + pending + queued + pooled
                               = flows established x K + pool_opened (only connections whose handshake was seen are
                               replayed; pending ones wait for their first byte), and
                               opened = completed + unconfirmed + aborted + shed_backlog +
                               shed_stalled + shed_no_socket + connect_failed + write_failed +
                               active; --flows: also flows
                               started = never_established + completed + reset + server_reset +
                               broken + evicted + idle_timeout + shutdown + shed_inflight + active. Exit 1 with
                               the broken identities on stderr.
"""
import argparse
import sys

from toollib import load_json, load_jsonl

REPLAY_OUTCOMES = ("completed", "unconfirmed", "aborted", "shed_backlog", "shed_stalled", "shed_no_socket",
                   "connect_failed", "write_failed")
FLOW_ENDS = ("never_established", "completed", "reset", "server_reset", "broken", "evicted", "idle_timeout",
             "shutdown", "shed_inflight")


def show(v):
    return str(v).lower() if isinstance(v, bool) else v


def identities(status, copies, flows):
    p = status["pipeline"]
    f = p["flows"]
    bad = []
    if flows:
        ends = sum(f[k] for k in FLOW_ENDS)
        if f["started"] != ends + f["active"]:
            bad.append("flows started %d != %s %d + active %d" % (f["started"], "+".join(FLOW_ENDS), ends, f["active"]))
    for t in p["replay"]["targets"]:
        # Pool connections (--http-pool) are routed and opened themselves, besides the flows.
        pool = t["pool_opened"]
        if t["routed"] != f["established"] * copies + pool:
            bad.append("%s: routed %d != flows established %d x %d + pool_opened %d" % (
                t["target"], t["routed"], f["established"], copies, pool))
        if t["opened"] + t["shed_backoff"] + t["shed_limit"] + t["skipped_empty"] + t["pending"] + t["queued"] + t["pooled"] != f["established"] * copies + pool:
            bad.append("%s: opened %d + shed_backoff %d + shed_limit %d + skipped_empty %d + pending %d + queued %d + pooled %d != flows established %d x %d + pool_opened %d" % (
                t["target"], t["opened"], t["shed_backoff"], t["shed_limit"], t["skipped_empty"], t["pending"], t["queued"],
                t["pooled"], f["established"], copies, pool))
        outs = sum(t[k] for k in REPLAY_OUTCOMES)
        if t["opened"] != outs + t["active"]:
            bad.append("%s: opened %d != %s %d + active %d" % (
                t["target"], t["opened"], "+".join(REPLAY_OUTCOMES), outs, t["active"]))
    # The wire-to-shadow ledger (status --json): every stage after the capture adds up; the
    # capture stage never follows more connections than the kernel admitted.
    for row in status.get("ledger", []):
        if row["stage"] == "followed by the agent":
            if row["unexplained"] < 0:
                bad.append("ledger: the agent followed %d connections, the kernel admitted only %d" % (row["out"], row["in"]))
        elif row["unexplained"] != 0:
            bad.append("ledger: %s: %d arrived, %d went on, short %s, unexplained %d" % (
                row["stage"], row["in"], row["out"], row["short"], row["unexplained"]))
    if p and "ledger" not in status:
        bad.append("status --json has a pipeline but no ledger")
    return bad


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("get", "lines"):
        sub.add_parser(name).add_argument("file")
        sub.choices[name].add_argument("expr")
    i = sub.add_parser("identities")
    i.add_argument("file")
    i.add_argument("--copies", type=int, default=1)
    i.add_argument("--flows", action="store_true")
    args = p.parse_args()
    if args.cmd == "get":
        print(show(eval(args.expr, {"j": load_json(args.file)})))  # noqa: S307 - the tests' own expressions
    elif args.cmd == "lines":
        print(show(eval(args.expr, {"s": load_jsonl(args.file)})))  # noqa: S307
    else:
        bad = identities(load_json(args.file), args.copies, args.flows)
        if bad:
            print("; ".join(bad), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
