// SPDX-License-Identifier: Apache-2.0
// The reassembler must deliver the original stream exactly, or report a hole — never a wrong byte.
#include "flow/stream_reassembler.h"

#include <algorithm>
#include <gtest/gtest.h>
#include <random>

using shadowtap::flow::StreamReassembler;

namespace {

struct Segment {
  uint64_t offset; // from the first data byte
  size_t len;
  bool fin;
};

std::vector<uint8_t> makeStream(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> data(n);
  for (auto &b : data)
    b = static_cast<uint8_t>(rng());
  return data;
}

// Cuts [0, n) into segments of random sizes; the last one carries the FIN.
std::vector<Segment> segment(size_t n, std::mt19937 &rng, size_t maxLen = 1500) {
  std::vector<Segment> out;
  for (uint64_t at = 0; at < n;) {
    size_t len = std::min<size_t>(1 + rng() % maxLen, n - at);
    out.push_back({at, len, false});
    at += len;
  }
  if (out.empty())
    out.push_back({0, 0, true});
  out.back().fin = true;
  return out;
}

std::vector<uint8_t> feed(StreamReassembler &r, uint32_t isn, const std::vector<uint8_t> &stream,
                          const std::vector<Segment> &segments) {
  std::vector<uint8_t> out;
  for (const auto &s : segments) {
    std::span<const uint8_t> bytes(stream.data() + s.offset, s.len);
    r.onSegment(isn + 1 + static_cast<uint32_t>(s.offset), bytes, s.fin, out);
    // Invariant after every segment: what came out is a prefix of the stream.
    EXPECT_LE(out.size(), stream.size());
    EXPECT_TRUE(std::equal(out.begin(), out.end(), stream.begin())) << "wrong byte delivered";
  }
  return out;
}

// Hands `r` (ISN 0) the stream but for the bytes [from, to): what precedes the hole, then what
// follows it with the FIN.
std::vector<uint8_t> feedAroundHole(StreamReassembler &r, const std::vector<uint8_t> &stream, size_t from, size_t to) {
  std::vector<uint8_t> out;
  r.onSegment(1, {stream.data(), from}, false, out);
  r.onSegment(1 + static_cast<uint32_t>(to), {stream.data() + to, stream.size() - to}, true, out);
  return out;
}

} // namespace

TEST(Reassembler, InOrder) {
  auto stream = makeStream(100000, 1);
  std::mt19937 rng(1);
  StreamReassembler r(1000, 1 << 20);
  auto out = feed(r, 1000, stream, segment(stream.size(), rng));
  EXPECT_EQ(out, stream);
  EXPECT_TRUE(r.finished());
  EXPECT_FALSE(r.hasHole());
  EXPECT_EQ(r.bufferedBytes(), 0u);
}

TEST(Reassembler, Reversed) {
  auto stream = makeStream(50000, 2);
  std::mt19937 rng(2);
  auto segments = segment(stream.size(), rng);
  std::reverse(segments.begin(), segments.end());
  StreamReassembler r(7, 1 << 20);
  auto out = feed(r, 7, stream, segments);
  EXPECT_EQ(out, stream);
  EXPECT_TRUE(r.finished());
}

TEST(Reassembler, RandomPermutationsWithDuplicatesAndOverlaps) {
  for (uint32_t seed = 0; seed < 300; seed++) {
    std::mt19937 rng(seed);
    auto stream = makeStream(1 + rng() % 30000, seed);
    auto segments = segment(stream.size(), rng, 1 + rng() % 3000);
    // Duplicates and overlapping retransmissions (same bytes, other boundaries).
    size_t extra = rng() % 20;
    for (size_t i = 0; i < extra; i++) {
      uint64_t at = rng() % stream.size();
      size_t len = std::min<size_t>(1 + rng() % 4000, stream.size() - at);
      segments.push_back({at, len, at + len == stream.size()});
    }
    std::shuffle(segments.begin(), segments.end(), rng);
    uint32_t isn = static_cast<uint32_t>(rng());
    StreamReassembler r(isn, 1 << 20);
    auto out = feed(r, isn, stream, segments);
    ASSERT_EQ(out, stream) << "seed " << seed;
    ASSERT_TRUE(r.finished()) << "seed " << seed;
    ASSERT_EQ(r.bufferedBytes(), 0u);
  }
}

TEST(Reassembler, SequenceNumbersWrapAt2To32) {
  auto stream = makeStream(200000, 3);
  std::mt19937 rng(3);
  auto segments = segment(stream.size(), rng);
  std::shuffle(segments.begin(), segments.end(), rng);
  uint32_t isn = 0xffffffffu - 50000; // the stream crosses 2^32 a third of the way in
  StreamReassembler r(isn, 1 << 20);
  auto out = feed(r, isn, stream, segments);
  EXPECT_EQ(out, stream);
  EXPECT_EQ(r.deliveredBytes(), stream.size());
}

TEST(Reassembler, HoleFilledLate) {
  auto stream = makeStream(10000, 4);
  StreamReassembler r(0, 1 << 20);
  auto out = feedAroundHole(r, stream, 1000, 2000);
  EXPECT_EQ(out.size(), 1000u);
  EXPECT_TRUE(r.hasHole());
  EXPECT_FALSE(r.finished());
  EXPECT_EQ(r.bufferedBytes(), 8000u);
  r.onSegment(1 + 1000, {stream.data() + 1000, 1000}, false, out);
  EXPECT_EQ(out, stream);
  EXPECT_FALSE(r.hasHole());
  EXPECT_TRUE(r.finished());
}

TEST(Reassembler, HoleNeverFilledDeliversOnlyThePrefix) {
  auto stream = makeStream(10000, 5);
  StreamReassembler r(0, 1 << 20);
  auto out = feedAroundHole(r, stream, 3000, 4000);
  EXPECT_EQ(out, std::vector<uint8_t>(stream.begin(), stream.begin() + 3000));
  EXPECT_TRUE(r.hasHole()); // the flow table breaks the flow on the gap timeout
  EXPECT_TRUE(r.finSeen());
  EXPECT_FALSE(r.finished());
}

TEST(Reassembler, FirstCopyWinsOnConflictingOverlap) {
  std::vector<uint8_t> first(100, 'A'), later(100, 'B'), out;
  StreamReassembler r(0, 1 << 20);
  r.onSegment(1 + 100, first, false, out);      // buffered out of order
  r.onSegment(1 + 50, later, false, out);       // overlaps [100,150) with other bytes
  EXPECT_TRUE(out.empty());
  std::vector<uint8_t> head(50, 'H');
  r.onSegment(1, head, false, out);
  ASSERT_EQ(out.size(), 200u);
  EXPECT_EQ(out[49], 'H');
  EXPECT_EQ(out[50], 'B');  // [50,100) only the later segment had
  EXPECT_EQ(out[100], 'A'); // [100,200) the first copy wins
  EXPECT_EQ(out[199], 'A');
  // Already delivered bytes are never replaced either.
  std::vector<uint8_t> rewrite(200, 'Z');
  r.onSegment(1, rewrite, false, out);
  EXPECT_EQ(out.size(), 200u);
}

TEST(Reassembler, KeepAliveAndZeroWindowProbesAddNothingWrong) {
  std::vector<uint8_t> data(1000, 'd'), out;
  StreamReassembler r(500, 1 << 20);
  r.onSegment(501, data, false, out);
  std::vector<uint8_t> garbage(1, 0);
  r.onSegment(501 + 1000 - 1, garbage, false, out); // keep-alive: seq = next - 1, one garbage byte
  r.onSegment(501 + 1000 - 1, {}, false, out);      // keep-alive without data
  EXPECT_EQ(out.size(), 1000u);
  EXPECT_EQ(out.back(), 'd');
  std::vector<uint8_t> probe(1, 'p');
  r.onSegment(501 + 1000, probe, false, out); // zero-window probe: a real next byte
  EXPECT_EQ(out.size(), 1001u);
  r.onSegment(501 + 1000, probe, false, out); // and its retransmission
  EXPECT_EQ(out.size(), 1001u);
}

TEST(Reassembler, OverflowIsReportedNotBuffered) {
  std::vector<uint8_t> data(4096, 'x'), out;
  StreamReassembler r(0, 10000);
  EXPECT_EQ(r.onSegment(1 + 100, data, false, out), StreamReassembler::Status::Ok);
  EXPECT_EQ(r.onSegment(1 + 5000, data, false, out), StreamReassembler::Status::Ok);
  EXPECT_EQ(r.onSegment(1 + 10000, data, false, out), StreamReassembler::Status::Overflow);
  EXPECT_LE(r.bufferedBytes(), 10000u);
}

TEST(Reassembler, SegmentsFarOutsideTheWindowAreIgnored) {
  std::vector<uint8_t> data(10, 'x'), out;
  StreamReassembler r(0, 1 << 20);
  r.onSegment(1, data, false, out);
  EXPECT_EQ(r.onSegment(1 + 0x7fff0000u, data, false, out), StreamReassembler::Status::OutOfWindow);
  EXPECT_EQ(r.onSegment(1u - 100000u, data, false, out), StreamReassembler::Status::OutOfWindow);
  EXPECT_EQ(out.size(), 10u);
  EXPECT_FALSE(r.hasHole());
}

TEST(Reassembler, NothingIsDeliveredPastTheFin) {
  std::vector<uint8_t> data(100, 'x'), out;
  StreamReassembler r(0, 1 << 20);
  r.onSegment(1, {data.data(), 50}, true, out);
  r.onSegment(1, data, false, out); // bytes beyond the FIN: not part of the stream
  EXPECT_EQ(out.size(), 50u);
  EXPECT_TRUE(r.finished());
}

// ---- gated streams: only what the receiver acknowledged is delivered ----------------------------

TEST(GatedReassembler, DeliversOnlyWhatWasAcknowledged) {
  std::vector<uint8_t> data(300, 'x'), out;
  StreamReassembler r(0, 1 << 20, /*gated=*/true);
  r.onSegment(1, {data.data(), 100}, false, out);
  r.onSegment(101, {data.data(), 200}, false, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(r.unackedBytes(), 300u);
  r.onAck(1 + 150, out);
  EXPECT_EQ(out.size(), 150u);
  r.onAck(1 + 120, out); // an older ACK changes nothing
  EXPECT_EQ(out.size(), 150u);
  r.onAck(1 + 300, out);
  EXPECT_EQ(out.size(), 300u);
  EXPECT_EQ(r.unackedBytes(), 0u);
}

TEST(GatedReassembler, TheFinCountsOnlyOnceAcknowledged) {
  std::vector<uint8_t> data(10, 'x'), out;
  StreamReassembler r(0, 1 << 20, true);
  r.onSegment(1, data, true, out);
  r.onAck(1 + 10, out);
  EXPECT_EQ(out.size(), 10u);
  EXPECT_FALSE(r.finished());
  r.onAck(1 + 11, out); // the FIN takes one sequence number
  EXPECT_TRUE(r.finished());
}

TEST(GatedReassembler, AFinTheReceiverAcknowledgesPastWasForgedAndIsForgotten) {
  std::vector<uint8_t> data(20, 'x'), out;
  StreamReassembler r(0, 1 << 20, true);
  r.onSegment(1, {data.data(), 10}, true, out); // a forged FIN at 10
  r.onAck(1 + 20, out);                        // the receiver has 20 bytes: the FIN was not real
  EXPECT_FALSE(r.finSeen());
  EXPECT_TRUE(r.hasHole()); // bytes 10..20 were never seen: the flow table breaks it, never corrupts
  r.onSegment(11, {data.data(), 10}, false, out);
  EXPECT_EQ(out.size(), 20u);
  EXPECT_FALSE(r.hasHole());
}

TEST(GatedReassembler, ResetsCountOnlyAtTheNextSequenceNumber) {
  std::vector<uint8_t> data(50, 'x'), out;
  StreamReassembler r(100, 1 << 20, true);
  r.onSegment(101, data, false, out);
  EXPECT_TRUE(r.acceptsReset(151));
  EXPECT_FALSE(r.acceptsReset(150));
  EXPECT_FALSE(r.acceptsReset(152));
  EXPECT_FALSE(r.acceptsReset(151 + 65535));
  r.onAck(151 + 10, out); // the receiver is ahead of our capture: its next is 161
  EXPECT_TRUE(r.acceptsReset(161));
}

// ---- memory is counted as memory -----------------------------------------------------------------

TEST(Reassembler, AdjacentOutOfOrderSegmentsAreCoalesced) {
  std::vector<uint8_t> out;
  StreamReassembler r(0, 1 << 20);
  uint8_t b = 'x';
  for (uint32_t i = 0; i < 1000; i++) // bytes 1..1000 one at a time, byte 0 missing
    r.onSegment(2 + i, {&b, 1}, false, out);
  EXPECT_EQ(r.bufferedBytes(), 1000u);
  // One segment's overhead, not a thousand.
  EXPECT_LT(r.memoryBytes(), 1000u * 2 + StreamReassembler::kSegmentOverhead);
  r.onSegment(1, {&b, 1}, false, out);
  EXPECT_EQ(out.size(), 1001u);
}

TEST(Reassembler, OneByteSegmentsPayTheirOverhead) {
  std::vector<uint8_t> out;
  StreamReassembler r(0, 100000);
  uint8_t b = 'x';
  StreamReassembler::Status status = StreamReassembler::Status::Ok;
  uint32_t stored = 0;
  for (uint32_t i = 0; i < 100000 && status == StreamReassembler::Status::Ok; i++) {
    status = r.onSegment(3 + 2 * i, {&b, 1}, false, out); // every other byte: nothing to coalesce
    stored += status == StreamReassembler::Status::Ok;
  }
  EXPECT_EQ(status, StreamReassembler::Status::Overflow);
  EXPECT_LE(r.memoryBytes(), 100000u);
  EXPECT_LT(stored, 100000u / StreamReassembler::kSegmentOverhead + 1); // ~1000 segments, not 100000
}

// Behind a lost segment a line-rate sender keeps going for a whole window: the run that waits
// grows up to the bound, not to half of it (vector's doubling would ask for twice the run).
TEST(Reassembler, ARunPastALostSegmentGrowsUpToTheBoundNotToHalfOfIt) {
  constexpr size_t kBound = 4u << 20, kSegment = 64u << 10;
  auto data = makeStream(kSegment + (3u << 20) + (512u << 10), 7); // the lost one, then 3.5 MiB
  StreamReassembler r(100, kBound);
  std::vector<uint8_t> out;
  for (size_t at = kSegment; at < data.size(); at += kSegment) {
    auto piece = std::span<const uint8_t>(data).subspan(at, std::min(kSegment, data.size() - at));
    ASSERT_EQ(r.onSegment(101 + static_cast<uint32_t>(at), piece, false, out), StreamReassembler::Status::Ok)
        << "at " << at;
    EXPECT_LE(r.memoryBytes(), kBound);
  }
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(r.onSegment(101, std::span<const uint8_t>(data).first(kSegment), false, out),
            StreamReassembler::Status::Ok);
  EXPECT_EQ(out, data);
  // The bound is a bound: past it, overflow.
  StreamReassembler small(100, kBound);
  auto big = makeStream(kBound + kSegment, 8);
  StreamReassembler::Status last = StreamReassembler::Status::Ok;
  for (size_t at = kSegment; at < big.size() && last == StreamReassembler::Status::Ok; at += kSegment) {
    auto piece = std::span<const uint8_t>(big).subspan(at, kSegment);
    last = small.onSegment(101 + static_cast<uint32_t>(at), piece, false, out);
  }
  EXPECT_EQ(last, StreamReassembler::Status::Overflow);
  EXPECT_LE(small.memoryBytes(), kBound);
}

// What a call makes deliverable is handed out in place, not copied: the segment's own bytes when
// they are deliverable at once, else pieces of the reassembler's buffer (whole chunks of the
// worker's pool), intact until the next call, which gives the chunks back to the pool.
TEST(Reassembler, DeliversInPlaceAndKeepsItUntilTheNextCall) {
  auto data = makeStream(200000, 9);
  std::span<const uint8_t> all(data);
  StreamReassembler::Pieces delivered;
  auto joined = [&] {
    std::vector<uint8_t> out;
    for (auto piece : delivered)
      out.insert(out.end(), piece.begin(), piece.end());
    return out;
  };

  StreamReassembler open(100, 1u << 20); // not gated, in order: the segment itself
  ASSERT_EQ(open.onSegment(101, all.first(1000), false, delivered), StreamReassembler::Status::Ok);
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].data(), data.data());
  EXPECT_EQ(delivered[0].size(), 1000u);

  auto pool = std::make_shared<shadowtap::ChunkPool>();
  StreamReassembler gated(100, 1u << 20, /*gated=*/true, pool); // held until acknowledged
  ASSERT_EQ(gated.onSegment(101, all.first(150000), false, delivered), StreamReassembler::Status::Ok);
  EXPECT_TRUE(delivered.empty());
  EXPECT_GE(pool->inUseBytes(), 2 * shadowtap::ChunkPool::kChunkBytes); // whole chunks from the pool
  ASSERT_EQ(gated.onAck(101 + 150000, delivered), StreamReassembler::Status::Ok);
  EXPECT_EQ(delivered.size(), 3u); // 150,000 bytes in 64 KiB chunks
  for (auto piece : delivered)
    EXPECT_FALSE(piece.data() >= data.data() && piece.data() < data.data() + data.size()); // the buffer's
  EXPECT_EQ(joined(), std::vector<uint8_t>(data.begin(), data.begin() + 150000));
  size_t held = gated.memoryBytes();
  EXPECT_GE(held, 150000u); // not dropped yet: the caller may still be reading it
  // The next call drops it (the chunks go back to the pool) and delivers the rest.
  ASSERT_EQ(gated.onSegment(101 + 150000, all.subspan(150000), false, delivered), StreamReassembler::Status::Ok);
  EXPECT_LT(gated.memoryBytes(), held);
  ASSERT_EQ(gated.onAck(101 + 200000, delivered), StreamReassembler::Status::Ok);
  EXPECT_EQ(joined(), std::vector<uint8_t>(data.begin() + 150000, data.end()));
  ASSERT_EQ(gated.onAck(101 + 200000, delivered), StreamReassembler::Status::Ok); // nothing new
  EXPECT_TRUE(delivered.empty());
  EXPECT_EQ(pool->inUseBytes(), 0u); // an idle stream holds no chunk of the pool
}
