// SPDX-License-Identifier: Apache-2.0
// The two clocks the agent mixes: CLOCK_MONOTONIC for its own timeouts (and the BPF programs'
// bpf_ktime_get_ns), CLOCK_REALTIME for kernel packet timestamps and pcap files.
#pragma once

#include <cstdint>
#include <ctime>

namespace shadowtap {

inline uint64_t clockNs(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

inline uint64_t monotonicNs() { return clockNs(CLOCK_MONOTONIC); }
inline uint64_t realtimeNs() { return clockNs(CLOCK_REALTIME); }
inline uint64_t realtimeMinusMonotonicNs() { return realtimeNs() - monotonicNs(); }

} // namespace shadowtap
