// SPDX-License-Identifier: Apache-2.0
// Typed views over the maps of one tap, reached through their pins (so `set`, `status` and
// `detach` work from another process) or through a live skeleton's fds (borrowed, not owned).
#pragma once

#include "bpf/counter_names.h"
#include "common/unique_fd.h"
#include "shadowtap/shared.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shadowtap {

struct MapFds {
  int rules = -1;
  int excludes = -1;
  int runtime = -1;
  int counters = -1;
  int state = -1;
  int flows = -1; // st_flows: the kernel's per-connection decisions
};

class TapMaps {
public:
  // Borrow fds owned elsewhere (a skeleton): they are not closed here.
  explicit TapMaps(const MapFds &fds) : fds_(fds) {}
  // Open the pins in `pinDir`. Throws Error naming the missing map and `detach`/`run`.
  static TapMaps openPinned(const std::string &pinDir);

  void setRule(uint16_t port, const st_rule &rule);
  void removeRule(uint16_t port);
  std::optional<st_rule> rule(uint16_t port) const;
  std::map<uint16_t, st_rule> rules() const;

  void addExclude(const st_lpm_key &key);
  bool removeExclude(const st_lpm_key &key); // false if it was not there
  std::vector<st_lpm_key> excludes() const;

  st_runtime runtime() const;
  void setRuntime(const st_runtime &runtime);

  st_state state() const;
  void setState(const st_state &state);

  CounterValues counters() const; // summed over every possible CPU

  // Overload: the kernel stops mirroring this connection (ST_FLOW_SHED) from its next packet.
  // AlreadyShed: the kernel had given it up itself (the capture ring guard), nothing written.
  // Fails open: Failed when the map cannot be written (the connection stays mirrored).
  enum class ShedOutcome { Shed, AlreadyShed, Failed };
  ShedOutcome shedFlow(const st_flow_key &key) noexcept;
  // Whether the kernel gave this connection up (ST_FLOW_SHED). False when it cannot tell.
  bool flowShed(const st_flow_key &key) const noexcept;
  // An interface of the agent went: the connections it decided are forgotten, so a new connection
  // with one of their tuples (a pod's address reused) is decided afresh wherever it is seen first.
  size_t dropFlowsDecidedOn(uint32_t ifindex) noexcept;

private:
  MapFds fds_;
  std::vector<UniqueFd> owned_; // only for openPinned
};

} // namespace shadowtap
