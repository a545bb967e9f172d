// SPDX-License-Identifier: Apache-2.0
// `shadowtap check-config` (commands/check_config.h): run's parser and checks, with no lookup of
// names, addresses or interfaces, so a cluster's config checks anywhere.
#include "commands/check_config.h"
#include "common/error.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace shadowtap;

namespace {

// Checks `text` as a file and returns the error ("" if it is fine).
std::string errorOf(const std::string &text, std::string *pathOut = nullptr) {
  static int n = 0;
  auto path = (std::filesystem::temp_directory_path() /
               ("shadowtap-check-config-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".yaml"))
                  .string();
  std::ofstream(path) << text;
  if (pathOut)
    *pathOut = path;
  std::string error;
  try {
    checkConfigFile(path);
  } catch (const UsageError &e) {
    error = e.what();
  }
  std::filesystem::remove(path);
  return error;
}

} // namespace

TEST(CheckConfig, TheShippedExampleIsFine) {
  EXPECT_NO_THROW(checkConfigFile(SHADOWTAP_SOURCE_DIR "/deploy/shadowtap.yaml"));
}

// What the DaemonSet's ConfigMap looks like: nothing in it exists on this machine.
TEST(CheckConfig, NeitherResolvesNamesNorLooksForTheInterface) {
  ::setenv("SHADOWTAP_TEST_NODE_IP", "192.0.2.77", 1);
  EXPECT_EQ(errorOf(R"(interfaceFromAddress: "${SHADOWTAP_TEST_NODE_IP}"
metricsAddress: "${SHADOWTAP_TEST_NODE_IP}:9477"
services:
  - port: 9080
    mirror: {host: reviews-shadow.bookinfo.svc.cluster.local, port: 9080}
)"),
            "");
  EXPECT_EQ(errorOf("interface: nosuch9\nservices:\n  - port: 80\n    mirror: no-such-host.invalid:80\n"), "");
  ::unsetenv("SHADOWTAP_TEST_NODE_IP");
}

TEST(CheckConfig, ParserErrorsKeepFileLineAndKey) {
  std::string path;
  auto error = errorOf("interface: eth0\nmode: tcp\nservices:\n  - port: 80\n", &path);
  EXPECT_EQ(error, path + ":2: mode: invalid --mode 'tcp': use tc or xdp");
  ::unsetenv("SHADOWTAP_TEST_UNSET");
  error = errorOf("interfaceFromAddress: \"${SHADOWTAP_TEST_UNSET}\"\nservices:\n  - port: 80\n", &path);
  EXPECT_EQ(error, path + ":1: interfaceFromAddress: environment variable SHADOWTAP_TEST_UNSET is not set");
}

// Checks made after parsing (as run makes them) know no line: they name the file and the key.
TEST(CheckConfig, RunsChecksAfterTheParserNamingTheFile) {
  std::string path;
  auto error = errorOf("interface: eth0\nservices:\n  - port: 80\n    mirror: [\"no-port-here\"]\n", &path);
  EXPECT_EQ(error.rfind(path + ": services[0].mirror: invalid --shadow 'no-port-here'", 0), 0u) << error;
  error = errorOf("interface: eth0\nmetricsAddress: localhost:9477\nservices:\n  - port: 80\n", &path);
  EXPECT_EQ(error.rfind(path + ": invalid --metrics-addr 'localhost:9477'", 0), 0u) << error;
  error = errorOf("interfaceFromAddress: node-ip\nservices:\n  - port: 80\n", &path);
  EXPECT_EQ(error, path + ": invalid interface address 'node-ip': not an IPv4 or IPv6 address");
  error = errorOf("services:\n  - port: 80\n", &path);
  EXPECT_EQ(error, path + ": missing interface (or interfaceFromAddress)");
  error = errorOf("interface: eth0\nmirrorInterface: eth0\nservices:\n  - port: 80\n", &path);
  EXPECT_EQ(error.rfind(path + ": --mirror-iface must differ from --iface", 0), 0u) << error;
  EXPECT_EQ(errorOf("interface: eth0\nmetricsAddress: \"off\"\nservices:\n  - port: 80\n"), "");
}

TEST(CheckConfig, AnUnreadableFileIsAnError) {
  EXPECT_THROW(checkConfigFile("/nonexistent/shadowtap.yaml"), UsageError);
}
