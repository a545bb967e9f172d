// SPDX-License-Identifier: Apache-2.0
#include "offline/offline_input.h"

#include "capture/pcap_file_source.h"
#include "common/error.h"
#include "record/record_reader.h"

#include <sys/stat.h>

namespace shadowtap {
namespace {

// A capture: frames through the whole pipeline (parse, reassembly, HTTP stage, replay), as live.
class CaptureInput : public OfflineInput {
public:
  CaptureInput(const std::string &path, double speed)
      : path_(path), source_(std::make_unique<PcapReader>(path), speed) {}

  int readableFd() const override { return source_.readableFd(); }
  bool pump(MirrorPipeline &pipeline, uint32_t budget) override {
    return source_.poll([&](const Frame &frame) { pipeline.onFrame(frame, source_.lastTsNs()); }, budget);
  }
  bool finished() const override { return source_.done(); }
  uint64_t clockNs() const override { return source_.lastTsNs(); }
  uint64_t firstTsNs() const override { return source_.firstTsNs(); }
  uint64_t items() const override { return source_.frames(); }
  std::string describe() const override {
    const auto &reader = source_.reader();
    std::string out = path_ + " (" + (reader.pcapng() ? "pcapng" : "pcap") + "): " + std::to_string(items()) + " frames";
    if (reader.skippedFrames())
      out += ", " + std::to_string(reader.skippedFrames()) + " of an unsupported link type skipped";
    if (reader.truncatedTail())
      out += ", the last record was cut short at offset " + std::to_string(reader.offset()) + " and skipped";
    return out;
  }

private:
  std::string path_;
  PcapFileSource source_;
};

} // namespace

std::unique_ptr<OfflineInput> openOfflineInput(const std::string &path, double speed) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throwErrno("failed to open " + path, errno);
  if (S_ISDIR(st.st_mode) || record::isRecordingFile(path))
    return record::openRecordingInput(path, speed);
  return std::make_unique<CaptureInput>(path, speed); // anything else: the reader says what is wrong
}

} // namespace shadowtap
