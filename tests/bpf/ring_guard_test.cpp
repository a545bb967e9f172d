// SPDX-License-Identifier: Apache-2.0
// The capture ring guard in the kernel (capture_snap, shared.h: st_ring_guard): every frame's cost
// is added to how far the kernel has written into its worker's ring; once that runs past the
// worker's read position by more than the limit, the frame's connection is given up whole (its
// st_flows decision becomes ST_FLOW_SHED and no frame of it is captured again), and a connection
// given up at its SYN, which the agent never sees, is counted ring_guard.
#include "netns_environment.h"
#include "test_packets.h"
#include "test_tap.h"

#include "bpf/counter_names.h"
#include "capture/ring_guard.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>

namespace shadowtap::test {
namespace {

constexpr uint32_t kBlock = 4096;

// What the filter takes for a frame's length under BPF_PROG_TEST_RUN: a socket filter's test run
// leaves skb->data at the network header, so skb->len misses the Ethernet header that a packet
// socket pushes back before its filter runs (the filter reads the headers relative to the MAC
// header, the same in both, but only a frame whose TCP header ends within skb->len is parsed: the
// SYN given up at its SYN here carries 14 bytes of data, as with TCP Fast Open).
uint32_t seenLength(const Bytes &frame) {
  return static_cast<uint32_t>(frame.size()) - 14;
}

st_ring_guard guardEntry(TestTap &tap) {
  uint32_t index = 0;
  st_ring_guard entry{};
  EXPECT_EQ(bpf_map_lookup_elem(tap.ringGuardFd(), &index, &entry), 0);
  return entry;
}

// A mirrored connection (its SYN through tc_ingress at 100 %) and its st_flows key.
st_flow_key mirroredConnection(TestTap &tap, const TcpShape &syn) {
  EXPECT_EQ(tap.run(Hook::TcIngress, tcpPacket(syn, false).build()).err, 0);
  uint32_t client[4], server[4];
  shapeAddrs(syn, client, server);
  st_flow_key key{};
  st_flow_key_make(&key, client, syn.clientPort, server, syn.servicePort);
  auto decision = tap.flow(key);
  EXPECT_TRUE(decision.has_value());
  if (decision) {
    EXPECT_EQ(decision->mirrored, ST_FLOW_MIRRORED);
  }
  return key;
}

TEST(RingGuard, OffItCapturesEverything) {
  TestTap &tap = tcTap();
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  mirroredConnection(tap, tcpShape(45000, kTcpSyn));
  Bytes data = tcpPacket(tcpShape(45000, kTcpAck | kTcpPsh, 1000), false).build();
  for (int i = 0; i < 100; i++)
    ASSERT_NE(tap.runCaptureSnap(data).retval, 0u);
}

TEST(RingGuard, GivesAConnectionUpWholeOnceTheRingRunsPastTheLimit) {
  TestTap &tap = tcTap();
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  st_flow_key key = mirroredConnection(tap, tcpShape(45100, kTcpSyn));
  RingGuard guard(tap.ringGuardFd(), 1, {kBlock, 8, 0}, 2 * kBlock);
  auto before = tap.counters();

  Bytes data = tcpPacket(tcpShape(45100, kTcpAck | kTcpPsh, 1000), false).build();
  uint64_t admitted = 0, lastAdmittedAt = 0;
  int captured = 0;
  while (tap.runCaptureSnap(data).retval != 0) {
    lastAdmittedAt = admitted;
    admitted = st_ring_guard_charge(admitted, seenLength(data), kBlock, 0);
    ASSERT_EQ(guardEntry(tap).admitted, admitted);
    ASSERT_LT(++captured, 100) << "never given up";
  }
  // Refused by the first frame that found more than the limit unread.
  EXPECT_GT(admitted, 2u * kBlock);
  EXPECT_LE(lastAdmittedAt, 2u * kBlock);
  EXPECT_EQ(tap.flow(key)->mirrored, ST_FLOW_SHED);
  EXPECT_EQ(guardEntry(tap).shed, 1u);
  EXPECT_EQ(guardEntry(tap).admitted, admitted); // a refused frame costs nothing

  // The worker reads everything back: the connection stays given up, a new one is captured.
  guard.slot(0).publish(1.0, guard.slot(0).mark());
  EXPECT_EQ(tap.runCaptureSnap(data).retval, 0u);
  mirroredConnection(tap, tcpShape(45101, kTcpSyn));
  EXPECT_NE(tap.runCaptureSnap(tcpPacket(tcpShape(45101, kTcpAck | kTcpPsh, 1000), false).build()).retval, 0u);
  // Given up after its SYN: the agent follows it and counts it, not the kernel.
  EXPECT_EQ(counterDelta(before, tap.counters())[ST_C_RING_GUARD], 0u);
}

TEST(RingGuard, AConnectionGivenUpAtItsSynIsCounted) {
  TestTap &tap = tcTap();
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  RingGuard guard(tap.ringGuardFd(), 1, {kBlock, 8, 0}, kBlock);
  st_flow_key filler = mirroredConnection(tap, tcpShape(45200, kTcpSyn));
  Bytes data = tcpPacket(tcpShape(45200, kTcpAck | kTcpPsh, 1000), false).build();
  while (tap.runCaptureSnap(data).retval != 0) {
  }
  EXPECT_EQ(tap.flow(filler)->mirrored, ST_FLOW_SHED);
  auto before = tap.counters();
  TcpShape syn = tcpShape(45201, kTcpSyn, 14);
  st_flow_key key = mirroredConnection(tap, syn);
  EXPECT_EQ(tap.runCaptureSnap(tcpPacket(syn, false).build()).retval, 0u);
  EXPECT_EQ(tap.flow(key)->mirrored, ST_FLOW_SHED);
  EXPECT_EQ(counterDelta(before, tap.counters())[ST_C_RING_GUARD], 1u);
  EXPECT_EQ(guardEntry(tap).shed, 2u);
}

TEST(RingGuard, EachRetirePeriodCostsTheRestOfTheOpenBlock) {
  // block_ns 1: every frame falls in a new period, as at low rates every frame may land in a block
  // the kernel then retires by its timeout.
  TestTap &tap = tcTap();
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  mirroredConnection(tap, tcpShape(45300, kTcpSyn));
  RingGuard guard(tap.ringGuardFd(), 1, {kBlock, 64, 1}, 32 * kBlock);
  Bytes small = tcpPacket(tcpShape(45300, kTcpAck, 60), false).build();
  uint32_t cost = seenLength(small) + ST_RING_FRAME_OVERHEAD;
  for (int i = 0; i < 4; i++)
    ASSERT_NE(tap.runCaptureSnap(small).retval, 0u);
  EXPECT_EQ(guardEntry(tap).admitted, 3u * kBlock + ST_RING_BLOCK_HEADER + cost);
}

TEST(RingGuard, ConnectionsWithoutADecisionAndUnparsedFramesAreNeverGivenUp) {
  TestTap &tap = tcTap();
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  RingGuard guard(tap.ringGuardFd(), 1, {kBlock, 8, 0}, 1);
  Bytes undecided = tcpPacket(tcpShape(45400, kTcpAck | kTcpPsh, 1000), false).build();
  for (int i = 0; i < 20; i++) {
    ASSERT_NE(tap.runCaptureSnap(undecided).retval, 0u);
    ASSERT_NE(tap.runCaptureSnap(PacketBuilder().eth().arp().build()).retval, 0u);
  }
}

} // namespace
} // namespace shadowtap::test
