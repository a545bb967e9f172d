// SPDX-License-Identifier: Apache-2.0
// Bytes appended at the back, read from the front in place (as pieces, one per chunk), released
// as they are used: the bytes a replay has taken and its shadow has not (gathered, one writev for
// many chunks), and the client's bytes the reassembler holds until the server acknowledges them.
//
// Chunks, so a backlog that grows never moves what it already holds. It was two vectors swapped
// between "queued" and "being written": when a line-rate upload met a shadow connection still in
// slow start, the queued vector doubled its way to tens of MiB, copying everything at each step
// into freshly faulted memory — the worker stalled for tens of ms and its capture ring overflowed
// (bench/bulk.sh, a perf profile: 33 % memmove, 22 % page faults).
//
// A queue's first chunk is sized to what it is given (at least kFirstChunkBytes), each later one
// twice the last, up to kChunkBytes. Every replay queues its first bytes while it connects, and
// a replay of a short connection holds its chunk as a spare for as long as it stays open: at one
// fixed 64 KiB chunk each, 16,384 open replays took 1 GiB of heap, and a quarter of a churning
// worker's CPU went to growing the heap for them (tests/e2e/load/conns_test.sh at 5,000
// connections/s fell behind; perf: sysmalloc and its page faults). A few released chunks are
// kept for the next appends, so a steady stream reuses warm memory.
//
// Given the worker's ChunkPool, whole chunks come from it and go back to it as soon as they are
// written: a backlog that grows at line rate takes warm, already mapped memory (chunk_pool.h says
// what a page fault costs), and one that drains leaves its chunks to the next connection. A queue
// that once grew to whole chunks goes on taking whole chunks after it empties (a stream's next
// burst), so what it hands out stays in few, large pieces.
#pragma once

#include "common/chunk_pool.h"

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <vector>

namespace shadowtap {

class ByteQueue {
public:
  static constexpr size_t kFirstChunkBytes = 1024;
  static constexpr size_t kChunkBytes = ChunkPool::kChunkBytes;
  static constexpr size_t kSpareChunks = 4;

  explicit ByteQueue(std::shared_ptr<ChunkPool> pool = nullptr) : pool_(std::move(pool)) {}
  ByteQueue(const ByteQueue &) = delete;
  ByteQueue &operator=(const ByteQueue &) = delete;
  ~ByteQueue();

  void append(std::span<const uint8_t> bytes);
  // The same, keeping allocated() at most `limit` (chunks cut to fit); false, and nothing
  // appended, if the bytes cannot fit (the reassembler's memory bound).
  bool append(std::span<const uint8_t> bytes, size_t limit);
  // Up to `max` bytes from the front, as at most `maxPieces` contiguous pieces.
  std::vector<std::span<const uint8_t>> front(size_t max, size_t maxPieces) const;
  // The same, appended to `pieces` (a caller's reused vector: no allocation per call).
  void front(size_t max, size_t maxPieces, std::vector<std::span<const uint8_t>> &pieces) const;
  // Drops `n` bytes (at most size()) from the front.
  void consume(size_t n);
  void clear();
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Bytes of buffer this queue owns, spares included (what it costs to hold).
  size_t allocated() const { return allocated_; }

private:
  struct Buffer { // owned by the queue: freed by free() (the pool's, or the heap's)
    uint8_t *data = nullptr;
    size_t capacity = 0;
    bool pooled = false;
  };
  struct Chunk {
    Buffer buffer;
    size_t begin = 0, end = 0; // the live bytes are [begin, end)
  };
  // A chunk for the next `need` bytes: from the pool, a spare if one is large enough, else a new
  // one; allocated() stays within `limit`.
  Chunk newChunk(size_t need, size_t limit);
  void release(Chunk &&chunk);
  void free(Buffer &buffer);

  std::shared_ptr<ChunkPool> pool_;
  std::list<Chunk> chunks_; // not a deque: an empty one allocates ~600 bytes, and every flow and replay has a queue
  std::vector<Buffer> spare_;
  size_t size_ = 0;
  size_t allocated_ = 0;
  bool grewToWholeChunks_ = false; // its newest chunk was whole: remembered while the queue is empty
};

} // namespace shadowtap
