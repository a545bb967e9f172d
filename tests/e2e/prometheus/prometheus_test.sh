#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prometheus for real: two "nodes", each a client namespace and a server namespace whose NIC its own
# agent taps (--protocol http, port 8080) with two shadows on the node (127.0.0.1:9101 adds
# DELAY_MS to GET /items/{id}/reviews, 127.0.0.1:9102 answers 500 for even ids: the same target
# names on both nodes, as a cluster Service name would be). A third namespace runs Debian's
# `prometheus` server (its own temporary storage), scraping both agents every second through their
# --metrics-addr and evaluating deploy/prometheus/shadowtap-rules.yaml.
#
#   [pa-cli] -> [pa-srv: primary :8080, shadows 127.0.0.1:9101/9102, agent A] --+
#                                                                                +-- [prom: prometheus]
#   [pb-cli] -> [pb-srv: primary :8080, shadows 127.0.0.1:9101/9102, agent B] --+
#
# Each client sends the HTTP test's fixed plan (tests/tools/http_requests.py). Then, through the
# Prometheus HTTP API (tests/tools/check_prometheus.py): the series the rules and the dashboard use
# exist, every rule evaluates, each agent's labelled histograms give what its own `report --json`
# says, `shadowtap report --prometheus URL --json` is the sum of the two agents' reports, and the
# comparison alerts are active for exactly the failing and the slow shadow. Finally the errors of
# `report --prometheus`: bad URL, unreachable, not Prometheus, --iface with --prometheus.
source "$(dirname "$0")/../lib.sh"
e2e_init "${1:-}"
command -v prometheus >/dev/null || fail "required tool 'prometheus' not found (scripts/deps.sh installs it)"
DELAY_MS=300
SLOW=127.0.0.1:9101
FAILING=127.0.0.1:9102
REQUESTS=160
NS_PROM="prom-$H_ID"
h_netns_add "$NS_PROM"

# node TAG NET LINK_NET: a client/server pair, the services, the server's link to the Prometheus
# namespace (LINK_NET.1 on the node, LINK_NET.2 on Prometheus' side) and the agent; the node's
# names are left in N_<TAG>_*.
node() {
  local tag="$1"
  unset SRV4 CLI4 SRV_SH4 SHD4
  H_NET="$2"
  h_topology "$tag"
  start_service "$tag-primary" 0.0.0.0 8080 ok
  start_service "$tag-slow" 127.0.0.1 9101 slow "$DELAY_MS"
  start_service "$tag-fail" 127.0.0.1 9102 fail
  h_veth "$NS_SRV" "${tag}m$H_ID" "$3.1/24" "$NS_PROM" "${tag}p$H_ID" "$3.2/24"
  h_wait_up "$NS_SRV" "${tag}m$H_ID"
  agent_start --iface "$SRV_IF" --port 8080 --protocol http --shadow "$SLOW" --shadow "$FAILING" \
    --metrics-addr "$3.1:9477"
  printf -v "N_${tag}_SRV" %s "$NS_SRV"
  printf -v "N_${tag}_CLI" %s "$NS_CLI"
  printf -v "N_${tag}_IF" %s "$SRV_IF"
  printf -v "N_${tag}_SRV4" %s "$SRV4"
  printf -v "N_${tag}_PID" %s "$AGENT_PID"
  printf -v "N_${tag}_LOG" %s "$AGENT_LOG"
  printf -v "N_${tag}_METRICS" %s "$3.1:9477"
}
node pa 10.95 10.97.1
node pb 10.96 10.97.2
NODES=(pa pb)
nv() { local v="N_$1_$2"; echo "${!v}"; } # nv TAG FIELD

# Prometheus: scrapes both agents every second, evaluates the rules every second.
mkdir -p "$H_TMP/prom/data"
cat >"$H_TMP/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $H_ROOT/deploy/prometheus/shadowtap-rules.yaml
scrape_configs:
  - job_name: shadowtap
    static_configs:
      - targets: ['$(nv pa METRICS)', '$(nv pb METRICS)']
EOF
PROM=http://127.0.0.1:9090
h_bg ip netns exec "$NS_PROM" prometheus --config.file="$H_TMP/prom/prometheus.yml" \
  --storage.tsdb.path="$H_TMP/prom/data" --web.listen-address=127.0.0.1:9090 --log.level=warn >"$H_TMP/prom/log" 2>&1
PROM_PID=$BG_PID
prom_ready() { in_ns "$NS_PROM" curl -sf --max-time 2 "$PROM/-/ready" >/dev/null 2>&1; }
h_wait_until "prometheus ready" 30 prom_ready || fail "prometheus did not get ready: $(tail -n 20 "$H_TMP/prom/log")"
pq() { # pq PROMQL: the first value of an instant query, or ""
  in_ns "$NS_PROM" curl -sf --max-time 5 -G "$PROM/api/v1/query" --data-urlencode "query=$1" |
    "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
both_up() { [ "$(pq 'sum(up{job="shadowtap"})')" = 2 ]; }
h_wait_until "both agents scraped" 30 both_up || fail "Prometheus does not scrape both agents: $(pq 'up')"
log "ok: prometheus $PROM_PID scrapes both agents"

# clients COUNT: the fixed plan's first COUNT requests on each node, both nodes at once.
clients() {
  local pids=() p t
  for t in "${NODES[@]}"; do
    timeout 90 ip netns exec "$(nv "$t" CLI)" "$PYTHON" "$H_TOOLS/http_requests.py" --host "$(nv "$t" SRV4)" \
      --port 8080 --count "$1" --per-conn 4 --out "$H_TMP/$t.plan.json" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "a client failed"; done
  log "clients: $1 requests on each node"
}
# Warm-up: 4 requests per node make every (target, route, code) series (primary and both shadows on
# both routes, the failing shadow's 500); Prometheus scrapes them small before the real traffic,
# as it would in a cluster where the series live long (rate() and increase() see no increment that
# happened before a series' first sample).
WARMUP=4
clients "$WARMUP"
cells_scraped() { [ "$(pq 'count(shadowtap_http_responses_total)')" = 14 ]; }
h_wait_until "the warm-up's 2 x 7 series in Prometheus" 30 cells_scraped ||
  fail "Prometheus has $(pq 'count(shadowtap_http_responses_total)') response series, expected 14"
sleep 2
clients "$REQUESTS"
REQUESTS=$((REQUESTS + WARMUP))

# Each agent: until every request has its two shadow answers and nothing is active.
for t in "${NODES[@]}"; do
  want=$((2 * REQUESTS))
  for _ in $(seq 150); do
    AGENT_NS="$(nv "$t" SRV)" status_json "$(nv "$t" IF)" "$H_TMP/$t.status.json"
    done_now=$(jget "$H_TMP/$t.status.json" "sum(x['active'] for x in j['pipeline']['replay']['targets']) == 0 and j['pipeline']['http']['shadow_responses'] >= $want and j['pipeline']['flows']['active'] == 0")
    [ "$done_now" = true ] && break
    sleep 0.2
  done
  assert_ge "$t: shadow responses" "$want" "$(jget "$H_TMP/$t.status.json" "j['pipeline']['http']['shadow_responses']")"
  AGENT_NS="$(nv "$t" SRV)" st report --iface "$(nv "$t" IF)" --json >"$H_TMP/$t.report.json" || fail "$t: report --json failed"
done

TRAFFIC_END=$SECONDS # every response counted: the counters do not move from here on

# The cluster report equals the sum once Prometheus has scraped the final counters (bounded wait).
total=$(jget "$H_TMP/pa.report.json" "sum(r['count'] for r in j['rows'])")
total=$((total + $(jget "$H_TMP/pb.report.json" "sum(r['count'] for r in j['rows'])")))
cluster() { in_ns "$NS_PROM" "$AGENT" report --prometheus "$PROM" "$@"; }
scraped_all() {
  cluster --json >"$H_TMP/cluster.json" 2>"$H_TMP/cluster.err" &&
    [ "$(jget "$H_TMP/cluster.json" "sum(r['count'] for r in j['rows'])")" = "$total" ]
}
h_wait_until "Prometheus holds the final counters" 30 scraped_all ||
  fail "report --prometheus counts $(jtry "$H_TMP/cluster.json" "sum(r['count'] for r in j['rows'])") responses, the agents $total: $(cat "$H_TMP/cluster.err")"
log "ok: report --prometheus --json: $total responses over both agents"
cluster >"$H_TMP/cluster.txt" || fail "report --prometheus (table) failed"
cat "$H_TMP/cluster.txt"
grep -q "^every agent scraped by $PROM, totals since each agent started" "$H_TMP/cluster.txt" ||
  fail "the table does not say where it comes from"
grep -q "^GET /items/{id}/reviews *$SLOW *200 " "$H_TMP/cluster.txt" || fail "the table has no row for the slow shadow's reviews"

# Alerts first become active once the rules have seen the traffic (evaluated every second).
alerts_as_expected() {
  in_ns "$NS_PROM" "$PYTHON" "$H_TOOLS/check_prometheus.py" "$PROM" --agent x=/dev/null --cluster /dev/null \
    --rules /dev/null --dashboard /dev/null --slow "$SLOW" --failing "$FAILING" --delay-ms "$DELAY_MS" \
    --only alerts >"$H_TMP/alerts.log" 2>&1
}
h_wait_until "the comparison alerts" 30 alerts_as_expected || log "alerts: $(cat "$H_TMP/alerts.log")"

in_ns "$NS_PROM" "$PYTHON" "$H_TOOLS/check_prometheus.py" "$PROM" \
  --agent "$(nv pa METRICS)=$H_TMP/pa.report.json" --agent "$(nv pb METRICS)=$H_TMP/pb.report.json" \
  --cluster "$H_TMP/cluster.json" --rules "$H_ROOT/deploy/prometheus/shadowtap-rules.yaml" \
  --dashboard "$H_ROOT/deploy/grafana/shadowtap.json" --slow "$SLOW" --failing "$FAILING" --delay-ms "$DELAY_MS" ||
  fail "Prometheus checks failed"
log "ok: Prometheus agrees with the agents' reports, the rules evaluate, the alerts point at the right shadows"

# --window: increase() over the window. One that covers all the traffic counts about all of it:
# increase() sees what came after each series' first sample (the warm-up may be left out) and
# extrapolates to the window's edges, by up to one scrape interval on a few seconds of samples.
# One that starts after the traffic ended counts nothing.
cluster --window 10m --json >"$H_TMP/cluster.window.json" || fail "report --prometheus --window 10m failed"
assert_between "report --prometheus --window 10m: responses" $(((total - 2 * 3 * WARMUP) * 95 / 100)) $((total * 3 / 2)) \
  "$(jget "$H_TMP/cluster.window.json" "sum(r['count'] for r in j['rows'])")"
sleep $((TRAFFIC_END + 6 - SECONDS > 0 ? TRAFFIC_END + 6 - SECONDS : 0))
cluster --window 3s --json >"$H_TMP/cluster.quiet.json" || fail "report --prometheus --window 3s failed"
assert_eq "report --prometheus --window 3s, 6 s after the last response: rows" 0 "$(jget "$H_TMP/cluster.quiet.json" "len(j['rows'])")"

# Errors: one line on stderr, non-zero exit, nothing on stdout.
expect_report_error() { # CODE TEXT ARGS...
  local code="$1" text="$2" rc=0
  shift 2
  in_ns "$NS_PROM" timeout 30 "$AGENT" report "$@" >"$H_TMP/err.out" 2>"$H_TMP/err.txt" || rc=$?
  assert_eq "report $* exit status" "$code" "$rc"
  [ "$(wc -l <"$H_TMP/err.txt")" = 1 ] || fail "report $*: expected one line on stderr, got: $(cat "$H_TMP/err.txt")"
  [ ! -s "$H_TMP/err.out" ] || fail "report $*: printed on stdout: $(cat "$H_TMP/err.out")"
  grep -qF -- "$text" "$H_TMP/err.txt" || fail "report $*: expected '$text' in: $(cat "$H_TMP/err.txt")"
  log "ok: report $*: $(cat "$H_TMP/err.txt")"
}
expect_report_error 2 "invalid --prometheus URL 'https://127.0.0.1:9090': https is not supported" --prometheus https://127.0.0.1:9090
expect_report_error 2 "invalid --prometheus URL 'http://127.0.0.1:99999'" --prometheus http://127.0.0.1:99999
expect_report_error 2 "--iface and --prometheus exclude each other" --prometheus "$PROM" --iface "$(nv pa IF)"
expect_report_error 2 "invalid --window '5 minutes'" --prometheus "$PROM" --window "5 minutes"
expect_report_error 1 "cannot query Prometheus at http://127.0.0.1:9091: Connection refused" --prometheus http://127.0.0.1:9091
# An agent's own endpoint is not Prometheus: 404 for /api/v1/query.
expect_report_error 1 "answered /api/v1/query with HTTP/1.1 404 Not Found (is this the URL of a Prometheus server?)" \
  --prometheus "http://$(nv pa METRICS)"

for t in "${NODES[@]}"; do
  AGENT_PID=$(nv "$t" PID) AGENT_LOG=$(nv "$t" LOG)
  agent_stop TERM
  assert_eq "$t: agent exit status" 0 "$AGENT_RC"
done
h_stop_pid "$PROM_PID" TERM 10
