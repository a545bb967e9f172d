#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks the HTTP e2e run: the agent's report and counters, and what each shadow received,
against what the client's plan says must have happened. Prints one line per check; exits 1 on
the first list of failures."""
import json
import sys

from toollib import load_jsonl as load_lines


def main():
    plan_path, report_path, status_path, slow_log, fail_log, blob_sha, slow_name, fail_name, delay_ms = sys.argv[1:10]
    delay = float(delay_ms)
    plan = json.load(open(plan_path))
    report = json.load(open(report_path))
    status = json.load(open(status_path))
    failures = []

    def check(what, ok, detail=""):
        print(("ok: " if ok else "FAIL: ") + what + (" (" + detail + ")" if detail else ""))
        if not ok:
            failures.append(what)

    mirrored = [r for r in plan if not r["excluded"]]
    items = [r for r in mirrored if not r["reviews"]]
    reviews = [r for r in mirrored if r["reviews"]]
    even_items = [r for r in items if r["id"] % 2 == 0]
    check("client: every request answered 200 by the primary", all(r["status"] == 200 for r in plan))

    def row(target, route, code):
        for r in report["rows"]:
            if r["target"] == target and r["route"] == route and r["code"] == code:
                return r
        return None

    def count(target, route, code):
        r = row(target, route, code)
        return r["count"] if r else 0

    I, R = "GET /items/{id}", "GET /items/{id}/reviews"
    check("primary %s 200 count" % I, count("primary", I, 200) == len(items), "%d vs %d" % (count("primary", I, 200), len(items)))
    check("primary %s 200 count" % R, count("primary", R, 200) == len(reviews), "%d vs %d" % (count("primary", R, 200), len(reviews)))
    check("slow shadow %s 200 count" % R, count(slow_name, R, 200) == len(reviews))
    check("slow shadow %s 200 count" % I, count(slow_name, I, 200) == len(items))
    check("fail shadow %s 500 count = even ids" % I, count(fail_name, I, 500) == len(even_items),
          "%d vs %d" % (count(fail_name, I, 500), len(even_items)))
    check("fail shadow %s 200 count = odd ids" % I, count(fail_name, I, 200) == len(items) - len(even_items))
    check("fail shadow %s 200 count" % R, count(fail_name, R, 200) == len(reviews))
    for r in report["rows"]:
        check("no row with an unexpected code: %s %s %s" % (r["target"], r["route"], r["code"]),
              r["code"] in (200, 500) and (r["code"] == 200 or r["target"] == fail_name))

    slow = row(slow_name, R, 200)
    prim = row("primary", R, 200)
    if slow and prim:
        check("slow shadow %s p50 within [delay, delay+250 ms]" % R, delay <= slow["p50_ms"] <= delay + 250,
              "p50 %.1f ms, delay %.0f ms" % (slow["p50_ms"], delay))
        check("slow shadow %s p99 within [delay, delay+400 ms]" % R, delay <= slow["p99_ms"] <= delay + 400,
              "p99 %.1f ms" % slow["p99_ms"])
        check("primary %s p50 below 100 ms" % R, prim["p50_ms"] < 100, "p50 %.2f ms" % prim["p50_ms"])
        check("primary latency is non-zero (timed from packet timestamps)", prim["avg_ms"] > 0)
    fast = row(slow_name, I, 200)
    if fast:
        check("slow shadow %s p50 below 100 ms (only reviews are slow)" % I, fast["p50_ms"] < 100, "%.2f" % fast["p50_ms"])

    dis = {(d["target"], d["route"]): d for d in report.get("disagreements", [])}
    d = dis.get((fail_name, I))
    check("fail shadow disagreements on %s = even ids" % I, d is not None and d["different_class"] == len(even_items)
          and d["compared"] == len(items), json.dumps(d))
    d = dis.get((slow_name, R))
    check("slow shadow never disagrees on %s" % R, d is not None and d["different_class"] == 0 and d["compared"] == len(reviews), json.dumps(d))

    h = status["pipeline"]["http"]
    excluded = len([r for r in plan if r["excluded"]])
    check("counters: requests", h["requests"] == len(plan), "%d vs %d" % (h["requests"], len(plan)))
    check("counters: excluded", h["excluded"] == excluded)
    check("counters: mirrored", h["mirrored"] == len(mirrored))
    check("counters: rewritten (every mirrored head rewritten)", h["rewritten"] == len(mirrored))
    check("counters: one non-HTTP flow replayed as TCP", h["not_http"] == 1)
    check("counters: shadow responses = 2 x mirrored", h["shadow_responses"] == 2 * len(mirrored))
    check("counters: no unpaired / unanswered", h["primary_unpaired"] == 0 and h["shadow_unpaired"] == 0
          and h["shadow_no_response"] == 0 and h["primary_unanswered"] == 0, json.dumps(h))

    for name, path in (("slow", slow_log), ("fail", fail_log)):
        records = load_lines(path)
        reqs = [r for r in records if "method" in r]
        raws = [r for r in records if "raw_sha256" in r]
        check("%s shadow received exactly the mirrored requests" % name, len(reqs) == len(mirrored),
              "%d vs %d" % (len(reqs), len(mirrored)))
        check("%s shadow never saw the excluded end-user" % name, all("end-user" not in r["headers"] for r in reqs))
        check("%s shadow never saw Authorization" % name, all("authorization" not in r["headers"] for r in reqs))
        check("%s shadow kept Cookie (not removed here)" % name, all("cookie" in r["headers"] for r in reqs))
        check("%s shadow got x-shadowtap: e2e" % name, all(r["headers"].get("x-shadowtap") == ["e2e"] for r in reqs))
        check("%s shadow Host has the -shadow suffix" % name,
              all(r["headers"].get("host") == ["items.e2e-shadow:8080"] for r in reqs),
              str(reqs[0]["headers"].get("host")) if reqs else "")
        check("%s shadow got the same paths in order" % name, [r["path"] for r in reqs] == [r["path"] for r in mirrored]
              or sorted(r["path"] for r in reqs) == sorted(r["path"] for r in mirrored))
        check("%s shadow got the non-HTTP stream byte for byte" % name, [r["raw_sha256"] for r in raws] == [blob_sha],
              json.dumps(raws))

    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
