// SPDX-License-Identifier: Apache-2.0
// Frames one direction of a reassembled TCP stream into HTTP/1.x messages, with the packaged
// http-parser (libhttp-parser-dev) doing the parsing. It never copies or alters a body: every
// input byte comes out exactly once, in order, through exactly one of onHead (the raw head),
// onBody (raw body bytes, chunk framing included), onTrailers (a chunked message's trailer
// section, whole) or onPassthrough (bytes that are not — or are no longer — HTTP). Concatenating
// those spans gives back the input; the tests and the fuzz target check exactly that.
//
// Handled: Content-Length, chunked (+ trailers), pipelining, keep-alive and close, close-delimited
// response bodies (ended by finish()), 1xx interim responses (100-continue), HEAD/204/304 without
// bodies, Upgrade/CONNECT/101 (the rest of the stream is passthrough). A parse error makes the
// rest of the stream passthrough (counted): a stream that is not HTTP is still replayed as TCP.
// Memory is bounded by the head size limit (http-parser's 80 KiB) — bodies are never buffered.
#pragma once

#include "common/memory_budget.h"
#include "http/http_message.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>

namespace shadowtap::http {

enum class MessageKind { Request, Response };

// Why the rest of a stream is not HTTP (passthrough from there on).
enum class NotHttp {
  ParseError, // the bytes do not parse (or a head/trailer section is longer than 80 KiB)
  Upgrade,    // Upgrade, CONNECT, 101: another protocol follows the message that just ended
  HeadBudget, // the shared head budget had no room for this head
  Truncated,  // the stream ended inside a head: its bytes come out unframed
};
const char *notHttpName(NotHttp reason);

// Head bytes buffered by every framer that shares it, bounded: a framer that would go past the
// limit stops framing (NotHttp::HeadBudget) instead of holding more.
using HeadBudget = MemoryBudget;

class FramerListener {
public:
  virtual ~FramerListener() = default;
  // The first byte of a message was just fed (for first-byte timing). Its bytes follow in onHead.
  virtual void onMessageBegin() {}
  // The whole head, parsed and raw (request/status line through the blank line).
  virtual void onHead(const MessageHead &head, std::span<const uint8_t> raw) = 0;
  // Raw body bytes of the current message, as they arrive (possibly many calls, possibly none).
  virtual void onBody(std::span<const uint8_t> raw) = 0;
  // The trailer section of a chunked message (its fields and the final blank line), whole, once
  // it ended (before onMessageEnd). Default: more body bytes.
  virtual void onTrailers(std::span<const uint8_t> raw) { onBody(raw); }
  // The current message's last byte was in the last span handed out.
  virtual void onMessageEnd() = 0;
  // Bytes that are not HTTP: everything after an upgrade or a parse error (announced first by
  // onNotHttp), and the CR/LF bytes between messages (not announced: framing goes on).
  virtual void onPassthrough(std::span<const uint8_t> raw) = 0;
  // Once, right before the first passthrough byte that is not HTTP (or, for an upgrade, right
  // after the message that switched ended): from here on every byte is passthrough.
  virtual void onNotHttp(NotHttp) {}
  // The current message's body content, decoded (chunk sizes and trailers removed): views into
  // the same bytes onBody hands out, in order. Not called for bodyless messages.
  virtual void onBodyContent(std::span<const uint8_t>) {}
};

struct FramerStats {
  uint64_t messages = 0;    // heads completed
  uint64_t parseErrors = 0; // 0 or 1: the stream became passthrough because of an error
  uint64_t upgrades = 0;    // 0 or 1: the stream became passthrough because of an upgrade
  uint64_t overBudget = 0;  // 0 or 1: the stream became passthrough because the HeadBudget was full
};

class MessageFramer {
public:
  // `budget` (optional) is shared with other framers and must outlive this one.
  MessageFramer(MessageKind kind, FramerListener &listener, HeadBudget *budget = nullptr);
  ~MessageFramer();
  MessageFramer(const MessageFramer &) = delete;
  MessageFramer &operator=(const MessageFramer &) = delete;

  // Any split of the stream gives the same events (tests feed every split).
  void feed(std::span<const uint8_t> bytes);
  // The stream's FIN: ends a close-delimited response body. Further feeds are ignored.
  void finish();

  // Responses only: the method of each request, in order, so that a response to HEAD (and a 2xx
  // to CONNECT) is framed without a body. Responses with no recorded request are framed as GET.
  void expectResponseTo(std::string_view method);

  bool passthrough() const;
  // Bytes handed out so far (head, body, passthrough): inside onMessageEnd, the stream offset
  // just past the message's last byte.
  uint64_t position() const;
  // A message has begun and not yet ended (e.g. the stream ended mid-request).
  bool inMessage() const;
  const FramerStats &stats() const { return stats_; }

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  FramerStats stats_;
};

} // namespace shadowtap::http
