// SPDX-License-Identifier: Apache-2.0
// The capture ring guard's user-space side (shared.h: st_ring_guard). The kernel's capture filter
// gives connections up whole when a worker's ring fills past the limit while the worker cannot
// read it (stopped, throttled by a CPU quota, descheduled): the user-space shedder
// (runtime/inflight_shedder.h) only acts while the worker runs, and a worker held back for longer
// than its ring takes to fill lost frames of every connection (tests/e2e/load/upload_test.sh: a
// 5 % quota stops the agent 0.5-1 s at a time; 2 Gbit/s fills 64 MiB in 0.27 s).
//
// RingGuard owns the mapping of the st_ring_guards map (mmapped: publishing what a worker read
// costs no system call) and switches the guard on for `workers` entries; its destructor switches
// it off first. Each worker uses its Slot from its own thread only.
#pragma once

#include "shadowtap/shared.h"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace shadowtap {

class RingGuard {
public:
  // The ring the guard watches over: its size and how the kernel hands its blocks over.
  struct Geometry {
    uint32_t blockBytes = 0;
    uint32_t blockCount = 0;
    uint64_t retireTimeoutNs = 0;
  };

  // One worker's entry.
  class Slot {
  public:
    Slot() = default;
    Slot(st_ring_guard *entry, const Geometry &ring) : entry_(entry), ring_(ring) {}
    explicit operator bool() const { return entry_ != nullptr; }
    // How far the kernel had written, read before the worker looks whether its ring is empty.
    uint64_t mark() const;
    // After a turn: `consumed`, how much of the ring was handed back since it was made, in whole
    // rings (FrameSource::consumed). `emptyAfter`: a mark() taken before the ring was then seen
    // empty: everything the kernel had written by the mark was read, its open block aside, so the
    // read position is re-levelled to that block. The mark must come first: one read after the
    // check may count blocks the kernel filled in between (the worker descheduled, throttled),
    // which would pass for read, and the guard would let the ring overflow.
    void publish(double consumed, std::optional<uint64_t> emptyAfter = std::nullopt);
    // Connections the guard gave up so far (grows).
    uint64_t shed() const;
    // What the guard counts as written and not read yet, in bytes, and how far it lets that go.
    // For the log. An estimate: a block or two below the truth just after a re-level, and frames
    // that are no connection's (not TCP/IP) are not counted, so reading them can take it below 0.
    int64_t unread() const;
    uint64_t limit() const;

  private:
    st_ring_guard *entry_ = nullptr;
    Geometry ring_;
    uint64_t base_ = 0; // `read` = base_ + the bytes handed back
  };

  // `mapFd`: st_ring_guards (borrowed). `limitBytes`: how far ahead of a worker the kernel may
  // write before the guard gives connections up. Throws Error if the map cannot be mapped.
  RingGuard(int mapFd, uint32_t workers, const Geometry &ring, uint64_t limitBytes);
  ~RingGuard(); // the guard off, then unmapped
  RingGuard(const RingGuard &) = delete;
  RingGuard &operator=(const RingGuard &) = delete;

  Slot slot(uint32_t worker) const { return worker < workers_ ? Slot(&entries_[worker], ring_) : Slot(); }

private:
  st_ring_guard *entries_ = nullptr;
  size_t mappedBytes_ = 0;
  uint32_t workers_ = 0;
  Geometry ring_;
};

} // namespace shadowtap
