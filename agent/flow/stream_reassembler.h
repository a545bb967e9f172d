// SPDX-License-Identifier: Apache-2.0
// One direction of one TCP connection, rebuilt into its exact byte stream.
//
// Contract: bytes are delivered strictly in sequence order, each byte exactly once, and never a
// byte that was not sent. Out-of-order segments wait (bounded); retransmissions and overlaps are
// trimmed. Overlap policy: FIRST COPY WINS — a byte already delivered or already buffered is never
// replaced by a later copy (the policy of most IDS reassemblers; a conforming sender retransmits
// the same bytes anyway, and a buggy or hostile one cannot rewrite what the shadow already got).
// Sequence numbers are tracked as 64-bit offsets from the ISN, so wrapping at 2^32 is invisible.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

namespace shadowtap::flow {

class StreamReassembler {
public:
  enum class Status {
    Ok,
    Overflow,     // more out-of-order bytes than allowed: the stream is broken
    OutOfWindow,  // segment too far ahead or behind to be this stream's: ignored, counted
  };

  // `isn`: the sequence number of the SYN (data starts at isn + 1).
  StreamReassembler(uint32_t isn, size_t maxBuffered);

  // Feeds one segment; appends the bytes that became contiguous to `out`.
  Status onSegment(uint32_t seq, std::span<const uint8_t> payload, bool fin, std::vector<uint8_t> &out);

  bool finished() const { return finOffset_ >= 0 && next_ == static_cast<uint64_t>(finOffset_); }
  bool finSeen() const { return finOffset_ >= 0; }
  bool hasHole() const { return !pending_.empty() || (finSeen() && !finished()); }
  size_t bufferedBytes() const { return buffered_; }
  uint64_t deliveredBytes() const { return next_; }

  // Largest distance ahead of the next expected byte that a segment may start at.
  static constexpr uint64_t kMaxAhead = 1ull << 30;

private:
  // Absolute offset (bytes after the SYN) of `seq`, or -1 if not within +-2^31 of next_.
  int64_t offsetOf(uint32_t seq) const;
  void drain(std::vector<uint8_t> &out);

  uint32_t base_;    // sequence number of offset 0 (isn + 1)
  uint64_t next_ = 0; // next offset to deliver
  int64_t finOffset_ = -1;
  size_t maxBuffered_;
  size_t buffered_ = 0;
  std::map<uint64_t, std::vector<uint8_t>> pending_; // offset -> bytes; never overlapping
};

} // namespace shadowtap::flow
