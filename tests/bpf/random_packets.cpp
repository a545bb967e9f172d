// SPDX-License-Identifier: Apache-2.0
#include "random_packets.h"

namespace shadowtap::test {

Ipv4Addr RandomPackets::addr4() {
  switch (below(5)) {
  case 0:
    return ipv4("10.0.0.1");
  case 1:
    return ipv4("10.0.0.2");
  case 2:
    return Ipv4Addr{10, 1, byte(), byte()}; // inside the excluded 10.1.0.0/16
  case 3:
    return Ipv4Addr{192, 168, 1, byte()};
  default:
    return Ipv4Addr{byte(), byte(), byte(), byte()};
  }
}

Ipv6Addr RandomPackets::addr6() {
  Ipv6Addr a{};
  switch (below(5)) {
  case 0:
    return ipv6("fd00::1");
  case 1:
    a = ipv6("fd00:1::"); // inside the excluded fd00:1::/32
    for (size_t i = 4; i < 16; i++)
      a[i] = byte();
    return a;
  case 2:
    // IPv4-mapped inside an IPv6 header: the one trie holds both, so 10.1.0.0/16 excludes it too.
    a = ipv6("::ffff:10.1.0.0");
    a[14] = byte();
    a[15] = byte();
    return a;
  case 3:
    return ipv6("fd00::2");
  default:
    for (auto &b : a)
      b = byte();
    return a;
  }
}

Bytes RandomPackets::randomBytes() {
  Bytes p(14 + below(300));
  for (auto &b : p)
    b = byte();
  // Random ethertypes are almost never IP: steer a share into the IP and VLAN parsers.
  static const std::vector<uint16_t> kTypes = {kEthPIp, kEthPIpv6, kEthP8021Q, kEthP8021AD};
  if (chance(60)) {
    uint16_t type = pick(kTypes);
    p[12] = static_cast<uint8_t>(type >> 8);
    p[13] = static_cast<uint8_t>(type);
  }
  return p;
}

Bytes RandomPackets::valid(std::vector<Layer> *layersOut, LayerOffsets *offsets) {
  std::vector<Layer> layers;
  layers.push_back(EthLayer{});
  uint32_t tags = below(100) < 60 ? 0 : below(100) < 50 ? 1 : below(100) < 75 ? 2 : 3;
  for (uint32_t i = 0; i < tags; i++)
    layers.push_back(VlanLayer{chance(50) ? kEthP8021Q : kEthP8021AD, static_cast<uint16_t>(below(4096)), {}});

  uint32_t l3 = below(100);
  if (l3 >= 92) {
    if (chance(50))
      layers.push_back(ArpLayer{});
    else
      layers.push_back(PayloadLayer{Bytes(46, 0x5a)});
    Bytes p = buildWithOffsets(layers, offsets);
    if (layersOut)
      *layersOut = layers;
    return p;
  }
  bool v6 = l3 >= 46;
  bool response = chance(50);
  auto pushIp = [&](bool ip6) {
    if (ip6) {
      Ipv6Layer ip;
      ip.src = addr6();
      ip.dst = addr6();
      layers.push_back(ip);
      if (chance(35)) {
        static const std::vector<uint8_t> kExt = {kIpProtoHopOpts, kIpProtoRouting, kIpProtoFragment, kIpProtoAh,
                                                  kIpProtoDstOpts};
        uint32_t n = 1 + below(8);
        for (uint32_t i = 0; i < n; i++) {
          Ipv6ExtLayer ext{pick(kExt), static_cast<uint8_t>(below(4)), 0, chance(50), {}};
          if (ext.type == kIpProtoFragment && chance(30))
            ext.fragOffset = static_cast<uint16_t>(1 + below(8000));
          if (ext.type == kIpProtoAh && ext.hdrLen == 0)
            ext.hdrLen = 1;
          layers.push_back(ext);
        }
      }
    } else {
      Ipv4Layer ip;
      ip.src = addr4();
      ip.dst = addr4();
      if (chance(20))
        ip.options = Bytes(4 * below(11), 1);
      if (chance(15)) {
        ip.moreFragments = chance(50);
        ip.fragOffset = chance(50) ? 0 : static_cast<uint16_t>(1 + below(8000));
      }
      layers.push_back(ip);
    }
  };
  pushIp(v6);
  if (chance(25)) { // one level of encapsulation: the inner headers are matched
    switch (below(4)) {
    case 0:
      layers.push_back(UdpLayer{static_cast<uint16_t>(byte() << 8 | byte()), chance(50) ? kPortVxlan : kPortVxlanLinux});
      layers.push_back(VxlanLayer{static_cast<uint8_t>(chance(90) ? 0x08 : byte()), below(1u << 24)});
      layers.push_back(EthLayer{});
      break;
    case 1: {
      layers.push_back(UdpLayer{static_cast<uint16_t>(byte() << 8 | byte()), kPortGeneve});
      GeneveLayer geneve;
      geneve.options = Bytes(4 * below(chance(80) ? 6 : 64), 0x11);
      if (chance(10))
        geneve.version = static_cast<uint8_t>(below(4));
      layers.push_back(geneve);
      if (chance(70))
        layers.push_back(EthLayer{});
      break;
    }
    default: // IPIP / IPv6-in-IP: the next IP layer's family picks protocol 4 or 41
      break;
    }
    pushIp(chance(50));
  }

  uint32_t l4 = below(100);
  uint16_t service = chance(85) ? pick(kFuzzPorts) : static_cast<uint16_t>(byte() << 8 | byte());
  uint16_t client = static_cast<uint16_t>(1024 + below(60000));
  if (l4 < 80) {
    static const std::vector<uint8_t> kFlags = {
        kTcpSyn, kTcpSyn, kTcpSyn | kTcpAck, kTcpAck, kTcpAck | kTcpPsh, kTcpFin | kTcpAck, kTcpRst, kTcpSyn | kTcpFin};
    TcpLayer tcp;
    tcp.sport = response ? service : client;
    tcp.dport = response ? client : service;
    tcp.flags = chance(90) ? pick(kFlags) : byte();
    if (chance(30))
      tcp.options = Bytes(4 * below(11), 1);
    layers.push_back(tcp);
  } else if (l4 < 90) {
    layers.push_back(UdpLayer{response ? service : client, response ? client : service});
  } else {
    layers.push_back(IcmpLayer{});
  }
  if (chance(50)) {
    Bytes payload(below(200));
    for (auto &b : payload)
      b = byte();
    layers.push_back(PayloadLayer{payload});
  }
  Bytes p = buildWithOffsets(layers, offsets);
  if (layersOut)
    *layersOut = layers;
  return p;
}

Bytes RandomPackets::mutated() {
  std::vector<Layer> layers;
  LayerOffsets offsets;
  Bytes p = valid(&layers, &offsets);
  uint32_t n = 1 + below(3);
  for (uint32_t m = 0; m < n; m++) {
    size_t layer = below(static_cast<uint32_t>(layers.size()));
    size_t at = offsets.start[layer];
    switch (below(5)) {
    case 0: // flip one bit anywhere
      p[below(static_cast<uint32_t>(p.size()))] ^= static_cast<uint8_t>(1u << below(8));
      break;
    case 1: // a random byte anywhere
      p[below(static_cast<uint32_t>(p.size()))] = byte();
      break;
    case 2: // cut
      p.resize(14 + below(static_cast<uint32_t>(p.size() - 14) + 1));
      break;
    case 3: // grow: bytes after the headers' claimed end
      for (uint32_t i = below(64); i > 0; i--)
        p.push_back(byte());
      break;
    default: { // a length or type field of one layer
      if (at >= p.size())
        break;
      auto set = [&](size_t off, uint8_t v) {
        if (at + off < p.size())
          p[at + off] = v;
      };
      std::visit(
          [&](const auto &l) {
            using T = std::decay_t<decltype(l)>;
            if constexpr (std::is_same_v<T, EthLayer>) {
              set(12, chance(50) ? 0x81 : byte());
              set(13, chance(50) ? 0x00 : byte());
            } else if constexpr (std::is_same_v<T, VlanLayer>) {
              set(2, chance(50) ? 0x08 : byte());
              set(3, chance(50) ? 0x00 : byte());
            } else if constexpr (std::is_same_v<T, Ipv4Layer>) {
              if (chance(50))
                set(0, static_cast<uint8_t>((chance(80) ? 0x40 : byte() & 0xf0) | below(16))); // version/IHL
              else
                set(6, byte()); // flags + fragment offset high bits
            } else if constexpr (std::is_same_v<T, Ipv6Layer>) {
              if (chance(50))
                set(0, byte());
              else
                set(6, chance(50) ? static_cast<uint8_t>(pick(std::vector<uint8_t>{0, 43, 44, 51, 60, 6, 17, 59}))
                                  : byte());
            } else if constexpr (std::is_same_v<T, Ipv6ExtLayer>) {
              set(chance(50) ? 0 : 1, chance(50) ? static_cast<uint8_t>(below(8)) : byte());
            } else if constexpr (std::is_same_v<T, TcpLayer>) {
              set(12, static_cast<uint8_t>(below(16) << 4));
            } else if constexpr (std::is_same_v<T, UdpLayer>) {
              set(3, chance(50) ? 0xb5 : byte()); // destination port: 4789 <-> 4533, or anything
            } else if constexpr (std::is_same_v<T, GeneveLayer>) {
              set(0, byte()); // version and option length
            } else {
              set(0, byte());
            }
          },
          layers[layer]);
      break;
    }
    }
  }
  return p;
}

Bytes RandomPackets::next() {
  uint32_t kind = below(100);
  if (kind < 20)
    return randomBytes();
  if (kind < 45)
    return valid();
  return mutated();
}

} // namespace shadowtap::test
