// SPDX-License-Identifier: Apache-2.0
// Measured, not assumed: a flood of 1-byte out-of-order segments over many flows keeps the heap
// within the configured reassembly bound (issue: 1-byte segments used to cost hundreds of MiB
// against a 4 MiB per-direction cap, because only payload bytes were counted).
#include "flow/flow_table.h"
#include "flow_test_support.h"

#include <gtest/gtest.h>
#include <malloc.h>

using namespace shadowtap;
using namespace shadowtap::flow;

namespace {

struct NullSink : FlowSink {
  void onFlowStart(FlowId, const FlowInfo &) override {}
  void onClientData(FlowId, std::span<const uint8_t>) override {}
  void onClientFin(FlowId) override {}
  void onFlowEnd(FlowId, FlowEnd) override {}
};

size_t heapInUse() { return mallinfo2().uordblks; }

TcpPacket packet(uint16_t port, bool fromClient, uint32_t seq, std::span<const uint8_t> payload, bool syn,
                 bool ack) {
  return test::connSegment(port, fromClient, seq, fromClient ? 0 : 1001, payload, syn, ack);
}

} // namespace

TEST(ReassemblyMemory, OneByteOutOfOrderFloodStaysWithinTheBound) {
  NullSink sink;
  FlowLimits limits;
  limits.maxBufferedPerDirection = 1u << 20;
  limits.maxBufferedTotal = 8u << 20;
  FlowTable table(limits, sink);
  size_t before = heapInUse();
  uint8_t byte = 'x';
  uint64_t now = 1;
  for (uint16_t flow = 0; flow < 64; flow++) {
    uint16_t port = static_cast<uint16_t>(10000 + flow);
    table.onPacket(packet(port, true, 1000, {}, true, false), now);
    table.onPacket(packet(port, false, 5000, {}, true, true), now);
    // Every other byte after a hole at offset 0: no two segments touch, nothing coalesces.
    for (uint32_t i = 0; i < 40000; i++)
      table.onPacket(packet(port, true, 1002 + 2 * i, {&byte, 1}, false, true), now);
  }
  size_t grown = heapInUse() - before;
  // Flows that hit the bound were broken and freed; what remains is held within the total.
  EXPECT_LE(table.bufferedBytes(), limits.maxBufferedTotal);
  // The heap really holds what was counted: the flow table's own entries plus the bound.
  EXPECT_LT(grown, limits.maxBufferedTotal + (2u << 20)) << "heap grew by " << grown;
  EXPECT_GT(table.stats().flowsBrokenOverflow, 0u);
}
