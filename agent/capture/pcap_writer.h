// SPDX-License-Identifier: Apache-2.0
// Minimal pcap (nanosecond, Ethernet) writer for frames taken from the ring buffer, so XDP-mode
// mirrors can be inspected with tcpdump/wireshark exactly like the TC mirror interface.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace shadowtap {

class PcapWriter {
public:
  explicit PcapWriter(const std::string &path, uint32_t snaplen); // throws Error
  ~PcapWriter();
  PcapWriter(const PcapWriter &) = delete;
  PcapWriter &operator=(const PcapWriter &) = delete;

  void write(uint64_t realtimeNs, const void *frame, uint32_t capLen, uint32_t wireLen);
  void flush();

private:
  std::FILE *file_ = nullptr;
};

} // namespace shadowtap
