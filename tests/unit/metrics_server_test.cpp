// SPDX-License-Identifier: Apache-2.0
#include "common/error.h"
#include "metrics/metrics_server.h"
#include "metrics/prometheus_text.h"
#include "pipeline/pipeline_stats.h"

#include <boost/asio.hpp>
#include <gtest/gtest.h>
#include <set>
#include <thread>

using namespace shadowtap;
namespace asio = boost::asio;

namespace {

std::string request(uint16_t port, const std::string &text) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer(text));
  std::string reply;
  boost::system::error_code ec;
  char buf[4096];
  while (size_t n = s.read_some(asio::buffer(buf), ec))
    reply.append(buf, n);
  return reply;
}

} // namespace

TEST(MetricsServer, ServesHealthMetricsAndRefusesTheRest) {
  asio::io_context io;
  int renders = 0;
  MetricsServer server(io, "127.0.0.1:0", [&] {
    renders++;
    return std::string("shadowtap_packets_total{reason=\"seen\"} 7\n");
  });
  std::thread loop([&] { io.run_for(std::chrono::seconds(3)); });
  auto health = request(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  auto metrics = request(server.port(), "GET /metrics HTTP/1.1\r\n\r\n");
  auto missing = request(server.port(), "GET /nope HTTP/1.1\r\n\r\n");
  auto post = request(server.port(), "POST /metrics HTTP/1.1\r\n\r\n");
  io.stop();
  loop.join();
  EXPECT_EQ(health.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << health;
  EXPECT_NE(health.find("\r\n\r\nok\n"), std::string::npos);
  EXPECT_NE(metrics.find("version=0.0.4"), std::string::npos);
  EXPECT_NE(metrics.find("shadowtap_packets_total{reason=\"seen\"} 7"), std::string::npos);
  EXPECT_EQ(missing.rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(renders, 1);
}

TEST(MetricsServer, BadOrBusyAddressesAreClearErrors) {
  EXPECT_THROW(parseListenAddress("localhost:9477"), UsageError); // an IP, not a name
  EXPECT_THROW(parseListenAddress("127.0.0.1"), UsageError);
  EXPECT_THROW(parseListenAddress("127.0.0.1:http"), UsageError);
  EXPECT_EQ(parseListenAddress("[::1]:9477").port(), 9477);
  asio::io_context io;
  MetricsServer first(io, "127.0.0.1:0", [] { return std::string(); });
  EXPECT_THROW(MetricsServer(io, "127.0.0.1:" + std::to_string(first.port()), [] { return std::string(); }), Error);
}

TEST(PrometheusText, KernelCountersWithLabels) {
  CounterValues kernel{};
  kernel[ST_C_CLONED] = 42;
  auto text = renderKernelCounters({{"iface=\"eth0\"", kernel}});
  EXPECT_NE(text.find("shadowtap_packets_total{iface=\"eth0\",reason=\"cloned\"} 42\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE shadowtap_packets_total counter"), std::string::npos);
  EXPECT_EQ(text.find("shadowtap_replay"), std::string::npos);
}

// One family per field, named and typed by the field's kind: counters end in _total, gauges
// (active connections, buffered bytes) are exported as gauges.
TEST(PrometheusText, PipelineFamiliesTypedByKind) {
  PipelineStats p;
  p.capture.frames = 5;
  p.flows.flowsStarted = 2;
  p.flows.active = 1;
  p.targets.emplace_back("[fd00::7]:80", replay::TargetStats{});
  p.targets[0].second.opened = 2;
  p.targets[0].second.completed = 1;
  p.targets[0].second.active = 1;
  std::string text;
  appendPrometheus(text, "iface=\"eth0\"", p);
  for (const char *expected : {
           "# TYPE shadowtap_capture_frames_total counter\n",
           "shadowtap_capture_frames_total{iface=\"eth0\"} 5\n",
           "# TYPE shadowtap_flows_started_total counter\n",
           "shadowtap_flows_started_total{iface=\"eth0\"} 2\n",
           "# TYPE shadowtap_flows_active gauge\n",
           "shadowtap_flows_active{iface=\"eth0\"} 1\n",
           "# TYPE shadowtap_flows_buffered_bytes gauge\n",
           "# TYPE shadowtap_replay_backlog_bytes gauge\n",
           "# TYPE shadowtap_replay_active gauge\n",
           "shadowtap_replay_active{iface=\"eth0\",target=\"[fd00::7]:80\"} 1\n",
           "shadowtap_replay_completed_total{iface=\"eth0\",target=\"[fd00::7]:80\"} 1\n",
           "# TYPE shadowtap_http_active gauge\n",
           "# TYPE shadowtap_http_requests_total counter\n",
       })
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  // Every family is declared exactly once.
  std::set<std::string> seen;
  for (size_t at = text.find("# TYPE "); at != std::string::npos; at = text.find("# TYPE ", at + 1)) {
    auto name = text.substr(at + 7, text.find(' ', at + 7) - at - 7);
    EXPECT_TRUE(seen.insert(name).second) << name << " declared twice";
  }
}
