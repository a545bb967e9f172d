// SPDX-License-Identifier: Apache-2.0
// Every prefix of a valid packet, cut at every byte from the end of the Ethernet header on: the
// reason must name the layer the cut lands in (L2 for a VLAN tag, the IP version for IP and its
// extension headers, TCP for the fixed TCP header), and a cut inside the payload still matches.
#include "netns_environment.h"
#include "reference_classifier.h"
#include "test_packets.h"
#include "test_tap.h"

#include "bpf/counter_names.h"

#include <gtest/gtest.h>

namespace shadowtap::test {
namespace {

struct Shape {
  std::string name;
  TcpShape shape;
};

void PrintTo(const Shape &s, std::ostream *os) {
  *os << s.name;
}

std::vector<Shape> shapes() {
  std::vector<Shape> out;
  TcpShape plain;
  plain.payload = 8;
  out.push_back({"ipv4", plain});

  TcpShape vlan4 = plain;
  vlan4.vlans = {VlanLayer{kEthP8021AD, 1, {}}, VlanLayer{kEthP8021Q, 2, {}}};
  vlan4.ipv4Options = Bytes(12, 1);
  out.push_back({"qinq_ipv4_options", vlan4});

  TcpShape ext6 = plain;
  ext6.v6 = true;
  ext6.vlans = {VlanLayer{kEthP8021Q, 3, {}}};
  ext6.exts = {Ipv6ExtLayer{kIpProtoHopOpts, 0, 0, false, {}}, Ipv6ExtLayer{kIpProtoRouting, 1, 0, false, {}},
               Ipv6ExtLayer{kIpProtoFragment, 0, 0, true, {}}, Ipv6ExtLayer{kIpProtoAh, 1, 0, false, {}},
               Ipv6ExtLayer{kIpProtoDstOpts, 0, 0, false, {}}};
  out.push_back({"vlan_ipv6_ext_chain", ext6});
  return out;
}

// The reason for a cut at `len`: the first layer that does not fit whole (TCP: its 20 fixed bytes).
uint32_t expectedReason(const std::vector<Layer> &layers, const LayerOffsets &offsets, size_t len, uint32_t mirrored) {
  for (size_t i = 0; i < layers.size(); i++) {
    size_t end = i + 1 < layers.size() ? offsets.start[i + 1] : SIZE_MAX;
    const Layer &layer = layers[i];
    if (std::holds_alternative<TcpLayer>(layer))
      end = offsets.start[i] + 20;
    if (len >= end)
      continue;
    if (std::holds_alternative<EthLayer>(layer) || std::holds_alternative<VlanLayer>(layer))
      return ST_C_MALFORMED_L2;
    if (std::holds_alternative<Ipv4Layer>(layer))
      return ST_C_MALFORMED_IPV4;
    if (std::holds_alternative<Ipv6Layer>(layer) || std::holds_alternative<Ipv6ExtLayer>(layer))
      return ST_C_MALFORMED_IPV6;
    if (std::holds_alternative<TcpLayer>(layer))
      return ST_C_MALFORMED_TCP;
    return mirrored;
  }
  return mirrored;
}

class Truncation : public ::testing::TestWithParam<std::tuple<Shape, Hook>> {};

TEST_P(Truncation, EveryCutNamesTheLayerItLandsIn) {
  const auto &[shape, hook] = GetParam();
  TestTap &tap = tapFor(hook);
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  ReferenceConfig config;
  config.seed = kTestSeed;
  config.rules[kServicePort] = st_rule{ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()), ST_RULE_ENABLED, 0};
  ReferenceClassifier reference(config);

  PacketBuilder builder = tcpPacket(shape.shape, isEgress(hook));
  LayerOffsets offsets;
  const Bytes full = buildWithOffsets(builder.layers(), &offsets);
  for (size_t len = 14; len <= full.size(); len++) {
    Bytes packet(full.begin(), full.begin() + static_cast<long>(len));
    uint32_t reason = expectedReason(builder.layers(), offsets, len, tap.mirroredReason(hook));
    std::vector<uint32_t> events;
    if (reason == tap.mirroredReason(hook))
      events = {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED};

    if (!isXdp(hook) && tcTestRunRefuses(packet)) {
      EXPECT_EQ(tap.run(hook, packet).err, -EINVAL) << "len " << len; // covered by the VLAN shapes
      continue;
    }
    auto before = tap.counters();
    RunResult result = tap.run(hook, packet);
    auto delta = counterDelta(before, tap.counters());
    ASSERT_EQ(result.err, 0) << "len " << len;
    EXPECT_EQ(result.retval, passVerdict(hook)) << "len " << len;
    EXPECT_EQ(result.out, packet) << "len " << len;
    EXPECT_EQ(checkOnePacket(delta, reason, events), "")
        << "cut at " << len << " of " << full.size() << ", expected " << counterName(reason);
    EXPECT_EQ(tap.drainRing().size(), reason == ST_C_RING_SENT ? 1u : 0u) << "len " << len;
    EXPECT_EQ(counterName(reference.classify(packet, isEgress(hook), isXdp(hook), tap.ringOutput(hook), 0).reason),
              counterName(reason))
        << "reference classifier, len " << len;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Truncation,
                         ::testing::Combine(::testing::ValuesIn(shapes()),
                                            ::testing::Values(Hook::TcIngress, Hook::TcEgress, Hook::XdpIngress)),
                         [](const auto &info) {
                           return std::get<0>(info.param).name + "_" + hookName(std::get<1>(info.param));
                         });

} // namespace
} // namespace shadowtap::test
