// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstddef>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <vector>

namespace shadowtap::replay {

struct ReplayOptions {
  uint32_t mark = 0;                         // SO_MARK: the BPF programs never mirror these packets
  // Bytes waiting for a slow shadow, then that replay is shed. Large enough for a burst the size
  // of a big upload (the client can outrun the shadow's first reads); the total bounds memory.
  size_t maxBacklogPerConnection = 64u << 20;
  size_t maxBacklogTotal = 256u << 20;
  std::chrono::milliseconds connectTimeout{3000};
  std::chrono::milliseconds drainTimeout{10000}; // after our FIN: wait this long for the shadow's
  std::chrono::milliseconds stallTimeout{10000}; // a write that makes no progress this long is shed
  // When the primary's server closed first (its FIN captured before the client's): after the
  // client's FIN, everything written, wait this long for the shadow to close first before sending
  // ours — the close order of the original. The side that closes first keeps TIME_WAIT for 60 s;
  // a replay that FINs first leaves that entry on the agent's side, toward the one shadow address,
  // and every later connect() to it walks past them in its search for a free port. Under churn
  // (wrk, Connection: close: nginx closes first, the client right after) the replay sent its FIN
  // with the client's, before the slower shadow had answered; 14,000 such entries made that search
  // 68 % of the agent's CPU (bench/churn.sh, perf). A shadow that closes after
  // answering (Connection: close, any server that ends the exchange) takes the TIME_WAIT itself, as
  // the primary did; one that waits for EOF gets our FIN this much later, the bytes unchanged.
  // A client that closed first is replayed closing first, at once.
  std::chrono::milliseconds closeGrace{200};
  std::chrono::milliseconds maxBackoff{10000};
  // HTTP mode: a mirrored request reaches the shadows no earlier than its ingress time on the tap
  // plus this (shadow_connection.h, "Pacing"). Covers the capture's block retire timeout (20 ms)
  // and the time the server takes to ACK the request, with room to spare; 0: no pacing.
  std::chrono::milliseconds paceDelay{50};
  // HTTP mode: the copies of one connection (every target, every --copies) are paced this far
  // apart, in target order (the first at paceDelay; at most kMaxPaceSlots slots apart). Each shadow
  // still gets the primary's timeline; shadows that share a host (a lab, a staging box) no longer
  // all take the same request at the same instant, a contention the primary never had.
  std::chrono::milliseconds paceSpread{10};
  static constexpr uint64_t kMaxPaceSlots = 10;
  // Replay connections open at once per target; past it new replays are shed whole (counted
  // shed_limit). 0: no limit but maxConnectionsTotal. The agent's default is half the local port
  // range per source address (connect()'s first-choice ports; see connectPortsPerDestination).
  size_t maxConnectionsPerTarget = 0;
  // Replay connections open at once across every target (this worker's share of the open file
  // limit minus kReservedFiles): past it new replays are shed whole (shed_limit) instead of
  // taking the descriptors the agent itself needs (the endpoint's /healthz, capture, recording).
  // 0: none.
  size_t maxConnectionsTotal = 0;
  // Replays of one target whose connect() is still in progress: past it a new replay waits in the
  // queue (as past the window). A shadow whose accept queue is full drops SYNs, and each connect
  // then waits for its SYN's retransmission (1 s, 3 s): without a bound, every replay of that
  // second piled up connecting, and once accepted past the shadow's own connection limit most
  // were closed unread (bench/churn.sh: ~9,700 write_failed, 14,000 replays open at once to an
  // nginx of worker_connections 4096). A shadow that keeps up completes connects in a round trip:
  // 1,024 in flight is 1 million connects/s at 1 ms, 20,000/s at 50 ms. Split across workers.
  size_t maxConnectingPerTarget = 1024;
  // Past those limits a new replay waits in its target's queue, holding its bytes in its backlog
  // (the backlog limits apply, and of the total only half: the rest is the open replays') but no socket, and starts when an open replay of that target
  // closes, oldest first: a burst of connections beyond what the shadow takes at once reaches it
  // whole, later, instead of being shed. Shed (shed_limit) only past this many waiting per target,
  // or after waiting maxQueueWait. 0: no queue, shed at once.
  size_t maxQueuedPerTarget = 65536;
  std::chrono::milliseconds maxQueueWait{10000};
  // What a waiting replay costs besides its bytes (its ShadowConnection, its entry in the queue,
  // the flow's bookkeeping: 1-1.6 KiB measured, bench/churn.sh's peak RSS), charged to the queue's
  // half of the backlog budget: a queue of small requests is bounded by memory, not only by count.
  size_t queuedReplayCost = 1536;
  // Pooled HTTP replay (request_pool.h): keep-alive connections per target at most, past which
  // requests are pipelined on those open. Split across workers. With 8 pipelined each, 64 carry
  // 512 requests in flight: at 1 ms per answer, 512,000 requests/s.
  size_t poolConnectionsPerTarget = 64;
  static constexpr size_t kReservedFiles = 1024;
  // Source addresses replays leave from, taken in turn (IP_BIND_ADDRESS_NO_PORT: the port is
  // chosen at connect, per destination). Empty: the kernel's choice. More than one multiplies the
  // ports available towards one shadow.
  std::vector<boost::asio::ip::address> sources;
};

} // namespace shadowtap::replay
