// SPDX-License-Identifier: Apache-2.0
// Test packet composer in the style of katran's PacketBuilder and the kernel selftests'
// network_helpers: stack layers outermost first, then build(). build() fills in what a sender
// would (ethertypes, next-header chains, lengths, checksums) unless a field is overridden, so a test
// can state the one thing it breaks (IHL 4, doff 3, a routing header with a bad length...).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace shadowtap::test {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;
using Ipv4Addr = std::array<uint8_t, 4>;
using Ipv6Addr = std::array<uint8_t, 16>;

Ipv4Addr ipv4(const char *text); // dotted quad; aborts on a typo (tests only)
Ipv6Addr ipv6(const char *text);

inline constexpr uint16_t kEthPIp = 0x0800;
inline constexpr uint16_t kEthPIpv6 = 0x86dd;
inline constexpr uint16_t kEthPArp = 0x0806;
inline constexpr uint16_t kEthP8021Q = 0x8100;
inline constexpr uint16_t kEthP8021AD = 0x88a8;

inline constexpr uint8_t kIpProtoHopOpts = 0;
inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoRouting = 43;
inline constexpr uint8_t kIpProtoFragment = 44;
inline constexpr uint8_t kIpProtoEsp = 50;
inline constexpr uint8_t kIpProtoAh = 51;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;
inline constexpr uint8_t kIpProtoNone = 59;
inline constexpr uint8_t kIpProtoDstOpts = 60;

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

// Each layer: fields a test may set; std::nullopt means "what a correct sender would put".
struct EthLayer {
  Mac dst{0x02, 0, 0, 0, 0, 0x02};
  Mac src{0x02, 0, 0, 0, 0, 0x01};
  std::optional<uint16_t> ethertype;
};

struct VlanLayer {
  uint16_t tpid = kEthP8021Q; // the ethertype in front of this tag
  uint16_t tci = 100;
  std::optional<uint16_t> ethertype; // encapsulated protocol
};

struct Ipv4Layer {
  Ipv4Addr src{10, 0, 0, 2};
  Ipv4Addr dst{10, 0, 0, 1};
  Bytes options;           // padded to a multiple of 4 with EOL
  uint16_t fragOffset = 0; // in 8-byte units
  bool moreFragments = false;
  bool dontFragment = true;
  uint8_t ttl = 64;
  uint16_t id = 0x1234;
  std::optional<uint8_t> version;
  std::optional<uint8_t> ihl;
  std::optional<uint16_t> totalLength;
  std::optional<uint8_t> protocol;
};

struct Ipv6Layer {
  Ipv6Addr src = ipv6("fd00::2");
  Ipv6Addr dst = ipv6("fd00::1");
  uint8_t hopLimit = 64;
  std::optional<uint8_t> version;
  std::optional<uint16_t> payloadLength;
  std::optional<uint8_t> nextHeader;
};

// One IPv6 extension header. Hop-by-hop, routing and destination options are (hdrLen+1)*8 bytes,
// AH is (hdrLen+2)*4, fragment is always 8.
struct Ipv6ExtLayer {
  uint8_t type = kIpProtoDstOpts;
  uint8_t hdrLen = 0;         // the header's own length field
  uint16_t fragOffset = 0;    // fragment header only, in 8-byte units
  bool moreFragments = false; // fragment header only
  std::optional<uint8_t> nextHeader;
};

struct TcpLayer {
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint32_t seq = 1000;
  uint32_t ack = 0;
  uint8_t flags = kTcpSyn;
  uint16_t window = 65535;
  Bytes options; // padded to a multiple of 4 with NOP
  std::optional<uint8_t> doff;
};

struct UdpLayer {
  uint16_t sport = 5353;
  uint16_t dport = 53;
};

struct IcmpLayer {
  uint8_t type = 8; // echo request (ICMPv6 echo is 128)
  uint8_t code = 0;
};

struct ArpLayer {
  uint16_t op = 1;
  Ipv4Addr senderIp{10, 0, 0, 2};
  Ipv4Addr targetIp{10, 0, 0, 1};
};

struct PayloadLayer {
  Bytes bytes;
};

// Tunnel headers after a UdpLayer to their port (4789/8472, 6081): an EthLayer follows for
// VXLAN and for Geneve's Ethernet payload (protocol 0x6558), an IP layer for Geneve's IP payload.
struct VxlanLayer {
  uint8_t flags = 0x08; // I: the VNI is valid
  uint32_t vni = 42;
};

struct GeneveLayer {
  Bytes options;           // padded to a multiple of 4 with zeros; opt_len is its length / 4
  uint8_t version = 0;
  uint32_t vni = 42;
  std::optional<uint16_t> protocol; // 0x6558 before Ethernet, else the next layer's ethertype
  std::optional<uint8_t> optLen;    // the header's 6-bit option length, in 4-byte words
};

inline constexpr uint16_t kPortVxlan = 4789;
inline constexpr uint16_t kPortVxlanLinux = 8472;
inline constexpr uint16_t kPortGeneve = 6081;

using Layer = std::variant<EthLayer, VlanLayer, Ipv4Layer, Ipv6Layer, Ipv6ExtLayer, TcpLayer, UdpLayer, IcmpLayer,
                           ArpLayer, PayloadLayer, VxlanLayer, GeneveLayer>;

class PacketBuilder {
public:
  PacketBuilder &eth(EthLayer layer = {}) { return push(layer); }
  PacketBuilder &vlan(uint16_t tpid = kEthP8021Q, uint16_t tci = 100) { return push(VlanLayer{tpid, tci, {}}); }
  PacketBuilder &vlan(VlanLayer layer) { return push(layer); }
  PacketBuilder &ipv4(Ipv4Layer layer = {}) { return push(layer); }
  PacketBuilder &ipv6(Ipv6Layer layer = {}) { return push(layer); }
  PacketBuilder &ipv6Ext(Ipv6ExtLayer layer) { return push(layer); }
  PacketBuilder &tcp(TcpLayer layer = {}) { return push(layer); }
  PacketBuilder &udp(UdpLayer layer = {}) { return push(layer); }
  PacketBuilder &icmp(IcmpLayer layer = {}) { return push(layer); }
  PacketBuilder &arp(ArpLayer layer = {}) { return push(layer); }
  PacketBuilder &vxlan(VxlanLayer layer = {}) { return push(layer); }
  PacketBuilder &geneve(GeneveLayer layer = {}) { return push(layer); }
  PacketBuilder &payload(Bytes bytes) { return push(PayloadLayer{std::move(bytes)}); }
  PacketBuilder &payload(size_t len, uint8_t fill = 0xab) { return push(PayloadLayer{Bytes(len, fill)}); }
  PacketBuilder &truncate(size_t len) { // applied after checksums: the header still claims the full length
    truncate_ = len;
    return *this;
  }

  std::vector<Layer> &layers() { return layers_; }
  Bytes build() const;

private:
  PacketBuilder &push(Layer layer) {
    layers_.push_back(std::move(layer));
    return *this;
  }
  std::vector<Layer> layers_;
  std::optional<size_t> truncate_;
};

// Byte offsets of each layer in the last build(), for tests that corrupt a specific field.
struct LayerOffsets {
  std::vector<size_t> start; // one per layer, in order
};
Bytes buildWithOffsets(const std::vector<Layer> &layers, LayerOffsets *offsets);

// Internet checksum (RFC 1071) over `data`, starting from a partial sum.
uint16_t inetChecksum(const uint8_t *data, size_t len, uint32_t sum = 0);

std::string hexDump(const Bytes &bytes);

} // namespace shadowtap::test
