// SPDX-License-Identifier: Apache-2.0
// One worker's recording (record_format.h): records are buffered and written by whole records
// (write(2) on the tick, or once 256 KiB are waiting), into files of at most `rotateBytes` in DIR
// (0600; DIR is made 0700 if missing). Disk use is bounded: once `maxBytes` would be passed the
// recording stops for good (counted, logged once) — a stream is always a prefix of the
// connection, never one with a hole in its middle.
#pragma once

#include "common/unique_fd.h"
#include "record/record_format.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shadowtap::record {

struct RecordStats {
  uint64_t records = 0;
  uint64_t bytes = 0; // written to files, headers included
  uint64_t files = 0;
  uint64_t dropped = 0; // records not written: the --record-max-bytes budget was used up
};

class RecordWriter {
public:
  // Throws Error if DIR cannot be made or the first file cannot be created.
  RecordWriter(std::string dir, uint32_t worker, uint64_t rotateBytes, uint64_t maxBytes);
  ~RecordWriter(); // flushes

  void append(RecordType type, uint64_t flow, uint64_t tsNs, std::span<const uint8_t> payload);
  void flush(); // errors are logged and stop the recording (never thrown: the data path goes on)
  const RecordStats &stats() const { return stats_; }
  bool stopped() const { return stopped_; }

private:
  void openNext();
  void stop(const std::string &why);

  std::string dir_;
  uint32_t worker_;
  uint64_t rotateBytes_, maxBytes_;
  uint32_t sequence_ = 0;
  UniqueFd fd_;
  uint64_t fileBytes_ = 0;  // in the current file, buffered included
  uint64_t totalBytes_ = 0; // in every file, buffered included
  std::vector<uint8_t> buffer_;
  bool stopped_ = false;
  RecordStats stats_;
};

// Makes DIR (0700) if missing and checks it is a writable directory; throws Error.
void prepareRecordDir(const std::string &dir);

} // namespace shadowtap::record
