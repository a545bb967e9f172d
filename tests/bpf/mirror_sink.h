// SPDX-License-Identifier: Apache-2.0
// An AF_PACKET socket on the far end of the mirror veth: what a tool behind the mirror port would
// see. Frames come back with any VLAN tag the receive path moved into metadata put back in place,
// so they can be compared byte for byte with what the program was given.
#pragma once

#include "packet_builder.h"

#include <optional>

namespace shadowtap::test {

class MirrorSink {
public:
  explicit MirrorSink(int ifindex); // throws std::runtime_error
  ~MirrorSink();
  MirrorSink(const MirrorSink &) = delete;
  MirrorSink &operator=(const MirrorSink &) = delete;

  // The next received frame, waiting at most `timeoutMs`; nullopt if none came.
  std::optional<Bytes> receive(int timeoutMs);

private:
  int fd_ = -1;
};

} // namespace shadowtap::test
