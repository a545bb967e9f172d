// SPDX-License-Identifier: Apache-2.0
// Ring output (XDP mode): xdp_ingress and tc_egress_ring copy mirrored frames into st_ring with an
// st_pkt_meta header. Records are read back the way the agent reads them (RingReader).
// Frames larger than a page reach xdp_ingress as multi-buffer XDP (test_run puts the first 3520
// bytes in the linear part and the rest in fragments): the copy must still be the whole frame, up
// to ST_MAX_SNAPLEN; a copy cut shorter (by --snaplen or that limit) is flagged and counted.
#include "netns_environment.h"
#include "test_packets.h"
#include "test_tap.h"

#include "bpf/counter_names.h"

#include <ctime>
#include <optional>
#include <gtest/gtest.h>

namespace shadowtap::test {
namespace {

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// A mirrored packet of the test connection, `frameLen` bytes long in all (payload bytes vary, so a
// misplaced fragment shows). frameLen 0: no payload.
Bytes framePacket(Hook hook, bool v6, size_t frameLen, TcpShape *shapeOut = nullptr) {
  TcpShape shape;
  shape.v6 = v6;
  size_t headers = tcpPacket(shape, isEgress(hook)).build().size();
  shape.payload = frameLen > headers ? frameLen - headers : 0;
  Bytes packet = tcpPacket(shape, isEgress(hook)).build();
  for (size_t i = headers; i < packet.size(); i++)
    packet[i] = static_cast<uint8_t>(i * 7 + (i >> 8));
  if (shapeOut)
    *shapeOut = shape;
  return packet;
}

// Sends one mirrored frame through `hook` and checks the one record it leaves. Returns the bytes
// the record took in the ring.
uint64_t expectRecord(TestTap &tap, Hook hook, const Bytes &packet, const TcpShape &shape) {
  SCOPED_TRACE(hookName(hook) + (shape.v6 ? " ipv6" : " ipv4") + " frame " + std::to_string(packet.size()) +
               " snaplen " + std::to_string(tap.snaplen()));
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  uint32_t client[4], server[4];
  shapeAddrs(shape, client, server);
  const size_t capLen = std::min<size_t>({packet.size(), tap.snaplen(), ST_MAX_SNAPLEN});
  const bool cut = capLen < packet.size();

  uint64_t start = monotonicNs();
  uint64_t ringBefore = tap.ringProducerPos();
  auto before = tap.counters();
  RunResult result = tap.run(hook, packet);
  auto delta = counterDelta(before, tap.counters());
  uint64_t used = tap.ringProducerPos() - ringBefore;
  EXPECT_EQ(result.err, 0);
  if (result.err)
    return 0;
  EXPECT_EQ(result.retval, passVerdict(hook));
  EXPECT_EQ(result.out, packet) << "the program changed the packet";
  std::vector<uint32_t> events = {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED};
  if (cut)
    events.push_back(ST_C_RING_TRUNCATED);
  EXPECT_EQ(checkOnePacket(delta, ST_C_RING_SENT, events), "");

  auto records = tap.drainRing();
  EXPECT_EQ(records.size(), 1u);
  if (records.size() != 1)
    return used;
  const st_pkt_meta &meta = records[0].meta;
  EXPECT_EQ(meta.flow_hash, st_flow_hash(client, shape.clientPort, server, shape.servicePort, kTestSeed));
  EXPECT_EQ(meta.pkt_len, packet.size());
  EXPECT_EQ(meta.cap_len, capLen);
  EXPECT_EQ(meta.direction, isEgress(hook) ? ST_DIR_EGRESS : ST_DIR_INGRESS);
  EXPECT_EQ(meta.flags & ST_PKT_TRUNCATED, cut ? ST_PKT_TRUNCATED : 0) << "truncated flag";
  // XDP sees no checksum state; test_run's skbs are CHECKSUM_NONE: neither is vouched for.
  EXPECT_EQ(meta.flags & ST_PKT_CSUM_TRUSTED, 0) << "checksum flag";
  EXPECT_EQ(meta.flags & ~(ST_PKT_TRUNCATED | ST_PKT_CSUM_TRUSTED), 0) << "unknown flags";
  EXPECT_EQ(meta.ifindex, static_cast<uint32_t>(loopbackIfindex())) << "test_run runs on lo";
  EXPECT_GE(meta.ts_ns, start);
  EXPECT_LE(meta.ts_ns, monotonicNs());
  for (uint8_t pad : meta._pad)
    EXPECT_EQ(pad, 0) << "st_pkt_meta padding leaks stale bytes";
  EXPECT_TRUE(records[0].frame == Bytes(packet.begin(), packet.begin() + static_cast<long>(capLen)))
      << "the copy is not the frame's first " << capLen << " bytes";
  return used;
}

void expectRecord(TestTap &tap, Hook hook, size_t payload, bool v6) {
  TcpShape shape;
  shape.v6 = v6;
  shape.payload = payload;
  expectRecord(tap, hook, tcpPacket(shape, isEgress(hook)).build(), shape);
}

TEST(Ring, FullFramesAtDefaultSnaplen) {
  for (Hook hook : {Hook::XdpIngress, Hook::TcEgress})
    for (bool v6 : {false, true})
      for (size_t payload : {0, 100, 1400})
        expectRecord(xdpTap(), hook, payload, v6);
}

TEST(Ring, SmallSnaplenCutsTheCopyNotThePacketAndSaysSo) {
  static TestTap small(Mode::Xdp, 64);
  for (Hook hook : {Hook::XdpIngress, Hook::TcEgress})
    for (bool v6 : {false, true})
      for (size_t payload : {0, 10, 200, 1400})
        expectRecord(small, hook, payload, v6);
  // Exactly snaplen: the whole frame, nothing more, not flagged.
  expectRecord(small, Hook::XdpIngress, 64 - 54, false);
}

// Multi-buffer XDP: frames beyond the linear part (3520 bytes in test_run) up to a 64 KiB GSO frame
// (IPv4 total length 65535; IPv6 payload length 65535) come out whole.
TEST(Ring, XdpFragsFramesAreCopiedWhole) {
  for (bool v6 : {false, true}) {
    for (size_t len : {511, 512, 513, 3520, 3521, 4096, 5000, 9014, 16384, 16385, 40000, 49152, 49153, 60000}) {
      TcpShape shape;
      Bytes packet = framePacket(Hook::XdpIngress, v6, len, &shape);
      expectRecord(xdpTap(), Hook::XdpIngress, packet, shape);
    }
    TcpShape shape;
    Bytes largest = framePacket(Hook::XdpIngress, v6, v6 ? 14 + 40 + 65535 : 14 + 65535, &shape);
    ASSERT_LE(largest.size(), ST_MAX_SNAPLEN);
    expectRecord(xdpTap(), Hook::XdpIngress, largest, shape);
  }
}

// Nothing needs the responses' bytes (ST_RT_RESPONSE_HEADERS_ONLY: no HTTP service): the ring copy
// keeps a response up to the end of its TCP header, as the capture socket's filter does in TC mode
// (Overlay.CaptureSnapKeepsResponsesUpToTheirTcpHeaderWhenAsked); requests whole; not a truncation
// (neither flagged nor counted). Flag off: responses whole. A packet whose both ports are service
// ports is not known to be a response: whole.
TEST(Ring, ResponsesAreCopiedUpToTheirTcpHeaderWhenAsked) {
  TestTap &tap = xdpTap();
  auto runOn = [](TestTap &tap, Hook hook, const Bytes &packet, bool headersOnly) -> std::optional<RingRecord> {
    auto runtime = tap.maps().runtime();
    runtime.flags = headersOnly ? ST_RT_RESPONSE_HEADERS_ONLY : 0;
    tap.maps().setRuntime(runtime);
    auto before = tap.counters();
    RunResult result = tap.run(hook, packet);
    EXPECT_EQ(result.err, 0);
    EXPECT_EQ(result.out, packet) << "the program changed the packet";
    auto delta = counterDelta(before, tap.counters());
    EXPECT_EQ(delta[ST_C_RING_SENT], 1u);
    EXPECT_EQ(delta[ST_C_RING_TRUNCATED], 0u);
    auto records = tap.drainRing();
    EXPECT_EQ(records.size(), 1u);
    if (records.size() != 1)
      return std::nullopt;
    EXPECT_EQ(records[0].meta.pkt_len, packet.size());
    EXPECT_EQ(records[0].meta.flags & ST_PKT_TRUNCATED, 0) << "a headers-only copy is not a truncation";
    return records[0];
  };
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "ipv6" : "ipv4");
    TcpShape shape;
    shape.v6 = v6;
    shape.payload = 1000;
    Bytes response = tcpPacket(shape, true).build(), request = tcpPacket(shape, false).build();
    const size_t headers = response.size() - 1000;
    for (bool headersOnly : {true, false}) {
      SCOPED_TRACE(headersOnly ? "headers only" : "whole");
      tap.reset();
      tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
      if (auto record = runOn(tap, Hook::XdpIngress, request, headersOnly)) {
        EXPECT_EQ(record->frame, request);
      }
      if (auto record = runOn(tap, Hook::TcEgress, response, headersOnly)) {
        EXPECT_EQ(record->meta.cap_len, headersOnly ? headers : response.size());
        EXPECT_TRUE(record->frame == Bytes(response.begin(), response.begin() + static_cast<long>(record->meta.cap_len)));
      }
    }
  }
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  tap.setRule(kServicePort + 1, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  TcpShape both;
  both.clientPort = kServicePort + 1;
  both.payload = 10;
  Bytes packet = tcpPacket(both, true).build();
  if (auto record = runOn(tap, Hook::TcEgress, packet, true)) {
    EXPECT_EQ(record->frame, packet);
  }
  tap.reset();
  // A snap length longer than the headers: the cut is still the headers, and still not a truncation.
  static TestTap small(Mode::Xdp, 64);
  small.reset();
  small.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  TcpShape shape;
  shape.payload = 1000;
  Bytes response = tcpPacket(shape, true).build();
  if (auto record = runOn(small, Hook::TcEgress, response, true)) {
    EXPECT_EQ(record->meta.cap_len, response.size() - 1000);
  }
  small.reset();
}

// A frame longer than the largest copy (trailing bytes past a 64 KiB IP packet, as a BIG TCP
// frame would have) is cut at exactly ST_MAX_SNAPLEN, flagged and counted; the packet passes whole.
TEST(Ring, XdpFramesBeyondTheLargestCopyAreCutAndFlagged) {
  TcpShape shape;
  Bytes packet = framePacket(Hook::XdpIngress, false, 14 + 65535, &shape);
  packet.resize(ST_MAX_SNAPLEN + 4000, 0x5a);
  expectRecord(xdpTap(), Hook::XdpIngress, packet, shape);
}

// What a record costs the ring (8-byte ring header + 32-byte st_pkt_meta + data, 8-aligned): a
// frame of up to 512 bytes is written at its exact size; a larger one takes its size class
// (1024, 1536, 2048, 4096, 8192, 9216, 16384, 32768, 49152, ST_MAX_SNAPLEN), never the largest.
TEST(Ring, RecordsTakeTheirSizeNotTheLargestSlot) {
  auto exact = [](uint64_t frame) { return (8 + 32 + frame + 7) / 8 * 8; };
  struct Case {
    size_t frame;
    uint64_t ringBytes;
  };
  const Case cases[] = {{54, exact(54)},
                        {66, exact(66)},
                        {129, exact(129)},
                        {512, exact(512)},
                        {513, 8 + 32 + 1024},
                        {1514, 8 + 32 + 1536},
                        {1536, 8 + 32 + 1536},
                        {3000, 8 + 32 + 4096},
                        {9014, 8 + 32 + 9216},
                        {16384, 8 + 32 + 16384},
                        {30000, 8 + 32 + 32768},
                        {40000, 8 + 32 + 49152},
                        {60000, 8 + 32 + ST_MAX_SNAPLEN}};
  for (const Case &c : cases) {
    TcpShape shape;
    Bytes packet = framePacket(Hook::XdpIngress, false, c.frame, &shape);
    ASSERT_EQ(packet.size(), c.frame);
    EXPECT_EQ(expectRecord(xdpTap(), Hook::XdpIngress, packet, shape), c.ringBytes) << "frame " << c.frame;
  }
  // The copy programs' ring path in tc egress: same sizes (test_run limits skbs to a page).
  for (size_t frame : {66, 512, 513, 1514, 3000}) {
    TcpShape shape;
    Bytes packet = framePacket(Hook::TcEgress, false, frame, &shape);
    uint64_t want = frame <= 512 ? exact(frame) : 8 + 32 + (frame <= 1024 ? 1024 : frame <= 1536 ? 1536 : 4096);
    EXPECT_EQ(expectRecord(xdpTap(), Hook::TcEgress, packet, shape), want) << "tc egress frame " << frame;
  }
}

TEST(Ring, NothingIsWrittenForPacketsThatAreNotMirrored) {
  TestTap &tap = xdpTap();
  tap.reset();
  tap.setRule(kServicePort, 0, static_cast<uint32_t>(mirrorIfindex()));
  for (Hook hook : {Hook::XdpIngress, Hook::TcEgress}) {
    auto before = tap.counters();
    tap.run(hook, tcpPacket({}, isEgress(hook)).build());
    tap.run(hook, PacketBuilder().eth().arp().build());
    auto delta = counterDelta(before, tap.counters());
    EXPECT_EQ(delta[ST_C_NOT_SAMPLED], 1u);
    EXPECT_EQ(delta[ST_C_NOT_IP], 1u);
    EXPECT_EQ(delta[ST_C_RING_SENT], 0u);
    EXPECT_TRUE(tap.drainRing().empty());
  }
}

TEST(Ring, RecordsKeepTheirOrder) {
  TestTap &tap = xdpTap();
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  std::vector<Bytes> sent;
  for (int i = 0; i < 50; i++) {
    TcpShape shape;
    shape.clientPort = static_cast<uint16_t>(30000 + i);
    shape.payload = static_cast<size_t>(i * 97 % 3400); // across several size classes (TC test_run: < a page)
    Hook hook = i % 2 ? Hook::TcEgress : Hook::XdpIngress;
    sent.push_back(tcpPacket(shape, isEgress(hook)).build());
    ASSERT_EQ(tap.run(hook, sent.back()).err, 0);
  }
  auto records = tap.drainRing();
  ASSERT_EQ(records.size(), sent.size());
  for (size_t i = 0; i < sent.size(); i++) {
    EXPECT_EQ(records[i].frame, sent[i]) << i;
    EXPECT_EQ(records[i].meta.direction, i % 2 ? ST_DIR_EGRESS : ST_DIR_INGRESS) << i;
  }
}

// Under load the agent reads the ring a bounded amount per loop turn (so /healthz and the overload
// checks get their turn) and sees how full it is: admission control and the in-flight shedder act
// on that fill, as on the packet ring's in TC mode. Records left for the next turn stay in order.
TEST(Ring, ReaderSeesTheFillAndReadsABoundedAmountPerTurn) {
  TestTap &tap = xdpTap();
  tap.reset();
  tap.setRule(kServicePort, ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()));
  struct Restore {
    TestTap &tap;
    ~Restore() { tap.drainAfterRun = true; }
  } restore{tap};
  tap.drainAfterRun = false;
  ASSERT_EQ(tap.ring().occupancy(), 0.0);
  uint64_t before = tap.ringProducerPos();
  std::vector<Bytes> sent;
  for (int i = 0; i < 40; i++) {
    TcpShape shape;
    shape.clientPort = static_cast<uint16_t>(31000 + i);
    shape.payload = 3000;
    sent.push_back(tcpPacket(shape, false).build());
    ASSERT_EQ(tap.run(Hook::XdpIngress, sent.back()).err, 0);
  }
  double written = static_cast<double>(tap.ringProducerPos() - before);
  EXPECT_DOUBLE_EQ(tap.ring().occupancy(), written / ST_RING_BYTES);

  EXPECT_TRUE(tap.ring().drain(static_cast<size_t>(written / 4))) << "a bounded turn leaves the rest waiting";
  double left = tap.ring().occupancy();
  EXPECT_GT(left, 0.0);
  EXPECT_LE(left, 0.8 * written / ST_RING_BYTES);
  EXPECT_FALSE(tap.ring().drain()) << "an unbounded one empties the ring";
  EXPECT_EQ(tap.ring().occupancy(), 0.0);

  auto records = tap.drainRing();
  ASSERT_EQ(records.size(), sent.size());
  for (size_t i = 0; i < sent.size(); i++)
    EXPECT_EQ(records[i].frame, sent[i]) << i;
}

} // namespace
} // namespace shadowtap::test
