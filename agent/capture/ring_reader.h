// SPDX-License-Identifier: Apache-2.0
// Consumer of the BPF ring buffer (XDP mode): validates each record's header and hands the frame
// on. Malformed records are counted, never trusted.
//
// Our own consumer of the ring's memory (the protocol of the kernel's BPF_MAP_TYPE_RINGBUF, as
// libbpf's ring_buffer__consume reads it) rather than libbpf's, for two things libbpf 1.1 does not
// give: a bounded turn (ring_buffer__consume goes on while the producer keeps adding, so at line
// rate one call never returned to the loop: no /healthz, no overload check) and the ring's fill,
// which admission control and the in-flight shedder act on (the BPF ring reported 0, so in XDP
// mode overload was never seen until the ring overflowed and broke streams: bench/bulk.sh).
#pragma once

#include "shadowtap/shared.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace shadowtap {

struct RingStats {
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t malformed = 0;
};

class RingReader {
public:
  using Handler = std::function<void(const st_pkt_meta &, std::span<const uint8_t> frame)>;

  RingReader(int ringFd, Handler handler); // throws Error
  ~RingReader();
  RingReader(const RingReader &) = delete;
  RingReader &operator=(const RingReader &) = delete;

  int epollFd() const { return epollFd_; } // readable when records are waiting
  // Consumes waiting records until the ring is empty or `maxBytes` of ring space (records with
  // their headers) were consumed; true when records are still waiting.
  bool drain(size_t maxBytes = SIZE_MAX);
  // Bytes written and not consumed yet, of the ring's size.
  double occupancy() const;
  double consumed() const; // the consumer position in whole rings (it only grows)
  // Hands the submitted records waiting to `onRecord`, oldest first, until `maxBytes` of ring
  // space were walked; consumes none (overload weighing).
  void peek(const Handler &onRecord, size_t maxBytes = SIZE_MAX) const;
  const RingStats &stats() const { return stats_; }

private:
  void onRecord(const uint8_t *data, size_t size);
  // The record's meta and frame; false if its header is not sound (onRecord counts it malformed).
  static bool split(const uint8_t *data, size_t size, st_pkt_meta &meta, std::span<const uint8_t> &frame);
  int ringFd_;
  int epollFd_ = -1;
  size_t pageSize_;
  size_t size_; // data area: a power of two, mapped twice in a row (a record that wraps reads whole)
  uint64_t *consumerPos_ = nullptr;         // the first page, ours to write
  const uint64_t *producerPos_ = nullptr;   // the second page, read-only
  const uint8_t *data_ = nullptr;
  Handler handler_;
  RingStats stats_;
};

} // namespace shadowtap
