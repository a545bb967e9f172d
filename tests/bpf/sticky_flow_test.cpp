// SPDX-License-Identifier: Apache-2.0
// Sticky per-connection decisions: the SYN decides, every later packet of the connection (both
// directions, any hook of the same tap) follows the SYN even after the rate changes; packets with
// no recorded decision are decided by hash against the current rate and counted flow_stateless.
#include "netns_environment.h"
#include "test_packets.h"
#include "test_tap.h"

#include "bpf/counter_names.h"
#include "bpf/pinned_maps.h"

#include <gtest/gtest.h>

namespace shadowtap::test {
namespace {

struct TapKind {
  std::string name;
  bool xdp; // XDP mode: xdp_ingress + tc_egress write the ring; TC mode: tc_ingress + tc_egress clone
};

void PrintTo(const TapKind &k, std::ostream *os) {
  *os << k.name;
}

class StickyFlows : public ::testing::TestWithParam<TapKind> {
protected:
  void SetUp() override {
    tap_ = GetParam().xdp ? &xdpTap() : &tcTap();
    tap_->reset();
    setRate(0);
  }
  Hook ingress() const { return GetParam().xdp ? Hook::XdpIngress : Hook::TcIngress; }
  void setRate(uint32_t ppm) { tap_->setRule(kServicePort, ppm, static_cast<uint32_t>(mirrorIfindex())); }

  // Runs one packet of `shape` (request on ingress, response on egress) and returns its terminal
  // reason; checks verdict, packet and that exactly `events` were counted besides.
  // `ifindex`: the interface it is seen on (tc hooks only; 0: the tests' usual one, loopback).
  uint32_t send(const TcpShape &shape, bool egress, std::vector<uint32_t> events = {}, uint32_t ifindex = 0) {
    Hook hook = egress ? Hook::TcEgress : ingress();
    Bytes packet = tcpPacket(shape, egress).build();
    auto before = tap_->counters();
    RunResult result = tap_->run(hook, packet, 0, ifindex);
    auto delta = counterDelta(before, tap_->counters());
    EXPECT_EQ(result.err, 0);
    EXPECT_EQ(result.out, packet);
    tap_->drainRing();
    uint32_t reason = ST_C_MAX;
    for (uint32_t i = ST_C_DISABLED; i <= ST_C_RING_FAILED; i++)
      if (delta[i])
        reason = i;
    EXPECT_EQ(checkOnePacket(delta, reason, events), "") << hookName(hook);
    return reason;
  }
  uint32_t mirrored(bool egress) const { return tap_->mirroredReason(egress ? Hook::TcEgress : ingress()); }

  TestTap *tap_ = nullptr;
};

TcpShape packetOf(uint16_t clientPort, uint8_t flags, bool v6 = false) {
  TcpShape s = tcpShape(clientPort, flags);
  s.v6 = v6;
  return s;
}

TEST_P(StickyFlows, NotMirroredAtSynStaysNotMirroredAfterRateRises) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "ipv6" : "ipv4");
    setRate(0);
    EXPECT_EQ(counterName(send(packetOf(41000, kTcpSyn, v6), false, {ST_C_FLOW_DECIDED})), "not_sampled");
    setRate(ST_RATE_SCALE);
    // The rest of the handshake and the data, both directions: all follow the SYN, no stateless event.
    EXPECT_EQ(send(packetOf(41000, kTcpSyn | kTcpAck, v6), true), ST_C_NOT_SAMPLED);
    EXPECT_EQ(send(packetOf(41000, kTcpAck, v6), false), ST_C_NOT_SAMPLED);
    EXPECT_EQ(send(packetOf(41000, kTcpAck | kTcpPsh, v6), false), ST_C_NOT_SAMPLED);
    EXPECT_EQ(send(packetOf(41000, kTcpAck | kTcpPsh, v6), true), ST_C_NOT_SAMPLED);
    EXPECT_EQ(send(packetOf(41000, kTcpFin | kTcpAck, v6), true), ST_C_NOT_SAMPLED);
    // A new connection at the new rate is mirrored.
    EXPECT_EQ(send(packetOf(41001, kTcpSyn, v6), false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED}), mirrored(false));
    EXPECT_EQ(send(packetOf(41001, kTcpSyn | kTcpAck, v6), true), mirrored(true));
  }
}

TEST_P(StickyFlows, MirroredAtSynStaysMirroredAfterRateDrops) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "ipv6" : "ipv4");
    setRate(ST_RATE_SCALE);
    EXPECT_EQ(send(packetOf(42000, kTcpSyn, v6), false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED}), mirrored(false));
    setRate(0);
    EXPECT_EQ(send(packetOf(42000, kTcpSyn | kTcpAck, v6), true), mirrored(true));
    EXPECT_EQ(send(packetOf(42000, kTcpAck, v6), false), mirrored(false));
    EXPECT_EQ(send(packetOf(42000, kTcpAck | kTcpPsh, v6), true), mirrored(true));
    EXPECT_EQ(send(packetOf(42000, kTcpRst, v6), false), mirrored(false));
    // A new connection at rate 0 is not.
    EXPECT_EQ(send(packetOf(42001, kTcpSyn, v6), false, {ST_C_FLOW_DECIDED}), ST_C_NOT_SAMPLED);
  }
}

TEST_P(StickyFlows, NoRecordIsStatelessAndFollowsTheCurrentRate) {
  setRate(ST_RATE_SCALE);
  EXPECT_EQ(send(packetOf(43000, kTcpAck), false, {ST_C_FLOW_STATELESS}), mirrored(false));
  EXPECT_EQ(send(packetOf(43000, kTcpAck), true, {ST_C_FLOW_STATELESS}), mirrored(true));
  setRate(0);
  EXPECT_EQ(send(packetOf(43000, kTcpAck), false, {ST_C_FLOW_STATELESS}), ST_C_NOT_SAMPLED);
  EXPECT_EQ(send(packetOf(43000, kTcpAck | kTcpPsh, true), true, {ST_C_FLOW_STATELESS}), ST_C_NOT_SAMPLED);
  // A SYN-ACK is not a SYN: it records nothing, so the connection stays stateless.
  EXPECT_EQ(send(packetOf(43001, kTcpSyn | kTcpAck), true, {ST_C_FLOW_STATELESS}), ST_C_NOT_SAMPLED);
  EXPECT_EQ(send(packetOf(43001, kTcpAck), false, {ST_C_FLOW_STATELESS}), ST_C_NOT_SAMPLED);
}

TEST_P(StickyFlows, SynRecordsTheDecisionInStFlows) {
  setRate(ST_RATE_SCALE);
  TcpShape syn = packetOf(44000, kTcpSyn);
  send(syn, false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED});
  uint32_t client[4], server[4];
  shapeAddrs(syn, client, server);
  st_flow_key key{};
  st_flow_key_make(&key, server, syn.servicePort, client, syn.clientPort); // either order gives the same key
  auto decision = tap_->flow(key);
  ASSERT_TRUE(decision.has_value());
  EXPECT_EQ(decision->mirrored, 1u);
  EXPECT_EQ(decision->hash, st_flow_hash(client, syn.clientPort, server, syn.servicePort, kTestSeed));
}

// One agent, two tapped interfaces, one connection crossing both (pod to pod on a node: the maps
// are shared). The interface that saw the SYN first decides and mirrors; on the other every
// packet of it, a retransmitted SYN included, is left to the first (other_iface), so the
// connection is mirrored once. Once the deciding interface's decisions are dropped (it went),
// the other decides afresh.
TEST_P(StickyFlows, ConnectionCrossingTwoTappedInterfacesIsMirroredOnce) {
  if (GetParam().xdp)
    GTEST_SKIP() << "xdp_md test runs take no ingress interface here; the tc hooks cover the shared logic";
  setRate(ST_RATE_SCALE);
  const auto other = static_cast<uint32_t>(mirrorIfindex()); // any interface but loopback
  TcpShape syn = packetOf(45000, kTcpSyn);
  EXPECT_EQ(send(syn, false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED}), mirrored(false));
  EXPECT_EQ(send(syn, true, {ST_C_OTHER_IFACE}, other), ST_C_NOT_SAMPLED); // leaving by the other
  EXPECT_EQ(send(packetOf(45000, kTcpSyn | kTcpAck), false, {ST_C_OTHER_IFACE}, other), ST_C_NOT_SAMPLED);
  EXPECT_EQ(send(packetOf(45000, kTcpSyn | kTcpAck), true), mirrored(true));
  EXPECT_EQ(send(packetOf(45000, kTcpAck | kTcpPsh), true, {ST_C_OTHER_IFACE}, other), ST_C_NOT_SAMPLED);
  EXPECT_EQ(send(packetOf(45000, kTcpAck | kTcpPsh), false), mirrored(false));
  EXPECT_EQ(send(syn, false, {ST_C_OTHER_IFACE}, other), ST_C_NOT_SAMPLED); // a retransmitted SYN
  uint32_t client[4], server[4];
  shapeAddrs(syn, client, server);
  st_flow_key key{};
  st_flow_key_make(&key, client, syn.clientPort, server, syn.servicePort);
  ASSERT_TRUE(tap_->flow(key).has_value());
  EXPECT_EQ(tap_->flow(key)->ifindex, 1u); // loopback decided
  // The deciding interface goes (TapSet::forget drops what it decided): the other decides anew.
  EXPECT_EQ(TapMaps(MapFds{.flows = tap_->flowsFd()}).dropFlowsDecidedOn(1), 1u);
  EXPECT_EQ(send(syn, false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED}, other), mirrored(false));
  EXPECT_EQ(tap_->flow(key)->ifindex, other);
}

// Overload: the agent gives a connection up in flight (TapMaps::shedFlow). Its later packets, both
// directions, are not mirrored and are counted shed_inflight; a new connection on the same tuple
// (its SYN) is decided afresh.
TEST_P(StickyFlows, ShedInFlightStopsMirroringTheConnection) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "ipv6" : "ipv4");
    setRate(ST_RATE_SCALE);
    TcpShape syn = packetOf(45000, kTcpSyn, v6);
    EXPECT_EQ(send(syn, false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED}), mirrored(false));
    EXPECT_EQ(send(packetOf(45000, kTcpAck | kTcpPsh, v6), false), mirrored(false));
    uint32_t client[4], server[4];
    shapeAddrs(syn, client, server);
    st_flow_key key{};
    st_flow_key_make(&key, client, syn.clientPort, server, syn.servicePort);
    uint32_t hash = tap_->flow(key)->hash;
    ASSERT_EQ(tap_->maps().shedFlow(key), TapMaps::ShedOutcome::Shed);
    EXPECT_EQ(tap_->flow(key)->mirrored, static_cast<uint32_t>(ST_FLOW_SHED));
    EXPECT_EQ(tap_->flow(key)->hash, hash); // the SYN's record is kept
    // Given up already (as the capture ring guard does): said so, nothing written.
    EXPECT_EQ(tap_->maps().shedFlow(key), TapMaps::ShedOutcome::AlreadyShed);
    EXPECT_EQ(tap_->flow(key)->hash, hash);
    EXPECT_EQ(send(packetOf(45000, kTcpAck | kTcpPsh, v6), false, {ST_C_SHED_INFLIGHT}), ST_C_NOT_SAMPLED);
    EXPECT_EQ(send(packetOf(45000, kTcpAck, v6), true, {ST_C_SHED_INFLIGHT}), ST_C_NOT_SAMPLED);
    EXPECT_EQ(send(packetOf(45000, kTcpFin | kTcpAck, v6), false, {ST_C_SHED_INFLIGHT}), ST_C_NOT_SAMPLED);
    // Other connections are untouched.
    EXPECT_EQ(send(packetOf(45001, kTcpSyn, v6), false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED}), mirrored(false));
    EXPECT_EQ(send(packetOf(45001, kTcpAck | kTcpPsh, v6), false), mirrored(false));
    // The tuple reused by a new connection: its SYN decides again.
    EXPECT_EQ(send(syn, false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED}), mirrored(false));
    EXPECT_EQ(send(packetOf(45000, kTcpAck | kTcpPsh, v6), false), mirrored(false));
  }
}

// A decision already evicted from the LRU is written anew: the connection is not decided by hash again.
TEST_P(StickyFlows, ShedWithoutARecordStillStopsMirroring) {
  setRate(ST_RATE_SCALE);
  TcpShape data = packetOf(46000, kTcpAck | kTcpPsh);
  EXPECT_EQ(send(data, false, {ST_C_FLOW_STATELESS}), mirrored(false));
  uint32_t client[4], server[4];
  shapeAddrs(data, client, server);
  st_flow_key key{};
  st_flow_key_make(&key, client, data.clientPort, server, data.servicePort);
  ASSERT_EQ(tap_->maps().shedFlow(key), TapMaps::ShedOutcome::Shed);
  EXPECT_EQ(send(data, false, {ST_C_SHED_INFLIGHT}), ST_C_NOT_SAMPLED);
}

// Budgets (--max-new-conns): within one second at most N sampled connections are admitted; the
// rest are skipped whole at their SYN (shed_budget) and their later packets follow that decision.
// A retransmitted SYN of an admitted connection keeps it, even with the budget spent.
TEST_P(StickyFlows, NewConnectionBudgetSkipsWholeConnectionsPastIt) {
  setRate(ST_RATE_SCALE);
  st_runtime runtime{kTestSeed, ST_DEFAULT_MARK, 1, 0};
  runtime.max_new_conns = 3;
  tap_->maps().setRuntime(runtime); // a new window: the test runs well within its second
  for (uint16_t port = 47000; port < 47003; port++)
    EXPECT_EQ(send(packetOf(port, kTcpSyn), false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED}), mirrored(false)) << port;
  for (uint16_t port = 47003; port < 47010; port++) {
    EXPECT_EQ(send(packetOf(port, kTcpSyn), false, {ST_C_SHED_BUDGET, ST_C_FLOW_DECIDED}), ST_C_NOT_SAMPLED) << port;
    EXPECT_EQ(send(packetOf(port, kTcpAck | kTcpPsh), false), ST_C_NOT_SAMPLED) << port;
    EXPECT_EQ(send(packetOf(port, kTcpAck), true), ST_C_NOT_SAMPLED) << port;
  }
  // The admitted ones go on, whole; a retransmitted SYN does not lose its connection.
  EXPECT_EQ(send(packetOf(47001, kTcpAck | kTcpPsh), false), mirrored(false));
  EXPECT_EQ(send(packetOf(47001, kTcpSyn), false), mirrored(false));
  EXPECT_EQ(send(packetOf(47002, kTcpAck | kTcpPsh), true), mirrored(true));
  // No budget: every sampled SYN is admitted again.
  runtime.max_new_conns = 0;
  tap_->maps().setRuntime(runtime);
  EXPECT_EQ(send(packetOf(47010, kTcpSyn), false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED}), mirrored(false));
  tap_->maps().setRuntime(st_runtime{kTestSeed, ST_DEFAULT_MARK, 1, 0});
}

// --max-mirror-rate: once this second's bytes are mirrored, no new connection is admitted; the
// connection already mirrored keeps being mirrored past the budget (never a hole).
TEST_P(StickyFlows, ByteBudgetRefusesNewConnectionsNotPacketsOfAdmittedOnes) {
  setRate(ST_RATE_SCALE);
  st_runtime runtime{kTestSeed, ST_DEFAULT_MARK, 1, 0};
  runtime.max_mirror_bytes = 1; // the first mirrored packet spends it
  tap_->maps().setRuntime(runtime);
  EXPECT_EQ(send(packetOf(48000, kTcpSyn), false, {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED}), mirrored(false));
  EXPECT_EQ(send(packetOf(48001, kTcpSyn), false, {ST_C_SHED_BUDGET, ST_C_FLOW_DECIDED}), ST_C_NOT_SAMPLED);
  for (int i = 0; i < 3; i++)
    EXPECT_EQ(send(packetOf(48000, kTcpAck | kTcpPsh), false), mirrored(false));
  EXPECT_GT(tap_->maps().runtime().window_bytes, 0u);
  tap_->maps().setRuntime(st_runtime{kTestSeed, ST_DEFAULT_MARK, 1, 0});
}

INSTANTIATE_TEST_SUITE_P(Modes, StickyFlows, ::testing::Values(TapKind{"tc", false}, TapKind{"xdp", true}),
                         [](const auto &info) { return info.param.name; });

} // namespace
} // namespace shadowtap::test
