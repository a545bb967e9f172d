// SPDX-License-Identifier: Apache-2.0
// Reads recordings (record_format.h). RecordFileReader: one file, record by record; a record cut
// short or failing its checksum at the very end of the file is a torn tail (skipped, reported);
// anywhere else it is corruption (Error naming the file and offset). RecordingInput: a whole
// recording (a directory: every worker's files, each worker's in sequence, merged by timestamp;
// or one file) replayed into the pipeline's stage after the flow table, paced by its timestamps.
#pragma once

#include "offline/offline_input.h"
#include "record/record_format.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace shadowtap::record {

struct Record {
  RecordType type{};
  uint64_t flow = 0;
  uint64_t tsNs = 0;
  std::span<const uint8_t> payload; // valid until the next call to next()
};

class RecordFileReader {
public:
  explicit RecordFileReader(const std::string &path); // throws Error (unreadable, not a recording)
  RecordFileReader(std::vector<uint8_t> bytes, std::string name); // throws Error
  bool next(Record &record); // false at the end (or at a torn tail); throws Error on corruption
  bool tornTail() const { return torn_; }
  uint32_t worker() const { return worker_; }
  size_t offset() const { return offset_; }

private:
  void readHeader();
  std::string name_;
  std::vector<uint8_t> bytes_;
  size_t offset_ = 0;
  uint32_t worker_ = 0;
  bool torn_ = false;
};

// True if `path` starts with the recording magic.
bool isRecordingFile(const std::string &path);

std::unique_ptr<OfflineInput> openRecordingInput(const std::string &path, double speed);

} // namespace shadowtap::record
