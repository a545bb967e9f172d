#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The release-safety lab's read-outs (Python 3 stdlib only), used by scripts/demo.sh.

  lab_report.py clients NO_TAP.json WITH_TAP.json
      the primary as the client saw it, without and with the tap, side by side (poller.py output)
  lab_report.py verdicts REPORT.json --target HOST:PORT=LABEL... [--expect-same LABEL]
      one line per shadow from `shadowtap report --json`: slower / faster / errors / same as the
      primary. Latency rule: a route's p50 within +-25 % of the primary's is the same latency
      (both sides are timed by the kernel, from the request's last byte to the response's last
      byte: an identical version lands within it). --expect-same LABEL: exit 1 unless that
      version's verdict is "same as the primary" (the demo's check on v2)
  lab_report.py checks --primary LOG [--primary-skip N] --shadow LABEL=LOG... [--client NO_TAP.json WITH_TAP.json]
      the lab's own checks from the book services' logs (book_service.py --log); N = lines of the
      primary's log written before the tap started; exit status 1 if one fails
"""
import argparse
import json
import sys

EXCLUDED_USER = "demo-user"
# A route's p50 within +-25 % of the primary's is "the same latency" (the e2e timing test holds an
# identical shadow to the same rule).
SAME_LATENCY_LOW, SAME_LATENCY_HIGH = 0.75, 1.25
HOST_SUFFIX = "-shadow"


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def fmt_ms(value):
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


# ---------------------------------------------------------------------------------------- clients
def clients(args):
    a, b = load(args.no_tap), load(args.with_tap)
    codes = sorted(set(a["codes"]) | set(b["codes"]))
    rows = [("requests answered", f"{a['answered']} / {a['sent']}", f"{b['answered']} / {b['sent']}")]
    for code in codes:
        rows.append((f"  status {code}", str(a["codes"].get(code, 0)), str(b["codes"].get(code, 0))))
    err_a, err_b = sum(a["errors"].values()), sum(b["errors"].values())
    rows.append(("  failed (no answer)", str(err_a), str(err_b)))
    for key in ("avg", "p50", "p90", "p99", "max"):
        rows.append((f"latency {key} ms", fmt_ms(a["latency_ms"][key]), fmt_ms(b["latency_ms"][key])))
    print(f"   {'':22} {'primary, no tap':>17} {'primary, with tap':>19}")
    for name, x, y in rows:
        print(f"   {name:22} {x:>17} {y:>19}")
    print(f"   ({a['sent']} requests each at {a['rate']:g}/s over {a['elapsed_s']:g} s and {b['elapsed_s']:g} s, "
          f"same plan; {b['excluded_user_requests']} of them with end-user: {EXCLUDED_USER})")
    print("   (the tap never holds a user's packet: it clones it and lets it pass. On a small machine the")
    print("   tail moves from run to run, either way: the agent and three shadows share the primary's CPUs.")
    print("   bench/primary_overhead.sh measures the data path alone, see docs/benchmarks.md)")
    return 0


# --------------------------------------------------------------------------------------- verdicts
def main_row(rows):
    """The row with the most responses among 2xx ones (or among all, if none is 2xx)."""
    ok = [r for r in rows if 200 <= r["code"] < 300]
    pool = ok or rows
    return max(pool, key=lambda r: r["count"]) if pool else None


def verdicts(args):
    report = load(args.report)
    labels = {}
    for item in args.target:
        target, _, label = item.rpartition("=")
        labels[target] = label
    by = {}  # (target, route) -> rows
    for row in report.get("rows", []):
        by.setdefault((row["target"], row["route"]), []).append(row)
    disagree = {(d["target"], d["route"]): d for d in report.get("disagreements", [])}
    routes = sorted({route for _, route in by})
    primary_total = sum(r["count"] for (t, _), rows in by.items() if t == "primary" for r in rows)
    if primary_total == 0:
        print("   no primary responses in the report: nothing to compare")
        return 1

    failed = []
    for target, label in labels.items():
        name = f"{label} ({target})"
        total = sum(r["count"] for (t, _), rows in by.items() if t == target for r in rows)
        if total == 0:
            print(f"   {name}: no responses recorded — not compared")
            continue
        findings = []
        # Latency: the shadow's usual answer vs the primary's, per route.
        for route in routes:
            p, s = main_row(by.get(("primary", route), [])), main_row(by.get((target, route), []))
            if not p or not s:
                continue
            if s["p50_ms"] > SAME_LATENCY_HIGH * p["p50_ms"]:
                findings.append(f"{route} p50 {fmt_ms(s['p50_ms'])} ms vs primary {fmt_ms(p['p50_ms'])} ms — slower")
            elif s["p50_ms"] < SAME_LATENCY_LOW * p["p50_ms"]:
                findings.append(f"{route} p50 {fmt_ms(s['p50_ms'])} ms vs primary {fmt_ms(p['p50_ms'])} ms — faster")
        # Status codes: responses in another class than the primary's answer to the same request.
        diff_routes, diff_total, shadow_5xx, primary_codes = [], 0, 0, set()
        compared_total = 0
        for route in routes:
            d = disagree.get((target, route))
            if d:
                compared_total += d["compared"]
            if d and d["different_class"]:
                diff_total += d["different_class"]
                diff_routes.append(f"{route} {d['different_class']} of {d['compared']}")
                shadow_5xx += sum(r["count"] for r in by.get((target, route), []) if r["code"] >= 500)
                primary_codes |= {r["code"] for r in by.get(("primary", route), [])}
        if diff_total:
            if primary_codes == {200} and shadow_5xx == diff_total:
                head = f"{diff_total} responses 5xx where primary said 200"
            else:
                head = f"{diff_total} responses in another status class than the primary's"
            findings.append(f"{head} ({', '.join(diff_routes)}) — errors")
        no_answer = sum(r["count"] for (t, _), rows in by.items() if t == target for r in rows if r["code"] == 0)
        if no_answer:
            findings.append(f"{no_answer} requests without a response")
        if findings:
            for finding in findings:
                print(f"   {name}: {finding}")
            if label in args.expect_same:
                failed.append(label)
        else:
            print(f"   {name}: {total} responses, {compared_total} compared: same status classes and "
                  f"latency (p50 within 25 %) as the primary on every route — OK")
    for label in failed:
        print(f"   FAIL  {label} is expected to be the same as the primary")
    return 1 if failed else 0


# ----------------------------------------------------------------------------------------- checks
def read_log(path, skip=0):
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= skip and line.strip():
                out.append(json.loads(line))
    return out


def checks(args):
    failures = 0

    def check(ok, text):
        nonlocal failures
        print(f"   {'ok  ' if ok else 'FAIL'}  {text}")
        if not ok:
            failures += 1

    primary = read_log(args.primary, args.primary_skip)
    shadows = {}
    for item in args.shadow:
        label, _, log = item.partition("=")
        shadows[label] = read_log(log)

    excluded = [r for r in primary if r["end_user"] == EXCLUDED_USER]
    mirrorable = sorted(r["path"] for r in primary if r["end_user"] != EXCLUDED_USER)
    parts = [f"{label} {sum(1 for r in rs if r['end_user'] == EXCLUDED_USER)} of {len(rs)}"
             for label, rs in shadows.items()]
    leaked = sum(1 for rs in shadows.values() for r in rs if r["end_user"] == EXCLUDED_USER)
    check(len(excluded) > 0 and leaked == 0,
          f"end-user: {EXCLUDED_USER} requests seen: primary {len(excluded)} of {len(primary)} | " + " | ".join(parts))

    for label, rs in shadows.items():
        hosts = {}
        for r in rs:
            hosts[r["host"]] = hosts.get(r["host"], 0) + 1
        good = bool(rs) and all(h and h.rsplit(":", 1)[0].endswith(HOST_SUFFIX) for h in hosts)
        seen = ", ".join(f"{h} x{n}" for h, n in sorted(hosts.items(), key=lambda kv: -kv[1])) or "no request"
        check(good, f"{label}: Host header seen by the shadow: {seen}")

    for label, rs in shadows.items():
        paths = sorted(r["path"] for r in rs)
        same = paths == mirrorable
        check(same, f"{label}: got {len(rs)} requests, the primary's {len(mirrorable)} without the excluded user"
                    + (", path for path" if same else " (they differ)"))

    if args.client:
        a, b = load(args.client[0]), load(args.client[1])
        errors = sum(b["errors"].values())
        check(errors == 0 and a["codes"] == b["codes"],
              "users' answers with the tap: " + ", ".join(f"{c} x{n}" for c, n in b["codes"].items())
              + f", {errors} failed (without the tap: "
              + ", ".join(f"{c} x{n}" for c, n in a["codes"].items()) + f", {sum(a['errors'].values())} failed)")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("clients")
    p.add_argument("no_tap")
    p.add_argument("with_tap")
    p.set_defaults(func=clients)
    p = sub.add_parser("verdicts")
    p.add_argument("report")
    p.add_argument("--target", action="append", default=[], help="HOST:PORT=LABEL")
    p.add_argument("--expect-same", action="append", default=[], help="LABEL of a version that must match the primary")
    p.set_defaults(func=verdicts)
    p = sub.add_parser("checks")
    p.add_argument("--primary", required=True, help="the primary's log")
    p.add_argument("--primary-skip", type=int, default=0, help="lines written before the tap started")
    p.add_argument("--shadow", action="append", default=[], help="LABEL=LOG")
    p.add_argument("--client", nargs=2, metavar=("NO_TAP", "WITH_TAP"))
    p.set_defaults(func=checks)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
