// SPDX-License-Identifier: Apache-2.0
// RAII owner of the shadowtap BPF skeleton: open, configure (rodata, pins, which programs load),
// load, and on destruction unpin what it pinned and free everything. Map and program fds stay
// owned by the skeleton: callers borrow them and never close them.
#pragma once

#include "bpf/pinned_maps.h"
#include "config/run_options.h"

#include <memory>
#include <string>

struct shadowtap_bpf;
struct bpf_object;

namespace shadowtap {

class Datapath {
public:
  struct Settings {
    Mode mode = Mode::Tc;
    uint32_t snaplen = ST_DEFAULT_SNAPLEN;
    std::string pinDir; // empty: do not pin (tests)
    // The agent's other interfaces: the maps that hold its configuration and connections (rules,
    // exclusions, flow decisions, the XDP ring) are the ones of this datapath, not copies, so a
    // rule changes everywhere at once, a connection crossing two tapped interfaces gets one
    // decision, and XDP mode reads one ring. Per-interface: runtime (direction, admission), counters, state.
    const Datapath *shareMapsWith = nullptr;
    // Loads no attachable program, only the maps and the capture fan-out filter: the agent's
    // shared maps, alive while interfaces come and go (tap/tap_set.h).
    bool mapsOnly = false;
    uint64_t ringBytes = ST_RING_BYTES; // XDP mode: the ring buffer's size (a power of two, pages)
  };

  explicit Datapath(const Settings &settings); // opens and configures; throws Error
  ~Datapath();
  Datapath(const Datapath &) = delete;
  Datapath &operator=(const Datapath &) = delete;

  // The agent loads here in TC mode; in XDP mode libxdp loads the object when it attaches (it must turn the
  // XDP program into a dispatcher extension first), so call markLoaded() after that instead.
  void load();
  void markLoaded() { loaded_ = true; }

  bpf_object *object() const;
  int tcIngressFd() const; // TC mode only
  int tcEgressFd() const;  // tc_egress (TC mode) or tc_egress_ring (XDP mode)
  int xdpIngressFd() const;
  int fanoutFd() const; // TC mode only: the capture fan-out's socket filter (PACKET_FANOUT_EBPF)
  int captureSnapFd() const; // TC mode only: the capture socket's filter (how much of a clone to copy)
  MapFds mapFds() const;
  int ringFd() const;
  int ringGuardFd() const; // st_ring_guards (TC mode: capture_snap's)

private:
  struct SkeletonDeleter {
    void operator()(shadowtap_bpf *skel) const;
  };
  std::unique_ptr<shadowtap_bpf, SkeletonDeleter> skel_;
  std::string pinDir_;
  bool xdp_ = false;
  bool loaded_ = false;
};

} // namespace shadowtap
