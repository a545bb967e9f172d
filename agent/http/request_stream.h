// SPDX-License-Identifier: Apache-2.0
// The client direction of one HTTP connection, as the shadows get it: frames the requests
// (MessageFramer), decides each one (request_rules.h), forwards what is mirrored — the rewritten
// or raw head and the raw body — and FAILS CLOSED when it cannot frame any more.
//
// Fail-closed contract. A connection whose rules can keep something from the shadows (any
// exclusion, `match` entry, or header set/remove: HttpRules::privacy()) never forwards a byte it
// did not frame and decide:
//  - a parse error, a head the shared budget has no room for, or a stream ending inside a head
//    STOPS the connection's mirroring: nothing more is forwarded (stopped(), counted as
//    privacy_stopped by the stage), whatever an earlier request's verdict was;
//  - an Upgrade/CONNECT request the rules did not mirror (excluded, not matched, sampled out)
//    stops it at that request: its head is not forwarded, nor anything after it;
//  - an Upgrade/CONNECT request the rules mirrored is forwarded, and the bytes after it are HELD
//    (up to kMaxHeldTunnelBytes) until the primary's answer is known (serverSwitched()): a switch
//    (101, 2xx to CONNECT) releases them and the tunnel that follows is forwarded raw; a refusal
//    (the server answered in HTTP: the client may go on with requests the framer no longer
//    reads) or too many held bytes stop the connection.
// Without such rules (only the Host suffix, or a per-request percentage) nothing is private, and
// bytes that cannot be framed keep today's raw fall-back: a non-HTTP protocol on an HTTP port,
// a tunnel after an Upgrade or CONNECT, is forwarded byte for byte.
// CR/LF between messages is forwarded either way (it is no request, and keeps streams exact).
//
// Pure (no I/O): the pipeline's HttpStage and the fuzz target (tests/fuzz/http_stage_fuzz.cpp)
// drive it.
#pragma once

#include "http/message_framer.h"
#include "http/request_rules.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace shadowtap::http {

// Why a connection's mirroring stopped (fail-closed).
enum class StopReason {
  ParseError,         // the requests stopped parsing
  HeadBudget,         // the shared head budget had no room
  Truncated,          // the stream ended inside a head
  UpgradeNotMirrored, // an Upgrade/CONNECT request the rules kept from the shadows
  UpgradeRefused,     // the server answered a mirrored Upgrade/CONNECT without switching
  TunnelHeld,         // too many bytes followed a mirrored Upgrade/CONNECT before the answer
};
const char *stopReasonName(StopReason reason);

class RequestStreamSink {
public:
  virtual ~RequestStreamSink() = default;
  // A request head was framed and decided. Called for every request, before its bytes (if
  // mirrored) are forwarded.
  virtual void requestBegin(const MessageHead &head, Verdict verdict) = 0;
  // Bytes for the shadows, in order.
  virtual void forward(std::span<const uint8_t> bytes) = 0;
  // The request that began last ended; its last byte is byte endOffset-1 of the client stream.
  virtual void requestEnd(uint64_t endOffset) = 0;
  // Mirroring stopped for good (fail-closed): nothing more will be forwarded.
  virtual void stopped(StopReason reason) = 0;
};

class RequestStream : private FramerListener {
public:
  static constexpr size_t kMaxHeldTunnelBytes = 64 * 1024;

  // `draw` gives uniform numbers in [0, 1'000'000) for the per-request percentage. `budget`
  // (optional) bounds the head bytes held across connections.
  RequestStream(std::shared_ptr<const HttpRules> rules, RequestStreamSink &sink, std::function<uint32_t()> draw,
                HeadBudget *budget = nullptr);
  ~RequestStream() override;

  void feed(std::span<const uint8_t> bytes);
  void finish(); // the client's FIN
  // The primary answered the pending Upgrade/CONNECT request: `switched` (101, 2xx to CONNECT)
  // or not. Ignored when no mirrored upgrade is pending.
  void serverSwitched(bool switched);

  // The 1-based index of the mirrored Upgrade/CONNECT request whose answer is awaited (0: none).
  uint64_t awaitingSwitchOf() const { return awaiting_ ? upgradeRequest_ : 0; }
  uint64_t requests() const { return requests_; }
  bool stopped() const { return stopped_; }
  bool failClosed() const { return failClosed_; }
  const FramerStats &framerStats() const { return framer_.stats(); }
  const MessageFramer &framer() const { return framer_; }

private:
  void onHead(const MessageHead &head, std::span<const uint8_t> raw) override;
  void onBody(std::span<const uint8_t> raw) override;
  void onTrailers(std::span<const uint8_t> raw) override;
  void onMessageEnd() override;
  void onPassthrough(std::span<const uint8_t> raw) override;
  void onNotHttp(NotHttp reason) override;
  void stop(StopReason reason);
  void forward(std::span<const uint8_t> bytes);

  std::shared_ptr<const HttpRules> rules_;
  RequestStreamSink &sink_;
  std::function<uint32_t()> draw_;
  bool failClosed_;
  MessageFramer framer_;
  uint64_t requests_ = 0;
  bool mirroring_ = false;       // the current request goes to the shadows
  bool upgradeMirrored_ = false; // the current request is a mirrored Upgrade/CONNECT
  bool raw_ = false;             // not HTTP any more, and forwarded raw (no rules, or a switched tunnel)
  bool awaiting_ = false;        // a mirrored Upgrade/CONNECT ended: bytes after it are held
  uint64_t upgradeRequest_ = 0;
  std::vector<uint8_t> held_;
  bool stopped_ = false;
};

} // namespace shadowtap::http
