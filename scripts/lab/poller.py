#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The release-safety lab's client: polls the book service at a steady rate and measures it.

Open loop with Poisson arrivals at --rate: request i is sent at its own instant of the plan
(exponential gaps, drawn from the seed) whatever the previous ones are doing (a small thread pool
sends them), so a slow answer shows up as latency and never lowers the rate. Not a fixed tick: a
tick of 1/rate phase-locks with anything periodic on the same CPUs (at 20/s, the replay's 50 ms
pace delay would land every shadow's copy of a request on the primary's next request), so one side
would always run contended and the other never. Every
request uses its own TCP connection (connect, one GET, read the whole response, close): each
mirrored connection is one request, short-lived, and a slow shadow cannot build a queue behind a
long keep-alive connection.

The plan is drawn from --seed, so two runs with the same seed send the same requests in the same
order: 20% GET /books, 40% GET /books/{id}, 40% GET /books/{id}/reviews, ids uniform in 1..50, and
about --excluded-share of the requests carry `end-user: demo-user` (the user the lab never mirrors).

Prints one JSON object (also to --out): requests sent, count per status code, connection errors,
client-side latency (avg/p50/p90/p99/max in ms) overall and per route, and how many requests carried
the excluded user.

usage: poller.py --url http://ADDR:PORT [--host books:8080] [--rate 20] [--duration 20] [--seed 7]
                 [--excluded-share 0.15] [--out FILE] [--label TEXT]
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

ROUTES = [("GET /books", 0.2), ("GET /books/{id}", 0.4), ("GET /books/{id}/reviews", 0.4)]
EXCLUDED_HEADER = ("end-user", "demo-user")
BOOK_IDS = 50


def plan(seed, count, excluded_share):
    rng = random.Random(seed)
    names = [r for r, _ in ROUTES]
    weights = [w for _, w in ROUTES]
    out = []
    for _ in range(count):
        route = rng.choices(names, weights)[0]
        book_id = rng.randint(1, BOOK_IDS)
        path = route.split(" ", 1)[1].replace("{id}", str(book_id))
        excluded = rng.random() < excluded_share
        out.append((route, path, excluded))
    return out


def percentile(sorted_values, p):
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil
    return sorted_values[int(rank) - 1]


def summary(latencies):
    values = sorted(latencies)
    if not values:
        return {"avg": None, "p50": None, "p90": None, "p99": None, "max": None}
    return {
        "avg": round(sum(values) / len(values), 2),
        "p50": round(percentile(values, 50), 2),
        "p90": round(percentile(values, 90), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(values[-1], 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="http://ADDR:PORT of the service")
    parser.add_argument("--host", default="books:8080", help="Host header sent (the service's name)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--excluded-share", type=float, default=0.15)
    parser.add_argument("--timeout", type=float, default=5.0, help="per request, seconds")
    parser.add_argument("--out", help="also write the JSON summary here")
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    url = urlsplit(args.url)
    if url.scheme != "http" or not url.hostname:
        parser.error("--url must be http://ADDR:PORT")
    address, port = url.hostname, url.port or 80
    count = max(1, int(round(args.rate * args.duration)))
    requests = plan(args.seed, count, args.excluded_share)
    arrivals = random.Random(args.seed + 1)  # its own stream: the request plan stays what it was
    send_at = []
    t = 0.0
    for _ in requests:
        send_at.append(t)
        t += arrivals.expovariate(args.rate)

    lock = threading.Lock()
    codes = {}
    errors = {}
    latencies = []
    by_route = {r: [] for r, _ in ROUTES}

    def one(route, path, excluded):
        headers = {"Host": args.host, "Accept": "application/json", "User-Agent": "shadowtap-lab-poller"}
        if excluded:
            headers[EXCLUDED_HEADER[0]] = EXCLUDED_HEADER[1]
        start = time.monotonic()
        conn = http.client.HTTPConnection(address, port, timeout=args.timeout)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except Exception as e:  # noqa: BLE001 - every failure is counted by its kind
            with lock:
                kind = type(e).__name__
                errors[kind] = errors.get(kind, 0) + 1
            return
        finally:
            conn.close()
        ms = (time.monotonic() - start) * 1000
        with lock:
            codes[str(status)] = codes.get(str(status), 0) + 1
            latencies.append(ms)
            by_route[route].append(ms)

    workers = max(4, min(64, int(args.rate)))
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, request in enumerate(requests):
            delay = start + send_at[i] - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, *request)
    elapsed = time.monotonic() - start

    result = {
        "label": args.label,
        "sent": count,
        "answered": len(latencies),
        "codes": dict(sorted(codes.items())),
        "errors": errors,
        "excluded_user_requests": sum(1 for _, _, e in requests if e),
        "rate": args.rate,
        "elapsed_s": round(elapsed, 2),
        "latency_ms": summary(latencies),
        "routes": {r: dict(count=len(v), **summary(v)) for r, v in by_route.items()},
    }
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
