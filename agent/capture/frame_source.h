// SPDX-License-Identifier: Apache-2.0
// Where mirrored frames come from, behind one seam: the mirror interface's packet ring
// (TPACKET_V3) and the BPF ring buffer today; an offline capture, a recording or a VXLAN
// collector socket tomorrow. A source is polled from an event loop when its fd is readable, in
// bounded turns, and says how many frames the kernel lost before they could be read.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace shadowtap {

// What the kernel knows about a frame's TCP checksum.
enum class FrameChecksum : uint8_t {
  Trusted,   // the kernel verified it (CHECKSUM_UNNECESSARY) or built the frame (CHECKSUM_PARTIAL)
  Unverified // nobody checked it (XDP, a frame straight from the wire): verify before use
};

struct Frame {
  std::span<const uint8_t> data; // from the Ethernet header; shorter than wireLen if cut
  uint32_t wireLen = 0;          // the frame's length on the wire
  uint64_t tsNs = 0;             // kernel timestamp, CLOCK_REALTIME (as pcap wants it)
  FrameChecksum checksum = FrameChecksum::Unverified;
  uint32_t zone = 0; // where it was mirrored: a collector's VXLAN VNI (flow/flow_key.h); 0 on a tap

  bool cut() const { return data.size() < wireLen; } // a copy shorter than the frame
};

using FrameHandler = std::function<void(const Frame &)>;

class FrameSource {
public:
  virtual ~FrameSource() = default;
  // Readable (epoll) when frames are waiting.
  virtual int readableFd() const = 0;
  // Hands waiting frames to `onFrame`, at most `budget` batches of them (ring blocks), so a
  // flood cannot starve the loop's other work. Returns true if more are waiting.
  virtual bool poll(const FrameHandler &onFrame, uint32_t budget) = 0;
  // Frames lost before they could be read (the ring was full), since the last call.
  virtual uint64_t takeKernelDrops() = 0;
  // How full the source's buffer is, 0..1: the overload signal (admission pauses well before
  // the kernel has to drop). A source that cannot tell says 0.
  virtual double occupancy() const { return 0; }
  // How much has been read since the start, in whole buffers (monotonic): with occupancy(), how
  // fast the buffer fills against how fast it is read (runtime/inflight_shedder.h).
  virtual double consumed() const { return 0; }
  // Hands frames waiting in the buffer to `onFrame` without reading them, about `maxBytes` of
  // them at most: what arrived that the worker has not taken yet, the latest sample of what each
  // connection brings (overload: the connections to shed are weighed by it). Bounded, because it
  // runs when the worker is already behind: walking a half-full 64 MiB ring of small frames took
  // the worker's loop away for a second at a time (tests/e2e/load/conns_test.sh). A source that
  // cannot tell hands none.
  virtual void peekUnread(const FrameHandler &onFrame, size_t maxBytes) const {
    (void)onFrame;
    (void)maxBytes;
  }
};

} // namespace shadowtap
