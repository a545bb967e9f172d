// SPDX-License-Identifier: Apache-2.0
// The flow table: TCP packets in (both directions, any order), whole connections out.
//
// Replay what the server accepted. A connection is followed from its SYN (the SYN's sender is
// the client) but reaches the sink only once its handshake is seen — the server's SYN-ACK
// acknowledging that SYN — and its client bytes are released only as the server's ACKs cover
// them. So a spoofed client half (SYN, data, FIN, never answered), segments the server dropped
// (firewall, bad checksum) and bytes it never acknowledged are never replayed; TCP Fast Open
// data rides in the SYN and is released by the SYN-ACK that accepts it. A RST counts only at
// the receiver's next sequence number (what the server itself would honour). A client reset
// aborts the replay; a server reset ends it after everything the server had accepted.
//
// Replay needs only the client's bytes, so only a client-direction hole breaks a flow; a hole,
// overflow or cut copy in the response direction drops just that direction's stream, counted.
// Connections already open when the tap started (first packet is not a SYN) are skipped and
// counted once: their beginning is gone, and a replay that starts mid-stream is not the
// connection the user made.
//
// Every bound is explicit — flows, memory per direction and in total, handshake, idle and gap
// timeouts — and the timeouts cost O(expired), never a walk over every flow. When the table is
// full the least recently seen flow of the least valuable kind goes first: ended and skipped
// flows, then half-open ones, and only then established connections; but the last
// kHandshakesInProgress half-open flows outlive established ones (makeRoom says why).
#pragma once

#include "capture/packet_parser.h"
#include "flow/flow_sink.h"
#include "flow/flow_stats.h"
#include "flow/stream_reassembler.h"

#include <array>
#include <functional>
#include <cstring>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

namespace shadowtap::flow {

struct FlowLimits {
  size_t maxFlows = 65536;
  size_t maxBufferedPerDirection = 4u << 20; // memory: bytes waiting for a hole or an ACK
  // ...or more, up to this, where the receiver advertised a larger window: behind a segment lost
  // before the tap its sender may send a whole window (a line-rate stream's window is often
  // more than 4 MiB: up to half of tcp_rmem's maximum, 32 MiB by default here).
  size_t maxBufferedFollowingWindow = 64u << 20;
  size_t maxBufferedTotal = 256u << 20;
  uint64_t gapTimeoutNs = 2'000'000'000ull;       // a hole must fill within this
  uint64_t idleTimeoutNs = 300'000'000'000ull;
  uint64_t handshakeTimeoutNs = 10'000'000'000ull; // a SYN with no SYN-ACK is forgotten after this
  uint64_t lingerNs = 10'000'000'000ull; // an ended flow absorbs its late packets this long
  // false: the server's bytes are not reassembled (nothing needs them: no HTTP service, and the
  // capture copies responses up to their TCP header only). Its sequence numbers, ACKs, FIN and RST
  // still count; a server RST is then taken without a sequence check, as for a lost response stream.
  bool serverPayload = true;
};

class FlowTable {
public:
  // `chunks`: where the reassemblers' in-order buffers take whole chunks (the worker's pool,
  // shared with its replayer); without one the table has its own.
  FlowTable(const FlowLimits &limits, FlowSink &sink, std::shared_ptr<ChunkPool> chunks = nullptr);
  ~FlowTable();

  void onPacket(const TcpPacket &packet, uint64_t nowNs);
  void tick(uint64_t nowNs);     // handshake, gap and idle timeouts
  void closeAll(FlowEnd reason); // every open flow ends with `reason`
  // Overload (runtime/inflight_shedder.h), once per look: ends, heaviest first, the fewest
  // established flows whose payload bytes since the last look make up at least `share` of what
  // they all brought (FlowEnd::Shed; none when `share` is 0, at least one when it is above 0 and
  // any brought bytes) and returns their keys, for the kernel to stop mirroring them. Then the
  // next look begins: O(1) unless something is shed.
  std::vector<st_flow_key> shedShareOfRecentBytes(double share);
  // Overload: a packet still waiting in the capture buffer weighs in this look like one read
  // (a worker that falls far behind has read little of what each connection brought).
  void weighUnread(const TcpPacket &packet);
  // The kernel gave connections up (the capture ring guard, shared.h: st_ring_guard): ends every
  // open flow for which `shedInKernel` says so, FlowEnd::Shed, and returns how many. O(open flows)
  // calls, only when the guard shed something.
  size_t endShedInKernel(const std::function<bool(const st_flow_key &)> &shedInKernel);
  // New bounds apply from the next packet; streams keep the per-direction bound they began with.
  void setLimits(const FlowLimits &limits) { limits_ = limits; }

  // A snapshot: the counters, and the gauges the state lists already hold (half_open).
  FlowStats stats() const {
    FlowStats out = stats_;
    out.halfOpen = lists_[HalfOpen].size();
    return out;
  }
  size_t activeFlows() const { return stats_.active; }
  size_t bufferedBytes() const { return stats_.bufferedBytes; }

private:
  // Each state has its own LRU list (front: most recently seen), which is also its expiry order.
  // makeRoom: up to this many half-open flows are handshakes in progress, kept over established ones.
  static constexpr size_t kHandshakesInProgress = 64;
  enum State : uint8_t { Ended, Skipped, HalfOpen, Established, kStates };
  using KeyList = std::list<FlowKey>;
  struct Flow {
    FlowId id = 0;
    FlowInfo info;
    State state = HalfOpen;
    std::optional<StreamReassembler> client;
    std::optional<StreamReassembler> server;
    uint32_t clientIsn = 0;
    // Window scale shifts: the client SYN's offer (-1: none) until the SYN-ACK, then the shifts in
    // force (0 both unless both SYNs offered one).
    int8_t clientScale = -1, serverScale = -1;
    bool clientFinSent = false;
    bool serverFin = false; // a FIN from the server was seen, usable stream or not
    uint64_t lastSeenNs = 0;
    uint64_t recentBytes = 0; // payload bytes in look `recentLook` (overload)
    uint64_t recentLook = 0;
    // Server bytes that acknowledge client bytes the capture has not delivered yet (the two
    // directions' copies can cross on the way to the capture): held until those arrive, so the
    // sink always sees a request before the response that answers it.
    std::vector<uint8_t> heldServer;
    KeyList::iterator lru;
    // Holes waiting for the gap timeout, oldest first (client and server direction).
    std::optional<KeyList::iterator> clientHole, serverHole;
    uint64_t clientHoleSinceNs = 0, serverHoleSinceNs = 0;
  };
  using Map = std::unordered_map<FlowKey, Flow, FlowKeyHash>;

  void startFlow(const FlowKey &key, const TcpPacket &syn, uint64_t nowNs);
  void skipFlow(const FlowKey &key, uint64_t nowNs);
  void makeRoom();
  void setState(Flow &flow, State state);
  void touch(Flow &flow, uint64_t nowNs);
  void weigh(Flow &flow, size_t bytes); // counts toward the overload look under way
  bool acceptsReset(const Flow &flow, bool fromClient, const TcpPacket &packet) const;
  void establish(Flow &flow, const TcpPacket &synAck);
  void followWindow(Flow &flow, bool fromClient, const TcpPacket &packet);
  void feedClient(Flow &flow, const TcpPacket &packet);
  void feedServer(Flow &flow, const TcpPacket &packet);
  void ackClient(Flow &flow, uint32_t ack);
  void deliverClient(Flow &flow); // delivered_ -> sink, then held server bytes, FIN when reached
  void releaseHeldServer(Flow &flow);
  void trackHoles(Flow &flow, uint64_t nowNs);
  void setHole(Flow &flow, bool client, bool hole, uint64_t nowNs);
  void dropServerStream(Flow &flow);
  void charge(const std::optional<StreamReassembler> &stream, size_t before);
  // Ends a flow: tells the sink (if it knew the flow), counts, then keeps it as an Ended
  // tombstone to absorb its late packets (or erases it when evicting or shutting down).
  void end(Map::iterator it, FlowEnd reason, bool eraseNow = false);
  void erase(Map::iterator it);

  FlowLimits limits_;
  FlowSink &sink_;
  Map flows_;
  std::array<KeyList, kStates> lists_;
  KeyList clientHoles_, serverHoles_;
  FlowStats stats_;
  uint64_t look_ = 1; // the overload look under way: a flow's recentBytes count only in it
  FlowId nextId_ = 1;
  std::shared_ptr<ChunkPool> chunks_;
  // What the last reassembler call made deliverable: in place in that reassembler (or the
  // packet), read before the next call on it. Kept: its capacity is reused.
  StreamReassembler::Pieces delivered_;
  size_t deliveredBytes() const;
};

} // namespace shadowtap::flow
