// SPDX-License-Identifier: Apache-2.0
#include "capture/pcap_reader.h"

#include "common/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace shadowtap {
namespace {

constexpr uint32_t kMagicMicros = 0xa1b2c3d4;
constexpr uint32_t kMagicNanos = 0xa1b23c4d;
constexpr uint32_t kPcapngSection = 0x0a0d0d0a;
constexpr uint32_t kPcapngByteOrder = 0x1a2b3c4d;
constexpr uint32_t kBlockInterface = 1;
constexpr uint32_t kBlockSimplePacket = 3;
constexpr uint32_t kBlockEnhancedPacket = 6;
constexpr uint16_t kOptionTsResol = 9;
constexpr size_t kEthHeader = 14;

uint32_t load32(const uint8_t *p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

} // namespace

PcapReader::PcapReader(const std::string &path) : name_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || !(file_ = ::fdopen(fd, "rb"))) {
    int err = errno;
    if (fd >= 0)
      ::close(fd);
    throwErrno("failed to open capture " + path, err);
  }
  owned_ = true;
  readFileHeader();
}

PcapReader::PcapReader(std::FILE *file, std::string name) : file_(file), name_(std::move(name)) { readFileHeader(); }

PcapReader::~PcapReader() {
  if (owned_ && file_)
    std::fclose(file_);
}

bool PcapReader::isCapture(const std::string &path) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    return false;
  uint8_t magic[4];
  bool ok = std::fread(magic, 1, 4, f) == 4;
  std::fclose(f);
  if (!ok)
    return false;
  uint32_t m = load32(magic);
  for (uint32_t known : {kMagicMicros, kMagicNanos, kPcapngSection})
    if (m == known || m == __builtin_bswap32(known))
      return true;
  return false;
}

void PcapReader::fail(const std::string &what, uint64_t at) const {
  throw Error(name_ + ": offset " + std::to_string(at) + ": " + what);
}

uint16_t PcapReader::u16(const uint8_t *p) const {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return swapped_ ? __builtin_bswap16(v) : v;
}

uint32_t PcapReader::u32(const uint8_t *p) const {
  uint32_t v = load32(p);
  return swapped_ ? __builtin_bswap32(v) : v;
}

bool PcapReader::readExact(void *out, size_t n, bool atRecordStart) {
  size_t got = std::fread(out, 1, n, file_);
  if (got == n) {
    offset_ += n;
    return true;
  }
  if (std::ferror(file_))
    fail(std::string("read failed: ") + std::strerror(errno), offset_ + got);
  if (!(atRecordStart && got == 0))
    truncatedTail_ = true; // a record cut short: its writer stopped in the middle
  offset_ += got;
  return false;
}

void PcapReader::readFileHeader() {
  uint8_t magic[4];
  if (!readExact(magic, 4, false))
    fail("not a capture file: shorter than its magic number", 0);
  uint32_t m = load32(magic);
  if (m == kPcapngSection || m == __builtin_bswap32(kPcapngSection)) {
    pcapng_ = true;
    // The section header block's length and byte-order magic follow; its body is read like any block.
    uint8_t head[8];
    if (!readExact(head, 8, false))
      fail("pcapng section header cut short", offset_);
    uint32_t bom = load32(head + 4);
    if (bom != kPcapngByteOrder && bom != __builtin_bswap32(kPcapngByteOrder))
      fail("pcapng section header without its byte-order magic", 8);
    swapped_ = bom != kPcapngByteOrder;
    uint32_t total = u32(head);
    if (total < 28 || total % 4 || total > kMaxBlock)
      fail("pcapng section header of invalid length " + std::to_string(total), 4);
    buffer_.resize(total - 12);
    if (!readExact(buffer_.data(), buffer_.size(), false))
      fail("pcapng section header cut short", offset_);
    if (u32(buffer_.data() + buffer_.size() - 4) != total)
      fail("pcapng section header's trailing length differs from its leading one", offset_ - 4);
    return;
  }
  if (m == kMagicMicros || m == kMagicNanos) {
    swapped_ = false;
  } else if (m == __builtin_bswap32(kMagicMicros) || m == __builtin_bswap32(kMagicNanos)) {
    swapped_ = true;
  } else {
    fail("not a pcap or pcapng file (magic number 0x" + [&] {
      char hex[9];
      std::snprintf(hex, sizeof(hex), "%08x", m);
      return std::string(hex);
    }() + ")", 0);
  }
  nanos_ = (swapped_ ? __builtin_bswap32(m) : m) == kMagicNanos;
  uint8_t rest[20];
  if (!readExact(rest, sizeof(rest), false))
    fail("pcap file header cut short", offset_);
  uint16_t major = u16(rest);
  if (major != 2)
    fail("unsupported pcap version " + std::to_string(major), 4);
  linkType_ = static_cast<uint16_t>(u32(rest + 16) & 0xffff);
  if (!linkTypeSupported(linkType_))
    fail("link type " + std::to_string(linkType_) + " is not supported (Ethernet, Linux cooked SLL/SLL2, raw IP)",
         20);
}

bool PcapReader::next(CapturedFrame &frame) {
  while (true) {
    bool read = pcapng_ ? nextPcapng(frame) : nextClassic(frame);
    if (read || truncatedTail_ || std::feof(file_))
      return read;
  }
}

bool PcapReader::nextClassic(CapturedFrame &frame) {
  uint8_t header[16];
  uint64_t at = offset_;
  if (!readExact(header, sizeof(header), true))
    return false;
  uint32_t sec = u32(header), frac = u32(header + 4), capLen = u32(header + 8), origLen = u32(header + 12);
  if (capLen > kMaxFrame)
    fail("record of " + std::to_string(capLen) + " bytes (at most " + std::to_string(kMaxFrame) +
             "): not a pcap record, the file is corrupt",
         at);
  if (!nanos_ && frac >= 1000000)
    fail("record timestamp with " + std::to_string(frac) + " microseconds: the file is corrupt", at);
  if (nanos_ && frac >= 1000000000)
    fail("record timestamp with " + std::to_string(frac) + " nanoseconds: the file is corrupt", at);
  buffer_.resize(capLen);
  if (!readExact(buffer_.data(), capLen, false))
    return false;
  uint64_t ts = static_cast<uint64_t>(sec) * 1000000000ull + (nanos_ ? frac : frac * 1000ull);
  if (!normalise(linkType_, buffer_, origLen, ts, frame))
    fail("frame too short for its link header", at);
  return true;
}

void PcapReader::parseSectionHeader(std::span<const uint8_t> body) {
  // Called with the section header's body after a later section starts (the first one is read by
  // readFileHeader): interfaces are numbered per section.
  (void)body;
  interfaces_.clear();
}

void PcapReader::parseInterface(std::span<const uint8_t> body) {
  uint64_t at = offset_ - body.size() - 8;
  if (body.size() < 12) // link type, reserved, snaplen, trailing length
    fail("pcapng interface block too short", at);
  Interface iface;
  iface.linkType = u16(body.data());
  // Options: code, length, value padded to 4; end at code 0 or the block's end.
  size_t pos = 8, end = body.size() - 4;
  while (pos + 4 <= end) {
    uint16_t code = u16(body.data() + pos), len = u16(body.data() + pos + 2);
    pos += 4;
    if (code == 0)
      break;
    if (len > end - pos)
      fail("pcapng interface option runs past its block", at);
    if (code == kOptionTsResol && len >= 1) {
      uint8_t v = body[pos];
      if (v & 0x80) {
        iface.pow2 = true;
        iface.pow2Exp = v & 0x7f;
        if (iface.pow2Exp > 63)
          fail("pcapng if_tsresol 2^-" + std::to_string(iface.pow2Exp) + " is out of range", at);
      } else {
        if (v > 19)
          fail("pcapng if_tsresol 10^-" + std::to_string(v) + " is out of range", at);
        iface.unitsPerSecond = 1;
        for (uint8_t i = 0; i < v; i++)
          iface.unitsPerSecond *= 10;
      }
    }
    pos += (len + 3u) & ~3u;
  }
  interfaces_.push_back(iface);
}

bool PcapReader::nextPcapng(CapturedFrame &frame) {
  uint8_t head[8];
  uint64_t at = offset_;
  if (!readExact(head, sizeof(head), true))
    return false;
  uint32_t type = u32(head), total = u32(head + 4);
  if (type == kPcapngSection || type == __builtin_bswap32(kPcapngSection)) {
    // A new section may change the byte order: its byte-order magic says.
    uint8_t bom[4];
    if (!readExact(bom, 4, false))
      return false;
    uint32_t b = load32(bom);
    if (b != kPcapngByteOrder && b != __builtin_bswap32(kPcapngByteOrder))
      fail("pcapng section header without its byte-order magic", at);
    swapped_ = b != kPcapngByteOrder;
    total = u32(head + 4);
    if (total < 28 || total % 4 || total > kMaxBlock)
      fail("pcapng section header of invalid length " + std::to_string(total), at);
    buffer_.resize(total - 12);
    if (!readExact(buffer_.data(), buffer_.size(), false))
      return false;
    parseSectionHeader(buffer_);
    return false;
  }
  if (total < 12 || total % 4 || total > kMaxBlock)
    fail("pcapng block of invalid length " + std::to_string(total), at);
  buffer_.resize(total - 8); // body and the trailing length
  if (!readExact(buffer_.data(), buffer_.size(), false))
    return false;
  if (u32(buffer_.data() + buffer_.size() - 4) != total)
    fail("pcapng block's trailing length differs from its leading one", at);
  std::span<const uint8_t> body(buffer_.data(), buffer_.size());
  if (type == kBlockInterface) {
    parseInterface(body);
    return false;
  }
  if (type != kBlockEnhancedPacket && type != kBlockSimplePacket)
    return false; // statistics, name resolution, custom...: not frames
  uint32_t ifaceId = 0, capLen = 0, origLen = 0;
  uint64_t units = 0;
  size_t dataAt = 0;
  size_t room = body.size() - 4;
  if (type == kBlockEnhancedPacket) {
    if (room < 20)
      fail("pcapng packet block too short", at);
    ifaceId = u32(body.data());
    units = (static_cast<uint64_t>(u32(body.data() + 4)) << 32) | u32(body.data() + 8);
    capLen = u32(body.data() + 12);
    origLen = u32(body.data() + 16);
    dataAt = 20;
  } else {
    if (room < 4)
      fail("pcapng simple packet block too short", at);
    origLen = u32(body.data());
    dataAt = 4;
    capLen = static_cast<uint32_t>(std::min<size_t>(origLen, room - 4));
  }
  if (capLen > room - dataAt || capLen > kMaxFrame)
    fail("pcapng packet of " + std::to_string(capLen) + " bytes runs past its block", at);
  if (ifaceId >= interfaces_.size())
    fail("pcapng packet on interface " + std::to_string(ifaceId) + ", which no interface block described", at);
  const Interface &iface = interfaces_[ifaceId];
  uint64_t ts;
  if (iface.pow2) {
    unsigned __int128 scaled = static_cast<unsigned __int128>(units) * 1000000000u;
    ts = static_cast<uint64_t>(scaled >> iface.pow2Exp);
  } else if (iface.unitsPerSecond <= 1000000000ull) {
    ts = units * (1000000000ull / iface.unitsPerSecond);
  } else {
    ts = units / (iface.unitsPerSecond / 1000000000ull);
  }
  if (!normalise(iface.linkType, body.subspan(dataAt, capLen), origLen, ts, frame)) {
    skipped_++;
    return false;
  }
  return true;
}

bool PcapReader::linkTypeSupported(uint16_t linkType) {
  for (uint16_t known : {kLinkEthernet, kLinkLinuxSll, kLinkLinuxSll2, kLinkRaw, kLinkRawBsd, kLinkIpv4, kLinkIpv6})
    if (linkType == known)
      return true;
  return false;
}

// The frame from an Ethernet header; false if the record is too short for its link header or of
// a link type we do not read.
bool PcapReader::normalise(uint16_t linkType, std::span<const uint8_t> raw, uint32_t origLen, uint64_t tsNs,
                           CapturedFrame &frame) {
  size_t strip = 0;
  uint16_t etherType = 0;
  switch (linkType) {
  case kLinkEthernet:
    frame.data = raw;
    frame.wireLen = std::max<uint32_t>(origLen, static_cast<uint32_t>(raw.size()));
    frame.tsNs = tsNs;
    return true;
  case kLinkLinuxSll: // 16 bytes, protocol in the last two (network order)
    if (raw.size() < 16)
      return false;
    strip = 16;
    etherType = static_cast<uint16_t>(raw[14] << 8 | raw[15]);
    break;
  case kLinkLinuxSll2: // 20 bytes, protocol in the first two
    if (raw.size() < 20)
      return false;
    strip = 20;
    etherType = static_cast<uint16_t>(raw[0] << 8 | raw[1]);
    break;
  case kLinkRaw:
  case kLinkRawBsd:
  case kLinkIpv4:
  case kLinkIpv6:
    if (raw.empty())
      return false;
    etherType = (raw[0] >> 4) == 6 ? 0x86dd : 0x0800;
    break;
  default:
    return false;
  }
  frame_.assign(kEthHeader, 0);
  frame_[12] = static_cast<uint8_t>(etherType >> 8);
  frame_[13] = static_cast<uint8_t>(etherType);
  frame_.insert(frame_.end(), raw.begin() + static_cast<std::ptrdiff_t>(strip), raw.end());
  frame.data = frame_;
  uint32_t wire = origLen >= strip ? origLen - static_cast<uint32_t>(strip) + kEthHeader : 0;
  frame.wireLen = std::max<uint32_t>(wire, static_cast<uint32_t>(frame_.size()));
  frame.tsNs = tsNs;
  return true;
}

} // namespace shadowtap
