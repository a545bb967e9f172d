#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Truthful privileges (issue 11): what a running agent really holds, read from /proc/<agent>/status
# (CapEff, CapPrm, CapBnd, CapInh, CapAmb, NoNewPrivs) once it is ready, for
#   - root with every capability, tc mode and xdp mode;
#   - uid 0 with only BPF, PERFMON, NET_ADMIN and NET_RAW (bounding = inheritable = ambient = those:
#     what a container with `drop: [ALL], add: [...]` and the systemd unit give it), tc mode;
# checked against the table "What the running agent holds" that README.md and docs/security.md
# both carry (same rows, same values): the docs say only what this test shows.
# Usage: caps_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "${1:-}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"

PORT=18095
e2e_make_pair
e2e_start_server "$PORT"

# caps HEX: the capability names of a mask, comma-separated, in bit order (linux/capability.h).
caps() {
  "$PYTHON" -c '
import sys
names = ["chown","dac_override","dac_read_search","fowner","fsetid","kill","setgid","setuid","setpcap",
  "linux_immutable","net_bind_service","net_broadcast","net_admin","net_raw","ipc_lock","ipc_owner",
  "sys_module","sys_rawio","sys_chroot","sys_ptrace","sys_pacct","sys_admin","sys_boot","sys_nice",
  "sys_resource","sys_time","sys_tty_config","mknod","lease","audit_write","audit_control","setfcap",
  "mac_override","mac_admin","syslog","wake_alarm","block_suspend","audit_read","perfmon","bpf",
  "checkpoint_restore"]
v = int(sys.argv[1], 16)
print(",".join(n for i, n in enumerate(names) if v >> i & 1) or "none")' "$1"
}
field() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$AGENT_PID/status"; }

# doc_row FILE KEY: the cells (after the first) of the row of the table whose first cell is KEY,
# backticks and "(as given)" notes removed, "|"-separated.
doc_row() {
  grep -F "| $2 |" "$1" | head -n1 | sed -e 's/`//g' -e 's/ (as given)//g' | awk -F'|' '{
    out = ""; for (i = 3; i < NF; i++) { gsub(/^ +| +$/, "", $i); out = out (i > 3 ? "|" : "") $i } print out }'
}

scenario() { # KEY MODE [WRAP...]
  local key="$1" mode="$2"
  shift 2
  AGENT_WRAP=("$@")
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --mode "$mode"
  local eff prm bnd inh amb nnp
  eff="$(caps "$(field CapEff)")" prm="$(caps "$(field CapPrm)")" bnd="$(caps "$(field CapBnd)")"
  inh="$(caps "$(field CapInh)")" amb="$(caps "$(field CapAmb)")" nnp="$(field NoNewPrivs)"
  log "$key: CapEff $eff; CapPrm $prm; CapBnd $bnd; CapInh $inh; CapAmb $amb; NoNewPrivs $nnp"
  assert_eq "$key: CapPrm = CapEff" "$eff" "$prm"
  assert_eq "$key: CapInh" none "$inh"
  assert_eq "$key: CapAmb" none "$amb"
  grep -q 'capabilities: effective and permitted now only' "$AGENT_LOG" || fail "$key: the agent did not log what it kept"
  local doc want
  for doc in README.md docs/security.md; do
    want="$(doc_row "$ROOT/$doc" "$key")"
    [ -n "$want" ] || fail "$doc has no row '| $key |' in its capability table"
    assert_eq "$key: $doc says (CapEff = CapPrm | CapBnd | NoNewPrivs)" "$want" "$eff|$bnd|$nnp"
  done
  # Still does its job with what it kept.
  e2e_client "$H_TMP/client.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 3
  agent_stop_checked
  check_untapped "$NS_SRV" "$SRV_IF" 0 "$key, after SIGTERM"
  AGENT_WRAP=()
}

FOUR=+bpf,+perfmon,+net_admin,+net_raw
scenario "root, tc mode" tc
scenario "root, xdp mode" xdp
scenario "uid 0 with BPF, PERFMON, NET_ADMIN, NET_RAW only, tc mode" tc \
  setpriv --bounding-set "-all,$FOUR" --inh-caps "-all,$FOUR" --ambient-caps "-all,$FOUR"
