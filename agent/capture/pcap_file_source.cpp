// SPDX-License-Identifier: Apache-2.0
#include "capture/pcap_file_source.h"

#include "common/clock.h"

namespace shadowtap {

PcapFileSource::PcapFileSource(std::unique_ptr<PcapReader> reader, double speed)
    : reader_(std::move(reader)), pacer_(speed) {
  pacer_.wakeAt(monotonicNs()); // the first frame is due at once
}

bool PcapFileSource::poll(const FrameHandler &onFrame, uint32_t budget) {
  pacer_.acknowledge();
  uint64_t now = monotonicNs();
  uint64_t left = static_cast<uint64_t>(budget) * 256;
  while (!done_) {
    if (!havePending_) {
      if (!reader_->next(pending_)) {
        done_ = true;
        break;
      }
      havePending_ = true;
    }
    if (!pacer_.isDue(pending_.tsNs, now)) {
      pacer_.wakeAt(pacer_.due(pending_.tsNs));
      return false;
    }
    if (left == 0)
      return true;
    left--;
    havePending_ = false;
    lastTs_ = std::max(lastTs_, pending_.tsNs);
    frames_++;
    Frame frame;
    frame.data = pending_.data;
    frame.wireLen = pending_.wireLen;
    frame.tsNs = pending_.tsNs;
    frame.checksum = FrameChecksum::Unverified; // a file proves nothing: checked like an XDP copy
    onFrame(frame);
  }
  return false;
}

} // namespace shadowtap
