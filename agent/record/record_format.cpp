// SPDX-License-Identifier: Apache-2.0
#include "record/record_format.h"

#include <array>
#include <cstdio>
#include <cstring>

namespace shadowtap::record {
namespace {

constexpr std::array<uint32_t, 256> makeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kTable = makeTable();

void put(std::vector<uint8_t> &out, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; i++)
    out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

uint64_t get(const uint8_t *p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; i++)
    v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

} // namespace

uint32_t crc32(std::span<const uint8_t> bytes, uint32_t crc) {
  crc = ~crc;
  for (uint8_t b : bytes)
    crc = kTable[(crc ^ b) & 0xff] ^ (crc >> 8);
  return ~crc;
}

void encode(std::vector<uint8_t> &out, RecordType type, uint64_t flow, uint64_t tsNs, std::span<const uint8_t> payload) {
  size_t start = out.size();
  put(out, 0, 4); // crc, filled in below
  put(out, payload.size(), 4);
  put(out, static_cast<uint8_t>(type), 1);
  put(out, 0, 3);
  put(out, flow, 8);
  put(out, tsNs, 8);
  out.insert(out.end(), payload.begin(), payload.end());
  uint32_t crc = crc32(std::span<const uint8_t>(out).subspan(start + 4));
  for (size_t i = 0; i < 4; i++)
    out[start + i] = static_cast<uint8_t>(crc >> (8 * i));
}

std::vector<uint8_t> encodeFlowInfo(const flow::FlowInfo &info) {
  std::vector<uint8_t> out(32);
  std::memcpy(out.data(), info.client, 16);
  std::memcpy(out.data() + 16, info.server, 16);
  put(out, info.clientPort, 2);
  put(out, info.serverPort, 2);
  put(out, info.ipv6 ? 1 : 0, 1);
  return out;
}

bool decodeFlowInfo(std::span<const uint8_t> payload, flow::FlowInfo &info) {
  if (payload.size() != kFlowStartPayload)
    return false;
  info = {};
  std::memcpy(info.client, payload.data(), 16);
  std::memcpy(info.server, payload.data() + 16, 16);
  info.clientPort = static_cast<uint16_t>(get(payload.data() + 32, 2));
  info.serverPort = static_cast<uint16_t>(get(payload.data() + 34, 2));
  info.ipv6 = payload[36] != 0;
  return true;
}

std::vector<uint8_t> fileHeader(uint32_t worker) {
  std::vector<uint8_t> out(kMagic, kMagic + 8);
  put(out, kVersion, 4);
  put(out, worker, 4);
  return out;
}

std::string fileName(uint32_t worker, uint32_t sequence) {
  char name[64];
  std::snprintf(name, sizeof(name), "shadowtap-w%u-%06u.rec", worker, sequence);
  return name;
}

} // namespace shadowtap::record
