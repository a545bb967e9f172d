// SPDX-License-Identifier: Apache-2.0
// RequestStream: what the shadows get of a client stream, and the fail-closed contract — with
// privacy rules, nothing that was not framed and decided ever goes out; without them, what cannot
// be framed goes out raw. Every case is fed whole and byte by byte.
#include "http/request_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace shadowtap::http;

namespace {

struct Sink : RequestStreamSink {
  std::string out;                // everything forwarded
  std::vector<std::string> begun; // "METHOD target verdict"
  std::vector<uint64_t> ends;
  std::vector<StopReason> stops;
  void requestBegin(const MessageHead &head, Verdict verdict) override {
    begun.push_back(head.method + " " + head.target + " " + verdictName(verdict));
  }
  void forward(std::span<const uint8_t> bytes) override {
    EXPECT_TRUE(stops.empty()) << "forwarded after the stop";
    out.append(bytes.begin(), bytes.end());
  }
  void requestEnd(uint64_t endOffset) override { ends.push_back(endOffset); }
  void stopped(StopReason reason) override { stops.push_back(reason); }
};

std::span<const uint8_t> span(const std::string &s) {
  return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

HttpRules privacyRules() {
  HttpRules rules;
  rules.exclude.push_back(headerExclusion(parseHeaderMatch("end-user: bbo", "test")));
  rules.removeHeaders.push_back("Authorization");
  rules.hostSuffix = false;
  return rules;
}

// Feeds `input` whole (byteByByte false) or byte by byte; `finish` ends it with the client's FIN.
void feed(RequestStream &stream, const std::string &input, bool byteByByte, bool finish) {
  if (byteByByte)
    for (char c : input)
      stream.feed(span(std::string(1, c)));
  else
    stream.feed(span(input));
  if (finish)
    stream.finish();
}

// Runs `input` both ways and checks they agree; returns the whole-feed sink.
Sink runBoth(const HttpRules &rules, const std::string &input, bool finish = true, HeadBudget *budget = nullptr) {
  auto shared = std::make_shared<const HttpRules>(rules);
  Sink whole, bytes;
  RequestStream a(shared, whole, nullptr, budget);
  feed(a, input, false, finish);
  RequestStream b(shared, bytes, nullptr, budget);
  feed(b, input, true, finish);
  EXPECT_EQ(whole.out, bytes.out);
  EXPECT_EQ(whole.begun, bytes.begun);
  EXPECT_EQ(whole.ends, bytes.ends);
  EXPECT_EQ(whole.stops, bytes.stops);
  return whole;
}

const std::string kExcluded =
    "GET /mine HTTP/1.1\r\nHost: h\r\nend-user: bbo\r\nAuthorization: Bearer SECRET-1\r\n\r\n";
const std::string kNext = "GET /next HTTP/1.1\r\nHost: h\r\nend-user: bbo\r\nAuthorization: Bearer SECRET-2\r\n\r\n";
const std::string kOrdinary = "GET /ok HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer SECRET-3\r\n\r\n";

} // namespace

TEST(RequestStream, MirrorsDecidedRequestsRewritten) {
  auto s = runBoth(privacyRules(), kOrdinary + kExcluded + kOrdinary);
  EXPECT_EQ(s.out, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(s.begun, (std::vector<std::string>{"GET /ok mirror", "GET /mine excluded", "GET /ok mirror"}));
  EXPECT_EQ(s.ends, (std::vector<uint64_t>{kOrdinary.size(), kOrdinary.size() + kExcluded.size(),
                                           2 * kOrdinary.size() + kExcluded.size()}));
  EXPECT_TRUE(s.stops.empty());
}

// The bypass of issue #13: an excluded request whose chunked body does not parse used to turn the
// rest of the connection into raw passthrough — the excluded user's next request, credentials and
// all, reached the shadow.
TEST(RequestStream, MalformedBodyAfterAnExclusionStopsTheConnection) {
  std::string bad = "POST /mine HTTP/1.1\r\nHost: h\r\nend-user: bbo\r\nAuthorization: Bearer SECRET-1\r\n"
                    "Transfer-Encoding: chunked\r\n\r\nzz\r\n";
  auto s = runBoth(privacyRules(), kOrdinary + bad + kNext);
  EXPECT_EQ(s.out, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(s.stops, (std::vector<StopReason>{StopReason::ParseError}));
  EXPECT_EQ(s.out.find("SECRET"), std::string::npos);
  EXPECT_EQ(s.out.find("bbo"), std::string::npos);
}

// The same in a MIRRORED request's body: what was sent of it stays sent, nothing after the error.
TEST(RequestStream, MalformedBodyOfAMirroredRequestStopsAtTheError) {
  std::string bad = "POST /ok HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n";
  auto s = runBoth(privacyRules(), bad + kNext + kOrdinary);
  EXPECT_EQ(s.out, "POST /ok HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n");
  EXPECT_EQ(s.stops, (std::vector<StopReason>{StopReason::ParseError}));
}

// The second bypass: an excluded request asking for an Upgrade had its following bytes forwarded.
TEST(RequestStream, ExcludedUpgradeStopsTheConnectionAtItsHead) {
  std::string up = "GET /chat HTTP/1.1\r\nHost: h\r\nend-user: bbo\r\nAuthorization: Bearer SECRET-1\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  auto s = runBoth(privacyRules(), kOrdinary + up + "\x81\x05hello" + kNext);
  EXPECT_EQ(s.out, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(s.stops, (std::vector<StopReason>{StopReason::UpgradeNotMirrored}));
  // CONNECT alike.
  std::string connect = "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\nend-user: bbo\r\n\r\n";
  auto c = runBoth(privacyRules(), connect + "tunnel bytes SECRET");
  EXPECT_EQ(c.out, "");
  EXPECT_EQ(c.stops, (std::vector<StopReason>{StopReason::UpgradeNotMirrored}));
}

// A mirrored Upgrade: what follows is held until the primary answers. Switched: the tunnel goes
// out raw; refused (the client may go on in HTTP the framer no longer reads): stop.
TEST(RequestStream, MirroredUpgradeWaitsForTheServersAnswer) {
  std::string up = "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  std::string frames = "\x81\x05hello";
  for (bool switched : {true, false}) {
    Sink sink;
    RequestStream stream(std::make_shared<const HttpRules>(privacyRules()), sink, nullptr);
    stream.feed(span(kOrdinary + up + frames));
    EXPECT_EQ(stream.awaitingSwitchOf(), 2u);
    EXPECT_EQ(sink.out, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n" + up) << "the frames are held";
    stream.serverSwitched(switched);
    stream.feed(span(std::string("more")));
    if (switched) {
      EXPECT_EQ(sink.out, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n" + up + frames + "more");
      EXPECT_TRUE(sink.stops.empty());
    } else {
      EXPECT_EQ(sink.out, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n" + up);
      EXPECT_EQ(sink.stops, (std::vector<StopReason>{StopReason::UpgradeRefused}));
    }
    EXPECT_EQ(stream.awaitingSwitchOf(), 0u);
  }
  // Too much before the answer: stop, nothing of it sent.
  Sink sink;
  RequestStream stream(std::make_shared<const HttpRules>(privacyRules()), sink, nullptr);
  stream.feed(span(up + std::string(RequestStream::kMaxHeldTunnelBytes + 1, 'x')));
  EXPECT_EQ(sink.out, up);
  EXPECT_EQ(sink.stops, (std::vector<StopReason>{StopReason::TunnelHeld}));
  stream.serverSwitched(true);
  EXPECT_EQ(sink.out, up);
}

TEST(RequestStream, StreamEndingInsideAHeadSendsNothingOfIt) {
  auto s = runBoth(privacyRules(), kOrdinary + "GET /mine HTTP/1.1\r\nend-user: bbo\r\nAuthoriz");
  EXPECT_EQ(s.out, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(s.stops, (std::vector<StopReason>{StopReason::Truncated}));
}

TEST(RequestStream, NotHttpWithRulesIsNotSent) {
  auto s = runBoth(privacyRules(), "SSH-2.0-OpenSSH_9.2\r\nsecret");
  EXPECT_EQ(s.out, "");
  EXPECT_EQ(s.stops, (std::vector<StopReason>{StopReason::ParseError}));
}

// Without privacy rules (only the Host suffix or a percentage: nothing hidden) the raw fall-back
// stays: a non-HTTP protocol on an HTTP port, or a tunnel, is replayed byte for byte.
TEST(RequestStream, WithoutPrivacyRulesWhatCannotBeFramedGoesRaw) {
  HttpRules plain;
  EXPECT_FALSE(plain.privacy()) << "the Host suffix hides nothing";
  plain.hostSuffix = false; // to compare bytes
  std::string ssh = "SSH-2.0-OpenSSH_9.2\r\n\x01\x02\x03";
  auto s = runBoth(plain, ssh);
  EXPECT_EQ(s.out, ssh);
  EXPECT_TRUE(s.stops.empty());
  std::string up = "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  auto t = runBoth(plain, up + "\x81\x05hello");
  EXPECT_EQ(t.out, up + "\x81\x05hello") << "no wait for the switch either";
  std::string bad = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
  auto b = runBoth(plain, bad + kNext);
  EXPECT_EQ(b.out, bad + kNext);
}

TEST(RequestStream, PrivacyRulesAreExclusionsMatchesAndHeaderRules) {
  HttpRules r;
  r.requestRatePpm = 10;
  r.hostSuffix = true;
  EXPECT_FALSE(r.privacy());
  HttpRules withMatch;
  withMatch.match.push_back(headerExclusion(parseHeaderMatch("x: y", "t")));
  EXPECT_TRUE(withMatch.privacy());
  HttpRules withSet;
  withSet.setHeaders.push_back({"x-shadow", "1"});
  EXPECT_TRUE(withSet.privacy());
  HttpRules withRemove;
  withRemove.removeHeaders.push_back("Cookie");
  EXPECT_TRUE(withRemove.privacy());
  EXPECT_TRUE(privacyRules().privacy());
}

TEST(RequestStream, HeadBudgetFailsClosedWithRulesAndRawWithout) {
  std::string head = "GET /big HTTP/1.1\r\nHost: h\r\nX: " + std::string(100, 'a') + "\r\n\r\n";
  for (bool rules : {true, false}) {
    HeadBudget budget(64);
    Sink sink;
    RequestStream stream(std::make_shared<const HttpRules>(rules ? privacyRules() : HttpRules{}), sink, nullptr,
                         &budget);
    for (char c : head) // arrives in pieces: held, so charged
      stream.feed(span(std::string(1, c)));
    if (rules) {
      EXPECT_EQ(sink.out, "");
      EXPECT_EQ(sink.stops, (std::vector<StopReason>{StopReason::HeadBudget}));
    } else {
      EXPECT_EQ(sink.out, head);
      EXPECT_TRUE(sink.stops.empty());
    }
    EXPECT_EQ(stream.framerStats().overBudget, 1u);
    EXPECT_EQ(budget.used(), 0u);
  }
}

TEST(RequestStream, LineEndsBetweenRequestsStillGoOut) {
  auto s = runBoth(privacyRules(), "\r\n" + kOrdinary + "\r\n" + kOrdinary);
  EXPECT_EQ(s.out, "\r\nGET /ok HTTP/1.1\r\nHost: h\r\n\r\n\r\nGET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(s.stops.empty());
}

TEST(RequestStream, PerRequestPercentageUsesTheDraw) {
  HttpRules rules;
  rules.requestRatePpm = 500'000;
  Sink sink;
  uint32_t next = 0;
  RequestStream stream(std::make_shared<const HttpRules>(rules), sink, [&] { return (next++ % 2) * 600'000; });
  stream.feed(span(kOrdinary + kOrdinary));
  EXPECT_EQ(sink.begun, (std::vector<std::string>{"GET /ok mirror", "GET /ok sampled_out"}));
}

// Header rules reach into a chunked request's trailers: a removed (or set) header does not come
// back there; other trailer fields, the chunks and the next request go on byte for byte. Without
// header rules the trailer section goes out as it came.
TEST(RequestStream, RemovedHeadersAreRemovedFromTrailersToo) {
  std::string chunked = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3\r\nabc\r\n0\r\n";
  std::string trailers = "Authorization: Bearer SECRET-T\r\nX-Checksum: 42\r\n"
                         "authorization :Bearer SECRET-U\r\n\tfolded SECRET-V\r\nX-Set: from-client\r\n\r\n";
  HttpRules rules = privacyRules();
  rules.setHeaders.push_back({"X-Set", "by-rule"});
  auto s = runBoth(rules, chunked + trailers + kOrdinary);
  EXPECT_EQ(s.out, "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Set: by-rule\r\n\r\n"
                   "3\r\nabc\r\n0\r\nX-Checksum: 42\r\n\r\n"
                   "GET /ok HTTP/1.1\r\nHost: h\r\nX-Set: by-rule\r\n\r\n");
  EXPECT_EQ(s.out.find("SECRET"), std::string::npos);
  EXPECT_TRUE(s.stops.empty());
  ASSERT_EQ(s.ends.size(), 2u);
  EXPECT_EQ(s.ends[0], chunked.size() + trailers.size()); // positions count the input, not the output

  HttpRules none;
  none.hostSuffix = false;
  auto raw = runBoth(none, chunked + trailers);
  EXPECT_EQ(raw.out, chunked + trailers);
}

// A stream that ends inside a trailer section: with rules nothing of the section goes out (the
// connection cannot be framed any more); without rules it goes out raw.
TEST(RequestStream, StreamEndingInsideTrailersFailsClosedWithRules) {
  std::string cut = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nAuthorization: Bearer SECRET-T\r\n";
  auto s = runBoth(privacyRules(), cut);
  EXPECT_EQ(s.out.find("SECRET"), std::string::npos);
  HttpRules none;
  none.hostSuffix = false;
  EXPECT_EQ(runBoth(none, cut).out, cut);
}
