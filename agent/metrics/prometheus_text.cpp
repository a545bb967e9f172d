// SPDX-License-Identifier: Apache-2.0
#include "metrics/prometheus_text.h"

namespace shadowtap {
namespace {

std::string escape(const std::string &value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void family(std::string &out, const std::string &name, const char *type, const char *help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

} // namespace

std::string renderPrometheus(const std::string &iface, const CounterValues &kernel,
                             const std::optional<nlohmann::ordered_json> &pipeline) {
  std::string out, tag = "iface=\"" + escape(iface) + "\"";
  family(out, "shadowtap_packets_total", "counter",
         "Packets seen by the BPF programs, by the reason they were or were not mirrored (reason=\"seen\": all).");
  for (uint32_t i = 0; i < ST_C_MAX; i++)
    out += "shadowtap_packets_total{" + tag + ",reason=\"" + std::string(counterName(i)) + "\"} " +
           std::to_string(kernel[i]) + "\n";
  if (!pipeline)
    return out;
  const auto &p = *pipeline;
  family(out, "shadowtap_capture_total", "counter", "Mirrored frames read by the agent, and lost (kernel_drops) or refused.");
  for (const auto &[name, value] : p["capture"].items())
    out += "shadowtap_capture_total{" + tag + ",kind=\"" + name + "\"} " + value.dump() + "\n";
  family(out, "shadowtap_flows", "counter", "Mirrored connections by how they ended (active: still open, a gauge).");
  for (const auto &[name, value] : p["flows"].items())
    out += "shadowtap_flows{" + tag + ",kind=\"" + name + "\"} " + value.dump() + "\n";
  family(out, "shadowtap_replay", "counter", "Replay connections and bytes per shadow target (active: a gauge).");
  for (const auto &target : p["replay"]["targets"]) {
    std::string t = tag + ",target=\"" + escape(target["target"].get<std::string>()) + "\"";
    for (const auto &[name, value] : target.items())
      if (name != "target")
        out += "shadowtap_replay{" + t + ",kind=\"" + name + "\"} " + value.dump() + "\n";
  }
  family(out, "shadowtap_replay_backlog_bytes", "gauge", "Bytes waiting for slow shadows.");
  out += "shadowtap_replay_backlog_bytes{" + tag + "} " + p["replay"]["backlog_bytes"].dump() + "\n";
  if (p.contains("http")) {
    family(out, "shadowtap_http", "counter",
           "HTTP stage: requests by what the rules decided, responses paired, streams not (or no longer) HTTP.");
    for (const auto &[name, value] : p["http"].items())
      out += "shadowtap_http{" + tag + ",kind=\"" + name + "\"} " + value.dump() + "\n";
  }
  return out;
}

} // namespace shadowtap
