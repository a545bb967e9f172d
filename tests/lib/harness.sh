# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# The one network-namespace harness of shadowtap: the e2e tests (tests/e2e/), the deploy probes
# (tests/deploy/caps_probe.sh, measure_resources.sh), the benchmarks (bench/) and the demo
# (scripts/demo.sh) all run on it. In the style of xdp-tools' lib/testing/test_runner.sh:
# everything a script makes has a per-run unique name, so scripts run in parallel and next to
# other users of the machine, and ONE EXIT/INT/TERM trap removes all of it whatever way the
# script ends: background processes (TERM, bounded wait, KILL), a tap left on an interface
# (detach), its pins and /run/shadowtap files, host-wide settings (restored), namespaces.
#
#   core.sh     ids, log/fail/asserts, the trap, the self-deadline, background processes, waits,
#               JSON readers (jget/jtry/jlines)
#   netns.sh    namespaces, veth pairs, the client -> server (tapped) -> shadow topology,
#               the router namespace with nftables impairment
#   agent.sh    agent start (waits for this agent's pid AND ready) / stop / status, counters,
#               tap checks, RSS sampling, clean-up of taps left behind
#   capture.sh  tcpdump on the mirror interface, pcap connection summaries
#   tools.sh    the Python tools of tests/tools/: servers (ready files), clients, comparisons
#
# Usage:
#   source "$ROOT/tests/lib/harness.sh"
#   h_init [--tool] [--need TOOL]...    # root, the trap, H_ID, H_TMP, the deadline
#   h_agent "$1"                        # the shadowtap binary
#   h_topology rp --shadow              # NS_CLI/NS_SRV/NS_SHD, CLI_IF/SRV_IF..., SRV4/CLI4/SHD4
#   agent_start --iface "$SRV_IF" --port 8080 --shadow "$SHD4:9000"
#   ...
#   agent_stop_checked
set -euo pipefail

# shellcheck source=tests/lib/core.sh
source "$(dirname "${BASH_SOURCE[0]}")/core.sh"
# shellcheck source=tests/lib/netns.sh
source "$H_LIB_DIR/netns.sh"
# shellcheck source=tests/lib/agent.sh
source "$H_LIB_DIR/agent.sh"
# shellcheck source=tests/lib/capture.sh
source "$H_LIB_DIR/capture.sh"
# shellcheck source=tests/lib/tools.sh
source "$H_LIB_DIR/tools.sh"
