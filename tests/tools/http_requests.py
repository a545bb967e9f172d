#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The HTTP e2e test's client (stdlib only): a fixed, reproducible plan of requests, sent over
short keep-alive connections (--per-conn requests each, one at a time), so every expected count
can be computed from the plan. Writes the plan with each request's status to --out (JSON).

Request i: id = i % 20 + 1; GET /items/{id}/reviews if i % 3 == 0 else GET /items/{id};
carries `end-user: e2e-excluded` if i % 7 == 0 (the test excludes that header).
Every request carries Authorization and Cookie (the test strips Authorization).
"""
import argparse
import http.client
import json
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--count", type=int, default=120)
    p.add_argument("--per-conn", type=int, default=4)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    plan = []
    conn = None
    for i in range(args.count):
        if i % args.per_conn == 0:
            if conn:
                conn.close()
            conn = http.client.HTTPConnection(args.host, args.port, timeout=10)
        item = i % 20 + 1
        path = "/items/%d/reviews" % item if i % 3 == 0 else "/items/%d" % item
        headers = {"Host": "items.e2e:8080", "Authorization": "Bearer secret-%d" % i, "Cookie": "session=%d" % i}
        excluded = i % 7 == 0
        if excluded:
            headers["end-user"] = "e2e-excluded"
        start = time.monotonic()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        plan.append({"i": i, "id": item, "path": path, "reviews": path.endswith("/reviews"),
                     "excluded": excluded, "status": resp.status,
                     "ms": (time.monotonic() - start) * 1000})
    if conn:
        conn.close()
    with open(args.out, "w") as f:
        json.dump(plan, f)


if __name__ == "__main__":
    main()
