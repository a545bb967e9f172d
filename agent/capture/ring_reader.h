// SPDX-License-Identifier: Apache-2.0
// Consumer of the BPF ring buffer (XDP mode): validates each record's header and hands the frame
// on. Malformed records are counted, never trusted.
#pragma once

#include "shadowtap/shared.h"

#include <cstdint>
#include <functional>
#include <span>

struct ring_buffer;

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

  int epollFd() const; // readable when records are waiting
  void drain();        // consume every waiting record without blocking
  const RingStats &stats() const { return stats_; }

private:
  static int onRecord(void *self, void *data, size_t size);
  ring_buffer *ring_ = nullptr;
  Handler handler_;
  RingStats stats_;
};

} // namespace shadowtap
