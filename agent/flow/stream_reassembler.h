// SPDX-License-Identifier: Apache-2.0
// One direction of one TCP connection, rebuilt into its exact byte stream.
//
// Contract: bytes are delivered strictly in sequence order, each byte exactly once, and never a
// byte that was not sent. Out-of-order segments wait (bounded); retransmissions and overlaps are
// trimmed. Overlap policy: FIRST COPY WINS — a byte already delivered or already buffered is never
// replaced by a later copy (the receiver's own policy: Linux keeps the first copy it queued). The
// caller hands in only segments the kernel would accept too (checksums are verified before).
// Sequence numbers are tracked as 64-bit offsets from the ISN, so wrapping at 2^32 is invisible.
//
// Gated streams deliver only what the receiver acknowledged (onAck): bytes the server never
// accepted — spoofed, dropped by its firewall, never delivered — are never replayed. Until the
// acknowledgement they are held, and their FIN is reached only once acknowledged too.
//
// Memory is counted as memory: buffered payload plus a per-segment overhead; adjacent segments
// are coalesced, so a flood of tiny segments costs what it really costs and hits the bound.
#pragma once

#include "common/byte_queue.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

namespace shadowtap::flow {

class StreamReassembler {
public:
  enum class Status {
    Ok,
    Overflow,     // the memory bound would be exceeded: the stream is broken
    OutOfWindow,  // segment too far ahead or behind to be this stream's: ignored, counted
  };

  // What one buffered segment costs beyond its bytes: a map node (80 bytes with malloc's header)
  // and its vector's own allocation header and rounding (tests/unit/reassembly_memory_test.cpp).
  static constexpr size_t kSegmentOverhead = 128;
  // Largest distance ahead of the next expected byte that a segment (or an ACK) may point to.
  static constexpr uint64_t kMaxAhead = 1ull << 30;

  // What a call made deliverable, in order: pieces of the segment itself or of the buffer.
  using Pieces = std::vector<std::span<const uint8_t>>;

  // `isn`: the sequence number of the SYN (data starts at isn + 1). `maxMemory` bounds
  // memoryBytes(). `gated`: deliver only what onAck() covers. `pool`: where the in-order buffer's
  // whole chunks come from (the worker's, warm); without one, the heap.
  StreamReassembler(uint32_t isn, size_t maxMemory, bool gated = false, std::shared_ptr<ChunkPool> pool = nullptr);

  // The bound may grow (never shrink) while the stream runs: the flow table follows the receiver's
  // advertised window, which is how far past a lost segment its sender may legitimately go.
  void raiseBound(size_t maxMemory) { maxMemory_ = std::max(maxMemory_, maxMemory); }

  // Feeds one segment. `delivered` (cleared first): the bytes that became deliverable, in order —
  // the segment's own bytes or pieces of the reassembler's buffer, valid until the next call on
  // this reassembler.
  Status onSegment(uint32_t seq, std::span<const uint8_t> payload, bool fin, Pieces &delivered);
  // Gated streams: the receiver has everything before `ack`; `delivered` as for onSegment.
  Status onAck(uint32_t ack, Pieces &delivered);
  // The same, appending a copy of what became deliverable to `out` (tests, fuzzers).
  Status onSegment(uint32_t seq, std::span<const uint8_t> payload, bool fin, std::vector<uint8_t> &out);
  Status onAck(uint32_t ack, std::vector<uint8_t> &out);
  // A RST from this stream's sender is honoured only at the exact next sequence number as the
  // receiver knows it (RFC 5961; Linux answers any other in-window RST with a challenge ACK).
  bool acceptsReset(uint32_t seq) const;

  bool finSeen() const { return finOffset_ >= 0; }
  // The FIN was reached in sequence (and, gated, acknowledged): every byte has been delivered.
  bool finished() const {
    return finOffset_ >= 0 && delivered_ == static_cast<uint64_t>(finOffset_) &&
           (!gated_ || acked_ > static_cast<uint64_t>(finOffset_));
  }
  // Bytes are missing: later segments wait for earlier ones, the FIN is not reached, or the
  // receiver acknowledged bytes we never saw (they may still be on their way to us).
  bool hasHole() const;
  // The receiver acknowledged bytes this reassembler never saw.
  bool ackedUnseen() const { return gated_ && acked_ > contiguousEnd(); }
  size_t unackedBytes() const { return static_cast<size_t>(contiguous_ - delivered_); }
  size_t bufferedBytes() const { return pendingBytes_ + unackedBytes(); } // payload held
  size_t memoryBytes() const { return memory_; }                         // what the bound counts
  uint64_t deliveredBytes() const { return delivered_; }

private:
  // Absolute offset (bytes after the SYN) of `seq`: its signed 32-bit distance from the next
  // expected byte, so correct across the 2^32 wrap within 2 GiB of it.
  int64_t offsetOf(uint32_t seq) const;
  uint64_t contiguousEnd() const; // contiguous_, plus one for a FIN right there (it takes a seq)
  Status store(uint64_t from, std::span<const uint8_t> bytes);
  // Appends `bytes` to a pending run within the bound, counting its capacity in memory_; false,
  // and nothing appended, if they cannot fit.
  bool append(std::vector<uint8_t> &buffer, std::span<const uint8_t> bytes);
  bool appendReady(std::span<const uint8_t> bytes); // the same for ready_
  // Runs `change(memory held by everything but ready_)` on ready_ and counts ready_ again.
  template <typename Change> void recountReady(const Change &change) {
    size_t others = memory_ - ready_.allocated();
    change(others);
    memory_ = others + ready_.allocated();
  }
  void absorbPending();              // pending segments that became contiguous move to ready_
  void release(Pieces &delivered);   // what became deliverable, in place in ready_
  void compact();                    // before a call changes ready_: what release() handed out is read

  uint32_t base_;           // sequence number of offset 0 (isn + 1)
  bool gated_;
  uint64_t delivered_ = 0;  // bytes handed out
  uint64_t contiguous_ = 0; // bytes received in order; [delivered_, contiguous_) wait in ready_
  uint64_t acked_ = 0;      // gated: the receiver has everything before this offset
  int64_t finOffset_ = -1;
  size_t maxMemory_;
  size_t memory_ = 0;
  size_t pendingBytes_ = 0;
  // In order, not yet delivered, after the handedOut_ bytes release() gave out (read by the caller
  // before its next call). Chunks, not one vector: a line-rate stream's unacknowledged bytes
  // grew it by doubling (each step a copy into fresh, faulting memory) and it was compacted by
  // moving what stayed; chunks of the worker's pool are warm and never move.
  ByteQueue ready_;
  size_t handedOut_ = 0;
  std::map<uint64_t, std::vector<uint8_t>> pending_; // offset -> bytes; disjoint, not adjacent
};

} // namespace shadowtap::flow
