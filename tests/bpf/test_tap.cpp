// SPDX-License-Identifier: Apache-2.0
#include "test_tap.h"

#include "common/enum_names.h"

#include "bpf/counter_names.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <linux/bpf.h>
#include <sstream>
#include <stdexcept>
#include <sys/mman.h>
#include <unistd.h>

namespace shadowtap::test {

std::string hookName(Hook hook) {
  static constexpr EnumName<Hook> kNames[] = {
      {Hook::TcIngress, "tc_ingress"}, {Hook::TcEgress, "tc_egress"}, {Hook::XdpIngress, "xdp_ingress"}};
  return nameOf(kNames, hook);
}

TestTap::TestTap(Mode mode, uint32_t snaplen)
    : mode_(mode), snaplen_(snaplen), datapath_(Datapath::Settings{mode, snaplen, ""}),
      maps_((datapath_.load(), datapath_.mapFds())) {
  if (mode_ == Mode::Xdp)
    ring_ = std::make_unique<RingReader>(datapath_.ringFd(),
                                         [this](const st_pkt_meta &meta, std::span<const uint8_t> frame) {
                                           pending_.push_back({meta, Bytes(frame.begin(), frame.end())});
                                         });
  reset();
}

bool TestTap::hasHook(Hook hook) const {
  switch (hook) {
  case Hook::TcIngress:
    return mode_ == Mode::Tc;
  case Hook::TcEgress:
    return true;
  case Hook::XdpIngress:
    return mode_ == Mode::Xdp;
  }
  return false;
}

RunResult TestTap::runFanout(const Bytes &packet) const { return runSocketFilter(datapath_.fanoutFd(), packet); }

RunResult TestTap::runCaptureSnap(const Bytes &packet) const {
  return runSocketFilter(datapath_.captureSnapFd(), packet);
}

RunResult TestTap::runSocketFilter(int fd, const Bytes &packet) const {
  RunResult result;
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = packet.data();
  opts.data_size_in = static_cast<uint32_t>(packet.size());
  result.out.resize(packet.size() + 512);
  opts.data_out = result.out.data();
  opts.data_size_out = static_cast<uint32_t>(result.out.size());
  opts.repeat = 1;
  if (bpf_prog_test_run_opts(fd, &opts) != 0)
    result.err = -errno;
  result.retval = opts.retval;
  result.out.resize(result.err ? 0 : opts.data_size_out);
  return result;
}

RunResult TestTap::run(Hook hook, const Bytes &packet, uint32_t mark, uint32_t ifindex) const {
  if (!hasHook(hook))
    throw std::logic_error(hookName(hook) + " is not loaded in this mode");
  int fd = hook == Hook::TcIngress  ? datapath_.tcIngressFd()
           : hook == Hook::TcEgress ? datapath_.tcEgressFd()
                                    : datapath_.xdpIngressFd();
  RunResult result;
  // Room to spare: a program that grew the packet must show up as a difference, not as ENOSPC.
  result.out.resize(packet.size() + 512);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = packet.data();
  opts.data_size_in = static_cast<uint32_t>(packet.size());
  opts.data_out = result.out.data();
  opts.data_size_out = static_cast<uint32_t>(result.out.size());
  opts.repeat = 1;
  __sk_buff skb{};
  if (!isXdp(hook)) {
    skb.mark = mark;
    skb.ifindex = ifindex;
    opts.ctx_in = &skb;
    opts.ctx_size_in = sizeof(skb);
  }
  if (bpf_prog_test_run_opts(fd, &opts) != 0)
    result.err = -errno;
  result.retval = opts.retval;
  result.out.resize(result.err ? 0 : opts.data_size_out);
  if (ring_ && drainAfterRun)
    ring_->drain(); // keep records in order with the runs that made them
  return result;
}

int TestTap::flowsFd() const {
  return bpf_object__find_map_fd_by_name(datapath_.object(), ST_MAP_FLOWS);
}

std::optional<st_flow_decision> TestTap::flow(const st_flow_key &key) const {
  st_flow_decision value{};
  if (bpf_map_lookup_elem(flowsFd(), &key, &value) != 0)
    return std::nullopt;
  return value;
}

void TestTap::reset() {
  for (const auto &[port, rule] : maps_.rules())
    removeRule(port);
  for (const auto &key : maps_.excludes())
    maps_.removeExclude(key);
  clearFlows();
  maps_.setRuntime(st_runtime{kTestSeed, ST_DEFAULT_MARK, 1, 0});
  drainRing();
}

void TestTap::setRule(uint16_t port, uint32_t ratePpm, uint32_t mirrorIfindex, uint32_t flags) {
  maps_.setRule(port, st_rule{ratePpm, mirrorIfindex, flags, 0});
}

void TestTap::removeRule(uint16_t port) {
  bpf_map_delete_elem(datapath_.mapFds().rules, &port);
}

void TestTap::clearFlows() {
  int fd = flowsFd();
  st_flow_key key{};
  // Deleting the key just returned restarts the walk from the first key, so this empties the map.
  while (bpf_map_get_next_key(fd, nullptr, &key) == 0)
    bpf_map_delete_elem(fd, &key);
}

std::vector<RingRecord> TestTap::drainRing() {
  if (ring_)
    ring_->drain();
  std::vector<RingRecord> out;
  out.swap(pending_);
  return out;
}

uint64_t TestTap::ringProducerPos() const {
  // The ring's second page holds the producer position (read-only for user space).
  long page = sysconf(_SC_PAGESIZE);
  void *map = mmap(nullptr, static_cast<size_t>(page), PROT_READ, MAP_SHARED, datapath_.ringFd(), page);
  if (map == MAP_FAILED)
    throw std::runtime_error(std::string("mmap of the ring's producer page: ") + std::strerror(errno));
  uint64_t pos = __atomic_load_n(static_cast<const uint64_t *>(map), __ATOMIC_ACQUIRE);
  munmap(map, static_cast<size_t>(page));
  return pos;
}

TestTap &tcTap() {
  static TestTap tap(Mode::Tc);
  return tap;
}

TestTap &xdpTap() {
  static TestTap tap(Mode::Xdp);
  return tap;
}

bool tcTestRunRefuses(const Bytes &packet) {
  if (packet.size() < 14)
    return true;
  uint16_t type = static_cast<uint16_t>(packet[12] << 8 | packet[13]);
  return (type == 0x0800 && packet.size() < 14 + 20) || (type == 0x86dd && packet.size() < 14 + 40);
}

CounterValues counterDelta(const CounterValues &before, const CounterValues &after) {
  CounterValues delta{};
  for (size_t i = 0; i < delta.size(); i++)
    delta[i] = after[i] - before[i];
  return delta;
}

std::string checkOnePacket(const CounterValues &delta, uint32_t reason, const std::vector<uint32_t> &events) {
  std::ostringstream diff;
  for (uint32_t i = 0; i < ST_C_MAX; i++) {
    uint64_t want = 0;
    if (i == ST_C_SEEN || i == reason)
      want = 1;
    for (uint32_t e : events)
      want += e == i;
    if (delta[i] != want)
      diff << counterName(i) << " moved by " << delta[i] << ", expected " << want << "; ";
  }
  return diff.str();
}

std::string checkBalanced(const CounterValues &counters) {
  uint64_t terminal = 0;
  for (uint32_t i = 0; i < ST_C_MAX; i++)
    if (isTerminalCounter(i))
      terminal += counters[i];
  if (terminal == counters[ST_C_SEEN])
    return "";
  return "seen " + std::to_string(counters[ST_C_SEEN]) + " != sum of terminal reasons " + std::to_string(terminal);
}

st_lpm_key lpmKey(const std::string &cidr) {
  auto slash = cidr.find('/');
  std::string addr = cidr.substr(0, slash);
  uint32_t len = static_cast<uint32_t>(std::stoul(cidr.substr(slash + 1)));
  st_lpm_key key{};
  if (addr.find(':') == std::string::npos) {
    key.addr[10] = 0xff;
    key.addr[11] = 0xff;
    if (inet_pton(AF_INET, addr.c_str(), &key.addr[12]) != 1)
      throw std::invalid_argument(cidr);
    key.prefixlen = 96 + len;
  } else {
    if (inet_pton(AF_INET6, addr.c_str(), key.addr) != 1)
      throw std::invalid_argument(cidr);
    key.prefixlen = len;
  }
  return key;
}

} // namespace shadowtap::test
