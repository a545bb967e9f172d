// SPDX-License-Identifier: Apache-2.0
// RecordFileReader alone (record_reader.h): no pipeline, so the fuzz target links just this.
#include "record/record_reader.h"

#include "common/error.h"

#include <cstring>
#include <fstream>

namespace shadowtap::record {
namespace {

uint64_t get(const uint8_t *p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; i++)
    v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throwErrno("failed to open recording " + path, errno);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

} // namespace

bool isRecordingFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  return in.read(magic, 8) && std::memcmp(magic, kMagic, 8) == 0;
}

RecordFileReader::RecordFileReader(const std::string &path) : name_(path), bytes_(readFile(path)) { readHeader(); }

RecordFileReader::RecordFileReader(std::vector<uint8_t> bytes, std::string name)
    : name_(std::move(name)), bytes_(std::move(bytes)) {
  readHeader();
}

void RecordFileReader::readHeader() {
  if (bytes_.size() < kFileHeaderSize || std::memcmp(bytes_.data(), kMagic, 8) != 0)
    throw Error(name_ + ": offset 0: not a shadowtap recording (no SHTAPREC header)");
  uint32_t version = static_cast<uint32_t>(get(bytes_.data() + 8, 4));
  if (version != kVersion)
    throw Error(name_ + ": offset 8: recording format version " + std::to_string(version) + " (this build reads " +
                std::to_string(kVersion) + ")");
  worker_ = static_cast<uint32_t>(get(bytes_.data() + 12, 4));
  offset_ = kFileHeaderSize;
}

bool RecordFileReader::next(Record &record) {
  size_t left = bytes_.size() - offset_;
  if (left == 0 || torn_)
    return false;
  const uint8_t *p = bytes_.data() + offset_;
  if (left < kRecordHeaderSize) {
    torn_ = true;
    return false;
  }
  uint32_t length = static_cast<uint32_t>(get(p + 4, 4));
  uint8_t type = p[8];
  bool lengthOk = length <= kMaxPayload;
  if (lengthOk && left < kRecordHeaderSize + length) {
    torn_ = true; // cut short: the writer stopped in the middle of it
    return false;
  }
  bool crcOk = lengthOk && crc32({p + 4, kRecordHeaderSize - 4 + length}) == get(p, 4);
  bool typeOk = type >= 1 && type <= 5;
  if (!lengthOk || !crcOk || !typeOk) {
    size_t size = lengthOk ? kRecordHeaderSize + length : left;
    if (size == left) { // the last record of the file: torn (a crash mid-write), skipped
      torn_ = true;
      return false;
    }
    throw Error(name_ + ": offset " + std::to_string(offset_) + ": corrupt record (" +
                (!lengthOk ? "length " + std::to_string(length) : !crcOk ? std::string("checksum mismatch")
                                                                         : "type " + std::to_string(type)) +
                ") with " + std::to_string(left - size) + " bytes after it");
  }
  record.type = static_cast<RecordType>(type);
  record.flow = get(p + 12, 8);
  record.tsNs = get(p + 20, 8);
  record.payload = {p + kRecordHeaderSize, length};
  offset_ += kRecordHeaderSize + length;
  return true;
}

} // namespace shadowtap::record
