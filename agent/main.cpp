// SPDX-License-Identifier: Apache-2.0
// shadowtap: command line only. Boost.Program_options binds flags into the plain option structs
// of cli/options.h, whose parsers and validate() hold every rule; commands/ do the work.
#include "bpf/bpffs.h"
#include "cli/options.h"
#include "commands/commands.h"
#include "config/config_file.h"
#include "metrics/metrics_server.h"
#include "net/link.h"
#include "common/error.h"
#include "common/logging.h"

#include <boost/program_options.hpp>
#include <iostream>
#include <spdlog/spdlog.h>

namespace po = boost::program_options;
using namespace shadowtap;

namespace {

constexpr const char *kUsage = R"(usage: shadowtap <command> [options]

Mirror whole TCP connections of a service from a NIC, in the kernel, without touching them.

commands:
  run      attach to an interface and mirror until SIGINT/SIGTERM
  set      change a running tap's rates, exclusions or on/off, live
  status   show a tap's rules and counters
  report   show the primary-vs-shadow comparison (HTTP services): per route, target and status
  reload   re-read a running agent's --config file (same as SIGHUP)
  detach   remove a tap left behind by a killed agent

run `shadowtap <command> --help` for its options.

examples:
  shadowtap run --iface eth0 --port 8080 --percent 10
  shadowtap run --iface eth0 --port 80,443 --percent 0.01 --exclude-cidr 10.0.0.0/8
  shadowtap run --iface eth0 --port 8080 --shadow 10.0.5.7:8080 --shadow [fd00::7]:8080
  shadowtap run --iface eth0 --port 8080 --protocol http --shadow 10.0.5.7:8080 \
                --exclude-header 'end-user: bbo' --remove-header Authorization --remove-header Cookie
  shadowtap report --iface eth0
  shadowtap set --iface eth0 --port 8080 --percent 100
  shadowtap set --iface eth0 --exclude-cidr 192.0.2.7
  shadowtap run --config /etc/shadowtap/shadowtap.yaml
  shadowtap status --iface eth0 --json
  shadowtap detach --iface eth0
)";

struct Parsed {
  po::variables_map vm;
  bool help = false;
};

Parsed parse(const std::vector<std::string> &args, const po::options_description &desc, const char *command) {
  Parsed parsed;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), parsed.vm);
    po::notify(parsed.vm);
  } catch (const po::error &e) {
    throw UsageError(std::string(e.what()) + " (see `shadowtap " + command + " --help`)");
  }
  parsed.help = parsed.vm.count("help") > 0;
  return parsed;
}

po::options_description commonOptions(std::string &iface, std::string &bpffs, std::string &logLevel) {
  po::options_description desc;
  desc.add_options()("help,h", "show this help")
      ("iface,i", po::value(&iface), "network interface (required)")
      ("bpffs", po::value(&bpffs)->default_value(kDefaultBpffs), "BPF filesystem mount point")
      ("log-level", po::value(&logLevel)->default_value("info"), "trace|debug|info|warn|error|off");
  return desc;
}

// Given on the command line (not a default): flags override the config file.
bool given(const po::variables_map &vm, const char *name) { return vm.count(name) && !vm[name].defaulted(); }

// --protocol and the per-request rule flags apply to every service; each one given replaces that
// kind of rule from the file.
void applyHttpFlags(const po::variables_map &vm, RunOptions &o) {
  auto list = [&](const char *name) {
    return vm.count(name) ? vm[name].as<std::vector<std::string>>() : std::vector<std::string>{};
  };
  std::optional<uint32_t> requestPercent;
  if (given(vm, "request-percent")) {
    try {
      requestPercent = parsePercent(vm["request-percent"].as<std::string>());
    } catch (const UsageError &e) { // same rule, but name the flag the user gave
      std::string message = e.what();
      throw UsageError("invalid --request-percent" + message.substr(std::string("invalid --percent").size()));
    }
  }
  bool anyRule = false;
  for (const char *flag : {"exclude-header", "set-header", "remove-header", "request-percent"})
    anyRule = anyRule || given(vm, flag);
  anyRule = anyRule || vm["no-host-suffix"].as<bool>();
  for (auto &service : o.services) {
    if (given(vm, "protocol"))
      service.protocol = parseProtocol(vm["protocol"].as<std::string>());
    auto &rules = service.http;
    if (given(vm, "exclude-header")) {
      rules.exclude.clear();
      for (const auto &text : list("exclude-header"))
        rules.exclude.push_back(http::headerExclusion(http::parseHeaderMatch(text, "--exclude-header")));
    }
    if (given(vm, "set-header")) {
      rules.setHeaders.clear();
      for (const auto &text : list("set-header"))
        rules.setHeaders.push_back(http::parseHeaderAssignment(text, "--set-header"));
    }
    if (given(vm, "remove-header")) {
      rules.removeHeaders.clear();
      for (const auto &text : list("remove-header"))
        rules.removeHeaders.push_back(http::parseHeaderName(text, "--remove-header"));
    }
    if (requestPercent)
      rules.requestRatePpm = *requestPercent;
    if (vm["no-host-suffix"].as<bool>())
      rules.hostSuffix = false;
    if (anyRule && service.protocol != Protocol::Http)
      throw UsageError("per-request rules (--exclude-header, --set-header, --remove-header, --request-percent, "
                       "--no-host-suffix) need --protocol http");
    http::validate(rules);
  }
}

// The run options: the config file if there is one, then every flag that was given on top.
// Called again on each reload, so the flags keep winning over the new file.
RunOptions buildRunOptions(const po::variables_map &vm) {
  RunOptions o = given(vm, "config") ? loadConfigFile(vm["config"].as<std::string>()) : RunOptions{};
  auto str = [&](const char *name) { return vm[name].as<std::string>(); };
  if (given(vm, "iface")) {
    o.iface = str("iface");
    o.ifaceFromAddress.reset();
  }
  if (given(vm, "iface-from-address")) {
    o.ifaceFromAddress = expandEnvironment(str("iface-from-address"));
    o.iface.clear();
  }
  // --port replaces the file's services; --percent/--shadow/--copies alone adjust every service.
  std::optional<uint32_t> percent;
  if (given(vm, "percent"))
    percent = parsePercent(str("percent"));
  if (given(vm, "port")) {
    o.services.clear();
    for (uint16_t port : parsePortList(str("port"))) {
      ServiceRule rule;
      rule.port = port;
      o.services.push_back(std::move(rule));
    }
  }
  for (auto &service : o.services) {
    if (percent)
      service.ratePpm = *percent;
    if (given(vm, "shadow"))
      service.shadows = vm["shadow"].as<std::vector<std::string>>();
    if (given(vm, "copies"))
      service.copies = vm["copies"].as<unsigned>();
  }
  applyHttpFlags(vm, o);
  if (given(vm, "mode"))
    o.mode = parseMode(str("mode"));
  if (given(vm, "mirror-iface"))
    o.mirrorIface = str("mirror-iface");
  if (given(vm, "pcap"))
    o.pcapPath = str("pcap");
  if (given(vm, "mark"))
    o.skipMark = parseMark(str("mark"));
  if (given(vm, "snaplen"))
    o.snaplen = vm["snaplen"].as<uint32_t>();
  if (given(vm, "log-level"))
    o.logLevel = str("log-level");
  if (vm.count("replace-stale") && vm["replace-stale"].as<bool>())
    o.replaceStale = true;
  if (given(vm, "metrics-addr"))
    o.metricsAddr = str("metrics-addr");
  if (o.metricsAddr != "off")
    parseListenAddress(o.metricsAddr); // checked here: a bad address must fail before attaching
  if (given(vm, "exclude-cidr")) {
    o.excludes.clear();
    for (const auto &c : vm["exclude-cidr"].as<std::vector<std::string>>())
      o.excludes.push_back(parseCidr(c));
  }
  if (given(vm, "max-flows"))
    o.flowLimits.maxFlows = vm["max-flows"].as<size_t>();
  auto inRange = [&](const char *name, uint64_t lo, uint64_t hi) {
    uint64_t v = vm[name].as<uint64_t>();
    if (v < lo || v > hi)
      throw UsageError(std::string("invalid --") + name + ": expected " + std::to_string(lo) + " to " + std::to_string(hi));
    return v;
  };
  if (given(vm, "gap-timeout-ms"))
    o.flowLimits.gapTimeoutNs = inRange("gap-timeout-ms", 1, 600000) * 1000000ull;
  if (given(vm, "flow-buffer-mb"))
    o.flowLimits.maxBufferedTotal = static_cast<size_t>(inRange("flow-buffer-mb", 1, 65536)) << 20;
  if (given(vm, "replay-buffer-mb"))
    o.replayBacklogBytes = static_cast<size_t>(inRange("replay-buffer-mb", 1, 65536)) << 20;
  if (o.iface.empty() && o.ifaceFromAddress)
    o.iface = ifaceHoldingAddress(*o.ifaceFromAddress);
  validate(o);
  return o;
}

int run(const std::vector<std::string> &args) {
  std::string iface, bpffs, logLevel;
  auto desc = commonOptions(iface, bpffs, logLevel);
  desc.add_options()
      ("config,c", po::value<std::string>(), "YAML config file (flags given here override it); reloaded on SIGHUP")
      ("iface-from-address", po::value<std::string>(), "tap the interface holding this address (e.g. ${NODE_IP})")
      ("port,p", po::value<std::string>(), "service port(s) to mirror, comma separated")
      ("percent", po::value<std::string>(), "share of connections mirrored, 0-100, decimals allowed (default 100)")
      ("mirror-iface", po::value<std::string>(), "clone into this interface instead of creating st-mirror0/st-mirror1")
      ("mode", po::value<std::string>(), "tc (clone to the mirror interface, default) or xdp (copy into a ring buffer)")
      ("exclude-cidr", po::value<std::vector<std::string>>(), "never mirror clients in this CIDR (repeatable)")
      ("mark", po::value<std::string>(), "socket mark of the agent's own traffic, never mirrored (default 0x5354)")
      ("snaplen", po::value<uint32_t>(), "xdp mode: bytes copied per frame (default 9216)")
      ("pcap", po::value<std::string>(), "xdp mode: write mirrored frames to this pcap file")
      ("shadow", po::value<std::vector<std::string>>(), "replay every mirrored connection to HOST:PORT (repeatable; [IPv6]:PORT)")
      ("copies", po::value<unsigned>(), "each shadow gets each connection N times (load testing at Nx volume)")
      ("protocol", po::value<std::string>(), "tcp (replay bytes exactly, default) or http (frame HTTP/1.1: per-request "
                                             "rules, Host -shadow suffix, primary-vs-shadow comparison)")
      ("exclude-header", po::value<std::vector<std::string>>(), "http: never mirror requests with this header, "
                                                                "'NAME: VALUE' exact (repeatable)")
      ("set-header", po::value<std::vector<std::string>>(), "http: set 'NAME: VALUE' on the mirrored copy (repeatable)")
      ("remove-header", po::value<std::vector<std::string>>(), "http: remove NAME from the mirrored copy, e.g. "
                                                               "Authorization, Cookie (repeatable)")
      ("request-percent", po::value<std::string>(), "http: share of requests mirrored within a mirrored connection "
                                                    "(default 100)")
      ("no-host-suffix", po::bool_switch(), "http: keep Host as it is (default: Host gets a -shadow suffix, "
                                            "like mesh mirroring)")
      ("max-flows", po::value<size_t>(), "connections reassembled at once, LRU-evicted past it (default 65536)")
      ("gap-timeout-ms", po::value<uint64_t>(), "a sequence hole not filled within this breaks the flow (default 2000)")
      ("flow-buffer-mb", po::value<uint64_t>(), "out-of-order bytes buffered in total, MiB (default 256)")
      ("replay-buffer-mb", po::value<uint64_t>(), "bytes waiting for slow shadows in total, MiB (default 256)")
      ("metrics-addr", po::value<std::string>(), "serve /metrics and /healthz here (default 127.0.0.1:9477; off)")
      ("replace-stale", po::bool_switch(), "remove a tap left by an agent that no longer runs instead of refusing "
                                           "(for supervisors: systemd, Kubernetes)");
  auto parsed = parse(args, desc, "run");
  if (parsed.help) {
    std::cout << "usage: shadowtap run (--iface IF --port P[,P...] | --config FILE) [options]\n" << desc << "\n";
    return 0;
  }
  RunOptions o = buildRunOptions(parsed.vm);
  setLogLevel(o.logLevel);
  std::function<RunOptions()> reload;
  if (o.configPath)
    reload = [vm = parsed.vm] { return buildRunOptions(vm); };
  return runCommand(o, bpffs, reload);
}

int reload(const std::vector<std::string> &args) {
  std::string iface, bpffs, logLevel;
  auto desc = commonOptions(iface, bpffs, logLevel);
  auto parsed = parse(args, desc, "reload");
  if (parsed.help) {
    std::cout << "usage: shadowtap reload --iface IF   (same as kill -HUP <agent pid>)\n" << desc << "\n";
    return 0;
  }
  setLogLevel(logLevel);
  validateIfaceName(iface, "--iface");
  return reloadCommand(iface, bpffs);
}

int set(const std::vector<std::string> &args) {
  SetOptions o;
  std::string bpffs, logLevel, port, percent;
  std::vector<std::string> excludes, includes;
  auto desc = commonOptions(o.iface, bpffs, logLevel);
  desc.add_options()
      ("port,p", po::value(&port), "service port whose rate changes (added if new)")
      ("percent", po::value(&percent), "new share of connections mirrored, 0-100")
      ("exclude-cidr", po::value(&excludes), "stop mirroring clients in this CIDR (repeatable)")
      ("include-cidr", po::value(&includes), "lift an earlier exclusion (repeatable)")
      ("enable", "resume mirroring")
      ("disable", "pause mirroring (programs stay attached, every packet passes)");
  auto parsed = parse(args, desc, "set");
  if (parsed.help) {
    std::cout << "usage: shadowtap set --iface IF [--port P --percent X] [--exclude-cidr C] [--include-cidr C]\n"
              << desc << "\n";
    return 0;
  }
  setLogLevel(logLevel);
  if (!port.empty())
    o.port = parsePort(port);
  if (!percent.empty())
    o.ratePpm = parsePercent(percent);
  for (const auto &c : excludes)
    o.excludes.push_back(parseCidr(c));
  for (const auto &c : includes)
    o.includes.push_back(parseCidr(c));
  if (parsed.vm.count("enable") && parsed.vm.count("disable"))
    throw UsageError("--enable and --disable contradict each other");
  if (parsed.vm.count("enable"))
    o.enabled = true;
  if (parsed.vm.count("disable"))
    o.enabled = false;
  validate(o);
  return setCommand(o, bpffs);
}

int status(const std::vector<std::string> &args) {
  StatusOptions o;
  std::string bpffs, logLevel;
  auto desc = commonOptions(o.iface, bpffs, logLevel);
  desc.add_options()("json", po::bool_switch(&o.json), "machine-readable output");
  auto parsed = parse(args, desc, "status");
  if (parsed.help) {
    std::cout << "usage: shadowtap status --iface IF [--json]\n" << desc << "\n";
    return 0;
  }
  setLogLevel(logLevel);
  validateIfaceName(o.iface, "--iface");
  return statusCommand(o, bpffs);
}

int report(const std::vector<std::string> &args) {
  ReportOptions o;
  std::string bpffs, logLevel;
  auto desc = commonOptions(o.iface, bpffs, logLevel);
  desc.add_options()("json", po::bool_switch(&o.json),
                     "print {\"rows\": [{\"target\", \"route\", \"code\", \"count\", \"avg_ms\", "
                     "\"p50_ms\", \"p90_ms\", \"p99_ms\"}...], \"disagreements\": [...]}");
  auto parsed = parse(args, desc, "report");
  if (parsed.help) {
    std::cout << "usage: shadowtap report --iface IF [--json]\n\n"
                 "Requests by route, target (primary or shadow) and status code, with their count and\n"
                 "duration (average, p50, p90, p99 in ms), and how often each shadow's status class\n"
                 "differed from the primary's. Reads the running agent's local endpoint.\n"
              << desc << "\n";
    return 0;
  }
  setLogLevel(logLevel);
  validateIfaceName(o.iface, "--iface");
  return reportCommand(o);
}

int detach(const std::vector<std::string> &args) {
  DetachOptions o;
  std::string bpffs, logLevel;
  auto desc = commonOptions(o.iface, bpffs, logLevel);
  auto parsed = parse(args, desc, "detach");
  if (parsed.help) {
    std::cout << "usage: shadowtap detach --iface IF\n" << desc << "\n";
    return 0;
  }
  setLogLevel(logLevel);
  validateIfaceName(o.iface, "--iface");
  return detachCommand(o, bpffs);
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  routeLibraryLogs();
  try {
    if (command == "run")
      return run(args);
    if (command == "set")
      return set(args);
    if (command == "status")
      return status(args);
    if (command == "detach")
      return detach(args);
    if (command == "report")
      return report(args);
    if (command == "reload")
      return reload(args);
    throw UsageError("unknown command '" + command + "' (commands: run, set, status, report, reload, detach)");
  } catch (const UsageError &e) {
    std::cerr << "shadowtap: " << e.what() << "\n";
    return 2;
  } catch (const std::exception &e) {
    std::cerr << "shadowtap: " << e.what() << "\n";
    return 1;
  }
}
