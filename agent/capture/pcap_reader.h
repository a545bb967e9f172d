// SPDX-License-Identifier: Apache-2.0
// Reads a capture file, frame by frame, for `shadowtap replay --from FILE`: classic pcap (micro-
// or nanosecond timestamps, either byte order) and pcapng (section, interface and enhanced/simple
// packet blocks; other blocks are skipped). Frames come out as the pipeline takes them: from an
// Ethernet header. Linux cooked captures (`tcpdump -i any`, SLL and SLL2) and raw IP captures get a
// synthetic Ethernet header carrying their EtherType.
//
// Untrusted input: every length is bounded before it is used, and anything that is not a capture
// throws Error "FILE: offset N: what is wrong". A last record cut short (a capture whose writer was
// killed) is not an error: reading stops before it and truncatedTail() says so.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace shadowtap {

struct CapturedFrame {
  std::span<const uint8_t> data; // Ethernet frame; valid until the next call to next()
  uint32_t wireLen = 0;          // the frame's length on the wire (data may be shorter: snaplen)
  uint64_t tsNs = 0;             // capture timestamp, ns since the epoch
};

class PcapReader {
public:
  static constexpr uint32_t kMaxFrame = 256u << 10; // the largest record accepted (libpcap's own bound)
  static constexpr uint32_t kMaxBlock = 16u << 20;  // pcapng: the largest block accepted

  explicit PcapReader(const std::string &path); // throws Error
  // Reads from `file` (not owned, not closed); `name` is for messages. Throws Error.
  PcapReader(std::FILE *file, std::string name);
  ~PcapReader();
  PcapReader(const PcapReader &) = delete;
  PcapReader &operator=(const PcapReader &) = delete;

  // The next frame; false at the end of the file. Throws Error on a malformed file.
  bool next(CapturedFrame &frame);

  bool pcapng() const { return pcapng_; }
  bool truncatedTail() const { return truncatedTail_; } // the last record was cut short
  uint64_t offset() const { return offset_; }
  uint64_t skippedFrames() const { return skipped_; } // frames of a link type we cannot read (pcapng)

  // True if the first bytes of `path` are a pcap or pcapng magic number.
  static bool isCapture(const std::string &path);
  static bool linkTypeSupported(uint16_t linkType);

private:
  struct Interface {
    uint16_t linkType = 0;
    uint64_t unitsPerSecond = 1000000; // if_tsresol
    bool pow2 = false;                 // units are 2^-n seconds
    uint32_t pow2Exp = 0;
  };
  void readFileHeader();
  bool readExact(void *out, size_t n, bool atRecordStart); // false: clean end or torn tail
  bool nextClassic(CapturedFrame &frame);
  bool nextPcapng(CapturedFrame &frame);
  void parseSectionHeader(std::span<const uint8_t> body);
  void parseInterface(std::span<const uint8_t> body);
  bool normalise(uint16_t linkType, std::span<const uint8_t> raw, uint32_t origLen, uint64_t tsNs,
                 CapturedFrame &frame);
  uint16_t u16(const uint8_t *p) const;
  uint32_t u32(const uint8_t *p) const;
  [[noreturn]] void fail(const std::string &what, uint64_t at) const;

  std::FILE *file_ = nullptr;
  bool owned_ = false;
  std::string name_;
  bool swapped_ = false; // the file's byte order is not ours
  bool pcapng_ = false;
  bool nanos_ = false;
  uint16_t linkType_ = 0;
  std::vector<Interface> interfaces_;
  uint64_t offset_ = 0;
  bool truncatedTail_ = false;
  uint64_t skipped_ = 0;
  std::vector<uint8_t> buffer_; // the record as read
  std::vector<uint8_t> frame_;  // with a synthetic Ethernet header
};

// Link types read (LINKTYPE_*).
inline constexpr uint16_t kLinkEthernet = 1;
inline constexpr uint16_t kLinkRaw = 101;
inline constexpr uint16_t kLinkRawBsd = 12;
inline constexpr uint16_t kLinkIpv4 = 228;
inline constexpr uint16_t kLinkIpv6 = 229;
inline constexpr uint16_t kLinkLinuxSll = 113;
inline constexpr uint16_t kLinkLinuxSll2 = 276;

} // namespace shadowtap
