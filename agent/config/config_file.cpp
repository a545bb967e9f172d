// SPDX-License-Identifier: Apache-2.0
#include "config/config_file.h"

#include "common/error.h"
#include "compare/body_diff.h"
#include "config/value_parsers.h"

#include <cstdlib>
#include <set>
#include <yaml-cpp/yaml.h>

namespace shadowtap {
namespace {

class Reader {
public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Node &node, const std::string &key, const std::string &what) const {
    int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    throw UsageError(path_ + ":" + std::to_string(line) + ": " + key + ": " + what);
  }

  // For messages that already start with the key (the HTTP parsers take it as their `flag`).
  [[noreturn]] void failAt(const YAML::Node &node, const std::string &message) const {
    int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    throw UsageError(path_ + ":" + std::to_string(line) + ": " + message);
  }

  void onlyKeys(const YAML::Node &map, const std::string &where, const std::set<std::string> &allowed) const {
    if (!map.IsMap())
      fail(map, where, "expected a mapping");
    for (const auto &entry : map) {
      auto key = entry.first.as<std::string>();
      if (!allowed.count(key)) {
        std::string known;
        for (const auto &k : allowed)
          known += (known.empty() ? "" : ", ") + k;
        fail(entry.first, where.empty() ? key : where + "." + key, "unknown key (known: " + known + ")");
      }
    }
  }

  std::string text(const YAML::Node &node, const std::string &key) const {
    if (!node.IsScalar())
      fail(node, key, "expected a single value");
    try {
      return expandEnvironment(node.as<std::string>());
    } catch (const UsageError &e) {
      fail(node, key, e.what());
    }
  }

  // Runs a flag parser on the scalar, so the file and the flags share one set of rules.
  template <typename Parse> auto parsed(const YAML::Node &node, const std::string &key, Parse parse) const {
    std::string value = text(node, key);
    try {
      return parse(value);
    } catch (const UsageError &e) {
      fail(node, key, e.what());
    }
  }

  bool boolean(const YAML::Node &node, const std::string &key) const {
    std::string value = text(node, key);
    if (value != "true" && value != "false")
      fail(node, key, "expected true or false");
    return value == "true";
  }

  // Istio's shape, {value: N}, or a plain number: parts per million.
  uint32_t percentage(const YAML::Node &node, const std::string &key) const {
    std::string k = key;
    YAML::Node value = node;
    if (node.IsMap()) {
      onlyKeys(node, k, {"value"});
      if (!node["value"])
        fail(node, k, "missing value");
      value = node["value"];
      k += ".value";
    }
    return parsed(value, k, parsePercent);
  }

  uint64_t number(const YAML::Node &node, const std::string &key, uint64_t min, uint64_t max) const {
    std::string value = text(node, key);
    char *end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(value.c_str(), &end, 0);
    if (value.empty() || *end || errno || value[0] == '-' || n < min || n > max)
      fail(node, key, "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                          ", got '" + value + "'");
    return n;
  }

  // The node of `name` itself (not its value): errors about a key point at the key's line.
  static YAML::Node keyOf(const YAML::Node &map, const std::string &name) {
    for (const auto &entry : map)
      if (entry.first.as<std::string>() == name)
        return entry.first;
    return map;
  }

  const std::string &path() const { return path_; }

private:
  std::string path_;
};

// `mirror:` is one {host, port} (as in Istio), a list of them, or "HOST:PORT" strings.
std::vector<std::string> readMirrors(const Reader &r, const YAML::Node &node, const std::string &key) {
  std::vector<std::string> out;
  auto one = [&](const YAML::Node &m, const std::string &k) {
    if (m.IsScalar()) {
      out.push_back(r.text(m, k));
      return;
    }
    r.onlyKeys(m, k, {"host", "port"});
    if (!m["host"])
      r.fail(m, k, "missing host");
    if (!m["port"])
      r.fail(m, k, "missing port");
    std::string host = r.text(m["host"], k + ".host");
    uint64_t port = r.number(m["port"], k + ".port", 1, 65535);
    bool v6 = host.find(':') != std::string::npos && host.front() != '[';
    out.push_back((v6 ? "[" + host + "]" : host) + ":" + std::to_string(port));
  };
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); i++)
      one(node[i], key + "[" + std::to_string(i) + "]");
  } else {
    one(node, key);
  }
  return out;
}

// {exact: X} | {prefix: X} | {regex: X}, as in Istio's StringMatch. Regexes are compiled here.
http::StringMatch readStringMatch(const Reader &r, const YAML::Node &node, const std::string &key) {
  if (!node.IsMap())
    r.fail(node, key, "expected {exact: TEXT}, {prefix: TEXT} or {regex: TEXT}");
  r.onlyKeys(node, key, {"exact", "prefix", "regex"});
  if (node.size() != 1) {
    std::string given;
    for (const auto &entry : node)
      given += (given.empty() ? "" : " and ") + entry.first.as<std::string>();
    r.fail(node, key, "expected exactly one of exact, prefix or regex" + (given.empty() ? "" : ", got " + given));
  }
  std::string kind = node.begin()->first.as<std::string>();
  const YAML::Node value = node.begin()->second;
  std::string k = key + "." + kind;
  std::string text = r.text(value, k);
  auto matchKind = kind == "exact"    ? http::MatchKind::Exact
                   : kind == "prefix" ? http::MatchKind::Prefix
                                      : http::MatchKind::Regex;
  try {
    return http::makeStringMatch(matchKind, std::move(text), k);
  } catch (const UsageError &e) {
    r.failAt(value, e.what());
  }
}

std::string readHeaderName(const Reader &r, const YAML::Node &node, const std::string &key) {
  std::string name = r.text(node, key);
  try {
    return http::parseHeaderName(name, key.c_str());
  } catch (const UsageError &e) {
    r.failAt(node, e.what());
  }
}

// A mapping of header name to `valueShape` at `key`: visit(name, entry, entry's key) for each entry,
// its name checked first.
template <class Visit>
void readHeaderMap(const Reader &r, const YAML::Node &node, const std::string &key, const char *valueShape,
                   Visit visit) {
  if (!node.IsMap())
    r.fail(node, key, std::string("expected a mapping of header name to ") + valueShape);
  for (const auto &entry : node) {
    std::string k = key + "." + entry.first.as<std::string>();
    visit(readHeaderName(r, entry.first, k), entry, k);
  }
}

// One entry of `match:` or `exclude:`: every part given must match (Istio's HTTPMatchRequest).
http::RequestMatch readRequestMatch(const Reader &r, const YAML::Node &node, const std::string &key) {
  r.onlyKeys(node, key, {"method", "uri", "headers"});
  http::RequestMatch match;
  if (node["method"])
    match.method = readStringMatch(r, node["method"], key + ".method");
  if (node["uri"])
    match.path = readStringMatch(r, node["uri"], key + ".uri");
  if (auto headers = node["headers"])
    readHeaderMap(r, headers, key + ".headers", "{exact|prefix|regex: TEXT}",
                  [&](const std::string &name, const auto &entry, const std::string &k) {
                    match.headers.push_back({name, readStringMatch(r, entry.second, k)});
                  });
  if (!match.method && !match.path && match.headers.empty())
    r.fail(node, key, "an empty entry matches every request: give method, uri or headers");
  return match;
}

std::vector<http::RequestMatch> readRequestMatches(const Reader &r, const YAML::Node &node, const std::string &key) {
  if (!node.IsSequence())
    r.fail(node, key, "expected a list of entries with method, uri and/or headers");
  std::vector<http::RequestMatch> out;
  for (size_t i = 0; i < node.size(); i++)
    out.push_back(readRequestMatch(r, node[i], key + "[" + std::to_string(i) + "]"));
  return out;
}

// `http.compare:` of a service: {body: true, ignore: [JSON paths], baseline: {host, port} | HOST:PORT}.
BodyCompareOptions readCompare(const Reader &r, const YAML::Node &node, const std::string &key) {
  r.onlyKeys(node, key, {"body", "ignore", "baseline"});
  BodyCompareOptions compare;
  if (node["body"])
    compare.body = r.boolean(node["body"], key + ".body");
  if (auto ignore = node["ignore"]) {
    if (!ignore.IsSequence())
      r.fail(ignore, key + ".ignore", "expected a list of JSON paths, e.g. [\"$.meta.requestId\"]");
    for (size_t i = 0; i < ignore.size(); i++) {
      std::string k = key + ".ignore[" + std::to_string(i) + "]";
      std::string path = r.text(ignore[i], k);
      try {
        compare::validateJsonPath(path, k);
      } catch (const UsageError &e) {
        r.failAt(ignore[i], e.what());
      }
      compare.ignore.push_back(path);
    }
  }
  if (auto baseline = node["baseline"]) {
    if (baseline.IsSequence())
      r.fail(baseline, key + ".baseline", "expected one {host, port} or HOST:PORT");
    compare.baseline = readMirrors(r, baseline, key + ".baseline").front();
  }
  if (!compare.body && (node["ignore"] || node["baseline"]))
    r.fail(node, key, "ignore and baseline need body: true");
  return compare;
}

// `http:` of a service: Istio VirtualService-style match/exclude, a per-request percentage and
// `headers: {request: {set, remove}}` (Istio's Headers shape) for the mirrored copy; `compare:`
// (read by readCompare).
http::HttpRules readHttp(const Reader &r, const YAML::Node &node, const std::string &key) {
  r.onlyKeys(node, key, {"match", "exclude", "requestPercentage", "headers", "hostSuffix", "pool", "compare"});
  http::HttpRules rules;
  if (node["match"])
    rules.match = readRequestMatches(r, node["match"], key + ".match");
  if (node["exclude"])
    rules.exclude = readRequestMatches(r, node["exclude"], key + ".exclude");
  if (node["requestPercentage"])
    rules.requestRatePpm = r.percentage(node["requestPercentage"], key + ".requestPercentage");
  if (node["hostSuffix"])
    rules.hostSuffix = r.boolean(node["hostSuffix"], key + ".hostSuffix");
  if (node["pool"])
    rules.pooled = r.boolean(node["pool"], key + ".pool");
  if (auto headers = node["headers"]) {
    r.onlyKeys(headers, key + ".headers", {"request"});
    auto request = headers["request"];
    std::string rk = key + ".headers.request";
    if (!request)
      r.fail(headers, key + ".headers", "missing request");
    r.onlyKeys(request, rk, {"set", "remove"});
    // Each rule is checked as it is added, so an error points at its own line.
    auto check = [&](const YAML::Node &at, const std::string &k) {
      try {
        http::validate(rules);
      } catch (const UsageError &e) {
        r.fail(at, k, e.what());
      }
    };
    if (auto set = request["set"])
      readHeaderMap(r, set, rk + ".set", "value",
                    [&](const std::string &name, const auto &entry, const std::string &k) {
                      std::string value = r.text(entry.second, k);
                      try {
                        rules.setHeaders.push_back(http::parseHeaderAssignment(name + ": " + value, k.c_str()));
                      } catch (const UsageError &e) {
                        r.failAt(entry.second, e.what());
                      }
                      check(entry.first, k);
                    });
    if (auto remove = request["remove"]) {
      if (!remove.IsSequence())
        r.fail(remove, rk + ".remove", "expected a list of header names");
      for (size_t i = 0; i < remove.size(); i++) {
        std::string k = rk + ".remove[" + std::to_string(i) + "]";
        rules.removeHeaders.push_back(readHeaderName(r, remove[i], k));
        check(remove[i], k);
      }
    }
  }
  try {
    http::validate(rules);
  } catch (const UsageError &e) {
    r.fail(node, key, e.what());
  }
  return rules;
}

ServiceRule readService(const Reader &r, const YAML::Node &node, const std::string &key) {
  if (node.IsMap())
    for (const char *misplaced : {"match", "exclude", "requestPercentage", "headers", "hostSuffix", "setHeaders",
                                  "removeHeaders"})
      if (node[misplaced])
        r.fail(Reader::keyOf(node, misplaced), key + "." + misplaced,
               "HTTP rules go in the service's http: section (with protocol: http)");
  r.onlyKeys(node, key, {"name", "port", "mirrorPercentage", "mirror", "copies", "protocol", "http"});
  ServiceRule service;
  if (node["name"])
    service.name = r.text(node["name"], key + ".name");
  if (!node["port"])
    r.fail(node, key, "missing port");
  service.port = static_cast<uint16_t>(r.number(node["port"], key + ".port", 1, 65535));
  if (node["mirrorPercentage"])
    service.ratePpm = r.percentage(node["mirrorPercentage"], key + ".mirrorPercentage");
  if (node["mirror"])
    service.shadows = readMirrors(r, node["mirror"], key + ".mirror");
  if (node["copies"])
    service.copies = static_cast<unsigned>(r.number(node["copies"], key + ".copies", 1, 100));
  if (service.copies > 1 && service.shadows.empty())
    r.fail(node["copies"], key + ".copies", "copies needs a mirror target");
  if (node["protocol"])
    service.protocol = r.parsed(node["protocol"], key + ".protocol", parseProtocol);
  if (node["http"]) {
    if (service.protocol != Protocol::Http)
      r.fail(Reader::keyOf(node, "http"), key + ".http",
             std::string("HTTP rules need protocol: http (this service is ") + protocolName(service.protocol) + ")");
    service.http = readHttp(r, node["http"], key + ".http");
    if (auto compare = node["http"]["compare"])
      service.compare = readCompare(r, compare, key + ".http.compare");
  }
  return service;
}

} // namespace

std::string expandEnvironment(const std::string &text) {
  std::string out;
  for (size_t i = 0; i < text.size(); i++) {
    if (text.compare(i, 2, "${") == 0) {
      size_t close = text.find('}', i);
      if (close == std::string::npos)
        throw UsageError("unterminated ${ in '" + text + "'");
      std::string name = text.substr(i + 2, close - i - 2);
      const char *value = std::getenv(name.c_str());
      if (!value || !*value)
        throw UsageError("environment variable " + name + " is not set");
      out += value;
      i = close;
    } else {
      out += text[i];
    }
  }
  return out;
}

RunOptions loadConfigFile(const std::string &path) {
  Reader r(path);
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile &) {
    throw UsageError(path + ": cannot read the config file");
  } catch (const YAML::ParserException &e) {
    throw UsageError(path + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  if (!root.IsMap())
    throw UsageError(path + ": expected a mapping at the top (interface:, services:, ...)");
  r.onlyKeys(root, "",
             {"interface", "interfaces", "interfaceFromAddress", "mode", "direction", "logLevel", "mark", "mirrorInterface", "snaplen",
              "metricsAddress", "replaceStaleTap", "excludeClients", "limits", "workers", "replaySources", "services", "record"});

  RunOptions o;
  o.configPath = path;
  if (root["interface"])
    o.iface = r.text(root["interface"], "interface");
  if (root["interfaceFromAddress"])
    o.ifaceFromAddress = r.text(root["interfaceFromAddress"], "interfaceFromAddress");
  if (auto list = root["interfaces"]) {
    // Names and glob patterns ('cali*'), like repeated --iface.
    if (!list.IsSequence() || list.size() == 0)
      r.fail(list, "interfaces", "expected a list of interface names or patterns");
    // With interfaceFromAddress they come after the interface found by address (the node's NIC
    // and its pods' veths: interfaceFromAddress: ${NODE_IP} and interfaces: ['cali*']).
    for (size_t i = 0; i < list.size(); i++) {
      auto name = r.text(list[i], "interfaces[" + std::to_string(i) + "]");
      if (i == 0 && !root["interfaceFromAddress"])
        o.iface = name;
      else
        o.moreIfaces.push_back(name);
    }
  }
  if (root["interface"] && (root["interfaces"] || root["interfaceFromAddress"]))
    r.fail(root["interfaces"] ? root["interfaces"] : root["interfaceFromAddress"],
           root["interfaces"] ? "interfaces" : "interfaceFromAddress",
           "give interface or interfaces (or interfaceFromAddress and interfaces), not both");
  if (root["mode"])
    o.mode = r.parsed(root["mode"], "mode", parseMode);
  if (root["direction"])
    o.direction = r.parsed(root["direction"], "direction", parseDirection);
  if (root["logLevel"]) {
    o.logLevel = r.text(root["logLevel"], "logLevel");
    static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
    if (!levels.count(o.logLevel))
      r.fail(root["logLevel"], "logLevel", "use trace, debug, info, warn, error or off");
  }
  if (root["mark"])
    o.skipMark = r.parsed(root["mark"], "mark", parseMark);
  if (root["mirrorInterface"])
    o.mirrorIface = r.text(root["mirrorInterface"], "mirrorInterface");
  if (root["metricsAddress"])
    o.metricsAddr = r.text(root["metricsAddress"], "metricsAddress");
  if (root["replaceStaleTap"])
    o.replaceStale = r.boolean(root["replaceStaleTap"], "replaceStaleTap");
  if (auto sources = root["replaySources"]) {
    if (!sources.IsSequence())
      r.fail(sources, "replaySources", "expected a list of addresses");
    for (size_t i = 0; i < sources.size(); i++) {
      std::string key = "replaySources[" + std::to_string(i) + "]";
      o.replaySources.push_back(r.parsed(sources[i], key, [&](const std::string &t) { return parseIpAddress(t, key.c_str()); }));
    }
  }
  if (root["workers"])
    o.workers = static_cast<unsigned>(r.number(root["workers"], "workers", 1, 64));
  if (root["snaplen"])
    o.snaplen = static_cast<uint32_t>(r.number(root["snaplen"], "snaplen", 64, ST_MAX_SNAPLEN));
  if (auto ex = root["excludeClients"]) {
    if (!ex.IsSequence())
      r.fail(ex, "excludeClients", "expected a list of CIDRs");
    for (size_t i = 0; i < ex.size(); i++)
      o.excludes.push_back(r.parsed(ex[i], "excludeClients[" + std::to_string(i) + "]", parseCidr));
  }
  if (auto limits = root["limits"]) {
    r.onlyKeys(limits, "limits", {"maxFlows", "gapTimeoutMs", "flowBufferMb", "replayBufferMb", "maxReplayConns",
                                   "replayQueue", "captureBufferMb"});
    if (limits["maxReplayConns"])
      o.maxReplayConns = r.number(limits["maxReplayConns"], "limits.maxReplayConns", 1, 10'000'000);
    if (limits["replayQueue"])
      o.replayQueue = r.number(limits["replayQueue"], "limits.replayQueue", 0, RunOptions::kMaxReplayQueue);
    if (limits["maxFlows"])
      o.flowLimits.maxFlows = r.number(limits["maxFlows"], "limits.maxFlows", 1, 10'000'000);
    if (limits["gapTimeoutMs"])
      o.flowLimits.gapTimeoutNs = r.number(limits["gapTimeoutMs"], "limits.gapTimeoutMs", 1, 600000) * 1000000ull;
    if (limits["flowBufferMb"])
      o.flowLimits.maxBufferedTotal = r.number(limits["flowBufferMb"], "limits.flowBufferMb", 1, 65536) << 20;
    if (limits["captureBufferMb"]) // the range depends on the mode: validate() checks it
      o.captureBufferMb = static_cast<uint32_t>(
          r.number(limits["captureBufferMb"], "limits.captureBufferMb", 1, RunOptions::kMaxCaptureBufferMbTc));
    if (limits["replayBufferMb"])
      o.replayBacklogBytes = r.number(limits["replayBufferMb"], "limits.replayBufferMb", 1, 65536) << 20;
  }
  if (auto record = root["record"]) {
    // record: {directory: DIR, maxBytes: SIZE}
    r.onlyKeys(record, "record", {"directory", "maxBytes"});
    if (!record["directory"])
      r.fail(record, "record", "expected directory: (and optionally maxBytes:)");
    o.recordDir = r.text(record["directory"], "record.directory");
    if (record["maxBytes"])
      o.recordMaxBytes = r.parsed(record["maxBytes"], "record.maxBytes",
                                  [](const std::string &t) { return parseByteSize(t, "record.maxBytes"); });
  }
  auto services = root["services"];
  if (!services || !services.IsSequence() || services.size() == 0)
    r.fail(services ? services : root, "services", "expected a list with at least one service");
  std::set<uint16_t> ports;
  for (size_t i = 0; i < services.size(); i++) {
    std::string key = "services[" + std::to_string(i) + "]";
    auto service = readService(r, services[i], key);
    if (!ports.insert(service.port).second)
      r.fail(services[i]["port"], key + ".port", "port " + std::to_string(service.port) + " is configured twice");
    o.services.push_back(std::move(service));
  }
  return o;
}

} // namespace shadowtap
