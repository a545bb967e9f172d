// SPDX-License-Identifier: Apache-2.0
// `report --prometheus`: the URL and duration parsers, the bounded HTTP client (against a scripted
// local server: answers, errors, a silent server, an oversized answer), the Prometheus API's error
// handling, and the report built from canned query results (schema, order, rounding, windows).
#include "common/error.h"
#include "compare/comparison.h"
#include "metrics/http_get.h"
#include "metrics/local_endpoint.h"
#include "metrics/prometheus_query.h"

#include <atomic>
#include <boost/asio.hpp>
#include <functional>
#include <gtest/gtest.h>
#include <thread>

using namespace shadowtap;
namespace asio = boost::asio;
using asio::ip::tcp;
using nlohmann::json;

namespace {

// One connection at a time on 127.0.0.1:<port>: reads the request head, records its target, and
// writes what `answer(target)` returns (an empty answer: stay silent until the client gives up).
class ScriptedServer {
public:
  explicit ScriptedServer(std::function<std::string(const std::string &target)> answer)
      : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), answer_(std::move(answer)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec); // unblocks accept()
    thread_.join();
  }
  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }
  std::vector<std::string> targets; // read after the client returned

private:
  void loop() {
    while (!stop_) {
      tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_)
        return;
      asio::streambuf head;
      asio::read_until(s, head, "\r\n\r\n", ec);
      std::istream in(&head);
      std::string method, target;
      in >> method >> target;
      targets.push_back(target);
      std::string reply = answer_(target);
      if (reply.empty()) { // silent: wait for the client to close
        char c;
        s.read_some(asio::buffer(&c, 1), ec);
        continue;
      }
      asio::write(s, asio::buffer(reply), ec);
      s.shutdown(tcp::socket::shutdown_both, ec);
    }
  }
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::function<std::string(const std::string &)> answer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string http(int code, const std::string &reason, const std::string &body) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const std::exception &e) {
    return e.what();
  }
  return "(no error)";
}

// A free port: bound, then closed (nothing listens there afterwards).
std::string closedPort() {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return std::to_string(a.local_endpoint().port());
}

json sample(std::map<std::string, std::string> labels, const std::string &v) {
  return {{"metric", labels}, {"value", {1700000000.0, v}}};
}

} // namespace

TEST(PrometheusUrl, Parses) {
  auto u = parseHttpUrl("http://prometheus.monitoring:9090");
  EXPECT_EQ(u.host, "prometheus.monitoring");
  EXPECT_EQ(u.port, "9090");
  EXPECT_EQ(u.path, "");
  u = parseHttpUrl("127.0.0.1:9090/prometheus/");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.path, "/prometheus");
  u = parseHttpUrl("HTTP://[fd00::1]:9090/");
  EXPECT_EQ(u.host, "fd00::1");
  EXPECT_EQ(u.port, "9090");
  EXPECT_EQ(parseHttpUrl("http://prom").port, "80");
  EXPECT_EQ(parseHttpUrl("http://[::1]").port, "80");
}

TEST(PrometheusUrl, RefusesWhatItCannotUse) {
  for (const char *bad : {"https://prom:9090", "ftp://prom", "http://user:pw@prom:9090", "http://prom:9090/?x=1",
                          "http://:9090", "http://prom:", "http://prom:0", "http://prom:70000", "http://prom:90a",
                          "http://fd00::1:9090", "http://[fd00::1", "http://[prom]:9090", "http://pr om:9090", ""}) {
    try {
      parseHttpUrl(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError &e) {
      EXPECT_NE(std::string(e.what()).find("invalid --prometheus URL"), std::string::npos) << e.what();
    }
  }
  EXPECT_NE(errorOf([] { parseHttpUrl("https://prom"); }).find("https is not supported"), std::string::npos);
}

TEST(PrometheusUrl, EncodesQueries) {
  EXPECT_EQ(urlEncode("sum by (route) (x{code=~\"5..\"})"),
            "sum%20by%20%28route%29%20%28x%7Bcode%3D~%225..%22%7D%29");
  EXPECT_EQ(urlEncode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(urlEncode("+&=/"), "%2B%26%3D%2F");
}

TEST(PrometheusUrl, Durations) {
  for (const char *ok : {"30s", "1h", "1h30m", "7d", "500ms", "2w"})
    EXPECT_NO_THROW(validatePrometheusDuration(ok, "--window")) << ok;
  for (const char *bad : {"", "1", "h", "1x", "1h ", "-1h", "1h]) or vector(1", "1.5h"})
    EXPECT_THROW(validatePrometheusDuration(bad, "--window"), UsageError) << bad;
}

TEST(HttpGet, ParsesResponses) {
  auto r = parseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.statusLine, "HTTP/1.1 200 OK");
  EXPECT_EQ(r.body, "hello");
  r = parseHttpResponse("HTTP/1.0 404 Not Found\r\n\r\nno such page");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no such page");
  r = parseHttpResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
  EXPECT_EQ(r.body, "hello, world");
  EXPECT_THROW(parseHttpResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"), HttpGetError);
  EXPECT_THROW(parseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"), HttpGetError);
  EXPECT_THROW(parseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"), HttpGetError);
  EXPECT_THROW(parseHttpResponse("HTTP/1.1 2000 OK\r\n\r\n"), HttpGetError);
  EXPECT_THROW(parseHttpResponse(""), HttpGetError);
  EXPECT_NE(errorOf([] { parseHttpResponse("SSH-2.0-OpenSSH\r\n\x01\x02"); }).find("not an HTTP response: 'SSH-2.0-OpenSSH?'"),
            std::string::npos);
}

TEST(HttpGet, ExchangesWithAServer) {
  ScriptedServer server([](const std::string &target) { return http(200, "OK", "you asked " + target); });
  auto r = httpGet("127.0.0.1", server.port(), "/api/v1/query?query=up", 5000);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "you asked /api/v1/query?query=up");
  // A name resolves (localhost may be ::1 first: the IPv4 address is tried next).
  EXPECT_EQ(httpGet("localhost", server.port(), "/x", 5000).body, "you asked /x");
}

TEST(HttpGet, FailsBoundedAndSaysWhy) {
  EXPECT_NE(errorOf([] { httpGet("127.0.0.1", closedPort(), "/", 2000); }).find("refused"), std::string::npos);
  {
    ScriptedServer silent([](const std::string &) { return std::string(); });
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(errorOf([&] { httpGet("127.0.0.1", silent.port(), "/", 300); }), "timed out after 300 ms");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  }
  {
    ScriptedServer big([](const std::string &) { return http(200, "OK", std::string(3 << 20, 'x')); });
    EXPECT_EQ(errorOf([&] { httpGet("127.0.0.1", big.port(), "/", 5000, size_t(1) << 20); }),
              "response larger than 1 MiB");
  }
  // Without DNS this may fail at once or only time out: either way bounded, naming the host.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(errorOf([] { httpGet("no-such-host.invalid", "80", "/", 1000); }).find("no-such-host.invalid"),
            std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(HttpGet, TheLocalEndpointReaderKeepsItsMessages) {
  auto port = closedPort();
  auto e = errorOf([&] { fetchDocument("127.0.0.1:" + port, "/report.json", 2000); });
  EXPECT_NE(e.find("cannot read /report.json from the agent's endpoint 127.0.0.1:" + port), std::string::npos) << e;
  EXPECT_NE(e.find("is the agent running"), std::string::npos) << e;
  ScriptedServer server([](const std::string &) { return http(404, "Not Found", "no"); });
  EXPECT_EQ(errorOf([&] { fetchDocument("127.0.0.1:" + server.port(), "/report.json", 2000); }),
            "the agent's endpoint 127.0.0.1:" + server.port() + " answered /report.json with: HTTP/1.1 404 Not Found");
}

TEST(PrometheusApi, QueriesAndReportsErrorsInOneLine) {
  ScriptedServer server([](const std::string &target) {
    if (target.rfind("/prom/api/v1/query?query=", 0) != 0)
      return http(404, "Not Found", "404 page not found\n");
    std::string q = target.substr(target.find('=') + 1);
    if (q == "up")
      return http(200, "OK", R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1,"1"]}]}})");
    if (q == "bad%28")
      return http(400, "Bad Request", R"({"status":"error","errorType":"bad_data","error":"1:4: parse error:\nunclosed"})");
    if (q == "matrix")
      return http(200, "OK", R"({"status":"success","data":{"resultType":"matrix","result":[]}})");
    if (q == "html")
      return http(200, "OK", "<html>grafana</html>");
    return http(503, "Service Unavailable", "");
  });
  std::string url = "http://127.0.0.1:" + server.port() + "/prom";
  auto query = prometheusHttpQuery(url, 3000);
  auto result = query("up");
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0]["metric"]["job"], "a");
  EXPECT_EQ(errorOf([&] { query("bad("); }),
            "Prometheus at " + url + " answered /prom/api/v1/query with HTTP/1.1 400 Bad Request: 1:4: parse error: unclosed");
  EXPECT_NE(errorOf([&] { query("matrix"); }).find("other than an instant vector"), std::string::npos);
  EXPECT_NE(errorOf([&] { query("html"); }).find("is not Prometheus' API JSON"), std::string::npos);
  EXPECT_EQ(errorOf([&] { query("other"); }), "Prometheus at " + url +
                                                  " answered /prom/api/v1/query with HTTP/1.1 503 Service Unavailable "
                                                  "(is this the URL of a Prometheus server?)");
  auto wrongPrefix = prometheusHttpQuery("http://127.0.0.1:" + server.port(), 3000);
  EXPECT_NE(errorOf([&] { wrongPrefix("up"); }).find("404 Not Found (is this the URL of a Prometheus server?)"),
            std::string::npos);
  std::string closed = "http://127.0.0.1:" + closedPort();
  auto e = errorOf([&] { prometheusHttpQuery(closed, 2000)("up"); });
  EXPECT_EQ(e.find("cannot query Prometheus at " + closed + ": "), 0u) << e;
  for (const auto &message : {e, errorOf([&] { query("bad("); })})
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(ClusterReport, BuildsTheAgentsSchemaFromQueries) {
  std::vector<std::string> asked;
  PromQuery query = [&](const std::string &q) -> json {
    asked.push_back(q);
    auto cell = [](const char *t, const char *r, const char *c) {
      return std::map<std::string, std::string>{{"target", t}, {"route", r}, {"code", c}};
    };
    auto pair = [](const char *t, const char *r) { return std::map<std::string, std::string>{{"target", t}, {"route", r}}; };
    if (q == "sum by (target, route, code) (shadowtap_http_responses_total)")
      return {sample(cell("10.0.0.2:80", "GET /a", "500"), "3"), sample(cell("primary", "GET /a", "200"), "10"),
              sample(cell("10.0.0.2:80", "GET /a", "200"), "7"), sample(cell("primary", "GET /b", "0"), "1"),
              sample(cell("primary", "GET /c", "200"), "0")};
    if (q == "sum by (target, route, code) (shadowtap_http_response_duration_seconds_sum)")
      return {sample(cell("primary", "GET /a", "200"), "0.0123456"), sample(cell("10.0.0.2:80", "GET /a", "200"), "0.7"),
              sample(cell("10.0.0.2:80", "GET /a", "500"), "0.03"), sample(cell("primary", "GET /b", "0"), "2")};
    if (q == "sum by (target, route, code) (shadowtap_http_response_duration_seconds_count)")
      return {sample(cell("primary", "GET /a", "200"), "10"), sample(cell("10.0.0.2:80", "GET /a", "200"), "7"),
              sample(cell("10.0.0.2:80", "GET /a", "500"), "3"), sample(cell("primary", "GET /b", "0"), "1")};
    if (q.rfind("histogram_quantile(0.99, sum by (target, route, code, le) (shadowtap_http_response_duration_seconds_bucket))", 0) == 0)
      return {sample(cell("primary", "GET /a", "200"), "0.0024"), sample(cell("10.0.0.2:80", "GET /a", "200"), "0.24"),
              sample(cell("primary", "GET /b", "0"), "NaN")};
    if (q.rfind("histogram_quantile(0.5, sum by (target, route, code, le) (shadowtap_http_response_first_byte_seconds_bucket))", 0) == 0)
      return {sample(cell("primary", "GET /a", "200"), "0.0005")};
    if (q == "sum by (target, route) (shadowtap_http_compared_total)")
      return {sample(pair("10.0.0.2:80", "GET /a"), "10")};
    if (q == "sum by (target, route) (shadowtap_http_disagreements_total)")
      return {sample(pair("10.0.0.2:80", "GET /a"), "3")};
    if (q == "sum(shadowtap_http_responses_total{route=\"OTHER\"})")
      return {{{"metric", json::object()}, {"value", {1.0, "4"}}}};
    return json::array();
  };
  auto report = clusterReport(query, "");
  ASSERT_EQ(report["rows"].size(), 4u) << report.dump(2); // the zero-count cell is left out
  // Sorted by route, primary first, then code; exactly the agent's keys in the agent's order.
  const auto &r0 = report["rows"][0];
  std::vector<std::string> keys;
  for (const auto &[k, v] : r0.items())
    keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"target", "route", "code", "count", "avg_ms", "p50_ms", "p90_ms", "p99_ms",
                                            "first_byte_p50_ms"}));
  EXPECT_EQ(r0["target"], "primary");
  EXPECT_EQ(r0["route"], "GET /a");
  EXPECT_EQ(r0["code"], 200);
  EXPECT_EQ(r0["count"], 10);
  EXPECT_DOUBLE_EQ(r0["avg_ms"].get<double>(), 1.235); // 12.3456 ms / 10, to the µs
  EXPECT_DOUBLE_EQ(r0["p99_ms"].get<double>(), 2.4);
  EXPECT_DOUBLE_EQ(r0["first_byte_p50_ms"].get<double>(), 0.5);
  EXPECT_EQ(report["rows"][1]["target"], "10.0.0.2:80");
  EXPECT_EQ(report["rows"][1]["code"], 200);
  EXPECT_DOUBLE_EQ(report["rows"][1]["avg_ms"].get<double>(), 100.0);
  EXPECT_EQ(report["rows"][2]["code"], 500);
  EXPECT_EQ(report["rows"][3]["route"], "GET /b");
  EXPECT_EQ(report["rows"][3]["code"], 0);
  EXPECT_DOUBLE_EQ(report["rows"][3]["p99_ms"].get<double>(), 0.0); // NaN -> 0
  ASSERT_EQ(report["disagreements"].size(), 1u);
  EXPECT_EQ(report["disagreements"][0].dump(), // the agent's keys, in its order
            R"({"target":"10.0.0.2:80","route":"GET /a","compared":10,"different_class":3})");
  EXPECT_EQ(report["routes_overflowed"], 4);
  EXPECT_EQ(asked.size(), 10u);
  // The table renders it as it renders an agent's report.
  auto table = compare::formatReportTable(report);
  EXPECT_NE(table.find("GET /a"), std::string::npos);
  EXPECT_NE(table.find("30.0%"), std::string::npos) << table;
}

TEST(ClusterReport, AWindowTakesIncreasesAndRoundsCounts) {
  std::vector<std::string> asked;
  PromQuery query = [&](const std::string &q) -> json {
    asked.push_back(q);
    if (q == "sum by (target, route, code) (increase(shadowtap_http_responses_total[1h]))")
      return {sample({{"target", "primary"}, {"route", "GET /a"}, {"code", "200"}}, "41.9999"),
              sample({{"target", "primary"}, {"route", "GET /z"}, {"code", "200"}}, "0.2")};
    return json::array();
  };
  auto report = clusterReport(query, "1h");
  ASSERT_EQ(report["rows"].size(), 1u) << report.dump(2); // 0.2 rounds to no response at all
  EXPECT_EQ(report["rows"][0]["count"], 42);
  for (const auto &q : asked)
    EXPECT_NE(q.find("[1h])"), std::string::npos) << q;
  EXPECT_EQ(report["disagreements"], json::array());
  EXPECT_EQ(report["routes_overflowed"], 0);
}
