// SPDX-License-Identifier: Apache-2.0
// One replay of one mirrored connection to one shadow target. Owns its socket; kept alive by its
// own pending asynchronous operations (shared_from_this), so the flow can be forgotten at once.
//
// HTTP mode: the shadow's responses are framed (http::MessageFramer) and paired, in order, with
// the exchanges sent on this connection. A response is timed from the moment the shadow could
// start on its request — the later of "the request's last byte was handed to the kernel" and
// "the previous response ended" (HTTP/1.1 answers in order, so a slow answer must not make the
// requests pipelined behind it look slow) — to its first and its last byte.
#pragma once

#include "http/message_framer.h"
#include "replay/exchange.h"
#include "replay/replay_context.h"
#include "replay/target_state.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <span>
#include <vector>

namespace shadowtap::replay {

class ShadowConnection : public std::enable_shared_from_this<ShadowConnection>, private http::FramerListener {
public:
  ShadowConnection(ReplayContext &context, TargetState &target, bool http);
  ~ShadowConnection();

  void start();
  void write(std::span<const uint8_t> bytes); // queued, bounded; sheds the connection past the limit
  void finish();                              // half-close once everything queued is written
  void abort();                               // the mirrored connection died: RST, count as aborted
  bool finRequested() const { return finRequested_; }
  // HTTP mode: everything written so far ends this exchange's request; its response comes next.
  void endRequest(const ExchangePtr &exchange);

private:
  enum class Outcome { Completed, Unconfirmed, Aborted, ShedBacklog, ShedStalled, ShedNoSocket, ConnectFailed, WriteFailed };
  bool openSocket(const boost::asio::ip::tcp::endpoint &endpoint); // false: closed as shed or failed
  void connectNext(size_t endpoint);
  void writeMore();
  void readResponses();
  void noteWritten(size_t bytes);
  void answerPending(unsigned code, uint64_t firstByteNs, uint64_t lastByteNs);
  // http::FramerListener: the shadow's responses
  void onMessageBegin() override;
  void onHead(const http::MessageHead &head, std::span<const uint8_t> raw) override;
  void onBody(std::span<const uint8_t>) override {}
  void onMessageEnd() override;
  void onPassthrough(std::span<const uint8_t>) override {}

  void maybeHalfClose();
  void close(Outcome outcome, bool reset);

  ReplayContext &context_;
  TargetState &target_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  std::vector<uint8_t> queued_;  // waiting to be written
  std::vector<uint8_t> writing_; // handed to the kernel by the write in flight
  size_t writtenOfWriting_ = 0;  // how much of writing_ the kernel has taken
  uint64_t queuedTotal_ = 0;  // bytes ever accepted for writing: request ends are offsets in this
  uint64_t writtenTotal_ = 0; // bytes the kernel has taken
  struct Pending {
    ExchangePtr exchange;
    uint64_t endOffset = 0;   // the request's last byte is byte endOffset-1 of the stream
    uint64_t writtenAtNs = 0; // when that byte was handed to the kernel (0: not yet)
  };
  std::deque<Pending> pending_; // sent (or being sent), not answered yet
  std::unique_ptr<http::MessageFramer> responses_; // HTTP mode only
  bool interim_ = false;        // the response being read is a 1xx
  unsigned responseCode_ = 0;
  uint64_t responseBeganNs_ = 0;
  uint64_t lastResponseEndNs_ = 0;
  bool connected_ = false;
  bool writingActive_ = false;
  bool finRequested_ = false;
  bool finSent_ = false;
  bool shadowClosed_ = false; // the shadow's FIN came (before ours: it closes first, e.g. Connection: close)
  bool closed_ = false;
};

} // namespace shadowtap::replay
