// SPDX-License-Identifier: Apache-2.0
// `shadowtap report`: the running agent's primary-vs-shadow comparison, fetched from its local
// endpoint (/report.json) and printed as a table, or as the JSON document itself (--json).
// With --prometheus: the same report over every agent, computed by Prometheus (metrics/prometheus_query.h).
#include "commands/commands.h"
#include "common/error.h"
#include "compare/comparison.h"
#include "metrics/local_endpoint.h"
#include "metrics/prometheus_query.h"

#include <iostream>
#include <nlohmann/json.hpp>

namespace shadowtap {

namespace {

int clusterReportCommand(const ReportOptions &options) {
  auto report = clusterReport(prometheusHttpQuery(options.prometheus), options.window);
  if (options.json) {
    std::cout << report.dump(2) << "\n";
    return 0;
  }
  std::cout << "every agent scraped by " << options.prometheus << ", "
            << (options.window.empty() ? "totals since each agent started" : "the last " + options.window) << "\n\n"
            << compare::formatReportTable(report);
  return 0;
}

} // namespace

int reportCommand(const ReportOptions &options) {
  if (!options.prometheus.empty())
    return clusterReportCommand(options);
  auto endpoint = readEndpointFile(options.iface);
  if (!endpoint)
    throw Error("no agent endpoint recorded for " + options.iface + " (" + endpointFilePath(options.iface) +
                "): is `shadowtap run` tapping it, with --metrics-addr on, and are you root?");
  auto body = fetchDocument(*endpoint, "/report.json");
  auto report = nlohmann::ordered_json::parse(body, nullptr, false);
  if (report.is_discarded() || !report.contains("rows"))
    throw Error("the agent at " + *endpoint + " sent a report that is not valid JSON");
  if (options.json)
    std::cout << report.dump(2) << "\n";
  else
    std::cout << compare::formatReportTable(report);
  return 0;
}

} // namespace shadowtap
