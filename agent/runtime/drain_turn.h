// SPDX-License-Identifier: Apache-2.0
// How an event loop takes its input (a capture ring, a capture file) in turns: a turn hands at
// most `batchesPerTurn` batches to the pipeline, so that a flood of input never keeps the loop from
// replaying or publishing stats; what is left is read on the next turn, posted behind whatever
// else is ready. The loop's ticker runs every `tick` (timeouts, stats, and a turn in case a
// wake-up was missed).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdint>

namespace shadowtap {

struct DrainTurn {
  uint32_t batchesPerTurn;
  std::chrono::milliseconds tick;
};

// Live capture (runtime/worker): two ring blocks per turn (512 KiB, a few thousand small frames).
inline constexpr DrainTurn kLiveDrainTurn{2, std::chrono::milliseconds(100)};
// Offline replay (offline/offline_replay): its tick also retries reading that waits for the
// shadows' backlog to drain.
inline constexpr DrainTurn kOfflineDrainTurn{4, std::chrono::milliseconds(20)};

// After a turn that left input behind (`more`): the next turn, `drain`, posted to `io` unless it
// is posted already (`posted`, true until it runs).
template <class Drain> void postNextTurn(boost::asio::io_context &io, bool &posted, bool more, Drain drain) {
  if (!more || posted)
    return;
  posted = true;
  boost::asio::post(io, [&posted, drain] {
    posted = false;
    drain();
  });
}

} // namespace shadowtap
