// SPDX-License-Identifier: Apache-2.0
#include "bpf/pinned_maps.h"

#include "common/error.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>

namespace shadowtap {
namespace {

int openPin(const std::string &pinDir, const char *name, std::vector<UniqueFd> &owned) {
  std::string path = pinDir + "/" + name;
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      throw Error("no shadowtap tap found at " + pinDir + " (missing " + name +
                  "): is `shadowtap run` running on this interface?");
    throwErrno("failed to open pinned map " + path, err);
  }
  owned.emplace_back(fd);
  return fd;
}

void update(int fd, const void *key, const void *value, const char *what) {
  if (bpf_map_update_elem(fd, key, value, BPF_ANY) != 0)
    throwErrno(std::string("failed to update ") + what, errno);
}

// The one element of a single-element array map (runtime config, agent state).
template <class T> T readSingle(int fd, const char *what) {
  uint32_t zero = 0;
  T value{};
  if (bpf_map_lookup_elem(fd, &zero, &value) != 0)
    throwErrno(std::string("failed to read ") + what, errno);
  return value;
}

template <class T> void writeSingle(int fd, const T &value, const char *what) {
  uint32_t zero = 0;
  update(fd, &zero, &value, what);
}

} // namespace

TapMaps TapMaps::openPinned(const std::string &pinDir) {
  std::vector<UniqueFd> owned;
  MapFds fds;
  fds.rules = openPin(pinDir, ST_MAP_RULES, owned);
  fds.excludes = openPin(pinDir, ST_MAP_EXCLUDES, owned);
  fds.runtime = openPin(pinDir, ST_MAP_RUNTIME, owned);
  fds.counters = openPin(pinDir, ST_MAP_COUNTERS, owned);
  fds.state = openPin(pinDir, ST_MAP_STATE, owned);
  fds.flows = openPin(pinDir, ST_MAP_FLOWS, owned);
  TapMaps maps(fds);
  maps.owned_ = std::move(owned);
  return maps;
}

void TapMaps::setRule(uint16_t port, const st_rule &rule) { update(fds_.rules, &port, &rule, "service rule"); }

void TapMaps::removeRule(uint16_t port) {
  if (bpf_map_delete_elem(fds_.rules, &port) != 0 && errno != ENOENT)
    throwErrno("failed to remove the rule of port " + std::to_string(port), errno);
}

std::optional<st_rule> TapMaps::rule(uint16_t port) const {
  st_rule rule{};
  if (bpf_map_lookup_elem(fds_.rules, &port, &rule) != 0)
    return std::nullopt;
  return rule;
}

std::map<uint16_t, st_rule> TapMaps::rules() const {
  std::map<uint16_t, st_rule> out;
  uint16_t key = 0, next = 0;
  const void *prev = nullptr;
  while (bpf_map_get_next_key(fds_.rules, prev, &next) == 0) {
    st_rule rule{};
    if (bpf_map_lookup_elem(fds_.rules, &next, &rule) == 0)
      out[next] = rule;
    key = next;
    prev = &key;
  }
  return out;
}

void TapMaps::addExclude(const st_lpm_key &key) {
  uint8_t one = 1;
  update(fds_.excludes, &key, &one, "excluded CIDR");
}

bool TapMaps::removeExclude(const st_lpm_key &key) {
  if (bpf_map_delete_elem(fds_.excludes, &key) == 0)
    return true;
  if (errno == ENOENT)
    return false;
  throwErrno("failed to remove excluded CIDR", errno);
}

std::vector<st_lpm_key> TapMaps::excludes() const {
  std::vector<st_lpm_key> out;
  st_lpm_key key{}, next{};
  const void *prev = nullptr;
  while (bpf_map_get_next_key(fds_.excludes, prev, &next) == 0) {
    out.push_back(next);
    key = next;
    prev = &key;
  }
  return out;
}

st_runtime TapMaps::runtime() const {
  return readSingle<st_runtime>(fds_.runtime, "runtime config");
}

void TapMaps::setRuntime(const st_runtime &runtime) {
  writeSingle(fds_.runtime, runtime, "runtime config");
}

st_state TapMaps::state() const {
  return readSingle<st_state>(fds_.state, "agent state");
}

void TapMaps::setState(const st_state &state) {
  writeSingle(fds_.state, state, "agent state");
}

CounterValues TapMaps::counters() const {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0)
    throwErrno("failed to count possible CPUs", cpus);
  std::vector<uint64_t> perCpu(static_cast<size_t>(cpus));
  CounterValues totals{};
  for (uint32_t i = 0; i < ST_C_MAX; i++) {
    if (bpf_map_lookup_elem(fds_.counters, &i, perCpu.data()) != 0)
      throwErrno("failed to read counters", errno);
    for (uint64_t v : perCpu)
      totals[i] += v;
  }
  return totals;
}

TapMaps::ShedOutcome TapMaps::shedFlow(const st_flow_key &key) noexcept {
  // Keep the hash the SYN recorded; a decision already gone from the LRU is written anew (the
  // kernel would otherwise decide the connection's next packet by hash, and mirror it again).
  st_flow_decision decision{};
  if (bpf_map_lookup_elem(fds_.flows, &key, &decision) == 0 && decision.mirrored == ST_FLOW_SHED)
    return ShedOutcome::AlreadyShed;
  decision.mirrored = ST_FLOW_SHED;
  return bpf_map_update_elem(fds_.flows, &key, &decision, BPF_ANY) == 0 ? ShedOutcome::Shed : ShedOutcome::Failed;
}

bool TapMaps::flowShed(const st_flow_key &key) const noexcept {
  st_flow_decision decision{};
  return bpf_map_lookup_elem(fds_.flows, &key, &decision) == 0 && decision.mirrored == ST_FLOW_SHED;
}

size_t TapMaps::dropFlowsDecidedOn(uint32_t ifindex) noexcept {
  std::vector<st_flow_key> gone;
  st_flow_key key{}, next{};
  const st_flow_key *prev = nullptr;
  while (bpf_map_get_next_key(fds_.flows, prev, &next) == 0) {
    st_flow_decision decision{};
    if (bpf_map_lookup_elem(fds_.flows, &next, &decision) == 0 && decision.ifindex == ifindex)
      gone.push_back(next);
    key = next;
    prev = &key;
  }
  size_t dropped = 0;
  for (const auto &k : gone)
    dropped += bpf_map_delete_elem(fds_.flows, &k) == 0;
  return dropped;
}

} // namespace shadowtap
