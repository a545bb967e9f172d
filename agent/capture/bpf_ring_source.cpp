// SPDX-License-Identifier: Apache-2.0
#include "capture/bpf_ring_source.h"

#include "common/clock.h"

namespace shadowtap {

BpfRingSource::BpfRingSource(int ringFd, std::function<uint64_t()> ringFullCount)
    : clockOffsetNs_(realtimeMinusMonotonicNs()), ringFullCount_(std::move(ringFullCount)),
      lastRingFull_(ringFullCount_()), reader_(ringFd, [this](const st_pkt_meta &meta, std::span<const uint8_t> frame) {
        if (current_)
          (*current_)(frameOf(meta, frame));
      }) {}

Frame BpfRingSource::frameOf(const st_pkt_meta &meta, std::span<const uint8_t> data) const {
  return {data, meta.pkt_len, meta.ts_ns + clockOffsetNs_,
          (meta.flags & ST_PKT_CSUM_TRUSTED) ? FrameChecksum::Trusted : FrameChecksum::Unverified};
}

void BpfRingSource::peekUnread(const FrameHandler &onFrame, size_t maxBytes) const {
  reader_.peek([&](const st_pkt_meta &meta, std::span<const uint8_t> frame) { onFrame(frameOf(meta, frame)); },
               maxBytes);
}

bool BpfRingSource::poll(const FrameHandler &onFrame, uint32_t budget) {
  current_ = &onFrame;
  bool more = reader_.drain(static_cast<size_t>(budget) * kBytesPerBatch);
  current_ = nullptr;
  return more;
}

uint64_t BpfRingSource::takeKernelDrops() {
  uint64_t now = ringFullCount_();
  uint64_t drops = now - lastRingFull_;
  lastRingFull_ = now;
  return drops;
}

} // namespace shadowtap
