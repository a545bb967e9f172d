// SPDX-License-Identifier: Apache-2.0
#include "flow/stream_reassembler.h"

#include <algorithm>
#include <cstdint>

namespace shadowtap::flow {

namespace {

// The capacity std::vector grows to when `n` bytes are appended (libstdc++: size + max(size, n)),
// so the bound is checked against what the allocation will really be.
size_t grownCapacity(const std::vector<uint8_t> &v, size_t n) {
  if (v.size() + n <= v.capacity())
    return v.capacity();
  return v.size() + std::max(v.size(), n);
}

} // namespace

StreamReassembler::StreamReassembler(uint32_t isn, size_t maxMemory, bool gated, std::shared_ptr<ChunkPool> pool)
    : base_(isn + 1), gated_(gated), maxMemory_(maxMemory), ready_(std::move(pool)) {}

int64_t StreamReassembler::offsetOf(uint32_t seq) const {
  uint32_t expected = base_ + static_cast<uint32_t>(contiguous_);
  int64_t delta = static_cast<int32_t>(seq - expected);
  return static_cast<int64_t>(contiguous_) + delta;
}

uint64_t StreamReassembler::contiguousEnd() const {
  return contiguous_ + (finOffset_ >= 0 && contiguous_ == static_cast<uint64_t>(finOffset_) ? 1 : 0);
}

bool StreamReassembler::hasHole() const {
  return !pending_.empty() || (finSeen() && contiguous_ < static_cast<uint64_t>(finOffset_)) || ackedUnseen();
}

bool StreamReassembler::acceptsReset(uint32_t seq) const {
  int64_t offset = offsetOf(seq);
  if (offset < 0)
    return false;
  auto at = static_cast<uint64_t>(offset);
  // The receiver's next expected sequence number: what we received in order (after its FIN, one
  // more), or what it acknowledged when that is further than what we saw.
  return at == contiguous_ || at == contiguousEnd() || (gated_ && at == acked_ && acked_ > 0);
}

StreamReassembler::Status StreamReassembler::onSegment(uint32_t seq, std::span<const uint8_t> payload, bool fin,
                                                       std::vector<uint8_t> &out) {
  Pieces delivered;
  Status status = onSegment(seq, payload, fin, delivered);
  for (auto piece : delivered)
    out.insert(out.end(), piece.begin(), piece.end());
  return status;
}

StreamReassembler::Status StreamReassembler::onAck(uint32_t ack, std::vector<uint8_t> &out) {
  Pieces delivered;
  Status status = onAck(ack, delivered);
  for (auto piece : delivered)
    out.insert(out.end(), piece.begin(), piece.end());
  return status;
}

StreamReassembler::Status StreamReassembler::onSegment(uint32_t seq, std::span<const uint8_t> payload, bool fin,
                                                       Pieces &delivered) {
  delivered.clear();
  compact();
  int64_t start = offsetOf(seq);
  int64_t end = start + static_cast<int64_t>(payload.size());
  if (end < 0 || start > static_cast<int64_t>(contiguous_ + kMaxAhead))
    return Status::OutOfWindow;

  if (fin && finOffset_ < 0 && end >= static_cast<int64_t>(contiguous_))
    finOffset_ = end; // first FIN wins too; a later, different FIN is ignored (see onAck)

  // Trim what is already held or delivered, and anything past the FIN (never beyond it).
  uint64_t from = static_cast<uint64_t>(std::max<int64_t>(start, static_cast<int64_t>(contiguous_)));
  uint64_t to = static_cast<uint64_t>(end);
  if (finOffset_ >= 0)
    to = std::min<uint64_t>(to, static_cast<uint64_t>(finOffset_));
  Status status = Status::Ok;
  if (from < to) {
    auto bytes = payload.subspan(from - static_cast<uint64_t>(start), to - from);
    // The common case: in order, nothing waiting, and deliverable at once: no copy kept.
    bool deliverable = !gated_ || acked_ >= to;
    if (from == contiguous_ && pending_.empty() && delivered_ == contiguous_ && deliverable) {
      delivered.push_back(bytes); // the segment's own bytes
      contiguous_ = delivered_ = to;
      return Status::Ok;
    }
    status = store(from, bytes);
  }
  absorbPending();
  release(delivered);
  return status;
}

StreamReassembler::Status StreamReassembler::onAck(uint32_t ack, Pieces &delivered) {
  delivered.clear();
  compact();
  if (!gated_)
    return Status::Ok;
  int64_t offset = offsetOf(ack);
  if (offset < 0 || offset > static_cast<int64_t>(contiguous_ + kMaxAhead))
    return Status::OutOfWindow;
  acked_ = std::max(acked_, static_cast<uint64_t>(offset));
  // Acknowledged past a FIN we recorded: that FIN was not where the sender's stream ends (a
  // forged one). Forget it; bytes it made us drop now show as acknowledged but unseen (a hole).
  if (finOffset_ >= 0 && acked_ > static_cast<uint64_t>(finOffset_) + 1)
    finOffset_ = -1;
  release(delivered);
  return Status::Ok;
}

// Stores the parts of [from, from + size) that nobody holds yet (first copy wins): the part that
// continues the in-order run goes to ready_, the rest into pending_, merged with its neighbours.
StreamReassembler::Status StreamReassembler::store(uint64_t from, std::span<const uint8_t> bytes) {
  uint64_t to = from + bytes.size();
  uint64_t cursor = from;
  auto it = pending_.upper_bound(cursor);
  if (it != pending_.begin()) {
    auto prev = std::prev(it);
    cursor = std::max(cursor, prev->first + prev->second.size());
  }
  while (cursor < to) {
    uint64_t gapEnd = it != pending_.end() ? std::min<uint64_t>(to, it->first) : to;
    if (gapEnd > cursor) {
      auto piece = bytes.subspan(cursor - from, gapEnd - cursor);
      if (cursor == contiguous_) {
        if (!appendReady(piece))
          return Status::Overflow;
        contiguous_ = gapEnd;
      } else {
        auto prev = it == pending_.begin() ? pending_.end() : std::prev(it);
        bool extendsPrev = prev != pending_.end() && prev->first + prev->second.size() == cursor;
        if (extendsPrev) {
          if (!append(prev->second, piece))
            return Status::Overflow;
        } else {
          if (memory_ + piece.size() + kSegmentOverhead > maxMemory_)
            return Status::Overflow;
          prev = pending_.emplace_hint(it, cursor, std::vector<uint8_t>(piece.begin(), piece.end()));
          memory_ += prev->second.capacity() + kSegmentOverhead;
        }
        pendingBytes_ += piece.size();
        // Now touching the next segment? Merge it in: one node instead of two.
        if (it != pending_.end() && prev->first + prev->second.size() == it->first) {
          memory_ -= prev->second.capacity() + it->second.capacity() + kSegmentOverhead;
          // Exact reservation: a merge never holds more than the two nodes it replaces (vector's
          // doubling would, and could cross the memory bound without a check).
          prev->second.reserve(prev->second.size() + it->second.size());
          prev->second.insert(prev->second.end(), it->second.begin(), it->second.end());
          memory_ += prev->second.capacity();
          cursor = it->first + it->second.size();
          it = pending_.erase(it);
          continue;
        }
      }
    }
    if (it == pending_.end())
      break;
    cursor = std::max(cursor, it->first + it->second.size());
    ++it;
  }
  return Status::Ok;
}

// vector's doubling where it fits the bound; where it would cross it, steps of an eighth (a few
// reallocations, not one per segment, and room left for the segment that fills the hole) up to
// the bound, rather than an overflow: a run of segments past a lost one grows up to the bound,
// not to half of it.
bool StreamReassembler::append(std::vector<uint8_t> &buffer, std::span<const uint8_t> bytes) {
  size_t need = buffer.size() + bytes.size();
  size_t was = buffer.capacity();
  size_t others = memory_ - was;
  if (need > was) {
    if (others + need > maxMemory_)
      return false;
    if (others + grownCapacity(buffer, bytes.size()) > maxMemory_)
      buffer.reserve(std::min(std::max(need, buffer.size() + buffer.size() / 8), maxMemory_ - others));
  }
  buffer.insert(buffer.end(), bytes.begin(), bytes.end());
  memory_ = others + buffer.capacity();
  return true;
}

// Within the bound, chunks included: the queue cuts its chunks to what the bound leaves.
bool StreamReassembler::appendReady(std::span<const uint8_t> bytes) {
  bool fits = false;
  recountReady([&](size_t others) { fits = others <= maxMemory_ && ready_.append(bytes, maxMemory_ - others); });
  return fits;
}

void StreamReassembler::absorbPending() {
  while (!pending_.empty() && pending_.begin()->first <= contiguous_) {
    auto node = pending_.begin();
    uint64_t end = node->first + node->second.size();
    memory_ -= node->second.capacity() + kSegmentOverhead;
    pendingBytes_ -= node->second.size();
    if (end > contiguous_) {
      auto skip = static_cast<size_t>(contiguous_ - node->first);
      // Fits: the bound held with the run counted, and the run's capacity is no longer.
      auto run = std::span<const uint8_t>(node->second).subspan(skip);
      if (!appendReady(run))
        recountReady([&](size_t) { ready_.append(run); }); // never an in-order byte dropped
      contiguous_ = end;
    }
    pending_.erase(node);
  }
}

// Hands out what became deliverable, in place: the caller reads it before its next call, so it
// is dropped from ready_ then (compact()), not now. One copy fewer per byte than copying it out
// (a line-rate upload's every byte went ready_ -> a scratch vector -> the replay).
void StreamReassembler::release(Pieces &delivered) {
  uint64_t limit = gated_ ? std::min(contiguous_, acked_) : contiguous_;
  if (limit <= delivered_)
    return;
  auto n = static_cast<size_t>(limit - delivered_);
  ready_.front(n, SIZE_MAX, delivered);
  handedOut_ = n;
  delivered_ = limit;
}

// Drops what the last call handed out: its chunks go back to the pool (or stay as the queue's
// spares, a few small ones), so an idle stream holds next to nothing.
void StreamReassembler::compact() {
  if (handedOut_ == 0)
    return;
  recountReady([&](size_t) { ready_.consume(handedOut_); });
  handedOut_ = 0;
}

} // namespace shadowtap::flow
