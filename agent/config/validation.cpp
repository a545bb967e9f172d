// SPDX-License-Identifier: Apache-2.0
#include "config/validation.h"

#include "common/error.h"

#include <algorithm>
#include <net/if.h>

namespace shadowtap {

void validateIfaceName(const std::string &name, const char *flag) {
  if (name.empty())
    throw UsageError(std::string("missing ") + flag);
  if (name.size() >= IFNAMSIZ || name.find('/') != std::string::npos || name == "." || name == "..")
    throw UsageError(std::string("invalid ") + flag + " '" + name + "': not an interface name");
}

void validate(const RunOptions &options) {
  auto patterns = options.interfacePatterns();
  for (size_t i = 0; i < patterns.size(); i++) {
    validateIfaceName(patterns[i], "--iface");
    for (size_t j = 0; j < i; j++)
      if (patterns[j] == patterns[i])
        throw UsageError("--iface " + patterns[i] + " is given twice");
  }
  validateAllButIface(options);
}

void validateServices(const std::vector<ServiceRule> &services) {
  if (services.empty())
    throw UsageError("missing --port: name at least one service port");
  if (services.size() > ST_MAX_RULES)
    throw UsageError("too many services: at most " + std::to_string(ST_MAX_RULES));
  for (size_t i = 0; i < services.size(); i++) {
    const auto &service = services[i];
    if (service.port == 0)
      throw UsageError("invalid port 0: expected 1 to 65535");
    for (size_t j = 0; j < i; j++)
      if (services[j].port == service.port)
        throw UsageError("port " + std::to_string(service.port) + " is configured twice");
    if (service.ratePpm > ST_RATE_SCALE)
      throw UsageError("invalid --percent: above 100");
    if (service.copies < 1 || service.copies > 100)
      throw UsageError("invalid --copies: expected 1 to 100");
    if (service.copies > 1 && service.shadows.empty())
      throw UsageError("--copies needs at least one --shadow");
    if (const auto &baseline = service.compare.baseline) {
      if (service.shadows.empty())
        throw UsageError("--baseline needs at least one --shadow: it is compared with the shadows");
      for (const auto &shadow : service.shadows)
        if (shadow == *baseline)
          throw UsageError("--baseline " + *baseline +
                           " is also a --shadow: the baseline is a second copy of the "
                           "primary's version, not a candidate");
    }
  }
}

// The capture buffer's range is the mode's: a TPACKET_V3 ring of 128 KiB blocks, eight to a MiB
// (below 8 MiB it rides out too short a stall), or a BPF ring buffer, whose size the kernel wants
// a power of two.
static void validateCaptureBuffer(const RunOptions &options) {
  if (!options.captureBufferMb)
    return;
  uint32_t mb = *options.captureBufferMb;
  if (options.mirrorVxlan)
    throw UsageError("--capture-buffer-mb sizes this node's capture; with --mirror-vxlan the collector captures");
  if (options.mode == Mode::Xdp) {
    if (mb == 0 || mb > RunOptions::kMaxCaptureBufferMbXdp || (mb & (mb - 1)))
      throw UsageError("invalid --capture-buffer-mb: in xdp mode a power of two up to " +
                       std::to_string(RunOptions::kMaxCaptureBufferMbXdp) + " (a BPF ring buffer's size)");
  } else if (mb < RunOptions::kMinCaptureBufferMbTc || mb > RunOptions::kMaxCaptureBufferMbTc) {
    throw UsageError("invalid --capture-buffer-mb: expected " + std::to_string(RunOptions::kMinCaptureBufferMbTc) +
                     " to " + std::to_string(RunOptions::kMaxCaptureBufferMbTc));
  }
}

void validateAllButIface(const RunOptions &options) {
  validateServices(options.services);
  if (options.mirrorIface) {
    validateIfaceName(*options.mirrorIface, "--mirror-iface");
    auto patterns = options.interfacePatterns();
    if (std::find(patterns.begin(), patterns.end(), *options.mirrorIface) != patterns.end())
      throw UsageError("--mirror-iface must differ from --iface: mirroring an interface into itself loops");
  }
  if (options.mirrorVxlan) {
    // The collector replays: on this node the clones only leave, so nothing here may read them.
    if (options.mirrorIface)
      throw UsageError("--mirror-vxlan and --mirror-iface both say where clones go: give one");
    if (options.mode == Mode::Xdp)
      throw UsageError("--mirror-vxlan needs --mode tc: XDP cannot clone a packet to another interface");
    if (options.replays() || options.recordDir)
      throw UsageError("--mirror-vxlan sends the clones to a collector, which replays (`shadowtap collect "
                       "--shadow ...`): no --shadow or --record on this node");
  }
  if (options.snaplen < 64 || options.snaplen > ST_MAX_SNAPLEN)
    throw UsageError("invalid --snaplen: expected 64 to " + std::to_string(ST_MAX_SNAPLEN));
  validateCaptureBuffer(options);
  if (options.replayQueue > RunOptions::kMaxReplayQueue) // each waiting replay holds its object and bytes
    throw UsageError("invalid --replay-queue: expected 0 to " + std::to_string(RunOptions::kMaxReplayQueue));
  if (options.pcapPath && options.mode != Mode::Xdp)
    throw UsageError("--pcap works in --mode xdp (in tc mode, capture the mirror interface instead)");
  if (options.recordDir && options.recordDir->empty())
    throw UsageError("invalid --record: empty directory");
  if (options.recordMaxBytes < (1u << 20))
    throw UsageError("invalid --record-max-bytes: at least 1M");
  if (options.flowLimits.maxFlows < 1)
    throw UsageError("invalid --max-flows: at least 1");
  if (options.excludes.size() > ST_MAX_EXCLUDES)
    throw UsageError("too many --exclude-cidr: at most " + std::to_string(ST_MAX_EXCLUDES));
}

void validate(const ReplayCommandOptions &options) {
  if (options.from.empty())
    throw UsageError("missing --from: a pcap/pcapng capture or a recording (--record DIR of `run`)");
  validateServices(options.services);
  for (const auto &service : options.services)
    if (service.shadows.empty())
      throw UsageError("missing --shadow: replay sends every connection to at least one HOST:PORT");
  if (!(options.speed >= 0) || options.speed > 1e6)
    throw UsageError("invalid --speed: expected a factor above 0 and at most 1000000, or max");
  if (!(options.durationS >= 0))
    throw UsageError("invalid --duration: expected seconds, 0 or more");
  if (options.loops == 0 && options.durationS == 0)
    throw UsageError("--loop 0 replays until stopped: give --duration S as well");
}

void validate(const CollectCommandOptions &options) {
  validateServices(options.services);
  for (const auto &service : options.services)
    if (service.shadows.empty() && !options.recordDir)
      throw UsageError("missing --shadow: collect replays every connection to at least one HOST:PORT (or --record DIR)");
  if (!(options.durationS >= 0))
    throw UsageError("invalid --duration: expected seconds, 0 or more");
  if (options.recordMaxBytes < (1u << 20))
    throw UsageError("invalid --record-max-bytes: at least 1M");
}

void validate(const SetOptions &options) {
  validateIfaceName(options.iface, "--iface");
  if (options.ratePpm && !options.port)
    throw UsageError("--percent needs --port: say which service's rate to change");
  if (!options.ratePpm && !options.enabled && options.excludes.empty() && options.includes.empty() &&
      !options.port)
    throw UsageError("nothing to set: give --port/--percent, --exclude-cidr, --include-cidr, --enable or --disable");
  if (options.port && !options.ratePpm)
    throw UsageError("--port needs --percent");
}

} // namespace shadowtap
