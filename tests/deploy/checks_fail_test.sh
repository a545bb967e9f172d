#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The deploy checks must be able to fail: each mutation of a copy of the shipped files below must
# make deploy_checks.py exit non-zero (and the unmutated copy must pass). A broken shadowtap config
# must be refused by `shadowtap check-config` itself: those cases also match its FILE:LINE: KEY error.
# usage: checks_fail_test.sh PYTHON deploy_checks.py SOURCE_DIR BINARY
set -euo pipefail
PY=$1 CHECKS=$2 SRC=$3 BIN=$4
TMP=$(mktemp -d /tmp/st-checks.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
failures=0

fresh() { rm -rf "$TMP/d"; mkdir -p "$TMP/d"; cp -r "$SRC/deploy/." "$TMP/d/"; }
run_check() { # kind
  case $1 in
    kubernetes) "$PY" "$CHECKS" kubernetes "$TMP/d/kubernetes" "$BIN" ;;
    config) "$PY" "$CHECKS" config "$BIN" "$TMP/d/shadowtap.yaml" ;;
    systemd) "$PY" "$CHECKS" systemd "$TMP/d/systemd/shadowtap.service" "$BIN" "$TMP/d/kubernetes" ;;
    dockerfile) "$PY" "$CHECKS" dockerfile "$TMP/d" "$SRC/scripts/deps.sh" "$BIN" ;;
  esac >"$TMP/out" 2>&1
}
# expect_fail KIND FILE PYTHON_EXPR_ON_s DESCRIPTION [PATTERN]: with PATTERN (an extended regex),
# the check's output must also match it, i.e. it failed for that reason.
expect_fail() {
  fresh
  "$PY" - "$TMP/d/$2" "$3" <<'PYEOF'
import sys
p, expr = sys.argv[1], sys.argv[2]
s = open(p).read()
new = eval(expr, {"s": s})
assert new != s, "mutation changed nothing: " + expr
open(p, "w").write(new)
PYEOF
  if run_check "$1"; then
    echo "FAIL: $1 check passed a broken file: $4" >&2
    failures=$((failures + 1))
  elif [ -n "${5:-}" ] && ! grep -Eq -- "$5" "$TMP/out"; then
    echo "FAIL: $1 check rejects $4, but its output does not match /$5/: $(cat "$TMP/out")" >&2
    failures=$((failures + 1))
  else
    echo "ok: $1 check rejects: $4${5:+ ($(grep -Eo -- "$5" "$TMP/out" | head -1))}"
  fi
}
# What deploy_checks.py prints when `shadowtap check-config` refuses a file, up to its message.
REFUSED='shadowtap check-config \(exit 1\): shadowtap: [^ ]*shadowtap.yaml:[0-9]+: '


for k in kubernetes config systemd dockerfile; do
  fresh
  run_check "$k" || { echo "FAIL: $k check fails on the unmutated files" >&2; failures=$((failures + 1)); }
done

expect_fail kubernetes kubernetes/daemonset.yaml 's.replace("privileged: false", "privileged: true")' "privileged pod"
expect_fail kubernetes kubernetes/daemonset.yaml 's.replace("\"NET_RAW\"]", "\"NET_RAW\", \"SYS_ADMIN\"]")' "extra capability"
expect_fail kubernetes kubernetes/daemonset.yaml 's.replace("drop: [\"ALL\"]", "drop: [\"NET_RAW\"]")' "drop not ALL"
expect_fail kubernetes kubernetes/daemonset.yaml 's.replace("hostNetwork: true", "hostNetwork: false")' "no hostNetwork"
expect_fail kubernetes kubernetes/daemonset.yaml 's.replace("fieldPath: status.hostIP", "fieldPath: status.podIP")' "NODE_IP not the host IP"
expect_fail kubernetes kubernetes/daemonset.yaml 's.replace("path: /healthz", "path: /", 1)' "liveness not /healthz"
expect_fail kubernetes kubernetes/daemonset.yaml 's.replace("mountPropagation: HostToContainer", "mountPropagation: Bidirectional")' "Bidirectional without privileged"
expect_fail kubernetes kubernetes/daemonset.yaml 's.replace("prometheus.io/scrape: \"true\"", "prometheus.io/scrape: \"false\"")' "no scrape annotation"
expect_fail kubernetes kubernetes/daemonset.yaml 's.replace("memory: 512Mi", "memory: 64Mi")' "memory request above limit"
expect_fail kubernetes kubernetes/serviceaccount.yaml 's.replace("automountServiceAccountToken: false", "automountServiceAccountToken: true")' "token mounted"
expect_fail kubernetes kubernetes/serviceaccount.yaml 's + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: x}\nrules: []\n"' "RBAC object"
expect_fail kubernetes kubernetes/configmap.yaml 's.replace("value: 10", "value: 110")' "percentage above 100" \
  "${REFUSED}services\[0\]\.mirrorPercentage\.value: invalid --percent '110'"
expect_fail kubernetes kubernetes/configmap.yaml 's.replace("interfaceFromAddress", "interfaceFromAdress")' "misspelt config key" \
  "${REFUSED}interfaceFromAdress: unknown key"
expect_fail kubernetes kubernetes/configmap.yaml 's.replace("\"${NODE_IP}:9477\"", "\"${NODE_ADDR}:9477\"")' "a variable the pod does not set" \
  "${REFUSED}metricsAddress: environment variable NODE_ADDR is not set"
expect_fail kubernetes kubernetes/namespace.yaml 's.replace("  labels:", "  labelz:")' "namespace without PSA label"
expect_fail kubernetes kubernetes/example-shadow.yaml 's.replace("kind: Service\nmetadata:\n  name: reviews-shadow", "kind: Service\nmetadata:\n  name: reviews-v3")' "mirror target not a Service"
expect_fail config shadowtap.yaml 's.replace("mode: tc", "mode: tcp")' "unknown mode" "${REFUSED}mode: invalid --mode 'tcp'"
expect_fail config shadowtap.yaml 's.replace("10.0.0.0/8", "10.0.0.0/33")' "invalid CIDR" \
  "${REFUSED}excludeClients\[0\]: invalid CIDR '10.0.0.0/33'"
# Two that a schema kept next to the parser let through: YAML 1.1's `yes` for true, and a regex
# only Python's flavour accepts (the agent compiles ECMAScript).
expect_fail config shadowtap.yaml 's.replace("hostSuffix: true", "hostSuffix: yes")' "boolean spelt yes" \
  "${REFUSED}services\[1\]\.http\.hostSuffix: expected true or false"
expect_fail config shadowtap.yaml 's.replace("[0-9]+\"}", "(?P<id>[0-9]+)\"}")' "a regex that is not ECMAScript" \
  "${REFUSED}services\[1\]\.http\.match\[1\]\.uri\.regex"
expect_fail config shadowtap.yaml 's.replace("      port: 9080\n    #", "      port: 90800\n    #")' "mirror port out of range" \
  "${REFUSED}services\[0\]\.mirror\.port"
expect_fail systemd systemd/shadowtap.service 's.replace("ProtectSystem=strict", "ProtectSystem=strictx")' "invalid value (verify only warns)"
expect_fail systemd systemd/shadowtap.service 's.replace("[Install]", "Bogus=1\n[Install]")' "unknown key (verify only warns)"
expect_fail systemd systemd/shadowtap.service 's.replace("CapabilityBoundingSet=CAP_BPF", "CapabilityBoundingSet=CAP_SYS_ADMIN CAP_BPF")' "extra capability"
expect_fail systemd systemd/shadowtap.service 's.replace("NoNewPrivileges=yes\n", "")' "no NoNewPrivileges"
expect_fail dockerfile Dockerfile 's.replace("libbpf1 libxdp1", "libbpf1 libxdp1 build-essential")' "build tools in the final stage"
expect_fail dockerfile Dockerfile 's.replace("FROM debian:bookworm-slim", "FROM ubuntu:24.04")' "not Debian 12"
expect_fail dockerfile Dockerfile 's.replace(" libspdlog1.10", "")' "runtime library missing"
expect_fail dockerfile Dockerfile 's.replace("bpftool libelf-dev", "libelf-dev")' "build package of deps.sh missing"
expect_fail dockerfile .dockerignore 's.replace("\n.git\n", "\n")' "context keeps .git"

[ "$failures" -eq 0 ] || { echo "FAIL: $failures mutation(s) not caught" >&2; exit 1; }
echo "all mutations caught"
