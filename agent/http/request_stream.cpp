// SPDX-License-Identifier: Apache-2.0
// RequestStream (request_stream.h). Notes:
//  - The framer announces "not HTTP any more" (onNotHttp) before the first such byte, so every
//    passthrough byte is judged by the state it sets: raw (forwarded), held (awaiting the switch),
//    or stopped (dropped). Passthrough before any announcement is CR/LF between messages.
//  - A stop in the middle of a mirrored request leaves the shadows a partial request; the stage
//    then ends the replay with a FIN after it (the shadow discards it, as it would a client that
//    closed mid-request). Nothing after the stop point is ever forwarded.
//  - Requests are counted (and decided) in the order their heads complete, so awaitingSwitchOf()
//    matches the primary's N-th final response (HTTP/1.1 answers in order).
#include "http/request_stream.h"

#include "common/enum_names.h"

#include <utility>

namespace shadowtap::http {

namespace {
std::span<const uint8_t> bytesOf(const std::string &text) {
  return {reinterpret_cast<const uint8_t *>(text.data()), text.size()};
}
} // namespace

const char *stopReasonName(StopReason reason) {
  static constexpr EnumName<StopReason> kNames[] = {
      {StopReason::ParseError, "parse_error"},     {StopReason::HeadBudget, "head_budget"},
      {StopReason::Truncated, "truncated"},        {StopReason::UpgradeNotMirrored, "upgrade_not_mirrored"},
      {StopReason::UpgradeRefused, "upgrade_refused"}, {StopReason::TunnelHeld, "tunnel_held"}};
  return nameOf(kNames, reason);
}

RequestStream::RequestStream(std::shared_ptr<const HttpRules> rules, RequestStreamSink &sink,
                             std::function<uint32_t()> draw, HeadBudget *budget)
    : rules_(std::move(rules)), sink_(sink), draw_(std::move(draw)), failClosed_(rules_->privacy()),
      framer_(MessageKind::Request, *this, budget) {}

RequestStream::~RequestStream() = default;

void RequestStream::feed(std::span<const uint8_t> bytes) {
  if (!stopped_)
    framer_.feed(bytes);
}

void RequestStream::finish() {
  if (!stopped_)
    framer_.finish();
}

void RequestStream::forward(std::span<const uint8_t> bytes) {
  if (!stopped_ && !bytes.empty())
    sink_.forward(bytes);
}

void RequestStream::stop(StopReason reason) {
  if (stopped_)
    return;
  stopped_ = true;
  mirroring_ = false;
  held_.clear();
  held_.shrink_to_fit();
  sink_.stopped(reason);
}

void RequestStream::onHead(const MessageHead &head, std::span<const uint8_t> raw) {
  requests_++;
  Verdict verdict = decide(*rules_, head, draw_ ? draw_() % 1'000'000 : 0);
  mirroring_ = verdict == Verdict::Mirror;
  upgradeMirrored_ = head.upgrade && mirroring_;
  if (head.upgrade && !mirroring_ && failClosed_) {
    // What follows is another protocol, of a request the rules kept from the shadows.
    sink_.requestBegin(head, verdict);
    stop(StopReason::UpgradeNotMirrored);
    return;
  }
  sink_.requestBegin(head, verdict);
  if (!mirroring_)
    return;
  if (rewrites(*rules_, head))
    forward(bytesOf(rewriteHead(*rules_, head)));
  else
    forward(raw);
}

void RequestStream::onBody(std::span<const uint8_t> raw) {
  if (mirroring_)
    forward(raw);
}

// Header rules reach into the trailers: a removed header must not come back there.
void RequestStream::onTrailers(std::span<const uint8_t> raw) {
  if (!mirroring_)
    return;
  if (rules_->removeHeaders.empty() && rules_->setHeaders.empty()) {
    forward(raw);
    return;
  }
  forward(bytesOf(filterTrailers(*rules_, {reinterpret_cast<const char *>(raw.data()), raw.size()})));
}

void RequestStream::onMessageEnd() {
  if (stopped_)
    return;
  mirroring_ = false;
  sink_.requestEnd(framer_.position());
}

void RequestStream::onNotHttp(NotHttp reason) {
  if (stopped_)
    return;
  if (!failClosed_) {
    raw_ = true; // nothing private: the rest goes as it came
    return;
  }
  switch (reason) {
  case NotHttp::Upgrade:
    if (upgradeMirrored_) {
      awaiting_ = true;
      upgradeRequest_ = requests_;
      return;
    }
    stop(StopReason::UpgradeNotMirrored); // (stopped at its head already)
    return;
  case NotHttp::ParseError:
    stop(StopReason::ParseError);
    return;
  case NotHttp::HeadBudget:
    stop(StopReason::HeadBudget);
    return;
  case NotHttp::Truncated:
    stop(StopReason::Truncated);
    return;
  }
}

void RequestStream::onPassthrough(std::span<const uint8_t> raw) {
  if (stopped_)
    return;
  if (awaiting_) {
    if (held_.size() + raw.size() > kMaxHeldTunnelBytes) {
      stop(StopReason::TunnelHeld);
      return;
    }
    held_.insert(held_.end(), raw.begin(), raw.end());
    return;
  }
  // Raw after a switch (or with no rules), or CR/LF between messages (the framer still frames).
  if (raw_ || !framer_.passthrough())
    forward(raw);
}

void RequestStream::serverSwitched(bool switched) {
  if (!awaiting_ || stopped_)
    return;
  awaiting_ = false;
  if (!switched) {
    stop(StopReason::UpgradeRefused);
    return;
  }
  raw_ = true;
  auto held = std::exchange(held_, {});
  forward(held);
}

} // namespace shadowtap::http
