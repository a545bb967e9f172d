// SPDX-License-Identifier: Apache-2.0
// Deterministic packet generator for the fuzz tests: fully random frames, valid frames drawn from
// the shapes the data plane cares about (VLANs, IPv4 options/fragments, IPv6 extension chains,
// watched and unwatched ports, excluded and included clients), and valid frames with byte flips,
// truncations and corrupted length/type fields.
#pragma once

#include "packet_builder.h"

#include <random>

namespace shadowtap::test {

class RandomPackets {
public:
  explicit RandomPackets(uint64_t seed) : rng_(seed) {}

  Bytes next(); // one of the three kinds below, mixed
  Bytes randomBytes();
  Bytes valid(std::vector<Layer> *layers = nullptr, LayerOffsets *offsets = nullptr);
  Bytes mutated();

  uint32_t below(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  bool chance(uint32_t percent) { return below(100) < percent; }

private:
  uint8_t byte() { return static_cast<uint8_t>(rng_()); }
  template <class T> const T &pick(const std::vector<T> &from) {
    return from[below(static_cast<uint32_t>(from.size()))];
  }
  Ipv4Addr addr4();
  Ipv6Addr addr6();
  std::mt19937_64 rng_;
};

// The rules and excludes the generator's addresses and ports are drawn against.
inline const std::vector<uint16_t> kFuzzPorts = {80, 443, 8080, 22, 9000};

} // namespace shadowtap::test
