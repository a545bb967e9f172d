// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the HTTP stage's client direction (framer + rules, http::RequestStream) with
// exclusion and header rules active. Oracle — the fail-closed contract: what it forwards is read
// back by a fresh framer, as the shadow would read it, and
//  - parses: no parse error, and no unframed bytes but CR/LF between requests (or the tunnel
//    after an Upgrade the primary accepted);
//  - holds no excluded request (an end-user header or a path with the marker MARK), no removed
//    header (Authorization, Cookie), and every head carries the set header;
//  - is the same whatever the split of the input (when no head budget makes it split-dependent);
//  - pooled replay (--http-pool): no forwarded head asks to close the connection the pool shares,
//    as the shadow's parser reads it (an upgrade and HTTP/0.9 excepted: the pool retires the
//    connection after them).
//
// Input: byte 0 = flags (bit 0: the client's FIN at the end; bit 1: a 512-byte head budget;
// bit 2: the primary answers a pending Upgrade, bit 3: ...with a switch; bit 4: pooled rules);
// byte 1 = seed of the random split; the rest is the client's stream.
#include "http/request_stream.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace shadowtap::http;

namespace {

[[noreturn]] void fail(const char *what) {
  __builtin_trap();
  (void)what;
}

std::shared_ptr<const HttpRules> makeRules(bool pooled) {
  HttpRules rules;
  RequestMatch byUser;
  byUser.headers.push_back({"end-user", makeStringMatch(MatchKind::Regex, "(?s).*MARK.*", "fuzz")});
  rules.exclude.push_back(byUser);
  RequestMatch byPath;
  byPath.path = makeStringMatch(MatchKind::Regex, "(?s).*MARK.*", "fuzz");
  rules.exclude.push_back(byPath);
  rules.removeHeaders = {"Authorization", "Cookie"};
  rules.setHeaders = {{"x-shadowtap", "fuzz"}};
  rules.pooled = pooled;
  return std::make_shared<const HttpRules>(rules);
}

const std::shared_ptr<const HttpRules> &rules(bool pooled) {
  static const std::shared_ptr<const HttpRules> kept = makeRules(false), kPooled = makeRules(true);
  return pooled ? kPooled : kept;
}

struct Out : RequestStreamSink {
  std::string bytes;
  bool isStopped = false;
  void requestBegin(const MessageHead &, Verdict) override {}
  void forward(std::span<const uint8_t> b) override {
    if (isStopped)
      fail("forwarded after the stop");
    bytes.append(b.begin(), b.end());
  }
  void requestEnd(uint64_t) override {}
  void stopped(StopReason) override { isStopped = true; }
};

// Reads the forwarded stream back as the shadow's framer would.
struct Reader : FramerListener {
  bool pooled = false;
  bool tunnel = false; // an upgrade head went out: what follows may be anything
  void onHead(const MessageHead &head, std::span<const uint8_t>) override {
    if (head.path().find("MARK") != std::string_view::npos)
      fail("an excluded path was forwarded");
    bool marked = false;
    for (const auto &h : head.headers) {
      if (equalsIgnoreCase(h.name, "end-user") && h.value.find("MARK") != std::string::npos)
        fail("an excluded end-user was forwarded");
      if (equalsIgnoreCase(h.name, "Authorization") || equalsIgnoreCase(h.name, "Cookie"))
        fail("a removed header was forwarded");
      marked = marked || (equalsIgnoreCase(h.name, "x-shadowtap") && h.value == "fuzz");
    }
    if (!marked)
      fail("a forwarded head lacks the set header");
    if (pooled && !head.keepAlive && !head.upgrade && head.versionMajor > 0) // 0.9: none to keep
      fail("a pooled copy asks to close its connection");
    tunnel = tunnel || head.upgrade;
  }
  void onBody(std::span<const uint8_t>) override {}
  void onMessageEnd() override {}
  void onPassthrough(std::span<const uint8_t> raw) override {
    if (tunnel)
      return;
    for (uint8_t b : raw)
      if (b != '\r' && b != '\n')
        fail("unframed bytes were forwarded");
  }
};

struct Outcome {
  std::string bytes;
  bool stopped;
};

Outcome run(const uint8_t *data, size_t size, const std::vector<size_t> &pieces, uint8_t flags) {
  Out out;
  HeadBudget budget(512);
  RequestStream stream(
      rules(flags & 16), out, [] { return 0u; }, (flags & 2) ? &budget : nullptr);
  size_t at = 0;
  for (size_t n : pieces) {
    stream.feed({data + at, n});
    at += n;
    if ((flags & 4) && stream.awaitingSwitchOf())
      stream.serverSwitched(flags & 8);
  }
  if (flags & 1)
    stream.finish();
  if (out.isStopped != stream.stopped())
    fail("stopped() disagrees with the sink");
  if (budget.used() > 512)
    fail("over the head budget");

  Reader reader;
  reader.pooled = flags & 16;
  MessageFramer framer(MessageKind::Request, reader);
  framer.feed({reinterpret_cast<const uint8_t *>(out.bytes.data()), out.bytes.size()});
  if (framer.stats().parseErrors)
    fail("the forwarded stream does not parse");
  return {out.bytes, out.isStopped};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint8_t flags = data[0];
  uint32_t seed = data[1] * 2654435761u + 1;
  data += 2;
  size -= 2;

  Outcome whole = run(data, size, {size}, flags);
  std::vector<size_t> random;
  for (size_t left = size; left > 0;) {
    seed = seed * 1103515245u + 12345u;
    size_t n = std::min<size_t>((seed >> 16) % ((seed & 0x100) ? 7 : 97) + 1, left);
    random.push_back(n);
    left -= n;
  }
  Outcome split = run(data, size, random, flags);
  std::vector<size_t> bytes(size, 1);
  Outcome single = run(data, size, bytes, flags);
  // A head budget makes framing depend on the split (a head in one piece costs nothing); so does
  // when the primary's answer to an Upgrade comes. Otherwise every split forwards the same.
  if (!(flags & 2) && !(flags & 4) &&
      (split.bytes != whole.bytes || single.bytes != whole.bytes || split.stopped != whole.stopped ||
       single.stopped != whole.stopped))
    fail("the split changed what was forwarded");
  return 0;
}
