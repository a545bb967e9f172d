// SPDX-License-Identifier: Apache-2.0
#include "pipeline/connection_ledger.h"

#include <gtest/gtest.h>

namespace shadowtap::pipeline {
namespace {

using Json = nlohmann::ordered_json;

// A pipeline document as the agent writes it (only the keys the ledger reads).
Json pipelineDoc() {
  return Json::parse(R"({
    "capture": {"frames": 900, "kernel_drops": 40},
    "flows": {"started": 95, "established": 93, "never_established": 2},
    "replay": {"targets": [{"target": "10.0.0.7:80", "routed": 93, "opened": 80, "active": 3, "completed": 70,
                            "unconfirmed": 1, "aborted": 2, "shed_backlog": 0, "shed_stalled": 0,
                            "shed_no_socket": 0, "connect_failed": 0, "write_failed": 4, "shed_limit": 7,
                            "shed_backoff": 0, "skipped_empty": 2, "pending": 1, "queued": 3}]}
  })");
}

CounterValues kernelCounters(uint64_t admitted) {
  CounterValues c{};
  c[ST_C_FLOW_ADMITTED] = admitted;
  c[ST_C_CLONE_FAILED] = 3;
  return c;
}

TEST(ConnectionLedger, EveryStageAddsUpAndNamesItsReasons) {
  Json ledger = connectionLedger(kernelCounters(100), pipelineDoc());
  ASSERT_EQ(ledger.size(), 4u);
  EXPECT_EQ(ledger[0]["stage"], "followed by the agent");
  EXPECT_EQ(ledger[0]["in"], 100);
  EXPECT_EQ(ledger[0]["out"], 95);
  EXPECT_EQ(ledger[0]["unexplained"], 5); // lost in capture: known only as frames
  EXPECT_EQ(ledger[0]["frames_lost"]["kernel_drops"], 40);
  EXPECT_EQ(ledger[0]["frames_lost"]["clone_failed"], 3);
  EXPECT_EQ(ledger[1]["stage"], "established");
  EXPECT_EQ(ledger[1]["short"]["never_established"], 2);
  EXPECT_EQ(ledger[1]["unexplained"], 0);
  EXPECT_EQ(ledger[2]["stage"], "replay opened to 10.0.0.7:80");
  EXPECT_EQ(ledger[2]["in"], 93);
  EXPECT_EQ(ledger[2]["out"], 80);
  EXPECT_EQ(ledger[2]["short"]["shed_limit"], 7);
  EXPECT_EQ(ledger[2]["short"]["queued"], 3); // waiting in the replay queue: not lost, not opened yet
  EXPECT_EQ(ledger[2]["unexplained"], 0);
  EXPECT_EQ(ledger[3]["stage"], "taken whole by 10.0.0.7:80");
  EXPECT_EQ(ledger[3]["out"], 70);
  EXPECT_EQ(ledger[3]["short"]["write_failed"], 4);
  EXPECT_EQ(ledger[3]["unexplained"], 0);
}

TEST(ConnectionLedger, ACountThatDoesNotAddUpShowsAsUnexplained) {
  Json doc = pipelineDoc();
  doc["replay"]["targets"][0]["completed"] = 60; // 10 replays in no outcome at all
  doc["flows"]["never_established"] = 5;         // counted twice: more accounted than arrived
  Json ledger = connectionLedger(kernelCounters(100), doc);
  EXPECT_EQ(ledger[3]["unexplained"], 10);
  EXPECT_EQ(ledger[1]["unexplained"], -3);
}

TEST(ConnectionLedger, ConnectionsTheRingGuardGaveUpAtTheirSynAreNamed) {
  CounterValues kernel = kernelCounters(100);
  kernel[ST_C_RING_GUARD] = 4; // never reached the agent
  Json ledger = connectionLedger(kernel, pipelineDoc());
  EXPECT_EQ(ledger[0]["short"]["ring_guard"], 4);
  EXPECT_EQ(ledger[0]["unexplained"], 1); // 100 - 95 followed - 4 given up
}

TEST(ConnectionLedger, HandshakesStillInProgressAreNamed) {
  Json doc = pipelineDoc();
  doc["flows"]["started"] = 99;
  doc["flows"]["half_open"] = 4; // SYN seen, SYN-ACK not yet: neither established nor ended
  Json ledger = connectionLedger(kernelCounters(100), doc);
  EXPECT_EQ(ledger[1]["short"]["half_open"], 4);
  EXPECT_EQ(ledger[1]["unexplained"], 0); // 99 - 93 established - 2 never - 4 in progress
}

TEST(ConnectionLedger, NoPipelineNoLedger) {
  EXPECT_TRUE(connectionLedger(kernelCounters(1), Json::object()).empty());
  EXPECT_TRUE(connectionLedger(kernelCounters(1), Json()).empty());
}

} // namespace
} // namespace shadowtap::pipeline
