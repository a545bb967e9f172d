// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: one stream fed to MessageFramer whole, in random pieces and byte by byte.
// Oracle: the spans add up to the stream; events come in a legal order
// (begin -> head -> body* -> end, passthrough only between messages or for good at the end);
// the three feeds give the same events (adjacent body or passthrough spans merged), stats and state,
// the same decoded body content (never more bytes than the raw body) and the same not-HTTP reason;
// position() is the message's end when it ends.
//
// Input: byte 0 = flags (bit 0: response framer, bit 1: call finish()), byte 1 = method queue for
// a response framer (bits 0-1: count, then 2 bits per method: GET HEAD CONNECT POST), byte 2 =
// seed of the random split; the rest is the stream.
#include "http/message_framer.h"

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace shadowtap::http;

namespace {

constexpr size_t kMaxHead = 80 * 1024 - 1;

[[noreturn]] void fail(const char *what) {
  fprintf(stderr, "oracle: %s\n", what); // names the broken rule beside the reproducer
  __builtin_trap();
}

enum class Ev { Begin, Head, Body, End, Pass };

struct Event {
  Ev type;
  std::string bytes;
  bool operator==(const Event &) const = default;
};

std::string describe(const MessageHead &h) {
  std::string s = (h.isRequest ? "Q" : "S") + h.method + '|' + h.target + '|' + std::to_string(h.status) + '|' +
                  h.reason + '|' + std::to_string(h.versionMajor) + '.' + std::to_string(h.versionMinor) + '|' +
                  (h.keepAlive ? 'k' : '-') + (h.upgrade ? 'u' : '-');
  for (const auto &header : h.headers)
    s += '\n' + header.name + ':' + header.value;
  return s;
}

// Records events and checks their order as they come.
struct Checker : FramerListener {
  enum class State { Between, Begun, InBody, Done } state = State::Between;
  std::vector<Event> events;
  std::string all;
  size_t heads = 0;
  bool upgrading = false; // the current message's head said the stream switches after it
  std::string content;    // decoded bodies, each ended by '|'
  size_t messageContent = 0, messageBody = 0;
  int notHttp = -1;
  const MessageFramer *framer = nullptr;

  void onBodyContent(std::span<const uint8_t> raw) override {
    if (state != State::InBody || raw.empty())
      fail("content outside a body");
    content.append(raw.begin(), raw.end());
    messageContent += raw.size();
  }
  void onNotHttp(NotHttp reason) override {
    if (notHttp != -1)
      fail("not-HTTP announced twice");
    notHttp = static_cast<int>(reason);
  }

  void onMessageBegin() override {
    if (state != State::Between)
      fail("begin inside a message or after passthrough");
    state = State::Begun;
    events.push_back({Ev::Begin, {}});
  }
  void onHead(const MessageHead &head, std::span<const uint8_t> raw) override {
    if (state != State::Begun)
      fail("head without begin");
    // Not necessarily ending in LF: Debian builds http-parser non-strict ("\r" + any byte ends a line).
    if (raw.empty() || raw.size() > kMaxHead)
      fail("bad head span");
    if (head.isRequest == head.method.empty())
      fail("method set on a response or missing on a request");
    state = State::InBody;
    upgrading = head.upgrade;
    heads++;
    messageContent = messageBody = 0;
    all.append(raw.begin(), raw.end());
    events.push_back({Ev::Head, std::string(raw.begin(), raw.end()) + "\n--\n" + describe(head)});
  }
  void onBody(std::span<const uint8_t> raw) override {
    if (state != State::InBody)
      fail("body outside a message");
    messageBody += raw.size();
    span(Ev::Body, raw);
  }
  void onMessageEnd() override {
    if (state != State::InBody)
      fail("end without head");
    if (messageContent > messageBody)
      fail("more content than body bytes");
    content += '|';
    if (framer && framer->position() != all.size())
      fail("position() is not the message's end");
    state = upgrading ? State::Done : State::Between; // after an upgrade: passthrough only
    events.push_back({Ev::End, {}});
  }
  void onPassthrough(std::span<const uint8_t> raw) override {
    bool lineEnds = true;
    for (uint8_t b : raw)
      lineEnds = lineEnds && (b == '\r' || b == '\n');
    // Between messages, CR/LF pass through and framing goes on; anything else ends HTTP for good.
    if (state != State::Between || !lineEnds)
      state = State::Done;
    span(Ev::Pass, raw);
  }
  void span(Ev type, std::span<const uint8_t> raw) {
    if (raw.empty())
      fail("empty span");
    all.append(raw.begin(), raw.end());
    if (!events.empty() && events.back().type == type)
      events.back().bytes.append(raw.begin(), raw.end());
    else
      events.push_back({type, std::string(raw.begin(), raw.end())});
  }
};

struct Outcome {
  std::vector<Event> events;
  FramerStats stats;
  bool passthrough;
  bool inMessage;
  std::string content;
  int notHttp;
};

Outcome run(MessageKind kind, const std::vector<std::string> &methods, const uint8_t *data, size_t size,
            const std::vector<size_t> &pieces, bool finish) {
  Checker checker;
  MessageFramer framer(kind, checker);
  checker.framer = &framer;
  for (const auto &m : methods)
    framer.expectResponseTo(m);
  size_t at = 0;
  for (size_t n : pieces) {
    framer.feed({data + at, n});
    at += n;
    if (framer.inMessage() != (checker.state == Checker::State::Begun || checker.state == Checker::State::InBody))
      fail("inMessage() disagrees with the events");
  }
  if (finish)
    framer.finish();
  const auto &stats = framer.stats();
  if (finish ? checker.all.size() != size : checker.all.size() > size)
    fail("spans do not add up to the stream");
  if (!checker.all.empty() && std::memcmp(checker.all.data(), data, checker.all.size()) != 0)
    fail("spans differ from the stream");
  if (stats.messages != checker.heads)
    fail("messages != heads");
  if (stats.parseErrors + stats.upgrades > 1)
    fail("both an error and an upgrade");
  if (framer.passthrough() != (stats.parseErrors + stats.upgrades == 1))
    fail("passthrough() without a cause");
  if (framer.passthrough() && checker.state != Checker::State::Done)
    fail("passthrough() but the events say otherwise");
  if (framer.position() != checker.all.size())
    fail("position() is not what was handed out");
  return {checker.events, stats, framer.passthrough(), framer.inMessage(), checker.content, checker.notHttp};
}

bool same(const Outcome &a, const Outcome &b) {
  return a.events == b.events && a.stats.messages == b.stats.messages && a.stats.parseErrors == b.stats.parseErrors &&
         a.stats.upgrades == b.stats.upgrades && a.passthrough == b.passthrough && a.inMessage == b.inMessage &&
         a.content == b.content && a.notHttp == b.notHttp;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  auto kind = (data[0] & 1) ? MessageKind::Response : MessageKind::Request;
  bool finish = data[0] & 2;
  static const char *kMethods[] = {"GET", "HEAD", "CONNECT", "POST"};
  std::vector<std::string> methods;
  for (int i = 0; i < (data[1] & 3); i++)
    methods.emplace_back(kMethods[(data[1] >> (2 + 2 * i)) & 3]);
  uint32_t seed = data[2] * 2654435761u + 1;
  data += 3;
  size -= 3;

  Outcome whole = run(kind, methods, data, size, {size}, finish);

  std::vector<size_t> random;
  for (size_t left = size; left > 0;) {
    seed = seed * 1103515245u + 12345u;
    size_t n = (seed >> 16) % ((seed & 0x100) ? 7 : 97) + 1; // mostly small pieces, some larger
    n = std::min(n, left);
    random.push_back(n);
    left -= n;
  }
  if (!same(run(kind, methods, data, size, random, finish), whole))
    fail("random split changed the events");

  std::vector<size_t> bytes(size, 1);
  if (!same(run(kind, methods, data, size, bytes, finish), whole))
    fail("byte-by-byte feed changed the events");
  return 0;
}
