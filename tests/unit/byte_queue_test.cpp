// SPDX-License-Identifier: Apache-2.0
#include "common/byte_queue.h"

#include <gtest/gtest.h>
#include <string>

namespace shadowtap {
namespace {

std::span<const uint8_t> bytesOf(const std::string &s) {
  return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

std::string joined(const std::vector<std::span<const uint8_t>> &pieces) {
  std::string out;
  for (auto p : pieces)
    out.append(p.begin(), p.end());
  return out;
}

std::string pattern(size_t n, size_t from = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++)
    s[i] = static_cast<char>('a' + (from + i) % 26);
  return s;
}

TEST(ByteQueue, WhatGoesInComesOutInOrderAcrossChunks) {
  ByteQueue q;
  constexpr size_t kChunk = ByteQueue::kChunkBytes;
  std::string all = pattern(3 * kChunk + 123);
  // Appended in odd pieces that straddle chunk boundaries.
  for (size_t at = 0; at < all.size();) {
    size_t n = std::min<size_t>(all.size() - at, 10007);
    q.append(bytesOf(all.substr(at, n)));
    at += n;
  }
  EXPECT_EQ(q.size(), all.size());
  auto pieces = q.front(all.size(), 64);
  // The first chunk fits the first append (10,007 -> 16 KiB), each next one doubles up to 64 KiB.
  std::vector<size_t> sizes;
  for (auto p : pieces)
    sizes.push_back(p.size());
  EXPECT_EQ(sizes, (std::vector<size_t>{16384, 32768, kChunk, kChunk, all.size() - 16384 - 32768 - 2 * kChunk}));
  EXPECT_EQ(joined(pieces), all);
  // Bounded by bytes and by pieces.
  EXPECT_EQ(joined(q.front(100, 64)), all.substr(0, 100));
  EXPECT_EQ(joined(q.front(all.size(), 2)), all.substr(0, 16384 + 32768));
}

// Every replay queues its first bytes while it connects and keeps the chunk as a spare while it
// stays open: a short request must cost a small buffer, not a whole chunk (16,384 open replays).
TEST(ByteQueue, ASmallWriteHoldsASmallBufferAndAStreamGrowsToWholeChunks) {
  ByteQueue q;
  q.append(bytesOf(pattern(64)));
  EXPECT_EQ(q.allocated(), ByteQueue::kFirstChunkBytes);
  q.consume(64);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.allocated(), ByteQueue::kFirstChunkBytes); // kept as the spare for the next write
  q.append(bytesOf(pattern(100)));
  EXPECT_EQ(q.allocated(), ByteQueue::kFirstChunkBytes); // and reused
  q.clear();

  // A backlog built from small writes still ends up in whole chunks (few pieces per writev).
  ByteQueue stream;
  std::string all = pattern(1 << 20);
  for (size_t at = 0; at < all.size(); at += 1000)
    stream.append(bytesOf(all.substr(at, 1000)));
  auto pieces = stream.front(all.size(), 64);
  EXPECT_EQ(joined(pieces), all);
  std::vector<size_t> sizes, expected{1024, 2048, 4096, 8192, 16384, 32768};
  for (auto p : pieces)
    sizes.push_back(p.size());
  expected.insert(expected.end(), 15, ByteQueue::kChunkBytes); // 63 KiB + 15 x 64 KiB + 1 KiB = 1 MiB
  expected.push_back(1024);
  EXPECT_EQ(sizes, expected);
  // Released, at most kSpareChunks buffers stay, the largest ones.
  stream.consume(all.size());
  EXPECT_EQ(stream.allocated(), ByteQueue::kSpareChunks * ByteQueue::kChunkBytes);
}

TEST(ByteQueue, ConsumeReleasesFromTheFrontAndKeepsTheRest) {
  ByteQueue q;
  constexpr size_t kChunk = ByteQueue::kChunkBytes;
  std::string all = pattern(2 * kChunk + 5);
  q.append(bytesOf(all));
  q.consume(kChunk - 1); // a partial write: one byte of the first chunk stays
  EXPECT_EQ(q.size(), all.size() - (kChunk - 1));
  EXPECT_EQ(joined(q.front(3, 64)), all.substr(kChunk - 1, 3));
  q.consume(kChunk + 1);
  EXPECT_EQ(joined(q.front(100, 64)), all.substr(2 * kChunk, 5));
  // Appending after a partial consume continues the same stream.
  q.append(bytesOf("XYZ"));
  EXPECT_EQ(joined(q.front(100, 64)), all.substr(2 * kChunk, 5) + "XYZ");
  q.consume(1000); // more than held: everything, no more
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(q.front(100, 64).empty());
  q.append(bytesOf("again"));
  EXPECT_EQ(joined(q.front(100, 64)), "again");
  q.clear();
  EXPECT_EQ(q.size(), 0u);
}

// A write in flight reads the front while more is appended at the back: the front never moves.
TEST(ByteQueue, AppendingNeverMovesBytesAlreadyHeld) {
  ByteQueue q;
  q.append(bytesOf(pattern(1000)));
  auto before = q.front(1000, 1);
  const uint8_t *where = before[0].data();
  for (int i = 0; i < 100; i++)
    q.append(bytesOf(pattern(ByteQueue::kChunkBytes)));
  EXPECT_EQ(q.front(1000, 1)[0].data(), where);
  EXPECT_EQ(std::string(before[0].begin(), before[0].end()), pattern(1000));
}

// The reassembler's memory bound: a queue given a limit never owns more, cuts its last chunk to
// what the limit leaves, and refuses (appending nothing) bytes that cannot fit.
TEST(ByteQueue, AppendWithinALimitCutsChunksToFitAndRefusesWhatCannot) {
  ByteQueue q;
  std::string all = pattern(6000);
  ASSERT_TRUE(q.append(bytesOf(all.substr(0, 5000)), 6000));
  EXPECT_LE(q.allocated(), 6000u);
  EXPECT_FALSE(q.append(bytesOf(all.substr(0, 1001)), 6000)); // 6001 > 6000
  EXPECT_EQ(q.size(), 5000u);                                  // nothing appended
  ASSERT_TRUE(q.append(bytesOf(all.substr(5000, 1000)), 6000)); // exactly the limit
  EXPECT_EQ(q.allocated(), 6000u);
  EXPECT_EQ(joined(q.front(6000, 64)), all);
  // Released into spares, the same bytes fit again without allocating past the limit.
  q.consume(6000);
  ASSERT_TRUE(q.append(bytesOf(all), 6000));
  EXPECT_LE(q.allocated(), 6000u);
  EXPECT_EQ(joined(q.front(6000, 64)), all);

  // With a pool: a whole chunk is taken only if it fits under the limit.
  auto pool = std::make_shared<ChunkPool>();
  ByteQueue pooled(pool);
  std::string big = pattern(3 * ByteQueue::kChunkBytes);
  ASSERT_TRUE(pooled.append(bytesOf(big), 3 * ByteQueue::kChunkBytes + 100));
  EXPECT_LE(pooled.allocated(), 3 * ByteQueue::kChunkBytes + 100);
  EXPECT_EQ(joined(pooled.front(big.size(), 64)), big);
}

} // namespace
} // namespace shadowtap
