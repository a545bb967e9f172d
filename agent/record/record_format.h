// SPDX-License-Identifier: Apache-2.0
// The recording format of `shadowtap run --record DIR` (docs/record-format.md): what the flow
// table hands its sink (connections started, client bytes in order, client FIN, server bytes of
// HTTP services, the end), each as one self-checking record stamped with the kernel timestamp of
// the packet that released it. Little-endian.
//
//   file   := header record*
//   header := "SHTAPREC" u32 version(1) u32 worker                                16 bytes
//   record := u32 crc32 | u32 length | u8 type | u8[3] zero | u64 flow | u64 ts_ns | payload
//             crc32 (IEEE, zlib's) covers everything after itself, payload included  28 + length
//
// Files are written by whole records and rotated between records, so a crash can only leave the
// last record of the last file torn: a reader that finds a record cut short or failing its
// checksum at the end of a file skips it.
#pragma once

#include "flow/flow_sink.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace shadowtap::record {

inline constexpr char kMagic[8] = {'S', 'H', 'T', 'A', 'P', 'R', 'E', 'C'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kFileHeaderSize = 16;
inline constexpr size_t kRecordHeaderSize = 28;
inline constexpr uint32_t kMaxPayload = 1u << 20; // longer client data is split

enum class RecordType : uint8_t {
  FlowStart = 1,  // payload: client[16] server[16] (IPv4 mapped) client_port u16 server_port u16 ipv6 u8
  ClientData = 2, // payload: the bytes
  ClientFin = 3,  // no payload
  ServerData = 4, // payload: the bytes (HTTP services: the primary's responses, for the comparison)
  FlowEnd = 5,    // payload: u8 flow::FlowEnd
};
inline constexpr size_t kFlowStartPayload = 37;

uint32_t crc32(std::span<const uint8_t> bytes, uint32_t crc = 0);

// Appends one record to `out`.
void encode(std::vector<uint8_t> &out, RecordType type, uint64_t flow, uint64_t tsNs, std::span<const uint8_t> payload);
std::vector<uint8_t> encodeFlowInfo(const flow::FlowInfo &info);
bool decodeFlowInfo(std::span<const uint8_t> payload, flow::FlowInfo &info); // false if malformed
std::vector<uint8_t> fileHeader(uint32_t worker);

// "shadowtap-w<worker>-<seq, 6 digits>.rec"
std::string fileName(uint32_t worker, uint32_t sequence);

} // namespace shadowtap::record
