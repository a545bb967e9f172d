// SPDX-License-Identifier: Apache-2.0
// The recording format (record/record_format.h): what the writer writes the reader reads back
// whole; files rotate by size, are 0600 and never overwritten; the budget stops the recording
// (streams stay prefixes); a torn last record is skipped, corruption elsewhere is an Error.
#include "common/error.h"
#include "record/record_reader.h"
#include "record/record_writer.h"

#include <cstdlib>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sys/stat.h>

using namespace shadowtap;
using namespace shadowtap::record;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/shadowtap-record-test.XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::vector<std::string> files(const std::string &dir) {
  std::vector<std::string> out;
  for (const auto &e : std::filesystem::directory_iterator(dir))
    out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint8_t> bytesOf(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::vector<Record> readAll(RecordFileReader &reader, std::vector<std::vector<uint8_t>> *payloads = nullptr) {
  std::vector<Record> out;
  Record r;
  while (reader.next(r)) {
    out.push_back(r);
    if (payloads)
      payloads->emplace_back(r.payload.begin(), r.payload.end());
  }
  return out;
}

} // namespace

TEST(Record, RoundTripRotationAndPermissions) {
  TempDir dir;
  std::vector<uint8_t> data(1000, 'x');
  {
    RecordWriter writer(dir.path + "/rec", 3, 4096, 1 << 20);
    flow::FlowInfo info;
    info.clientPort = 40000;
    info.serverPort = 8080;
    writer.append(RecordType::FlowStart, 7, 100, encodeFlowInfo(info));
    for (int i = 0; i < 10; i++)
      writer.append(RecordType::ClientData, 7, 200 + i, data);
    writer.append(RecordType::ClientFin, 7, 300, {});
    uint8_t end = 0;
    writer.append(RecordType::FlowEnd, 7, 301, {&end, 1});
    EXPECT_EQ(writer.stats().records, 13u);
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir.path + "/rec").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto names = files(dir.path + "/rec");
  ASSERT_GE(names.size(), 3u); // 10 KB in files of at most 4 KiB
  size_t records = 0, dataBytes = 0;
  for (const auto &name : names) {
    ASSERT_EQ(::stat(name.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
    EXPECT_LE(st.st_size, 4096) << name;
    RecordFileReader reader(name);
    EXPECT_EQ(reader.worker(), 3u);
    for (const auto &r : readAll(reader)) {
      records++;
      EXPECT_EQ(r.flow, 7u);
      if (r.type == RecordType::ClientData)
        dataBytes += r.payload.size();
      if (r.type == RecordType::FlowStart) {
        flow::FlowInfo info;
        ASSERT_TRUE(decodeFlowInfo(r.payload, info));
        EXPECT_EQ(info.serverPort, 8080);
        EXPECT_EQ(info.clientPort, 40000);
      }
    }
    EXPECT_FALSE(reader.tornTail());
  }
  EXPECT_EQ(records, 13u);
  EXPECT_EQ(dataBytes, 10000u);
  // A second writer on the same directory never overwrites the first one's files.
  { RecordWriter again(dir.path + "/rec", 3, 4096, 1 << 20); }
  EXPECT_EQ(files(dir.path + "/rec").size(), names.size() + 1);
}

TEST(Record, BudgetStopsTheRecordingForGood) {
  TempDir dir;
  std::vector<uint8_t> data(1000, 'y');
  RecordWriter writer(dir.path, 0, 1 << 20, 5000);
  for (int i = 0; i < 10; i++)
    writer.append(RecordType::ClientData, 1, i, data);
  writer.flush();
  EXPECT_TRUE(writer.stopped());
  EXPECT_EQ(writer.stats().records, 4u); // 16 + 4 x 1028 <= 5000 < 16 + 5 x 1028
  EXPECT_EQ(writer.stats().dropped, 6u);
  uint64_t total = 0;
  for (const auto &name : files(dir.path))
    total += std::filesystem::file_size(name);
  EXPECT_LE(total, 5000u);
}

TEST(Record, TornLastRecordIsSkippedCorruptionIsAnError) {
  std::vector<uint8_t> file = fileHeader(0);
  std::vector<uint8_t> a(100, 'a'), b(50, 'b');
  encode(file, RecordType::ClientData, 1, 10, a);
  size_t second = file.size();
  encode(file, RecordType::ClientData, 1, 11, b);
  for (size_t cut = 1; cut < file.size() - second; cut++) {
    RecordFileReader reader(std::vector<uint8_t>(file.begin(), file.end() - static_cast<std::ptrdiff_t>(cut)), "t");
    std::vector<std::vector<uint8_t>> payloads;
    EXPECT_EQ(readAll(reader, &payloads).size(), 1u) << cut;
    EXPECT_EQ(payloads[0], a);
    EXPECT_TRUE(reader.tornTail()) << cut;
  }
  // A flipped byte in the last record: torn (checksum), skipped.
  auto flipped = file;
  flipped.back() ^= 1;
  RecordFileReader last(flipped, "t");
  EXPECT_EQ(readAll(last).size(), 1u);
  EXPECT_TRUE(last.tornTail());
  // The same in the first record, with a record after it: corruption, an Error with the offset.
  auto corrupt = file;
  corrupt[second - 1] ^= 1;
  RecordFileReader middle(corrupt, "t");
  try {
    readAll(middle);
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("t: offset 16: corrupt record (checksum mismatch)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(RecordFileReader(std::vector<uint8_t>{'n', 'o', 'p', 'e'}, "t"), Error);
}
