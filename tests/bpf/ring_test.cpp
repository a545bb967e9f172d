// SPDX-License-Identifier: Apache-2.0
// Ring output (XDP mode): xdp_ingress and tc_egress copy mirrored frames into st_ring with an
// st_pkt_meta header. Records are read back the way the agent reads them (RingReader).
#include "netns_environment.h"
#include "test_packets.h"
#include "test_tap.h"

#include "bpf/counter_names.h"

#include <ctime>
#include <gtest/gtest.h>

namespace shadowtap::test {
namespace {

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Sends one mirrored packet of `payload` bytes through `hook` and checks the one record it leaves.
void expectRecord(TestTap &tap, Hook hook, size_t payload, bool v6) {
  SCOPED_TRACE(hookName(hook) + (v6 ? " ipv6" : " ipv4") + " payload " + std::to_string(payload) + " snaplen " +
               std::to_string(tap.snaplen()));
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  TcpShape shape;
  shape.v6 = v6;
  shape.payload = payload;
  const Bytes packet = tcpPacket(shape, isEgress(hook)).build();
  uint32_t client[4], server[4];
  shapeAddrs(shape, client, server);

  uint64_t start = monotonicNs();
  auto before = tap.counters();
  RunResult result = tap.run(hook, packet);
  auto delta = counterDelta(before, tap.counters());
  ASSERT_EQ(result.err, 0);
  EXPECT_EQ(result.retval, isXdp(hook) ? 2u : 0u);
  EXPECT_EQ(result.out, packet);
  EXPECT_EQ(checkOnePacket(delta, ST_C_RING_SENT, {ST_C_FLOW_DECIDED}), "");

  auto records = tap.drainRing();
  ASSERT_EQ(records.size(), 1u);
  const st_pkt_meta &meta = records[0].meta;
  const size_t capLen = std::min<size_t>(packet.size(), tap.snaplen());
  EXPECT_EQ(meta.flow_hash, st_flow_hash(client, shape.clientPort, server, shape.servicePort, kTestSeed));
  EXPECT_EQ(meta.pkt_len, packet.size());
  EXPECT_EQ(meta.cap_len, capLen);
  EXPECT_EQ(meta.direction, isEgress(hook) ? ST_DIR_EGRESS : ST_DIR_INGRESS);
  EXPECT_EQ(meta.ifindex, static_cast<uint32_t>(loopbackIfindex())) << "test_run runs on lo";
  EXPECT_GE(meta.ts_ns, start);
  EXPECT_LE(meta.ts_ns, monotonicNs());
  for (uint8_t pad : meta._pad)
    EXPECT_EQ(pad, 0) << "st_pkt_meta padding leaks stale bytes";
  EXPECT_EQ(records[0].frame, Bytes(packet.begin(), packet.begin() + static_cast<long>(capLen)));
}

TEST(Ring, FullFramesAtDefaultSnaplen) {
  for (Hook hook : {Hook::XdpIngress, Hook::TcEgress})
    for (bool v6 : {false, true})
      for (size_t payload : {0, 100, 1400})
        expectRecord(xdpTap(), hook, payload, v6);
}

TEST(Ring, SmallSnaplenCutsTheCopyNotThePacket) {
  static TestTap small(Mode::Xdp, 64);
  for (Hook hook : {Hook::XdpIngress, Hook::TcEgress})
    for (bool v6 : {false, true})
      for (size_t payload : {0, 10, 200, 1400})
        expectRecord(small, hook, payload, v6);
  // Exactly snaplen: the whole frame, nothing more.
  expectRecord(small, Hook::XdpIngress, 64 - 54, false);
}

TEST(Ring, NothingIsWrittenForPacketsThatAreNotMirrored) {
  TestTap &tap = xdpTap();
  tap.reset();
  tap.setRule(kServicePort, 0, static_cast<uint32_t>(mirrorIfindex()));
  for (Hook hook : {Hook::XdpIngress, Hook::TcEgress}) {
    auto before = tap.counters();
    tap.run(hook, tcpPacket({}, isEgress(hook)).build());
    tap.run(hook, PacketBuilder().eth().arp().build());
    auto delta = counterDelta(before, tap.counters());
    EXPECT_EQ(delta[ST_C_NOT_SAMPLED], 1u);
    EXPECT_EQ(delta[ST_C_NOT_IP], 1u);
    EXPECT_EQ(delta[ST_C_RING_SENT], 0u);
    EXPECT_TRUE(tap.drainRing().empty());
  }
}

TEST(Ring, RecordsKeepTheirOrder) {
  TestTap &tap = xdpTap();
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  std::vector<Bytes> sent;
  for (int i = 0; i < 50; i++) {
    TcpShape shape;
    shape.clientPort = static_cast<uint16_t>(30000 + i);
    shape.payload = static_cast<size_t>(i);
    Hook hook = i % 2 ? Hook::TcEgress : Hook::XdpIngress;
    sent.push_back(tcpPacket(shape, isEgress(hook)).build());
    ASSERT_EQ(tap.run(hook, sent.back()).err, 0);
  }
  auto records = tap.drainRing();
  ASSERT_EQ(records.size(), sent.size());
  for (size_t i = 0; i < sent.size(); i++) {
    EXPECT_EQ(records[i].frame, sent[i]) << i;
    EXPECT_EQ(records[i].meta.direction, i % 2 ? ST_DIR_EGRESS : ST_DIR_INGRESS) << i;
  }
}

} // namespace
} // namespace shadowtap::test
