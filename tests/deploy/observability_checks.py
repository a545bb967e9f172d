#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks of deploy/prometheus and deploy/grafana (ctest, no root, no server): promtool and structure.

  observability_checks.py rules RULES.yaml RULES_TEST.yaml
      `promtool check rules`; `promtool test rules`; every alert has a severity label and summary
      and description annotations; every alert is unit-tested both firing (a case with
      exp_alerts) and quiet (a case with exp_alerts: [])
  observability_checks.py config PROMETHEUS.yml DAEMONSET.yaml
      the example scrape config: job "shadowtap", keeps the DaemonSet's pods by their label and
      prometheus.io annotations (whose port/path match the DaemonSet's), loads the rules file; then
      `promtool check config` on a copy whose kubernetes_sd_configs (not built into Debian's
      promtool) is a static target, so the relabelling and the rule file are checked for real
  observability_checks.py dashboard DASHBOARD.json RULES.yaml
      Grafana JSON: unique panel ids, grid positions inside 24 columns without overlaps, every
      query on the ${datasource} variable, every $variable defined, every recording rule it reads
      defined in RULES.yaml, and every PromQL expression parsed by promtool (variables replaced)
  observability_checks.py selftest RULES.yaml RULES_TEST.yaml DASHBOARD.json
      the checks above must FAIL on broken copies (a threshold changed, the 0-ratio fallback
      removed, an alert without a quiet test, an unparsable or unknown dashboard query)
Exit 0 when everything holds; 1 with the problems otherwise.
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

# The test tools' shared library (tests/tools/toollib.py), imported as the harness runs the tools:
# without writing __pycache__ into the tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from toollib import Problems  # noqa: E402

problem = Problems("  problem: ")


def promtool(*args, cwd=None):
    r = subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd)
    return r.returncode, (r.stdout + r.stderr).strip()


def alerts_of(rules_doc):
    return [r for g in rules_doc["groups"] for r in g["rules"] if "alert" in r]


def records_of(rules_doc):
    return {r["record"] for g in rules_doc["groups"] for r in g["rules"] if "record" in r}


def check_rules(rules, tests):
    rc, out = promtool("check", "rules", rules)
    if rc:
        problem("promtool check rules %s: %s" % (rules, out))
    # rule_files in the test are relative to the test file: run from a copy next to the rules.
    tmp = tempfile.mkdtemp(prefix="st-rules-")
    try:
        doc = yaml.safe_load(open(tests))
        doc["rule_files"] = [os.path.abspath(rules)]
        path = os.path.join(tmp, "rules_test.yaml")
        yaml.safe_dump(doc, open(path, "w"), sort_keys=False)
        rc, out = promtool("test", "rules", path)
        if rc:
            problem("promtool test rules %s: %s" % (tests, out[-3000:]))
    finally:
        shutil.rmtree(tmp)
    rules_doc = yaml.safe_load(open(rules))
    firing, quiet = set(), set()
    for t in doc.get("tests", []):
        for a in t.get("alert_rule_test", []):
            (firing if a.get("exp_alerts") else quiet).add(a["alertname"])
    for a in alerts_of(rules_doc):
        name = a["alert"]
        if not a.get("labels", {}).get("severity"):
            problem("alert %s has no severity label" % name)
        for key in ("summary", "description"):
            if not a.get("annotations", {}).get(key):
                problem("alert %s has no %s annotation" % (name, key))
        if name not in firing:
            problem("alert %s is never tested firing (no alert_rule_test with exp_alerts)" % name)
        if name not in quiet:
            problem("alert %s is never tested quiet (no alert_rule_test with exp_alerts: [])" % name)
    print("rules: %d alerts, %d recording rules; promtool check + test rules" % (
        len(alerts_of(rules_doc)), len(records_of(rules_doc))))


def check_config(config, daemonset):
    doc = yaml.safe_load(open(config))
    ds = next(d for d in yaml.safe_load_all(open(daemonset)) if d and d.get("kind") == "DaemonSet")
    ann = ds["spec"]["template"]["metadata"]["annotations"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    jobs = {j["job_name"]: j for j in doc.get("scrape_configs", [])}
    job = jobs.get("shadowtap")
    if not job:
        problem("%s: no scrape job named shadowtap (the rules expect job=\"shadowtap\")" % config)
        return
    for f in doc.get("rule_files", []):
        if not os.path.exists(os.path.join(os.path.dirname(config), f)):
            problem("%s: rule file %s not found next to it" % (config, f))
    relabel = {tuple(r.get("source_labels", [])): r for r in job.get("relabel_configs", [])}
    keep_name = relabel.get(("__meta_kubernetes_pod_label_app_kubernetes_io_name",))
    if not keep_name or keep_name.get("action") != "keep" or not re.fullmatch(keep_name["regex"], labels["app.kubernetes.io/name"]):
        problem("%s: the job does not keep pods labelled app.kubernetes.io/name=%s" % (config, labels["app.kubernetes.io/name"]))
    keep_scrape = relabel.get(("__meta_kubernetes_pod_annotation_prometheus_io_scrape",))
    if not keep_scrape or not re.fullmatch(keep_scrape["regex"], ann.get("prometheus.io/scrape", "")):
        problem("%s: the job does not keep pods annotated prometheus.io/scrape" % config)
    port = relabel.get(("__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"))
    if not port:
        problem("%s: the job does not take the port from the prometheus.io/port annotation" % config)
    else:
        address = re.sub(r"\$(\d)", r"\\\1", port["replacement"])
        got = re.sub("^(?:" + port["regex"] + ")$", address, "10.0.0.7:1234;" + ann["prometheus.io/port"])
        if got != "10.0.0.7:" + ann["prometheus.io/port"]:
            problem("%s: the port relabelling turns the pod address into %s" % (config, got))
    path = relabel.get(("__meta_kubernetes_pod_annotation_prometheus_io_path",))
    if not path or path.get("target_label") != "__metrics_path__":
        problem("%s: the job does not take the path from the prometheus.io/path annotation" % config)
    sd = job.get("kubernetes_sd_configs", [])
    if not sd or sd[0].get("role") != "pod" or ds["metadata"]["namespace"] not in sd[0].get("namespaces", {}).get("names", []):
        problem("%s: the job does not discover pods in namespace %s" % (config, ds["metadata"]["namespace"]))
    # promtool on a copy that Debian's build can read.
    tmp = tempfile.mkdtemp(prefix="st-promcfg-")
    try:
        test_doc = copy.deepcopy(doc)
        for j in test_doc["scrape_configs"]:
            if j.pop("kubernetes_sd_configs", None) is not None:
                j["static_configs"] = [{"targets": ["192.0.2.1:9477"]}]
        test_doc["rule_files"] = [os.path.abspath(os.path.join(os.path.dirname(config), f)) for f in doc.get("rule_files", [])]
        path = os.path.join(tmp, "prometheus.yml")
        yaml.safe_dump(test_doc, open(path, "w"), sort_keys=False)
        rc, out = promtool("check", "config", path)
        if rc:
            problem("promtool check config (kubernetes_sd_configs as a static target): %s" % out)
    finally:
        shutil.rmtree(tmp)
    print("config: job shadowtap, DaemonSet label + annotations, rule files; promtool check config")


GRAFANA_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}


def expand(expr, variables):
    def sub(m):
        name = m.group(1) or m.group(2)
        if name in GRAFANA_VARS:
            return GRAFANA_VARS[name]
        if name not in variables:
            problem("query uses undefined variable $%s: %s" % (name, expr[:120]))
        return ".*"
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", sub, expr)


def check_dashboard(dashboard, rules):
    d = json.load(open(dashboard))
    records = records_of(yaml.safe_load(open(rules)))
    variables = {v["name"] for v in d.get("templating", {}).get("list", [])}
    for want in ("datasource", "job", "instance", "route", "target"):
        if want not in variables:
            problem("dashboard: no template variable %s" % want)
    if not d.get("uid") or not d.get("title"):
        problem("dashboard: no uid or title")
    ids, cells, exprs = set(), {}, []
    for p in d.get("panels", []):
        if p["id"] in ids:
            problem("dashboard: panel id %s used twice" % p["id"])
        ids.add(p["id"])
        g = p["gridPos"]
        if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
            problem("dashboard: panel %r outside the 24 columns: %s" % (p.get("title"), g))
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problem("dashboard: panels %r and %r overlap" % (cells[(x, y)], p.get("title")))
                    break
                cells[(x, y)] = p.get("title")
        if p["type"] == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problem("dashboard: panel %r is not on the ${datasource} variable" % p.get("title"))
        if not p.get("targets"):
            problem("dashboard: panel %r has no query" % p.get("title"))
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${datasource}":
                problem("dashboard: a query of %r is not on the ${datasource} variable" % p.get("title"))
            exprs.append((p.get("title"), t.get("expr", "")))
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q)
            if not m:
                problem("dashboard: variable %s: %s is not label_values(SELECTOR, LABEL)" % (v["name"], q))
            else:
                exprs.append(("variable " + v["name"], m.group(1)))
    for title, e in exprs:
        for name in re.findall(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", e):
            if name not in records:
                problem("dashboard: %r reads %s, which deploy/prometheus does not record" % (title, name))
    # Every expression through promtool's parser: one recording rule each.
    tmp = tempfile.mkdtemp(prefix="st-dash-")
    try:
        group = {"groups": [{"name": "dashboard", "rules": [
            {"record": "dashboard_query_%d" % i, "expr": expand(e, variables)} for i, (_, e) in enumerate(exprs)]}]}
        path = os.path.join(tmp, "dashboard_rules.yaml")
        yaml.safe_dump(group, open(path, "w"))
        rc, out = promtool("check", "rules", path)
        if rc:
            problem("dashboard: promtool cannot parse its queries: %s" % out[-2000:])
    finally:
        shutil.rmtree(tmp)
    print("dashboard: %d panels, %d queries parsed by promtool, variables and recording rules defined" % (
        len(ids), len(exprs)))


def selftest(rules, tests, dashboard):
    """Each mutation must make a check fail."""
    tmp = tempfile.mkdtemp(prefix="st-obs-self-")
    failures = []
    try:
        text = open(rules).read()

        def must_fail(what, fn):
            saved, problem.found, problem.quiet = problem.found, [], True  # the expected problems, unprinted
            try:
                fn()
            except Exception as e:  # a crash counts as caught too
                problem(str(e))
            caught = bool(problem.found)
            problem.found, problem.quiet = saved, False
            print("selftest: %s: %s" % (what, "caught" if caught else "NOT CAUGHT"))
            if not caught:
                failures.append(what)

        def rules_variant(name, new_text):
            path = os.path.join(tmp, name)
            open(path, "w").write(new_text)
            return path

        assert "      ) > 0.01\n" in text and "0 * sum by (target, route) (rate(shadowtap_http_responses_total[5m]))" in text
        must_fail("5xx margin 0.01 -> 0.5", lambda: check_rules(rules_variant("a.yaml", text.replace("      ) > 0.01\n", "      ) > 0.5\n", 1)), tests))
        must_fail("no 0-ratio fallback", lambda: check_rules(rules_variant("b.yaml", text.replace(
            "0 * sum by (target, route) (rate(shadowtap_http_responses_total[5m]))", "vector(0)", 1)), tests))
        must_fail("latency k 1.5 -> 3", lambda: check_rules(rules_variant("c.yaml", text.replace("1.5 * target_route", "3 * target_route")), tests))
        must_fail("latency k 1.5 -> 1.1", lambda: check_rules(rules_variant("c2.yaml", text.replace("1.5 * target_route", "1.1 * target_route")), tests))
        must_fail("agent down for 5m -> 1h", lambda: check_rules(rules_variant("d.yaml", text.replace("for: 5m", "for: 1h")), tests))
        doc = yaml.safe_load(open(tests))
        for t in doc["tests"]:
            t["alert_rule_test"] = [a for a in t.get("alert_rule_test", []) if not (a["alertname"] == "ShadowtapMirrorLoss" and not a.get("exp_alerts"))]
        path = os.path.join(tmp, "tests.yaml")
        yaml.safe_dump(doc, open(path, "w"), sort_keys=False)
        must_fail("an alert without a quiet test", lambda: check_rules(rules, path))

        d = json.load(open(dashboard))
        bad = copy.deepcopy(d)
        bad["panels"][2]["targets"][0]["expr"] = "sum by (route (rate(x[5m]))"
        path = os.path.join(tmp, "bad1.json")
        json.dump(bad, open(path, "w"))
        must_fail("a dashboard query that does not parse", lambda: check_dashboard(path, rules))
        bad = copy.deepcopy(d)
        bad["panels"][2]["targets"][0]["expr"] = "instance:shadowtap_nothing:ratio_rate5m"
        path = os.path.join(tmp, "bad2.json")
        json.dump(bad, open(path, "w"))
        must_fail("a dashboard query reading an unrecorded rule", lambda: check_dashboard(path, rules))
        bad = copy.deepcopy(d)
        bad["panels"][2]["targets"][0]["expr"] += " * $nosuchvar"
        path = os.path.join(tmp, "bad3.json")
        json.dump(bad, open(path, "w"))
        must_fail("a dashboard query using an undefined variable", lambda: check_dashboard(path, rules))
    finally:
        shutil.rmtree(tmp)
    if failures:
        problem("selftest: mutations not caught: %s" % failures)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    if shutil.which("promtool") is None:
        print("promtool not found (Debian package prometheus; scripts/deps.sh installs it)", file=sys.stderr)
        return 1
    {"rules": check_rules, "config": check_config, "dashboard": check_dashboard, "selftest": selftest}[cmd](*args)
    return problem.exit_status()


if __name__ == "__main__":
    sys.exit(main())
