// SPDX-License-Identifier: Apache-2.0
#include "common/chunk_pool.h"

#include "common/byte_queue.h"

#include <cstring>
#include <gtest/gtest.h>
#include <set>
#include <string>
#include <vector>

namespace shadowtap {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;

std::vector<uint8_t *> acquireMany(ChunkPool &pool, size_t n) {
  std::vector<uint8_t *> chunks;
  for (size_t i = 0; i < n; i++) {
    chunks.push_back(pool.acquire());
    EXPECT_NE(chunks.back(), nullptr);
    std::memset(chunks.back(), 0x5a, ChunkPool::kChunkBytes); // the memory is ours to write
  }
  return chunks;
}

TEST(ChunkPool, ChunksAreCutFromSlabsAndTheLastReleasedIsTheNextTaken) {
  ChunkPool pool;
  auto chunks = acquireMany(pool, ChunkPool::kChunksPerSlab);
  EXPECT_EQ(pool.slabsMapped(), 1u);
  EXPECT_EQ(pool.mappedBytes(), ChunkPool::kSlabBytes);
  EXPECT_EQ(std::set<uint8_t *>(chunks.begin(), chunks.end()).size(), chunks.size()); // all distinct
  for (size_t i = 1; i < chunks.size(); i++)
    EXPECT_EQ(chunks[i], chunks[i - 1] + ChunkPool::kChunkBytes); // handed out in address order
  uint8_t *more = pool.acquire(); // the 33rd: a second slab
  EXPECT_EQ(pool.slabsMapped(), 2u);
  EXPECT_EQ(pool.inUseBytes(), (ChunkPool::kChunksPerSlab + 1) * ChunkPool::kChunkBytes);
  pool.release(chunks[7]);
  EXPECT_EQ(pool.acquire(), chunks[7]); // warm: no new slab, the chunk just released
  EXPECT_EQ(pool.slabsMapped(), 2u);
  pool.release(more);
  for (uint8_t *chunk : chunks)
    pool.release(chunk);
  EXPECT_EQ(pool.inUseBytes(), 0u);
}

// A backlog that drained gives its memory back, but not before a second in which nothing needed it
// (a stream whose backlog comes and goes keeps its warm chunks), and kKeepBytes always stay.
TEST(ChunkPool, TrimGivesBackWholeFreeSlabsBeyondWhatTheLastSecondUsed) {
  ChunkPool pool;
  constexpr size_t kSlabs = 10;
  auto chunks = acquireMany(pool, kSlabs * ChunkPool::kChunksPerSlab);
  pool.trim(1 * kSecond); // all in use: nothing to give back
  EXPECT_EQ(pool.mappedBytes(), kSlabs * ChunkPool::kSlabBytes);
  for (uint8_t *chunk : chunks)
    pool.release(chunk);
  pool.trim(1 * kSecond + kSecond / 2); // within the period: not even looked at
  EXPECT_EQ(pool.mappedBytes(), kSlabs * ChunkPool::kSlabBytes);
  pool.trim(2 * kSecond); // the last second had them all in use: kept
  EXPECT_EQ(pool.mappedBytes(), kSlabs * ChunkPool::kSlabBytes);
  pool.trim(3 * kSecond); // a second with none in use: down to kKeepBytes
  EXPECT_EQ(pool.mappedBytes(), ChunkPool::kKeepBytes);
  // What stays is whole and usable (no chunk of an unmapped slab is handed out: ASan/a fault).
  auto again = acquireMany(pool, ChunkPool::kKeepBytes / ChunkPool::kChunkBytes);
  EXPECT_EQ(pool.mappedBytes(), ChunkPool::kKeepBytes);
  for (uint8_t *chunk : again)
    pool.release(chunk);
}

TEST(ChunkPool, ASlabWithOneChunkInUseStaysMapped) {
  ChunkPool pool;
  constexpr size_t kSlabs = ChunkPool::kKeepBytes / ChunkPool::kSlabBytes + 3;
  auto chunks = acquireMany(pool, kSlabs * ChunkPool::kChunksPerSlab);
  // Keep one chunk of every slab in use.
  std::vector<uint8_t *> held;
  for (size_t i = 0; i < chunks.size(); i++) {
    if (i % ChunkPool::kChunksPerSlab == 5)
      held.push_back(chunks[i]);
    else
      pool.release(chunks[i]);
  }
  pool.trim(1 * kSecond);
  pool.trim(2 * kSecond);
  EXPECT_EQ(pool.mappedBytes(), kSlabs * ChunkPool::kSlabBytes);
  for (uint8_t *chunk : held) {
    EXPECT_EQ(chunk[0], 0x5a); // still there, still ours
    pool.release(chunk);
  }
  pool.trim(3 * kSecond); // the last second still had kSlabs chunks in use: less than kKeepBytes
  EXPECT_EQ(pool.mappedBytes(), ChunkPool::kKeepBytes);
}

TEST(ChunkPool, AQueueTakesItsWholeChunksFromThePoolAndGivesThemBackAsTheyAreWritten) {
  auto pool = std::make_shared<ChunkPool>();
  std::string bytes(1 << 20, 'x');
  {
    ByteQueue queue(pool);
    queue.append({reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size()});
    // One 1 MiB append: whole chunks from the start, all from the pool.
    EXPECT_EQ(pool->inUseBytes(), bytes.size());
    EXPECT_EQ(queue.allocated(), bytes.size());
    queue.consume(3 * ChunkPool::kChunkBytes + 10);
    EXPECT_EQ(pool->inUseBytes(), bytes.size() - 3 * ChunkPool::kChunkBytes); // written: back
    ByteQueue other(pool);
    other.append({reinterpret_cast<const uint8_t *>(bytes.data()), 3 * ChunkPool::kChunkBytes});
    EXPECT_EQ(pool->slabsMapped(), 1u); // the other queue took the chunks just given back
  } // both queues gone: every chunk back
  EXPECT_EQ(pool->inUseBytes(), 0u);
}

} // namespace
} // namespace shadowtap
