# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# capture.sh: tcpdump on the mirror interface (the started agent's, $AGENT_MIRROR_RX, in $NS_SRV;
# CAPTURE_NS and CAPTURE_IF change that), and the connection summary of a capture
# (tests/tools/pcap_conns.py).

CAP_PID=""
CAP_FILE=""

# capture_start NAME [--snaplen N] [FILTER...]: writes $H_TMP/NAME.pcap. -U writes every packet at
# once; --immediate-mode matters more: without it libpcap uses TPACKET_V3, whose partly filled
# block (up to its 1 s timeout) is thrown away on SIGINT, losing the last connections of a capture.
# The default snaplen 1600 (the veth MTU plus headers) keeps ring slots small: with -s 0 a 256 KiB
# slot per packet leaves only a few dozen slots in the ring, and bursts are dropped. -Z root:
# tcpdump must not drop privileges before writing into our private (0700) tmp dir.
capture_start() {
  local name="$1" snap=1600
  shift
  if [ "${1:-}" = --snaplen ]; then
    snap="$2"
    shift 2
  fi
  CAP_FILE="$H_TMP/$name.pcap"
  local err="$H_TMP/$name.tcpdump.log" i ifc="${CAPTURE_IF:-$AGENT_MIRROR_RX}"
  [ -n "$ifc" ] || fail "capture_start: no CAPTURE_IF and no agent mirror interface (start the agent first)"
  ip netns exec "${CAPTURE_NS:-$NS_SRV}" tcpdump -i "$ifc" -n -U --immediate-mode -s "$snap" \
    -B 16384 -Z root -w "$CAP_FILE" "$@" >"$err" 2>&1 &
  CAP_PID=$!
  H_BG_PIDS+=("$CAP_PID")
  for ((i = 0; i < 100; i++)); do
    grep -q "listening on" "$err" 2>/dev/null && return 0
    kill -0 "$CAP_PID" 2>/dev/null || fail "tcpdump on $ifc died: $(cat "$err")"
    sleep 0.05
  done
  fail "tcpdump did not start within 5 s: $(cat "$err")"
}

# capture_stop [--allow-drops]: SIGINT (tcpdump flushes and closes the file), bounded wait; checks
# that the kernel dropped nothing (a drop would make a connection look incomplete: that is the
# harness's fault, so it says so), unless the caller only looks at frame sizes.
capture_stop() {
  local i
  sleep 0.3 # let the last clones cross the mirror veth
  kill -INT "$CAP_PID" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$CAP_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$CAP_PID" 2>/dev/null && fail "tcpdump did not stop on SIGINT"
  wait "$CAP_PID" || true
  [ "${1:-}" = --allow-drops ] && return 0
  local err="${CAP_FILE%.pcap}.tcpdump.log"
  if grep -Eq '^[1-9][0-9]* packets dropped by kernel' "$err"; then
    fail "tcpdump dropped packets, the capture is not trustworthy: $(cat "$err")"
  fi
}

# analyse PCAP OUT_JSON PORT... [--OPTION=VALUE...]: connection summary of a pcap (see
# tests/tools/pcap_conns.py; options go to it as they are).
analyse() {
  local pcap="$1" out="$2"
  shift 2
  local args=() p
  for p in "$@"; do
    case "$p" in
    --*) args+=("$p") ;;
    *) args+=(--port "$p") ;;
    esac
  done
  timeout 60 "$PYTHON" "$H_TOOLS/pcap_conns.py" "${args[@]}" "$pcap" >"$out" ||
    fail "pcap analysis of $pcap failed"
}
