// SPDX-License-Identifier: Apache-2.0
#include "tap/tap_set.h"

#include "common/error.h"
#include "net/link.h"
#include "tap/preflight.h"

#include <algorithm>
#include <cstring>
#include <fnmatch.h>
#include <random>
#include <spdlog/spdlog.h>

namespace shadowtap {

bool isInterfacePattern(const std::string &name) { return name.find_first_of("*?[") != std::string::npos; }

std::string tapSetName(const std::vector<std::string> &patterns) {
  std::string name = patterns.empty() ? "none" : patterns.front();
  if (patterns.size() == 1 && !isInterfacePattern(name))
    return name;
  std::replace_if(name.begin(), name.end(), [](char c) { return std::strchr("*?[]!", c) != nullptr; }, '_');
  return name;
}

TapSet::TapSet(const RunOptions &options, const std::string &bpffs)
    : options_(options), bpffs_(bpffs), name_(tapSetName(options.interfacePatterns())),
      seed_(std::random_device{}()) {
  // Every literally named interface is checked before anything is made: a typo is one error line.
  for (const auto &pattern : options.interfacePatterns())
    if (!isInterfacePattern(pattern)) {
      requireIfindex(pattern, "--iface");
      claimInterface(pattern, bpffs, options.replaceStale); // before the mirror: say who holds it
    }
  mirror_ = std::make_unique<MirrorPair>(name_, options.mirrorIface, options.mirrorVxlan, options.vni);
  Datapath::Settings settings;
  settings.mode = options.mode;
  settings.mapsOnly = true;
  settings.ringBytes = options.captureBufferBytes();
  shared_ = std::make_unique<Datapath>(settings);
  shared_->load();
  sharedMaps_ = std::make_unique<TapMaps>(shared_->mapFds());
  writeSharedRuntime(options);
  applyRules(options);

  for (const auto &pattern : options.interfacePatterns())
    if (!isInterfacePattern(pattern) && !taps_.count(pattern))
      tap(pattern); // throws: a named interface that cannot be tapped is an error at start
  while (rescan().more) {
  }
}

TapSet::~TapSet() {
  // Taps first (their programs stop cloning into the mirror), then the shared maps, the mirror.
  std::lock_guard lock(mutex_);
  taps_.clear();
}

// The shared datapath's own st_runtime is read only by the capture socket programs: the seed of
// the fan-out (both directions of a connection to one worker: the taps' seed) and whether
// responses are copied whole.
void TapSet::writeSharedRuntime(const RunOptions &options) {
  st_runtime runtime{};
  runtime.seed = seed_;
  runtime.flags = responseHeadersOnly(options) ? ST_RT_RESPONSE_HEADERS_ONLY : 0;
  sharedMaps_->setRuntime(runtime);
}

bool TapSet::named(const std::string &iface) const {
  const auto &patterns = options_.interfacePatterns();
  return std::find(patterns.begin(), patterns.end(), iface) != patterns.end();
}

TapSet::Changes TapSet::rescan() {
  Changes changes;
  // Gone first: a name taken by a new interface is forgotten, then tapped again as the new one.
  std::vector<std::string> gone;
  for (const auto &[iface, tap] : taps_)
    if (!named(iface) && !tap->interfacePresent())
      gone.push_back(iface);
  for (const auto &iface : gone) {
    forget(iface);
    changes.removed.push_back(iface);
  }

  for (const auto &iface : interfaceNames()) {
    if (taps_.count(iface) || named(iface))
      continue;
    // Never a mirror (ours, or another agent's st-*): its clones would be cloned again.
    if (iface == mirror_->txName() || iface == mirror_->rxName() || iface.rfind("st-", 0) == 0)
      continue;
    bool matches = false;
    for (const auto &pattern : options_.interfacePatterns())
      matches = matches || (isInterfacePattern(pattern) && ::fnmatch(pattern.c_str(), iface.c_str(), 0) == 0);
    if (!matches)
      continue;
    int ifindex = ifindexOf(iface);
    if (auto failed = failed_.find(iface); failed != failed_.end() && failed->second == ifindex)
      continue;
    if (!changes.added.empty() || changes.more) {
      changes.more = true;
      break;
    }
    try {
      tap(iface);
      failed_.erase(iface);
      changes.added.push_back(iface);
    } catch (const std::exception &e) {
      failed_[iface] = ifindex;
      changes.more = true; // the others that match are still to be tried
      std::lock_guard lock(mutex_);
      stats_.attachFailures++;
      spdlog::warn("cannot tap {} (matched by --iface): {}", iface, e.what());
    }
  }
  return changes;
}

void TapSet::tap(const std::string &iface) {
  auto made = std::make_unique<Tap>(options_, iface, bpffs_, *mirror_, *shared_, seed_);
  std::lock_guard lock(mutex_);
  taps_[iface] = std::move(made);
  stats_.attached++;
  if (!named(iface))
    spdlog::info("tapping {} (matched by --iface)", iface);
}

void TapSet::forget(const std::string &iface) {
  std::unique_ptr<Tap> going;
  {
    std::lock_guard lock(mutex_);
    auto it = taps_.find(iface);
    if (it == taps_.end())
      return;
    going = std::move(it->second);
    taps_.erase(it);
    stats_.forgotten++;
    try {
      auto counters = going->maps().counters();
      for (size_t i = 0; i < counters.size(); i++)
        goneCounters_[i] += counters[i];
    } catch (const std::exception &) {
    }
  }
  auto ifindex = static_cast<uint32_t>(going->ifindex());
  going.reset(); // outside the lock: detaching takes a while and workers must not wait on it
  size_t flows = sharedMaps_->dropFlowsDecidedOn(ifindex);
  spdlog::info("{} is gone: forgotten with the {} connection decision{} it made (the other interfaces go on)", iface,
               flows, flows == 1 ? "" : "s");
}

std::string TapSet::goneNamedInterface() const {
  for (const auto &[iface, tap] : taps_)
    if (named(iface) && !tap->interfacePresent())
      return iface;
  return "";
}

void TapSet::applyRules(const RunOptions &options) {
  // Add or change every configured port, then drop the ports no longer configured: a port that
  // stays keeps matching throughout, so its open connections are never cut.
  auto mirrorIfindex = static_cast<uint32_t>(mirror_->txIfindex());
  for (const auto &service : options.services)
    sharedMaps_->setRule(service.port, st_rule{service.ratePpm, mirrorIfindex, ST_RULE_ENABLED, 0});
  for (const auto &[port, rule] : sharedMaps_->rules()) {
    bool kept = false;
    for (const auto &service : options.services)
      kept = kept || service.port == port;
    if (!kept)
      sharedMaps_->removeRule(port);
  }
  // Same for exclusions.
  for (const auto &cidr : options.excludes)
    sharedMaps_->addExclude(cidr.key);
  for (const auto &key : sharedMaps_->excludes()) {
    bool kept = false;
    for (const auto &cidr : options.excludes)
      kept = kept || std::memcmp(&cidr.key, &key, sizeof(key)) == 0;
    if (!kept)
      sharedMaps_->removeExclude(key);
  }
}

void TapSet::applyRuntime(const RunOptions &options) {
  options_ = options; // what interfaces tapped from now on start with (a reload changes no pattern)
  writeSharedRuntime(options); // an HTTP service added by a reload needs responses whole
  std::lock_guard lock(mutex_);
  for (auto &[iface, tap] : taps_)
    tap->applyRuntime(options);
}

void TapSet::setAdmitPaused(bool paused) {
  std::lock_guard lock(mutex_);
  for (auto &[iface, tap] : taps_) {
    // Checked every time, not only on a change: `shadowtap set` rewrites st_runtime with whatever
    // it read, and must not leave admission paused (or resumed) behind our back.
    try {
      auto runtime = tap->maps().runtime();
      if (runtime.admit_paused != static_cast<uint32_t>(paused)) {
        runtime.admit_paused = paused;
        tap->maps().setRuntime(runtime);
      }
    } catch (const std::exception &e) {
      spdlog::warn("overload: cannot update admission on {}: {}", iface, e.what()); // fail open
    }
  }
}

uint64_t TapSet::ringFull() const { return counters()[ST_C_RING_FULL]; }

CounterValues TapSet::counters() const {
  std::lock_guard lock(mutex_);
  CounterValues total = goneCounters_;
  try { // the shared maps' counters: only the capture filter counts there (ring_guard)
    total[ST_C_RING_GUARD] += sharedMaps_->counters()[ST_C_RING_GUARD];
  } catch (const std::exception &) {
  }
  for (const auto &[iface, tap] : taps_) {
    try {
      auto counters = tap->maps().counters();
      for (size_t i = 0; i < counters.size(); i++)
        total[i] += counters[i];
    } catch (const std::exception &) { // a map of an interface going away
    }
  }
  return total;
}

TapMaps::ShedOutcome TapSet::shedFlow(const st_flow_key &key) noexcept { return sharedMaps_->shedFlow(key); }
bool TapSet::flowShed(const st_flow_key &key) const noexcept { return sharedMaps_->flowShed(key); }

bool TapSet::responsesHeadersOnly() const {
  try {
    return sharedMaps_->runtime().flags & ST_RT_RESPONSE_HEADERS_ONLY;
  } catch (const std::exception &) {
    return false;
  }
}

TapSetStats TapSet::stats() const {
  std::lock_guard lock(mutex_);
  TapSetStats stats = stats_;
  stats.tapped = taps_.size();
  return stats;
}

void TapSet::forEach(const std::function<void(const Tap &)> &visit) const {
  std::lock_guard lock(mutex_);
  for (const auto &[iface, tap] : taps_)
    visit(*tap);
}

} // namespace shadowtap
