// SPDX-License-Identifier: Apache-2.0
#include "cli/run_flags.h"

#include "cli/flags.h"
#include "common/error.h"
#include "compare/body_diff.h"
#include "config/config_file.h"
#include "config/validation.h"
#include "config/value_parsers.h"
#include "metrics/metrics_server.h"

namespace shadowtap {

namespace po = boost::program_options;

// --protocol and the per-request rule flags apply to every service; each one given replaces that
// kind of rule from the file.
void applyHttpFlags(const po::variables_map &vm, std::vector<ServiceRule> &services) {
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
  for (const char *flag : {"exclude-header", "set-header", "remove-header", "request-percent", "baseline",
                           "ignore-json-path"})
    anyRule = anyRule || given(vm, flag);
  bool compareBody = vm.count("compare-body") && vm["compare-body"].as<bool>();
  bool pooled = vm.count("http-pool") && vm["http-pool"].as<bool>();
  anyRule = anyRule || vm["no-host-suffix"].as<bool>() || compareBody || pooled;
  if ((given(vm, "baseline") || given(vm, "ignore-json-path")) && !compareBody)
    throw UsageError("--baseline and --ignore-json-path need --compare-body");
  for (auto &service : services) {
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
    if (pooled)
      rules.pooled = true;
    if (compareBody) {
      service.compare.body = true;
      if (given(vm, "ignore-json-path")) {
        service.compare.ignore = list("ignore-json-path");
        for (const auto &path : service.compare.ignore)
          compare::validateJsonPath(path, "--ignore-json-path");
      }
      if (given(vm, "baseline"))
        service.compare.baseline = vm["baseline"].as<std::string>();
    }
    if (anyRule && service.protocol != Protocol::Http)
      throw UsageError("per-request rules (--exclude-header, --set-header, --remove-header, --request-percent, "
                       "--no-host-suffix), --http-pool and the body comparison (--compare-body, --baseline, --ignore-json-path) "
                       "need --protocol http");
    http::validate(rules);
  }
}

void addHttpFlags(po::options_description &desc) {
  desc.add_options()
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
      ("http-pool", po::bool_switch(), "http: replay the mirrored requests over a pool of keep-alive connections to "
                                       "each shadow (request mirroring, as a mesh does) instead of one replay "
                                       "connection per client connection")
      ("compare-body", po::bool_switch(), "http: compare the shadows' response bodies with the primary's (JSON "
                                          "per field, others by hash): `shadowtap report`")
      ("baseline", po::value<std::string>(), "http, with --compare-body: HOST:PORT of a second copy of the primary's "
                                             "version; fields where it differs from the primary are noise")
      ("ignore-json-path", po::value<std::vector<std::string>>(), "http, with --compare-body: a JSON path that is "
                                                                  "noise, e.g. '$.items[*].updatedAt' (repeatable)");
}

po::options_description runFlags() {
  auto desc = tapFlags(true);
  desc.add_options()
      ("config,c", po::value<std::string>(), "YAML config file (flags given here override it); reloaded on SIGHUP")
      ("iface-from-address", po::value<std::string>(), "tap the interface holding this address (e.g. ${NODE_IP})")
      ("port,p", po::value<std::string>(), "service port(s) to mirror, comma separated")
      ("percent", po::value<std::string>(), "share of connections mirrored, 0-100, decimals allowed (default 100)")
      ("mirror-iface", po::value<std::string>(), "clone into this interface instead of creating the pair st-<iface>.0/.1")
      ("mirror-vxlan", po::value<std::string>(), "send clones VXLAN-encapsulated to ADDR[:PORT] (default port 4789) "
                                                 "for `shadowtap collect` there, instead of replaying on this node")
      ("vni", po::value<std::string>(), "with --mirror-vxlan: the VXLAN network id (default 1)")
      ("mode", po::value<std::string>(), "tc (clone to the mirror interface, default) or xdp (copy into a ring buffer)")
      ("direction", po::value<std::string>(), "where the service port is: hook (requests arrive, responses leave: a "
                                              "server's NIC), ports (either side: a pod's host-side veth) or auto "
                                              "(default: ports on a veth, hook otherwise)")
      ("exclude-cidr", po::value<std::vector<std::string>>(), "never mirror clients in this CIDR (repeatable)")
      ("mark", po::value<std::string>(), "socket mark of the agent's own traffic, never mirrored (default 0x5354)")
      ("max-new-conns", po::value<uint32_t>(), "mirror at most N new connections per second (more are skipped whole, "
                                               "counted shed_budget; 0: no limit)")
      ("max-mirror-rate", po::value<std::string>(), "bytes mirrored per second, e.g. 200M, past which no new connection "
                                                    "is mirrored that second (those admitted go on whole)")
      ("snaplen", po::value<uint32_t>(), "xdp mode: bytes copied per frame (default and most 65664: a 64 KiB GSO frame whole)")
      ("pcap", po::value<std::string>(), "xdp mode: write mirrored frames to this pcap file")
      ("shadow", po::value<std::vector<std::string>>(), "replay every mirrored connection to HOST:PORT (repeatable; [IPv6]:PORT)")
      ("copies", po::value<unsigned>(), "each shadow gets each connection N times (load testing at Nx volume)");
  addHttpFlags(desc);
  desc.add_options()
      ("record", po::value<std::string>(), "write every mirrored connection's client stream (kernel timestamps, "
                                          "HTTP responses too) into files in DIR, for `shadowtap replay --from DIR`")
      ("record-max-bytes", po::value<std::string>(), "disk used by --record at most, e.g. 500M, 10G (default 1G); "
                                                     "recording stops there")
      ("max-flows", po::value<size_t>(), "connections reassembled at once, LRU-evicted past it (default 65536)")
      ("max-replay-conns", po::value<size_t>(), "replay connections open at once per shadow target; past it new "
                                                "replays wait in the replay queue, or are shed whole, counted "
                                                "(default: half the local port range per --replay-source, within "
                                                "the open file limit less 1024; set it below the shadow's own "
                                                "connection limit)")
      ("replay-queue", po::value<size_t>(), "replays per shadow target that wait for a place under that limit, "
                                            "holding their bytes but no socket, and open oldest first; past it, or "
                                            "past half of --replay-buffer-mb, or after 10 s of waiting, they are "
                                            "shed whole, counted (default 65536; 0: shed at once)")
      ("replay-source", po::value<std::vector<std::string>>(), "leave from this local address (repeatable: taken in "
                                                               "turn, each adds a port range towards a shadow)")
      ("workers", po::value<unsigned>(), "packet-path threads, each owning a shard of the connections (default: one "
                                         "per two CPUs)")
      ("capture-buffer-mb", po::value<uint64_t>(), "each worker's capture buffer, MiB: how long a burst or stall it "
                                                   "rides out (tc: 8-1024, default 64; xdp: a power of two up to 1024, "
                                                   "default 8)")
      ("gap-timeout-ms", po::value<uint64_t>(), "a sequence hole not filled within this breaks the flow (default 2000)")
      ("flow-buffer-mb", po::value<uint64_t>(), "out-of-order bytes buffered in total, MiB (default 256)")
      ("replay-buffer-mb", po::value<uint64_t>(), "bytes waiting for slow shadows in total, MiB (default 256)")
      ("metrics-addr", po::value<std::string>(), "serve /metrics and /healthz here (default 127.0.0.1:9477; off)")
      ("replace-stale", po::bool_switch(), "remove a tap left by an agent that no longer runs instead of refusing "
                                           "(for supervisors: systemd, Kubernetes)");
  return desc;
}

RunOptions buildRunOptions(const po::variables_map &vm, const InterfaceLookup &ifaceHoldingAddress) {
  RunOptions o = given(vm, "config") ? loadConfigFile(vm["config"].as<std::string>()) : RunOptions{};
  auto str = [&](const char *name) { return vm[name].as<std::string>(); };
  if (given(vm, "iface")) {
    auto all = vm["iface"].as<std::vector<std::string>>();
    o.iface = all.front();
    o.moreIfaces.assign(all.begin() + 1, all.end());
    o.ifaceFromAddress.reset();
  }
  if (given(vm, "iface-from-address")) {
    // The interface found by address first, then any --iface (pods' veths by pattern).
    o.ifaceFromAddress = expandEnvironment(str("iface-from-address"));
    if (given(vm, "iface"))
      o.moreIfaces.insert(o.moreIfaces.begin(), o.iface);
    else
      o.moreIfaces.clear();
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
  applyHttpFlags(vm, o.services);
  // A text flag given replaces the file's value: its text as is, or parse(text).
  auto fromText = [&](const char *name, auto &field, auto parse) {
    if (given(vm, name))
      field = parse(str(name));
  };
  auto asIs = [](const std::string &text) { return text; };
  auto byteSize = [](const char *flag) {
    return [flag](const std::string &text) { return parseByteSize(text, flag); };
  };
  fromText("mode", o.mode, parseMode);
  fromText("direction", o.direction, parseDirection);
  fromText("mirror-iface", o.mirrorIface, asIs);
  fromText("mirror-vxlan", o.mirrorVxlan,
           [](const std::string &text) { return parseVxlanEndpoint(text, "--mirror-vxlan"); });
  fromText("vni", o.vni, parseVni);
  fromText("pcap", o.pcapPath, asIs);
  fromText("record", o.recordDir, asIs);
  fromText("record-max-bytes", o.recordMaxBytes, byteSize("--record-max-bytes"));
  fromText("mark", o.skipMark, parseMark);
  if (given(vm, "max-new-conns"))
    o.maxNewConns = vm["max-new-conns"].as<uint32_t>();
  fromText("max-mirror-rate", o.maxMirrorBytes, byteSize("--max-mirror-rate"));
  if (given(vm, "snaplen"))
    o.snaplen = vm["snaplen"].as<uint32_t>();
  fromText("log-level", o.logLevel, asIs);
  if (vm.count("replace-stale") && vm["replace-stale"].as<bool>())
    o.replaceStale = true;
  fromText("metrics-addr", o.metricsAddr, asIs);
  if (o.metricsAddr != "off")
    parseListenAddress(o.metricsAddr); // checked here: a bad address must fail before attaching
  if (given(vm, "exclude-cidr")) {
    o.excludes.clear();
    for (const auto &c : vm["exclude-cidr"].as<std::vector<std::string>>())
      o.excludes.push_back(parseCidr(c));
  }
  if (given(vm, "max-flows"))
    o.flowLimits.maxFlows = vm["max-flows"].as<size_t>();
  if (given(vm, "max-replay-conns"))
    o.maxReplayConns = vm["max-replay-conns"].as<size_t>();
  if (given(vm, "replay-queue"))
    o.replayQueue = vm["replay-queue"].as<size_t>();
  if (given(vm, "replay-source")) {
    o.replaySources.clear();
    for (const auto &text : vm["replay-source"].as<std::vector<std::string>>())
      o.replaySources.push_back(parseIpAddress(text, "--replay-source"));
  }
  if (given(vm, "workers")) {
    o.workers = vm["workers"].as<unsigned>();
    if (o.workers < 1 || o.workers > 64)
      throw UsageError("invalid --workers: expected 1 to 64");
  }
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
  if (given(vm, "capture-buffer-mb")) // the range depends on the mode: validate() checks it
    o.captureBufferMb = static_cast<uint32_t>(std::min<uint64_t>(vm["capture-buffer-mb"].as<uint64_t>(), UINT32_MAX));
  if (given(vm, "replay-buffer-mb"))
    o.replayBacklogBytes = static_cast<size_t>(inRange("replay-buffer-mb", 1, 65536)) << 20;
  if (o.iface.empty() && o.ifaceFromAddress)
    o.iface = ifaceHoldingAddress(*o.ifaceFromAddress);
  validate(o);
  return o;
}

} // namespace shadowtap
