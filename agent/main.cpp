// SPDX-License-Identifier: Apache-2.0
// shadowtap: command line only. Boost.Program_options binds flags into the plain option structs
// of cli/options.h, whose parsers and validate() hold every rule; commands/ do the work.
#include "bpf/bpffs.h"
#include "cli/options.h"
#include "commands/commands.h"
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
  detach   remove a tap left behind by a killed agent

run `shadowtap <command> --help` for its options.

examples:
  shadowtap run --iface eth0 --port 8080 --percent 10
  shadowtap run --iface eth0 --port 80,443 --percent 0.01 --exclude-cidr 10.0.0.0/8
  shadowtap run --iface eth0 --port 8080 --shadow 10.0.5.7:8080 --shadow [fd00::7]:8080
  shadowtap set --iface eth0 --port 8080 --percent 100
  shadowtap set --iface eth0 --exclude-cidr 192.0.2.7
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

int run(const std::vector<std::string> &args) {
  RunOptions o;
  std::string bpffs, ports, percent = "100", mode = "tc", mark;
  uint64_t gapMs = 2000, bufferMb = 256, replayMb = 256;
  std::vector<std::string> excludes;
  auto desc = commonOptions(o.iface, bpffs, o.logLevel);
  desc.add_options()
      ("port,p", po::value(&ports), "service port(s) to mirror, comma separated (required)")
      ("percent", po::value(&percent), "share of connections mirrored, 0-100, decimals allowed (default 100)")
      ("mirror-iface", po::value<std::string>(), "clone into this interface instead of creating st-mirror0/st-mirror1")
      ("mode", po::value(&mode), "tc (clone to the mirror interface) or xdp (copy into a ring buffer)")
      ("exclude-cidr", po::value(&excludes), "never mirror clients in this CIDR (repeatable)")
      ("mark", po::value(&mark), "socket mark of the agent's own traffic, never mirrored (default 0x5354)")
      ("snaplen", po::value(&o.snaplen), "xdp mode: bytes copied per frame (default 9216)")
      ("pcap", po::value<std::string>(), "xdp mode: write mirrored frames to this pcap file")
      ("shadow", po::value(&o.shadows), "replay every mirrored connection to HOST:PORT (repeatable; [IPv6]:PORT)")
      ("copies", po::value(&o.copies), "each shadow gets each connection N times (load testing at Nx volume)")
      ("max-flows", po::value(&o.flowLimits.maxFlows), "connections reassembled at once, LRU-evicted past it (default 65536)")
      ("gap-timeout-ms", po::value(&gapMs), "a sequence hole not filled within this breaks the flow (default 2000)")
      ("flow-buffer-mb", po::value(&bufferMb), "out-of-order bytes buffered in total, MiB (default 256)")
      ("replay-buffer-mb", po::value(&replayMb), "bytes waiting for slow shadows in total, MiB (default 256)");
  auto parsed = parse(args, desc, "run");
  if (parsed.help) {
    std::cout << "usage: shadowtap run --iface IF --port P[,P...] [options]\n" << desc << "\n";
    return 0;
  }
  setLogLevel(o.logLevel);
  o.ports = ports.empty() ? std::vector<uint16_t>{} : parsePortList(ports);
  o.ratePpm = parsePercent(percent);
  o.mode = parseMode(mode);
  if (parsed.vm.count("mirror-iface"))
    o.mirrorIface = parsed.vm["mirror-iface"].as<std::string>();
  if (parsed.vm.count("pcap"))
    o.pcapPath = parsed.vm["pcap"].as<std::string>();
  if (!mark.empty())
    o.skipMark = parseMark(mark);
  for (const auto &c : excludes)
    o.excludes.push_back(parseCidr(c));
  if (gapMs < 1 || gapMs > 600000)
    throw UsageError("invalid --gap-timeout-ms: expected 1 to 600000");
  if (bufferMb < 1 || bufferMb > 65536)
    throw UsageError("invalid --flow-buffer-mb: expected 1 to 65536");
  o.flowLimits.gapTimeoutNs = gapMs * 1000000ull;
  o.flowLimits.maxBufferedTotal = static_cast<size_t>(bufferMb) << 20;
  if (replayMb < 1 || replayMb > 65536)
    throw UsageError("invalid --replay-buffer-mb: expected 1 to 65536");
  o.replayBacklogBytes = static_cast<size_t>(replayMb) << 20;
  validate(o);
  return runCommand(o, bpffs);
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
    throw UsageError("unknown command '" + command + "' (commands: run, set, status, detach)");
  } catch (const UsageError &e) {
    std::cerr << "shadowtap: " << e.what() << "\n";
    return 2;
  } catch (const std::exception &e) {
    std::cerr << "shadowtap: " << e.what() << "\n";
    return 1;
  }
}
