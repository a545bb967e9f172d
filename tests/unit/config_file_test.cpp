// SPDX-License-Identifier: Apache-2.0
#include "common/error.h"
#include "config/config_file.h"
#include "config/validation.h"
#include "config/value_parsers.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <regex>
#include <sstream>

using namespace shadowtap;

namespace {

std::string writeTemp(const std::string &text) {
  static int n = 0;
  auto path = std::filesystem::temp_directory_path() / ("shadowtap-config-" + std::to_string(::getpid()) + "-" +
                                                        std::to_string(n++) + ".yaml");
  std::ofstream(path) << text;
  return path.string();
}

// Loads `text` and returns the error message (empty if it loaded).
std::string errorOf(const std::string &text) {
  auto path = writeTemp(text);
  try {
    loadConfigFile(path);
  } catch (const UsageError &e) {
    std::filesystem::remove(path);
    return e.what();
  }
  std::filesystem::remove(path);
  return "";
}

// The HTTP service of the documentation (README, deploy/shadowtap.yaml), Istio VirtualService-style.
const char *kHttp = R"(interface: eth0
services:
  - name: books
    port: 8080
    protocol: http
    mirrorPercentage: {value: 100}
    mirror: {host: books-v2.shadow, port: 8080}
    http:
      match:
        - method: {exact: GET}
          uri: {prefix: /books}
          headers: {x-canary: {exact: "1"}}
        - uri: {regex: "/authors/[0-9]+"}
      exclude:
        - headers: {end-user: {exact: demo-user}}
        - headers:
            User-Agent: {prefix: "kube-probe/"}
            x-debug: {regex: "on|yes"}
      requestPercentage: {value: 50}
      headers:
        request:
          set: {x-shadowed: "true", X-Env: staging, x-empty: ""}
          remove: [authorization, Cookie]
      hostSuffix: false
      pool: true
  - name: plain
    port: 8081
    protocol: http
  - name: tcp
    port: 8082
    protocol: tcp
)";

const char *kValid = R"(interface: eth0
mode: tc
logLevel: debug
mark: 0x1234
excludeClients:
  - 10.0.0.0/8
  - "2001:db8::/32"
limits:
  maxFlows: 1000
  gapTimeoutMs: 500
  flowBufferMb: 64
  replayBufferMb: 32
  captureBufferMb: 128
  replayQueue: 2000
services:
  - name: reviews
    port: 9080
    mirrorPercentage:
      value: 12.5
    mirror:
      host: reviews-shadow.bookinfo.svc.cluster.local
      port: 9080
    copies: 2
  - name: ratings
    port: 9081
    mirrorPercentage: 0.01
    mirror:
      - {host: 10.0.5.7, port: 8080}
      - {host: "fd00::7", port: 8080}
      - "shadow.example:80"
  - port: 9082
)";

} // namespace

TEST(ConfigFile, LoadsEverySetting) {
  auto path = writeTemp(kValid);
  RunOptions o = loadConfigFile(path);
  std::filesystem::remove(path);
  EXPECT_EQ(o.iface, "eth0");
  EXPECT_EQ(o.mode, Mode::Tc);
  EXPECT_EQ(o.logLevel, "debug");
  EXPECT_EQ(o.skipMark, 0x1234u);
  ASSERT_EQ(o.excludes.size(), 2u);
  EXPECT_EQ(o.excludes[1].text, "2001:db8::/32");
  EXPECT_EQ(o.flowLimits.maxFlows, 1000u);
  EXPECT_EQ(o.flowLimits.gapTimeoutNs, 500'000'000u);
  EXPECT_EQ(o.flowLimits.maxBufferedTotal, 64u << 20);
  EXPECT_EQ(o.replayBacklogBytes, 32u << 20);
  EXPECT_EQ(o.captureBufferBytes(), uint64_t{128} << 20);
  EXPECT_EQ(o.replayQueue, 2000u);
  ASSERT_EQ(o.services.size(), 3u);
  EXPECT_EQ(o.services[0].name, "reviews");
  EXPECT_EQ(o.services[0].ratePpm, 125000u);
  EXPECT_EQ(o.services[0].shadows, std::vector<std::string>{"reviews-shadow.bookinfo.svc.cluster.local:9080"});
  EXPECT_EQ(o.services[0].copies, 2u);
  EXPECT_EQ(o.services[1].ratePpm, 100u);
  EXPECT_EQ(o.services[1].shadows,
            (std::vector<std::string>{"10.0.5.7:8080", "[fd00::7]:8080", "shadow.example:80"}));
  EXPECT_EQ(o.services[2].ratePpm, ST_RATE_SCALE); // default: everything, like mirrorPercentage
  EXPECT_NO_THROW(validate(o));
}

TEST(ConfigFile, ExpandsEnvironmentVariables) {
  ::setenv("SHADOWTAP_TEST_NODE_IP", "192.0.2.10", 1);
  auto path = writeTemp("interfaceFromAddress: \"${SHADOWTAP_TEST_NODE_IP}\"\nservices:\n  - port: 80\n");
  RunOptions o = loadConfigFile(path);
  std::filesystem::remove(path);
  EXPECT_EQ(o.ifaceFromAddress.value_or(""), "192.0.2.10");
  EXPECT_NE(errorOf("interfaceFromAddress: \"${SHADOWTAP_TEST_UNSET_VAR}\"\nservices:\n  - port: 80\n")
                .find("SHADOWTAP_TEST_UNSET_VAR is not set"),
            std::string::npos);
}

// Every error names the file, the line and the key.
TEST(ConfigFile, ErrorsNameFileLineAndKey) {
  struct Case {
    std::string yaml;
    std::string expected; // regex after "FILE:"
  };
  std::vector<Case> cases = {
      {"interface: eth0\nservices:\n  - port: 80\nbogus: 1\n", R"(^4: bogus: unknown key)"},
      {"interface: eth0\nservices:\n  - port: 80\n    mirorPercentage: 5\n", R"(^4: services\[0\]\.mirorPercentage: unknown key)"},
      {"interface: eth0\nservices:\n  - port: 70000\n", R"(^3: services\[0\]\.port: expected a whole number from 1 to 65535)"},
      {"interface: eth0\nservices:\n  - port: http\n", R"(^3: services\[0\]\.port: expected a whole number)"},
      {"interface: eth0\nservices:\n  - port: 80\n    mirrorPercentage:\n      value: 101\n",
       R"(^5: services\[0\]\.mirrorPercentage\.value: invalid --percent '101')"},
      {"interface: eth0\nservices:\n  - port: 80\n    mirrorPercentage: [1]\n",
       R"(^4: services\[0\]\.mirrorPercentage: expected a single value)"},
      {"interface: eth0\nservices:\n  - port: 80\n  - port: 80\n", R"(^4: services\[1\]\.port: port 80 is configured twice)"},
      {"interface: eth0\nservices:\n  - port: 80\n    mirror:\n      host: x\n", R"(^5: services\[0\]\.mirror: missing port)"},
      {"interface: eth0\nservices:\n  - port: 80\n    copies: 2\n", R"(^4: services\[0\]\.copies: copies needs a mirror target)"},
      {"interface: eth0\nexcludeClients:\n  - 10.0.0.0/33\nservices:\n  - port: 80\n",
       R"(^3: excludeClients\[0\]: invalid CIDR)"},
      {"interface: eth0\nmode: ebpf\nservices:\n  - port: 80\n", R"(^2: mode: invalid --mode 'ebpf')"},
      {"interface: eth0\nlogLevel: loud\nservices:\n  - port: 80\n", R"(^2: logLevel: use trace)"},
      {"interface: eth0\nlimits:\n  maxFlows: 0\nservices:\n  - port: 80\n", R"(^3: limits\.maxFlows: expected a whole number from 1)"},
      {"interface: eth0\nlimits:\n  captureBufferMb: 0\nservices:\n  - port: 80\n",
       R"(^3: limits\.captureBufferMb: expected a whole number from 1)"},
      {"interface: eth0\nlimits:\n  replayQueue: 1000001\nservices:\n  - port: 80\n",
       R"(^3: limits\.replayQueue: expected a whole number from 0 to 1000000)"},
      {"interface: eth0\nservices: []\n", R"(^2: services: expected a list with at least one service)"},
      {"interface: eth0\n", R"(^1: services: expected a list)"},
      {"interface: eth0\nservices:\n  - port: 80\n   bad-indent: 1\n", R"(^4: invalid YAML)"},
      {"interface: eth0\ninterfaceFromAddress: 10.0.0.1\nservices:\n  - port: 80\n", R"(^2: interfaceFromAddress: give interface or)"},
  };
  for (const auto &c : cases) {
    std::string error = errorOf(c.yaml);
    ASSERT_FALSE(error.empty()) << "accepted:\n" << c.yaml;
    auto colon = error.find(".yaml:");
    ASSERT_NE(colon, std::string::npos) << error;
    std::string rest = error.substr(colon + 6);
    EXPECT_TRUE(std::regex_search(rest, std::regex(c.expected))) << "got: " << error << "\nwanted: " << c.expected;
  }
  EXPECT_NE(errorOf("").find("expected a mapping"), std::string::npos);
}

TEST(ConfigFile, LoadsHttpRules) {
  auto path = writeTemp(kHttp);
  RunOptions o = loadConfigFile(path);
  std::filesystem::remove(path);
  ASSERT_EQ(o.services.size(), 3u);
  const ServiceRule &books = o.services[0];
  EXPECT_EQ(books.protocol, Protocol::Http);
  EXPECT_EQ(books.ratePpm, ST_RATE_SCALE);
  EXPECT_EQ(books.shadows, std::vector<std::string>{"books-v2.shadow:8080"});
  const http::HttpRules &rules = books.http;

  ASSERT_EQ(rules.match.size(), 2u);
  const auto &m0 = rules.match[0];
  ASSERT_TRUE(m0.method && m0.path);
  EXPECT_EQ(m0.method->kind, http::MatchKind::Exact);
  EXPECT_EQ(m0.method->text, "GET");
  EXPECT_EQ(m0.path->kind, http::MatchKind::Prefix);
  EXPECT_EQ(m0.path->text, "/books");
  ASSERT_EQ(m0.headers.size(), 1u);
  EXPECT_EQ(m0.headers[0].name, "x-canary");
  EXPECT_EQ(m0.headers[0].value.text, "1");
  const auto &m1 = rules.match[1];
  EXPECT_FALSE(m1.method);
  ASSERT_TRUE(m1.path);
  EXPECT_EQ(m1.path->kind, http::MatchKind::Regex);
  EXPECT_TRUE(m1.path->re) << "regexes are compiled at load";
  EXPECT_TRUE(m1.path->matches("/authors/12"));

  ASSERT_EQ(rules.exclude.size(), 2u);
  ASSERT_EQ(rules.exclude[0].headers.size(), 1u);
  EXPECT_EQ(rules.exclude[0].headers[0].name, "end-user");
  EXPECT_EQ(rules.exclude[0].headers[0].value.text, "demo-user");
  ASSERT_EQ(rules.exclude[1].headers.size(), 2u);
  EXPECT_EQ(rules.exclude[1].headers[0].name, "User-Agent");
  EXPECT_EQ(rules.exclude[1].headers[0].value.kind, http::MatchKind::Prefix);
  EXPECT_EQ(rules.exclude[1].headers[1].value.kind, http::MatchKind::Regex);
  EXPECT_TRUE(rules.exclude[1].headers[1].value.re);

  EXPECT_EQ(rules.requestRatePpm, 500'000u);
  ASSERT_EQ(rules.setHeaders.size(), 3u);
  EXPECT_EQ(rules.setHeaders[0].name, "x-shadowed");
  EXPECT_EQ(rules.setHeaders[0].value, "true");
  EXPECT_EQ(rules.setHeaders[1].name, "X-Env");
  EXPECT_EQ(rules.setHeaders[1].value, "staging");
  EXPECT_EQ(rules.setHeaders[2].value, "");
  EXPECT_EQ(rules.removeHeaders, (std::vector<std::string>{"authorization", "Cookie"}));
  EXPECT_FALSE(rules.hostSuffix);
  EXPECT_TRUE(rules.pooled);

  // The rules behave as written.
  http::MessageHead head;
  head.method = "GET";
  head.target = "/books/7?x=1";
  head.headers = {{"Host", "books:8080"}, {"X-Canary", "1"}};
  EXPECT_EQ(http::decide(rules, head, 0), http::Verdict::Mirror);
  EXPECT_EQ(http::decide(rules, head, 500'000), http::Verdict::SampledOut);
  head.headers.push_back({"End-User", "demo-user"});
  EXPECT_EQ(http::decide(rules, head, 0), http::Verdict::Excluded);

  // protocol: http without an http: section takes the defaults: every request, Host suffixed.
  const ServiceRule &plain = o.services[1];
  EXPECT_EQ(plain.protocol, Protocol::Http);
  EXPECT_TRUE(plain.http.match.empty());
  EXPECT_TRUE(plain.http.exclude.empty());
  EXPECT_EQ(plain.http.requestRatePpm, 1'000'000u);
  EXPECT_TRUE(plain.http.hostSuffix);
  EXPECT_FALSE(plain.http.pooled) << "one replay connection per client connection unless asked";
  EXPECT_EQ(o.services[2].protocol, Protocol::Tcp);
  EXPECT_NO_THROW(validate(o));
}

TEST(ConfigFile, ProtocolNames) {
  EXPECT_EQ(parseProtocol("tcp"), Protocol::Tcp);
  EXPECT_EQ(parseProtocol("http"), Protocol::Http);
  EXPECT_STREQ(protocolName(Protocol::Tcp), "tcp");
  EXPECT_STREQ(protocolName(Protocol::Http), "http");
  for (const char *bad : {"HTTP", "udp", "", " http"}) {
    try {
      parseProtocol(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError &e) {
      EXPECT_EQ(std::string(e.what()), std::string("invalid --protocol '") + bad + "': use tcp or http");
    }
  }
}

TEST(ConfigFile, PlainNumbersAndDefaultsForHttp) {
  auto path = writeTemp("interface: eth0\nservices:\n  - port: 80\n    protocol: http\n    http:\n"
                        "      requestPercentage: 0.5\n      hostSuffix: true\n");
  RunOptions o = loadConfigFile(path);
  std::filesystem::remove(path);
  EXPECT_EQ(o.services[0].http.requestRatePpm, 5000u);
  EXPECT_TRUE(o.services[0].http.hostSuffix);
  auto tcp = writeTemp(kValid);
  RunOptions t = loadConfigFile(tcp);
  std::filesystem::remove(tcp);
  for (const auto &service : t.services)
    EXPECT_EQ(service.protocol, Protocol::Tcp);
}

// Every error in an http: section names the file, the line and the key too.
TEST(ConfigFile, HttpErrorsNameFileLineAndKey) {
  const std::string head = "interface: eth0\nservices:\n  - port: 80\n    protocol: http\n    http:\n"; // lines 1-5
  struct Case {
    std::string yaml;
    std::string expected; // regex after "FILE:"
  };
  std::vector<Case> cases = {
      // protocol
      {"interface: eth0\nservices:\n  - port: 80\n    protocol: udp\n",
       R"(^4: services\[0\]\.protocol: invalid --protocol 'udp': use tcp or http$)"},
      {"interface: eth0\nservices:\n  - port: 80\n    protocol: [http]\n",
       R"(^4: services\[0\]\.protocol: expected a single value$)"},
      // http: on a tcp service
      {"interface: eth0\nservices:\n  - port: 80\n    http:\n      hostSuffix: false\n",
       R"(^4: services\[0\]\.http: HTTP rules need protocol: http \(this service is tcp\)$)"},
      {"interface: eth0\nservices:\n  - port: 80\n    protocol: tcp\n    http: {}\n",
       R"(^5: services\[0\]\.http: HTTP rules need protocol: http \(this service is tcp\)$)"},
      // rules put at the service level
      {"interface: eth0\nservices:\n  - port: 80\n    protocol: http\n    exclude: []\n",
       R"(^5: services\[0\]\.exclude: HTTP rules go in the service's http: section \(with protocol: http\)$)"},
      {"interface: eth0\nservices:\n  - port: 80\n    setHeaders: {a: b}\n",
       R"(^4: services\[0\]\.setHeaders: HTTP rules go in the service's http: section)"},
      // unknown keys and wrong types
      {"interface: eth0\nservices:\n  - port: 80\n    protocol: http\n    http: true\n",
       R"(^5: services\[0\]\.http: expected a mapping$)"},
      {head + "      mirror: {}\n",
       R"(^6: services\[0\]\.http\.mirror: unknown key \(known: compare, exclude, headers, hostSuffix, match, pool, requestPercentage\)$)"},
      {head + "      match: {uri: {exact: /}}\n",
       R"(^6: services\[0\]\.http\.match: expected a list of entries with method, uri and/or headers$)"},
      {head + "      match:\n        - path: {exact: /}\n",
       R"(^7: services\[0\]\.http\.match\[0\]\.path: unknown key \(known: headers, method, uri\)$)"},
      {head + "      match:\n        - /books\n", R"(^7: services\[0\]\.http\.match\[0\]: expected a mapping$)"},
      {head + "      exclude:\n        - {}\n",
       R"(^7: services\[0\]\.http\.exclude\[0\]: an empty entry matches every request: give method, uri or headers$)"},
      {head + "      match:\n        - headers: {}\n",
       R"(^7: services\[0\]\.http\.match\[0\]: an empty entry matches every request)"},
      {head + "      match:\n        - uri: /books\n",
       R"(^7: services\[0\]\.http\.match\[0\]\.uri: expected \{exact: TEXT\}, \{prefix: TEXT\} or \{regex: TEXT\}$)"},
      {head + "      match:\n        - uri: {suffix: /books}\n",
       R"(^7: services\[0\]\.http\.match\[0\]\.uri\.suffix: unknown key \(known: exact, prefix, regex\)$)"},
      {head + "      match:\n        - uri: {}\n",
       R"(^7: services\[0\]\.http\.match\[0\]\.uri: expected exactly one of exact, prefix or regex$)"},
      {head + "      match:\n        - method: {exact: GET, regex: G.*}\n",
       R"(^7: services\[0\]\.http\.match\[0\]\.method: expected exactly one of exact, prefix or regex, got exact and regex$)"},
      {head + "      match:\n        - method: {exact: [GET]}\n",
       R"(^7: services\[0\]\.http\.match\[0\]\.method\.exact: expected a single value$)"},
      {head + "      match:\n        - headers: [end-user]\n",
       R"(^7: services\[0\]\.http\.match\[0\]\.headers: expected a mapping of header name to \{exact\|prefix\|regex: TEXT\}$)"},
      {head + "      exclude:\n        - headers:\n            \"end user\": {exact: bbo}\n",
       R"(^8: services\[0\]\.http\.exclude\[0\]\.headers\.end user: expected a header name \(letters, digits)"},
      {head + "      exclude:\n        - headers:\n            end-user: bbo\n",
       R"(^8: services\[0\]\.http\.exclude\[0\]\.headers\.end-user: expected \{exact: TEXT\})"},
      // bad regexes, at load
      {head + "      match:\n        - uri:\n            regex: \"/books/(\"\n",
       R"(^8: services\[0\]\.http\.match\[0\]\.uri\.regex: invalid regex '/books/\(': )"},
      {head + "      exclude:\n        - headers: {x-id: {regex: \"[z-a]\"}}\n",
       R"(^7: services\[0\]\.http\.exclude\[0\]\.headers\.x-id\.regex: invalid regex '\[z-a\]': )"},
      // percentages
      {head + "      requestPercentage: {value: 101}\n",
       R"(^6: services\[0\]\.http\.requestPercentage\.value: invalid --percent '101': expected a number from 0 to 100)"},
      {head + "      requestPercentage: -1\n", R"(^6: services\[0\]\.http\.requestPercentage: invalid --percent '-1')"},
      {head + "      requestPercentage: {val: 5}\n",
       R"(^6: services\[0\]\.http\.requestPercentage\.val: unknown key \(known: value\)$)"},
      {head + "      requestPercentage: {}\n", R"(^6: services\[0\]\.http\.requestPercentage: missing value$)"},
      {head + "      requestPercentage: half\n",
       R"(^6: services\[0\]\.http\.requestPercentage: invalid --percent 'half')"},
      // hostSuffix
      {head + "      hostSuffix: yes\n", R"(^6: services\[0\]\.http\.hostSuffix: expected true or false$)"},
      // headers
      {head + "      headers:\n        response: {}\n",
       R"(^7: services\[0\]\.http\.headers\.response: unknown key \(known: request\)$)"},
      {head + "      headers: {}\n", R"(^6: services\[0\]\.http\.headers: missing request$)"},
      {head + "      headers:\n        request:\n          add: {a: b}\n",
       R"(^8: services\[0\]\.http\.headers\.request\.add: unknown key \(known: remove, set\)$)"},
      {head + "      headers:\n        request:\n          set: [a]\n",
       R"(^8: services\[0\]\.http\.headers\.request\.set: expected a mapping of header name to value$)"},
      {head + "      headers:\n        request:\n          remove: cookie\n",
       R"(^8: services\[0\]\.http\.headers\.request\.remove: expected a list of header names$)"},
      {head + "      headers:\n        request:\n          set:\n            \"x y\": 1\n",
       R"(^9: services\[0\]\.http\.headers\.request\.set\.x y: expected a header name)"},
      {head + "      headers:\n        request:\n          set:\n            x-a: [1]\n",
       R"(^9: services\[0\]\.http\.headers\.request\.set\.x-a: expected a single value$)"},
      {head + "      headers:\n        request:\n          set:\n            x-a: \"1\\r\\nx-b: 2\"\n",
       R"(^9: services\[0\]\.http\.headers\.request\.set\.x-a: the value in 'x-a: 1\\r\\nx-b: 2' holds a control character)"},
      {head + "      headers:\n        request:\n          remove: [cookie, \"a:b\"]\n",
       R"(^8: services\[0\]\.http\.headers\.request\.remove\[1\]: expected a header name)"},
      // framing headers and Host
      {head + "      headers:\n        request:\n          set:\n            x-a: 1\n            Content-Length: 0\n",
       R"(^10: services\[0\]\.http\.headers\.request\.set\.Content-Length: cannot set header 'Content-Length': Content-Length and Transfer-Encoding frame the body)"},
      {head + "      headers:\n        request:\n          remove:\n            - cookie\n            - "
              "transfer-encoding\n",
       R"(^10: services\[0\]\.http\.headers\.request\.remove\[1\]: cannot remove header 'transfer-encoding': )"},
      {head + "      headers:\n        request:\n          set: {Host: books-v2}\n",
       R"(^8: services\[0\]\.http\.headers\.request\.set\.Host: cannot set header 'Host': .*hostSuffix)"},
      {head + "      headers:\n        request:\n          remove: [connection]\n",
       R"(^8: services\[0\]\.http\.headers\.request\.remove\[0\]: cannot remove header 'connection': it frames the connection)"},
      {head + "      headers:\n        request:\n          set:\n            x-a: 1\n            X-A: 2\n",
       R"(^10: services\[0\]\.http\.headers\.request\.set\.X-A: header 'X-A' is set twice: give it once$)"},
      // regexes RE2 refuses (it stays linear-time: no backreferences, no lookaround)
      {head + "      exclude:\n        - headers: {x-id: {regex: \"(a)\\\\1\"}}\n",
       R"(^7: services\[0\]\.http\.exclude\[0\]\.headers\.x-id\.regex: invalid regex '\(a\)\\1': .*RE2)"},
      {head + "      match:\n        - uri: {regex: \"/a(?=b)\"}\n",
       R"(^7: services\[0\]\.http\.match\[0\]\.uri\.regex: invalid regex '/a\(\?=b\)': )"},
      // body comparison
      {head + "      compare: {body: yes}\n", R"(^6: services\[0\]\.http\.compare\.body: expected true or false$)"},
      {head + "      compare: {bodies: true}\n",
       R"(^6: services\[0\]\.http\.compare\.bodies: unknown key \(known: baseline, body, ignore\)$)"},
      {head + "      compare:\n        body: true\n        ignore: [\"$.ok\", \"items[*]\"]\n",
       R"(^8: services\[0\]\.http\.compare\.ignore\[1\]: invalid JSON path 'items\[\*\]': it must start with \$)"},
      {head + "      compare:\n        body: true\n        ignore: \"$.ok\"\n",
       R"(^8: services\[0\]\.http\.compare\.ignore: expected a list of JSON paths)"},
      {head + "      compare:\n        ignore: [\"$.ok\"]\n",
       R"(^7: services\[0\]\.http\.compare: ignore and baseline need body: true$)"},
      {head + "      compare:\n        body: true\n        baseline: {host: b}\n",
       R"(^8: services\[0\]\.http\.compare\.baseline: missing port$)"},
      {head + "      compare:\n        body: true\n        baseline: [\"a:1\", \"b:2\"]\n",
       R"(^8: services\[0\]\.http\.compare\.baseline: expected one \{host, port\} or HOST:PORT$)"},
  };
  for (const auto &c : cases) {
    std::string error = errorOf(c.yaml);
    ASSERT_FALSE(error.empty()) << "accepted:\n" << c.yaml;
    auto colon = error.find(".yaml:");
    ASSERT_NE(colon, std::string::npos) << error;
    std::string rest = error.substr(colon + 6);
    EXPECT_TRUE(std::regex_search(rest, std::regex(c.expected))) << "got: " << error << "\nwanted: " << c.expected;
  }
}

TEST(ConfigFile, LoadsTheBodyComparison) {
  auto path = writeTemp(R"(interface: eth0
services:
  - port: 8080
    protocol: http
    mirror: {host: books-v2, port: 8080}
    http:
      compare:
        body: true
        ignore: ["$.meta.requestId", "$.items[*].updatedAt"]
        baseline: {host: books-v1-copy, port: 8080}
  - port: 8081
    protocol: http
    mirror: "a:1"
    http:
      compare: {body: true, baseline: "b:2"}
)");
  RunOptions o = loadConfigFile(path);
  std::filesystem::remove(path);
  const auto &c = o.services[0].compare;
  EXPECT_TRUE(c.body);
  EXPECT_EQ(c.ignore, (std::vector<std::string>{"$.meta.requestId", "$.items[*].updatedAt"}));
  EXPECT_EQ(c.baseline.value_or(""), "books-v1-copy:8080");
  EXPECT_EQ(o.services[1].compare.baseline.value_or(""), "b:2");
  EXPECT_NO_THROW(validate(o));
  // The baseline is a second copy of the primary, never one of the candidates.
  o.services[0].compare.baseline = "books-v2:8080";
  EXPECT_THROW(validate(o), UsageError);
}

TEST(ConfigFile, MissingFileIsAClearError) {
  try {
    loadConfigFile("/nonexistent/shadowtap.yaml");
    FAIL() << "loaded a missing file";
  } catch (const UsageError &e) {
    EXPECT_STREQ(e.what(), "/nonexistent/shadowtap.yaml: cannot read the config file");
  }
}

// The examples users copy must always load.
TEST(ConfigFile, EveryExampleInDeployParses) {
  int loaded = 0;
  ::setenv("NODE_IP", "192.0.2.10", 0);
  for (const auto &entry : std::filesystem::recursive_directory_iterator(SHADOWTAP_SOURCE_DIR "/deploy")) {
    if (entry.path().extension() != ".yaml")
      continue;
    std::ifstream in(entry.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!std::regex_search(text, std::regex("^services:", std::regex::multiline)))
      continue; // Kubernetes manifests; the ConfigMap's embedded file is checked by tests/deploy
    EXPECT_NO_THROW(loadConfigFile(entry.path().string())) << entry.path();
    loaded++;
  }
  std::cout << "loaded " << loaded << " example config(s)\n";
}

// The ConfigMap embeds a config file: the real parser must load it too (tests/deploy checks its
// schema with a copy of the key list, this checks it with the code).
TEST(ConfigFile, TheConfigMapsEmbeddedConfigParses) {
  ::setenv("NODE_IP", "192.0.2.10", 0);
  std::ifstream in(SHADOWTAP_SOURCE_DIR "/deploy/kubernetes/configmap.yaml");
  ASSERT_TRUE(in) << "deploy/kubernetes/configmap.yaml";
  std::string line, embedded;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside) {
      inside = line == "  shadowtap.yaml: |";
      continue;
    }
    if (!line.empty() && line.rfind("    ", 0) != 0)
      break; // the block scalar ends at the first less indented line
    embedded += (line.size() > 4 ? line.substr(4) : "") + "\n";
  }
  ASSERT_FALSE(embedded.empty()) << "no 'shadowtap.yaml: |' block in the ConfigMap";
  auto path = writeTemp(embedded);
  EXPECT_NO_THROW(loadConfigFile(path)) << embedded;
  std::filesystem::remove(path);

  // Its commented-out HTTP block must load once uncommented: from "# protocol: http" on, every
  // following comment line at the same indentation loses its "# ".
  std::istringstream lines(embedded);
  std::string uncommented, indent;
  bool http = false, sawHttp = false;
  while (std::getline(lines, line)) {
    auto hash = line.find("# protocol: http");
    if (!http && hash != std::string::npos && line.find_first_not_of(' ') == hash) {
      http = sawHttp = true;
      indent = line.substr(0, hash);
    }
    if (http && line.rfind(indent + "# ", 0) == 0)
      line = indent + line.substr(indent.size() + 2);
    else if (http)
      http = false;
    uncommented += line + "\n";
  }
  ASSERT_TRUE(sawHttp) << "no commented '# protocol: http' block in the ConfigMap";
  path = writeTemp(uncommented);
  try {
    RunOptions o = loadConfigFile(path);
    ASSERT_FALSE(o.services.empty());
    EXPECT_EQ(o.services[0].protocol, Protocol::Http);
    EXPECT_FALSE(o.services[0].http.exclude.empty());
  } catch (const UsageError &e) {
    ADD_FAILURE() << e.what() << "\n" << uncommented;
  }
  std::filesystem::remove(path);
}
