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
  // libbpf consumes everything waiting in one call: the budget is not needed to bound a turn
  // because the ring itself is bounded (ST_RING_BYTES).
  bool poll(const FrameHandler &onFrame, uint32_t budget) override;
  uint64_t takeKernelDrops() override;
  const RingStats &stats() const { return reader_.stats(); }

private:
  const FrameHandler *current_ = nullptr;
  uint64_t clockOffsetNs_; // CLOCK_REALTIME - CLOCK_MONOTONIC at start
  std::function<uint64_t()> ringFullCount_;
  uint64_t lastRingFull_ = 0;
  RingReader reader_;
};

} // namespace shadowtap
