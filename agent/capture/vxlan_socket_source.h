// SPDX-License-Identifier: Apache-2.0
// VXLAN datagrams from a UDP socket as a frame source: what `shadowtap collect` reads. Each
// datagram is an 8-byte VXLAN header (RFC 7348: the I flag, a 24-bit VNI) and the mirrored
// Ethernet frame, as sent by `run --mirror-vxlan` nodes or by AWS VPC Traffic Mirroring. The frame
// after the header is handed on as if it had been read from a mirror interface, Unverified: it
// crossed a network, so its TCP checksum is checked like a frame straight from the wire.
//
// Nothing is lost silently: a datagram that is not VXLAN, or of another VNI than --vni, is
// counted; datagrams the socket's buffer had no room for are the kernel's drops (SO_RXQ_OVFL).
#pragma once

#include "capture/frame_source.h"
#include "common/unique_fd.h"
#include "config/run_options.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <sys/socket.h>
#include <vector>

namespace shadowtap {

struct VxlanSourceStats {
  std::atomic<uint64_t> datagrams{0}; // every datagram read
  std::atomic<uint64_t> frames{0};    // ... handed on as frames
  std::atomic<uint64_t> notVxlan{0};  // shorter than a VXLAN header and an Ethernet header, or no I flag
  std::atomic<uint64_t> otherVni{0};  // a VNI other than the one asked for
  std::atomic<uint64_t> cut{0};       // larger than the receive buffer (cannot happen below 64 KiB)
};

class VxlanSocketSource : public FrameSource {
public:
  // Binds `listen` (UDP). `vni`: accept only this VNI; nullopt: any. Throws Error.
  VxlanSocketSource(const VxlanEndpoint &listen, std::optional<uint32_t> vni);

  int readableFd() const override { return fd_.get(); }
  // One batch is one recvmmsg() of up to kBatch datagrams.
  bool poll(const FrameHandler &onFrame, uint32_t budget) override;
  uint64_t takeKernelDrops() override;

  uint16_t port() const { return port_; } // the bound port (listen port 0: the one the kernel chose)
  const VxlanSourceStats &stats() const { return stats_; }

  static constexpr size_t kBatch = 32;
  static constexpr size_t kDatagramBytes = 65536; // a UDP datagram's largest
  static constexpr size_t kVxlanHeader = 8;

private:
  UniqueFd fd_;
  uint16_t port_ = 0;
  std::optional<uint32_t> vni_;
  std::vector<uint8_t> buffers_;
  std::vector<uint8_t> control_;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;
  uint32_t overflowSeen_ = 0, overflowTaken_ = 0; // SO_RXQ_OVFL: the socket's running drop count
  VxlanSourceStats stats_;
};

} // namespace shadowtap
