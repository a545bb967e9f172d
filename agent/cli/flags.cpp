// SPDX-License-Identifier: Apache-2.0
#include "cli/flags.h"

#include "bpf/bpffs.h"
#include "common/error.h"

#include <iostream>

namespace shadowtap {

namespace po = boost::program_options;

ParsedFlags parseFlags(const std::vector<std::string> &args, const po::options_description &desc, const char *command,
                       const po::positional_options_description *positional) {
  ParsedFlags parsed;
  try {
    po::command_line_parser parser(args);
    parser.options(desc);
    if (positional)
      parser.positional(*positional);
    po::store(parser.run(), parsed.vm);
    po::notify(parsed.vm);
  } catch (const po::error &e) {
    throw UsageError(std::string(e.what()) + " (see `shadowtap " + command + " --help`)");
  }
  parsed.help = parsed.vm.count("help") > 0;
  return parsed;
}

bool printedHelp(const ParsedFlags &parsed, std::string_view usage, const po::options_description &desc) {
  if (parsed.help)
    std::cout << usage << desc << "\n";
  return parsed.help;
}

po::options_description tapFlags(bool manyInterfaces) {
  po::options_description desc;
  desc.add_options()("help,h", "show this help");
  if (manyInterfaces)
    desc.add_options()("iface,i", po::value<std::vector<std::string>>(),
                       "network interface to tap (required); repeatable, and a glob pattern ('veth*', quoted) "
                       "taps every interface matching it, including those that appear later");
  else
    desc.add_options()("iface,i", po::value<std::string>(), "network interface (required)");
  desc.add_options()
      ("netns", po::value<std::string>(), "work in this network namespace: a name from `ip netns`, or a path "
                                          "(/proc/PID/ns/net: a pod's); pins and run files are keyed IF@NETNS")
      ("bpffs", po::value<std::string>()->default_value(kDefaultBpffs), "BPF filesystem mount point")
      ("log-level", po::value<std::string>()->default_value("info"), "trace|debug|info|warn|error|off");
  return desc;
}

TapFlags tapFlagValues(const po::variables_map &vm) {
  TapFlags flags;
  if (vm.count("iface")) {
    if (const auto *many = boost::any_cast<std::vector<std::string>>(&vm["iface"].value()))
      flags.iface = many->empty() ? "" : many->front();
    else
      flags.iface = vm["iface"].as<std::string>();
  }
  flags.bpffs = vm["bpffs"].as<std::string>();
  if (vm.count("netns"))
    flags.netns = vm["netns"].as<std::string>();
  flags.logLevel = vm["log-level"].as<std::string>();
  return flags;
}

bool given(const po::variables_map &vm, const char *name) { return vm.count(name) && !vm[name].defaulted(); }

} // namespace shadowtap
