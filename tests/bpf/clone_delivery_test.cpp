// SPDX-License-Identifier: Apache-2.0
// A clone must really leave through the mirror port, byte for byte what the program saw: read it
// back with an AF_PACKET socket on the far end of the mirror veth.
#include "mirror_sink.h"
#include "netns_environment.h"
#include "test_packets.h"
#include "test_tap.h"

#include <gtest/gtest.h>

namespace shadowtap::test {
namespace {

TEST(CloneDelivery, ClonedFramesArriveOnTheMirrorPeerUnchanged) {
  TestTap &tap = tcTap();
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  MirrorSink sink(mirrorPeerIfindex());
  while (sink.receive(0)) {
  } // nothing from before this test counts

  std::vector<TcpShape> shapes(5);
  shapes[1].v6 = true;
  shapes[1].payload = 1000;
  shapes[2].vlans = {VlanLayer{kEthP8021Q, 42, {}}};
  shapes[3].vlans = {VlanLayer{kEthP8021AD, 7, {}}, VlanLayer{kEthP8021Q, 8, {}}};
  shapes[3].v6 = true;
  shapes[4].ipv4Options = Bytes(8, 1);
  shapes[4].flags = kTcpAck | kTcpPsh;
  shapes[4].payload = 33;
  for (Hook hook : {Hook::TcIngress, Hook::TcEgress}) {
    for (size_t i = 0; i < shapes.size(); i++) {
      SCOPED_TRACE(hookName(hook) + " shape " + std::to_string(i));
      Bytes packet = tcpPacket(shapes[i], isEgress(hook)).build();
      RunResult result = tap.run(hook, packet);
      ASSERT_EQ(result.err, 0);
      EXPECT_EQ(result.out, packet);
      auto frame = sink.receive(1000);
      ASSERT_TRUE(frame.has_value()) << "the clone never reached " << kMirrorPeerIface;
      EXPECT_EQ(*frame, packet) << "clone differs\nsent:\n" << hexDump(packet) << "\ngot:\n" << hexDump(*frame);
      EXPECT_FALSE(sink.receive(0).has_value()) << "more than one clone";
    }
  }
}

TEST(CloneDelivery, NothingArrivesForPacketsThatAreNotMirrored) {
  TestTap &tap = tcTap();
  tap.reset();
  tap.setRule(kServicePort, 0, static_cast<uint32_t>(mirrorIfindex()));
  tap.setRule(443, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  MirrorSink sink(mirrorPeerIfindex());
  while (sink.receive(0)) {
  }
  TcpShape other;
  other.servicePort = 8443;
  tap.run(Hook::TcIngress, tcpPacket({}).build());                                      // not sampled
  tap.run(Hook::TcIngress, tcpPacket(other).build());                                   // port miss
  tap.run(Hook::TcIngress, tcpPacket({}, true).build());                                // wrong direction
  tap.run(Hook::TcIngress, PacketBuilder().eth().ipv4().udp(UdpLayer{1, 443}).build()); // not TCP
  tap.run(Hook::TcEgress, tcpPacket({}, false).truncate(40).build());                   // malformed
  EXPECT_FALSE(sink.receive(200).has_value());
}

} // namespace
} // namespace shadowtap::test
