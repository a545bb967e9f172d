// SPDX-License-Identifier: Apache-2.0
// The BPF ring buffer (XDP mode, and tc egress in XDP mode) as a frame source: each record's
// st_pkt_meta gives the frame's wire length and its bpf_ktime_get_ns() time, turned into
// CLOCK_REALTIME like the packet ring's. Kernel-side loss is the datapath's ring_full counter.
#pragma once

#include "capture/frame_source.h"
#include "capture/ring_reader.h"

#include <functional>
#include <memory>

namespace shadowtap {

class BpfRingSource : public FrameSource {
public:
  // `ringFullCount`: the datapath's running count of records the ring had no room for.
  BpfRingSource(int ringFd, std::function<uint64_t()> ringFullCount); // throws Error

  int readableFd() const override { return reader_.epollFd(); }
  // At most `budget` x kBytesPerBatch of ring space per turn (a packet ring block's worth each),
  // so a ring filled at line rate still lets the loop answer /healthz and check for overload.
  bool poll(const FrameHandler &onFrame, uint32_t budget) override;
  uint64_t takeKernelDrops() override;
  double occupancy() const override { return reader_.occupancy(); }
  double consumed() const override { return reader_.consumed(); }
  void peekUnread(const FrameHandler &onFrame, size_t maxBytes) const override;
  static constexpr size_t kBytesPerBatch = 256u << 10;
  const RingStats &stats() const { return reader_.stats(); }

private:
  Frame frameOf(const st_pkt_meta &meta, std::span<const uint8_t> data) const;
  const FrameHandler *current_ = nullptr;
  uint64_t clockOffsetNs_; // CLOCK_REALTIME - CLOCK_MONOTONIC at start
  std::function<uint64_t()> ringFullCount_;
  uint64_t lastRingFull_ = 0;
  RingReader reader_;
};

} // namespace shadowtap
