// SPDX-License-Identifier: Apache-2.0
#include "common/error.h"
#include "config/config_file.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <regex>

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
      {"interface: eth0\nservices: []\n", R"(^2: services: expected a list with at least one service)"},
      {"interface: eth0\n", R"(^1: services: expected a list)"},
      {"interface: eth0\nservices:\n  - port: 80\n    match:\n      - headers: {end-user: {exact: bbo}}\n",
       R"(^4: services\[0\]\.match: HTTP rules are not supported by this version)"},
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
