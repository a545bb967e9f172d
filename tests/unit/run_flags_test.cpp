// SPDX-License-Identifier: Apache-2.0
// `shadowtap run`'s flags over its config file (cli/run_flags.h): what wins, what a flag replaces
// and what it only adjusts, and that defaults never override the file. No root: the interface
// lookup of --iface-from-address is a fake.
#include "cli/flags.h"
#include "cli/run_flags.h"
#include "common/error.h"
#include "config/value_parsers.h"
#include "tap/tap_set.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace shadowtap;

namespace {

// A config file that lives as long as the test.
class TempConfig {
public:
  explicit TempConfig(const std::string &text) {
    static int n = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("shadowtap-run-flags-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".yaml"))
                .string();
    write(text);
  }
  ~TempConfig() { std::filesystem::remove(path_); }
  void write(const std::string &text) const { std::ofstream(path_) << text; }
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

// Two services, every per-service setting given, so a flag that touches the wrong one shows.
const char *kTwoServices = R"(interface: eth0
mode: xdp
logLevel: debug
mark: 0x99
snaplen: 2048
metricsAddress: "127.0.0.1:9999"
replaceStaleTap: true
excludeClients: [10.0.0.0/8]
limits: {maxFlows: 10, gapTimeoutMs: 50, flowBufferMb: 2, replayBufferMb: 3}
services:
  - name: reviews
    port: 9080
    mirrorPercentage: {value: 10}
    mirror: {host: reviews-v2, port: 9080}
    copies: 2
  - name: books
    port: 8080
    protocol: http
    mirrorPercentage: {value: 50}
    mirror: [{host: books-v2, port: 8080}, {host: books-v3, port: 8080}]
    http:
      exclude:
        - headers: {end-user: {exact: jason}}
      requestPercentage: {value: 25}
      headers:
        request:
          set: {x-shadowed: "true"}
          remove: [authorization]
)";

const char *kOneHttpService = R"(interface: eth0
services:
  - name: books
    port: 8080
    protocol: http
    http:
      exclude:
        - headers: {end-user: {exact: jason}}
      headers:
        request:
          set: {x-shadowed: "true"}
          remove: [authorization]
)";

std::vector<std::string> lookups; // addresses the fake lookup was asked for

std::string fakeLookup(const std::string &address) {
  lookups.push_back(address);
  if (address == "192.0.2.1" || address == "2001:db8::1")
    return "node0";
  throw UsageError("no interface holds address " + address);
}

boost::program_options::variables_map flags(const std::vector<std::string> &args) {
  return parseFlags(args, runFlags(), "run").vm;
}

RunOptions build(const std::vector<std::string> &args) { return buildRunOptions(flags(args), fakeLookup); }

// The UsageError message of building from `args` ("" if it built).
std::string errorOf(const std::vector<std::string> &args) {
  try {
    build(args);
  } catch (const UsageError &e) {
    return e.what();
  }
  return "";
}

bool startsWith(const std::string &text, const std::string &prefix) { return text.rfind(prefix, 0) == 0; }

// What the config file and run's flags both set (not the services), as a test expects it: the
// file's values, the flags' over them, or the defaults.
struct Settings {
  std::string iface;
  Mode mode;
  std::string logLevel;
  uint32_t skipMark;
  uint32_t snaplen;
  std::string metricsAddr;
  std::vector<std::string> excludes;
  size_t maxFlows;
  uint64_t gapTimeoutNs;
  size_t flowBufferBytes;
  size_t replayBufferBytes;
  bool replaceStale;
  bool operator==(const Settings &) const = default;
};

Settings settingsOf(const RunOptions &o) {
  std::vector<std::string> excludes;
  for (const auto &cidr : o.excludes)
    excludes.push_back(cidr.text);
  return {o.iface,
          o.mode,
          o.logLevel,
          o.skipMark,
          o.snaplen,
          o.metricsAddr,
          excludes,
          o.flowLimits.maxFlows,
          o.flowLimits.gapTimeoutNs,
          o.flowLimits.maxBufferedTotal,
          o.replayBacklogBytes,
          o.replaceStale};
}

// What a failed comparison prints.
std::ostream &operator<<(std::ostream &out, const Settings &s) {
  out << "iface=" << s.iface << " mode=" << static_cast<int>(s.mode) << " logLevel=" << s.logLevel
      << " mark=" << s.skipMark << " snaplen=" << s.snaplen << " metricsAddr=" << s.metricsAddr << " excludes=[";
  for (const auto &cidr : s.excludes)
    out << cidr << ' ';
  return out << "] maxFlows=" << s.maxFlows << " gapTimeoutNs=" << s.gapTimeoutNs << " flowBuffer=" << s.flowBufferBytes
             << " replayBuffer=" << s.replayBufferBytes << " replaceStale=" << s.replaceStale;
}

} // namespace

TEST(RunFlags, WithoutAFileTheFlagsAreEverything) {
  auto o = build({"--iface", "eth1", "--port", "80,443", "--percent", "12.5", "--shadow", "10.0.0.9:80"});
  EXPECT_EQ(o.iface, "eth1");
  ASSERT_EQ(o.services.size(), 2u);
  EXPECT_EQ(o.services[0].port, 80);
  EXPECT_EQ(o.services[1].port, 443);
  for (const auto &s : o.services) {
    EXPECT_EQ(s.ratePpm, 125000u);
    EXPECT_EQ(s.shadows, std::vector<std::string>{"10.0.0.9:80"});
  }
  EXPECT_FALSE(o.configPath);
}

TEST(RunFlags, DefaultsAreUntouchedWhenNotGiven) {
  auto o = build({"--iface", "eth1", "--port", "80"});
  RunOptions defaults;
  defaults.iface = "eth1";
  EXPECT_EQ(settingsOf(o), settingsOf(defaults)); // no exclusions among them
  EXPECT_FALSE(o.mirrorIface);
  EXPECT_FALSE(o.pcapPath);
  ASSERT_EQ(o.services.size(), 1u);
  EXPECT_EQ(o.services[0].ratePpm, ServiceRule{}.ratePpm);
  EXPECT_EQ(o.services[0].copies, 1u);
  EXPECT_EQ(o.services[0].protocol, Protocol::Tcp);
  EXPECT_TRUE(o.services[0].shadows.empty());
}

// --log-level and --bpffs have defaults: a default must never override what the file says.
TEST(RunFlags, FlagsNotGivenLeaveTheFileAlone) {
  TempConfig file(kTwoServices);
  auto o = build({"--config", file.path()});
  EXPECT_EQ(o.configPath, file.path());
  EXPECT_EQ(settingsOf(o), (Settings{.iface = "eth0",
                                     .mode = Mode::Xdp,
                                     .logLevel = "debug",
                                     .skipMark = 0x99,
                                     .snaplen = 2048,
                                     .metricsAddr = "127.0.0.1:9999",
                                     .excludes = {"10.0.0.0/8"},
                                     .maxFlows = 10,
                                     .gapTimeoutNs = 50'000'000,
                                     .flowBufferBytes = size_t{2} << 20,
                                     .replayBufferBytes = size_t{3} << 20,
                                     .replaceStale = true}));
  ASSERT_EQ(o.services.size(), 2u);
  EXPECT_EQ(o.services[0].ratePpm, 100000u);
  EXPECT_EQ(o.services[1].http.requestRatePpm, 250000u);
}

TEST(RunFlags, FlagsOverrideTheFile) {
  TempConfig file(kTwoServices);
  auto o = build({"--config", file.path(), "--iface", "eth1", "--mode", "tc", "--log-level", "warn", "--mark",
                  "0x5354", "--snaplen", "128", "--metrics-addr", "off", "--exclude-cidr", "192.0.2.0/24",
                  "--exclude-cidr", "2001:db8::/32", "--max-flows", "7", "--gap-timeout-ms", "9", "--flow-buffer-mb",
                  "4", "--replay-buffer-mb", "5", "--mirror-iface", "mirror0"});
  // The file's exclusions are replaced, not added to; a switch can only turn replaceStale on: the
  // file's true stays.
  EXPECT_EQ(settingsOf(o), (Settings{.iface = "eth1",
                                     .mode = Mode::Tc,
                                     .logLevel = "warn",
                                     .skipMark = 0x5354,
                                     .snaplen = 128,
                                     .metricsAddr = "off",
                                     .excludes = {"192.0.2.0/24", "2001:db8::/32"},
                                     .maxFlows = 7,
                                     .gapTimeoutNs = 9'000'000,
                                     .flowBufferBytes = size_t{4} << 20,
                                     .replayBufferBytes = size_t{5} << 20,
                                     .replaceStale = true}));
  EXPECT_EQ(o.mirrorIface, "mirror0");
  EXPECT_EQ(o.services.size(), 2u);
}

TEST(RunFlags, PortReplacesTheFilesServices) {
  TempConfig file(kTwoServices);
  auto o = build({"--config", file.path(), "--port", "7000,7001"});
  ASSERT_EQ(o.services.size(), 2u);
  for (const auto &s : o.services) {
    EXPECT_EQ(s.name, "");
    EXPECT_EQ(s.ratePpm, ServiceRule{}.ratePpm);
    EXPECT_TRUE(s.shadows.empty());
    EXPECT_EQ(s.copies, 1u);
    EXPECT_EQ(s.protocol, Protocol::Tcp);
    EXPECT_TRUE(s.http.exclude.empty());
  }
  EXPECT_EQ(o.services[0].port, 7000);
  EXPECT_EQ(o.services[1].port, 7001);
}

TEST(RunFlags, PercentShadowAndCopiesAloneAdjustEveryService) {
  TempConfig file(kTwoServices);
  auto o = build({"--config", file.path(), "--percent", "5", "--shadow", "10.0.0.9:80", "--shadow", "[fd00::9]:80",
                  "--copies", "3"});
  ASSERT_EQ(o.services.size(), 2u);
  for (const auto &s : o.services) {
    EXPECT_EQ(s.ratePpm, 50000u);
    EXPECT_EQ(s.shadows, (std::vector<std::string>{"10.0.0.9:80", "[fd00::9]:80"}));
    EXPECT_EQ(s.copies, 3u);
  }
  // Everything else of each service is the file's.
  EXPECT_EQ(o.services[0].name, "reviews");
  EXPECT_EQ(o.services[0].port, 9080);
  EXPECT_EQ(o.services[1].name, "books");
  EXPECT_EQ(o.services[1].protocol, Protocol::Http);
  EXPECT_EQ(o.services[1].http.exclude.size(), 1u);

  // One of them alone touches only its own setting.
  auto only = build({"--config", file.path(), "--percent", "1"});
  EXPECT_EQ(only.services[0].shadows, std::vector<std::string>{"reviews-v2:9080"});
  EXPECT_EQ(only.services[0].copies, 2u);
  EXPECT_EQ(only.services[1].shadows.size(), 2u);
  EXPECT_EQ(only.services[1].ratePpm, 10000u);
}

TEST(RunFlags, HttpFlagsReplaceTheirKindOfRuleOnly) {
  TempConfig file(kOneHttpService);
  auto o = build({"--config", file.path(), "--exclude-header", "x-test: 1", "--exclude-header", "x-bot: yes"});
  ASSERT_EQ(o.services.size(), 1u);
  const auto &rules = o.services[0].http;
  ASSERT_EQ(rules.exclude.size(), 2u); // the file's end-user exclusion is replaced
  ASSERT_EQ(rules.exclude[0].headers.size(), 1u);
  EXPECT_EQ(rules.exclude[0].headers[0].name, "x-test");
  EXPECT_EQ(rules.exclude[1].headers[0].name, "x-bot");
  ASSERT_EQ(rules.setHeaders.size(), 1u); // the other kinds stay the file's
  EXPECT_EQ(rules.setHeaders[0].name, "x-shadowed");
  EXPECT_EQ(rules.removeHeaders, std::vector<std::string>{"authorization"});
  EXPECT_TRUE(rules.hostSuffix);

  auto rewritten = build({"--config", file.path(), "--set-header", "x-env: staging", "--remove-header", "Cookie",
                          "--request-percent", "10", "--no-host-suffix"});
  const auto &r = rewritten.services[0].http;
  EXPECT_EQ(r.exclude.size(), 1u);
  ASSERT_EQ(r.setHeaders.size(), 1u);
  EXPECT_EQ(r.setHeaders[0].name, "x-env");
  EXPECT_EQ(r.setHeaders[0].value, "staging");
  EXPECT_EQ(r.removeHeaders, std::vector<std::string>{"Cookie"});
  EXPECT_EQ(r.requestRatePpm, 100000u);
  EXPECT_FALSE(r.hostSuffix);
  EXPECT_FALSE(r.pooled);
  EXPECT_TRUE(build({"--config", file.path(), "--http-pool"}).services[0].http.pooled);
}

TEST(RunFlags, HttpFlagsNeedProtocolHttp) {
  for (const std::vector<std::string> &rule :
       {std::vector<std::string>{"--exclude-header", "end-user: bbo"}, {"--set-header", "x-a: 1"},
        {"--remove-header", "Cookie"}, {"--request-percent", "50"}, {"--no-host-suffix"}, {"--http-pool"}}) {
    std::vector<std::string> args{"--iface", "eth0", "--port", "80"};
    args.insert(args.end(), rule.begin(), rule.end());
    EXPECT_NE(errorOf(args).find("need --protocol http"), std::string::npos) << rule[0];
    args.insert(args.end(), {"--protocol", "http"});
    EXPECT_EQ(errorOf(args), "") << rule[0];
  }
  // --protocol given applies to every service of the file: a tcp service's rules become valid.
  TempConfig file(kTwoServices);
  auto o = build({"--config", file.path(), "--protocol", "http", "--remove-header", "Cookie"});
  for (const auto &s : o.services) {
    EXPECT_EQ(s.protocol, Protocol::Http);
    EXPECT_EQ(s.http.removeHeaders, std::vector<std::string>{"Cookie"});
  }
}

TEST(RunFlags, BodyComparisonFlags) {
  auto o = build({"--iface", "eth0", "--port", "80", "--protocol", "http", "--shadow", "v2:80", "--compare-body",
                  "--baseline", "v1-copy:80", "--ignore-json-path", "$.ts", "--ignore-json-path", "$.items[*].id"});
  const auto &c = o.services[0].compare;
  EXPECT_TRUE(c.body);
  EXPECT_EQ(c.baseline.value_or(""), "v1-copy:80");
  EXPECT_EQ(c.ignore, (std::vector<std::string>{"$.ts", "$.items[*].id"}));
  EXPECT_NE(
      errorOf({"--iface", "eth0", "--port", "80", "--protocol", "http", "--shadow", "v2:80", "--baseline", "v1:80"})
          .find("need --compare-body"),
      std::string::npos);
  EXPECT_NE(
      errorOf({"--iface", "eth0", "--port", "80", "--shadow", "v2:80", "--compare-body"}).find("need --protocol http"),
      std::string::npos);
  EXPECT_NE(errorOf({"--iface", "eth0", "--port", "80", "--protocol", "http", "--shadow", "v2:80", "--compare-body",
                     "--ignore-json-path", "ts"})
                .find("--ignore-json-path: invalid JSON path 'ts'"),
            std::string::npos);
  EXPECT_NE(errorOf({"--iface", "eth0", "--port", "80", "--protocol", "http", "--shadow", "v2:80", "--compare-body",
                     "--baseline", "v2:80"})
                .find("is also a --shadow"),
            std::string::npos);
  EXPECT_NE(errorOf({"--iface", "eth0", "--port", "80", "--protocol", "http", "--compare-body", "--baseline", "v1:80"})
                .find("--baseline needs at least one --shadow"),
            std::string::npos);
}

TEST(RunFlags, CaptureBufferIsPerModeAndChecked) {
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80"}).captureBufferBytes(), uint64_t{64} << 20);
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80", "--mode", "xdp"}).captureBufferBytes(), uint64_t{ST_RING_BYTES});
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80", "--capture-buffer-mb", "256"}).captureBufferBytes(),
            uint64_t{256} << 20);
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80", "--mode", "xdp", "--capture-buffer-mb", "64"}).captureBufferBytes(),
            uint64_t{64} << 20);
  for (const char *tooSmallOrBig : {"0", "7", "1025", "99999999999"})
    EXPECT_TRUE(startsWith(errorOf({"--iface", "eth0", "--port", "80", "--capture-buffer-mb", tooSmallOrBig}),
                           "invalid --capture-buffer-mb: expected 8 to 1024"))
        << tooSmallOrBig;
  for (const char *notAPowerOfTwo : {"24", "2048"})
    EXPECT_TRUE(startsWith(errorOf({"--iface", "eth0", "--port", "80", "--mode", "xdp", "--capture-buffer-mb", notAPowerOfTwo}),
                           "invalid --capture-buffer-mb: in xdp mode a power of two up to 1024"))
        << notAPowerOfTwo;
  EXPECT_TRUE(startsWith(errorOf({"--iface", "eth0", "--port", "80", "--mirror-vxlan", "10.0.0.9", "--capture-buffer-mb", "64"}),
                         "--capture-buffer-mb sizes this node's capture"));
}

TEST(RunFlags, ReplayQueueDefaultsOnAndIsChecked) {
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80"}).replayQueue, RunOptions::kDefaultReplayQueue);
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80", "--replay-queue", "0"}).replayQueue, 0u); // off: shed at once
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80", "--replay-queue", "500"}).replayQueue, 500u);
  EXPECT_TRUE(startsWith(errorOf({"--iface", "eth0", "--port", "80", "--replay-queue", "1000001"}),
                         "invalid --replay-queue: expected 0 to 1000000"));
}

TEST(RunFlags, RequestPercentErrorsNameRequestPercent) {
  auto message = errorOf({"--iface", "eth0", "--port", "80", "--protocol", "http", "--request-percent", "150"});
  EXPECT_TRUE(startsWith(message, "invalid --request-percent '150'")) << message;
  EXPECT_EQ(message.find("--percent"), std::string::npos) << message; // not the flag the user did not give
}

TEST(RunFlags, BadValuesFailNamingTheFlag) {
  std::vector<std::string> base{"--iface", "eth0", "--port", "80"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return errorOf(args);
  };
  EXPECT_TRUE(startsWith(with({"--percent", "101"}), "invalid --percent '101'"));
  EXPECT_TRUE(startsWith(with({"--mode", "foo"}), "invalid --mode 'foo'"));
  EXPECT_TRUE(startsWith(with({"--mark", "0"}), "invalid --mark '0'"));
  EXPECT_TRUE(startsWith(with({"--protocol", "ftp"}), "invalid --protocol 'ftp'"));
  EXPECT_TRUE(startsWith(with({"--exclude-cidr", "10.0.0.0/33"}), "invalid CIDR '10.0.0.0/33'"));
  EXPECT_TRUE(startsWith(with({"--metrics-addr", "localhost:9477"}), "invalid --metrics-addr 'localhost:9477'"));
  EXPECT_TRUE(startsWith(with({"--gap-timeout-ms", "0"}), "invalid --gap-timeout-ms"));
  EXPECT_TRUE(startsWith(with({"--flow-buffer-mb", "70000"}), "invalid --flow-buffer-mb"));
  EXPECT_TRUE(startsWith(with({"--replay-buffer-mb", "0"}), "invalid --replay-buffer-mb"));
  EXPECT_TRUE(startsWith(with({"--copies", "0", "--shadow", "10.0.0.9:80"}), "invalid --copies"));
  EXPECT_TRUE(startsWith(with({"--exclude-header", "no colon", "--protocol", "http"}), "--exclude-header"));
  EXPECT_TRUE(startsWith(errorOf({"--iface", "eth0", "--port", "0"}), "invalid port '0'"));
  EXPECT_TRUE(startsWith(errorOf({"--iface", "eth0"}), "missing --port"));
  // Boost's own errors (an unknown flag, a number that is not one) point at `run --help`.
  EXPECT_THROW(flags({"--bogus"}), UsageError);
  try {
    flags({"--snaplen", "big"});
    ADD_FAILURE() << "--snaplen big accepted";
  } catch (const UsageError &e) {
    EXPECT_NE(std::string(e.what()).find("see `shadowtap run --help`"), std::string::npos) << e.what();
  }
}

TEST(RunFlags, FileErrorsKeepTheirFileLineAndKey) {
  TempConfig file("interface: eth0\nservices:\n  - port: 80\n    mirrorPercentage: 101\n");
  auto message = errorOf({"--config", file.path()});
  EXPECT_TRUE(startsWith(message, file.path() + ":4: services[0].mirrorPercentage: invalid --percent '101'"))
      << message;
}

TEST(RunFlags, IfaceFromAddressIsLookedUpAfterTheMerge) {
  lookups.clear();
  ::setenv("SHADOWTAP_TEST_NODE_IP", "192.0.2.1", 1);
  auto o = build({"--iface-from-address", "${SHADOWTAP_TEST_NODE_IP}", "--port", "80"});
  EXPECT_EQ(o.iface, "node0");
  EXPECT_EQ(o.ifaceFromAddress, "192.0.2.1");
  EXPECT_EQ(lookups, std::vector<std::string>{"192.0.2.1"});

  // The file's interfaceFromAddress gives way to --iface: no lookup at all.
  TempConfig file("interfaceFromAddress: \"${SHADOWTAP_TEST_NODE_IP}\"\nservices:\n  - port: 80\n");
  lookups.clear();
  auto flagWins = build({"--config", file.path(), "--iface", "eth3"});
  EXPECT_EQ(flagWins.iface, "eth3");
  EXPECT_FALSE(flagWins.ifaceFromAddress);
  EXPECT_TRUE(lookups.empty());

  auto fromFile = build({"--config", file.path()});
  EXPECT_EQ(fromFile.iface, "node0");
  EXPECT_EQ(lookups, std::vector<std::string>{"192.0.2.1"});

  // ...and the file's interface gives way to --iface-from-address.
  TempConfig named("interface: eth0\nservices:\n  - port: 80\n");
  auto addressWins = build({"--config", named.path(), "--iface-from-address", "2001:db8::1"});
  EXPECT_EQ(addressWins.iface, "node0");

  EXPECT_EQ(errorOf({"--iface-from-address", "198.51.100.7", "--port", "80"}),
            "no interface holds address 198.51.100.7");
  ::unsetenv("SHADOWTAP_TEST_NODE_IP");
  EXPECT_EQ(errorOf({"--iface-from-address", "${SHADOWTAP_TEST_NODE_IP}", "--port", "80"}),
            "environment variable SHADOWTAP_TEST_NODE_IP is not set");
}

// A reload builds again from the same flags: the new file is read, and the flags still win.
TEST(RunFlags, ReloadReappliesTheFlagsOverTheNewFile) {
  TempConfig file(kTwoServices);
  auto vm = flags({"--config", file.path(), "--percent", "5", "--log-level", "warn"});
  auto first = buildRunOptions(vm, fakeLookup);
  ASSERT_EQ(first.services.size(), 2u);

  file.write(R"(interface: eth0
logLevel: debug
services:
  - name: ratings
    port: 9090
    mirrorPercentage: {value: 80}
    mirror: {host: ratings-v2, port: 9090}
)");
  auto reloaded = buildRunOptions(vm, fakeLookup);
  ASSERT_EQ(reloaded.services.size(), 1u);
  EXPECT_EQ(reloaded.services[0].name, "ratings");
  EXPECT_EQ(reloaded.services[0].port, 9090);
  EXPECT_EQ(reloaded.services[0].shadows, std::vector<std::string>{"ratings-v2:9090"});
  EXPECT_EQ(reloaded.services[0].ratePpm, 50000u); // --percent 5, not the file's 80
  EXPECT_EQ(reloaded.logLevel, "warn");
  EXPECT_EQ(reloaded.mode, Mode::Tc); // the new file no longer says xdp

  file.write("interface: eth0\nservices: []\n"); // an invalid new file is refused whole
  EXPECT_THROW(buildRunOptions(vm, fakeLookup), UsageError);
}

TEST(RunFlags, RecordFromFlagsAndFile) {
  auto o = build({"--iface", "eth0", "--port", "80", "--record", "/var/lib/rec", "--record-max-bytes", "500M"});
  ASSERT_TRUE(o.recordDir);
  EXPECT_EQ(*o.recordDir, "/var/lib/rec");
  EXPECT_EQ(o.recordMaxBytes, 500ull << 20);
  EXPECT_EQ(o.recordFileBytes(), 500ull << 20 >> 3); // an eighth of a budget below 512 MiB
  EXPECT_FALSE(build({"--iface", "eth0", "--port", "80"}).recordDir);
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80", "--record", "d"}).recordFileBytes(), 64ull << 20);
  EXPECT_NE(errorOf({"--iface", "eth0", "--port", "80", "--record-max-bytes", "12Q"}).find("--record-max-bytes"),
            std::string::npos);
  EXPECT_NE(errorOf({"--iface", "eth0", "--port", "80", "--record-max-bytes", "1000"}).find("at least 1M"),
            std::string::npos);
  TempConfig file("interface: eth0\nrecord:\n  directory: /rec\n  maxBytes: 2G\nservices:\n  - port: 80\n");
  o = build({"--config", file.path()});
  ASSERT_TRUE(o.recordDir);
  EXPECT_EQ(*o.recordDir, "/rec");
  EXPECT_EQ(o.recordMaxBytes, 2ull << 30);
  TempConfig typo("interface: eth0\nrecord:\n  dir: /rec\nservices:\n  - port: 80\n");
  EXPECT_NE(errorOf({"--config", typo.path()}).find("record"), std::string::npos);
}

TEST(ReplayFlags, Speed) {
  EXPECT_EQ(parseSpeed("2"), 2.0);
  EXPECT_EQ(parseSpeed("0.5"), 0.5);
  EXPECT_EQ(parseSpeed("10x"), 10.0);
  EXPECT_EQ(parseSpeed("max"), 0.0);
  EXPECT_EQ(parseSpeed("0"), 0.0);
  for (const char *bad : {"-1", "fast", "", "1e9", "0.0001"})
    EXPECT_THROW(parseSpeed(bad), UsageError) << bad;
}

TEST(MirrorVxlanFlags, EndpointAndVni) {
  auto o = build({"--iface", "eth0", "--port", "80", "--mirror-vxlan", "10.0.9.9"});
  ASSERT_TRUE(o.mirrorVxlan);
  EXPECT_EQ(o.mirrorVxlan->address, "10.0.9.9");
  EXPECT_EQ(o.mirrorVxlan->port, 4789); // IANA's VXLAN port by default
  EXPECT_EQ(o.vni, kDefaultVni);
  o = build({"--iface", "eth0", "--port", "80", "--mirror-vxlan", "10.0.9.9:8472", "--vni", "16777215"});
  EXPECT_EQ(o.mirrorVxlan->port, 8472);
  EXPECT_EQ(o.vni, kMaxVni);
  auto v6 = parseVxlanEndpoint("[fd00::9]:4790", "--mirror-vxlan");
  EXPECT_EQ(v6.address, "fd00::9");
  EXPECT_EQ(v6.port, 4790);
  EXPECT_EQ(parseVxlanEndpoint("fd00::9", "--listen").port, 4789); // a bare IPv6 address has no port
  EXPECT_EQ(parseVxlanEndpoint("0.0.0.0", "--listen").address, "0.0.0.0");
  for (const char *bad : {"", "host", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "[fd00::9", "[fd00::9]x", "1.2.3"})
    EXPECT_THROW(parseVxlanEndpoint(bad, "--mirror-vxlan"), UsageError) << bad;
  EXPECT_EQ(parseVni("0"), 0u);
  for (const char *bad : {"", "-1", "16777216", "0x10", "1 "})
    EXPECT_THROW(parseVni(bad), UsageError) << bad;
}

TEST(MirrorVxlanFlags, RefusedWhereTheClonesCouldNotLeaveOrWouldBeReadHere) {
  const std::vector<std::string> base{"--iface", "eth0", "--port", "80", "--mirror-vxlan", "10.0.9.9"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), base.begin(), base.end());
    return errorOf(extra);
  };
  EXPECT_NE(with({"--shadow", "10.0.5.7:80"}).find("no --shadow or --record"), std::string::npos);
  EXPECT_NE(with({"--record", "/tmp/rec"}).find("no --shadow or --record"), std::string::npos);
  EXPECT_NE(with({"--mode", "xdp"}).find("needs --mode tc"), std::string::npos);
  EXPECT_NE(with({"--mirror-iface", "m0"}).find("give one"), std::string::npos);
}

TEST(BudgetFlags, ParsedIntoTheRunOptions) {
  auto o = build({"--iface", "eth0", "--port", "80"});
  EXPECT_EQ(o.maxNewConns, 0u); // no budget by default
  EXPECT_EQ(o.maxMirrorBytes, 0u);
  o = build({"--iface", "eth0", "--port", "80", "--max-new-conns", "500", "--max-mirror-rate", "200M"});
  EXPECT_EQ(o.maxNewConns, 500u);
  EXPECT_EQ(o.maxMirrorBytes, 200ull << 20);
  EXPECT_NE(errorOf({"--iface", "eth0", "--port", "80", "--max-mirror-rate", "fast"}).find("--max-mirror-rate"),
            std::string::npos);
}

TEST(DirectionFlags, FlagAndFile) {
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80"}).direction, Direction::Auto);
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80", "--direction", "hook"}).direction, Direction::Hook);
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80", "--direction", "ports"}).direction, Direction::Ports);
  EXPECT_EQ(errorOf({"--iface", "eth0", "--port", "80", "--direction", "egress"}),
            "invalid --direction 'egress': use auto, hook or ports");
  TempConfig file("interface: cali1\ndirection: ports\nservices:\n  - port: 80\n");
  EXPECT_EQ(build({"--config", file.path()}).direction, Direction::Ports);
  EXPECT_EQ(build({"--config", file.path(), "--direction", "hook"}).direction, Direction::Hook); // the flag wins
  file.write("interface: cali1\ndirection: sideways\nservices:\n  - port: 80\n");
  EXPECT_NE(errorOf({"--config", file.path()}).find(":2: direction: invalid --direction 'sideways'"), std::string::npos)
      << errorOf({"--config", file.path()});
}

// Several interfaces, names and glob patterns (tap/tap_set.h): --iface repeated, or interfaces: in
// the file; the flags replace the file's list as a whole.
TEST(InterfaceFlags, RepeatedIfaceAndInterfacesList) {
  auto o = build({"--iface", "eth0", "--iface", "cali*", "--port", "80"});
  EXPECT_EQ(o.interfacePatterns(), (std::vector<std::string>{"eth0", "cali*"}));
  EXPECT_EQ(build({"--iface", "eth0", "--port", "80"}).interfacePatterns(), std::vector<std::string>{"eth0"});
  EXPECT_EQ(errorOf({"--iface", "eth0", "--iface", "eth0", "--port", "80"}), "--iface eth0 is given twice");
  EXPECT_EQ(errorOf({"--iface", "eth0", "--iface", "a/b", "--port", "80"}), "invalid --iface 'a/b': not an interface name");
  EXPECT_EQ(errorOf({"--iface", "veth*", "--port", "80", "--mirror-iface", "eth0", "--iface", "eth0"}),
            "--mirror-iface must differ from --iface: mirroring an interface into itself loops");

  TempConfig file("interfaces: [eth0, 'veth*']\nservices:\n  - port: 80\n");
  EXPECT_EQ(build({"--config", file.path()}).interfacePatterns(), (std::vector<std::string>{"eth0", "veth*"}));
  EXPECT_EQ(build({"--config", file.path(), "--iface", "lxc*"}).interfacePatterns(), std::vector<std::string>{"lxc*"});
  for (const auto &[text, error] : std::vector<std::pair<std::string, std::string>>{
           {"interfaces: eth0\n", ":1: interfaces: expected a list of interface names or patterns"},
           {"interfaces: []\n", ":1: interfaces: expected a list of interface names or patterns"},
           {"interface: eth0\ninterfaces: [eth1]\n", ":2: interfaces: give interface or interfaces"},
       }) {
    file.write(text + "services:\n  - port: 80\n");
    EXPECT_NE(errorOf({"--config", file.path()}).find(error), std::string::npos) << errorOf({"--config", file.path()});
  }
}

// A DaemonSet: the node's NIC by its address, and the pods' veths by pattern.
TEST(InterfaceFlags, InterfaceFromAddressComesFirstThenThePatterns) {
  TempConfig file("interfaceFromAddress: 192.0.2.1\ninterfaces: ['cali*']\nservices:\n  - port: 80\n");
  EXPECT_EQ(build({"--config", file.path()}).interfacePatterns(), (std::vector<std::string>{"node0", "cali*"}));
  EXPECT_EQ(build({"--iface-from-address", "192.0.2.1", "--iface", "lxc*", "--port", "80"}).interfacePatterns(),
            (std::vector<std::string>{"node0", "lxc*"}));
  EXPECT_EQ(build({"--iface-from-address", "192.0.2.1", "--port", "80"}).interfacePatterns(),
            std::vector<std::string>{"node0"});
}

TEST(InterfaceFlags, WhatTheAgentIsNamedAfter) {
  EXPECT_FALSE(isInterfacePattern("eth0"));
  EXPECT_TRUE(isInterfacePattern("cali*"));
  EXPECT_TRUE(isInterfacePattern("veth?"));
  EXPECT_TRUE(isInterfacePattern("eth[01]"));
  EXPECT_EQ(tapSetName({"eth0"}), "eth0"); // one interface by name: as it always was
  EXPECT_EQ(tapSetName({"cali*"}), "cali_");
  EXPECT_EQ(tapSetName({"eth0", "cali*"}), "eth0");
  EXPECT_EQ(tapSetName({"eth[!0]"}), "eth__0_");
}
