// SPDX-License-Identifier: Apache-2.0
// Every interface one agent taps, and what they share. `--iface` is repeatable and takes glob
// patterns (`--iface 'cali*' --iface eth0`): an interface named literally must exist at start
// and its disappearance stops the agent (nothing would be mirrored again); an interface matched
// by a pattern is followed: tapped when it appears (a pod's veth), forgotten when it goes,
// without disturbing the others.
//
// Shared by all of them: one mirror interface (every clone goes into it, so the capture and the
// workers are the same for one interface or fifty), and one set of maps holding the
// configuration and the connections (rules, exclusions, flow decisions, XDP ring), owned by a
// maps-only datapath that lives as long as the agent. Each tap keeps its own programs, pins,
// counters, state and st_runtime (direction and budgets are per interface: a pod's veth has
// requests on egress, a node NIC on ingress).
//
// Threads: the set changes only on the control thread (rescan); workers reach it only through
// setAdmitPaused, ringFull and shedFlow, which are safe from any thread.
#pragma once

#include "bpf/datapath.h"
#include "bpf/pinned_maps.h"
#include "config/run_options.h"
#include "net/mirror_pair.h"
#include "tap/tap.h"
#include "tap/tap_set_stats.h" // TapSetStats: generated from stats/stats_schema.toml

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace shadowtap {

// What the agent's run files, mirror and metrics are named after: the interface when exactly one
// is named literally (as always), else the first pattern with its glob characters made '_'.
std::string tapSetName(const std::vector<std::string> &patterns);
bool isInterfacePattern(const std::string &name); // has *, ? or [

class TapSet {
public:
  // Creates the mirror and the shared maps, fills them from `options`, and taps every interface
  // named or matched now. Throws Error if a literally named one cannot be tapped.
  TapSet(const RunOptions &options, const std::string &bpffs);
  ~TapSet();
  TapSet(const TapSet &) = delete;
  TapSet &operator=(const TapSet &) = delete;

  struct Changes {
    std::vector<std::string> added, removed;
    bool more = false; // interfaces are left to tap: call again (after serving the loop)
  };
  // Control thread: forgets pattern-matched interfaces that are gone, and taps one that newly
  // matches a pattern (loading its programs takes about half a second: one per call, so the
  // control loop answers /healthz and status between two when fifty pods appear at once). A
  // failure to tap one is logged and counted, and not retried until the interface is recreated.
  Changes rescan();
  // The first literally named interface that is gone (deleted, or its name taken), or "".
  std::string goneNamedInterface() const;

  // Reconfiguration (control thread): rules and exclusions in the shared maps, runtime per tap.
  void applyRules(const RunOptions &options);
  void applyRuntime(const RunOptions &options);

  // Any thread.
  void setAdmitPaused(bool paused);
  uint64_t ringFull() const; // summed over every tap, gone ones included
  TapMaps::ShedOutcome shedFlow(const st_flow_key &key) noexcept;
  bool flowShed(const st_flow_key &key) const noexcept; // the kernel gave it up (ST_FLOW_SHED)

  // Control thread.
  const std::string &name() const { return name_; }
  const MirrorPair &mirror() const { return *mirror_; }
  const Datapath &shared() const { return *shared_; }
  TapSetStats stats() const;
  // Whether the capture copies responses up to their TCP header now (the shared runtime's flag).
  bool responsesHeadersOnly() const;
  void forEach(const std::function<void(const Tap &)> &visit) const;
  CounterValues counters() const; // kernel counters summed over every tap, gone ones included

private:
  bool named(const std::string &iface) const;
  void writeSharedRuntime(const RunOptions &options);
  void tap(const std::string &iface); // throws Error
  void forget(const std::string &iface);

  RunOptions options_;
  std::string bpffs_;
  std::string name_;
  uint32_t seed_;
  std::unique_ptr<MirrorPair> mirror_;
  std::unique_ptr<Datapath> shared_;
  std::unique_ptr<TapMaps> sharedMaps_; // rules, exclusions, flows of shared_
  mutable std::mutex mutex_;            // guards taps_ and the counts below against worker threads
  std::map<std::string, std::unique_ptr<Tap>> taps_;
  std::map<std::string, int> failed_;   // pattern-matched interface -> the ifindex that failed
  CounterValues goneCounters_{};        // what forgotten taps had counted
  TapSetStats stats_;
};

} // namespace shadowtap
