// SPDX-License-Identifier: Apache-2.0
#include "capture/ring_guard.h"

#include "common/error.h"

#include <cerrno>
#include <sys/mman.h>
#include <unistd.h>

namespace shadowtap {

void RingGuard::Slot::publish(bool ringEmpty) {
  if (!entry_)
    return;
  if (ringEmpty)
    read_ = __atomic_load_n(&entry_->admitted, __ATOMIC_RELAXED);
  __atomic_store_n(&entry_->read, read_, __ATOMIC_RELAXED);
}

uint64_t RingGuard::Slot::shed() const {
  return entry_ ? __atomic_load_n(&entry_->shed, __ATOMIC_RELAXED) : 0;
}

RingGuard::RingGuard(int mapFd, uint32_t workers, uint64_t limitBytes) {
  if (workers == 0 || workers > ST_MAX_WORKERS)
    throw Error("the capture ring guard takes 1 to " + std::to_string(ST_MAX_WORKERS) + " workers");
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  mappedBytes_ = (sizeof(st_ring_guard) * ST_MAX_WORKERS + page - 1) / page * page;
  void *map = ::mmap(nullptr, mappedBytes_, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd, 0);
  if (map == MAP_FAILED)
    throwErrno("failed to map the capture ring guard (st_ring_guards)", errno);
  entries_ = static_cast<st_ring_guard *>(map);
  workers_ = workers;
  for (uint32_t i = 0; i < ST_MAX_WORKERS; i++) {
    // Read and admitted start level: whatever the kernel counted before is no backlog of ours.
    uint64_t admitted = __atomic_load_n(&entries_[i].admitted, __ATOMIC_RELAXED);
    __atomic_store_n(&entries_[i].read, admitted, __ATOMIC_RELAXED);
    __atomic_store_n(&entries_[i].workers, workers, __ATOMIC_RELAXED);
    __atomic_store_n(&entries_[i].limit, i < workers ? limitBytes : 0, __ATOMIC_RELEASE);
  }
}

RingGuard::~RingGuard() {
  for (uint32_t i = 0; i < ST_MAX_WORKERS; i++)
    __atomic_store_n(&entries_[i].limit, uint64_t{0}, __ATOMIC_RELEASE);
  ::munmap(entries_, mappedBytes_);
}

} // namespace shadowtap
