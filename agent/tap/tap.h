// SPDX-License-Identifier: Apache-2.0
// One tap on one interface: everything `shadowtap run` attaches there, owned as RAII members so
// that destruction (normal exit, signal, the interface going, or an exception half-way through)
// undoes exactly what was done, in reverse order. `detachLeftovers` undoes the same for an agent
// that was killed. The mirror interface and the shared maps belong to the agent's TapSet
// (tap/tap_set.h): one of each however many interfaces are tapped.
#pragma once

#include "bpf/datapath.h"
#include "bpf/pinned_maps.h"
#include "bpf/tc_attachment.h"
#include "bpf/xdp_attachment.h"
#include "config/run_options.h"
#include "net/link.h"
#include "net/mirror_pair.h"

#include <memory>
#include <optional>
#include <string>

namespace shadowtap {

class PinDirGuard {
public:
  explicit PinDirGuard(std::string dir);
  ~PinDirGuard();
  PinDirGuard(const PinDirGuard &) = delete;
  PinDirGuard &operator=(const PinDirGuard &) = delete;

private:
  std::string dir_;
};

// Nothing needs the responses' bytes (no HTTP service: a TCP replay sends the client's bytes and
// takes the server's sequence numbers, ACKs, FIN and RST from their headers): responses are
// copied up to their TCP header only (ST_RT_RESPONSE_HEADERS_ONLY, in the shared runtime and every
// interface's) — in TC mode by the capture socket's filter, in XDP mode by the ring copy itself —
// and the flow table does not reassemble them. SHADOWTAP_CAPTURE_RESPONSES=1 copies them whole
// anyway (the benchmarks' baseline).
bool responseHeadersOnly(const RunOptions &options);

class Tap {
public:
  // Attaches to `iface`, cloning into `mirror`, with the rules, exclusions, flow decisions and
  // ring of `shared` (already filled); `seed`: the agent's sampling seed, the same on every
  // interface so a connection seen on two gets one decision. Throws Error.
  Tap(const RunOptions &options, const std::string &iface, const std::string &bpffs, const MirrorPair &mirror,
      const Datapath &shared, uint32_t seed);
  ~Tap();

  TapMaps &maps() { return *maps_; }
  const TapMaps &maps() const { return *maps_; }
  // This interface's part of a (re)configuration: direction and budgets (st_runtime).
  void applyRuntime(const RunOptions &options);
  const std::string &iface() const { return iface_; }
  int ifindex() const { return ifindex_; }
  const std::string &pinDir() const { return pinDir_; }
  TcAttachMode attachMode() const { return attachMode_; }
  // False once the tapped interface is gone: deleted (a pod's veth when the pod goes), or another
  // interface took its name. Its programs went with it; the tap then only has things to clean up.
  bool interfacePresent() const { return ifindexOf(iface_) == ifindex_; }
  // st_runtime.flags for `options` on this interface (--direction, auto resolved by its driver).
  uint32_t runtimeFlags(const RunOptions &options) const;
  bool portsEitherSide(const RunOptions &options) const { return runtimeFlags(options) & ST_RT_PORTS_EITHER_SIDE; }

private:
  std::string iface_;
  int ifindex_ = 0;
  bool veth_ = false;
  std::string pinDir_;
  TcAttachMode attachMode_ = TcAttachMode::Tcx;
  // Declaration order is construction order; destruction runs the other way round.
  std::unique_ptr<PinDirGuard> pins_;
  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<TapMaps> maps_;
  std::unique_ptr<ClsactQdisc> clsact_; // clsact mode only
  std::unique_ptr<XdpAttachment> xdp_;
  std::unique_ptr<TcProgram> ingress_;
  std::unique_ptr<TcProgram> egress_;
};

// What holds an interface already: nothing, a tap whose agent still runs, or one left behind.
struct ExistingTap {
  bool present = false;
  bool agentAlive = false; // unknown owners count as alive: never pull a tap from under someone
  std::string description; // "" if !present
};
ExistingTap findExistingTap(const std::string &iface, const std::string &bpffs);
// Nothing of shadowtap on `iface`, or only what an agent that no longer runs left and
// `replaceStale` allows removing (removed here); otherwise throws Error saying what holds it.
void claimInterface(const std::string &iface, const std::string &bpffs, bool replaceStale);

// Removes whatever shadowtap left on `iface`; returns a line per thing removed.
std::vector<std::string> detachLeftovers(const std::string &iface, const std::string &bpffs);

} // namespace shadowtap
