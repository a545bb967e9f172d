// SPDX-License-Identifier: Apache-2.0
#include "bpf/bpffs.h"
#include "capture/pcap_writer.h"
#include "capture/ring_reader.h"
#include "commands/commands.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "tap/preflight.h"
#include "tap/tap.h"

#include <cerrno>
#include <csignal>
#include <ctime>
#include <memory>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

namespace shadowtap {
namespace {

// Signals arrive through a signalfd in the event loop, never as asynchronous handlers, so
// shutdown always runs the ordinary destructors.
UniqueFd blockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
    throwErrno("failed to block signals", errno);
  UniqueFd fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd.valid())
    throwErrno("failed to create signalfd", errno);
  return fd;
}

uint64_t monotonicToRealtimeOffsetNs() {
  timespec mono, real;
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  auto ns = [](const timespec &t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; };
  return static_cast<uint64_t>(ns(real) - ns(mono));
}

void logSummary(const TapMaps &maps) {
  auto c = maps.counters();
  spdlog::info("counters: seen {} cloned {} ring_sent {} not_sampled {} excluded {} port_miss {} clone_failed {} ring_full {}",
               c[ST_C_SEEN], c[ST_C_CLONED], c[ST_C_RING_SENT], c[ST_C_NOT_SAMPLED], c[ST_C_EXCLUDED],
               c[ST_C_PORT_MISS], c[ST_C_CLONE_FAILED], c[ST_C_RING_FULL]);
}

} // namespace

int runCommand(const RunOptions &options, const std::string &bpffs) {
  requirePrivileges("run");
  requireBtf();
  requireIfindex(options.iface, "--iface");
  ensureBpffs(bpffs);
  UniqueFd signals = blockShutdownSignals();

  Tap tap(options, bpffs);
  std::string ports;
  for (uint16_t p : options.ports)
    ports += (ports.empty() ? "" : ",") + std::to_string(p);
  spdlog::info("tapping {} port(s) {} at {}% in {} mode; maps pinned at {}", options.iface, ports,
               formatPercent(options.ratePpm), options.mode == Mode::Xdp ? "xdp" : "tc", tap.pinDir());

  std::unique_ptr<PcapWriter> pcap;
  std::unique_ptr<RingReader> ring;
  uint64_t clockOffset = monotonicToRealtimeOffsetNs();
  if (options.mode == Mode::Xdp) {
    if (options.pcapPath)
      pcap = std::make_unique<PcapWriter>(*options.pcapPath, options.snaplen);
    ring = std::make_unique<RingReader>(tap.datapath().ringFd(), [&](const st_pkt_meta &meta, auto frame) {
      if (pcap)
        pcap->write(meta.ts_ns + clockOffset, frame.data(), static_cast<uint32_t>(frame.size()), meta.pkt_len);
    });
  }

  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.valid())
    throwErrno("failed to create epoll instance", errno);
  auto watch = [&](int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      throwErrno("failed to watch fd", errno);
  };
  watch(signals.get());
  if (ring)
    watch(ring->epollFd());

  for (bool running = true; running;) {
    epoll_event events[4];
    int n = epoll_wait(epoll.get(), events, 4, 1000);
    if (n < 0 && errno != EINTR)
      throwErrno("failed to wait for events", errno);
    for (int i = 0; i < n; i++) {
      if (events[i].data.fd == signals.get()) {
        signalfd_siginfo info{};
        while (read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
          if (info.ssi_signo == SIGHUP)
            continue; // config reload arrives with the config file
          spdlog::info("received {}, detaching from {}", strsignal(static_cast<int>(info.ssi_signo)), options.iface);
          running = false;
        }
      }
    }
    if (ring)
      ring->drain();
    if (pcap)
      pcap->flush();
  }
  if (ring) {
    ring->drain();
    spdlog::info("ring buffer: {} records, {} bytes, {} malformed", ring->stats().records, ring->stats().bytes,
                 ring->stats().malformed);
  }
  logSummary(tap.maps());
  return 0;
}

} // namespace shadowtap
