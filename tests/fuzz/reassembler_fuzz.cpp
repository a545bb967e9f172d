// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: arbitrary segmentations, orders, duplicates, wraps, out-of-window junk and
// (gated streams) acknowledgements fed to one StreamReassembler. Oracle: whatever comes out is
// always a prefix of the true stream and, gated, never beyond what was acknowledged; the memory
// bound holds; once every byte was offered (and acknowledged) the whole stream has come out.
#include "flow/stream_reassembler.h"

#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

using shadowtap::flow::StreamReassembler;

namespace {
constexpr size_t kStreamLen = 8192;
constexpr size_t kMaxBuffered = 6000;

const std::vector<uint8_t> &stream() {
  static std::vector<uint8_t> bytes = [] {
    std::vector<uint8_t> b(kStreamLen);
    for (size_t i = 0; i < b.size(); i++)
      b[i] = static_cast<uint8_t>(i * 131 + (i >> 8) * 7 + 3);
    return b;
  }();
  return bytes;
}

[[noreturn]] void fail(const char *what) {
  std::fprintf(stderr, "reassembler_fuzz: %s\n", what); // names the broken property in the log
  __builtin_trap();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 5)
    return 0;
  uint32_t isn;
  std::memcpy(&isn, data, 4);
  bool gated = data[4] & 1;
  bool heap = data[4] & 2;
  data += 5;
  size -= 5;
  const auto &truth = stream();
  // As the agent runs it: whole chunks from a pool shared by every stream (and every input here,
  // so chunks come back used); the second bit takes the heap path instead.
  static auto pool = std::make_shared<shadowtap::ChunkPool>();
  StreamReassembler reassembler(isn, kMaxBuffered, gated, heap ? nullptr : pool);
  size_t acked = 0;
  std::vector<uint8_t> out;
  std::vector<bool> offered(kStreamLen, false);
  bool overflowed = false;

  // Each record: offset (2 bytes), length (2 bytes), flags (1 byte).
  for (; size >= 5; data += 5, size -= 5) {
    size_t offset = (data[0] | data[1] << 8) % kStreamLen;
    size_t len = (data[2] | data[3] << 8) % 1600;
    uint8_t flags = data[4];
    len = std::min(len, kStreamLen - offset);
    if (gated && (flags & 0x40)) {
      // An acknowledgement of everything before offset + len.
      reassembler.onAck(isn + 1 + static_cast<uint32_t>(offset + len), out);
      acked = std::max(acked, offset + len);
    } else if (flags & 0x80) {
      // Junk far outside the window (2^31 away): must be ignored whatever it holds.
      std::vector<uint8_t> junk(len, 0xee);
      uint32_t seq = isn + 1 + static_cast<uint32_t>(offset) + 0x80000000u;
      reassembler.onSegment(seq, junk, false, out);
    } else {
      bool fin = (flags & 1) && offset + len == kStreamLen;
      auto status = reassembler.onSegment(isn + 1 + static_cast<uint32_t>(offset), {truth.data() + offset, len}, fin, out);
      if (status == StreamReassembler::Status::Overflow)
        overflowed = true;
      for (size_t i = offset; i < offset + len; i++)
        offered[i] = true;
    }
    if (out.size() > kStreamLen || (!out.empty() && std::memcmp(out.data(), truth.data(), out.size()) != 0))
      fail("delivered a byte that is not the stream's");
    if (reassembler.memoryBytes() > kMaxBuffered)
      fail("memory bound exceeded");
    if (gated && out.size() > acked)
      fail("delivered a byte that was never acknowledged");
  }
  bool all = true;
  for (bool o : offered)
    all = all && o;
  if (gated) { // everything offered so far, acknowledged now
    reassembler.onAck(isn + 1 + static_cast<uint32_t>(kStreamLen), out);
    if (out.size() > kStreamLen || (!out.empty() && std::memcmp(out.data(), truth.data(), out.size()) != 0))
      fail("delivered a byte that is not the stream's");
  }
  if (all && !overflowed && out.size() != kStreamLen)
    fail("every byte was offered but the stream is incomplete");
  return 0;
}
