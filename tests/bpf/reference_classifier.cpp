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

// Either the parsed TCP packet or the terminal reason that stops parsing; `events` are the
// tunnels opened on the way (ST_C_DECAP_*), whatever the outcome.
struct Parsed {
  uint32_t reason = 0;
  Tcp tcp{};
  std::vector<uint32_t> events;
};

// Ethernet and up to ST_MAX_VLAN_DEPTH tags at `pos`: the ethertype, or a reason (0 on success).
uint32_t parseL2(const Bytes &p, size_t &pos, uint16_t &proto) {
  size_t len = p.size();
  if (pos + 14 > len)
    return ST_C_MALFORMED_L2;
  proto = be16(p, pos + 12);
  pos += 14;
  for (int depth = 0; depth < ST_MAX_VLAN_DEPTH && isVlan(proto); depth++) {
    if (pos + 4 > len)
      return ST_C_MALFORMED_L2;
    proto = be16(p, pos + 2);
    pos += 4;
  }
  if (isVlan(proto))
    return ST_C_VLAN_TOO_DEEP;
  return 0;
}

// The IP header of ethertype `proto` at `pos`: its addresses into `r.tcp`, `pos` moved to the
// upper layer, `l4` its protocol. Returns a reason, 0 on success.
uint32_t parseL3(const Bytes &p, size_t &pos, uint16_t proto, Parsed &r, uint8_t &l4) {
  size_t len = p.size();
  if (proto == 0x0800) {
    if (pos + 20 > len)
      return ST_C_MALFORMED_IPV4;
    unsigned version = p[pos] >> 4, ihl = p[pos] & 0xf;
    if (version != 4 || ihl < 5 || pos + ihl * 4 > len)
      return ST_C_MALFORMED_IPV4;
    if (be16(p, pos + 6) & 0x1fff) // a fragment offset: no TCP header here
      return ST_C_FRAGMENT;
    mapIpv4(r.tcp.saddr, &p[pos + 12]);
    mapIpv4(r.tcp.daddr, &p[pos + 16]);
    l4 = p[pos + 9];
    pos += ihl * 4;
    return 0;
  }
  if (proto != 0x86dd)
    return ST_C_NOT_IP;
  if (pos + 40 > len || (p[pos] >> 4) != 6)
    return ST_C_MALFORMED_IPV6;
  std::memcpy(r.tcp.saddr, &p[pos + 8], 16);
  std::memcpy(r.tcp.daddr, &p[pos + 24], 16);
  l4 = p[pos + 6];
  pos += 40;
  for (int walked = 0; isIpv6Ext(l4); walked++) {
    if (walked == ST_MAX_IPV6_EXT_HDRS)
      return ST_C_MALFORMED_IPV6; // chain longer than the walk limit
    if (pos + 8 > len)
      return ST_C_MALFORMED_IPV6;
    size_t extLen;
    if (l4 == 44) {
      if (be16(p, pos + 2) & 0xfff8)
        return ST_C_FRAGMENT;
      extLen = 8;
    } else if (l4 == 51) {
      extLen = (p[pos + 1] + 2u) * 4;
    } else {
      extLen = (p[pos + 1] + 1u) * 8;
    }
    if (pos + extLen > len)
      return ST_C_MALFORMED_IPV6;
    l4 = p[pos];
    pos += extLen;
  }
  return 0;
}

// After an outer IP header whose protocol is `l4`: 0 if it is no tunnel; else the tunnel is
// opened (its event recorded), `innerProto` is the inner ethertype, and the result is a reason
// when the tunnel cannot be opened or its inner Ethernet is bad (kTunnelOpened otherwise).
constexpr uint32_t kTunnelOpened = ST_C_MAX + 1;
uint32_t openTunnel(const Bytes &p, size_t &pos, uint8_t l4, uint16_t &innerProto, Parsed &r) {
  if (l4 == 4 || l4 == 41) {
    r.events.push_back(l4 == 4 ? ST_C_DECAP_IPIP : ST_C_DECAP_IP6IP6);
    innerProto = l4 == 4 ? 0x0800 : 0x86dd;
    return kTunnelOpened;
  }
  if (l4 != 17)
    return 0;
  // UDP: a tunnel only with a whole, valid VXLAN or Geneve header; otherwise just UDP.
  if (pos + 16 > p.size())
    return ST_C_NOT_TCP;
  uint16_t dport = be16(p, pos + 2);
  size_t tunnel = pos + 8;
  if (dport == 6081) {
    uint16_t type = be16(p, tunnel + 2);
    if ((p[tunnel] >> 6) != 0 || (type != 0x6558 && type != 0x0800 && type != 0x86dd))
      return ST_C_NOT_TCP;
    r.events.push_back(ST_C_DECAP_GENEVE);
    pos = tunnel + 8 + (p[tunnel] & 0x3f) * 4u;
    if (type != 0x6558) {
      innerProto = type;
      return kTunnelOpened;
    }
  } else if (dport == 4789 || dport == 8472) {
    if (!(p[tunnel] & 0x08))
      return ST_C_NOT_TCP;
    r.events.push_back(ST_C_DECAP_VXLAN);
    pos = tunnel + 8;
  } else {
    return ST_C_NOT_TCP;
  }
  if (uint32_t reason = parseL2(p, pos, innerProto))
    return reason;
  return kTunnelOpened;
}

Parsed parse(const Bytes &p) {
  Parsed r;
  size_t len = p.size(), pos = 0;
  uint16_t proto;
  if ((r.reason = parseL2(p, pos, proto)))
    return r;
  uint8_t l4;
  if ((r.reason = parseL3(p, pos, proto, r, l4)))
    return r;
  uint16_t inner;
  uint32_t tunnel = openTunnel(p, pos, l4, inner, r);
  if (tunnel == kTunnelOpened) {
    if ((r.reason = parseL3(p, pos, inner, r, l4)))
      return r;
  } else if (tunnel) {
    r.reason = tunnel;
    return r;
  }

  if (l4 != 6) {
    r.reason = ST_C_NOT_TCP;
    return r;
  }
  if (pos + 20 > len || (p[pos + 12] >> 4) < 5 || pos + (p[pos + 12] >> 4) * 4u > len) {
    r.reason = ST_C_MALFORMED_TCP;
    return r;
  }
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
  v.events = parsed.events; // tunnels opened, counted before anything else is decided
  if (parsed.reason) {
    v.reason = parsed.reason;
    return v;
  }
  const Tcp &t = parsed.tcp;
  // The hook's side of the packet first (a server's NIC); then, on a veth, the other side.
  bool request = !egress;
  auto usable = [&](bool asRequest) {
    auto rule = config_.rules.find(asRequest ? t.dport : t.sport);
    return rule != config_.rules.end() && (rule->second.flags & ST_RULE_ENABLED);
  };
  if (!usable(request) && (config_.runtimeFlags & ST_RT_PORTS_EITHER_SIDE))
    request = !request;
  if (!usable(request)) {
    v.reason = ST_C_PORT_MISS;
    return v;
  }
  auto rule = config_.rules.find(request ? t.dport : t.sport);
  uint8_t client[16];
  std::memcpy(client, request ? t.saddr : t.daddr, 16);
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
    if (mirrored)
      v.events.push_back(ST_C_FLOW_ADMITTED);
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
