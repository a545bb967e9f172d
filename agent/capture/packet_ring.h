// SPDX-License-Identifier: Apache-2.0
// Reads the mirror interface through a memory-mapped AF_PACKET TPACKET_V3 ring: the kernel fills
// blocks of frames, we walk a block and hand it back — no copy, no syscall per packet. Blocks are
// 4 MiB, so GRO/GSO super-packets (up to 64 KiB) always arrive whole, never truncated.
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
    uint32_t blockSize = 4u << 20;
    uint32_t blockCount = 16; // 64 MiB of kernel ring: rides out bursts while replay writes
  };
  PacketRing(const std::string &iface, const Options &options); // throws Error
  ~PacketRing();
  PacketRing(const PacketRing &) = delete;
  PacketRing &operator=(const PacketRing &) = delete;

  int fd() const { return fd_.get(); }
  // Walks every block the kernel has filled; returns the number of frames seen.
  size_t drain(const std::function<void(const CapturedFrame &)> &onFrame);
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
