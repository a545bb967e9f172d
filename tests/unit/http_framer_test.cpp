// SPDX-License-Identifier: Apache-2.0
// The framer must give the same events for every split of the input into feed() calls, and its
// spans must add up to the input. Every case below is checked whole, at every single split point
// and byte by byte (runAllSplits); then the events of the whole feed are checked in detail.
#include "http/message_framer.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

using namespace shadowtap::http;

namespace {

enum class Ev { Begin, Head, Body, End, Pass };

struct Event {
  Ev type;
  std::string bytes; // Head, Body, Pass: adjacent Body (or Pass) spans are merged
  MessageHead head;
};

std::string describe(const MessageHead &h) {
  std::ostringstream out;
  out << (h.isRequest ? "req " : "resp ") << h.method << ' ' << h.target << ' ' << h.status << ' ' << h.reason << " v"
      << h.versionMajor << '.' << h.versionMinor << " ka=" << h.keepAlive << " up=" << h.upgrade;
  for (const auto &header : h.headers)
    out << " [" << header.name << ": " << header.value << ']';
  return out.str();
}

std::string describe(const Event &e) {
  static const char *names[] = {"begin", "head", "body", "end", "pass"};
  std::string s = names[static_cast<int>(e.type)];
  if (e.type == Ev::Head)
    s += " {" + describe(e.head) + "}";
  if (e.type == Ev::Head || e.type == Ev::Body || e.type == Ev::Pass)
    s += " '" + e.bytes + "'";
  return s;
}

struct Recorder : FramerListener {
  std::vector<Event> events;
  std::string all;     // every span, in order
  std::string content; // decoded bodies, each message's ended by '|'
  std::vector<NotHttp> notHttp;
  const MessageFramer *framer = nullptr;

  void onMessageBegin() override { events.push_back({Ev::Begin, {}, {}}); }
  void onBodyContent(std::span<const uint8_t> raw) override {
    EXPECT_FALSE(raw.empty()) << "empty content";
    content.append(raw.begin(), raw.end());
  }
  void onNotHttp(NotHttp reason) override {
    EXPECT_TRUE(notHttp.empty()) << "announced twice";
    notHttp.push_back(reason);
  }
  void onHead(const MessageHead &head, std::span<const uint8_t> raw) override {
    std::string bytes(raw.begin(), raw.end());
    all += bytes;
    events.push_back({Ev::Head, bytes, head});
  }
  void onBody(std::span<const uint8_t> raw) override { span(Ev::Body, raw); }
  void onMessageEnd() override {
    events.push_back({Ev::End, {}, {}});
    content += '|';
    if (framer)
      EXPECT_EQ(framer->position(), all.size()) << "position() is not the message's end";
  }
  void onPassthrough(std::span<const uint8_t> raw) override { span(Ev::Pass, raw); }

  void span(Ev type, std::span<const uint8_t> raw) {
    EXPECT_FALSE(raw.empty()) << "empty span";
    std::string bytes(raw.begin(), raw.end());
    all += bytes;
    if (!events.empty() && events.back().type == type)
      events.back().bytes += bytes;
    else
      events.push_back({type, bytes, {}});
  }

  std::string trace() const {
    std::string s;
    for (const auto &e : events)
      s += describe(e) + "\n";
    return s;
  }
};

struct Result {
  std::string trace;
  std::vector<Event> events;
  FramerStats stats;
  bool passthrough;
  bool inMessage;
  std::string content;
  std::vector<NotHttp> notHttp;
};

// Feeds `input` in pieces ending at `cuts` (offsets, increasing), then finish() if asked.
Result run(MessageKind kind, const std::string &input, const std::vector<size_t> &cuts,
           const std::vector<std::string> &methods, bool finish) {
  Recorder recorder;
  MessageFramer framer(kind, recorder);
  recorder.framer = &framer;
  for (const auto &m : methods)
    framer.expectResponseTo(m);
  size_t at = 0;
  auto bytes = reinterpret_cast<const uint8_t *>(input.data());
  for (size_t cut : cuts) {
    framer.feed({bytes + at, cut - at});
    at = cut;
  }
  framer.feed({bytes + at, input.size() - at});
  if (finish)
    framer.finish();
  if (finish)
    EXPECT_EQ(recorder.all, input) << "the spans do not add up to the input";
  else // without finish() a partial head may still be held back
    EXPECT_EQ(recorder.all, input.substr(0, recorder.all.size())) << "the spans are not a prefix of the input";
  EXPECT_EQ(framer.position(), recorder.all.size());
  return {recorder.trace(),   recorder.events,  framer.stats(),  framer.passthrough(),
          framer.inMessage(), recorder.content, recorder.notHttp};
}

// The whole input in one feed, then the same at every split point and byte by byte: all equal.
Result runAllSplits(MessageKind kind, const std::string &input, const std::vector<std::string> &methods = {},
                    bool finish = true, size_t step = 1) {
  Result whole = run(kind, input, {}, methods, finish);
  auto same = [&](const Result &r, const std::string &how) {
    EXPECT_EQ(r.trace, whole.trace) << how;
    EXPECT_EQ(r.stats.messages, whole.stats.messages) << how;
    EXPECT_EQ(r.stats.parseErrors, whole.stats.parseErrors) << how;
    EXPECT_EQ(r.stats.upgrades, whole.stats.upgrades) << how;
    EXPECT_EQ(r.passthrough, whole.passthrough) << how;
    EXPECT_EQ(r.inMessage, whole.inMessage) << how;
    EXPECT_EQ(r.content, whole.content) << how;
    EXPECT_EQ(r.notHttp, whole.notHttp) << how;
    return r.trace == whole.trace;
  };
  for (size_t cut = 0; cut <= input.size(); cut += step)
    if (!same(run(kind, input, {cut}, methods, finish), "split at " + std::to_string(cut)))
      break; // one failure report is enough
  std::vector<size_t> every;
  for (size_t i = 1; i < input.size(); i++)
    every.push_back(i);
  same(run(kind, input, every, methods, finish), "byte by byte");
  return whole;
}

const std::string &header(const MessageHead &h, std::string_view name) {
  static const std::string none = "<absent>";
  const Header *found = h.find(name);
  return found ? found->value : none;
}

std::vector<Ev> types(const Result &r) {
  std::vector<Ev> out;
  for (const auto &e : r.events)
    out.push_back(e.type);
  return out;
}

using E = Ev;

// A string literal with embedded NULs, all of it.
template <size_t N> std::string bin(const char (&s)[N]) {
  return std::string(s, N - 1);
}

} // namespace

TEST(HttpFramer, RequestWithContentLength) {
  std::string head = "POST /books/7?x=1 HTTP/1.1\r\nHost: shop\r\nX-Mixed-Case:   padded value \t\r\n"
                     "Content-Length: 5\r\n\r\n";
  auto r = runAllSplits(MessageKind::Request, head + "hello");
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End})) << r.trace;
  const auto &h = r.events[1].head;
  EXPECT_EQ(r.events[1].bytes, head);
  EXPECT_TRUE(h.isRequest);
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/books/7?x=1");
  EXPECT_EQ(h.path(), "/books/7");
  EXPECT_EQ(h.versionMajor, 1u);
  EXPECT_EQ(h.versionMinor, 1u);
  ASSERT_EQ(h.headers.size(), 3u);
  EXPECT_EQ(h.headers[1].name, "X-Mixed-Case");
  EXPECT_EQ(h.headers[1].value, "padded value");
  EXPECT_EQ(header(h, "content-length"), "5");
  EXPECT_TRUE(h.keepAlive);
  EXPECT_FALSE(h.upgrade);
  EXPECT_EQ(r.events[2].bytes, "hello");
  EXPECT_EQ(r.stats.messages, 1u);
  EXPECT_EQ(r.stats.parseErrors, 0u);
  EXPECT_FALSE(r.passthrough);
  EXPECT_FALSE(r.inMessage);
}

TEST(HttpFramer, RequestWithoutBodyAndKeepAliveFlags) {
  std::string a = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string b = "GET /old HTTP/1.0\r\n\r\n";
  std::string c = "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  std::string d = "GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n";
  // After "Connection: close" the framer keeps framing (documented choice): e is still a request.
  std::string e = "GET /after HTTP/1.1\r\n\r\n";
  auto r = runAllSplits(MessageKind::Request, a + b + c + d + e);
  ASSERT_EQ(r.events.size(), 15u) << r.trace;
  const bool expected[] = {true, false, true, false, true};
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(r.events[i * 3].type, Ev::Begin);
    EXPECT_EQ(r.events[i * 3 + 1].type, Ev::Head);
    EXPECT_EQ(r.events[i * 3 + 2].type, Ev::End);
    EXPECT_EQ(r.events[i * 3 + 1].head.keepAlive, expected[i]) << i;
  }
  EXPECT_EQ(r.events[4].head.versionMinor, 0u);
  EXPECT_EQ(r.events[13].head.target, "/after");
  EXPECT_EQ(r.stats.messages, 5u);
}

TEST(HttpFramer, ChunkedRequestWithTrailers) {
  std::string head = "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n";
  std::string body = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\nX-Other: y\r\n\r\n";
  auto r = runAllSplits(MessageKind::Request, head + body + "GET /next HTTP/1.1\r\n\r\n");
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End, E::Begin, E::Head, E::End})) << r.trace;
  EXPECT_EQ(r.events[1].bytes, head);
  EXPECT_EQ(r.events[2].bytes, body);             // chunk framing and trailers are body bytes
  EXPECT_EQ(r.events[1].head.headers.size(), 2u); // trailer fields are not head fields
  EXPECT_EQ(header(r.events[1].head, "X-Sum"), "<absent>");
  EXPECT_EQ(r.events[5].head.target, "/next");
}

TEST(HttpFramer, ChunkedWithoutTrailers) {
  std::string msg = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  auto r = runAllSplits(MessageKind::Request, msg + msg);
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End, E::Begin, E::Head, E::Body, E::End}))
      << r.trace;
  EXPECT_EQ(r.events[2].bytes, "3\r\nabc\r\n0\r\n\r\n");
}

TEST(HttpFramer, PipelinedGetHeadPostChunked) {
  std::string get = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string head = "HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string post = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string chunks = "2\r\nok\r\n0\r\n\r\n";
  std::string put = "PUT /d HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
  auto r = runAllSplits(MessageKind::Request, get + head + post + chunks + put + "xyz");
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Begin, E::Head, E::End, E::Begin, E::Head, E::Body,
                                       E::End, E::Begin, E::Head, E::Body, E::End}))
      << r.trace;
  EXPECT_EQ(r.events[1].head.method, "GET");
  EXPECT_EQ(r.events[4].head.method, "HEAD");
  EXPECT_EQ(r.events[7].head.method, "POST");
  EXPECT_EQ(r.events[8].bytes, chunks);
  EXPECT_EQ(r.events[11].head.method, "PUT");
  EXPECT_EQ(r.events[12].bytes, "xyz");
  EXPECT_EQ(r.stats.messages, 4u);
}

TEST(HttpFramer, PipelinedResponsesFollowTheMethodQueue) {
  std::string toGet = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  std::string toHead = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"; // no body: it answers HEAD
  std::string toPost = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: 1\r\n\r\n";
  auto r = runAllSplits(MessageKind::Response, toGet + toHead + toPost, {"GET", "HEAD", "POST"});
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End, E::Begin, E::Head, E::End, E::Begin, E::Head,
                                       E::Body, E::End}))
      << r.trace;
  EXPECT_FALSE(r.events[1].head.isRequest);
  EXPECT_EQ(r.events[1].head.status, 200u);
  EXPECT_EQ(r.events[1].head.reason, "OK");
  EXPECT_EQ(r.events[2].bytes, "hi");
  EXPECT_EQ(r.events[5].bytes, toHead);
  EXPECT_TRUE(r.events[5].head.keepAlive);
  EXPECT_EQ(r.events[8].head.status, 201u);
  EXPECT_EQ(r.events[9].bytes, "1\r\nx\r\n0\r\nT: 1\r\n\r\n");
}

TEST(HttpFramer, ResponseWithNoQueuedRequestIsFramedAsGet) {
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
  // The first answers the queued HEAD (no body); the queue is then empty: the second is a GET's.
  auto r = runAllSplits(MessageKind::Response, resp + resp + "abc", {"HEAD"});
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Begin, E::Head, E::Body, E::End})) << r.trace;
  EXPECT_EQ(r.events[5].bytes, "abc");

  // Without the queue, the first would take "HTTP/..." of the second as its body: why it matters.
  auto wrong = runAllSplits(MessageKind::Response, resp + resp + "abc");
  ASSERT_EQ(types(wrong), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End, E::Pass})) << wrong.trace;
  EXPECT_EQ(wrong.events[2].bytes, "HTT");
}

TEST(HttpFramer, NoBodyFor204And304EvenWithContentLength) {
  std::string noContent = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
  std::string notModified = "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\nETag: \"x\"\r\n\r\n";
  std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!";
  auto r = runAllSplits(MessageKind::Response, noContent + notModified + ok);
  ASSERT_EQ(types(r),
            (std::vector<Ev>{E::Begin, E::Head, E::End, E::Begin, E::Head, E::End, E::Begin, E::Head, E::Body, E::End}))
      << r.trace;
  EXPECT_EQ(r.events[1].head.status, 204u);
  EXPECT_EQ(r.events[4].head.status, 304u);
  EXPECT_EQ(r.events[8].bytes, "!");
}

TEST(HttpFramer, CloseDelimitedResponseEndsAtFinish) {
  std::string head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
  std::string body = "all of this is body\r\n\r\nHTTP/1.1 200 OK\r\n"; // even what looks like HTTP
  auto r = runAllSplits(MessageKind::Response, head + body);
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End})) << r.trace;
  EXPECT_FALSE(r.events[1].head.keepAlive);
  EXPECT_EQ(r.events[2].bytes, body);
  EXPECT_FALSE(r.inMessage);

  // HTTP/1.0 without a length: the same.
  auto r10 = runAllSplits(MessageKind::Response, "HTTP/1.0 200 OK\r\n\r\nold");
  ASSERT_EQ(types(r10), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End})) << r10.trace;

  // Without finish() the body never ends.
  auto open = run(MessageKind::Response, head + body, {}, {}, false);
  ASSERT_EQ(types(open), (std::vector<Ev>{E::Begin, E::Head, E::Body})) << open.trace;
  EXPECT_TRUE(open.inMessage);
}

TEST(HttpFramer, ExpectContinueFlow) {
  // Client side: the head goes out before the body arrives; the body is just the body.
  std::string req = "PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  auto rq = runAllSplits(MessageKind::Request, req + "data");
  ASSERT_EQ(types(rq), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End})) << rq.trace;
  EXPECT_EQ(header(rq.events[1].head, "expect"), "100-continue");

  // Server side: the interim 100 is a message of its own and leaves the PUT waiting; the HEAD
  // after it still gets its own (bodiless) response.
  std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  std::string final = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  std::string toHead = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n";
  auto rs = runAllSplits(MessageKind::Response, interim + final + toHead, {"PUT", "HEAD"});
  ASSERT_EQ(types(rs),
            (std::vector<Ev>{E::Begin, E::Head, E::End, E::Begin, E::Head, E::Body, E::End, E::Begin, E::Head, E::End}))
      << rs.trace;
  EXPECT_EQ(rs.events[1].head.status, 100u);
  EXPECT_EQ(rs.events[1].bytes, interim);
  EXPECT_EQ(rs.events[5].bytes, "ok");
  EXPECT_EQ(rs.stats.messages, 3u);
}

TEST(HttpFramer, SwitchingProtocolsThenWebSocketBytes) {
  std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  std::string frames = bin("\x81\x05hello\x88\x00HTTP/1.1 200 OK\r\n\r\n");
  auto r = runAllSplits(MessageKind::Response, resp + frames, {"GET"});
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Pass})) << r.trace;
  EXPECT_TRUE(r.events[1].head.upgrade);
  EXPECT_EQ(r.events[3].bytes, frames);
  EXPECT_EQ(r.stats.upgrades, 1u);
  EXPECT_EQ(r.stats.parseErrors, 0u);
  EXPECT_TRUE(r.passthrough);

  // A 101 without the Upgrade/Connection pair still switches.
  auto bare = runAllSplits(MessageKind::Response, "HTTP/1.1 101 Switching\r\n\r\nraw bytes");
  ASSERT_EQ(types(bare), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Pass})) << bare.trace;
  EXPECT_EQ(bare.events[3].bytes, "raw bytes");
}

TEST(HttpFramer, UpgradeRequestThenWebSocketBytes) {
  std::string req = "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  std::string frames = bin("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58GET / HTTP/1.1\r\n\r\n");
  auto r = runAllSplits(MessageKind::Request, req + frames);
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Pass})) << r.trace;
  EXPECT_TRUE(r.events[1].head.upgrade);
  EXPECT_EQ(r.events[3].bytes, frames);
  EXPECT_EQ(r.stats.upgrades, 1u);

  // "Upgrade" without "Connection: upgrade" is only an offer: the stream stays HTTP.
  std::string offer = "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n";
  auto o = runAllSplits(MessageKind::Request, offer + offer);
  ASSERT_EQ(types(o), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Begin, E::Head, E::End})) << o.trace;
  EXPECT_FALSE(o.events[1].head.upgrade);

  // An upgrade request with a body: the body is framed, then the switch.
  std::string withBody = "POST / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nab";
  auto b = runAllSplits(MessageKind::Request, withBody + "PRI * HTTP/2.0");
  ASSERT_EQ(types(b), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End, E::Pass})) << b.trace;
  EXPECT_EQ(b.events[2].bytes, "ab");
  EXPECT_EQ(b.events[4].bytes, "PRI * HTTP/2.0");
}

TEST(HttpFramer, ConnectTunnel) {
  std::string req = "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n";
  std::string tls = bin("\x16\x03\x01\x00\x05hello");
  auto rq = runAllSplits(MessageKind::Request, req + tls);
  ASSERT_EQ(types(rq), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Pass})) << rq.trace;
  EXPECT_EQ(rq.events[1].head.method, "CONNECT");
  EXPECT_EQ(rq.events[1].head.target, "db.internal:5432");
  EXPECT_TRUE(rq.events[1].head.upgrade);
  EXPECT_EQ(rq.events[3].bytes, tls);

  // A 2xx to CONNECT has no body even without a length; the tunnel follows.
  std::string ok = "HTTP/1.1 200 Connection Established\r\n\r\n";
  auto rs = runAllSplits(MessageKind::Response, ok + tls, {"CONNECT"});
  ASSERT_EQ(types(rs), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Pass})) << rs.trace;
  EXPECT_TRUE(rs.events[1].head.upgrade);
  EXPECT_EQ(rs.stats.upgrades, 1u);

  // A refused CONNECT is an ordinary response, and the next one is framed as usual.
  std::string refused = "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\ndeny";
  auto rr = runAllSplits(MessageKind::Response, refused + ok + "x", {"CONNECT", "GET"});
  ASSERT_EQ(types(rr), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End, E::Begin, E::Head, E::Body, E::End}))
      << rr.trace;
  EXPECT_EQ(rr.events[6].bytes, "x"); // to the GET: a close-delimited body
  EXPECT_FALSE(rr.events[1].head.upgrade);
  EXPECT_FALSE(rr.passthrough);
}

TEST(HttpFramer, NotHttpBecomesPassthrough) {
  std::string binary = bin("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00GET / HTTP/1.1\r\n\r\n");
  for (auto kind : {MessageKind::Request, MessageKind::Response}) {
    auto r = runAllSplits(kind, binary);
    ASSERT_EQ(types(r), (std::vector<Ev>{E::Pass})) << r.trace;
    EXPECT_EQ(r.events[0].bytes, binary);
    EXPECT_EQ(r.stats.parseErrors, 1u);
    EXPECT_EQ(r.stats.messages, 0u);
    EXPECT_TRUE(r.passthrough);
    EXPECT_FALSE(r.inMessage);
  }
  // 'S' may start a request method (SEARCH, SOURCE...): the message begins, then the error
  // sends every byte of it to passthrough.
  std::string ssh = bin("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\x00\x00\x05\xdc\x07\x14");
  auto rq = runAllSplits(MessageKind::Request, ssh);
  ASSERT_EQ(types(rq), (std::vector<Ev>{E::Begin, E::Pass})) << rq.trace;
  EXPECT_EQ(rq.events[1].bytes, ssh);
  EXPECT_FALSE(rq.inMessage);
  auto rs = runAllSplits(MessageKind::Response, ssh);
  ASSERT_EQ(types(rs), (std::vector<Ev>{E::Pass})) << rs.trace;
}

TEST(HttpFramer, GarbageAfterGoodMessages) {
  std::string good = "GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
  std::string junk = bin("\x00\x01 not http at all\r\n\r\n");
  auto r = runAllSplits(MessageKind::Request, good + junk);
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Begin, E::Head, E::Body, E::End, E::Pass}))
      << r.trace;
  EXPECT_EQ(r.events.back().bytes, junk);
  EXPECT_EQ(r.stats.messages, 2u);
  EXPECT_EQ(r.stats.parseErrors, 1u);

  // The error inside a head: the head's buffered bytes come out too, before the rest.
  std::string bad = "GET /3 HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\nGET /4 HTTP/1.1\r\n\r\n";
  auto r2 = runAllSplits(MessageKind::Request, "GET /1 HTTP/1.1\r\n\r\n" + bad);
  ASSERT_EQ(types(r2), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Begin, E::Pass})) << r2.trace;
  EXPECT_EQ(r2.events.back().bytes, bad);

  // Garbage inside a body (a bad chunk size): body up to the bad byte, then passthrough.
  std::string chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n";
  auto r3 = runAllSplits(MessageKind::Request, chunked + "zz\r\nmore");
  ASSERT_EQ(types(r3), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::Pass})) << r3.trace;
  EXPECT_EQ(r3.events[2].bytes, "2\r\nok\r\n");
  EXPECT_EQ(r3.events[3].bytes, "zz\r\nmore");
  EXPECT_FALSE(r3.inMessage);
}

TEST(HttpFramer, AmbiguousLengthsAreNotFramed) {
  // Both Content-Length and chunked, or a request TE that is not chunked: request smuggling
  // material; http-parser refuses them and so does the framer (before any head goes out).
  for (std::string req : {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                          "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc"}) {
    auto r = runAllSplits(MessageKind::Request, req);
    ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Pass})) << r.trace;
    EXPECT_EQ(r.events[1].bytes, req);
    EXPECT_EQ(r.stats.messages, 0u);
    EXPECT_EQ(r.stats.parseErrors, 1u);
  }
}

TEST(HttpFramer, IdleLineEndsBetweenMessagesPassThroughWithoutAnError) {
  std::string post = "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx";
  auto r = runAllSplits(MessageKind::Request, "\r\n" + post + "\r\n\n" + post + "\r\n");
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Pass, E::Begin, E::Head, E::Body, E::End, E::Pass, E::Begin, E::Head, E::Body,
                                       E::End, E::Pass}))
      << r.trace;
  EXPECT_EQ(r.events[5].bytes, "\r\n\n");
  EXPECT_EQ(r.stats.parseErrors, 0u);
  EXPECT_FALSE(r.passthrough);
  EXPECT_FALSE(r.inMessage);
}

TEST(HttpFramer, HeaderValuesAreTrimmedAndFoldedLinesJoined) {
  std::string req = "GET / HTTP/1.1\r\nHOST:example\r\nx-empty:\r\nX-Folded: first\r\n  second\r\nx-tab:\tv\t\r\n\r\n";
  auto r = runAllSplits(MessageKind::Request, req);
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::End})) << r.trace;
  const auto &h = r.events[1].head;
  ASSERT_EQ(h.headers.size(), 4u) << describe(h);
  EXPECT_EQ(h.headers[0].name, "HOST");
  EXPECT_EQ(h.headers[0].value, "example");
  EXPECT_EQ(h.headers[1].name, "x-empty");
  EXPECT_EQ(h.headers[1].value, "");
  EXPECT_EQ(h.headers[2].value, "first second");
  EXPECT_EQ(h.headers[3].value, "v");

  // A continuation line of only whitespace adds nothing, and does not leak into the next field.
  auto blank = runAllSplits(MessageKind::Request, "GET / HTTP/1.1\r\nA: a \r\n \t\r\nB:  b\r\n\r\n");
  ASSERT_EQ(types(blank), (std::vector<Ev>{E::Begin, E::Head, E::End})) << blank.trace;
  ASSERT_EQ(blank.events[1].head.headers.size(), 2u) << blank.trace;
  EXPECT_EQ(blank.events[1].head.headers[0].value, "a");
  EXPECT_EQ(blank.events[1].head.headers[1].value, "b");
}

TEST(HttpFramer, StreamEndingInsideAHead) {
  std::string partial = "GET /slow HTTP/1.1\r\nHost: h\r\n";
  auto r = runAllSplits(MessageKind::Request, "GET / HTTP/1.1\r\n\r\n" + partial);
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Begin, E::Pass})) << r.trace;
  EXPECT_EQ(r.events.back().bytes, partial); // flushed by finish()
  EXPECT_TRUE(r.inMessage);
  EXPECT_FALSE(r.passthrough);
  EXPECT_EQ(r.stats.parseErrors, 0u);

  // Before finish() the partial head is held back (it may still complete).
  auto held = run(MessageKind::Request, partial, {}, {}, false);
  EXPECT_EQ(types(held), (std::vector<Ev>{E::Begin}));
}

TEST(HttpFramer, StreamEndingInsideABody) {
  std::string req = "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nonly";
  auto r = runAllSplits(MessageKind::Request, req);
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::Body})) << r.trace;
  EXPECT_TRUE(r.inMessage);
}

TEST(HttpFramer, FeedsAfterFinishAreIgnored) {
  Recorder recorder;
  MessageFramer framer(MessageKind::Request, recorder);
  std::string req = "GET / HTTP/1.1\r\n\r\n";
  framer.feed({reinterpret_cast<const uint8_t *>(req.data()), req.size()});
  framer.finish();
  framer.feed({reinterpret_cast<const uint8_t *>(req.data()), req.size()});
  framer.finish();
  EXPECT_EQ(recorder.all, req);
  EXPECT_EQ(framer.stats().messages, 1u);
}

TEST(HttpFramer, MessageBeginFiresOnTheFirstByte) {
  Recorder recorder;
  MessageFramer framer(MessageKind::Response, recorder);
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  auto bytes = reinterpret_cast<const uint8_t *>(resp.data());
  framer.feed({bytes, 1});
  ASSERT_EQ(recorder.events.size(), 1u);
  EXPECT_EQ(recorder.events[0].type, Ev::Begin);
  EXPECT_TRUE(framer.inMessage());
  framer.feed({bytes + 1, resp.size() - 2});
  EXPECT_EQ(recorder.events.size(), 1u); // the head is not complete before its last byte
  framer.feed({bytes + resp.size() - 1, 1});
  EXPECT_EQ(types({"", recorder.events, {}, false, false, {}, {}}), (std::vector<Ev>{E::Begin, E::Head, E::End}));
  EXPECT_FALSE(framer.inMessage());
}

TEST(HttpFramer, OversizeHeadBecomesPassthrough) {
  constexpr size_t kLimit = 80 * 1024 - 1; // see message_framer.cpp
  auto requestOfSize = [](size_t total) {
    std::string start = "GET / HTTP/1.1\r\nX-Big: ";
    std::string end = "\r\n\r\n";
    return start + std::string(total - start.size() - end.size(), 'a') + end;
  };
  std::string fits = requestOfSize(kLimit);
  std::string tooBig = requestOfSize(kLimit + 1);
  std::string next = "GET /next HTTP/1.1\r\n\r\n";
  // Every 997th split (every split would be quadratic in 80 KiB) plus byte by byte.
  auto ok = runAllSplits(MessageKind::Request, fits + next, {}, true, 997);
  ASSERT_EQ(types(ok), (std::vector<Ev>{E::Begin, E::Head, E::End, E::Begin, E::Head, E::End}));
  EXPECT_EQ(ok.events[1].bytes.size(), kLimit);
  auto big = runAllSplits(MessageKind::Request, tooBig + next, {}, true, 997);
  ASSERT_EQ(types(big), (std::vector<Ev>{E::Begin, E::Pass}));
  EXPECT_EQ(big.events[1].bytes, tooBig + next);
  EXPECT_EQ(big.stats.parseErrors, 1u);
  // Far past the limit, without an end: the head is cut at the limit, never buffered beyond.
  auto huge =
      run(MessageKind::Request, "GET / HTTP/1.1\r\nX: " + std::string(300000, 'b'), {100000, 200000}, {}, false);
  ASSERT_EQ(types(huge), (std::vector<Ev>{E::Begin, E::Pass}));
}

TEST(HttpFramer, OversizeTrailersBecomePassthrough) {
  constexpr size_t kLimit = 80 * 1024 - 1;
  std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n";
  auto trailersOfSize = [](size_t total) {
    std::string start = "T: ";
    std::string end = "\r\n\r\n";
    return start + std::string(total - start.size() - end.size(), 't') + end;
  };
  auto ok = runAllSplits(MessageKind::Request, head + trailersOfSize(kLimit), {}, true, 1499);
  ASSERT_EQ(types(ok), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::End}));
  std::string big = trailersOfSize(kLimit + 1);
  auto bad = runAllSplits(MessageKind::Request, head + big, {}, true, 1499);
  ASSERT_EQ(types(bad), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::Pass}));
  // The cut is at the same byte for every split. A trailer section is held until it ends (header
  // rules apply to its fields), so an oversize one leaves whole as passthrough, never half as body.
  EXPECT_EQ(bad.events[3].bytes, big);
  EXPECT_EQ(bad.events[2].bytes, "1\r\nx\r\n0\r\n");
}

namespace {
// --- decoded body content, the not-HTTP announcement, the shared head budget ----------------------

std::vector<NotHttp> reasons(std::initializer_list<NotHttp> r) {
  return r;
}

struct Collect : FramerListener {
  std::string all;
  std::vector<NotHttp> notHttp;
  void onHead(const MessageHead &, std::span<const uint8_t> raw) override { all.append(raw.begin(), raw.end()); }
  void onBody(std::span<const uint8_t> raw) override { all.append(raw.begin(), raw.end()); }
  void onMessageEnd() override {}
  void onPassthrough(std::span<const uint8_t> raw) override { all.append(raw.begin(), raw.end()); }
  void onNotHttp(NotHttp reason) override { notHttp.push_back(reason); }
};

std::span<const uint8_t> span(const std::string &s) {
  return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}
} // namespace

TEST(HttpFramer, MalformedTrailersBecomePassthroughWhole) {
  // Found by the fuzzer: a trailer line without a colon. The bytes before the bad one were held
  // (whole feed: still in the parser's buffer), so they went out as body in one split and as
  // passthrough in another, and after the held part in stream order was broken.
  std::string head = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n";
  auto r = runAllSplits(MessageKind::Response, head + "1\r\nx\r\n0\r\nT 1\r\n\r\n", {"POST"}, true);
  ASSERT_EQ(types(r), (std::vector<Ev>{E::Begin, E::Head, E::Body, E::Pass}));
  EXPECT_EQ(r.events[2].bytes, "1\r\nx\r\n0\r\n");
  EXPECT_EQ(r.events[3].bytes, "T 1\r\n\r\n");
  EXPECT_EQ(r.notHttp, reasons({NotHttp::ParseError}));
}

TEST(HttpFramer, BodyContentIsDecoded) {
  auto cl =
      runAllSplits(MessageKind::Request, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(cl.content, "hello||");
  auto chunked = runAllSplits(MessageKind::Response,
                              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3;ext=1\r\n{\"a\r\n5\r\n\":1}\n\r\n0\r\nT: x\r\n\r\n",
                              {"GET"});
  EXPECT_EQ(chunked.content, "{\"a\":1}\n|");
  auto close = runAllSplits(MessageKind::Response, "HTTP/1.0 200 OK\r\n\r\nuntil the end", {"GET"});
  EXPECT_EQ(close.content, "until the end|");
  auto head = runAllSplits(MessageKind::Response, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", {"HEAD"});
  EXPECT_EQ(head.content, "|");
}

TEST(HttpFramer, NotHttpIsAnnouncedOnceWithItsReason) {
  EXPECT_EQ(runAllSplits(MessageKind::Request, "\x16\x03binary").notHttp, reasons({NotHttp::ParseError}));
  EXPECT_EQ(runAllSplits(MessageKind::Request, "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n").notHttp, reasons({}));
  // CR/LF between messages pass through without an announcement.
  EXPECT_EQ(runAllSplits(MessageKind::Request, "\r\nGET / HTTP/1.1\r\n\r\n\r\n").notHttp, reasons({}));
  auto up = runAllSplits(MessageKind::Request, "GET / HTTP/1.1\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\nframes");
  EXPECT_EQ(up.notHttp, reasons({NotHttp::Upgrade}));
  auto chunk = runAllSplits(MessageKind::Request,
                            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /next HTTP/1.1\r\n\r\n");
  EXPECT_EQ(chunk.notHttp, reasons({NotHttp::ParseError}));
  EXPECT_TRUE(chunk.passthrough);
  auto cut = runAllSplits(MessageKind::Request, "GET / HTTP/1.1\r\nAuthoriz");
  EXPECT_EQ(cut.notHttp, reasons({NotHttp::Truncated}));
  // Not finished: nothing announced, the partial head is still held.
  auto held = run(MessageKind::Request, "GET / HTTP/1.1\r\nAuthoriz", {}, {}, false);
  EXPECT_TRUE(held.notHttp.empty());
}

TEST(HttpFramer, HeadBudgetIsSharedAndGivenBack) {
  HeadBudget budget(64);
  Collect a, b;
  {
    MessageFramer fa(MessageKind::Request, a, &budget), fb(MessageKind::Request, b, &budget);
    // A head that is complete within one feed is never held: no charge.
    fa.feed(span("GET /whole HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_EQ(budget.used(), 0u);
    // Partial heads are held and charged.
    fa.feed(span("GET /a HTTP/1.1\r\nX: 0123456789"));
    EXPECT_EQ(budget.used(), 30u);
    fb.feed(span("GET /b HTTP/1.1\r\nX: 01234567890123456789"));
    EXPECT_EQ(budget.used(), 30u) << "the second head did not fit: it is not held";
    EXPECT_EQ(b.notHttp, reasons({NotHttp::HeadBudget}));
    EXPECT_TRUE(fb.passthrough());
    EXPECT_EQ(fb.stats().overBudget, 1u);
    EXPECT_EQ(fb.stats().parseErrors, 0u);
    EXPECT_EQ(b.all, "GET /b HTTP/1.1\r\nX: 01234567890123456789"); // handed out unframed, nothing lost
    fa.feed(span("\r\n\r\n"));
    EXPECT_EQ(budget.used(), 0u) << "a head handed out gives its bytes back";
    fa.feed(span("GET /c HTTP/1.1\r\n"));
    EXPECT_EQ(budget.used(), 17u);
  }
  EXPECT_EQ(budget.used(), 0u) << "a framer that goes away gives its bytes back";
}

// Header names compare case-insensitively in ASCII only: letters fold, other bytes (the ones a
// blind `| 0x20` would fold: '@' and '`', '[' and '{') and bytes past ASCII do not.
TEST(HttpMessage, HeaderNamesCompareIgnoringAsciiCaseOnly) {
  using shadowtap::http::equalsIgnoreCase;
  EXPECT_TRUE(equalsIgnoreCase("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(equalsIgnoreCase("", ""));
  EXPECT_FALSE(equalsIgnoreCase("Host", "Hos"));
  EXPECT_FALSE(equalsIgnoreCase("a@b", "a`b"));
  EXPECT_FALSE(equalsIgnoreCase("x[", "x{"));
  EXPECT_FALSE(equalsIgnoreCase("\xC3\x89", "\xC3\xA9")); // É, é: not folded
}
