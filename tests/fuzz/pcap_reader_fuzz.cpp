// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the capture reader of `shadowtap replay` on arbitrary files. Oracle: it ends
// (every record consumes bytes), throws only shadowtap::Error, never reads outside its buffers
// (ASan), and every frame it returns lies within its bounds.
#include "capture/pcap_reader.h"
#include "common/error.h"

#include <cstdint>
#include <cstdio>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  std::FILE *f = fmemopen(const_cast<uint8_t *>(data), size, "rb");
  if (!f)
    return 0;
  try {
    shadowtap::PcapReader reader(f, "fuzz");
    shadowtap::CapturedFrame frame;
    size_t frames = 0;
    while (reader.next(frame)) {
      if (frame.data.size() > shadowtap::PcapReader::kMaxFrame + 14 || frame.wireLen < frame.data.size())
        __builtin_trap();
      if (++frames > size)
        __builtin_trap(); // more frames than bytes: not consuming its input
    }
  } catch (const shadowtap::Error &) {
  }
  std::fclose(f);
  return 0;
}
