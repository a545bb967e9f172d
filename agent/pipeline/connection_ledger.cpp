// SPDX-License-Identifier: Apache-2.0
#include "pipeline/connection_ledger.h"

#include <initializer_list>
#include <string>

namespace shadowtap::pipeline {

namespace {

using Json = nlohmann::ordered_json;

uint64_t number(const Json &section, const char *key) {
  auto it = section.find(key);
  if (it == section.end() || !it->is_number_integer() || it->get<int64_t>() < 0)
    return 0;
  return it->get<uint64_t>();
}

// One stage: `in` connections reached it, `out` went on, `reasons` name the rest.
Json stage(const std::string &name, uint64_t in, uint64_t out, const Json &from,
           std::initializer_list<const char *> reasons) {
  Json shortBy = Json::object();
  uint64_t named = 0;
  for (const char *reason : reasons) {
    uint64_t n = number(from, reason);
    shortBy[reason] = n;
    named += n;
  }
  uint64_t accounted = out + named;
  Json row;
  row["stage"] = name;
  row["in"] = in;
  row["out"] = out;
  row["short"] = std::move(shortBy);
  // Signed: more accounted than arrived means a counter counts twice, which must show too.
  row["unexplained"] = static_cast<int64_t>(in) - static_cast<int64_t>(accounted);
  return row;
}

} // namespace

Json connectionLedger(const CounterValues &kernel, const Json &pipeline) {
  Json ledger = Json::array();
  if (!pipeline.is_object() || !pipeline.contains("flows") || !pipeline.contains("capture"))
    return ledger;
  const Json &flows = pipeline["flows"];
  const Json &capture = pipeline["capture"];

  uint64_t admitted = kernel[ST_C_FLOW_ADMITTED];
  uint64_t started = number(flows, "started");
  // Capture: lost SYNs are known only as frames; both are listed, the gap is left unexplained.
  Json captureLoss = Json::object();
  captureLoss["kernel_drops"] = number(capture, "kernel_drops");
  captureLoss["clone_failed"] = kernel[ST_C_CLONE_FAILED];
  captureLoss["ring_full"] = kernel[ST_C_RING_FULL];
  Json first;
  first["stage"] = "followed by the agent";
  first["in"] = admitted;
  first["out"] = started;
  // Connections the kernel's capture ring guard gave up at their SYN (shared.h: st_ring_guard)
  // never reach the agent: the one loss of this stage counted in connections.
  uint64_t guarded = kernel[ST_C_RING_GUARD];
  first["short"] = Json::object({{"ring_guard", guarded}});
  first["unexplained"] = static_cast<int64_t>(admitted) - static_cast<int64_t>(started) - static_cast<int64_t>(guarded);
  first["frames_lost"] = std::move(captureLoss);
  ledger.push_back(std::move(first));

  uint64_t established = number(flows, "established");
  ledger.push_back(stage("established", started, established, flows, {"never_established", "half_open"}));

  const Json replay = pipeline.value("replay", Json::object());
  for (const auto &target : replay.value("targets", Json::array())) {
    std::string name = target.value("target", std::string("?"));
    uint64_t opened = number(target, "opened");
    ledger.push_back(stage("replay opened to " + name, number(target, "routed"), opened, target,
                           {"shed_limit", "shed_backoff", "skipped_empty", "pending", "queued", "pooled"}));
    ledger.push_back(stage("taken whole by " + name, opened, number(target, "completed"), target,
                           {"active", "unconfirmed", "aborted", "shed_backlog", "shed_stalled", "shed_no_socket",
                            "connect_failed", "write_failed"}));
  }
  return ledger;
}

} // namespace shadowtap::pipeline
