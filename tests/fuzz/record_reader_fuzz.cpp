// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: a recording file (record/record_format.h) of arbitrary bytes. Oracle: the
// reader ends, throws only shadowtap::Error, never reads outside the file (ASan), and every
// record it returns lies inside the file with a valid type.
#include "common/error.h"
#include "record/record_reader.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  try {
    shadowtap::record::RecordFileReader reader(std::vector<uint8_t>(data, data + size), "fuzz");
    shadowtap::record::Record record;
    size_t records = 0;
    while (reader.next(record)) {
      auto type = static_cast<uint8_t>(record.type);
      if (type < 1 || type > 5 || record.payload.size() > shadowtap::record::kMaxPayload || ++records > size)
        __builtin_trap();
    }
  } catch (const shadowtap::Error &) {
  }
  return 0;
}
