// SPDX-License-Identifier: Apache-2.0
#include "capture/ring_guard.h"

#include "common/error.h"

#include <cerrno>
#include <cmath>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace shadowtap {

uint64_t RingGuard::Slot::mark() const {
  return entry_ ? __atomic_load_n(&entry_->admitted, __ATOMIC_ACQUIRE) : 0;
}

void RingGuard::Slot::publish(double consumed, std::optional<uint64_t> emptyAfter) {
  if (!entry_)
    return;
  auto handedBack = static_cast<uint64_t>(std::llround(consumed * ring_.blockCount)) * ring_.blockBytes;
  if (emptyAfter)
    base_ = *emptyAfter - *emptyAfter % ring_.blockBytes - handedBack; // modulo 2^64, like the counts
  __atomic_store_n(&entry_->read, base_ + handedBack, __ATOMIC_RELAXED);
}

uint64_t RingGuard::Slot::shed() const {
  return entry_ ? __atomic_load_n(&entry_->shed, __ATOMIC_RELAXED) : 0;
}

int64_t RingGuard::Slot::unread() const {
  if (!entry_)
    return 0;
  return static_cast<int64_t>(__atomic_load_n(&entry_->admitted, __ATOMIC_ACQUIRE) -
                              __atomic_load_n(&entry_->read, __ATOMIC_RELAXED));
}

uint64_t RingGuard::Slot::limit() const {
  return entry_ ? __atomic_load_n(&entry_->limit, __ATOMIC_RELAXED) : 0;
}

RingGuard::RingGuard(int mapFd, uint32_t workers, const Geometry &ring, uint64_t limitBytes) : ring_(ring) {
  if (workers == 0 || workers > ST_MAX_WORKERS)
    throw Error("the capture ring guard takes 1 to " + std::to_string(ST_MAX_WORKERS) + " workers");
  if (ring.blockBytes == 0 || ring.blockCount == 0)
    throw Error("the capture ring guard needs the ring's block size and count");
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  mappedBytes_ = (sizeof(st_ring_guard) * ST_MAX_WORKERS + page - 1) / page * page;
  void *map = ::mmap(nullptr, mappedBytes_, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd, 0);
  if (map == MAP_FAILED)
    throwErrno("failed to map the capture ring guard (st_ring_guards)", errno);
  entries_ = static_cast<st_ring_guard *>(map);
  workers_ = workers;
  for (uint32_t i = 0; i < ST_MAX_WORKERS; i++) {
    st_ring_guard &entry = entries_[i];
    // Off while it is set up (the filter leaves an entry without a limit alone), then level: a
    // new ring starts empty, and nothing was given up yet.
    __atomic_store_n(&entry.limit, uint64_t{0}, __ATOMIC_RELEASE);
    __atomic_store_n(&entry.admitted, uint64_t{0}, __ATOMIC_RELAXED);
    __atomic_store_n(&entry.read, uint64_t{0}, __ATOMIC_RELAXED);
    __atomic_store_n(&entry.shed, uint64_t{0}, __ATOMIC_RELAXED);
    __atomic_store_n(&entry.epoch, uint64_t{0}, __ATOMIC_RELAXED);
    __atomic_store_n(&entry.block_ns, ring.retireTimeoutNs, __ATOMIC_RELAXED);
    __atomic_store_n(&entry.block_bytes, ring.blockBytes, __ATOMIC_RELAXED);
    __atomic_store_n(&entry.workers, workers, __ATOMIC_RELAXED);
    __atomic_store_n(&entry.limit, i < workers ? limitBytes : 0, __ATOMIC_RELEASE);
  }
}

RingGuard::~RingGuard() {
  for (uint32_t i = 0; i < ST_MAX_WORKERS; i++)
    __atomic_store_n(&entries_[i].limit, uint64_t{0}, __ATOMIC_RELEASE);
  ::munmap(entries_, mappedBytes_);
}

} // namespace shadowtap
