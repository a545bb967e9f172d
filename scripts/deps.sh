#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian 12 package that shadowtap's build, tests, demo and benchmarks need.
# Idempotent: packages already present are skipped, so a second run is fast and changes nothing.
set -euo pipefail

PACKAGES=(
  # build (python3: scripts/gen_stats.py writes the stats headers)
  build-essential cmake pkg-config clang llvm python3
  libbpf-dev libxdp-dev bpftool libelf-dev zlib1g-dev
  libboost-program-options-dev libboost-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev libcap-ng-dev libhttp-parser-dev
  libre2-dev libjemalloc-dev
  # tests
  googletest libgtest-dev
  # netns tests, demo and benchmarks
  iproute2 nftables tcpdump iperf3 wrk curl procps ethtool xdp-tools nginx-light
  # deploy checks (tests/deploy): YAML, systemd-analyze verify, ruby -c Vagrantfile; promtool
  # (deploy/prometheus rules, unit tests, config) and the prometheus server (e2e_prometheus).
  # On a host running systemd, installing prometheus also enables its service (port 9090); the
  # tests start their own server in a network namespace and do not use it.
  python3-yaml systemd ruby prometheus
  # the image, built and run (scripts/image.sh, ctest image_build_run): a Debian base from the
  # archive (mmdebstrap), podman's build (buildah inside) and runc
  podman runc mmdebstrap
  # replay e2e tests: crafted captures replayed onto the mirror interface
  tcpreplay
  # crafted TCP (tests/tools/tcp_craft.py): spoofed halves, bad checksums, stray RSTs
  python3-scapy
)

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: must run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps.sh: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps.sh: done"
