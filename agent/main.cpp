// SPDX-License-Identifier: Apache-2.0
// shadowtap: picks the subcommand and turns its errors into one line and an exit code (2 for bad
// usage, 1 for the rest). Each subcommand's flags are parsed in cli/ into the plain option structs
// of config/, whose parsers and validate() hold every rule; commands/ do the work.
#include "cli/command_lines.h"
#include "common/error.h"
#include "common/logging.h"

#include <iostream>
#include <string>
#include <vector>

using namespace shadowtap;

namespace {

constexpr const char *kUsage = R"(usage: shadowtap <command> [options]

Mirror whole TCP connections of a service from a NIC, in the kernel, without touching them.

commands:
  run           attach to an interface and mirror until SIGINT/SIGTERM
  replay        replay a capture (pcap/pcapng) or a recording to shadow targets, at any speed
  collect       receive VXLAN-mirrored packets (run --mirror-vxlan, AWS VPC Traffic Mirroring) and replay them
  set           change a running tap's rates, exclusions or on/off, live
  status        show a tap's rules and counters
  report        show the primary-vs-shadow comparison (HTTP services): per route, target and status,
                of one agent or (--prometheus URL) of every agent
  reload        re-read a running agent's --config file (same as SIGHUP)
  detach        remove a tap left behind by a killed agent
  check-config  check a config file (as `run --config` reads it) without attaching anything
  version       print the version (also `shadowtap --version`)

run `shadowtap <command> --help` for its options.

examples:
  shadowtap run --iface eth0 --port 8080 --percent 10
  shadowtap run --iface eth0 --port 80,443 --percent 0.01 --exclude-cidr 10.0.0.0/8
  shadowtap run --iface eth0 --port 8080 --shadow 10.0.5.7:8080 --shadow [fd00::7]:8080
  shadowtap run --iface eth0 --port 8080 --protocol http --shadow 10.0.5.7:8080 \
                --exclude-header 'end-user: bbo' --remove-header Authorization --remove-header Cookie
  shadowtap replay --from web.pcap --port 8080 --shadow 10.0.5.7:8080 --speed 2
  shadowtap run --iface eth0 --port 8080 --mirror-vxlan 10.0.9.9      # replayed by `collect` on 10.0.9.9
  shadowtap collect --listen 10.0.9.9 --port 8080 --shadow 10.0.5.7:8080
  shadowtap report --iface eth0
  shadowtap report --prometheus http://prometheus.monitoring:9090 --window 1h   # every node's agent
  shadowtap set --iface eth0 --port 8080 --percent 100
  shadowtap set --iface eth0 --exclude-cidr 192.0.2.7
  shadowtap check-config /etc/shadowtap/shadowtap.yaml
  shadowtap run --config /etc/shadowtap/shadowtap.yaml
  shadowtap status --iface eth0 --json
  shadowtap detach --iface eth0
  shadowtap --version
)";

struct Subcommand {
  const char *name;
  int (*commandLine)(const std::vector<std::string> &args);
};

constexpr Subcommand kSubcommands[] = {
    {"run", runCommandLine},
    {"replay", replayCommandLine},
    {"collect", collectCommandLine},
    {"set", setCommandLine},
    {"status", statusCommandLine},
    {"report", reportCommandLine},
    {"reload", reloadCommandLine},
    {"detach", detachCommandLine},
    {"check-config", checkConfigCommandLine},
    {"version", versionCommandLine},
};

int dispatch(const std::string &command, const std::vector<std::string> &args) {
  std::string names;
  for (const auto &subcommand : kSubcommands) {
    if (command == subcommand.name)
      return subcommand.commandLine(args);
    names += (names.empty() ? "" : ", ") + std::string(subcommand.name);
  }
  throw UsageError("unknown command '" + command + "' (commands: " + names + ")");
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0] == "--version" ? "version" : args[0];
  args.erase(args.begin());
  routeLibraryLogs();
  try {
    return dispatch(command, args);
  } catch (const UsageError &e) {
    std::cerr << "shadowtap: " << e.what() << "\n";
    return 2;
  } catch (const std::exception &e) {
    std::cerr << "shadowtap: " << e.what() << "\n";
    return 1;
  }
}
