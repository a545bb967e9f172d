// SPDX-License-Identifier: Apache-2.0
// One replay of one mirrored connection to one shadow target. Owns its socket; kept alive by its
// own pending asynchronous operations (shared_from_this), so the flow can be forgotten at once.
//
// HTTP mode: the shadow's responses are framed (http::MessageFramer) and paired, in order, with
// the exchanges sent on this connection. A response is timed from the moment the shadow could
// start on its request — the later of "the request's last byte left" and "the previous response
// ended" (HTTP/1.1 answers in order, so a slow answer must not make the requests pipelined behind
// it look slow) — to its first and its last byte.
//
// The clock is the kernel's, as for the primary (whose times are packet timestamps on the tap):
// the socket has SO_TIMESTAMPING with software TX and RX timestamps (CLOCK_REALTIME).
//  - "left": the TX timestamp of the send whose last byte is at or after the request's last byte.
//    OPT_ID, set right after connect and before any write, numbers the timestamps by byte offset
//    (the kernel stamps the last byte of each send when the driver takes it); they are read from
//    the error queue (OPT_TSONLY: no payload copied back) right after each send, and whenever the
//    socket wakes the loop.
//  - "arrived": the RX timestamp recvmsg() reports with the bytes (of the last segment it read),
//    for the read holding the response's first byte and the one holding its last.
// So neither side is charged for the agent's event loop. Where the kernel gives no timestamp,
// the time the loop saw the event stands in (CLOCK_REALTIME too).
//
// Pacing (HTTP mode): the capture hands packets over in blocks (up to the ring's retire timeout
// late) and a request's bytes are released by the server's ACK, so the requests of a whole block
// would reach the shadow in one burst — pipelined on each connection and concurrent across
// connections, a load the primary never saw. holdUntil() keeps the bytes queued after it from
// being written before a given CLOCK_REALTIME instant: the HTTP stage passes each mirrored
// request's ingress time plus a fixed delay (ReplayOptions::paceDelay), so the shadow gets the
// requests at the pace the primary got them, shifted by a constant. A replay running later than
// that is not held at all. The connect is paced the same way (start(connectAtNs): the server's
// SYN-ACK on the tap plus the delay), so the shadow sees the connection's own timeline.
// With body comparison on for an exchange, the response's decoded body is digested
// (compare::BodyCollector) and handed to the observer with the response.
#pragma once

#include "compare/body_diff.h"
#include "http/message_framer.h"
#include "common/byte_queue.h"
#include "replay/exchange.h"
#include "replay/replay_context.h"
#include "replay/target_state.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace shadowtap::replay {

class ShadowConnection : public std::enable_shared_from_this<ShadowConnection>, private http::FramerListener {
public:
  ShadowConnection(ReplayContext &context, TargetState &target, bool http);
  ~ShadowConnection();

  void start(uint64_t connectAtNs = 0); // connectAtNs: CLOCK_REALTIME, not before (HTTP pacing)
  // Replay queue (Replayer): made but not started, the target's concurrency limit being reached.
  // Until start() it holds no socket and takes writes, FIN and requests into its backlog like a
  // connect in progress; closed before it (the flow reset, the backlog limit, the queue wait),
  // it counts as shed_limit: never opened.
  void enqueue();
  bool waiting() const { return queued_; }
  void write(std::span<const uint8_t> bytes); // queued, bounded; sheds the connection past the limit
  void finish();                              // half-close once everything queued is written
  // The primary's server closed first: at finish, wait up to closeGrace for the shadow to do so.
  void letShadowCloseFirst() { closeOrderServerFirst_ = true; }
  void abort();                               // the mirrored connection died: RST, count as aborted
  bool finRequested() const { return finRequested_; }
  // HTTP mode: everything written so far ends this exchange's request; its response comes next.
  void endRequest(const ExchangePtr &exchange);
  // HTTP pacing: bytes written after this call are not sent before `realtimeNs`.
  void holdUntil(uint64_t realtimeNs);
  // Pooled replay (request_pool.h): the connection carries the requests of many client
  // connections, so closing it early answers its waiting requests "no response" (they were not
  // the ones that died) instead of dropping them as an aborted flow's.
  void makePooled() { pooled_ = true; }
  // Pooled: it may take another request (open or opening, the shadow has not closed or said it
  // will, no upgrade, still pairing responses).
  bool reusable() const { return !closed_ && !finRequested_ && !shadowClosed_ && !endsAfterAnswer_ && responses_; }
  size_t unanswered() const { return pending_.size(); } // requests sent (or queued) not answered yet
  bool flushPending() const { return flushPosted_; } // pooled: bytes wait for the turn's end to be sent
  // Of those, the ones not held back by pacing (holdUntil) past `nowNs`: sent, or going now.
  size_t unansweredDue(uint64_t nowNs) const;
  bool closed() const { return closed_; }

private:
  enum class Outcome { Completed, Unconfirmed, Aborted, ShedBacklog, ShedStalled, ShedNoSocket, ConnectFailed, WriteFailed };
  bool openSocket(const boost::asio::ip::tcp::endpoint &endpoint); // false: closed as shed or failed
  void connectNext(size_t endpoint);
  void onConnect(size_t endpoint, const boost::system::error_code &ec);
  void noDelayBeforeSend(size_t length);
  void closeSocket(bool reset); // reset: SO_LINGER 0, so a connection that exists ends with a RST
  void writeMore();
  // One non-blocking send of `buffers` (`length` bytes, for Nagle): what the kernel took (0 when
  // its buffer is full), counted and its TX timestamp read; nullopt: it failed, the replay closed.
  std::optional<size_t> sendNow(std::span<const boost::asio::const_buffer> buffers, size_t length);
  void readResponses();
  // One turn of reading: the error queue's TX timestamps, then the data and its RX timestamp.
  size_t receive(boost::system::error_code &ec);
  void drainTimestamps(bool turn = true);
  void noteTxTimestamp(uint32_t key, uint64_t ns);
  void enableTimestamps();
  void noteWritten(size_t bytes);
  void answerPending(unsigned code, uint64_t firstByteNs, uint64_t lastByteNs, compare::BodyDigestPtr body);
  // http::FramerListener: the shadow's responses
  void onMessageBegin() override;
  void onHead(const http::MessageHead &head, std::span<const uint8_t> raw) override;
  void onBody(std::span<const uint8_t>) override {}
  void onBodyContent(std::span<const uint8_t> content) override;
  void onMessageEnd() override;
  void onPassthrough(std::span<const uint8_t>) override {}

  void maybeHalfClose();
  void leaveQueue(); // no longer counted waiting (opened, or closed unopened)
  void leaveConnecting(); // no longer counted connecting (connected, or closed)
  // The shadow closed and our FIN is out: Completed once the shadow's kernel has acknowledged every
  // byte and our FIN (it closed with nothing unread, so its application read them all), WriteFailed
  // if it resets (bytes reached a socket it had closed), Unconfirmed if neither comes in time.
  void confirmTaken(std::chrono::milliseconds wait);
  bool everythingAcknowledged();
  // Re-checks, at growing intervals, until the shadow has acknowledged every byte written (or
  // a second has passed), then half-closes.
  void awaitAcknowledgement();
  void close(Outcome outcome, bool reset);

  ReplayContext &context_;
  TargetState &target_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  ByteQueue backlog_; // taken, not yet taken by the kernel; its front is in the write in flight
  uint64_t queuedTotal_ = 0;  // bytes ever accepted for writing: request ends are offsets in this
  uint64_t writtenTotal_ = 0; // bytes the kernel has taken
  struct Hold {
    uint64_t offset; // bytes from this stream offset on wait until...
    uint64_t ns;     // ...this CLOCK_REALTIME instant
  };
  // Lists, not deques: libstdc++'s deque allocates ~600 bytes when made, empty, and every replay
  // has these (16,384 waiting in the replay queue: bench/churn.sh's peak RSS).
  std::list<Hold> holds_; // in offset order (pacing)
  // Pacing's grain: bytes due within this of now leave now, with those already due. The requests a
  // pooled connection gathers in one turn (RequestPool::lease) arrived microseconds apart: held one
  // by one they still cost a send, a timer and the shadow's read each. bench/churn.sh's pool row,
  // alternating runs: 0.137-0.150 CPU-s per 10k connections with it, 0.164-0.198 without.
  static constexpr uint64_t kPaceSlackNs = 1'000'000;
  bool holdArmed_ = false; // timer_ waits for the first hold to pass
  struct Pending {
    ExchangePtr exchange;
    uint64_t endOffset = 0; // the request's last byte is byte endOffset-1 of the stream
    uint64_t sentNs = 0;    // that byte's TX timestamp (0: none yet)
    uint64_t wroteNs = 0;   // when the loop saw the kernel take it (stands in for sentNs)
  };
  std::list<Pending> pending_; // sent (or being sent), not answered yet
  std::unique_ptr<http::MessageFramer> responses_; // HTTP mode only
  bool interim_ = false;        // the response being read is a 1xx
  unsigned responseCode_ = 0;
  uint64_t responseBeganNs_ = 0;
  uint64_t lastResponseEndNs_ = 0;
  uint64_t rxNs_ = 0;                            // arrival of the bytes being framed
  bool timestamps_ = false;                      // SO_TIMESTAMPING is on
  unsigned stampsDue_ = 0;  // sends whose TX timestamp has not been read yet (drainTimestamps)
  unsigned drainTurns_ = 0; // drainTimestamps calls, for its periodic full drain
  struct {
    uint64_t end = 0; // the stream offset just past the last byte of the last send stamped
    uint64_t ns = 0;  // ...and when it left
  } lastStamp_;
  std::unique_ptr<compare::BodyCollector> body_; // the response's body, when compared
  bool started_ = false;  // start() was called: counted opened and active
  bool connecting_ = false; // counted in the target's stats.connecting (first attempt until connected or closed)
  bool queued_ = false;   // counted in the target's `queued` (enqueue(), until start or close)
  bool connected_ = false;
  bool noDelay_ = false; // TCP_NODELAY is on (noDelayBeforeSend)
  std::chrono::steady_clock::time_point connectStartedAt_{}; // the first address's attempt (back-off rounds)
  bool writingActive_ = false;
  bool flushPosted_ = false; // pooled: a writeMore is posted for the end of this turn
  bool finRequested_ = false;
  bool finSent_ = false;
  bool closeOrderServerFirst_ = false; // the primary's server closed first (letShadowCloseFirst)
  bool graceArmed_ = false; // timer_ waits (closeGrace) for the shadow to close first
  bool graceOver_ = false;  // ...and it did not: our FIN goes now
  bool ackWaitArmed_ = false; // timer_ waits for the shadow to acknowledge every byte (our FIN waits too)
  std::chrono::milliseconds ackWaited_{0}; // ...for this long so far (given up after a second)
  bool pooled_ = false;          // makePooled()
  bool endsAfterAnswer_ = false; // the shadow answered Connection: close or switched protocols
  bool shadowClosed_ = false; // the shadow's FIN came (before ours: it closes first, e.g. Connection: close)
  bool closed_ = false;
};

} // namespace shadowtap::replay
