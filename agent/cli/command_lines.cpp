// SPDX-License-Identifier: Apache-2.0
#include "cli/command_lines.h"

#include "net/netns.h"

#include "cli/flags.h"
#include "cli/run_flags.h"
#include "cli/version.h"
#include "commands/commands.h"
#include "common/error.h"
#include "common/logging.h"
#include "config/validation.h"
#include "config/value_parsers.h"
#include "metrics/prometheus_query.h"
#include "net/link.h"

#include <iostream>
#include <optional>
#include <string_view>

namespace shadowtap {

namespace po = boost::program_options;

namespace {

// A command that works on a tap, its command line parsed: the tap flags and the log level applied.
struct TapCommand {
  po::variables_map vm;
  TapFlags tap;
};

// `desc` is tapFlags() and the command's own. nullopt: --help printed `usage` and the flags.
std::optional<TapCommand> parseTapCommand(const std::vector<std::string> &args, const po::options_description &desc,
                                          const char *command, std::string_view usage) {
  auto parsed = parseFlags(args, desc, command);
  if (printedHelp(parsed, usage, desc))
    return std::nullopt;
  auto tap = tapFlagValues(parsed.vm);
  setLogLevel(tap.logLevel);
  if (!tap.netns.empty())
    enterNetns(tap.netns);
  return TapCommand{std::move(parsed.vm), std::move(tap)};
}

// `replay` and `collect`: one service per --port, each replayed to every --shadow, --copies times,
// with the HTTP flags applied.
std::vector<ServiceRule> replayServices(const po::variables_map &vm) {
  std::vector<ServiceRule> services;
  if (vm.count("port"))
    for (uint16_t port : parsePortList(vm["port"].as<std::string>())) {
      ServiceRule rule;
      rule.port = port;
      if (vm.count("shadow"))
        rule.shadows = vm["shadow"].as<std::vector<std::string>>();
      if (vm.count("copies"))
        rule.copies = vm["copies"].as<unsigned>();
      services.push_back(std::move(rule));
    }
  applyHttpFlags(vm, services);
  return services;
}

// The flags replay and collect share after the HTTP ones: the summary's format and the replay budgets.
template <typename Options>
void addSummaryAndBudgetFlags(po::options_description &desc, Options &o, const char *bufferHelp) {
  desc.add_options()
      ("json", po::bool_switch(&o.json), "print the summary as JSON (counters, and the comparison in http mode)")
      ("max-replay-conns", po::value(&o.maxReplayConns), "replay connections open at once per shadow target")
      ("replay-source", po::value(&o.replaySources), "leave from this local address (repeatable)")
      ("replay-buffer-mb", po::value<uint64_t>(), bufferHelp);
}

// --replay-buffer-mb into `backlogBytes` (kept when not given); --replay-source addresses checked.
void replayBudgets(const po::variables_map &vm, const std::vector<std::string> &sources, size_t &backlogBytes) {
  if (vm.count("replay-buffer-mb")) {
    uint64_t mb = vm["replay-buffer-mb"].as<uint64_t>();
    if (mb < 1 || mb > 65536)
      throw UsageError("invalid --replay-buffer-mb: expected 1 to 65536");
    backlogBytes = static_cast<size_t>(mb) << 20;
  }
  for (const auto &text : sources)
    parseIpAddress(text, "--replay-source");
}

} // namespace

int runCommandLine(const std::vector<std::string> &args) {
  auto desc = runFlags();
  auto parsed = parseFlags(args, desc, "run");
  if (printedHelp(parsed, std::string(kRunUsage) + "\n", desc))
    return 0;
  // Before anything looks at an interface: --iface-from-address and every name are the namespace's.
  if (auto netns = tapFlagValues(parsed.vm).netns; !netns.empty())
    enterNetns(netns);
  RunOptions o = buildRunOptions(parsed.vm, ifaceHoldingAddress);
  setLogLevel(o.logLevel);
  std::function<RunOptions()> reload;
  if (o.configPath)
    reload = [vm = parsed.vm] { return buildRunOptions(vm, ifaceHoldingAddress); };
  return runCommand(o, tapFlagValues(parsed.vm).bpffs, reload);
}

int replayCommandLine(const std::vector<std::string> &args) {
  ReplayCommandOptions o;
  po::options_description desc;
  desc.add_options()("help,h", "show this help")
      ("log-level", po::value(&o.logLevel)->default_value("info"), "trace|debug|info|warn|error|off")
      ("from", po::value(&o.from), "a pcap or pcapng capture file, or a recording (`run --record DIR`: the "
                                   "directory or one of its files)")
      ("port,p", po::value<std::string>(), "the server port(s) whose connections are replayed, comma separated "
                                           "(which side of a captured connection is the server)")
      ("shadow", po::value<std::vector<std::string>>(), "replay every connection to HOST:PORT (repeatable; [IPv6]:PORT)")
      ("copies", po::value<unsigned>(), "each shadow gets each connection N times")
      ("speed", po::value<std::string>()->default_value("1"), "the input's timing scaled: 2 replays twice as fast, "
                                                               "0.5 at half speed, 0 or max as fast as possible")
      ("loop", po::value(&o.loops), "replay the input N times, back to back (each pass once the last one's "
                                    "replays finished); 0: until --duration or Ctrl-C")
      ("duration", po::value(&o.durationS), "stop after this many seconds; open replays are reset")
      ("rate", po::value(&o.rate), "replay at most N new connections per second (on top of --speed: with "
                                   "--speed max, exactly a rate)");
  addHttpFlags(desc);
  addSummaryAndBudgetFlags(desc, o, "bytes waiting for slow shadows in total, MiB (default 256); reading pauses "
                                    "while over half of it");
  auto parsed = parseFlags(args, desc, "replay");
  if (printedHelp(parsed,
                  "usage: shadowtap replay --from FILE|DIR --port P --shadow HOST:PORT [--speed X] [--copies N] "
                  "[--rate N] [--loop N] [--duration S] [--protocol http ...]\n\n"
                  "Replays the connections of a capture (pcap, pcapng: `tcpdump -w`, or `run --pcap`) or of a\n"
                  "recording (`run --record DIR`) to shadow targets, through the same reassembly, HTTP rules and\n"
                  "replay as `run`, with the input's own timing scaled by --speed. Ends once the input is done and\n"
                  "every replay finished, and prints a summary (and the comparison report with --protocol http).\n"
                  "Needs no privileges.\n\n"
                  "examples:\n"
                  "  tcpdump -i eth0 -w web.pcap 'tcp port 8080'\n"
                  "  shadowtap replay --from web.pcap --port 8080 --shadow 10.0.5.7:8080\n"
                  "  shadowtap replay --from web.pcap --port 8080 --shadow 10.0.5.7:8080 --speed max --copies 5\n"
                  "  shadowtap replay --from /var/lib/shadowtap/rec --shadow 10.0.5.7:8080 --speed 2 --protocol http\n"
                  "  shadowtap replay --from web.pcap --port 8080 --shadow 10.0.5.7:8080 --loop 0 --duration 600\n\n",
                  desc))
    return 0;
  setLogLevel(o.logLevel);
  o.speed = parseSpeed(parsed.vm["speed"].as<std::string>());
  o.services = replayServices(parsed.vm);
  replayBudgets(parsed.vm, o.replaySources, o.replayBacklogBytes);
  validate(o);
  return replayCommand(o);
}

int collectCommandLine(const std::vector<std::string> &args) {
  CollectCommandOptions o;
  po::options_description desc;
  desc.add_options()("help,h", "show this help")
      ("log-level", po::value(&o.logLevel)->default_value("info"), "trace|debug|info|warn|error|off")
      ("listen", po::value<std::string>(), "receive VXLAN on ADDR[:PORT] (UDP, default port 4789; 0.0.0.0 for "
                                           "every address)")
      ("vni", po::value<std::string>(), "accept only this VXLAN network id (others are counted other_vni)")
      ("port,p", po::value<std::string>(), "the server port(s) whose connections are replayed, comma separated")
      ("shadow", po::value<std::vector<std::string>>(), "replay every connection to HOST:PORT (repeatable; [IPv6]:PORT)")
      ("copies", po::value<unsigned>(), "each shadow gets each connection N times");
  addHttpFlags(desc);
  desc.add_options()
      ("record", po::value<std::string>(), "also write every connection's client stream into files in DIR")
      ("record-max-bytes", po::value<std::string>(), "disk used by --record at most (default 1G)")
      ("duration", po::value<double>(&o.durationS), "stop after this many seconds (default: at SIGINT/SIGTERM)");
  addSummaryAndBudgetFlags(desc, o, "bytes waiting for slow shadows in total, MiB (default 256)");
  auto parsed = parseFlags(args, desc, "collect");
  if (printedHelp(parsed,
                  "usage: shadowtap collect --listen ADDR[:PORT] --port P --shadow HOST:PORT [--vni N] "
                  "[--protocol http ...]\n\n"
                  "Receives mirrored packets as VXLAN (from `shadowtap run --mirror-vxlan` nodes, or from AWS VPC\n"
                  "Traffic Mirroring), and reassembles and replays their connections to shadow targets through\n"
                  "the same pipeline as `run`. Runs until SIGINT/SIGTERM (or --duration), then prints a summary.\n\n"
                  "examples:\n"
                  "  shadowtap run --iface eth0 --port 8080 --mirror-vxlan 10.0.9.9        # on each node\n"
                  "  shadowtap collect --listen 10.0.9.9 --port 8080 --shadow 10.0.5.7:8080  # on 10.0.9.9\n\n",
                  desc))
    return 0;
  setLogLevel(o.logLevel);
  if (!parsed.vm.count("listen"))
    throw UsageError("missing --listen: the address (and port, default 4789) VXLAN arrives on");
  o.listen = parseVxlanEndpoint(parsed.vm["listen"].as<std::string>(), "--listen");
  if (parsed.vm.count("vni"))
    o.vni = parseVni(parsed.vm["vni"].as<std::string>());
  o.services = replayServices(parsed.vm);
  if (parsed.vm.count("record"))
    o.recordDir = parsed.vm["record"].as<std::string>();
  if (parsed.vm.count("record-max-bytes"))
    o.recordMaxBytes = parseByteSize(parsed.vm["record-max-bytes"].as<std::string>(), "--record-max-bytes");
  replayBudgets(parsed.vm, o.replaySources, o.replayBacklogBytes);
  validate(o);
  return collectCommand(o);
}

int reloadCommandLine(const std::vector<std::string> &args) {
  auto cmd = parseTapCommand(args, tapFlags(), "reload",
                             "usage: shadowtap reload --iface IF   (same as kill -HUP <agent pid>)\n");
  if (!cmd)
    return 0;
  validateIfaceName(cmd->tap.iface, "--iface");
  return reloadCommand(cmd->tap.iface, cmd->tap.bpffs);
}

int setCommandLine(const std::vector<std::string> &args) {
  SetOptions o;
  std::string port, percent;
  std::vector<std::string> excludes, includes;
  auto desc = tapFlags();
  desc.add_options()
      ("port,p", po::value(&port), "service port whose rate changes (added if new)")
      ("percent", po::value(&percent), "new share of connections mirrored, 0-100")
      ("exclude-cidr", po::value(&excludes), "stop mirroring clients in this CIDR (repeatable)")
      ("include-cidr", po::value(&includes), "lift an earlier exclusion (repeatable)")
      ("enable", "resume mirroring")
      ("disable", "pause mirroring (programs stay attached, every packet passes)");
  auto cmd =
      parseTapCommand(args, desc, "set",
                      "usage: shadowtap set --iface IF [--port P --percent X] [--exclude-cidr C] [--include-cidr C]\n");
  if (!cmd)
    return 0;
  o.iface = cmd->tap.iface;
  if (!port.empty())
    o.port = parsePort(port);
  if (!percent.empty())
    o.ratePpm = parsePercent(percent);
  for (const auto &c : excludes)
    o.excludes.push_back(parseCidr(c));
  for (const auto &c : includes)
    o.includes.push_back(parseCidr(c));
  if (cmd->vm.count("enable") && cmd->vm.count("disable"))
    throw UsageError("--enable and --disable contradict each other");
  if (cmd->vm.count("enable"))
    o.enabled = true;
  if (cmd->vm.count("disable"))
    o.enabled = false;
  validate(o);
  return setCommand(o, cmd->tap.bpffs);
}

int statusCommandLine(const std::vector<std::string> &args) {
  StatusOptions o;
  auto desc = tapFlags();
  desc.add_options()("json", po::bool_switch(&o.json), "machine-readable output");
  auto cmd = parseTapCommand(args, desc, "status", "usage: shadowtap status --iface IF [--json]\n");
  if (!cmd)
    return 0;
  o.iface = cmd->tap.iface;
  validateIfaceName(o.iface, "--iface");
  return statusCommand(o, cmd->tap.bpffs);
}

int reportCommandLine(const std::vector<std::string> &args) {
  ReportOptions o;
  auto desc = tapFlags();
  desc.add_options()("json", po::bool_switch(&o.json),
                     "print {\"rows\": [{\"target\", \"route\", \"code\", \"count\", \"avg_ms\", "
                     "\"p50_ms\", \"p90_ms\", \"p99_ms\"}...], \"disagreements\": [...]}")
      ("prometheus", po::value(&o.prometheus),
       "instead of one agent's: the report over every agent, from the Prometheus that scrapes them "
       "(http://HOST:PORT[/PREFIX])")
      ("window", po::value(&o.window),
       "with --prometheus: only the last DURATION (e.g. 1h) instead of the totals since each agent started");
  auto cmd = parseTapCommand(args, desc, "report",
                             "usage: shadowtap report --iface IF [--json]\n"
                             "       shadowtap report --prometheus URL [--window DURATION] [--json]\n\n"
                             "Requests by route, target (primary or shadow) and status code, with their count and\n"
                             "duration (average, p50, p90, p99 in ms), and how often each shadow's status class\n"
                             "differed from the primary's. Reads the running agent's local endpoint, or with\n"
                             "--prometheus the series of every agent, summed by Prometheus (PromQL over its HTTP API;\n"
                             "percentiles from the exported histogram buckets, so coarser than one agent's).\n\n"
                             "examples:\n"
                             "  shadowtap report --iface eth0\n"
                             "  shadowtap report --prometheus http://prometheus.monitoring:9090 --window 1h\n"
                             "  kubectl -n monitoring port-forward svc/prometheus 9090 &\n"
                             "  shadowtap report --prometheus http://127.0.0.1:9090 --json\n");
  if (!cmd)
    return 0;
  if (!o.prometheus.empty()) {
    if (!cmd->tap.iface.empty())
      throw UsageError("--iface and --prometheus exclude each other (one agent's report, or every agent's)");
    parseHttpUrl(o.prometheus); // a bad URL is a usage error, before any query
    if (cmd->vm.count("window"))
      validatePrometheusDuration(o.window, "--window");
    return reportCommand(o);
  }
  if (cmd->vm.count("window"))
    throw UsageError("--window needs --prometheus (an agent's own report counts since it started)");
  o.iface = cmd->tap.iface;
  validateIfaceName(o.iface, "--iface");
  return reportCommand(o);
}

int detachCommandLine(const std::vector<std::string> &args) {
  auto cmd = parseTapCommand(args, tapFlags(), "detach", "usage: shadowtap detach --iface IF\n");
  if (!cmd)
    return 0;
  DetachOptions o;
  o.iface = cmd->tap.iface;
  validateIfaceName(o.iface, "--iface");
  return detachCommand(o, cmd->tap.bpffs);
}

int checkConfigCommandLine(const std::vector<std::string> &args) {
  po::options_description desc;
  desc.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(desc).add_options()("file", po::value<std::string>());
  po::positional_options_description positional;
  positional.add("file", 1);
  auto parsed = parseFlags(args, all, "check-config", &positional);
  if (printedHelp(parsed,
                  "usage: shadowtap check-config FILE\n\n"
                  "Checks a config file as `shadowtap run --config FILE` reads it: every key, value and\n"
                  "rule, and the form of every mirror target, without resolving names or looking for the\n"
                  "interface (check a cluster's config anywhere). ${VAR}s expand from the environment as\n"
                  "in run: set them, e.g. NODE_IP=192.0.2.1 shadowtap check-config shadowtap.yaml.\n"
                  "Prints `FILE: ok` (exit 0), or the first problem on stderr as\n"
                  "`shadowtap: FILE:LINE: KEY: what is wrong` (exit 1).\n",
                  desc))
    return 0;
  if (!parsed.vm.count("file"))
    throw UsageError("missing FILE (usage: shadowtap check-config FILE)");
  return checkConfigCommand(parsed.vm["file"].as<std::string>());
}

int versionCommandLine(const std::vector<std::string> &args) {
  if (!args.empty())
    throw UsageError("unexpected argument '" + args.front() + "' (usage: shadowtap --version)");
  std::cout << versionLine() << "\n";
  return 0;
}

} // namespace shadowtap
