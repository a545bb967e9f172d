// SPDX-License-Identifier: Apache-2.0
// What one replay connection may use of the replayer that made it, and nothing more: the loop,
// the options, the read buffer and backlog budget shared by every connection, and where the
// shadow's HTTP answers go.
#pragma once

#include "common/chunk_pool.h"
#include "replay/exchange.h"
#include "replay/replay_options.h"
#include "replay/replay_stats.h"

#include <array>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>

namespace shadowtap::replay {

struct ReplayContext {
  boost::asio::io_context &io;
  const ReplayOptions &options;
  // Every connection reads into this one buffer (they run on one thread and consume what they
  // read before returning): a buffer per connection would cost 64 KiB x every open replay.
  std::array<uint8_t, 65536> &readBuffer;
  ReplayStats &stats; // backlogBytes: the budget all connections share
  ExchangeObserver *observer = nullptr;
  size_t nextSource = 0; // options.sources are taken in turn
  // Whole chunks of every connection's backlog (ByteQueue): warm memory shared by the worker.
  std::shared_ptr<ChunkPool> chunkPool = std::make_shared<ChunkPool>();
  // Called when an opened replay closes (its place in the target's limit is free): the replayer
  // starts the next queued one. Empty: nothing is queued (no replayer behind the connections).
  std::function<void()> slotFreed;
  // Replays waiting in a queue, every target: each is charged options.queuedReplayCost of the
  // backlog budget until it opens or is shed.
  size_t queuedReplays = 0;
  size_t backlogCharged() const { return stats.backlogBytes + queuedReplays * options.queuedReplayCost; }
};

} // namespace shadowtap::replay
