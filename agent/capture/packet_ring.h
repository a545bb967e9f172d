// SPDX-License-Identifier: Apache-2.0
// Reads the mirror interface through a memory-mapped AF_PACKET TPACKET_V3 ring: the kernel fills
// blocks of frames, we walk a block and hand it back — no copy, no syscall per packet.
// Sizing: a block is handed over when full or after its retire timeout, so at light traffic each
// block may carry only a few frames; what the ring can absorb while the agent is busy is then
// (blocks x timeout), not its byte size. Hence many 256 KiB blocks (still far above a 64 KiB
// GRO/GSO super-packet, which always arrives whole) and a 20 ms timeout: 256 blocks ride out
// >5 s of a stalled agent at low rates and 64 MiB at high rates.
#pragma once

#include "common/unique_fd.h"

#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace shadowtap {

struct CapturedFrame {
  uint64_t tsNs;   // kernel receive time (CLOCK_REALTIME)
  uint32_t wireLen; // the frame's length; > data.size() only if it did not fit (never expected)
  std::span<const uint8_t> data;
};

class PacketRing {
public:
  struct Options {
    uint32_t blockSize = 256u << 10;
    uint32_t blockCount = 256;
    uint32_t retireTimeoutMs = 20;
  };
  PacketRing(const std::string &iface, const Options &options); // throws Error
  ~PacketRing();
  PacketRing(const PacketRing &) = delete;
  PacketRing &operator=(const PacketRing &) = delete;

  int fd() const { return fd_.get(); }
  // Walks the blocks the kernel has filled, at most maxBlocks of them (a caller on an event loop
  // bounds each turn, so a flood cannot starve its other work); returns the number of frames seen.
  size_t drain(const std::function<void(const CapturedFrame &)> &onFrame, uint32_t maxBlocks = UINT32_MAX);
  // True if the next block is filled: drain() would find frames.
  bool ready() const;
  // Frames the kernel dropped because the ring was full (kernel-side loss), since the last call.
  uint64_t takeKernelDrops();

private:
  UniqueFd fd_;
  uint8_t *map_ = nullptr;
  size_t mapSize_ = 0;
  Options options_;
  uint32_t nextBlock_ = 0;
};

} // namespace shadowtap
