// SPDX-License-Identifier: Apache-2.0
// The TCP checksum of a parsed frame, checked in software (RFC 793 / RFC 8200 pseudo-headers),
// for frames whose checksum the kernel did not vouch for (FrameChecksum::Unverified). A corrupted
// segment the primary's kernel drops must not reach a replay: its retransmission carries the right
// bytes, but the first copy of a byte is the one replayed.
#pragma once

#include "capture/packet_parser.h"

#include <cstdint>
#include <span>

namespace shadowtap {

enum class TcpChecksumResult {
  Valid,
  // The field holds only the pseudo-header sum: a CHECKSUM_PARTIAL frame seen before the
  // transmit path filled it in (a locally built frame copied by XDP on a veth, for instance).
  // The kernel that built it completes it; nothing on the wire was damaged.
  PartialOffload,
  Invalid,
  // Not checkable: the copy is cut, or the IP header gives no length (BIG TCP / jumbogram).
  Unknown,
};

// RFC 1071 sum of `data` added to `sum` (not folded, not complemented). Big-endian 16-bit words;
// an odd trailing byte is padded with zero.
uint32_t onesComplementAdd(std::span<const uint8_t> data, uint32_t sum = 0);
// Folds a running sum to 16 bits (not complemented).
uint16_t foldChecksum(uint32_t sum);

// Checks `packet` (as filled by parseTcpFrame) against its IPv4 or IPv6 pseudo-header.
TcpChecksumResult checkTcpChecksum(const TcpPacket &packet);

} // namespace shadowtap
