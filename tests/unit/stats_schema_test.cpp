// SPDX-License-Identifier: Apache-2.0
// The stats field tables (generated from agent/stats/stats_schema.toml) are the one description of
// every counter: their JSON is the contract `status --json`, the stats file and the e2e tests read,
// so the keys and their order are pinned here; names are unique snake_case; workers' snapshots add
// up field by field.
#include "pipeline/pipeline_stats.h"
#include "runtime/agent_stats.h"

#include <gtest/gtest.h>
#include <regex>
#include <set>

using namespace shadowtap;

namespace {

std::vector<std::string> keys(const nlohmann::ordered_json &object) {
  std::vector<std::string> out;
  for (const auto &[key, value] : object.items())
    out.push_back(key);
  return out;
}

template <class Stats> void expectWellNamed(stats::Fields<Stats> fields) {
  std::set<std::string> names;
  for (const auto &field : fields) {
    EXPECT_TRUE(std::regex_match(field.name, std::regex("[a-z][a-z0-9_]*"))) << field.name;
    EXPECT_TRUE(names.insert(field.name).second) << field.name << " twice";
    EXPECT_GT(std::string(field.help).size(), 10u) << field.name;
  }
}

} // namespace

TEST(StatsSchema, JsonKeysAreTheStatusContract) {
  PipelineStats s;
  s.targets.emplace_back("10.0.0.7:80", replay::TargetStats{});
  auto json = toJson(s);
  using V = std::vector<std::string>;
  EXPECT_EQ(keys(json), (V{"capture", "flows", "replay", "http"}));
  EXPECT_EQ(keys(json["capture"]),
            (V{"frames", "bytes", "kernel_drops", "ring_guard_shed", "not_tcp", "malformed", "bad_checksum", "truncated", "response_headers_only"}));
  EXPECT_EQ(keys(json["flows"]),
            (V{"packets", "started", "established", "never_established", "active", "half_open", "completed", "reset",
               "server_reset", "broken", "broken_overflow", "broken_truncated", "broken_capture_loss", "evicted",
               "idle_timeout", "shutdown", "shed_inflight", "midstream_skipped", "unacked", "rst_ignored", "out_of_window_segments",
               "server_streams_lost", "server_segments_held", "client_bytes", "server_bytes", "buffered_bytes"}));
  EXPECT_EQ(keys(json["replay"]), (V{"backlog_bytes", "unpooled_bytes", "buffer_bytes", "targets"}));
  EXPECT_EQ(keys(json["replay"]["targets"][0]),
            (V{"target", "routed", "opened", "active", "completed", "unconfirmed", "aborted", "shed_backlog", "shed_stalled",
               "shed_no_socket", "shed_backoff", "shed_limit", "skipped_empty", "pending", "queued", "connecting", "concurrency_limit", "connect_failed",
               "write_failed", "write_stalls", "bytes_out", "bytes_in", "pooled", "pool_opened", "pool_requests", "pool_shed"}));
  EXPECT_EQ(json["replay"]["targets"][0]["target"], "10.0.0.7:80");
  EXPECT_EQ(keys(json["http"]), (V{"flows",
                                   "active",
                                   "not_http",
                                   "parse_errors",
                                   "upgrades",
                                   "requests",
                                   "mirrored",
                                   "excluded",
                                   "not_matched",
                                   "sampled_out",
                                   "rewritten",
                                   "primary_responses",
                                   "primary_unpaired",
                                   "primary_unanswered",
                                   "shadow_responses",
                                   "shadow_no_response",
                                   "shadow_unpaired",
                                   "comparisons_abandoned",
                                   "privacy_stopped",
                                   "head_budget_exceeded",
                                   "head_buffer_bytes",
                                   "body_buffer_bytes",
                                   "bodies_over_budget"}));
}

TEST(StatsSchema, NamesAreUniqueSnakeCaseWithHelp) {
  expectWellNamed<CaptureStats>(kCaptureStatsFields);
  expectWellNamed<flow::FlowStats>(flow::kFlowStatsFields);
  expectWellNamed<replay::TargetStats>(replay::kTargetStatsFields);
  expectWellNamed<replay::ReplayStats>(replay::kReplayStatsFields);
  expectWellNamed<HttpStats>(kHttpStatsFields);
  expectWellNamed<ConfigStats>(kConfigStatsFields);
}

TEST(StatsSchema, EveryMemberIsDescribedOnce) {
  // A struct of uint64_t members only: its size says how many fields the table must have.
  EXPECT_EQ(std::size(kCaptureStatsFields) * sizeof(uint64_t), sizeof(CaptureStats));
  EXPECT_EQ(std::size(flow::kFlowStatsFields) * sizeof(uint64_t), sizeof(flow::FlowStats));
  EXPECT_EQ(std::size(replay::kTargetStatsFields) * sizeof(uint64_t), sizeof(replay::TargetStats));
  EXPECT_EQ(std::size(replay::kReplayStatsFields) * sizeof(uint64_t), sizeof(replay::ReplayStats));
  EXPECT_EQ(std::size(kHttpStatsFields) * sizeof(uint64_t), sizeof(HttpStats));
  EXPECT_EQ(std::size(kConfigStatsFields) * sizeof(uint64_t), sizeof(ConfigStats));
}

TEST(StatsSchema, SnapshotsAddUpFieldByField) {
  flow::FlowStats a, b;
  a.flowsStarted = 3;
  a.active = 2;
  b.flowsStarted = 4;
  b.active = 1;
  b.clientBytes = 10;
  stats::accumulate<flow::FlowStats>(a, b, flow::kFlowStatsFields);
  EXPECT_EQ(a.flowsStarted, 7u);
  EXPECT_EQ(a.active, 3u);
  EXPECT_EQ(a.clientBytes, 10u);
}
