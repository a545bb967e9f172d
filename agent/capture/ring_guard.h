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

namespace shadowtap {

class RingGuard {
public:
  // One worker's entry.
  class Slot {
  public:
    Slot() = default;
    explicit Slot(st_ring_guard *entry) : entry_(entry), read_(__atomic_load_n(&entry->read, __ATOMIC_RELAXED)) {}
    explicit operator bool() const { return entry_ != nullptr; }
    // A frame of `captured` bytes was read from the ring.
    void onFrameRead(size_t captured) { read_ += st_ring_frame_cost(static_cast<uint32_t>(captured)); }
    // After a turn: what was read is published; `ringEmpty`: nothing waits in the ring, so what
    // the kernel admitted is all read (lost and cut frames are forgotten here).
    void publish(bool ringEmpty);
    // Connections the guard gave up so far (grows; the worker ends them when it changes).
    uint64_t shed() const;

  private:
    st_ring_guard *entry_ = nullptr;
    uint64_t read_ = 0;
  };

  // `mapFd`: st_ring_guards (borrowed). `limitBytes`: a worker's ring may hold this much unread
  // before the guard gives connections up. Throws Error if the map cannot be mapped.
  RingGuard(int mapFd, uint32_t workers, uint64_t limitBytes);
  ~RingGuard(); // the guard off, then unmapped
  RingGuard(const RingGuard &) = delete;
  RingGuard &operator=(const RingGuard &) = delete;

  Slot slot(uint32_t worker) const { return worker < workers_ ? Slot(&entries_[worker]) : Slot(); }

private:
  st_ring_guard *entries_ = nullptr;
  size_t mappedBytes_ = 0;
  uint32_t workers_ = 0;
};

} // namespace shadowtap
