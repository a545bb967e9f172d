// SPDX-License-Identifier: Apache-2.0
#include "capture/pcap_writer.h"

#include "common/error.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace shadowtap {
namespace {

struct PcapFileHeader {
  uint32_t magic = 0xa1b23c4d; // nanosecond-resolution pcap
  uint16_t versionMajor = 2;
  uint16_t versionMinor = 4;
  int32_t thiszone = 0;
  uint32_t sigfigs = 0;
  uint32_t snaplen = 0;
  uint32_t linktype = 1; // LINKTYPE_ETHERNET
};

struct PcapRecordHeader {
  uint32_t tsSec;
  uint32_t tsNsec;
  uint32_t capLen;
  uint32_t wireLen;
};

} // namespace

PcapWriter::PcapWriter(const std::string &path, uint32_t snaplen) {
  // 0600: the frames are users' traffic.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || !(file_ = ::fdopen(fd, "wb"))) {
    int err = errno;
    if (fd >= 0)
      ::close(fd);
    throwErrno("failed to open pcap file " + path, err);
  }
  PcapFileHeader header;
  header.snaplen = snaplen;
  std::fwrite(&header, sizeof(header), 1, file_);
}

PcapWriter::~PcapWriter() {
  if (file_)
    std::fclose(file_);
}

void PcapWriter::write(uint64_t realtimeNs, const void *frame, uint32_t capLen, uint32_t wireLen) {
  PcapRecordHeader record{static_cast<uint32_t>(realtimeNs / 1000000000ull),
                          static_cast<uint32_t>(realtimeNs % 1000000000ull), capLen, wireLen};
  std::fwrite(&record, sizeof(record), 1, file_);
  std::fwrite(frame, 1, capLen, file_);
}

void PcapWriter::flush() { std::fflush(file_); }

} // namespace shadowtap
