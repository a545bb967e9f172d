#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The Prometheus e2e test's checks (stdlib + python3-yaml): a real Prometheus server scraped two agents
and evaluated deploy/prometheus/shadowtap-rules.yaml; this compares what its HTTP API answers with
what the agents report themselves.

  check_prometheus.py PROM_URL --agent INSTANCE=REPORT.json [--agent ...] --cluster CLUSTER.json
                      --rules RULES.yaml --dashboard DASHBOARD.json --slow TARGET --failing TARGET
                      --delay-ms MS

  1. names     every raw shadowtap_* series the rules and the dashboard use exists in Prometheus
               (so a renamed metric breaks this test, not a release owner's alert)
  2. rules     every recording and alerting rule evaluated without error (health "ok")
  3. agents    per instance, histogram_quantile(0.5/0.9/0.99) over shadowtap_http_response_duration_
               seconds_bucket by (target, route, code) lies in the same Prometheus bucket as the
               agent's own p50/p90/p99 (or the next one: rank conventions differ by < 1 sample);
               the counts are equal; avg from _sum/_count matches; the slow shadow's reviews take
               at least DELAY in both
  4. cluster   `report --prometheus --json` is the sum of the agents' reports: the same rows, counts
               and disagreements added up, avg the count-weighted mean, each quantile's bucket
               between the agents' own (Prometheus) buckets
  5. alerts    ShadowtapShadow5xxAbovePrimary is active (pending: `for` is 10m) for the failing
               shadow on GET /items/{id} only; ShadowtapShadowLatencyAbovePrimary for the slow
               shadow on GET /items/{id}/reviews (others are not judged: see check_alerts); no
               loss or agent-down alert
Prints what it checked; exit 1 with every problem found.
"""
import argparse
import json
import re
import sys
import urllib.parse
import urllib.request
from toollib import Problems

BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
QUANTILES = (("p50_ms", "0.5"), ("p90_ms", "0.9"), ("p99_ms", "0.99"))
problem = Problems("PROBLEM: ")


def api(url, path, **params):
    full = url + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(full, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError("%s: %s" % (full, body))
    return body["data"]


def query(url, promql):
    return api(url, "/api/v1/query", query=promql)["result"]


def bucket(seconds):
    for i, b in enumerate(BOUNDS):
        if seconds <= b:
            return i
    return len(BOUNDS)


def cell_key(labels):
    return (labels.get("route", ""), labels.get("target", ""), int(labels.get("code", "0")))


def expressions(rules_file, dashboard_file):
    """Every PromQL expression of the rules and the dashboard (queries and variables)."""
    exprs = [r["expr"] for g in load_yaml(rules_file)["groups"] for r in g["rules"]]
    d = json.load(open(dashboard_file))
    for p in d.get("panels", []):
        exprs += [t.get("expr", "") for t in p.get("targets", [])]
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        exprs.append(q.get("query", "") if isinstance(q, dict) else q or "")
    return exprs


def load_yaml(path):
    import yaml  # python3-yaml (scripts/deps.sh: the deploy checks use it too)
    return yaml.safe_load(open(path))


def check_names(url, rules_file, dashboard_file):
    # Raw series only: not the recording rules' names (level:metric:ops).
    used = set()
    for e in expressions(rules_file, dashboard_file):
        used |= set(re.findall(r"(?<![\w:])(shadowtap_[a-z0-9_]+)(?![\w:])", e))
    have = set(api(url, "/api/v1/label/__name__/values"))
    missing = sorted(n for n in used if n not in have)
    if missing:
        problem("the rules or the dashboard use series Prometheus never saw: %s" % missing)
    print("names: %d shadowtap_* series used by the rules and the dashboard, all scraped" % len(used))


def check_rules(url):
    groups = api(url, "/api/v1/rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rules if r.get("health") != "ok"]
    if not rules:
        problem("Prometheus loaded no rule")
    if bad:
        problem("rules not healthy: %s" % bad)
    print("rules: %d loaded, all healthy" % len(rules))
    return rules


def check_agents(url, agents, slow, delay_s):
    per = {}
    for name, q in QUANTILES:
        for s in query(url, "histogram_quantile(%s, sum by (instance, target, route, code, le) "
                            "(shadowtap_http_response_duration_seconds_bucket))" % q):
            per.setdefault((s["metric"]["instance"], cell_key(s["metric"])), {})[name] = float(s["value"][1])
    counts = {(s["metric"]["instance"], cell_key(s["metric"])): float(s["value"][1])
              for s in query(url, "sum by (instance, target, route, code) (shadowtap_http_responses_total)")}
    sums = {(s["metric"]["instance"], cell_key(s["metric"])): float(s["value"][1])
            for s in query(url, "sum by (instance, target, route, code) (shadowtap_http_response_duration_seconds_sum)")}
    checked = 0
    for instance, report in agents.items():
        rows = {cell_key(r): r for r in report["rows"]}
        prom_keys = {k for (i, k) in counts if i == instance}
        if set(rows) != prom_keys:
            problem("%s: cells differ: agent only %s, Prometheus only %s" % (
                instance, sorted(set(rows) - prom_keys), sorted(prom_keys - set(rows))))
        for key, row in rows.items():
            k = (instance, key)
            if counts.get(k) != row["count"]:
                problem("%s %s: count %s in Prometheus, %s in the agent's report" % (instance, key, counts.get(k), row["count"]))
            avg_ms = 1000 * sums.get(k, 0) / row["count"]
            if abs(avg_ms - row["avg_ms"]) > 0.002:
                problem("%s %s: avg %.4f ms from _sum/_count, %.4f ms in the agent's report" % (instance, key, avg_ms, row["avg_ms"]))
            for name, _ in QUANTILES:
                prom = per.get(k, {}).get(name)
                own = row[name] / 1000
                if prom is None or abs(bucket(prom) - bucket(own)) > 1:
                    problem("%s %s %s: Prometheus %s s, agent %s s: not in the same or a neighbouring bucket" % (
                        instance, key, name, prom, own))
                if key[1] == slow and key[0].endswith("/reviews") and (own < delay_s or (prom or 0) < BOUNDS[bucket(delay_s) - 1]):
                    problem("%s %s %s: the slow shadow's reviews: agent %s s, Prometheus %s s, delay %s s" % (
                        instance, key, name, own, prom, delay_s))
            checked += 1
    print("agents: %d cells of %d agents: counts equal, avg equal, p50/p90/p99 bucket-consistent" % (checked, len(agents)))
    return per


def check_cluster(cluster, agents, per):
    want = {}
    for report in agents.values():
        for r in report["rows"]:
            w = want.setdefault(cell_key(r), {"count": 0, "weighted": 0.0})
            w["count"] += r["count"]
            w["weighted"] += r["avg_ms"] * r["count"]
    got = {cell_key(r): r for r in cluster["rows"]}
    if set(got) != set(want):
        problem("cluster report cells differ from the agents' union: extra %s, missing %s" % (
            sorted(set(got) - set(want)), sorted(set(want) - set(got))))
    for key, w in want.items():
        r = got.get(key)
        if r is None:
            continue
        if r["count"] != w["count"]:
            problem("cluster %s: count %s, the agents' sum %s" % (key, r["count"], w["count"]))
        if abs(r["avg_ms"] - w["weighted"] / w["count"]) > 0.01:
            problem("cluster %s: avg %s ms, the agents' weighted mean %.4f ms" % (key, r["avg_ms"], w["weighted"] / w["count"]))
        for name, _ in QUANTILES:
            own = [per[(i, key)][name] for i in agents if (i, key) in per and name in per[(i, key)]]
            b = bucket(r[name] / 1000)
            if own and not (min(map(bucket, own)) <= b <= max(map(bucket, own))):
                problem("cluster %s %s: %s ms outside the agents' buckets (%s)" % (key, name, r[name], own))
    want_d = {}
    for report in agents.values():
        for d in report["disagreements"]:
            w = want_d.setdefault((d["route"], d["target"]), [0, 0])
            w[0] += d["compared"]
            w[1] += d["different_class"]
    got_d = {(d["route"], d["target"]): [d["compared"], d["different_class"]] for d in cluster["disagreements"]}
    if got_d != want_d:
        problem("cluster disagreements %s, the agents' sum %s" % (got_d, want_d))
    if cluster["routes_overflowed"] != sum(a["routes_overflowed"] for a in agents.values()):
        problem("cluster routes_overflowed %s" % cluster["routes_overflowed"])
    print("cluster: %d rows = the sum of %d agents' reports (%d responses), %d disagreement rows" % (
        len(got), len(agents), sum(w["count"] for w in want.values()), len(got_d)))


def check_alerts(url, slow, failing, report=True):
    """The comparison alerts the traffic must raise, and those it must not. Latency alerts on other
    (target, route) pairs are not judged: a p99 over ~200 requests of Python services on a shared
    box is noise (the slow shadow is single-threaded, so its 300 ms reviews also delay its
    /items/{id} answers)."""
    alerts = api(url, "/api/v1/alerts")["alerts"]
    active = sorted((a["labels"]["alertname"], a["labels"].get("target", ""), a["labels"].get("route", ""), a["state"])
                    for a in alerts)
    got = {(a, t, r) for a, t, r, _ in active}
    required = {("ShadowtapShadow5xxAbovePrimary", failing, "GET /items/{id}"),
                ("ShadowtapShadowLatencyAbovePrimary", slow, "GET /items/{id}/reviews")}
    unexpected = sorted(a for a in got if a not in required and a[0] != "ShadowtapShadowLatencyAbovePrimary")
    ok = required <= got and not unexpected
    if report:
        if not required <= got:
            problem("alerts missing: %s (active: %s)" % (sorted(required - got), active))
        if unexpected:
            problem("unexpected alerts: %s (a 5xx alert for another shadow or route, a loss or agent alert)" % unexpected)
        print("alerts: active %s" % active)
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("--agent", action="append", required=True, help="INSTANCE=REPORT.json")
    p.add_argument("--cluster", required=True)
    p.add_argument("--rules", required=True)
    p.add_argument("--dashboard", required=True)
    p.add_argument("--slow", required=True)
    p.add_argument("--failing", required=True)
    p.add_argument("--delay-ms", type=int, required=True)
    p.add_argument("--only", choices=("alerts",), help="only the alert check (exit 1 if not as expected yet)")
    args = p.parse_args()
    if args.only == "alerts":
        return 0 if check_alerts(args.url, args.slow, args.failing, report=False) else 1
    agents = {}
    for a in args.agent:
        instance, _, path = a.partition("=")
        agents[instance] = json.load(open(path))
    check_names(args.url, args.rules, args.dashboard)
    check_rules(args.url)
    per = check_agents(args.url, agents, args.slow, args.delay_ms / 1000)
    check_cluster(json.load(open(args.cluster)), agents, per)
    check_alerts(args.url, args.slow, args.failing)
    return problem.exit_status()


if __name__ == "__main__":
    sys.exit(main())
