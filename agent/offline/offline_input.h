// SPDX-License-Identifier: Apache-2.0
// What `shadowtap replay` reads, behind one interface: a capture file (frames into the whole
// pipeline, capture/pcap_reader.h) or a recording (reassembled streams straight into the stage
// after the flow table, record/record_reader.h). Each is paced by its own timestamps (pacer.h).
#pragma once

#include "pipeline/mirror_pipeline.h"

#include <cstdint>
#include <memory>
#include <string>

namespace shadowtap {

class OfflineInput {
public:
  virtual ~OfflineInput() = default;
  // Readable when the next input falls due (a timerfd).
  virtual int readableFd() const = 0;
  // Hands what is due to `pipeline`, at most `budget` batches; true if more are due already.
  // Budget 0 hands nothing over and only quiets the fd until the caller asks again.
  virtual bool pump(MirrorPipeline &pipeline, uint32_t budget) = 0;
  virtual bool finished() const = 0; // everything was handed over
  // The latest input timestamp handed over (the pipeline's clock: its timeouts follow the input's
  // own time, whatever the speed).
  virtual uint64_t clockNs() const = 0;
  virtual uint64_t firstTsNs() const = 0;
  virtual uint64_t items() const = 0; // frames or records handed over
  virtual std::string describe() const = 0; // for the summary: what was read, and what was skipped
};

// `path`: a pcap/pcapng file, or a recording (a directory of record files, or one such file).
// Throws Error when it is neither, or is unreadable.
std::unique_ptr<OfflineInput> openOfflineInput(const std::string &path, double speed);

} // namespace shadowtap
