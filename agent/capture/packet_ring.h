// SPDX-License-Identifier: Apache-2.0
// Reads the mirror interface through a memory-mapped AF_PACKET TPACKET_V3 ring: the kernel fills
// blocks of frames, we walk a block and hand it back — no copy, no syscall per packet.
// Sizing: a block is handed over when full or after its retire timeout, so at light traffic each
// block may carry only a few frames; what the ring can absorb while the agent is busy is then
// (blocks x timeout), not its byte size. Hence many 128 KiB blocks (still twice a 64 KiB GRO/GSO
// super-packet, which always arrives whole) and a 20 ms timeout: 512 blocks ride out >10 s of a
// stalled agent at low rates and 64 MiB at high rates. (256 blocks of 256 KiB, 5 s, lost frames
// at the end of the catch-up after a 4 s stall under churn: tests/e2e/load/overload_test.sh B.)
#pragma once

#include "capture/frame_source.h"
#include "common/unique_fd.h"

#include <cstdint>
#include <linux/if_packet.h>
#include <functional>
#include <span>
#include <string>

namespace shadowtap {

class PacketRing : public FrameSource {
public:
  struct Options {
    uint32_t blockSize = 128u << 10;
    uint32_t blockCount = 512;
    uint32_t retireTimeoutMs = 20;
    // Non-zero: join this PACKET_FANOUT group, so several rings (one per worker) share the
    // interface's frames by connection, both directions to the same ring. With fanoutProg (the
    // datapath's fanout_flow socket filter) the group is PACKET_FANOUT_EBPF: the ring is the
    // connection's inner-tuple hash, tunnels included. Without it, PACKET_FANOUT_HASH: the kernel's
    // symmetric flow hash, which does not open VXLAN or Geneve.
    uint16_t fanoutGroup = 0;
    int fanoutProg = -1; // not owned
    // A socket filter attached to the socket (SO_ATTACH_BPF): its return value is how many bytes
    // of each frame the kernel copies (the datapath's capture_snap). Not owned.
    int snapProg = -1;
  };
  PacketRing(const std::string &iface, const Options &options); // throws Error
  ~PacketRing() override;
  PacketRing(const PacketRing &) = delete;
  PacketRing &operator=(const PacketRing &) = delete;

  int readableFd() const override { return fd_.get(); }
  const Options &options() const { return options_; }
  // Walks the blocks the kernel has filled, at most `budget` of them.
  bool poll(const FrameHandler &onFrame, uint32_t budget) override;
  uint64_t takeKernelDrops() override; // the socket's PACKET_STATISTICS drops
  double occupancy() const override;    // filled blocks not read yet, of all blocks
  double consumed() const override { return static_cast<double>(blocksRead_) / options_.blockCount; }
  void peekUnread(const FrameHandler &onFrame, size_t maxBytes) const override;

private:
  bool ready() const; // the next block is filled
  tpacket_block_desc *block(uint32_t index) const; // index: counted from the next block to read
  bool filled(uint32_t index) const;               // the kernel handed that block to us
  static void handFrames(const tpacket_block_desc *block, const FrameHandler &onFrame);
  UniqueFd fd_;
  uint8_t *map_ = nullptr;
  size_t mapSize_ = 0;
  Options options_;
  uint32_t nextBlock_ = 0;
  uint64_t blocksRead_ = 0; // handed back to the kernel since the start
};

} // namespace shadowtap
