// SPDX-License-Identifier: Apache-2.0
#include "reference_classifier.h"

#include <cstring>
#include <optional>

namespace shadowtap::test {
namespace {

struct Tcp {
  uint32_t saddr[4];
  uint32_t daddr[4];
  uint16_t sport, dport;
  bool syn;
};

uint16_t be16(const Bytes &p, size_t at) {
  return static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
}

bool isVlan(uint16_t proto) {
  return proto == 0x8100 || proto == 0x88a8;
}

bool isIpv6Ext(uint8_t nh) {
  return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}

void mapIpv4(uint32_t out[4], const uint8_t *addr) {
  uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  std::memcpy(mapped + 12, addr, 4);
  std::memcpy(out, mapped, 16);
}

// Either the parsed TCP packet or the terminal reason that stops parsing.
struct Parsed {
  uint32_t reason = 0;
  Tcp tcp{};
};

Parsed parse(const Bytes &p) {
  Parsed r;
  size_t len = p.size(), pos = 14;
  if (len < 14)
    return {ST_C_MALFORMED_L2};
  uint16_t proto = be16(p, 12);
  for (int depth = 0; depth < ST_MAX_VLAN_DEPTH && isVlan(proto); depth++) {
    if (pos + 4 > len)
      return {ST_C_MALFORMED_L2};
    proto = be16(p, pos + 2);
    pos += 4;
  }
  if (isVlan(proto))
    return {ST_C_VLAN_TOO_DEEP};

  uint8_t l4;
  if (proto == 0x0800) {
    if (pos + 20 > len)
      return {ST_C_MALFORMED_IPV4};
    unsigned version = p[pos] >> 4, ihl = p[pos] & 0xf;
    if (version != 4 || ihl < 5 || pos + ihl * 4 > len)
      return {ST_C_MALFORMED_IPV4};
    if (be16(p, pos + 6) & 0x1fff) // a fragment offset: no TCP header here
      return {ST_C_FRAGMENT};
    mapIpv4(r.tcp.saddr, &p[pos + 12]);
    mapIpv4(r.tcp.daddr, &p[pos + 16]);
    l4 = p[pos + 9];
    pos += ihl * 4;
  } else if (proto == 0x86dd) {
    if (pos + 40 > len || (p[pos] >> 4) != 6)
      return {ST_C_MALFORMED_IPV6};
    std::memcpy(r.tcp.saddr, &p[pos + 8], 16);
    std::memcpy(r.tcp.daddr, &p[pos + 24], 16);
    l4 = p[pos + 6];
    pos += 40;
    for (int walked = 0; isIpv6Ext(l4); walked++) {
      if (walked == ST_MAX_IPV6_EXT_HDRS)
        return {ST_C_MALFORMED_IPV6}; // chain longer than the walk limit
      if (pos + 8 > len)
        return {ST_C_MALFORMED_IPV6};
      size_t extLen;
      if (l4 == 44) {
        if (be16(p, pos + 2) & 0xfff8)
          return {ST_C_FRAGMENT};
        extLen = 8;
      } else if (l4 == 51) {
        extLen = (p[pos + 1] + 2u) * 4;
      } else {
        extLen = (p[pos + 1] + 1u) * 8;
      }
      if (pos + extLen > len)
        return {ST_C_MALFORMED_IPV6};
      l4 = p[pos];
      pos += extLen;
    }
  } else {
    return {ST_C_NOT_IP};
  }

  if (l4 != 6)
    return {ST_C_NOT_TCP};
  if (pos + 20 > len || (p[pos + 12] >> 4) < 5 || pos + (p[pos + 12] >> 4) * 4u > len)
    return {ST_C_MALFORMED_TCP};
  r.tcp.sport = be16(p, pos);
  r.tcp.dport = be16(p, pos + 2);
  uint8_t flags = p[pos + 13];
  r.tcp.syn = (flags & 0x02) && !(flags & 0x10);
  return r;
}

bool prefixMatches(const st_lpm_key &entry, const uint8_t addr[16]) {
  for (uint32_t bit = 0; bit < entry.prefixlen && bit < 128; bit++) {
    uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((entry.addr[bit / 8] & mask) != (addr[bit / 8] & mask))
      return false;
  }
  return true;
}

} // namespace

bool ReferenceClassifier::KeyLess::operator()(const st_flow_key &a, const st_flow_key &b) const {
  return std::memcmp(&a, &b, sizeof(a)) < 0;
}

ReferenceVerdict ReferenceClassifier::classify(const Bytes &packet, bool egress, bool xdp, bool ringOutput,
                                               uint32_t mark) {
  ReferenceVerdict v;
  if (!config_.enabled) {
    v.reason = ST_C_DISABLED;
    return v;
  }
  if (!xdp && config_.skipMark && mark == config_.skipMark) {
    v.reason = ST_C_MARKED;
    return v;
  }
  Parsed parsed = parse(packet);
  if (parsed.reason) {
    v.reason = parsed.reason;
    return v;
  }
  const Tcp &t = parsed.tcp;
  auto rule = config_.rules.find(egress ? t.sport : t.dport);
  if (rule == config_.rules.end() || !(rule->second.flags & ST_RULE_ENABLED)) {
    v.reason = ST_C_PORT_MISS;
    return v;
  }
  uint8_t client[16];
  std::memcpy(client, egress ? t.daddr : t.saddr, 16);
  for (const auto &entry : config_.excludes) {
    if (prefixMatches(entry, client)) {
      v.reason = ST_C_EXCLUDED;
      return v;
    }
  }

  st_flow_key key{};
  st_flow_key_make(&key, t.saddr, t.sport, t.daddr, t.dport);
  v.flowHash = st_flow_key_hash(&key, config_.seed);
  bool mirrored;
  if (t.syn) {
    mirrored = st_sampled(v.flowHash, rule->second.rate_ppm);
    flows_[key] = mirrored;
    v.events.push_back(ST_C_FLOW_DECIDED);
  } else if (auto it = flows_.find(key); it != flows_.end()) {
    mirrored = it->second;
  } else {
    mirrored = st_sampled(v.flowHash, rule->second.rate_ppm);
    v.events.push_back(ST_C_FLOW_STATELESS);
  }
  if (!mirrored)
    v.reason = ST_C_NOT_SAMPLED;
  else
    v.reason = ringOutput ? ST_C_RING_SENT : ST_C_CLONED;
  return v;
}

} // namespace shadowtap::test
