// SPDX-License-Identifier: Apache-2.0
// The memory the worker's byte buffers are made of (replay backlogs, the reassemblers' in-order
// bytes): fixed 64 KiB chunks cut from 2 MiB slabs, handed back warm to the next buffer that grows.
//
// Why not the heap: buffers grow at line rate (a shadow behind a 5 Gbit/s stream, a client's
// bytes waiting for the server's ACK) and the heap gives them memory it just got from the kernel,
// then returns it when they drain (glibc trims its top past 128 KiB; vectors also copy themselves
// at each doubling). A new page costs 22 us here on its first write, and still 15 us on its first
// access when mapped ahead with MAP_POPULATE (shadow page tables, common/touch_pages.h), against
// 0.05 us once used (bench/first_touch.sh, 2026-12-06): a worker growing buffers into new memory
// moves ~170 MB/s, a quarter of a 5 Gbit/s stream. A profile of the worker while such a stream was
// shed (`perf record -g`, bench/bulk.sh's paced row) had 9 % of its CPU in page faults under
// memmove, and the reassembler's buffer was compacted by moving what stayed; both are gone from
// the profile with the pool.
//
// One pool per worker (single-threaded, no locks), shared by its flow table and its replayer. A
// slab is mapped with MAP_POPULATE (one call instead of 512 faults). Slabs stay mapped while
// recent buffers needed them: trim() (every tick) unmaps the whole free slabs beyond the most the
// last second had in use, keeping kKeepBytes, so memory a burst needed goes back within seconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace shadowtap {

class ChunkPool {
public:
  static constexpr size_t kChunkBytes = 64 * 1024;
  static constexpr size_t kSlabBytes = 2 * 1024 * 1024;
  static constexpr size_t kChunksPerSlab = kSlabBytes / kChunkBytes;
  static constexpr size_t kKeepBytes = 4 * kSlabBytes; // kept mapped however idle: the next burst
  static constexpr uint64_t kTrimPeriodNs = 1'000'000'000;

  ChunkPool() = default;
  ChunkPool(const ChunkPool &) = delete;
  ChunkPool &operator=(const ChunkPool &) = delete;
  ~ChunkPool();

  // A chunk of kChunkBytes, or nullptr when no slab could be mapped (the caller uses the heap).
  uint8_t *acquire();
  void release(uint8_t *chunk);
  // Unmaps whole free slabs beyond max(kKeepBytes, the most in use since the last trim); at most
  // once per kTrimPeriodNs of `nowNs` (monotonic).
  void trim(uint64_t nowNs);

  size_t mappedBytes() const { return slabs_.size() * kSlabBytes; }
  size_t inUseBytes() const { return inUse_ * kChunkBytes; }
  uint64_t slabsMapped() const { return slabsMapped_; } // ever, trims included: what growth cost

private:
  bool grow();
  struct Slab {
    size_t freeChunks = 0;
  };
  std::map<uintptr_t, Slab> slabs_; // by base address: a chunk's slab is the last base <= it
  std::vector<uint8_t *> free_;     // LIFO: the chunk released last is the warmest
  size_t inUse_ = 0;
  size_t peakInUse_ = 0; // since the last trim
  uint64_t lastTrimNs_ = 0;
  uint64_t slabsMapped_ = 0;
};

} // namespace shadowtap
