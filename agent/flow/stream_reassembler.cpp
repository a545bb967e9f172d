// SPDX-License-Identifier: Apache-2.0
#include "flow/stream_reassembler.h"

#include <algorithm>

namespace shadowtap::flow {

StreamReassembler::StreamReassembler(uint32_t isn, size_t maxBuffered)
    : base_(isn + 1), maxBuffered_(maxBuffered) {}

int64_t StreamReassembler::offsetOf(uint32_t seq) const {
  // Distance from the next expected sequence number, as a signed 32-bit value: correct across
  // the 2^32 wrap as long as the segment lies within 2 GiB of it.
  uint32_t expected = base_ + static_cast<uint32_t>(next_);
  int64_t delta = static_cast<int32_t>(seq - expected);
  int64_t offset = static_cast<int64_t>(next_) + delta;
  return offset;
}

StreamReassembler::Status StreamReassembler::onSegment(uint32_t seq, std::span<const uint8_t> payload, bool fin,
                                                       std::vector<uint8_t> &out) {
  int64_t start = offsetOf(seq);
  int64_t end = start + static_cast<int64_t>(payload.size());
  if (end < 0 || start > static_cast<int64_t>(next_ + kMaxAhead))
    return Status::OutOfWindow;

  if (fin && finOffset_ < 0 && end >= static_cast<int64_t>(next_))
    finOffset_ = end; // first FIN wins too; a later, different FIN is ignored

  // Trim what was already delivered, and anything past the FIN (never deliver beyond it).
  uint64_t from = static_cast<uint64_t>(std::max<int64_t>(start, static_cast<int64_t>(next_)));
  uint64_t to = static_cast<uint64_t>(end);
  if (finOffset_ >= 0)
    to = std::min<uint64_t>(to, static_cast<uint64_t>(finOffset_));
  if (from >= to) {
    drain(out);
    return Status::Ok;
  }
  auto bytes = payload.subspan(from - static_cast<uint64_t>(start), to - from);

  if (from == next_ && pending_.empty()) {
    out.insert(out.end(), bytes.begin(), bytes.end()); // the common, in-order case: no copy kept
    next_ = to;
    return Status::Ok;
  }

  // Store only the parts not already covered by pending segments (first copy wins).
  uint64_t cursor = from;
  auto it = pending_.upper_bound(cursor);
  if (it != pending_.begin()) {
    auto prev = std::prev(it);
    cursor = std::max(cursor, prev->first + prev->second.size());
  }
  while (cursor < to) {
    uint64_t gapEnd = (it != pending_.end()) ? std::min<uint64_t>(to, it->first) : to;
    if (gapEnd > cursor) {
      if (buffered_ + (gapEnd - cursor) > maxBuffered_)
        return Status::Overflow;
      auto piece = bytes.subspan(cursor - from, gapEnd - cursor);
      pending_.emplace(cursor, std::vector<uint8_t>(piece.begin(), piece.end()));
      buffered_ += piece.size();
    }
    if (it == pending_.end())
      break;
    cursor = std::max(cursor, it->first + it->second.size());
    ++it;
  }
  drain(out);
  return Status::Ok;
}

void StreamReassembler::drain(std::vector<uint8_t> &out) {
  while (!pending_.empty()) {
    auto it = pending_.begin();
    if (it->first > next_)
      break;
    uint64_t end = it->first + it->second.size();
    if (end > next_) {
      size_t skip = static_cast<size_t>(next_ - it->first);
      out.insert(out.end(), it->second.begin() + static_cast<std::ptrdiff_t>(skip), it->second.end());
      next_ = end;
    }
    buffered_ -= it->second.size();
    pending_.erase(it);
  }
}

} // namespace shadowtap::flow
