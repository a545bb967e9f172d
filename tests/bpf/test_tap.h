// SPDX-License-Identifier: Apache-2.0
// One loaded copy of the real shadowtap programs (the agent's own Datapath) plus what the tests
// need around it: BPF_PROG_TEST_RUN per hook, typed map access, map resets between tests, and the
// ring buffer drained into records.
#pragma once

#include "bpf/datapath.h"
#include "bpf/pinned_maps.h"
#include "capture/ring_reader.h"
#include "packet_builder.h"

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace shadowtap::test {

enum class Hook { TcIngress, TcEgress, XdpIngress };
std::string hookName(Hook hook);
inline void PrintTo(Hook hook, std::ostream *os) {
  *os << hookName(hook);
}
inline bool isXdp(Hook hook) {
  return hook == Hook::XdpIngress;
}
inline bool isEgress(Hook hook) {
  return hook == Hook::TcEgress;
}

// The only verdicts the programs may give: "next", never an end of the chain. TC_ACT_UNSPEC (-1)
// continues a cls_bpf filter chain and is TCX_NEXT for tcx; TC_ACT_OK (0) would skip every later
// filter. XDP_PASS is 2.
inline constexpr uint32_t kTcActUnspec = static_cast<uint32_t>(-1);
inline constexpr uint32_t kXdpPass = 2;
inline uint32_t passVerdict(Hook hook) {
  return isXdp(hook) ? kXdpPass : kTcActUnspec;
}

struct RunResult {
  int err = 0;         // 0, or -errno of bpf_prog_test_run_opts
  uint32_t retval = 0; // the program's verdict
  Bytes out;           // data_out: the packet as the program left it
};

struct RingRecord {
  st_pkt_meta meta;
  Bytes frame;
};

inline constexpr uint32_t kTestSeed = 0x5eed5354u;
inline constexpr uint16_t kServicePort = 80;

class TestTap {
public:
  TestTap(Mode mode, uint32_t snaplen = ST_DEFAULT_SNAPLEN);

  Mode mode() const { return mode_; }
  uint32_t snaplen() const { return snaplen_; }
  // Whether a mirrored packet on `hook` is cloned (TC mode, TC hooks) or copied into the ring.
  bool ringOutput(Hook hook) const { return mode_ == Mode::Xdp || isXdp(hook); }
  uint32_t mirroredReason(Hook hook) const { return ringOutput(hook) ? ST_C_RING_SENT : ST_C_CLONED; }
  bool hasHook(Hook hook) const;

  // BPF_PROG_TEST_RUN of `hook` on `packet`; `mark` goes into __sk_buff.mark (TC hooks only).
  // `ifindex` (tc hooks): the interface the packet is seen on (__sk_buff.ifindex); 0: loopback.
  RunResult run(Hook hook, const Bytes &packet, uint32_t mark = 0, uint32_t ifindex = 0) const;
  // BPF_PROG_TEST_RUN of the capture fan-out's socket filter (TC mode): retval is its choice.
  RunResult runFanout(const Bytes &packet) const;
  // The same for the capture socket's filter (capture_snap): retval is how many bytes it keeps.
  RunResult runCaptureSnap(const Bytes &packet) const;

  TapMaps &maps() { return maps_; }
  CounterValues counters() const { return maps_.counters(); }
  int flowsFd() const;
  int ringGuardFd() const { return datapath_.ringGuardFd(); } // st_ring_guards (TC mode)
  std::optional<st_flow_decision> flow(const st_flow_key &key) const;

  // Back to the baseline every test starts from: no rules, no excludes, no flow decisions,
  // runtime {kTestSeed, ST_DEFAULT_MARK, enabled}, empty ring. Counters are never reset (tests
  // compare deltas), but the ring is drained.
  void reset();
  void setRule(uint16_t port, uint32_t ratePpm, uint32_t mirrorIfindex, uint32_t flags = ST_RULE_ENABLED);
  void removeRule(uint16_t port);
  void clearFlows();
  std::vector<RingRecord> drainRing(); // every record waiting in st_ring (XDP mode only)
  // Bytes the kernel has written into st_ring so far (its producer position, record headers and
  // padding included): the difference across a run is what one record costs the ring.
  uint64_t ringProducerPos() const;
  // The agent's reader of st_ring (XDP mode only); run() drains it after every run unless
  // drainAfterRun is false (to let records pile up, as under load).
  RingReader &ring() { return *ring_; }
  bool drainAfterRun = true;

private:
  RunResult runSocketFilter(int fd, const Bytes &packet) const;
  Mode mode_;
  uint32_t snaplen_;
  Datapath datapath_;
  TapMaps maps_;
  std::unique_ptr<RingReader> ring_;
  std::vector<RingRecord> pending_;
};

// Loaded once per process: verifying the programs is the slow part of a test.
TestTap &tcTap();  // Mode::Tc: tc_ingress + tc_egress clone
TestTap &xdpTap(); // Mode::Xdp: xdp_ingress + tc_egress copy into the ring
// The tap a hook's packets go through in the table tests.
inline TestTap &tapFor(Hook hook) {
  return isXdp(hook) ? xdpTap() : tcTap();
}

// BPF_PROG_TEST_RUN for skb programs refuses (EINVAL) a frame whose Ethernet type is IPv4 or
// IPv6 but which is too short for the fixed IP header: the kernel parses it to set up the skb's
// socket. Such frames do reach TC on a real NIC; the tests cover that path with the same
// truncation behind a VLAN tag (which test_run does not look into) and on XDP.
bool tcTestRunRefuses(const Bytes &packet);

// Counters after minus before.
CounterValues counterDelta(const CounterValues &before, const CounterValues &after);
// Empty if `delta` is one packet with terminal reason `reason` and exactly `events` (other events 0),
// else a message saying what differs.
std::string checkOnePacket(const CounterValues &delta, uint32_t reason, const std::vector<uint32_t> &events);
// Empty if seen == sum of terminal counters.
std::string checkBalanced(const CounterValues &counters);

st_lpm_key lpmKey(const std::string &cidr); // "10.0.0.0/24" (mapped, 96+24) or "fd00::/64"

} // namespace shadowtap::test
