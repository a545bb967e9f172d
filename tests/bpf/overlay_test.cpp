// SPDX-License-Identifier: Apache-2.0
// Overlays: the connection behind a tunnel is the inner one. Its flow hash and its st_flows key
// are those of the inner tuple, so a connection sampled inside VXLAN keeps its decision whichever
// encapsulation (or none) carries its later packets, and the ring record is the whole frame, outer
// headers included, for the agent to decapsulate.
#include "netns_environment.h"
#include "test_packets.h"
#include "test_tap.h"

#include "bpf/counter_names.h"

#include <cstring>
#include <gtest/gtest.h>

namespace shadowtap::test {
namespace {

TcpShape over(Tunnel tunnel, uint8_t flags, bool v6 = false) {
  TcpShape s;
  s.tunnel = tunnel;
  s.v6 = v6;
  s.outerV6 = !v6; // the other family outside, so the outer addresses share nothing with the inner
  s.flags = flags;
  s.clientPort = 42424;
  if (tunnel == Tunnel::Geneve)
    s.geneveOptions = Bytes(12, 0x77);
  return s;
}

TEST(Overlay, RingRecordCarriesTheInnerFlowHashAndTheWholeFrame) {
  TestTap &tap = xdpTap();
  for (Tunnel tunnel : {Tunnel::None, Tunnel::Vxlan, Tunnel::VxlanLinux, Tunnel::Geneve, Tunnel::GeneveIp,
                        Tunnel::IpInIp}) {
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(std::to_string(static_cast<int>(tunnel)) + (v6 ? " ipv6" : " ipv4"));
      tap.reset();
      tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
      TcpShape shape = over(tunnel, kTcpSyn, v6);
      Bytes packet = tcpPacket(shape).build();
      ASSERT_EQ(tap.run(Hook::XdpIngress, packet).err, 0);
      auto records = tap.drainRing();
      ASSERT_EQ(records.size(), 1u);
      EXPECT_EQ(records[0].frame, packet);
      uint32_t client[4], server[4];
      shapeAddrs(shape, client, server);
      EXPECT_EQ(records[0].meta.flow_hash,
                st_flow_hash(client, shape.clientPort, server, kServicePort, kTestSeed));
      st_flow_key key;
      st_flow_key_make(&key, client, shape.clientPort, server, kServicePort);
      auto decision = tap.flow(key);
      ASSERT_TRUE(decision.has_value()) << "no st_flows record under the inner tuple";
      EXPECT_EQ(decision->mirrored, 1u);
    }
  }
}

// The SYN decides inside one tunnel; at rate 0 the rest of the connection, carried by other
// encapsulations or none, follows the SYN's record: the key is the inner tuple only.
TEST(Overlay, DecisionIsStickyAcrossEncapsulations) {
  TestTap &tap = tcTap();
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  auto send = [&](const TcpShape &shape, bool egress) {
    Bytes packet = tcpPacket(shape, egress).build();
    auto before = tap.counters();
    EXPECT_EQ(tap.run(egress ? Hook::TcEgress : Hook::TcIngress, packet).err, 0);
    auto delta = counterDelta(before, tap.counters());
    EXPECT_EQ(delta[ST_C_FLOW_STATELESS], 0u) << "a later packet found no record under the inner tuple";
    return delta[ST_C_CLONED] == 1;
  };
  EXPECT_TRUE(send(over(Tunnel::Vxlan, kTcpSyn), false));
  tap.setRule(kServicePort, 0, static_cast<uint32_t>(mirrorIfindex()));
  EXPECT_TRUE(send(over(Tunnel::Geneve, kTcpSyn | kTcpAck), true));
  EXPECT_TRUE(send(over(Tunnel::IpInIp, kTcpAck), false));
  EXPECT_TRUE(send(over(Tunnel::None, kTcpAck | kTcpPsh), false));
  EXPECT_TRUE(send(over(Tunnel::VxlanLinux, kTcpAck | kTcpPsh), true));
}

// The capture fan-out (TC mode, several workers): both directions of a connection, whatever
// tunnel carries them (the outer UDP ports differ by direction), pick the same worker: the salted
// inner-tuple hash. It counts nothing. (test_run hands a socket filter the frame as a packet socket
// sees a received one: data at the network header, the MAC header before it.)
TEST(Overlay, FanoutHashesTheInnerConnection) {
  TestTap &tap = tcTap();
  tap.reset();
  for (Tunnel tunnel : {Tunnel::None, Tunnel::Vxlan, Tunnel::VxlanLinux, Tunnel::Geneve, Tunnel::GeneveIp,
                        Tunnel::IpInIp}) {
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(std::to_string(static_cast<int>(tunnel)) + (v6 ? " ipv6" : " ipv4"));
      TcpShape shape = over(tunnel, kTcpAck | kTcpPsh, v6);
      shape.payload = 100;
      uint32_t client[4], server[4];
      shapeAddrs(shape, client, server);
      uint32_t want = st_flow_hash(client, shape.clientPort, server, kServicePort, kTestSeed ^ ST_FANOUT_SALT);
      auto before = tap.counters();
      for (bool response : {false, true}) {
        Bytes packet = tcpPacket(shape, response).build();
        RunResult result = tap.runFanout(packet);
        ASSERT_EQ(result.err, 0) << std::strerror(-result.err);
        EXPECT_EQ(result.retval, want) << (response ? "response" : "request");
      }
      auto delta = counterDelta(before, tap.counters());
      for (uint32_t i = 0; i < ST_C_MAX; i++)
        EXPECT_EQ(delta[i], 0u) << "the fan-out counted " << counterName(i);
      EXPECT_NE(want, st_flow_hash(client, shape.clientPort, server, kServicePort, kTestSeed))
          << "the fan-out hash is the sampling hash";
    }
  }
  // Not a connection: the first worker.
  EXPECT_EQ(tap.runFanout(PacketBuilder().eth().arp().build()).retval, 0u);
  EXPECT_EQ(tap.runFanout(PacketBuilder().eth().ipv4().udp(UdpLayer{1, kPortVxlan}).payload(4).build()).retval, 0u);
}

// The capture socket's filter (capture_snap): with ST_RT_RESPONSE_HEADERS_ONLY a response (from the
// service port, not to one) is kept up to the end of its TCP header, whatever tunnel carries it;
// a request, anything that does not parse, and everything without the flag is kept whole.
TEST(Overlay, CaptureSnapKeepsResponsesUpToTheirTcpHeaderWhenAsked) {
  TestTap &tap = tcTap();
  tap.reset();
  const uint32_t kWhole = 0xffffffffu;
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  auto setHeadersOnly = [&](bool on) {
    auto runtime = tap.maps().runtime();
    runtime.flags = on ? ST_RT_RESPONSE_HEADERS_ONLY : 0;
    tap.maps().setRuntime(runtime);
  };
  for (Tunnel tunnel : {Tunnel::None, Tunnel::Vxlan, Tunnel::Geneve, Tunnel::IpInIp}) {
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(std::to_string(static_cast<int>(tunnel)) + (v6 ? " ipv6" : " ipv4"));
      TcpShape shape = over(tunnel, kTcpAck | kTcpPsh, v6);
      shape.payload = 1000;
      Bytes response = tcpPacket(shape, true).build(), request = tcpPacket(shape, false).build();
      setHeadersOnly(true);
      EXPECT_EQ(tap.runCaptureSnap(response).retval, response.size() - 1000);
      EXPECT_EQ(tap.runCaptureSnap(request).retval, kWhole);
      setHeadersOnly(false);
      EXPECT_EQ(tap.runCaptureSnap(response).retval, kWhole);
    }
  }
  setHeadersOnly(true);
  EXPECT_EQ(tap.runCaptureSnap(PacketBuilder().eth().arp().build()).retval, kWhole);
  // Both ends on a service port: which one answers is not known here, so whole.
  tap.setRule(kServicePort + 1, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  TcpShape both = over(Tunnel::None, kTcpAck | kTcpPsh, false);
  both.clientPort = kServicePort + 1;
  both.payload = 10;
  EXPECT_EQ(tap.runCaptureSnap(tcpPacket(both, true).build()).retval, kWhole);
  setHeadersOnly(false);
}

} // namespace
} // namespace shadowtap::test
