// SPDX-License-Identifier: Apache-2.0
// Reads one byte of every page of a mapping, once, before it is used.
//
// Why: in a VM whose hypervisor keeps shadow page tables (this project's CI VMs), the first access
// to each page of a mapping traps to the hypervisor even when the guest already mapped it:
// 15-22 us a page of anonymous memory mapped with MAP_POPULATE, 0.05 us after that
// (bench/first_touch.sh). The capture ring's pages (the kernel's, mapped at mmap) are cheaper but
// not free: touching the 64 MiB ring's 16,384 pages takes the agent 55 ms (its debug log,
// 2026-12-06), which the worker otherwise paid during its first lap through the ring — the first
// 107 ms of a 5 Gbit/s stream, when it is furthest behind. On bare metal or with nested paging it
// costs a few milliseconds.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unistd.h>

namespace shadowtap {

// Returns how long it took (logged at debug level by the callers: what the first lap would cost).
inline std::chrono::steady_clock::duration touchPages(const void *map, size_t bytes) {
  auto start = std::chrono::steady_clock::now();
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const auto *p = static_cast<const volatile uint8_t *>(map);
  for (size_t offset = 0; offset < bytes; offset += page)
    (void)p[offset];
  return std::chrono::steady_clock::now() - start;
}

} // namespace shadowtap
