// SPDX-License-Identifier: Apache-2.0
#include "packet_builder.h"

#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>

namespace shadowtap::test {
namespace {

template <class... Ts> struct Overloaded : Ts... { using Ts::operator()...; };

void put16(Bytes &out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void put32(Bytes &out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}

void set16(Bytes &out, size_t at, uint16_t v) {
  out[at] = static_cast<uint8_t>(v >> 8);
  out[at + 1] = static_cast<uint8_t>(v);
}

void append(Bytes &out, const auto &bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

uint32_t partialSum(const uint8_t *data, size_t len, uint32_t sum) {
  for (size_t i = 0; i + 1 < len; i += 2)
    sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (len & 1)
    sum += static_cast<uint32_t>(data[len - 1] << 8);
  return sum;
}

// The enclosing IP header of an upper layer, for pseudo-header checksums.
struct IpContext {
  bool v6 = false;
  Bytes src, dst;
};

// What the layer after `next` calls itself, in the numbering space of the layer before it.
uint16_t etherTypeOf(const Layer *next) {
  if (!next)
    return 0x88b5; // IEEE local experimental: "something that is not IP"
  if (auto *v = std::get_if<VlanLayer>(next))
    return v->tpid;
  if (std::holds_alternative<Ipv4Layer>(*next))
    return kEthPIp;
  if (std::holds_alternative<Ipv6Layer>(*next))
    return kEthPIpv6;
  if (std::holds_alternative<ArpLayer>(*next))
    return kEthPArp;
  return 0x88b5;
}

uint8_t ipProtoOf(const Layer *next, bool v6) {
  if (!next)
    return kIpProtoNone;
  if (auto *e = std::get_if<Ipv6ExtLayer>(next))
    return e->type;
  if (std::holds_alternative<TcpLayer>(*next))
    return kIpProtoTcp;
  if (std::holds_alternative<UdpLayer>(*next))
    return kIpProtoUdp;
  if (std::holds_alternative<IcmpLayer>(*next))
    return v6 ? kIpProtoIcmpv6 : kIpProtoIcmp;
  if (std::holds_alternative<Ipv4Layer>(*next))
    return 4;
  if (std::holds_alternative<Ipv6Layer>(*next))
    return 41;
  return kIpProtoNone;
}

uint16_t l4Checksum(const IpContext &ip, uint8_t proto, const Bytes &segment) {
  uint32_t sum = partialSum(ip.src.data(), ip.src.size(), 0);
  sum = partialSum(ip.dst.data(), ip.dst.size(), sum);
  if (ip.v6) {
    sum += static_cast<uint32_t>(segment.size() >> 16) + static_cast<uint32_t>(segment.size() & 0xffff);
    sum += proto;
  } else {
    sum += proto;
    sum += static_cast<uint32_t>(segment.size());
  }
  return inetChecksum(segment.data(), segment.size(), sum);
}

// Serialises layer `i` in front of `inner` (the already built layers after it).
Bytes serialize(const std::vector<Layer> &layers, size_t i, const Bytes &inner) {
  const Layer *next = i + 1 < layers.size() ? &layers[i + 1] : nullptr;
  // The nearest enclosing IP header, for next-protocol numbering and checksums.
  std::optional<IpContext> ip;
  for (size_t j = i; j-- > 0;) {
    if (auto *v4 = std::get_if<Ipv4Layer>(&layers[j])) {
      ip = IpContext{false, Bytes(v4->src.begin(), v4->src.end()), Bytes(v4->dst.begin(), v4->dst.end())};
      break;
    }
    if (auto *v6 = std::get_if<Ipv6Layer>(&layers[j])) {
      ip = IpContext{true, Bytes(v6->src.begin(), v6->src.end()), Bytes(v6->dst.begin(), v6->dst.end())};
      break;
    }
  }

  Bytes out;
  std::visit(Overloaded{
                 [&](const EthLayer &l) {
                   append(out, l.dst);
                   append(out, l.src);
                   put16(out, l.ethertype.value_or(etherTypeOf(next)));
                 },
                 [&](const VlanLayer &l) {
                   put16(out, l.tci);
                   put16(out, l.ethertype.value_or(etherTypeOf(next)));
                 },
                 [&](const Ipv4Layer &l) {
                   Bytes options = l.options;
                   while (options.size() % 4)
                     options.push_back(0); // EOL
                   size_t hdrLen = 20 + options.size();
                   out.push_back(static_cast<uint8_t>(l.version.value_or(4) << 4 | (l.ihl.value_or(hdrLen / 4) & 0xf)));
                   out.push_back(0); // DSCP/ECN
                   put16(out, l.totalLength.value_or(static_cast<uint16_t>(hdrLen + inner.size())));
                   put16(out, l.id);
                   put16(out, static_cast<uint16_t>((l.dontFragment ? 0x4000 : 0) | (l.moreFragments ? 0x2000 : 0) |
                                                    (l.fragOffset & 0x1fff)));
                   out.push_back(l.ttl);
                   out.push_back(l.protocol.value_or(ipProtoOf(next, false)));
                   put16(out, 0);
                   append(out, l.src);
                   append(out, l.dst);
                   append(out, options);
                   set16(out, 10, inetChecksum(out.data(), out.size()));
                 },
                 [&](const Ipv6Layer &l) {
                   put32(out, static_cast<uint32_t>(l.version.value_or(6)) << 28);
                   put16(out, l.payloadLength.value_or(static_cast<uint16_t>(inner.size())));
                   out.push_back(l.nextHeader.value_or(ipProtoOf(next, true)));
                   out.push_back(l.hopLimit);
                   append(out, l.src);
                   append(out, l.dst);
                 },
                 [&](const Ipv6ExtLayer &l) {
                   out.push_back(l.nextHeader.value_or(ipProtoOf(next, true)));
                   size_t len;
                   if (l.type == kIpProtoFragment) {
                     out.push_back(0); // reserved
                     put16(out, static_cast<uint16_t>(l.fragOffset << 3 | (l.moreFragments ? 1 : 0)));
                     put32(out, 0xfeedf00d); // identification
                     return;
                   }
                   out.push_back(l.hdrLen);
                   if (l.type == kIpProtoAh) {
                     len = (l.hdrLen + 2u) * 4;
                     put16(out, 0);     // reserved
                     put32(out, 0x100); // SPI
                     put32(out, 1);     // sequence number
                   } else if (l.type == kIpProtoRouting) {
                     len = (l.hdrLen + 1u) * 8;
                     out.push_back(4); // routing type (SRH), segments left 0: a no-op for every node
                     out.push_back(0);
                   } else {
                     len = (l.hdrLen + 1u) * 8;
                     // One PadN option filling the header: valid for hop-by-hop and destination options.
                     out.push_back(1);
                     out.push_back(static_cast<uint8_t>(len - 4));
                   }
                   out.resize(len, 0);
                 },
                 [&](const TcpLayer &l) {
                   Bytes options = l.options;
                   while (options.size() % 4)
                     options.push_back(1); // NOP
                   size_t hdrLen = 20 + options.size();
                   put16(out, l.sport);
                   put16(out, l.dport);
                   put32(out, l.seq);
                   put32(out, l.ack);
                   out.push_back(static_cast<uint8_t>(l.doff.value_or(hdrLen / 4) << 4));
                   out.push_back(l.flags);
                   put16(out, l.window);
                   put16(out, 0); // checksum
                   put16(out, 0); // urgent pointer
                   append(out, options);
                   append(out, inner);
                   if (ip)
                     set16(out, 16, l4Checksum(*ip, kIpProtoTcp, out));
                   out.resize(hdrLen); // `inner` is prepended by the caller below
                 },
                 [&](const UdpLayer &l) {
                   put16(out, l.sport);
                   put16(out, l.dport);
                   put16(out, static_cast<uint16_t>(8 + inner.size()));
                   put16(out, 0);
                   append(out, inner);
                   if (ip) {
                     uint16_t sum = l4Checksum(*ip, kIpProtoUdp, out);
                     set16(out, 6, sum ? sum : 0xffff);
                   }
                   out.resize(8);
                 },
                 [&](const IcmpLayer &l) {
                   out.push_back(l.type);
                   out.push_back(l.code);
                   put16(out, 0);
                   put32(out, 0x00010001); // id 1, sequence 1
                   append(out, inner);
                   uint16_t sum =
                       ip && ip->v6 ? l4Checksum(*ip, kIpProtoIcmpv6, out) : inetChecksum(out.data(), out.size());
                   set16(out, 2, sum);
                   out.resize(8);
                 },
                 [&](const ArpLayer &l) {
                   put16(out, 1); // Ethernet
                   put16(out, kEthPIp);
                   out.push_back(6);
                   out.push_back(4);
                   put16(out, l.op);
                   append(out, Mac{0x02, 0, 0, 0, 0, 0x01});
                   append(out, l.senderIp);
                   append(out, Mac{});
                   append(out, l.targetIp);
                 },
                 [&](const PayloadLayer &l) { append(out, l.bytes); },
                 [&](const VxlanLayer &l) {
                   put32(out, static_cast<uint32_t>(l.flags) << 24);
                   put32(out, l.vni << 8);
                 },
                 [&](const GeneveLayer &l) {
                   Bytes options = l.options;
                   while (options.size() % 4)
                     options.push_back(0);
                   uint8_t optLen = l.optLen.value_or(static_cast<uint8_t>(options.size() / 4));
                   out.push_back(static_cast<uint8_t>(l.version << 6 | (optLen & 0x3f)));
                   out.push_back(0); // flags
                   uint16_t next_ = next && std::holds_alternative<EthLayer>(*next) ? 0x6558 : etherTypeOf(next);
                   put16(out, l.protocol.value_or(next_));
                   put32(out, l.vni << 8);
                   append(out, options);
                 },
             },
             layers[i]);
  append(out, inner);
  return out;
}

} // namespace

Ipv4Addr ipv4(const char *text) {
  Ipv4Addr a{};
  if (inet_pton(AF_INET, text, a.data()) != 1)
    std::abort();
  return a;
}

Ipv6Addr ipv6(const char *text) {
  Ipv6Addr a{};
  if (inet_pton(AF_INET6, text, a.data()) != 1)
    std::abort();
  return a;
}

uint16_t inetChecksum(const uint8_t *data, size_t len, uint32_t sum) {
  sum = partialSum(data, len, sum);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

Bytes buildWithOffsets(const std::vector<Layer> &layers, LayerOffsets *offsets) {
  // Inner layers first: lengths and checksums of a header depend on everything after it.
  Bytes packet;
  std::vector<size_t> sizes(layers.size());
  for (size_t i = layers.size(); i-- > 0;) {
    packet = serialize(layers, i, packet);
    sizes[i] = packet.size();
  }
  if (offsets) {
    offsets->start.clear();
    for (size_t size : sizes)
      offsets->start.push_back(packet.size() - size);
  }
  return packet;
}

Bytes PacketBuilder::build() const {
  Bytes packet = buildWithOffsets(layers_, nullptr);
  if (truncate_ && *truncate_ < packet.size())
    packet.resize(*truncate_);
  return packet;
}

std::string hexDump(const Bytes &bytes) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < bytes.size(); i++) {
    std::snprintf(buf, sizeof(buf), "%02x", bytes[i]);
    out += buf;
    if (i + 1 < bytes.size())
      out += (i % 16 == 15) ? '\n' : ' ';
  }
  return out;
}

} // namespace shadowtap::test
