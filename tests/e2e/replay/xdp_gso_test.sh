#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# XDP mode end to end with GSO super-packets and software checksums (issue 11): nginx in the tapped
# namespace answers 1 MiB pages, so its responses leave as GSO frames of up to 64 KiB, which
# tc_egress_ring copies into the BPF ring; requests arrive through XDP (no checksum state: the
# agent verifies them). With --shadow and --pcap:
#   - the pcap holds response frames larger than 9216 bytes (the old copy limit), none cut
#     (captured length = wire length), and ring_truncated stays 0;
#   - the agent verified checksums without dropping a good frame (capture.bad_checksum 0), no copy
#     was cut (capture.truncated 0), and every connection's server stream was reassembled whole
#     (flows.server_bytes >= the bytes nginx sent, no server stream lost, no flow broken);
#   - every request was replayed to the shadow and ended with a FIN.
# Usage: xdp_gso_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"
command -v nginx >/dev/null || fail "nginx is needed (scripts/deps.sh installs nginx-light)"

WEB=18081
SHADOW=19501
PAGE=$((1 << 20))
CONNS=10
serve_nginx web "$NS_SRV" "$SRV4:$WEB" "$PAGE"
serve_recorder gso "$H_TMP/shadow.jsonl" --port "$SHADOW"
# A TCP replay needs only the responses' headers, and by default the ring copy keeps only those
# (Ring.ResponsesAreCopiedUpToTheirTcpHeaderWhenAsked, many_pods_test): this test is about whole GSO
# frames in the ring, so it asks for responses whole.
export SHADOWTAP_CAPTURE_RESPONSES=1
agent_start --iface "$SRV_IF" --port "$WEB" --percent 100 --mode xdp --shadow "$SHD4:$SHADOW" --pcap "$H_TMP/xdp.pcap"

for i in $(seq "$CONNS"); do
  in_cli timeout 20 curl -fsS -o /dev/null "http://$SRV4:$WEB/" || fail "curl $i of the 1 MiB page failed"
done
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$CONNS" 20 || true
agent_settle gso 10 "xdp gso"
S="$H_TMP/gso.status.json"
assert_eq "ring_truncated (copies shorter than their frame)" 0 "$(counter "$S" ring_truncated)"
assert_eq "ring_full + ring_failed" 0 "$(($(counter "$S" ring_full) + $(counter "$S" ring_failed)))"
assert_eq "capture truncated" 0 "$(jget "$S" 'j["pipeline"]["capture"]["truncated"]')"
assert_eq "capture bad_checksum (good frames the software check would have dropped)" 0 \
  "$(jget "$S" 'j["pipeline"]["capture"]["bad_checksum"]')"
assert_eq "capture malformed" 0 "$(jget "$S" 'j["pipeline"]["capture"]["malformed"]')"
assert_eq "flows completed" "$CONNS" "$(jget "$S" 'j["pipeline"]["flows"]["completed"]')"
assert_eq "flows broken + server streams lost" 0 \
  "$(jget "$S" 'j["pipeline"]["flows"]["broken"] + j["pipeline"]["flows"]["server_streams_lost"]')"
assert_ge "server bytes reassembled (every 1 MiB response whole)" $((CONNS * PAGE)) \
  "$(jget "$S" 'j["pipeline"]["flows"]["server_bytes"]')"
assert_eq "replays completed" "$CONNS" "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
assert_eq "shadow streams ended by a FIN" "$CONNS" "$(count_lines "$H_TMP/shadow.jsonl" '"end": "eof"')"
agent_stop_checked

# The pcap (written from the same ring records): frames beyond 9216 bytes, none cut.
read -r big cut largest < <("$PYTHON" - "$H_TMP/xdp.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
off, big, cut, largest = 24, 0, 0, 0
while off + 16 <= len(data):
    _, _, incl, orig = struct.unpack("<IIII", data[off:off + 16])
    off += 16 + incl
    big += orig > 9216
    cut += incl < orig
    largest = max(largest, orig)
print(big, cut, largest)
PY
)
log "pcap: $big frames over 9216 bytes, largest $largest, $cut cut"
assert_gt "frames over 9216 bytes in the pcap (GSO responses copied whole)" 0 "$big"
assert_eq "frames cut in the pcap" 0 "$cut"
