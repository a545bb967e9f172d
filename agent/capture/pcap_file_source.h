// SPDX-License-Identifier: Apache-2.0
// A capture file as a FrameSource: frames come out when their capture timestamp falls due,
// scaled by a speed (common/pacer.h; 0: as fast as they can be read). Its fd is the pacer's
// timerfd, readable when the next frame is due. Ends (done()) at the end of the file.
#pragma once

#include "capture/frame_source.h"
#include "capture/pcap_reader.h"
#include "common/pacer.h"

#include <memory>

namespace shadowtap {

class PcapFileSource : public FrameSource {
public:
  PcapFileSource(std::unique_ptr<PcapReader> reader, double speed);

  int readableFd() const override { return pacer_.fd(); }
  // `budget`: batches of 256 frames.
  bool poll(const FrameHandler &onFrame, uint32_t budget) override;
  uint64_t takeKernelDrops() override { return 0; }

  bool done() const { return done_; }
  uint64_t frames() const { return frames_; }
  uint64_t firstTsNs() const { return pacer_.firstTs(); }
  uint64_t lastTsNs() const { return lastTs_; } // the latest stamp handed out (never goes back)
  const PcapReader &reader() const { return *reader_; }

private:
  std::unique_ptr<PcapReader> reader_;
  Pacer pacer_;
  CapturedFrame pending_;
  bool havePending_ = false;
  bool done_ = false;
  uint64_t frames_ = 0;
  uint64_t lastTs_ = 0;
};

} // namespace shadowtap
