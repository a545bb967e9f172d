// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the user-space frame parser on arbitrary bytes. Oracle: never reads outside
// the frame (ASan), and a parsed payload always lies inside it.
#include "capture/packet_parser.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  shadowtap::TcpPacket packet;
  if (shadowtap::parseTcpFrame({data, size}, packet) == shadowtap::ParseError::None) {
    if (packet.payload.data() < data || packet.payload.data() + packet.payload.size() > data + size)
      __builtin_trap();
  }
  return 0;
}
